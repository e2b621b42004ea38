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
nozzle is the baseline. One journal per terminal and nozzle (this firmware's pump).

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

log = logging.getLogger("pumpside.station")

SCHEMA = """
CREATE TABLE IF NOT EXISTS totals (
    terminal TEXT NOT NULL, nozzle INTEGER NOT NULL, seq INTEGER NOT NULL, grade TEXT,
    volume_ml INTEGER NOT NULL, amount INTEGER NOT NULL, received INTEGER NOT NULL,
    reported INTEGER NOT NULL, checked INTEGER, why TEXT,
    PRIMARY KEY (terminal, nozzle, seq));
CREATE TABLE IF NOT EXISTS eventlog (
    terminal TEXT NOT NULL, n INTEGER NOT NULL, t INTEGER NOT NULL, who TEXT NOT NULL,
    what TEXT NOT NULL, old INTEGER, new INTEGER, prev TEXT NOT NULL, h TEXT NOT NULL,
    received INTEGER NOT NULL, PRIMARY KEY (terminal, n));
"""
TOTALS_MAX_AGE_S = 3600  # a reading older than this is asked for again (HEARTBEAT totals)


class Metrology:
    def __init__(self, db):
        self.db = db
        db.executescript(SCHEMA)

    # -- totals ---------------------------------------------------------------------------
    def reading(self, terminal, payload, now=None):
        """A TOTALS: kept under its seq (again at the same seq: the time it was reported;
        other figures at the same seq are logged, the first kept), then checked."""
        now = int(time.time()) if now is None else now
        nozzle, seq = payload["nozzle"], payload["seq"]
        vol, amount = payload["volume_ml"], payload["amount"]
        row = self.db.execute("SELECT volume_ml, amount FROM totals WHERE terminal = ? AND "
                              "nozzle = ? AND seq = ?", (terminal, nozzle, seq)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO totals VALUES (?,?,?,?,?,?,?,?,NULL,NULL)",
                            (terminal, nozzle, seq, payload.get("grade"), vol, amount, now,
                             now))
            log.info("terminal %s nozzle %s totals %d ml %d after seq %d", terminal, nozzle,
                     vol, amount, seq)
        else:
            self.db.execute("UPDATE totals SET reported = ? WHERE terminal = ? AND "
                            "nozzle = ? AND seq = ?", (now, terminal, nozzle, seq))
            if tuple(row) != (vol, amount):
                log.warning("terminal %s nozzle %s totals MISMATCH: %d ml %d after seq %d, "
                            "%d ml %d before, with no record between", terminal, nozzle,
                            vol, amount, seq, row[0], row[1])
        self.check(terminal)

    def want_reading(self, terminal, now=None):
        """No reading reported for TOTALS_MAX_AGE_S: ask for one (HEARTBEAT totals)."""
        now = int(time.time()) if now is None else now
        row = self.db.execute("SELECT MAX(reported) FROM totals WHERE terminal = ?",
                              (terminal,)).fetchone()
        return row[0] is not None and now - row[0] > TOTALS_MAX_AGE_S

    def _held(self, terminal):
        """The highest journal seq of the terminal's the station holds (in any table)."""
        best = 0
        for table in ("sales", "events", "rejected_bills"):
            row = self.db.execute("SELECT MAX(seq) FROM %s WHERE terminal = ?" % table,
                                  (terminal,)).fetchone()
            best = max(best, row[0] or 0)
        return best

    def metered(self, terminal, after, upto):
        """(ml, amount) the terminal's records after..upto moved its totalizers by."""
        ml = amount = 0
        rows = self.db.execute(
            "SELECT record FROM sales WHERE terminal = ? AND seq > ? AND seq <= ? AND kind IN "
            "('FINAL', 'ESCAPE') UNION ALL SELECT record FROM events WHERE terminal = ? AND "
            "seq > ? AND seq <= ? UNION ALL SELECT record FROM rejected_bills WHERE "
            "terminal = ? AND seq > ? AND seq <= ?", (terminal, after, upto) * 3)
        for (text,) in rows:
            record = json.loads(text)
            kind = record.get("type")
            if kind in ("FINAL", "ESCAPE"):
                ml += record.get("ml", 0)
                amount += record.get("amount", 0)
            elif kind == "EVENT" and record.get("code") == EV_UNAUTHORIZED:
                ml += record.get("a", 0)
        return ml, amount

    def check(self, terminal):
        """Check each reading whose records have all arrived against the one before it."""
        held = self._held(terminal)
        for nozzle, seq, vol, amount in self.db.execute(
                "SELECT nozzle, seq, volume_ml, amount FROM totals WHERE terminal = ? AND "
                "checked IS NULL AND seq <= ? ORDER BY nozzle, seq", (terminal, held)
        ).fetchall():
            prev = self.db.execute(
                "SELECT seq, volume_ml, amount FROM totals WHERE terminal = ? AND nozzle = ? "
                "AND seq < ? ORDER BY seq DESC LIMIT 1", (terminal, nozzle, seq)).fetchone()
            if prev is None:
                ok, why = 1, "baseline"
            else:
                moved = (vol - prev[1], amount - prev[2])
                got = self.metered(terminal, prev[0], seq)
                ok, why = (1, "") if moved == got else (
                    0, "totalizers moved %d ml %d after seq %d, the records %d ml %d"
                    % (moved + (prev[0],) + got))
                if not ok:
                    log.warning("terminal %s nozzle %s totals MISMATCH up to seq %d: %s",
                                terminal, nozzle, seq, why)
            self.db.execute("UPDATE totals SET checked = ?, why = ? WHERE terminal = ? AND "
                            "nozzle = ? AND seq = ?", (ok, why, terminal, nozzle, seq))

    def totals(self, terminal=None, history=False):
        """Readings, newest first per terminal and nozzle (only the newest unless
        `history`): terminal, nozzle, grade, seq, volume_ml, amount, received, checked
        (None: its records have not all arrived; True; False: mismatch), why."""
        query = "SELECT terminal, nozzle, grade, seq, volume_ml, amount, reported, checked, " \
            "why FROM totals"
        args = ()
        if terminal:
            query += " WHERE terminal = ?"
            args = (terminal,)
        out, seen = [], set()
        for row in self.db.execute(query + " ORDER BY terminal, nozzle, seq DESC", args):
            if not history and row[:2] in seen:
                continue
            seen.add(row[:2])
            totals = dict(zip(("terminal", "nozzle", "grade", "seq", "volume_ml", "amount",
                               "reported", "checked", "why"), row))
            totals["checked"] = None if totals["checked"] is None else bool(totals["checked"])
            out.append(totals)
        return out

    # -- event log ------------------------------------------------------------------------
    def events_held(self, terminal):
        """(n, h) of the terminal's last event-log record held (0 and the genesis hash)."""
        row = self.db.execute("SELECT n, h FROM eventlog WHERE terminal = ? ORDER BY n DESC "
                              "LIMIT 1", (terminal,)).fetchone()
        return (row[0], row[1]) if row else (0, evlog.GENESIS)

    def store_events(self, terminal, items):
        """An EVENTS batch; returns the EVENTS_ACK payload {"n", "ok", "why"}. Records
        that continue the chain are kept (one transaction); the first that does not is
        refused with its reason, logged, and nothing after it is taken."""
        n, head = self.events_held(terminal)
        why = None
        now = int(time.time())
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for item in items:
                counter = item.get("n") if isinstance(item, dict) else None
                if isinstance(counter, int) and 0 < counter <= n:  # sent again
                    row = db.execute("SELECT t, who, what, old, new, prev, h FROM eventlog "
                                     "WHERE terminal = ? AND n = ?",
                                     (terminal, counter)).fetchone()
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
                db.execute("INSERT INTO eventlog VALUES (?,?,?,?,?,?,?,?,?,?)",
                           (terminal, n + 1, item["t"], item["who"], item["what"],
                            item["old"], item["new"], item["prev"], item["h"], now))
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

    def events(self, terminal):
        return [dict(zip(("n", "t", "who", "what", "old", "new", "prev", "h"), row))
                for row in self.db.execute(
                    "SELECT n, t, who, what, old, new, prev, h FROM eventlog WHERE "
                    "terminal = ? ORDER BY n", (terminal,))]
