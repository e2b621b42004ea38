"""The station's SQLite store: terminal registry and keys, the exactly-once sale ledger,
prices with history, the hotlist, pump status; totalizers and event logs (metrology.py),
parameters and the nozzle map (params.py), each terminal's journals, the station's
identity and its alarms (journals.py). What a terminal's journal numbers (sales, journal
seqs, event-log records) is keyed by (terminal, journal, number). WAL, one writer (the
server's loop)."""
import contextlib
import json
import logging
import os
import secrets
import sqlite3
import time

from . import journals as jn
from . import operators as ops
from . import reports, schema
from .accounts import Cards
from .alerts import Alerts
from .cardbook import CardBook
from .fleet import Fleet
from .loyalty import Loyalty
from .metrology import Metrology
from .params import Params
from .payments import orders as pay_orders
from .problems import Invalid
from .tanks import ALERT_RULES as TANK_ALERTS
from .tanks import Tanks
from .till import Till

log = logging.getLogger("pumpside.station")

SCHEMA = """
CREATE TABLE IF NOT EXISTS terminals (
    id TEXT PRIMARY KEY, key BLOB NOT NULL, added INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sales (
    terminal TEXT NOT NULL, kind TEXT NOT NULL, sale INTEGER NOT NULL, seq INTEGER NOT NULL,
    asn TEXT, ml INTEGER, amount INTEGER, record TEXT NOT NULL, received INTEGER NOT NULL,
    journal TEXT NOT NULL DEFAULT '', PRIMARY KEY (terminal, journal, kind, sale));
CREATE TABLE IF NOT EXISTS events (
    terminal TEXT NOT NULL, seq INTEGER NOT NULL, record TEXT NOT NULL,
    journal TEXT NOT NULL DEFAULT '', PRIMARY KEY (terminal, journal, seq));
CREATE TABLE IF NOT EXISTS prices (
    version INTEGER PRIMARY KEY AUTOINCREMENT, grade TEXT NOT NULL, price INTEGER NOT NULL,
    effective INTEGER NOT NULL, set_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hotlist (
    asn TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hotlist_log (
    version INTEGER PRIMARY KEY, asn TEXT NOT NULL, listed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT, terminal TEXT NOT NULL, cmd TEXT NOT NULL,
    created INTEGER NOT NULL, done INTEGER, ok INTEGER, why TEXT, sent INTEGER);
CREATE TABLE IF NOT EXISTS conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, terminal TEXT NOT NULL, kind TEXT NOT NULL,
    sale INTEGER, seq INTEGER NOT NULL, record TEXT NOT NULL, stored TEXT NOT NULL,
    received INTEGER NOT NULL, journal TEXT NOT NULL DEFAULT '',
    UNIQUE (terminal, journal, kind, record));
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pumps (
    terminal TEXT PRIMARY KEY, state TEXT, seen INTEGER, status TEXT, beat_ms INTEGER,
    firmware TEXT, software_id TEXT);
"""
SALE_KINDS = ("FINAL", "ESCAPE", "UNLOCK")


class RecordRejected(ValueError):
    pass


class Ledger:
    def __init__(self, path, hasher=None):
        self.path = str(path)  # the station's TLS files live beside it (tls.folder_of)
        self.clock = time.time  # the prices' clock: which change is in force, which waits
        _create_private(self.path)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # an acknowledged sale survives a crash
        jn.rekey(self.db, SCHEMA, ("sales", "events", "conflicts"))
        self._add_columns("commands", (("sent", "INTEGER"),))
        self._add_columns("pumps", (("beat_ms", "INTEGER"), ("firmware", "TEXT"),
                                    ("software_id", "TEXT"), ("wdt_resets", "INTEGER"),
                                    ("link", "TEXT")))
        self.cards = Cards(self.db)  # card accounts, TAC verification (accounts.py)
        self.metrology = Metrology(self.db)  # totals cross-checked, event logs
        self.params = Params(self.db)  # parameters pushed, the nozzle -> grade map
        # each terminal's current journal, the station's identity and alarms
        self.journals = jn.Journals(self.db, self._meta, self._set_meta)
        if self._meta("hotlist_floor") is None:
            # a store from before the change log: deltas can start at today's version
            self._set_meta("hotlist_floor", self.hotlist_version())
        self._seed_command_ids()
        # the numbered schema steps after version 1 (schema.py); the station key
        self.station_key = schema.upgrade(self.db, self.path)
        self.operators = ops.Operators(self.db, hasher)  # accounts, logins (operators.py)
        self.alerts = Alerts(self.db, self.journals, self.pumps)  # the alert engine
        self.fleet = Fleet(self.db, CardBook(self.db))  # fleet companies (fleet.py)
        # tanks, gauge readings, deliveries, reconciliation (tanks.py)
        self.tanks = Tanks(self.db, self.alerts.hook(TANK_ALERTS), self.alerts.params)
        self.loyalty = Loyalty(self.db)  # points earned per card sale, rewards (loyalty.py)
        self.till = Till(self.db)  # the kiosk: unpaid sales, held pumps (till.py)

    def close(self):
        self.db.close()

    def _add_columns(self, table, columns):
        """Columns a store from an older version lacks (CREATE TABLE IF NOT EXISTS keeps
        the old table as it was)."""
        have = {row[1] for row in self.db.execute("PRAGMA table_info(%s)" % table)}
        for name, kind in columns:
            if name not in have:
                self.db.execute("ALTER TABLE %s ADD COLUMN %s %s" % (table, name, kind))

    def schema_version(self):
        return schema.version(self.db)

    # -- terminals ------------------------------------------------------------------------
    def add_terminal(self, terminal_id, key=None):
        """Register a terminal with a new random 32-byte key (returned, never logged),
        stored sealed under the station key (keyring.py). Operators go through the
        service layer (service.py), which audits it."""
        key = key or secrets.token_bytes(32)
        self.db.execute("INSERT OR REPLACE INTO terminals VALUES (?, ?, ?)",
                        (terminal_id, self.station_key.seal(terminal_id, key),
                         int(time.time())))
        return key

    def key_of(self, terminal_id):
        row = self.db.execute("SELECT key FROM terminals WHERE id = ?",
                              (terminal_id,)).fetchone()
        return self.station_key.open(terminal_id, row[0]) if row else None

    def terminals(self):
        """The registered terminals' ids, in order (never their keys)."""
        return [row[0] for row in self.db.execute("SELECT id FROM terminals ORDER BY id")]

    # -- the ledger -----------------------------------------------------------------------
    def store(self, terminal_id, records, journal=jn.LEGACY):
        """Store a batch of the terminal's journal `journal` (HELLO's identity) in one
        transaction. Returns [[seq, "stored"|"duplicate"|"conflict"|"rejected", why]] and
        the highest seq the terminal may consider delivered. A record whose key (journal,
        sale number and kind, or journal and seq) is taken by a stored one is a duplicate
        only when it is the same record; one that differs is kept in `conflicts` for the
        operator, alarmed, and never counted as delivered twice."""
        results = []
        ack = 0
        now = int(time.time())
        db = self.db
        with self.transaction():
            alerting = self.alerts.batch() is not None  # the sale rules on (alerts.py)
            for record in records:
                try:
                    seq, kind = _check(record)
                    self.cards.check(terminal_id, record, kind, journal)
                except RecordRejected as e:
                    seq = record.get("seq") if isinstance(record, dict) else None
                    results.append([seq, "rejected", str(e)])
                    if isinstance(seq, int):  # seen and refused: the terminal moves on
                        ack = max(ack, seq)
                    continue
                text = json.dumps(record, sort_keys=True)
                if kind in SALE_KINDS:
                    pay = reports.pay_kind(
                        record, kind, bool(record.get("asn")) and self.fleet.is_fleet(
                            record["asn"]), pay_orders.till_kind(self.db, record.get("order")))
                    cur = db.execute(
                        "INSERT OR IGNORE INTO sales (terminal, kind, sale, seq, asn, ml, "
                        "amount, record, received, journal, %s) VALUES "
                        "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)" % reports.COLUMNS,
                        (terminal_id, kind, record["sale"], seq, record.get("asn"),
                         record.get("ml"), record.get("amount"), text, now, journal)
                        + reports.columns(record, pay))
                else:
                    cur = db.execute("INSERT OR IGNORE INTO events VALUES (?,?,?,?)",
                                     (terminal_id, seq, text, journal))
                if cur.rowcount:
                    if kind == "LOAD":
                        from .pumpload import stored

                        stored(self, terminal_id, record)
                    self.cards.stored(terminal_id, record, kind, journal)
                    self.loyalty.stored(terminal_id, record, kind, journal)
                    if kind in ("FINAL", "ESCAPE") and record.get("asn"):  # past a month?
                        self.fleet.stored(self.alerts, terminal_id, record)
                    if alerting and kind in SALE_KINDS:
                        self.alerts.stored(terminal_id, record, kind)
                    results.append([seq, "stored", ""])
                else:
                    results.append(self._taken(terminal_id, journal, kind, seq, record, text,
                                               now))
                ack = max(ack, seq)
        return results, ack

    def store_batches(self, terminal_id, batches, journal=jn.LEGACY):
        """store() of several batches (RECORDS frames that came together) in one
        transaction, one commit for all: [(results, ack)] of each, in order."""
        with self.transaction():
            return [self.store(terminal_id, records, journal) for records in batches]

    @contextlib.contextmanager
    def transaction(self):
        """One transaction around the block: its own (BEGIN IMMEDIATE, COMMIT, or ROLLBACK
        on any exception), or the caller's when one is open (the service's with its audit
        record, store_batches' over several batches), which the caller ends."""
        db = self.db
        if db.in_transaction:
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _taken(self, terminal_id, journal, kind, seq, record, text, now):
        """The result for a record whose key is taken: the same record again (at any seq)
        is a duplicate; another one is a conflict, kept (once) beside the stored one and
        raised as a station alarm."""
        if kind in SALE_KINDS:
            what = "%s of sale %d" % (kind, record["sale"])
            row = self.db.execute("SELECT record FROM sales WHERE terminal = ? AND journal = ? "
                                  "AND kind = ? AND sale = ?",
                                  (terminal_id, journal, kind, record["sale"])).fetchone()
        else:
            what = "%s seq %d" % (kind, seq)
            row = self.db.execute("SELECT record FROM events WHERE terminal = ? AND journal = ? "
                                  "AND seq = ?", (terminal_id, journal, seq)).fetchone()
        if row is None or _same_record(row[0], record):
            return [seq, "duplicate", ""]
        cur = self.db.execute(
            "INSERT OR IGNORE INTO conflicts (terminal, kind, sale, seq, record, stored, "
            "received, journal) VALUES (?,?,?,?,?,?,?,?)",
            (terminal_id, kind, record.get("sale"), seq, text, row[0], now, journal))
        if cur.rowcount:
            self.alerts.raise_("conflict", terminal_id, "%s of journal %s differs from the "
                               "one stored: kept in conflicts" % (what, journal or "(none)"))
        return [seq, "conflict", what + " differs from the one stored: kept for the operator"]

    def conflicts(self, terminal_id=None):
        """Records kept because their key was taken by a different one: terminal, kind,
        sale, seq, the record and the one stored, when it came; oldest first."""
        query = "SELECT terminal, journal, kind, sale, seq, record, stored, received " \
            "FROM conflicts"
        rows = self.db.execute(query + (" WHERE terminal = ?" if terminal_id else "")
                               + " ORDER BY id", (terminal_id,) if terminal_id else ())
        return [dict(zip(("terminal", "journal", "kind", "sale", "seq", "record", "stored",
                          "received"),
                         (terminal, journal, kind, sale, seq, json.loads(record),
                          json.loads(stored), received)))
                for terminal, journal, kind, sale, seq, record, stored, received in rows]

    def sales(self, terminal_id=None):
        """The sales (FINAL, ESCAPE, UNLOCK) held: each journal's in the order it came
        (a terminal's journals by when they were first stored), then by seq."""
        query = "SELECT terminal, journal, kind, sale, seq, asn, ml, amount FROM sales"
        args = ()
        if terminal_id:
            query += " WHERE terminal = ?"
            args = (terminal_id,)
        query += " ORDER BY terminal, (SELECT MIN(rowid) FROM sales s WHERE s.terminal = " \
            "sales.terminal AND s.journal = sales.journal), seq"
        return [dict(zip(("terminal", "journal", "kind", "sale", "seq", "asn", "ml", "amount"),
                         row)) for row in self.db.execute(query, args)]

    # -- prices, hotlist, pumps -------------------------------------------------------------
    def set_price(self, grade, price, effective=0):
        """A new price table version: this grade's new price, the others' as they are.
        `effective` (Unix seconds; 0 = the next sale): the terminals keep it waiting and
        switch at the first sale that starts at or after it. While one change waits for
        its time, another must name the same time (it joins that table)."""
        if not isinstance(price, int) or isinstance(price, bool) or price <= 0:
            raise Invalid("price")
        if not isinstance(effective, int) or effective < 0:
            raise Invalid("price_time")
        now = int(self.clock())
        waiting = self.prices(now)["at"]
        if waiting and effective != waiting:
            raise Invalid("price_waits", at=waiting)
        cur = self.db.execute("INSERT INTO prices (grade, price, effective, set_at) "
                              "VALUES (?,?,?,?)", (grade, price, effective, now))
        return cur.lastrowid

    def price_history(self, grade=None):
        """Every price ever set, oldest first: version, grade, price, effective (0: the
        next sale), set_at (when the admin set it)."""
        query = "SELECT version, grade, price, effective, set_at FROM prices"
        rows = self.db.execute(query + (" WHERE grade = ?" if grade else "") + " ORDER BY version",
                               (grade,) if grade else ())
        return [dict(zip(("version", "grade", "price", "effective", "set_at"), row))
                for row in rows]

    def prices(self, now=None, due=False):
        """{"version": v, "grades": {grade: price}, "at": t}: the newest price of each
        grade; `at` the time it waits for (0: none, it applies to the next sale). With
        `due`, the table in force at `now` (the changes whose time has come)."""
        now = int(self.clock()) if now is None else now
        rows = self.db.execute("SELECT version, grade, price, effective FROM prices "
                               "ORDER BY version")
        grades, version, at = {}, 0, 0
        for v, grade, price, effective in rows:
            if due and effective > now:
                continue
            grades[grade] = price
            version = v
            at = max(at, effective)
        return {"version": version, "grades": grades, "at": at if at > now else 0}

    def set_nozzle(self, terminal, nozzle, grade):
        """Map a terminal's nozzle to a grade: a new price table version (the grade's price
        as it is; joining a table that waits for its time, if one does), so the map goes
        to the terminal with it and the grade and its price change together."""
        prices = self.prices()
        if grade not in prices["grades"]:
            raise Invalid("no_price", grade=grade)
        self.params.set_nozzle(terminal, nozzle, grade)
        return self.set_price(grade, prices["grades"][grade], prices["at"])

    def hotlist_change(self, asn, listed):
        """List (or unlist) one card: a new hotlist version, logged so that a terminal
        can be sent the changes since the version it holds."""
        return self.hotlist_changes([asn], listed)

    def hotlist_changes(self, asns, listed):
        """Many cards in one transaction, one version per card (so a delta can be cut
        into chunks at any version). Returns the new version."""
        for asn in asns:
            if not isinstance(asn, str) or len(asn) != 16 or not asn.isdigit():
                raise Invalid("card")
        db = self.db
        with self.transaction():
            version = self.hotlist_version()
            for asn in asns:
                version += 1
                if listed:
                    db.execute("INSERT OR REPLACE INTO hotlist VALUES (?, ?)", (asn, version))
                else:
                    db.execute("DELETE FROM hotlist WHERE asn = ?", (asn,))
                db.execute("INSERT INTO hotlist_log VALUES (?, ?, ?)",
                           (version, asn, 1 if listed else 0))
            self._set_meta("hotlist_version", version)
        return version

    def hotlist(self, after="", limit=-1):
        """The listed cards in ascending order (after `after`, at most `limit`)."""
        return [row[0] for row in self.db.execute(
            "SELECT asn FROM hotlist WHERE asn > ? ORDER BY asn LIMIT ?", (after, limit))]

    def listed(self, asn):
        """Whether the card is on the hotlist."""
        return self.db.execute("SELECT 1 FROM hotlist WHERE asn = ?",
                               (asn,)).fetchone() is not None

    def hotlist_count(self):
        return self.db.execute("SELECT COUNT(*) FROM hotlist").fetchone()[0]

    def hotlist_version(self):
        return self._meta("hotlist_version") or 0

    def hotlist_delta(self, since, limit):
        """(to, add, remove): the changes after version `since` up to the version `to`,
        at most `limit` of them, each card once (its last change wins); None when a
        delta cannot start there (the log does not reach back, or the terminal's version
        is not one this station issued): then the terminal needs the full list."""
        current = self.hotlist_version()
        if since > current or since < (self._meta("hotlist_floor") or 0):
            return None
        rows = self.db.execute("SELECT version, asn, listed FROM hotlist_log WHERE version > ?"
                               " ORDER BY version LIMIT ?", (since, limit)).fetchall()
        if not rows:
            return current, [], []
        last = {}
        for _version, asn, listed in rows:
            last[asn] = listed
        to = rows[-1][0] if len(rows) == limit else current
        return (to, sorted(a for a, listed in last.items() if listed),
                sorted(a for a, listed in last.items() if not listed))

    def hotlist_changes_since(self, since):
        return self.db.execute("SELECT COUNT(*) FROM hotlist_log WHERE version > ?",
                               (since,)).fetchone()[0]

    def _meta(self, name):
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, name, value):
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    COMMANDS = ("stop", "suspend", "resume", "lock", "unlock", "terminate")
    COMMAND_ID_SPAN = 1 << 30  # a new store's first command id is drawn below this

    def _seed_command_ids(self):
        """A terminal remembers the ids of the commands it ran (and answers one it sees
        again from that memory, not running it twice), so a new store - a rebuilt or
        restored station database - must not hand out the ids an old one did: its first
        id is drawn at random, far from any other store's."""
        if self.db.execute("SELECT 1 FROM sqlite_sequence WHERE name = 'commands'").fetchone():
            return
        self.db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('commands', ?)",
                        (secrets.randbelow(self.COMMAND_ID_SPAN),))

    def command(self, terminal_id, cmd):
        """Queue a command for a terminal; it goes with the terminal's next heartbeat."""
        if cmd not in self.COMMANDS:
            raise Invalid("command", choices=", ".join(self.COMMANDS))
        cur = self.db.execute("INSERT INTO commands (terminal, cmd, created) VALUES (?,?,?)",
                              (terminal_id, cmd, int(time.time())))
        return cur.lastrowid

    COMMAND_TTL_S = 120  # a command not answered by then expires: it is never sent after

    def pending_commands(self, terminal_id):
        """The commands to send this terminal now, oldest first; those older than
        COMMAND_TTL_S are marked expired instead (never sent after that). A command
        already sent whose REPLY was lost goes again: the terminal answers it from its
        ring of recent ids without running it twice."""
        now = int(time.time())
        db = self.db
        db.execute("UPDATE commands SET done = ?, ok = 0, why = CASE WHEN sent IS NULL "
                   "THEN 'expired' ELSE 'expired: sent, no reply' END WHERE terminal = ? "
                   "AND done IS NULL AND created < ?",
                   (now, terminal_id, now - self.COMMAND_TTL_S))
        rows = db.execute("SELECT id, cmd FROM commands WHERE terminal = ? AND done IS NULL "
                          "ORDER BY id", (terminal_id,)).fetchall()
        if rows:
            db.execute("UPDATE commands SET sent = ? WHERE terminal = ? AND done IS NULL",
                       (now, terminal_id))
        return rows

    def command_done(self, command_id, ok, why, terminal_id=None):
        """The terminal's REPLY; one for another terminal's command id is ignored."""
        self.db.execute("UPDATE commands SET done = ?, ok = ?, why = ? WHERE id = ? AND "
                        "(? IS NULL OR terminal = ?)",
                        (int(time.time()), 1 if ok else 0, why, command_id, terminal_id,
                         terminal_id))

    def command_result(self, command_id):
        row = self.db.execute("SELECT done, ok, why FROM commands WHERE id = ?",
                              (command_id,)).fetchone()
        return None if row is None or row[0] is None else {"ok": bool(row[1]), "why": row[2]}

    MISSED_BEATS = 3  # a pump silent for this many heartbeats is offline

    def hello(self, terminal_id, firmware, software_id, beat_ms, wdt_resets=None, link=None,
              journal_seq=None):
        """An authenticated HELLO: the terminal's firmware version and software id (its
        manifest's checksum), the heartbeat it was given, how many times its watchdog
        reset it (counted on its flash), what its connection is ("tls" or "plain") and
        the highest seq its journal had written then (`journal_seq`: what it had to
        send; unsynced()). Returns the watchdog count it reported before (None)."""
        self.db.execute("INSERT OR IGNORE INTO pumps (terminal) VALUES (?)", (terminal_id,))
        before = self.db.execute("SELECT wdt_resets FROM pumps WHERE terminal = ?",
                                 (terminal_id,)).fetchone()[0]
        self.db.execute("UPDATE pumps SET firmware = ?, software_id = ?, beat_ms = ?, "
                        "seen = ?, wdt_resets = ?, link = ?, journal_seq = ? WHERE terminal = ?",
                        (firmware, software_id, beat_ms, int(time.time()), wdt_resets,
                         link, journal_seq, terminal_id))
        return before

    def unsynced(self, terminal_id):
        """How many records of its current journal the terminal had written at its last
        HELLO (journal_seq) beyond the highest the station holds of that journal: what it
        had yet to deliver then, less what came since (0 once it all came; None: no HELLO
        with a journal_seq). A count of journal seqs, an upper bound of the sales: the
        journal numbers its sale's AUTHORIZED and CHECKPOINT records too, which the
        terminal never sends, and sales written after that HELLO are not counted until
        the next one (docs/operations.md)."""
        row = self.db.execute("SELECT journal_seq FROM pumps WHERE terminal = ?",
                              (terminal_id,)).fetchone()
        journal = self.journals.current(terminal_id)
        if row is None or row[0] is None or journal is None:
            return None
        return max(0, row[0] - self.journals.held(terminal_id, journal))

    def seen(self, terminal_id):
        """A frame from the terminal (its heartbeat): it is alive now."""
        self.db.execute("UPDATE pumps SET seen = ? WHERE terminal = ?",
                        (int(time.time()), terminal_id))

    def set_status(self, terminal_id, status):
        """A STATUS; returns the one before it (None: none yet)."""
        row = self.db.execute("SELECT status FROM pumps WHERE terminal = ?",
                              (terminal_id,)).fetchone()
        self.db.execute("INSERT OR IGNORE INTO pumps (terminal) VALUES (?)", (terminal_id,))
        self.db.execute("UPDATE pumps SET state = ?, seen = ?, status = ? WHERE terminal = ?",
                        (status.get("state"), int(time.time()), json.dumps(status),
                         terminal_id))
        return json.loads(row[0]) if row and row[0] else None

    def pumps(self, now=None):
        """Each pump's last state, when it was last heard from, whether it is online
        (heard within MISSED_BEATS heartbeats), its alarm, firmware and software id, and
        `ml`, `amount` of its delivery: in progress while the state is Fuelling (live, from
        its STATUS), else its last one (0: none since it booted); the resets its watchdog
        caused; `link`, its last connection: "tls", "plain" (unencrypted: the station's
        plain port) or None (not connected since the station recorded it); its current
        journal, how many alarms the station raised about it that no operator has
        acknowledged yet and the last one's text (journals.py: a new journal, a
        conflict); the nozzle and grade its last STATUS
        named (None before one)."""
        now = int(time.time()) if now is None else now
        out = []
        for terminal, state, seen, status, beat_ms, firmware, software_id, wdt_resets, link \
                in self.db.execute("SELECT terminal, state, seen, status, beat_ms, firmware, "
                                   "software_id, wdt_resets, link FROM pumps ORDER BY "
                                   "terminal"):
            limit = max(self.MISSED_BEATS * (beat_ms or 10000), 2000)  # seen: in s
            last_status = json.loads(status) if status else {}
            alarms = self.journals.alarms(terminal, open_only=True)
            out.append({"terminal": terminal, "state": state, "seen": seen,
                        "online": seen is not None and (now - seen) * 1000 <= limit,
                        "alarm": last_status.get("alarm") or "", "firmware": firmware,
                        "software_id": software_id, "ml": last_status.get("ml") or 0,
                        "amount": last_status.get("amount") or 0,
                        "wdt_resets": wdt_resets or 0, "link": link,
                        "nozzle": last_status.get("nozzle"),
                        "grade": last_status.get("grade"),
                        "journal": self.journals.current(terminal),
                        "station_alarms": len(alarms),
                        "station_alarm": alarms[-1]["why"] if alarms else ""})
        return out


def _same_record(stored_text, record):
    """The record stored (JSON) and one sent again are the same record wherever in the
    journal it was written (its seq): every other field equal."""
    stored = json.loads(stored_text)
    stored.pop("seq", None)
    return stored == {name: value for name, value in record.items() if name != "seq"}


def _check(record):
    if not isinstance(record, dict):
        raise RecordRejected("not a record")
    seq, kind = record.get("seq"), record.get("type")
    if not isinstance(seq, int) or seq <= 0:
        raise RecordRejected("no seq")
    if kind in SALE_KINDS:
        for field in ("sale", "ml", "amount"):
            if not isinstance(record.get(field), int) or record[field] < 0:
                raise RecordRejected("bad " + field)
    elif kind == "LOAD":  # a load at the pump (pumpload.py)
        from .pumpload import check

        try:
            check(record)
        except ValueError as e:
            raise RecordRejected(str(e)) from None
    elif kind not in ("EVENT", "SNAPSHOT"):
        raise RecordRejected("unknown record type %r" % (kind,))
    return seq, kind


def _create_private(path):
    """The database file is made owner-only (SQLite gives its -wal and -shm files the
    same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def key_file(path, key):
    """Write a terminal key for provisioning: owner-only, never printed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
