"""The terminal's PSAM: it holds the issuer keys and makes and checks the MACs, so the
firmware carries no card keys. One method per APDU of docs/card.md."""
import struct

from .apdu import call, command

T_GREY_LOCK = 0x91
T_UNLOCK = 0x93


class Psam:
    def __init__(self, reader):
        self.reader = reader

    def terminal_id(self):
        return call(self.reader, command(0x00, 0xB0, 0x96, 0x00, le=6), length=6)

    def init_grey_lock(self, card_random, ctc, balance, datetime7, key_version, algorithm,
                       asn):
        body = (card_random + struct.pack(">HI", ctc, balance) + bytes((T_GREY_LOCK,))
                + datetime7 + bytes((key_version, algorithm)) + asn)
        reply = call(self.reader, command(0xE0, 0x40, 0x00, 0x00, body, le=12), length=12)
        return struct.unpack(">I", reply[0:4])[0], reply[4:8], reply[8:12]  # TTC, random, MAC1

    def verify_mac2(self, mac2):
        call(self.reader, command(0xE0, 0x42, 0x00, 0x00, mac2))

    def gmac(self, asn, ctc, amount):
        body = bytes((T_UNLOCK,)) + asn + struct.pack(">HI", ctc, amount)
        return call(self.reader, command(0xE0, 0x44, 0x00, 0x00, body, le=8), min_length=4)[:4]
