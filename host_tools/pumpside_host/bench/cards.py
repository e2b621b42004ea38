"""Virtual fuel IC cards and the terminal's PSAM: the APDUs of docs/card.md, with real
3DES/DES, on state that persists (a JSON file per card set) across firmware reboots.

Keys: one issuer master key per key set, diversified per issuer and per card (ASN); the
PSAM holds the master keys, the card only its own keys, the firmware none.
"""
import json
import os
import struct

from .. import cardcrypto

T_GREY_LOCK = 0x91
T_UNLOCK = 0x93
AID = bytes.fromhex("A00000000386980701")  # the e-purse application
SW_OK = b"\x90\x00"
# Test keys of the bench's issuer: public, for the virtual cards only.
TEST_ISSUER_ID = bytes.fromhex("4341524430303031")
TEST_PURCHASE_MK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
TEST_TAC_MK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
TEST_TERMINAL_ID = bytes.fromhex("000000000101")


def sw(code):
    return bytes((code >> 8, code & 0xFF))


def bcd(text):
    return bytes.fromhex(text)


class Issuer:
    """The issuer's secrets: master purchase and TAC keys (the PSAM and the issuing
    tool hold them; cards get diversified copies)."""

    def __init__(self, issuer_id=TEST_ISSUER_ID, purchase_mk=TEST_PURCHASE_MK,
                 tac_mk=TEST_TAC_MK):
        self.issuer_id = issuer_id
        self.purchase_mk = purchase_mk
        self.tac_mk = tac_mk

    def keys(self, asn):
        return (cardcrypto.card_key(self.purchase_mk, self.issuer_id, asn),
                cardcrypto.card_key(self.tac_mk, self.issuer_id, asn))


class VirtualCard:
    """One user card: files, purse, PIN, grey flag, log. State is a plain dict."""

    def __init__(self, issuer, state):
        self.issuer = issuer
        self.s = state
        self.selected = False
        self.session = None  # (session key, ctc, card random) between INIT and GREY LOCK
        self.wrong_mac2 = False  # fault on demand: the card answers GREY LOCK with a bad MAC2
        # fault on demand: INS -> (reply, executed): answer that instruction with these
        # bytes, after really executing it (the reply was garbled on the way back) or not
        self.garble = {}
        self.pk, self.tk = issuer.keys(bytes.fromhex(state["asn"]))

    @classmethod
    def issue(cls, issuer, asn, balance, pin="123456", expiry="20301231",
              start="20240101", card_type=1, grades=(), daily_fills=0, daily_amount=0,
              discount=0, price_level=0, name="TEST", plate="", status=1, staff_pin=""):
        state = {"asn": asn, "balance": balance, "pin": pin, "pin_tries": 3, "ctc": 0,
                 "expiry": expiry, "start": start, "card_type": card_type,
                 "grades": list(grades), "daily_fills": daily_fills,
                 "daily_amount": daily_amount, "discount": discount,
                 "price_level": price_level, "name": name, "plate": plate,
                 "status": status, "staff_pin": staff_pin, "staff_tries": 3,
                 "grey": False, "grey_tid": "", "grey_ttc": 0,
                 "grey_dt": "", "gtac": "", "tac_unread": False, "log": []}
        return cls(issuer, state)

    # -- files ---------------------------------------------------------------------------
    def ef15(self):
        s = self.s
        return (self.issuer.issuer_id + b"\x00\x01" + b"\x01\x00" + bytes.fromhex(s["asn"])
                + bcd(s["start"]) + bcd(s["expiry"]) + bytes((1, s["status"])))

    def ef16(self):
        s = self.s
        name = s["name"].encode()[:20].ljust(20, b"\0")
        return (bytes((s["card_type"], 1 if s["card_type"] == 4 else 0)) + name
                + bytes(19) + bytes((s["discount"],)) + bcd("20991231")
                + bytes((s["price_level"],)) + bytes(9))

    def ef1c(self):
        s = self.s
        grades = b"".join(g.encode()[:2].ljust(2, b"\0") for g in s["grades"][:4])
        plate = s["plate"].encode()[:16].ljust(16, b"\0")
        return (grades.ljust(8, b"\0") + b"\0\0" + plate + bytes(4)
                + bytes((s["daily_fills"],)) + struct.pack(">I", s["daily_amount"]) + b"\0")

    # -- the APDUs ---------------------------------------------------------------------------
    def transceive(self, apdu):
        bad = self.garble.get(apdu[1])
        if bad is not None:
            reply, executed = bad
            if executed:
                self._transceive(apdu)
            return reply
        return self._transceive(apdu)

    def _transceive(self, apdu):
        cla, ins, p1 = apdu[0], apdu[1], apdu[2]
        body = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
        if ins == 0xA4:
            if body == AID:
                self.selected = True
                return b"\x6f\x00" + SW_OK
            return sw(0x6A82)
        if not self.selected:
            return sw(0x6985)
        if ins == 0xB0 and cla == 0x00:
            files = {0x95: self.ef15, 0x96: self.ef16, 0x9C: self.ef1c}
            if p1 not in files:
                return sw(0x6A82)
            return files[p1]() + SW_OK
        if ins == 0x20:
            return self._verify(body, apdu[3])
        if ins == 0x5C and cla == 0x80:
            return struct.pack(">I", self.s["balance"]) + SW_OK
        if cla == 0xE0 and ins == 0x7A:
            return self._init_grey(body)
        if cla == 0xE0 and ins == 0x7C:
            return self._grey_lock(body)
        if cla == 0xE0 and ins == 0x7E:
            return self._debit_unlock(body)
        if cla == 0xE0 and ins == 0xCA:
            return self._grey_status(p1)
        if ins == 0xB2:
            return self._record(p1)
        return sw(0x6D00)

    def _verify(self, body, p2):
        """P2 00: the holder's PIN; 01: the staff (driver) password of a plate-bound card."""
        s = self.s
        pin, tries = ("pin", "pin_tries") if p2 == 0 else ("staff_pin", "staff_tries")
        if p2 not in (0, 1) or (p2 == 1 and not s.get(pin)):
            return sw(0x6A88)  # no such key reference on this card
        if s[tries] == 0:
            return sw(0x6983)
        if body.hex() == (s[pin] + "f" * (6 - len(s[pin]))).lower():
            s[tries] = 3
            return SW_OK
        s[tries] -= 1
        return sw(0x63C0 | s[tries]) if s[tries] else sw(0x6983)

    def _init_grey(self, body):
        s = self.s
        if s["grey"]:
            return sw(0x6985)
        if len(body) != 7:
            return sw(0x6700)
        rnd = os.urandom(4)
        ctc = struct.pack(">H", s["ctc"])
        self.session = {"rand": rnd, "ctc": ctc, "tid": body[1:7]}
        return (struct.pack(">I", s["balance"]) + ctc + bytes(3) + b"\x01\x00" + rnd
                + SW_OK)

    def _grey_lock(self, body):
        s = self.s
        ses = self.session
        if ses is None or len(body) != 19:
            return sw(0x6985)
        ttc, dt, mac1 = body[0:4], body[8:15], body[15:19]  # 4:8 is the PSAM's random
        sk = cardcrypto.session_key(self.pk, ses["rand"], ses["ctc"], ttc[2:4])
        if cardcrypto.mac(sk, bytes((T_GREY_LOCK,)) + ses["tid"] + dt) != mac1:
            return sw(0x9302)
        gtac = cardcrypto.mac(cardcrypto.single(self.tk), struct.pack(">I", s["balance"])
                              + bytes((T_GREY_LOCK,)) + ses["tid"] + dt)
        mac2 = cardcrypto.mac(sk, struct.pack(">I", s["balance"]) + bytes((T_GREY_LOCK,)))
        s.update(grey=True, grey_tid=ses["tid"].hex(), grey_ttc=struct.unpack(">I", ttc)[0],
                 grey_dt=dt.hex(), gtac=gtac.hex(), grey_ctc=s["ctc"])
        s["ctc"] += 1
        self.session = None
        if self.wrong_mac2:
            mac2 = bytes(b ^ 0x55 for b in mac2)
        return gtac + mac2 + SW_OK

    def _debit_unlock(self, body):
        s = self.s
        if not s["grey"]:
            return sw(0x6985)
        if len(body) != 27:
            return sw(0x6700)
        amount, ctc, tid = body[0:4], body[4:6], body[6:12]
        ttc, dt, gmac = body[12:16], body[16:23], body[23:27]
        value = struct.unpack(">I", amount)[0]
        if struct.unpack(">H", ctc)[0] != s["grey_ctc"]:
            return sw(0x6985)  # not the transaction that locked this card
        expect = cardcrypto.mac(cardcrypto.single(self.pk), amount + bytes((T_UNLOCK,)) + ctc
                                + bytes.fromhex(s["asn"]))
        if gmac != expect:
            return sw(0x9302)
        if value > s["balance"]:
            return sw(0x9401)
        s["balance"] -= value
        s["grey"] = False
        s["tac_unread"] = True
        tac = cardcrypto.mac(cardcrypto.single(self.tk),
                             amount + bytes((T_UNLOCK,)) + tid + ttc + dt)
        s["log"].insert(0, {"ctc": struct.unpack(">H", ctc)[0], "amount": value,
                            "type": T_UNLOCK, "tid": tid.hex(), "dt": dt.hex()})
        del s["log"][10:]
        return tac + SW_OK

    def _grey_status(self, p1):
        s = self.s
        if p1 == 1:
            s["tac_unread"] = False
        out = bytearray(30)
        out[0] = 1 if s["grey"] else 0
        out[1:5] = struct.pack(">I", s["balance"])
        out[5:7] = struct.pack(">H", s.get("grey_ctc", s["ctc"]))
        if s["grey_tid"]:
            out[9:15] = bytes.fromhex(s["grey_tid"])
            out[15:19] = struct.pack(">I", s["grey_ttc"])
            out[19:26] = bytes.fromhex(s["grey_dt"])
            out[26:30] = bytes.fromhex(s["gtac"])
        return bytes(out) + SW_OK

    def _record(self, n):
        log = self.s["log"]
        if not 1 <= n <= len(log):
            return sw(0x6A83)
        e = log[n - 1]
        return (struct.pack(">H", e["ctc"]) + bytes(3) + struct.pack(">I", e["amount"])
                + bytes((e["type"],)) + bytes.fromhex(e["tid"]) + bytes.fromhex(e["dt"])
                + SW_OK)


class VirtualPsam:
    """The terminal's secure access module: terminal id, TTC, master keys."""

    def __init__(self, issuer, terminal_id=TEST_TERMINAL_ID, ttc=0):
        self.issuer = issuer
        self.tid = terminal_id
        self.ttc = ttc
        self._ses = None

    def transceive(self, apdu):
        cla, ins = apdu[0], apdu[1]
        body = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
        if cla == 0x00 and ins == 0xB0 and apdu[2] == 0x96:
            return self.tid + SW_OK
        if cla == 0xE0 and ins == 0x40:
            return self._init(body)
        if cla == 0xE0 and ins == 0x42:
            return self._verify_mac2(body)
        if cla == 0xE0 and ins == 0x44:
            return self._gmac(body)
        return sw(0x6D00)

    def _init(self, body):
        if len(body) != 28:
            return sw(0x6700)
        rnd, ctc, balance, typ = body[0:4], body[4:6], body[6:10], body[10]
        dt, asn = body[11:18], body[20:28]
        pk, _tk = self.issuer.keys(asn)
        self.ttc += 1
        ttc = struct.pack(">I", self.ttc)
        sk = cardcrypto.session_key(pk, rnd, ctc, ttc[2:4])
        psam_rand = os.urandom(4)
        self._ses = {"sk": sk, "balance": balance}
        return ttc + psam_rand + cardcrypto.mac(sk, bytes((typ,)) + self.tid + dt) + SW_OK

    def _verify_mac2(self, body):
        # MAC2 covers the balance the card reported at INIT || type: the card proves it
        # holds the session key, and the PSAM knows both inputs
        ses = self._ses
        if ses is None or len(body) != 4:
            return sw(0x6985)
        self._ses = None
        if cardcrypto.mac(ses["sk"], ses["balance"] + bytes((T_GREY_LOCK,))) != body:
            return sw(0x9302)
        return SW_OK

    def _gmac(self, body):
        if len(body) != 15 or body[0] != T_UNLOCK:
            return sw(0x6A80)
        asn, ctc, amount = body[1:9], body[9:11], body[11:15]
        pk, _tk = self.issuer.keys(asn)
        mac = cardcrypto.mac(cardcrypto.single(pk), amount + bytes((T_UNLOCK,)) + ctc + asn)
        return mac + SW_OK


class CardStore:
    """Issued cards kept in a JSON file so balances, CTC, grey flags and logs persist."""

    def __init__(self, path, issuer=None):
        self.path = path
        self.issuer = issuer or Issuer()
        self.cards = {}
        if os.path.exists(path):
            with open(path) as f:
                for asn, state in json.load(f).items():
                    self.cards[asn] = VirtualCard(self.issuer, state)

    def issue(self, asn, balance, **kw):
        card = VirtualCard.issue(self.issuer, asn, balance, **kw)
        self.cards[asn] = card
        self.save()
        return card

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({asn: c.s for asn, c in self.cards.items()}, f, indent=1)
        os.replace(tmp, self.path)
