"""Veeder-Root TLS-3xx serial interface, computer format: the codec shared by the bench's
gauge simulator (bench/gauge.py) and the station's gauge client (station/gauge.py).

As the serial interface manual 576013-635 (TLS-300/350/350R) defines it (docs/gauge.md
names what was checked where):

  command   <SOH> i FFF TT              FFF function (201, 202, 205), TT tank (00: all)
  answer    <SOH> i FFF TT YYMMDDHHmm <data> && CCCC <ETX>
  unknown   <SOH> 9999FF1B <ETX>        the console did not understand the command

CCCC: four hex digits such that the 16-bit sum of every byte from SOH through `&&` plus
the value CCCC is 0. Floats: eight hex digits, the bits of an IEEE-754 single (big-endian,
"3F800000" = 1.0). Volumes in litres, heights and water in mm, temperatures in deg C
(the console's units as set up; the simulator sets up metric).

  I201 per tank: TT p ssss NN then NN floats: volume, TC volume, ullage, height, water,
       temperature, water volume
  I202 per tank: TT p dd then dd deliveries, each: start YYMMDDHHmm, end YYMMDDHHmm, NN
       then NN floats: starting volume, starting TC volume, starting water, starting
       temperature, ending volume, ending TC volume, ending water, ending temperature,
       starting height, ending height
  I205 per tank: TT nn then nn two-digit alarm codes (ALARMS)

Every malformed answer raises GaugeError with what was wrong; nothing else escapes decode.
"""
import struct
from collections import namedtuple

SOH = b"\x01"
ETX = b"\x03"
UNKNOWN = b"9999FF1B"  # the console's answer to a command it does not understand
INVENTORY, DELIVERY, ALARM = "201", "202", "205"
FUNCTIONS = (INVENTORY, DELIVERY, ALARM)

INVENTORY_FIELDS = ("volume", "tc_volume", "ullage", "height", "water", "temperature",
                    "water_volume")
DELIVERY_FIELDS = ("start_volume", "start_tc_volume", "start_water", "start_temperature",
                   "end_volume", "end_tc_volume", "end_water", "end_temperature",
                   "start_height", "end_height")
# in-tank alarm types (576013-635 function 205; the TLS2 manual's list agrees)
ALARMS = {"01": "setup data warning", "02": "leak alarm", "03": "high water alarm",
          "04": "overfill alarm", "05": "low product alarm", "06": "sudden loss alarm",
          "07": "high product alarm", "08": "invalid fuel level alarm",
          "09": "probe out alarm", "10": "high water warning",
          "11": "delivery needed warning", "12": "maximum product alarm",
          "13": "gross leak test fail alarm", "14": "periodic leak test fail alarm",
          "15": "annual leak test fail alarm", "27": "cold temperature warning"}

Inventory = namedtuple("Inventory", ("tank", "product", "status") + INVENTORY_FIELDS)
Delivery = namedtuple("Delivery", ("tank", "product", "start", "end") + DELIVERY_FIELDS)
TankAlarms = namedtuple("TankAlarms", "tank codes")
Answer = namedtuple("Answer", "function tank time items")


class GaugeError(ValueError):
    """An answer that is not what the manual defines (or no answer): why, in words."""


# -- the pieces ------------------------------------------------------------------------------
def checksum(body):
    """CCCC for `body` (SOH through `&&`): the 16-bit two's complement of its byte sum."""
    return (-sum(body)) & 0xFFFF


def hex_float(value):
    return "%08X" % struct.unpack(">I", struct.pack(">f", value))[0]


def float_hex(text):
    if len(text) != 8 or any(c not in "0123456789ABCDEFabcdef" for c in text):
        raise GaugeError("%r is not an 8-hex-digit IEEE float" % text)
    value = struct.unpack(">f", bytes.fromhex(text))[0]
    if value != value or value in (float("inf"), float("-inf")):
        raise GaugeError("%s is not a finite number" % text)
    return value


def command(function, tank=0):
    """The computer-format command: <SOH>iFFFTT."""
    if function not in FUNCTIONS or not 0 <= tank <= 99:
        raise ValueError("function %r tank %r: not a command this codec makes"
                         % (function, tank))
    return SOH + ("i%s%02d" % (function, tank)).encode()


def parse_command(data):
    """(function, tank) of a command <SOH>iFFFTT (an ETX or line end after it is
    allowed); GaugeError otherwise (the simulator answers UNKNOWN then)."""
    text = data.rstrip(b"\r\n\x03")
    if not text.startswith(SOH) or len(text) != 7:
        raise GaugeError("not a computer-format command: %r" % data[:32])
    body = text[1:].decode("ascii", "replace")
    if body[0] != "i" or not body[1:].isdigit():
        raise GaugeError("not a computer-format command: %r" % data[:32])
    return body[1:4], int(body[4:6])


def _time(when):
    """YYMMDDHHmm of a (year, month, day, hour, minute) tuple."""
    return "%02d%02d%02d%02d%02d" % (when[0] % 100, when[1], when[2], when[3], when[4])


def frame(function, tank, when, data):
    """A whole answer: SOH, i, function, tank, time, data, &&, checksum, ETX."""
    body = SOH + ("i%s%02d%s%s&&" % (function, tank, _time(when), data)).encode("ascii")
    return body + ("%04X" % checksum(body)).encode() + ETX


# -- encoding (the simulator) -----------------------------------------------------------------
def encode_inventory(tank, when, items):
    """items: Inventory tuples (status an int, 4 hex digits)."""
    data = "".join("%02d%s%04X%02X%s" % (i.tank, i.product, i.status, len(INVENTORY_FIELDS),
                                         "".join(hex_float(getattr(i, f))
                                                 for f in INVENTORY_FIELDS))
                   for i in items)
    return frame(INVENTORY, tank, when, data)


def encode_deliveries(tank, when, by_tank):
    """by_tank: [(tank, product, [Delivery])]."""
    out = []
    for number, product, deliveries in by_tank:
        out.append("%02d%s%02d" % (number, product, len(deliveries)))
        for d in deliveries:
            out.append("%s%s%02X%s" % (_time(d.start), _time(d.end), len(DELIVERY_FIELDS),
                                       "".join(hex_float(getattr(d, f))
                                               for f in DELIVERY_FIELDS)))
    return frame(DELIVERY, tank, when, "".join(out))


def encode_alarms(tank, when, items):
    """items: TankAlarms tuples."""
    data = "".join("%02d%02X%s" % (a.tank, len(a.codes), "".join(a.codes)) for a in items)
    return frame(ALARM, tank, when, data)


# -- decoding (the station) -------------------------------------------------------------------
class _Reader:
    def __init__(self, text):
        self.text = text
        self.at = 0

    def take(self, n, what):
        if self.at + n > len(self.text):
            raise GaugeError("answer truncated in %s (at character %d)" % (what, self.at))
        out = self.text[self.at:self.at + n]
        self.at += n
        return out

    def number(self, n, what, base=10):
        text = self.take(n, what)
        try:
            if base == 10 and not text.isdigit():
                raise ValueError
            return int(text, base)
        except ValueError:
            raise GaugeError("%s is %r, not a number" % (what, text)) from None

    def when(self, what):
        text = self.take(10, what)
        if not text.isdigit():
            raise GaugeError("%s is %r, not YYMMDDHHmm" % (what, text))
        y, mo, d, h, mi = (int(text[i:i + 2]) for i in range(0, 10, 2))
        if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59):
            raise GaugeError("%s %s is not a date and time" % (what, text))
        return (2000 + y, mo, d, h, mi)

    def floats(self, what, want):
        count = self.number(2, what + " field count", 16)
        if count < want:
            raise GaugeError("%s has %d fields, fewer than the %d expected"
                             % (what, count, want))
        return [float_hex(self.take(8, what + " field %d" % (i + 1))) for i in range(count)]

    def done(self):
        return self.at >= len(self.text)


def unframe(data):
    """The text between SOH and `&&` of one answer, its checksum checked; GaugeError for
    anything else (UNKNOWN: the console did not understand the command)."""
    if not isinstance(data, (bytes, bytearray)):
        raise GaugeError("an answer is bytes")
    data = bytes(data)
    if not data:
        raise GaugeError("empty answer")
    if not data.startswith(SOH):
        raise GaugeError("answer does not start with SOH: %r" % data[:16])
    if not data.endswith(ETX):
        raise GaugeError("answer truncated: no ETX at its end")
    inner = data[1:-1]
    if inner == UNKNOWN:
        raise GaugeError("the gauge did not understand the command (9999FF1B)")
    if len(inner) < 6 or inner[-6:-4] != b"&&":
        raise GaugeError("answer has no && and checksum before ETX")
    body, given = data[:-5], inner[-4:]
    try:
        value = int(given.decode("ascii"), 16)
    except (UnicodeDecodeError, ValueError):
        raise GaugeError("checksum %r is not 4 hex digits" % given) from None
    if (sum(body) + value) & 0xFFFF:
        raise GaugeError("wrong checksum %s (the answer's bytes want %04X)"
                         % (given.decode("ascii"), checksum(body)))
    try:
        return body[1:-2].decode("ascii")
    except UnicodeDecodeError:
        raise GaugeError("answer holds bytes that are not ASCII") from None


def decode(data, function=None, tank=None):
    """An Answer from the bytes of one whole answer (SOH..ETX). `function`, `tank`: what
    was asked; an answer to another command is a GaugeError."""
    text = unframe(data)
    r = _Reader(text)
    if r.take(1, "header") != "i":
        raise GaugeError("not a computer-format answer (no 'i')")
    got = r.take(3, "function")
    answered = r.number(2, "tank number")
    if function is not None and got != function:
        raise GaugeError("answer to function %s, not the %s asked" % (got, function))
    if tank is not None and answered != tank:
        raise GaugeError("answer for tank %02d, not the %02d asked" % (answered, tank))
    when = r.when("report time")
    if got == INVENTORY:
        items = _inventory(r)
    elif got == DELIVERY:
        items = _deliveries(r)
    elif got == ALARM:
        items = _alarms(r)
    else:
        raise GaugeError("function %s is not one this client reads" % got)
    return Answer(got, answered, when, items)


def _inventory(r):
    items = []
    while not r.done():
        number = r.number(2, "tank number")
        product = r.take(1, "product code")
        status = r.number(4, "tank %02d status" % number, 16)
        values = r.floats("tank %02d inventory" % number, len(INVENTORY_FIELDS))
        items.append(Inventory(number, product, status, *values[:len(INVENTORY_FIELDS)]))
    return items


def _deliveries(r):
    items = []
    while not r.done():
        number = r.number(2, "tank number")
        product = r.take(1, "product code")
        count = r.number(2, "tank %02d delivery count" % number)
        for k in range(count):
            what = "tank %02d delivery %d" % (number, k + 1)
            start, end = r.when(what + " start"), r.when(what + " end")
            values = r.floats(what, len(DELIVERY_FIELDS))
            items.append(Delivery(number, product, start, end,
                                  *values[:len(DELIVERY_FIELDS)]))
    return items


def _alarms(r):
    items = []
    while not r.done():
        number = r.number(2, "tank number")
        count = r.number(2, "tank %02d alarm count" % number, 16)
        codes = [r.take(2, "tank %02d alarm" % number) for _ in range(count)]
        for code in codes:
            if not code.isdigit():
                raise GaugeError("tank %02d alarm code %r is not a number" % (number, code))
        items.append(TankAlarms(number, codes))
    return items


def read_answer(recv, limit=65536):
    """Bytes of one answer read with recv(n) -> bytes (b"": the peer closed) up to its
    ETX; GaugeError when the peer closes first or sends more than `limit` bytes."""
    buf = bytearray()
    while True:
        chunk = recv(4096)
        if not chunk:
            raise GaugeError("the gauge closed the connection mid-answer (%d bytes, no "
                             "ETX)" % len(buf) if buf else "the gauge closed the "
                             "connection without answering")
        buf += chunk
        end = buf.find(ETX)
        if end >= 0:
            return bytes(buf[:end + 1])
        if len(buf) > limit:
            raise GaugeError("answer longer than %d bytes without ETX" % limit)
