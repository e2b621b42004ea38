"""End to end (the back office's fixtures: test_web_e2e.py): postpay and prepay through the
cashier's till page on the virtual pump, on a station with a till and no payment gateway.
Postpay: an attended sale arrives unpaid, shows on /till, the cashier takes cash and it
leaves the list, the ledger's sale paid in cash; with "refuse the next sale" on, the pump
is suspended by the station until its sale is paid. Prepay: the cashier prepays the pump
for a sum, the station's AUTHORIZE reaches it ("Lift the nozzle"), it fuels less than the
sum, its FINAL names the order, the sale is the till's kind in the ledger and the rest is
change owed until the cashier hands it over; a prepay never used lapses at the pump and
all of it is change owed."""
import json

import pytest

from pumpside_host.bench import Bench
from pumpside_host.station.payments import config as pay_config
from pumpside_host.station.payments.orders import Orders
from pumpside_host.station.service import Service

from .helpers import linked_pump, sale, wait_until
from .test_web_e2e import LOCAL, browser, log_in, web  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


def _pay(ledger, sale_no):
    return ledger.db.execute("SELECT pay FROM sales WHERE terminal = 'P1' AND sale = ?",
                             (sale_no,)).fetchone()


def test_postpay_at_the_till_and_the_pump_held_until_paid(web, browser, make_pump):  # noqa: F811
    ledger, server, base = web
    vp = linked_pump(make_pump, ledger, server.port, bench=Bench(fast_lpm=60.0))
    manager = log_in(browser, base, "manager")
    manager.goto(base + "/till")
    manager.click("#till-setting button[value=on]")  # refuse the next sale while unpaid
    assert "unpaid one: on" in manager.inner_text("#done")

    cashier = log_in(browser, base, "cashier")
    cashier.goto(base + "/till")  # open before the sale: its row comes without a reload
    assert sale(vp, "V050E", hang_up=True)["ml"] == 500  # attended: 0.50 L
    row = cashier.locator("#unpaid tr[data-pump='P1']")
    row.wait_for()
    assert row.count() == 1 and "0.500" in row.inner_text() and "3.25" in row.inner_text()
    assert _pay(ledger, 1) == ("unpaid",)
    # the station suspends the pump for it: the next customer is refused
    vp.wait_event("command", 10, lambda f: f["cmd"] == "suspend")
    vp.bench.press("V050E")
    wait_until(lambda: vp.bench.display[2:3] == ["Pump suspended by the station"], 5,
               "the refusal")

    row.locator("button[value=cash]").click()
    assert "3.25 taken (cash)" in cashier.inner_text("#done")
    assert cashier.locator("#unpaid tr[data-pump='P1']").count() == 0  # it left the list
    assert _pay(ledger, 1) == ("cash",)
    vp.wait_event("command", 10, lambda f: f["cmd"] == "resume")  # paid: the pump again
    assert sale(vp, "V050E", hang_up=True)["ml"] == 500
    wait_until(lambda: _pay(ledger, 2) == ("unpaid",), 10, "the next sale")
    cashier.goto(base + "/sales")
    assert cashier.locator("#sales td.pay").all_inner_texts() == ["unpaid", "cash"]


def _prepay(cashier, base, amount, kind="cash"):
    """The cashier prepays pump P1/1 for `amount` taken in `kind`: the order's number."""
    cashier.goto(base + "/till")
    cashier.fill("#prepay input[name=amount]", amount)
    cashier.click("#prepay button[value=%s]" % kind)
    done = cashier.inner_text("#done")
    assert "pump P1/1 prepaid %s (%s)" % (amount, kind) in done
    return done.rsplit("order ", 1)[1].strip()


def _settled(ledger, order):
    wait_until(lambda: Orders(ledger.db).get(order)["state"] in ("captured", "refunded"),
               20, "the order settled by the pump's FINAL")
    return Orders(ledger.db).get(order)


def _hand_over(cashier, order, owed):
    """The order's change shows on the till page the cashier has open (without a reload:
    its rows are polled) and is handed over."""
    row = cashier.locator("#change tr[data-order='%s']" % order)
    row.wait_for()
    assert owed in row.locator(".owed").inner_text()
    row.locator("button").click()
    assert "change %s of order %s handed over" % (owed, order) in cashier.inner_text("#done")
    assert cashier.locator("#change tr[data-order]").count() == 0  # it left the list


def test_prepay_at_the_till_fuels_less_and_the_change_is_handed_over(  # noqa: F811
        web, browser, make_pump):  # noqa: F811
    ledger, server, base = web
    assert pay_config.load(ledger.path) is None  # a till, no payment gateway
    vp = linked_pump(make_pump, ledger, server.port, bench=Bench(fast_lpm=60.0),
                     done_show_ms=0, settle_ms=150)
    cashier = log_in(browser, base, "cashier")
    order = _prepay(cashier, base, "50.00")  # 50.00 at 65.00 a litre: 0.769 L at most
    vp.wait_event("order_authorized", 10, lambda f: f["order"] == order)
    wait_until(lambda: vp.bench.display[2:3] == ["Lift the nozzle"], 10, "lift the nozzle")
    wait_until(lambda: Orders(ledger.db).get(order)["state"] == "authorised", 10,
               "the pump's REPLY at the station")
    vp.bench.lift()
    vp.wait_event("progress", 20, lambda f: f["ml"] >= 200)
    vp.bench.hang_up()
    d = vp.wait_event("delivery", 20)
    assert d["record"] == "FINAL" and 0 < d["amount"] < 5000
    o = _settled(ledger, order)
    assert (o["state"], o["capture"], o["refund"]) == ("captured", d["amount"],
                                                       5000 - d["amount"])
    (record, pay), = ledger.db.execute("SELECT record, pay FROM sales WHERE terminal = 'P1' "
                                       "AND kind = 'FINAL'")
    assert json.loads(record)["order"] == order and pay == "cash"  # the till's kind
    assert ledger.till.unpaid() == []  # prepaid: nothing for the cashier to take
    _hand_over(cashier, order, "%d.%02d" % divmod(5000 - d["amount"], 100))
    assert Orders(ledger.db).get(order)["refunded"] == 5000 - d["amount"]
    moves = ledger.db.execute("SELECT what, kind, amount FROM till_moves ORDER BY id")
    assert moves.fetchall() == [("prepay", "cash", 5000),
                                ("change", "cash", 5000 - d["amount"])]


def test_prepay_never_used_lapses_and_all_of_it_is_change_owed(  # noqa: F811
        web, browser, make_pump):  # noqa: F811
    ledger, server, base = web
    Service(ledger).set_pay_windows(LOCAL, use_window_s=3)  # a till prepay's use window
    vp = linked_pump(make_pump, ledger, server.port, done_show_ms=0, settle_ms=150)
    cashier = log_in(browser, base, "cashier")
    order = _prepay(cashier, base, "20.00", "till-card")
    vp.wait_event("order_authorized", 10, lambda f: f["order"] == order)
    wait_until(lambda: vp.bench.display[2:3] == ["Lift the nozzle"], 10, "lift the nozzle")
    d = vp.wait_event("delivery", 20)  # the nozzle never lifted: the sale lapses
    assert (d["ml"], d["amount"], d["stop"]) == (0, 0, "LAPSED")
    o = _settled(ledger, order)
    assert (o["state"], o["capture"], o["refund"]) == ("refunded", 0, 2000)
    assert ledger.till.unpaid() == []
    _hand_over(cashier, order, "20.00")
