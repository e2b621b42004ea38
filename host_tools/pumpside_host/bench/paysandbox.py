"""A sandbox payment gateway: an HTTP service in its own process with its own state (a
SQLite file), behaving like WeChat Pay's API v3 as far as the station needs
(`pumpside gateway-sandbox --port P --state FILE`).

Merchant API (JSON):
  POST /v3/pay/transactions/h5                   out_trade_no, amount.total, notify_url,
                                                 return_url, time_expire -> h5_url, prepay_id
                                                 (the same order again: the same answer)
  GET  /v3/pay/transactions/out-trade-no/NO      trade_state NOTPAY|SUCCESS|CLOSED, amount
                                                 (total, captured, refunded), transaction_id
  POST /v3/pay/transactions/out-trade-no/NO/capture   amount.capture (pre-authorisation
                                                 completion; the same again: done)
  POST /v3/refund/domestic/refunds               out_trade_no, out_refund_no, amount.refund
                                                 -> status SUCCESS (idempotent on
                                                 out_refund_no; --refund-failures N: each
                                                 refund's first N tries answer 503)
  GET  /v3/certificates                          the gateway's public key (PEM)
The payer (what a phone's wallet does): GET /pay/PREPAY_ID shows the order, POST pays it
and goes back to the merchant's return_url; POST /sandbox/pay/NO pays by API (tests).

A paid order (TRANSACTION.SUCCESS) and a refund (REFUND.SUCCESS) are notified to the
order's notify_url, signed with the gateway's RSA key (gateway.verify_v3's format), and
sent again (after retry_s, doubling) until the merchant answers 200 with
{"code": "SUCCESS"} (or 204). --chaos P: each delivery is sent twice with probability P,
and held back a random while with probability P (so notifications arrive duplicated and
out of order). Orders unpaid at time_expire are CLOSED. The private key is made at the
first start in STATE.key (0600), its public key in STATE.pub.
"""
import base64
import json
import logging
import os
import random
import secrets
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

log = logging.getLogger("pumpside.paysandbox")

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    out_trade_no TEXT PRIMARY KEY, prepay_id TEXT UNIQUE NOT NULL, total INTEGER NOT NULL,
    description TEXT NOT NULL, notify_url TEXT NOT NULL, return_url TEXT NOT NULL,
    time_expire INTEGER NOT NULL, state TEXT NOT NULL, transaction_id TEXT,
    paid_at INTEGER, captured INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS refunds (
    out_refund_no TEXT PRIMARY KEY, out_trade_no TEXT NOT NULL, amount INTEGER NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0, done INTEGER);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, out_trade_no TEXT NOT NULL, url TEXT NOT NULL,
    body BLOB NOT NULL, next_at REAL NOT NULL, tries INTEGER NOT NULL DEFAULT 0,
    acked REAL);
"""
RETRY_CAP_S = 60


class Refused(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def load_or_make_key(state_path):
    """The gateway's private key (STATE.key, made at the first start, 0600) and the path
    of its public key (STATE.pub)."""
    key_path, pub_path = state_path + ".key", state_path + ".pub"
    if os.path.exists(key_path):
        with open(key_path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    with open(pub_path, "wb") as f:
        f.write(public_pem(key))
    return key, pub_path


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def sign_headers(key, body, now=None):
    """WeChat Pay v3 notification headers for `body` (bytes), signed by `key`."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    message = b"%s\n%s\n%s\n" % (timestamp.encode(), nonce.encode(), body)
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": base64.b64encode(signature).decode(),
            "Wechatpay-Serial": "SANDBOX", "Content-Type": "application/json"}


class Sandbox:
    """The gateway's state and rules (thread-safe: one lock over its SQLite file)."""

    def __init__(self, state_path, base_url="", retry_s=1.0, chaos=0.0, refund_failures=0,
                 seed=None, now=time.time):
        self.key, self.public_key_path = load_or_make_key(state_path)
        self.db = sqlite3.connect(state_path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self.lock = threading.RLock()
        self.base_url = base_url
        self.retry_s = retry_s
        self.chaos = chaos
        self.refund_failures = refund_failures
        self.random = random.Random(seed)
        self.now = now

    # -- the merchant's calls --------------------------------------------------------------
    def create(self, body):
        try:
            no = str(body["out_trade_no"])
            total = int(body["amount"]["total"])
            notify_url, return_url = str(body["notify_url"]), str(body.get("return_url", ""))
            expire = int(body["time_expire"])
        except (KeyError, TypeError, ValueError):
            raise Refused(400, "PARAM_ERROR", "out_trade_no, amount.total, notify_url and "
                          "time_expire are needed") from None
        if not 6 <= len(no) <= 32 or total <= 0 or not notify_url.startswith("http"):
            raise Refused(400, "PARAM_ERROR", "a bad out_trade_no, total or notify_url")
        with self.lock:
            order = self.order(no)
            if order is None:
                prepay = "wx" + secrets.token_hex(12)
                self.db.execute("INSERT INTO orders (out_trade_no, prepay_id, total, "
                                "description, notify_url, return_url, time_expire, state, "
                                "created) VALUES (?,?,?,?,?,?,?,?,?)",
                                (no, prepay, total, str(body.get("description", ""))[:127],
                                 notify_url, return_url, expire, "NOTPAY", int(self.now())))
                order = self.order(no)
            elif order["total"] != total or order["notify_url"] != notify_url:
                raise Refused(400, "OUT_TRADE_NO_USED", "order %s exists with other "
                              "details" % no)
        return {"prepay_id": order["prepay_id"],
                "h5_url": "%s/pay/%s" % (self.base_url, order["prepay_id"])}

    def order(self, no, by="out_trade_no"):
        row = self.db.execute("SELECT out_trade_no, prepay_id, total, description, "
                              "notify_url, return_url, time_expire, state, transaction_id, "
                              "paid_at, captured FROM orders WHERE %s = ?" % by,
                              (no,)).fetchone()
        if row is None:
            return None
        order = dict(zip(("out_trade_no", "prepay_id", "total", "description", "notify_url",
                          "return_url", "time_expire", "state", "transaction_id", "paid_at",
                          "captured"), row))
        if order["state"] == "NOTPAY" and self.now() >= order["time_expire"]:
            order["state"] = "CLOSED"
        return order

    def refunded(self, no):
        return self.db.execute("SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE "
                               "out_trade_no = ? AND done IS NOT NULL", (no,)).fetchone()[0]

    def query(self, no):
        with self.lock:
            order = self.order(no)
            if order is None:
                raise Refused(404, "ORDER_NOT_EXIST", "no order %s" % no)
            return {"out_trade_no": no, "trade_state": order["state"],
                    "transaction_id": order["transaction_id"] or "",
                    "amount": {"total": order["total"], "captured": order["captured"],
                               "refunded": self.refunded(no)}}

    def pay(self, no, by="out_trade_no"):
        """What the payer's wallet does: the order is paid (once) and notified."""
        with self.lock:
            order = self.order(no, by)
            if order is None:
                raise Refused(404, "ORDER_NOT_EXIST", "no order %s" % no)
            if order["state"] == "CLOSED":
                raise Refused(400, "ORDER_CLOSED", "order %s is closed (expired)"
                              % order["out_trade_no"])
            if order["state"] == "NOTPAY":
                txn = "42%s" % secrets.token_hex(10)
                self.db.execute("UPDATE orders SET state = 'SUCCESS', transaction_id = ?, "
                                "paid_at = ? WHERE out_trade_no = ?",
                                (txn, int(self.now()), order["out_trade_no"]))
                order = self.order(order["out_trade_no"])
                self._notify(order, "TRANSACTION.SUCCESS", {
                    "out_trade_no": order["out_trade_no"], "transaction_id": txn,
                    "trade_state": "SUCCESS", "amount": {"total": order["total"]}})
            return order

    def capture(self, no, body):
        try:
            amount = int(body["amount"]["capture"])
        except (KeyError, TypeError, ValueError):
            raise Refused(400, "PARAM_ERROR", "amount.capture is needed") from None
        with self.lock:
            order = self._paid(no)
            if order["captured"]:
                if order["captured"] != amount:
                    raise Refused(400, "CAPTURED", "order %s was captured for %d"
                                  % (no, order["captured"]))
                return {"status": "SUCCESS", "captured": amount}
            if not 0 < amount <= order["total"] - self.refunded(no):
                raise Refused(400, "AMOUNT_ERROR", "capture %d of order %s (total %d)"
                              % (amount, no, order["total"]))
            self.db.execute("UPDATE orders SET captured = ? WHERE out_trade_no = ?",
                            (amount, no))
            return {"status": "SUCCESS", "captured": amount}

    def refund(self, body):
        try:
            no, refund_no = str(body["out_trade_no"]), str(body["out_refund_no"])
            amount = int(body["amount"]["refund"])
        except (KeyError, TypeError, ValueError):
            raise Refused(400, "PARAM_ERROR", "out_trade_no, out_refund_no and amount.refund "
                          "are needed") from None
        with self.lock:
            order = self._paid(no)
            row = self.db.execute("SELECT out_trade_no, amount, tries, done FROM refunds "
                                  "WHERE out_refund_no = ?", (refund_no,)).fetchone()
            if row is None:
                if not 0 < amount <= order["total"] - order["captured"] - self.refunded(no):
                    raise Refused(400, "NOT_ENOUGH", "refund %d of order %s is more than "
                                  "is left" % (amount, no))
                self.db.execute("INSERT INTO refunds (out_refund_no, out_trade_no, amount) "
                                "VALUES (?,?,?)", (refund_no, no, amount))
                row = (no, amount, 0, None)
            if row[0] != no or row[1] != amount:
                raise Refused(400, "INVALID_REQUEST", "refund %s exists with other details"
                              % refund_no)
            if row[3] is None:
                self.db.execute("UPDATE refunds SET tries = tries + 1 WHERE out_refund_no = ?",
                                (refund_no,))
                if row[2] < self.refund_failures:
                    raise Refused(503, "SYSTEM_ERROR", "refund %s: try again later"
                                  % refund_no)
                self.db.execute("UPDATE refunds SET done = ? WHERE out_refund_no = ?",
                                (int(self.now()), refund_no))
                self._notify(order, "REFUND.SUCCESS", {
                    "out_trade_no": no, "out_refund_no": refund_no,
                    "transaction_id": order["transaction_id"], "refund_status": "SUCCESS",
                    "amount": {"refund": amount, "total": order["total"]}})
            return {"out_refund_no": refund_no, "status": "SUCCESS",
                    "amount": {"refund": amount}}

    def _paid(self, no):
        order = self.order(no)
        if order is None:
            raise Refused(404, "ORDER_NOT_EXIST", "no order %s" % no)
        if order["state"] != "SUCCESS":
            raise Refused(400, "ORDER_NOT_PAID", "order %s is %s" % (no, order["state"]))
        return order

    # -- notifications ---------------------------------------------------------------------
    def _notify(self, order, event, resource):
        body = json.dumps({"id": secrets.token_hex(16), "event_type": event,
                           "create_time": time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                                        time.gmtime(self.now())),
                           "resource_type": "plain-resource", "resource": resource},
                          sort_keys=True).encode()
        self.db.execute("INSERT INTO notifications (out_trade_no, url, body, next_at) "
                        "VALUES (?,?,?,?)", (order["out_trade_no"], order["notify_url"],
                                             body, self.now()))

    def due(self):
        with self.lock:
            return self.db.execute("SELECT id, url, body, tries FROM notifications WHERE "
                                   "acked IS NULL AND next_at <= ? ORDER BY next_at",
                                   (self.now(),)).fetchall()

    def deliver(self, nid, url, body, tries):
        """Send one notification (twice, or held back, under chaos); acknowledged: done."""
        if self.chaos and self.random.random() < self.chaos and tries == 0:
            with self.lock:  # held back: a later one overtakes it
                self.db.execute("UPDATE notifications SET next_at = ?, tries = 1 WHERE "
                                "id = ?", (self.now() + self.random.uniform(0.2, 1.5), nid))
            return False
        copies = 2 if self.chaos and self.random.random() < self.chaos else 1
        acked = False
        for _ in range(copies):
            acked = post_notification(self.key, url, body) or acked
        with self.lock:
            if acked:
                self.db.execute("UPDATE notifications SET acked = ? WHERE id = ?",
                                (self.now(), nid))
            else:
                self.db.execute("UPDATE notifications SET tries = tries + 1, next_at = ? "
                                "WHERE id = ?", (self.now() + min(
                                    RETRY_CAP_S, self.retry_s * 2 ** min(tries, 6)), nid))
        return acked

    def notifications(self):
        with self.lock:
            return [dict(zip(("id", "out_trade_no", "tries", "acked"), row)) for row in
                    self.db.execute("SELECT id, out_trade_no, tries, acked FROM "
                                    "notifications ORDER BY id")]


def post_notification(key, url, body):
    """POST a signed notification: True when the merchant acknowledged it."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers=sign_headers(key, body))
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            if answer.status == 204:
                return True
            reply = json.loads(answer.read() or b"{}")
            return answer.status == 200 and reply.get("code") == "SUCCESS"
    except (OSError, ValueError) as e:  # refused, unreachable, 4xx/5xx, not JSON
        log.info("notification to %s not acknowledged: %s", url, e)
        return False


PAYER_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox wallet</title></head>
<body style="font-family: sans-serif; margin: 1em">
<h1>Sandbox wallet</h1><p id="what">%(description)s</p>
<p>Amount: <b id="amount">%(amount)s</b></p><p id="state">%(state)s</p>
<form method="post"><button id="pay" style="font-size: 1.5em; width: 100%%">Pay</button>
</form></body></html>"""


class Handler(BaseHTTPRequestHandler):
    sandbox = None  # set by serve()

    def log_message(self, fmt, *args):
        log.debug(fmt, *args)

    def _json(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        try:
            return json.loads(data or b"{}")
        except ValueError:
            raise Refused(400, "PARAM_ERROR", "the body is not JSON") from None

    def _route(self, method):
        sandbox = self.sandbox
        path = self.path.split("?")[0]
        parts = [p for p in path.split("/") if p]
        try:
            if method == "GET" and path == "/v3/certificates":
                data = public_pem(sandbox.key)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-pem-file")
                self.end_headers()
                return self.wfile.write(data)
            if parts[:1] == ["pay"] and len(parts) == 2:
                return self._payer(method, parts[1])
            body = self._body() if method == "POST" else None
            return self._json(*api(sandbox, method, path, body))
        except Refused as e:
            return self._json(e.status, {"code": e.code, "message": e.message})

    def _payer(self, method, prepay):
        sandbox = self.sandbox
        if method == "POST":
            order = sandbox.pay(prepay, by="prepay_id")
            self.send_response(303)
            self.send_header("Location", order["return_url"] or "/pay/" + prepay)
            self.end_headers()
            return
        with sandbox.lock:
            order = sandbox.order(prepay, by="prepay_id")
        if order is None:
            raise Refused(404, "ORDER_NOT_EXIST", "no such order")
        page = PAYER_PAGE % {"description": _html(order["description"]),
                             "amount": "%d.%02d" % divmod(order["total"], 100),
                             "state": order["state"]}
        data = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")


def api(sandbox, method, path, body):
    """The merchant's JSON calls (and the API payer): (HTTP status, answer)."""
    parts = [p for p in path.split("/") if p]
    try:
        if method == "POST" and path == "/v3/pay/transactions/h5":
            return 200, sandbox.create(body)
        if parts[:4] == ["v3", "pay", "transactions", "out-trade-no"] and len(parts) >= 5:
            if method == "GET" and len(parts) == 5:
                return 200, sandbox.query(parts[4])
            if method == "POST" and parts[5:] == ["capture"]:
                return 200, sandbox.capture(parts[4], body)
        if method == "POST" and path == "/v3/refund/domestic/refunds":
            return 200, sandbox.refund(body)
        if method == "POST" and parts[:2] == ["sandbox", "pay"] and len(parts) == 3:
            return 200, {"trade_state": sandbox.pay(parts[2])["state"]}
        raise Refused(404, "NOT_FOUND", "no such call")
    except Refused as e:
        return e.status, {"code": e.code, "message": e.message}


def _html(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notifier(sandbox, stop, period_s=0.05):
    """Deliver due notifications until `stop` is set (one thread: one at a time)."""
    while not stop.is_set():
        for nid, url, body, tries in sandbox.due():
            sandbox.deliver(nid, url, body, tries)
        stop.wait(period_s)


def serve(port, state, host="127.0.0.1", **options):
    """`pumpside gateway-sandbox`: serve until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = ThreadingHTTPServer((host, port), Handler)
    base = "http://%s:%d" % (host, server.server_address[1])
    Handler.sandbox = Sandbox(state, base_url=base, **options)
    stop = threading.Event()
    threading.Thread(target=notifier, args=(Handler.sandbox, stop), daemon=True,
                     name="notifier").start()
    print("gateway sandbox on %s (public key: %s)" % (base, Handler.sandbox.public_key_path),
          flush=True)
    try:
        server.serve_forever()
    finally:
        stop.set()
        server.server_close()
