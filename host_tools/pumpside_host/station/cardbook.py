"""The station's book of the cards it issued: who holds each (registered) or nobody
(anonymous), its state (active, lost, closed), the money waiting for it (loads funded at
the desk or online, not yet on the card) and the money it carries.

A card's balance as the station knows it is the sum of its bills: the loads credited to
it, less the debits its pumps' bills (accounts.py's card_bills: FINAL and UNLOCK with a
TAC) took, less what a replacement carried over to its successor. Nothing else moves a
card's money, so this sum, the card's own purse and (once every bill is uploaded) the
newest bill's balance plus the loads since agree; query() flags when they do not.

The tables are made by schema step 5 (schema.py). Only this module writes them; the desk
(carddesk.py) calls its methods inside the service's transactions.
"""
import calendar
import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS card_registry (
    asn TEXT PRIMARY KEY, issuer TEXT NOT NULL, kind TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '', id_last4 TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, issued INTEGER NOT NULL,
    lost_at INTEGER, closed_at INTEGER, replaces TEXT, replaced_by TEXT);
CREATE TABLE IF NOT EXISTS card_loads (
    id INTEGER PRIMARY KEY AUTOINCREMENT, asn TEXT NOT NULL, amount INTEGER NOT NULL,
    source TEXT NOT NULL, state TEXT NOT NULL, funded INTEGER NOT NULL,
    terminal TEXT, counter INTEGER, before INTEGER, at TEXT, tac TEXT,
    loaded INTEGER, how TEXT);
CREATE TABLE IF NOT EXISTS card_transfers (
    asn TEXT NOT NULL, amount INTEGER NOT NULL, other TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS card_settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

KINDS = ("registered", "anonymous")
SOURCES = ("cash", "online", "replacement", "fleet")  # fleet: a company's allocation
# a load's states: money taken, not on the card / INITIALIZE FOR LOAD answered and
# recorded, CREDIT maybe sent / on the card (TAC recorded)
PENDING, STARTED, DONE = "pending", "started", "done"
ASN_PREFIX = "6200"  # the issuer's card number prefix: 6200 + 12 digits
SETTINGS = {"replace_wait_s": 2 * 24 * 3600,  # bills of a lost card still offline: 2 days
            "next_asn": 1}
OPERATOR_SETTINGS = ("replace_wait_s",)  # next_asn is the book's own


class CardBook:
    def __init__(self, db):
        self.db = db

    # -- settings -------------------------------------------------------------------------
    def setting(self, name):
        row = self.db.execute("SELECT value FROM card_settings WHERE name = ?",
                              (name,)).fetchone()
        return SETTINGS[name] if row is None else row[0]

    def set_setting(self, name, value):
        if name not in SETTINGS or not isinstance(value, int) or value < 0:
            raise ValueError("a card setting is one of %s, a whole number >= 0"
                             % ", ".join(sorted(SETTINGS)))
        self.db.execute("INSERT OR REPLACE INTO card_settings VALUES (?, ?)", (name, value))

    def allocate_asn(self):
        """A card number never given before (also not to a card whose issue failed: that
        card may carry it)."""
        n = self.setting("next_asn")
        self.set_setting("next_asn", n + 1)
        return "%s%012d" % (ASN_PREFIX, n)

    # -- the registry ---------------------------------------------------------------------
    def add(self, asn, issuer, kind, name="", id_last4="", phone="", replaces=None,
            now=None):
        self.db.execute("INSERT INTO card_registry (asn, issuer, kind, name, id_last4, phone, "
                        "status, issued, replaces) VALUES (?,?,?,?,?,?,'active',?,?)",
                        (asn, issuer, kind, name, id_last4, phone, int(now or time.time()),
                         replaces))

    def get(self, asn):
        row = self.db.execute("SELECT asn, issuer, kind, name, id_last4, phone, status, "
                              "issued, lost_at, closed_at, replaces, replaced_by "
                              "FROM card_registry WHERE asn = ?", (asn,)).fetchone()
        if row is None:
            return None
        return dict(zip(("asn", "issuer", "kind", "name", "id_last4", "phone", "status",
                         "issued", "lost_at", "closed_at", "replaces", "replaced_by"), row))

    def all(self):
        return [row[0] for row in self.db.execute(
            "SELECT asn FROM card_registry ORDER BY asn")]

    def set_status(self, asn, status, now=None):
        now = int(now or time.time())
        if status == "lost":
            self.db.execute("UPDATE card_registry SET status = 'lost', lost_at = ? "
                            "WHERE asn = ?", (now, asn))
        else:
            self.db.execute("UPDATE card_registry SET status = ?, lost_at = NULL "
                            "WHERE asn = ?", (status, asn))

    def close(self, asn, successor, amount, now=None):
        """The old card of a replacement: closed, its balance carried to `successor`."""
        now = int(now or time.time())
        self.db.execute("UPDATE card_registry SET status = 'closed', closed_at = ?, "
                        "replaced_by = ? WHERE asn = ?", (now, successor, asn))
        self.db.execute("INSERT INTO card_transfers VALUES (?, ?, ?, ?)",
                        (asn, amount, successor, now))

    # -- loads ----------------------------------------------------------------------------
    def fund(self, asn, amount, source, now=None):
        """Money taken for the card (cash at the desk, an online top-up, a predecessor's
        balance): a load waiting for the card. Returns its id."""
        if not isinstance(amount, int) or not 0 < amount <= 0xFFFFFFFF:
            raise ValueError("a load is a whole number of minor units above 0")
        if source not in SOURCES:
            raise ValueError("a load's source is one of " + ", ".join(SOURCES))
        cur = self.db.execute("INSERT INTO card_loads (asn, amount, source, state, funded) "
                              "VALUES (?,?,?,?,?)", (asn, amount, source, PENDING,
                                                     int(now or time.time())))
        return cur.lastrowid

    def loads(self, asn, states=None):
        names = ("id", "asn", "amount", "source", "state", "funded", "terminal", "counter",
                 "before", "at", "tac", "loaded", "how")
        rows = [dict(zip(names, row)) for row in self.db.execute(
            "SELECT %s FROM card_loads WHERE asn = ? ORDER BY id" % ", ".join(names),
            (asn,))]
        return [r for r in rows if states is None or r["state"] in states]

    def started(self, load_id, terminal, counter, before, at):
        """INITIALIZE FOR LOAD answered: the card's online counter and balance, and the
        date and time CREDIT FOR LOAD will carry, recorded before CREDIT is sent."""
        cur = self.db.execute(
            "UPDATE card_loads SET state = ?, terminal = ?, counter = ?, before = ?, at = ? "
            "WHERE id = ? AND state = ?", (STARTED, terminal, counter, before, at, load_id,
                                          PENDING))
        if cur.rowcount != 1:
            raise ValueError("load %d is not waiting any more" % load_id)

    def done(self, load_id, tac, how, now=None):
        self.db.execute("UPDATE card_loads SET state = ?, tac = ?, how = ?, loaded = ? "
                        "WHERE id = ? AND state = ?", (DONE, tac, how,
                                                       int(now or time.time()), load_id,
                                                       STARTED))

    def not_credited(self, load_id):
        """A started load the card never got (its online counter did not step): waiting
        again."""
        self.db.execute("UPDATE card_loads SET state = ?, terminal = NULL, counter = NULL, "
                        "before = NULL, at = NULL WHERE id = ? AND state = ?",
                        (PENDING, load_id, STARTED))

    def move_waiting(self, asn, successor):
        """A replaced card's money not on it yet goes to its successor, to be loaded there
        (a load cut on the lost card too: hotlisted, it cannot spend what it may hold).
        Returns the amount moved."""
        amount = self.waiting(asn)
        self.db.execute("UPDATE card_loads SET asn = ?, state = ?, terminal = NULL, "
                        "counter = NULL, before = NULL, at = NULL WHERE asn = ? AND "
                        "state != ?", (successor, PENDING, asn, DONE))
        return amount

    def waiting_from(self, asn, source, states):
        """Money of `source` waiting for the card in loads of `states`."""
        return self.db.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM card_loads WHERE asn = ? AND source = ? "
            "AND state IN (%s)" % ",".join("?" * len(states)),
            (asn, source) + tuple(states)).fetchone()[0]

    def unfund(self, asn, amount, source):
        """Take `amount` back from the card's pending loads of `source`, newest first (a
        pending load is not on the card: nothing of it reached a card); a load taken back
        whole is deleted. The caller checked there is that much."""
        for load_id, have in self.db.execute(
                "SELECT id, amount FROM card_loads WHERE asn = ? AND source = ? AND state = ? "
                "ORDER BY id DESC", (asn, source, PENDING)).fetchall():
            if amount <= 0:
                break
            take = min(have, amount)
            if take == have:
                self.db.execute("DELETE FROM card_loads WHERE id = ? AND state = ?",
                                (load_id, PENDING))
            else:
                self.db.execute("UPDATE card_loads SET amount = amount - ? WHERE id = ? AND "
                                "state = ?", (take, load_id, PENDING))
            amount -= take
        if amount:
            raise ValueError("not that much waiting for the card")

    # -- money ----------------------------------------------------------------------------
    def debits(self, asn):
        """The pumps' card bills that took money from the card: [(kind, amount, ctc,
        balance, verified)]."""
        return self.db.execute("SELECT kind, amount, ctc, balance, verified FROM card_bills "
                               "WHERE asn = ? AND kind IN ('FINAL', 'UNLOCK') ORDER BY ctc",
                               (asn,)).fetchall()

    def balance(self, asn):
        """The card's balance as the station knows it: the sum of its bills."""
        loaded = self.db.execute("SELECT COALESCE(SUM(amount), 0) FROM card_loads WHERE "
                                 "asn = ? AND state = ?", (asn, DONE)).fetchone()[0]
        debited = sum(row[1] for row in self.debits(asn))
        carried = self.db.execute("SELECT COALESCE(SUM(amount), 0) FROM card_transfers "
                                  "WHERE asn = ?", (asn,)).fetchone()[0]
        return loaded - debited - carried

    def waiting(self, asn):
        """Money taken for the card, not (known to be) on it yet."""
        return self.db.execute("SELECT COALESCE(SUM(amount), 0) FROM card_loads WHERE "
                               "asn = ? AND state != ?", (asn, DONE)).fetchone()[0]

    def last_bill(self, asn):
        """(time, balance after) of the card's newest pump bill that took money, or None;
        within one second, by the card's own counter (a grey card's 补扣 and the sale
        after it, or two quick sales)."""
        row = self.db.execute(
            "SELECT json_extract(record, '$.time'), json_extract(record, '$.balance') "
            "FROM sales WHERE asn = ? AND kind IN ('FINAL', 'UNLOCK') AND "
            "json_extract(record, '$.tac') IS NOT NULL ORDER BY 1 DESC, "
            "json_extract(record, '$.ctc') DESC LIMIT 1", (asn,)).fetchone()
        return None if row is None else (row[0] or 0, row[1] or 0)

    def last_reported(self, asn):
        """(balance, when) the card last told the station, by the card's own transaction
        times: its newest pump bill that took money (its balance after) or its newest
        load (balance before + amount), or None."""
        seen = []
        bill = self.last_bill(asn)
        if bill is not None:
            seen.append(bill)
        for load in self.loads(asn, (DONE,)):
            if load["at"]:
                seen.append((load_time(load), load["before"] + load["amount"]))
        if not seen:
            return None
        # the newest; within one second, the later load (a sale and a load in one second
        # cannot be ordered: the load is taken)
        when, balance = max(seen, key=lambda item: (item[0], seen.index(item)))
        return balance, when

    def transfers(self, asn):
        return [dict(zip(("amount", "other", "at"), row)) for row in self.db.execute(
            "SELECT amount, other, at FROM card_transfers WHERE asn = ? ORDER BY rowid",
            (asn,))]


def load_time(load):
    """A started or done load's time (Unix seconds) from the date and time it carried."""
    return calendar.timegm(time.strptime(load["at"], "%Y%m%d%H%M%S"))
