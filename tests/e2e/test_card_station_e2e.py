"""End to end: card sales and the station (card accounts, TACs verified with the issuer's
key; grey cards settled through the station)."""
import pytest

from pumpside_host.bench import Bench
from pumpside_host.bench.cards import TEST_ISSUER_ID, TEST_TAC_MK, VirtualPsam
from pumpside_host.station.cardbook import CardBook
from pumpside_host.station.service import Actor, Service

from .helpers import ASN, CARD_MODE, linked_pump
from .helpers import card_sale as _card_sale
from .helpers import card_sale_fuelling as _card_sale_fuelling
from .helpers import prompt as _prompt
from .helpers import remove_card as _remove
from .helpers import saw as _saw
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e
MANAGER = Actor("max", "manager")


@pytest.fixture
def station(station):
    """The station, verifying TACs with the test issuer's key."""
    ledger, _server = station
    ledger.cards.set_keys({TEST_ISSUER_ID: TEST_TAC_MK})
    return station


def _pump(make_pump, card_store, ledger, port, name, psam=None):
    if psam is not None:
        psam = VirtualPsam(card_store.issuer, terminal_id=bytes.fromhex(psam))
    bench = Bench(psam=psam)
    return linked_pump(make_pump, ledger, port, name, bench=bench, cards=card_store, **CARD_MODE)


def test_card_sale_through_the_link_is_stored_with_its_verified_tac(make_pump, card_store,
                                                                    station):
    ledger, server = station
    vp = _pump(make_pump, card_store, ledger, server.port, "P1")
    d, _receipt = _card_sale(vp, "V300E")
    _remove(vp)
    _wait(lambda: [s["kind"] for s in ledger.sales("P1")] == ["FINAL"], 10, "the sale")
    acct = ledger.cards.account(ASN)
    card = vp.card_state(ASN)
    assert d["amount"] == 2277 and acct["balance"] == card["balance"] == 50000 - 2277
    assert [(b["kind"], b["amount"], b["verified"]) for b in acct["bills"]] == [
        ("FINAL", 2277, 1)]
    assert ledger.cards.rejected() == []


def test_card_grey_at_pump_1_is_settled_once_at_pump_2_through_the_station(make_pump,
                                                                            card_store, station):
    ledger, server = station
    p1 = _pump(make_pump, card_store, ledger, server.port, "P1")
    p2 = _pump(make_pump, card_store, ledger, server.port, "P2", psam="000000000102")
    # pump 1: the card is pulled mid-fuelling, an ESCAPE goes to the station
    _card_sale_fuelling(p1, "V1000E")
    _remove(p1)
    d = p1.wait_event("delivery", 10)
    p1.bench.hang_up()
    assert d["record"] == "ESCAPE" and d["amount"] > 0
    assert card_store.cards[ASN].s["grey"] and card_store.cards[ASN].s["balance"] == 50000
    _wait(lambda: [s["kind"] for s in ledger.sales("P1")] == ["ESCAPE"], 10, "the escape")
    # pump 2: grey from pump 1's PSAM: it asks the station and settles it (补扣) once
    p2.insert(ASN)
    r = p2.wait_event("receipt", 15)
    assert r["amount"] == d["amount"]
    assert _saw(p2, "grey_query", status="owed", amount=d["amount"])
    assert _saw(p2, "unlocked_grey", amount=d["amount"], flags=64, of="P1", of_sale=d["sale"])
    card = card_store.cards[ASN].s
    assert not card["grey"] and card["balance"] == 50000 - d["amount"]
    _remove(p2)
    _wait(lambda: [s["kind"] for s in ledger.sales("P2")] == ["UNLOCK"], 10, "the unlock")
    (esc,) = ledger.cards.grey.records(ASN)
    assert (esc["terminal"], esc["sale"], esc["amount"]) == ("P1", d["sale"], d["amount"])
    assert esc["settled_by"] == "P2"
    acct = ledger.cards.account(ASN)
    assert acct["balance"] == card["balance"]
    assert [(b["terminal"], b["kind"], b["verified"]) for b in acct["bills"]] == [
        ("P2", "UNLOCK", 1)]
    # a second query for the same lock answers "settled"
    q = {"asn": ASN, "terminal": "000000000101", "ttc": esc["ttc"], "ctc": esc["ctc"]}
    assert ledger.cards.grey.query("P2", q)["status"] == "settled"
    # the station tells pump 1 (SALES_ACK / HEARTBEAT): it closes its escape with a
    # marker (no money), uploads it, and is told no more
    _wait(lambda: _saw(p1, "escape_settled_elsewhere", sale=d["sale"], by="P2"), 10,
          "pump 1 to close its escape")
    _wait(lambda: sorted((s["terminal"], s["kind"]) for s in ledger.sales("P1")) == [
        ("P1", "ESCAPE"), ("P1", "UNLOCK")], 10, "the marker")
    (esc,) = ledger.cards.grey.records(ASN)
    assert ledger.cards.grey.settled_elsewhere("P1") == []
    # back at pump 1: not grey any more, nothing more is taken; a normal sale starts
    p1.insert(ASN)
    _prompt(p1, "Enter PIN, E to confirm")
    p1.bench.press("C")
    _remove(p1)
    assert card_store.cards[ASN].s["balance"] == 50000 - d["amount"]
    assert not _saw(p1, "escape_open")  # closed before the card came back
    money = sorted((s["terminal"], s["kind"], s["amount"]) for s in ledger.sales()
                   if s["amount"])
    assert money == [("P1", "ESCAPE", d["amount"]), ("P2", "UNLOCK", d["amount"])]
    assert ledger.cards.account(ASN)["balance"] == 50000 - d["amount"]
    assert ledger.cards.rejected() == []
    # pump 1's journal: the escape, then the marker naming pump 2's PSAM; none open
    p1.kill()
    dump = p1.dump_journal()
    recs = [(r["type"], r["sale"], r.get("flags", 0), r["amount"], r.get("by"))
            for r in dump["records"] if r["type"] in ("ESCAPE", "UNLOCK")]
    assert recs == [("ESCAPE", d["sale"], 0, d["amount"], None),
                    ("UNLOCK", d["sale"], 128, 0, "000000000102")]
    assert dump["state"]["escapes"] == 0 and dump["corrupt"] == []


def test_grey_elsewhere_unknown_to_the_station_or_offline_is_refused(make_pump, card_store,
                                                                     station):
    ledger, server = station
    grey = card_store.issue("6200000000000042", 50000)
    grey.s.update(grey=True, grey_tid="000000000999", grey_ttc=7, grey_dt="20261124080000",
                  gtac="01020304", grey_ctc=0)
    card_store.save()
    p2 = _pump(make_pump, card_store, ledger, server.port, "P2", psam="000000000102")
    p2.insert("6200000000000042")
    _prompt(p2, "Card locked at another pump")
    assert _saw(p2, "grey_query", status="unknown")
    _remove(p2)
    server.stop()
    _wait(lambda: _saw(p2, "link_down"), 30, "the link to notice")
    p2.insert("6200000000000042")
    _prompt(p2, "Card locked at another pump")
    _remove(p2)
    assert grey.s["grey"] and grey.s["balance"] == 50000


def test_a_card_reported_lost_is_refused_at_the_pump_and_alerted_at_the_station(
        make_pump, card_store, station):
    """issue 15: a hotlisted card presented. Reported lost at the station's desk, the
    card is refused at the pump (its own hotlist), which tells the station why (CARD_INFO
    `refused`): the station's hotlisted_card alert fires, the card number masked."""
    ledger, server = station
    service = Service(ledger)
    CardBook(ledger.db).add(ASN, TEST_ISSUER_ID.hex(), "registered", "Li Lei", "1234", "138")
    service.set_alert_rule(MANAGER, "hotlisted_card", True)
    vp = _pump(make_pump, card_store, ledger, server.port, "P1")
    version = service.card_lost(MANAGER, ASN)
    vp.wait_event("hotlist", 10, lambda f: f["version"] == version)
    vp.insert(ASN)
    _prompt(vp, "Card refused (hotlist)")
    _wait(lambda: ledger.journals.alarms("P1"), 10, "the station's alert")
    (alarm,) = ledger.journals.alarms("P1")
    assert alarm["what"] == "hotlisted card" and "refused (card_hotlisted)" in alarm["why"]
    assert ASN not in alarm["why"] and "6200********0017" in alarm["why"]
    _remove(vp)
    assert card_store.cards[ASN].s["balance"] == 50000 and ledger.sales("P1") == []
