"""Phone payment's web side (station/web/pay.py) with Starlette's TestClient: the pay
page's refusals (no token, a forged, stale, used or other pump's token, no such pump, not
set up, bad input, the gateway down) make no paid order; the notify endpoint refuses a
forged, altered, unsigned or unknown-order notification with a 4xx, changes nothing and
raises a station alarm; a good one is acknowledged with the gateway's success body, again
when repeated. Setting the gateway is audited and checks its input."""
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from pumpside.paycode import pay_key, token
from pumpside_host.bench.paysandbox import load_or_make_key, sign_headers
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.payments import config
from pumpside_host.station.payments.orders import Orders
from pumpside_host.station.service import Actor, Refused, Service
from pumpside_host.station.web import load_secret, make_app

LOCAL = Actor.local("test")
ALARM = "payment notification refused"


@pytest.fixture
def station(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    service = Service(ledger)
    service.add_terminal(LOCAL, "P1")
    service.set_price(LOCAL, "92", 7590)
    key, pub = load_or_make_key(str(tmp_path / "gateway"))
    # a gateway nobody listens on: the pay page's calls fail, notifications are checked
    service.set_gateway(LOCAL, "http://127.0.0.1:9", pub, "http://station.example")
    client = TestClient(make_app(ledger, load_secret(ledger.path), service))
    yield ledger, service, client, key
    ledger.close()


def a_token(ledger, nozzle=1, issued=None, terminal="P1"):
    """A token pump `nozzle` of `terminal` shows (paycode.py, under its link key)."""
    return token(pay_key(ledger.key_of(terminal)), terminal, nozzle,
                 int(time.time()) if issued is None else issued)


def a_created_order(ledger, order_no="PS20260101000000aaaaaaaaaaaaaaaa", amount=5000):
    Orders(ledger.db).create(order_no, "P1", 1, "amount", amount, 2 ** 40)
    return order_no


def notification(order_no, amount=5000, event="TRANSACTION.SUCCESS"):
    return json.dumps({"event_type": event, "resource": {
        "out_trade_no": order_no, "transaction_id": "4200", "trade_state": "SUCCESS",
        "amount": {"total": amount}}}).encode()


def test_the_pay_page_needs_a_token_a_known_pump_and_a_gateway(station, tmp_path):
    ledger, service, client, _key = station
    t = a_token(ledger)
    page = client.get("/pay/P1/1?t=" + t)
    assert page.status_code == 200 and 'name="t" value="%s"' % t in page.text
    assert "7.590" in page.text  # the litres price: the dearest grade
    assert client.get("/pay/P1/1").status_code == 403
    assert client.get("/pay/P1/1?t=").status_code == 403
    assert client.get("/pay/P1/1?t=abc").status_code == 403
    forged = t[:8] + ("0" if t[-1] != "0" else "1") * 8
    assert client.get("/pay/P1/1?t=" + forged).status_code == 403
    assert client.get("/pay/P1/2?t=" + t).status_code == 403  # nozzle 1's token
    stale = a_token(ledger, issued=int(time.time()) - 601)  # 10 minutes old: a photo
    assert client.get("/pay/P1/1?t=" + stale).status_code == 403
    ahead = a_token(ledger, issued=int(time.time()) + 120)
    assert client.get("/pay/P1/1?t=" + ahead).status_code == 403
    assert client.get("/pay/P9/1?t=" + t).status_code == 404
    assert client.get("/pay/P1/0?t=" + t).status_code == 404
    assert client.get("/pay/P1/x?t=" + t).status_code == 404
    bare = Ledger(str(tmp_path / "bare.db"))
    Service(bare).add_terminal(LOCAL, "P1")
    other = TestClient(make_app(bare, load_secret(bare.path)))
    assert other.get("/pay/P1/1?t=" + a_token(bare)).status_code == 503
    assert other.post("/pay/notify", content=b"{}").status_code == 503


@pytest.mark.parametrize("form, why", [
    ({"preset": "amount", "value": "abc"}, "a number"),
    ({"preset": "amount", "value": "-5"}, "a number"),
    ({"preset": "amount", "value": "1.234"}, "at most 2 decimals"),
    ({"preset": "amount", "value": "0"}, "0.01 to 5000.00"),
    ({"preset": "fill", "value": "5000.01"}, "0.01 to 5000.00"),
    ({"preset": "litres", "value": "1000"}, "0.01 to 5000.00"),
    ({"preset": "cash", "value": "10"}, "choose an amount"),
    ({"value": "10"}, "choose an amount"),
])
def test_bad_pay_input_is_refused_and_makes_no_order(station, form, why):
    ledger, _service, client, _key = station
    answer = client.post("/pay/P1/1", data=dict(form, t=a_token(ledger)))
    assert answer.status_code == 400 and why in answer.text
    assert Orders(ledger.db).all() == []


def test_the_gateway_down_is_said_and_the_order_never_paid(station):
    ledger, _service, client, _key = station
    t = a_token(ledger)
    answer = client.post("/pay/P1/1", data={"preset": "litres", "value": "10", "t": t})
    assert answer.status_code == 502 and "does not answer" in answer.text
    (order,) = Orders(ledger.db).all()
    assert (order["state"], order["amount"], order["cap_ml"], order["pay_url"],
            order["token"]) == ("created", 7590, 10000, None, t)


def test_a_token_makes_one_order_only(station):
    ledger, _service, client, _key = station
    t = a_token(ledger)
    Orders(ledger.db).create("PS2601010000001111aa", "P1", 1, "amount", 500, 0,
                             token=t)  # an order made with it, its pay window over
    answer = client.post("/pay/P1/1", data={"preset": "amount", "value": "10", "t": t})
    assert answer.status_code == 403 and "used already" in answer.text
    assert len(Orders(ledger.db).all()) == 1


def test_a_signed_notification_is_applied_once_and_acknowledged_each_time(station):
    ledger, _service, client, key = station
    order_no = a_created_order(ledger)
    body = notification(order_no)
    for _ in range(2):
        answer = client.post("/pay/notify", content=body, headers=sign_headers(key, body))
        assert answer.status_code == 200 and answer.json()["code"] == "SUCCESS"
    assert Orders(ledger.db).get(order_no)["state"] == "paid"
    assert [h["what"] for h in Orders(ledger.db).history(order_no)] == ["created", "paid"]
    assert ledger.journals.alarms() == []


def test_refused_notifications_change_nothing_and_raise_alarms(station):
    ledger, _service, client, key = station
    order_no = a_created_order(ledger)
    body = notification(order_no)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers = sign_headers(key, body)
    cases = [
        (body, sign_headers(forger, body), 401, "signature"),
        (body.replace(b"5000", b"1"), headers, 401, "signature"),  # altered after signing
        (body, {k: v for k, v in headers.items() if k != "Wechatpay-Nonce"}, 401,
         "no Wechatpay-Nonce"),
        (body, dict(headers, **{"Wechatpay-Signature": "%%%"}), 401, "signature"),
        (b"not json", sign_headers(key, b"not json"), 401, "cannot read"),
        (notification("PS20260101000000bbbbbbbbbbbbbbbb"),
         sign_headers(key, notification("PS20260101000000bbbbbbbbbbbbbbbb")), 404,
         "never made"),
    ]
    for n, (data, hdrs, status, why) in enumerate(cases, 1):
        answer = client.post("/pay/notify", content=data, headers=hdrs)
        assert answer.status_code == status and answer.json()["code"] == "FAIL", why
        alarms = ledger.journals.alarms()
        assert len(alarms) == n and alarms[-1]["what"] == ALARM and why in alarms[-1]["why"]
    assert ledger.journals.alarms()[0]["terminal"] == "P1"
    assert Orders(ledger.db).get(order_no)["state"] == "created"
    assert [o["order_no"] for o in Orders(ledger.db).all()] == [order_no]
    # the gateway's word against the order (another amount paid, a refund never asked
    # for): acknowledged (repeating it would not help), nothing changed, alarmed
    wrong = notification(order_no, amount=4999)
    refund = json.dumps({"event_type": "REFUND.SUCCESS", "resource": {
        "out_trade_no": order_no, "amount": {"refund": 100}}}).encode()
    for data, why in ((wrong, "4999 was paid"), (refund, "owes no refund")):
        answer = client.post("/pay/notify", content=data, headers=sign_headers(key, data))
        assert answer.status_code == 200 and answer.json()["code"] == "SUCCESS"
        alarm = ledger.journals.alarms()[-1]
        assert (alarm["terminal"], alarm["what"]) == (
            "P1", "payment notification contradicts the order") and why in alarm["why"]
    assert Orders(ledger.db).get(order_no)["state"] == "created"
    assert len(ledger.journals.alarms()) == len(cases) + 2


def test_the_payment_alert_rules_switched_off_store_no_alarm(station):
    """Both alarms are rules of the alert engine (alerts.py): off, nothing is stored, and
    the notification is still refused or acknowledged as before."""
    ledger, service, client, key = station
    order_no = a_created_order(ledger)
    body = notification(order_no)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong = notification(order_no, amount=4999)
    for rule in ("payment_notification_refused", "payment_notification_contradicts_the_order"):
        service.set_alert_rule(LOCAL, rule, False)
    answer = client.post("/pay/notify", content=body, headers=sign_headers(forger, body))
    assert answer.status_code == 401 and answer.json()["code"] == "FAIL"
    answer = client.post("/pay/notify", content=wrong, headers=sign_headers(key, wrong))
    assert answer.status_code == 200 and answer.json()["code"] == "SUCCESS"
    assert ledger.journals.alarms() == []
    assert Orders(ledger.db).get(order_no)["state"] == "created"
    service.set_alert_rule(LOCAL, "payment_notification_refused", True)
    client.post("/pay/notify", content=body, headers=sign_headers(forger, body))
    assert [(a["what"], r) for a, (r,) in zip(ledger.journals.alarms(), ledger.db.execute(
        "SELECT rule FROM alarms"))] == [(ALARM, "payment_notification_refused")]


def test_setting_the_gateway_is_audited_and_checked(station, tmp_path):
    ledger, service, _client, _key = station
    (record,) = [r for r in service.audit(LOCAL) if r["action"] == "gateway"]
    assert "http://127.0.0.1:9" in record["new"]
    pub = config.load(ledger.path)["public_key"]
    for url, key, public, why in (("ftp://x", pub, "http://s", "--url"),
                                  ("http://x", pub, "station", "--public-url"),
                                  ("http://x", str(tmp_path / "none.pem"), "http://s",
                                   "no public key file"),
                                  ("http://x", ledger.path, "http://s", "not a PEM")):
        with pytest.raises(ValueError, match=why):
            service.set_gateway(LOCAL, url, key, public)
    assert config.load(ledger.path)["url"] == "http://127.0.0.1:9"
    with pytest.raises(Refused):
        service.set_gateway(Actor("cashier", "cashier"), "http://x", pub, "http://s")
