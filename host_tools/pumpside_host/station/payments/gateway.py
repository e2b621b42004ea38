"""The payment gateways' one interface, and the adapter of the sandbox gateway (which
speaks like WeChat Pay's API v3).

An adapter makes orders, verifies notifications, queries, captures and refunds, every call
keyed by the merchant's order number (out_trade_no) or refund number (out_refund_no), so a
repeated call is answered as the first was and never charges or refunds twice. It holds no
state of the station's: the order ledger (orders.py) is the station's truth, the gateway's
answers are facts fed into it (service.py).

Notifications are signed WeChat Pay v3 style: headers Wechatpay-Timestamp, -Nonce,
-Signature (base64 SHA256withRSA, PKCS#1 v1.5, by the gateway's private key) over
"<timestamp>\\n<nonce>\\n<body>\\n", the body as sent (bytes). The station verifies with the
gateway's public key, given it as a file (never fetched from the gateway it distrusts),
and refuses a timestamp more than NOTIFY_SKEW_S away from its clock (a replayed old one).
"""
import base64
import json
import urllib.error
import urllib.parse
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

NOTIFY_SKEW_S = 300
HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature")
ACK = {"code": "SUCCESS", "message": "OK"}  # the answer the gateway takes as acknowledged
CALL_TIMEOUT_S = 10


class GatewayError(Exception):
    """The gateway refused the call (a fault of the call or the order): retrying the same
    call will not help."""


class GatewayRetry(GatewayError):
    """The gateway could not answer now (busy, a system error, unreachable): the same call
    may be made again (it is idempotent)."""


class BadNotification(ValueError):
    """A notification whose signature, timestamp or body does not hold: refused, nothing
    changed."""


class Gateway:
    """What an adapter does (each subclass: one gateway's wire)."""

    def create_order(self, order_no, amount, description, notify_url, return_url, pay_by):
        """An order the customer pays at the gateway: returns the URL of its pay page."""
        raise NotImplementedError

    def verify_notification(self, headers, body, now):
        """The facts of a signed notification: {"event": "paid"|"refunded", "order_no",
        "amount", "transaction_id"}; BadNotification if it does not verify."""
        raise NotImplementedError

    def query(self, order_no):
        """The gateway's view: {"state": "unpaid"|"paid"|"closed"|"unknown", "amount",
        "transaction_id"}."""
        raise NotImplementedError

    def capture(self, order_no, amount):
        """Capture `amount` of the paid order (idempotent: the same again is done)."""
        raise NotImplementedError

    def refund(self, order_no, refund_no, amount):
        """Refund `amount` of the order under `refund_no` (idempotent on refund_no)."""
        raise NotImplementedError


def load_public_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_public_key(f.read())


def signed_message(timestamp, nonce, body):
    return b"%s\n%s\n%s\n" % (timestamp.encode(), nonce.encode(), body)


def verify_v3(public_key, headers, body, now):
    """Check a notification's WeChat Pay v3 signature and timestamp (BadNotification)."""
    values = {}
    for name in HEADERS:
        value = headers.get(name) or headers.get(name.lower())
        if not value:
            raise BadNotification("no %s header" % name)
        values[name] = value
    timestamp = values["Wechatpay-Timestamp"]
    if not timestamp.isdigit() or abs(int(timestamp) - now) > NOTIFY_SKEW_S:
        raise BadNotification("timestamp %r is more than %d s from the station's clock"
                              % (timestamp[:20], NOTIFY_SKEW_S))
    try:
        signature = base64.b64decode(values["Wechatpay-Signature"], validate=True)
        public_key.verify(signature, signed_message(timestamp, values["Wechatpay-Nonce"],
                                                    body),
                          padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise BadNotification("the signature does not verify with the gateway's public "
                              "key") from None


class SandboxGateway(Gateway):
    """The adapter of the sandbox gateway (bench/paysandbox.py, `pumpside
    gateway-sandbox`): JSON over HTTP at `url`, its notifications verified with the
    public key at `public_key` (a PEM file)."""

    EVENTS = {"TRANSACTION.SUCCESS": "paid", "REFUND.SUCCESS": "refunded"}
    STATES = {"NOTPAY": "unpaid", "SUCCESS": "paid", "CLOSED": "closed"}

    def __init__(self, url, public_key):
        self.url = url.rstrip("/")
        self.public_key = load_public_key(public_key)

    def _send(self, method, path, body):
        """One HTTP call: (status, its JSON answer)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json",
                                                  "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_S) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                return e.code, json.loads(e.read() or b"{}")
            except ValueError:
                return e.code, {}
        except (OSError, ValueError) as e:  # unreachable, reset, timed out, not JSON
            raise GatewayRetry("%s %s: %s" % (method, path, e)) from None

    def _call(self, method, path, body=None):
        """The answer of a call that succeeded; None: no such order (a query);
        GatewayRetry: try again later; GatewayError: refused."""
        status, answer = self._send(method, path, body)
        if 200 <= status < 300:
            return answer
        text = "%s %s: HTTP %d %s %s" % (method, path, status, answer.get("code", ""),
                                         answer.get("message", ""))
        if status == 404 and method == "GET":
            return None
        if status >= 500 or status == 429:
            raise GatewayRetry(text)
        raise GatewayError(text)

    def create_order(self, order_no, amount, description, notify_url, return_url, pay_by):
        answer = self._call("POST", "/v3/pay/transactions/h5", {
            "out_trade_no": order_no, "description": description,
            "amount": {"total": amount, "currency": "CNY"}, "notify_url": notify_url,
            "return_url": return_url, "time_expire": int(pay_by)})
        return answer["h5_url"]

    def verify_notification(self, headers, body, now):
        verify_v3(self.public_key, headers, body, now)
        try:
            message = json.loads(body)
            event = self.EVENTS[message["event_type"]]
            resource = message["resource"]
            amount = resource["amount"]
            facts = {"event": event, "order_no": str(resource["out_trade_no"]),
                     "transaction_id": str(resource.get("transaction_id", "")),
                     "amount": int(amount["refund"] if event == "refunded"
                                   else amount["total"])}
        except (ValueError, KeyError, TypeError):
            raise BadNotification("a signed notification the station cannot read") from None
        return facts

    def query(self, order_no):
        answer = self._call("GET", "/v3/pay/transactions/out-trade-no/%s"
                            % urllib.parse.quote(order_no, safe=""))
        if answer is None:
            return {"state": "unknown", "amount": 0, "transaction_id": ""}
        return {"state": self.STATES.get(answer["trade_state"], "unknown"),
                "amount": answer["amount"]["total"],
                "transaction_id": answer.get("transaction_id", "")}

    def capture(self, order_no, amount):
        self._call("POST", "/v3/pay/transactions/out-trade-no/%s/capture"
                   % urllib.parse.quote(order_no, safe=""), {"amount": {"capture": amount}})

    def refund(self, order_no, refund_no, amount):
        answer = self._call("POST", "/v3/refund/domestic/refunds", {
            "out_trade_no": order_no, "out_refund_no": refund_no,
            "amount": {"refund": amount}})
        if answer.get("status") != "SUCCESS":
            raise GatewayRetry("refund %s is %s" % (refund_no, answer.get("status")))

