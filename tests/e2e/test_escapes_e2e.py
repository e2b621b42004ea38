"""End to end: a card pulled before its debit and not seen again holds no journal segment
(the escape table holds it), and it is settled once when it comes back."""
import pytest

from pumpside_host.bench.cards import TEST_ISSUER_ID, TEST_TAC_MK

from .helpers import ASN, CARD_MODE, linked_pump, prompt, remove_card, saw, wait_until
from .helpers import card_sale_fuelling as _card_sale_fuelling

pytestmark = pytest.mark.e2e

FILLED = 100  # sales after the escape: 101 records roll four 32-record segments


def test_an_abandoned_escape_holds_no_segment_and_is_settled_once_on_its_return(
        make_pump, card_store, station):
    ledger, server = station
    ledger.cards.set_keys({TEST_ISSUER_ID: TEST_TAC_MK})
    vp = linked_pump(make_pump, ledger, server.port, "P1", cards=card_store, **CARD_MODE)
    _card_sale_fuelling(vp, "V1000E")
    remove_card(vp)  # pulled mid-fuelling, never seen again (for now)
    d = vp.wait_event("delivery", 10)
    vp.bench.hang_up()
    assert d["record"] == "ESCAPE" and d["amount"] > 0
    wait_until(lambda: [s["kind"] for s in ledger.sales("P1")] == ["ESCAPE"], 10, "the escape")
    # then the sales of a busy day: journaled on the board's flash by the firmware's own
    # code (flash_tool fill: a keypad sale each would take minutes), drained to the station
    vp.kill()
    vp.flash_tool("fill", str(FILLED))
    vp.reboot()
    vp.wait_event("synced", 30, lambda f: f["unsynced"] == 0)  # the station holds them all
    assert len(ledger.sales("P1")) == FILLED + 1
    vp.kill()
    dump = vp.dump_journal()
    # pruned as the station acknowledged: the escape's record went with its segment (before
    # the escape table the ESCAPE kept all four), its table still holds it
    assert dump["state"]["segments"] == 1 and dump["state"]["escapes"] == 1
    assert [r for r in dump["records"] if r["type"] == "ESCAPE"] == []
    assert dump["corrupt"] == []
    # the card comes back: grey from this pump's lock, settled (补扣) once
    vp.reboot()
    vp.wait_event("clock_trusted", 10)  # card sales are dated on the station's time
    vp.insert(ASN)
    r = vp.wait_event("receipt", 15)
    assert r["amount"] == d["amount"] and saw(vp, "unlocked_grey", amount=d["amount"], flags=0)
    card = vp.card_state(ASN)
    assert not card["grey"] and card["balance"] == 50000 - d["amount"]
    remove_card(vp)
    wait_until(lambda: [s["kind"] for s in ledger.sales("P1") if s["kind"] != "FINAL"] == [
        "ESCAPE", "UNLOCK"], 10, "the unlock")
    # and again: not grey, nothing owed here; a sale may start, nothing more is taken
    vp.insert(ASN)
    prompt(vp, "Enter PIN, E to confirm")
    vp.bench.press("C")
    remove_card(vp)
    assert vp.card_state(ASN)["balance"] == 50000 - d["amount"]
    money = [(s["kind"], s["sale"], s["amount"]) for s in ledger.sales("P1")
             if s["kind"] != "FINAL"]
    assert money == [("ESCAPE", d["sale"], d["amount"]), ("UNLOCK", d["sale"], d["amount"])]
    assert ledger.cards.rejected() == []
    vp.kill()
    dump = vp.dump_journal()
    assert dump["state"]["escapes"] == 0 and dump["corrupt"] == []
