"""Money is conserved at the card desk (issue 14): over random sequences of issues,
loads (some cut at INITIALIZE or CREDIT and finished at the next visit), pump sales (some
uploaded late) and replacements, for every card the station's balance, the card's own
balance, what the station last heard from the card and the sum of its bills agree, and
every unit of money taken is on a card, waiting for one, or spent."""
import tempfile
from pathlib import Path

from cardbench import ADMIN, CASHIER, MANAGER, PIN, T0, Pump, blank, station
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpside_host.station.carddesk import DeskError

CREDIT_LOAD, INIT_LOAD = 0x52, 0x50
CUTS = (None, None, (INIT_LOAD, True), (CREDIT_LOAD, False), (CREDIT_LOAD, True))

OPS = st.one_of(
    st.tuples(st.just("issue")),
    st.tuples(st.just("load"), st.integers(0, 9), st.integers(1, 20000),
              st.sampled_from(CUTS)),
    st.tuples(st.just("sale"), st.integers(0, 9), st.integers(1, 8000), st.booleans()),
    st.tuples(st.just("upload")),
    st.tuples(st.just("replace"), st.integers(0, 9)),
)


def _sum_of_bills(account):
    return (sum(load["amount"] for load in account["loads"] if load["state"] == "done")
            - sum(sale["amount"] for sale in account["sales"])
            - sum(t["amount"] for t in account["transfers"]))


@settings(max_examples=50)
@given(st.lists(OPS, min_size=1, max_size=14))
def test_money_is_conserved_across_issues_loads_sales_and_replacements(ops):
    ledger, service = station(Path(tempfile.mkdtemp()) / "station.db")
    service.card_setting(MANAGER, "replace_wait_s", 0)  # the bills are uploaded first
    pump = Pump(ledger)
    cards = {}  # asn -> (virtual card, its reader)
    active = []
    offline = []  # bills not uploaded yet
    taken = spent = 0
    t = T0
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
                if op[3]:
                    reader.cut(*op[3])
                try:
                    service.card_load(CASHIER, reader, PIN, now=t)
                except DeskError:
                    reader.insert(card)  # the card is back for the next visit
            elif op[0] == "sale":
                asn = active[op[1] % len(active)]
                card = cards[asn][0]
                amount = min(op[2], card.s["balance"])
                if amount:
                    bill = pump.sell(card, amount, t, upload=op[3])
                    spent += amount
                    if not op[3]:
                        offline.append(bill)
            elif op[0] == "upload" or op[0] == "replace":
                ledger.store("P1", offline)
                offline = []
                if op[0] == "replace":
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
        on_cards = waiting = 0
        for asn in sorted(cards):
            card, reader = cards[asn]
            if asn in active:  # the last visit to the desk finishes any cut load
                reader.insert(card)
                service.card_load(CASHIER, reader, PIN, now=t + 60)
            account = service.card(ADMIN, asn)
            assert account["waiting"] == 0
            assert account["balance"] == _sum_of_bills(account)
            if asn in active:
                assert account["balance"] == card.s["balance"] == account["card_balance"]
                assert account["flags"] == []
                on_cards += card.s["balance"]
            else:  # replaced: everything it had was carried over
                assert account["balance"] == 0 and account["card"]["status"] == "closed"
        assert taken == on_cards + waiting + spent
    finally:
        ledger.close()
