"""DispenserCore fed by a small integer model of the hose (no valve delay)."""
import json

from _t import raises
from pumpside import config, dispenser, meter
from pumpside.compat import ticks_add
from pumpside.dispenser import Authorization, DispenserCore

CFG = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
       "service_pin": "2468", "no_flow_timeout_ms": 2000, "no_pulse_timeout_ms": 1000,
       "settle_ms": 200, "valve_grace_ms": 100, "noise_window_ms": 5000}
STEP = 5  # ms


def make(**over):
    cfg = dict(CFG)
    cfg.update(over)
    return DispenserCore(config.parse(json.dumps(cfg)))


class Hose:
    """Flow in ml/s per stage; pulses at k pulses/L x1000; volume kept in microlitres."""

    def __init__(self, core, fast=667, slow=83, now=1000):
        self.core = core
        self.fast = fast
        self.slow = slow
        self.ul = 0
        self.now = now
        self.lifted = False
        self.trigger = True
        self.b_lost_at = None
        self.creep = 0  # ml/s with valves shut
        self.stuck_fast = False
        self.fast_open = False
        self.stages = []  # (pulses, event)

    def pulses(self):
        return self.ul * self.core.cfg.k_factor // 1000000000

    def step(self):
        core = self.core
        a = self.pulses()
        b = a if self.b_lost_at is None else self.b_lost_at
        core.step(self.now, a, b, self.lifted)
        if core.stage_event:
            self.stages.append((a, core.stage_event))
        if core.fast:
            self.fast_open = True
        elif not self.stuck_fast:
            self.fast_open = False
        rate = 0
        if self.lifted and self.trigger:
            if core.motor and self.fast_open:
                rate = self.fast
            elif core.motor and core.slow:
                rate = self.slow
            elif not core.slow and not self.fast_open:
                rate = self.creep
        self.ul += rate * STEP  # ml/s x ms = ul
        self.now = ticks_add(self.now, STEP)

    def run(self, ms):
        for _ in range(ms // STEP):
            self.step()

    def until_delivery(self, limit_ms=600000):
        for _ in range(limit_ms // STEP):
            self.step()
            delivery = self.core.take_delivery()
            if delivery is not None:
                return delivery
        raise AssertionError("no delivery; state %s" % self.core.state)

    def fuel_for(self, ms, **preset):
        """Authorize a sale of 92 at 7590 with `preset`, lift the nozzle, pump for `ms`."""
        self.core.authorize(Authorization("92", 7590, **preset), self.now)
        self.lifted = True
        self.run(ms)

    def lifted_sale(self, **preset):
        """Authorize a sale of 92 at 7590 with `preset`, lift the nozzle, run to the end."""
        self.core.authorize(Authorization("92", 7590, **preset), self.now)
        self.lifted = True
        return self.until_delivery()


def test_volume_preset_stops_at_target_with_slow_stage():
    core = make()
    hose = Hose(core)
    core.authorize(Authorization("92", 7590, volume_ml=2000), hose.now)
    assert core.state == dispenser.AUTHORIZED
    hose.run(50)
    assert not core.fast and not core.slow  # not before the nozzle is lifted
    hose.lifted = True
    hose.step()
    assert core.fast and core.slow and core.motor
    delivery = hose.until_delivery()
    assert delivery.stop == dispenser.STOP_CAP
    assert delivery.pulses == 200 and delivery.ml == 2000
    assert delivery.amount == meter.amount_for_ml(2000, 7590) == 1518
    assert hose.stages == [(190, "slow"), (200, "close")]
    assert core.state == dispenser.IDLE and not core.motor


def test_amount_preset_never_charges_above_preset():
    core = make()
    hose = Hose(core)
    delivery = hose.lifted_sale(amount=5000)
    assert delivery.stop == dispenser.STOP_CAP
    assert delivery.amount == meter.amount_for_ml(delivery.ml, 7590) <= 5000
    assert delivery.pulses == meter.pulses_for_amount(5000, 7590, 100000)


def test_smaller_of_volume_and_amount_caps_wins():
    core = make()
    hose = Hose(core)
    delivery = hose.lifted_sale(volume_ml=3000, amount=1000)
    assert delivery.pulses == meter.pulses_for_amount(1000, 7590, 100000)


def test_fill_up_capped_by_max_fill():
    core = make(max_fill_ml=1000)
    hose = Hose(core)
    delivery = hose.lifted_sale()
    assert delivery.mode == "F" and delivery.stop == dispenser.STOP_CAP and delivery.ml == 1000


def test_hang_up_ends_sale_early():
    core = make()
    hose = Hose(core)
    hose.fuel_for(1500, volume_ml=20000)
    hose.lifted = False
    delivery = hose.until_delivery()
    assert delivery.stop == dispenser.STOP_NOZZLE
    assert 0 < delivery.ml < 20000 and delivery.pulses == hose.pulses()
    assert not delivery.fault and core.faults == 0


def test_progress_grows_then_holds_the_bill_until_the_next_authorisation():
    core = make()
    hose = Hose(core)
    assert core.progress(hose.pulses()) == (0, 0)  # nothing delivered since boot
    hose.fuel_for(1500, volume_ml=2000)
    during = core.progress(hose.pulses())
    hose.run(500)
    assert 0 < during[0] < core.progress(hose.pulses())[0]
    delivery = hose.until_delivery()
    hose.lifted = False
    hose.run(100)
    assert core.progress(hose.pulses()) == (delivery.ml, delivery.amount) == (2000, 1518)
    core.authorize(Authorization("92", 7590, volume_ml=1000), hose.now)
    assert core.progress(hose.pulses()) == (0, 0)  # the next one's


def test_no_flow_after_lift_is_a_pulser_fault():
    core = make()
    hose = Hose(core)
    hose.trigger = False
    delivery = hose.lifted_sale(volume_ml=2000)
    assert delivery.stop == dispenser.STOP_NO_FLOW and delivery.ml == 0 and delivery.fault
    assert core.faults == 1


def test_never_lifted_times_out_without_fault():
    core = make()
    hose = Hose(core)
    core.authorize(Authorization("92", 7590, volume_ml=2000), hose.now)
    delivery = hose.until_delivery()
    assert delivery.stop == dispenser.STOP_NO_FLOW and not delivery.fault and core.faults == 0


def test_no_pulse_timeout_while_fuelling():
    core = make()
    hose = Hose(core)
    hose.fuel_for(500, volume_ml=20000)
    hose.trigger = False  # customer lets go and walks away, nozzle still out
    delivery = hose.until_delivery()
    assert delivery.stop == dispenser.STOP_NO_PULSE and not delivery.fault and delivery.ml > 0
    assert core.faults == 0 and core.state == dispenser.IDLE


def test_auto_shutoff_then_a_slow_hang_up_is_no_pulser_fault():
    """Fill-ups whose nozzle clicks off and whose customer waits past no_pulse_timeout
    before hanging up end NO_PULSE; however many in a row, the pump never locks, and they
    neither count towards nor clear a run of real pulser faults."""
    core = make(fault_lock_count=6)
    hose = Hose(core)
    for _ in range(8):
        hose.trigger = True
        core.authorize(Authorization("92", 7590), hose.now)  # fill-up
        hose.lifted = True
        hose.run(300)
        hose.trigger = False  # the nozzle's auto shut-off; the customer is slow
        delivery = hose.until_delivery()
        hose.lifted = False
        hose.run(50)
        assert delivery.stop == dispenser.STOP_NO_PULSE and delivery.ml > 0 and not delivery.fault
        assert core.state == dispenser.IDLE and core.faults == 0
    hose.lifted = True
    hose.trigger = False
    for _ in range(2):  # two real faults: nozzle out, valves open, not one pulse
        core.authorize(Authorization("92", 7590, volume_ml=1000), hose.now)
        assert hose.until_delivery().stop == dispenser.STOP_NO_FLOW
    assert core.faults == 2
    hose.trigger = True
    core.authorize(Authorization("92", 7590, volume_ml=5000), hose.now)
    hose.run(300)
    hose.trigger = False
    assert hose.until_delivery().stop == dispenser.STOP_NO_PULSE
    assert core.faults == 2  # the run of faults stands


def test_lost_pulser_channel_is_a_fault():
    core = make()
    hose = Hose(core)
    hose.b_lost_at = 0
    delivery = hose.lifted_sale(volume_ml=20000)
    assert delivery.stop == dispenser.STOP_PULSER and delivery.fault
    assert delivery.pulses <= CFG.get("pulser_tolerance", 5) + 2


def test_consecutive_faults_lock_and_a_good_sale_resets():
    core = make(fault_lock_count=3)
    hose = Hose(core)
    hose.lifted = True
    for _ in range(2):
        hose.trigger = False
        core.authorize(Authorization("92", 7590, volume_ml=1000), hose.now)
        hose.until_delivery()
    assert core.faults == 2
    hose.trigger = True
    core.authorize(Authorization("92", 7590, volume_ml=100), hose.now)
    hose.until_delivery()
    assert core.faults == 0
    hose.trigger = False
    for _ in range(3):
        core.authorize(Authorization("92", 7590, volume_ml=1000), hose.now)
        hose.until_delivery()
    assert core.state == dispenser.LOCKED and core.lock_reason == dispenser.STOP_NO_FLOW
    raises(dispenser.AuthorizationError, core.authorize, Authorization("92", 7590, 1000),
           hose.now)
    core.clear_lock(hose.now)
    assert core.state == dispenser.IDLE and core.faults == 0


def test_creep_with_valves_shut_alarms_and_locks():
    core = make()
    hose = Hose(core)
    hose.run(100)
    hose.lifted = True
    hose.creep = 30  # 1.8 L/min past shut valves
    hose.run(3000)
    assert core.state == dispenser.LOCKED
    assert core.lock_reason == dispenser.STOP_UNAUTHORIZED
    assert core.unauthorized_ml > 0
    assert not (core.fast or core.slow or core.motor)


def test_stray_pulses_below_noise_threshold_are_ignored():
    core = make(noise_pulses=3, noise_window_ms=1000)
    hose = Hose(core)
    for _ in range(5):  # 3 stray pulses a window, five windows
        hose.ul += 3 * 10000
        hose.run(1000)
    assert core.state == dispenser.IDLE


def test_stuck_open_valve_detected_motor_stopped_and_locked():
    core = make()
    hose = Hose(core)
    hose.stuck_fast = True
    delivery = hose.lifted_sale(volume_ml=2000)
    assert delivery.stop == dispenser.STOP_VALVE_STUCK
    assert delivery.overrun_ml > 0 and core.overruns == 1
    assert core.state == dispenser.LOCKED and not core.motor


def test_cancel_while_waiting_and_while_fuelling():
    core = make()
    hose = Hose(core)
    core.authorize(Authorization("92", 7590, volume_ml=2000), hose.now)
    core.cancel(hose.now)
    delivery = hose.until_delivery()
    assert delivery.stop == dispenser.STOP_CANCEL and delivery.ml == 0
    hose.fuel_for(600, volume_ml=20000)
    core.cancel(hose.now)
    delivery = hose.until_delivery()
    assert delivery.stop == dispenser.STOP_CANCEL and 0 < delivery.ml < 20000


def test_busy_pump_refuses_a_second_authorization():
    core = make()
    core.authorize(Authorization("92", 7590, volume_ml=2000), 0)
    e = raises(dispenser.AuthorizationError, core.authorize,
               Authorization("92", 7590, volume_ml=2000), 0)
    assert "busy" in str(e)


def test_bad_authorizations_refused():
    raises(dispenser.AuthorizationError, Authorization, "92", 0, 1000)
    raises(dispenser.AuthorizationError, Authorization, "92", 7590, -5)
    core = make()
    e = raises(dispenser.AuthorizationError, core.authorize,
               Authorization("92", 7590, volume_ml=5), 0)
    assert "pulse" in str(e)


def test_timeouts_hold_across_the_tick_counter_wrap():
    core = make()
    hose = Hose(core, now=(1 << 30) - 700)  # wraps 0.7 s into the sale
    delivery = hose.lifted_sale(volume_ml=2000)
    assert delivery.stop == dispenser.STOP_CAP and delivery.ml == 2000


def test_power_warning_ends_the_sale_with_its_own_code():
    core = make()
    hose = Hose(core)
    hose.fuel_for(500, volume_ml=20000)
    core.power_fail(hose.now)
    assert not core.fast and not core.slow
    delivery = hose.until_delivery()
    assert delivery.stop == dispenser.STOP_POWER and delivery.pulses == hose.pulses() > 0


def test_near_stage_is_the_last_guard_ms_of_flow_before_a_slow_down_or_a_close():
    """At 667 ml/s (6.67 pulses per 100 ms) and a 100 ml slow lead, the 100 ms before the
    slow-down and before the close are near, and each stage's start until its flow shows;
    the rest is not."""
    core = make()
    hose = Hose(core)
    near = []  # pulses of the steps that were near a stage

    def watch():
        a = hose.pulses()
        if core.near_stage(a, hose.now, 100):
            near.append((core.pulses(a), core.fast))

    core.authorize(Authorization("92", 7590, volume_ml=2000), hose.now)
    hose.lifted = True
    for _ in range(4000):
        hose.step()
        watch()
        if core.take_delivery() is not None:
            break
    assert hose.stages == [(190, "slow"), (200, "close")]
    fast_near = [p for p, fast in near if fast and p]
    assert fast_near and min(fast_near) >= 190 - 8 and max(fast_near) == 190
    slow_near = [p for p, fast in near if not fast and p > 190]  # 83 ml/s: a pulse per 120 ms
    assert slow_near and min(slow_near) >= 198 and max(slow_near) == 200
    assert (0, True) in near and (190, False) in near  # no flow seen yet in the stage
    assert not core.near_stage(hose.pulses(), hose.now, 100)  # settled: no stage ahead
