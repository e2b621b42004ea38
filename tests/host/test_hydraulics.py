"""The bench's hose model: exact integration, delays, auto shut-off and faults."""
import pytest

from pumpside_host.bench import Hydraulics


def _open(h, t=0.0):
    h.set_nozzle(t, lifted=True, trigger=True)
    h.set_motor(t, True)
    h.set_valves(t, True, True)


def test_flow_starts_after_the_valve_delay_and_integrates_exactly():
    h = Hydraulics(0.0, fast_lpm=60.0, open_delay_s=0.05)
    _open(h)
    h.advance(0.05)
    assert h.truth_ml == 0
    h.advance(1.05)
    assert h.truth_ml == pytest.approx(1000.0)  # 60 L/min = 1 L/s
    assert h.counts() == (100, 100)


def test_slow_stage_and_close_delay():
    h = Hydraulics(0.0, fast_lpm=60.0, slow_lpm=6.0, open_delay_s=0.0, close_delay_s=0.1)
    _open(h)
    h.set_valves(1.0, False, True)  # fast closes at 1.1 s
    h.set_valves(2.0, False, False)  # slow closes at 2.1 s
    h.advance(5.0)
    assert h.truth_ml == pytest.approx(1100.0 + 100.0)


def test_auto_shutoff_when_tank_full():
    h = Hydraulics(0.0, fast_lpm=60.0, open_delay_s=0.0)
    h.set_tank(0.0, 500)
    _open(h)
    h.advance(3.0)
    assert h.truth_ml == pytest.approx(500.0)
    assert h.auto_shutoffs == 1 and not h.trigger and h.lifted
    assert h.events[0][0] == pytest.approx(0.5)


def test_lost_channel_freezes_and_stuck_valve_ignores_close():
    h = Hydraulics(0.0, fast_lpm=60.0, open_delay_s=0.0, close_delay_s=0.0)
    h.stuck.add("fast")
    _open(h)
    h.lose_channel(0.5, "b")
    h.set_valves(1.0, False, False)
    h.advance(2.0)
    a, b = h.counts()
    assert a == 200 and b == 50
    h.set_motor(2.0, False)
    h.advance(3.0)
    assert h.counts()[0] == 200


def test_creep_needs_shut_valves_and_an_open_nozzle():
    h = Hydraulics(0.0)
    h.creep_lpm = 6.0
    h.advance(1.0)
    assert h.truth_ml == 0
    h.set_nozzle(1.0, lifted=True, trigger=True)
    h.advance(2.0)
    assert h.truth_ml == pytest.approx(100.0)


def test_commands_are_recorded_with_time():
    h = Hydraulics(0.0)
    h.set_motor(0.25, True)
    h.set_valves(0.5, True, False)
    assert h.commands == [(0.25, "motor", True), (0.5, "valves", (True, False))]


def test_repeated_close_does_not_restart_the_valve_travel():
    h = Hydraulics(0.0, fast_lpm=60.0, slow_lpm=6.0, open_delay_s=0.0, close_delay_s=0.1)
    _open(h)
    h.set_valves(1.0, False, True)  # fast starts closing, shut at 1.1 s
    h.set_valves(1.05, False, False)  # fast keeps its schedule; slow shuts at 1.15 s
    h.advance(5.0)
    assert h.truth_ml == pytest.approx(1100.0 + 0.05 * 100.0)


def test_reopening_a_closing_valve_cancels_the_close():
    h = Hydraulics(0.0, fast_lpm=60.0, open_delay_s=0.0, close_delay_s=0.1)
    _open(h)
    h.set_valves(1.0, False, True)
    h.set_valves(1.05, True, True)
    h.advance(2.0)
    assert h.valve["fast"] and h.truth_ml == pytest.approx(2000.0)
