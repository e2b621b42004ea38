"""Card bills at the station (station/accounts.py): a real bill, made by the bench's
virtual card through the firmware's card sale, verifies under the issuer's TAC key; a
tampered one is rejected ("bad TAC"), stored nowhere as a sale; each card has an account."""
import json
import logging
import shutil
import tempfile
import time

import pytest

from fakes import FakeBoard
from pumpside import app, config, dispenser, journal
from pumpside import record as rec
from pumpside.cardsale import CardDesk
from pumpside.compat import ticks_ms
from pumpside_host.bench.cards import (
    TEST_ISSUER_ID,
    TEST_TAC_MK,
    TEST_TERMINAL_ID,
    Issuer,
    VirtualCard,
    VirtualPsam,
)
from pumpside_host.station import accounts
from pumpside_host.station.ledger import Ledger

ASN = "6200000000000017"
CFG = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
       "service_pin": "2468", "sale_mode": "card", "settle_ms": 10, "valve_grace_ms": 10}
KEYS = {TEST_ISSUER_ID: TEST_TAC_MK}


def _card_bills(litres_keys=("V100E",)):
    """Card sales on a fake board with the virtual card and PSAM; the journal's records
    as the link uploads them, and the card."""
    root = tempfile.mkdtemp()
    try:
        board = FakeBoard()
        board.now = 1_795_000_000
        issuer = Issuer()
        card = VirtualCard.issue(issuer, ASN, 50000)
        board.psam_obj = VirtualPsam(issuer)
        sales_journal = journal.Journal(root + "/journal")
        sales_journal.open()
        pump = app.Pump(board, config.parse(json.dumps(CFG)), sales_journal)
        desk = CardDesk(pump)
        assert pump.attach_desk(desk)

        def step():
            desk.step(ticks_ms())
            pump.disp.tick()

        for keys in litres_keys:
            board.card_obj = card
            step()
            for k in "123456E" + keys:
                pump.keypad.key(k, ticks_ms())
            assert card.s["grey"]
            board.is_lifted = True
            step()
            for _ in range(300):
                if pump.core.state != dispenser.FUELLING:
                    break
                board.a += 1
                board.b += 1
                step()
            board.is_lifted = False
            for _ in range(20):
                step()
                time.sleep(0.002)
            step()
            assert not card.s["grey"]
            board.card_obj = None
            step()
            board.now += 60
        return [rec.to_json(s, t, p, True) for s, t, p in sales_journal.read()], card
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def ledger(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pumpside.station")
    lg = Ledger(str(tmp_path / "station.db"))
    lg.add_terminal("P1")
    lg.cards.hello("P1", {"psam": TEST_TERMINAL_ID.hex()})
    lg.cards.set_keys(KEYS)
    yield lg
    lg.close()


def test_real_bills_verify_and_the_account_follows_the_card(ledger, caplog):
    records, card = _card_bills(("V100E", "V200E"))
    finals = [r for r in records if r["type"] == "FINAL"]
    assert [f["amount"] for f in finals] == [759, 1518] and all("tac" in f for f in finals)
    results, ack = ledger.store("P1", records)
    assert {r[1] for r in results} == {"stored"} and ack == records[-1]["seq"]
    acct = ledger.cards.account(ASN)
    assert acct["balance"] == card.s["balance"] == 50000 - 759 - 1518
    assert acct["ctc"] == 1 and [b["amount"] for b in acct["bills"]] == [759, 1518]
    assert all(b["verified"] == 1 and b["tac"] for b in acct["bills"])
    # the same upload again: duplicates, the account unchanged
    results, _ = ledger.store("P1", records)
    assert {r[1] for r in results} == {"duplicate"}
    assert ledger.cards.account(ASN)["balance"] == card.s["balance"]
    assert TEST_TAC_MK.hex() not in caplog.text.lower()


@pytest.mark.parametrize("field, change", [
    ("amount", lambda v: v - 100),  # the pump claims less was taken from the card
    ("psam_ttc", lambda v: v + 1),
    ("time", lambda v: v + 1),
    ("tac", lambda v: "%08x" % (int(v, 16) ^ 1)),
    ("tac", lambda v: None),  # no TAC at all for money taken
])
def test_a_tampered_bill_is_rejected_and_stored_nowhere_as_a_sale(ledger, caplog, field,
                                                                 change):
    records, card = _card_bills()
    final = [r for r in records if r["type"] == "FINAL"][0]
    v = change(final[field])
    if v is None:
        del final[field]
    else:
        final[field] = v
    results, ack = ledger.store("P1", records)
    got = {r[0]: r for r in results}[final["seq"]]
    assert got[1] == "rejected" and got[2] in ("bad TAC", "no TAC")
    assert ack == records[-1]["seq"]  # seen and refused: the terminal moves on
    assert not [s for s in ledger.sales("P1") if s["kind"] == "FINAL"]
    assert ledger.cards.account(ASN) is None
    assert [r["why"] for r in ledger.cards.rejected()] == [got[2]]
    assert "rejected: " + got[2] in caplog.text and "6200********0017" in caplog.text
    assert TEST_TAC_MK.hex() not in caplog.text.lower()


def test_another_issuers_key_or_an_unknown_psam_does_not_verify(tmp_path):
    records, _card = _card_bills()
    lg = Ledger(str(tmp_path / "a.db"))
    lg.cards.set_keys({TEST_ISSUER_ID: bytes(range(16))})
    lg.cards.hello("P1", {"psam": TEST_TERMINAL_ID.hex()})
    assert "rejected" in [r[1] for r in lg.store("P1", records)[0]]
    lg = Ledger(str(tmp_path / "b.db"))
    lg.cards.set_keys(KEYS)  # no HELLO told the PSAM id
    assert "rejected" in [r[1] for r in lg.store("P1", records)[0]]
    lg = Ledger(str(tmp_path / "c.db"))  # no keys: stored, marked unverified
    assert {r[1] for r in lg.store("P1", records)[0]} == {"stored"}
    assert lg.cards.account(ASN)["bills"][0]["verified"] == 0


def test_issuer_key_file_errors_name_the_entry_never_the_key(tmp_path):
    good = tmp_path / "keys.json"
    good.write_text(json.dumps({"issuers": [{"id": TEST_ISSUER_ID.hex(),
                                             "tac_key": TEST_TAC_MK.hex()}]}))
    assert accounts.load_issuer_keys(str(good)) == KEYS
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"issuers": [{"id": TEST_ISSUER_ID.hex(),
                                            "tac_key": TEST_TAC_MK.hex()[:-2]}]}))
    with pytest.raises(accounts.KeyFileError) as e:
        accounts.load_issuer_keys(str(bad))
    assert "entry 0" in str(e.value) and TEST_TAC_MK.hex()[:8] not in str(e.value)


def test_grey_records_answer_queries_and_settle_once(ledger):
    ledger.add_terminal("P2")
    ledger.cards.hello("P2", {"psam": "000000000102"})
    esc = {"seq": 1, "type": "ESCAPE", "sale": 4, "ml": 1000, "amount": 759, "asn": ASN,
           "ctc": 3, "psam_ttc": 9, "grade": "92", "price": 7590, "time": 1_795_000_000}
    assert ledger.store("P1", [esc])[0][0][1] == "stored"
    q = {"asn": ASN, "terminal": TEST_TERMINAL_ID.hex(), "ttc": 9, "ctc": 3}
    a = ledger.cards.grey.query("P2", q)
    assert a == {"asn": ASN, "ttc": 9, "status": "owed", "amount": 759, "ml": 1000,
                 "grade": "92", "price": 7590, "terminal": "P1", "sale": 4}
    assert ledger.cards.grey.query("P2", dict(q, ttc=8))["status"] == "unknown"
    assert ledger.cards.grey.query("P2", dict(q, terminal="000000000999"))["status"] \
        == "unknown"  # another PSAM's lock
    assert ledger.cards.grey.query("P2", dict(q, ctc="3"))["status"] == "unknown"
    # P2 settles it: an UNLOCK flagged "elsewhere" (without keys here: TAC unverified)
    ledger.cards.set_keys({})
    unlock = {"seq": 1, "type": "UNLOCK", "sale": 1, "ml": 1000, "amount": 759, "asn": ASN,
              "ctc": 3, "psam_ttc": 9, "flags": rec.F_ELSEWHERE, "tac": "01020304",
              "balance": 49241, "time": 1_795_000_100}
    assert ledger.store("P2", [unlock])[0][0][1] == "stored"
    assert ledger.cards.grey.query("P2", q)["status"] == "settled"
    (r,) = ledger.cards.grey.records(ASN)
    assert (r["settled_by"], r["settled_sale"]) == ("P2", 1)
    # a second UNLOCK of the same escape, from anywhere, is refused
    again = dict(unlock, seq=2, sale=2)
    got = ledger.store("P2", [again])[0][0]
    assert got[1] == "rejected" and got[2] == "escape already settled by P2 sale 1"
    own = dict(unlock, seq=2, sale=4, flags=0, amount=0)  # P1 closing its own, late
    assert ledger.store("P1", [own])[0][0][1] == "rejected"
    assert ledger.cards.account(ASN)["balance"] == 49241
    stored = json.loads(ledger.db.execute(
        "SELECT record FROM sales WHERE kind = 'UNLOCK'").fetchone()[0])
    assert (stored["of_terminal"], stored["of_sale"]) == ("P1", 4)


def test_an_escape_settled_by_one_journal_is_not_settled_again_by_its_successor(ledger):
    """The settling UNLOCK is named by terminal, journal and sale: the same terminal's new
    journal (a formatted flash) numbers its sales afresh, so its sale 1 is another bill."""
    ledger.cards.set_keys({})
    esc = {"seq": 1, "type": "ESCAPE", "sale": 4, "ml": 1000, "amount": 759, "asn": ASN,
           "ctc": 3, "psam_ttc": 9, "grade": "92", "price": 7590, "time": 1_795_000_000}
    assert ledger.store("P1", [esc])[0][0][1] == "stored"
    unlock = {"seq": 1, "type": "UNLOCK", "sale": 1, "ml": 1000, "amount": 759, "asn": ASN,
              "ctc": 3, "psam_ttc": 9, "flags": rec.F_ELSEWHERE, "tac": "01020304",
              "balance": 49241, "time": 1_795_000_100}
    assert ledger.store("P2", [unlock], journal="aa" * 8)[0][0][1] == "stored"
    (r,) = ledger.cards.grey.records(ASN)
    assert (r["settled_by"], r["settled_journal"], r["settled_sale"]) == ("P2", "aa" * 8, 1)
    got = ledger.store("P2", [unlock], journal="bb" * 8)[0][0]
    assert got[1] == "rejected" and got[2] == "escape already settled by P2 sale 1"
    assert ledger.db.execute("SELECT COUNT(*) FROM sales WHERE kind = 'UNLOCK'"
                             ).fetchone()[0] == 1
    assert ledger.cards.account(ASN)["balance"] == 49241


def _escape_settled_at_p2(ledger):
    ledger.cards.set_keys({})  # hand-made bills: TACs stored unverified
    ledger.cards.hello("P2", {"psam": "000000000102"})
    esc = {"seq": 1, "type": "ESCAPE", "sale": 4, "ml": 1000, "amount": 759, "asn": ASN,
           "ctc": 3, "psam_ttc": 9, "grade": "92", "price": 7590, "time": 1_795_000_000}
    assert ledger.store("P1", [esc])[0][0][1] == "stored"
    unlock = {"seq": 1, "type": "UNLOCK", "sale": 1, "ml": 1000, "amount": 759, "asn": ASN,
              "ctc": 3, "psam_ttc": 9, "flags": rec.F_ELSEWHERE, "tac": "01020304",
              "balance": 49241, "time": 1_795_000_100}
    assert ledger.store("P2", [unlock])[0][0][1] == "stored"


MARKER = {"seq": 2, "type": "UNLOCK", "sale": 4, "ml": 1000, "asn": ASN, "ctc": 3,
          "psam_ttc": 9, "flags": rec.F_SETTLED_ELSEWHERE, "by": "000000000102",
          "amount": 0, "time": 1_795_000_200}


def test_an_escape_settled_elsewhere_is_told_to_its_terminal_until_it_closes_it(ledger):
    grey = ledger.cards.grey
    assert grey.settled_elsewhere("P1") == []
    _escape_settled_at_p2(ledger)
    told = {"sale": 4, "asn": ASN, "ctc": 3, "ttc": 9, "by": "P2", "by_sale": 1,
            "psam": "000000000102"}
    assert grey.settled_elsewhere("P1") == [told]
    assert grey.settled_elsewhere("P2") == []  # it settled it: nothing to close there
    # P1 closes it: stored (no money), told no more; again: a duplicate
    assert ledger.store("P1", [MARKER])[0][0][1] == "stored"
    assert grey.settled_elsewhere("P1") == []
    assert ledger.store("P1", [dict(MARKER, seq=3)])[0][0][1] == "duplicate"
    stored = json.loads(ledger.db.execute(
        "SELECT record FROM sales WHERE terminal = 'P1' AND kind = 'UNLOCK'").fetchone()[0])
    assert (stored["settled_by"], stored["settled_sale"]) == ("P2", 1)
    # money: one ESCAPE of 759 and one UNLOCK of 759; the card's account is P2's bill
    money = [(s["terminal"], s["kind"], s["amount"]) for s in ledger.sales()
             if s["amount"]]
    assert sorted(money) == [("P1", "ESCAPE", 759), ("P2", "UNLOCK", 759)]
    acct = ledger.cards.account(ASN)
    assert acct["balance"] == 49241 and [(b["terminal"], b["kind"]) for b in acct["bills"]] \
        == [("P2", "UNLOCK")]
    (r,) = grey.records(ASN)
    assert (r["settled_by"], r["settled_sale"]) == ("P2", 1)  # still P2's settlement
    assert grey.query("P2", {"asn": ASN, "terminal": TEST_TERMINAL_ID.hex(), "ttc": 9,
                             "ctc": 3})["status"] == "settled"
    assert ledger.cards.rejected() == []


def test_a_closing_marker_moves_no_money_and_never_closes_an_escape_settled_here(ledger):
    ledger.cards.set_keys({})
    esc = {"seq": 1, "type": "ESCAPE", "sale": 4, "ml": 1000, "amount": 759, "asn": ASN,
           "ctc": 3, "psam_ttc": 9, "grade": "92", "price": 7590, "time": 1_795_000_000}
    assert ledger.store("P1", [esc])[0][0][1] == "stored"
    # with money in it: rejected
    got = ledger.store("P1", [dict(MARKER, amount=759)])[0][0]
    assert got[1] == "rejected" and got[2] == "no TAC"  # money without a TAC
    # before the settling UNLOCK reached the station (the card's log told P1): stored,
    # the escape still owed until that UNLOCK comes
    assert ledger.store("P1", [dict(MARKER, seq=3)])[0][0][1] == "stored"
    assert ledger.cards.grey.settled_elsewhere("P1") == []
    q = {"asn": ASN, "terminal": TEST_TERMINAL_ID.hex(), "ttc": 9, "ctc": 3}
    assert ledger.cards.grey.query("P2", q)["status"] == "owed"
    # an escape P1 settled itself cannot be closed as settled elsewhere
    esc5 = dict(esc, seq=4, sale=5, ctc=4, psam_ttc=10)
    own = {"seq": 5, "type": "UNLOCK", "sale": 5, "ml": 1000, "amount": 759, "asn": ASN,
           "ctc": 4, "psam_ttc": 10, "tac": "01020304", "balance": 48482,
           "time": 1_795_000_300}
    assert [x[1] for x in ledger.store("P1", [esc5, own])[0]] == ["stored", "stored"]
    got = ledger.store("P1", [dict(MARKER, seq=6, sale=5, ctc=4, psam_ttc=10)])[0][0]
    assert got[1] == "rejected" and got[2] == "escape already settled by P1 sale 5"
    assert ledger.cards.account(ASN)["balance"] == 48482


def test_an_escape_dropped_from_its_terminals_table_stays_owed_and_is_told_no_more(ledger):
    """P1's escape table was full: it dropped an escape the station holds (EVENT code 4).
    The card settles it at P1 itself through a query; it is never told to P1 to close."""
    ledger.cards.set_keys({})
    esc = {"seq": 1, "type": "ESCAPE", "sale": 4, "ml": 1000, "amount": 759, "asn": ASN,
           "ctc": 3, "psam_ttc": 9, "grade": "92", "price": 7590, "time": 1_795_000_000}
    dropped = {"seq": 40, "type": "EVENT", "time": 1_795_000_050,
               "code": journal.EV_ESCAPE_DROPPED, "a": 4, "b": 759}
    assert [r[1] for r in ledger.store("P1", [esc, dropped])[0]] == ["stored", "stored"]
    grey = ledger.cards.grey
    q = {"asn": ASN, "terminal": TEST_TERMINAL_ID.hex(), "ttc": 9, "ctc": 3}
    answer = grey.query("P1", q)
    assert (answer["status"], answer["terminal"], answer["sale"]) == ("owed", "P1", 4)
    unlock = {"seq": 41, "type": "UNLOCK", "sale": 5, "ml": 1000, "amount": 759, "asn": ASN,
              "ctc": 3, "psam_ttc": 9, "flags": rec.F_ELSEWHERE, "tac": "01020304",
              "balance": 49241, "time": 1_795_000_100}
    assert ledger.store("P1", [unlock])[0][0][1] == "stored"
    (r,) = grey.records(ASN)
    assert (r["settled_by"], r["settled_sale"]) == ("P1", 5)
    assert grey.settled_elsewhere("P1") == [] and grey.query("P2", q)["status"] == "settled"
    # dropped, then settled at P2: still nothing for P1 to close
    esc2 = dict(esc, seq=42, sale=6, ctc=4, psam_ttc=10)
    assert ledger.store("P1", [esc2, dict(dropped, seq=43, a=6)])[0][1][1] == "stored"
    ledger.cards.hello("P2", {"psam": "000000000102"})
    unlock2 = dict(unlock, seq=1, sale=1, ctc=4, psam_ttc=10)
    assert ledger.store("P2", [unlock2])[0][0][1] == "stored"
    assert grey.settled_elsewhere("P1") == []
    assert ledger.store("P1", [dict(dropped, seq=44, a="x")])[0][0][1] == "stored"  # no harm
