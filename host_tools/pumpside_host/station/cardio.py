"""The card desk's APDUs (docs/card.md): the firmware's FuelCard with the issuing writes
(UPDATE BINARY, WRITE KEY), the loads (INITIALIZE / CREDIT FOR LOAD), PIN RESET and the
log; the files a new card gets; the TAC of a load."""
import struct
import time

from pumpside.card import apdu
from pumpside.card.apdu import CardError, call, command
from pumpside.card.fuelcard import FuelCard

from .. import cardcrypto

T_LOAD = 0x02  # PBOC: an e-purse load
DESK_TID = bytes.fromhex("0000000000D1")  # the desk as the card's log names it
CARD_TYPE = {"registered": 1, "anonymous": 2, "fleet": 3}  # EF16 card type
FILES = ((0x96, 56), (0x9C, 36), (0x95, 30))  # written in this order: EF15 (the number) last
KEY_PIN, KEY_PURCHASE, KEY_LOAD, KEY_TAC = 0, 1, 2, 3
LOG_RECORDS = 10


class DeskCard(FuelCard):
    """The firmware's FuelCard (its loads: INITIALIZE / CREDIT FOR LOAD) with the issuing
    APDUs of docs/card.md."""

    def file(self, sfi, length):
        """A file's raw bytes, or None when the card has not got it (a blank card)."""
        response = apdu.exchange(self.reader, command(0x00, 0xB0, sfi, 0x00, le=length))
        if response.sw == 0x6A82:
            return None
        if not response.ok or len(response.data) != length:
            raise CardError(apdu.STATUS, "%04X %s" % (response.sw, apdu.meaning(response.sw)),
                            response.sw)
        return response.data

    def write_file(self, sfi, data):
        call(self.reader, command(0x00, 0xD6, sfi, 0x00, data))

    def write_key(self, which, data):
        call(self.reader, command(0x80, 0xD4, 0x01, which, data))

    def pin_reset(self, block, mac):
        call(self.reader, command(0x80, 0x5E, 0x00, 0x00, block + mac))

    def log(self):
        entries = []
        for n in range(1, LOG_RECORDS + 1):
            try:
                entries.append(self.record(n))
            except CardError as e:
                if e.sw == 0x6A83:  # no more records
                    break
                raise
        return entries


def load_tac(tac_key, after, counter, amount, terminal_id, when7):
    """The TAC of CREDIT FOR LOAD: DTK (single DES) over new balance 4 ‖ online counter 2
    (before the load) ‖ amount 4 ‖ 02 ‖ terminal id 6 ‖ date 4 ‖ time 3."""
    return cardcrypto.mac(cardcrypto.single(tac_key), struct.pack(">IHI", after, counter, amount)
                          + bytes((T_LOAD,)) + terminal_id + when7)


def card_files(issuer, asn, kind, holder, now):
    """EF15, EF16, EF1C of a new card (layouts: docs/card.md). The ID number is on the
    card as on the station: its last 4 only."""
    start = time.strftime("%Y%m%d", time.gmtime(now))
    # valid 10 years (a card issued on 29 February runs out on the 28th)
    expiry = "%04d%s" % (int(start[:4]) + 10, "0228" if start[4:] == "0229" else start[4:])
    ef15 = (issuer + b"\x00\x01\x01\x00" + bytes.fromhex(asn) + bytes.fromhex(start)
            + bytes.fromhex(expiry) + bytes((1, 1)))
    name = holder[0].encode()[:20].ljust(20, b"\0")
    id_field = (b"*" * 4 + holder[1].encode()).ljust(19, b"\0") if holder[1] else bytes(19)
    ef16 = (bytes((CARD_TYPE[kind], 0)) + name + id_field + b"\x00"
            + bytes.fromhex("20991231") + b"\x00" + bytes(9))
    ef1c = bytes(36)  # no restrictions: a fleet card's are written at each load (fleet.py)
    return {0x95: ef15, 0x96: ef16, 0x9C: ef1c}
