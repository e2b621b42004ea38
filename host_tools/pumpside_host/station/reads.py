"""What an operator may read of the station, role-checked by the service layer (Service
takes these methods from Reads): the back office's pages and the command line's reading
subcommands both call them, never the ledger, so the service decides who reads what.

Card numbers come masked (masking.py) to every role but the administrator's.
"""
import time

from .masking import mask_card
from .problems import Invalid

SALE_FILTERS = ("pump", "kind", "grade", "card", "pay", "from", "to")
SALES_LIMIT = 1000  # the rows a filtered page shows (its chart and totals take them all)


def command_state(row):
    """Where a queued command is: queued (not yet sent), sent (with a heartbeat, no
    REPLY yet), done (the terminal did it), failed (it said why), expired (never
    answered within the ledger's COMMAND_TTL_S)."""
    if row["done"] is None:
        return "sent" if row["sent"] else "queued"
    if row["ok"]:
        return "done"
    return "expired" if (row["why"] or "").startswith("expired") else "failed"


class Reads:
    """The service layer's reads (mixed into service.Service: self.check, self.ledger)."""

    def _full_cards(self, actor):
        return actor.role == "administrator"

    def _card(self, actor, asn):
        return (asn or "-") if self._full_cards(actor) else mask_card(asn)

    def _terminal(self, terminal):
        """A registered terminal's id (Invalid: unknown); None and '' stand for all."""
        if terminal and terminal not in self.ledger.terminals():
            raise Invalid("unknown_terminal", terminal=terminal)
        return terminal or None

    # -- sales -----------------------------------------------------------------------------
    def sales(self, actor, terminal=None):
        """The sales held (ledger.sales: each journal's in order), `asn` as the role may
        see it."""
        self.check(actor, "read")
        rows = self.ledger.sales(self._terminal(terminal))
        for row in rows:
            row["asn"] = self._card(actor, row["asn"])
        return rows

    def conflicts(self, actor, terminal=None):
        """The records kept because their key was taken by another (ledger.conflicts),
        their card numbers as the role may see them."""
        self.check(actor, "read")
        rows = self.ledger.conflicts(self._terminal(terminal))
        if not self._full_cards(actor):
            for row in rows:
                for record in (row["record"], row["stored"]):
                    if "asn" in record:
                        record["asn"] = mask_card(record["asn"])
        return rows

    def _sales_where(self, query):
        """The WHERE clause and its arguments of a sales filter (Invalid: a bad field)."""
        where, args = [], []
        for name, column in (("pump", "terminal"), ("kind", "kind"), ("pay", "pay")):
            if query.get(name):
                where.append("%s = ?" % column)
                args.append(query[name])
        if query.get("grade"):
            where.append("json_extract(record, '$.grade') = ?")
            args.append(query["grade"])
        card = query.get("card", "")
        if card:  # the whole number, or its last 4 digits: never a probe of the hidden middle
            if not card.isdigit() or len(card) not in (4, 16):
                raise Invalid("field_card")
            where.append("asn = ?" if len(card) == 16 else "substr(asn, -4) = ?")
            args.append(card)
        for name, op, extra in (("from", ">=", 0), ("to", "<", 86400)):
            if query.get(name):
                try:
                    day = time.mktime(time.strptime(query[name], "%Y-%m-%d"))
                except ValueError:
                    raise Invalid("field_date", field=name) from None
                where.append("received %s ?" % op)
                args.append(int(day) + extra)
        return (" WHERE " + " AND ".join(where)) if where else "", args

    def sales_filtered(self, actor, query, limit=SALES_LIMIT):
        """The newest sales (at most `limit`) a filter takes: {pump, kind, grade, card
        (16 digits or the last 4), pay (a payment kind), from, to (YYYY-MM-DD)}; each with
        its payment kind
        (`pay`: reports.pay_kind, the till's)."""
        self.check(actor, "read")
        where, args = self._sales_where(query)
        sql = ("SELECT terminal, kind, sale, seq, asn, ml, amount, received, journal, "
               "json_extract(record, '$.grade'), pay FROM sales" + where +
               " ORDER BY received DESC, terminal, seq DESC LIMIT ?")
        return [{"terminal": t, "kind": k, "sale": s, "seq": q, "card": self._card(actor, a),
                 "ml": ml, "amount": am, "received": r, "journal": j, "grade": g or "",
                 "pay": p}
                for t, k, s, q, a, ml, am, r, j, g, p in self.ledger.db.execute(
                    sql, args + [limit])]

    def sales_per_day(self, actor, query):
        """Litres and amount per day of every sale the filter takes (the sales chart)."""
        self.check(actor, "read")
        where, args = self._sales_where(query)
        return [{"day": day, "litres": round((ml or 0) / 1000, 3),
                 "amount": round((amount or 0) / 100, 2)}
                for day, ml, amount in self.ledger.db.execute(
                    "SELECT date(received, 'unixepoch', 'localtime') AS day, SUM(ml), "
                    "SUM(amount) FROM sales" + where + " GROUP BY day ORDER BY day", args)]

    # -- pumps, terminals, alarms ----------------------------------------------------------
    def pumps(self, actor):
        """Each pump's state as the ledger knows it (ledger.pumps)."""
        self.check(actor, "read")
        return self.ledger.pumps()

    def terminals(self, actor):
        """Each registered terminal: what its pump row says (ledger.pumps) and
        `unsynced` (ledger.unsynced: the records it had yet to deliver; None unknown)."""
        self.check(actor, "read")
        pumps = {p["terminal"]: p for p in self.ledger.pumps()}
        return [dict(pumps.get(t) or {"terminal": t}, terminal=t,
                     unsynced=self.ledger.unsynced(t)) for t in self.ledger.terminals()]

    def alarms(self, actor, terminal=None, open_only=False):
        """The station's alarms (journals.alarms: a new journal, a conflict ...)."""
        self.check(actor, "read")
        return self.ledger.journals.alarms(self._terminal(terminal), open_only)

    # -- prices, parameters, nozzles, hotlist ----------------------------------------------
    def prices(self, actor, due=False):
        """The price table (ledger.prices): its newest version, or (due) the one in force
        now."""
        self.check(actor, "read")
        return self.ledger.prices(due=due)

    def price_schedule(self, actor):
        """The price changes set for a time still to come, oldest first (as
        price_history gives them)."""
        self.check(actor, "read")
        now = int(self.ledger.clock())
        return [row for row in self.ledger.price_history() if row["effective"] > now]

    def price_history(self, actor, grade=None):
        self.check(actor, "read")
        return self.ledger.price_history(grade)

    def params(self, actor):
        """{"version": v, "values": {name: value}} of the terminals' parameters."""
        self.check(actor, "read")
        return self.ledger.params.current()

    def nozzles(self, actor):
        """[(terminal, nozzle, grade)]: the nozzle map."""
        self.check(actor, "read")
        return self.ledger.params.nozzles()

    def hotlist_cards(self, actor, skip=0, limit=500):
        """{"version", "count", "cards"}: the listed cards in order, `skip` of them
        skipped, at most `limit`: (number, as the role may see it) each (a page counts
        by position, so a masked reader pages without a number in the address)."""
        self.check(actor, "read")
        if not isinstance(skip, int) or skip < 0:
            raise Invalid("field_number", field="skip")
        return {"version": self.ledger.hotlist_version(),
                "count": self.ledger.hotlist_count(),
                "cards": [(asn, self._card(actor, asn)) for (asn,) in self.ledger.db.execute(
                    "SELECT asn FROM hotlist ORDER BY asn LIMIT ? OFFSET ?", (limit, skip))]}

    # -- commands, metrology ---------------------------------------------------------------
    def commands(self, actor, limit=100):
        """The newest commands: id, terminal, cmd, created, sent, done, ok, why and their
        `state` (command_state)."""
        self.check(actor, "read")
        rows = [dict(zip(("id", "terminal", "cmd", "created", "sent", "done", "ok", "why"),
                         row)) for row in self.ledger.db.execute(
            "SELECT id, terminal, cmd, created, sent, done, ok, why FROM commands ORDER BY "
            "created DESC, id DESC LIMIT ?", (limit,))]
        for row in rows:
            row["state"] = command_state(row)
        return rows

    def totals(self, actor, terminal=None, history=False):
        """Totalizer readings, cross-checked with the records (metrology.totals)."""
        self.check(actor, "read")
        return self.ledger.metrology.totals(self._terminal(terminal), history)

    def events(self, actor, terminal):
        """A terminal's metrology event log as the station holds it (metrology.events)."""
        self.check(actor, "read")
        if not terminal:
            raise Invalid("field_missing", field="terminal")
        return self.ledger.metrology.events(self._terminal(terminal))
