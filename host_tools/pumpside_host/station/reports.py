"""Sales reports over any period: litres, amount and count per grade, nozzle, pump, card
kind, payment kind, hour of day and day, computed by SQL (GROUP BY over the ledger's
`sales` rows through the index `sales_report`, which holds every column a report reads:
SQLite never opens a row, nor a record's JSON).

What counts: a sale is a FINAL or an ESCAPE (the fuel the meter moved, at its bill's
amount: an ESCAPE's amount is owed and was dispensed); an UNLOCK settles an ESCAPE's
money later and is not a second sale: it is shown apart ("settled later"). A sale is
booked when the station received it (`received`, the station's clock): a closed day or
shift never changes afterwards, and a pump's backlog uploaded after an outage is booked
when it arrived (the sale's own time is in its bill and on the sales page).

Payment kind (`pay`): "card" when the bill carries a card number, "phone" when it names a
paid order (AUTHORIZE), else "attended"; card kind (`card_type`): the card's type byte
(docs/protocol.md), 0 for attended sales. Card loads (top-ups, the card desk's:
cardbook.py's card_loads): the money taken for cards, by source (cash at the desk,
online), counted when the station took it (`funded`, the station's clock), whether or not
it is on the card yet; a replacement's balance carried over to its successor is not money
taken and is not counted. One GROUP BY over the index card_loads_report (schema step 9);
a shift's are the loads stored since the previous close (shifts.py).

Stock and variance (a period's, not a shift's): per tank, from the tanks' daily
reconciliation (tanks.py's tank_days rows of the period's days: the same local days):
the opening stock of its first reconciled day, the deliveries and the sales of its days
(the sales by the nozzle map and the bills' time: litres the pumps drew, which may differ
from the sales section's by what arrived late), book = opening + deliveries - sales,
the closing gauge stock of its last reconciled day, variance = closing - book (the sum
of the days' variances: consecutive days chain from one reading to the next). One SQL
GROUP BY over the rows (the table's key, tank and day).

Periods are local days (the station's time zone, days.py: the same days the tanks'
reconciliation uses): a day, a month, a year, or any range of days, [start, end) in Unix
seconds.
"""
import csv
import io
import time

from .days import day_of
from .days import midnight as _local
from .problems import Invalid

# the sales' columns a report groups by, from each sale's record: filled by the ledger's
# INSERT (columns()), and from the records already held by the schema step (an index of
# SQLite's virtual columns would not cover: each row's JSON would be read again)
SCHEMA = (
    "ALTER TABLE sales ADD COLUMN grade TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE sales ADD COLUMN nozzle INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE sales ADD COLUMN card_type INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE sales ADD COLUMN pay TEXT NOT NULL DEFAULT 'attended'",
    "ALTER TABLE sales ADD COLUMN at INTEGER NOT NULL DEFAULT 0",
    "UPDATE sales SET grade = COALESCE(json_extract(record, '$.grade'), ''), "
    "nozzle = COALESCE(json_extract(record, '$.nozzle'), 0), "
    "card_type = COALESCE(json_extract(record, '$.card_type'), 0), "
    "pay = CASE WHEN asn IS NULL OR asn = '' THEN 'attended' ELSE 'card' END, "
    "at = COALESCE(json_extract(record, '$.time'), 0)",
    "CREATE INDEX IF NOT EXISTS sales_report ON sales (received, kind, terminal, nozzle, "
    "grade, pay, card_type, ml, amount)",
    "CREATE INDEX IF NOT EXISTS sales_card ON sales (asn, at) WHERE asn IS NOT NULL",
)
# the card loads' report index (schema step 9: card_loads is step 8's)
LOADS_SCHEMA = (
    "CREATE INDEX IF NOT EXISTS card_loads_report ON card_loads (funded, source, amount)",
)
COLUMNS = "grade, nozzle, card_type, pay, at"


def columns(record):
    """The report columns of a sale's record (the schema step's UPDATE computes the same):
    grade, nozzle, card type, payment kind, the bill's time. A later payment kind (a
    fleet account) is told here. A sale of a paid order (its bill names the `order`:
    AUTHORIZE) is "phone"."""
    pay = "card" if record.get("asn") else "phone" if record.get("order") else "attended"
    return (record.get("grade") or "", record.get("nozzle") or 0,
            record.get("card_type") or 0, pay, record.get("time") or 0)


SOLD = "kind IN ('FINAL', 'ESCAPE')"
# the breakdowns, in the order a report lists them
BY = ("grade", "nozzle", "pump", "card_type", "pay", "hour", "day")
KINDS = ("day", "month", "year", "range")
# two passes over the period's range of the index: one grouped by every column but the
# time (a few thousand groups at most: pumps x nozzles x grades x kinds of payment and
# card), one by quarter hour (every time zone's offset and daylight-saving change is a
# whole number of quarter hours: each quarter is in one local hour; days x 96 groups);
# each breakdown is summed from those groups, never from the rows
GROUPS = ("SELECT kind, terminal, nozzle, grade, pay, card_type, COUNT(*), SUM(ml), "
          "SUM(amount) FROM sales WHERE %s GROUP BY kind, terminal, nozzle, grade, pay, "
          "card_type")
QUARTER_S = 900
LOAD_SOURCES = ("cash", "online")  # money taken (a replacement's carry-over is not)
LOADS = ("SELECT source, COUNT(*), SUM(amount) FROM card_loads WHERE %%s AND source IN "
         "(%s) GROUP BY source" % ", ".join("'%s'" % s for s in LOAD_SOURCES))
STOCK = ("SELECT d.tank, COALESCE(t.grade, ''), COUNT(*), "
         "(SELECT opening_ml FROM tank_days f WHERE f.tank = d.tank AND f.day >= ?1 AND "
         "f.day <= ?2 ORDER BY f.day LIMIT 1), SUM(d.deliveries_ml), SUM(d.sales_ml), "
         "(SELECT closing_ml FROM tank_days l WHERE l.tank = d.tank AND l.day >= ?1 AND "
         "l.day <= ?2 ORDER BY l.day DESC LIMIT 1) FROM tank_days d LEFT JOIN tanks t ON "
         "t.number = d.tank WHERE d.day >= ?1 AND d.day <= ?2 GROUP BY d.tank ORDER BY d.tank")
STOCK_FIGURES = ("opening_ml", "deliveries_ml", "sales_ml", "book_ml", "closing_ml",
                 "variance_ml")
HOURS = ("SELECT received / 900 AS q, COUNT(*), SUM(ml), SUM(amount) FROM sales WHERE %s "
         "AND " + SOLD + " GROUP BY q")


class BadPeriod(Invalid):
    """A period that is not a date of its kind: nothing was computed (a problems code:
    the back office says it in the operator's language)."""


def _date(text, what="a date"):
    try:
        parsed = time.strptime(text, "%Y-%m-%d")
    except (TypeError, ValueError):
        raise BadPeriod("period_date", what=what, value=repr(text)) from None
    return parsed.tm_year, parsed.tm_mon, parsed.tm_mday


def period(kind, value, to=None):
    """(start, end, label) of a period: ("day", "2026-12-03"), ("month", "2026-12"),
    ("year", "2026") or ("range", "2026-11-01", "2026-11-30"): both days in."""
    if kind == "day":
        y, m, d = _date(value)
        start = _local(y, m, d)
        return start, _local(y, m, d + 1), value
    if kind == "month":
        try:
            parsed = time.strptime(value or "", "%Y-%m")
        except ValueError:
            raise BadPeriod("period_month", value=repr(value)) from None
        y, m = parsed.tm_year, parsed.tm_mon
        return _local(y, m, 1), _local(y + m // 12, m % 12 + 1, 1), value
    if kind == "year":
        if not isinstance(value, str) or not value.isdigit() or len(value) != 4:
            raise BadPeriod("period_year", value=repr(value))
        return _local(int(value), 1, 1), _local(int(value) + 1, 1, 1), value
    if kind == "range":
        a = _date(value, "from")
        b = _date(to, "to")
        start, end = _local(*a), _local(b[0], b[1], b[2] + 1)
        if end <= start:
            raise BadPeriod("period_range", to=to, start=value)
        return start, end, "%s..%s" % (value, to)
    raise BadPeriod("period_kind", choices=", ".join(KINDS), kind=repr(kind))


def _add(table, key, n, ml, amount):
    row = table.setdefault(key, [0, 0, 0])
    row[0] += n
    row[1] += ml
    row[2] += amount


def _listed(table):
    return [{"key": key, "count": n, "ml": ml, "amount": amount}
            for key, (n, ml, amount) in sorted(table.items())]


def card_loads(db, start, end, ids=None):
    """Card loads funded in [start, end) (`ids` (a, b): loads a < id <= b instead, a
    shift's): {"count", "amount", "source": [{"key", "count", "amount"}]}."""
    where, args = ("funded >= ? AND funded < ?", (start, end)) if ids is None else \
        ("id > ? AND id <= ?", ids)
    rows = [{"key": source, "count": n, "amount": amount}
            for source, n, amount in db.execute(LOADS % where, args)]
    rows.sort(key=lambda r: r["key"])
    return {"count": sum(r["count"] for r in rows),
            "amount": sum(r["amount"] for r in rows), "source": rows}


def stock(db, start, end):
    """Each tank's stock and variance over the local days of [start, end), from their
    reconciliation rows: [{"tank", "grade", "days", opening_ml, deliveries_ml, sales_ml,
    book_ml, closing_ml, variance_ml}] in tank order."""
    out = []
    for tank, grade, days, opening, delivered, sold, closing in db.execute(
            STOCK, (day_of(start), day_of(end - 1))):
        book = opening + delivered - sold
        out.append({"tank": tank, "grade": grade, "days": days, "opening_ml": opening,
                    "deliveries_ml": delivered, "sales_ml": sold, "book_ml": book,
                    "closing_ml": closing, "variance_ml": closing - book})
    return out


def report(db, start, end, label="", rows=None, by=BY, loads=None):
    """The report of [start, end): totals, each breakdown of `by` (rows of key, count,
    ml, amount, in key order), the UNLOCKs (settled later) and the card loads. `rows`
    (a, b): the sales of rowids a < rowid <= b instead, and `loads` (a, b) the card
    loads of ids a < id <= b (a shift's: no stock then); else the tanks' stock and
    variance over the period's days."""
    where, args = ("received >= ? AND received < ?", (start, end)) if rows is None else \
        ("rowid > ? AND rowid <= ?", rows)
    tables = {name: {} for name in BY}
    total, unlocks = [0, 0, 0], [0, 0, 0]
    for kind, terminal, nozzle, grade, pay, card_type, n, ml, amount in db.execute(
            GROUPS % where, args):
        if kind == "UNLOCK":
            _add({0: unlocks}, 0, n, ml, amount)
            continue
        for name, key in (("grade", grade), ("nozzle", "%s:%s" % (terminal, nozzle)),
                          ("pump", terminal), ("card_type", card_type), ("pay", pay)):
            _add(tables[name], key, n, ml, amount)
        _add({0: total}, 0, n, ml, amount)
    if "hour" in by or "day" in by:
        for quarter, n, ml, amount in db.execute(HOURS % where, args):
            local = time.localtime(quarter * QUARTER_S)
            _add(tables["hour"], local.tm_hour, n, ml, amount)
            _add(tables["day"], time.strftime("%Y-%m-%d", local), n, ml, amount)
    out = {"label": label, "start": start, "end": end,
           "totals": dict(zip(("count", "ml", "amount"), total)),
           "settled_later": {"count": unlocks[0], "amount": unlocks[2]},
           "card_loads": card_loads(db, start, end, loads),
           "stock": stock(db, start, end) if rows is None else []}
    for name in by:
        out[name] = _listed(tables[name])
    return out


def _money(minor):
    return "%d.%02d" % (minor // 100, minor % 100)


def _litres(ml):
    return "%s%d.%03d" % ("-" if ml < 0 else "", abs(ml) // 1000, abs(ml) % 1000)


def to_csv(rep):
    """The report as CSV: section, key, count, litres, amount (plain decimals: litres to
    the ml, the currency to the cent), one line per row, a `total` line first; the stock
    as `stock` lines keyed tank:figure (opening, deliveries, sales, book, closing,
    variance), the count the tank's days reconciled, the litres signed."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["section", "key", "count", "litres", "amount"])
    t = rep["totals"]
    w.writerow(["total", rep["label"], t["count"], _litres(t["ml"]), _money(t["amount"])])
    for name in BY:
        for row in rep.get(name, ()):
            w.writerow([name, row["key"], row["count"], _litres(row["ml"]),
                        _money(row["amount"])])
    s = rep["settled_later"]
    w.writerow(["settled_later", "UNLOCK", s["count"], "", _money(s["amount"])])
    c = rep["card_loads"]
    w.writerow(["card_loads", "", c["count"], "", _money(c["amount"])])
    for row in c.get("source", ()):
        w.writerow(["card_loads", row["key"], row["count"], "", _money(row["amount"])])
    for tank in rep.get("stock", ()):
        for figure in STOCK_FIGURES:
            w.writerow(["stock", "%d:%s" % (tank["tank"], figure[:-3]), tank["days"],
                        _litres(tank[figure]), ""])
    return out.getvalue()
