"""The pump's keypad (keypad.py): the service PIN, the software id, the event counter."""
from fakes import event_log, press, pump_rig, remove_scratch
from pumpside import dispenser
from pumpside.compat import ticks_ms


def teardown_module():
    remove_scratch()


def test_service_pin_masked_and_checked():
    board, pump = pump_rig()
    pump.core.lock(dispenser.STOP_UNAUTHORIZED)
    press(pump, "S24")
    assert pump.screen(ticks_ms())[3] == "**"
    press(pump, "69E")
    assert pump.core.state == dispenser.LOCKED
    assert pump.screen(ticks_ms())[2] == "Wrong PIN"
    press(pump, "S2468E")
    assert pump.core.state == dispenser.IDLE
    for lines in board.screens:
        assert "2468" not in " ".join(lines)


def test_software_id_on_demand_and_never_over_a_delivery():
    from pumpside import manifest

    board, pump = pump_rig(software_id="0123456789abcdef")
    press(pump, "I")
    lines = pump.screen(ticks_ms())
    assert lines[2] == "Software version, id"
    assert lines[3] == manifest.VERSION + " 0123456789abcdef"
    press(pump, "V100E")
    press(pump, "I")
    assert pump.screen(ticks_ms())[2] == "Lift the nozzle"


def test_service_pin_shows_the_event_counter():
    from pumpside import events

    board, pump = pump_rig(events=event_log())
    pump.events.append(1795000000, "t1", "k_factor", 100000, 99502)
    press(pump, "S2468E")  # idle: service mode, nothing to unlock
    lines = pump.screen(ticks_ms())
    assert lines[2] == "Service mode" and lines[3] == "events 1/%d" % events.CAPACITY
    pump.core.lock(dispenser.STOP_UNAUTHORIZED)
    press(pump, "S2468E")
    lines = pump.screen(ticks_ms())
    assert pump.core.state == dispenser.IDLE
    assert lines[2] == "Pump unlocked" and lines[3].startswith("events 2/")  # its record

