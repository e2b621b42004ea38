"""The station's payment orders: one row per merchant order number (the gateway's
out_trade_no), its state and the money the gateway confirmed.

    created --paid--> paid --authorised--> authorised --settle(used)--> captured | refunded
       |                 \\-----------------settle(used)--------------/
       \\--expired (the gateway says it was never paid and is closed)

A paid order is sent to its pump (AUTHORIZE, server.py) while the pump is online: `sent`
holds when (0: nothing outstanding). The pump's REPLY makes it authorised, or clears
`sent` (refused: busy now, tried again; or for good: settled for 0, refunded in full).
Once sent, only the pump's journal settles it (its FINAL, even one that lapsed): the
clock refunds in full only a paid order never sent before its use window closed.

settle(used) fixes, once, how much is captured (`used`) and how much is refunded (the rest
of what was paid): state `captured` (used > 0) or `refunded` (nothing used: the order
expired unused, or the pump dispensed nothing). The gateway's confirmations are kept apart
(`captured`, `refunded` columns), so a capture or refund the gateway has not yet confirmed
(a transient failure, a station restart) is still owed and retried (`owed`) until it is;
when nothing is owed, captured + refunded == paid.

Every transition is idempotent on the order number: a repeated or late one (a duplicate
notification, a `paid` after the order was settled) changes nothing and says so. Each runs
in its own transaction on the caller's connection (or in the caller's, when one is open:
the station's service layer, with its audit record).

An order's `source`: "gateway" (a phone's, paid through the payment gateway) or "till"
(the kiosk's prepay: a cashier took the money, cash or card at the till, `kind` says
which). A till order never goes near the gateway: it is paid by the cashier (created and
paid at once), its capture is the till's from the moment it is settled (`captured` set
with `capture`), and its refund is the change the cashier owes the customer, confirmed
(refund_confirmed) when the cashier hands it over; owed() never names one.
"""
import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS pay_orders (
    order_no TEXT PRIMARY KEY, terminal TEXT NOT NULL, pump INTEGER NOT NULL,
    preset TEXT NOT NULL, grade TEXT, cap_ml INTEGER, amount INTEGER NOT NULL,
    state TEXT NOT NULL, created INTEGER NOT NULL, pay_by INTEGER NOT NULL,
    use_by INTEGER, paid INTEGER, transaction_id TEXT, paid_at INTEGER,
    capture INTEGER, refund INTEGER, captured INTEGER NOT NULL DEFAULT 0,
    refunded INTEGER NOT NULL DEFAULT 0, refund_tries INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, pay_url TEXT, updated INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS pay_orders_pump ON pay_orders (terminal, pump, state);
CREATE TABLE IF NOT EXISTS pay_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_no TEXT NOT NULL, at INTEGER NOT NULL,
    what TEXT NOT NULL, detail TEXT NOT NULL)
"""
# schema step 13: the AUTHORIZE outstanding (its time), the pump's token the order was
# made with (each taken once)
AUTHORIZE_COLUMNS = (("sent", "INTEGER NOT NULL DEFAULT 0"), ("token", "TEXT"))
AUTHORIZE_INDEX = "CREATE INDEX IF NOT EXISTS pay_orders_token ON pay_orders " \
    "(terminal, pump, token)"
STATES = ("created", "paid", "authorised", "captured", "expired", "refunded")
PRESETS = ("amount", "litres", "fill")
OPEN = ("created", "paid", "authorised")  # a pump with one of these takes no other order
FIELDS = ("order_no", "terminal", "pump", "preset", "grade", "cap_ml", "amount", "state",
          "created", "pay_by", "use_by", "paid", "transaction_id", "paid_at", "capture",
          "refund", "captured", "refunded", "refund_tries", "last_error", "pay_url",
          "updated", "source", "kind", "sent", "token")
SOURCES = ("gateway", "till")
# the kiosk's prepay's columns (its schema step, after SCHEMA's: till.schema_step)
TILL_COLUMNS = (
    "ALTER TABLE pay_orders ADD COLUMN source TEXT NOT NULL DEFAULT 'gateway'",
    "ALTER TABLE pay_orders ADD COLUMN kind TEXT",
    "CREATE INDEX IF NOT EXISTS pay_orders_change ON pay_orders (source, state) WHERE "
    "source = 'till'",
)


def till_kind(db, order_no):
    """The till's payment kind of a till order (cash, till-card), None for another
    order or none (the ledger's payment kind of a sale that names an order)."""
    if not isinstance(order_no, str):
        return None
    row = db.execute("SELECT kind FROM pay_orders WHERE order_no = ? AND source = 'till'",
                     (order_no,)).fetchone()
    return row[0] if row else None


class OrderError(ValueError):
    """A transition the order's state or money does not allow: nothing was changed."""


class TokenUsed(OrderError):
    """The pump's token was taken by an order already: the phone scans the code again."""


class Orders:
    def __init__(self, db, now=time.time):
        self.db = db
        self.now = now

    # -- reads -----------------------------------------------------------------------------
    def get(self, order_no):
        row = self.db.execute("SELECT %s FROM pay_orders WHERE order_no = ?"
                              % ", ".join(FIELDS), (order_no,)).fetchone()
        return dict(zip(FIELDS, row)) if row else None

    def all(self, limit=200):
        return [dict(zip(FIELDS, row)) for row in self.db.execute(
            "SELECT %s FROM pay_orders ORDER BY created DESC, rowid DESC LIMIT ?"
            % ", ".join(FIELDS), (limit,))]

    def open_on(self, terminal, pump, now):
        """The pump's order that holds it (a created one within its pay window, a paid
        or authorised one), or None."""
        row = self.db.execute(
            "SELECT order_no FROM pay_orders WHERE terminal = ? AND pump = ? AND (state IN "
            "('paid', 'authorised') OR (state = 'created' AND pay_by > ?)) LIMIT 1",
            (terminal, pump, int(now))).fetchone()
        return row[0] if row else None

    def owed(self):
        """Gateway orders whose capture or refund the gateway has not confirmed yet."""
        return [row[0] for row in self.db.execute(
            "SELECT order_no FROM pay_orders WHERE capture IS NOT NULL AND source = "
            "'gateway' AND (captured < capture OR refunded < refund) ORDER BY updated")]

    def change_owed(self):
        """Till orders settled with change the cashier has not handed over yet (refund
        not confirmed), oldest first."""
        return [dict(zip(FIELDS, row)) for row in self.db.execute(
            "SELECT %s FROM pay_orders WHERE source = 'till' AND state IN ('captured', "
            "'refunded') AND refunded < refund ORDER BY updated, rowid" % ", ".join(FIELDS))]

    def unpaid_past(self, now):
        """Created orders past their pay window (the gateway is asked whether they were
        paid after all before they are called expired)."""
        return [row[0] for row in self.db.execute(
            "SELECT order_no FROM pay_orders WHERE state = 'created' AND pay_by <= ? AND "
            "source = 'gateway'",
            (int(now),))]

    def unused_past(self, now):
        """Paid orders never sent to their pump before their use window closed (refunded
        in full). A sent or authorised one waits for the pump's final sale or its lapse."""
        return [row[0] for row in self.db.execute(
            "SELECT order_no FROM pay_orders WHERE state = 'paid' AND sent = 0 AND "
            "use_by <= ?", (int(now),))]

    def to_send(self, terminal, now):
        """The terminal's paid orders its pump is to be sent (AUTHORIZE): within their
        use window, or sent already and not answered (sent again: the pump answers for
        what its journal holds). Oldest first."""
        return [dict(zip(FIELDS, row)) for row in self.db.execute(
            "SELECT %s FROM pay_orders WHERE terminal = ? AND state = 'paid' AND "
            "(use_by > ? OR sent > 0) ORDER BY paid_at, order_no" % ", ".join(FIELDS),
            (terminal, int(now)))]

    def undecided(self):
        """Paid or authorised orders (a pump's final sale may already be stored for one:
        the station stopped before it settled it)."""
        return [dict(zip(FIELDS, row)) for row in self.db.execute(
            "SELECT %s FROM pay_orders WHERE state IN ('paid', 'authorised') "
            "ORDER BY created" % ", ".join(FIELDS))]

    def history(self, order_no):
        return [dict(zip(("at", "what", "detail"), row)) for row in self.db.execute(
            "SELECT at, what, detail FROM pay_history WHERE order_no = ? ORDER BY id",
            (order_no,))]

    # -- transitions -----------------------------------------------------------------------
    def create(self, order_no, terminal, pump, preset, amount, pay_by, cap_ml=None,
               grade=None, source="gateway", kind=None, token=None):
        """A new order (state created); the same order number again is refused, and so is
        a pump's token another order was made with (TokenUsed). A till order (`source`
        "till") names the till's payment `kind`."""
        if source not in SOURCES or (source == "till") != bool(kind):
            raise OrderError("an order's source is gateway, or till with its payment kind")
        if preset not in PRESETS:
            raise OrderError("a preset is one of %s" % ", ".join(PRESETS))
        if not isinstance(amount, int) or amount <= 0:
            raise OrderError("an order's amount is a positive whole number of minor units")

        def run(order):
            if order is not None:
                raise OrderError("order %s exists" % order_no)
            if token is not None and self.db.execute(
                    "SELECT 1 FROM pay_orders WHERE terminal = ? AND pump = ? AND token = ?",
                    (terminal, pump, token)).fetchone():
                raise TokenUsed("this code was used already: scan the code on the pump "
                                "again")
            now = int(self.now())
            self.db.execute(
                "INSERT INTO pay_orders (order_no, terminal, pump, preset, grade, cap_ml, "
                "amount, state, created, pay_by, updated, source, kind, token) VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (order_no, terminal, pump, preset, grade, cap_ml, amount, "created", now,
                 int(pay_by), now, source, kind, token))
            return "created", "%s %d%s" % (preset, amount,
                                           ", till: %s" % kind if kind else "")
        return self._transition(order_no, run, must_exist=False)

    def gave_url(self, order_no, url):
        """The gateway's page where the customer pays this order."""
        self.db.execute("UPDATE pay_orders SET pay_url = ? WHERE order_no = ?",
                        (url, order_no))

    def paid(self, order_no, amount, transaction_id, use_by):
        """The gateway says the customer paid `amount` (a notification or a query): a
        created (or expired: paid at the last moment) order is paid, to be used by
        `use_by`. Anything later: nothing changes (False). A paid amount other than the
        order's is refused (OrderError)."""
        def run(order):
            if order["state"] not in ("created", "expired"):
                return None
            if amount != order["amount"]:
                raise OrderError("order %s: the gateway says %d was paid, the order is for "
                                 "%d" % (order_no, amount, order["amount"]))
            self.db.execute("UPDATE pay_orders SET state = 'paid', paid = ?, "
                            "transaction_id = ?, paid_at = ?, use_by = ?, updated = ? "
                            "WHERE order_no = ?", (amount, transaction_id, int(self.now()),
                                                   int(use_by), int(self.now()), order_no))
            return "paid", "%d, transaction %s" % (amount, transaction_id)
        return self._transition(order_no, run)

    def sent(self, order_no):
        """AUTHORIZE went to the pump (or again): outstanding until its REPLY."""
        def run(order):
            if order["state"] != "paid":
                raise OrderError("order %s is %s: only a paid order is sent to its pump"
                                 % (order_no, order["state"]))
            first = not order["sent"]
            self.db.execute("UPDATE pay_orders SET sent = ?, updated = ? WHERE order_no = ?",
                            (int(self.now()), int(self.now()), order_no))
            return ("sent", "AUTHORIZE to %s/%s" % (order["terminal"], order["pump"])) \
                if first else None
        return self._transition(order_no, run)

    def refused(self, order_no, why):
        """The pump refused the AUTHORIZE (it took nothing): no longer outstanding."""
        def run(order):
            if order["state"] != "paid":
                return None
            self.db.execute("UPDATE pay_orders SET sent = 0, last_error = ?, updated = ? "
                            "WHERE order_no = ?", (why[:200], int(self.now()), order_no))
            return "refused by the pump", why[:200]
        return self._transition(order_no, run)

    def authorised(self, order_no):
        """The pump took the order (its AUTHORIZE acknowledged): paid -> authorised. An
        order its pump has settled already (the REPLY came after the FINAL) stays so."""
        def run(order):
            if order["state"] in ("authorised", "captured", "refunded"):
                return None
            if order["state"] != "paid":
                raise OrderError("order %s is %s: only a paid order is authorised"
                                 % (order_no, order["state"]))
            self.db.execute("UPDATE pay_orders SET state = 'authorised', sent = 0, "
                            "updated = ? WHERE order_no = ?", (int(self.now()), order_no))
            return "authorised", ""
        return self._transition(order_no, run)

    def expired(self, order_no):
        """The gateway says the created order was never paid and is closed."""
        def run(order):
            if order["state"] != "created":
                return None
            self._set_state(order_no, "expired")
            return "expired", ""
        return self._transition(order_no, run)

    def settle(self, order_no, used):
        """Fix, once, what is captured (`used`, 0 to the amount paid) and refunded (the
        rest). The same `used` again changes nothing (False); another is refused."""
        if not isinstance(used, int) or isinstance(used, bool) or used < 0:
            raise OrderError("a captured amount is a whole number >= 0 of minor units")

        def run(order):
            if order["capture"] is not None:
                if order["capture"] != used:
                    raise OrderError("order %s was settled for %d: not again for %d"
                                     % (order_no, order["capture"], used))
                return None
            if order["state"] not in ("paid", "authorised"):
                raise OrderError("order %s is %s: only a paid order is settled"
                                 % (order_no, order["state"]))
            if used > order["paid"]:
                raise OrderError("order %s: %d used is more than the %d paid"
                                 % (order_no, used, order["paid"]))
            state = "captured" if used else "refunded"
            # a till order's capture is the till's already (the cashier holds the money)
            self.db.execute("UPDATE pay_orders SET state = ?, capture = ?, refund = ?, "
                            "captured = CASE WHEN source = 'till' THEN ? ELSE captured END, "
                            "sent = 0, updated = ? WHERE order_no = ?",
                            (state, used, order["paid"] - used, used, int(self.now()),
                             order_no))
            return state, "capture %d, refund %d" % (used, order["paid"] - used)
        return self._transition(order_no, run)

    def capture_confirmed(self, order_no):
        """The gateway confirmed the capture this order owes."""
        def run(order):
            if order["capture"] is None or order["captured"] == order["capture"]:
                return None
            self.db.execute("UPDATE pay_orders SET captured = capture, updated = ? "
                            "WHERE order_no = ?", (int(self.now()), order_no))
            return "capture confirmed", str(order["capture"])
        return self._transition(order_no, run)

    def refund_confirmed(self, order_no, amount):
        """The gateway confirmed the refund this order owes (its answer to the refund, or
        its notification): an amount other than what is owed is refused."""
        def run(order):
            if order["refund"] is None:
                raise OrderError("order %s owes no refund" % order_no)
            if amount != order["refund"]:
                raise OrderError("order %s: the gateway refunded %d, %d is owed"
                                 % (order_no, amount, order["refund"]))
            if order["refunded"] == order["refund"]:
                return None
            self.db.execute("UPDATE pay_orders SET refunded = refund, last_error = NULL, "
                            "updated = ? WHERE order_no = ?", (int(self.now()), order_no))
            return "refund confirmed", str(amount)
        return self._transition(order_no, run)

    def refund_failed(self, order_no, why):
        """A refund the gateway could not make now (retried later)."""
        def run(order):
            self.db.execute("UPDATE pay_orders SET refund_tries = refund_tries + 1, "
                            "last_error = ?, updated = ? WHERE order_no = ?",
                            (why[:200], int(self.now()), order_no))
            return "refund failed", why[:200]
        return self._transition(order_no, run)

    # -- the one place a transition is written ---------------------------------------------
    def _set_state(self, order_no, state):
        self.db.execute("UPDATE pay_orders SET state = ?, updated = ? WHERE order_no = ?",
                        (state, int(self.now()), order_no))

    def _transition(self, order_no, run, must_exist=True):
        """run(order) -> (what, detail) or None (nothing to do), in one transaction with
        its history line (the caller's, when one is open: it ends it); returns True when
        it changed the order."""
        db = self.db
        own = not db.in_transaction
        if own:
            db.execute("BEGIN IMMEDIATE")
        try:
            order = self.get(order_no)
            if order is None and must_exist:
                raise OrderError("no order %s" % order_no)
            done = run(order)
            if done is not None:
                db.execute("INSERT INTO pay_history (order_no, at, what, detail) "
                           "VALUES (?,?,?,?)", (order_no, int(self.now()), done[0], done[1]))
            if own:
                db.execute("COMMIT")
        except BaseException:
            if own:
                db.execute("ROLLBACK")
            raise
        return done is not None
