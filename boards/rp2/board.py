"""Raspberry Pi Pico W board (RP2040, 2 MB flash, CYW43 WLAN): pin map and the HAL roles
of the dispenser on it. MicroPython v1.29 RPI_PICO_W, pumpside build: its frozen
_boot.py mounts only the first 256 KB of the storage area at / and leaves the rest to
the journal (docs/boards.md).

Wiring (GP pin -> dispenser terminal; every field wire goes through the I/O board's
optocouplers or relay drivers, never straight to a pin):

  pin    dir  terminal                          notes
  GP2    in   pulser channel A                  opto output, 4.7 k pull-up; PIO0 SM0
  GP3    in   pulser channel B                  90 deg after A; PIO0 SM1
  GP6    out  fast valve relay (main stage)     high = energised; ULN2003 driver
  GP7    out  slow valve relay (bypass stage)   high = energised
  GP8    out  motor contactor coil relay        high = energised
  GP9    in   nozzle switch                     to GND when lifted, internal pull-up
  GP4    out  card reader UART1 TX              reader module RX, 115200 8N1
  GP5    in   card reader UART1 RX              reader module TX
  GP4/5  -    PSAM UART                         the PSAM is slot 1 of the same reader
  GP16   i/o  display I2C0 SDA                  SSD1306 128x64 at 0x3C
  GP17   out  display I2C0 SCL                  400 kHz
  GP10-13     keypad rows 1-4                   open drain, driven low one at a time
  GP18-21     keypad columns 1-4                internal pull-ups
  GP14   in   recall key                        to GND, internal pull-up
  GP0    out  printer UART0 TX                  ESC/POS printer RX, 9600 8N1
  GP1    in   printer UART0 RX                  printer TX (status)
  GP22   in   power-fail (brown-out comparator) low = mains lost; 10 k pull-up on board
  LED    out  status LED                        the Pico W's LED (on the CYW43's WL_GPIO0)

The RP2040 has two UARTs, hence one reader module with two slots. GP15, GP26-28 are
free. GP6-8 are inputs (relays off) from reset until make() claims them.
"""
import cardlink
import keymatrix
import machine
import pageflash
import parts
import piocount
import rp2
import ssd1306
from micropython import const

PULSER_A = const(2)
PULSER_B = const(3)
VALVE_FAST = const(6)
VALVE_SLOW = const(7)
MOTOR = const(8)
NOZZLE = const(9)
READER_UART = const(1)
READER_TX = const(4)
READER_RX = const(5)
I2C_SDA = const(16)
I2C_SCL = const(17)
KEY_ROWS = (10, 11, 12, 13)
KEY_COLS = (18, 19, 20, 21)
KEY_RECALL = const(14)
PRINTER_UART = const(0)
PRINTER_TX = const(0)
PRINTER_RX = const(1)
POWER_FAIL = const(22)
LED = "LED"

# The storage area of RPI_PICO_W is the last 848 KB of the 2 MB flash; the pumpside
# _boot.py gives / the first 256 KB (firmware modules, config.json) and the journal the
# remaining 592 KB (148 blocks of 4 KB), both as offsets into that area.
ROOT_BYTES = const(256 * 1024)
JOURNAL_BYTES = const(592 * 1024)


class Pulser:
    """Both channels on PIO0; count() reads both and keeps B for count_b()."""

    def __init__(self, pin_a, pin_b):
        self.a = piocount.PioCounter(0, pin_a)
        self.b = piocount.PioCounter(1, pin_b)
        self._b = 0

    def count(self):
        a = self.a.count()
        self._b = self.b.count()
        return a

    def count_b(self):
        return self._b


class Board:
    name = "rp2"
    config_path = "config.json"

    def __init__(self):
        self.valves = parts.Valves(parts.Output(VALVE_FAST), parts.Output(VALVE_SLOW))
        self.motor = parts.Motor(parts.Output(MOTOR))
        self.pulser = Pulser(PULSER_A, PULSER_B)
        self.nozzle = parts.Nozzle(NOZZLE)
        self.power_fail = parts.PowerFail(POWER_FAIL)
        port = cardlink.ReaderPort(machine.UART(READER_UART, baudrate=115200,
                                                tx=machine.Pin(READER_TX),
                                                rx=machine.Pin(READER_RX),
                                                timeout=10, rxbuf=512))
        self.card = cardlink.CardSlot(port, 0)
        self.psam = cardlink.PsamSlot(port, 1)
        i2c = machine.I2C(0, scl=machine.Pin(I2C_SCL), sda=machine.Pin(I2C_SDA), freq=400000)
        self.display = ssd1306.TextDisplay(ssd1306.Ssd1306(i2c))
        self.keypad = keymatrix.KeyMatrix(KEY_ROWS, KEY_COLS, recall=KEY_RECALL)
        self.printer = parts.Printer(machine.UART(PRINTER_UART, baudrate=9600,
                                                  tx=machine.Pin(PRINTER_TX),
                                                  rx=machine.Pin(PRINTER_RX), txbuf=1024))
        self.flash = pageflash.PageFlash(rp2.Flash(start=ROOT_BYTES, len=JOURNAL_BYTES))
        self.clock = parts.Clock()
        self.wdt = parts.Watchdog()  # the RP2040's longest timeout is 8388 ms; a soft timer
        self.net = parts.Net()
        self.led = parts.Led(LED)


def make():
    return Board()
