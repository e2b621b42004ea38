"""End to end: a fleet company's vehicle card, issued at the desk, its allocation loaded
with the restrictions the station writes (EF1C, EF1D), buys fuel at the virtual pump: a
grade it may not buy is refused; the driver keys the odometer (a bad reading again), a
first sale within the card's daily litres, a fill stopped at what is left of them, then
the card refused for the day; the station raises 'fleet_limit' when a sale is stored past
the card's monthly limit, and the month's statement shows the odometer and l/100 km."""
import time

import pytest

from pumpside.meter import round_half_up
from pumpside_host.bench.cards import IssuingReader, VirtualCard
from pumpside_host.station.service import Actor

from .helpers import CARD_MODE, card_desk, linked_pump, prompt, remove_card, saw
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e
MANAGER = Actor("max", "manager")
PIN = "2580"


def test_a_fleet_card_limits_at_the_pump_and_the_month_at_the_station(make_pump, card_store,
                                                                        station):
    ledger, server = station
    issuer = card_store.issuer
    service = card_desk(ledger, issuer)
    company = service.fleet_company_add(MANAGER, "Swift Haulage", "Wang", "prepaid")
    service.fleet_deposit(MANAGER, company, 20000, "transfer")
    cards = {}
    for plate, grades, limits in (("A1", "XX", {"day_amount": 300}), ("B2", "", {"day_ml": 600})):
        card = VirtualCard.blank(issuer)
        reader = IssuingReader(card)
        asn = service.fleet_card_issue(MANAGER, reader, company, plate, PIN)
        service.fleet_card_limits(MANAGER, asn, grades=grades, month_amount=5000, **limits)
        service.fleet_allocate(MANAGER, asn, 10000)
        service.card_load(MANAGER, reader, PIN)
        card_store.add(card)
        cards[plate] = asn

    # the month's limit lowered after the load: the card still carries the old remainder,
    # the station knows better
    service.fleet_card_limits(MANAGER, cards["B2"], month_amount=200)
    vp = linked_pump(make_pump, ledger, server.port, cards=card_store,
                     local_offset_min=time.localtime().tm_gmtoff // 60, **CARD_MODE)
    vp.insert(cards["A1"])
    prompt(vp, "Grade not allowed for this card")
    remove_card(vp)

    def sale(odometer, preset):
        vp.insert(cards["B2"])
        prompt(vp, "Enter PIN, E to confirm")
        vp.bench.press(PIN + "E")
        prompt(vp, "Odometer km, E to confirm")
        for reading in odometer[:-1]:  # not plausible: asked again
            vp.bench.press(reading + "E")
            prompt(vp, "Odometer not plausible - again")
        vp.bench.press(odometer[-1] + "E")
        prompt(vp, "Preset: V litres A amount F fill")
        vp.bench.press(preset)
        prompt(vp, "Lift the nozzle")
        vp.bench.lift()
        vp.wait_event("receipt", 30)
        vp.bench.hang_up()
        remove_card(vp)

    def sold():
        return [s["ml"] for s in ledger.sales("P1") if s["kind"] == "FINAL"]
    sale(["0", "50000"], "V20E")  # 0.20 L of the day's 0.60 L
    assert saw(vp, "odometer_bad", km=0, last=None, tries_left=2)
    _wait(lambda: len(sold()) == 1, 10, "the first sale")
    sale(["50002"], "F")  # a fill: what is left of the day's litres
    _wait(lambda: len(sold()) == 2, 10, "the second sale")
    first, second = sold()
    assert first == 200 and 400 - 2 <= second <= 400  # within a pulse or two of the cap
    vp.insert(cards["B2"])
    prompt(vp, "Daily limit reached")
    remove_card(vp)

    alarms = [why for rule, why in ledger.db.execute("SELECT rule, why FROM alarms")
              if rule == "fleet_limit"]
    assert len(alarms) == 1 and "B2" in alarms[0] and cards["B2"] not in alarms[0]
    assert service.fleet.last_odometer(cards["B2"]) == 50002
    rows = service.fleet_statement(MANAGER, company, time.strftime("%Y-%m"))
    assert [(r["plate"], r["ml"], r["odometer_start"], r["odometer_end"], r["km"])
            for r in rows] == [("B2", first + second, 50000, 50002, 2)]
    # fill to fill: the second fill's litres over the 2 km, hundredths rounded once
    assert rows[0]["l_per_100km"] == "%d.%02d" % divmod(round_half_up(second * 10, 2), 100)
