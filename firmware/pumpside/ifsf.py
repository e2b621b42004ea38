"""The fuelling point's state in IFSF terms and the STATUS the link sends.

Firmware state -> IFSF (docs/protocol.md, STATUS):
  pump closed (storage), or locked by a safety rule     Inoperative
  locked by the station, or suspended while idle        Closed
  idle, nozzle in its holster, no card sale begun       Idle
  a card sale begun (card, PIN, preset, grey lock), or
  a nozzle lifted before any sale                       Calling
  authorised, nozzle in its holster                     Authorised
  authorised, nozzle lifted (no flow yet)               Started
  fuelling, or settling (valves shut, meter settling)   Fuelling
Suspended and SuspendedFuelling never occur: this pump does not pause a delivery (the
station's suspend closes it to new sales, stop ends the delivery).
"""
from .dispenser import AUTHORIZED, FUELLING, IDLE, LOCKED, SETTLING, STOP_NAMES, STOP_REMOTE


def ifsf_state(pump):
    """The fuelling point's state in IFSF terms (docs/protocol.md has the mapping).
    Suspended and SuspendedFuelling never occur: this pump does not pause a delivery (the
    station's suspend closes it to new sales, stop ends the delivery)."""
    core = pump.core
    state = core.state
    if pump.closed or (state == LOCKED and core.lock_reason != STOP_REMOTE):
        return "Inoperative"  # storage trouble, a safety lock: a technician's
    if state == LOCKED or (pump.suspended and state == IDLE):
        return "Closed"  # by the station (lock, suspend)
    if state == AUTHORIZED:
        return "Started" if pump.board.nozzle.lifted() else "Authorised"
    if state == FUELLING or state == SETTLING:
        return "Fuelling"
    begun = getattr(getattr(pump.desk, "sale", None), "state", 0)
    if 0 < begun < 5 or begun == 9:  # a card sale begun (CARD, PIN, PRESET, LOCKING,
        return "Calling"  # STAFF): not authorised yet
    if begun == 0 and pump.board.nozzle.lifted():
        return "Calling"  # a nozzle lifted before any sale
    return "Idle"


def status(pump):
    """STATUS: the IFSF state, live progress, the last alarm and the alarm count."""
    core = pump.core
    ifsf = ifsf_state(pump)
    ml, amount = (core.progress(pump.disp.last_count) if ifsf == "Fuelling" else (0, 0))
    return {"state": ifsf, "nozzle": pump.cfg.nozzle, "grade": pump.cfg.grade,
            "price": pump.cfg.price, "ml": ml, "amount": amount,
            "alarm": STOP_NAMES.get(core.lock_reason, "") if core.state == LOCKED
            else pump.last_alarm, "alarms": pump.alarms}
