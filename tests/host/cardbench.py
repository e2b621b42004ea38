"""The card desk's test bench: a station with the bench issuer's master keys, a blank
card in the virtual issuing reader, and a pump's card sale made straight on the virtual
card and PSAM (the APDUs of docs/card.md), uploaded as the FINAL bill the firmware makes."""
import struct

from pumpside_host.bench.cards import (
    TEST_TERMINAL_ID,
    Issuer,
    IssuingReader,
    VirtualCard,
    VirtualPsam,
)
from pumpside_host.station.accounts import bcd_datetime
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.service import Actor, Service

ISSUER = Issuer()
T0 = 1_795_000_000
ADMIN = Actor("ann", "administrator")
MANAGER = Actor("max", "manager")
CASHIER = Actor("cas", "cashier")
AUDITOR = Actor("aud", "auditor")
PIN = "2580"
HOLDER = {"name": "Li Lei", "id_number": "110101199003071234", "phone": "13800138000"}


def masters():
    entry = ISSUER.key_file_entry()
    return {ISSUER.issuer_id: {"tac": bytes.fromhex(entry["tac_key"]),
                               "load": bytes.fromhex(entry["load_key"]),
                               "purchase": bytes.fromhex(entry["purchase_key"])}}


def station(path):
    ledger = Ledger(str(path))
    ledger.add_terminal("P1")
    ledger.cards.hello("P1", {"psam": TEST_TERMINAL_ID.hex()})
    ledger.cards.set_masters(masters())
    return ledger, Service(ledger)


def blank():
    card = VirtualCard.blank(ISSUER)
    return card, IssuingReader(card)


class Pump:
    """A pump's card sales on the virtual card: grey lock, debit for unlock, the FINAL
    bill uploaded to the ledger."""

    def __init__(self, ledger, terminal="P1"):
        self.ledger = ledger
        self.terminal = terminal
        self.psam = VirtualPsam(ISSUER)
        self.seq = self.sale = 0

    def sell(self, card, amount, t=T0, upload=True):
        tid = self.psam.tid
        card.power_on()

        def send(dev, hexhead, body=b""):
            apdu = bytes.fromhex(hexhead) + (bytes((len(body),)) + body if body else b"")
            reply = dev.transceive(apdu)
            assert reply[-2:] == b"\x90\x00", (hexhead, reply.hex())
            return reply[:-2]

        send(card, "00A40400", bytes.fromhex("A00000000386980701"))
        init = send(card, "E07A0801", b"\x01" + tid)
        balance, ctc, card_random = init[0:4], init[4:6], init[11:15]
        dt = bcd_datetime(t)
        asn = bytes.fromhex(card.s["asn"])
        sam = send(self.psam, "E0400000", card_random + ctc + balance + b"\x91" + dt
                   + b"\x01\x00" + asn)
        ttc, psam_random, mac1 = sam[0:4], sam[4:8], sam[8:12]
        send(card, "E07C0800", ttc + psam_random + dt + mac1)
        value = struct.pack(">I", amount)
        gmac = send(self.psam, "E0440000", b"\x93" + asn + ctc + value)
        tac = send(card, "E07E0801", value + ctc + tid + ttc + dt + gmac)
        self.seq += 1
        self.sale += 1
        bill = {"type": "FINAL", "seq": self.seq, "sale": self.sale, "ml": amount,
                "amount": amount, "asn": card.s["asn"], "ctc": struct.unpack(">H", ctc)[0],
                "balance": card.s["balance"], "tac": tac.hex(),
                "psam_ttc": struct.unpack(">I", ttc)[0], "time": t}
        if upload:
            results, _ = self.ledger.store(self.terminal, [bill])
            assert results[0][1] == "stored", results
        return bill
