"""End to end: the back office in a real browser (Playwright driving Debian's chromium,
never a downloaded one), served by the station in its own loop beside the terminal port
(StationThread web_port): logins and roles, a price set by a manager in the audit trail,
the forecourt following a live sale of the virtual pump, the CSV export, a forged form,
a station alarm that shows up live and a manager acknowledges."""
import os
import sqlite3

import pytest
from argon2 import PasswordHasher

from pumpside_host.bench import Bench
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationThread
from pumpside_host.station.service import Actor, Service

from .helpers import linked_pump, wait_until

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"  # Debian's (the Makefile installs it)
PASSWORD = "a long enough password"
LOCAL = Actor.local("test")


@pytest.fixture
def web(tmp_path):
    """The station with its back office on free loopback ports, an operator of each role
    (named after it)."""
    ledger = Ledger(str(tmp_path / "station.db"),
                    hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    service = Service(ledger)
    for role in ("administrator", "manager", "cashier", "auditor"):
        service.add_operator(LOCAL, role, role, PASSWORD)
    service.set_price(LOCAL, "92", 6500)
    server = StationThread(ledger, heartbeat_s=1, web_port=0).start()
    yield ledger, server, "http://127.0.0.1:%d" % server.web_port
    if server.thread.is_alive():
        server.stop()


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("no %s: `make test-e2e` installs Debian's chromium" % CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


def log_in(browser, base, name):
    page = browser.new_context(accept_downloads=True).new_page()
    page.set_default_timeout(10000)
    page.goto(base + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login button")
    page.wait_for_selector("#who")
    assert name in page.inner_text("#who")
    return page


def test_roles_a_manager_sets_a_price_and_the_audit_shows_it(web, browser):
    ledger, _server, base = web
    cashier = log_in(browser, base, "cashier")
    assert cashier.locator("nav a[href='/operators']").count() == 0
    response = cashier.goto(base + "/operators")  # typed in: the server refuses it
    assert response.status == 403 and "may not manage operators" in cashier.content()

    manager = log_in(browser, base, "manager")
    manager.goto(base + "/prices")
    manager.fill("#set-price input[name=grade]", "95")
    manager.fill("#set-price input[name=price]", "7120")
    manager.click("#set-price button")
    assert "price of 95 set to 7.120" in manager.inner_text("#done")
    assert ledger.prices()["grades"]["95"] == 7120
    # a price for a time to come, through the form's date and time field
    manager.fill("#set-price input[name=grade]", "92")
    manager.fill("#set-price input[name=price]", "6900")
    manager.fill("#set-price input[name=at]", "2031-05-01T12:30")
    manager.click("#set-price button")
    assert "will be 6.900 from 2031-05-01 12:30" in manager.inner_text("#done")
    assert "6.900" in manager.inner_text("#scheduled")
    assert "6.500" in manager.inner_text("#current")

    auditor = log_in(browser, base, "auditor")
    auditor.goto(base + "/audit")
    rows = auditor.locator("#audit tbody tr")
    row = rows.nth(1).inner_text()  # the newest first: the scheduled one, then this
    assert "manager" in row and "price" in row and "95" in row and "7120" in row
    assert "6900 at " in rows.first.inner_text()


def test_a_forged_form_without_the_csrf_token_is_refused(web, browser):
    ledger, _server, base = web
    manager = log_in(browser, base, "manager")
    manager.goto(base + "/prices")
    manager.evaluate("document.querySelector('#set-price input[name=csrf]').remove()")
    manager.fill("#set-price input[name=grade]", "95")
    manager.fill("#set-price input[name=price]", "1")
    with manager.expect_response(base + "/prices") as answer:
        manager.click("#set-price button")
    assert answer.value.status == 403 and "CSRF" in manager.content()
    assert "95" not in ledger.prices()["grades"]


def test_a_station_alarm_shows_up_live_and_a_manager_acknowledges_it(web, browser):
    ledger, _server, base = web
    manager = log_in(browser, base, "manager")
    manager.goto(base + "/alarms")
    assert manager.locator("#alarms tbody tr").count() == 0
    other = sqlite3.connect(ledger.path, isolation_level=None)  # the ledger raises it
    other.execute("INSERT INTO alarms (terminal, what, why, raised) VALUES ('P1', "
                  "'conflict', 'FINAL of sale 3 differs', strftime('%s', 'now'))")
    other.close()
    row = manager.locator("#alarms tr[data-alarm='1']")
    row.wait_for()  # no reload: the rows are fetched again (live.js)
    assert "FINAL of sale 3 differs" in row.inner_text() and "open" in row.get_attribute(
        "class")
    row.locator("button").click()
    assert "alarm 1 acknowledged" in manager.inner_text("#done")
    row = manager.locator("#alarms tr[data-alarm='1']")
    assert "Acknowledged: manager" in row.inner_text()
    assert ledger.journals.alarms()[0]["acked_by"] == "manager"


def test_the_forecourt_follows_a_live_sale_and_the_csv_export_holds_it(web, browser,
                                                                         make_pump):
    ledger, server, base = web
    vp = linked_pump(make_pump, ledger, server.port, bench=Bench(fast_lpm=12.0))
    cashier = log_in(browser, base, "cashier")
    row = cashier.locator("#pumps tr[data-pump='P1']")
    wait_until(lambda: row.count() == 1 and "Online" in row.inner_text(), 10,
               "P1 online on the forecourt")
    vp.bench.press("V100E")  # 1.00 L at 12 L/min: about 5 s
    vp.wait_event("authorized")
    vp.bench.lift()
    # the page follows without a reload (server-sent events)
    cashier.wait_for_function("() => { const r = document.querySelector("
                              "\"#pumps tr[data-pump='P1']\"); return r && r.querySelector("
                              "'.state').textContent === 'Fuelling' && parseFloat(r."
                              "querySelector('.litres').textContent) > 0; }")
    delivery = vp.wait_event("delivery", 30)
    vp.bench.hang_up()
    wait_until(lambda: len(ledger.sales("P1")) == 1, 10, "the sale at the station")
    cashier.wait_for_function("() => document.querySelector(\"#pumps tr[data-pump='P1'] "
                              ".litres\").textContent === '1.000'")
    assert delivery["ml"] == 1000

    cashier.goto(base + "/sales")
    # the day's sale in the chart (Chart.js, vendored): 1 L
    assert cashier.evaluate("document.getElementById('per-day').chart.data.datasets[0]"
                            ".data") == [1]
    with cashier.expect_download() as download:
        cashier.click("#csv")
    lines = open(download.value.path()).read().strip().splitlines()
    assert lines[0].startswith("received,terminal") and len(lines) == 2
    assert ",P1," in lines[1] and ",FINAL," in lines[1] and ",1000," in lines[1]


def test_make_run_serves_the_back_office_with_the_login_it_tells(tmp_path, browser):
    """`make run`'s station (console.start_pump) serves the back office; the demo
    administrator's one-time password it tells opens it, and nothing else does."""
    from pumpside_host.console import start_pump, stop_pump, web_banner

    web = {}
    vp, _store = start_pump(tmp_path, web_port=0, web=web)
    try:
        banner = web_banner(web)
        assert web["address"] in banner and web["password"] in banner
        page = browser.new_page()
        page.goto(web["address"] + "login")
        page.fill("input[name=name]", web["name"])
        page.fill("input[name=password]", "not the password")
        page.click("#login button")
        assert "wrong name or password" in page.inner_text("#error")
        page.fill("input[name=name]", web["name"])
        page.fill("input[name=password]", web["password"])
        page.click("#login button")
        assert "administrator" in page.inner_text("#who")
        assert page.goto(web["address"] + "operators").status == 200
        page.goto(web["address"])
        page.wait_for_selector("#pumps tr[data-pump='PUMP1']", timeout=10000)
    finally:
        stop_pump(vp)
