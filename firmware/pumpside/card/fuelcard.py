"""The user card's application: the PBOC e-purse with the fuel-card grey lock.

Each method is one APDU of docs/card.md; replies are checked for status and length and
parsed into plain values. Any failure is apdu.CardError.
"""
import struct

from . import apdu
from .apdu import CardError, call, command

AID = bytes.fromhex("A00000000386980701")
EF_ISSUER = 0x95
EF_HOLDER = 0x96
EF_RESTRICT = 0x9C


def bcd_digits(data):
    return "".join("%02x" % b for b in data)


def _malformed(what):
    return CardError(apdu.MALFORMED, "card data: bad " + what)


def _bcd_date(data, what):
    """YYYYMMDD from 4 BCD bytes; a nibble above 9 is not a date (CardError)."""
    d = bcd_digits(data)
    if not d.isdigit():
        raise _malformed(what)
    return d


def pin_block(pin):
    """PIN digits as BCD, padded with F to 3 bytes (VERIFY takes 3 bytes)."""
    if not 4 <= len(pin) <= 6 or not pin.isdigit():
        raise CardError(apdu.MALFORMED, "PIN must be 4 to 6 digits")
    return bytes.fromhex(pin + "f" * (6 - len(pin)))


class FuelCard:
    def __init__(self, reader):
        self.reader = reader

    def select(self):
        call(self.reader, command(0x00, 0xA4, 0x04, 0x00, AID))

    def issuer(self):
        d = call(self.reader, command(0x00, 0xB0, EF_ISSUER, 0x00, le=30), length=30)
        return {"issuer": d[0:8], "app_type": d[8:10], "asn": d[12:20],
                "start": _bcd_date(d[20:24], "start date"),
                "expiry": _bcd_date(d[24:28], "expiry date"),
                "version": d[28], "status": d[29]}

    def holder(self):
        d = call(self.reader, command(0x00, 0xB0, EF_HOLDER, 0x00, le=56), length=56)
        discount = d[41]
        if discount > 100:  # a percentage
            raise _malformed("discount")
        # no discount: its expiry date is not used and may be unset (FF)
        expiry = _bcd_date(d[42:46], "discount expiry") if discount else bcd_digits(d[42:46])
        return {"card_type": d[0], "staff": d[1], "name": d[2:22].rstrip(b"\0"),
                "discount": discount, "discount_expiry": expiry, "price_level": d[46]}

    def restrictions(self):
        d = call(self.reader, command(0x00, 0xB0, EF_RESTRICT, 0x00, le=36), length=36)
        grades = []
        for i in range(0, 8, 2):
            g = d[i:i + 2].rstrip(b"\0")
            if g:
                for b in g:  # printable ASCII, else decode() fails on MicroPython and CPython
                    if not 0x20 < b < 0x7F:
                        raise _malformed("grade")
                grades.append(g.decode())
        return {"grades": grades, "area": d[8:10], "plate": d[10:26].rstrip(b"\0"),
                "company": d[26:30], "daily_fills": d[30],
                "daily_amount": struct.unpack(">I", d[31:35])[0]}

    def balance(self):
        d = call(self.reader, command(0x80, 0x5C, 0x00, 0x02, le=4), length=4)
        return struct.unpack(">I", d)[0]

    def verify_pin(self, pin, staff=False):
        """Raises CardError; its tries_left() says how many tries remain (0: blocked).
        `staff`: the staff (driver) password of a plate-bound card, key reference 01."""
        call(self.reader, command(0x00, 0x20, 0x00, 0x01 if staff else 0x00, pin_block(pin)))

    def init_grey_lock(self, terminal_id):
        d = call(self.reader, command(0xE0, 0x7A, 0x08, 0x01, b"\x01" + terminal_id, le=15),
                 length=15)
        return {"balance": struct.unpack(">I", d[0:4])[0], "ctc": struct.unpack(">H", d[4:6])[0],
                "overdraft": d[6:9], "key_version": d[9], "algorithm": d[10],
                "random": d[11:15]}

    def grey_lock(self, ttc, psam_random, datetime7, mac1):
        d = call(self.reader, command(0xE0, 0x7C, 0x08, 0x00,
                                      struct.pack(">I", ttc) + psam_random + datetime7 + mac1,
                                      le=8), length=8)
        return d[0:4], d[4:8]  # GTAC, MAC2

    def debit_for_unlock(self, amount, ctc, terminal_id, ttc, datetime7, gmac):
        body = (struct.pack(">IH", amount, ctc) + terminal_id + struct.pack(">I", ttc)
                + datetime7 + gmac)
        return call(self.reader, command(0xE0, 0x7E, 0x08, 0x01, body, le=4), length=4)

    def grey_status(self, clear_tac=False):
        d = call(self.reader, command(0xE0, 0xCA, 0x01 if clear_tac else 0x00, 0x00, le=30),
                 length=30)
        return {"grey": d[0] == 1, "balance": struct.unpack(">I", d[1:5])[0],
                "ctc": struct.unpack(">H", d[5:7])[0], "terminal_id": d[9:15],
                "ttc": struct.unpack(">I", d[15:19])[0], "datetime": d[19:26],
                "gtac": d[26:30]}

    def record(self, n):
        d = call(self.reader, command(0x00, 0xB2, n, 0xC4, le=23), length=23)
        return {"ctc": struct.unpack(">H", d[0:2])[0], "amount": struct.unpack(">I", d[5:9])[0],
                "type": d[9], "terminal_id": d[10:16], "datetime": d[16:23]}
