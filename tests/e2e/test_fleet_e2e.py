"""End to end: a fleet company's vehicle card, issued at the desk, its allocation loaded
with the restrictions the station writes (EF1C), buys fuel at the virtual pump: a grade it
may not buy is refused, a fill stops at its daily limit, and the station raises
'fleet_limit' when the sale is stored past the card's monthly limit."""
import time

import pytest

from pumpside_host.bench.cards import IssuingReader, VirtualCard
from pumpside_host.station.service import Actor, Service

from .helpers import CARD_MODE, linked_pump, prompt, remove_card, to_preset
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e
MANAGER = Actor("max", "manager")
PIN = "2580"


def test_a_fleet_card_limits_at_the_pump_and_the_month_at_the_station(make_pump, card_store,
                                                                        station):
    ledger, server = station
    issuer = card_store.issuer
    ledger.cards.set_masters({issuer.issuer_id: {
        "tac": issuer.tac_mk, "load": issuer.load_mk, "purchase": issuer.purchase_mk}})
    service = Service(ledger)
    company = service.fleet_company_add(MANAGER, "Swift Haulage", "Wang", "prepaid")
    service.fleet_deposit(MANAGER, company, 20000, "transfer")
    cards = {}
    for plate, grades in (("A1", "XX"), ("B2", "")):
        card = VirtualCard.blank(issuer)
        reader = IssuingReader(card)
        asn = service.fleet_card_issue(MANAGER, reader, company, plate, PIN)
        service.fleet_card_limits(MANAGER, asn, grades=grades, day_amount=300,
                                  month_amount=5000)
        service.fleet_allocate(MANAGER, asn, 10000)
        service.card_load(MANAGER, reader, PIN)
        card_store.add(card)
        cards[plate] = asn

    # the month's limit lowered after the load: the card still carries the old remainder,
    # the station knows better
    service.fleet_card_limits(MANAGER, cards["B2"], day_amount=0, month_amount=200)
    vp = linked_pump(make_pump, ledger, server.port, cards=card_store, **CARD_MODE)
    vp.insert(cards["A1"])
    prompt(vp, "Grade not allowed for this card")
    remove_card(vp)
    to_preset(vp, cards["B2"], PIN)
    vp.bench.press("F")  # a fill: capped at the day's limit the card carries
    prompt(vp, "Lift the nozzle")
    vp.bench.lift()
    receipt = vp.wait_event("receipt", 30)
    vp.bench.hang_up()
    remove_card(vp)
    assert 300 - 8 < receipt["amount"] <= 300  # within one pulse of the cap
    _wait(lambda: [s["kind"] for s in ledger.sales("P1")] == ["FINAL"], 10, "the sale")
    alarms = [why for rule, why in ledger.db.execute("SELECT rule, why FROM alarms")
              if rule == "fleet_limit"]
    assert len(alarms) == 1 and "B2" in alarms[0] and cards["B2"] not in alarms[0]
    rows = service.fleet_statement(MANAGER, company, time.strftime("%Y-%m"))
    assert [(r["plate"], r["amount"]) for r in rows] == [("B2", receipt["amount"])]
