"""End to end: firmware on the MicroPython unix port, sim board, bench hydraulics."""
import time
from decimal import ROUND_HALF_UP, Decimal

import pytest

from pumpside import meter
from pumpside_host.bench import Bench

from .helpers import fuelling as _fuelling
from .helpers import sale as _sale
from .helpers import saw as _saw
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e

CLOSE_DELAY_S = 0.03  # the bench's default valve closing time


def test_volume_preset_20_litres_at_40_lpm(make_pump):
    vp = make_pump()
    d = _sale(vp, "V2000E")
    truth = vp.bench.truth_ml()
    a, b = vp.bench.counts()
    assert d["stop"] == "CAP"
    assert d["pulses"] == a == b == 2000  # the firmware counted every pulse the bench made
    assert d["ml"] == meter.ml_for_pulses(a, 100000) == 20000
    assert 20000 <= truth <= 20010, truth
    assert d["amount"] == 15180 and d["overrun_ml"] == 0
    # two-stage valve: fast+slow, slow only for the last slow_lead_ml, then shut; motor last
    cmds = [c[1:] for c in vp.bench.valve_commands() if c[1] == "valves" or c[2]]
    opened = cmds.index(("valves", (True, True)))
    assert cmds[opened - 1] == ("motor", True)
    assert cmds[opened + 1:opened + 3] == [("valves", (False, True)), ("valves", (False, False))]
    slow = [e for e in vp.seen if e[0] == "stage" and e[1]["event"] == "slow"]
    # 100 ml lead at 100 pulses per litre: the first tick at or past pulse 1990 (a tick
    # late under load sees a pulse more; the overshoot test bounds that)
    assert slow and 1990 <= slow[0][1]["pulses"] <= 1995
    assert vp.bench.outputs() == (False, False, False)
    done = ["加油完毕 谢谢", "Sale complete, thank you", "20.00 L  151.80"]
    _wait(lambda: vp.bench.display[1:] == done, 2, "the done screen")


def test_amount_preset_where_rounding_matters(make_pump):
    vp = make_pump(price=1259)  # 1.259 per litre
    d = _sale(vp, "A500E")  # 5.00
    a, _ = vp.bench.counts()
    assert d["stop"] == "CAP" and d["pulses"] == a
    exact = Decimal(d["ml"]) / 1000 * Decimal("1.259")
    assert exact != exact.quantize(Decimal("0.01"))  # a sale where rounding decides a cent
    expected = int(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)
    assert d["amount"] == expected == 500
    _wait(lambda: vp.bench.display[3].endswith(" 5.00"), 2, "the amount on the display")


def test_fill_up_ends_on_nozzle_auto_shutoff(make_pump):
    vp = make_pump()
    vp.bench.tank(3000)  # 3 L of room left in the customer's tank
    vp.bench.press("F")
    vp.wait_event("authorized", where=None)
    vp.bench.lift()
    _wait(lambda: vp.bench.hyd.auto_shutoffs == 1, 15, "auto shut-off")
    time.sleep(0.3)
    vp.bench.hang_up()  # the customer hangs up once the nozzle clicked off
    d = vp.wait_event("delivery", 10)
    a, _ = vp.bench.counts()
    assert d["mode"] == "F" and d["stop"] == "NOZZLE"
    assert abs(vp.bench.truth_ml() - 3000) < 1e-6
    assert d["pulses"] == a == 300 and d["ml"] == 3000


def test_hang_up_ends_sale_early(make_pump):
    vp = make_pump()
    _fuelling(vp, "V2000E", 500, timeout=5)
    vp.bench.hang_up()
    d = vp.wait_event("delivery", 10)
    a, _ = vp.bench.counts()
    assert d["stop"] == "NOZZLE" and 500 < d["ml"] < 20000 and d["pulses"] == a


def test_no_flow_timeout(make_pump):
    vp = make_pump()
    vp.bench.press("V1000E")
    vp.wait_event("authorized")
    vp.bench.lift(trigger=False)  # nozzle out, nobody squeezes
    d = vp.wait_event("delivery", 10)
    assert d["stop"] == "NO_FLOW" and d["ml"] == 0 and d["fault"] is True
    assert vp.bench.outputs() == (False, False, False)


def test_no_pulse_timeout(make_pump):
    vp = make_pump()
    _fuelling(vp, "V2000E", 200, timeout=5)
    vp.bench.squeeze(False)  # flow stops, nozzle still lifted
    d = vp.wait_event("delivery", 10)
    # flow stopped after fuel was delivered: the sale ends, but no pulser fault
    assert d["stop"] == "NO_PULSE" and d["ml"] > 200 and d["fault"] is False
    assert d["pulses"] == vp.bench.counts()[0]


def test_creep_flow_with_valves_shut_alarms_and_locks(make_pump):
    vp = make_pump()
    vp.bench.creep(3.0)  # 3 L/min leaks past the shut valves
    vp.bench.lift()
    alarm = vp.wait_event("alarm", 10)
    assert alarm["what"] == "UNAUTHORIZED" and alarm["ml"] > 0
    vp.bench.hang_up()
    vp.bench.creep(0)
    assert _saw(vp, "state", state="LOCKED", lock="UNAUTHORIZED")
    vp.bench.press("V500E")  # a locked pump takes no preset
    time.sleep(0.5)
    assert not any(e[0] == "authorized" for e in vp.seen)
    assert "Pump locked - call service" in vp.bench.display
    vp.bench.press("S1111E")  # wrong technician PIN
    vp.wait_event("service_pin_refused", 3)
    vp.bench.press("S2468E")
    vp.wait_event("unlocked", 3)
    vp.wait_state("IDLE", 3)
    assert not any("2468" in line or "1111" in line for line in vp.lines)


def test_lost_pulser_channel_is_a_fault(make_pump):
    vp = make_pump()
    vp.bench.lose_channel("b")
    d = _sale(vp, "V2000E", 10)
    assert d["stop"] == "PULSER" and d["fault"] is True
    assert d["pulses"] <= 5 + 3  # stopped within the A/B tolerance (plus in-flight pulses)
    assert vp.bench.outputs() == (False, False, False)


def test_stuck_open_valve_detected(make_pump):
    vp = make_pump()
    vp.bench.stick_valve("fast")
    d = _sale(vp, "V500E", 15)
    assert d["stop"] == "VALVE_STUCK" and d["overrun_ml"] > 0
    assert d["pulses"] == vp.bench.counts()[0]
    assert _saw(vp, "state", state="LOCKED", lock="VALVE_STUCK")
    cmds = vp.bench.valve_commands()
    assert cmds[-1][1:] == ("motor", False)  # motor off is what stopped the fuel
    assert vp.bench.outputs()[2] is False


def test_truck_preset_at_120_lpm_stops_within_one_pulse_plus_valve_delay(make_pump):
    slow_lpm = 10.0
    vp = make_pump(bench=Bench(fast_lpm=120.0, slow_lpm=slow_lpm), slow_lead_ml=300,
                   max_fill_ml=400000)
    d = _sale(vp, "V1000E", 30)
    truth = vp.bench.truth_ml()
    one_pulse = 10.0
    during_delay = slow_lpm * 1000 / 60 * CLOSE_DELAY_S
    assert d["stop"] == "CAP" and d["pulses"] == vp.bench.counts()[0]
    assert 10000 <= truth <= 10000 + one_pulse + during_delay, truth


GOOD_CONFIG = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
               "service_pin": "2468"}


@pytest.mark.parametrize("config, named", [
    (dict(GOOD_CONFIG, k_factor=0), "k_factor"),
    (dict(GOOD_CONFIG, price=0), "price"),
    (dict(GOOD_CONFIG, slow_lead_ml=-1), "slow_lead_ml"),
    ({k: v for k, v in GOOD_CONFIG.items() if k != "price"}, "price: missing"),
    ('{"grade": "92", "price": 7590, "k_factor": ', "not valid JSON"),  # cut short
    (dict(GOOD_CONFIG, pay_base="https://st.example"), "pay_base: needs terminal_id"),
], ids=["k_factor_0", "price_0", "slow_lead_negative", "price_missing", "not_json",
        "pay_base_without_terminal"])
def test_bad_config_keeps_pump_closed_and_says_why(config, named):
    from pumpside_host.vboard import VirtualPump

    vp = VirtualPump()
    try:
        if isinstance(config, str):
            vp.write_config(raw=config)
        else:
            vp.write_config(config)
        vp.start(write_config=False)
        closed = vp.wait_event("closed", 10)
        assert named in closed["why"], closed
        _wait(lambda: vp.bench.display[:2] == ["暂停服务", "Pump closed"], 5, "closed screen")
        assert named in vp.bench.display[2]
        vp.bench.press("V500E")
        vp.bench.lift()
        time.sleep(0.5)
        assert not any(n == "authorized" for n, _ in vp.seen)
        assert all(c[2] in (False, (False, False)) for c in vp.bench.valve_commands())
        assert vp.bench.outputs() == (False, False, False)
        assert vp.bench.truth_ml() == 0 and vp.bench.counts() == (0, 0)
    finally:
        vp.stop()


def test_consecutive_pulser_faults_lock_until_a_technician_clears(make_pump):
    vp = make_pump(fault_lock_count=2)
    for _ in range(2):
        vp.bench.press("V1000E")
        vp.wait_event("authorized")
        vp.bench.lift(trigger=False)  # nozzle out, valves open, not one pulse
        d = vp.wait_event("delivery", 10)
        vp.bench.hang_up()
        assert d["stop"] == "NO_FLOW" and d["fault"] is True
    assert _saw(vp, "state", state="LOCKED", lock="NO_FLOW")
    vp.bench.press("S2468E")
    vp.wait_event("unlocked", 3)
    d = _sale(vp, "V100E", 10)
    assert d["stop"] == "CAP" and d["ml"] == 1000


def test_progress_comes_about_every_progress_ms_of_steady_flow(make_pump):
    """The steady progress rate, counted in metered fuel rather than timed: at the bench's
    steady fast flow, a report every progress_ms is flow x progress_ms of fuel apart. The
    firmware never reports sooner (its own clock gates it); a late tick under load makes
    one gap longer, so the median gap and the count per litre are what is asserted."""
    progress_ms = 250
    vp = make_pump(progress_ms=progress_ms)
    d = _sale(vp, "V300E")  # 3 L: 4.3 s of fast flow, then 100 ml slow
    assert d["stop"] == "CAP"
    fast_ml = 3000 - 100
    per_report = 40.0 * 1000 / 60 * progress_ms / 1000  # 40 L/min: 167 ml per report
    seen = [f["ml"] for n, f in vp.seen if n == "progress" and f["state"] == "FUELLING"]
    assert seen == sorted(seen), seen
    fast = [ml for ml in seen if 0 < ml < fast_ml]
    gaps = sorted(b - a for a, b in zip(fast, fast[1:]))
    median = gaps[len(gaps) // 2]
    assert 0.8 * per_report <= median <= 1.5 * per_report, (median, gaps)
    # about fast_ml / per_report reports (17): never more, and not far fewer
    expected = fast_ml / per_report
    assert 0.7 * expected <= len(fast) <= expected + 2, (len(fast), fast)
