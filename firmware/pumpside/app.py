"""Wiring: builds every part from the board and the config, and runs the tasks.

The foundation's sale is an attended preset: the customer chooses V (litres), A (amount)
or F (fill-up) on the keypad, lifts the nozzle and fuels; the card sale replaces the
authorisation source later, not this wiring. Every sale goes through the journal:
AUTHORIZED before a valve may open, CHECKPOINTs while fuelling (and at once on the
power-fail warning), FINAL before "done" is shown. A config, flash or journal that does
not load keeps the pump closed, valves shut, with the reason on the display.
"""
import asyncio
import json

from . import config, dispenser, hal, journal, log, manifest, meter, prompts, storage
from . import record as rec
from .boot import closed, safe_outputs
from .compat import mem_free, print_exception, sleep_ms, ticks_add, ticks_diff, ticks_ms, ticks_us

_MAX_DIGITS = 6
_NOTE_MS = 3000
# deliveries that ended on these are alarms: a pulser or a valve that failed, flow nobody
# authorised, mains lost
_ALARM_STOPS = (dispenser.STOP_PULSER, dispenser.STOP_VALVE_STUCK,
                dispenser.STOP_UNAUTHORIZED, dispenser.STOP_POWER)


class Pump:
    """The customer-facing side of one nozzle: keypad entry, display, delivery events."""

    def __init__(self, board, cfg, jr):
        self.board = board
        self.cfg = cfg
        self.journal = jr
        self.core = dispenser.DispenserCore(cfg)
        self.disp = dispenser.Dispenser(self.core, board.pulser, board.valves, board.motor,
                                        board.nozzle, on_tick=self._on_tick)
        self.entry = None  # None, "V", "A" or "S" (service PIN)
        self.digits = ""
        self.note = None  # message key shown until note_until
        self.note_until = 0
        self.last = jr.last  # last settled bill, shown again on demand (metrology)
        self.closed = None  # why the pump closed itself (storage), or None
        self._recall = False
        self._cp_pulses = 0  # pulses in the last checkpoint
        self._cp_ms = 0
        self._cp_warned = False
        self._shown = None
        self._progress_ms = 0
        self._state = None
        self.desk = None  # the card sale (cardsale.CardDesk) when sale_mode is "card"
        self.link = None  # the station link (link.Link) when station_addr is set
        self.prices_version = 0  # of the station's newest price table this pump holds
        self.prices_next = None  # {version, price, at}: a table waiting for its time
        self.alarms = 0  # alarms raised in this boot (the link sends each at once)
        self.last_alarm = ""
        self.suspended = False  # the station closed the pump to new sales
        self.software_id = ""  # from the verified manifest, shown on demand (key I)
        self.events = None  # the metrology event log (events.EventLog), its counter shown
        self.note_value = ""  # the note's last line
        self._new_hotlist = None  # a full list staged to replace a damaged one (downloads)
        self.clock_synced = None  # ticks_ms of the last station time in bound (None: untrusted)

    # -- keypad --------------------------------------------------------------------
    def key(self, k, now):
        core = self.core
        state = core.state
        self.note = None
        self._recall = False
        if self.closed:
            return
        if k == "R" and self.entry is None and self.last is not None:
            self._recall = True  # show the last sale again (metrology)
            self.note_until = ticks_add(now, self.cfg.done_show_ms or _NOTE_MS)
        elif k == "I" and self.entry is None and state in (dispenser.IDLE, dispenser.LOCKED):
            # software identification on demand; never over a delivery's figures
            self._note("software_id", now, manifest.VERSION + " " + self.software_id)
        elif self.entry is not None:
            self._entry_key(k, now)
        elif state == dispenser.LOCKED or (k == "S" and state == dispenser.IDLE
                                           and self.desk is None):
            if k == "S":  # service: clears a lock, shows the event counter
                self.entry, self.digits = "S", ""
        elif self.desk is not None:
            self.desk.key(k, now)  # the card sale owns the keypad: PIN, preset, cancel
        elif state == dispenser.IDLE:
            if k == "V" or k == "A":
                self.entry, self.digits = k, ""
            elif k == "F":
                self._authorize(dispenser.Authorization(self.cfg.grade, self.cfg.price), now)
        elif k == "C":  # customer stop: authorised or fuelling
            core.cancel(now)

    def _entry_key(self, k, now):
        entry = self.entry
        if k == "C":
            self.entry, self.digits = None, ""
        elif "0" <= k <= "9":
            if len(self.digits) < (8 if entry == "S" else _MAX_DIGITS):
                self.digits += k
        elif k == "E":
            digits, self.entry, self.digits = self.digits, None, ""
            if entry == "S":
                self._service(digits, now)
                return
            value = int(digits) if digits else 0
            cfg = self.cfg
            if entry == "V":  # keyed in hundredths of a litre
                auth = dispenser.Authorization(cfg.grade, cfg.price, volume_ml=value * 10)
            else:
                if value > cfg.max_preset_amount:
                    value = 0
                auth = dispenser.Authorization(cfg.grade, cfg.price, amount=value)
            if value <= 0:
                self._note("refused", now)
                log.event("refused", {"why": "empty preset"})
            else:
                self._authorize(auth, now)

    # -- the station's price, kept across reboots (downloads.py applies new ones) -------
    def _prices_path(self):
        return self.journal.root.rsplit("/", 1)[0] + "/prices"

    def load_prices(self):
        """The station's last price for this grade, kept on the flash across reboots."""
        try:
            with open(self._prices_path()) as f:
                saved = json.loads(f.read())
            price = saved["price"]
            if isinstance(price, int) and 0 < price <= 10000000:
                self.cfg.price = price
                self.prices_version = saved["version"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none yet, or unreadable: the config's price stands

    def alarm(self, what):
        """Something the station must hear of at once: a lock (unauthorised flow locks at
        once), a delivery ended by a pulser or valve fault or the power, storage trouble.
        STATUS carries the last one and a count; the link sends one when the count moves."""
        self.alarms += 1
        self.last_alarm = what
        log.event("alarm_raised", {"what": what, "n": self.alarms})

    def clock_trusted(self):
        return self.clock_synced is not None

    def refusal(self):
        """Why no sale may start now (a prompt key), or None: the power, the offline
        limits and free flash (checked before a sale, so neither fills up), a lock."""
        jr = self.journal
        if self.prices_next is not None and self.core.state == dispenser.IDLE and \
                getattr(getattr(self.desk, "sale", None), "state", 0) == 0:  # sale.IDLE
            self.link.due_prices()  # a sale starts here, none is in progress
        if self.closed:
            why = "closed"
        elif self.board.power_fail.asserted():
            why = "power"
        elif self.core.state == dispenser.LOCKED:
            why = "locked"
        elif self.suspended:
            why = "suspended"
        elif self.desk is not None and self.link is not None and not self.clock_trusted():
            # a card sale dates the card's records and the journal: with a station to ask,
            # none until its time has come (attended sales and pumps without one go on)
            why = "clock"
        else:
            why = jr.refusal(self.cfg, self.board.clock.time(), storage.free_blocks(jr.root))
        if why:
            log.event("refused", {"why": why, "unsynced": jr.unsynced,
                                  "unsynced_amount": jr.unsynced_amount})
        return why

    def begin_sale(self, bill):
        """Journal the sale's AUTHORIZED record (write-ahead: before any valve can open,
        and for a card sale before the card is grey-locked). False: the pump closed."""
        bill["nozzle"] = self.cfg.nozzle
        try:
            sale = self.journal.begin(bill)
        except OSError as e:
            self.close("journal write failed (%s)" % e)
            return False
        self._cp_pulses = 0
        self._cp_ms = ticks_ms()
        self._cp_warned = False
        log.event("authorized", {"sale": sale, "grade": bill["grade"], "price": bill["price"],
                                 "mode": bill["mode"], "volume_ml": bill["preset_ml"],
                                 "amount": bill["preset_amount"]})
        return True

    def start_authorized(self, auth, now):
        """Hand a journaled authorisation to the dispenser. False if it refuses it."""
        try:
            self.core.authorize(auth, now)
        except dispenser.AuthorizationError as e:
            log.event("refused", {"why": str(e)})
            return False
        return True

    def _authorize(self, auth, now):
        why = self.refusal()
        if why:
            self._note(why, now)
            return
        auth.price = self.cfg.price  # a price table whose time came at this sale's start
        try:
            self.core.check(auth)
        except dispenser.AuthorizationError as e:
            self._note("refused", now)
            log.event("refused", {"why": str(e)})
            return
        bill = rec.sale_bill(self.board.clock.time(), auth.grade, auth.price, auth.mode,
                             auth.volume_ml, auth.amount)
        if not self.begin_sale(bill):  # write-ahead: journaled before any valve can open
            return
        if not self.start_authorized(auth, now):
            self._note("refused", now)
            self.finish_sale(dispenser.empty_delivery(auth.grade, auth.price, auth.mode,
                                                      dispenser.STOP_CANCEL), 0, now)

    def close(self, why):
        """Storage trouble: stop selling, keep every record, say why."""
        if self.closed is None:
            self.closed = why
            self.core.cancel(ticks_ms())  # no fuel that the journal cannot record
            log.event("closed", {"why": why})
            self.alarm("CLOSED")

    def _service(self, digits, now):
        if _same(digits, self.cfg.service_pin):
            ev = self.events
            counter = "events %d/%d" % (ev.count, ev.capacity) if ev else "events -"
            if self.core.state != dispenser.LOCKED:
                self._note("service", now, counter)
                log.event("service", {"events": ev.count if ev else None})
                return
            self.core.clear_lock(now)
            self._note("unlocked", now, counter)
            log.event("unlocked")
            self._journal_event(journal.EV_UNLOCK)
        else:
            self._note("wrong_pin", now)
            log.event("service_pin_refused")

    def _note(self, key, now, value=""):
        self.note = key
        self.note_value = value
        self.note_until = ticks_add(now, _NOTE_MS)

    # -- dispenser ticks -----------------------------------------------------------
    def _journal_event(self, code, a=0, b=0):
        try:
            self.journal.event(self.board.clock.time(), code, a, b)
        except OSError as e:
            self.close("journal write failed (%s)" % e)

    def interrupted(self):
        """^C on the USB serial (a technician's mpremote takes the REPL): outputs off and,
        with a sale in flight, its count checkpointed exactly once the meter is quiet
        (settle_ms), as on a power-fail warning; the next boot settles the sale."""
        safe_outputs(self.board)
        if self.journal.open_sale is None:
            return
        count = self.board.pulser.count()
        quiet = ticks_ms()
        while ticks_diff(ticks_ms(), quiet) < self.cfg.settle_ms:  # the valves closing
            now = self.board.pulser.count()
            if now != count:
                count, quiet = now, ticks_ms()
        self._checkpoint(self.core.pulses(count), ticks_ms(), True)

    def _checkpoint(self, pulses, now, warned):
        flags = rec.F_WARNED if warned else 0
        ml = meter.ml_for_pulses(pulses, self.cfg.k_factor)
        try:
            self.journal.checkpoint(self.board.clock.time(), pulses, ml, flags)
        except OSError as e:
            self.close("journal write failed (%s)" % e)
            return
        self._cp_pulses = pulses
        self._cp_ms = now
        self._cp_warned = warned

    def _journal_progress(self, disp, now):
        """Checkpoint every checkpoint_ml or checkpoint_ms of flow, and at once (and after
        every further pulse) while the power-fail warning is up."""
        core = self.core
        cfg = self.cfg
        pulses = core.pulses(disp.last_count)
        warned = self.board.power_fail.asserted()
        if warned:
            core.power_fail(now)
            if pulses != self._cp_pulses or not self._cp_warned:
                t0 = ticks_us()
                self._checkpoint(pulses, now, True)
                log.event("power_warning", {"pulses": pulses, "commit_us":
                                            ticks_diff(ticks_us(), t0)})
            return
        moved = pulses - self._cp_pulses
        if moved <= 0:
            return
        if (meter.ml_for_pulses(moved, cfg.k_factor) >= cfg.checkpoint_ml
                or ticks_diff(now, self._cp_ms) >= cfg.checkpoint_ms):
            self._checkpoint(pulses, now, False)

    def _settle(self, d, now):
        """The dispenser settled the volume: checkpoint it exactly, then FINAL (or, for a
        card sale, hand it to the card desk, which debits the card first)."""
        flags = rec.F_OVERRUN if d.overrun_ml else 0
        warned = self._cp_warned or self.board.power_fail.asserted()
        if warned:
            flags |= rec.F_WARNED
        if d.pulses != self._cp_pulses:  # a cut while writing FINAL loses nothing
            self._checkpoint(d.pulses, now, warned)
            if self.closed:
                return
        if self.desk is not None and journal.is_card_sale(self.journal.open_sale):
            self.desk.delivered(d, flags)
        else:
            self.finish_sale(d, flags, now)

    def finish_sale(self, d, flags, now, card=None, rtype=rec.FINAL):
        """FINAL (or ESCAPE) of the open sale, then "done" may be shown. Returns the bill,
        or None when the journal could not be written (the pump closes)."""
        jr = self.journal
        try:
            bill = jr.finish(self.board.clock.time(), d.pulses, d.ml, d.amount, d.stop,
                             flags, d.overrun_ml, card, rtype)
        except OSError as e:
            self.close("journal write failed (%s)" % e)
            return None
        if d.pulses or rtype == rec.FINAL:
            self.last = bill
        self.note_until = ticks_add(now, self.cfg.done_show_ms)
        fields = d.as_dict()
        fields["sale"] = bill["sale"]
        fields["flags"] = flags
        fields["record"] = rec.TYPE_NAMES[rtype]
        fields["total_ml"] = jr.totals.volume_ml
        fields["total_amount"] = jr.totals.amount
        stats = getattr(self.board.flash, "stats", None)
        if stats:
            fields["flash"] = stats()
        log.event("delivery", fields)
        return bill

    def _on_tick(self, disp):
        core = self.core
        now = ticks_ms()
        if core.unauthorized_new:
            self._journal_event(journal.EV_UNAUTHORIZED, core.unauthorized_new)
        if core.state != self._state:
            self._state = core.state
            log.event("state", {"state": dispenser.STATE_NAMES[core.state],
                                "lock": dispenser.STOP_NAMES.get(core.lock_reason)})
            if self.desk is not None:
                self.desk.on_state(core.state, now)
            if core.state == dispenser.LOCKED:
                self._journal_event(journal.EV_LOCK, core.lock_reason)
                self.alarm("LOCKED " + dispenser.STOP_NAMES.get(core.lock_reason, ""))
                if core.lock_reason == dispenser.STOP_UNAUTHORIZED:
                    log.event("alarm", {"what": "UNAUTHORIZED", "ml": core.unauthorized_ml})
        if disp.core.stage_event:
            log.event("stage", {"event": core.stage_event, "pulses": disp.last_count,
                                "reaction_us": disp.reaction_us[-1]})
        if core.state == dispenser.FUELLING or core.state == dispenser.SETTLING:
            if self.journal.open_sale is not None and not self.closed:
                self._journal_progress(disp, now)
        d = core.take_delivery()
        if d is not None and d.stop in _ALARM_STOPS:
            self.alarm(dispenser.STOP_NAMES[d.stop])
        if d is not None and self.journal.open_sale is not None and not self.closed:
            self._settle(d, now)
        fuelling = core.state == dispenser.FUELLING or core.state == dispenser.SETTLING
        if fuelling and ticks_diff(now, self._progress_ms) >= self.cfg.progress_ms:
            self._progress_ms = now
            ml, amount = core.progress(disp.last_count)
            log.event("progress", {"ml": ml, "amount": amount,
                                   "state": dispenser.STATE_NAMES[core.state]})
            self.show(now)
        elif not fuelling:
            self.show(now)

    def screen(self, now):
        cfg = self.cfg
        core = self.core
        head = cfg.grade + "#  " + meter.fmt_price(cfg.price) + "/L"
        if self.closed:
            return [head] + prompts.lines("closed") + [self.closed]
        if self._recall and ticks_diff(self.note_until, now) > 0:
            last = self.last
            return [head] + prompts.lines("last_sale") + [_volume_amount(last["ml"],
                                                                        last["amount"])]
        if self.note and ticks_diff(self.note_until, now) > 0:
            return [head] + prompts.lines(self.note) + [self.note_value]
        state = core.state
        if self.entry == "S":
            return [head] + prompts.lines("service_pin") + ["*" * len(self.digits)]
        if self.entry is not None:
            value = int(self.digits) if self.digits else 0
            unit = " L" if self.entry == "V" else ""
            key = "enter_volume" if self.entry == "V" else "enter_amount"
            return [head] + prompts.lines(key) + [meter.fmt_fixed(value, 2) + unit]
        if state == dispenser.LOCKED:
            why = dispenser.STOP_NAMES.get(core.lock_reason, "")
            return [head] + prompts.lines("locked") + [prompts.both(why) if why else ""]
        if state == dispenser.AUTHORIZED:
            return [head] + prompts.lines("lift") + [""]
        if state == dispenser.FUELLING or state == dispenser.SETTLING:
            ml, amount = core.progress(self.disp.last_count)
            return [head] + prompts.lines("fuelling") + [_volume_amount(ml, amount)]
        if self.desk is not None:
            key, value = self.desk.screen_value(now)
            return [head] + prompts.lines(key) + [value]
        last = self.last
        if last is not None and ticks_diff(self.note_until, now) > 0:
            stop = last["stop"]
            key = "done" if stop in (dispenser.STOP_CAP, dispenser.STOP_NOZZLE) else \
                dispenser.STOP_NAMES[stop]
            return [head] + prompts.lines(key) + [_volume_amount(last["ml"], last["amount"])]
        return [head] + prompts.lines("ready") + [""]

    def show(self, now):
        lines = self.screen(now)
        if lines != self._shown:
            self._shown = lines
            self.board.display.show(lines)

    # -- tasks ---------------------------------------------------------------------
    async def keypad_task(self):
        keypad = self.board.keypad
        while True:
            k = keypad.read()
            while k:
                self.key(k, ticks_ms())
                self.show(ticks_ms())
                k = keypad.read()
            await sleep_ms(50)

    async def run(self):
        # gather: a task that fails ends the app (main shuts the valves and the board's
        # watchdog restarts it into recovery) instead of leaving a sale half-handled
        tasks = [self.disp.run(), self.keypad_task()]
        if self.desk is not None:
            tasks.append(self.desk.run())
        if self.link is not None:
            tasks.append(self.link.run())
        await asyncio.gather(*tasks)


def _volume_amount(ml, amount):
    return meter.fmt_litres(ml) + " L  " + meter.fmt_fixed(amount, 2)


def _same(a, b):
    """Compare secrets without an early exit on the first differing character."""
    diff = len(a) ^ len(b)
    for i in range(min(len(a), len(b))):
        diff |= ord(a[i]) ^ ord(b[i])
    return diff == 0




def open_journal(board, cfg):
    """Mount the flash, verify the journal and settle a sale a power cut left open."""
    path, formatted = storage.mount(board.flash)
    jr = journal.Journal(path + "/journal", cfg.nozzle)
    for seq, why in jr.open():
        log.event("journal_corrupt", {"seq": seq, "why": why})
    recovered = jr.recover(board.clock.time())
    report = {"formatted": formatted, "records": jr.records, "next_seq": jr.next_seq,
              "ack": jr.ack_seq, "corrupt": len(jr.corrupt), "unsynced": jr.unsynced,
              "unsynced_amount": jr.unsynced_amount, "total_ml": jr.totals.volume_ml,
              "total_amount": jr.totals.amount, "free_blocks": storage.free_blocks(path)}
    if recovered is not None:
        report["recovered"] = {"sale": recovered["sale"], "pulses": recovered["pulses"],
                               "ml": recovered["ml"], "amount": recovered["amount"],
                               "flags": recovered["flags"]}
    log.event("journal", report)
    return jr


def open_hotlist(journal_root):
    """The hotlist beside the journal on the flash; a damaged one refuses every card
    rather than none (the pump stays open for the station to send a new one)."""
    from .hotlist import Hotlist, HotlistError

    root = journal_root.rsplit("/", 1)[0] + "/hotlist"
    try:
        hl = Hotlist(root).open()
    except (HotlistError, OSError, ValueError) as e:
        log.event("hotlist_damaged", {"why": str(e)})
        return _RefuseAll()
    log.event("hotlist", {"version": hl.version, "entries": hl.listed_count()})
    return hl


class _RefuseAll:
    def listed(self, card):
        return True


def open_events(journal_root):
    """The metrology event log beside the journal; a broken chain is logged and shown in
    service info (legal changes are refused), it does not close the pump."""
    from .events import EventLog

    ev = EventLog(journal_root.rsplit("/", 1)[0] + "/events")
    damaged = ev.open()
    if damaged:
        log.event("events_damaged", {"damaged": [list(d) for d in damaged]})
    if ev.torn:
        log.event("events_torn", {"why": ev.torn, "count": ev.count})
    return ev


def main(board, software_id=None):
    """Run the pump. `software_id`: boot.py verified the manifest before importing this;
    without it the files are verified here (the software must match its manifest before
    anything sells, DOMAIN.md §3)."""
    hal.check(board)
    safe_outputs(board)
    try:
        if software_id is None:
            software_id = manifest.verify(manifest.own_root())["software_id"]
        cfg = config.load(board.config_path)
        desk_class = None
        if cfg.sale_mode == "card":
            # the card sale's code is compiled and loaded before any data cuts up the heap
            mem_free()
            from . import hotlist  # noqa: F401 - loaded now, used by open_hotlist
            from .cardsale import CardDesk as desk_class
        link_class = None
        if cfg.station_addr:
            if not (cfg.terminal_id and cfg.terminal_key):
                raise config.ConfigError("station_addr", "needs terminal_id and terminal_key")
            from .link import Link as link_class
        jr = open_journal(board, cfg)
        ev = open_events(jr.root)
    except (manifest.ManifestError, config.ConfigError, storage.StorageError, rec.RecordError,
            OSError) as e:
        log.event("closed", {"why": str(e)})
        asyncio.run(closed(board, str(e)))
        return
    pump = Pump(board, cfg, jr)
    pump.software_id = software_id
    pump.events = ev
    pump.load_prices()
    if desk_class is not None:
        pump.desk = desk_class(pump, open_hotlist(jr.root))
        pump.desk.start()
    if link_class is not None:
        pump.link = link_class(jr, cfg, board.clock, pump, software_id)
    log.event("boot", {"board": board.name, "version": manifest.VERSION,
                       "software_id": software_id, "events": ev.count,
                       "events_chain_ok": ev.chain_ok, "config": cfg.as_dict(),
                       "heap_free": mem_free()})
    try:
        asyncio.run(pump.run())
    except KeyboardInterrupt:  # ^C on the USB serial: a technician's mpremote takes over
        try:
            pump.interrupted()
            log.event("interrupted")
        except Exception as e:  # the REPL comes all the same; the next boot recovers
            print_exception(e)
        raise
    except Exception as e:  # never leave the valves open behind a crash
        safe_outputs(board)
        print_exception(e)
        raise
