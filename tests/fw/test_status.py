"""The fuelling point's IFSF state and alarms as the station hears them (STATUS)."""
import json

from _t import rmtree, tmpdir
from fakes import FakeBoard
from pumpside import app, config, dispenser, journal
from pumpside.ifsf import ifsf_state, status

_dirs = []


def _pump():
    board = FakeBoard()
    d = tmpdir()
    _dirs.append(d)
    jr = journal.Journal(d + "/journal")
    jr.open()
    cfg = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
           "service_pin": "2468"}
    return board, app.Pump(board, config.parse(json.dumps(cfg)), jr)


def teardown_module():
    for d in _dirs:
        rmtree(d)


def test_ifsf_states_from_the_firmware_states():
    board, pump = _pump()
    assert ifsf_state(pump) == "Idle"
    board.is_lifted = True
    assert ifsf_state(pump) == "Calling"  # a nozzle out before any sale
    board.is_lifted = False
    pump.core.authorize(dispenser.Authorization("92", 7590, volume_ml=1000), 0)
    assert ifsf_state(pump) == "Authorised"
    board.is_lifted = True
    assert ifsf_state(pump) == "Started"
    pump.core.state = dispenser.FUELLING
    assert status(pump)["state"] == "Fuelling"
    pump.core.state = dispenser.SETTLING
    assert ifsf_state(pump) == "Fuelling"
    pump.core.state = dispenser.IDLE
    board.is_lifted = False
    pump.suspended = True
    assert ifsf_state(pump) == "Closed"
    pump.suspended = False
    pump.core._lock(dispenser.STOP_REMOTE)
    assert ifsf_state(pump) == "Closed"  # locked by the station
    pump.core.clear_lock(0)
    pump.core._lock(dispenser.STOP_VALVE_STUCK)
    assert ifsf_state(pump) == "Inoperative"  # a safety lock
    pump.core.clear_lock(0)
    pump.close("flash")
    assert ifsf_state(pump) == "Inoperative"
    st = status(pump)
    assert st["alarm"] == "CLOSED" and st["alarms"] == 1


def test_an_alarm_counts_and_is_named_in_status():
    board, pump = _pump()
    assert status(pump)["alarms"] == 0 and status(pump)["alarm"] == ""
    pump.alarm("PULSER")
    pump.alarm("POWER")
    assert status(pump)["alarms"] == 2 and status(pump)["alarm"] == "POWER"
