"""The service PIN at the keypad: wrong PINs counted across reboots; from the 5th on a
wait that doubles, the SERVICE_PIN alarm and an event record; the right PIN resets."""
from fakes import event_log, event_rows, press, pump_rig, remove_scratch
from pumpside import dispenser
from pumpside.compat import ticks_ms


def teardown_module():
    remove_scratch()


def test_wrong_service_pins_wait_longer_each_time_alarm_and_are_recorded():
    from pumpside import keypad

    board, pump = pump_rig(events=event_log())
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
    assert event_rows(pump) == [("service-pin", "pin_wrong", None, 5)]
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
