"""End to end: phone payment through the sandbox gateway in its own process (`pumpside
gateway-sandbox`, notifications duplicated and held back, each refund's first try
failing) and the station's web app: the pay page in headless Chromium with a phone's
viewport, paid in the sandbox's wallet page, the signed notification makes the order paid,
10 L's amount captured and the rest refunded (after a retry); a forged notification and
one for an unknown order refused, alarmed, nothing changed."""
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pumpside.meter import amount_for_ml
from pumpside.paycode import pay_key, token
from pumpside_host.bench.paysandbox import sign_headers
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.payments.gateway import SandboxGateway
from pumpside_host.station.payments.orders import Orders
from pumpside_host.station.payments.service import Payments
from pumpside_host.station.server import StationThread
from pumpside_host.station.service import Actor, Service

from .helpers import wait_until
from .test_web_e2e import CHROMIUM

pytestmark = pytest.mark.e2e
LOCAL = Actor.local("test")
PRICE = 7590  # 7.59 per litre
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 3}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sandbox(tmp_path):
    """The sandbox gateway in its own process: (its URL, its state file)."""
    state = str(tmp_path / "sandbox.db")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pumpside_host.cli", "gateway-sandbox", "--port", "0",
         "--state", state, "--retry-s", "0.2", "--chaos", "0.5", "--seed", "7",
         "--refund-failures", "1"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("gateway sandbox on "), line
    yield line.split()[3], state
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def station(tmp_path, sandbox):
    url, state = sandbox
    ledger = Ledger(str(tmp_path / "station.db"))
    service = Service(ledger)
    service.add_terminal(LOCAL, "P1")
    service.set_price(LOCAL, "92", PRICE)
    port = free_port()
    service.set_gateway(LOCAL, url, state + ".pub", "http://127.0.0.1:%d" % port)
    server = StationThread(ledger, heartbeat_s=1, web_port=port).start()
    yield ledger, "http://127.0.0.1:%d" % port
    server.stop()


@pytest.fixture
def phone():
    if not os.path.exists(CHROMIUM):
        pytest.fail("no %s: `make test-e2e` installs Debian's chromium" % CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_context(**PHONE).new_page()
        page.set_default_timeout(10000)
        yield page
        browser.close()


def pump_token(ledger, nozzle, terminal="P1"):
    """The token the pump's code shows now (paycode.py, under its link key)."""
    return token(pay_key(ledger.key_of(terminal)), terminal, nozzle, int(time.time()))


def order_of(ledger, order_no):
    db = sqlite3.connect(ledger.path, timeout=10)
    try:
        return Orders(db).get(order_no)
    finally:
        db.close()


def post(url, body, headers):
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_pay_by_phone_capture_ten_litres_refund_the_rest(station, sandbox, phone):
    ledger, base = station
    url, state = sandbox
    phone.goto(base + "/pay/P1/1?t=" + pump_token(ledger, 1))
    phone.check("input[name=preset][value=amount]")
    phone.fill("input[name=value]", "200")
    phone.click("#pay")
    phone.wait_for_selector("#pay >> text=Pay")  # the sandbox's wallet page
    assert phone.inner_text("#amount") == "200.00" and phone.url.startswith(url)
    (order_no,) = [o["order_no"] for o in Orders(ledger.db).all()]
    assert order_of(ledger, order_no)["state"] == "created"
    paid_at = time.monotonic()
    phone.click("#pay")
    wait_until(lambda: order_of(ledger, order_no)["state"] == "paid", 10, "order paid")
    latency_ms = (time.monotonic() - paid_at) * 1000
    phone.wait_for_selector("#state[data-state=paid]")  # back at the station's page
    assert "lift the nozzle" in phone.inner_text("#state")
    print("\nnotify->paid: %.0f ms (from the wallet's Pay to the order paid)" % latency_ms)

    # the pump's final sale (a later step) calls the service: 10 L at 7.59
    bill = amount_for_ml(10000, PRICE)
    payments = Payments.open(ledger.path, SandboxGateway(url, state + ".pub"), base)
    try:
        payments.authorised(order_no)
        order = payments.capture(order_no, bill)
        assert (order["state"], order["captured"], order["refunded"]) == ("captured", 7590, 0)
        assert "SYSTEM_ERROR" in order["last_error"]  # the refund's first try failed
    finally:
        payments.close()
    wait_until(lambda: order_of(ledger, order_no)["refunded"] == 20000 - bill, 15,
               "the refund retried by the station's sweep")
    answer = json.loads(urllib.request.urlopen(
        url + "/v3/pay/transactions/out-trade-no/" + order_no, timeout=10).read())
    assert answer["amount"] == {"total": 20000, "captured": 7590, "refunded": 12410}
    phone.goto(base + "/paid/" + order_no)
    assert "75.90 charged, 124.10 refunded" in phone.inner_text("#state")


def test_forged_and_unknown_notifications_are_refused_and_alarmed(station, sandbox, phone):
    ledger, base = station
    url, state = sandbox
    scanned = base + "/pay/P1/2?t=" + pump_token(ledger, 2)
    phone.goto(scanned)
    phone.check("input[name=preset][value=litres]")
    phone.fill("input[name=value]", "10")
    phone.click("#pay")
    phone.wait_for_selector("#amount")
    assert phone.inner_text("#amount") == "75.90"  # 10 L at the pump's dearest grade
    (order_no,) = [o["order_no"] for o in Orders(ledger.db).all()]
    body = json.dumps({"event_type": "TRANSACTION.SUCCESS", "resource": {
        "out_trade_no": order_no, "transaction_id": "forged",
        "amount": {"total": 7590}}}).encode()
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    status, answer = post(base + "/pay/notify", body, sign_headers(forger, body))
    assert status == 401 and answer["code"] == "FAIL"
    assert order_of(ledger, order_no)["state"] == "created"
    alarms = ledger.journals.alarms()
    assert [(a["terminal"], a["what"]) for a in alarms] == [
        ("P1", "payment notification refused")] and "signature" in alarms[0]["why"]

    with open(state + ".key", "rb") as f:  # the gateway's own key: a signed one
        key = serialization.load_pem_private_key(f.read(), None)
    unknown = body.replace(order_no.encode(), b"PS20260101000000ffffffffffffffff")
    status, answer = post(base + "/pay/notify", unknown, sign_headers(key, unknown))
    assert status == 404 and answer["code"] == "FAIL"
    assert len(ledger.journals.alarms()) == 2
    assert "never made" in ledger.journals.alarms()[1]["why"]
    assert [o["order_no"] for o in Orders(ledger.db).all()] == [order_no]

    # a second phone on the same pump is refused before paying
    other = phone.context.new_page()
    other.goto(scanned)  # the same code, scanned by another phone
    other.fill("input[name=value]", "50")
    other.click("#pay")
    assert "taken by another order" in other.inner_text("#error")
