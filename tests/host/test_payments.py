"""Phone payment's order ledger and service against the sandbox gateway's rules run in
process (bench/paysandbox.py's Sandbox behind the real adapter, its HTTP calls replaced by
direct ones): the state machine under random interleavings of payments, notifications
(duplicated, late, out of order), queries, captures, refunds that fail, a gateway that is
down, a station that crashes right after the gateway acted and restarts; and each refusal
(bad signature, unknown order, a second capture of another amount) changing nothing."""
import json
import shutil
import tempfile

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pumpside_host.bench.paysandbox import Sandbox, api, sign_headers
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.payments.gateway import (
    BadNotification,
    GatewayError,
    GatewayRetry,
    SandboxGateway,
)
from pumpside_host.station.payments.orders import OrderError
from pumpside_host.station.payments.service import Payments, PumpBusy, UnknownOrder

PAY_S, USE_S = 180, 600


class Crash(Exception):
    """The station died right after the gateway acted, before it wrote down the answer."""


class Clock:
    def __init__(self):
        self.t = 1_800_000_000.0

    def __call__(self):
        return self.t


class InProcess(SandboxGateway):
    """The sandbox adapter, its HTTP replaced by the sandbox's own dispatch."""

    def __init__(self, sandbox):
        super().__init__("http://sandbox", sandbox.public_key_path)
        self.sandbox = sandbox
        self.down = False
        self.crash_after = False

    def _send(self, method, path, body):
        if self.down:
            raise GatewayRetry("%s %s: connection refused" % (method, path))
        answer = api(self.sandbox, method, path, json.loads(json.dumps(body)))
        if self.crash_after and method == "POST":
            self.crash_after = False
            raise Crash()
        return answer


def notification(sandbox, clock, nid):
    body = sandbox.db.execute("SELECT body FROM notifications WHERE id = ?",
                              (nid,)).fetchone()[0]
    return sign_headers(sandbox.key, body, now=clock()), body


class Rig:
    def __init__(self, folder):
        self.folder = folder
        self.clock = Clock()
        self.sandbox = Sandbox(folder + "/sandbox.db", base_url="http://sandbox",
                               now=self.clock)
        self.gateway = InProcess(self.sandbox)
        self.ledger = None
        self.open()

    def open(self):
        self.ledger = Ledger(self.folder + "/station.db")
        self.payments = Payments.open(self.ledger.path, self.gateway, "http://station",
                                      pay_window_s=PAY_S, use_window_s=USE_S,
                                      now=self.clock)

    def restart(self):
        self.payments.close()
        self.ledger.close()
        self.open()

    def close(self):
        self.payments.close()
        self.ledger.close()

    def deliver(self, nid):
        headers, body = notification(self.sandbox, self.clock, nid)
        self.payments.notify(headers, body)
        self.sandbox.db.execute("UPDATE notifications SET acked = 1 WHERE id = ?", (nid,))


@pytest.fixture
def rig(tmp_path):
    rig = Rig(str(tmp_path))
    yield rig
    rig.close()


def pay(rig, amount=20000, pump=1):
    order = rig.payments.new_order("P1", pump, "amount", amount)
    rig.sandbox.pay(order["order_no"])
    (nid,) = [n["id"] for n in rig.sandbox.notifications()
              if n["out_trade_no"] == order["order_no"] and not n["acked"]]
    rig.deliver(nid)
    return order["order_no"]


def test_paid_captured_for_what_was_dispensed_and_the_rest_refunded(rig):
    no = pay(rig)
    assert rig.payments.orders.get(no)["state"] == "paid"
    rig.payments.authorised(no)
    order = rig.payments.capture(no, 7590)
    assert (order["state"], order["captured"], order["refunded"]) == ("captured", 7590,
                                                                      12410)
    seen = rig.sandbox.query(no)["amount"]
    assert (seen["captured"], seen["refunded"]) == (7590, 12410)
    assert rig.payments.capture(no, 7590)["captured"] == 7590  # again: nothing more
    with pytest.raises(OrderError, match="settled for 7590"):
        rig.payments.capture(no, 8000)
    assert rig.sandbox.query(no)["amount"]["captured"] == 7590


def test_a_forged_notification_is_refused_and_changes_nothing(rig):
    order = rig.payments.new_order("P1", 1, "amount", 5000)
    body = json.dumps({"event_type": "TRANSACTION.SUCCESS", "resource": {
        "out_trade_no": order["order_no"], "transaction_id": "x",
        "amount": {"total": 5000}}}).encode()
    from cryptography.hazmat.primitives.asymmetric import rsa

    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(BadNotification, match="signature"):
        rig.payments.notify(sign_headers(forger, body, now=rig.clock()), body)
    headers = sign_headers(rig.sandbox.key, body, now=rig.clock())
    with pytest.raises(BadNotification, match="signature"):  # signed, then altered
        rig.payments.notify(headers, body.replace(b"5000", b"5001"))
    with pytest.raises(BadNotification, match="no Wechatpay-Signature"):
        rig.payments.notify({k: v for k, v in headers.items() if "Signature" not in k}, body)
    old = sign_headers(rig.sandbox.key, body, now=rig.clock() - 3600)
    with pytest.raises(BadNotification, match="timestamp"):  # a replayed old one
        rig.payments.notify(old, body)
    assert rig.payments.orders.get(order["order_no"])["state"] == "created"


def test_a_notification_for_an_unknown_order_is_refused(rig):
    body = json.dumps({"event_type": "TRANSACTION.SUCCESS", "resource": {
        "out_trade_no": "PS0000000000NOSUCH", "amount": {"total": 100}}}).encode()
    with pytest.raises(UnknownOrder):
        rig.payments.notify(sign_headers(rig.sandbox.key, body, now=rig.clock()), body)
    assert rig.payments.orders.all() == []


def test_a_second_phone_is_refused_before_paying(rig):
    pay(rig)
    with pytest.raises(PumpBusy):
        rig.payments.new_order("P1", 1, "amount", 100)
    assert rig.payments.new_order("P1", 2, "amount", 100)["state"] == "created"


def test_a_paid_order_never_used_is_refunded_in_full_and_an_unpaid_one_expires(rig):
    used = pay(rig)
    unpaid = rig.payments.new_order("P1", 2, "amount", 3000)["order_no"]
    rig.clock.t += USE_S + 1
    rig.payments.sweep()
    order = rig.payments.orders.get(used)
    assert (order["state"], order["captured"], order["refunded"]) == ("refunded", 0, 20000)
    assert rig.payments.orders.get(unpaid)["state"] == "expired"
    with pytest.raises(Exception, match="closed"):
        rig.sandbox.pay(unpaid)


def test_a_refund_that_fails_is_retried_until_done(rig):
    rig.sandbox.refund_failures = 2
    no = pay(rig)
    order = rig.payments.capture(no, 1000)
    assert (order["captured"], order["refunded"], order["refund_tries"]) == (1000, 0, 1)
    assert "SYSTEM_ERROR" in order["last_error"]
    rig.payments.sweep()
    rig.restart()
    rig.payments.sweep()
    order = rig.payments.orders.get(no)
    assert (order["captured"], order["refunded"], order["refund_tries"]) == (1000, 19000, 2)
    assert rig.sandbox.query(no)["amount"]["refunded"] == 19000


def test_a_crash_after_the_gateway_refunded_refunds_once(rig):
    no = pay(rig)
    rig.payments.orders.settle(no, 500)
    for _call in ("capture", "refund"):  # each went through, the station died after it
        rig.gateway.crash_after = True
        with pytest.raises(Crash):
            rig.payments.collect(no)
        rig.restart()
    rig.payments.sweep()
    order = rig.payments.orders.get(no)
    assert (order["captured"], order["refunded"]) == (500, 19500)
    assert rig.sandbox.query(no)["amount"] == {"total": 20000, "captured": 500,
                                               "refunded": 19500}


class Orders(RuleBasedStateMachine):
    """Random interleavings; invariants: the station never confirms more than the gateway
    did, the gateway never takes more than was paid; in the end (gateway up, the pumps'
    final sales in, windows past) every paid order is captured + refunded == paid, each
    exactly once."""

    def __init__(self):
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="pay-props-")
        self.rig = Rig(self.folder)
        self.numbers = []

    def teardown(self):
        self.rig.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _pick(self, i, states=None):
        """The i-th (modulo) order made, or of those now in `states`."""
        numbers = self.numbers if states is None else [
            o["order_no"] for o in self.rig.payments.orders.all() if o["state"] in states]
        return numbers[i % len(numbers)] if numbers else None

    def _guard(self, call, *args):
        try:
            return call(*args)
        except Crash:
            self.rig.restart()
        except (OrderError, GatewayError, BadNotification):
            pass
        except Exception as e:  # the sandbox refusing a payer (a closed order)
            if type(e).__name__ != "Refused":
                raise

    @rule(pump=st.integers(1, 3), amount=st.integers(1, 50000))
    def new_order(self, pump, amount):
        order = self._guard(self.rig.payments.new_order, "P1", pump, "amount", amount)
        if order:
            self.numbers.append(order["order_no"])

    @rule(i=st.integers(0, 99))
    def payer_pays(self, i):
        if self._pick(i):
            self._guard(self.rig.sandbox.pay, self._pick(i))

    @rule(data=st.data())
    def notification_arrives(self, data):
        """Any notification ever sent, acknowledged or not: duplicates, late ones, out of
        order."""
        ids = [n["id"] for n in self.rig.sandbox.notifications()]
        if ids:
            self._guard(self.rig.deliver, data.draw(st.sampled_from(ids)))

    @rule(i=st.integers(0, 99))
    def authorised(self, i):
        if self._pick(i, ("paid",)):
            self._guard(self.rig.payments.authorised, self._pick(i, ("paid",)))

    @rule(i=st.integers(0, 99), share=st.integers(0, 100))
    def pump_final(self, i, share):
        no = self._pick(i, ("paid", "authorised")) if i % 4 else self._pick(i)
        order = no and self.rig.payments.orders.get(no)
        if order:
            used = (order["paid"] or order["amount"]) * share // 100
            self._guard(self.rig.payments.capture, no, used)

    @rule()
    def sweep(self):
        self._guard(self.rig.payments.sweep)

    @rule(i=st.integers(0, 99))
    def payer_pays_and_it_is_notified(self, i):
        """The common case: paid, and the notification arrives (once, in order)."""
        no = self._pick(i, ("created",))
        if no and self._guard(self.rig.sandbox.pay, no):
            for n in self.rig.sandbox.notifications():
                if n["out_trade_no"] == no and not n["acked"]:
                    self._guard(self.rig.deliver, n["id"])

    @rule(s=st.sampled_from([1, 10, 60, PAY_S, USE_S]))
    def time_passes(self, s):
        self.rig.clock.t += s

    @rule(failures=st.integers(0, 3))
    def refunds_fail(self, failures):
        self.rig.sandbox.refund_failures = failures

    @rule(down=st.booleans())
    def gateway_down(self, down):
        self.rig.gateway.down = down

    @rule()
    def crash_after_next_call(self):
        self.rig.gateway.crash_after = True

    @rule()
    def restart(self):
        self.rig.restart()

    @invariant()
    def never_more_than_the_gateway(self):
        for order in self.rig.payments.orders.all():
            seen = self.rig.sandbox.order(order["order_no"])
            if order["state"] in ("paid", "authorised", "captured", "refunded") \
                    and order["paid"] is not None:
                assert seen["state"] == "SUCCESS" and seen["total"] == order["paid"]
            if seen is None:
                assert order["captured"] == order["refunded"] == 0
                continue
            refunded = self.rig.sandbox.refunded(order["order_no"])
            assert order["captured"] <= seen["captured"]
            assert order["refunded"] <= refunded
            assert seen["captured"] + refunded <= seen["total"]
            if order["capture"] is not None:
                assert order["capture"] + order["refund"] == order["paid"]

    def teardown_check(self):
        rig = self.rig
        rig.gateway.down = False
        rig.gateway.crash_after = False
        rig.sandbox.refund_failures = 0
        for n in rig.sandbox.notifications():
            if not n["acked"]:
                self._guard(rig.deliver, n["id"])
        for order in rig.payments.orders.all():  # the pumps' final sales (or lapses)
            if order["state"] == "authorised":
                rig.payments.capture(order["order_no"], order["paid"] // 3)
        rig.clock.t += PAY_S + USE_S + 1
        rig.payments.sweep()
        rig.payments.sweep()
        for order in rig.payments.orders.all():
            seen = rig.sandbox.order(order["order_no"])
            if seen is None or seen["state"] != "SUCCESS":
                assert order["state"] == "expired"
                continue
            refunds = rig.sandbox.db.execute(
                "SELECT COUNT(*), SUM(amount) FROM refunds WHERE out_trade_no = ? AND "
                "done IS NOT NULL", (order["order_no"],)).fetchone()
            assert order["state"] in ("captured", "refunded")
            assert order["captured"] + order["refunded"] == order["paid"] == seen["total"]
            assert seen["captured"] == order["captured"]
            assert refunds[0] <= 1 and (refunds[1] or 0) == order["refunded"]


def test_orders_state_machine():
    class Checked(Orders):
        def teardown(self):
            try:
                self.teardown_check()
            finally:
                super().teardown()
    Checked.TestCase.settings = settings(max_examples=40, stateful_step_count=40)
    Checked.TestCase().runTest()
