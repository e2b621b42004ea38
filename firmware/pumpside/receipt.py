"""The receipt: its text lines and the ESC/POS bytes for a thermal printer.

What a customer and an auditor need: station, pump, grade, litres, unit price, amount,
discount, balance after, the card number masked, TTC, TAC and time. The printer is put
in UTF-8 mode (Epson `FS ( C`), since MicroPython has no GB18030 codec for the Chinese.
"""
from . import meter

WIDTH = 32  # characters on a 58 mm roll

ESC_INIT = b"\x1b@"
UTF8_MODE = b"\x1c(C\x02\x000\x02"  # FS ( C pL pH fn=48 m=2: UTF-8
CENTER = b"\x1ba\x01"
LEFT = b"\x1ba\x00"
BOLD_ON = b"\x1bE\x01"
BOLD_OFF = b"\x1bE\x00"
FEED_CUT = b"\x1bd\x04\x1dVB\x00"  # feed 4 lines, partial cut


def mask(asn):
    """Card number with the middle hidden: 6200********0017."""
    digits = "".join("%02x" % b for b in asn)
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


def _row(label, value):
    gap = WIDTH - len(label) - len(value)
    return label + " " * (gap if gap > 0 else 1) + value


def _time(bcd7):
    digits = "".join("%02x" % b for b in bcd7)
    return "%s-%s-%s %s:%s:%s" % (digits[0:4], digits[4:6], digits[6:8], digits[8:10],
                                  digits[10:12], digits[12:14])


def lines(bill, station, datetime7, list_price=None, points=None):
    """Receipt text from a settled bill (journal layout) and the sale's card fields.
    `points`: (earned, total) of the card's loyalty points, "later" (the station credits
    them when the sale arrives), None (no loyalty). A loyalty voucher shows as the
    metered amount less the amount paid."""
    out = [station, "加油凭证 FUEL RECEIPT", ""]
    out.append(_row("Pump/Nozzle", str(bill["nozzle"])))
    out.append(_row("Grade", bill["grade"]))
    out.append(_row("Volume", meter.fmt_litres(bill["ml"]) + " L"))
    out.append(_row("Unit price", meter.fmt_price(bill["price"]) + "/L"))
    if list_price is not None and list_price != bill["price"]:
        full = meter.amount_for_ml(bill["ml"], list_price)
        out.append(_row("List price", meter.fmt_price(list_price) + "/L"))
        out.append(_row("Discount", meter.fmt_fixed(full - bill["amount"], 2)))
    metered = meter.amount_for_ml(bill["ml"], bill["price"])
    if metered > bill["amount"]:  # the card paid less: a loyalty voucher (rewards.py)
        out.append(_row("Voucher", "-" + meter.fmt_fixed(metered - bill["amount"], 2)))
    out.append(_row("Amount", meter.fmt_fixed(bill["amount"], 2)))
    out.append(_row("Balance", meter.fmt_fixed(bill["balance"], 2)))
    if type(points) is tuple:
        out.append(_row("Points earned", str(points[0])))
        out.append(_row("Points total", str(points[1])))
    elif points is not None:
        out.append("Points credited later")
    out.append(_row("Card", mask(bill["asn"][:8])))  # the bill's field has room for 10
    out.append(_row("TTC", str(bill["psam_ttc"])))
    out.append(_row("TAC", "".join("%02X" % b for b in bill["tac"])))
    out.append(_row("Sale", str(bill["sale"])))
    out.append(_time(datetime7))
    return out


def escpos(text_lines):
    """ESC/POS bytes: init, UTF-8, the first two lines centred and bold, cut."""
    out = bytearray(ESC_INIT + UTF8_MODE + CENTER + BOLD_ON)
    for i, line in enumerate(text_lines):
        if i == 2:
            out += BOLD_OFF + LEFT
        out += line.encode() + b"\n"
    out += FEED_CUT
    return bytes(out)
