"""The forecourt's tanks: what each holds and feeds, the gauge's readings, deliveries, and
the daily book-versus-gauge reconciliation (docs/operations.md "Tanks").

Volumes are whole millilitres, heights and water whole millimetres, temperatures tenths
of a degree C. A tank's strapping table maps height (mm) to volume (litres); a height
between two points is interpolated in integers. Each tank feeds nozzles (terminal,
nozzle) of the nozzle map; a nozzle is fed by one tank.

Readings come from the gauge (station/gauge.py polls it) or by hand. Deliveries come from
the gauge's delivery report (I202) and from delivery notes typed in; both are corrected
to 15 degC (vcf.py). A note and a gauge report of the same tank within DELIVERY_MATCH_S
are one delivery: the note's volume is what the book counts, the gauge's what it is
checked against. A delivery whose gauged volume (or delivered volume) differs from the
note's (ordered volume) beyond tolerance (the alert rule delivery_differs's parameters:
`permille` of the note, at least `floor_l` litres) is flagged and alarmed.

Reconciliation of tank T on day D (the station's local days, days.py: the days the
reports use; a day is [its midnight, the next midnight) of the sales' and readings' Unix
times):
  opening  = the last reading before D (or D's first, for a tank's first day)
  closing  = D's last reading
  book     = opening + deliveries - sales between the two readings (sales from the
             ledger, by the nozzle map: one SQL sum)
  variance = closing - book
and over the month so far: the cumulative variance and the throughput (sales). An alarm
when the month's |cumulative variance| passes 130 L + 1 % of its throughput (statistical
inventory reconciliation's rule of thumb, in litres), or a day's |variance| passes
100 L + 1 % of that day's sales (the alert rule gauge_variance's parameters: VARIANCE by
default, a manager tunes them), raised when the day is closed (the poller's
first poll of the next day, or `reconcile`): the poller's running figures of the day
still open raise nothing. A reading below the low level raises an alarm;
below the pump-suction level the tank's nozzles are suspended (the station's `suspend`
command, by the system operator "system:tanks", audited) until a delivery lifts it.
"""
import json
import time

from . import vcf
from .days import bounds
from .problems import Invalid

SCHEMA = """
CREATE TABLE IF NOT EXISTS tanks (
    number INTEGER PRIMARY KEY, grade TEXT NOT NULL, capacity_ml INTEGER NOT NULL,
    low_ml INTEGER NOT NULL, suction_ml INTEGER NOT NULL, strapping TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'ok', since INTEGER);
CREATE TABLE IF NOT EXISTS tank_nozzles (
    terminal TEXT NOT NULL, nozzle INTEGER NOT NULL, tank INTEGER NOT NULL,
    PRIMARY KEY (terminal, nozzle));
CREATE TABLE IF NOT EXISTS tank_readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tank INTEGER NOT NULL, at INTEGER NOT NULL,
    volume_ml INTEGER NOT NULL, tc_volume_ml INTEGER, height_mm INTEGER,
    water_mm INTEGER, temp_c10 INTEGER, source TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tank_readings_at ON tank_readings (tank, at);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tank INTEGER NOT NULL, at INTEGER NOT NULL,
    supplier TEXT, ordered_ml INTEGER, note_ml INTEGER, note_temp_c10 INTEGER,
    note15_ml INTEGER, gauge_ml INTEGER, gauge15_ml INTEGER, gauge_key TEXT UNIQUE,
    flag TEXT NOT NULL DEFAULT '', recorded INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_at ON deliveries (tank, at);
CREATE TABLE IF NOT EXISTS tank_days (
    tank INTEGER NOT NULL, day TEXT NOT NULL, opening_ml INTEGER NOT NULL,
    deliveries_ml INTEGER NOT NULL, sales_ml INTEGER NOT NULL, book_ml INTEGER NOT NULL,
    closing_ml INTEGER NOT NULL, variance_ml INTEGER NOT NULL, month_ml INTEGER NOT NULL,
    month_sales_ml INTEGER NOT NULL, alarm TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tank, day));
CREATE INDEX IF NOT EXISTS sales_nozzle_time ON sales (
    terminal, json_extract(record, '$.nozzle'), json_extract(record, '$.time'));
"""

# the thresholds, as the alert rules' defaults (alerts.RULES; a manager tunes them there):
# a month's variance beyond 130 L + 1 % of its throughput, a day's beyond 100 L + 1 % of
# its sales; a delivery off by more than 5 per mille (0.5 %) of its note, at least 50 L
VARIANCE = {"month_l": 130, "month_pct": 1, "day_l": 100, "day_pct": 1}
DELIVERY = {"permille": 5, "floor_l": 50}
DELIVERY_MATCH_S = 6 * 3600  # a note and a gauge report this close are one delivery
SALE_KINDS = ("FINAL", "ESCAPE")  # what took fuel out (an UNLOCK settles an ESCAPE)
GAUGE = "gauge"  # the station alarms' source for the gauge and the tanks
# the alert engine's rule of each tank alarm (alerts.py: a manager may switch it off; the
# webhook hears it); another alarm's rule is its name ("delivery differs": delivery_differs)
ALERT_RULES = {"tank low": "low_tank", "tank below pump suction": "low_tank",
               "tank variance": "gauge_variance", "tank variance jump": "gauge_variance"}


class TankError(ValueError):
    pass


class TankProblem(Invalid, TankError):
    """A TankError an operator's form can cause: a problems.MESSAGES code (the back office
    says it in the operator's language; str(): the English the command line prints)."""


def strapping_check(table):
    """[[height mm, litres], ...] with heights and volumes rising from [0, 0]."""
    if not isinstance(table, list) or len(table) < 2:
        raise TankError("a strapping table is at least two [height mm, litres] points")
    last = None
    for point in table:
        if not (isinstance(point, (list, tuple)) and len(point) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                        for v in point)):
            raise TankError("strapping point %r: [height mm, litres], whole numbers >= 0"
                            % (point,))
        if last is not None and (point[0] <= last[0] or point[1] < last[1]):
            raise TankError("strapping table: heights must rise and volumes not fall "
                            "(at %r)" % (point,))
        last = point
    return [list(p) for p in table]


def volume_at(table, height_mm):
    """ml at `height_mm` by the strapping table, interpolated in integers (clamped to the
    table's ends)."""
    if height_mm <= table[0][0]:
        return table[0][1] * 1000
    for (h0, v0), (h1, v1) in zip(table, table[1:]):
        if height_mm <= h1:
            return v0 * 1000 + (v1 - v0) * 1000 * (height_mm - h0) // (h1 - h0)
    return table[-1][1] * 1000


class Tanks:
    def __init__(self, db, alarm, limits=None):
        self.db = db
        self.alarm = alarm  # alarm(source, what, why): the alert engine's (Alerts.hook)
        # limits(rule) -> the thresholds of gauge_variance / delivery_differs: the alert
        # engine's parameters (Alerts.params), the defaults without one
        self.limits = limits or {"gauge_variance": VARIANCE, "delivery_differs": DELIVERY}.get

    @staticmethod
    def create(db):
        for statement in SCHEMA.split(";\n"):
            if statement.strip():
                db.execute(statement)

    # -- tanks and their nozzles --------------------------------------------------------------
    def set_tank(self, number, grade, capacity_l, low_l, suction_l, strapping=None):
        if not isinstance(number, int) or not 1 <= number <= 99:
            raise TankError("a tank number is 1-99 (as the gauge numbers them)")
        if not isinstance(grade, str) or not 0 < len(grade) <= 8:
            raise TankProblem("grade")
        for name, value in (("capacity", capacity_l), ("low level", low_l),
                            ("pump-suction level", suction_l)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise TankError("%s: whole litres >= 0" % name)
        if not 0 <= suction_l <= low_l < capacity_l:
            raise TankProblem("tank_levels")
        table = strapping_check(strapping if strapping is not None
                                else [[0, 0], [2000, capacity_l]])
        if table[-1][1] > capacity_l:
            raise TankError("strapping table goes past the capacity")
        self.db.execute(
            "INSERT INTO tanks (number, grade, capacity_ml, low_ml, suction_ml, strapping) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT (number) DO UPDATE SET grade = excluded.grade, "
            "capacity_ml = excluded.capacity_ml, low_ml = excluded.low_ml, suction_ml = "
            "excluded.suction_ml, strapping = excluded.strapping",
            (number, grade, capacity_l * 1000, low_l * 1000, suction_l * 1000,
             json.dumps(table)))

    def tank(self, number):
        row = self.db.execute("SELECT number, grade, capacity_ml, low_ml, suction_ml, "
                              "strapping, state, since FROM tanks WHERE number = ?",
                              (number,)).fetchone()
        if row is None:
            return None
        out = dict(zip(("number", "grade", "capacity_ml", "low_ml", "suction_ml",
                        "strapping", "state", "since"), row))
        out["strapping"] = json.loads(out["strapping"])
        out["nozzles"] = [list(r) for r in self.db.execute(
            "SELECT terminal, nozzle FROM tank_nozzles WHERE tank = ? ORDER BY terminal, "
            "nozzle", (number,))]
        out["reading"] = self.last_reading(number)
        return out

    def all(self):
        return [self.tank(n) for (n,) in self.db.execute(
            "SELECT number FROM tanks ORDER BY number").fetchall()]

    def need(self, number):
        tank = self.tank(number)
        if tank is None:
            raise TankProblem("no_tank", tank=repr(number))
        return tank

    def feed(self, number, terminal, nozzle, nozzle_grade):
        """Tank `number` feeds the terminal's nozzle (mapped to `nozzle_grade`, which must
        be the tank's grade)."""
        tank = self.need(number)
        if nozzle_grade is None:
            raise TankProblem("tank_unmapped", terminal=terminal, nozzle=nozzle)
        if nozzle_grade != tank["grade"]:
            raise TankProblem("tank_grade", terminal=terminal, nozzle=nozzle,
                              sells=nozzle_grade, tank=number, grade=tank["grade"])
        self.db.execute("INSERT OR REPLACE INTO tank_nozzles VALUES (?, ?, ?)",
                        (terminal, nozzle, number))

    # -- readings -----------------------------------------------------------------------------
    def add_reading(self, number, at, volume_ml, tc_volume_ml=None, height_mm=None,
                    water_mm=None, temp_c10=None, source="gauge"):
        """Store a reading; returns what it changed in the tank's state: None, or
        ("low"|"suction"|"ok", why)."""
        tank = self.need(number)
        if not isinstance(volume_ml, int) or volume_ml < 0:
            raise TankError("a reading's volume is whole ml >= 0")
        self.db.execute(
            "INSERT INTO tank_readings (tank, at, volume_ml, tc_volume_ml, height_mm, "
            "water_mm, temp_c10, source) VALUES (?,?,?,?,?,?,?,?)",
            (number, int(at), volume_ml, tc_volume_ml, height_mm, water_mm, temp_c10,
             source))
        return self._level(tank, int(at), volume_ml)

    def _level(self, tank, at, volume_ml):
        state = tank["state"]
        if volume_ml < tank["suction_ml"]:
            new = "suction"
        elif volume_ml < tank["low_ml"]:
            new = "low" if state != "suction" or self._delivered_since(tank) else "suction"
        else:
            new = "ok" if state != "suction" or self._delivered_since(tank) else "suction"
        if new == state:
            return None
        self.db.execute("UPDATE tanks SET state = ?, since = ? WHERE number = ?",
                        (new, at, tank["number"]))
        why = "tank %d (%s): %d L, low level %d L, pump suction %d L" % (
            tank["number"], tank["grade"], volume_ml // 1000, tank["low_ml"] // 1000,
            tank["suction_ml"] // 1000)
        if new == "low":
            self.alarm(GAUGE, "tank low", why)
        elif new == "suction":
            self.alarm(GAUGE, "tank below pump suction", why + ": its nozzles suspended")
        return new, why

    def _delivered_since(self, tank):
        return self.db.execute("SELECT 1 FROM deliveries WHERE tank = ? AND at >= ? LIMIT 1",
                               (tank["number"], tank["since"] or 0)).fetchone() is not None

    def last_reading(self, number, before=None):
        query = "SELECT at, volume_ml, tc_volume_ml, height_mm, water_mm, temp_c10, source " \
            "FROM tank_readings WHERE tank = ?"
        args = [number]
        if before is not None:
            query += " AND at < ?"
            args.append(before)
        row = self.db.execute(query + " ORDER BY at DESC, id DESC LIMIT 1", args).fetchone()
        return None if row is None else dict(zip(
            ("at", "volume_ml", "tc_volume_ml", "height_mm", "water_mm", "temp_c10",
             "source"), row))

    def readings(self, number, since=0, limit=500):
        rows = self.db.execute(
            "SELECT at, volume_ml, tc_volume_ml, height_mm, water_mm, temp_c10, source FROM "
            "tank_readings WHERE tank = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?",
            (number, since, limit)).fetchall()
        return [dict(zip(("at", "volume_ml", "tc_volume_ml", "height_mm", "water_mm",
                          "temp_c10", "source"), r)) for r in reversed(rows)]

    # -- deliveries ---------------------------------------------------------------------------
    def note(self, number, at, supplier, ordered_ml, delivered_ml, temp_c10):
        """A delivery note typed in: joins the gauge's report of the same drop when there
        is one. Returns the delivery's id."""
        tank = self.need(number)
        for name, value in (("ordered", ordered_ml), ("delivered", delivered_ml)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise TankError("%s volume: whole ml > 0" % name)
        if not isinstance(temp_c10, int) or not -500 <= temp_c10 <= 800:
            raise TankError("temperature: tenths of a degree C, -50.0 to 80.0")
        if not isinstance(supplier, str) or not 0 < len(supplier) <= 64:
            raise TankProblem("supplier")
        note15 = vcf.to15(delivered_ml, temp_c10 / 10, vcf.kind_of(tank["grade"]))
        row = self._near(number, at, "gauge_ml IS NOT NULL AND note_ml IS NULL")
        if row is None:
            cur = self.db.execute(
                "INSERT INTO deliveries (tank, at, supplier, ordered_ml, note_ml, "
                "note_temp_c10, note15_ml, recorded) VALUES (?,?,?,?,?,?,?,?)",
                (number, int(at), supplier, ordered_ml, delivered_ml, temp_c10, note15,
                 int(time.time())))
            delivery = cur.lastrowid
        else:
            delivery = row
            self.db.execute("UPDATE deliveries SET supplier = ?, ordered_ml = ?, note_ml = ?, "
                            "note_temp_c10 = ?, note15_ml = ? WHERE id = ?",
                            (supplier, ordered_ml, delivered_ml, temp_c10, note15, delivery))
        self._check_delivery(delivery)
        return delivery

    def gauge_delivery(self, number, start_at, end_at, gauge_ml, gauge15_ml):
        """A delivery the gauge reported (I202), once (its tank and start time are its
        key): returns its id, None when it was already stored or the tank is unknown."""
        if self.tank(number) is None:
            return None
        key = "%d:%d" % (number, start_at)
        if self.db.execute("SELECT 1 FROM deliveries WHERE gauge_key = ?",
                           (key,)).fetchone():
            return None
        row = self._near(number, end_at, "note_ml IS NOT NULL AND gauge_ml IS NULL")
        if row is None:
            cur = self.db.execute(
                "INSERT INTO deliveries (tank, at, gauge_ml, gauge15_ml, gauge_key, recorded)"
                " VALUES (?,?,?,?,?,?)", (number, int(end_at), gauge_ml, gauge15_ml, key,
                                          int(time.time())))
            delivery = cur.lastrowid
        else:
            delivery = row
            self.db.execute("UPDATE deliveries SET gauge_ml = ?, gauge15_ml = ?, gauge_key = ?"
                            " WHERE id = ?", (gauge_ml, gauge15_ml, key, delivery))
        self._check_delivery(delivery)
        return delivery

    def _near(self, number, at, which):
        row = self.db.execute(
            "SELECT id FROM deliveries WHERE tank = ? AND %s AND at BETWEEN ? AND ? "
            "ORDER BY ABS(at - ?) LIMIT 1" % which,
            (number, at - DELIVERY_MATCH_S, at + DELIVERY_MATCH_S, at)).fetchone()
        return row[0] if row else None

    def _check_delivery(self, delivery):
        d = self.delivery(delivery)
        flags = []
        limits = self.limits("delivery_differs")

        def beyond(value, reference):
            return abs(value - reference) > max(limits["floor_l"] * 1000,
                                                reference * limits["permille"] // 1000)
        if d["note_ml"] is not None:
            if beyond(d["note_ml"], d["ordered_ml"]):
                flags.append("delivered %.1f L, ordered %.1f L"
                             % (d["note_ml"] / 1000, d["ordered_ml"] / 1000))
            if d["gauge15_ml"] is not None and beyond(d["gauge15_ml"], d["note15_ml"]):
                flags.append("gauged %.1f L at 15 C, the note says %.1f L at 15 C"
                             % (d["gauge15_ml"] / 1000, d["note15_ml"] / 1000))
        flag = "; ".join(flags)
        if flag != d["flag"]:
            self.db.execute("UPDATE deliveries SET flag = ? WHERE id = ?", (flag, delivery))
            if flag:
                self.alarm(GAUGE, "delivery differs", "tank %d delivery %d%s: %s" % (
                    d["tank"], delivery, " from %s" % d["supplier"] if d["supplier"] else "",
                    flag))

    def delivery(self, delivery):
        row = self.db.execute("SELECT %s FROM deliveries WHERE id = ?" % ", ".join(
            _DELIVERY), (delivery,)).fetchone()
        return None if row is None else dict(zip(_DELIVERY, row))

    def deliveries(self, number=None, since=0, until=None):
        query = "SELECT %s FROM deliveries WHERE at >= ?" % ", ".join(_DELIVERY)
        args = [since]
        if number is not None:
            query += " AND tank = ?"
            args.append(number)
        if until is not None:
            query += " AND at < ?"
            args.append(until)
        return [dict(zip(_DELIVERY, r)) for r in self.db.execute(query + " ORDER BY at, id",
                                                                 args)]

    # -- reconciliation -----------------------------------------------------------------------
    def sales_ml(self, number, start, end):
        """Litres (ml) the nozzles fed by tank `number` sold in [start, end): one SQL sum
        over the ledger by the nozzle map: the tank's nozzles first (CROSS JOIN keeps
        that order), each one's sales found by the index sales_nozzle_time."""
        return self.db.execute(
            "SELECT COALESCE(SUM(s.ml), 0) FROM tank_nozzles n CROSS JOIN sales s ON "
            "s.terminal = n.terminal AND json_extract(s.record, '$.nozzle') = n.nozzle AND "
            "json_extract(s.record, '$.time') >= ? AND json_extract(s.record, '$.time') < ? "
            "WHERE n.tank = ? AND s.kind IN (%s)" % ",".join("'%s'" % k for k in SALE_KINDS),
            (start, end, number)).fetchone()[0]

    def reconcile(self, number, day, alarm=True):
        """Tank `number`'s day ('YYYY-MM-DD'): computed, stored (again, if it was) and
        alarmed as the module says; returns the day's row, None without a reading.
        `alarm` False: the day is still open (the poller's running figures): stored, its
        alarms left to its close (a tanker's drop, a sale, a reading in one second are
        not told apart until the day's last reading is in)."""
        tank = self.need(number)
        try:
            start, end = bounds(day)
        except (TypeError, ValueError):
            raise TankError("a day is YYYY-MM-DD, not %r" % (day,)) from None
        before = self.last_reading(number, before=start)
        closing = self.last_reading(number, before=end)
        if closing is None or closing["at"] < start:
            return None  # no reading that day
        if before is None:  # the tank's first day: from its first reading
            before = self.db.execute(
                "SELECT at, volume_ml FROM tank_readings WHERE tank = ? AND at >= ? "
                "ORDER BY at, id LIMIT 1", (number, start)).fetchone()
            opening_at, opening = before
        else:
            opening_at, opening = before["at"], before["volume_ml"]
        # from the opening reading to the closing one: consecutive days chain exactly
        delivered = self.db.execute(
            "SELECT COALESCE(SUM(COALESCE(note_ml, gauge_ml)), 0) FROM deliveries WHERE "
            "tank = ? AND at > ? AND at <= ?", (number, opening_at, closing["at"])).fetchone()[0]
        sold = self.sales_ml(number, opening_at, closing["at"])
        book = opening + delivered - sold
        variance = closing["volume_ml"] - book
        month = day[:7]
        prior = self.db.execute(
            "SELECT COALESCE(SUM(variance_ml), 0), COALESCE(SUM(sales_ml), 0), "
            "MAX(CASE WHEN alarm LIKE '%month%' THEN 1 ELSE 0 END) FROM tank_days "
            "WHERE tank = ? AND day >= ? AND day < ?", (number, month + "-01", day)).fetchone()
        month_ml, month_sales = prior[0] + variance, prior[1] + sold
        alarms = []
        limits = self.limits("gauge_variance")
        if abs(variance) > limits["day_l"] * 1000 + sold * limits["day_pct"] // 100:
            alarms.append("day")
        if abs(month_ml) > limits["month_l"] * 1000 + month_sales * limits["month_pct"] // 100:
            alarms.append("month")
        had = self.db.execute("SELECT alarm FROM tank_days WHERE tank = ? AND day = ?",
                              (number, day)).fetchone()
        self.db.execute(
            "INSERT OR REPLACE INTO tank_days VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (number, day, opening, delivered, sold, book, closing["volume_ml"], variance,
             month_ml, month_sales, ",".join(alarms) if alarm else had[0] if had else ""))
        if not alarm:
            return self.day(number, day)
        already = had[0].split(",") if had and had[0] else []
        name = "tank %d (%s) %s" % (number, tank["grade"], day)
        if "day" in alarms and "day" not in already:
            self.alarm(GAUGE, "tank variance jump", "%s: variance %+.1f L in a day (sales "
                       "%.1f L, book %.1f L, gauge %.1f L)" % (
                           name, variance / 1000, sold / 1000, book / 1000,
                           closing["volume_ml"] / 1000))
        if "month" in alarms and "month" not in already and not prior[2]:
            self.alarm(GAUGE, "tank variance", "%s: the month's variance %+.1f L passes "
                       "%d L + %d %% of its %.1f L throughput: a leak or a loss?" % (
                           name, month_ml / 1000, limits["month_l"], limits["month_pct"],
                           month_sales / 1000))
        return self.day(number, day)

    def day(self, number, day):
        row = self.db.execute("SELECT * FROM tank_days WHERE tank = ? AND day = ?",
                              (number, day)).fetchone()
        return None if row is None else dict(zip(_DAY, row))

    def days(self, number, month=None):
        query = "SELECT * FROM tank_days WHERE tank = ?"
        args = [number]
        if month:
            query += " AND day LIKE ?"
            args.append(month + "-%")
        return [dict(zip(_DAY, r)) for r in self.db.execute(query + " ORDER BY day", args)]


_DELIVERY = ("id", "tank", "at", "supplier", "ordered_ml", "note_ml", "note_temp_c10",
             "note15_ml", "gauge_ml", "gauge15_ml", "flag")
_DAY = ("tank", "day", "opening_ml", "deliveries_ml", "sales_ml", "book_ml", "closing_ml",
        "variance_ml", "month_ml", "month_sales_ml", "alarm")

