"""Money is conserved at the card desk (issue 14): over random sequences of issues,
loads (some cut at INITIALIZE or CREDIT and finished at the next visit), pump sales (some
uploaded late), escapes (the card pulled between its grey lock and its debit: an ESCAPE
bill, the card left grey, settled later by the DEBIT FOR UNLOCK of a later insertion, or
never when the card is lost and replaced), loyalty redemptions (a voucher taken off the
card's next fill) and replacements, for every card the station's balance, the card's own
balance, what the station last heard from the card and the sum of its bills agree, and
every unit of money taken is on a card, waiting for one, spent, or owed by an escape of a
card replaced before it came back."""
import tempfile
from pathlib import Path

from cardbench import ADMIN, CASHIER, MANAGER, PIN, T0, Pump, blank, station
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pumpside_host.station.carddesk import DeskError

CREDIT_LOAD, INIT_LOAD = 0x52, 0x50
CUTS = (None, None, (INIT_LOAD, True), (CREDIT_LOAD, False), (CREDIT_LOAD, True))
OFF, COST = 50, 20  # the reward: 0.50 off the next fill for 20 points (1 a unit sold)

OPS = st.one_of(
    st.tuples(st.just("issue")),
    st.tuples(st.just("load"), st.integers(0, 9), st.integers(1, 20000),
              st.sampled_from(CUTS)),
    st.tuples(st.just("sale"), st.integers(0, 9), st.integers(1, 8000), st.booleans()),
    st.tuples(st.just("escape"), st.integers(0, 9), st.integers(1, 8000), st.booleans()),
    st.tuples(st.just("settle"), st.integers(0, 9)),
    st.tuples(st.just("redeem"), st.integers(0, 9)),
    st.tuples(st.just("upload")),
    st.tuples(st.just("replace"), st.integers(0, 9)),
)


def _sum_of_bills(account):
    return (sum(load["amount"] for load in account["loads"] if load["state"] == "done")
            - sum(sale["amount"] for sale in account["sales"])
            - sum(t["amount"] for t in account["transfers"]))


@settings(max_examples=50, deadline=None)
@given(st.lists(OPS, min_size=1, max_size=16))
# an escape uploaded late and settled at the next sale, a voucher used on a later fill
@example([("load", 0, 9000, None), ("escape", 0, 3000, False), ("sale", 0, 2500, True),
          ("redeem", 0), ("sale", 0, 1000, True), ("upload",)])
# an escape never settled: the card reported lost and replaced while grey, a load cut
@example([("load", 0, 9000, None), ("escape", 0, 3000, True), ("load", 0, 500,
                                                                  (CREDIT_LOAD, True)),
          ("replace", 0), ("sale", 0, 1000, True)])
# an escape of 1 settled and the rest of the card sold at the same insertion (one second):
# the card's last word is the sale's balance, not the UNLOCK's (the newest by its CTC)
@example([("load", 0, 2, None), ("escape", 0, 1, False), ("sale", 0, 1, False)])
# a load cut after the card took its CREDIT, an escape of it all, the card replaced grey:
# the ESCAPE's balance at the grey lock shows the load on the lost card (not carried again)
@example([("load", 0, 1, (CREDIT_LOAD, True)), ("escape", 0, 1, False), ("replace", 0)])
# a voucher used on a fill not uploaded yet: the pump does not take it off the next one
@example([("load", 0, 72, None), ("sale", 0, 20, False), ("upload",), ("redeem", 0),
          ("sale", 0, 51, False), ("sale", 0, 51, False)])
def test_money_is_conserved_across_issues_loads_sales_escapes_redemptions_and_replacements(
        ops):
    ledger, service = station(Path(tempfile.mkdtemp()) / "station.db")
    service.card_setting(MANAGER, "replace_wait_s", 0)  # the bills are uploaded first
    service.set_loyalty_rule(MANAGER, "grade", "*", 100)
    reward = service.add_reward(MANAGER, "0.50 off", "amount", OFF, COST)
    pump = Pump(ledger)
    cards = {}  # asn -> (virtual card, its reader)
    active = []
    offline = []  # bills not uploaded yet
    taken = spent = 0
    vouchers_used = []
    t = T0

    def bill(record, upload):
        """A pump's bill: stored now, or held for a later upload (an UNLOCK whose ESCAPE
        is still held waits behind it: the pump's journal is in order)."""
        if upload:
            ledger.store("P1", [record])
        else:
            offline.append(record)

    def back_at_the_pump(card):
        """A grey card inserted at the pump: its escape settled first."""
        escape = pump.escapes.get(card.s["asn"])
        if escape is None:
            return
        held = any(b["type"] == "ESCAPE" and b["sale"] == escape[0] for b in offline)
        bill(pump.settle(card, t, upload=False), not held)

    try:
        for op in [("issue",)] + ops:
            t += 60
            if op[0] == "issue":
                card, reader = blank()
                asn = service.card_issue(CASHIER, reader, "registered", PIN, name="Li Lei",
                                         id_number="X1234", phone="13800138000", now=t)
                cards[asn] = (card, reader)
                active.append(asn)
            elif op[0] == "load":
                asn = active[op[1] % len(active)]
                card, reader = cards[asn]
                service.card_fund(CASHIER, asn, op[2], now=t)
                taken += op[2]
                if op[3] and not card.s["grey"]:  # a grey card ends the visit before
                    reader.cut(*op[3])
                try:  # a grey card refuses INITIALIZE FOR LOAD: the money waits
                    service.card_load(CASHIER, reader, PIN, now=t)
                except DeskError:
                    reader.insert(card)  # the card is back for the next visit
            elif op[0] in ("sale", "escape"):
                asn = active[op[1] % len(active)]
                card = cards[asn][0]
                back_at_the_pump(card)
                amount = min(op[2], card.s["balance"])
                voucher = pump.voucher_for(asn) if op[0] == "sale" else None
                if voucher and amount > OFF:  # the pump takes the voucher off the fill
                    amount -= OFF
                    vouchers_used.append(voucher["voucher"])
                    for record in pump.sell_with_voucher(card, amount, voucher["voucher"], t,
                                                         upload=False):
                        bill(record, op[3])
                    spent += amount
                elif amount:
                    make = pump.sell if op[0] == "sale" else pump.escape
                    bill(make(card, amount, t, upload=False), op[3])
                    spent += amount  # an escape's fuel is gone: its money is owed
            elif op[0] == "settle":
                back_at_the_pump(cards[active[op[1] % len(active)]][0])
            elif op[0] == "redeem":
                asn = active[op[1] % len(active)]
                if ledger.loyalty.balance(asn) >= COST and not ledger.loyalty.voucher_for(asn):
                    service.redeem(CASHIER, asn, reward, "r%d" % t, now=t)
            elif op[0] == "upload" or op[0] == "replace":
                ledger.store("P1", offline)
                offline = []
                if op[0] == "replace":  # the old card never comes back, grey or not
                    old = active.pop(op[1] % len(active))
                    service.card_lost(CASHIER, old, now=t)
                    card, reader = blank()
                    new, _amount, _loaded = service.card_replace(MANAGER, reader, old, PIN,
                                                                 "1234", now=t)
                    if not _loaded:
                        reader.insert(card)
                    cards[new] = (card, reader)
                    active.append(new)
        ledger.store("P1", offline)
        offline = []
        on_cards = waiting = 0
        for asn in sorted(cards):
            card, reader = cards[asn]
            if asn in active:  # back at the pump (its escape settled), then at the desk
                back_at_the_pump(card)  # (which finishes any cut load)
                assert offline == []
                reader.insert(card)
                service.card_load(CASHIER, reader, PIN, now=t + 60)
            account = service.card(ADMIN, asn)
            assert account["waiting"] == 0
            assert account["balance"] == _sum_of_bills(account)
            open_escapes = sum(e["amount"] for e in account["escapes"] if not e["settled"])
            if asn in active:
                assert open_escapes == 0
                assert account["balance"] == card.s["balance"] == account["card_balance"]
                assert account["flags"] == []
                on_cards += card.s["balance"]
            else:  # replaced: all it had was carried over but what its open escape owes
                assert account["balance"] == open_escapes == pump.escapes.get(
                    asn, (0, 0, 0, 0))[3]
                assert account["card"]["status"] == "closed"
                # its points and pending voucher went to its replacement
                assert account["points"]["balance"] == 0 and account["voucher"] is None
        # every unit taken is on a card, waiting, or spent: an escape never settled is
        # spent fuel whose money stays on the closed account that owes it
        assert taken == on_cards + waiting + spent
        used = [row[0] for row in ledger.db.execute(
            "SELECT id FROM loyalty_redemptions WHERE state = 'used' ORDER BY rowid")]
        assert sorted(used) == sorted(vouchers_used)
    finally:
        ledger.close()


def test_the_examples_do_what_they_say():
    """The explicit examples above reach their cases: an escape settled by a later
    insertion, a voucher used, an escape left open on a replaced card."""
    ledger, service = station(Path(tempfile.mkdtemp()) / "station.db")
    try:
        service.card_setting(MANAGER, "replace_wait_s", 0)
        service.set_loyalty_rule(MANAGER, "grade", "*", 100)
        reward = service.add_reward(MANAGER, "0.50 off", "amount", OFF, COST)
        pump = Pump(ledger)
        card, reader = blank()
        asn = service.card_issue(CASHIER, reader, "registered", PIN, name="Li Lei",
                                 id_number="X1234", phone="13800138000", now=T0)
        service.card_fund(CASHIER, asn, 9000, now=T0)
        service.card_load(CASHIER, reader, PIN, now=T0)
        escape = pump.escape(card, 3000, T0 + 60)
        assert card.s["grey"] and card.s["balance"] == 9000
        assert service.card(ADMIN, asn)["escapes"] == [
            {"terminal": "P1", "sale": escape["sale"], "amount": 3000, "settled": False}]
        unlock = pump.settle(card, T0 + 120)
        assert unlock["sale"] == escape["sale"] and not card.s["grey"]
        account = service.card(ADMIN, asn)
        assert account["escapes"][0]["settled"] and account["balance"] == 6000 \
            == card.s["balance"]
        assert all(s["verified"] for s in account["sales"])
        pump.sell(card, 2500, T0 + 180)  # 25 points
        service.redeem(CASHIER, asn, reward, "r1", now=T0 + 200)
        voucher = pump.voucher_for(asn)["voucher"]
        pump.sell_with_voucher(card, 1000 - OFF, voucher, T0 + 240)
        assert ledger.loyalty.voucher_for(asn) is None
        assert service.card(ADMIN, asn)["balance"] == card.s["balance"] == 3500 - 1000 + OFF
    finally:
        ledger.close()
