"""The card sale's shell: runs the actions of the pure state machine (sale.py) on the card
reader, the PSAM, the journal, the dispenser and the printer.

Money order (write-ahead, DOMAIN.md 1): the journal's AUTHORIZED record, with the card
number, CTC and the PSAM's TTC, is written after the PSAM's MAC1 and before the GREY LOCK
APDU, so a power cut at any point leaves a record of every card that may be grey. Fuel
flows only after the PSAM accepted MAC2. After fuelling the exact volume is checkpointed,
then DEBIT FOR UNLOCK, then FINAL with the TAC, and only then "take your receipt". A card
pulled or failing before its debit turns the sale into an ESCAPE record: the card stays
grey, and the next time it is inserted here it is settled (补扣) for the journaled amount
exactly once (UNLOCK record), after a reboot too.

Nothing here logs a PIN or a key: the PIN goes from the keypad buffer to the card's
VERIFY APDU and nowhere else.
"""
from . import dispenser, log, meter, receipt
from . import record as rec
from . import sale as sm
from .card import grey_lock
from .card.apdu import REMOVED, STATUS, CardError
from .card.fuelcard import FuelCard
from .card.psam import T_UNLOCK, Psam
from .compat import sleep_ms, ticks_add, ticks_diff, ticks_ms

_POLL_MS = 50
_NOTE_MS = 4000
_LOG_RECORDS = 10  # the card keeps its last 10 transactions
_ASK_MS = 8000  # the station's answer to a GREY_QUERY, at most (then: refused)


def _uint(v):
    return isinstance(v, int) and v is not True and v is not False and 0 <= v <= 0x7FFFFFFF


def _asn10(asn8):
    return asn8 + b"\0\0"  # the bill's card-number field has room for 10 bytes


class CardDesk:
    def __init__(self, pump, hotlist=None):
        self.pump = pump
        self.cfg = pump.cfg
        board = pump.board
        self.board = board
        self.reader = board.card
        self.card = FuelCard(board.card)
        self.psam = Psam(board.psam)
        self.hotlist = hotlist
        self.sale = sm.Sale(pump.cfg, pump.prices)
        self.tid = None  # the PSAM's terminal id
        self.prompt = "insert_card"
        self.detail = None
        self.prompt_until = 0
        self.present = False
        self.info = None  # what was read from the inserted card
        self.bill = None  # the bill of the receipt to print
        self._flags = 0
        self._queue = []  # actions waiting for the card task
        self._asked = None  # a card grey elsewhere: what was read while the station answers

    def start(self):
        try:
            self.tid = self.psam.terminal_id()
        except CardError as e:
            self.pump.terminal.close("PSAM: " + str(e))
            return False
        log.event("psam", {"terminal_id": self.tid.hex()})
        return True

    # -- events from the dispenser (its tick) -------------------------------------------
    def delivered(self, d, flags):
        self._flags = flags
        self._queue.extend(self.sale.delivered(d, ticks_ms()))

    def on_state(self, state, now):
        if state == dispenser.FUELLING:
            self.sale.fuelling(now)

    # -- keypad -------------------------------------------------------------------------
    def key(self, k, now):
        self._run(self.sale.key(k, now))

    # -- the task -----------------------------------------------------------------------
    async def run(self):
        while True:
            self.step(ticks_ms())
            await sleep_ms(_POLL_MS)

    def step(self, now):
        sale = self.sale
        try:
            present = self.reader.present()
        except OSError:
            present = False
        if present != self.present:
            self.present = present
            log.event("card_slot", {"present": present})
            if present:
                self.pump.sale_terms()  # a price table whose time has come, before the card
                why = self.pump.terminal.refusal()
                if why:
                    self._run(sale.refused(why, now))
                else:
                    self._run(sale.card_inserted(now))
            else:
                self._run(sale.card_taken(now))
        if self._queue:
            todo, self._queue = self._queue, []
            self._run(todo)
        if self._asked is not None:
            self._run(self._answered(now))
        self._run(sale.tick(now))

    def _run(self, actions):
        """Do each action; the card's answers feed the sale, whose new actions run too."""
        while actions:
            action = actions.pop(0)
            more = self._do(action)
            if more:
                actions.extend(more)

    def _do(self, action):
        name = action[0]
        now = ticks_ms()
        if name == "show":
            self.prompt = action[1]
            self.detail = action[2]
            self.prompt_until = ticks_add(now, _NOTE_MS)
            self.pump.show(now)
            log.event("card", {"prompt": action[1], "state": sm.STATE_NAMES[self.sale.state]})
            return None
        if name == "read_card":
            return self._read(now)
        if name == "verify_pin":
            return self._verify(action[1], now, False)
        if name == "verify_staff":
            return self._verify(action[1], now, True)
        if name == "grey_lock":
            return self._lock(action[1], now)
        if name == "authorize":
            return self._authorize(action[1], now)
        if name == "stop":  # the customer's cancel, a timeout, or the card pulled
            stop = dispenser.STOP_CANCEL if self.present else dispenser.STOP_CARD
            self.pump.core.cancel(now, stop)
            return None
        if name == "settle":
            return self._settle(action[1], now)
        if name == "unlock_grey":
            return self._unlock(action[1], now)
        if name == "print":
            self._print(action[1])
            return None
        return None  # "release": the customer takes the card

    # -- reading the card ---------------------------------------------------------------
    def _read(self, now):
        c = self.card
        try:
            try:
                self.reader.power_on()
            except OSError:
                raise CardError(REMOVED, "no answer to reset") from None
            c.select()
            issuer = c.issuer()
            info = {"issuer": issuer, "holder": c.holder(), "restrictions": c.restrictions(),
                    "balance": c.balance(), "grey": c.grey_status()}
            today = grey_lock.bcd_datetime(self.board.clock.time())[:4]
            info["log"] = self._card_log()
            info["fills_today"], info["amount_today"] = sm.day_use(info["log"], today)
        except CardError as e:  # a status word or bad data: card error; no answer: removed
            return self.sale.card_error("card_removed" if e.kind == REMOVED else "card_error",
                                        now)
        asn = _asn10(issuer["asn"])
        self.info = info
        grey = info["grey"]
        jr = self.pump.journal
        own = None
        if grey["grey"]:
            if grey["terminal_id"] == self.tid:
                own = jr.escape_for(asn, grey["ttc"])
        else:
            self._void_escapes(asn, info["log"])
        listed = self.hotlist.listed(issuer["asn"]) if self.hotlist is not None else False
        log.event("card_read", {"card": receipt.mask(issuer["asn"]), "balance": info["balance"],
                                "grey": grey["grey"], "own_grey": own is not None,
                                "fills_today": info["fills_today"]})
        today_s = "".join("%02x" % b for b in today)
        if grey["grey"] and own is None and grey["terminal_id"] != self.tid \
                and self._ask(issuer["asn"], grey):
            self._asked = (info, today_s, listed, ticks_add(now, _ASK_MS))
            return [("show", "settling_grey", None)]
        return self.sale.card_read(info, now, today_s, listed, own)

    def _ask(self, asn8, grey):
        """A card grey-locked at another terminal: ask the station for that terminal's
        ESCAPE (GREY_QUERY through the link). False when offline: the card is refused."""
        link = self.pump.link
        if link is None or not link.online:
            return False
        link.answer = None
        link.query = {"asn": asn8.hex(), "terminal": grey["terminal_id"].hex(),
                      "ttc": grey["ttc"], "ctc": grey["ctc"]}
        return True

    def _answered(self, now):
        """The station's answer (or none in time): an ESCAPE owed elsewhere is settled
        here like our own (补扣); unknown, settled or no answer: the card is refused."""
        info, today_s, listed, until = self._asked
        link = self.pump.link
        a = link.answer
        if a is None and ticks_diff(until, now) > 0 and self.sale.state == sm.CARD:
            return None
        self._asked = None
        link.query = None
        link.answer = None
        if self.sale.state != sm.CARD:
            return None  # the card left while the station was asked
        grey = info["grey"]
        own = None
        status = "no answer" if a is None else a.get("status")
        if status == "owed" and a.get("asn") == info["issuer"]["asn"].hex() \
                and a.get("ttc") == grey["ttc"] and _uint(a.get("amount")) \
                and _uint(a.get("price")) and _uint(a.get("ml")) \
                and isinstance(a.get("grade"), str) and len(a["grade"]) <= 4:
            own = {"station": a, "amount": a["amount"]}
        log.event("grey_query", {"status": status, "owed": own is not None,
                                 "amount": own["amount"] if own else 0})
        return self.sale.card_read(info, now, today_s, listed, own)

    def _card_log(self):
        out = []
        for n in range(1, _LOG_RECORDS + 1):
            try:
                out.append(self.card.record(n))
            except CardError as e:
                if e.sw == 0x6A83:  # no more records
                    break
                raise
        return out

    def _void_escapes(self, asn, card_log):
        """A card that is not grey but has an ESCAPE waiting here: either it was never
        locked (the cut came before GREY LOCK), or its debit went through and only the
        reply was lost (its own log shows it), or another terminal settled it through the
        station (its log shows that one's debit of the lock: nothing is taken here, the
        escape is closed by a marker). Settle the record accordingly, once."""
        jr = self.pump.journal
        esc = jr.escape_for(asn)
        while esc is not None:
            paid = by = None
            for entry in card_log:
                if entry["type"] == T_UNLOCK and entry["ctc"] == esc["ctc"]:
                    if entry["terminal_id"] == self.tid:
                        paid = entry["amount"]
                    else:  # another terminal settled this lock through the station
                        by = entry["terminal_id"]
                    break
            if paid is None and by is None and esc["amount"]:
                log.event("escape_open", {"sale": esc["sale"], "amount": esc["amount"]})
                return  # owed, the card not grey: the station settles it (link issue)
            flags = rec.F_CARD_LOG if paid is not None else rec.F_NOT_LOCKED
            try:
                if by is not None:  # nothing is taken here: the escape is closed
                    jr.settled_elsewhere(esc, self.board.clock.time(), by, rec.F_CARD_LOG)
                    log.event("escape_settled_elsewhere", {"sale": esc["sale"],
                                                           "psam": by.hex()})
                else:
                    jr.unlock(esc, self.board.clock.time(), paid or 0, flags, {})
                    log.event("unlocked_grey", {"sale": esc["sale"], "amount": paid or 0,
                                                "flags": flags})
            except OSError as e:
                self.pump.terminal.close("journal write failed (%s)" % e)
                return
            esc = jr.escape_for(asn)

    def _verify(self, pin, now, staff):
        try:
            self.card.verify_pin(pin, staff)
        except CardError as e:
            if e.kind == STATUS and e.sw == 0x6983:
                return self.sale.pin_result(False, 0, now)
            tries = e.tries_left()
            if tries is not None:
                log.event("pin_wrong", {"tries_left": tries})
                return self.sale.pin_result(False, tries, now)
            return self.sale.card_error("card_error", now)
        return self.sale.pin_result(True, None, now)

    # -- grey lock, fuel, debit ---------------------------------------------------------
    def _lock(self, caps, now):
        pump = self.pump
        why = pump.terminal.refusal()
        if why:
            return self.sale.refused(why, now)
        info = self.info
        issuer = info["issuer"]
        t = self.board.clock.time()
        dt = grey_lock.bcd_datetime(t)
        self.list_price = pump.prices.price  # the receipt's list price: the one locked at
        began = []

        def journal_first(init, ttc):
            bill = rec.new_bill()
            bill["time"] = t
            bill["grade"] = caps["grade"]
            bill["price"] = caps["price"]
            bill["mode"] = caps["mode"]
            bill["preset_ml"] = caps["volume_ml"]
            bill["preset_amount"] = caps["amount"]
            bill["asn"] = _asn10(issuer["asn"])
            bill["balance"] = init["balance"]
            bill["ctc"] = init["ctc"]
            bill["psam_ttc"] = ttc
            bill["card_type"] = info["holder"]["card_type"]
            if not pump.recorder.begin(bill):
                raise CardError(STATUS, "journal write failed")
            began.append(bill)

        try:
            lock = grey_lock.lock(self.card, self.psam, self.tid, issuer["asn"], dt,
                                  journal_first)
        except CardError as e:
            if not began:
                return self.sale.lock_failed(None, now)
            locked = getattr(e, "locked", None)
            if locked is not None:  # grey, MAC2 refused: no fuel, settle for 0
                log.event("mac2_failed", {"sale": began[0]["sale"]})
                self._flags = rec.F_UNTRUSTED
                locked["asn"] = issuer["asn"]
                return self.sale.lock_failed(locked, now)
            # GREY LOCK failed: a status word means the card refused it (not grey); no
            # reply means it may be grey: keep the sale as an escape until it returns
            d = self._nothing(dispenser.STOP_CARD)
            if e.kind == STATUS:
                pump.finish_sale(d, rec.F_NOT_LOCKED, now)
            else:
                pump.finish_sale(d, 0, now, None, rec.ESCAPE)
            return self.sale.lock_failed(None, now)
        lock["asn"] = issuer["asn"]
        log.event("grey_locked", {"sale": began[0]["sale"], "ttc": lock["ttc"],
                                  "balance": lock["balance"]})
        return self.sale.locked(lock, now)

    def _nothing(self, stop):
        caps = self.sale.caps
        return dispenser.empty_delivery(caps["grade"], caps["price"], caps["mode"], stop)

    def _authorize(self, caps, now):
        auth = dispenser.Authorization(caps["grade"], caps["price"], caps["volume_ml"],
                                       caps["amount"], caps["mode"])
        if not self.pump.start_authorized(auth, now):
            return self.sale.delivered(self._nothing(dispenser.STOP_CANCEL), now)
        return None

    def _settle(self, s, now):
        """Debit the card for the metered amount; FINAL with the TAC. A card that cannot
        be debited leaves an ESCAPE."""
        pump = self.pump
        lock = s["lock"]
        d = s["delivery"]
        if d is None:
            d = self._nothing(dispenser.STOP_CARD)
        flags = self._flags
        amount = 0 if s.get("untrusted") else d.amount
        if self.board.power_fail.asserted():
            # no card transaction on a dying supply: the warned checkpoint holds the exact
            # volume and the boot after the cut makes the sale an escape (补扣); if the
            # supply comes back instead, the debit is tried again on the next step
            self._queue.append(("settle", s))
            return None
        t = self.board.clock.time()  # the debit's datetime is the bill's: the station
        # recomputes the TAC from the bill (amount, PSAM TTC, time) and this PSAM's id
        try:
            tac, gmac = self._debit(lock["asn"], lock["ctc"], amount, lock["ttc"],
                                    grey_lock.bcd_datetime(t))
        except CardError as e:
            log.event("debit_failed", {"why": str(e), "amount": amount})
            pump.finish_sale(d, flags, now, None, rec.ESCAPE)
            return self.sale.escaped(now)
        balance = lock["balance"] - amount
        bill = pump.finish_sale(d, flags, now, {"tac": tac, "gmac": gmac, "balance": balance,
                                                "time": t})
        if bill is None:
            return self.sale.escaped(now)
        self._clear_tac()
        self.bill = bill
        return self.sale.settled(tac, balance, now, amount)

    def _debit(self, asn8, ctc, amount, ttc, dt):
        gmac = self.psam.gmac(asn8, ctc, amount)
        tac = self.card.debit_for_unlock(amount, ctc, self.tid, ttc, dt, gmac)
        return tac, gmac

    def _clear_tac(self):
        """The TAC is journaled: clear the card's "TAC unread" flag (GREY STATUS P1 01). A
        card already gone keeps the flag; nothing depends on it."""
        try:
            self.card.grey_status(clear_tac=True)
        except CardError:
            pass

    def _unlock(self, esc, now):
        """补扣: the grey card of an ESCAPE here pays the journaled amount, once."""
        grey = self.info["grey"]
        amount = esc["amount"]
        elsewhere = esc.get("station")  # another terminal's ESCAPE, as the station told
        asn8 = self.info["issuer"]["asn"]
        ttc = grey["ttc"] if elsewhere else esc["psam_ttc"]
        t = self.board.clock.time()  # one time for the debit and the bill (the TAC's)
        try:
            tac, gmac = self._debit(asn8, grey["ctc"], amount, ttc, grey_lock.bcd_datetime(t))
        except CardError as e:
            log.event("debit_failed", {"why": str(e), "amount": amount})
            return self.sale.card_error("card_error", now)
        card = {"tac": tac, "gmac": gmac, "balance": grey["balance"] - amount}
        jr = self.pump.journal
        try:
            if elsewhere:
                bill = rec.new_bill()
                bill.update(card)
                bill.update(time=t, nozzle=self.cfg.nozzle, grade=elsewhere["grade"],
                            price=elsewhere["price"], ml=elsewhere["ml"], amount=amount,
                            flags=rec.F_ELSEWHERE, asn=_asn10(asn8), ctc=grey["ctc"],
                            psam_ttc=ttc, card_type=self.info["holder"]["card_type"])
                bill = jr.unlock_elsewhere(bill)
            else:
                bill = jr.unlock(esc, t, amount, 0, card)
        except OSError as e:
            self.pump.terminal.close("journal write failed (%s)" % e)
            return self.sale.card_error("card_error", now)
        log.event("unlocked_grey", {"sale": bill["sale"], "amount": amount,
                                    "flags": bill["flags"],
                                    "of": elsewhere.get("terminal") if elsewhere else None,
                                    "of_sale": elsewhere.get("sale") if elsewhere else None})
        balance = card["balance"]
        self._clear_tac()
        self.bill = bill
        self.list_price = bill["price"]
        return self.sale.settled(tac, balance, now, amount)

    def _print(self, points):
        bill = self.bill
        if bill is None:
            return
        dt = grey_lock.bcd_datetime(bill["time"])
        text = receipt.lines(bill, self.cfg.station, dt, self.list_price, points=points)
        try:
            self.board.printer.write(receipt.escpos(text))
        except OSError as e:
            log.event("printer_failed", {"why": str(e)})
            return
        log.event("receipt", {"sale": bill["sale"], "amount": bill["amount"],
                              "balance": bill["balance"]})

    # -- display ------------------------------------------------------------------------
    def screen_value(self, now):
        """The prompt key and the value line of the card sale's screen."""
        sale = self.sale
        key = self.prompt
        if sale.state == sm.IDLE and ticks_diff(self.prompt_until, now) <= 0:
            key = "insert_card"
        detail = self.detail
        if key == "enter_pin":
            bal = self.info["balance"] if self.info else 0
            return key, "余额 " + meter.fmt_fixed(bal, 2) + "  " + "*" * len(sale.pin)
        if key == "enter_staff":
            return key, "*" * len(sale.pin)
        if key == "wrong_pin" or key == "wrong_staff":
            return key, "剩余次数 tries left: %d" % detail
        if key in ("enter_volume", "enter_amount"):
            unit = " L" if key == "enter_volume" else ""
            return key, meter.fmt_fixed(detail or 0, 2) + unit
        if key == "take_receipt" and detail is not None:
            balance, points = detail
            line = "余额 Balance " + meter.fmt_fixed(balance, 2)
            return key, line if points is None else line + " 积分 Points %d" % points
        if key == "choose_preset" and self.info:
            return key, "余额 Balance " + meter.fmt_fixed(self.info["balance"], 2)
        return key, ""
