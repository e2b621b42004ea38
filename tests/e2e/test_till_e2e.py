"""End to end (the back office's fixtures: test_web_e2e.py): postpay through the cashier's
till page on the virtual pump. An attended sale arrives unpaid, shows on /till, the
cashier takes cash and it leaves the list, the ledger's sale paid in cash; with "refuse
the next sale" on, the pump is suspended by the station until its sale is paid."""
import pytest

from pumpside_host.bench import Bench

from .helpers import linked_pump, sale, wait_until
from .test_web_e2e import browser, log_in, web  # noqa: F401 (fixtures)

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


def test_prepay_at_the_till_and_its_change_owed(web, browser):  # noqa: F811
    """The cashier prepays a pump; once the order is settled for what the pump sold (the
    AUTHORIZE dispatch's settle: driven here directly) its change shows and is handed
    over."""
    from pumpside_host.station.payments.orders import Orders

    ledger, _server, base = web
    ledger.add_terminal("P1")
    cashier = log_in(browser, base, "cashier")
    cashier.goto(base + "/till")
    cashier.fill("#prepay input[name=amount]", "20.00")
    cashier.click("#prepay button[value=cash]")
    done = cashier.inner_text("#done")
    assert "pump P1/1 prepaid 20.00 (cash)" in done
    order = done.rsplit("order ", 1)[1].strip()
    assert Orders(ledger.db).get(order)["state"] == "paid"
    Orders(ledger.db).settle(order, 1250)  # 12.50 sold on it
    cashier.goto(base + "/till")
    row = cashier.locator("#change tr[data-order='%s']" % order)
    assert "7.50" in row.locator(".owed").inner_text()
    row.locator("button").click()
    assert "change 7.50 of order %s handed over" % order in cashier.inner_text("#done")
    assert cashier.locator("#change tr[data-order]").count() == 0
