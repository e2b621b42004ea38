"""The fuelling point's IFSF state and alarms as the station hears them (STATUS)."""
from fakes import ATTENDED, pump_rig, remove_scratch, scratch_dir
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


class _Flowing:
    """The pump as the link reads it: its STATUS, set by the test."""

    def __init__(self, root):
        from pumpside import storage

        self.paths = storage.Paths(root)
        self.now = {"state": "Fuelling", "alarms": 0, "ml": 0, "amount": 0}

    def status(self):
        return dict(self.now)


class _Wire:
    """The link's session and writer in one: what it sent, in order."""

    def __init__(self):
        self.sent = []

    def encode(self, mtype, payload):
        self.sent.append(payload)
        return b""

    def write(self, data):
        pass

    async def drain(self):
        pass


def test_progress_goes_at_most_every_progress_ms_and_at_least_once_a_second():
    import asyncio
    import json

    from pumpside import config
    from pumpside.compat import ticks_add, ticks_diff
    from pumpside.link import PROGRESS_MS, STATUS_MIN_MS, Link

    poll = 100  # ms: the link's poll while it waits (_POLL_MS); time is the test's own
    pump = _Flowing(scratch_dir())
    values = dict(ATTENDED)
    values.update(station_addr="127.0.0.1:1", terminal_id="P1", terminal_key="11" * 32)
    cfg = config.parse(json.dumps(values))
    link = Link(None, cfg, None, pump)
    wire = _Wire()
    times = []
    clock = [ticks_add(ticks_ms(), STATUS_MIN_MS)]

    async def polls(n, change):
        for _ in range(n):
            change(pump.now)
            now = clock[0] = ticks_add(clock[0], poll)
            if link._status_due(now):
                times.append(now)
                await link._send_status(wire, wire, now)

    def flow(status):  # 12 L/min: 20 ml a poll
        status["ml"] += 20
        status["amount"] = status["ml"] * 759 // 1000

    def stays(status):
        pass

    asyncio.run(polls(100, flow))  # 10 s of flow
    sent = [s["ml"] for s in wire.sent]
    assert len(sent) == 100 * poll // PROGRESS_MS, sent  # not one per poll
    assert sent == sorted(sent) and len(set(sent)) == len(sent)
    gaps = [ticks_diff(b, a) for a, b in zip(times, times[1:])]
    assert min(gaps) >= PROGRESS_MS and max(gaps) <= 1000, gaps
    n = len(wire.sent)
    asyncio.run(polls(50, stays))  # the flow stops: its last volume once, then nothing
    assert [s["ml"] for s in wire.sent[n:]] == [2000]
    n = len(wire.sent)

    def ended(status):
        status["state"] = "Idle"

    asyncio.run(polls(1, ended))  # a state change goes at the next poll, with the figures
    asyncio.run(polls(50, stays))
    assert [(s["state"], s["ml"]) for s in wire.sent[n:]] == [("Idle", 2000)]
