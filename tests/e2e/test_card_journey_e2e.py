"""End to end, issue 14's customer journey in one story on two virtual pumps (the firmware
on the MicroPython unix port, the station on SQLite): a registered card issued and loaded
with cash at the desk buys fuel at pump 1 (its receipt shows the points earned and the
total); a top-up paid online waits on its account until the card comes back to pump 1,
which offers and performs the load, then the rewards menu redeems points for a voucher
that comes off that sale; the card reported lost is refused at pump 2 within a
heartbeat; its replacement carries the balance the station proves and the points, and
the station, the card and the sum of the bills agree at every step.

A fleet card (odometer, daily limit) is test_fleet_e2e.py's story, not told again here."""
import pytest

from pumpside_host.bench.cards import IssuingReader, VirtualCard
from pumpside_host.station.service import Actor

from .helpers import (
    CARD_MODE,
    PIN,
    card_desk,
    card_sale,
    desk_issue,
    linked_pump,
    prompt,
    receipt_rows,
    remove_card,
    saw,
    sell_at_preset,
    sum_of_bills,
    wait_until,
)

pytestmark = pytest.mark.e2e
CASHIER = Actor("cas", "cashier")
MANAGER = Actor("max", "manager")
CASH, ONLINE = 20000, 10000
SALE = 2277  # 3.00 L at the test grade's 7.59
RATE, COST, OFF = 2, 40, 500  # 2 points a unit; the reward: 5.00 off for 40 points


def _fuel(vp):
    """A 3.00 L sale of the card in the reader (its PIN keyed, the rewards menu past):
    the delivery, the receipt event and the printed receipt's rows."""
    since = len(vp.bench.printed)
    delivery, receipt = sell_at_preset(vp, "V300E")
    return delivery, receipt, receipt_rows(vp, since)


def _stored(ledger, terminal, count):
    wait_until(lambda: sum(s["kind"] == "FINAL" for s in ledger.sales(terminal)) == count,
               10, "%d sales of %s at the station" % (count, terminal))


def _agrees(service, asn, card, reader=None):
    """The card's account: the station's balance, the card's own and the bills agree."""
    account = service.card(CASHIER, asn, reader)
    assert account["balance"] == card.s["balance"] == sum_of_bills(account)
    assert account["card_balance"] == account["balance"] and account["flags"] == []
    return account


def test_a_registered_card_from_issue_to_replacement(make_pump, card_store, station):
    ledger, server = station
    service = card_desk(ledger, card_store.issuer)
    service.set_loyalty_rule(MANAGER, "grade", "*", RATE)
    reward = service.add_reward(MANAGER, "five off", "amount", OFF, COST)
    service.card_setting(MANAGER, "replace_wait_s", 0)  # the story waits for its bills

    # the desk: issued, cash taken, loaded
    asn, card, reader = desk_issue(service, CASHIER, card_store)
    assert card.s["balance"] == 0 and service.card(CASHIER, asn)["card"]["status"] == "active"
    service.card_fund(CASHIER, asn, CASH)
    assert service.card(CASHIER, asn)["waiting"] == CASH
    assert service.card_load(CASHIER, reader, PIN) == [1]
    _agrees(service, asn, card, reader)
    p1 = linked_pump(make_pump, ledger, server.port, "P1", cards=card_store, **CARD_MODE)
    p2 = linked_pump(make_pump, ledger, server.port, "P2", cards=card_store, **CARD_MODE)

    # pump 1: no points yet, so no rewards menu; the receipt shows the points earned
    since = len(p1.bench.printed)
    delivery, receipt = card_sale(p1, "V300E", asn)
    first = SALE * RATE // 100
    assert delivery["amount"] == receipt["amount"] == SALE
    assert receipt["balance"] == card.s["balance"] == CASH - SALE
    rows = receipt_rows(p1, since)
    assert (rows["Amount"], rows["Balance"]) == ("22.77", "177.23") and "Voucher" not in rows
    assert (rows["Points earned"], rows["Points total"]) == (str(first), str(first))
    remove_card(p1)
    _stored(ledger, "P1", 1)
    account = _agrees(service, asn, card)
    assert [s["verified"] for s in account["sales"]] == [1]
    assert account["points"]["balance"] == first

    # an online top-up: money on the account, waiting for the card
    service.card_fund(MANAGER, asn, ONLINE, "online")
    assert service.card(CASHIER, asn)["waiting"] == ONLINE
    assert card.s["balance"] == CASH - SALE

    # back at pump 1: the waiting load is offered and performed, then the rewards menu
    p1.insert(asn)
    prompt(p1, "Enter PIN, E to confirm")
    p1.bench.press(PIN + "E")
    prompt(p1, "Load waiting: E to load, C to skip")
    assert saw(p1, "card_info", load=ONLINE)
    p1.bench.press("E")
    loaded = p1.wait_event("loaded", 15)
    topped = CASH - SALE + ONLINE
    assert (loaded["amount"], loaded["balance"]) == (ONLINE, topped) == (ONLINE,
                                                                         card.s["balance"])
    prompt(p1, "Rewards: key a number, E fuel")
    assert p1.bench.display[3].startswith("%d  1:five off %d" % (first, COST))
    p1.bench.press("1")
    prompt(p1, "Redeemed - V litres A amount F fill")
    delivery, receipt, rows = _fuel(p1)
    paid = SALE - OFF
    second = paid * RATE // 100
    assert delivery["amount"] == SALE and receipt["amount"] == paid
    assert receipt["balance"] == card.s["balance"] == topped - paid
    assert (rows["Voucher"], rows["Amount"]) == ("-5.00", "17.77")
    assert (rows["Points earned"], rows["Points total"]) == (str(second),
                                                             str(first - COST + second))
    remove_card(p1)
    _stored(ledger, "P1", 2)
    account = _agrees(service, asn, card)
    assert [(x["amount"], x["source"], x["state"]) for x in account["loads"]] == [
        (CASH, "cash", "done"), (ONLINE, "online", "done")]
    assert account["loads"][1]["how"] == "loaded at pump P1" and account["waiting"] == 0
    assert [(s["amount"], s["verified"]) for s in account["sales"]] == [(SALE, 1), (paid, 1)]
    assert account["points"] == {"earned": first + second, "redeemed": COST, "reversed": 0,
                                 "carried": 0, "balance": first - COST + second}
    (voucher,) = ledger.loyalty.vouchers(asn, ("pending", "used"))
    assert (voucher["state"], voucher["reward"]) == ("used", reward)
    assert voucher["used_sale"] == ledger.sales("P1")[-1]["sale"]

    # reported lost: every pump has it within a heartbeat; pump 2 refuses the card
    version = service.card_lost(CASHIER, asn)
    wait_until(lambda: saw(p2, "hotlist", version=version), 10, "pump 2's hotlist")
    p2.insert(asn)
    prompt(p2, "Card refused (hotlist)")
    remove_card(p2)
    assert card.s["balance"] == topped - paid and not card.s["grey"]
    assert service.card(CASHIER, asn)["card"]["status"] == "lost"

    # replaced: the new card carries what the station proves; the old account is closed
    proven = topped - paid
    assert service.desk.proven(asn) == (proven, 0)
    new_card = VirtualCard.blank(card_store.issuer)
    new_reader = IssuingReader(new_card)
    new, carried, on_card = service.card_replace(MANAGER, new_reader, asn, "4321", "1234")
    assert (carried, on_card) == (proven, True) and new != asn
    card_store.add(new_card)
    old = service.card(CASHIER, asn)
    assert old["card"]["status"] == "closed" and old["card"]["replaced_by"] == new
    assert old["balance"] == sum_of_bills(old) == 0
    assert [t["amount"] for t in old["transfers"]] == [proven]
    fresh = _agrees(service, new, new_card, new_reader)
    assert fresh["balance"] == new_card.s["balance"] == proven
    assert [(x["amount"], x["source"]) for x in fresh["loads"]] == [(proven, "replacement")]
    assert fresh["card"]["replaces"] == asn and fresh["card"]["name"] == "Li Lei"
    points = first - COST + second  # the points go with the card
    assert (old["points"]["balance"], fresh["points"]["balance"]) == (0, points)

    # the new card at pump 2: not on the hotlist, its PIN screen shows the carried balance
    p2.insert(new)
    prompt(p2, "Enter PIN, E to confirm")
    assert p2.bench.display[3].startswith("余额 %d.%02d" % divmod(proven, 100))
    p2.bench.press("C")
    remove_card(p2)
