"""The station's authorisation of a paid order's sale at the pump (authorize.py): journaled
before "lift the nozzle", preset to the caps, the FINAL carrying the order; a lapse at the
expiry, a power cut's recovered FINAL, and every refusal with its reason."""
from _t import sleep_ms
from fakes import pump_rig, remove_scratch
from pumpside import authorize, dispenser
from pumpside import record as rec
from pumpside.compat import ticks_diff, ticks_ms
from pumpside.journal import Journal

T = 1_700_000_000
ORDER = "PS0tlpq3ka-3_Zx9"  # 16 characters, as the station makes them


def teardown_module():
    remove_scratch()


def _rig(**config):
    board, pump = pump_rig(**config)
    board.now = T
    return board, pump


def _order(**over):
    payload = {"order": ORDER, "nozzle": 1, "grade": "92", "amount": 20000, "ml": 0,
               "expiry": T + 600}
    payload.update(over)
    return payload


def _settle(board, pump):
    for _ in range(300):
        pump.disp.tick()
        if pump.journal.open_sale is None:
            return pump.journal.last
        sleep_ms(2)
    raise AssertionError("the sale did not settle")


def test_the_order_is_journaled_before_lift_the_nozzle_and_its_final_carries_it():
    board, pump = _rig(settle_ms=20)
    assert authorize.take(pump, _order(amount=759)) == (True, "")  # 1 L at 7.59
    sale = pump.journal.open_sale
    assert (sale["order"], sale["expiry"], sale["preset_amount"], sale["mode"]) == (
        ORDER, T + 600, 759, "A")
    reread = Journal(pump.journal.root)
    reread.open()
    assert reread.open_sale["order"] == ORDER  # the AUTHORIZED record on the flash
    assert pump.core.state == dispenser.AUTHORIZED
    assert board.screens[-1][2] == "Lift the nozzle"
    board.is_lifted = True
    pump.disp.tick()
    for a in range(0, 101, 5):  # the cap: 100 pulses, 1 L
        board.a = board.b = a
        pump.disp.tick()
    board.is_lifted = False
    final = _settle(board, pump)
    assert (final["order"], final["ml"], final["amount"]) == (ORDER, 1000, 759)
    assert final["stop"] == dispenser.STOP_CAP
    # on the wire (RECORDS: the journal's bytes) the FINAL names the order
    wire = [bytes(data) for _seq, rtype, data in pump.journal.read(0, True)
            if rtype == rec.FINAL]
    sent = rec.from_wire(wire[-1])[0]
    assert (sent["type"], sent["order"], sent["amount"]) == ("FINAL", ORDER, 759)


def test_the_same_order_again_is_answered_ok_and_not_taken_twice():
    board, pump = _rig(settle_ms=20)
    assert authorize.take(pump, _order()) == (True, "")
    seq = pump.journal.next_seq
    assert authorize.take(pump, _order()) == (True, "taken")  # its REPLY was lost
    pump.core.cancel(ticks_ms())
    _settle(board, pump)
    assert authorize.take(pump, _order()) == (True, "settled")
    assert pump.journal.open_sale is None and pump.journal.next_seq == seq + 1  # one FINAL


def test_nozzle_never_lifted_before_the_expiry_lapses_with_a_final_of_nothing():
    board, pump = _rig(settle_ms=20)
    assert authorize.take(pump, _order(expiry=T + 1)) == (True, "")
    start = ticks_ms()
    while pump.journal.open_sale is not None and ticks_diff(ticks_ms(), start) < 3000:
        pump.disp.tick()
        sleep_ms(5)
    final = pump.journal.last
    assert (final["order"], final["ml"], final["amount"], final["stop"]) == (
        ORDER, 0, 0, dispenser.STOP_LAPSED)
    assert pump.core.faults == 0  # a lapse is no pulser fault


def test_a_power_cut_before_final_is_settled_at_boot_with_the_order():
    board, pump = _rig(checkpoint_ml=100, settle_ms=20)
    assert authorize.take(pump, _order()) == (True, "")
    board.is_lifted = True
    pump.disp.tick()
    for a in range(0, 55, 5):
        board.a = board.b = a
        pump.disp.tick()
    # the power goes: the next boot opens the journal and recovers the sale
    after = Journal(pump.journal.root)
    after.open()
    bill = after.recover(T + 5)
    assert bill["order"] == ORDER and bill["flags"] & rec.F_RECOVERED and bill["ml"] > 0
    assert after.last["order"] == ORDER


def test_refusals_say_why_and_journal_nothing():
    board, pump = _rig()
    seq = pump.journal.next_seq
    assert authorize.take(pump, _order(expiry=T)) == (False, "expired")
    assert authorize.take(pump, _order(nozzle=2)) == (False, "nozzle")
    assert authorize.take(pump, _order(grade="95")) == (False, "grade")
    assert authorize.take(pump, _order(order="PS 1")) == (False, "order")
    assert authorize.take(pump, _order(order="P" * 21)) == (False, "order")
    pump.terminal.suspend()
    assert authorize.take(pump, _order()) == (False, "suspended")
    pump.terminal.resume()
    assert authorize.take(pump, _order(amount=1)) == (False, "refused")  # below a pulse
    assert pump.journal.open_sale is None and pump.journal.next_seq == seq
    assert authorize.take(pump, _order(grade=None)) == (True, "")  # any grade
    assert authorize.take(pump, _order(order="PS2")) == (False, "busy")  # one at a time


def test_the_card_desk_holding_a_customer_refuses_it():
    board, pump = _rig()
    pump.desk = type("Desk", (), {"sale": type("Sale", (), {"state": 2})()})()
    assert authorize.take(pump, _order()) == (False, "busy")
