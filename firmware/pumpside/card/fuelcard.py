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
EF_FLEET = 0x9D


def bcd_digits(data):
    return "".join("%02x" % b for b in data)


def _malformed(what):
    return CardError(apdu.MALFORMED, "card data: bad " + what)


def _bcd_date(data, what):
    """YYYYMMDD from 4 BCD bytes; a nibble above 9 is not a date (CardError)."""
    digits = bcd_digits(data)
    if not digits.isdigit():
        raise _malformed(what)
    return digits


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
        reply = call(self.reader, command(0x00, 0xB0, EF_ISSUER, 0x00, le=30), length=30)
        return {"issuer": reply[0:8], "app_type": reply[8:10], "asn": reply[12:20],
                "start": _bcd_date(reply[20:24], "start date"),
                "expiry": _bcd_date(reply[24:28], "expiry date"),
                "version": reply[28], "status": reply[29]}

    def holder(self):
        reply = call(self.reader, command(0x00, 0xB0, EF_HOLDER, 0x00, le=56), length=56)
        discount = reply[41]
        if discount > 100:  # a percentage
            raise _malformed("discount")
        # no discount: its expiry date is not used and may be unset (FF)
        expiry = _bcd_date(reply[42:46], "discount expiry") if discount \
            else bcd_digits(reply[42:46])
        return {"card_type": reply[0], "staff": reply[1], "name": reply[2:22].rstrip(b"\0"),
                "discount": discount, "discount_expiry": expiry, "price_level": reply[46]}

    def restrictions(self):
        reply = call(self.reader, command(0x00, 0xB0, EF_RESTRICT, 0x00, le=36), length=36)
        grades = []
        for i in range(0, 8, 2):
            grade = reply[i:i + 2].rstrip(b"\0")
            if grade:
                for b in grade:  # printable ASCII, else decode() fails on MicroPython and CPython
                    if not 0x20 < b < 0x7F:
                        raise _malformed("grade")
                grades.append(grade.decode())
        return {"grades": grades, "area": reply[8:10], "plate": reply[10:26].rstrip(b"\0"),
                "company": reply[26:30], "daily_fills": reply[30],
                "daily_amount": struct.unpack(">I", reply[31:35])[0]}

    def fleet_file(self):
        """A fleet card's EF1D, 32 bytes (fleetcard.parse), or None: the card has none."""
        try:
            reply = call(self.reader, command(0x00, 0xB0, EF_FLEET, 0x00, le=32), length=32)
        except CardError as e:
            if e.sw == 0x6A82:  # file not found: a vehicle card not loaded yet
                return None
            raise
        return reply

    def balance(self):
        reply = call(self.reader, command(0x80, 0x5C, 0x00, 0x02, le=4), length=4)
        return struct.unpack(">I", reply)[0]

    def verify_pin(self, pin, staff=False):
        """Raises CardError; its tries_left() says how many tries remain (0: blocked).
        `staff`: the staff (driver) password of a plate-bound card, key reference 01."""
        call(self.reader, command(0x00, 0x20, 0x00, 0x01 if staff else 0x00, pin_block(pin)))

    def init_grey_lock(self, terminal_id):
        reply = call(self.reader, command(0xE0, 0x7A, 0x08, 0x01, b"\x01" + terminal_id, le=15),
                     length=15)
        return {"balance": struct.unpack(">I", reply[0:4])[0],
                "ctc": struct.unpack(">H", reply[4:6])[0], "overdraft": reply[6:9],
                "key_version": reply[9], "algorithm": reply[10], "random": reply[11:15]}

    def grey_lock(self, ttc, psam_random, datetime7, mac1):
        reply = call(self.reader, command(0xE0, 0x7C, 0x08, 0x00,
                                          struct.pack(">I", ttc) + psam_random + datetime7 + mac1,
                                          le=8), length=8)
        return reply[0:4], reply[4:8]  # GTAC, MAC2

    def debit_for_unlock(self, amount, ctc, terminal_id, ttc, datetime7, gmac):
        body = (struct.pack(">IH", amount, ctc) + terminal_id + struct.pack(">I", ttc)
                + datetime7 + gmac)
        return call(self.reader, command(0xE0, 0x7E, 0x08, 0x01, body, le=4), length=4)

    def grey_status(self, clear_tac=False):
        reply = call(self.reader, command(0xE0, 0xCA, 0x01 if clear_tac else 0x00, 0x00, le=30),
                     length=30)
        return {"grey": reply[0] == 1, "balance": struct.unpack(">I", reply[1:5])[0],
                "ctc": struct.unpack(">H", reply[5:7])[0], "terminal_id": reply[9:15],
                "ttc": struct.unpack(">I", reply[15:19])[0], "datetime": reply[19:26],
                "gtac": reply[26:30]}

    def init_load(self, amount, terminal_id):
        """INITIALIZE FOR LOAD (the PIN verified): balance, online counter, card random,
        MAC1, as the card sent them (bytes)."""
        reply = call(self.reader, command(0x80, 0x50, 0x00, 0x02, b"\x01" + struct.pack(
            ">I", amount) + terminal_id, le=16), length=16)
        return {"balance": reply[0:4], "counter": reply[4:6], "random": reply[8:12],
                "mac1": reply[12:16]}

    def credit_load(self, when7, mac2):
        """CREDIT FOR LOAD with the station's date and time and MAC2 -> TAC."""
        return call(self.reader, command(0x80, 0x52, 0x00, 0x00, when7 + mac2, le=4),
                    length=4)

    def record(self, n):
        reply = call(self.reader, command(0x00, 0xB2, n, 0xC4, le=23), length=23)
        return {"ctc": struct.unpack(">H", reply[0:2])[0],
                "amount": struct.unpack(">I", reply[5:9])[0],
                "type": reply[9], "terminal_id": reply[10:16], "datetime": reply[16:23]}
