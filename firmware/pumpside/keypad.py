"""The pump's keypad: the service PIN (S, or any key on a locked pump), the last sale
shown again (R, metrology), the software id (I); every other key goes to the card desk
(PIN, preset, cancel) or, without one, to the attended presets; C stops a delivery.

The service PIN clears any lock, a safety lock too (the station's unlock clears only its
own, terminal.py), and leaves an event record of it (who "service-pin", what "unlock",
old the lock's stop code). Wrong PINs in a row are counted on the flash (a reboot keeps
the count): from the PIN_FREE_TRIES-th on, each one raises the SERVICE_PIN alarm, leaves
an event record (what "pin_wrong", new the count) and refuses PIN entry for a wait that
doubles with each (PIN_DELAY_S, 2 x, 4 x, ... up to 2**PIN_DOUBLINGS x); a reboot starts
the wait again in full. The right PIN resets the count. The PIN itself is never shown,
logged, recorded or kept anywhere but config.json.
"""
from . import config, dispenser, journal, log, manifest, storage
from .compat import sleep_ms, ticks_add, ticks_diff, ticks_ms

PIN_DIGITS = 8
POLL_MS = 50
PIN_FREE_TRIES = 5  # wrong PINs before each further one waits
PIN_DELAY_S = 30  # the first wait; doubled by each wrong PIN after it
PIN_DOUBLINGS = 9  # the longest wait: 30 s x 512, about 4 h 16 min
WHO = "service-pin"  # the event log's `who` of what the keypad's service PIN does


class Keypad:
    def __init__(self, pump):
        self.pump = pump
        self.pin = None  # the service PIN being keyed, or None
        wrong = storage.read_json(pump.paths.pin_tries)
        self.wrong = wrong if isinstance(wrong, int) and wrong > 0 else 0  # in a row
        self._wait_until = None  # ticks_ms until which PIN entry is refused, or None
        if self.wrong >= PIN_FREE_TRIES:
            self._wait(ticks_ms())

    def key(self, key, now):
        pump = self.pump
        state = pump.core.state
        pump.note(None, now)
        if pump.terminal.closed:
            return
        pin = self.pin
        presets = pump.presets  # None on a card pump
        if pin is not None:  # the service PIN: digits, C clears, E checks it
            if key == "C":
                self.pin = None
            elif "0" <= key <= "9" and len(pin) < PIN_DIGITS:
                self.pin = pin + key
            elif key == "E":
                self.pin = None
                self._service(pin, now)
        elif presets is not None and presets.entry is not None:
            presets.key(key, now)
        elif key == "R" and pump.last is not None:
            pump.recall(now)
        elif key == "I" and state in (dispenser.IDLE, dispenser.LOCKED):
            # software identification on demand; never over a delivery's figures
            pump.note("software_id", now, manifest.VERSION + " " + pump.software_id)
        elif state == dispenser.LOCKED or (key == "S" and state == dispenser.IDLE
                                           and pump.desk is None):
            wait = self._wait_until
            if key == "S" and wait is not None and ticks_diff(wait, now) > 0:
                pump.note("pin_wait", now, "%d s" % ((ticks_diff(wait, now) + 999) // 1000))
            elif key == "S":  # service: clears a lock, shows the event counter
                self._wait_until = None
                self.pin = ""
        elif pump.desk is not None:
            pump.desk.key(key, now)  # the card sale owns the keypad: PIN, preset, cancel
        elif state == dispenser.IDLE and presets is not None:
            presets.key(key, now)
        elif key == "C":  # customer stop: authorised or fuelling
            pump.core.cancel(now)

    def _service(self, pin, now):
        pump = self.pump
        if not config.same_secret(pin, pump.cfg.service_pin):
            self.wrong += 1
            self._keep_tries()
            pump.note("wrong_pin", now)
            log.event("service_pin_refused", {"wrong": self.wrong})
            if self.wrong >= PIN_FREE_TRIES:
                wait_s = self._wait(now)
                pump.terminal.alarm("SERVICE_PIN")
                self._record("pin_wrong", None, self.wrong)
                log.event("service_pin_wait", {"wrong": self.wrong, "wait_s": wait_s})
            return
        if self.wrong:
            self.wrong = 0
            self._keep_tries()
        events = pump.events
        reason = pump.core.lock_reason if pump.core.state == dispenser.LOCKED else 0
        if reason:
            self._record("unlock", reason, None)  # who cleared it, and which lock
        counter = "events %d/%d" % (events.count, events.capacity) if events else "events -"
        if not reason:
            pump.note("service", now, counter)
            log.event("service", {"events": events.count if events else None})
            return
        pump.core.clear_lock(now)
        pump.note("unlocked", now, counter)
        log.event("unlocked", {"lock": dispenser.STOP_NAMES.get(reason)})
        pump.recorder.event(journal.EV_UNLOCK, reason)

    def _wait(self, now):
        """Refuse PIN entry for the wait the count of wrong PINs calls for; its seconds."""
        wait_s = PIN_DELAY_S << min(self.wrong - PIN_FREE_TRIES, PIN_DOUBLINGS)
        self._wait_until = ticks_add(now, wait_s * 1000)
        return wait_s

    def _keep_tries(self):
        """The count of wrong PINs on the flash (none kept: 0); a flash that refuses it
        is logged, the count in memory still holds in this boot."""
        try:
            if self.wrong:
                storage.write_json(self.pump.paths.pin_tries, self.wrong)
            else:
                storage.remove(self.pump.paths.pin_tries)
        except OSError as e:
            log.event("pin_tries_unsaved", {"why": str(e)})

    def _record(self, what, old, new):
        """An event record of what the service PIN did. A log that refuses it (full,
        damaged) does not stop the unlock - a pump must not stay locked for want of a
        record; the journal's EV_UNLOCK still goes to the station - and is logged."""
        pump = self.pump
        if pump.events is None:
            return
        from .events import EventLogError  # loaded with the log: no heap of its own here

        try:
            pump.events.append(pump.board.clock.time(), WHO, what, old, new)
        except (OSError, EventLogError) as e:
            log.event("event_refused", {"what": what, "why": str(e)})

    async def run(self):
        keys = self.pump.board.keypad
        control = self.pump.disp  # the control loop: it feeds the watchdog
        while True:
            wait = self._wait_until  # ended: forgotten before ticks_ms wraps round to it
            if wait is not None and ticks_diff(wait, ticks_ms()) <= 0:
                self._wait_until = None
            if control.check_in(dispenser.TASK_KEYPAD):
                await sleep_ms(dispenser.HUNG_MS)
            key = keys.read()
            while key:
                self.key(key, ticks_ms())
                self.pump.show(ticks_ms())
                key = keys.read()
            await sleep_ms(POLL_MS)

