"""Wiring: builds every part from the board and the config, and runs the tasks.

A sale starts at the attended presets (attended.py) or the card desk (cardsale.py), is
metered by the dispenser (dispenser.py) and recorded in the journal (recorder.py); the
keypad is keypad.py's and the display a pure function of `Pump.snapshot` (screen.py).
Whether a sale may start is the terminal's (terminal.py): its named methods are what
the station may do (suspend, resume, stop, lock, unlock, trust_clock), with the price
book's table (`Pump.take_prices`). A config, flash or journal that does not load keeps
the pump closed, valves shut, the reason shown.
"""
import asyncio

from . import config, dispenser, hal, log, manifest, screen, storage
from . import record as rec
from .boot import closed, safe_outputs
from .compat import mem_free, print_exception, ticks_add, ticks_diff, ticks_ms
from .journal import EV_LOCK, EV_UNAUTHORIZED, is_card_sale
from .keypad import Keypad
from .prices import PriceBook
from .recorder import Recorder, open_journal
from .terminal import Terminal

NOTE_MS = 3000
# deliveries that ended on these are alarms: a pulser or a valve that failed, flow nobody
# authorised, mains lost
_ALARM_STOPS = (dispenser.STOP_PULSER, dispenser.STOP_VALVE_STUCK,
                dispenser.STOP_UNAUTHORIZED, dispenser.STOP_POWER)


class Pump:
    """One nozzle's terminal: its parts, what the display shows, and the named changes
    the station may make."""

    def __init__(self, board, cfg, journal, paths=None, events=None, software_id="",
                 wdt_resets=0):
        self.board = board
        self.cfg = cfg  # as loaded at boot; never changed while the pump runs
        self.journal = journal
        self.paths = paths or storage.beside(journal.root)
        self.prices = PriceBook(cfg, self.paths).load()
        self.core = dispenser.DispenserCore(cfg)
        # a lock outlives a power cut: kept on the flash while it holds, so only who may
        # clear it does (the station its own, the service PIN any: terminal.py, keypad.py)
        held = storage.read_json(self.paths.lock)
        self._held = held if isinstance(held, int) and held > 0 else 0
        if self._held:
            self.core.lock(self._held)
        self.wdt_resets = wdt_resets  # resets the watchdog caused, counted on the flash
        self.terminal = Terminal(board, cfg, journal, self.core)
        self.disp = dispenser.Dispenser(self.core, board.pulser, board.valves, board.motor,
                                        board.nozzle, on_tick=self._on_tick)
        self.recorder = Recorder(board, cfg, journal, self.core, self.terminal.close)
        self.keypad = Keypad(self)
        self.presets = None  # attended presets (attended.py), loaded in attended mode only
        if cfg.sale_mode == "attended":
            from .attended import Presets

            self.presets = Presets(self)
        self.desk = None  # the card sale (cardsale.CardDesk) when sale_mode is "card"
        self.hotlist = None  # the card desk's hotlist (hotlist.py)
        self.link = None  # the station link (link.Link) when station_addr is set
        self.pay = None  # the idle screen's pay-by-phone code (paycode.py) when pay_base is set
        if cfg.pay_base:
            from .paycode import PayCode

            self.pay = PayCode(cfg.pay_base, cfg.terminal_id, cfg.nozzle, cfg.pay_rotate_s,
                               bytes.fromhex(cfg.terminal_key))
        self.events = events  # the metrology event log (events.EventLog), its counter shown
        self.software_id = software_id  # of the verified manifest, shown on demand (key I)
        self.last = journal.last  # last settled bill, shown again on demand (metrology)
        self._note = None  # a message key shown until _note_until
        self._note_value = ""  # the note's last line
        self._note_until = 0
        self._recall = False  # the last sale is on show (R)
        self._shown = None
        self._code = None  # the pay code's matrix on show
        self._progress_ms = 0
        self._state = None
        self._view = {}  # the snapshot, refreshed in place

    def attach_desk(self, desk):
        """Card mode: the card desk (cardsale.CardDesk) owns the keypad and starts every
        sale. False when its PSAM does not answer (the pump closed)."""
        self.desk = desk
        self.hotlist = desk.hotlist
        return desk.start()

    def attach_link(self, link):
        """The station link (link.Link): it runs beside the pump's own tasks."""
        self.link = link

    # -- starting and ending a sale (attended.py, cardsale.py) ------------------------
    def sale_terms(self):
        """(grade, price) a sale starting now is sold at: a price table whose time has
        come goes in force first. Called where a sale starts, never during one."""
        if self.prices.due(self.board.clock.time()):
            self.show(ticks_ms())
        return self.prices.grade, self.prices.price

    def start_authorized(self, auth, now):
        """Hand a journaled authorisation to the dispenser. False if it refuses it."""
        try:
            self.core.authorize(auth, now)
        except dispenser.AuthorizationError as e:
            log.event("refused", {"why": str(e)})
            return False
        if self.pay is not None:
            self.pay.used()
        return True

    def finish_sale(self, delivery, flags, now, card=None, rtype=rec.FINAL, off=0):
        """FINAL (or ESCAPE) of the open sale, then "done" is shown; `off`: money a
        loyalty voucher took off the metered amount (the bill's amount is what was paid).
        The bill, or None when the journal could not be written (the pump closed)."""
        bill = self.recorder.finish(delivery, flags, card, rtype, off)
        if bill is not None:
            if delivery.pulses or rtype == rec.FINAL:
                self.last = bill
            self._note_until = ticks_add(now, self.cfg.done_show_ms)
        return bill

    def interrupted(self):
        """^C on the USB serial (a technician's mpremote takes the REPL): outputs off, the
        sale in flight checkpointed exactly (recorder.py), the watchdog held so the board
        is not reset under the technician's hands."""
        safe_outputs(self.board)
        self.board.wdt.hold()
        self.recorder.interrupted()

    # -- what the station may do besides the terminal's commands (terminal.py) --------
    def take_prices(self, version, grades, nozzles, at):
        """A price table from the station (prices.PriceBook.take). (ok, why)"""
        ok, why = self.prices.take(version, grades, nozzles, at, self.board.clock.time())
        if ok:
            self.show(ticks_ms())
        return ok, why

    def status(self):
        """The STATUS the link sends (ifsf.py, loaded with the link)."""
        from .ifsf import status

        return status(self.snapshot(ticks_ms()), self.board.nozzle.lifted)

    # -- the dispenser's tick --------------------------------------------------------
    def _on_tick(self, disp):
        core = self.core
        now = ticks_ms()
        if core.unauthorized_new:
            self.recorder.event(EV_UNAUTHORIZED, core.unauthorized_new)
        if core.state != self._state:
            self._state = core.state
            log.event("state", {"state": dispenser.STATE_NAMES[core.state],
                                "lock": dispenser.STOP_NAMES.get(core.lock_reason)})
            if self.desk is not None:
                self.desk.on_state(core.state, now)
            if core.state == dispenser.LOCKED:
                self.recorder.event(EV_LOCK, core.lock_reason)
                self.terminal.alarm("LOCKED " + dispenser.STOP_NAMES.get(core.lock_reason, ""))
                if core.lock_reason == dispenser.STOP_UNAUTHORIZED:
                    log.event("alarm", {"what": "UNAUTHORIZED", "ml": core.unauthorized_ml})
        reason = core.lock_reason
        if reason != self._held:
            self._held = reason
            try:
                if reason:
                    storage.write_json(self.paths.lock, reason)
                else:
                    storage.remove(self.paths.lock)
            except OSError as e:  # the lock holds in this boot all the same
                log.event("lock_unsaved", {"why": str(e)})
        if core.stage_event:
            log.event("stage", {"event": core.stage_event, "pulses": disp.last_count,
                                "reaction_us": disp.reaction_us[-1]})
        recording = self.journal.open_sale is not None and not self.terminal.closed
        if recording and (core.state == dispenser.FUELLING or core.state == dispenser.SETTLING):
            self.recorder.progress(disp.last_count, now)
        delivery = core.take_delivery()
        if delivery is not None and delivery.stop in _ALARM_STOPS:
            self.terminal.alarm(dispenser.STOP_NAMES[delivery.stop])
        if delivery is not None and self.journal.open_sale is not None \
                and not self.terminal.closed:
            flags = self.recorder.settled(delivery, now)
            if flags is None:
                pass  # the journal failed: the pump closed
            elif self.desk is not None and is_card_sale(self.journal.open_sale):
                self.desk.delivered(delivery, flags)  # the card is debited first
            else:
                self.finish_sale(delivery, flags, now)
        if core.state == dispenser.FUELLING or core.state == dispenser.SETTLING:
            if ticks_diff(now, self._progress_ms) >= self.cfg.progress_ms:
                self._progress_ms = now
                ml, amount = core.progress(disp.last_count)
                log.event("progress", {"ml": ml, "amount": amount,
                                       "state": dispenser.STATE_NAMES[core.state]})
                self.show(now)
        else:
            self.show(now)

    # -- the display -----------------------------------------------------------------
    def note(self, key, now, value=""):
        """Show the message `key` (and a value line) for a few seconds; None: no note."""
        self._note = key
        self._note_value = value
        self._recall = False
        if key is not None:
            self._note_until = ticks_add(now, NOTE_MS)

    def recall(self, now):
        """Show the last sale again (metrology)."""
        self._recall = True
        self._note_until = ticks_add(now, self.cfg.done_show_ms or NOTE_MS)

    def snapshot(self, now):
        """What the display (screen.py) and the station's STATUS (ifsf.py) are made of:
        one dict, refreshed in place (a frame allocates no new table on the heap); read
        it at once, it changes with the next call."""
        view = self._view
        core = self.core
        state = core.state
        terminal = self.terminal
        desk = self.desk
        pin = self.keypad.pin
        shown = ticks_diff(self._note_until, now) > 0  # a note or the last sale on show
        # the delivery in progress, else the last one (STATUS); the display shows it only
        # while fuelling
        view["ml"], view["amount"] = core.progress(self.disp.last_count)
        view["grade"] = self.prices.grade
        view["price"] = self.prices.price
        view["nozzle"] = self.cfg.nozzle
        view["closed"] = terminal.closed
        view["suspended"] = terminal.suspended
        view["alarms"] = terminal.alarms
        view["last_alarm"] = terminal.last_alarm
        view["recall"] = self._recall and shown
        view["last"] = self.last if shown else None
        view["note"] = self._note if shown else None
        view["note_value"] = self._note_value
        presets = self.presets
        view["entry"] = "S" if pin is not None else presets.entry if presets else None
        view["digits"] = pin if pin is not None else presets.digits if presets else ""
        view["state"] = state
        view["lock_reason"] = core.lock_reason
        view["desk"] = desk.screen_value(now) if desk is not None and \
            state == dispenser.IDLE else None
        view["card_stage"] = desk.sale.state if desk is not None else 0
        return view

    def screen(self, now):
        return screen.lines(self.snapshot(now))

    def show(self, now):
        view = self.snapshot(now)
        lines = screen.lines(view)
        pay = self.pay
        code = None
        if pay is not None:
            if screen.idle(view):
                code = pay.code(now, self.board.clock.time())
            else:
                pay.drop()
        if lines != self._shown or code is not self._code:
            self._shown = lines
            self._code = code
            if code is None:
                self.board.display.show(lines)
            else:
                self.board.display.show(lines, code)

    async def run(self):
        # gather: a task that fails ends the app (main shuts the valves and the board's
        # watchdog restarts it into recovery) instead of leaving a sale half-handled
        self.disp.watch(self.board.wdt, self.cfg.watchdog_ms, dispenser.TASK_KEYPAD if
                        self.desk is None else dispenser.TASK_KEYPAD | dispenser.TASK_DESK)
        tasks = [self.disp.run(), self.keypad.run()]
        if self.desk is not None:
            tasks.append(self.desk.run())
        if self.link is not None:
            tasks.append(self.link.run())
        await asyncio.gather(*tasks)


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
            from .cardsale import CardDesk as desk_class
            from .hotlist import open_hotlist
        link_class = None
        if cfg.station_addr:
            if not (cfg.terminal_id and cfg.terminal_key):
                raise config.ConfigError("station_addr", "needs terminal_id and terminal_key")
            from . import ifsf  # noqa: F401 - status(): compiled now, before data cuts up the heap
            from .link import Link as link_class
        if cfg.pay_base and not (cfg.terminal_id and cfg.terminal_key):
            raise config.ConfigError("pay_base", "needs terminal_id and terminal_key")
        journal, paths = open_journal(board, cfg)
        from .events import open_log

        events = open_log(paths.events)
        # a reset the watchdog caused: counted on the flash (a full flash loses the count,
        # never the boot), reported to the station (HELLO, the alarm)
        rebooted = board.wdt.caused_reset()
        wdt_resets = storage.read_json(paths.resets)
        wdt_resets = wdt_resets if isinstance(wdt_resets, int) else 0
        if rebooted:
            wdt_resets += 1
            try:
                storage.write_json(paths.resets, wdt_resets)
            except OSError:
                pass
            log.event("watchdog_reset", {"count": wdt_resets})
    except (manifest.ManifestError, config.ConfigError, storage.StorageError, rec.RecordError,
            OSError) as e:
        log.event("closed", {"why": str(e)})
        asyncio.run(closed(board, str(e)))
        return
    pump = Pump(board, cfg, journal, paths, events, software_id, wdt_resets)
    if rebooted:  # reported to the station with the STATUS, and counted in HELLO
        pump.terminal.alarm("WATCHDOG")
    if desk_class is not None:
        pump.attach_desk(desk_class(pump, open_hotlist(paths.hotlist)))
    if link_class is not None:
        pump.attach_link(link_class(journal, cfg, board.clock, pump, software_id, board.net))
        if not cfg.station_tls:  # said at each boot: card numbers cross the network readable
            log.event("link_plain", {"station": cfg.station_addr})
    log.event("boot", {"board": board.name, "version": manifest.VERSION,
                       "software_id": software_id, "events": events.count,
                       "events_chain_ok": events.chain_ok, "wdt_resets": wdt_resets,
                       "config": cfg.as_dict(),
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
