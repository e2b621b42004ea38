"""Virtual fuel IC cards and the terminal's PSAM: the APDUs of docs/card.md, with real
3DES/DES, on state that persists (a JSON file per card set) across firmware reboots.

Keys: one issuer master key per key set, diversified per issuer and per card (ASN); the
PSAM holds the master keys, the card only its own keys, the firmware none.

A blank card (VirtualCard.blank) has the e-purse application but no files, keys or PIN:
the station's card desk personalises it through an IssuingReader (UPDATE BINARY of EF15,
EF16, EF1C; WRITE KEY of its purchase, load and TAC keys and its PIN) and loads it
(INITIALIZE / CREDIT FOR LOAD). The bench loads keys in plain: a real issuing reader
wraps them under the card's transport key (secure messaging), which the bench leaves out.
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
TEST_LOAD_MK = bytes.fromhex("13579BDF02468ACEECA86420FDB97531")
T_LOAD = 0x02  # an e-purse load (PBOC transaction type)
# WRITE KEY's P2: which key (0: the holder's PIN)
KEY_PIN, KEY_PURCHASE, KEY_LOAD, KEY_TAC = 0, 1, 2, 3
TEST_TERMINAL_ID = bytes.fromhex("000000000101")


def sw(code):
    return bytes((code >> 8, code & 0xFF))


def bcd(text):
    return bytes.fromhex(text)


def _dispatch(device, commands, apdu, body):
    """Run the handler `commands` names for the APDU's (CLA, INS), or (None, INS) for any
    CLA, with (P1, P2, body); an instruction it does not know is 6D00."""
    handler = commands.get((apdu[0], apdu[1])) or commands.get((None, apdu[1]))
    if handler is None:
        return sw(0x6D00)
    return handler(device, apdu[2], apdu[3], body)


class Issuer:
    """The issuer's secrets: master purchase and TAC keys (the PSAM and the issuing
    tool hold them; cards get diversified copies)."""

    def __init__(self, issuer_id=TEST_ISSUER_ID, purchase_mk=TEST_PURCHASE_MK,
                 tac_mk=TEST_TAC_MK, load_mk=TEST_LOAD_MK):
        self.issuer_id = issuer_id
        self.purchase_mk = purchase_mk
        self.tac_mk = tac_mk
        self.load_mk = load_mk

    def keys(self, asn):
        return (cardcrypto.card_key(self.purchase_mk, self.issuer_id, asn),
                cardcrypto.card_key(self.tac_mk, self.issuer_id, asn))

    def load_key(self, asn):
        return cardcrypto.card_key(self.load_mk, self.issuer_id, asn)

    def key_file_entry(self):
        """This issuer as an entry of the station's issuer key file (--issuer-keys)."""
        return {"id": self.issuer_id.hex(), "tac_key": self.tac_mk.hex(),
                "load_key": self.load_mk.hex(), "purchase_key": self.purchase_mk.hex()}


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
        self.pin_ok = False  # VERIFY passed since the last power-on (a load needs it)
        self.load_session = None  # between INITIALIZE and CREDIT FOR LOAD
        self._keys()

    def _keys(self):
        """The card's own keys: written at issue ("keys"), or, for a card made by
        VirtualCard.issue, the issuer's diversified; a blank card has none."""
        keys = self.s.get("keys")
        if keys is not None:
            self.pk, self.lk, self.tk = (bytes.fromhex(keys[k]) if k in keys else None
                                         for k in ("purchase", "load", "tac"))
            return
        asn = bytes.fromhex(self.s["asn"])
        self.pk, self.tk = self.issuer.keys(asn)
        self.lk = self.issuer.load_key(asn)

    @classmethod
    def blank(cls, issuer):
        """A card as it comes from the factory: the application, no files, keys or PIN."""
        state = {"asn": "", "balance": 0, "pin": "", "pin_tries": 3, "ctc": 0,
                 "load_ctc": 0, "status": 0, "staff_pin": "", "staff_tries": 3,
                 "grey": False, "grey_tid": "", "grey_ttc": 0, "grey_dt": "", "gtac": "",
                 "tac_unread": False, "log": [], "files": {}, "keys": {}}
        return cls(issuer, state)

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
    def _file(self, sfi, build):
        """A file's bytes: as written at issue, else built from the state (a card made
        by VirtualCard.issue); None: a blank card's file not written yet."""
        files = self.s.get("files")
        if files is None:
            return build()
        data = files.get("%02x" % sfi)
        return None if data is None else bytes.fromhex(data)

    def ef15(self):
        return self._file(0x95, self._ef15)

    def ef16(self):
        return self._file(0x96, self._ef16)

    def ef1c(self):
        return self._file(0x9C, self._ef1c)

    def ef1d(self):
        """A fleet card's EF1D as the desk wrote it (None: not a fleet card)."""
        data = (self.s.get("files") or {}).get("9d")
        return None if data is None else bytes.fromhex(data)

    def _ef15(self):
        state = self.s
        return (self.issuer.issuer_id + b"\x00\x01" + b"\x01\x00" + bytes.fromhex(state["asn"])
                + bcd(state["start"]) + bcd(state["expiry"]) + bytes((1, state["status"])))

    def _ef16(self):
        state = self.s
        name = state["name"].encode()[:20].ljust(20, b"\0")
        return (bytes((state["card_type"], 1 if state["card_type"] == 4 else 0)) + name
                + bytes(19) + bytes((state["discount"],)) + bcd("20991231")
                + bytes((state["price_level"],)) + bytes(9))

    def _ef1c(self):
        state = self.s
        grades = b"".join(g.encode()[:2].ljust(2, b"\0") for g in state["grades"][:4])
        plate = state["plate"].encode()[:16].ljust(16, b"\0")
        return (grades.ljust(8, b"\0") + b"\0\0" + plate + bytes(4)
                + bytes((state["daily_fills"],)) + struct.pack(">I", state["daily_amount"])
                + b"\0")

    # -- the APDUs ---------------------------------------------------------------------------
    def power_on(self):
        """Power and reset: the answer to reset (a T=0 ATR); nothing is selected."""
        self.selected = False
        self.pin_ok = False
        self.load_session = None
        return bytes.fromhex("3b6d000080318065b0830201")

    def transceive(self, apdu):
        bad = self.garble.get(apdu[1])
        if bad is not None:
            reply, executed = bad
            if executed:
                self._transceive(apdu)
            return reply
        return self._transceive(apdu)

    def _transceive(self, apdu):
        body = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
        if apdu[1] == 0xA4:
            if body == AID:
                self.selected = True
                return b"\x6f\x00" + SW_OK
            return sw(0x6A82)
        if not self.selected:
            return sw(0x6985)
        return _dispatch(self, self.COMMANDS, apdu, body)

    def _read_binary(self, p1, p2, body):
        files = {0x95: self.ef15, 0x96: self.ef16, 0x9C: self.ef1c, 0x9D: self.ef1d}
        data = files[p1]() if p1 in files else None
        if data is None:
            return sw(0x6A82)
        return data + SW_OK

    def _balance(self, p1, p2, body):
        return struct.pack(">I", self.s["balance"]) + SW_OK

    def _verify(self, p1, p2, body):
        """P2 00: the holder's PIN; 01: the staff (driver) password of a plate-bound card."""
        state = self.s
        pin, tries = ("pin", "pin_tries") if p2 == 0 else ("staff_pin", "staff_tries")
        if p2 not in (0, 1) or (p2 == 1 and not state.get(pin)):
            return sw(0x6A88)  # no such key reference on this card
        if state[tries] == 0:
            return sw(0x6983)
        if not state[pin]:
            return sw(0x6A88)  # a blank card: no PIN written yet
        if body.hex() == (state[pin] + "f" * (6 - len(state[pin]))).lower():
            state[tries] = 3
            self.pin_ok = self.pin_ok or p2 == 0
            return SW_OK
        state[tries] -= 1
        return sw(0x63C0 | state[tries]) if state[tries] else sw(0x6983)

    def _init_grey(self, p1, p2, body):
        state = self.s
        if state["grey"]:
            return sw(0x6985)
        if len(body) != 7:
            return sw(0x6700)
        card_random = os.urandom(4)
        ctc = struct.pack(">H", state["ctc"])
        self.session = {"rand": card_random, "ctc": ctc, "tid": body[1:7]}
        return (struct.pack(">I", state["balance"]) + ctc + bytes(3) + b"\x01\x00" + card_random
                + SW_OK)

    def _grey_lock(self, p1, p2, body):
        state = self.s
        session = self.session
        if session is None or len(body) != 19:
            return sw(0x6985)
        ttc, dt, mac1 = body[0:4], body[8:15], body[15:19]  # 4:8 is the PSAM'state random
        session_key = cardcrypto.session_key(self.pk, session["rand"], session["ctc"], ttc[2:4])
        if cardcrypto.mac(session_key, bytes((T_GREY_LOCK,)) + session["tid"] + dt) != mac1:
            return sw(0x9302)
        gtac = cardcrypto.mac(cardcrypto.single(self.tk), struct.pack(">I", state["balance"])
                              + bytes((T_GREY_LOCK,)) + session["tid"] + dt)
        mac2 = cardcrypto.mac(session_key,
                              struct.pack(">I", state["balance"]) + bytes((T_GREY_LOCK,)))
        state.update(grey=True, grey_tid=session["tid"].hex(),
                     grey_ttc=struct.unpack(">I", ttc)[0], grey_dt=dt.hex(), gtac=gtac.hex(),
                     grey_ctc=state["ctc"])
        state["ctc"] += 1
        self.session = None
        if self.wrong_mac2:
            mac2 = bytes(b ^ 0x55 for b in mac2)
        return gtac + mac2 + SW_OK

    def _debit_unlock(self, p1, p2, body):
        state = self.s
        if not state["grey"]:
            return sw(0x6985)
        if len(body) != 27:
            return sw(0x6700)
        amount, ctc, tid = body[0:4], body[4:6], body[6:12]
        ttc, dt, gmac = body[12:16], body[16:23], body[23:27]
        value = struct.unpack(">I", amount)[0]
        if struct.unpack(">H", ctc)[0] != state["grey_ctc"]:
            return sw(0x6985)  # not the transaction that locked this card
        expect = cardcrypto.mac(cardcrypto.single(self.pk), amount + bytes((T_UNLOCK,)) + ctc
                                + bytes.fromhex(state["asn"]))
        if gmac != expect:
            return sw(0x9302)
        if value > state["balance"]:
            return sw(0x9401)
        state["balance"] -= value
        state["grey"] = False
        state["tac_unread"] = True
        tac = cardcrypto.mac(cardcrypto.single(self.tk),
                             amount + bytes((T_UNLOCK,)) + tid + ttc + dt)
        state["log"].insert(0, {"ctc": struct.unpack(">H", ctc)[0], "amount": value,
                            "type": T_UNLOCK, "tid": tid.hex(), "dt": dt.hex()})
        del state["log"][10:]
        return tac + SW_OK

    def _grey_status(self, p1, p2, body):
        state = self.s
        if p1 == 1:
            state["tac_unread"] = False
        out = bytearray(30)
        out[0] = 1 if state["grey"] else 0
        out[1:5] = struct.pack(">I", state["balance"])
        out[5:7] = struct.pack(">H", state.get("grey_ctc", state["ctc"]))
        if state["grey_tid"]:
            out[9:15] = bytes.fromhex(state["grey_tid"])
            out[15:19] = struct.pack(">I", state["grey_ttc"])
            out[19:26] = bytes.fromhex(state["grey_dt"])
            out[26:30] = bytes.fromhex(state["gtac"])
        return bytes(out) + SW_OK

    def _record(self, p1, p2, body):
        log = self.s["log"]
        if not 1 <= p1 <= len(log):
            return sw(0x6A83)
        entry = log[p1 - 1]
        return (struct.pack(">H", entry["ctc"]) + bytes(3) + struct.pack(">I", entry["amount"])
                + bytes((entry["type"],)) + bytes.fromhex(entry["tid"])
                + bytes.fromhex(entry["dt"]) + SW_OK)

    # -- issuing and loading -------------------------------------------------------------
    FILE_SIZES = {0x95: 30, 0x96: 56, 0x9C: 36, 0x9D: 32}  # 9D: a fleet card's EF1D

    def _update_binary(self, p1, p2, body):
        """UPDATE BINARY of a file a card issued at the desk holds (EF15 last: it names
        the card, so a card without it is still blank)."""
        files = self.s.get("files")
        if files is None:
            return sw(0x6985)  # a card of VirtualCard.issue: its files are its state
        if p1 not in self.FILE_SIZES or p2 != 0:
            return sw(0x6A82)
        if len(body) != self.FILE_SIZES[p1]:
            return sw(0x6700)
        files["%02x" % p1] = body.hex()
        if p1 == 0x95:
            self.s["asn"] = body[12:20].hex()
            self.s["status"] = body[29]
        return SW_OK

    def _write_key(self, p1, p2, body):
        """WRITE KEY (bench: in plain): P2 0 the PIN (3 bytes BCD, F-padded), 1 purchase,
        2 load, 3 TAC key (16 bytes)."""
        keys = self.s.get("keys")
        if keys is None or p1 != 1:
            return sw(0x6985)
        if p2 == KEY_PIN:
            digits = body.hex().rstrip("f")
            if len(body) != 3 or not 4 <= len(digits) <= 6 or not digits.isdigit():
                return sw(0x6A80)
            self.s.update(pin=digits, pin_tries=3)
            return SW_OK
        names = {KEY_PURCHASE: "purchase", KEY_LOAD: "load", KEY_TAC: "tac"}
        if p2 not in names:
            return sw(0x6A88)
        if len(body) != 16:
            return sw(0x6700)
        keys[names[p2]] = body.hex()
        self._keys()
        return SW_OK

    def _pin_reset(self, p1, p2, body):
        """PIN RESET: new PIN block 3 ‖ MAC 4 under the card's load key (single DES) over
        the PIN block ‖ ASN: only the key holder (the station) can make it."""
        if len(body) != 7 or self.lk is None:
            return sw(0x6700 if self.lk else 0x6985)
        block = body[:3]
        if cardcrypto.mac(cardcrypto.single(self.lk),
                          block + bytes.fromhex(self.s["asn"])) != body[3:]:
            return sw(0x9302)
        digits = block.hex().rstrip("f")
        if not 4 <= len(digits) <= 6 or not digits.isdigit():
            return sw(0x6A80)
        self.s.update(pin=digits, pin_tries=3)
        return SW_OK

    def _init_load(self, p1, p2, body):
        """INITIALIZE FOR LOAD (e-purse: P2 02): key index 1, amount 4, terminal id 6 ->
        balance 4, online counter 2, key version 1, algorithm 1, card random 4, MAC1 4."""
        state = self.s
        if p2 != 2 or len(body) != 11:
            return sw(0x6A86 if p2 != 2 else 0x6700)
        if self.lk is None or state["grey"]:
            return sw(0x6985)
        if not self.pin_ok:
            return sw(0x6982)
        if body[0] != 1:
            return sw(0x9403)
        amount, tid = body[1:5], body[5:11]
        balance = struct.pack(">I", state["balance"])
        counter = struct.pack(">H", state.get("load_ctc", 0))
        card_random = os.urandom(4)
        session_key = cardcrypto.des3(self.lk, card_random + counter + b"\x80\x00")
        self.load_session = {"sk": session_key, "amount": amount, "tid": tid}
        mac1 = cardcrypto.mac(session_key, balance + amount + bytes((T_LOAD,)) + tid)
        return balance + counter + b"\x01\x00" + card_random + mac1 + SW_OK

    def _credit_load(self, p1, p2, body):
        """CREDIT FOR LOAD: date 4, time 3, MAC2 4 -> TAC 4. The purse grows, the online
        counter steps, the log gains a type 02 entry."""
        state = self.s
        session = self.load_session
        if session is None:
            return sw(0x6985)
        if len(body) != 11:
            return sw(0x6700)
        self.load_session = None
        amount, tid, when = session["amount"], session["tid"], body[0:7]
        if cardcrypto.mac(session["sk"], amount + bytes((T_LOAD,)) + tid + when) != body[7:]:
            return sw(0x9302)
        value = struct.unpack(">I", amount)[0]
        if state["balance"] + value > 0xFFFFFFFF:
            return sw(0x6A80)
        counter = state.get("load_ctc", 0)
        state["balance"] += value
        state["load_ctc"] = counter + 1
        state["log"].insert(0, {"ctc": counter, "amount": value, "type": T_LOAD,
                                "tid": tid.hex(), "dt": when.hex()})
        del state["log"][10:]
        tac = cardcrypto.mac(cardcrypto.single(self.tk),
                             struct.pack(">I", state["balance"]) + struct.pack(">H", counter)
                             + amount + bytes((T_LOAD,)) + tid + when)
        return tac + SW_OK

    # (CLA, INS) -> handler; (None, INS) where any CLA will do
    COMMANDS = {(0x00, 0xB0): _read_binary, (None, 0x20): _verify, (0x80, 0x5C): _balance,
                (0xE0, 0x7A): _init_grey, (0xE0, 0x7C): _grey_lock, (0xE0, 0x7E): _debit_unlock,
                (0xE0, 0xCA): _grey_status, (None, 0xB2): _record,
                (0x00, 0xD6): _update_binary, (0x80, 0xD4): _write_key,
                (0x80, 0x5E): _pin_reset, (0x80, 0x50): _init_load, (0x80, 0x52): _credit_load}


class VirtualPsam:
    """The terminal'state secure access module: terminal id, TTC, master keys."""

    def __init__(self, issuer, terminal_id=TEST_TERMINAL_ID, ttc=0):
        self.issuer = issuer
        self.tid = terminal_id
        self.ttc = ttc
        self._session = None

    def transceive(self, apdu):
        body = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
        return _dispatch(self, self.COMMANDS, apdu, body)

    def _read_binary(self, p1, p2, body):
        return self.tid + SW_OK if p1 == 0x96 else sw(0x6D00)

    def _init(self, p1, p2, body):
        if len(body) != 28:
            return sw(0x6700)
        card_random, ctc, balance, tx_type = body[0:4], body[4:6], body[6:10], body[10]
        dt, asn = body[11:18], body[20:28]
        purchase_key, _tac_key = self.issuer.keys(asn)
        self.ttc += 1
        ttc = struct.pack(">I", self.ttc)
        session_key = cardcrypto.session_key(purchase_key, card_random, ctc, ttc[2:4])
        psam_rand = os.urandom(4)
        self._session = {"sk": session_key, "balance": balance}
        mac1 = cardcrypto.mac(session_key, bytes((tx_type,)) + self.tid + dt)
        return ttc + psam_rand + mac1 + SW_OK

    def _verify_mac2(self, p1, p2, body):
        # MAC2 covers the balance the card reported at INIT || type: the card proves it
        # holds the session key, and the PSAM knows both inputs
        session = self._session
        if session is None or len(body) != 4:
            return sw(0x6985)
        self._session = None
        if cardcrypto.mac(session["sk"], session["balance"] + bytes((T_GREY_LOCK,))) != body:
            return sw(0x9302)
        return SW_OK

    def _gmac(self, p1, p2, body):
        if len(body) != 15 or body[0] != T_UNLOCK:
            return sw(0x6A80)
        asn, ctc, amount = body[1:9], body[9:11], body[11:15]
        purchase_key, _tac_key = self.issuer.keys(asn)
        gmac = cardcrypto.mac(cardcrypto.single(purchase_key),
                              amount + bytes((T_UNLOCK,)) + ctc + asn)
        return gmac + SW_OK

    COMMANDS = {(0x00, 0xB0): _read_binary, (0xE0, 0x40): _init, (0xE0, 0x42): _verify_mac2,
                (0xE0, 0x44): _gmac}


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

    def add(self, card):
        """A card issued elsewhere (the station's card desk) put into this store."""
        self.cards[card.s["asn"]] = card
        self.save()

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({asn: c.s for asn, c in self.cards.items()}, f, indent=1)
        os.replace(tmp, self.path)


class CardPulled(OSError):
    """The issuing reader has no card (pulled, or never inserted)."""


class IssuingReader:
    """The station's card-issuing device on the bench: a slot for one VirtualCard, with
    the reader role's transceive (the firmware's apdu layer drives it), and faults on
    demand: `cut(INS, executed)` pulls the card when that instruction arrives (after the
    card executed it, or before), `fail(INS, sw)` answers it once with a status word (a
    failed write)."""

    def __init__(self, card=None):
        self.card = card
        self._cut = {}
        self._fail = {}
        self.sent = []  # the instructions sent, in order (never their data: PINs, keys)

    def insert(self, card):
        self.card = card
        card.power_on()

    def pull(self):
        self.card = None

    def cut(self, ins, executed=True):
        self._cut[ins] = executed

    def fail(self, ins, status):
        self._fail[ins] = status

    def transceive(self, apdu):
        if self.card is None:
            raise CardPulled("no card in the issuing reader")
        ins = apdu[1]
        self.sent.append(ins)
        if ins in self._fail:
            return sw(self._fail.pop(ins))
        if ins in self._cut:
            if self._cut.pop(ins):
                self.card.transceive(apdu)
            self.card = None
            raise CardPulled("card pulled")
        return self.card.transceive(apdu)
