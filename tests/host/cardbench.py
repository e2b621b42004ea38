"""The card desk's test bench: a station with the bench issuer's master keys, a blank
card in the virtual issuing reader, and a pump's card sale made straight on the virtual
card and PSAM (the APDUs of docs/card.md), uploaded as the FINAL bill the firmware makes."""
import struct

from pumpside.journal import EV_VOUCHER
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
    bill uploaded to the ledger; an escape (the card pulled between its grey lock and its
    debit: the ESCAPE bill, the card left grey) settled at a later insertion (the debit
    for unlock of the lock's CTC: the UNLOCK bill naming the escape's sale)."""

    def __init__(self, ledger, terminal="P1"):
        self.ledger = ledger
        self.terminal = terminal
        self.psam = VirtualPsam(ISSUER)
        self.seq = self.sale = 0
        self.escapes = {}  # asn -> (sale, ctc, ttc, amount) of the card's open escape
        self.vouchers_used = set()  # named by this pump's bills (its journal holds them)

    @staticmethod
    def _send(dev, hexhead, body=b""):
        apdu = bytes.fromhex(hexhead) + (bytes((len(body),)) + body if body else b"")
        reply = dev.transceive(apdu)
        assert reply[-2:] == b"\x90\x00", (hexhead, reply.hex())
        return reply[:-2]

    def _lock(self, card, t):
        """Power on, select, INITIALIZE FOR GREY LOCK, the PSAM's MAC1, GREY LOCK: the
        card is grey. Returns (ctc, ttc) of the lock and the card's balance at it."""
        send = self._send
        card.power_on()
        send(card, "00A40400", bytes.fromhex("A00000000386980701"))
        init = send(card, "E07A0801", b"\x01" + self.psam.tid)
        balance, ctc, card_random = init[0:4], init[4:6], init[11:15]
        sam = send(self.psam, "E0400000", card_random + ctc + balance + b"\x91"
                   + bcd_datetime(t) + b"\x01\x00" + bytes.fromhex(card.s["asn"]))
        ttc, psam_random, mac1 = sam[0:4], sam[4:8], sam[8:12]
        send(card, "E07C0800", ttc + psam_random + bcd_datetime(t) + mac1)
        return ctc, ttc, struct.unpack(">I", balance)[0]

    def _debit(self, card, amount, ctc, ttc, t):
        """The PSAM's GMAC and DEBIT FOR UNLOCK of the lock (ctc, ttc): the TAC."""
        value = struct.pack(">I", amount)
        gmac = self._send(self.psam, "E0440000", b"\x93" + bytes.fromhex(card.s["asn"])
                          + ctc + value)
        return self._send(card, "E07E0801", value + ctc + self.psam.tid + ttc
                          + bcd_datetime(t) + gmac)

    def _bill(self, kind, card, sale, amount, ctc, ttc, t, upload, **more):
        self.seq += 1
        bill = dict({"type": kind, "seq": self.seq, "sale": sale, "ml": amount,
                     "amount": amount, "asn": card.s["asn"],
                     "ctc": struct.unpack(">H", ctc)[0],
                     "psam_ttc": struct.unpack(">I", ttc)[0], "time": t}, **more)
        if upload:
            results, _ = self.ledger.store(self.terminal, [bill])
            assert results[0][1] == "stored", results
        return bill

    def voucher_for(self, asn):
        """The loyalty voucher this pump takes off the card's next fill: the one the
        station tells (loyalty.voucher_for), unless a bill in this pump's own journal,
        maybe not uploaded yet, already used it (None)."""
        voucher = self.ledger.loyalty.voucher_for(asn)
        return None if voucher is None or voucher["voucher"] in self.vouchers_used \
            else voucher

    def sell(self, card, amount, t=T0, upload=True, **more):
        """A whole sale of `amount`: its FINAL bill (stored when `upload`; `more`: other
        fields of the bill)."""
        ctc, ttc, _ = self._lock(card, t)
        tac = self._debit(card, amount, ctc, ttc, t)
        self.sale += 1
        return self._bill("FINAL", card, self.sale, amount, ctc, ttc, t, upload,
                          balance=card.s["balance"], tac=tac.hex(), **more)

    def sell_with_voucher(self, card, amount, voucher, t=T0, upload=True):
        """A whole sale of `amount` (what the card paid: the voucher off already) that
        applied the pending voucher `voucher` (its id): the EVENT EV_VOUCHER the pump
        journals after the debit, right before the FINAL, naming the voucher by its number
        (REWARDS_ANSWER's), and the FINAL (both stored when `upload`)."""
        self.vouchers_used.add(voucher)
        self.seq += 1
        event = {"type": "EVENT", "seq": self.seq, "time": t, "code": EV_VOUCHER,
                 "a": self.ledger.loyalty.redemption(voucher)["number"], "b": self.sale + 1}
        if upload:
            results, _ = self.ledger.store(self.terminal, [event])
            assert results[0][1] == "stored", results
        return [event, self.sell(card, amount, t, upload)]

    def escape(self, card, amount, t=T0, upload=True):
        """A fill of `amount` whose card was pulled before its debit: the ESCAPE bill (the
        money owed; like the firmware's, it carries the card's balance at its INITIALIZE
        FOR GREY LOCK), the card grey until `settle`."""
        ctc, ttc, balance = self._lock(card, t)
        self.sale += 1
        self.escapes[card.s["asn"]] = (self.sale, ctc, ttc, amount)
        return self._bill("ESCAPE", card, self.sale, amount, ctc, ttc, t, upload,
                          balance=balance, grade="92", price=100)

    def settle(self, card, t=T0, upload=True):
        """The grey card back at this pump: DEBIT FOR UNLOCK of its escape, the UNLOCK
        bill naming the escape's sale. None when the card has no open escape here."""
        if card.s["asn"] not in self.escapes:
            return None
        sale, ctc, ttc, amount = self.escapes.pop(card.s["asn"])
        card.power_on()
        self._send(card, "00A40400", bytes.fromhex("A00000000386980701"))
        tac = self._debit(card, amount, ctc, ttc, t)
        return self._bill("UNLOCK", card, sale, amount, ctc, ttc, t, upload,
                          balance=card.s["balance"], tac=tac.hex(), flags=0)
