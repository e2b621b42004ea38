"""End to end: an online top-up recorded at the station waits on the card's account; the
card inserted at the virtual pump is offered the load, takes it (MAC2 from the station,
CREDIT FOR LOAD, the LOAD record uploaded) and buys fuel with it; the station's account,
the card's purse and the bills agree. A power cut in the middle of a load is recovered:
loaded once, never lost."""
import pytest

from pumpside_host.station.cardbook import DONE, PENDING
from pumpside_host.station.service import Actor

from .helpers import CARD_MODE, card_desk, desk_issue, linked_pump, prompt, sell_at_preset
from .helpers import saw as _saw
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e
CASHIER = Actor("cas", "cashier")
MANAGER = Actor("max", "manager")
PIN = "2580"
TOP_UP = 20000


def _issued(ledger, card_store):
    """A registered card issued at the desk (nothing on it), 200.00 topped up online."""
    service = card_desk(ledger, card_store.issuer)
    asn, card, _reader = desk_issue(service, CASHIER, card_store, PIN)
    service.card_fund(MANAGER, asn, TOP_UP, "online")
    return service, asn, card


def _to_offer(vp, asn):
    vp.insert(asn)
    prompt(vp, "Enter PIN, E to confirm")
    vp.bench.press(PIN + "E")
    prompt(vp, "Load waiting: E to load, C to skip")


def test_online_top_up_is_loaded_at_the_pump_then_the_sale_goes_on(make_pump, card_store,
                                                                    station):
    ledger, server = station
    service, asn, card = _issued(ledger, card_store)
    assert card.s["balance"] == 0
    vp = linked_pump(make_pump, ledger, server.port, cards=card_store, **CARD_MODE)
    _to_offer(vp, asn)
    assert _saw(vp, "card_info", load=TOP_UP)
    vp.bench.press("E")
    vp.wait_event("loaded", 15)
    prompt(vp, "Preset: V litres A amount F fill")
    assert card.s["balance"] == TOP_UP
    delivery, _receipt = sell_at_preset(vp, "V300E")
    vp.bench.remove_card()
    _wait(lambda: [s["kind"] for s in ledger.sales("P1")] == ["FINAL"], 10, "the sale")
    _wait(lambda: [x["state"] for x in service.desk.book.loads(asn)] == [DONE], 10,
          "the load record")
    account = service.card(CASHIER, asn)
    assert account["balance"] == card.s["balance"] == TOP_UP - delivery["amount"]
    assert account["card_balance"] == account["balance"] and account["flags"] == []
    assert account["waiting"] == 0
    (load,) = account["loads"]
    assert (load["amount"], load["source"], load["how"]) == (TOP_UP, "online",
                                                             "loaded at pump P1")
    assert [s["verified"] for s in account["sales"]] == [1]


def test_power_cut_during_the_load_loads_once_after_the_reboot(make_pump, card_store,
                                                               station):
    ledger, server = station
    service, asn, card = _issued(ledger, card_store)
    vp = linked_pump(make_pump, ledger, server.port, cards=card_store, **CARD_MODE)
    _to_offer(vp, asn)
    vp.bench.press("E")
    # the station gave MAC2 (the load started): the power goes at once, before, at or
    # after CREDIT
    _wait(lambda: [x["state"] for x in service.desk.book.loads(asn)] != [PENDING], 10,
          "the station's MAC2")
    vp.power_cut(warn=False)
    vp.bench.remove_card()
    ups = sum(1 for name, _f in vp.seen if name == "link_up")
    vp.reboot()
    vp.wait_state("IDLE", 10)
    _wait(lambda: sum(1 for name, _f in vp.seen if name == "link_up") > ups, 10, "the link")
    vp.insert(asn)
    prompt(vp, "Enter PIN, E to confirm")
    vp.bench.press(PIN + "E")
    _wait(lambda: vp.bench.display[2:3] in (["Load waiting: E to load, C to skip"],
                                            ["Preset: V litres A amount F fill"]), 10,
          "the offer or the preset")
    if vp.bench.display[2] == "Load waiting: E to load, C to skip":
        vp.bench.press("E")
        _wait(lambda: vp.bench.display[2:3] in (["Preset: V litres A amount F fill"],
                                                ["Load not done - choose preset"]), 15,
              "the load")
    vp.bench.remove_card()
    _wait(lambda: [x["state"] for x in service.desk.book.loads(asn)] == [DONE], 10,
          "the load done")
    assert card.s["balance"] == TOP_UP  # once
    account = service.card(CASHIER, asn)
    assert account["balance"] == account["card_balance"] == TOP_UP
    assert account["waiting"] == 0 and account["flags"] == []
