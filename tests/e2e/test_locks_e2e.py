"""End to end: locks that only the right person may clear (issue 11), on the virtual pump
linked to a station. The station's unlock clears only the station's own lock; a safety
lock (here a valve that stuck open) survives a power cut and needs the service PIN at the
pump, which leaves an event record the station receives; wrong service PINs are counted
across reboots, and from the 5th the pump makes the next one wait and alarms the station.
"""
import pytest

from .helpers import linked_pump
from .helpers import sale as _sale
from .helpers import saw as _saw
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e

PIN = "2468"  # vboard's DEFAULT_CONFIG: a config already on a device keeps its 4 digits
WRONG = "135790"


def _state(ledger):
    return [p["state"] for p in ledger.pumps()]


def _reply(ledger, command_id):
    _wait(lambda: ledger.command_result(command_id) is not None, 15, "the REPLY")
    return ledger.command_result(command_id)


def _relinked(vp, n):
    _wait(lambda: len([1 for name, _f in vp.seen if name == "link_up"]) >= n, 15,
          "link %d" % n)


def test_only_the_service_pin_clears_a_safety_lock_and_wrong_pins_wait(make_pump, station):
    ledger, server = station
    vp = linked_pump(make_pump, ledger, server.port)
    vp.bench.stick_valve("fast")
    d = _sale(vp, "V500E", 15, hang_up=True)
    assert d["stop"] == "VALVE_STUCK"
    _wait(lambda: _state(ledger) == ["Inoperative"], 10, "the safety lock at the station")

    # the station's unlock is refused, with why, and the pump stays locked
    result = _reply(ledger, ledger.command("P1", "unlock"))
    assert not result["ok"], result
    assert "VALVE_STUCK" in result["why"] and "service PIN" in result["why"], result
    assert vp.bench.display[2] == "Pump locked - call service"
    assert _state(ledger) == ["Inoperative"]

    # a power cut does not clear it either
    vp.kill()
    vp.reboot()
    vp.wait_state("LOCKED", 10)
    _relinked(vp, 2)
    assert _saw(vp, "state", state="LOCKED", lock="VALVE_STUCK")
    assert not _reply(ledger, ledger.command("P1", "unlock"))["ok"]

    # the service PIN at the pump clears it, and the event log says who and which lock
    vp.bench.press("S" + PIN + "E")
    vp.wait_event("unlocked", 5)
    vp.wait_state("IDLE", 5)
    _wait(lambda: _state(ledger) == ["Idle"], 10, "the pump idle at the station")
    m = ledger.metrology
    _wait(lambda: [(e["who"], e["what"], e["old"]) for e in m.events("P1")] ==
          [("service-pin", "unlock", 7)], 15, "the unlock's event record at the station")

    # the station's own lock is the station's to clear
    assert _reply(ledger, ledger.command("P1", "lock")) == {"ok": True, "why": ""}
    _wait(lambda: _state(ledger) == ["Closed"], 10, "the station's lock")

    # 5 wrong service PINs: a wait, the SERVICE_PIN alarm, an event record
    for n in range(1, 6):
        vp.bench.press("S" + WRONG + "E")
        vp.wait_event("service_pin_refused", 5, lambda f, n=n: f["wrong"] == n)
    wait = vp.wait_event("service_pin_wait", 5)
    assert wait == {"wrong": 5, "wait_s": 30}
    _wait(lambda: ledger.pumps()[0]["alarm"] == "SERVICE_PIN", 10, "the alarm at the station")
    _wait(lambda: [(e["who"], e["what"], e["new"]) for e in m.events("P1")][1:] ==
          [("service-pin", "pin_wrong", 5)], 15, "the wrong PINs' event record")
    vp.bench.press("S")  # now even the right PIN has to wait
    _wait(lambda: vp.bench.display[2:3] == ["Too many wrong PINs - wait"], 5, "the wait")
    vp.bench.press(PIN + "E")
    assert not _saw(vp, "unlocked", lock="REMOTE")

    # the count and the wait survive a power cut
    vp.kill()
    vp.reboot()
    vp.wait_state("LOCKED", 10)
    _relinked(vp, 3)
    vp.bench.press("S")
    _wait(lambda: vp.bench.display[2:3] == ["Too many wrong PINs - wait"], 5,
          "the wait after the reboot")
    assert _reply(ledger, ledger.command("P1", "unlock")) == {"ok": True, "why": ""}
    vp.wait_state("IDLE", 10)
    assert PIN not in "\n".join(vp.lines) and WRONG not in "\n".join(vp.lines)
