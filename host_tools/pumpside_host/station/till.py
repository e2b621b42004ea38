"""The till (the kiosk's cashier): what the customer pays at the counter.

Postpay: an attended sale (a FINAL with no card and no payment order that owes money) is
stored with the payment kind "unpaid" (reports.pay_kind); the till lists those, and the
cashier takes the money: take() sets the sale's kind to the one taken (TILL_KINDS) and
when (`paid_at`), once (a sale no longer unpaid is refused: a second tab, a colleague).

Refuse the next sale (a station setting, `refuse_next`, off by default): while it is on, a
pump with an unpaid sale is held (`till_holds`): the service layer sends it `suspend`
(closed to new sales) when the sale arrives and `resume` once none is unpaid (or the
setting is switched off). The holds are the till's own: a pump it did not suspend is
never resumed by it.

Prepay: a till order (payments/orders.py, `source` "till") paid at the counter; its change
owed (what it paid less what the pump sold on it) is listed (Orders.change_owed) until the
cashier hands it over. The service layer (tilldesk.py) does the role checks and the audit.

The till's money (`till_moves`, append-only, in the transaction of the act): each payment
taken for an attended sale ("postpay"), each prepaid order's money ("prepay") and each
change handed over ("change", money out), with its kind and when; the reports sum them
by time, a shift by id (those after the previous close's, up to its own: shifts.py), so
the cashier's drawer is checked against net = postpay + prepay - change per kind.
"""
import time

from .problems import Invalid

TILL_KINDS = ("cash", "till-card")  # what the till takes: cash, a bank card at the till
UNPAID = "unpaid"
SETTING = "till_refuse_next"  # the meta table's row (0 or 1)
MOVES = ("postpay", "prepay", "change")  # change: money out of the till
FIELDS = ("id", "terminal", "journal", "sale", "nozzle", "grade", "ml", "amount", "at",
          "received", "pay", "paid_at")


def _step_columns(db, table, columns):
    have = {row[1] for row in db.execute("PRAGMA table_xinfo(%s)" % table)}
    for name, statement in columns:
        if name not in have:
            db.execute(statement)


def schema_step(db):
    """The till's schema step (schema.py): the sales' `paid_at`, the till orders' columns
    (orders.TILL_COLUMNS), the pumps it holds, the payment kinds the sales held already
    get (a fleet card's sale "fleet", a sale naming a payment order "phone"; an attended
    one stays "attended": held before the till, it waits for no cashier) and the index of
    the unpaid sales."""
    from .payments import orders as pay_orders

    _step_columns(db, "sales", (("paid_at", "ALTER TABLE sales ADD COLUMN paid_at "
                                            "INTEGER"),))
    _step_columns(db, "pay_orders", [(s.split()[5], s) for s in pay_orders.TILL_COLUMNS
                                     if s.startswith("ALTER")])
    for statement in pay_orders.TILL_COLUMNS:
        if not statement.startswith("ALTER"):
            db.execute(statement)
    db.execute("CREATE TABLE IF NOT EXISTS till_holds (terminal TEXT PRIMARY KEY, "
               "since INTEGER NOT NULL)")
    db.execute("UPDATE sales SET pay = 'fleet' WHERE pay = 'card' AND asn IN "
               "(SELECT asn FROM fleet_cards)")
    db.execute("UPDATE sales SET pay = 'phone' WHERE json_extract(record, '$.order') "
               "IS NOT NULL")
    db.execute("CREATE INDEX IF NOT EXISTS sales_unpaid ON sales (terminal, received) "
               "WHERE pay = 'unpaid'")
    db.execute("CREATE TABLE IF NOT EXISTS till_moves (id INTEGER PRIMARY KEY "
               "AUTOINCREMENT, at INTEGER NOT NULL, what TEXT NOT NULL, kind TEXT NOT NULL, "
               "amount INTEGER NOT NULL, ref TEXT NOT NULL)")
    db.execute("CREATE INDEX IF NOT EXISTS till_moves_report ON till_moves (at, what, kind, "
               "amount)")


class TillProblem(Invalid):
    """A till act that cannot be done (nothing was changed)."""


class Till:
    def __init__(self, db):
        self.db = db

    # -- postpay ---------------------------------------------------------------------------
    def _rows(self, where, args):
        return [dict(zip(FIELDS, row)) for row in self.db.execute(
            "SELECT rowid, terminal, journal, sale, nozzle, grade, ml, amount, at, received, "
            "pay, paid_at FROM sales WHERE " + where, args)]

    def unpaid(self, terminal=None):
        """The unpaid attended sales (of one terminal, or all), oldest first: id (the
        ledger's row), terminal, journal, sale, nozzle, grade, ml, amount, at (the bill's
        time), received."""
        return self._rows("pay = 'unpaid'" + (" AND terminal = ?" if terminal else "") +
                          " ORDER BY received, rowid", (terminal,) if terminal else ())

    def unpaid_on(self, terminal):
        return self.db.execute("SELECT COUNT(*) FROM sales WHERE pay = 'unpaid' AND "
                               "terminal = ?", (terminal,)).fetchone()[0]

    def sale(self, sale_id):
        rows = self._rows("rowid = ?", (sale_id,))
        return rows[0] if rows else None

    def take(self, sale_id, kind, now=None):
        """The cashier took `kind` for unpaid sale `sale_id`: the sale's payment kind is
        that from now (TillProblem: not a till kind, no such sale, or not unpaid: paid
        already). Returns the sale as it was."""
        if kind not in TILL_KINDS:
            raise TillProblem("till_kind", choices=", ".join(TILL_KINDS))
        sale = self.sale(sale_id) if isinstance(sale_id, int) else None
        if sale is None or sale["pay"] not in (UNPAID,) + TILL_KINDS:
            raise TillProblem("till_no_sale", id=sale_id)
        if sale["pay"] != UNPAID:
            raise TillProblem("till_paid", id=sale_id, kind=sale["pay"])
        now = int(time.time()) if now is None else int(now)
        self.db.execute("UPDATE sales SET pay = ?, paid_at = ? WHERE rowid = ? AND "
                        "pay = 'unpaid'", (kind, now, sale_id))
        self.move("postpay", kind, sale["amount"], "%s/%s/%d" % (
            sale["terminal"], sale["journal"], sale["sale"]), now)
        return sale

    def move(self, what, kind, amount, ref, now=None):
        """The till's money: `amount` in (postpay, prepay) or out (change) in `kind`."""
        if what not in MOVES or kind not in TILL_KINDS:
            raise TillProblem("till_kind", choices=", ".join(TILL_KINDS))
        self.db.execute("INSERT INTO till_moves (at, what, kind, amount, ref) VALUES "
                        "(?,?,?,?,?)", (int(time.time()) if now is None else int(now),
                                        what, kind, amount, ref))

    # -- refuse the next sale --------------------------------------------------------------
    def refuse_next(self):
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (SETTING,)).fetchone()
        return bool(row and row[0])

    def set_refuse_next(self, on):
        """Switch the setting; returns what it was."""
        if not isinstance(on, bool):
            raise TillProblem("till_setting")
        was = self.refuse_next()
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (SETTING, int(on)))
        return was

    def held(self):
        """The terminals the till holds (suspended for an unpaid sale)."""
        return [row[0] for row in self.db.execute("SELECT terminal FROM till_holds "
                                                  "ORDER BY terminal")]

    def is_held(self, terminal):
        return self.db.execute("SELECT 1 FROM till_holds WHERE terminal = ?",
                               (terminal,)).fetchone() is not None

    def hold(self, terminal, now=None):
        self.db.execute("INSERT OR IGNORE INTO till_holds VALUES (?, ?)",
                        (terminal, int(time.time()) if now is None else now))

    def release(self, terminal):
        self.db.execute("DELETE FROM till_holds WHERE terminal = ?", (terminal,))

    def due(self, terminal):
        """What the pump needs now: "suspend" (the setting on, a sale unpaid, not held
        yet), "resume" (held, and nothing unpaid or the setting off), None."""
        held = self.is_held(terminal)
        if not held and not self.refuse_next():
            return None  # the common case: one SELECT
        wants = self.refuse_next() and self.unpaid_on(terminal) > 0
        if wants and not held:
            return "suspend"
        if held and not wants:
            return "resume"
        return None
