"""A paid order between the station and the pump, the firmware's link (CPython) against the
reference station server on one event loop, the gateway the sandbox in process: the
station sends AUTHORIZE with a heartbeat's answer, the pump's REPLY makes the order
authorised, its FINAL captures what was dispensed and refunds the rest once (a duplicate
FINAL, the sweep after a restart: nothing twice); a lapse refunds in full; a refusal for
good refunds, one for now is sent again; a REPLY lost is answered again, not taken twice;
a paid order of a pump that never came online is refunded by the clock, one sent never."""
import asyncio
import logging

import pytest
from test_link import Rig
from test_payments import Clock, InProcess

from pumpside import dispenser
from pumpside.compat import ticks_ms
from pumpside_host.bench.paysandbox import Sandbox, sign_headers
from pumpside_host.station.payments.desk import _DESKS, attach_desk
from pumpside_host.station.payments.service import Payments
from pumpside_host.station.server import StationServer
from pumpside_host.station.service import Actor, Service

USE_S = 600


class PayRig(Rig):
    def __init__(self, tmp):
        super().__init__(tmp, card=False, settle_ms=20)
        self.clock = Clock()
        self.clock.t = float(int(__import__("time").time()))
        self.sandbox = Sandbox(str(tmp / "sandbox.db"), base_url="http://sandbox",
                               now=self.clock)
        self.payments = Payments.open(self.ledger.path, InProcess(self.sandbox),
                                      "http://station", use_window_s=USE_S, now=self.clock)
        attach_desk(self.ledger, self.payments)

    def paid(self, amount=20000, nozzle=1, cap_ml=None):
        order = self.payments.new_order("P1", nozzle, "amount", amount, cap_ml)
        self.sandbox.pay(order["order_no"])
        (nid,) = [n["id"] for n in self.sandbox.notifications()
                  if n["out_trade_no"] == order["order_no"] and not n["acked"]]
        body = self.sandbox.db.execute("SELECT body FROM notifications WHERE id = ?",
                                       (nid,)).fetchone()[0]
        self.payments.notify(sign_headers(self.sandbox.key, body, now=self.clock()), body)
        return order["order_no"]

    def order(self, order_no):
        return self.payments.order(order_no)

    async def fuel(self, pulses):
        """Lift the nozzle, count `pulses` (10 ml each), hang up; the sale settled."""
        board, pump = self.board, self.pump
        board.is_lifted = True
        pump.disp.tick()
        for a in range(0, pulses + 1, 5):
            board.a = board.b = a
            pump.disp.tick()
        board.is_lifted = False
        for _ in range(200):
            pump.disp.tick()
            if pump.journal.open_sale is None:
                return pump.journal.last
            await asyncio.sleep(0.005)
        raise AssertionError("the sale did not settle")


@pytest.fixture
def rig(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pumpside.station")
    rig = PayRig(tmp_path)
    yield rig
    _DESKS.pop(id(rig.ledger), None)
    rig.payments.close()
    rig.ledger.close()


def test_authorize_reaches_the_pump_and_its_final_captures_the_bill_once(rig):
    order_no = rig.paid(20000)

    async def script(rig):
        await rig.until(lambda: rig.order(order_no)["state"] == "authorised", "authorised")
        sale = rig.pump.journal.open_sale
        assert (sale["order"], sale["preset_amount"], sale["expiry"]) == (
            order_no, 20000, rig.order(order_no)["use_by"])
        assert rig.pump.core.state == dispenser.AUTHORIZED
        final = await rig.fuel(100)  # 1 L at 75.90 a litre
        assert (final["order"], final["amount"]) == (order_no, 759)
        await rig.until(lambda: rig.order(order_no)["refunded"] == 20000 - 759, "settled")
    rig.run(script)
    order = rig.order(order_no)
    assert (order["state"], order["captured"], order["refunded"], order["sent"]) == (
        "captured", 759, 19241, 0)
    seen = rig.sandbox.query(order_no)["amount"]
    assert (seen["captured"], seen["refunded"]) == (759, 19241)
    # the FINAL again (a duplicate upload), the sweep as after a restart: nothing twice
    assert rig.payments.delivered(order_no, 759)["captured"] == 759
    rig.payments.sweep()
    assert rig.sandbox.query(order_no)["amount"]["captured"] == 759
    (kind,) = rig.ledger.db.execute("SELECT pay FROM sales WHERE kind = 'FINAL'").fetchone()
    assert kind == "phone"  # the reports' payment kind
    assert [h["what"] for h in rig.payments.orders.history(order_no)] == [
        "created", "paid", "sent", "authorised", "captured", "capture confirmed",
        "refund confirmed"]


def test_nozzle_never_lifted_the_pump_lapses_it_and_the_station_refunds_in_full(rig):
    order_no = rig.paid(5000)
    rig.payments.orders.db.execute("UPDATE pay_orders SET use_by = ? WHERE order_no = ?",
                                   (int(rig.clock()) + 1, order_no))  # a 1 s use window

    async def script(rig):
        rig.board.now = int(rig.clock())
        await rig.until(lambda: rig.order(order_no)["state"] == "authorised", "authorised")
        start = ticks_ms()
        while rig.pump.journal.open_sale is not None:
            rig.pump.disp.tick()
            await asyncio.sleep(0.01)
            assert ticks_ms() - start < 5000, "no lapse"
        assert rig.pump.journal.last["stop"] == dispenser.STOP_LAPSED
        await rig.until(lambda: rig.order(order_no)["refunded"] == 5000, "refunded")
    rig.run(script)
    assert rig.order(order_no)["state"] == "refunded"


def test_a_refusal_for_good_refunds_one_for_now_is_sent_again(rig):
    other = rig.paid(3000, nozzle=2)  # this pump is nozzle 1: refused for good
    order_no = rig.paid(3000)

    async def script(rig):
        rig.pump.terminal.suspend()  # refused for now: sent again with a later beat
        await rig.until(lambda: rig.order(other)["state"] == "refunded", "nozzle 2 refused")
        await rig.until(lambda: rig.order(order_no)["last_error"] == "suspended", "suspended")
        assert rig.order(order_no)["state"] == "paid"
        rig.pump.terminal.resume()
        await rig.until(lambda: rig.order(order_no)["state"] == "authorised", "authorised")
    rig.run(script)
    assert rig.order(other)["refunded"] == 3000
    assert ("refused by the pump", "nozzle") in [
        (h["what"], h["detail"]) for h in rig.payments.orders.history(other)]


def test_a_reply_lost_is_answered_again_and_the_order_taken_once(rig, monkeypatch):
    order_no = rig.paid(3000)
    lost = []
    orig = StationServer._authorize_reply

    async def drop_first(self, conn, payload):
        if not lost:
            lost.append(payload)
            return  # the REPLY never arrived
        await orig(self, conn, payload)
    monkeypatch.setattr(StationServer, "_authorize_reply", drop_first)

    async def script(rig):
        await rig.until(lambda: rig.order(order_no)["state"] == "authorised", "authorised")
    rig.run(script)
    assert lost[0]["ok"] and rig.order(order_no)["sent"] == 0
    assert rig.pump.journal.open_sale["order"] == order_no and rig.pump.journal.sale_no == 1


def test_paid_for_a_pump_offline_is_refunded_by_the_clock_a_sent_one_never(rig):
    never = rig.paid(2000)
    sent = rig.paid(2000, nozzle=2)
    rig.payments.authorize(sent)  # went to its pump, no answer yet
    rig.clock.t += USE_S + 1
    rig.payments.sweep()
    assert rig.order(never)["state"] == "refunded" and rig.order(never)["refunded"] == 2000
    assert rig.order(sent)["state"] == "paid"  # the pump's journal decides
    assert rig.payments.authorizations("P1") == [{
        "order": sent, "nozzle": 2, "amount": 2000, "ml": 0,
        "expiry": rig.order(sent)["use_by"]}]  # sent again when the pump is back


async def _sell_an_order_never_made(rig):
    """A sale authorised at the pump by no order of this station's (a restored store, a
    forged station), fuelled and settled."""
    from pumpside import authorize

    rig.board.now = int(rig.clock())
    assert authorize.take(rig.pump, {"order": "PS2612010nosuch1", "nozzle": 1,
                                     "amount": 1000, "expiry": rig.board.now + 60}) \
        == (True, "")
    await rig.fuel(20)


def test_a_final_for_an_order_the_station_never_made_is_alarmed(rig):
    async def script(rig):
        # its FINAL is kept as a sale, the order alarmed, nothing paid
        await _sell_an_order_never_made(rig)
        await rig.until(lambda: rig.ledger.journals.alarms(), "the alarm")
    rig.run(script)
    (alarm,) = rig.ledger.journals.alarms()
    assert alarm["what"] == "paid order" and "never made" in alarm["why"]
    assert rig.payments.orders.all() == []
    assert len(rig.ledger.sales("P1")) == 1  # the sale itself is the pump's: kept


def test_the_paid_order_rule_switched_off_stores_no_alarm(rig, caplog):
    """paid_order is a rule of the alert engine (alerts.py): off, the FINAL of an order
    the station never made is kept and logged, and no alarm stored."""
    Service(rig.ledger).set_alert_rule(Actor.local("test"), "paid_order", False)

    async def script(rig):
        await _sell_an_order_never_made(rig)
        await rig.until(lambda: "PS2612010nosuch1, which this station never made"
                        in caplog.text, "the order refused")
    rig.run(script)
    assert rig.ledger.journals.alarms() == []
    assert len(rig.ledger.sales("P1")) == 1


def test_a_final_stored_before_a_restart_is_settled_by_the_sweep_once(rig):
    order_no = rig.paid(20000)
    rig.payments.authorize(order_no)
    rig.payments.answered(order_no, True, "")
    # the station stored the pump's FINAL and stopped before it settled the order
    final = {"seq": 3, "type": "FINAL", "sale": 1, "ml": 10000, "amount": 7590,
             "order": order_no, "nozzle": 1, "grade": "92", "time": int(rig.clock())}
    assert rig.ledger.store("P1", [final])[0] == [[3, "stored", ""]]
    assert rig.order(order_no)["state"] == "authorised"
    assert order_no in rig.payments.sweep()  # after the restart
    rig.payments.sweep()
    order = rig.order(order_no)
    assert (order["state"], order["captured"], order["refunded"]) == (
        "captured", 7590, 12410)
    assert rig.sandbox.query(order_no)["amount"]["captured"] == 7590
    assert rig.payments.delivered(order_no, 7590)["captured"] == 7590  # the FINAL again
