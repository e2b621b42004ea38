"""The card sale's shell: runs the actions of the pure state machine (sale.py) on the card
reader, the PSAM, the journal, the dispenser and the printer.

Money order (write-ahead, DOMAIN.md 1): the journal's AUTHORIZED record, with the card
number, CTC and the PSAM's TTC, is written after the PSAM's MAC1 and before the GREY LOCK
APDU, so a power cut at any point leaves a record of every card that may be grey. Fuel
flows only after the PSAM accepted MAC2. After fuelling the exact volume is checkpointed,
then DEBIT FOR UNLOCK, then FINAL with the TAC, and only then "take your receipt". A card
pulled or failing before its debit turns the sale into an ESCAPE record: the card stays
grey, and the next time it is inserted here it is settled (补扣) for the journaled amount
exactly once (UNLOCK record), after a reboot too; settlement.py decides how each escape is
settled. A card grey at another terminal is asked of the station through the link
(`ask_grey`) while this task goes on watching the slot.

Nothing here logs a PIN or a key: the PIN goes from the keypad buffer to the card's
VERIFY APDU and nowhere else.
"""
import asyncio

from . import cardload, dispenser, fleetcard, log, meter, receipt, settlement
from . import record as rec
from . import sale as card_sale
from .card import grey_lock
from .card.apdu import REMOVED, STATUS, CardError
from .card.fuelcard import FuelCard
from .card.psam import Psam
from .compat import sleep_ms, ticks_add, ticks_diff, ticks_ms
from .rewards import Rewards

_POLL_MS = 50
_NOTE_MS = 4000
_LOG_RECORDS = 10  # the card keeps its last 10 transactions
_ASK_MS = 8000  # the station's answer to a GREY_QUERY, at most (then: refused)


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
        self.sale = card_sale.Sale(pump.cfg, pump.prices)
        self.tid = None  # the PSAM's terminal id
        self.prompt = "insert_card"
        self.detail = None
        self.prompt_until = 0
        self.present = False
        self.info = None  # what was read from the inserted card
        self.bill = None  # the bill of the receipt to print
        self._flags = 0
        self._queue = []  # actions waiting for the card task
        self._question = None  # (task, then, state) while the station is asked
        self._answered = False  # its answer came (or its time ran out):
        self._answer = None  # the answer, None when none came in time
        self.rewards = Rewards(self)  # loyalty at the pump: the menu after the PIN
        self._rewards_due = False  # the PIN was good: the menu before the preset's prompt

    def start(self):
        try:
            self.tid = self.psam.terminal_id()
        except CardError as e:
            self.pump.terminal.close("PSAM: " + str(e))
            return False
        log.event("psam", {"terminal_id": self.tid.hex()})
        return True

    # -- events from the dispenser (its tick) -------------------------------------------
    def delivered(self, delivery, flags):
        self._flags = flags
        self._queue.extend(self.sale.delivered(delivery, ticks_ms()))

    def on_state(self, state, now):
        if state == dispenser.FUELLING:
            self.sale.fuelling(now)

    # -- keypad -------------------------------------------------------------------------
    def key(self, key, now):
        taken, actions = self.rewards.key(key)
        self._run(actions if taken else self.sale.key(key, now))

    # -- the task -----------------------------------------------------------------------
    async def run(self):
        control = self.pump.disp  # the control loop: it feeds the watchdog
        while True:
            if control.check_in(dispenser.TASK_DESK):
                await sleep_ms(dispenser.HUNG_MS)
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
                self.rewards.clear()
                self._rewards_due = False
                self.pump.sale_terms()  # a price table whose time has come, before the card
                why = self.pump.terminal.refusal()
                if why and why != "escapes_full":
                    self._run(sale.refused(why, now))
                else:  # a full escape table still settles the grey cards that come back
                    self._run(sale.card_inserted(now, why))
            else:
                self._run(sale.card_taken(now))
        if self._queue:
            todo, self._queue = self._queue, []
            self._run(todo)
        question = self._question
        if question is not None and sale.state != question[2]:
            # the card left or the sale was cancelled: the link withdraws the question
            question[0].cancel()
            self._question = None
        elif question is not None and self._answered:
            self._question = None
            self._run(question[1](self._answer, now))
        self._run(self.rewards.step(sale.state == card_sale.PRESET))
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
            if action[1] == "choose_preset" and self._rewards_due \
                    and self.sale.state == card_sale.PRESET:
                asking = self._ask_rewards()  # after the PIN, a fleet card's odometer or
                if asking:  # a load: the loyalty menu first, the preset's prompt after it
                    return asking
            self.prompt = action[1]
            self.detail = action[2]
            self.prompt_until = ticks_add(now, _NOTE_MS)
            self.pump.show(now)
            log.event("card", {"prompt": action[1],
                               "state": card_sale.STATE_NAMES[self.sale.state]})
            return None
        if name == "read_card":
            return self._read(now)
        if name == "verify_pin":
            return self._verify(action[1], now, False)
        if name == "verify_staff":
            return self._verify(action[1], now, True)
        if name == "odometer_bad":  # a fleet card's implausible reading (fleetcard.py)
            log.event("odometer_bad", {"km": action[1], "last": action[2],
                                       "tries_left": action[3]})
            return None
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
            self._print()
            return None
        if name == "load":
            return cardload.start(self, action[1], now)
        return None  # "release": the customer takes the card

    # -- reading the card ---------------------------------------------------------------
    def _read(self, now):
        card = self.card
        try:
            try:
                self.reader.power_on()
            except OSError:
                raise CardError(REMOVED, "no answer to reset") from None
            card.select()
            issuer = card.issuer()
            info = {"issuer": issuer, "holder": card.holder(),
                    "restrictions": card.restrictions(), "balance": card.balance(),
                    "grey": card.grey_status()}
            today = grey_lock.bcd_datetime(self.board.clock.time())[:4]
            info["log"] = self._card_log()
            info["fills_today"], info["amount_today"] = card_sale.day_use(info["log"], today)
            if fleetcard.is_fleet(info):  # its fleet file EF1D: limits, time window
                info["fleet"] = fleetcard.read(card.fleet_file(), info["log"],
                                               self.board.clock.time(), today,
                                               self.cfg.local_offset_min)
        except CardError as e:  # a status word or bad data: card error; no answer: removed
            return self.sale.card_error("card_removed" if e.kind == REMOVED else "card_error",
                                        now)
        asn = _asn10(issuer["asn"])
        self.info = info
        grey = info["grey"]
        journal = self.pump.journal
        own_escape = settlement.own_escape(journal, asn, grey, self.tid)
        if not grey["grey"]:
            try:
                settlement.void(journal, asn, info["log"], self.tid, self.board.clock.time())
            except OSError as e:
                self.pump.terminal.close("journal write failed (%s)" % e)
        listed = self.hotlist.listed(issuer["asn"]) if self.hotlist is not None else False
        log.event("card_read", {"card": receipt.mask(issuer["asn"]), "balance": info["balance"],
                                "grey": grey["grey"], "own_grey": own_escape is not None,
                                "fills_today": info["fills_today"]})
        today_ymd = "".join("%02x" % b for b in today)
        query = settlement.query_for(issuer["asn"], grey, own_escape)
        link = self.pump.link
        if query is not None and link is not None and link.online:
            # grey-locked at another terminal (or here, its escape dropped from the full
            # table): the escape is asked of the station; offline, the card is refused
            # (card_read below, with no escape to settle)
            read = (info, today_ymd, listed)
            self.ask_station(link.ask_grey(query, _ASK_MS),
                             lambda answer, now: self._on_answer(read, answer, now))
            return [("show", "settling_grey", None)]
        if not grey["grey"]:  # what the station holds for it (a load waiting): card["station"];
            # a card refused for itself (hotlisted, blocked, expired...) is told with its
            # reason, and refused after the answer all the same (check_card)
            refused = card_sale.card_refusal(info, self.cfg, today_ymd, listed)
            return cardload.ask_info(self, info, lambda now: self.sale.card_read(
                info, now, today_ymd, listed, own_escape), now, refused)
        return self.sale.card_read(info, now, today_ymd, listed, own_escape)

    def ask_station(self, answer, then):
        """Wait for `answer` (the link's ask: the station's answer, None when none came in
        time) while this task goes on watching the slot; then(answer, now) -> actions. A
        card pulled or a sale that moved on meanwhile withdraws the question."""
        self._answered = False
        self._question = (asyncio.create_task(self._ask(answer)), then, self.sale.state)

    async def _ask(self, answer):
        self._answer = await answer
        self._answered = True  # the next step takes it

    def _on_answer(self, read, answer, now):
        """The station's answer (None: none in time): an ESCAPE owed elsewhere is settled
        here like our own (补扣); unknown, settled or no answer: the card is refused."""
        info, today_ymd, listed = read
        owed = settlement.owed(answer, info["issuer"]["asn"], info["grey"])
        log.event("grey_query", {"status": "no answer" if answer is None
                                 else answer.get("status"), "owed": owed is not None,
                                 "amount": owed["amount"] if owed else 0})
        return self.sale.card_read(info, now, today_ymd, listed, owed)

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
        actions = self.sale.pin_result(True, None, now)
        self._rewards_due = True  # the loyalty menu when the preset comes (_do)
        return actions

    def _ask_rewards(self):
        """The loyalty menu (rewards.py), once a sale, when the preset is next: its
        actions ([]: offline, a station without loyalty)."""
        self._rewards_due = False
        info = self.info
        return self.rewards.start("".join("%02x" % b for b in info["issuer"]["asn"]),
                                  info["holder"]["card_type"])

    # -- grey lock, fuel, debit ---------------------------------------------------------
    def _lock(self, caps, now):
        pump = self.pump
        why = pump.terminal.refusal()
        if why:
            return self.sale.refused(why, now)
        info = self.info
        issuer = info["issuer"]
        when = self.board.clock.time()
        datetime7 = grey_lock.bcd_datetime(when)
        self.list_price = pump.prices.price  # the receipt's list price: the one locked at
        began = []

        def journal_first(init, ttc):
            bill = rec.sale_bill(when, caps["grade"], caps["price"], caps["mode"],
                                 caps["volume_ml"], caps["amount"],
                                 {"asn": _asn10(issuer["asn"]), "balance": init["balance"],
                                  "ctc": init["ctc"], "psam_ttc": ttc,
                                  "card_type": info["holder"]["card_type"],
                                  "odo": self.sale.odo})
            if not pump.recorder.begin(bill):
                raise CardError(STATUS, "journal write failed")
            began.append(bill)

        try:
            lock = grey_lock.lock(self.card, self.psam, self.tid, issuer["asn"], datetime7,
                                  journal_first)
        except CardError as e:
            if not began:
                return self.sale.lock_failed(None, now)
            if isinstance(e, grey_lock.UntrustedLock):
                locked = e.locked  # grey, MAC2 refused: no fuel, settle for 0
                log.event("mac2_failed", {"sale": began[0]["sale"]})
                self._flags = rec.F_UNTRUSTED
                locked["asn"] = issuer["asn"]
                return self.sale.lock_failed(locked, now)
            # GREY LOCK failed: a status word means the card refused it (not grey); no
            # reply means it may be grey: keep the sale as an escape until it returns
            nothing = self._nothing(dispenser.STOP_CARD)
            if e.kind == STATUS:
                pump.finish_sale(nothing, rec.F_NOT_LOCKED, now)
            else:
                pump.finish_sale(nothing, 0, now, None, rec.ESCAPE)
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

    def _settle(self, sale, now):
        """Debit the card for the metered amount; FINAL with the TAC. A card that cannot
        be debited leaves an ESCAPE."""
        pump = self.pump
        lock = sale["lock"]
        delivery = sale["delivery"]
        if delivery is None:
            delivery = self._nothing(dispenser.STOP_CARD)
        flags = self._flags
        amount = 0 if sale.get("untrusted") else delivery.amount
        off = self.rewards.off(amount)  # a loyalty voucher: the card pays less
        amount -= off
        if self.board.power_fail.asserted():
            # no card transaction on a dying supply: the warned checkpoint holds the exact
            # volume and the boot after the cut makes the sale an escape (补扣); if the
            # supply comes back instead, the debit is tried again on the next step
            self._queue.append(("settle", sale))
            return None
        when = self.board.clock.time()  # the debit's datetime is the bill's: the station
        # recomputes the TAC from the bill (amount, PSAM TTC, time) and this PSAM's id
        try:
            tac, gmac = self._debit(lock["asn"], lock["ctc"], amount, lock["ttc"],
                                    grey_lock.bcd_datetime(when))
        except CardError as e:
            log.event("debit_failed", {"why": str(e), "amount": amount})
            pump.finish_sale(delivery, flags, now, None, rec.ESCAPE)
            return self.sale.escaped(now)
        balance = lock["balance"] - amount
        if off:
            self.rewards.applied(pump.journal.open_sale["sale"])
        bill = pump.finish_sale(delivery, flags, now, {"tac": tac, "gmac": gmac,
                                                       "balance": balance, "time": when},
                                off=off)
        if bill is None:
            return self.sale.escaped(now)
        self._clear_tac()
        self.bill = bill
        return self.sale.settled(tac, balance, now, amount)

    def _debit(self, asn8, ctc, amount, ttc, dt):
        return grey_lock.settle(self.card, self.psam, asn8, ctc, amount, self.tid, ttc, dt)

    def _clear_tac(self):
        """The TAC is journaled: clear the card's "TAC unread" flag (GREY STATUS P1 01). A
        card already gone keeps the flag; nothing depends on it."""
        try:
            self.card.grey_status(clear_tac=True)
        except CardError:
            pass

    def _unlock(self, escape, now):
        """补扣: the grey card of an ESCAPE (this terminal's, or another's as the station
        told it) pays the journaled amount, once."""
        grey = self.info["grey"]
        amount = escape["amount"]
        elsewhere = escape.get("station")  # another terminal's ESCAPE, as the station told
        asn8 = self.info["issuer"]["asn"]
        ttc = grey["ttc"] if elsewhere else escape["psam_ttc"]
        when = self.board.clock.time()  # one time for the debit and the bill (the TAC's)
        try:
            tac, gmac = self._debit(asn8, grey["ctc"], amount, ttc, grey_lock.bcd_datetime(when))
        except CardError as e:
            log.event("debit_failed", {"why": str(e), "amount": amount})
            return self.sale.card_error("card_error", now)
        paid = {"tac": tac, "gmac": gmac, "balance": grey["balance"] - amount}
        journal = self.pump.journal
        try:
            if elsewhere:
                paid.update(nozzle=self.cfg.nozzle, ml=elsewhere["ml"], amount=amount,
                            flags=rec.F_ELSEWHERE, asn=_asn10(asn8), ctc=grey["ctc"],
                            psam_ttc=ttc, card_type=self.info["holder"]["card_type"])
                bill = settlement.settle_for_other(journal, rec.sale_bill(
                    when, elsewhere["grade"], elsewhere["price"], "", 0, 0, paid))
            else:
                bill = settlement.settle_here(journal, escape, when, amount, 0, paid)
        except OSError as e:
            self.pump.terminal.close("journal write failed (%s)" % e)
            return self.sale.card_error("card_error", now)
        log.event("unlocked_grey", {"sale": bill["sale"], "amount": amount,
                                    "flags": bill["flags"],
                                    "of": elsewhere.get("terminal") if elsewhere else None,
                                    "of_sale": elsewhere.get("sale") if elsewhere else None})
        self._clear_tac()
        self.bill = bill
        self.list_price = bill["price"]
        return self.sale.settled(tac, bill["balance"], now, amount)

    def _print(self):
        bill = self.bill
        if bill is None:
            return
        datetime7 = grey_lock.bcd_datetime(bill["time"])
        text = receipt.lines(bill, self.cfg.station, datetime7, self.list_price,
                             self.rewards.receipt(bill["amount"]))
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
        if sale.state == card_sale.IDLE and ticks_diff(self.prompt_until, now) <= 0:
            key = "insert_card"
        detail = self.detail
        if key == "enter_pin":
            bal = self.info["balance"] if self.info else 0
            return key, "余额 " + meter.fmt_fixed(bal, 2) + "  " + "*" * len(sale.pin)
        if key == "enter_staff":
            return key, "*" * len(sale.pin)
        if key == "wrong_pin" or key == "wrong_staff" or key == "odometer_bad":
            return key, "剩余次数 tries left: %d" % detail
        if key == "enter_odometer":
            return key, (detail or "") + " km"
        if key in ("enter_volume", "enter_amount"):
            unit = " L" if key == "enter_volume" else ""
            return key, meter.fmt_fixed(detail or 0, 2) + unit
        if key == "take_receipt" and detail is not None:
            line = "余额 Balance " + meter.fmt_fixed(detail, 2)
            points = self.rewards.receipt(self.bill["amount"]) if self.bill else None
            return key, line + " 积分 Points +%d" % points[0] if type(points) is tuple \
                else line
        if key == "rewards_menu":
            return key, self.rewards.line()
        if key == "choose_preset" and self.info:
            return key, "余额 Balance " + meter.fmt_fixed(self.info["balance"], 2)
        return key, ""
