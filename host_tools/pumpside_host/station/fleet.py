"""Fleet companies (车队): a company account (name, contact, credit or prepaid, credit
limit) with vehicle cards under it. A vehicle card is a card of the desk (carddesk.py) of
kind 'fleet', bound to its company and its plate, with the limits it carries: allowed
grades, per-sale / daily / monthly limits in money and litres, a time window; its driver's
PIN is the card's PIN.

Money: the company loads its master account (cash or a bank transfer, recorded by a
manager) and allocates (分配) from it to its vehicle cards, or takes back what a card has
not got yet. An allocation is a load waiting for the card (cardbook.fund, source
'fleet'): the desk puts it on the card through its own load path (card-load), and at that
load writes the card's restrictions (EF1C and the fleet file EF1D, docs/card.md) with the
monthly remainder the station computes. Money is conserved: for a company, its balance +
its cards' balances + what waits for them + what they spent == what it paid in (the
credit it owes shows as a negative balance).

The station knows the month better than the card: a fleet sale stored past its card's
monthly limit raises the 'fleet_limit' alert (alerts.py). The pumps ask a fleet card's
driver for the odometer and the bill carries it (`odo`, km): each reading is kept
(fleet_odometer), the last one is what the station tells a pump of the card
(last_odometer), and the company statement per month (per vehicle and grade: litres,
amount; per vehicle: the month's first and last reading, km and l/100 km) is built from
the sales and the readings.

Tables: schema step 12 (schema.py), the readings step 15. Only this module writes them;
its service calls (FleetService, mixed into service.Service) check the role ('fleet': a
manager's or an administrator's) and write the audit record in the same transaction.
"""
import re
import struct
import time

from pumpside.meter import round_half_up

from .cardbook import PENDING
from .masking import mask_card

SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_companies (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
    contact TEXT NOT NULL DEFAULT '', mode TEXT NOT NULL, credit_limit INTEGER NOT NULL,
    created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fleet_cards (
    asn TEXT PRIMARY KEY, company INTEGER NOT NULL, plate TEXT NOT NULL,
    grades TEXT NOT NULL DEFAULT '', sale_amount INTEGER NOT NULL DEFAULT 0,
    sale_ml INTEGER NOT NULL DEFAULT 0, day_amount INTEGER NOT NULL DEFAULT 0,
    day_ml INTEGER NOT NULL DEFAULT 0, month_amount INTEGER NOT NULL DEFAULT 0,
    month_ml INTEGER NOT NULL DEFAULT 0, window TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS fleet_moves (
    id INTEGER PRIMARY KEY AUTOINCREMENT, company INTEGER NOT NULL, kind TEXT NOT NULL,
    asn TEXT, amount INTEGER NOT NULL, method TEXT NOT NULL DEFAULT '',
    at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS fleet_cards_company ON fleet_cards (company)
"""
# the odometer readings the bills carried (FINAL and ESCAPE: fuel sold), one per sale
# stored, with the sale's litres (the statement's l/100 km); filled by stored()
ODOMETER_SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_odometer (
    asn TEXT NOT NULL, at INTEGER NOT NULL, odo INTEGER NOT NULL, ml INTEGER NOT NULL,
    terminal TEXT NOT NULL, sale INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS fleet_odometer_card ON fleet_odometer (asn, at);
INSERT INTO fleet_odometer (asn, at, odo, ml, terminal, sale)
    SELECT asn, at, json_extract(record, '$.odo'), COALESCE(ml, 0), terminal, sale
    FROM sales WHERE kind IN ('FINAL', 'ESCAPE') AND asn IS NOT NULL
    AND json_extract(record, '$.odo') > 0 ORDER BY rowid
"""

MODES = ("prepaid", "credit")
METHODS = ("cash", "transfer")
LIMITS = ("sale_amount", "sale_ml", "day_amount", "day_ml", "month_amount", "month_ml")
LIMIT_MAX = 0xFFFFFFFF  # 4 bytes on the card
AMOUNT_MAX = 100_000_000  # minor units one act moves (1,000,000.00)
EF_FLEET = 0x9D  # EF1D: the fleet file (docs/card.md)
EF_FLEET_SIZE = 32
FLEET_FILE_VERSION = 1
FLEET_ALERT = "fleet_limit"


class FleetError(ValueError):
    """Bad input or an act the fleet desk refuses, and why (nothing was changed)."""


def _name(text, what, size=40):
    text = (text or "").strip() if isinstance(text, str) else ""
    if not text or len(text.encode()) > size or not text.isprintable():
        raise FleetError("%s: 1 to %d bytes of printable text" % (what, size))
    return text


def _amount(value, what="an amount"):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= AMOUNT_MAX:
        raise FleetError("%s is a whole number of minor units, 1 to %d" % (what, AMOUNT_MAX))
    return value


def check_grades(grades):
    """Up to 4 grades of 1 or 2 printable ASCII characters (EF1C's 4 x 2); '' or [] = any."""
    if isinstance(grades, str):
        grades = [g for g in re.split(r"[,\s]+", grades.strip()) if g]
    if not isinstance(grades, (list, tuple)) or len(grades) > 4 or len(set(grades)) != len(
            grades) or not all(isinstance(g, str) and 1 <= len(g) <= 2 and g.isascii()
                               and g.isprintable() and " " not in g for g in grades):
        raise FleetError("allowed grades: up to 4 grade names of 1 or 2 letters or digits, "
                         "comma separated (empty: any grade)")
    return ",".join(grades)


def check_window(window):
    """'' (any time) or HHMM-HHMM (from < to, local time; 0000-2400 is the whole day)."""
    window = (window or "").strip() if isinstance(window, str) else None
    if window == "":
        return ""
    found = re.fullmatch(r"(\d\d)(\d\d)-(\d\d)(\d\d)", window or "")
    if found:
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        if h1 < 24 and m1 < 60 and (h2 < 24 and m2 < 60 or (h2, m2) == (24, 0)) \
                and (h1, m1) < (h2, m2):
            return window
    raise FleetError("a time window is HHMM-HHMM, from before to (e.g. 0600-2200), or "
                     "empty for any time")


def check_limits(limits):
    """{name: whole number >= 0 (0: no limit)} of LIMITS, each known and in range."""
    out = {}
    for name, value in (limits or {}).items():
        if name not in LIMITS:
            raise FleetError("a limit is one of " + ", ".join(LIMITS))
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 0 <= value <= LIMIT_MAX:
            raise FleetError("limit %s is a whole number 0 to %d (0: none)"
                             % (name, LIMIT_MAX))
        out[name] = value
    for span in ("amount", "ml"):  # a larger span's limit is at least a smaller one's
        chain = [out.get(p + span, 0) for p in ("sale_", "day_", "month_")]
        set_ = [v for v in chain if v]
        if set_ != sorted(set_):
            raise FleetError("the limits in %s must not shrink from sale to day to month"
                             % ("money" if span == "amount" else "millilitres"))
    return out


def month_bounds(month):
    """(start, end) Unix seconds of a month 'YYYY-MM' in the station's local time."""
    found = re.fullmatch(r"(\d{4})-(\d\d)", month or "") if isinstance(month, str) else None
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise FleetError("a month is YYYY-MM")
    y, m = int(found.group(1)), int(found.group(2))
    start = int(time.mktime((y, m, 1, 0, 0, 0, 0, 0, -1)))
    y2, m2 = (y + 1, 1) if m == 12 else (y, m + 1)
    return start, int(time.mktime((y2, m2, 1, 0, 0, 0, 0, 0, -1)))


def month_of(at):
    return time.strftime("%Y-%m", time.localtime(at))


CARD_FIELDS = ("asn", "company", "plate", "grades") + LIMITS + ("window",)
COMPANY_FIELDS = ("id", "name", "contact", "mode", "credit_limit", "created")

# a month's fuel sold (FINAL and ESCAPE, as reports.SOLD) on a company's vehicle cards,
# per vehicle and grade
STATEMENT_SQL = """
SELECT c.plate, s.asn, s.grade, COUNT(*), COALESCE(SUM(s.ml), 0),
       COALESCE(SUM(s.amount), 0)
FROM sales s JOIN fleet_cards c ON c.asn = s.asn
WHERE c.company = ? AND s.kind IN ('FINAL', 'ESCAPE') AND s.at >= ? AND s.at < ?
GROUP BY c.plate, s.asn, s.grade ORDER BY c.plate, s.asn, s.grade
"""


class Fleet:
    """The fleet book: companies, vehicle cards, the master accounts' moves."""

    def __init__(self, db, book):
        self.db = db
        self.book = book  # cardbook.CardBook: allocations are its loads

    # -- companies ------------------------------------------------------------------------
    def company(self, company_id):
        row = self.db.execute("SELECT %s FROM fleet_companies WHERE id = ?"
                              % ", ".join(COMPANY_FIELDS), (company_id,)).fetchone()
        if row is None:
            raise FleetError("no fleet company %r" % (company_id,))
        return dict(zip(COMPANY_FIELDS, row))

    def companies(self):
        return [dict(zip(COMPANY_FIELDS, row)) for row in self.db.execute(
            "SELECT %s FROM fleet_companies ORDER BY name" % ", ".join(COMPANY_FIELDS))]

    @staticmethod
    def check_company(name, contact, mode, credit_limit):
        name = _name(name, "a company's name")
        contact = (contact or "").strip() if isinstance(contact, str) else None
        if contact is None or len(contact.encode()) > 60 or not contact.isprintable():
            raise FleetError("a company's contact: up to 60 bytes of printable text")
        if mode not in MODES:
            raise FleetError("a company account is prepaid or credit")
        if isinstance(credit_limit, bool) or not isinstance(credit_limit, int) or \
                not 0 <= credit_limit <= AMOUNT_MAX:
            raise FleetError("a credit limit is a whole number of minor units, 0 to %d"
                             % AMOUNT_MAX)
        if mode == "prepaid" and credit_limit:
            raise FleetError("a prepaid account has no credit limit (0)")
        return name, contact, mode, credit_limit

    def add_company(self, name, contact, mode, credit_limit, now=None):
        if self.db.execute("SELECT 1 FROM fleet_companies WHERE name = ?",
                           (name,)).fetchone():
            raise FleetError("a fleet company named %s exists already" % name)
        cur = self.db.execute("INSERT INTO fleet_companies (name, contact, mode, "
                              "credit_limit, created) VALUES (?,?,?,?,?)",
                              (name, contact, mode, credit_limit, int(now or time.time())))
        return cur.lastrowid

    def set_company(self, company_id, contact, mode, credit_limit):
        if mode == "prepaid" and self.balance(company_id) < 0:
            raise FleetError("the company owes %d: it pays that in before it is prepaid"
                             % -self.balance(company_id))
        if mode == "credit" and self.balance(company_id) < -credit_limit:
            raise FleetError("the company owes %d, more than that credit limit"
                             % -self.balance(company_id))
        self.db.execute("UPDATE fleet_companies SET contact = ?, mode = ?, credit_limit = ? "
                        "WHERE id = ?", (contact, mode, credit_limit, company_id))

    # -- money ----------------------------------------------------------------------------
    def balance(self, company_id):
        """The master account: paid in - allocated + taken back (negative: credit used)."""
        return self.db.execute(
            "SELECT COALESCE(SUM(CASE kind WHEN 'allocate' THEN -amount ELSE amount END), 0) "
            "FROM fleet_moves WHERE company = ?", (company_id,)).fetchone()[0]

    def paid_in(self, company_id):
        return self.db.execute("SELECT COALESCE(SUM(amount), 0) FROM fleet_moves WHERE "
                               "company = ? AND kind = 'deposit'", (company_id,)).fetchone()[0]

    def _move(self, company_id, kind, amount, asn=None, method="", now=None):
        cur = self.db.execute("INSERT INTO fleet_moves (company, kind, asn, amount, method, "
                              "at) VALUES (?,?,?,?,?,?)", (company_id, kind, asn, amount,
                                                           method, int(now or time.time())))
        return cur.lastrowid

    def deposit(self, company_id, amount, method, now=None):
        self.company(company_id)
        _amount(amount)
        if method not in METHODS:
            raise FleetError("money paid in is cash or transfer")
        return self._move(company_id, "deposit", amount, method=method, now=now)

    def allocate(self, asn, amount, now=None):
        """From the master account to a vehicle card: a load waiting for the card."""
        card = self.card(asn)
        company = self.company(card["company"])
        _amount(amount)
        floor = -company["credit_limit"] if company["mode"] == "credit" else 0
        if self.balance(company["id"]) - amount < floor:
            raise FleetError("%s has %d to allocate%s: not %d" % (
                company["name"], self.balance(company["id"]) - floor,
                " (credit included)" if floor else "", amount))
        load_id = self.book.fund(asn, amount, "fleet", now)
        self._move(company["id"], "allocate", amount, asn, now=now)
        return load_id

    def takeback(self, asn, amount, now=None):
        """Back to the master account from what waits for the card (money already on the
        card is the card's: it is spent, or comes back only by a sale)."""
        card = self.card(asn)
        _amount(amount)
        waiting = self.book.waiting_from(asn, "fleet", (PENDING,))
        if amount > waiting:
            raise FleetError("card %s has %d allocated and not on the card yet: not %d "
                             "(money on the card stays the card's)"
                             % (mask_card(asn), waiting, amount))
        self.book.unfund(asn, amount, "fleet")
        self._move(card["company"], "takeback", amount, asn, now=now)

    # -- vehicle cards --------------------------------------------------------------------
    def card(self, asn):
        row = self.db.execute("SELECT %s FROM fleet_cards WHERE asn = ?"
                              % ", ".join(CARD_FIELDS), (asn,)).fetchone()
        if row is None:
            raise FleetError("card %s is not a fleet card" % mask_card(asn))
        return dict(zip(CARD_FIELDS, row))

    def cards(self, company_id):
        return [dict(zip(CARD_FIELDS, row)) for row in self.db.execute(
            "SELECT %s FROM fleet_cards WHERE company = ? ORDER BY plate, asn"
            % ", ".join(CARD_FIELDS), (company_id,))]

    def is_fleet(self, asn):
        return self.db.execute("SELECT 1 FROM fleet_cards WHERE asn = ?",
                               (asn,)).fetchone() is not None

    def bind(self, asn, company_id, plate):
        self.db.execute("INSERT INTO fleet_cards (asn, company, plate) VALUES (?,?,?)",
                        (asn, company_id, plate))

    def set_limits(self, asn, grades, limits, window):
        sets = dict(limits, grades=grades, window=window)
        self.db.execute("UPDATE fleet_cards SET %s WHERE asn = ?" % ", ".join(
            "%s = ?" % k for k in sorted(sets)), [sets[k] for k in sorted(sets)] + [asn])

    def spent(self, asn, start, end):
        """(amount, ml) of the card's fuel sold in [start, end): its FINAL bills and its
        escapes (fuel that left the pump, its money settled later: reports.SOLD)."""
        return self.db.execute("SELECT COALESCE(SUM(amount), 0), COALESCE(SUM(ml), 0) FROM "
                               "sales WHERE asn = ? AND kind IN ('FINAL', 'ESCAPE') "
                               "AND at >= ? AND at < ?",
                               (asn, start, end)).fetchone()

    def remainder(self, asn, now=None):
        """(amount, ml) the card may still buy this month (None: no limit)."""
        card = self.card(asn)
        start, end = month_bounds(month_of(int(now or time.time())))
        amount, ml = self.spent(asn, start, end)
        return (max(card["month_amount"] - amount, 0) if card["month_amount"] else None,
                max(card["month_ml"] - ml, 0) if card["month_ml"] else None)

    # -- the card's files -----------------------------------------------------------------
    def files(self, asn, now=None):
        """{sfi: bytes} of the restrictions a fleet card carries (docs/card.md): EF1C
        (grades, company, the daily amount the firmware enforces) and EF1D (the fleet
        file: per-sale and daily limits, the month's remainder, the time window)."""
        card = self.card(asn)
        now = int(now or time.time())
        grades = b"".join(g.encode().ljust(2, b"\0") for g in card["grades"].split(",") if g)
        ef1c = (grades.ljust(8, b"\0") + bytes(2) + bytes(16)  # no plate: see docs/card.md
                + struct.pack(">I", card["company"]) + b"\x00"
                + struct.pack(">I", card["day_amount"]) + b"\x00")
        left_amount, left_ml = self.remainder(asn, now)
        window = card["window"].replace("-", "") or "00002400"
        ef1d = (bytes((FLEET_FILE_VERSION,)) + struct.pack(
            ">IIIII", card["sale_amount"], card["sale_ml"], card["day_ml"],
            LIMIT_MAX if left_amount is None else left_amount,
            LIMIT_MAX if left_ml is None else left_ml)
            + bytes.fromhex(time.strftime("%Y%m", time.localtime(now))[2:])  # YYMM BCD
            + bytes.fromhex(window) + bytes(5))
        assert len(ef1c) == 36 and len(ef1d) == EF_FLEET_SIZE
        return {0x9C: ef1c, EF_FLEET: ef1d}

    # -- the statement --------------------------------------------------------------------
    def statement(self, company_id, month):
        """Rows per vehicle and grade of the month's fuel sold (FINAL, ESCAPE): plate, card
        (masked), grade, sales, ml, amount, and the vehicle's odometer figures
        (odometer()) on each of its rows."""
        self.company(company_id)
        start, end = month_bounds(month)
        rows = []
        figures = {}
        for plate, asn, grade, n, ml, amount in self.db.execute(
                STATEMENT_SQL, (company_id, start, end)).fetchall():
            if asn not in figures:
                figures[asn] = self.odometer(asn, start, end)
            rows.append(dict({"plate": plate, "card": mask_card(asn), "grade": grade,
                              "sales": n, "ml": ml, "amount": amount}, **figures[asn]))
        return rows

    def odometer(self, asn, start, end):
        """A vehicle's odometer in [start, end): its first and last reading, the km between
        and the litres per 100 km over them (fill to fill: the fuel of the fills after the
        first reading, which filled the tank for the km that led to it), hundredths of a
        litre rounded half up once, as text; None where the readings do not tell (none;
        one; no km)."""
        readings = self.db.execute("SELECT odo, ml FROM fleet_odometer WHERE asn = ? AND "
                                   "at >= ? AND at < ? ORDER BY at, rowid",
                                   (asn, start, end)).fetchall()
        out = {"odometer_start": None, "odometer_end": None, "km": None,
               "l_per_100km": None}
        if not readings:
            return out
        first, last = readings[0][0], readings[-1][0]
        out.update(odometer_start=first, odometer_end=last, km=last - first)
        if last > first:
            ml = sum(r[1] for r in readings[1:])
            # litres / km * 100 in hundredths: ml / 1000 / km * 100 * 100 = ml * 10 / km
            out["l_per_100km"] = "%d.%02d" % divmod(round_half_up(ml * 10, last - first), 100)
        return out

    def last_odometer(self, asn):
        """The card's last odometer reading (km) the bills carried, by the bill's time; None:
        none yet. What the station tells a pump of the card."""
        row = self.db.execute("SELECT odo FROM fleet_odometer WHERE asn = ? ORDER BY at DESC, "
                              "rowid DESC LIMIT 1", (asn,)).fetchone()
        return None if row is None else row[0]

    # -- the station's own enforcement ----------------------------------------------------
    def stored(self, alerts, terminal, record):
        """A sale just stored (the ledger's transaction): its odometer reading is kept; a
        fleet card's FINAL or ESCAPE past its monthly limit raises 'fleet_limit' (once per
        card and month)."""
        asn = record.get("asn")
        if record.get("type") not in ("FINAL", "ESCAPE") or not isinstance(asn, str):
            return
        odo = record.get("odo")
        if isinstance(odo, int) and odo > 0:
            self.db.execute("INSERT INTO fleet_odometer (asn, at, odo, ml, terminal, sale) "
                            "VALUES (?,?,?,?,?,?)", (asn, record.get("time") or int(
                                time.time()), odo, record.get("ml") or 0, terminal,
                                record.get("sale") or 0))
        row = self.db.execute("SELECT month_amount, month_ml, plate FROM fleet_cards WHERE "
                              "asn = ?", (asn,)).fetchone()
        if row is None or not (row[0] or row[1]):
            return
        at = record.get("time") or int(time.time())
        month = month_of(at)
        amount, ml = self.spent(asn, *month_bounds(month))
        over = [what for what, spent, limit in (("amount", amount, row[0]),
                                                 ("ml", ml, row[1])) if limit and spent > limit]
        if over:
            alerts.raise_(FLEET_ALERT, terminal, "fleet card %s (%s) past its monthly limit "
                          "in %s: %d spent of %d, %d ml of %d" % (
                              mask_card(asn), row[2], month, amount, row[0], ml, row[1]),
                          key="%s %s" % (asn, month))


def statement_csv(rows):
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("plate", "card", "grade", "sales", "litres", "amount",
                     "odometer_start", "odometer_end", "km", "l_per_100km"))
    for r in rows:
        writer.writerow((r["plate"], r["card"], r["grade"], r["sales"],
                         "%d.%03d" % divmod(r["ml"], 1000),
                         "%d.%02d" % divmod(r["amount"], 100))
                        + tuple("" if r[k] is None else r[k] for k in (
                            "odometer_start", "odometer_end", "km", "l_per_100km")))
    return out.getvalue()



class FleetService:
    """The fleet desk's calls of the service layer (mixed into service.Service): each
    checks the role ('fleet' for changes, 'read' for reads) and audits what it commits."""

    def _fleet_tx(self, actor, action, target, run):
        return self._change(actor, "fleet", action, target, run)

    def fleet_company_add(self, actor, name, contact="", mode="prepaid", credit_limit=0,
                          now=None):
        self.check(actor, "fleet")
        name, contact, mode, credit_limit = Fleet.check_company(name, contact, mode,
                                                                credit_limit)

        def run():
            company_id = self.fleet.add_company(name, contact, mode, credit_limit, now)
            return "", "%s, %s, credit limit %d" % (name, mode, credit_limit), company_id
        return self._fleet_tx(actor, "fleet-company", name, run)

    def fleet_company_set(self, actor, company_id, contact, mode, credit_limit):
        self.check(actor, "fleet")
        old = self.fleet.company(company_id)
        _n, contact, mode, credit_limit = Fleet.check_company(old["name"], contact, mode,
                                                              credit_limit)

        def run():
            self.fleet.set_company(company_id, contact, mode, credit_limit)
            return ("%s, credit limit %d" % (old["mode"], old["credit_limit"]),
                    "%s, credit limit %d" % (mode, credit_limit), None)
        return self._fleet_tx(actor, "fleet-company-set", old["name"], run)

    def fleet_deposit(self, actor, company_id, amount, method="transfer", now=None):
        """Money the company paid into its master account (cash or transfer)."""
        self.check(actor, "fleet")
        company = self.fleet.company(company_id)

        def run():
            before = self.fleet.balance(company_id)
            move = self.fleet.deposit(company_id, amount, method, now)
            return before, "%d (+%d %s)" % (before + amount, amount, method), move
        return self._fleet_tx(actor, "fleet-deposit", company["name"], run)

    def fleet_allocate(self, actor, asn, amount, now=None):
        """分配: master account -> a vehicle card (a load waiting for the card)."""
        self.check(actor, "fleet")
        card = self.fleet.card(asn) if isinstance(asn, str) else self.fleet.card("")
        self.desk._usable(asn)

        def run():
            load_id = self.fleet.allocate(asn, amount, now)
            return "", "%d to %s (load %d)" % (amount, card["plate"], load_id), load_id
        return self._fleet_tx(actor, "fleet-allocate", mask_card(asn), run)

    def fleet_takeback(self, actor, asn, amount, now=None):
        self.check(actor, "fleet")
        card = self.fleet.card(asn) if isinstance(asn, str) else self.fleet.card("")

        def run():
            self.fleet.takeback(asn, amount, now)
            return "", "%d back from %s" % (amount, card["plate"]), None
        return self._fleet_tx(actor, "fleet-takeback", mask_card(asn), run)

    def fleet_card_issue(self, actor, reader, company_id, plate, pin, now=None):
        """A vehicle card: the blank card in `reader` issued (kind 'fleet', the plate as
        its holder name) and bound to the company. Returns its number."""
        self.check(actor, "fleet")
        company = self.fleet.company(company_id)
        plate = _name(plate, "a vehicle's plate", 16)
        desk_tx = self._tx(actor)

        def tx(run, action=None, target=""):
            if action != "card-issue":  # the card number taken before the writes
                return desk_tx(run, action, target)

            def bound():  # on record and bound to its company in one transaction
                old, new, asn = run()
                self.fleet.bind(asn, company_id, plate)
                return old, "%s, %s: %s" % (new, company["name"], plate), asn
            return desk_tx(bound, "fleet-card", target)
        return self.desk.issue(tx, reader, "fleet", pin, now=now, holder=(plate, "", ""))

    def fleet_card_limits(self, actor, asn, grades="", window="", **limits):
        """A vehicle card's allowed grades, limits (LIMITS, 0: none) and time window; the
        card gets them at its next load."""
        self.check(actor, "fleet")
        old = self.fleet.card(asn) if isinstance(asn, str) else self.fleet.card("")
        grades, window = check_grades(grades), check_window(window)
        limits = check_limits(dict({k: old[k] for k in LIMITS}, **limits))

        def run():
            self.fleet.set_limits(asn, grades, limits, window)
            new = dict(limits, grades=grades, window=window)
            return (" ".join("%s=%s" % (k, old[k]) for k in sorted(new)),
                    " ".join("%s=%s" % (k, new[k]) for k in sorted(new)), None)
        return self._fleet_tx(actor, "fleet-limits", mask_card(asn), run)

    # -- reads ----------------------------------------------------------------------------
    def fleet_companies(self, actor):
        self.check(actor, "read")
        return [dict(c, balance=self.fleet.balance(c["id"]),
                     paid_in=self.fleet.paid_in(c["id"])) for c in self.fleet.companies()]

    def fleet_account(self, actor, company_id, now=None):
        """A company, its balance and its vehicle cards (masked), with what each holds,
        waits for and may still buy this month."""
        self.check(actor, "read")
        company = self.fleet.company(company_id)
        cards = []
        for card in self.fleet.cards(company_id):
            asn = card["asn"]
            left = self.fleet.remainder(asn, now)
            cards.append(dict(card, masked=mask_card(asn), balance=self.desk.book.balance(asn),
                              waiting=self.desk.book.waiting(asn),
                              status=self.desk.book.get(asn)["status"],
                              month_left_amount=left[0], month_left_ml=left[1]))
        return dict(company, balance=self.fleet.balance(company_id),
                    paid_in=self.fleet.paid_in(company_id), cards=cards)

    def fleet_statement(self, actor, company_id, month):
        self.check(actor, "reports")
        return self.fleet.statement(company_id, month)


# the fleet desk's changing calls, by the permission each needs (role tests)
FLEET_MUTATORS = {
    "fleet_company_add": "fleet", "fleet_company_set": "fleet", "fleet_deposit": "fleet",
    "fleet_allocate": "fleet", "fleet_takeback": "fleet", "fleet_card_issue": "fleet",
    "fleet_card_limits": "fleet",
}


def odometer_part(ledger, asn):
    """CARD_ANSWER's `odometer` (cardinfo.PARTS): a fleet card's last reading, against
    which the pump checks the one the driver keys (firmware fleetcard.odometer_ok)."""
    if not ledger.fleet.is_fleet(asn):
        return None
    km = ledger.fleet.last_odometer(asn)
    return None if km is None else {"odometer": km}
