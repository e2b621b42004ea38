"""TOTALS, EVENTS, PARAMS and the nozzle map: the firmware's link (pumpside/link.py under
CPython) against the reference station on one event loop, as in test_link.py."""
import asyncio
import json
import logging
import os
import time

import pytest
from test_link import CFG, Rig

from pumpside import app, config, downloads, events, journal, service
from pumpside import link as lk
from pumpside import record as rec
from pumpside_host import cli
from pumpside_host.station.server import StationServer


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="pumpside.station")
    return caplog


def _sale(sales_journal, ml, price=7590):
    b = rec.new_bill()
    b.update({"time": int(time.time()), "nozzle": 1, "grade": "92", "price": price,
              "mode": "V", "preset_ml": ml})
    sales_journal.begin(b)
    return sales_journal.finish(int(time.time()), ml // 10, ml, ml * price // 10000, 1)


class Frames:
    """Counts what the station sends and receives, by type."""

    def __init__(self):
        self.sent, self.got = [], []
        self.send, self.handle = StationServer._send, StationServer._handle
        frames = self

        async def send(self, writer, session, mtype, payload):
            frames.sent.append((mtype, json.loads(json.dumps(payload))))
            return await frames.send(self, writer, session, mtype, payload)

        async def handle(self, conn, mtype, payload):
            frames.got.append((mtype, json.loads(json.dumps(payload))))
            return await frames.handle(self, conn, mtype, payload)
        StationServer._send, StationServer._handle = send, handle

    def restore(self):
        StationServer._send, StationServer._handle = self.send, self.handle

    def of(self, mtype, sent=True):
        return [pl for t, pl in (self.sent if sent else self.got) if t == mtype]


@pytest.fixture
def frames():
    f = Frames()
    yield f
    f.restore()


def test_totals_with_hello_and_when_they_move_cross_checked_against_the_sales(
        tmp_path, logs, frames, capsys):
    rig = Rig(tmp_path, card=False)
    rig.board.now = int(time.time())

    async def script(rig):
        sales_journal, metrology = rig.pump.journal, rig.ledger.metrology
        _sale(sales_journal, 1000)  # before the session: TOTALS at its start names seq 1, pending
        # until the record arrives; the first reading of a nozzle is the baseline
        await rig.until(lambda: [t["checked"] for t in metrology.totals("P1")] == [True],
                        "baseline")
        first = lk.protocol.TOTALS
        assert frames.of(first, False)[0] == {"nozzle": 1, "grade": "92", "volume_ml": 1000,
                                              "amount": 759, "seq": 1}
        assert metrology.totals("P1")[0]["why"] == "baseline"
        _sale(sales_journal, 800)
        sales_journal.event(rig.board.now, journal.EV_UNAUTHORIZED, 30)  # flow nobody authorised
        await rig.until(lambda: metrology.totals("P1")[0]["seq"] == 3, "the moved totals")
        t = metrology.totals("P1")[0]
        assert (t["volume_ml"], t["amount"], t["checked"], t["why"]) == (1830, 1366, True, "")
        n = len(frames.of(first, False))
        await asyncio.sleep(0.3)  # several beats: nothing moved, nothing sent
        assert len(frames.of(first, False)) == n
        # the station asks (its newest reading is an hour old): sent again at a beat
        rig.ledger.db.execute("UPDATE totals SET reported = reported - 7200")
        await rig.until(lambda: len(frames.of(first, False)) > n, "asked for")
        assert any(b.get("totals") for b in frames.of(lk.protocol.HEARTBEAT))
        assert time.time() - metrology.totals("P1")[0]["reported"] < 60
        # fuel the meter counted that no record carries: the station sees it
        sales_journal.totals.add(500, 0)
        _sale(sales_journal, 100)
        await rig.until(lambda: metrology.totals("P1")[0]["seq"] == 4, "the tampered totals")
        t = metrology.totals("P1")[0]
        assert t["checked"] is False and t["why"] == \
            "totalizers moved 600 ml 75 after seq 3, the records 100 ml 75"
        assert "totals MISMATCH up to seq 4" in logs.text
    rig.run(script)
    rig.ledger.close()
    capsys.readouterr()
    assert cli.main(["station", "totals", "--db", str(tmp_path / "station.db")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("P1 nozzle 1 grade 92: 2430 ml amount 1441 after seq 4") and \
        "MISMATCH: totalizers moved 600 ml" in out
    assert cli.main(["station", "totals", "--history", "--db",
                     str(tmp_path / "station.db")]) == 0
    assert capsys.readouterr().out.count("P1 nozzle 1") == 3


def test_a_reading_waits_for_its_records_and_counts_rejected_bills_too(tmp_path):
    from pumpside_host.station.ledger import Ledger

    ledger = Ledger(str(tmp_path / "s.db"))
    metrology = ledger.metrology
    metrology.reading("T", {"nozzle": 1, "seq": 0, "volume_ml": 0, "amount": 0})
    metrology.reading("T", {"nozzle": 1, "seq": 3, "volume_ml": 2000, "amount": 1500})
    assert [t["checked"] for t in metrology.totals("T", True)] == [None, True]  # 3 not there yet
    ledger.store("T", [{"seq": 1, "type": "FINAL", "sale": 1, "ml": 1000, "amount": 750}])
    metrology.check("T")
    assert metrology.totals("T")[0]["checked"] is None
    ledger.db.execute("INSERT INTO rejected_bills VALUES ('T', 2, 'bad TAC', ?, 0, '')",
                      (json.dumps({"seq": 2, "type": "FINAL", "ml": 1000, "amount": 750}),))
    ledger.store("T", [{"seq": 3, "type": "UNLOCK", "sale": 9, "ml": 5, "amount": 40}])
    metrology.check("T")  # an UNLOCK moves money, not the meter; the rejected bill was metered
    assert metrology.totals("T")[0]["checked"] is True
    ledger.close()


def _log(root, n):
    ev = events.EventLog(root + "/events")
    ev.open()
    for i in range(n):
        ev.append(1_700_000_000 + i, "tech7", "k_factor", 100000 + i, 100001 + i)
    return ev


def test_the_event_log_goes_up_in_batches_chain_verified_a_broken_record_refused(
        tmp_path, logs, frames, capsys):
    rig = Rig(tmp_path, card=False)

    async def script(rig):
        metrology = rig.ledger.metrology
        ev = rig.pump.events = _log(rig.root, 6)
        journal = rig.pump.journal.ident  # the log is kept per journal (its flash)
        await rig.until(lambda: metrology.events_held("P1", journal)[0] == 6, "six records")
        sent = frames.of(lk.protocol.EVENTS, False)
        assert [len(b["events"]) for b in sent] == [4, 2]  # EV_BATCH
        assert [e["h"] for e in metrology.events("P1")] == [e["h"] for e in ev.records()]
        ev.append(1_700_000_100, "tech8", "slow_lead_ml", 100, 120)
        await rig.until(lambda: metrology.events_held("P1", journal)[0] == 7, "one more")
        # a record whose hash does not follow: refused, logged, not stored, not resent
        with open(ev.path, "a") as f:
            f.write(json.dumps({"n": 8, "t": 1, "who": "x", "what": "k_factor", "old": 1,
                                "new": 2, "prev": ev.head, "h": "0" * 32}) + "\n")
        ev.count = 8
        await rig.until(lambda: rig.link.events_n is None, "the refusal")
        assert metrology.events_held("P1", journal)[0] == 7
        assert "event log refused: n=8: hash does not match the record" in logs.text
        n = len(frames.of(lk.protocol.EVENTS, False))
        await asyncio.sleep(0.3)
        assert len(frames.of(lk.protocol.EVENTS, False)) == n  # not again this session
        assert frames.of(lk.protocol.EVENTS_ACK)[-1] == {
            "n": 7, "ok": False, "why": "n=8: hash does not match the record"}
        assert frames.of(lk.protocol.WELCOME)[0]["events_n"] == 0
    rig.run(script)
    capsys.readouterr()
    assert cli.main(["station", "events", "--terminal", "P1", "--db",
                     str(tmp_path / "station.db")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 7 and out[6].startswith("7 t 1700000100 tech8 slow_lead_ml 100 -> 120")
    rig.ledger.close()


def test_the_station_refuses_a_rewritten_record_and_a_secret(tmp_path):
    from pumpside_host.station.ledger import Ledger

    ledger = Ledger(str(tmp_path / "s.db"))
    metrology = ledger.metrology
    recs = list(_log(str(tmp_path), 3).records())
    assert metrology.store_events("T", recs[:2]) == {"n": 2, "ok": True, "why": ""}
    again = dict(recs[1], new=5)
    assert metrology.store_events("T", [again]) == {"n": 2, "ok": False,
                                            "why": "n=2 differs from the record held"}
    assert metrology.store_events("T", recs) == {"n": 3, "ok": True, "why": ""}  # sent again: ok
    prev = recs[2]["h"]
    pin = {"n": 4, "t": 1, "who": "x", "what": "service_pin", "old": 1, "new": 2,
           "prev": prev, "h": events.record_hash(prev, 4, 1, "x", "service_pin", 1, 2)}
    assert metrology.store_events("T", [pin])["why"] == "n=4: a secret in the event log"
    assert metrology.events_held("T")[0] == 3
    ledger.close()


def _config_file(rig, tmp_path):
    c = dict(CFG)
    c.update({"station_addr": "127.0.0.1:1", "terminal_key": rig.key.hex()})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(c))
    rig.board.config_path = str(path)
    return path


def test_params_written_whole_to_config_json_for_the_next_boot_legal_ones_refused(
        tmp_path, logs, frames, capsys):
    rig = Rig(tmp_path, card=False)
    path = _config_file(rig, tmp_path)
    for name in ("k_factor", "slow_lead_ml", "service_pin", "terminal_key", "grade"):
        with pytest.raises(ValueError, match="not settable by the station"):
            rig.ledger.params.set({name: 1})
    with pytest.raises(ValueError, match="must be >= 1000"):
        rig.ledger.params.set({"max_fill_ml": 5})
    assert rig.ledger.params.set({"no_flow_timeout_ms": 45000, "station": "ACME FUEL"}) == 1

    async def script(rig):
        await rig.until(lambda: rig.link.params_version == 1, "version 1")
        saved = json.loads(path.read_text())
        assert saved["no_flow_timeout_ms"] == 45000 and saved["station"] == "ACME FUEL"
        assert saved["k_factor"] == 100000 and saved["service_pin"] == "2468"
        assert config.load(str(path)).station == "ACME FUEL"
        assert rig.pump.cfg.no_flow_timeout_ms == 60000  # the running pump: next boot
        assert not os.path.exists(str(path) + ".new")
        assert json.loads(open(rig.root + "/params").read()) == {"version": 1}
        # a station that sends what it must not: refused whole, config.json untouched
        for bad, why in (({"k_factor": 1, "station": "X"}, "k_factor: not settable by "
                          "the station"),
                         ({"max_fill_ml": 5}, "config max_fill_ml: must be >= 1000"),
                         ({"bogus": 1}, "config bogus: unknown field")):
            rig.ledger.db.execute("INSERT INTO params (vals, set_at) VALUES (?, 0)",
                                (json.dumps(bad),))
            v = rig.ledger.params.current()["version"]
            await rig.until(lambda v=v, why=why: "refused PARAMS version %d: %s" % (v, why)
                          in logs.text,
                          why)
            assert json.loads(path.read_text()) == saved and rig.link.params_version == 1
        await asyncio.sleep(0.3)  # more beats: a refused version is not sent again
        assert [p["version"] for p in frames.of(lk.protocol.PARAMS)] == [1, 2, 3, 4]
        # after a reboot: the new config, and HELLO says version 1
        pump = app.Pump(rig.board, config.load(str(path)), rig.pump.journal)
        assert lk.Link(pump.journal, pump.cfg, rig.board.clock, pump).params_version == 1
        assert pump.cfg.no_flow_timeout_ms == 45000
    rig.run(script)
    rig.ledger.close()
    capsys.readouterr()
    db = str(tmp_path / "station.db")
    assert cli.main(["station", "params", "--db", db, "--set", "max_unsynced_sales=500",
                     "--set", "station=SHELL 7"]) == 0
    out = capsys.readouterr().out
    assert "parameters version 5: max_unsynced_sales, station" in out
    assert '"max_unsynced_sales": 500' in out and '"station": "SHELL 7"' in out
    assert cli.main(["station", "params", "--db", db, "--set", "k_factor=1"]) == 2


def test_refused_params_cover_every_legal_and_secret_field():
    assert set(service.LEGAL_PARAMS) <= set(downloads.REFUSED_PARAMS)
    assert set(config.SECRETS) <= set(downloads.REFUSED_PARAMS)
    assert all(config.field(name) is not None for name in downloads.REFUSED_PARAMS)


def test_the_nozzle_map_goes_with_the_price_table_grade_and_price_together(
        tmp_path, frames, capsys):
    rig = Rig(tmp_path, card=False)
    rig.ledger.set_price("92", 7700)
    rig.ledger.set_price("95", 8200)
    with pytest.raises(ValueError, match="no price for grade 98"):
        rig.ledger.set_nozzle("P1", 1, "98")
    assert rig.ledger.set_nozzle("P1", 2, "92") == 3  # another nozzle: not this pump's

    async def script(rig):
        pump = rig.pump
        await rig.until(lambda: pump.prices.version == 3, "table 3")
        assert (pump.prices.grade, pump.prices.price) == ("92", 7700)
        rig.ledger.set_nozzle("P1", 1, "95")
        await rig.until(lambda: pump.prices.version == 4, "table 4")
        assert (pump.prices.grade, pump.prices.price) == ("95", 8200)
        assert frames.of(lk.protocol.PRICES)[-1]["nozzles"] == {"1": "95", "2": "92"}
        rig.ledger.set_price("95", 8300)
        await rig.until(lambda: pump.prices.price == 8300, "the mapped grade's new price")
        assert pump.prices.grade == "95" and pump.cfg.grade == "92"
        # a reboot: the grade of the table it holds, with its price
        again = app.Pump(rig.board, _cfg(rig), pump.journal)
        assert (again.prices.grade, again.prices.price) == ("95", 8300)
    rig.run(script)
    rig.ledger.close()
    capsys.readouterr()
    assert cli.main(["station", "nozzle", "--db", str(tmp_path / "station.db"),
                     "--terminal", "P1", "--nozzle", "1", "--grade", "92"]) == 0
    assert "P1 nozzle 1: grade 92 (with price table version 6)" in capsys.readouterr().out


def _cfg(rig):
    c = dict(CFG)
    c.update({"station_addr": "127.0.0.1:1", "terminal_key": rig.key.hex()})
    return config.parse(json.dumps(c))
