"""What the station keeps of each terminal's metrology: its totalizer readings (TOTALS),
cross-checked against the sales it uploaded, and its event log (EVENTS), hash chain
verified.

Totals: every reading is kept under the journal seq it follows (the terminal's records up
to that seq moved the totalizers to it). A reading is checked once the station holds the
terminal's records up to its seq (they come in order): the movement since the reading
before it must equal what the records between them metered - FINAL and ESCAPE ml and
amount (stored, or rejected: a rejected bill was metered all the same), plus the ml of
unauthorised flow (EVENT code 1); an UNLOCK moves money, not the meter. A mismatch is
logged and kept with the reading (`pumpside station totals`). The first reading of a
nozzle is the baseline. Both are kept per journal (journals.py): a formatted flash
starts its seqs, totalizers and event log anew, with a baseline and a genesis of its own.

Event log: records are taken in order after the last one held, each checked with the
firmware's own rule (events.check: counter, fields, prev, hash); the first that breaks
the chain is refused with the reason and logged, the records before it are kept. A record
sent again must be the one held (a log rewritten at the terminal is refused).
"""
import json
import logging
import time

from pumpside import events as evlog
from pumpside.config import SECRETS
from pumpside.journal import EV_UNAUTHORIZED

from .journals import LEGACY, rekey

log = logging.getLogger("pumpside.station")

SCHEMA = """
CREATE TABLE IF NOT EXISTS totals (
    terminal TEXT NOT NULL, nozzle INTEGER NOT NULL, seq INTEGER NOT NULL, grade TEXT,
    volume_ml INTEGER NOT NULL, amount INTEGER NOT NULL, received INTEGER NOT NULL,
    reported INTEGER NOT NULL, checked INTEGER, why TEXT, journal TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (terminal, journal, nozzle, seq));
CREATE TABLE IF NOT EXISTS eventlog (
    terminal TEXT NOT NULL, n INTEGER NOT NULL, t INTEGER NOT NULL, who TEXT NOT NULL,
    what TEXT NOT NULL, old INTEGER, new INTEGER, prev TEXT NOT NULL, h TEXT NOT NULL,
    received INTEGER NOT NULL, journal TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (terminal, journal, n));
"""
TOTALS_MAX_AGE_S = 3600  # a reading older than this is asked for again (HEARTBEAT totals)


class Metrology:
    def __init__(self, db):
        self.db = db
        rekey(db, SCHEMA, ("totals", "eventlog"))

    # -- totals ---------------------------------------------------------------------------
    def reading(self, terminal, payload, now=None, journal=LEGACY):
        """A TOTALS of the terminal's journal `journal`: kept under its seq (again at the
        same seq: the time it was reported; other figures at the same seq are logged, the
        first kept), then checked."""
        now = int(time.time()) if now is None else now
        nozzle, seq = payload["nozzle"], payload["seq"]
        vol, amount = payload["volume_ml"], payload["amount"]
        row = self.db.execute("SELECT volume_ml, amount FROM totals WHERE terminal = ? AND "
                              "journal = ? AND nozzle = ? AND seq = ?",
                              (terminal, journal, nozzle, seq)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO totals VALUES (?,?,?,?,?,?,?,?,NULL,NULL,?)",
                            (terminal, nozzle, seq, payload.get("grade"), vol, amount, now,
                             now, journal))
            log.info("terminal %s nozzle %s totals %d ml %d after seq %d", terminal, nozzle,
                     vol, amount, seq)
        else:
            self.db.execute("UPDATE totals SET reported = ? WHERE terminal = ? AND "
                            "journal = ? AND nozzle = ? AND seq = ?",
                            (now, terminal, journal, nozzle, seq))
            if tuple(row) != (vol, amount):
                log.warning("terminal %s nozzle %s totals MISMATCH: %d ml %d after seq %d, "
                            "%d ml %d before, with no record between", terminal, nozzle,
                            vol, amount, seq, row[0], row[1])
        self.check(terminal, journal)

    def want_reading(self, terminal, now=None):
        """No reading reported for TOTALS_MAX_AGE_S: ask for one (HEARTBEAT totals)."""
        now = int(time.time()) if now is None else now
        row = self.db.execute("SELECT MAX(reported) FROM totals WHERE terminal = ?",
                              (terminal,)).fetchone()
        return row[0] is not None and now - row[0] > TOTALS_MAX_AGE_S

    def _held(self, terminal, journal):
        """The highest seq of the terminal's journal the station holds (in any table)."""
        best = 0
        for table in ("sales", "events", "rejected_bills"):
            row = self.db.execute("SELECT MAX(seq) FROM %s WHERE terminal = ? AND journal = ?"
                                  % table, (terminal, journal)).fetchone()
            best = max(best, row[0] or 0)
        return best

    def metered(self, terminal, after, upto, journal=LEGACY):
        """(ml, amount) the records after..upto of the terminal's journal moved its
        totalizers by."""
        ml = amount = 0
        rows = self.db.execute(
            "SELECT record FROM sales WHERE terminal = ? AND journal = ? AND seq > ? AND "
            "seq <= ? AND kind IN ('FINAL', 'ESCAPE') UNION ALL SELECT record FROM events "
            "WHERE terminal = ? AND journal = ? AND seq > ? AND seq <= ? UNION ALL SELECT "
            "record FROM rejected_bills WHERE terminal = ? AND journal = ? AND seq > ? AND "
            "seq <= ?", (terminal, journal, after, upto) * 3)
        for (text,) in rows:
            record = json.loads(text)
            kind = record.get("type")
            if kind in ("FINAL", "ESCAPE"):
                ml += record.get("ml", 0)
                amount += record.get("amount", 0)
            elif kind == "EVENT" and record.get("code") == EV_UNAUTHORIZED:
                ml += record.get("a", 0)
        return ml, amount

    def check(self, terminal, journal=LEGACY, upto=None):
        """Check each reading of the journal whose records have all arrived against the
        one before it. `upto`: the highest seq of the records just stored (records come in
        order, and every reading up to what was held before is checked already), so the
        records held need not be searched for their highest."""
        held = self._held(terminal, journal) if upto is None else upto
        for nozzle, seq, vol, amount in self.db.execute(
                "SELECT nozzle, seq, volume_ml, amount FROM totals WHERE terminal = ? AND "
                "journal = ? AND checked IS NULL AND seq <= ? ORDER BY nozzle, seq",
                (terminal, journal, held)).fetchall():
            prev = self.db.execute(
                "SELECT seq, volume_ml, amount FROM totals WHERE terminal = ? AND journal = ? "
                "AND nozzle = ? AND seq < ? ORDER BY seq DESC LIMIT 1",
                (terminal, journal, nozzle, seq)).fetchone()
            if prev is None:
                ok, why = 1, "baseline"
            else:
                moved = (vol - prev[1], amount - prev[2])
                got = self.metered(terminal, prev[0], seq, journal)
                ok, why = (1, "") if moved == got else (
                    0, "totalizers moved %d ml %d after seq %d, the records %d ml %d"
                    % (moved + (prev[0],) + got))
                if not ok:
                    log.warning("terminal %s nozzle %s totals MISMATCH up to seq %d: %s",
                                terminal, nozzle, seq, why)
            self.db.execute("UPDATE totals SET checked = ?, why = ? WHERE terminal = ? AND "
                            "journal = ? AND nozzle = ? AND seq = ?",
                            (ok, why, terminal, journal, nozzle, seq))

    def totals(self, terminal=None, history=False):
        """Readings, newest first per terminal and nozzle (only the newest unless
        `history`): terminal, nozzle, grade, seq, volume_ml, amount, received, checked
        (None: its records have not all arrived; True; False: mismatch), why."""
        query = "SELECT terminal, nozzle, grade, seq, volume_ml, amount, reported, checked, " \
            "why, journal FROM totals"
        args = ()
        if terminal:
            query += " WHERE terminal = ?"
            args = (terminal,)
        # the newest journal first (by its first reading), in it the newest seq
        query += " ORDER BY terminal, nozzle, (SELECT MIN(rowid) FROM totals t WHERE " \
            "t.terminal = totals.terminal AND t.journal = totals.journal) DESC, seq DESC"
        out, seen = [], set()
        for row in self.db.execute(query, args):
            if not history and row[:2] in seen:
                continue
            seen.add(row[:2])
            totals = dict(zip(("terminal", "nozzle", "grade", "seq", "volume_ml", "amount",
                               "reported", "checked", "why", "journal"), row))
            totals["checked"] = None if totals["checked"] is None else bool(totals["checked"])
            out.append(totals)
        return out

    # -- event log ------------------------------------------------------------------------
    def events_held(self, terminal, journal=LEGACY):
        """(n, h) of the last event-log record held of the terminal's journal (its flash:
        a formatted one starts a new log), 0 and the genesis hash if none."""
        row = self.db.execute("SELECT n, h FROM eventlog WHERE terminal = ? AND journal = ? "
                              "ORDER BY n DESC LIMIT 1", (terminal, journal)).fetchone()
        return (row[0], row[1]) if row else (0, evlog.GENESIS)

    def store_events(self, terminal, items, journal=LEGACY):
        """An EVENTS batch of the terminal's journal; returns the EVENTS_ACK payload {"n",
        "ok", "why"}. Records that continue the chain are kept (one transaction); the first
        that does not is refused with its reason, logged, and nothing after it is taken."""
        n, head = self.events_held(terminal, journal)
        why = None
        now = int(time.time())
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for item in items:
                counter = item.get("n") if isinstance(item, dict) else None
                if isinstance(counter, int) and 0 < counter <= n:  # sent again
                    row = db.execute("SELECT t, who, what, old, new, prev, h FROM eventlog "
                                     "WHERE terminal = ? AND journal = ? AND n = ?",
                                     (terminal, journal, counter)).fetchone()
                    if row is None or tuple(row) != tuple(item.get(f) for f in (
                            "t", "who", "what", "old", "new", "prev", "h")):
                        why = "n=%d differs from the record held" % counter
                        break
                    continue
                why = evlog.check(item, n + 1, head)
                if why is None and item["what"] in SECRETS:
                    why = "a secret in the event log"
                if why is not None:
                    why = "n=%d: %s" % (n + 1, why)
                    break
                db.execute("INSERT INTO eventlog VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                           (terminal, n + 1, item["t"], item["who"], item["what"],
                            item["old"], item["new"], item["prev"], item["h"], now, journal))
                n, head = n + 1, item["h"]
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if why is not None:
            log.warning("terminal %s event log refused: %s (holds up to n=%d)", terminal,
                        why, n)
            return {"n": n, "ok": False, "why": why}
        log.info("terminal %s event log: holds up to n=%d", terminal, n)
        return {"n": n, "ok": True, "why": ""}

    def events(self, terminal, journal=None):
        """The event-log records held of the terminal (of one journal, or of all: each
        journal's in the order they came)."""
        return [dict(zip(("n", "t", "who", "what", "old", "new", "prev", "h", "journal"), row))
                for row in self.db.execute(
                    "SELECT n, t, who, what, old, new, prev, h, journal FROM eventlog WHERE "
                    "terminal = ? AND (? IS NULL OR journal = ?) ORDER BY rowid",
                    (terminal, journal, journal))]
