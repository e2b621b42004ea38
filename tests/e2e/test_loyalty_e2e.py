"""End to end: loyalty at the pump - a card with points, its PIN, the rewards menu, a
reward redeemed through the station, the sale discounted by its voucher, the receipt's
points earned and total, and the station's points balance: before - cost + earned."""
import time

import pytest

from pumpside import points as earning
from pumpside_host.station.service import Actor, Service

from .helpers import ASN, CARD_MODE, PIN, linked_pump, prompt, sell_at_preset
from .helpers import remove_card as _remove
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e
LOCAL = Actor.local("test")


def test_points_redeemed_at_the_pump_discount_the_sale_and_the_ledger_agrees(
        make_pump, card_store, station):
    ledger, server = station
    service = Service(ledger)
    service.set_loyalty_rule(LOCAL, "grade", "*", 2)
    gift = service.add_reward(LOCAL, "five off", "amount", 500, 100)
    ledger.store("P0", [{"type": "FINAL", "seq": 1, "sale": 1, "ml": 1, "amount": 15000,
                         "grade": "92", "asn": ASN, "time": int(time.time()), "ctc": 1,
                         "tac": "01020304"}])  # 300 points from an earlier sale
    before = ledger.loyalty.balance(ASN)
    assert before == 300

    vp = linked_pump(make_pump, ledger, server.port, cards=card_store, **CARD_MODE)
    vp.insert(ASN)
    prompt(vp, "Enter PIN, E to confirm")
    vp.bench.press(PIN + "E")
    prompt(vp, "Rewards: key a number, E fuel")
    assert vp.bench.display[3].startswith("300  1:five off 100")
    vp.bench.press("1")
    prompt(vp, "Redeemed - V litres A amount F fill")
    delivery, receipt = sell_at_preset(vp, "V300E")  # 3.00 L: 22.77, less 5.00
    paid = 2277 - 500  # metered, less the voucher: what the card paid, the bill's amount
    assert delivery["amount"] == 2277 and receipt["amount"] == paid
    assert vp.card_state(ASN)["balance"] == 50000 - paid == receipt["balance"]
    earned = earning.earn(paid, 2)
    text = bytes(vp.bench.printed).decode("utf-8", "replace").splitlines()
    assert [ln.split()[-1] for ln in text if ln.startswith(("Voucher", "Points"))] == [
        "-5.00", str(earned), str(before - 100 + earned)]
    _remove(vp)
    _wait(lambda: [s["kind"] for s in ledger.sales("P1")] == ["FINAL"], 10, "the sale")
    assert ledger.loyalty.balance(ASN) == before - 100 + earned
    (voucher,) = ledger.loyalty.vouchers(ASN, ("pending", "used"))
    assert voucher["state"] == "used" and voucher["reward"] == gift
    sale = ledger.sales("P1")[0]
    assert voucher["used_sale"] == sale["sale"]
    assert ledger.loyalty.receipt("P1", sale["journal"], "FINAL", sale["sale"]) == {
        "points_earned": earned, "points_total": before - 100 + earned}
