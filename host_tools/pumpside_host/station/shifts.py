"""Shifts (班结): a cashier closes the shift; the station freezes its report.

A shift runs from the close of the one before (the first: from the first sale held) to
its own close, and holds the sales the station stored in that time: those stored after
the previous close and up to its own, by the order the ledger stored them (the sales
table's rowid: sales are never deleted and the station never VACUUMs, so a new sale's
rowid is above every other's; a sale stored in the very second of a close is in exactly
one shift). Its report, computed once at the close and kept as it was (a later upload
never changes a closed shift):

- sales by grade and by payment kind, the UNLOCKs settled later, from reports.report
  over the shift's sales;
- the till's money in the shift (reports.till: payments taken for attended sales, prepaid
  orders' money, change handed over, per kind, and the net per kind), its moves after
  the previous close's up to its own, by id (till_moves, as the card loads);
- the card loads taken in the shift (cash and online, by source: reports.card_loads),
  those the card desk stored after the previous close and up to its own, by the order
  it stored them (card_loads' id, as the sales' rowid);
- each nozzle's totalizer at the boundary: the newest TOTALS reading the station holds
  of each terminal's nozzle (metrology.py; of its current journal), the reading the
  shift opened with (the one the previous close recorded for that journal and nozzle,
  else the journal's first), what the totalizer moved between the two and what the
  ledger's records between those two seqs metered (Metrology.metered: FINAL and ESCAPE
  ml and amount, stored or rejected, plus unauthorised flow), and the difference: any
  difference is a totalizer mismatch (alerts.py's `totalizer_mismatch`).

The readings are compared by journal seq, the sales by time: the two sections are each
exact, and a reading taken before the last sales arrived only moves their check to the
next shift.
"""
import json
import time

from . import reports

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS shifts (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "opened INTEGER NOT NULL, closed INTEGER NOT NULL, who TEXT NOT NULL, "
    "role TEXT NOT NULL, report TEXT NOT NULL)",
)


class Shifts:
    def __init__(self, ledger):
        self.ledger = ledger
        self.db = ledger.db

    def last(self):
        row = self.db.execute("SELECT id, report FROM shifts ORDER BY id DESC LIMIT 1"
                              ).fetchone()
        return json.loads(row[1]) if row else None

    def opened(self):
        """When the shift now open started (the last close, or the first sale held)."""
        last = self.last()
        if last is not None:
            return last["closed"]
        row = self.db.execute("SELECT MIN(received) FROM sales").fetchone()
        return row[0] if row[0] is not None else int(time.time())

    def nozzles(self, before):
        """Each terminal nozzle's totalizers at the boundary, opening against `before`
        (the previous shift's report, or None)."""
        had = {(n["terminal"], n["journal"], n["nozzle"]): n
               for n in (before or {}).get("nozzles", ())}
        out = []
        metrology = self.ledger.metrology
        for reading in metrology.totals():
            terminal, journal, nozzle = reading["terminal"], reading["journal"], \
                reading["nozzle"]
            prior = had.get((terminal, journal, nozzle))
            if prior is not None:
                first = (prior["close_seq"], prior["close_ml"], prior["close_amount"])
            else:
                first = self.db.execute(
                    "SELECT seq, volume_ml, amount FROM totals WHERE terminal = ? AND "
                    "journal = ? AND nozzle = ? ORDER BY seq LIMIT 1",
                    (terminal, journal, nozzle)).fetchone()
            seq = reading["seq"]
            moved_ml = reading["volume_ml"] - first[1]
            moved_amount = reading["amount"] - first[2]
            ml, amount = metrology.metered(terminal, first[0], seq, journal)
            out.append({"terminal": terminal, "journal": journal, "nozzle": nozzle,
                        "grade": reading["grade"] or "", "open_seq": first[0],
                        "open_ml": first[1], "open_amount": first[2], "close_seq": seq,
                        "close_ml": reading["volume_ml"],
                        "close_amount": reading["amount"], "moved_ml": moved_ml,
                        "moved_amount": moved_amount, "metered_ml": ml,
                        "metered_amount": amount, "diff_ml": moved_ml - ml,
                        "diff_amount": moved_amount - amount})
        return out

    def close(self, who, role, now=None):
        """Close the shift now open (inside the caller's transaction): its report,
        stored and returned."""
        now = int(time.time()) if now is None else now
        before = self.last()
        opened = self.opened()
        first = before["last_row"] if before else 0
        last = self.db.execute("SELECT COALESCE(MAX(rowid), 0) FROM sales").fetchone()[0]
        first_load = self._last_load(before)
        last_load = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM card_loads"
                                    ).fetchone()[0]
        first_move = before.get("last_move", 0) if before else 0
        last_move = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM till_moves"
                                    ).fetchone()[0]
        rep = reports.report(self.db, opened, now, rows=(first, last),
                             by=("grade", "pay"), loads=(first_load, last_load),
                             moves=(first_move, last_move))
        shift = {"opened": opened, "closed": now, "who": who, "role": role,
                 "first_row": first, "last_row": last, "first_load": first_load,
                 "last_load": last_load, "first_move": first_move,
                 "last_move": last_move, "till": rep["till"],
                 "totals": rep["totals"], "grade": rep["grade"], "pay": rep["pay"],
                 "settled_later": rep["settled_later"], "card_loads": rep["card_loads"],
                 "nozzles": self.nozzles(before)}
        cur = self.db.execute("INSERT INTO shifts (opened, closed, who, role, report) VALUES "
                              "(?,?,?,?,?)", (opened, now, who, role, "{}"))
        shift["id"] = cur.lastrowid
        self.db.execute("UPDATE shifts SET report = ? WHERE id = ?",
                        (json.dumps(shift, sort_keys=True), shift["id"]))
        return shift

    def _last_load(self, before):
        """The last card load the previous shift held (a shift closed before shifts
        counted loads: the last one funded by its close)."""
        if before is None:
            return 0
        if "last_load" in before:
            return before["last_load"]
        return self.db.execute("SELECT COALESCE(MAX(id), 0) FROM card_loads WHERE funded "
                               "<= ?", (before["closed"],)).fetchone()[0]

    def get(self, shift_id=None):
        """A closed shift's report (the last one's when no id), None: none."""
        if shift_id is None:
            return self.last()
        row = self.db.execute("SELECT report FROM shifts WHERE id = ?",
                              (shift_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def list(self, limit=100):
        return [dict(zip(("id", "opened", "closed", "who"), row)) for row in self.db.execute(
            "SELECT id, opened, closed, who FROM shifts ORDER BY id DESC LIMIT ?", (limit,))]


def _money(minor):
    return "%s%d.%02d" % ("-" if minor < 0 else "", abs(minor) // 100, abs(minor) % 100)


def _litres(ml):
    return "%s%d.%03d" % ("-" if ml < 0 else "", abs(ml) // 1000, abs(ml) % 1000)


def _when(seconds):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def text(shift):
    """The shift report as printed (the command line's; the web page shows the same)."""
    t = shift["totals"]
    lines = ["SHIFT %d  closed by %s (%s)" % (shift["id"], shift["who"], shift["role"]),
             "from %s to %s" % (_when(shift["opened"]), _when(shift["closed"])),
             "sales %d  litres %s  amount %s" % (t["count"], _litres(t["ml"]),
                                                 _money(t["amount"])),
             "by grade:"]
    lines += ["  %-8s %6d  %12s L  %12s" % (r["key"], r["count"], _litres(r["ml"]),
                                            _money(r["amount"])) for r in shift["grade"]]
    lines.append("by payment:")
    lines += ["  %-8s %6d  %12s L  %12s" % (r["key"], r["count"], _litres(r["ml"]),
                                            _money(r["amount"])) for r in shift["pay"]]
    s, c = shift["settled_later"], shift["card_loads"]
    lines.append("settled later (UNLOCK) %d  amount %s" % (s["count"], _money(s["amount"])))
    lines.append("card loads %d  amount %s" % (c["count"], _money(c["amount"])))
    lines += ["  %-8s %6d  %12s" % (r["key"], r["count"], _money(r["amount"]))
              for r in c.get("source", ())]
    till = shift.get("till") or {"rows": [], "net": []}  # a shift closed before the till
    lines.append("till (postpay, prepay in; change out):")
    lines += ["  %-8s %-9s %6d  %12s" % (r["what"], r["kind"], r["count"], _money(r["amount"]))
              for r in till["rows"]]
    lines += ["  net %-14s %6s  %12s" % (r["kind"], "", _money(r["amount"]))
              for r in till["net"]]
    lines.append("totalizers (pump:nozzle, open -> close, moved, records, difference):")
    for n in shift["nozzles"]:
        lines.append("  %s:%s %s L -> %s L (seq %d -> %d)  moved %s L %s  records %s L %s"
                     "  diff %s L %s%s" % (
                         n["terminal"], n["nozzle"], _litres(n["open_ml"]),
                         _litres(n["close_ml"]), n["open_seq"], n["close_seq"],
                         _litres(n["moved_ml"]), _money(n["moved_amount"]),
                         _litres(n["metered_ml"]), _money(n["metered_amount"]),
                         _litres(n["diff_ml"]), _money(n["diff_amount"]),
                         "  MISMATCH" if n["diff_ml"] or n["diff_amount"] else ""))
    if not shift["nozzles"]:
        lines.append("  (no totalizer readings held)")
    return "\n".join(lines)
