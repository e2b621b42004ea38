"""Tanks (station/tanks.py): strapping tables, volume correction to 15 degC against the
printed Table 54B, deliveries (notes and the gauge's, matched and flagged), the daily
reconciliation with its alarms, low and pump-suction levels (nozzles suspended and
resumed), the service's checks and the command line."""
import calendar
import json
import time

import pytest

from pumpside_host import cli, veeder
from pumpside_host.station import days, vcf
from pumpside_host.station.gauge import GaugePoller
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.service import SYSTEM_TANKS, Actor, Service
from pumpside_host.station.tanks import TankError, strapping_check, volume_at

DAY1 = calendar.timegm((2026, 3, 2, 0, 0, 0))
H = 3600


def _day(n):
    """The local midnight starting 2026-03-02 + n days (the station's days, days.py)."""
    return days.midnight(2026, 3, 2 + n)


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Kolkata"])
def zone(request, monkeypatch):
    """The station's time zone (as the reports' tests): UTC, one whose daylight saving
    starts on 2026-03-08 (a 23-hour day), one half an hour off."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def station(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    service = Service(ledger)
    root = Actor.local("setup")
    for terminal, grade in (("T1", "92"), ("T2", "0#")):
        service.add_terminal(root, terminal)
        service.set_price(root, grade, 8000)
        service.set_nozzle(root, terminal, 1, grade)
    service.set_tank(root, 1, "92", 30000, 3000, 1000)
    service.set_tank(root, 2, "0#", 30000, 3000, 1000)
    service.feed_tank(root, 1, "T1", 1)
    service.feed_tank(root, 2, "T2", 1)
    yield ledger, service, root
    ledger.close()


_seq = {}


def _sell(ledger, terminal, ml, at, nozzle=1, kind="FINAL"):
    seq = _seq[terminal] = _seq.get(terminal, 0) + 1
    results, _ack = ledger.store(terminal, [{"seq": seq, "type": kind, "sale": seq, "ml": ml,
                                             "amount": ml * 8, "nozzle": nozzle,
                                             "time": at}])
    assert results[0][1] == "stored"


@pytest.fixture(autouse=True)
def _fresh_seqs():
    _seq.clear()


def _alarms(ledger, what=None):
    return [a for a in ledger.journals.alarms()
            if a["terminal"] == "gauge" and (what is None or a["what"] == what)]


# -- strapping, VCF ------------------------------------------------------------------------------
def test_strapping_is_interpolated_in_whole_millilitres():
    table = strapping_check([[0, 0], [100, 150], [1000, 10000], [2000, 30000]])
    assert volume_at(table, 0) == 0
    assert volume_at(table, 50) == 75_000
    assert volume_at(table, 333) == 150_000 + 9_850_000 * 233 // 900
    assert volume_at(table, 2000) == 30_000_000
    assert volume_at(table, 2500) == 30_000_000  # clamped to the table's top
    for bad, why in (([[0, 0]], "at least two"), ([[0, 0], [10, -1]], "whole numbers"),
                     ([[0, 0], [10, 5], [10, 6]], "heights must rise"),
                     ([[0, 0], [10, 5], [20, 4]], "volumes not fall"),
                     ([[0, 0], [10.5, 5]], "whole numbers"), ("x", "at least two")):
        with pytest.raises(TankError, match=why):
            strapping_check(bad)


# Table 54B (ASTM D1250-80 / API 2540 / IP 200, generalized products, 15 degC) constants,
# alpha15 = K0 / rho15^2 + K1 / rho15 (transition zone: A + B / rho15^2). Where these
# come from (checked with the search tool, December 2026; the standard's own text is not
# public and was not found): the same four sets in several independent open-source
# implementations of Table 54B found in its `code` corpus (volume correction calculators
# in Python, JavaScript, C and TypeScript: gasolines 346.4228 / 0.4388, jet 594.5418 / 0,
# fuel oils 186.9696 / 0.4862, transition -0.00336312 + 2680.3206 / rho^2, the zones
# split at 770.5, 787.5 and 839 kg/m3). One C copy reads 594.5470 for jet: a lone
# outlier; copies with 2690.744 / -0.0033762 for the transition zone follow the 2004
# revision (API MPMS 11.1-2004), which this code does not claim.
TABLE_54B_CONSTANTS = (  # (a density in the zone kg/m3, K0, K1, A)
    (745.0, 346.4228, 0.4388, 0.0), (780.0, 2680.3206, 0.0, -0.00336312),
    (800.0, 594.5418, 0.0, 0.0), (840.0, 186.9696, 0.4862, 0.0))


@pytest.mark.parametrize("rho,k0,k1,a", TABLE_54B_CONSTANTS)
def test_alpha15_uses_the_table_54b_constants_of_its_density_zone(rho, k0, k1, a):
    assert vcf.alpha15(rho) == pytest.approx(a + k0 / rho ** 2 + k1 / rho, rel=1e-12)


# Table 54B factors (density at 15 degC, observed degC, VCF to four decimals). Their
# printed source is not recorded and no printed copy of the table was found by the
# search tool to check them against (December 2026): they agree with the 1980
# equation above to one in the fourth decimal (750 kg/m3 at 25 degC: 0.987949, listed
# 0.9880), hence the tolerance.
TABLE_54B = ((750.0, 25.0, 0.9880), (850.0, 30.0, 0.9875), (840.0, 20.0, 0.9958),
             (740.0, 10.0, 1.0061), (820.0, 15.0, 1.0000))


@pytest.mark.parametrize("rho,celsius,printed", TABLE_54B)
def test_vcf_matches_the_printed_table_54b(rho, celsius, printed):
    assert abs(vcf.vcf(rho, celsius) - printed) <= 0.0001


def test_vcf_refuses_what_the_table_does_not_cover():
    with pytest.raises(ValueError, match="outside Table 54B"):
        vcf.vcf(500.0, 20.0)
    with pytest.raises(ValueError, match="outside the table"):
        vcf.vcf(750.0, 200.0)
    with pytest.raises(ValueError, match="gasoline or diesel"):
        vcf.to15(1000, 20.0, "kerosene")
    assert vcf.to15(10_000_000, 25.0, "gasoline") < 10_000_000 < vcf.to15(10_000_000, 5.0,
                                                                          "diesel")
    assert (vcf.kind_of("92"), vcf.kind_of("0#"), vcf.kind_of("-10#")) == \
        ("gasoline", "diesel", "diesel")


# -- tanks and nozzles ---------------------------------------------------------------------------
def test_a_tank_is_checked_and_audited(station):
    ledger, service, root = station
    for args, why in (((0, "92", 100, 10, 5), "1-99"), ((3, "", 100, 10, 5), "grade"),
                      ((3, "92", 100, 10, 20), "suction <= low"),
                      ((3, "92", 100, 100, 5), "low < capacity"),
                      ((3, "92", -1, 10, 5), "capacity"),
                      ((3, "92", 100, 10, 5, [[0, 0], [10, 200]]), "past the capacity")):
        with pytest.raises(TankError, match=why):
            service.set_tank(root, *args)
    assert [t["number"] for t in ledger.tanks.all()] == [1, 2]
    record = service.audit(root)[-1]
    assert (record["action"], record["target"]) == ("tank-feed", "T2 nozzle 1")
    tank = ledger.tanks.tank(1)
    assert (tank["capacity_ml"], tank["nozzles"], tank["strapping"]) == \
        (30_000_000, [["T1", 1]], [[0, 0], [2000, 30000]])


def test_a_nozzle_is_fed_only_by_a_tank_of_its_grade(station):
    ledger, service, root = station
    with pytest.raises(TankError, match="sells 0#, tank 1 holds 92"):
        service.feed_tank(root, 1, "T2", 1)
    with pytest.raises(TankError, match="not in the nozzle map"):
        service.feed_tank(root, 1, "T1", 7)
    with pytest.raises(TankError, match="no tank 9"):
        service.feed_tank(root, 9, "T1", 1)


# -- deliveries -----------------------------------------------------------------------------------
def test_a_note_is_corrected_to_15c_and_flagged_when_short_of_the_order(station):
    ledger, service, root = station
    ok = service.delivery_note(root, 1, "Sinopec", 10_000_000, 10_020_000, 250, at=DAY1)
    d = ledger.tanks.delivery(ok)
    assert d["note15_ml"] == vcf.to15(10_020_000, 25.0, "gasoline")
    assert d["flag"] == "" and not _alarms(ledger)
    short = service.delivery_note(root, 2, "PetroChina", 10_000_000, 9_800_000, 100,
                                  at=DAY1 + 3 * H)
    assert "delivered 9800.0 L, ordered 10000.0 L" in ledger.tanks.delivery(short)["flag"]
    assert [a["what"] for a in _alarms(ledger)] == ["delivery differs"]
    assert "FLAGGED" in service.audit(root)[-1]["new"]
    for args, why in (((1, "S", 0, 1000, 150), "ordered"), ((1, "S", 1000, 1000, 900),
                                                              "temperature"),
                      ((1, "", 1000, 1000, 150), "supplier")):
        with pytest.raises(TankError, match=why):
            service.delivery_note(root, *args)


def test_a_gauge_report_joins_its_note_and_is_stored_once(station):
    ledger, service, root = station
    note = service.delivery_note(root, 1, "Sinopec", 10_000_000, 10_000_000, 150,
                                 at=DAY1 + 10 * H)
    got = ledger.tanks.gauge_delivery(1, DAY1 + 9 * H, DAY1 + 9 * H + 1800, 9_990_000,
                                      9_985_000)
    assert got == note
    assert ledger.tanks.gauge_delivery(1, DAY1 + 9 * H, DAY1 + 9 * H + 1800, 9_990_000,
                                       9_985_000) is None  # the same report again
    assert ledger.tanks.delivery(note)["flag"] == ""
    # a gauged volume well short of its note: flagged
    other = service.delivery_note(root, 2, "PetroChina", 10_000_000, 10_000_000, 150,
                                  at=DAY1 + 20 * H)
    ledger.tanks.gauge_delivery(2, DAY1 + 20 * H, DAY1 + 20 * H + 1800, 9_700_000,
                                9_700_000)
    assert "gauged 9700.0 L at 15 C" in ledger.tanks.delivery(other)["flag"]
    assert len(ledger.tanks.deliveries()) == 2


# -- reconciliation -------------------------------------------------------------------------------
def test_reconciliation_sums_the_ledgers_sales_by_the_nozzle_map(station, zone):
    ledger, service, root = station
    day1 = _day(0)  # local midnight, in the zone
    tanks = ledger.tanks
    tanks.add_reading(1, day1 + 1, 20_000_000)
    _sell(ledger, "T1", 40_000, day1 + 2 * H)
    _sell(ledger, "T1", 35_000, day1 + 3 * H, kind="ESCAPE")
    _sell(ledger, "T1", 35_000, day1 + 4 * H, kind="UNLOCK")  # settles the escape: no fuel
    _sell(ledger, "T2", 50_000, day1 + 2 * H)  # the other tank's
    _sell(ledger, "T1", 10_000, day1 + 2 * H, nozzle=2)  # a nozzle no tank feeds
    service.delivery_note(root, 1, "Sinopec", 5_000_000, 5_000_000, 150, at=day1 + 5 * H)
    tanks.add_reading(1, day1 + 23 * H, 20_000_000 - 75_000 + 5_000_000 - 2_000)
    row = service.reconcile(root, 1, "2026-03-02")
    assert (row["opening_ml"], row["deliveries_ml"], row["sales_ml"], row["book_ml"],
            row["variance_ml"]) == (20_000_000, 5_000_000, 75_000, 24_925_000, -2_000)
    assert row["alarm"] == "" and not _alarms(ledger, "tank variance")
    # the next day opens with the last reading: nothing falls between two days
    _sell(ledger, "T1", 20_000, day1 + 23 * H + 1800)
    tanks.add_reading(1, _day(1) + 60, 24_923_000 - 20_000)
    row = tanks.reconcile(1, "2026-03-03")
    assert (row["opening_ml"], row["sales_ml"], row["variance_ml"], row["month_ml"],
            row["month_sales_ml"]) == (24_923_000, 20_000, 0, -2_000, 95_000)
    assert tanks.reconcile(1, "2026-03-20") is None  # no reading that day


def test_the_reconciliation_and_the_reports_share_the_stations_local_day(station, zone):
    """One notion of a day (days.py): a day's reconciliation spans the report's day, a
    reading a minute before the local midnight closes the day, one at midnight the next."""
    ledger, _service, _root = station
    from pumpside_host.station import reports
    for day in ("2026-03-07", "2026-03-08", "2026-03-09"):  # New York: 24, 23, 24 hours
        assert reports.period("day", day)[:2] == days.bounds(day)
    start, end = days.bounds("2026-03-08")
    assert days.day_of(start) == days.day_of(end - 1) == "2026-03-08"
    assert days.day_of(end) == "2026-03-09" and days.day_of(start - 1) == "2026-03-07"
    ledger.tanks.add_reading(1, start + 60, 20_000_000)
    _sell(ledger, "T1", 30_000, end - 120)
    ledger.tanks.add_reading(1, end - 60, 19_970_000)
    ledger.tanks.add_reading(1, end, 19_000_000)  # the next day's first reading
    row = ledger.tanks.reconcile(1, "2026-03-08")
    assert (row["sales_ml"], row["closing_ml"], row["variance_ml"]) == (30_000, 19_970_000, 0)
    with pytest.raises(TankError, match="YYYY-MM-DD"):
        ledger.tanks.reconcile(1, "2026-3-x")


def test_the_sales_sum_uses_the_index(station):
    ledger, _service, _root = station
    plan = " ".join(r[3] for r in ledger.db.execute(
        "EXPLAIN QUERY PLAN SELECT COALESCE(SUM(s.ml), 0) FROM tank_nozzles n CROSS JOIN sales s "
        "ON s.terminal = n.terminal AND json_extract(s.record, '$.nozzle') = n.nozzle AND "
        "json_extract(s.record, '$.time') >= 0 AND json_extract(s.record, '$.time') < 9 "
        "WHERE n.tank = 1 AND s.kind IN ('FINAL','ESCAPE')"))
    assert "sales_nozzle_time" in plan


def _leak_days(ledger, days, sold_l, leak_l):
    """`days` days of tank 1: sold_l litres sold a day, the gauge seeing leak_l more go."""
    volume = 25_000_000
    ledger.tanks.add_reading(1, _day(0) - 60, volume)
    rows = []
    for d in range(days):
        start = _day(d)  # local midnights: 2026-03-08 in New York is 23 hours
        _sell(ledger, "T1", sold_l * 1000, start + 12 * H)
        volume -= (sold_l + leak_l) * 1000
        ledger.tanks.add_reading(1, start + 22 * H, volume)
        rows.append(ledger.tanks.reconcile(1, "2026-03-%02d" % (2 + d)))
    return rows


def test_a_slow_leak_passes_the_monthly_threshold_on_the_day_it_should(station, zone):
    ledger, _service, _root = station
    rows = _leak_days(ledger, 20, 500, 12)  # 500 L a day sold, 12 L a day lost
    # day n: |-12 n| > 130 + 5 n  <=>  n > 18.57: the 19th day
    alarmed = [r["day"] for r in rows if "month" in r["alarm"]]
    assert alarmed[0] == "2026-03-20"
    assert rows[17]["month_ml"] == -216_000 and rows[17]["alarm"] == ""
    alarms = _alarms(ledger, "tank variance")
    assert len(alarms) == 1 and "2026-03-20" in alarms[0]["why"]
    assert not _alarms(ledger, "tank variance jump")


def test_a_normal_month_raises_nothing_and_a_jump_does(station, zone):
    ledger, _service, _root = station
    rows = _leak_days(ledger, 10, 800, 0)
    assert all(r["alarm"] == "" for r in rows) and not _alarms(ledger)
    ledger.tanks.add_reading(1, _day(10) + 22 * H,
                             rows[-1]["closing_ml"] - 300_000)  # 300 L gone in a night
    row = ledger.tanks.reconcile(1, "2026-03-12")
    assert "day" in row["alarm"] and len(_alarms(ledger, "tank variance jump")) == 1
    ledger.tanks.reconcile(1, "2026-03-12")  # computed again: not alarmed again
    assert len(_alarms(ledger, "tank variance jump")) == 1


def _stock_recomputed(ledger, start, end):
    """A period's stock per tank from the raw tank_days rows, in Python."""
    first, last = days.day_of(start), days.day_of(end - 1)
    out = {}
    for tank, day, opening, delivered, sold, closing, variance in sorted(ledger.db.execute(
            "SELECT tank, day, opening_ml, deliveries_ml, sales_ml, closing_ml, "
            "variance_ml FROM tank_days")):
        if first <= day <= last:
            t = out.setdefault(tank, {"tank": tank, "days": 0, "opening_ml": opening,
                                      "deliveries_ml": 0, "sales_ml": 0, "sum": 0})
            t["days"] += 1
            t["deliveries_ml"] += delivered
            t["sales_ml"] += sold
            t["closing_ml"] = closing
            t["sum"] += variance
    for t in out.values():
        t["book_ml"] = t["opening_ml"] + t["deliveries_ml"] - t["sales_ml"]
        t["variance_ml"] = t["closing_ml"] - t["book_ml"]
        assert t.pop("sum") == t["variance_ml"]  # the days chain: their variances add up
    return [out[k] for k in sorted(out)]


def test_a_reports_stock_and_variance_equal_a_recomputation(station, zone):
    """The period report's stock per tank (reports.stock) against the tank_days rows and
    the raw readings: a month with a delivery and a leak in tank 1, tank 2 exact."""
    import csv
    import io

    from pumpside_host.station import reports
    ledger, service, root = station
    _leak_days(ledger, 12, 400, 7)  # tank 1: 2026-03-02 .. 13, 7 L a day lost
    ledger.tanks.add_reading(2, _day(0) + H, 10_000_000)
    _sell(ledger, "T2", 300_000, _day(0) + 2 * H)
    service.delivery_note(root, 2, "Sinopec", 8_000_000, 8_000_000, 150, at=_day(0) + 3 * H)
    ledger.tanks.add_reading(2, _day(0) + 22 * H, 17_700_000)
    ledger.tanks.reconcile(2, "2026-03-02")
    for period in (("month", "2026-03"), ("day", "2026-03-08"),
                   ("range", "2026-03-05", "2026-03-09"), ("day", "2026-04-01")):
        rep = service.report(root, *period)
        start, end, _label = reports.period(*period)
        got = [{k: v for k, v in t.items() if k != "grade"} for t in rep["stock"]]
        assert got == _stock_recomputed(ledger, start, end)
        lines = {r["key"]: (int(r["count"]), round(float(r["litres"]) * 1000))
                 for r in csv.DictReader(io.StringIO(reports.to_csv(rep)))
                 if r["section"] == "stock"}
        assert lines == {"%d:%s" % (t["tank"], f[:-3]): (t["days"], t[f])
                         for t in rep["stock"] for f in reports.STOCK_FIGURES}
    month = {t["tank"]: t for t in service.report(root, "month", "2026-03")["stock"]}
    # from the raw readings: the month's first and last, the sales, the leak
    assert (month[1]["opening_ml"], month[1]["closing_ml"], month[1]["sales_ml"],
            month[1]["variance_ml"], month[1]["days"]) == (
        25_000_000, 25_000_000 - 12 * 407_000, 12 * 400_000, -12 * 7_000, 12)
    assert (month[2]["grade"], month[2]["book_ml"], month[2]["variance_ml"]) == \
        ("0#", 17_700_000, 0)
    assert service.report(root, "day", "2026-04-01")["stock"] == []


# -- low and pump-suction levels ----------------------------------------------------------------
def _inventory(volumes):
    return veeder.Answer("201", 0, (2026, 3, 2, 6, 0), [
        veeder.Inventory(n, str(n), 0, float(v), float(v), 30000.0 - v, v / 15, 0.0, 15.0,
                         0.0) for n, v in volumes.items()])


@pytest.mark.parametrize("restarted", [False, True])
def test_the_poller_alarms_a_day_when_it_closes_not_on_its_running_figures(station, zone,
                                                                          restarted):
    """A day still open is reconciled at each poll without alarms (a drop, a sale and a
    reading in one second are not told apart yet); the next day's first poll closes it,
    and a poller started anew (the station restarted past midnight) closes yesterday."""
    ledger, _service, _root = station
    poller = GaugePoller(ledger, "127.0.0.1", 1)
    poller.store(_inventory({1: 20000, 2: 20000}), at=_day(0) + H)
    poller.store(_inventory({1: 19700, 2: 20000}), at=_day(0) + 2 * H)  # 300 L gone
    assert ledger.tanks.day(1, "2026-03-02")["variance_ml"] == -300_000
    assert not _alarms(ledger)
    if restarted:
        poller = GaugePoller(ledger, "127.0.0.1", 1)
    poller.store(_inventory({1: 19700, 2: 20000}), at=_day(1) + H)
    alarms = _alarms(ledger)  # 300 L: a day's jump, and past the month's 130 L too
    assert sorted(a["what"] for a in alarms) == ["tank variance", "tank variance jump"]
    assert all("tank 1 (92) 2026-03-02" in a["why"] for a in alarms)
    assert ledger.tanks.day(1, "2026-03-02")["alarm"] == "day,month"
    poller.store(_inventory({1: 19700, 2: 20000}), at=_day(1) + 2 * H)
    assert len(_alarms(ledger)) == 2  # once


def _commands(ledger):
    return [(t, c) for t, c in ledger.db.execute("SELECT terminal, cmd FROM commands "
                                                 "ORDER BY id")]


def test_low_alarms_suction_suspends_and_a_delivery_resumes(station):
    ledger, service, root = station
    poller = GaugePoller(ledger, "127.0.0.1", 1)
    poller.store(_inventory({1: 5000, 2: 5000}), at=DAY1 + H)
    assert not _alarms(ledger)
    levels = ("tank low", "tank below pump suction")
    poller.store(_inventory({1: 2500, 2: 5000}), at=DAY1 + 2 * H)
    assert [a["what"] for a in _alarms(ledger) if a["what"] in levels] == ["tank low"]
    poller.store(_inventory({1: 900, 2: 5000}), at=DAY1 + 3 * H)
    assert [a["what"] for a in _alarms(ledger) if a["what"] in levels] == list(levels)
    assert _commands(ledger) == [("T1", "suspend")]
    assert service.audit(root)[-1]["who"] == SYSTEM_TANKS
    poller.store(_inventory({1: 950, 2: 5000}), at=DAY1 + 4 * H)  # temperature, no delivery
    assert ledger.tanks.tank(1)["state"] == "suction" and len(_commands(ledger)) == 1
    service.delivery_note(root, 1, "Sinopec", 10_000_000, 10_000_000, 150, at=DAY1 + 5 * H)
    poller.store(_inventory({1: 10950, 2: 5000}), at=DAY1 + 6 * H)
    assert _commands(ledger) == [("T1", "suspend"), ("T1", "resume")]
    assert ledger.tanks.tank(1)["state"] == "ok"
    assert [r["volume_ml"] for r in ledger.tanks.readings(1)] == \
        [5_000_000, 2_500_000, 900_000, 950_000, 10_950_000]


def test_unknown_tanks_on_the_gauge_are_ignored(station):
    ledger, _service, _root = station
    GaugePoller(ledger, "127.0.0.1", 1).store(_inventory({7: 5000}), at=DAY1)
    assert ledger.tanks.readings(1) == [] and not _alarms(ledger)


def test_a_dip_uses_the_strapping_table(station):
    ledger, service, root = station
    service.set_tank(root, 3, "92", 10000, 1000, 500, [[0, 0], [1000, 4000], [2000, 10000]])
    assert service.dip(root, 3, 1500, 180, at=DAY1) == 7_000_000
    assert ledger.tanks.last_reading(3)["source"] == "dip"
    with pytest.raises(TankError, match="whole mm"):
        service.dip(root, 3, -5)


# -- the command line --------------------------------------------------------------------
def test_the_command_line(tmp_path, capsys):
    db = str(tmp_path / "s.db")

    def run(*args):
        code = cli.main(["station", args[0], "--db", db] + list(args[1:]))
        out = capsys.readouterr()
        return code, out.out + out.err

    assert run("terminal-add", "--terminal", "T1", "--key-file",
               str(tmp_path / "k"))[0] == 0
    assert run("price", "--grade", "92", "--price", "8000")[0] == 0
    assert run("nozzle", "--terminal", "T1", "--nozzle", "1", "--grade", "92")[0] == 0
    assert run("tank-add", "--tank", "1", "--grade", "92", "--capacity", "30000", "--low",
               "3000", "--suction", "1000", "--strapping",
               json.dumps([[0, 0], [2000, 30000]]))[0] == 0
    code, out = run("tank-add", "--tank", "2", "--grade", "92", "--capacity", "300",
                    "--low", "3000", "--suction", "1000")
    assert code == 2 and "error: levels" in out
    assert run("tank-feed", "--tank", "1", "--terminal", "T1", "--nozzle", "1")[0] == 0
    code, out = run("delivery", "--tank", "1", "--supplier", "Sinopec", "--ordered",
                    "10000", "--delivered", "9800.5", "--temp", "24.5")
    assert code == 0 and "9800.500 L at 24.5 C" in out and "FLAGGED" in out
    code, out = run("delivery", "--tank", "1", "--supplier", "S", "--ordered", "1.0001",
                    "--delivered", "1", "--temp", "20")
    assert code == 2 and "at most 3 decimals" in out
    assert run("dip", "--tank", "1", "--height", "1000")[0] == 0
    code, out = run("tanks")
    assert "tank 1 92 capacity 30000 L" in out and "15000.0 L" in out and "T1/1" in out
    code, out = run("deliveries")
    assert "Sinopec" in out and "FLAGGED" in out
    code, out = run("reconcile", "--tank", "1")
    assert code == 0 and "variance" in out
    for bad, why in ((["--gauge", "nohost"], "--gauge: a gauge address is HOST:PORT"),
                     (["--gauge", "h:1", "--gauge-every", "0"], "--gauge-every")):
        code, out = run("serve", *bad)
        assert code == 2 and why in out  # refused before anything is served


def test_tank_alarms_go_through_the_alert_engine_and_its_switches(station):
    """A tank's alarms are the alert engine's rules (low_tank, gauge_variance): stored with
    the rule, and a manager who switches one off silences it."""
    ledger, service, root = station
    poller = GaugePoller(ledger, "127.0.0.1", 1)
    poller.store(_inventory({1: 2500, 2: 5000}), at=DAY1 + H)
    (low,) = [a for a in ledger.journals.alarms() if a["what"] == "tank low"]
    assert ledger.db.execute("SELECT rule FROM alarms WHERE id = ?",
                             (low["id"],)).fetchone()[0] == "low_tank"
    service.set_alert_rule(root, "gauge_variance", False)
    rows = _leak_days(ledger, 20, 500, 12)
    assert "month" in rows[-1]["alarm"]  # the reconciliation still tells it
    assert not _alarms(ledger, "tank variance")  # the switched-off rule raised nothing
