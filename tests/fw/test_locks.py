"""Locks and the service PIN: the station clears only its own lock, the service PIN any
(with an event record); wrong PINs counted across reboots, waits, alarms, records."""
from fakes import event_log, event_rows, press, pump_rig, remove_scratch
from pumpside import dispenser


def teardown_module():
    remove_scratch()


def test_the_station_clears_only_its_own_lock_the_service_pin_any_with_a_record():
    from pumpside import journal
    from pumpside import record as rec

    board, pump = pump_rig(events=event_log())
    pump.core.lock(dispenser.STOP_VALVE_STUCK)
    ok, why = pump.terminal.unlock()
    assert not ok and "VALVE_STUCK" in why and "service PIN" in why
    assert pump.core.state == dispenser.LOCKED
    assert pump.status()["state"] == "Inoperative"
    press(pump, "S2468E")
    assert pump.core.state == dispenser.IDLE
    assert event_rows(pump) == [("service-pin", "unlock", dispenser.STOP_VALVE_STUCK, None)]
    codes = [rec.unpack_event(p) for _s, t, p in pump.journal.read() if t == rec.EVENT]
    assert [(e["code"], e["a"]) for e in codes] == [(journal.EV_UNLOCK,
                                                      dispenser.STOP_VALVE_STUCK)]
    assert pump.terminal.lock() == (True, "")  # the station's own lock
    assert pump.status()["state"] == "Closed"
    assert pump.terminal.unlock() == (True, "")
    assert pump.core.state == dispenser.IDLE
    assert pump.terminal.unlock() == (True, "")  # nothing locked: nothing to do
    assert len(event_rows(pump)) == 1



def test_a_lock_outlives_a_reboot_until_who_may_clear_it_clears_it():
    from pumpside import app

    board, pump = pump_rig()
    board.a = board.b = 50  # fuel past the shut valves: unauthorised flow locks the pump
    pump.disp.tick()
    board.a = board.b = 100
    pump.disp.tick()
    assert pump.core.lock_reason == dispenser.STOP_UNAUTHORIZED
    again = app.Pump(board, pump.cfg, pump.journal, pump.paths)  # power cut, next boot
    assert again.core.state == dispenser.LOCKED
    assert again.core.lock_reason == dispenser.STOP_UNAUTHORIZED
    assert not again.terminal.unlock()[0]
    press(again, "S2468E")
    again.disp.tick()
    assert again.core.state == dispenser.IDLE
    third = app.Pump(board, pump.cfg, pump.journal, pump.paths)
    assert third.core.state == dispenser.IDLE
