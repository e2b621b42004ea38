"""Grey records at the station: cards left grey-locked by an ESCAPE, settled once.

Every uploaded ESCAPE (a card pulled or a power cut before its DEBIT FOR UNLOCK) is
indexed by card (ASN), the CTC of its lock and the PSAM TTC, with its amount and the
terminal and sale that wrote it. An UNLOCK marks it settled: the escape's own terminal
names it by its sale number; another terminal (flag F_ELSEWHERE) by card, CTC and TTC,
after asking the station (GREY_QUERY); so does the escape's own terminal once its full
escape table dropped it (an EVENT, `dropped`): the station alone holds it then. A
terminal holding such a grey card asks with the card's grey status (card number, the
locking PSAM's terminal id, TTC, CTC); the answer is the escape's amount and what its
UNLOCK record needs, or "settled" or "unknown". The card itself refuses a second DEBIT
FOR UNLOCK for one lock (CTC), and the station refuses a second UNLOCK of one escape, so
an escape is settled exactly once.
The terminal's side of the same lifecycle is the firmware's settlement.py.
"""
import logging
import time

from pumpside.protocol import is_uint
from pumpside.record import F_ELSEWHERE, F_SETTLED_ELSEWHERE

from .journals import LEGACY, rekey
from .masking import mask_card

log = logging.getLogger("pumpside.station")

SETTLED_PER_FRAME = 4  # escapes settled elsewhere told in one SALES_ACK or HEARTBEAT

SCHEMA = """
CREATE TABLE IF NOT EXISTS grey_records (
    terminal TEXT NOT NULL, sale INTEGER NOT NULL, asn TEXT NOT NULL, ctc INTEGER NOT NULL,
    ttc INTEGER NOT NULL, psam TEXT, amount INTEGER NOT NULL, ml INTEGER NOT NULL,
    grade TEXT, price INTEGER NOT NULL, time INTEGER NOT NULL,
    settled_by TEXT, settled_sale INTEGER, settled_at INTEGER, closed_at INTEGER,
    journal TEXT NOT NULL DEFAULT '', PRIMARY KEY (terminal, journal, sale));
CREATE INDEX IF NOT EXISTS grey_by_card ON grey_records (asn, ctc, ttc);
"""
_FIELDS = ("terminal", "sale", "asn", "ctc", "ttc", "psam", "amount", "ml", "grade", "price",
           "time", "settled_by", "settled_sale", "journal", "settled_journal")
# the settling UNLOCK is named by terminal, journal and sale (schema version 4 added the
# journal: a terminal's new journal numbers its sales afresh)
SETTLED_JOURNAL = "ALTER TABLE grey_records ADD COLUMN settled_journal TEXT"


class GreyRecords:
    def __init__(self, db, psam_of=None):
        self.db = db
        self.psam_of = psam_of or (lambda terminal: None)
        have = {row[1] for row in db.execute("PRAGMA table_info(grey_records)")}
        if have and "closed_at" not in have:  # a store from before escapes were closed
            db.execute("ALTER TABLE grey_records ADD COLUMN closed_at INTEGER")
        rekey(db, SCHEMA, ("grey_records",))

    def _rows(self, where, args):
        return [dict(zip(_FIELDS, row)) for row in self.db.execute(
            "SELECT %s FROM grey_records WHERE %s ORDER BY time" % (", ".join(_FIELDS), where),
            args)]

    def records(self, asn=None):
        return self._rows("asn = ?", (asn,)) if asn else self._rows("1", ())

    # -- the ledger's hooks (inside its transaction) ------------------------------------------
    def owed(self, asn):
        """What the card's open escapes (neither settled nor closed) still owe."""
        return self.db.execute("SELECT COALESCE(SUM(amount), 0) FROM grey_records WHERE "
                               "asn = ? AND settled_by IS NULL AND closed_at IS NULL",
                               (asn,)).fetchone()[0]

    def escape(self, terminal, bill, journal=LEGACY):
        self.db.execute(
            "INSERT OR IGNORE INTO grey_records (terminal, sale, asn, ctc, ttc, psam, amount, "
            "ml, grade, price, time, journal) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (terminal, bill["sale"], bill["asn"], bill.get("ctc", 0), bill.get("psam_ttc", 0),
             self.psam_of(terminal), bill["amount"], bill["ml"], bill.get("grade", ""),
             bill.get("price", 0), bill.get("time", 0), journal))

    def _escape_of(self, terminal, bill, journal):
        """The grey record an UNLOCK settles, or None: another terminal's (and an earlier
        journal's) by card, CTC and TTC; the terminal's own by the sale number its
        journal gave it."""
        if bill.get("flags", 0) & F_ELSEWHERE:
            rows = self._rows("asn = ? AND ctc = ? AND ttc = ?",
                              (bill["asn"], bill.get("ctc", 0), bill.get("psam_ttc", 0)))
        else:
            rows = self._rows("terminal = ? AND journal = ? AND sale = ?",
                              (terminal, journal, bill["sale"]))
        return rows[0] if rows else None

    def check_unlock(self, terminal, bill, journal=LEGACY):
        """Before an UNLOCK is stored: an escape is settled once. Annotates `bill` with the
        escape it settles (of_terminal, of_sale)."""
        from .ledger import RecordRejected

        escape = self._escape_of(terminal, bill, journal)
        if bill.get("flags", 0) & F_SETTLED_ELSEWHERE:
            self._check_closing(terminal, bill, escape)
            return
        if escape is None:
            if bill.get("flags", 0) & F_ELSEWHERE:
                raise RecordRejected("no such escape")
            return  # an escape from before the station kept grey records
        if escape["settled_by"] is not None and (escape["settled_by"], escape["settled_journal"],
                                                 escape["settled_sale"]) != \
                (terminal, journal, bill["sale"]):
            raise RecordRejected("escape already settled by %s sale %s"
                                 % (escape["settled_by"], escape["settled_sale"]))
        bill["of_terminal"] = escape["terminal"]
        bill["of_sale"] = escape["sale"]

    def _check_closing(self, terminal, bill, escape):
        """A terminal closes its own escape that another one settled (flag 128): no money
        (amount 0), never for an escape it settled itself. It may come before the other
        terminal's UNLOCK (the card's log told it): stored, the escape still owed here.
        Annotates `bill` with who settled it as far as the station knows."""
        from .ledger import RecordRejected

        if bill.get("amount") or bill.get("flags", 0) & F_ELSEWHERE:
            raise RecordRejected("malformed card bill")
        if escape is None:
            return  # an escape from before the station kept grey records
        if escape["settled_by"] == terminal:
            raise RecordRejected("escape already settled by %s sale %s"
                                 % (escape["settled_by"], escape["settled_sale"]))
        bill["settled_by"] = escape["settled_by"]
        bill["settled_sale"] = escape["settled_sale"]

    def closed(self, terminal, bill, journal=LEGACY):
        """The escape's own terminal has closed it (its marker is stored): it is no longer
        told about it."""
        self.db.execute("UPDATE grey_records SET closed_at = ? WHERE terminal = ? AND "
                        "journal = ? AND sale = ? AND closed_at IS NULL",
                        (int(time.time()), terminal, journal, bill["sale"]))
        log.info("escape %s sale %s of card %s closed by its terminal (settled by %s)",
                 terminal, bill["sale"], mask_card(bill.get("asn")),
                 bill.get("settled_by") or bill.get("by"))

    def dropped(self, terminal, sale, journal=LEGACY):
        """The escape's own terminal dropped it from its full escape table (EVENT code 4):
        the station alone holds it now. It stays owed, settled at any pump through a query
        (that one's too), and is no longer told to its terminal: nothing is left to close."""
        cur = self.db.execute("UPDATE grey_records SET closed_at = ? WHERE terminal = ? AND "
                              "journal = ? AND sale = ? AND closed_at IS NULL",
                              (int(time.time()), terminal, journal, sale))
        if cur.rowcount:
            log.warning("escape %s sale %s dropped from its terminal's full escape table: "
                        "settled through the station only", terminal, sale)

    def settled_elsewhere(self, terminal, journal=LEGACY, limit=SETTLED_PER_FRAME):
        """What SALES_ACK and HEARTBEAT tell `terminal` of its journal `journal` (the one
        it runs now: an earlier journal's sale numbers mean nothing to it): its escapes
        another terminal has settled and it has not closed yet, oldest first, naming each
        by sale, card, CTC and TTC, and who settled it (terminal, sale, PSAM id)."""
        out = []
        for row in self.db.execute(
                "SELECT sale, asn, ctc, ttc, settled_by, settled_sale FROM grey_records "
                "WHERE terminal = ? AND journal = ? AND settled_by IS NOT NULL AND "
                "settled_by != terminal AND closed_at IS NULL ORDER BY sale LIMIT ?",
                (terminal, journal, limit)):
            out.append({"sale": row[0], "asn": row[1], "ctc": row[2], "ttc": row[3],
                        "by": row[4], "by_sale": row[5],
                        "psam": self.psam_of(row[4]) or "000000000000"})
        return out

    def unlocked(self, terminal, bill, journal=LEGACY):
        escape = self._escape_of(terminal, bill, journal)
        if escape is None or escape["settled_by"] is not None:
            return
        self.db.execute("UPDATE grey_records SET settled_by = ?, settled_journal = ?, "
                        "settled_sale = ?, settled_at = ? WHERE terminal = ? AND journal = ? "
                        "AND sale = ?",
                        (terminal, journal, bill["sale"], int(time.time()), escape["terminal"],
                         escape["journal"], escape["sale"]))
        log.info("escape %s sale %s of card %s settled by %s sale %s (amount %d)",
                 escape["terminal"], escape["sale"], mask_card(escape["asn"]), terminal,
                 bill["sale"], bill["amount"])

    # -- GREY_QUERY ---------------------------------------------------------------------------
    def query(self, terminal, query):
        """GREY_ANSWER for a GREY_QUERY {asn, terminal (the locking PSAM id), ttc, ctc}: the
        escape's figures if it is owed (what the asking terminal's UNLOCK needs), else
        "settled" or "unknown" (firmware settlement.owed checks the answer)."""
        asn, psam, ttc = query.get("asn"), query.get("terminal"), query.get("ttc")
        ctc = query.get("ctc")
        answer = {"asn": asn, "ttc": ttc, "status": "unknown"}
        if not (isinstance(asn, str) and isinstance(psam, str)
                and is_uint(ttc, 0, 0xFFFFFFFF) and is_uint(ctc, 0, 0xFFFFFFFF)):
            answer["why"] = "malformed query"
            log.warning("terminal %s: malformed GREY_QUERY", terminal)
            return answer
        rows = [row for row in self._rows("asn = ? AND ctc = ? AND ttc = ?", (asn, ctc, ttc))
                if row["psam"] in (None, psam.lower())]
        if rows:
            escape = rows[0]
            if escape["settled_by"] is not None:
                answer["status"] = "settled"
            else:
                answer.update(status="owed", amount=escape["amount"], ml=escape["ml"],
                              grade=escape["grade"], price=escape["price"],
                              terminal=escape["terminal"], sale=escape["sale"])
        log.info("terminal %s asked for card %s grey at %s (TTC %d): %s", terminal,
                 mask_card(asn), psam, ttc, answer["status"])
        return answer

