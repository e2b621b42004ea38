"""The bench process: serves the sim board's role requests on a loopback TCP port.

Wire (one line each way, ASCII): `H board` hello (the board just booted: its pulse
counters start from zero); `P` -> "a b pf" pulser counts and the power-fail warning; `N`
-> 1/0 nozzle lifted; `V f s` valves; `M m` motor; `D [json lines]` display; `DP hex` the
display's pixels (an SSD1306's 1,024 bytes, MONO_VLSB); `K` -> one
key or an empty line; `T` -> wall-clock seconds; `X` the board lost power (its flash
cut itself); `CP` -> 1/0 card present; `CO` -> the card's ATR (hex) on power-up; `CT hex`
-> the card's reply to an APDU (hex), "!removed" when there is no card; `ST hex` -> the
PSAM's reply; `PR hex` printer bytes; `W ms` the watchdog started (`W 0`: held at the
REPL); `F` fed -> the task a watchdog test hangs, or an empty line; `WR` -> 1 when this
boot followed a watchdog reset; `NS` -> "up", or why the board's network is down. Any
other line gets "!unknown ...". Tests and the
demo drive the same `Bench` object directly: lift the nozzle, press keys, inject faults,
read the truth.
"""
import json
import socket
import threading
import time
from collections import deque

from .hydraulics import Hydraulics


class Bench:
    def __init__(self, k_factor=100000, fast_lpm=40.0, slow_lpm=5.0, open_delay_s=0.04,
                 close_delay_s=0.03, clock=time.monotonic, on_screen=None, psam=None):
        self.clock = clock
        self.lock = threading.RLock()
        self.hyd = Hydraulics(clock(), k_factor, fast_lpm, slow_lpm, open_delay_s,
                              close_delay_s)
        self.keys = deque()
        self.display = []  # current lines
        self.pixels = bytes(128 * 64 // 8)  # the display's pixels (pixel_rows() reads them)
        self.screens = []  # (t, lines) every screen the customer saw
        self.reaction_s = []  # pulse edge -> valve command, seen from the bench
        # (channel A's count, seconds since its last edge, flow in ml/s, fast, slow) at each
        # valve command: how late it came after the pulse that crossed its threshold
        self.valve_log = []
        self.on_screen = on_screen  # callback(lines) for live viewers
        self.mains = True
        self.power_warning = False
        self.clock_offset = 0.0  # seconds added to the wall clock the board reads
        self.boots = 0
        self.self_cuts = 0  # `X`: the board's armed flash fault cut its own power
        self._count_base = (0, 0)  # bench counts when the board booted
        self.card = None  # the VirtualCard in the reader, or None
        self.cards = None  # CardStore whose state is saved after every card APDU
        self.psam = psam  # VirtualPsam in the terminal's SAM slot
        self.pull_after = None  # the card is pulled after this many more APDUs
        self.printed = bytearray()  # every byte sent to the printer
        self.apdus = []  # (t, "card"/"psam", command hex, reply hex)
        # the board's watchdog: its timeout (None: not started), when it was last fed
        self.wdt_ms = None
        self.wdt_fed = 0.0
        self.wdt_resets = 0  # resets it caused
        self.wdt_hang = ""  # the task a watchdog test hangs ("keypad", "desk")
        self._wdt_bit = False  # the watchdog caused the last reset (until the next boot)
        self.boot_by_wdt = False
        self.net_why = ""  # why the board's network is down ("no AP"...); "" while up
        self.network = None  # the bench's network (network.Network) the link goes through
        self._server = None
        self._conns = []
        self.port = None

    # -- serving the board ---------------------------------------------------------------
    def start(self, port=0):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(4)
        self._server = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="bench-accept").start()
        return self.port

    def stop(self):
        if self.network is not None:
            self.network.close()
        if self._server:
            self._server.close()
            self._server = None
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass

    def _accept(self):
        while self._server is not None:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True,
                             name="bench-board").start()

    def _serve(self, conn):
        stream = conn.makefile("rwb")
        try:
            for raw in stream:
                stream.write(self.handle(raw.decode().rstrip("\n")).encode() + b"\n")
                stream.flush()
        except (OSError, ValueError):
            pass
        finally:
            conn.close()

    def handle(self, line):
        op, _, arg = line.partition(" ")
        with self.lock:
            t = self.clock()
            hydraulics = self.hyd
            hydraulics.advance(t)
            if op == "P":
                a, b = hydraulics.counts()
                a0, b0 = self._count_base
                return "%d %d %d" % (a - a0, b - b0, 1 if self.power_warning else 0)
            if op == "N":
                return "1" if hydraulics.lifted else "0"
            if op == "V":
                fast, slow = (x == "1" for x in arg.split())
                age = hydraulics.pulse_age_s()
                if age is not None:
                    self.reaction_s.append(age)
                    self.valve_log.append((hydraulics.counts()[0], age, hydraulics.rate_ml_s(),
                                           fast, slow))
                if self.mains:  # without mains the solenoids have no power to open
                    hydraulics.set_valves(t, fast, slow)
                return "ok"
            if op == "M":
                if self.mains:
                    hydraulics.set_motor(t, arg == "1")
                return "ok"
            if op == "D":
                lines = json.loads(arg)
                self.display = lines
                self.screens.append((t, lines))
                if self.on_screen:
                    self.on_screen(lines)
                return "ok"
            if op == "DP":
                self.pixels = bytes.fromhex(arg)
                return "ok"
            if op == "K":
                return self.keys.popleft() if self.keys else ""
            if op == "T":
                return str(int(time.time() + self.clock_offset))
            if op == "X":
                self.self_cuts += 1
                self._mains_off(t)
                return "ok"
            if op == "F":
                self.wdt_fed = t
                return self.wdt_hang
            if op == "W":  # 0: held (a technician at the REPL, the board's timer feeds it)
                self.wdt_ms = int(arg) or None
                self.wdt_fed = t
                return "ok"
            if op == "NS":
                return self.net_why or "up"
            if op == "WR":
                return "1" if self.boot_by_wdt else "0"
            if op in ("CP", "CO", "CT", "ST", "PR"):
                return self._card_op(t, op, arg)
            if op == "H":
                self.boots += 1
                self._count_base = hydraulics.counts()
                self.boot_by_wdt, self._wdt_bit = self._wdt_bit, False
                self.wdt_ms = None  # a reset stops the watchdog
                self.wdt_hang = ""
                return "ok"
        return "!unknown " + op

    def _card_op(self, t, op, arg):
        if op == "PR":
            self.printed += bytes.fromhex(arg)
            return "ok"
        if op == "ST":
            if self.psam is None:
                return "!no PSAM"
            reply = self.psam.transceive(bytes.fromhex(arg))
            self.apdus.append((t, "psam", arg, reply.hex()))
            return reply.hex()
        card = self.card
        if op == "CP":
            return "1" if card is not None else "0"
        if card is None:
            return "!removed"
        if op == "CO":
            return card.power_on().hex()
        if self.pull_after is not None:
            if self.pull_after == 0:
                self.card = None
                self.pull_after = None
                return "!removed"
            self.pull_after -= 1
        reply = card.transceive(bytes.fromhex(arg))
        self.apdus.append((t, "card", arg, reply.hex()))
        if self.cards is not None:
            self.cards.save()
        return reply.hex()

    def _mains_off(self, t):
        """Mains lost: the pump motor stops and the solenoid valves drop shut, so the
        fuel stops with the power."""
        self.hyd.mains_off(t)
        self.mains = False
        self.wdt_ms = None  # the board dies with the mains (after its hold-up), its watchdog too

    # -- controls for tests and the demo -------------------------------------------------
    def power_off(self, warn):
        """Cut the mains; with `warn` the board's supply monitor raises its early warning
        (the board keeps running on its hold-up until the caller kills it)."""
        with self.lock:
            self._mains_off(self.clock())
            self.power_warning = warn

    def watchdog_off(self):
        """The board lost power: its watchdog stops with it."""
        with self.lock:
            self.wdt_ms = None

    def power_on(self):
        with self.lock:
            self.mains = True
            self.power_warning = False

    def watchdog_due(self):
        """The watchdog was started and not fed within its timeout."""
        with self.lock:
            return self.wdt_ms is not None and \
                (self.clock() - self.wdt_fed) * 1000 > self.wdt_ms

    def watchdog_reset(self):
        """The watchdog resets the board (the virtual board restarts the firmware): the
        MCU's relay outputs drop at once, shutting the valves and stopping the motor."""
        with self.lock:
            t = self.clock()
            self.hyd.set_valves(t, False, False)
            self.hyd.set_motor(t, False)
            self.wdt_ms = None
            self.wdt_resets += 1
            self._wdt_bit = True

    def route(self, station_port):
        """The board reaches the station at loopback `station_port` through the bench's
        network: the port to give the board (its config's station_addr)."""
        from .network import Network

        self.network = Network(station_port)
        return self.network.port

    def net_down(self, why="down"):
        """The board's network goes down: its net role says `why` ("no AP", "wrong
        passphrase", "no link", "down") and every connection through it drops."""
        with self.lock:
            self.net_why = why
        if self.network is not None:
            self.network.cut()

    def net_up(self):
        if self.network is not None:
            self.network.mend()
        with self.lock:
            self.net_why = ""

    def hang_task(self, name):
        """A watchdog test: the firmware task `name` ("keypad", "desk") stops checking in
        (the sim board learns it with its next feed)."""
        with self.lock:
            self.wdt_hang = name

    def keep_cards(self, cards):
        """Hold `cards` (a CardStore): its cards can be inserted by ASN and it is saved after
        every card APDU; an empty SAM slot gets a PSAM of the cards' issuer."""
        from .cards import VirtualPsam

        with self.lock:
            self.cards = cards
            if self.psam is None:
                self.psam = VirtualPsam(cards.issuer)

    def stored_card(self, asn):
        """The VirtualCard `asn` of the card store this bench holds."""
        return self.cards.cards[asn]

    def pixel_rows(self):
        """The display as a customer sees it: 64 rows of 128 pixels, 1 = lit."""
        px = self.pixels
        return [[px[(y >> 3) * 128 + x] >> (y & 7) & 1 for x in range(128)]
                for y in range(64)]

    def insert_card(self, card, pull_after=None):
        """Put a VirtualCard in the reader; with `pull_after` it is pulled after that many
        APDUs (between two commands, as a customer does)."""
        with self.lock:
            self.card = card
            self.pull_after = pull_after

    def remove_card(self):
        self.insert_card(None)  # an empty reader, no pull pending

    def advance_clock(self, seconds):
        with self.lock:
            self.clock_offset += seconds

    def press(self, keys):
        with self.lock:
            self.keys.extend(keys)

    def lift(self, trigger=True):
        with self.lock:
            self.hyd.set_nozzle(self.clock(), lifted=True, trigger=trigger)

    def hang_up(self):
        with self.lock:
            self.hyd.set_nozzle(self.clock(), lifted=False)

    def squeeze(self, on=True):
        with self.lock:
            self.hyd.set_nozzle(self.clock(), trigger=on)

    def tank(self, room_ml):
        with self.lock:
            self.hyd.set_tank(self.clock(), room_ml)

    def lose_channel(self, channel):
        with self.lock:
            self.hyd.lose_channel(self.clock(), channel)

    def creep(self, lpm):
        with self.lock:
            self.hyd.set_creep(self.clock(), lpm)

    def stick_valve(self, valve="fast"):
        with self.lock:
            self.hyd.stick_valve(self.clock(), valve)

    def flow(self, fast_lpm=None, slow_lpm=None):
        with self.lock:
            self.hyd.set_flow(self.clock(), fast_lpm, slow_lpm)

    def truth_ml(self):
        with self.lock:
            self.hyd.advance(self.clock())
            return self.hyd.truth_ml

    def counts(self):
        with self.lock:
            self.hyd.advance(self.clock())
            return self.hyd.counts()

    def valve_commands(self):
        with self.lock:
            return list(self.hyd.commands)

    def outputs(self):
        """(fast open, slow open, motor on) as the hardware is now."""
        with self.lock:
            hydraulics = self.hyd
            hydraulics.advance(self.clock())
            return hydraulics.valve["fast"], hydraulics.valve["slow"], hydraulics.motor
