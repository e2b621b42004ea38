"""Each terminal's journals and the station's own identity.

A terminal's journal numbers its records (seq), sales (sale, TTC), event-log records (n)
from 1; a flash formatted or a board replaced under the same terminal id starts them at 1
again, under a new journal identity (64 random bits made when the journal is formatted,
told in HELLO's `journal`). So the station keys whatever a journal numbers by (terminal,
journal, number): a new journal's sale 1 is a new sale, the old journal's records stay
where they are. Records from a firmware that tells no identity are journal ''.

This module owns the terminal's current journal (`seen`, at each HELLO), the alarm raised
when a known terminal shows up with another journal (board replaced / flash formatted),
the station alarms' list, the station's identity (random, made once per database: a
rebuilt database numbers its price, parameter and hotlist versions from 1 again, so a
terminal's versions count only for the station that issued them), and the migration of
tables keyed before journals (`rekey`).
"""
import logging
import secrets
import time

log = logging.getLogger("pumpside.station")

SCHEMA = """
CREATE TABLE IF NOT EXISTS journals (
    terminal TEXT PRIMARY KEY, journal TEXT NOT NULL, since INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY AUTOINCREMENT, terminal TEXT NOT NULL, what TEXT NOT NULL,
    why TEXT NOT NULL, raised INTEGER NOT NULL);
"""
# every table keyed by what a journal numbers: (terminal, journal, ...)
TABLES = ("sales", "events", "conflicts", "card_bills", "rejected_bills", "grey_records",
          "totals", "eventlog")
# the tables of a journal's records by their seq (what SALES_ACK acknowledged)
SEQ_TABLES = ("sales", "events", "conflicts", "rejected_bills")
LEGACY = ""  # the journal of records from a firmware that tells no identity
NEW_JOURNAL = "new journal"  # an alarm's `what`: board replaced / flash formatted


def rekey(db, schema, tables):
    """Tables of `schema` that a store from before journals has without a `journal`
    column (their keys lack it; SQLite cannot change a key in place): each is renamed,
    made again by `schema` and its rows copied with journal '', in one transaction."""
    old = []
    for table in tables:
        have = [row[1] for row in db.execute("PRAGMA table_info(%s)" % table)]
        if have and "journal" not in have:
            old.append((table, have))
    if not old:
        db.executescript(schema)
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for table, _have in old:
            indexes = [row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND "
                "sql IS NOT NULL", (table,))]
            for index in indexes:  # made again by `schema`, on the new table
                db.execute("DROP INDEX %s" % index)
            db.execute("ALTER TABLE %s RENAME TO %s_before_journals" % (table, table))
        for statement in schema.split(";"):
            if statement.strip():
                db.execute(statement)
        for table, have in old:
            columns = ", ".join(have)
            db.execute("INSERT INTO %s (%s, journal) SELECT %s, ? FROM %s_before_journals"
                       % (table, columns, columns, table), (LEGACY,))
            db.execute("DROP TABLE %s_before_journals" % table)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    log.info("store keyed by journal: %s (their rows are journal '')",
             ", ".join(table for table, _have in old))


class Journals:
    def __init__(self, db, meta, set_meta):
        self.db = db
        self.listeners = []
        db.executescript(SCHEMA)
        self.station = meta("station_id")
        if self.station is None:  # a new database: a new identity
            self.station = secrets.randbits(63)
            set_meta("station_id", self.station)

    def station_id(self):
        """The station's identity as the wire carries it (16 hex digits)."""
        return "%016x" % self.station

    def current(self, terminal):
        """The terminal's current journal ('' before one was told), None: never seen."""
        row = self.db.execute("SELECT journal FROM journals WHERE terminal = ?",
                              (terminal,)).fetchone()
        return row[0] if row else None

    def seen(self, terminal, journal):
        """An authenticated HELLO's journal (None: the firmware tells none). A known
        terminal with another journal raises the alarm (its old journal's records stay);
        a terminal that told none before and now tells one has had its firmware updated:
        its records so far (journal '') are this journal's. Returns the journal."""
        journal = journal or LEGACY
        now = int(time.time())
        before = self.current(terminal)
        if before == journal:
            return journal
        self.db.execute("INSERT OR REPLACE INTO journals VALUES (?, ?, ?)",
                        (terminal, journal, now))
        if before is None and not self._held(terminal, LEGACY) or journal == LEGACY:
            return journal
        if before in (None, LEGACY):
            self._adopt(terminal, journal)
            return journal
        why = "board replaced or flash formatted: journal %s replaces %s (its records " \
              "stay)" % (journal or "(none)", before)
        self.alert("new_journal", terminal, why, what=NEW_JOURNAL)
        return journal

    def held(self, terminal, journal):
        """The highest seq of `journal`'s records the station holds (stored, kept as a
        conflict or rejected), 0: none; WELCOME tells it, so a terminal whose ack cursor
        is past it (the store restored from a backup) sends again what it still has."""
        return max(self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM %s WHERE terminal = ? "
                                   "AND journal = ?" % table, (terminal, journal)).fetchone()[0]
                   for table in SEQ_TABLES)

    def _held(self, terminal, journal):
        return any(self.db.execute("SELECT 1 FROM %s WHERE terminal = ? AND journal = ? "
                                   "LIMIT 1" % table, (terminal, journal)).fetchone()
                   for table in TABLES)

    def _adopt(self, terminal, journal):
        """The records a firmware without identities uploaded are the journal it now
        names (the journal was given its identity by the update, records and all)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in TABLES:
                db.execute("UPDATE %s SET journal = ? WHERE terminal = ? AND journal = ?"
                           % table, (journal, terminal, LEGACY))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        log.info("terminal %s: its records without a journal identity are journal %s",
                 terminal, journal)

    def listen(self, listener):
        """`listener(alarm)` is called with each alarm stored (the alert engine's webhook:
        alerts.py)."""
        self.listeners.append(listener)

    def alert(self, rule, terminal, why, what=None):
        """An alarm of an alert rule: the alert engine's raise_ replaces this once it is
        attached (alerts.py: it stores the alarm only while its rule is on)."""
        self.raise_alarm(terminal, what or rule.replace("_", " "), why, rule=rule)

    def raise_alarm(self, terminal, what, why, rule=None, severity=None):
        """Store an alarm (`rule`, `severity`: the alert engine's, alerts.py; the
        station's own alarms are rule `what`)."""
        raised = int(time.time())
        rule = rule or what.replace(" ", "_")
        cur = self.db.execute("INSERT INTO alarms (terminal, what, why, raised, rule, severity) "
                              "VALUES (?,?,?,?,?,?)", (terminal, what, why, raised, rule,
                                                       severity or "critical"))
        log.error("ALARM terminal %s: %s: %s", terminal, what, why)
        for listener in self.listeners:
            listener({"id": cur.lastrowid, "terminal": terminal, "what": what, "why": why,
                      "raised": raised, "rule": rule, "severity": severity or "critical"})

    def alarms(self, terminal=None, open_only=False):
        """The station's alarms, oldest first: id, terminal, what, why, raised, and when
        and by whom it was acknowledged (acked, acked_by: None while it is open); with
        `open_only`, only those not acknowledged."""
        where = ["acked IS NULL"] if open_only else []
        if terminal:
            where.append("terminal = ?")
        return self._alarms(" WHERE " + " AND ".join(where) if where else "",
                            (terminal,) if terminal else ())

    def alarm(self, alarm_id):
        """One alarm (as alarms() gives it), None: no such id."""
        rows = self._alarms(" WHERE id = ?", (alarm_id,)) if isinstance(alarm_id, int) \
            and 0 < alarm_id < 1 << 63 else []  # beyond SQLite's integers: no such alarm
        return rows[0] if rows else None

    def _alarms(self, where, args):
        rows = self.db.execute("SELECT id, terminal, what, why, raised, acked, acked_by FROM "
                               "alarms" + where + " ORDER BY id", args)
        return [dict(zip(("id", "terminal", "what", "why", "raised", "acked", "acked_by"),
                         row)) for row in rows]

    def ack_alarm(self, alarm_id, who):
        """An operator has seen the alarm and dealt with it: it leaves the open ones
        (the forecourt's), kept with who acknowledged it and when (the service layer
        checks the role and audits it)."""
        self.db.execute("UPDATE alarms SET acked = ?, acked_by = ? WHERE id = ? AND acked "
                        "IS NULL", (int(time.time()), who, alarm_id))
