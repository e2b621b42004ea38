"""The attended sale: presets keyed on the pump's keypad and paid at the kiosk (also the
metering test mode); the card sale (cardsale.py) is the other way a sale starts.

V and a volume in hundredths of a litre, or A and an amount in minor units, then E; F
fills up to the config's cap; C clears the entry. A preset the pump refuses shows why
and journals nothing; one it takes is journaled (AUTHORIZED) before a valve may open.
"""
from . import dispenser, log
from . import record as rec

MAX_DIGITS = 6


class Presets:
    def __init__(self, pump):
        self.pump = pump
        self.entry = None  # "V" or "A" while a preset is keyed
        self.digits = ""

    def key(self, key, now):
        entry = self.entry
        if entry is None:
            if key == "V" or key == "A":
                self.entry, self.digits = key, ""
            elif key == "F":
                self._authorize("F", 0, now)
            return
        if key == "C":
            self.entry, self.digits = None, ""
        elif "0" <= key <= "9":
            if len(self.digits) < MAX_DIGITS:
                self.digits += key
        elif key == "E":
            value = int(self.digits) if self.digits else 0
            self.entry, self.digits = None, ""
            if entry == "A" and value > self.pump.cfg.max_preset_amount:
                value = 0
            if value <= 0:
                self.pump.note("refused", now)
                log.event("refused", {"why": "empty preset"})
            else:
                self._authorize(entry, value, now)

    def _authorize(self, mode, value, now):
        pump = self.pump
        grade, price = pump.sale_terms()
        why = pump.terminal.refusal()
        if why:
            pump.note(why, now)
            return
        # a volume is keyed in hundredths of a litre
        auth = dispenser.Authorization(grade, price, value * 10 if mode == "V" else 0,
                                       value if mode == "A" else 0)
        try:
            pump.core.check(auth)
        except dispenser.AuthorizationError as e:
            pump.note("refused", now)
            log.event("refused", {"why": str(e)})
            return
        bill = rec.sale_bill(pump.board.clock.time(), grade, price, auth.mode,
                             auth.volume_ml, auth.amount)
        if not pump.recorder.begin(bill):  # write-ahead: journaled before any valve can open
            return
        if not pump.start_authorized(auth, now):
            pump.note("refused", now)
            pump.finish_sale(dispenser.empty_delivery(grade, price, auth.mode,
                                                      dispenser.STOP_CANCEL), 0, now)
