"""End to end: a card issued and loaded at the station's card desk buys fuel at the
virtual pump (its bill's TAC verified, the station's balance and the card's agree);
reported lost, it is refused at the pump within a heartbeat."""
import pytest

from pumpside_host.station.service import Actor

from .helpers import CARD_MODE, card_desk, desk_issue, linked_pump, sell_at_preset, to_preset
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e
CASHIER = Actor("cas", "cashier")
PIN = "2580"


def test_a_desk_card_loaded_buys_fuel_then_lost_is_refused(make_pump, card_store, station):
    ledger, server = station
    service = card_desk(ledger, card_store.issuer)
    asn, card, reader = desk_issue(service, CASHIER, card_store, PIN)
    service.card_fund(CASHIER, asn, 20000)
    assert service.card_load(CASHIER, reader, PIN) == [1]

    vp = linked_pump(make_pump, ledger, server.port, cards=card_store, **CARD_MODE)
    to_preset(vp, asn, PIN)
    delivery, _receipt = sell_at_preset(vp, "V300E")
    vp.bench.remove_card()
    _wait(lambda: [s["kind"] for s in ledger.sales("P1")] == ["FINAL"], 10, "the sale")
    account = service.card(CASHIER, asn)
    assert account["balance"] == card.s["balance"] == 20000 - delivery["amount"]
    assert account["card_balance"] == account["balance"] and account["flags"] == []
    assert [s["verified"] for s in account["sales"]] == [1]

    version = service.card_lost(CASHIER, asn)
    vp.wait_event("hotlist", 10, lambda f: f["version"] == version)
    vp.insert(asn)
    _wait(lambda: vp.bench.display[2:3] == ["Card refused (hotlist)"], 10, "the refusal")
