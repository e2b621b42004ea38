"""The terminal's condition: whether a sale may start now, and the named changes that
decide it. Storage trouble closes it (`close`); the station suspends, resumes, stops,
locks and unlocks it (its own lock only) and vouches for its clock (link.py,
downloads.py); faults raise alarms, which the link reports at once (STATUS carries the
last one and a count).
"""
from . import dispenser, log, storage
from .compat import ticks_ms


class Terminal:
    def __init__(self, board, cfg, journal, core):
        self.board = board
        self.cfg = cfg
        self.journal = journal
        self.core = core
        self.closed = None  # why the pump closed itself (storage), or None
        self.suspended = False  # the station closed the pump to new sales
        self.alarms = 0  # alarms raised in this boot
        self.last_alarm = ""
        # a card sale dates the card's records and the journal: with a station to ask,
        # none until its time has come (attended sales and pumps without one go on)
        self._needs_clock = cfg.sale_mode == "card" and bool(cfg.station_addr)
        self._clock_ms = None  # ticks_ms of the last station time in bound (None: untrusted)

    def refusal(self):
        """Why no sale may start now (a prompt key), or None: the power, the offline
        limits and free flash (checked before a sale, so neither fills up), a lock."""
        journal = self.journal
        if self.closed:
            why = "closed"
        elif self.board.power_fail.asserted():
            why = "power"
        elif self.core.state == dispenser.LOCKED:
            why = "locked"
        elif self.suspended:
            why = "suspended"
        elif self._needs_clock and self._clock_ms is None:
            why = "clock"
        else:
            why = journal.refusal(self.cfg, self.board.clock.time(),
                                  storage.free_blocks(journal.root))
        if why:
            log.event("refused", {"why": why, "unsynced": journal.unsynced,
                                  "unsynced_amount": journal.unsynced_amount})
        return why

    def close(self, why):
        """Storage trouble: stop selling, keep every record, say why."""
        if self.closed is None:
            self.closed = why
            self.core.cancel(ticks_ms())  # no fuel that the journal cannot record
            log.event("closed", {"why": why})
            self.alarm("CLOSED")

    def alarm(self, what):
        """Something the station must hear of at once: a lock, a delivery ended by a
        pulser or valve fault or the power, storage trouble."""
        self.alarms += 1
        self.last_alarm = what
        log.event("alarm_raised", {"what": what, "n": self.alarms})

    # -- the station's commands ------------------------------------------------------
    def suspend(self):
        """Closed to new sales; a delivery in progress goes on."""
        self.suspended = True

    def resume(self):
        self.suspended = False

    def stop(self):
        """End the delivery in progress; it settles as usual."""
        self.core.cancel(ticks_ms(), dispenser.STOP_REMOTE)

    def lock(self):
        """Locked by the station until it unlocks it; only while idle. (ok, why)"""
        if self.core.state != dispenser.IDLE:
            return False, "busy: stop first"
        self.core.lock(dispenser.STOP_REMOTE)
        return True, ""

    def unlock(self):
        """The station may clear only its own lock (STOP_REMOTE); a safety lock (a valve
        that stuck, unauthorised flow, pulser faults) is a technician's: the service PIN
        at the pump clears it (keypad.py). (ok, why)"""
        reason = self.core.lock_reason
        if self.core.state == dispenser.LOCKED and reason != dispenser.STOP_REMOTE:
            return False, "safety lock %s: the service PIN at the pump clears it" % (
                dispenser.STOP_NAMES.get(reason, reason))
        self.core.clear_lock(ticks_ms())
        return True, ""

    def trust_clock(self, trusted):
        """True: the station's time agreed with the clock (or set it), so card sales may
        be dated; False: the clock is too far off to date them."""
        self._clock_ms = ticks_ms() if trusted else None

    def clock_trusted(self):
        return self._clock_ms is not None
