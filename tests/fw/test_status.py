"""The fuelling point's IFSF state and alarms as the station hears them (STATUS)."""
from fakes import pump_rig, remove_scratch
from pumpside import dispenser
from pumpside.compat import ticks_ms
from pumpside.ifsf import ifsf_state


def _pump():
    return pump_rig(sale_mode="card")  # a card pump: no attended presets


def _state(pump):
    return ifsf_state(pump.snapshot(ticks_ms()), pump.board.nozzle.lifted)


def teardown_module():
    remove_scratch()


def test_ifsf_states_from_the_firmware_states():
    board, pump = _pump()
    assert _state(pump) == "Idle"
    board.is_lifted = True
    assert _state(pump) == "Calling"  # a nozzle out before any sale
    board.is_lifted = False
    pump.core.authorize(dispenser.Authorization("92", 7590, volume_ml=1000), 0)
    assert _state(pump) == "Authorised"
    board.is_lifted = True
    assert _state(pump) == "Started"
    pump.core.state = dispenser.FUELLING
    assert pump.status()["state"] == "Fuelling"
    pump.core.state = dispenser.SETTLING
    assert _state(pump) == "Fuelling"
    pump.core.state = dispenser.IDLE
    board.is_lifted = False
    pump.terminal.suspend()
    assert _state(pump) == "Closed"
    pump.terminal.resume()
    pump.core.lock(dispenser.STOP_REMOTE)
    assert _state(pump) == "Closed"  # locked by the station
    pump.core.clear_lock(0)
    pump.core.lock(dispenser.STOP_VALVE_STUCK)
    assert _state(pump) == "Inoperative"  # a safety lock
    pump.core.clear_lock(0)
    pump.terminal.close("flash")
    assert _state(pump) == "Inoperative"
    st = pump.status()
    assert st["alarm"] == "CLOSED" and st["alarms"] == 1


def test_an_alarm_counts_and_is_named_in_status():
    board, pump = _pump()
    assert pump.status()["alarms"] == 0 and pump.status()["alarm"] == ""
    pump.terminal.alarm("PULSER")
    pump.terminal.alarm("POWER")
    assert pump.status()["alarms"] == 2 and pump.status()["alarm"] == "POWER"


def test_locked_the_alarm_is_the_locks_reason_until_a_later_one_is_raised():
    board, pump = _pump()
    pump.core.lock(dispenser.STOP_VALVE_STUCK)
    pump.terminal.alarm("LOCKED VALVE_STUCK")  # as app.py raises it
    assert pump.status()["alarm"] == "VALVE_STUCK"
    pump.terminal.alarm("SERVICE_PIN")  # wrong service PINs on the locked pump
    assert pump.status()["alarm"] == "SERVICE_PIN" and pump.status()["alarms"] == 2
