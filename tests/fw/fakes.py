"""In-memory HAL roles for firmware tests (CPython and MicroPython alike).

The roles are classes of this module, each holding the board whose fields the tests set
(counts, nozzle, keys, power warning, time, card): built once per board, they cost the
MicroPython heap of tier 2 only their instances.
"""


class _Role:
    def __init__(self, board):
        self.board = board


class Pulser(_Role):
    def count(self):
        return self.board.a

    def count_b(self):
        return self.board.b


class Valves(_Role):
    def set(self, fast, slow):
        self.board.valve_log.append((fast, slow))


class Motor(_Role):
    def set(self, on):
        self.board.motor_log.append(on)


class Nozzle(_Role):
    def lifted(self):
        return self.board.is_lifted


class Display(_Role):
    def show(self, lines, code=None):  # code: a pay-by-phone QR code (size, matrix)
        self.board.screens.append(lines)
        self.board.codes.append(code)


class Keypad(_Role):
    def read(self):
        keys = self.board.keys
        return keys.pop(0) if keys else None


class PowerFail(_Role):
    def asserted(self):
        return self.board.power_warning


class Clock(_Role):
    def time(self):
        return self.board.now


class Flash:  # the journal runs on a plain directory in these tests
    def readblocks(self, n, buf, off=0):
        raise OSError("FakeBoard has no flash; tests give the journal a directory")

    writeblocks = ioctl = readblocks


class Card(_Role):  # a reader whose card (any object with transceive) tests can set
    def present(self):
        return self.board.card_obj is not None

    def power_on(self):
        if self.board.card_obj is None:
            raise OSError("no card")
        return b"\x3b\x00"

    def transceive(self, apdu):
        if self.board.card_obj is None:
            raise OSError("no card")
        return self.board.card_obj.transceive(apdu)


class Psam(_Role):
    def transceive(self, apdu):
        return self.board.psam_obj.transceive(apdu)


class Printer(_Role):
    def write(self, data):
        self.board.printed += data


class Wdt(_Role):  # counts feeds; `wdt_hang` names the task a watchdog test hangs
    def start(self, timeout_ms=None):
        self.board.wdt_ms = timeout_ms

    hold = start  # held at the REPL: stopped, as the sim board's

    def feed(self):
        self.board.feeds += 1

    def caused_reset(self):
        return self.board.wdt_reset

    def hang(self):
        return self.board.wdt_hang


class Net(_Role):  # `net_status` is "up" or the reason it is down; up() calls recorded
    def up(self, kind, ssid, passphrase):
        self.board.net_ups.append((kind, ssid, passphrase))

    def connected(self):
        return self.board.net_status == "up"

    def status(self):
        return self.board.net_status


class ScriptedReader:
    """A card or PSAM reader that answers from a list and records what it was sent: an
    exception in the list is raised in its turn, and an empty list is a card pulled."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.sent = []

    def transceive(self, cmd):
        self.sent.append(bytes(cmd))
        if not self.replies:
            raise OSError("card gone")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


class FakeBoard:
    name = "fake"

    def __init__(self, config_path="config.json"):
        self.config_path = config_path
        self.a = 0
        self.b = 0
        self.is_lifted = False
        self.keys = []
        self.screens = []
        self.codes = []  # the QR code shown with each screen, or None
        self.valve_log = []
        self.motor_log = []
        self.power_warning = False
        self.now = 1_700_000_000
        self.card_obj = None
        self.psam_obj = None
        self.printed = b""
        self.power_fail = PowerFail(self)
        self.clock = Clock(self)
        self.flash = Flash()
        self.card = Card(self)
        self.psam = Psam(self)
        self.printer = Printer(self)
        self.pulser = Pulser(self)
        self.valves = Valves(self)
        self.motor = Motor(self)
        self.nozzle = Nozzle(self)
        self.display = Display(self)
        self.keypad = Keypad(self)
        self.wdt_ms = None  # started with this timeout
        self.feeds = 0
        self.wdt_reset = False  # the last reset was the watchdog's
        self.wdt_hang = None
        self.wdt = Wdt(self)
        self.net_status = "up"
        self.net_ups = []
        self.net = Net(self)


# -- a Pump on a fake board, its journal in a scratch directory -----------------------
ATTENDED = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
            "service_pin": "2468", "sale_mode": "attended"}
_SCRATCH = []
T0 = 1_700_000_000  # the journal tests' clock


def sale_bill(**kw):
    """A bill (record.new_bill) as a journal test's sale begins: nozzle 1, grade 92 at
    7590, a 20 l volume preset, at T0; `kw` on top."""
    from pumpside import record

    bill = record.new_bill()
    bill.update({"time": T0, "nozzle": 1, "grade": "92", "price": 7590, "mode": "V",
                 "preset_ml": 20000})
    bill.update(kw)
    return bill


def open_journal(root, begin=False):
    """journal.Journal(root) opened as at boot; a sale begun (sale_bill()) when `begin`."""
    from pumpside.journal import Journal

    journal = Journal(root)
    journal.open()
    if begin:
        journal.begin(sale_bill())
    return journal


def scratch_dir():
    """A new empty directory, removed by remove_scratch() (a test module's teardown)."""
    from _t import tmpdir

    path = tmpdir()
    _SCRATCH.append(path)
    return path


def remove_scratch():
    from _t import rmtree

    while _SCRATCH:
        rmtree(_SCRATCH.pop())


def pump_rig(events=None, software_id="", **config_over):
    """(board, app.Pump) on a FakeBoard with an opened journal; ATTENDED's config with
    `config_over` on top."""
    import json

    from pumpside import app, config, journal

    board = FakeBoard()
    values = dict(ATTENDED)
    values.update(config_over)
    sales = journal.Journal(scratch_dir() + "/journal")
    sales.open()
    return board, app.Pump(board, config.parse(json.dumps(values)), sales, events=events,
                           software_id=software_id)


def fuelling_rig(upto, **config_over):
    """pump_rig(**config_over) with a 100 ml preset (V100E), the nozzle lifted and the
    meter counted (both channels) from 0 to `upto` pulses in fives, a tick at each."""
    board, pump = pump_rig(**config_over)
    press(pump, "V100E")
    board.is_lifted = True
    pump.disp.tick()
    for a in range(0, upto + 1, 5):
        board.a = board.b = a
        pump.disp.tick()
    return board, pump


def press(pump, keys):
    """The keys, one after the other, on the pump's keypad."""
    from pumpside.compat import ticks_ms

    for k in keys:
        pump.keypad.key(k, ticks_ms())


def event_log():
    """A new metrology event log (events.py), opened, in a scratch directory."""
    from pumpside import events

    return events.open_log(scratch_dir() + "/events")


def event_rows(pump):
    """The pump's event-log records as (who, what, old, new)."""
    return [(r["who"], r["what"], r["old"], r["new"]) for r in pump.events.records()]
