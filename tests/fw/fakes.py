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
    def show(self, lines):
        self.board.screens.append(lines)


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
