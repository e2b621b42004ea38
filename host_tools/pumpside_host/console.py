"""`make run`: the virtual pump as a person plays it, in a terminal UI (textual).

The firmware runs on the MicroPython unix port (sim board, card mode) beside the bench.
The console shows the pump's display as the firmware draws it, the bench's truth (litres,
valves, motor, nozzle), the card slot with the bench's test cards, the keypad, the
receipt printer's paper and the firmware's service log. Keys: digits, v a f (preset),
Enter (E), Escape/Backspace (C), r (recall), s (service), n (lift / hang up the nozzle),
i (insert the highlighted card), o (take the card out), w (the pump's network down / up
again: the link goes down with its reason, sales go on, the backlog drains when it is
back), q or Ctrl-C (quit).
"""
import asyncio
import signal
import tempfile
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Button, Footer, Header, OptionList, RichLog, Static

from .bench import Bench
from .bench.cards import TEST_ISSUER_ID, CardStore
from .bench.printer import receipts
from .station.masking import mask_card
from .vboard import DEFAULT_CONFIG, VirtualPump

# The bench's test cards (public test data, see README): ASN, balance, PIN, what is special.
TEST_CARDS = (
    ("6200000000000001", 50000, "123456", "normal", {}),
    ("6200000000000002", 300, "123456", "low balance", {}),
    ("6200000000000003", 50000, "123456", "expired", {"expiry": "20200101"}),
    ("6200000000000004", 50000, "123456", "blocked", {"status": 0}),
    ("6200000000000005", 50000, "123456", "grade 95 only", {"grades": ["95"]}),
    ("6200000000000006", 50000, "123456", "5% discount", {"discount": 5}),
    ("6200000000000007", 50000, "123456", "plate-bound, staff pw 8888, 1 fill/day",
     {"plate": "A12345", "staff_pin": "8888", "daily_fills": 1}),
)
CONSOLE_CONFIG = dict(DEFAULT_CONFIG, sale_mode="card", station="PUMPSIDE DEMO STATION",
                      issuers=TEST_ISSUER_ID.hex())
KEYPAD = "123V456A789F" + "C0ER"


def issue_test_cards(path):
    store = CardStore(str(path))
    for asn, balance, pin, _what, kw in TEST_CARDS:
        store.issue(asn, balance, pin=pin, **kw)
    return store


def _money(minor):
    return "%d.%02d" % (minor // 100, minor % 100)


class PumpConsole(App):
    TITLE = "pumpside virtual pump"
    CSS = """
    #left { width: 46; }
    #display { border: heavy $accent; height: 6; padding: 0 1; }
    #truth { height: 5; padding: 0 1; }
    #keypad { grid-size: 4 4; grid-gutter: 0; height: 13; }
    #keypad Button { min-width: 6; width: 100%; }
    #nozzle { width: 100%; }
    #cards { height: 10; }
    #slot { height: 3; }
    #receipt { border: round $secondary; height: 1fr; padding: 0 1; }
    #log { height: 10; }
    #web { height: auto; color: $warning; }
    #station { border: round $primary; height: 9; padding: 0 1; }
    """
    # priority: the pump's keys reach the pump whatever widget has the focus
    BINDINGS = [Binding(k, "key('%s')" % k, show=False, priority=True) for k in "0123456789"]
    BINDINGS += [Binding(key, action, label, show=label is not None, priority=True)
                 for key, action, label in (
                     ("v", "key('V')", "litres"), ("a", "key('A')", "amount"),
                     ("f", "key('F')", "fill"), ("enter", "key('E')", "enter"),
                     ("escape", "key('C')", "cancel"), ("backspace", "key('C')", None),
                     ("r", "key('R')", None), ("s", "key('S')", None),
                     ("n", "nozzle", "nozzle"), ("i", "insert", "insert card"),
                     ("o", "remove", "take card"), ("w", "network", "network"),
                     ("q", "quit", "quit"),
                     # no text input here to copy from: Ctrl-C quits, as a person expects
                     ("ctrl+c", "quit", None))]

    def __init__(self, pump, store, web=None):
        super().__init__()
        self.pump = pump
        self.store = store
        self.web = web  # the back office's address and demo login (start_pump's `web`)
        self.bench = pump.bench
        self._seen = 0
        self._printed = 0
        self.receipt_text = ""

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="left"):
                yield Static("", id="display")
                yield Static("", id="truth")
                with Grid(id="keypad"):
                    for k in KEYPAD:
                        yield Button(k, id="k" + k)
                yield Button("lift nozzle (n)", id="nozzle", variant="primary")
            with Vertical():
                yield OptionList(id="cards")
                yield Static("", id="slot")
                yield Static("(no receipt yet)", id="receipt")
                yield Static("", id="station")
                yield Static("", id="web")
                yield RichLog(id="log", max_lines=200)
        yield Footer()

    def on_mount(self):
        self._fill_cards()
        cards = self.query_one("#cards", OptionList)
        cards.highlighted = 0
        cards.focus()  # up/down choose the card; the pump's keys work from anywhere
        self.set_interval(0.1, self.refresh_panels)
        if self.web:  # the screen tells where the back office is and how to log in (kept
            # above the log: the firmware's lines never push it off)
            self.query_one("#web", Static).update(web_banner(self.web))
        try:  # `kill` quits like q does, so the terminal gets its screen back
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.exit)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # no signals here (another OS, or not the main thread)

    def _fill_cards(self):
        cards = self.query_one("#cards", OptionList)
        keep = cards.highlighted
        cards.clear_options()
        for asn, _bal, pin, what, _kw in TEST_CARDS:
            state = self.store.cards[asn].s
            cards.add_option("%s  %9s  PIN %s  %s%s" % (
                asn, _money(state["balance"]), pin, what, "  GREY" if state["grey"] else ""))
        cards.highlighted = keep

    # -- actions ------------------------------------------------------------------------
    def action_key(self, k):
        self.bench.press(k)

    def on_button_pressed(self, event):
        bid = event.button.id or ""
        if bid == "nozzle":
            self.action_nozzle()
        elif bid.startswith("k"):
            self.bench.press(bid[1:])

    def action_nozzle(self):
        if self.bench.hyd.lifted:
            self.bench.hang_up()
        else:
            self.bench.lift()

    def action_insert(self):
        index = self.query_one("#cards", OptionList).highlighted
        if index is None:
            return
        self.pump.insert(TEST_CARDS[index][0])

    def action_remove(self):
        self.bench.remove_card()

    def action_network(self):
        if self.bench.net_why:
            self.bench.net_up()
        else:
            self.bench.net_down("no AP")

    # -- the periodic redraw ------------------------------------------------------------------
    def refresh_panels(self):
        try:
            self._refresh()
        except NoMatches:  # the screen is being torn down (quit): nothing to draw on
            pass

    def _refresh(self):
        bench = self.bench
        lines = list(bench.display) or ["", "", "", ""]
        self.query_one("#display", Static).update("\n".join(lines))
        fast, slow, motor = bench.outputs()
        lifted = bench.hyd.lifted
        a, _b = bench.counts()
        self.query_one("#truth", Static).update(
            "bench truth %.3f L (%d pulses)\nvalves fast %s slow %s  motor %s\nnozzle %s"
            "\nnetwork %s (w)" % (
                bench.truth_ml() / 1000, a, "OPEN" if fast else "shut",
                "OPEN" if slow else "shut", "ON" if motor else "off",
                "LIFTED" if lifted else "in its holster",
                "DOWN: " + bench.net_why if bench.net_why else "up"))
        self.query_one("#nozzle", Button).label = (
            "hang up nozzle (n)" if lifted else "lift nozzle (n)")
        card = bench.card
        self.query_one("#slot", Static).update(
            "card slot: " + (card.s["asn"] if card is not None else "empty")
            + "   (i insert highlighted, o take out)")
        seen = self.pump.seen
        log = self.query_one("#log", RichLog)
        while self._seen < len(seen):
            name, fields = seen[self._seen]
            self._seen += 1
            if name != "progress":
                log.write("@%s %s" % (name, fields))
            if name in ("receipt", "delivery", "card_read", "unlocked_grey"):
                self._fill_cards()
        station = self.pump.station
        if station is not None:
            self.query_one("#station", Static).update(station_view(station.ledger))
        printed = bytes(bench.printed)
        if len(printed) != self._printed:
            self._printed = len(printed)
            paper = receipts(printed)
            self.receipt_text = paper[-1] if paper else ""
            self.query_one("#receipt", Static).update(self.receipt_text)


def station_view(ledger):
    """The station's side: prices, pump states, the last sales in its ledger."""
    prices = ledger.prices()
    rows = ["STATION  prices v%d: %s" % (prices["version"], "  ".join(
        "%s# %d.%03d" % (g, p // 1000, p % 1000) for g, p in sorted(prices["grades"].items())))]
    for pump in ledger.pumps():  # the delivery in progress (Fuelling), else the last
        rows.append("pump %s: %s %d.%03d L %s%s" % (
            pump["terminal"], pump["state"], pump["ml"] // 1000, pump["ml"] % 1000,
            _money(pump["amount"]), {"tls": "  TLS", "plain": "  PLAIN (unencrypted)"}.get(
                pump["link"], "")))
    sales = ledger.sales()
    rows.append("ledger: %d records" % len(sales))
    for s in sales[-4:]:
        tac = ledger.cards.tac_verified(s["terminal"], s["seq"]) if s["asn"] else None
        rows.append("  %s %s #%d %d.%03d L %s card %s%s" % (
            s["terminal"], s["kind"], s["sale"], s["ml"] // 1000, s["ml"] % 1000,
            _money(s["amount"]), mask_card(s["asn"]),
            "" if tac is None else " TAC ok" if tac else " TAC unverified"))
    rejected = ledger.cards.rejected()
    if rejected:
        rows.append("rejected bills: %d (last: %s)" % (len(rejected), rejected[-1]["why"]))
    return "\n".join(rows)


def web_banner(web):
    text = ("back office: %(address)s  log in as %(name)s, password %(password)s (made "
            "for this demo's database only, gone with it)" % web)
    if web.get("gauge"):
        text += ("\ntank gauge: %s (Veeder-Root TLS-3xx computer format; try `pumpside "
                 "station gauge-read --gauge %s`)" % (web["gauge"], web["gauge"]))
    return text


def demo_tanks(service, actor, grade, terminal):
    """The demo station's two tanks on the bench's tank gauge (bench/gauge.py, started
    here: returned), tank 1 feeding the terminal's nozzle 1; the station polls it."""
    from .bench.gauge import demo_gauge

    sim = demo_gauge()
    service.set_nozzle(actor, terminal, 1, grade)
    service.set_tank(actor, 1, grade, 30000, 3000, 1000)
    service.set_tank(actor, 2, "0#", 30000, 3000, 1000)
    service.feed_tank(actor, 1, terminal, 1)
    return sim


def demo_administrator(service, actor):
    """A demo database's administrator for the back office, with a random password made
    now (returned to be shown once): the product has no default password."""
    import secrets

    password = secrets.token_urlsafe(12)
    service.add_operator(actor, "admin", "administrator", password)
    return "admin", password


def start_pump(workdir, lpm=40.0, station=True, web_port=None, web=None):
    """The station server (SQLite in `workdir`), the bench with the test cards and the
    firmware in card mode, linked to the station over TLS with the station's own CA
    pinned as `pumpside provision` pins it; returns (pump, store). pump.station is
    the StationThread (None without one). With `web_port`, the station serves its back
    office there too (0: any free port; a port taken: any free one), with a demo
    administrator: `web` (a dict) gets its address, name and one-time password."""
    from .station.ledger import Ledger
    from .station.server import StationThread
    from .tech import station_pin

    store = issue_test_cards(Path(workdir) / "cards.json")
    config = dict(CONSOLE_CONFIG)
    station_thread = None
    files = {}
    if station:
        from .station.service import Actor, Service

        ledger = Ledger(str(Path(workdir) / "station.db"))
        service, actor = Service(ledger), Actor.local("console")  # audited as the console
        key = service.add_terminal(actor, "PUMP1")
        service.set_price(actor, config["grade"], config["price"])
        # the issuer's TAC key of the bench's cards: the station verifies every card bill
        ledger.cards.set_keys({store.issuer.issuer_id: store.issuer.tac_mk})
        if web_port is not None:
            name, password = demo_administrator(service, actor)
            web_port = _free(web_port)
        gauge = demo_tanks(service, actor, config["grade"], "PUMP1")
        station_thread = StationThread(ledger, heartbeat_s=2,  # TLS, its own CA
                                       web_port=web_port, gauge=gauge.address(),
                                       gauge_every_s=10).start()
        if web_port is not None and web is not None:
            web.update(address="http://127.0.0.1:%d/" % station_thread.web_port, name=name,
                       password=password, gauge=gauge.address())
        pinned, files = station_pin(ledger.path)  # as `pumpside provision` pins it
    bench = Bench(fast_lpm=lpm)
    if station_thread is not None:  # through the bench's network, which `w` takes down
        config.update(station_addr="127.0.0.1:%d" % bench.route(station_thread.port),
                      terminal_id="PUMP1", terminal_key=key.hex(), **pinned)
    pump = VirtualPump(config=config, bench=bench, cards=store, station=station_thread,
                       files=files)
    pump.gauge = None
    if station_thread is not None:
        gauge.feed(1, bench)  # what the pump sells leaves tank 1
        pump.gauge = gauge
    pump.start()
    pump.wait_state("IDLE", 15)
    return pump, store


def stop_pump(pump):
    """Stop the firmware, the bench and the station of start_pump."""
    pump.stop()
    if pump.station is not None:
        pump.station.stop()
    if getattr(pump, "gauge", None) is not None:
        pump.gauge.stop()


def _free(port):
    """`port` if nothing listens on it on 127.0.0.1, else 0 (any free one)."""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port


WEB_PORT = 8080  # the back office of `make run` (another free port when it is taken)


def run_console(lpm=40.0):
    with tempfile.TemporaryDirectory(prefix="pumpside-console-") as tmp:
        web = {}
        pump, store = start_pump(tmp, lpm, web_port=WEB_PORT, web=web)
        try:
            PumpConsole(pump, store, web).run()
        finally:
            stop_pump(pump)
    return 0
