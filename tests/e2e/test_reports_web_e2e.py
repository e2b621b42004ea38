"""End to end in a real browser (the back office's fixtures: test_web_e2e.py): the
reports page draws its charts under the back office's Content-Security-Policy (its data
in a JSON block, its script a file) with no error in the console, and a cashier closes
the shift with the button and reads its report."""
import time

import pytest

from .test_web_e2e import browser, log_in, web  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


def _sales(ledger):
    now = int(time.time())
    ledger.store("P1", [{"type": "FINAL", "seq": n, "sale": n, "ml": 1000 * n,
                         "amount": 650 * n, "grade": "92", "nozzle": 1, "time": now}
                        for n in range(1, 4)])


def test_the_reports_page_draws_its_charts(web, browser):  # noqa: F811
    ledger, _server, base = web
    _sales(ledger)
    page = log_in(browser, base, "manager")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base + "/reports?kind=month")
    page.wait_for_function("document.getElementById('chart-hour').chart !== undefined")
    assert page.evaluate("document.getElementById('chart-grade').chart.data.labels") == ["92"]
    assert page.inner_text("#total").count("6.000") == 1  # 1 + 2 + 3 litres
    assert errors == []


def test_a_cashier_closes_the_shift_in_the_browser(web, browser):  # noqa: F811
    ledger, _server, base = web
    _sales(ledger)
    page = log_in(browser, base, "cashier")
    page.goto(base + "/shifts")
    page.click("#close-shift button")
    page.wait_for_selector("#done")
    assert "shift 1 closed" in page.inner_text("#done")
    assert "6.000" in page.inner_text("#shift-total")
    page.goto(base + "/reports")
    assert "may not read reports" in page.inner_text("#error")
