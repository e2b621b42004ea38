"""The pump's keypad (keypad.py): the service PIN, the software id, the event counter."""
from fakes import press, pump_rig, remove_scratch, scratch_dir
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

    board, pump = pump_rig(events=events.open_log(scratch_dir() + "/events"))
    pump.events.append(1795000000, "t1", "k_factor", 100000, 99502)
    press(pump, "S2468E")  # idle: service mode, nothing to unlock
    lines = pump.screen(ticks_ms())
    assert lines[2] == "Service mode" and lines[3] == "events 1/%d" % events.CAPACITY
    pump.core.lock(dispenser.STOP_UNAUTHORIZED)
    press(pump, "S2468E")
    lines = pump.screen(ticks_ms())
    assert pump.core.state == dispenser.IDLE
    assert lines[2] == "Pump unlocked" and lines[3].startswith("events 2/")  # its record


def _records(pump):
    return [(r["who"], r["what"], r["old"], r["new"]) for r in pump.events.records()]


def test_the_station_clears_only_its_own_lock_the_service_pin_any_with_a_record():
    from pumpside import downloads, events, journal
    from pumpside import record as rec

    board, pump = pump_rig(events=events.open_log(scratch_dir() + "/events"))
    pump.core.lock(dispenser.STOP_VALVE_STUCK)
    ok, why = downloads.command(pump, "unlock")
    assert not ok and "VALVE_STUCK" in why and "service PIN" in why
    assert pump.core.state == dispenser.LOCKED
    assert pump.status()["state"] == "Inoperative"
    press(pump, "S2468E")
    assert pump.core.state == dispenser.IDLE
    assert _records(pump) == [("service-pin", "unlock", dispenser.STOP_VALVE_STUCK, None)]
    codes = [rec.unpack_event(p) for _s, t, p in pump.journal.read() if t == rec.EVENT]
    assert [(e["code"], e["a"]) for e in codes] == [(journal.EV_UNLOCK,
                                                      dispenser.STOP_VALVE_STUCK)]
    assert downloads.command(pump, "lock") == (True, "")  # the station's own lock
    assert pump.status()["state"] == "Closed"
    assert downloads.command(pump, "unlock") == (True, "")
    assert pump.core.state == dispenser.IDLE
    assert downloads.command(pump, "unlock") == (True, "")  # nothing locked: nothing to do
    assert len(_records(pump)) == 1


def test_wrong_service_pins_wait_longer_each_time_alarm_and_are_recorded():
    from pumpside import events, keypad

    board, pump = pump_rig(events=events.open_log(scratch_dir() + "/events"))
    pump.core.lock(dispenser.STOP_UNAUTHORIZED)
    now = ticks_ms()

    def keys(text, at):
        for k in text:
            pump.keypad.key(k, at)

    for _ in range(keypad.PIN_FREE_TRIES - 1):
        keys("S1111E", now)
        assert pump.screen(now)[2] == "Wrong PIN" and pump.terminal.alarms == 0
    assert pump.events.count == 0 and pump.keypad.wrong == 4
    keys("S9999E", now)  # the 5th: a wait, the alarm, a record
    assert pump.terminal.alarms == 1 and pump.status()["alarm"] == "SERVICE_PIN"
    assert _records(pump) == [("service-pin", "pin_wrong", None, 5)]
    keys("S", now + 1000)  # even the right PIN waits: S is refused
    lines = pump.screen(now + 1000)
    assert lines[2] == "Too many wrong PINs - wait" and lines[3] == "29 s", lines
    keys("2468E", now + 1000)
    assert pump.core.state == dispenser.LOCKED
    later = now + keypad.PIN_DELAY_S * 1000
    keys("S1111E", later)  # the 6th: twice the wait
    assert pump.terminal.alarms == 2 and pump.events.count == 2
    keys("S", later + keypad.PIN_DELAY_S * 1000)
    assert pump.screen(later + keypad.PIN_DELAY_S * 1000)[3] == "30 s"
    for lines in board.screens:
        assert "2468" not in " ".join(lines) and "1111" not in " ".join(lines)
    later += 2 * keypad.PIN_DELAY_S * 1000
    keys("S2468E", later)  # the wait is over: the right PIN unlocks and resets the count
    assert pump.core.state == dispenser.IDLE and pump.keypad.wrong == 0
    keys("S1111E", later)
    assert pump.terminal.alarms == 2  # counted from 1 again


def test_the_count_of_wrong_pins_survives_a_reboot_and_the_wait_starts_again():
    from pumpside import app, keypad

    board, pump = pump_rig()
    for _ in range(keypad.PIN_FREE_TRIES):
        press(pump, "S1111E")
    assert pump.keypad.wrong == 5 and pump.terminal.alarms == 1
    again = app.Pump(board, pump.cfg, pump.journal, pump.paths)  # the next boot
    assert again.keypad.wrong == 5
    press(again, "S")
    assert again.keypad.pin is None
    assert again.screen(ticks_ms())[2] == "Too many wrong PINs - wait"
    later = ticks_ms() + keypad.PIN_DELAY_S * 1000
    again.keypad.key("S", later)
    for k in "2468E":
        again.keypad.key(k, later)
    assert again.keypad.wrong == 0
    assert app.Pump(board, pump.cfg, pump.journal, pump.paths).keypad.wrong == 0
