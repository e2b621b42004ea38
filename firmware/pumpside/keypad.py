"""The pump's keypad: the service PIN (S, or any key on a locked pump), the last sale
shown again (R, metrology), the software id (I); every other key goes to the card desk
(PIN, preset, cancel) or, without one, to the attended presets; C stops a delivery.
"""
from . import config, dispenser, journal, log, manifest
from .compat import sleep_ms, ticks_ms

PIN_DIGITS = 8
POLL_MS = 50


class Keypad:
    def __init__(self, pump):
        self.pump = pump
        self.pin = None  # the service PIN being keyed, or None

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
            if key == "S":  # service: clears a lock, shows the event counter
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
            pump.note("wrong_pin", now)
            log.event("service_pin_refused")
            return
        events = pump.events
        counter = "events %d/%d" % (events.count, events.capacity) if events else "events -"
        if pump.core.state != dispenser.LOCKED:
            pump.note("service", now, counter)
            log.event("service", {"events": events.count if events else None})
            return
        pump.core.clear_lock(now)
        pump.note("unlocked", now, counter)
        log.event("unlocked")
        pump.recorder.event(journal.EV_UNLOCK)

    async def run(self):
        keys = self.pump.board.keypad
        control = self.pump.disp  # the control loop: it feeds the watchdog
        while True:
            if control.check_in(dispenser.TASK_KEYPAD):
                await sleep_ms(dispenser.HUNG_MS)
            key = keys.read()
            while key:
                self.key(key, ticks_ms())
                self.pump.show(ticks_ms())
                key = keys.read()
            await sleep_ms(POLL_MS)

