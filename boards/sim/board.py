"""Virtual board: every HAL role is a request to the bench over a local TCP socket.

The bench (pumpside_host.bench) plays the dispenser: hydraulics, two-channel pulser,
valves with response delay, nozzle, keypad and display. Each role call is one line out
and one line back, synchronous like a register access on a real board.

Environment: PUMPSIDE_BENCH=host:port (default 127.0.0.1:7700); PUMPSIDE_FLASH_BLOCKS
(4 KB blocks of the journal flash, default 256 = 1 MB); PUMPSIDE_FLASH_FAULT and
PUMPSIDE_FLASH_ERASE_MS (see simflash). The config file is config.json and the flash
image flash.bin in the working directory, as on a board's flash root.
"""
import os
import socket
import time
from binascii import hexlify

from simflash import SimFlash

_DEFAULT_BENCH = "127.0.0.1:7700"
CONFIG_PATH = "config.json"


class BenchLink:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        sock = socket.socket()
        sock.connect(socket.getaddrinfo(host, int(port))[0][-1])
        # TCP_NODELAY (IPPROTO_TCP 6, option 1): a call written in parts (the display's
        # pixels) goes out at once, not held for the bench's delayed ACK
        sock.setsockopt(6, 1, 1)
        self.sock = sock
        self.stream = sock.makefile("rwb", 0) if hasattr(sock, "recv_into") else sock
        self._owed = 0  # replies not read yet: a call cut short by ^C between its two halves
        self.call("H board")

    def call(self, line, data=None):
        stream = self.stream
        while self._owed:  # the cut-short call's reply comes first: not this call's
            stream.readline()
            self._owed -= 1
        self._owed += 1
        if data is None:
            stream.write(line.encode() + b"\n")
        else:  # `data` (the display's 1 KB of pixels) as hex after the line, no copies
            stream.write(line.encode())
            stream.write(hexlify(data))
            stream.write(b"\n")
        reply = stream.readline()
        self._owed -= 1
        if not reply:
            raise OSError("bench closed the connection")
        reply = reply.decode().rstrip("\n")
        if reply.startswith("!"):
            raise OSError("bench: " + reply[1:])
        return reply


class Pulser:
    def __init__(self, link):
        self.link = link
        self._b = 0
        self.power_warning = False

    def count(self):
        # one bench read latches both channels and the supply monitor, as one input scan
        a, b, power_fail = self.link.call("P").split()
        self._b = int(b)
        self.power_warning = power_fail == "1"
        return int(a)

    def count_b(self):
        # channel B was latched by the same bench read as channel A (one PCNT snapshot)
        return self._b


class Valves:
    def __init__(self, link):
        self.link = link

    def set(self, fast, slow):
        self.link.call("V %d %d" % (1 if fast else 0, 1 if slow else 0))


class Motor:
    def __init__(self, link):
        self.link = link

    def set(self, on):
        self.link.call("M %d" % (1 if on else 0))


class Nozzle:
    def __init__(self, link):
        self.link = link

    def lifted(self):
        return self.link.call("N") == "1"


class Panel:
    """The display's pixels: an SSD1306's 128x64 1-bit RAM (framebuf MONO_VLSB), drawn by
    the real boards' driver code (boards/common/ssd1306.py); flush() hands them to the
    bench (`DP hex`), where tests read them."""

    def __init__(self, link):
        import framebuf

        self.link = link
        self.buf = bytearray(128 * 64 // 8)
        self.fb = framebuf.FrameBuffer(self.buf, 128, 64, framebuf.MONO_VLSB)

    def flush(self):
        self.link.call("DP ", self.buf)


class Display:
    """The lines as the firmware gave them (`D json`: both languages), then the pixels a
    real board's SSD1306 shows for them (ASCII lines only, a pay code beside them)."""

    def __init__(self, link):
        from ssd1306 import TextDisplay  # flashed from boards/common; needs framebuf

        self.link = link
        self.panel = TextDisplay(Panel(link))

    def show(self, lines, code=None):
        import json

        self.link.call("D " + json.dumps(lines))
        self.panel.show(lines, code)


class PowerFail:
    """The supply monitor's early warning (mains lost, running on the hold-up capacitor).
    Latched by the pulser read the control loop makes every tick."""

    def __init__(self, pulser):
        self.pulser = pulser

    def asserted(self):
        return self.pulser.power_warning


class Clock:
    """Wall-clock seconds (Unix epoch) from the bench, which tests can move forward; set()
    (the station's time, through the link) keeps an offset from it, as an RTC is set."""

    def __init__(self, link):
        self.link = link
        self.offset = 0

    def time(self):
        return int(self.link.call("T")) + self.offset

    def set(self, seconds):
        self.offset = seconds - int(self.link.call("T"))


class Keypad:
    def __init__(self, link):
        self.link = link

    def read(self):
        return self.link.call("K") or None


class CardReader:
    """The user-card slot: contact switch, power-up (ATR) and T=0 APDUs. A card pulled
    between two APDUs makes transceive raise OSError, as a real reader's timeout does."""

    def __init__(self, link):
        self.link = link

    def present(self):
        return self.link.call("CP") == "1"

    def power_on(self):
        return bytes.fromhex(self.link.call("CO"))

    def transceive(self, apdu):
        return bytes.fromhex(self.link.call("CT " + apdu.hex()))


class PsamSlot:
    def __init__(self, link):
        self.link = link

    def transceive(self, apdu):
        return bytes.fromhex(self.link.call("ST " + apdu.hex()))


class Printer:
    def __init__(self, link):
        self.link = link

    def write(self, data):
        for i in range(0, len(data), 256):  # a UART FIFO's worth per line
            self.link.call("PR " + data[i:i + 256].hex())


class Watchdog:
    """The bench keeps the watchdog's timer: `W ms` starts it, `F` feeds it (its reply names
    the task a watchdog test hangs, or is empty). Not fed in time, the virtual board resets
    the firmware process, its outputs dropping, as a real MCU's watchdog does; the bench
    remembers that the reset was the watchdog's (`WR`) until the next boot's hello."""

    FORWARD_MS = 250  # feeds reach the bench at most this often (each is a round trip)

    def __init__(self, link):
        self.link = link
        self._hang = None
        self._sent = None  # time.ticks_ms() of the last feed sent to the bench

    def start(self, timeout_ms):
        self.link.call("W %d" % timeout_ms)
        self._sent = None

    def feed(self):
        # the firmware feeds on every round of its tasks' check-ins (~20 times a second);
        # a real watchdog's feed is a register write, this one a bench round trip, so the
        # feeds between two sent FORWARD_MS apart are coalesced: a firmware that stops
        # feeding is still reset within its timeout plus FORWARD_MS
        now = time.ticks_ms()
        if self._sent is not None and time.ticks_diff(now, self._sent) < self.FORWARD_MS:
            return
        self._sent = now
        self._hang = self.link.call("F") or None

    def caused_reset(self):
        return self.link.call("WR") == "1"

    def hold(self):
        # a real board feeds from a timer while a technician holds the REPL: the bench's
        # watchdog is simply stopped (`W 0`)
        self.link.call("W 0")

    def hang(self):
        return self._hang


class Net:
    """The network as the bench plays it (bench/network.py): `NS` -> "up" or why it is
    down. There is nothing to start (the host's own network carries the sockets); the
    bench takes it down and up, dropping the connections through it."""

    def __init__(self, link):
        self.link = link

    def up(self, kind, ssid, passphrase):
        pass

    def connected(self):
        return self.status() == "up"

    def status(self):
        return self.link.call("NS")


class Board:
    name = "sim"

    def __init__(self, addr):
        link = BenchLink(addr)
        self.link = link
        self.pulser = Pulser(link)
        self.valves = Valves(link)
        self.motor = Motor(link)
        self.nozzle = Nozzle(link)
        self.display = Display(link)
        self.keypad = Keypad(link)
        self.power_fail = PowerFail(self.pulser)
        self.clock = Clock(link)
        self.card = CardReader(link)
        self.psam = PsamSlot(link)
        self.printer = Printer(link)
        self.wdt = Watchdog(link)
        self.net = Net(link)
        self.flash = make_flash(on_cut=lambda: link.call("X"))
        self.config_path = CONFIG_PATH


def make_flash(on_cut=None):
    """The flash role alone (service operations at the REPL: no bench connection)."""
    blocks = int(os.getenv("PUMPSIDE_FLASH_BLOCKS") or 256)
    return SimFlash("flash.bin", blocks=blocks, fault=os.getenv("PUMPSIDE_FLASH_FAULT"),
                    on_cut=on_cut, erase_ms=int(os.getenv("PUMPSIDE_FLASH_ERASE_MS") or 0))


def make():
    return Board(os.getenv("PUMPSIDE_BENCH") or _DEFAULT_BENCH)
