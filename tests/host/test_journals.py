"""The station keys what a journal numbers by (terminal, journal, ...): a terminal whose
flash was formatted (or whose board was replaced) numbers its sales from 1 again under a
new journal identity; its new sales are new rows, the old journal's stay, and the
operator sees the alarm. Stores from before journals are migrated."""
import json
import logging
import sqlite3

from pumpside import events as evlog
from pumpside.record import F_ELSEWHERE
from pumpside_host import cli
from pumpside_host.station.ledger import Ledger

OLD = "a1a1a1a1a1a1a1a1"
NEW = "b2b2b2b2b2b2b2b2"


def _sale(seq, sale, ml=1000, kind="FINAL", **kw):
    record = {"seq": seq, "type": kind, "sale": sale, "ml": ml, "amount": ml * 759 // 1000,
              "time": 1795000000 + seq}
    record.update(kw)
    return record


def test_a_new_journals_sale_1_is_a_new_sale_and_the_old_one_stays(tmp_path, caplog, capsys):
    db = str(tmp_path / "s.db")
    ledger = Ledger(db)
    journals = ledger.journals
    assert journals.seen("P1", OLD) == OLD and journals.alarms() == []  # first sight
    results, ack = ledger.store("P1", [_sale(1, 1), _sale(2, 2)], OLD)
    assert [r[1] for r in results] == ["stored", "stored"] and ack == 2
    assert journals.seen("P1", OLD) == OLD and journals.alarms() == []  # the same again
    with caplog.at_level(logging.ERROR, "pumpside.station"):
        journals.seen("P1", NEW)  # the flash formatted: numbers from 1 again
    assert "ALARM terminal P1" in caplog.text and NEW in caplog.text
    results, ack = ledger.store("P1", [_sale(1, 1, 1500)], NEW)
    assert results == [[1, "stored", ""]] and ack == 1  # not a duplicate, not a conflict
    assert ledger.conflicts() == []
    assert [(s["journal"], s["sale"], s["ml"]) for s in ledger.sales("P1")] == [
        (OLD, 1, 1000), (OLD, 2, 1000), (NEW, 1, 1500)]
    results, _ack = ledger.store("P1", [_sale(1, 1, 1500)], NEW)  # its ack was lost
    assert results == [[1, "duplicate", ""]]
    alarms = journals.alarms("P1")
    assert len(alarms) == 1 and alarms[0]["what"] == "new journal"
    assert "board replaced or flash formatted" in alarms[0]["why"]
    ledger.hello("P1", "1.0", "abc", 1000)
    pump = ledger.pumps()[0]
    assert pump["journal"] == NEW and pump["station_alarms"] == 1
    ledger.close()
    capsys.readouterr()
    assert cli.main(["station", "pumps", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "journal " + NEW in out and "STATION ALARM" in out and "flash formatted" in out
    assert cli.main(["station", "alarms", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "P1 new journal: board replaced or flash formatted" in out and "1 alarm(s)" in out


def test_a_conflict_within_one_journal_is_kept_and_raised_as_a_station_alarm(tmp_path):
    ledger = Ledger(str(tmp_path / "s.db"))
    ledger.journals.seen("P1", OLD)
    ledger.store("P1", [_sale(1, 1)], OLD)
    results, _ack = ledger.store("P1", [_sale(1, 1, 900)], OLD)
    assert results[0][1] == "conflict"
    assert [c["journal"] for c in ledger.conflicts("P1")] == [OLD]
    assert [a["what"] for a in ledger.journals.alarms("P1")] == ["conflict"]
    ledger.close()


def test_a_firmware_update_gives_the_journal_an_identity_that_takes_its_records(tmp_path,
                                                                                caplog):
    """Records from a firmware that told no identity are journal ''; the first HELLO
    with one names them: no alarm, and a record sent again is still a duplicate."""
    ledger = Ledger(str(tmp_path / "s.db"))
    ledger.journals.seen("P1", None)
    ledger.store("P1", [_sale(1, 1), {"seq": 2, "type": "EVENT", "code": 2, "a": 3}])
    ledger.metrology.reading("P1", {"nozzle": 1, "seq": 2, "volume_ml": 1000, "amount": 759})
    with caplog.at_level(logging.ERROR, "pumpside.station"):
        assert ledger.journals.seen("P1", OLD) == OLD
    assert "ALARM" not in caplog.text and ledger.journals.alarms() == []
    assert [s["journal"] for s in ledger.sales("P1")] == [OLD]
    assert ledger.store("P1", [_sale(1, 1)], OLD)[0] == [[1, "duplicate", ""]]
    assert ledger.metrology.totals("P1")[0]["journal"] == OLD
    ledger.close()


OLD_SCHEMA = """
CREATE TABLE sales (
    terminal TEXT NOT NULL, kind TEXT NOT NULL, sale INTEGER NOT NULL, seq INTEGER NOT NULL,
    asn TEXT, ml INTEGER, amount INTEGER, record TEXT NOT NULL, received INTEGER NOT NULL,
    PRIMARY KEY (terminal, kind, sale));
CREATE TABLE events (
    terminal TEXT NOT NULL, seq INTEGER NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (terminal, seq));
CREATE TABLE conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, terminal TEXT NOT NULL, kind TEXT NOT NULL,
    sale INTEGER, seq INTEGER NOT NULL, record TEXT NOT NULL, stored TEXT NOT NULL,
    received INTEGER NOT NULL, UNIQUE (terminal, kind, record));
CREATE TABLE card_bills (
    asn TEXT NOT NULL, terminal TEXT NOT NULL, kind TEXT NOT NULL, sale INTEGER NOT NULL,
    seq INTEGER NOT NULL, amount INTEGER NOT NULL, balance INTEGER NOT NULL,
    ctc INTEGER NOT NULL, tac TEXT, verified INTEGER NOT NULL,
    PRIMARY KEY (terminal, kind, sale));
CREATE TABLE rejected_bills (
    terminal TEXT NOT NULL, seq INTEGER, why TEXT NOT NULL, record TEXT NOT NULL,
    received INTEGER NOT NULL);
CREATE TABLE grey_records (
    terminal TEXT NOT NULL, sale INTEGER NOT NULL, asn TEXT NOT NULL, ctc INTEGER NOT NULL,
    ttc INTEGER NOT NULL, psam TEXT, amount INTEGER NOT NULL, ml INTEGER NOT NULL,
    grade TEXT, price INTEGER NOT NULL, time INTEGER NOT NULL,
    settled_by TEXT, settled_sale INTEGER, settled_at INTEGER,
    PRIMARY KEY (terminal, sale));
CREATE INDEX grey_by_card ON grey_records (asn, ctc, ttc);
CREATE TABLE totals (
    terminal TEXT NOT NULL, nozzle INTEGER NOT NULL, seq INTEGER NOT NULL, grade TEXT,
    volume_ml INTEGER NOT NULL, amount INTEGER NOT NULL, received INTEGER NOT NULL,
    reported INTEGER NOT NULL, checked INTEGER, why TEXT,
    PRIMARY KEY (terminal, nozzle, seq));
CREATE TABLE eventlog (
    terminal TEXT NOT NULL, n INTEGER NOT NULL, t INTEGER NOT NULL, who TEXT NOT NULL,
    what TEXT NOT NULL, old INTEGER, new INTEGER, prev TEXT NOT NULL, h TEXT NOT NULL,
    received INTEGER NOT NULL, PRIMARY KEY (terminal, n));
INSERT INTO sales VALUES ('P1', 'FINAL', 1, 1, NULL, 1000, 759, '{"seq": 1}', 0);
INSERT INTO events VALUES ('P1', 2, '{"seq": 2}');
INSERT INTO conflicts (terminal, kind, sale, seq, record, stored, received)
    VALUES ('P1', 'FINAL', 1, 3, '{}', '{}', 0);
INSERT INTO card_bills VALUES ('6200000000000017', 'P1', 'FINAL', 1, 1, 759, 100, 4, NULL, 0);
INSERT INTO rejected_bills VALUES ('P1', 4, 'bad TAC', '{}', 0);
INSERT INTO grey_records VALUES ('P1', 5, '6200000000000017', 6, 7, NULL, 100, 130, '92',
    7590, 0, NULL, NULL, NULL);
INSERT INTO totals VALUES ('P1', 1, 2, '92', 1000, 759, 0, 0, 1, 'baseline');
INSERT INTO eventlog VALUES ('P1', 1, 0, 'tech', 'k_factor', 1, 2, 'p', 'h', 0);
"""


def test_a_store_from_before_journals_is_migrated_its_rows_journal_none(tmp_path):
    path = str(tmp_path / "old.db")
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.close()
    ledger = Ledger(path)
    db = ledger.db
    for table in ("sales", "events", "conflicts", "card_bills", "rejected_bills",
                  "grey_records", "totals", "eventlog"):
        rows = db.execute("SELECT journal FROM %s" % table).fetchall()
        assert rows == [("",)], table
    assert db.execute("SELECT name FROM sqlite_master WHERE name LIKE '%before_journals'"
                      ).fetchall() == []
    assert db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = "
                      "'grey_by_card'").fetchone()  # made again, on the new table
    assert ledger.cards.grey.records()[0]["sale"] == 5
    # the old key no longer blocks a new journal's sale 1
    ledger.journals.seen("P1", None)
    ledger.journals.seen("P1", OLD)  # the update names the journal: its rows move along
    assert ledger.journals.seen("P1", NEW) == NEW
    assert ledger.store("P1", [_sale(1, 1)], NEW)[0] == [[1, "stored", ""]]
    assert [(s["journal"], s["sale"]) for s in ledger.sales("P1")] == [(OLD, 1), (NEW, 1)]
    ledger.close()
    Ledger(path).close()  # opened again: nothing left to migrate


def test_escapes_settled_elsewhere_are_told_to_the_journal_that_wrote_them(tmp_path):
    ledger = Ledger(str(tmp_path / "s.db"))
    asn = "6200000000000017"
    escape = _sale(1, 4, 130, "ESCAPE", asn=asn, ctc=6, psam_ttc=7)
    assert ledger.store("P1", [escape], OLD)[0][0][1] == "stored"
    unlock = _sale(1, 1, 130, "UNLOCK", asn=asn, ctc=6, psam_ttc=7, flags=F_ELSEWHERE,
                   tac="01020304")
    assert ledger.store("P2", [unlock], NEW)[0][0][1] == "stored"
    grey = ledger.cards.grey
    assert grey.records(asn)[0]["settled_by"] == "P2"
    assert [s["sale"] for s in grey.settled_elsewhere("P1", OLD)] == [4]
    assert grey.settled_elsewhere("P1", NEW) == []  # another journal's sale 4 is not it
    ledger.close()


def test_a_new_journal_starts_its_own_totals_baseline_and_event_log(tmp_path):
    ledger = Ledger(str(tmp_path / "s.db"))
    m = ledger.metrology
    m.reading("P1", {"nozzle": 1, "seq": 0, "volume_ml": 0, "amount": 0}, journal=OLD)
    ledger.store("P1", [_sale(1, 1, 5000)], OLD)
    m.reading("P1", {"nozzle": 1, "seq": 1, "volume_ml": 5000, "amount": 3795}, journal=OLD)
    # the formatted flash: its totalizers start at 0, its seq at 1 again
    ledger.store("P1", [_sale(1, 1, 1000)], NEW)
    m.reading("P1", {"nozzle": 1, "seq": 1, "volume_ml": 1000, "amount": 759}, journal=NEW)
    readings = m.totals("P1", history=True)
    assert [(t["journal"], t["seq"], t["checked"]) for t in readings] == [
        (NEW, 1, True), (OLD, 1, True), (OLD, 0, True)]
    assert readings[0]["why"] == "baseline" and m.totals("P1")[0]["journal"] == NEW
    item = {"n": 1, "t": 1795000000, "who": "tech", "what": "k_factor", "old": 100000,
            "new": 99502, "prev": evlog.GENESIS}
    item["h"] = evlog.record_hash(evlog.GENESIS, 1, item["t"], "tech", "k_factor", 100000,
                                  99502)
    assert m.store_events("P1", [item], OLD)["ok"] is True
    other = dict(item, new=99000)
    other["h"] = evlog.record_hash(evlog.GENESIS, 1, item["t"], "tech", "k_factor", 100000,
                                   99000)
    assert m.store_events("P1", [other], NEW) == {"n": 1, "ok": True, "why": ""}
    assert m.events_held("P1", NEW)[1] == other["h"]
    assert [(e["journal"], e["new"]) for e in m.events("P1")] == [(OLD, 99502), (NEW, 99000)]
    assert json.loads(json.dumps(m.events("P1", OLD)))[0]["n"] == 1
    ledger.close()
