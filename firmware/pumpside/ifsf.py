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

_CALLING = (1, 2, 3, 4, 9)  # the card sale's CARD, PIN, PRESET, LOCKING, STAFF (sale.py)


def ifsf_state(view, lifted):
    """The fuelling point's state in IFSF terms from a snapshot (app.Pump.snapshot);
    `lifted()` asks the nozzle switch, only where the state depends on it."""
    state = view["state"]
    if view["closed"] or (state == LOCKED and view["lock_reason"] != STOP_REMOTE):
        return "Inoperative"  # storage trouble, a safety lock: a technician's
    if state == LOCKED or (view["suspended"] and state == IDLE):
        return "Closed"  # by the station (lock, suspend)
    if state == AUTHORIZED:
        return "Started" if lifted() else "Authorised"
    if state == FUELLING or state == SETTLING:
        return "Fuelling"
    stage = view["card_stage"]
    if stage in _CALLING:
        return "Calling"  # a card sale begun, not authorised yet
    if stage == 0 and lifted():
        return "Calling"  # a nozzle lifted before any sale
    return "Idle"


def status(view, lifted):
    """STATUS: the IFSF state; the volume and amount of the delivery in progress, or, in
    any other state, of the last one until the next authorisation (the station shows a
    delivery's final figures after it); the last alarm and the alarm count. While locked
    the alarm is the lock's reason, unless a later one was raised (a service PIN tried
    too often on a locked pump: the station must hear of that one)."""
    alarm = view["last_alarm"]
    if view["state"] == LOCKED and alarm[:7] in ("", "LOCKED "):  # app.py: "LOCKED <why>"
        alarm = STOP_NAMES.get(view["lock_reason"], "")
    return {"state": ifsf_state(view, lifted), "nozzle": view["nozzle"],
            "grade": view["grade"], "price": view["price"], "ml": view["ml"],
            "amount": view["amount"], "alarm": alarm, "alarms": view["alarms"]}
