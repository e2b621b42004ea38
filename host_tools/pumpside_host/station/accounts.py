"""Card accounts and TAC verification at the station.

The station holds the issuer's TAC master key(s) (`pumpside station serve --issuer-keys
FILE`; never logged, never sent). Every uploaded card bill that moved money (FINAL or
UNLOCK with a card number) has its TAC recomputed exactly as the card made it
(docs/card.md): TAC = DES-MAC under the single-DES key of the card's TAC key (the master
key diversified by issuer id, then ASN) over amount 4 ‖ 93 ‖ terminal id 6 ‖ TTC 4 ‖
datetime 7, where the terminal id is the uploading terminal's PSAM id (told in its HELLO),
the TTC is the bill's PSAM TTC and the datetime is the bill's time. A bill whose TAC does
not verify is rejected ("bad TAC"): kept apart for audit in `rejected_bills`, never a
sale, never in an account. Each card (ASN) has an account: its balance after the newest
bill (by CTC), its last CTC and its bills.

Without issuer keys the station cannot verify: bills are stored and marked unverified
(logged once), as a station before this feature did.

Hooks (ledger.py): `check` runs on each record before it is stored (raises
RecordRejected) and `stored` after a record was stored for the first time, inside the
ledger's transaction.
"""
import json
import logging
import time

from pumpside.card.psam import T_UNLOCK
from pumpside.journal import EV_ESCAPE_DROPPED
from pumpside.protocol import is_uint
from pumpside.record import F_CARD_LOG, F_SETTLED_ELSEWHERE

from .. import cardcrypto
from . import grey
from .journals import LEGACY, rekey
from .masking import mask_card

log = logging.getLogger("pumpside.station")


SCHEMA = """
CREATE TABLE IF NOT EXISTS terminal_psam (terminal TEXT PRIMARY KEY, psam TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS card_accounts (
    asn TEXT PRIMARY KEY, balance INTEGER NOT NULL, ctc INTEGER NOT NULL,
    updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS card_bills (
    asn TEXT NOT NULL, terminal TEXT NOT NULL, kind TEXT NOT NULL, sale INTEGER NOT NULL,
    seq INTEGER NOT NULL, amount INTEGER NOT NULL, balance INTEGER NOT NULL,
    ctc INTEGER NOT NULL, tac TEXT, verified INTEGER NOT NULL,
    journal TEXT NOT NULL DEFAULT '', PRIMARY KEY (terminal, journal, kind, sale));
CREATE TABLE IF NOT EXISTS rejected_bills (
    terminal TEXT NOT NULL, seq INTEGER, why TEXT NOT NULL, record TEXT NOT NULL,
    received INTEGER NOT NULL, journal TEXT NOT NULL DEFAULT '');
"""


class KeyFileError(ValueError):
    pass


def load_issuer_keys(path):
    """{issuer id (8 bytes): TAC master key (16 bytes)} from a JSON file:
    {"issuers": [{"id": "16 hex", "tac_key": "32 hex"}, ...]}. Errors name the entry,
    never a key."""
    return {issuer: keys["tac"] for issuer, keys in load_master_keys(path).items()}


MASTER_NAMES = (("tac", "tac_key"), ("load", "load_key"), ("purchase", "purchase_key"))


def load_master_keys(path):
    """{issuer id: {"tac": key, "load": key or None, "purchase": key or None}}: an entry
    may also carry "load_key" (the card desk's loads: MAC1, MAC2, PIN reset) and
    "purchase_key" (the desk personalises cards with it). Errors name the entry, never a
    key."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise KeyFileError("issuer keys %s: %s" % (path, type(e).__name__)) from None
    entries = doc.get("issuers") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise KeyFileError("issuer keys %s: no \"issuers\" list" % path)
    keys = {}
    for n, e in enumerate(entries):
        try:
            issuer = bytes.fromhex(e["id"])
            found = {name: bytes.fromhex(e[field]) if field in e or name == "tac" else None
                     for name, field in MASTER_NAMES}
        except (TypeError, KeyError, ValueError):
            raise KeyFileError("issuer keys %s: entry %d needs hex \"id\" and \"tac_key\""
                               " (and, if given, hex \"load_key\", \"purchase_key\")"
                               % (path, n)) from None
        if len(issuer) != 8 or not all(k is None or (len(k) == 16 and _usable(k))
                                       for k in found.values()):
            raise KeyFileError("issuer keys %s: entry %d: id is 8 bytes, each key a 16-byte "
                               "two-key 3DES key" % (path, n))
        keys[issuer] = found
    return keys


def _usable(key16):
    try:
        cardcrypto.des3(key16, bytes(8))  # pycryptodome refuses a key that degenerates to DES
    except ValueError:
        return False
    return True


def bcd_datetime(unix_seconds):
    """7-byte BCD YYYYMMDDhhmmss (UTC), as the firmware's grey_lock.bcd_datetime."""
    return bytes.fromhex(time.strftime("%Y%m%d%H%M%S", time.gmtime(unix_seconds)))


def tac_of(tac_mk, issuer8, asn8, amount, psam_id6, ttc, unix_time):
    """The TAC a card of this issuer makes for DEBIT FOR UNLOCK (bench/cards.py)."""
    tac_key = cardcrypto.single(cardcrypto.card_key(tac_mk, issuer8, asn8))
    return cardcrypto.mac(tac_key, amount.to_bytes(4, "big") + bytes((T_UNLOCK,)) + psam_id6
                          + ttc.to_bytes(4, "big") + bcd_datetime(unix_time))


def _hex(v, n):
    """bytes of a hex string of n bytes, or None."""
    if not isinstance(v, str) or len(v) != 2 * n:
        return None
    try:
        return bytes.fromhex(v)
    except ValueError:
        return None


def Rejected(why):  # noqa: N802 - raised like an exception class
    """The ledger's RecordRejected (imported late: the ledger imports this module)."""
    from .ledger import RecordRejected

    return RecordRejected(why)


class Cards:
    """Card accounts, TAC verification and (grey.py) the grey records of one ledger."""

    def __init__(self, db):
        self.db = db
        rekey(db, SCHEMA, ("card_bills", "rejected_bills"))
        self.keys = {}
        self.masters = {}  # issuer -> {"tac", "load", "purchase"}: the card desk's
        self._warned = False
        self.grey = grey.GreyRecords(db, self.psam_of)  # escapes, settled once (grey.py)

    def set_keys(self, keys):
        if not all(len(k) == 16 and _usable(k) for k in keys.values()):
            raise KeyFileError("an issuer TAC key is not a 16-byte two-key 3DES key")
        self.keys = dict(keys)
        if not keys:
            return
        log.info("station verifies card TACs with %d issuer key(s): %s", len(self.keys),
                 ", ".join(k.hex() for k in sorted(self.keys)))

    def load_keys(self, path):
        self.set_masters(load_master_keys(path))

    def set_masters(self, masters):
        """All of the issuers' master keys (load_master_keys' form): TACs verified with
        the TAC keys, the card desk issuing and loading with the others."""
        self.set_keys({issuer: keys["tac"] for issuer, keys in masters.items()})
        self.masters = {issuer: dict(keys) for issuer, keys in masters.items()}

    # -- terminals' PSAMs ----------------------------------------------------------------
    def hello(self, terminal, payload):
        """An authenticated HELLO: note the terminal's PSAM id (its TACs name it)."""
        psam = payload.get("psam")
        if _hex(psam, 6) is not None:
            self.db.execute("INSERT OR REPLACE INTO terminal_psam VALUES (?, ?)",
                            (terminal, psam.lower()))

    def psam_of(self, terminal):
        row = self.db.execute("SELECT psam FROM terminal_psam WHERE terminal = ?",
                              (terminal,)).fetchone()
        return row[0] if row else None

    def terminal_of_psam(self, psam):
        row = self.db.execute("SELECT terminal FROM terminal_psam WHERE psam = ?",
                              (psam.lower(),)).fetchone()
        return row[0] if row else None

    # -- the ledger's hooks ---------------------------------------------------------------
    def check(self, terminal, record, kind, journal=LEGACY):
        """Before a record is stored: a card bill must carry a TAC that verifies. Raises
        Rejected (kept in rejected_bills, logged without keys); annotates `record`."""
        from .ledger import RecordRejected

        try:
            self._check(terminal, record, kind)
            if kind == "UNLOCK" and "asn" in record:
                self.grey.check_unlock(terminal, record, journal)
        except RecordRejected as e:
            self.db.execute("INSERT INTO rejected_bills VALUES (?,?,?,?,?,?)",
                            (terminal, record.get("seq"), str(e),
                             json.dumps(record, sort_keys=True), int(time.time()), journal))
            log.warning("terminal %s: %s sale %s of card %s rejected: %s", terminal, kind,
                        record.get("sale"), mask_card(record.get("asn")), e)
            raise

    def _check(self, terminal, record, kind):
        if kind not in ("FINAL", "UNLOCK") or "asn" not in record:
            return  # no card bill (an attended sale, an ESCAPE, an event)

        asn = _hex(record.get("asn"), 8)
        # the link leaves out fields that are zero
        ctc, ttc, t = record.get("ctc", 0), record.get("psam_ttc", 0), record.get("time", 0)
        if asn is None or not (is_uint(ctc) and is_uint(ttc) and is_uint(t)
                               and is_uint(record.get("balance", 0))):
            raise Rejected("malformed card bill")
        tac = record.get("tac")
        if tac is None:  # no debit made, or its reply lost: the card's log confirmed it
            if record["amount"] and not (kind == "UNLOCK" and is_uint(record.get("flags", 0))
                                         and record.get("flags", 0) & F_CARD_LOG):
                raise Rejected("no TAC")
            record["tac_verified"] = False
            return
        tac = _hex(tac, 4)
        if tac is None:
            raise Rejected("bad TAC")
        if not self.keys:
            if not self._warned:
                log.warning("no issuer keys: card TACs are stored unverified")
                self._warned = True
            record["tac_verified"] = False
            return
        psam = _hex(self.psam_of(terminal), 6)
        if psam is None:
            raise Rejected("bad TAC (the terminal's PSAM id is unknown)")
        for issuer, key in self.keys.items():
            if tac_of(key, issuer, asn, record["amount"], psam, ttc, t) == tac:
                record["tac_verified"] = True
                return
        raise Rejected("bad TAC")

    def stored(self, terminal, record, kind, journal=LEGACY):
        """After a record was stored (first time): the card's account and grey records."""
        if kind == "EVENT" and record.get("code") == EV_ESCAPE_DROPPED:
            if is_uint(record.get("a")):
                self.grey.dropped(terminal, record["a"], journal)
            return
        if "asn" not in record:
            return
        if kind == "ESCAPE":
            self.grey.escape(terminal, record, journal)
            return
        if kind not in ("FINAL", "UNLOCK"):
            return
        if kind == "UNLOCK" and record.get("flags", 0) & F_SETTLED_ELSEWHERE:
            # no money, no bill of the card's: a marker
            self.grey.closed(terminal, record, journal)
            return
        asn, ctc, balance = record["asn"], record.get("ctc", 0), record.get("balance", 0)
        self.db.execute("INSERT OR IGNORE INTO card_bills VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (asn, terminal, kind, record["sale"], record["seq"], record["amount"],
                         balance, ctc, record.get("tac"), 1 if record.get("tac_verified") else 0,
                         journal))
        self.db.execute(
            "INSERT INTO card_accounts VALUES (?,?,?,?) ON CONFLICT(asn) DO UPDATE SET "
            "balance = excluded.balance, ctc = excluded.ctc, updated = excluded.updated "
            "WHERE excluded.ctc >= card_accounts.ctc", (asn, balance, ctc, int(time.time())))
        if kind == "UNLOCK":
            self.grey.unlocked(terminal, record, journal)

    # -- the back office ------------------------------------------------------------------
    def account(self, asn):
        """{"asn", "balance", "ctc", "bills": [...]} or None."""
        row = self.db.execute("SELECT balance, ctc FROM card_accounts WHERE asn = ?",
                              (asn,)).fetchone()
        if row is None:
            return None
        names = ("terminal", "kind", "sale", "seq", "amount", "balance", "ctc", "tac",
                 "verified")
        bills = [dict(zip(names, b)) for b in self.db.execute(
            "SELECT terminal, kind, sale, seq, amount, balance, ctc, tac, verified "
            "FROM card_bills WHERE asn = ? ORDER BY ctc, kind", (asn,))]
        return {"asn": asn, "balance": row[0], "ctc": row[1], "bills": bills}

    def tac_verified(self, terminal, seq, journal=None):
        """True/False: the card bill (terminal, seq; of `journal`, or of any) was stored
        with its TAC verified or not; None: no card bill."""
        row = self.db.execute("SELECT verified FROM card_bills WHERE terminal = ? AND seq = ? "
                              "AND (? IS NULL OR journal = ?) ORDER BY rowid DESC",
                              (terminal, seq, journal, journal)).fetchone()
        return None if row is None else bool(row[0])

    def rejected(self):
        return [dict(zip(("terminal", "seq", "why"), row)) for row in self.db.execute(
            "SELECT terminal, seq, why FROM rejected_bills ORDER BY rowid")]

