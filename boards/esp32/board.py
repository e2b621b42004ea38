"""ESP32 board (ESP32-WROOM-32E, 4 MB flash, e.g. ESP32-DevKitC): pin map and the HAL
roles of the dispenser on it. MicroPython v1.29 ESP32_GENERIC with the pumpside
partition table (docs/boards.md).

Wiring (GPIO -> dispenser terminal; every field wire goes through the I/O board's
optocouplers or relay drivers, never straight to a pin):

  GPIO  dir  terminal                          notes
  36    in   pulser channel A                  opto output, 4.7 k pull-up on the I/O board
  39    in   pulser channel B                  90 deg after A; PCNT units 0 and 1
  25    out  fast valve relay (main stage)     high = energised; ULN2003 driver
  26    out  slow valve relay (bypass stage)   high = energised
  33    out  motor contactor coil relay        high = energised
  27    in   nozzle switch                     to GND when lifted, internal pull-up
  17    out  card reader UART1 TX              reader module RX, 115200 8N1
  16    in   card reader UART1 RX              reader module TX
  17/16 -    PSAM UART                         the PSAM is slot 1 of the same reader
  21    i/o  display I2C SDA                   SSD1306 128x64 at 0x3C
  22    out  display I2C SCL                   400 kHz
  18,19,23,32  keypad rows 1-4                 open drain, driven low one at a time
  13,14,15,5   keypad columns 1-4              internal pull-ups
  12    in   recall key                        to GND; GPIO12 must not be high at boot
  4     out  printer UART2 TX                  ESC/POS printer RX, 9600 8N1
  35    in   printer UART2 RX                  printer TX (status), input-only pin
  34    in   power-fail (brown-out comparator) low = mains lost; 10 k pull-up on board
  2     out  status LED                        the DevKitC's blue LED
  0     -    BOOT button                       left alone (strapping pin)

Pins 25, 26, 33 stay low through reset and boot, so no relay pulls in while the chip
starts; 6-11 are the flash, 1 and 3 the USB console (mpremote). GPIO36 and 39 see ~80 ns
low glitches while the WLAN or ADC1 works (ESP32 errata 3.11): the PCNT filter swallows
them on the pulser, and no IRQ is ever put on them.
"""
import cardlink
import esp32
import keymatrix
import machine
import network
import parts
import ssd1306
from micropython import const

PULSER_A = const(36)
PULSER_B = const(39)
VALVE_FAST = const(25)
VALVE_SLOW = const(26)
MOTOR = const(33)
NOZZLE = const(27)
READER_UART = const(1)
READER_TX = const(17)
READER_RX = const(16)
I2C_SDA = const(21)
I2C_SCL = const(22)
KEY_ROWS = (18, 19, 23, 32)
KEY_COLS = (13, 14, 15, 5)
KEY_RECALL = const(12)
PRINTER_UART = const(2)
PRINTER_TX = const(4)
PRINTER_RX = const(35)
POWER_FAIL = const(34)
LED = const(2)

JOURNAL_LABEL = "journal"  # data partition of the pumpside table, 1 MB at 0x300000
# PCNT's glitch filter: 12 us, just under the hardware's longest (1023 APB cycles); a real
# pulser pulse is over 1 ms long even at 120 L/min and 133.5 pulses per litre
FILTER_NS = const(12000)


class Pulser:
    """Two PCNT units through machine.Counter, which extends the 16-bit hardware count
    in software on each overflow IRQ: value() is a monotonic 64-bit count. count() reads
    both channels in one go and keeps B for count_b(), like one input scan."""

    def __init__(self, pin_a, pin_b):
        c = machine.Counter
        self.a = c(0, machine.Pin(pin_a, machine.Pin.IN), edge=c.RISING, filter_ns=FILTER_NS)
        self.b = c(1, machine.Pin(pin_b, machine.Pin.IN), edge=c.RISING, filter_ns=FILTER_NS)
        self.a.value(0)
        self.b.value(0)
        self._b = 0

    def count(self):
        a = self.a.value()
        self._b = self.b.value()
        return a

    def count_b(self):
        return self._b


class NoJournal:
    """Stands in for a missing journal partition: every access raises OSError, so the
    firmware closes the pump and the display says why (a table flashed without it)."""

    why = "no '%s' partition: flash the pumpside partition table" % JOURNAL_LABEL

    def readblocks(self, n, buf, off=0):
        raise OSError(self.why)

    def writeblocks(self, n, buf, off=None):
        raise OSError(self.why)

    def ioctl(self, op, arg):
        raise OSError(self.why)


def journal_flash():
    """The journal's block device: the data partition labelled "journal". Partition
    speaks littlefs' extended protocol (offset = program only, ioctl 6 = erase 4 KB)."""
    found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label=JOURNAL_LABEL)
    return found[0] if found else NoJournal()


class Ethernet:
    """A wired PHY on network.LAN (the hal.py net role's interface, through parts.Net):
    started once; up with its DHCP address (ETH_GOT_IP: isconnected() is the cable's
    link alone). No join: the PHY brings its link up by itself."""

    def __init__(self, lan):
        self.lan = lan
        lan.active(True)

    def up(self, ssid, passphrase):
        pass

    def connected(self):
        return self.lan.status() == network.ETH_GOT_IP

    def status(self):
        if self.connected():
            return "up"
        return "no address" if self.lan.isconnected() else "no link"


def lan8720(mdc, mdio, power, phy_addr, ref_clk):
    """The ESP32's own EMAC with a LAN8720 on RMII. RMII's data pins are fixed in the
    silicon (TXD0 19, TX_EN 21, TXD1 22, RXD0 25, RXD1 26, CRS_DV 27); MDC and MDIO are
    free to choose; the 50 MHz reference clock comes from the ESP32 on GPIO16 or 17."""
    pin = machine.Pin
    args = {"mdc": pin(mdc), "mdio": pin(mdio), "power": pin(power), "phy_addr": phy_addr,
            "phy_type": network.PHY_LAN8720, "ref_clk": pin(ref_clk),
            "ref_clk_mode": pin.OUT}
    return Ethernet(network.LAN(**args))


def w5500(spi_id, sck, mosi, miso, cs, irq):
    """A W5500 on an SPI bus (its own MAC and PHY; MicroPython's ESP32 build drives it
    through network.LAN, phy_type PHY_W5500, with its interrupt line)."""
    pin = machine.Pin
    spi = machine.SPI(spi_id, baudrate=20000000, sck=pin(sck), mosi=pin(mosi), miso=pin(miso))
    args = {"phy_type": network.PHY_W5500, "phy_addr": 0, "spi": spi, "cs": pin(cs),
            "int": pin(irq)}
    return Ethernet(network.LAN(**args))


# The wired PHYs of this board by config net_kind, e.g. an Olimex ESP32-POE's
# {"lan8720": lambda: lan8720(23, 18, 12, 0, 17)}. The DevKitC wiring above has
# none and no pins left for one (RMII wants 19, 21, 22, 25-27; a W5500 five free pins):
# it joins the WLAN (net_kind wlan, its default).
WIRED = {}


class Board:
    name = "esp32"
    config_path = "config.json"

    def __init__(self):
        self.valves = parts.Valves(parts.Output(VALVE_FAST), parts.Output(VALVE_SLOW))
        self.motor = parts.Motor(parts.Output(MOTOR))
        self.pulser = Pulser(PULSER_A, PULSER_B)
        self.nozzle = parts.Nozzle(NOZZLE)
        self.power_fail = parts.PowerFail(POWER_FAIL)
        port = cardlink.ReaderPort(machine.UART(READER_UART, baudrate=115200, tx=READER_TX,
                                                rx=READER_RX, timeout=10, rxbuf=512))
        self.card = cardlink.CardSlot(port, 0)
        self.psam = cardlink.PsamSlot(port, 1)
        i2c = machine.I2C(0, scl=machine.Pin(I2C_SCL), sda=machine.Pin(I2C_SDA), freq=400000)
        self.display = ssd1306.TextDisplay(ssd1306.Ssd1306(i2c))
        self.keypad = keymatrix.KeyMatrix(KEY_ROWS, KEY_COLS, recall=KEY_RECALL)
        self.printer = parts.Printer(machine.UART(PRINTER_UART, baudrate=9600, tx=PRINTER_TX,
                                                  rx=PRINTER_RX, txbuf=1024))
        self.flash = journal_flash()
        self.clock = parts.Clock()
        self.wdt = parts.Watchdog(timer_id=0)  # hardware timer 0 feeds it at the REPL
        self.net = parts.Net(WIRED)  # built at the link's first up(), not here
        self.led = parts.Led(LED)


def make():
    return Board()
