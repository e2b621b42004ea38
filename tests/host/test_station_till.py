"""The kiosk's till (station/till.py, tilldesk.py): the payment kind every sale is stored
with (card, fleet, phone, unpaid, the till's) and the reports' totals per kind; postpay
(the cashier takes payment once: a second tab is refused), the refuse-next setting that
holds a pump with an unpaid sale through the suspend/resume commands; prepay (a till
order paid at the counter, never near the gateway) and its change owed; roles, audit, the
schema step's backfill and the command line."""
import json
import time

import pytest

from pumpside_host import cli
from pumpside_host.station import reports, schema
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.payments.orders import OrderError, Orders
from pumpside_host.station.payments.service import Payments
from pumpside_host.station.service import ROLE_OF, Actor, Refused, Service
from pumpside_host.station.till import TillProblem, schema_step
from pumpside_host.station.tilldesk import SYSTEM_TILL, TILL_MUTATORS

LOCAL = Actor.local("test")
CASHIER = Actor("carol", "cashier")
AUDITOR = Actor("audrey", "auditor")
ASN = "6200000000000017"


@pytest.fixture
def till(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    service = Service(ledger)
    for terminal in ("P1", "P2"):
        service.add_terminal(LOCAL, terminal)
    yield ledger, service
    ledger.close()


def final(sale, amount=1300, ml=2000, **extra):
    return dict({"type": "FINAL", "seq": sale, "sale": sale, "ml": ml, "amount": amount,
                 "grade": "92", "nozzle": 1, "time": int(time.time())}, **extra)


def pay_of(ledger, terminal, sale):
    return ledger.db.execute("SELECT pay FROM sales WHERE terminal = ? AND sale = ?",
                             (terminal, sale)).fetchone()[0]


def commands(ledger):
    return ledger.db.execute("SELECT terminal, cmd FROM commands ORDER BY id").fetchall()


def dump(ledger):
    return list(ledger.db.iterdump())


# -- the payment kind of every sale ---------------------------------------------------------
def test_every_sale_is_stored_with_its_payment_kind(till):
    ledger, service = till
    company = service.fleet_company_add(LOCAL, "Swift", "", "credit", 100000)
    fleet_asn = "6200000000000025"
    service.fleet.bind(fleet_asn, company, "A12345")
    order = service.till_prepay(CASHIER, "P2", 1, 5000, "till-card")
    ledger.store("P1", [final(1), final(2, asn=ASN, tac="01020304"),
                        final(3, asn=fleet_asn, tac="01020304"),
                        final(4, order="PS2026-phone"), final(5, order=order["order_no"]),
                        final(6, amount=0, ml=0)])
    assert [pay_of(ledger, "P1", n) for n in range(1, 7)] == [
        "unpaid", "card", "fleet", "phone", "till-card", "attended"]
    assert [s["sale"] for s in ledger.till.unpaid()] == [1]
    assert {s["sale"]: s["pay"] for s in service.sales_filtered(LOCAL, {"pay": "fleet"})} \
        == {3: "fleet"}  # the sales page's filter by payment kind


def test_the_report_and_the_shift_count_each_payment_kind_by_sql(till):
    ledger, service = till
    ledger.store("P1", [final(1, amount=1000), final(2, amount=2000),
                        final(3, amount=4000, asn=ASN, tac="01020304")])
    [first, second] = ledger.till.unpaid()
    service.till_pay(CASHIER, first["id"], "cash")
    day = time.strftime("%Y-%m-%d")
    by_pay = {r["key"]: r["amount"] for r in service.report(LOCAL, "day", day)["pay"]}
    assert by_pay == {"cash": 1000, "unpaid": 2000, "card": 4000}
    service.till_pay(CASHIER, second["id"], "till-card")
    shift = service.close_shift(CASHIER)
    assert {r["key"]: r["amount"] for r in shift["pay"]} == {
        "cash": 1000, "till-card": 2000, "card": 4000}
    assert "cash " in reports.to_csv(service.report(LOCAL, "day", day)).replace(",", " ")
    plan = " ".join(row[3] for row in ledger.db.execute(
        "EXPLAIN QUERY PLAN " + reports.GROUPS % "received >= ? AND received < ?", (0, 1)))
    assert "COVERING INDEX sales_report" in plan  # the kinds summed from the index


def test_the_schema_step_tells_the_kinds_of_the_sales_held(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    db = ledger.db
    service = Service(ledger)
    service.fleet.bind("6200000000000025", service.fleet_company_add(
        LOCAL, "Swift", "", "credit", 100000), "A1")
    for sale, asn, pay, extra in ((1, None, "attended", {}), (2, ASN, "card", {}),
                                  (3, "6200000000000025", "card", {}),
                                  (4, None, "attended", {"order": "PS1"})):
        record = dict(final(sale, asn=asn) if asn else final(sale), **extra)
        db.execute("INSERT INTO sales (terminal, kind, sale, seq, asn, ml, amount, record, "
                   "received, pay) VALUES ('P1', 'FINAL', ?, ?, ?, 1, 1, ?, 0, ?)",
                   (sale, sale, asn, json.dumps(record), pay))
    schema_step(db)  # again on a store that has its columns: the backfill alone
    assert [pay_of(ledger, "P1", n) for n in range(1, 5)] == [
        "attended", "card", "fleet", "phone"]
    assert ledger.till.unpaid() == []  # held before the till: nobody waits to pay those
    ledger.close()


# -- postpay --------------------------------------------------------------------------------
def test_the_cashier_takes_payment_once_audited(till):
    ledger, service = till
    ledger.store("P1", [final(1, amount=1300)])
    [sale] = service.till(CASHIER)["unpaid"]
    assert (sale["terminal"], sale["sale"], sale["ml"], sale["amount"], sale["grade"],
            sale["nozzle"]) == ("P1", 1, 2000, 1300, "92", 1)
    with pytest.raises(Refused, match="may not work the till"):
        service.till_pay(AUDITOR, sale["id"], "cash")
    with pytest.raises(TillProblem, match="one of cash, till-card"):
        service.till_pay(CASHIER, sale["id"], "gold")
    before = dump(ledger)
    with pytest.raises(TillProblem, match="no sale 99 waits"):
        service.till_pay(CASHIER, 99, "cash")
    assert dump(ledger) == before
    service.till_pay(CASHIER, sale["id"], "cash")
    assert service.till(CASHIER)["unpaid"] == [] and pay_of(ledger, "P1", 1) == "cash"
    record = service.audit(LOCAL)[-1]
    assert (record["who"], record["action"], record["target"], record["old"],
            record["new"]) == ("carol", "till-pay", "P1 sale 1", "unpaid", "cash 13.00")
    before = dump(ledger)  # the second tab
    with pytest.raises(TillProblem, match=r"sale 1 was paid already \(cash\)"):
        service.till_pay(CASHIER, sale["id"], "till-card")
    assert dump(ledger) == before
    with pytest.raises(Refused):
        service.till(AUDITOR)


def test_refuse_next_holds_a_pump_until_its_unpaid_sales_are_paid(till):
    ledger, service = till
    with pytest.raises(Refused, match="may not set parameters"):
        service.set_till_refuse_next(CASHIER, True)
    ledger.store("P1", [final(1)])
    assert service.till_arrived("P1") is None and commands(ledger) == []  # setting off
    service.set_till_refuse_next(Actor("mia", "manager"), True)  # P1 has one unpaid now
    assert commands(ledger) == [("P1", "suspend")] and ledger.till.held() == ["P1"]
    ledger.store("P1", [final(2)])  # sold before the suspend reached the pump
    assert service.till_arrived("P1") is None  # held already: not suspended twice
    ledger.store("P2", [final(1)])
    assert service.till_arrived("P2") == "suspend"
    first, second, other = ledger.till.unpaid()
    service.till_pay(CASHIER, first["id"], "cash")
    assert ledger.till.held() == ["P1", "P2"]  # P1 still owes sale 2
    service.till_pay(CASHIER, second["id"], "till-card")
    assert commands(ledger) == [("P1", "suspend"), ("P2", "suspend"), ("P1", "resume")]
    assert ledger.till.held() == ["P2"]
    trail = [(r["who"], r["action"], r["target"]) for r in service.audit(LOCAL)]
    assert (SYSTEM_TILL, "command", "P1") in trail and ("mia", "till-setting", "refuse the "
                                                        "next sale while one is unpaid") in trail
    service.set_till_refuse_next(LOCAL, False)  # off: every pump it holds let go
    assert commands(ledger)[-1] == ("P2", "resume") and ledger.till.held() == []
    assert service.till(CASHIER)["refuse_next"] is False


def test_the_till_never_resumes_a_pump_it_did_not_hold(till):
    ledger, service = till
    service.command(LOCAL, "P1", "suspend")  # a manager's (or the tank watch's)
    service.set_till_refuse_next(LOCAL, True)
    ledger.store("P1", [final(1, amount=0, ml=0)])  # nothing owed: nothing to hold
    assert service.till_arrived("P1") is None
    service.set_till_refuse_next(LOCAL, False)
    assert commands(ledger) == [("P1", "suspend")]


# -- prepay ---------------------------------------------------------------------------------
class NoGateway:
    """A gateway that must never be called (a till order never goes near it)."""

    def __getattr__(self, name):
        raise AssertionError("the gateway was called: %s" % name)


def test_a_prepaid_order_is_paid_at_once_and_its_change_is_handed_over_once(till):
    ledger, service = till
    order = service.till_prepay(CASHIER, "P1", 1, 5000, "cash")
    assert (order["source"], order["kind"], order["state"], order["paid"],
            order["amount"]) == ("till", "cash", "paid", 5000, 5000)
    assert order["transaction_id"] == "till:carol"
    assert [o["order_no"] for o in Orders(ledger.db).to_send("P1", 1000)] \
        == [order["order_no"]]  # the link's AUTHORIZE takes it as any paid order
    with pytest.raises(TillProblem, match="P1/1 holds another order"):
        service.till_prepay(CASHIER, "P1", 1, 1000, "cash")
    for bad, why in (((AUDITOR, "P1", 2, 1000, "cash"), "may not work the till"),
                     ((CASHIER, "P9", 2, 1000, "cash"), "no terminal P9"),
                     ((CASHIER, "P1", 0, 1000, "cash"), "a pump is 1-99"),
                     ((CASHIER, "P1", 2, 0, "cash"), "a prepaid amount is 0.01 to"),
                     ((CASHIER, "P1", 2, 1000, "coupon"), "one of cash, till-card")):
        before = dump(ledger)
        with pytest.raises((TillProblem, Refused), match=why):
            service.till_prepay(*bad)
        assert dump(ledger) == before
    assert service.till(CASHIER)["change"] == []
    # the pump sold 32.50 on it (the pay branch's dispatch settles it: Orders.settle)
    assert Orders(ledger.db).settle(order["order_no"], 3250)
    [owed] = service.till(CASHIER)["change"]
    assert (owed["order_no"], owed["capture"], owed["refund"], owed["captured"]) == (
        order["order_no"], 3250, 1750, 3250)  # the till holds the capture already
    assert Orders(ledger.db).owed() == []  # nothing for the gateway to collect
    with pytest.raises(Refused):
        service.till_change(AUDITOR, order["order_no"])
    assert service.till_change(CASHIER, order["order_no"]) == 1750
    assert service.till(CASHIER)["change"] == []
    record = service.audit(LOCAL)[-1]
    assert (record["who"], record["action"], record["old"], record["new"]) == (
        "carol", "till-change", "owed 17.50", "handed over")
    before = dump(ledger)
    with pytest.raises(TillProblem, match="was handed over already"):
        service.till_change(CASHIER, order["order_no"])
    with pytest.raises(TillProblem, match="no change is owed on order PS-nope"):
        service.till_change(CASHIER, "PS-nope")
    assert dump(ledger) == before
    assert service.till_prepay(CASHIER, "P1", 1, 1000, "cash")  # the pump is free again


def test_a_prepaid_order_used_in_full_owes_no_change_and_another_settle_is_refused(till):
    ledger, service = till
    order = service.till_prepay(CASHIER, "P1", 1, 2000, "till-card")
    Orders(ledger.db).settle(order["order_no"], 2000)
    assert service.till(CASHIER)["change"] == []
    with pytest.raises(OrderError, match="settled for 2000: not again for 1500"):
        Orders(ledger.db).settle(order["order_no"], 1500)


def test_the_payments_service_never_takes_a_till_order_to_the_gateway(till):
    ledger, service = till
    clock = [time.time()]
    payments = Payments(ledger.db, NoGateway(), "http://station", now=lambda: clock[0])
    used = service.till_prepay(CASHIER, "P1", 1, 3000, "cash")
    unused = service.till_prepay(CASHIER, "P2", 1, 4000, "cash")
    assert payments.capture(used["order_no"], 1000)["state"] == "captured"
    clock[0] += 3600  # past the use window: no pump took the other one
    assert payments.sweep() == [unused["order_no"]]
    owed = {o["order_no"]: o["refund"] for o in service.till(CASHIER)["change"]}
    assert owed == {used["order_no"]: 2000, unused["order_no"]: 4000}
    assert payments.sweep() == []  # the change is the cashier's, not the gateway's


def test_a_till_without_a_gateway_has_its_order_windows_set_audited(till, tmp_path):
    """The use window of a till prepay is the station's setting (payments/config.py),
    with no gateway set; the payment desk without a gateway takes it too and its sweep
    settles a prepay no pump took: all of it change owed."""
    from pumpside_host.station.payments import config
    from pumpside_host.station.payments.desk import open_desk

    ledger, service = till
    assert config.windows(ledger.path) == config.DEFAULTS
    with pytest.raises(Refused):
        service.set_pay_windows(CASHIER, use_window_s=120)
    for bad in ({"use_window_s": 0}, {"use_window_s": "120"}, {"use_window_s": True},
                {"refund_window_s": 5}):
        with pytest.raises(ValueError, match="must be a positive whole number"):
            service.set_pay_windows(LOCAL, **bad)
    assert config.windows(ledger.path) == config.DEFAULTS  # nothing written
    assert service.set_pay_windows(LOCAL, use_window_s=120)["use_window_s"] == 120
    record = service.audit(LOCAL)[-1]
    assert (record["action"], json.loads(record["old"])["use_window_s"],
            json.loads(record["new"])["use_window_s"]) == ("pay-windows", 600, 120)
    assert config.load(ledger.path) is None  # the windows alone: no phone payment
    order = service.till_prepay(CASHIER, "P1", 1, 2500, "cash", now=1000)
    assert order["use_by"] == 1120
    desk = open_desk(ledger)
    try:
        payments = desk.payments
        assert (payments.gateway, payments.use_window_s) == (None, 120)
        payments.now = payments.orders.now = lambda: 1119
        assert payments.sweep() == []  # still within its window
        payments.now = payments.orders.now = lambda: 1120
        assert payments.sweep() == [order["order_no"]]  # never sent: all of it change
        assert [(o["order_no"], o["refund"]) for o in service.till(CASHIER)["change"]] == \
            [(order["order_no"], 2500)]
    finally:
        desk.payments.close()
        desk.worker.shutdown()
    # a gateway set later keeps the windows
    from pumpside_host.bench.paysandbox import load_or_make_key

    _key, pub = load_or_make_key(str(tmp_path / "gateway"))
    service.set_gateway(LOCAL, "http://127.0.0.1:9", pub, "http://station.example")
    assert config.load(ledger.path)["use_window_s"] == 120
    with open(config.path_of(ledger.path), "w") as f:  # a gateway half set by hand
        json.dump({"url": "http://127.0.0.1:9", "use_window_s": 120}, f)
    with pytest.raises(ValueError, match="public_key is missing: set it with"):
        config.load(ledger.path)
    assert config.windows(ledger.path)["use_window_s"] == 120


CALLS = {"till_pay": (1, "cash"), "till_prepay": ("P1", 1, 100, "cash"),
         "till_change": ("PS1",), "set_till_refuse_next": (True,)}


@pytest.mark.parametrize("role", ("administrator", "manager", "cashier", "auditor"))
def test_every_till_call_is_role_checked_first(till, role):
    ledger, service = till
    ledger.store("P1", [final(1)])
    assert set(CALLS) == set(TILL_MUTATORS)
    for name, args in CALLS.items():
        before = dump(ledger)
        if role in ROLE_OF[TILL_MUTATORS[name]]:
            try:
                getattr(service, name)(Actor("x", role), *args)
            except TillProblem:
                pass  # the role passed, the input did not (PS1: no such order)
        else:
            with pytest.raises(Refused):
                getattr(service, name)(Actor("x", role), *args)
            assert dump(ledger) == before, name


# -- the command line ---------------------------------------------------------------------
def test_the_command_line_till(tmp_path, capsys):
    db = str(tmp_path / "s.db")

    def station(*args):
        return cli.main(["station", args[0], "--db", db] + list(args[1:]))

    assert station("terminal-add", "--terminal", "P1", "--key-file",
                   str(tmp_path / "k")) == 0
    ledger = Ledger(db)
    ledger.store("P1", [final(1, amount=1300)])
    ledger.close()
    capsys.readouterr()
    assert station("till") == 0
    out = capsys.readouterr().out
    assert "  1 P1 1 1 92 2.000 13.00 " in out and "refuse the next sale on a pump with " \
        "an unpaid one: off" in out
    assert station("till-refuse-next", "on") == 0
    assert station("till") == 0
    assert "on (held: P1)" in capsys.readouterr().out
    assert station("till-pay", "1", "--kind", "cash") == 0
    assert "sale 1 of P1: 13.00 taken (cash)" in capsys.readouterr().out
    assert station("till-pay", "1", "--kind", "cash") == 2
    assert "sale 1 was paid already (cash)" in capsys.readouterr().err
    assert station("till-prepay", "--terminal", "P1", "--amount", "5000", "--kind",
                   "till-card") == 0
    order = capsys.readouterr().out.split()[1].rstrip(":")
    ledger = Ledger(db)
    Orders(ledger.db).settle(order, 4000)
    ledger.close()
    assert station("till") == 0
    assert "%s P1/1 50.00 till-card 40.00 10.00" % order in capsys.readouterr().out
    assert station("pay-orders") == 0
    assert "captured 4000 refunded 0 till:till-card (change owed 1000)" in \
        capsys.readouterr().out
    assert station("till-change", order) == 0
    assert "change 10.00 handed over" in capsys.readouterr().out
    assert station("pay-windows") == 0
    assert "use window 600 s" in capsys.readouterr().out
    assert station("pay-windows", "--use-window-s", "90") == 0
    assert "use window 90 s (every paid order: a phone's, a till prepay)" in \
        capsys.readouterr().out
    assert station("pay-windows", "--use-window-s", "0") == 2
    assert "use_window_s must be a positive whole number" in capsys.readouterr().err


def test_the_tills_money_per_kind_in_the_report_and_each_shift(till):
    ledger, service = till
    ledger.store("P1", [final(1, amount=1000), final(2, amount=2000)])
    first, second = ledger.till.unpaid()
    service.till_pay(CASHIER, first["id"], "cash")
    order = service.till_prepay(CASHIER, "P2", 1, 5000, "cash")
    Orders(ledger.db).settle(order["order_no"], 3500)
    service.till_change(CASHIER, order["order_no"])  # 15.00 back
    shift = service.close_shift(CASHIER)
    assert shift["till"] == {
        "rows": [{"what": "change", "kind": "cash", "count": 1, "amount": 1500},
                 {"what": "postpay", "kind": "cash", "count": 1, "amount": 1000},
                 {"what": "prepay", "kind": "cash", "count": 1, "amount": 5000}],
        "net": [{"kind": "cash", "amount": 4500}]}
    service.till_pay(CASHIER, second["id"], "till-card")  # the next shift's
    later = service.close_shift(CASHIER)
    assert later["till"] == {"rows": [{"what": "postpay", "kind": "till-card", "count": 1,
                                       "amount": 2000}],
                             "net": [{"kind": "till-card", "amount": 2000}]}
    text = reports.to_csv(service.report(LOCAL, "day", time.strftime("%Y-%m-%d")))
    assert "till,net:cash,,,45.00" in text and "till,net:till-card,,,20.00" in text
    assert "till,change:cash,1,,15.00" in text
    from pumpside_host.station.shifts import text as shift_text
    assert "net cash" in shift_text(shift) and "45.00" in shift_text(shift)
    plan = " ".join(row[3] for row in ledger.db.execute(
        "EXPLAIN QUERY PLAN " + reports.TILL % "at >= ? AND at < ?", (0, 1)))
    assert "COVERING INDEX till_moves_report" in plan


def test_a_version_12_store_is_brought_to_the_till_in_place(tmp_path):
    """A store as schema version 12 left it (no till columns, tables or indexes), with a
    fleet card's sale, an order's and an attended one: opened, it is the current version."""
    path = str(tmp_path / "station.db")
    ledger = Ledger(path)
    service = Service(ledger)
    service.add_terminal(LOCAL, "P1")
    service.fleet.bind("6200000000000025", service.fleet_company_add(
        LOCAL, "Swift", "", "credit", 100000), "A1")
    ledger.store("P1", [final(1), final(2, asn="6200000000000025", tac="01020304"),
                        final(3, order="PS-phone")])
    db = ledger.db
    for statement in ("DROP INDEX sales_unpaid", "DROP INDEX pay_orders_change",
                      "DROP TABLE till_moves", "DROP TABLE till_holds",
                      "ALTER TABLE sales DROP COLUMN paid_at",
                      "ALTER TABLE pay_orders DROP COLUMN source",
                      "ALTER TABLE pay_orders DROP COLUMN kind",
                      "UPDATE sales SET pay = CASE WHEN asn IS NULL THEN 'attended' ELSE "
                      "'card' END", "PRAGMA user_version = 12"):
        db.execute(statement)
    ledger.close()
    ledger = Ledger(path)
    assert ledger.schema_version() == schema.VERSION
    assert [pay_of(ledger, "P1", n) for n in (1, 2, 3)] == ["attended", "fleet", "phone"]
    assert ledger.till.unpaid() == [] and ledger.till.held() == []
    ledger.store("P1", [final(4)])
    assert [s["sale"] for s in ledger.till.unpaid()] == [4]
    assert Service(ledger).till_prepay(CASHIER, "P1", 1, 1000, "cash")["source"] == "till"
    ledger.close()
