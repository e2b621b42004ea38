"""The fuelling point's IFSF state and alarms as the station hears them (STATUS)."""
import json

from _t import rmtree, tmpdir
from fakes import FakeBoard
from pumpside import app, config, dispenser, journal
from pumpside.compat import ticks_ms
from pumpside.ifsf import ifsf_state

_dirs = []


def _pump():
    board = FakeBoard()
    root = tmpdir()
    _dirs.append(root)
    sales_journal = journal.Journal(root + "/journal")
    sales_journal.open()
    cfg = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
           "service_pin": "2468"}
    return board, app.Pump(board, config.parse(json.dumps(cfg)), sales_journal)


def _state(pump):
    return ifsf_state(pump.snapshot(ticks_ms()), pump.board.nozzle.lifted)


def teardown_module():
    for root in _dirs:
        rmtree(root)


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
