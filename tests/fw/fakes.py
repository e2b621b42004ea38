"""In-memory HAL roles for firmware tests (CPython and MicroPython alike)."""


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
        board = self

        class Pulser:
            def count(self):
                return board.a

            def count_b(self):
                return board.b

        class Valves:
            def set(self, fast, slow):
                board.valve_log.append((fast, slow))

        class Motor:
            def set(self, on):
                board.motor_log.append(on)

        class Nozzle:
            def lifted(self):
                return board.is_lifted

        class Display:
            def show(self, lines):
                board.screens.append(lines)

        class Keypad:
            def read(self):
                return board.keys.pop(0) if board.keys else None

        class PowerFail:
            def asserted(self):
                return board.power_warning

        class Clock:
            def time(self):
                return board.now

        self.power_warning = False
        self.now = 1_700_000_000
        self.power_fail = PowerFail()
        self.clock = Clock()
        class Flash:  # the journal runs on a plain directory in these tests
            def readblocks(self, n, buf, off=0):
                raise OSError("FakeBoard has no flash; tests give the journal a directory")

            writeblocks = ioctl = readblocks

        self.flash = Flash()

        class Card:  # a reader whose card (any object with transceive) tests can set
            def present(self):
                return board.card_obj is not None

            def power_on(self):
                if board.card_obj is None:
                    raise OSError("no card")
                return b"\x3b\x00"

            def transceive(self, apdu):
                if board.card_obj is None:
                    raise OSError("no card")
                return board.card_obj.transceive(apdu)

        class Psam:
            def transceive(self, apdu):
                return board.psam_obj.transceive(apdu)

        class Printer:
            def write(self, data):
                board.printed += data

        self.card_obj = None
        self.psam_obj = None
        self.printed = b""
        self.card = Card()
        self.psam = Psam()
        self.printer = Printer()
        self.pulser = Pulser()
        self.valves = Valves()
        self.motor = Motor()
        self.nozzle = Nozzle()
        self.display = Display()
        self.keypad = Keypad()
