"""Loyalty at the station (station/loyalty.py, loyaltydesk.py): points earned once per
stored card sale by the manager's rules (grade, card kind, double-points days), kept in a
points journal per card; rewards redeemed exactly once on a client's redemption id
(retries, lost answers, a failure before the commit); vouchers taken back; the receipt's
figures; roles and audit; the card query and the CLI."""
import sqlite3
import time

import pytest
from cardbench import CASHIER, HOLDER, MANAGER, PIN, T0, Pump, blank, station
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpside.journal import EV_VOUCHER
from pumpside_host import cli
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.loyalty import HOLD_S
from pumpside_host.station.loyaltydesk import LOYALTY_MUTATORS
from pumpside_host.station.problems import Invalid
from pumpside_host.station.service import Actor, Refused, Service

ASN = "6200000000000017"
OTHER = "6200000000000025"
LOCAL = Actor.local("test")
ROLES = ("administrator", "manager", "cashier", "auditor")
# 2026-12-02 is a Wednesday (local noon: the same day in any zone the tests run in)
WED = int(time.mktime((2026, 12, 2, 12, 0, 0, 0, 0, -1)))


@pytest.fixture
def shop(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    service = Service(ledger)
    service.set_loyalty_rule(LOCAL, "grade", "*", 1)  # a point per currency unit
    yield ledger, service
    ledger.close()


def sale(n, amount=6500, asn=ASN, grade="92", at=WED, seq=None, **more):
    return dict({"type": "FINAL", "seq": seq or n, "sale": n, "ml": amount, "amount": amount,
                 "grade": grade, "asn": asn, "time": at, "tac": "01020304", "ctc": n},
                **more)


def reward(service, cost=50, kind="amount", value=500):
    return service.add_reward(LOCAL, "five off", kind, value, cost)


def rows(ledger):
    return ledger.db.execute("SELECT asn, kind, points FROM loyalty_points ORDER BY id"
                             ).fetchall()


# -- earning ----------------------------------------------------------------------------
def test_a_card_sale_earns_by_grade_card_kind_and_double_days(shop):
    ledger, service = shop
    service.set_loyalty_rule(LOCAL, "grade", "95", 3)
    service.set_loyalty_rule(LOCAL, "card_kind", "anonymous", 50)  # EF16 type 2
    ledger.store("P1", [sale(1, 6550), sale(2, 1000, grade="95"),
                        sale(3, 1000, asn=OTHER, card_type=2),
                        sale(4, 1000, grade="95", at=WED + 86400)])
    assert rows(ledger) == [(ASN, "earned", 65), (ASN, "earned", 30), (OTHER, "earned", 5),
                            (ASN, "earned", 30)]  # whole points, rounded down
    service.set_loyalty_rule(LOCAL, "double_day", "wed", 1)
    service.set_loyalty_rule(LOCAL, "double_day", "2026-12-03", 1)
    ledger.store("P1", [sale(5, 1000), sale(6, 1000, at=WED + 86400),
                        sale(7, 1000, at=WED + 2 * 86400)])
    assert [r[2] for r in rows(ledger)[4:]] == [20, 20, 10]
    assert service.points(LOCAL, ASN)["totals"] == {
        "earned": 175, "redeemed": 0, "reversed": 0, "carried": 0, "balance": 175}


def test_no_points_without_a_card_a_rule_or_money(shop):
    ledger, service = shop
    service.set_loyalty_rule(LOCAL, "grade", "*", None)
    ledger.store("P1", [sale(1)])
    service.set_loyalty_rule(LOCAL, "grade", "*", 1)
    attended = sale(2)
    del attended["asn"], attended["tac"]
    ledger.store("P1", [attended, sale(3, 0), {"type": "ESCAPE", "seq": 4, "sale": 4,
                                               "ml": 900, "amount": 900, "asn": ASN}])
    assert rows(ledger) == []


def test_a_sale_sent_again_earns_once_and_a_conflicting_one_earns_nothing(shop):
    ledger, service = shop
    batch = [sale(1), sale(2, 3000)]
    first, _ = ledger.store("P1", batch, "j1")
    again, _ = ledger.store("P1", [sale(1, seq=7), sale(2, 3000, seq=8)], "j1")  # resent
    conflict, _ = ledger.store("P1", [sale(1, 9900, seq=9)], "j1")  # same key, other bill
    both = ledger.store_batches("P1", [batch, batch], "j1")
    assert [r[1] for r in first] == ["stored"] * 2
    assert [r[1] for r in again] == ["duplicate"] * 2
    assert conflict[0][1] == "conflict"
    assert [r[1] for results, _ in both for r in results] == ["duplicate"] * 4
    assert rows(ledger) == [(ASN, "earned", 65), (ASN, "earned", 30)]
    # the same sale number of another journal (a new flash) is another sale
    ledger.store("P1", [sale(1)], "j2")
    assert service.points(LOCAL, ASN)["totals"]["balance"] == 160


def test_the_receipt_figures_of_a_sale(shop):
    ledger, service = shop
    ledger.store("P1", [sale(1), sale(2, 3000)], "j1")
    assert service.sale_points(LOCAL, "P1", "j1", "FINAL", 1) == {
        "points_earned": 65, "points_total": 65}
    assert service.sale_points(LOCAL, "P1", "j1", "FINAL", 2) == {
        "points_earned": 30, "points_total": 95}
    assert service.sale_points(LOCAL, "P1", "j1", "FINAL", 3) is None


@pytest.mark.parametrize("rule,key,value,why", [
    ("grade", "", 1, "a grade code is 1-8 characters"),
    ("grade", "92", -1, "points per unit must be a whole number from 0 to 10000"),
    ("grade", "92", "7", "points per unit must be a whole number"),
    ("card_kind", "fleet!", 100, "a card kind is 1-16 letters or digits"),
    ("card_kind", "fleet", 5000, "multiplier % must be a whole number from 0 to 1000"),
    ("double_day", "2026-02-30", 1, "a double-points day is a date"),
    ("double_day", "sunday", 1, "a double-points day is a date"),
    ("bonus", "x", 1, "a loyalty rule is one of grade, card_kind, double_day"),
])
def test_a_bad_rule_is_refused_and_changes_nothing(shop, rule, key, value, why):
    ledger, service = shop
    before = list(ledger.db.iterdump())
    with pytest.raises(Invalid, match=why):
        service.set_loyalty_rule(MANAGER, rule, key, value)
    assert list(ledger.db.iterdump()) == before


# -- redeeming ---------------------------------------------------------------------------
def test_a_redemption_spends_once_per_id_and_leaves_a_voucher(shop):
    ledger, service = shop
    ledger.store("P1", [sale(1, 10000)])
    gift = reward(service, cost=40)
    first = service.redeem(CASHIER, ASN, gift, "r-1")
    audit = len(service.audit(LOCAL))
    assert service.redeem(CASHIER, ASN, gift, "r-1") == first  # asked again: the same
    assert len(service.audit(LOCAL)) == audit  # and nothing written
    assert service.points(LOCAL, ASN)["totals"] == {
        "earned": 100, "redeemed": 40, "reversed": 0, "carried": 0, "balance": 60}
    assert service.points(LOCAL, ASN)["next"] == {"voucher": "r-1", "off": 500}
    record = service.audit(LOCAL)[-1]
    assert (record["action"], record["target"], record["who"]) == (
        "loyalty-redeem", "6200********0017", "cas")
    assert ASN not in record["new"]
    with pytest.raises(Invalid, match="redemption r-1 was made for another card"):
        service.redeem(CASHIER, OTHER, gift, "r-1")
    service.redeem(CASHIER, ASN, gift, "r-2")
    with pytest.raises(Invalid, match="the card has 20 points, the reward costs 40") as e:
        service.redeem(CASHIER, ASN, gift, "r-3")
    assert e.value.code == "loyalty_short"
    assert service.points(LOCAL, ASN)["totals"]["balance"] == 20


def test_a_retry_after_a_lost_answer_spends_once(shop):
    """The desk's request reached the station and committed; its answer was lost (the
    client saw a network error): the client sends it again with the same id."""
    ledger, service = shop
    ledger.store("P1", [sale(1, 10000)])
    gift = reward(service)

    def lost_answer():
        service.redeem(CASHIER, ASN, gift, "desk-7")
        raise ConnectionResetError("answer lost")
    with pytest.raises(ConnectionResetError):
        lost_answer()
    assert service.redeem(CASHIER, ASN, gift, "desk-7")["state"] == "pending"
    assert service.points(LOCAL, ASN)["totals"]["balance"] == 50


def test_a_failure_before_the_commit_spends_nothing_and_the_retry_spends_once(
        shop, monkeypatch):
    ledger, service = shop
    ledger.store("P1", [sale(1, 10000)])
    gift = reward(service)
    append = service.trail.append

    def cut(*args):
        raise sqlite3.OperationalError("disk I/O error")  # the audit write fails
    monkeypatch.setattr(service.trail, "append", cut)
    with pytest.raises(sqlite3.OperationalError):
        service.redeem(CASHIER, ASN, gift, "desk-8")
    assert service.points(LOCAL, ASN)["totals"]["balance"] == 100  # rolled back
    assert ledger.loyalty.redemption("desk-8") is None
    monkeypatch.setattr(service.trail, "append", append)
    service.redeem(CASHIER, ASN, gift, "desk-8")
    service.redeem(CASHIER, ASN, gift, "desk-8")
    assert service.points(LOCAL, ASN)["totals"]["balance"] == 50


@pytest.mark.parametrize("call,why", [
    (lambda s, g: s.redeem(CASHIER, ASN, g, ""), "a redemption id is 1-64"),
    (lambda s, g: s.redeem(CASHIER, ASN, g, "no spaces"), "a redemption id is 1-64"),
    (lambda s, g: s.redeem(CASHIER, "62000000", g, "x"), "a card number is 16 digits"),
    (lambda s, g: s.redeem(CASHIER, ASN, 99, "x"), "no reward 99"),
    (lambda s, g: s.add_reward(MANAGER, "", "amount", 1, 1), "a reward's name is 1-40"),
    (lambda s, g: s.add_reward(MANAGER, "x", "free", 1, 1), "a reward is one of percent"),
    (lambda s, g: s.add_reward(MANAGER, "x", "percent", 101, 1), "percent off must be"),
    (lambda s, g: s.add_reward(MANAGER, "x", "amount", 100, 0), "cost in points must be"),
    (lambda s, g: s.cancel_voucher(MANAGER, "nope"), "no redemption nope"),
])
def test_bad_redemptions_and_rewards_are_refused_and_change_nothing(shop, call, why):
    ledger, service = shop
    ledger.store("P1", [sale(1, 10000)])
    gift = reward(service)
    before = list(ledger.db.iterdump())
    with pytest.raises(Invalid, match=why):
        call(service, gift)
    assert list(ledger.db.iterdump()) == before


def test_a_withdrawn_reward_is_not_redeemed_and_a_cancelled_voucher_gives_points_back(shop):
    ledger, service = shop
    ledger.store("P1", [sale(1, 10000)])
    gift = reward(service)
    service.redeem(CASHIER, ASN, gift, "a")
    service.set_reward_active(MANAGER, gift, False)
    with pytest.raises(Invalid, match="reward 1 is withdrawn"):
        service.redeem(CASHIER, ASN, gift, "b")
    assert service.redeem(CASHIER, ASN, gift, "a")["state"] == "pending"  # its retry
    service.cancel_voucher(MANAGER, "a")
    assert service.points(LOCAL, ASN)["totals"] == {
        "earned": 100, "redeemed": 50, "reversed": 50, "carried": 0, "balance": 100}
    assert service.points(LOCAL, ASN)["next"] is None
    with pytest.raises(Invalid, match="redemption a is cancelled, not pending"):
        service.cancel_voucher(MANAGER, "a")


def test_the_pumps_voucher_event_uses_the_voucher(shop):
    """The pump journals EV_VOUCHER (a = the voucher's number, b = the sale) after the
    card's debit, right before the FINAL: that event marks the voucher used, once."""
    ledger, service = shop
    ledger.store("P1", [sale(1, 10000)])
    gift = reward(service, kind="percent", value=10)
    number = service.redeem(CASHIER, ASN, gift, "v1")["number"]
    assert ledger.loyalty.voucher_for(ASN) == {"voucher": "v1", "off_pct": 10}
    ledger.store("P1", [{"type": "EVENT", "seq": 2, "time": WED, "code": EV_VOUCHER,
                         "a": number + 1, "b": 3}])  # no such voucher: nothing
    assert ledger.loyalty.voucher_for(ASN) is not None
    ledger.store("P1", [{"type": "EVENT", "seq": 3, "time": WED, "code": EV_VOUCHER,
                         "a": number, "b": 3}, sale(3, 4500, seq=4)])
    used = ledger.loyalty.redemption("v1")
    assert (used["state"], used["used_terminal"], used["used_sale"]) == ("used", "P1", 3)
    assert ledger.loyalty.voucher_for(ASN) is None
    with pytest.raises(Invalid, match="is used, not pending"):
        service.cancel_voucher(MANAGER, "v1")


# -- a voucher held for the pump it was offered to ----------------------------------------
def _vouchers(ledger, terminal, now):
    return [v[0] for v in ledger.loyalty.offer(ASN, 0, terminal, now)["vouchers"]]


def _held(ledger, redemption_id):
    v = ledger.loyalty.redemption(redemption_id)
    return v["state"], v["held_by"], v["held_at"]


def test_a_voucher_offered_to_a_pump_is_held_from_the_others_for_the_hold_time(shop):
    """P1 is offered the voucher (it may sell with it offline, its records not up yet):
    P2 is not offered it within HOLD_S, P1 asking again gets it again; after HOLD_S it is
    any pump's. The holder's EV_VOUCHER uses it."""
    ledger, service = shop
    ledger.store("P1", [sale(1, 10000)])
    gift = reward(service)
    number = service.redeem(CASHIER, ASN, gift, "v1")["number"]
    assert _held(ledger, "v1") == ("pending", None, None)  # the desk's: nobody's yet
    assert _vouchers(ledger, "P1", WED) == [number]
    assert _held(ledger, "v1") == ("pending", "P1", WED)
    assert _vouchers(ledger, "P2", WED + 10) == []
    assert _vouchers(ledger, "P1", WED + 20) == [number]  # it holds it: again, held anew
    assert _held(ledger, "v1") == ("pending", "P1", WED + 20)
    assert _vouchers(ledger, "P2", WED + 20 + HOLD_S - 1) == []
    assert _vouchers(ledger, "P2", WED + 20 + HOLD_S) == [number]  # the hold ran out
    assert _held(ledger, "v1") == ("pending", "P2", WED + 20 + HOLD_S)
    assert _vouchers(ledger, "P1", WED + 30 + HOLD_S) == []  # P2's now
    ledger.store("P2", [{"type": "EVENT", "seq": 1, "time": WED, "code": EV_VOUCHER,
                         "a": number, "b": 1}, sale(1, 4500, seq=2)])
    used = ledger.loyalty.redemption("v1")
    assert (used["state"], used["used_terminal"], used["used_sale"]) == ("used", "P2", 1)
    assert _vouchers(ledger, "P1", WED + 2 * HOLD_S) == []


def test_the_pump_offline_with_the_voucher_keeps_it_from_the_other_pump(shop):
    """P1 takes the voucher and sells offline (its EV_VOUCHER and FINAL not uploaded):
    P2, online, sells the card without it; P1's records up, the voucher is P1's sale's."""
    ledger, service = shop
    ledger.store("P0", [sale(1, 10000)])
    number = service.redeem(CASHIER, ASN, reward(service), "v1")["number"]
    assert _vouchers(ledger, "P1", WED) == [number]
    p1_records = [{"type": "EVENT", "seq": 1, "time": WED + 60, "code": EV_VOUCHER,
                   "a": number, "b": 1}, sale(1, 4500, at=WED + 60, seq=2)]
    assert _vouchers(ledger, "P2", WED + 120) == []
    ledger.store("P2", [sale(1, 3000, at=WED + 180)])  # P2's sale of the card, no voucher
    assert _held(ledger, "v1") == ("pending", "P1", WED)  # not P2's to release
    ledger.store("P1", p1_records)
    used = ledger.loyalty.redemption("v1")
    assert (used["state"], used["used_terminal"], used["used_sale"]) == ("used", "P1", 1)


@pytest.mark.parametrize("kind", ["FINAL", "ESCAPE", "UNLOCK"])
def test_the_holders_sale_of_the_card_without_the_voucher_releases_it_at_once(shop, kind):
    """The holder's records show the card's sale and no EV_VOUCHER before it: the sale did
    not take the voucher (no fuel, the card pulled, a late answer): any pump's again. A
    sale of another card, or of the card at another pump, releases nothing."""
    ledger, service = shop
    ledger.store("P0", [sale(1, 10000)])
    number = service.redeem(CASHIER, ASN, reward(service), "v1")["number"]
    assert _vouchers(ledger, "P1", WED) == [number]
    ledger.store("P1", [sale(1, 3000, asn=OTHER)])
    ledger.store("P2", [sale(1, 3000)])
    assert _held(ledger, "v1") == ("pending", "P1", WED)
    ledger.store("P1", [sale(2, 0 if kind == "FINAL" else 3000, type=kind)])
    assert _held(ledger, "v1") == ("pending", None, None)
    assert _vouchers(ledger, "P2", WED + 1) == [number]


def test_the_second_pump_is_offered_the_next_voucher_and_holds_it(shop):
    ledger, service = shop
    ledger.store("P0", [sale(1, 20000)])
    gift = reward(service)
    first = service.redeem(CASHIER, ASN, gift, "v1", now=WED)["number"]
    second = service.redeem(CASHIER, ASN, gift, "v2", now=WED + 1)["number"]
    assert _vouchers(ledger, "P1", WED + 2) == [first, second]
    assert _vouchers(ledger, "P2", WED + 3) == [second]
    assert _held(ledger, "v2") == ("pending", "P2", WED + 3)
    assert _vouchers(ledger, "P3", WED + 4) == []


def test_a_voucher_redeemed_at_a_pump_is_held_for_it_and_a_cancel_ends_the_hold(shop):
    ledger, service = shop
    ledger.store("P0", [sale(1, 10000)])
    gift = reward(service)
    ledger.loyalty.clock = lambda: WED
    answer = ledger.loyalty.redeem_at_pump("P1", ASN, gift, "P1-x-1")
    assert answer["status"] == "ok"
    assert _held(ledger, "P1-x-1") == ("pending", "P1", WED)
    assert _vouchers(ledger, "P2", WED + 1) == []
    service.cancel_voucher(MANAGER, "P1-x-1")
    assert _held(ledger, "P1-x-1") == ("cancelled", None, None)
    assert ledger.loyalty.balance(ASN) == 100
    assert _vouchers(ledger, "P1", WED + 2) == []


def test_the_schema_step_adds_the_hold_to_the_vouchers_already_held(tmp_path):
    """A store of the step before (no held_by, held_at) upgrades in place: its pending
    voucher kept, held by nobody, then held as offered."""
    from pumpside_host.station import schema

    path = str(tmp_path / "station.db")
    ledger = Ledger(path)
    ledger.loyalty.set_rule("grade", "*", 1)
    ledger.store("P0", [sale(1, 10000)])
    gift = ledger.loyalty.add_reward("five off", "amount", 500, 50)
    number = ledger.loyalty.redeem(ASN, gift, "v1", now=WED)["number"]
    db = ledger.db
    for column in ("held_by", "held_at"):
        db.execute("ALTER TABLE loyalty_redemptions DROP COLUMN %s" % column)
    step = dict((f.__name__, n) for n, f in schema.STEPS)["_v17_voucher_hold"]
    db.execute("PRAGMA user_version = %d" % (step - 1))
    ledger.close()
    ledger = Ledger(path)
    try:
        assert schema.version(ledger.db) == schema.VERSION
        assert _held(ledger, "v1") == ("pending", None, None)
        assert _vouchers(ledger, "P1", WED) == [number]
        assert _held(ledger, "v1") == ("pending", "P1", WED)
    finally:
        ledger.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.tuples(st.just("sale"), st.integers(0, 4000), st.booleans()),
    st.tuples(st.just("redeem"), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("cancel"), st.integers(0, 5), st.booleans())), max_size=30))
def test_random_earn_redeem_retry_sequences_keep_the_balance(tmp_path_factory, steps):
    """balance = earned - redeemed + reversed = the journal's sum >= 0, each sale earns
    once, each redemption id spends once, whatever the retries and failures."""
    ledger = Ledger(str(tmp_path_factory.mktemp("p") / "s.db"))
    service = Service(ledger)
    service.set_loyalty_rule(LOCAL, "grade", "*", 1)
    gifts = [reward(service, cost=c) for c in (10, 25)]
    sold, spent, back, done = {}, {}, {}, set()
    n = 0
    for what, x, flag in steps:
        if what == "sale":
            n += 1
            ledger.store("P1", [sale(n, x)])
            sold[n] = x // 100
            if flag:  # the pump sends it again
                ledger.store("P1", [sale(n, x, seq=n + 1000)])
        elif what == "redeem":
            rid, gift = "r%d" % x, gifts[x % 2]
            for _attempt in range(2 if flag else 1):  # a retry
                have = ledger.loyalty.balance(ASN)
                try:
                    service.redeem(CASHIER, ASN, gift, rid)
                except Invalid as e:
                    assert e.code == "loyalty_short" and rid not in spent
                    assert have < (10, 25)[x % 2]
                    continue
                spent[rid] = (10, 25)[x % 2]
        else:
            rid = "r%d" % x
            try:
                service.cancel_voucher(MANAGER, rid)
                back[rid] = spent[rid]
                assert rid not in done
                done.add(rid)
            except Invalid:
                assert rid not in spent or rid in done
        totals = ledger.loyalty.totals(ASN)
        assert totals["earned"] == sum(sold.values())
        assert totals["redeemed"] == sum(spent.values())
        assert totals["reversed"] == sum(back.values())
        assert totals["balance"] == totals["earned"] - totals["redeemed"] + \
            totals["reversed"] == ledger.loyalty.balance(ASN) >= 0
    ledger.close()


# -- roles and audit ---------------------------------------------------------------------
CALLS = {
    "set_loyalty_rule": lambda s, a: s.set_loyalty_rule(a, "grade", "92", 2),
    "add_reward": lambda s, a: s.add_reward(a, "ten off", "percent", 10, 100),
    "set_reward_active": lambda s, a: s.set_reward_active(a, 1, False),
    "redeem": lambda s, a: s.redeem(a, ASN, 1, "role-test"),
    "cancel_voucher": lambda s, a: s.cancel_voucher(a, "pending-1"),
}
ALLOWED = {"administrator": set(CALLS), "manager": set(CALLS), "cashier": {"redeem"},
           "auditor": set()}


def test_the_table_names_every_loyalty_call():
    assert set(CALLS) == set(LOYALTY_MUTATORS)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_every_role_against_every_loyalty_call(shop, role, call):
    ledger, service = shop
    ledger.store("P1", [sale(1, 100000)])
    reward(service)
    service.redeem(LOCAL, ASN, 1, "pending-1")
    before = list(ledger.db.iterdump())
    audit = len(service.audit(LOCAL))
    actor = Actor("someone", role)
    if call in ALLOWED[role]:
        CALLS[call](service, actor)
        records = service.audit(LOCAL)
        assert len(records) == audit + 1
        assert (records[-1]["who"], records[-1]["role"]) == ("someone", role)
        assert records[-1]["action"].startswith("loyalty-")
    else:
        with pytest.raises(Refused, match="someone \\(%s\\) may not" % role):
            CALLS[call](service, actor)
        assert list(ledger.db.iterdump()) == before


def test_the_role_is_checked_before_the_input(shop):
    _ledger, service = shop
    for call in (lambda: service.set_loyalty_rule(CASHIER, "bonus", "", "x"),
                 lambda: service.add_reward(CASHIER, "", "free", -1, -1),
                 lambda: service.redeem(Actor("a", "auditor"), "6", 0, ""),
                 lambda: service.cancel_voucher(CASHIER, None)):
        with pytest.raises(Refused):
            call()


# -- the card desk's query, with a real card sale -----------------------------------------
def test_the_card_query_shows_the_points_and_the_voucher(tmp_path):
    ledger, service = station(tmp_path / "s.db")
    card, reader = blank()
    asn = service.card_issue(CASHIER, reader, "registered", PIN, now=T0, **HOLDER)
    service.card_fund(CASHIER, asn, 20000, now=T0)
    service.card_load(CASHIER, reader, PIN, now=T0 + 10)
    service.set_loyalty_rule(MANAGER, "grade", "*", 2)
    service.set_loyalty_rule(MANAGER, "card_kind", "registered", 150)
    bill = Pump(ledger).sell(card, 5000, t=T0 + 60)
    assert ledger.store("P1", [dict(bill, seq=9)])[0][0][1] == "duplicate"
    account = service.card(CASHIER, asn)
    assert account["points"] == {"earned": 150, "redeemed": 0, "reversed": 0,
                                 "carried": 0, "balance": 150}
    gift = service.add_reward(MANAGER, "wash", "amount", 300, 100)
    service.redeem(CASHIER, asn, gift, "desk-1")
    account = service.card(CASHIER, asn)
    assert account["points"]["balance"] == 50
    assert account["voucher"] == {"voucher": "desk-1", "off": 300}
    service.card_lost(CASHIER, asn)
    with pytest.raises(Invalid, match="the card is lost: its points cannot be spent"):
        service.redeem(CASHIER, asn, gift, "desk-2")
    ledger.close()


def test_the_loyalty_command_line(tmp_path, capsys):
    db = str(tmp_path / "s.db")

    def run(*args):
        return cli.main(["station", args[0], "--db", db] + list(args[1:]))
    assert run("loyalty-rule", "--rule", "grade", "--key", "*", "--value", "1") == 0
    assert run("loyalty-rule", "--rule", "double_day", "--key", "sat", "--value", "1") == 0
    assert run("loyalty-rule", "--rule", "double_day", "--key", "someday",
               "--value", "1") == 2
    assert "a double-points day is a date YYYY-MM-DD or a weekday" in capsys.readouterr().err
    assert run("reward-add", "--name", "five off", "--kind", "amount", "--value", "500",
               "--cost", "20") == 0
    ledger = Ledger(db)
    ledger.store("P1", [sale(1, 4000)])
    ledger.close()
    assert run("redeem", "--card", ASN, "--reward", "1", "--id", "cli-1") == 0
    assert run("redeem", "--card", ASN, "--reward", "1", "--id", "cli-1") == 0  # a retry
    assert run("redeem", "--card", ASN, "--reward", "1", "--id", "cli-2") == 0
    assert run("redeem", "--card", ASN, "--reward", "1", "--id", "cli-3") == 2
    assert "the card has 0 points, the reward costs 20" in capsys.readouterr().err
    assert run("points", "--card", ASN) == 0
    assert run("loyalty-rules") == 0 and run("rewards") == 0
    out = capsys.readouterr().out
    assert ("card 6200********0017: 0 points (earned 40, redeemed 40, reversed 0, "
            "carried +0)") in out
    assert "voucher cli-1: 5.00 off, pending" in out and ASN not in out
    assert "double points on sat" in out and "1 five off: 5.00 off for 20 points" in out
    assert run("voucher-cancel", "--id", "cli-2") == 0
    assert run("points", "--card", ASN) == 0
    assert "20 points (earned 40, redeemed 40, reversed 20, carried +0)" in capsys.readouterr().out
