"""Phone payment's service: the one way the pay page, the gateway's notifications, the
expiry sweep, the station's link (AUTHORIZE to the pump, its REPLY) and the pump's final
sale change a payment order.

It owns a connection of its own to the store (so the gateway's slow HTTP calls run on a
worker thread, never on the station's loop, while the loop keeps writing: WAL) and is used
from one thread at a time (web/pay.py: one worker). Facts from the gateway go into the
order ledger (orders.py), which decides; money owed to the customer or the merchant is
collected from the gateway until it confirms (collect, sweep), so a transient failure or
a station restart delays a capture or refund, never repeats or loses it.
"""
import secrets
import sqlite3
import time

from pumpside.authorize import FINAL_WHY

from .gateway import BadNotification, GatewayError, GatewayRetry
from .orders import OPEN, OrderError, Orders, TokenUsed  # noqa: F401 (for callers)


class PumpBusy(OrderError):
    """The pump holds another phone's order: refused before anyone pays."""


class UnknownOrder(BadNotification):
    """A verified notification about an order the station never made."""


def refund_no(order_no):
    """The refund's number: one refund per order (the remainder, or all of it)."""
    return order_no + "R"


def new_order_no(now):
    """A merchant order number (WeChat Pay: 6-32 of letters, digits, _-|*), 16 characters
    (the pump's journal keeps 16: record.ORDER_LEN): "PS", the time to the second in base
    36 (7 digits) and 42 random bits (7 characters of base64url), so two stations or a
    restored store never reuse one."""
    n, digits = int(now), ""
    for _ in range(7):
        n, d = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[d] + digits
    return "PS%s%s" % (digits, secrets.token_urlsafe(6)[:7])


class Payments:
    def __init__(self, db, gateway, public_url, pay_window_s=180, use_window_s=600,
                 now=time.time):
        self.db = db
        self.gateway = gateway
        self.public_url = public_url.rstrip("/")
        self.pay_window_s = pay_window_s
        self.use_window_s = use_window_s
        self.now = now
        self.orders = Orders(db, now)

    @classmethod
    def open(cls, db_path, gateway, public_url, **windows):
        """On a connection of its own to the store (its schema made by Ledger)."""
        db = sqlite3.connect(db_path, timeout=10, isolation_level=None,
                             check_same_thread=False)
        db.execute("PRAGMA synchronous=FULL")
        return cls(db, gateway, public_url, **windows)

    def close(self):
        self.db.close()

    def order(self, order_no):
        """The order (a dict of orders.FIELDS), or None."""
        return self.orders.get(order_no)

    # -- the customer ----------------------------------------------------------------------
    def new_order(self, terminal, pump, preset, amount, cap_ml=None, grade=None,
                  token=None):
        """An order for `amount` on a pump, made at the gateway: returns the order (its
        pay_url: where the phone pays). PumpBusy: the pump holds another order;
        TokenUsed: the pump's `token` made an order already; GatewayError: the gateway
        refused or is down (the order stays created, and is called expired when its
        window closes)."""
        now = self.now()
        busy = self.orders.open_on(terminal, pump, now)
        if busy:
            raise PumpBusy("pump %s/%s is taken by another order: wait until it is done"
                           % (terminal, pump))
        order_no = new_order_no(now)
        pay_by = int(now) + self.pay_window_s
        self.orders.create(order_no, terminal, pump, preset, amount, pay_by, cap_ml, grade,
                           token=token)
        url = self.gateway.create_order(
            order_no, amount, "fuel at pump %s/%s" % (terminal, pump),
            self.public_url + "/pay/notify", self.public_url + "/paid/" + order_no,
            pay_by)
        self.orders.gave_url(order_no, url)
        return self.orders.get(order_no)

    # -- the gateway -----------------------------------------------------------------------
    def notify(self, headers, body):
        """A notification as received: verified (BadNotification; UnknownOrder), then
        applied. Returns (order_no, changed). OrderError: it contradicts the order."""
        facts = self.gateway.verify_notification(headers, body, self.now())
        order = self.orders.get(facts["order_no"])
        if order is None:
            raise UnknownOrder("a notification for order %s, which this station never made"
                               % facts["order_no"][:40])
        if facts["event"] == "paid":
            changed = self.orders.paid(order["order_no"], facts["amount"],
                                       facts["transaction_id"], self._use_by())
        else:
            changed = self.orders.refund_confirmed(order["order_no"], facts["amount"])
        return order["order_no"], changed

    def sync(self, order_no):
        """Ask the gateway about an order the station is unsure of (a created one past its
        window: paid after all, or closed). Returns the order."""
        order = self.orders.get(order_no)
        if order is None:
            raise OrderError("no order %s" % order_no)
        if order["state"] in ("created", "expired"):
            seen = self.gateway.query(order_no)
            if seen["state"] == "paid":
                self.orders.paid(order_no, seen["amount"], seen["transaction_id"],
                                 self._use_by())
            elif seen["state"] in ("closed", "unknown") and order["pay_by"] <= self.now():
                self.orders.expired(order_no)
        return self.orders.get(order_no)

    def _use_by(self):
        return int(self.now()) + self.use_window_s

    # -- the pump --------------------------------------------------------------------------
    def authorize(self, order_no):
        """The AUTHORIZE payload (protocol.py) that sends a paid order to its pump, the
        order marked sent (outstanding until the pump's REPLY: answered(), or its FINAL:
        delivered()). Any paid order, however it was paid: its nozzle (`pump`), its grade
        or any, capped at what was paid and at its litres, until its use window closes.
        OrderError: the order is not paid."""
        order = self.orders.get(order_no)
        if order is None:
            raise OrderError("no order %s" % order_no)
        self.orders.sent(order_no)
        payload = {"order": order_no, "nozzle": order["pump"], "amount": order["paid"],
                   "ml": order["cap_ml"] or 0, "expiry": order["use_by"]}
        if order["grade"]:
            payload["grade"] = order["grade"]
        return payload

    def authorizations(self, terminal):
        """authorize() of each order the terminal's pump is to be sent now (the link
        sends them with its heartbeat's answer: the pump is online)."""
        return [self.authorize(order["order_no"])
                for order in self.orders.to_send(terminal, self.now())]

    def answered(self, order_no, ok, why):
        """The pump's REPLY to AUTHORIZE: taken (authorised), or refused: for now (busy,
        closed, suspended...: sent again with a later heartbeat, within the use window)
        or for good (authorize.FINAL_WHY: expired, no such nozzle or grade...: nothing
        was sold, refunded in full). Returns the order."""
        if ok:
            self.orders.authorised(order_no)
            return self.orders.get(order_no)
        self.orders.refused(order_no, why or "refused")
        order = self.orders.get(order_no)
        if why in FINAL_WHY and order["state"] == "paid":
            self.orders.settle(order_no, 0)
            return self.collect(order_no)
        return order

    def authorised(self, order_no):
        """The pump took the order (its AUTHORIZE acknowledged)."""
        return self.orders.authorised(order_no)

    def delivered(self, order_no, amount):
        """The pump's FINAL of the order's sale (stored by the station; again after a
        restart or a duplicate: the same settle changes nothing): `amount` captured, the
        rest refunded; a lapse (nothing dispensed) refunds it all. An overrun past the
        cap is the station's loss: no more than was paid is captured. Returns the order."""
        order = self.orders.get(order_no)
        if order is None:
            raise OrderError("a FINAL for order %s, which this station never made"
                             % order_no[:40])
        return self.capture(order_no, min(amount, order["paid"] or 0))

    def capture(self, order_no, amount):
        """The pump dispensed `amount` (minor units) on the order: capture it and refund
        the rest, exactly once (the same call again changes nothing; another amount is
        refused: OrderError). Returns the order; whatever the gateway could not confirm
        yet is owed and collected by the sweep."""
        self.orders.settle(order_no, amount)
        return self.collect(order_no)

    def collect(self, order_no):
        """Make the capture and refund the order owes at the gateway (each idempotent
        there); a transient failure is recorded and left owed. A till order never goes
        to the gateway (its capture is the till's, its refund the change the cashier
        hands over: orders.py)."""
        order = self.orders.get(order_no)
        if order["source"] == "till" or self.gateway is None:
            return order  # a gateway's order without one (its settings removed): owed
        try:
            if order["capture"] and order["captured"] < order["capture"]:
                self.gateway.capture(order_no, order["capture"])
                self.orders.capture_confirmed(order_no)
            if order["refund"] and order["refunded"] < order["refund"]:
                try:
                    self.gateway.refund(order_no, refund_no(order_no), order["refund"])
                except GatewayError as e:
                    self.orders.refund_failed(order_no, str(e))
                    raise
                self.orders.refund_confirmed(order_no, order["refund"])
        except GatewayRetry:
            pass  # owed: the sweep tries again
        return self.orders.get(order_no)

    def final_of(self, order):
        """The amount of the order's FINAL the station holds from its pump, or None."""
        row = self.db.execute(
            "SELECT amount FROM sales WHERE terminal = ? AND kind = 'FINAL' AND "
            "json_extract(record, '$.order') = ? LIMIT 1",
            (order["terminal"], order["order_no"])).fetchone()
        return row[0] if row else None

    # -- time ------------------------------------------------------------------------------
    def sweep(self):
        """What time makes due: created orders past their pay window are asked about
        (paid after all, or expired); paid orders never sent to their pump in their use
        window are refunded in full; a paid or authorised order whose FINAL the station
        holds (it stopped before settling it) is settled; owed captures and refunds are
        tried again. Returns the orders it touched."""
        now = self.now()
        touched = []
        for order_no in self.orders.unpaid_past(now) if self.gateway else ():
            try:
                self.sync(order_no)
            except GatewayRetry:
                continue
            touched.append(order_no)
        for order_no in self.orders.unused_past(now):
            self.orders.settle(order_no, 0)
            touched.append(order_no)
        for order in self.orders.undecided():  # a FINAL stored, not settled: a restart
            amount = self.final_of(order)
            if amount is not None:
                self.orders.settle(order["order_no"], min(amount, order["paid"]))
                touched.append(order["order_no"])
        for order_no in self.orders.owed():
            try:
                self.collect(order_no)
            except GatewayError:
                continue  # refused for good: the order shows its last error
            touched.append(order_no)
        return touched
