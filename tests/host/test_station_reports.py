"""Shift close, period reports and the alert engine (station/shifts.py, reports.py,
alerts.py through service.py): reports equal a recomputation from the raw ledger rows,
their CSV parses back to the same figures, a shift's totalizers against its records,
each alert rule on its scenario and not on a normal day, the webhook retried and never in
the way of the ingest."""
import asyncio
import csv
import io
import json
import os
import socket
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from pumpside_host import veeder
from pumpside_host.station import cardinfo, days, server
from pumpside_host.station import reports as rp
from pumpside_host.station.alerts import RULES, Webhook
from pumpside_host.station.backup import BackupError
from pumpside_host.station.cardbook import CardBook
from pumpside_host.station.gauge import GaugePoller
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.service import Actor, Refused, Service
from pumpside_host.station.shifts import text
from pumpside_host.station.web import load_secret, make_app, pay

LOCAL = Actor.local("test")
ASN = "6200000000000017"
OTHER = "6200000000000025"
FLEET = "6200000000000033"
MONTH = "2026-03"
DAY = "2026-03-10"
PASSWORD = "a long enough password"


@pytest.fixture
def station(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"),
                    hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    service = Service(ledger)
    yield ledger, service
    ledger.close()


def _local(y, m, d, h=0, mi=0, s=0):
    return int(time.mktime((y, m, d, h, mi, s, 0, 0, -1)))


def _put(ledger, sales):
    """Raw ledger rows, as the ledger stores them (the record's JSON and `received`)."""
    rows = []
    for i, s in enumerate(sales):
        record = {"type": s["kind"], "seq": i + 1, "sale": i + 1, "ml": s["ml"],
                  "amount": s["amount"], "grade": s["grade"], "nozzle": s["nozzle"],
                  "time": s["received"]}
        if s.get("card"):
            record.update(asn=s["card"], card_type=s["card_type"])
        rows.append((s["terminal"], s["kind"], i + 1, i + 1, s.get("card"), s["ml"],
                     s["amount"], json.dumps(record, sort_keys=True), s["received"])
                    + rp.columns(record, rp.pay_kind(record, s["kind"])))
    ledger.db.executemany("INSERT INTO sales (terminal, kind, sale, seq, asn, ml, amount, "
                          "record, received, %s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                          % rp.COLUMNS, rows)


def _recompute(ledger, start, end):
    """The report's figures from the raw rows, in Python: (section, key) -> [n, ml, amt]."""
    out = {}
    for terminal, kind, _asn, ml, amount, record, received in ledger.db.execute(
            "SELECT terminal, kind, asn, ml, amount, record, received FROM sales"):
        if not start <= received < end or kind not in ("FINAL", "ESCAPE"):
            continue
        r = json.loads(record)
        tm = time.localtime(received)
        keys = {"total": "", "grade": r.get("grade", ""), "pump": terminal,
                "nozzle": "%s:%d" % (terminal, r.get("nozzle", 0)),
                "card_type": r.get("card_type", 0), "pay": rp.pay_kind(r, kind),
                "hour": tm.tm_hour, "day": time.strftime("%Y-%m-%d", tm)}
        for section, key in keys.items():
            acc = out.setdefault((section, key), [0, 0, 0])
            acc[0] += 1
            acc[1] += ml
            acc[2] += amount
    return out


def _figures(rep):
    out = {}
    if rep["totals"]["count"]:
        t = rep["totals"]
        out[("total", "")] = [t["count"], t["ml"], t["amount"]]
    for name in rp.BY:
        for row in rep[name]:
            out[(name, row["key"])] = [row["count"], row["ml"], row["amount"]]
    return out


def _from_csv(text):
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["section"] in ("settled_later", "card_loads") or \
                (row["section"] == "total" and row["count"] == "0"):
            continue
        key = "" if row["section"] == "total" else row["key"]
        if row["section"] in ("card_type", "hour"):
            key = int(key)
        out[(row["section"], key)] = [int(row["count"]),
                                      int(Decimal(row["litres"]) * 1000),
                                      int(Decimal(row["amount"]) * 100)]
    return out


MONTH_START = _local(2026, 3, 1)
SALE = st.fixed_dictionaries({
    "terminal": st.sampled_from(["T00", "T01", "T02", "T31"]),
    "nozzle": st.integers(1, 2),
    "grade": st.sampled_from(["92", "95", "0#"]),
    "kind": st.sampled_from(["FINAL", "FINAL", "ESCAPE", "UNLOCK"]),
    "card": st.sampled_from([None, None, ASN, OTHER]),
    "card_type": st.integers(0, 3),
    "ml": st.integers(0, 200000),
    "amount": st.integers(0, 2000000),
    # from 3 days before the month to 3 days after it
    "received": st.integers(MONTH_START - 3 * 86400, MONTH_START + 34 * 86400),
})


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Kolkata"])
def zone(request, monkeypatch):
    """The station's time zone: UTC, one whose daylight saving starts in March 2026 (the
    8th: a 23-hour day), one half an hour off."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sales=st.lists(SALE, max_size=60), day=st.sampled_from([DAY, "2026-03-08"]))
def test_a_day_and_a_month_report_equal_a_recomputation_from_the_raw_rows(station, zone,
                                                                           sales, day):
    ledger, service = station
    ledger.db.execute("DELETE FROM sales")
    month_start = _local(2026, 3, 1)
    sales = [dict(s, received=s["received"] - MONTH_START + month_start) for s in sales]
    _put(ledger, sales)
    for kind, value in (("day", day), ("month", MONTH)):
        rep = service.report(LOCAL, kind, value)
        start, end, _label = rp.period(kind, value)
        expected = _recompute(ledger, start, end)
        assert _figures(rep) == expected
        assert _from_csv(rp.to_csv(rep)) == expected  # the CSV parses back the same
        unlocks = [s for s in sales if s["kind"] == "UNLOCK" and start <= s["received"] < end]
        assert rep["settled_later"] == {"count": len(unlocks),
                                        "amount": sum(s["amount"] for s in unlocks)}
        assert rep["card_loads"] == {"count": 0, "amount": 0, "source": []}


def _fleet_recomputed(ledger, companies, start, end):
    """Fleet company totals from the raw sales rows, in Python: each row's record (its
    card number, kind) and `received`; `companies` {asn: company name} the bindings.
    {name: [count, ml, amount]}."""
    out = {}
    for record, received in ledger.db.execute("SELECT record, received FROM sales"):
        r = json.loads(record)
        if start <= received < end and r["type"] in ("FINAL", "ESCAPE") \
                and r.get("asn") in companies:
            acc = out.setdefault(companies[r["asn"]], [0, 0, 0])
            acc[0] += 1
            acc[1] += r["ml"]
            acc[2] += r["amount"]
    return out


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sales=st.lists(SALE.map(lambda s: dict(s, card=s["card"] and (
    s["card"] if s["ml"] % 3 else FLEET))), max_size=60),
    day=st.sampled_from([DAY, "2026-03-08"]))
def test_fleet_company_totals_equal_a_recomputation_from_the_raw_rows(station, zone, sales,
                                                                      day):
    """issue 15: a day's, a month's, a year's and a range's fleet company totals (two
    companies: ASN's and FLEET's; OTHER is no fleet card) are the raw rows' sums, and the
    CSV's `fleet` lines say the same."""
    ledger, service = station
    ledger.db.execute("DELETE FROM sales")
    if not ledger.fleet.companies():
        ledger.fleet.bind(ASN, ledger.fleet.add_company("Alpha", "", "prepaid", 0), "A1")
        ledger.fleet.bind(FLEET, ledger.fleet.add_company("Beta", "", "credit", 10000), "B1")
    month_start = _local(2026, 3, 1)
    _put(ledger, [dict(s, received=s["received"] - MONTH_START + month_start)
                  for s in sales])
    companies = {ASN: "Alpha", FLEET: "Beta"}
    for period in (("day", day), ("month", MONTH), ("year", "2026"),
                   ("range", "2026-02-27", DAY)):
        rep = service.report(LOCAL, *period)
        start, end, _label = rp.period(*period)
        expected = _fleet_recomputed(ledger, companies, start, end)
        assert {c["name"]: [c["count"], c["ml"], c["amount"]] for c in rep["fleet"]} \
            == expected
        assert [c["name"] for c in rep["fleet"]] == sorted(expected)
        lines = {r["key"]: [int(r["count"]), int(Decimal(r["litres"]) * 1000),
                            int(Decimal(r["amount"]) * 100)]
                 for r in csv.DictReader(io.StringIO(rp.to_csv(rep)))
                 if r["section"] == "fleet"}
        assert lines == expected


def test_fleet_company_totals_read_their_index(station):
    """The fleet cards first, each one's sales of the period by the covering index
    sales_fleet: never a scan of the sales."""
    ledger, _service = station
    plan = " ".join(r[3] for r in ledger.db.execute("EXPLAIN QUERY PLAN " + rp.FLEET, (0, 1)))
    assert "SEARCH s USING COVERING INDEX sales_fleet (asn=? AND received>? AND received<?)" \
        in plan, plan
    assert "SCAN s" not in plan, plan


def test_a_shift_report_has_no_fleet_or_stock_section(station):
    ledger, service = station
    ledger.fleet.bind(ASN, ledger.fleet.add_company("Alpha", "", "prepaid", 0), "A1")
    ledger.store("T1", [_sale(1, 1000, 700, asn=ASN)])
    assert service.report(LOCAL, "day", days.day_of(time.time()))["fleet"] == [
        {"company": 1, "name": "Alpha", "count": 1, "ml": 1000, "amount": 700}]
    shift = service.close_shift(Actor("carol", "cashier"))
    assert shift["totals"]["count"] == 1 and shift.get("fleet", []) == []


LOAD = st.tuples(st.integers(1, 500000), st.sampled_from(["cash", "online", "replacement"]),
                 st.integers(MONTH_START - 3 * 86400, MONTH_START + 34 * 86400))


def _loads_recomputed(ledger, keep):
    """Card loads from the raw card_loads rows, in Python: the money taken (cash,
    online) of the rows `keep(id, funded)` keeps: (count, amount, {source: [n, amt]})."""
    by = {}
    for load_id, amount, source, funded in ledger.db.execute(
            "SELECT id, amount, source, funded FROM card_loads"):
        if source in ("cash", "online") and keep(load_id, funded):
            acc = by.setdefault(source, [0, 0])
            acc[0] += 1
            acc[1] += amount
    return {"count": sum(n for n, _a in by.values()),
            "amount": sum(a for _n, a in by.values()),
            "source": [{"key": k, "count": n, "amount": a} for k, (n, a) in sorted(by.items())]}


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(loads=st.lists(LOAD, max_size=40), day=st.sampled_from([DAY, "2026-03-08"]))
def test_a_reports_card_loads_equal_a_recomputation_from_the_card_loads_rows(station, zone,
                                                                             loads, day):
    ledger, service = station
    ledger.db.execute("DELETE FROM card_loads")
    book = CardBook(ledger.db)
    month_start = _local(2026, 3, 1)
    for amount, source, funded in loads:
        book.fund(ASN, amount, source, now=funded - MONTH_START + month_start)
    for period in (("day", day), ("month", MONTH), ("range", "2026-02-27", DAY)):
        rep = service.report(LOCAL, *period)
        start, end, _label = rp.period(*period)
        expected = _loads_recomputed(ledger, lambda _i, f, a=start, b=end: a <= f < b)
        assert rep["card_loads"] == expected
        lines = [r for r in csv.DictReader(io.StringIO(rp.to_csv(rep)))
                 if r["section"] == "card_loads"]
        assert [(r["key"], int(r["count"]), int(Decimal(r["amount"]) * 100)) for r in lines] \
            == [("", expected["count"], expected["amount"])] + [
                (r["key"], r["count"], r["amount"]) for r in expected["source"]]


def test_a_card_loads_report_reads_its_index(station):
    ledger, _service = station
    plan = " ".join(r[3] for r in ledger.db.execute(
        "EXPLAIN QUERY PLAN " + rp.LOADS % "funded >= ? AND funded < ?", (0, 1)))
    assert "card_loads_report" in plan and "COVERING" in plan


def test_a_shifts_card_loads_are_those_taken_since_the_last_close(station):
    ledger, service = station
    cashier = Actor("carol", "cashier")
    book = CardBook(ledger.db)
    ledger.store("T1", [_sale(1, 1000, 700)])
    book.fund(ASN, 5000, "cash", now=100)
    book.fund(OTHER, 20000, "online", now=200)
    book.fund(OTHER, 999, "replacement", now=300)  # carried over: not money taken
    first = service.close_shift(cashier, now=1000)
    assert first["card_loads"] == _loads_recomputed(ledger, lambda i, _f: i <= 3) == {
        "count": 2, "amount": 25000, "source": [{"key": "cash", "count": 1, "amount": 5000},
                                                {"key": "online", "count": 1,
                                                 "amount": 20000}]}
    assert "card loads 2  amount 250.00" in text(first)
    book.fund(ASN, 700, "cash", now=900)  # stored after the close (its clock behind): next
    book.fund(ASN, 300, "cash", now=1500)
    second = service.close_shift(cashier, now=2000)
    assert second["card_loads"] == _loads_recomputed(ledger, lambda i, _f: i > 3) == {
        "count": 2, "amount": 1000, "source": [{"key": "cash", "count": 2, "amount": 1000}]}
    third = service.close_shift(cashier, now=3000)
    assert third["card_loads"]["count"] == 0


def test_a_report_reads_the_index_not_the_rows(station):
    ledger, _service = station
    for query in (rp.GROUPS, rp.HOURS):
        plan = " ".join(row[3] for row in ledger.db.execute(
            "EXPLAIN QUERY PLAN " + query % "received >= ? AND received < ?", (0, 1)))
        assert "SEARCH sales USING COVERING INDEX sales_report (received>? AND received<?)" \
            in plan, plan


def test_the_schema_step_fills_the_columns_of_the_sales_held_as_the_ledger_does(station):
    ledger, _service = station
    records = [_sale(1, 1000, 700), _sale(2, 1000, 700, asn=ASN, nozzle=2),
               {"type": "UNLOCK", "seq": 3, "sale": 3, "ml": 0, "amount": 5}]
    for r in records:
        ledger.db.execute("INSERT INTO sales (terminal, kind, sale, seq, asn, ml, amount, "
                          "record, received) VALUES ('T1', ?, ?, ?, ?, 0, 0, ?, 0)",
                          (r["type"], r["sale"], r["seq"], r.get("asn"), json.dumps(r)))
    [update] = [s for s in rp.SCHEMA if s.startswith("UPDATE")]
    ledger.db.execute(update)  # step 6's: the kinds before the till
    assert ledger.db.execute("SELECT %s FROM sales ORDER BY sale" % rp.COLUMNS).fetchall() \
        == [rp.columns(r, "card" if r.get("asn") else "attended") for r in records]


def test_periods_and_their_bad_input():
    assert rp.period("day", "2026-03-10")[:2] == (_local(2026, 3, 10), _local(2026, 3, 11))
    assert rp.period("month", "2026-12")[:2] == (_local(2026, 12, 1), _local(2027, 1, 1))
    assert rp.period("year", "2026")[:2] == (_local(2026, 1, 1), _local(2027, 1, 1))
    assert rp.period("range", "2026-02-27", "2026-03-01")[:2] == (
        _local(2026, 2, 27), _local(2026, 3, 2))
    for args, why in ((("day", "2026-3-40"), "YYYY-MM-DD"), (("month", "2026-13"), "YYYY-MM"),
                      (("year", "26"), "YYYY"), (("week", "2026"), "one of"),
                      (("range", "2026-03-02", "2026-03-01"), "before it starts"),
                      (("range", "2026-03-02", None), "to must be")):
        with pytest.raises(rp.BadPeriod, match=why):
            rp.period(*args)


def test_who_may_read_reports(station):
    ledger, service = station
    for role in ("administrator", "manager", "auditor"):
        assert service.report(Actor("x", role), "day", DAY)["totals"]["count"] == 0
    with pytest.raises(Refused, match="may not read reports"):
        service.report(Actor("x", "cashier"), "day", DAY)
    assert service.shift_report(Actor("x", "cashier")) is None  # the shift's: a cashier's


# -- shifts ---------------------------------------------------------------------------------
def _sale(seq, ml, amount, asn=None, terminal_time=None, **extra):
    record = {"type": "FINAL", "seq": seq, "sale": seq, "ml": ml, "amount": amount,
              "grade": "92", "nozzle": 1, "time": terminal_time or int(time.time())}
    if asn:
        record.update(asn=asn, ctc=seq, psam_ttc=seq, tac="01020304", card_type=1)
    record.update(extra)
    return record


def _reading(ledger, terminal, seq, ml, amount):
    ledger.metrology.reading(terminal, {"nozzle": 1, "seq": seq, "volume_ml": ml,
                                        "amount": amount, "grade": "92"})


def test_a_shift_closes_with_its_sales_and_totalizers(station):
    ledger, service = station
    cashier = Actor("carol", "cashier")
    ledger.store("T1", [_sale(1, 1000, 700)])
    _reading(ledger, "T1", 1, 51000, 35700)  # the baseline
    ledger.store("T1", [_sale(2, 2000, 1400), _sale(3, 3000, 2100, asn=ASN)])
    _reading(ledger, "T1", 3, 56000, 39200)
    shift = service.close_shift(cashier)
    assert shift["totals"] == {"count": 3, "ml": 6000, "amount": 4200}
    assert {r["key"]: r["ml"] for r in shift["pay"]} == {"unpaid": 3000, "card": 3000}
    assert {r["key"]: r["amount"] for r in shift["grade"]} == {"92": 4200}
    assert shift["card_loads"] == {"count": 0, "amount": 0, "source": []}
    [nozzle] = shift["nozzles"]
    assert (nozzle["open_seq"], nozzle["close_seq"], nozzle["moved_ml"],
            nozzle["metered_ml"], nozzle["diff_ml"], nozzle["diff_amount"]) == \
        (1, 3, 5000, 5000, 0, 0)
    record = service.audit(LOCAL)[-1]
    assert (record["who"], record["action"]) == ("carol", "shift-close")
    assert service.shift_report(cashier)["id"] == shift["id"]

    # the next shift opens where this one closed; a meter that moved more than the
    # records is a mismatch, and an alert once the manager switched the rule on
    service.set_alert_rule(Actor("m", "manager"), "totalizer_mismatch", True)
    ledger.store("T1", [_sale(4, 1000, 700)])
    _reading(ledger, "T1", 4, 57500, 39900)
    second = service.close_shift(cashier, now=shift["closed"] + 3600)
    assert second["opened"] == shift["closed"]
    assert second["totals"]["count"] == 1
    [nozzle] = second["nozzles"]
    assert (nozzle["open_seq"], nozzle["moved_ml"], nozzle["metered_ml"],
            nozzle["diff_ml"]) == (3, 1500, 1000, 500)
    alarms = ledger.journals.alarms("T1")
    assert [a["what"] for a in alarms] == ["totalizer mismatch"]
    assert "moved 1500 ml" in alarms[0]["why"]


def test_only_the_shift_roles_close_a_shift(station):
    ledger, service = station
    with pytest.raises(Refused, match="may not close a shift"):
        service.close_shift(Actor("a", "auditor"))
    assert ledger.db.execute("SELECT COUNT(*) FROM shifts").fetchone()[0] == 0


# -- alerts ---------------------------------------------------------------------------------
MANAGER = Actor("boss", "manager")


def _on(service, rule, **params):
    service.set_alert_rule(MANAGER, rule, True, params)


def _alarms(ledger):
    return [(a["terminal"], a["what"]) for a in ledger.journals.alarms()]


def _normal_day(ledger, service):
    """A normal day with every rule on: card and cash sales spaced out, one card per pump,
    nothing hotlisted, no wrong PIN, pumps online, totalizers that match."""
    for rule in ("large_sale", "frequent_card", "hotlisted_card", "wrong_pins",
                 "pump_offline", "totalizer_mismatch"):
        _on(service, rule)
    t0 = int(time.time()) - 86400
    for i in range(20):
        terminal = "T%d" % (i % 2)
        asn = (ASN, OTHER)[i % 2] if i % 3 else None
        ledger.store(terminal, [_sale(i + 1, 30000, 22000, asn=asn,
                                      terminal_time=t0 + i * 3600)])
    _reading(ledger, "T0", 19, 1000000, 500000)
    ledger.hello("T0", "1.0", "abcd", 1000)
    ledger.alerts.events("T0", [{"n": 1, "what": "price", "new": 5}], 0)
    ledger.alerts.tick()
    service.close_shift(LOCAL)
    # a tank that feeds T0's nozzle: the gauge sees what T0 sold (gauge_variance and
    # low_tank are on by default), reconciled each day the sales touched
    tanks = ledger.tanks
    tanks.set_tank(1, "92", 30000, 3000, 1000)
    tanks.feed(1, "T0", 1, "92")
    tanks.add_reading(1, t0 - 60, 20_000_000)
    tanks.add_reading(1, t0 + 20 * 3600, 20_000_000 - 10 * 30000)
    for day in sorted({days.day_of(t0), days.day_of(t0 + 20 * 3600)}):
        tanks.reconcile(1, day)
    # the gauge polled: its reading where the book is, no console alarm, no delivery
    # (gauge_off, gauge_alarm, delivery_differs, tank_command_failed are on by default)
    _poller(ledger).store(*_answers([(1, 20_000_000 - 10 * 30000)], []), at=t0 + 21 * 3600)
    # a backup that works, a terminal seen again with its journal (backup_failed,
    # new_journal and conflict are on by default); the same sale sent again
    service.backup(LOCAL, os.path.join(os.path.dirname(ledger.path), "backup.db"))
    for _again in range(2):
        assert ledger.journals.seen("T9", "a1a1a1a1a1a1a1a1") == "a1a1a1a1a1a1a1a1"
    results, _ack = ledger.store("T0", [_sale(1, 30000, 22000, terminal_time=t0)])
    assert results[0][1] == "duplicate"


def _poller(ledger, port=1):
    return GaugePoller(ledger, "127.0.0.1", port)


def _answers(levels, alarms, when=(2026, 3, 1, 6, 0)):
    """The gauge's I201, I205 and (empty) I202 answers: levels [(tank, ml)], alarms
    [(tank, [codes])]."""
    inventory = veeder.encode_inventory(0, when, [veeder.Inventory(
        tank, "1", 0, ml / 1000, ml / 1000, 1000.0, 1000.0, 0.0, 15.0, 0.0)
        for tank, ml in levels])
    return (veeder.decode(inventory), veeder.decode(veeder.encode_alarms(0, when, [
        veeder.TankAlarms(tank, codes) for tank, codes in alarms])),
        veeder.decode(veeder.encode_deliveries(0, when, [])))


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once it is closed


def test_no_alert_on_a_normal_day(station):
    ledger, service = station
    _normal_day(ledger, service)
    assert _alarms(ledger) == []


def _scenario(ledger, service):
    """Each rule's scenario, on top of a normal day (every rule on, their defaults)."""
    now = int(time.time())
    later = now + 7200
    return {
        "large_sale": lambda: ledger.store("T1", [_sale(21, 200000, 150000)]),
        "frequent_card": lambda: ledger.store("T1", [
            _sale(30 + i, 1000, 700, asn=ASN, terminal_time=later + 60 * i)
            for i in range(5)]),
        "hotlisted_card": lambda: (service.hotlist(MANAGER, OTHER), ledger.store(
            "T1", [_sale(40, 1000, 700, asn=OTHER, terminal_time=later + 9000)])),
        "wrong_pins": lambda: ledger.alerts.events("T0", [
            {"n": 2, "who": "service-pin", "what": "pin_wrong", "new": 5}], 1),
        "pump_offline": lambda: ledger.alerts.tick(now + 31 * 60),
        "totalizer_mismatch": lambda: (
            ledger.store("T0", [_sale(21, 1000, 700)]),
            _reading(ledger, "T0", 21, 1000000 + 1500, 500000 + 700),
            service.close_shift(LOCAL, now=now + 60)),
        "gauge_variance": lambda: (  # 300 L gone in a night
            ledger.tanks.add_reading(1, now, 20_000_000 - 10 * 30000 - 300_000),
            ledger.tanks.reconcile(1, days.day_of(now))),
        "low_tank": lambda: ledger.tanks.add_reading(1, now, 2_000_000),
        "backup_failed": lambda: pytest.raises(BackupError, service.backup, LOCAL, os.path.join(
            os.path.dirname(ledger.path), "no such folder", "x", "backup.db")),
        "new_journal": lambda: ledger.journals.seen("T9", "b2b2b2b2b2b2b2b2"),
        "conflict": lambda: ledger.store("T0", [_sale(1, 31000, 22000)]),
        "delivery_differs": lambda: ledger.tanks.note(  # 6,000 L delivered, 5,000 ordered
            1, now, "Sinopec", 5_000_000, 6_000_000, 150),
        "gauge_off": lambda: asyncio.run(_poller(ledger, _closed_port()).poll()),
        "gauge_alarm": lambda: _poller(ledger).store(  # the console's leak alarm
            *_answers([(1, 20_000_000 - 10 * 30000)], [(1, ["02"])]), at=now),
        "tank_command_failed": lambda: (  # below pump suction: T0 (not registered) to
            # suspend; its low_tank alarm switched off to see this one alone
            service.set_alert_rule(MANAGER, "low_tank", False),
            _poller(ledger).store(*_answers([(1, 500_000)], []), at=now)),
        "fleet_limit": lambda: (  # a fleet card's FINAL past its monthly limit (fleet.py)
            ledger.fleet.bind(FLEET, ledger.fleet.add_company("Co", "", "prepaid", 0), "A1"),
            ledger.fleet.set_limits(FLEET, "", {"month_amount": 1000}, ""),
            ledger.store("T1", [_sale(50, 1000, 1500, asn=FLEET,
                                      terminal_time=later + 9500)])),
        # the payment desk's, raised as web/pay.py and server.py raise them (their own
        # wiring, on and off: test_pay_web.py, test_pay_link.py)
        "payment_notification_refused": lambda: ledger.alerts.raise_(
            pay.ALARM_RULE, "P1", "the signature does not verify", what=pay.ALARM),
        "payment_notification_contradicts_the_order": lambda: ledger.alerts.raise_(
            pay.CONTRADICTION_RULE, "P1", "4999 was paid", what=pay.CONTRADICTION),
        "paid_order": lambda: ledger.alerts.raise_(
            server.ORDER_RULE, "P1", "never made", what=server.ORDER_ALARM),
    }


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_fires_on_its_scenario_and_not_on_a_normal_day(station, rule):
    """issue 15: each alert rule fires on its scenario and not on a normal day, and what
    it raised is stored under its rule (the rule a manager switches, the webhook hears)."""
    ledger, service = station
    _normal_day(ledger, service)
    assert _alarms(ledger) == []
    _scenario(ledger, service)[rule]()
    rules = [r for (r,) in ledger.db.execute("SELECT rule FROM alarms")]
    assert rules and set(rules) == {rule}, rules


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_switched_off_raises_nothing_on_its_scenario(station, rule):
    """The manager's switch: a rule off stores no alarm of its rule (and sends none)."""
    ledger, service = station
    _normal_day(ledger, service)
    service.set_alert_rule(MANAGER, rule, False)
    _scenario(ledger, service)[rule]()
    assert [r for (r,) in ledger.db.execute("SELECT rule FROM alarms")] == []


def test_gauge_off_tuned_to_its_polls_in_a_row(station):
    ledger, service = station
    service.set_alert_rule(MANAGER, "gauge_off", True, {"polls": 2})
    poller = _poller(ledger, _closed_port())
    assert asyncio.run(poller.poll()) is False
    assert _alarms(ledger) == []  # one failed poll: not yet
    assert asyncio.run(poller.poll()) is False
    assert asyncio.run(poller.poll()) is False
    assert _alarms(ledger) == [("gauge", "gauge off")]  # at the 2nd, once per outage
    ledger.tanks.set_tank(1, "92", 30000, 3000, 1000)
    poller.store(*_answers([(1, 20_000_000)], []))
    poller.port = _closed_port()
    assert asyncio.run(poller.poll()) is False
    assert asyncio.run(poller.poll()) is False  # a new outage: its 2nd poll again
    assert _alarms(ledger) == [("gauge", "gauge off")] * 2


def test_gauge_variance_and_delivery_differs_tuned(station):
    """The thresholds the tanks check are the rules' parameters: a manager raises them,
    the same losses raise nothing; back to the defaults, they do."""
    ledger, service = station
    _normal_day(ledger, service)
    service.set_alert_rule(MANAGER, "gauge_variance", True, {"day_l": 400, "month_l": 400})
    service.set_alert_rule(MANAGER, "delivery_differs", True, {"permille": 250})
    scenario = _scenario(ledger, service)
    scenario["gauge_variance"]()  # 300 L gone in a night: under 400 L
    scenario["delivery_differs"]()  # 20 % more than ordered: under 25 %
    assert _alarms(ledger) == []
    assert [d["flag"] for d in ledger.tanks.deliveries(1)] == [""]
    service.set_alert_rule(MANAGER, "gauge_variance", True, {"day_l": 100, "month_l": 130})
    service.set_alert_rule(MANAGER, "delivery_differs", True, {"permille": 5})
    scenario["gauge_variance"]()
    ledger.tanks.note(1, int(time.time()) + 60, "Sinopec", 5_000_000, 5_100_000, 150)
    assert sorted(r for (r,) in ledger.db.execute("SELECT rule FROM alarms")) == [
        "delivery_differs", "gauge_variance", "gauge_variance"]  # the day's and the month's
    assert "passes 130 L + 1 % of" in " ".join(a["why"] for a in ledger.journals.alarms())


def test_every_rule_has_a_scenario(station):
    assert set(_scenario(*station)) == set(RULES)


def test_large_sale(station):
    ledger, service = station
    ledger.store("T1", [_sale(1, 900000, 700000)])
    assert _alarms(ledger) == []  # the rule is off until switched on
    _on(service, "large_sale", amount=500000)
    ledger.store("T1", [_sale(2, 100000, 70000), _sale(3, 900000, 700000)])
    assert _alarms(ledger) == [("T1", "large sale")]
    assert "sale 3 of 7000.00" in ledger.journals.alarms()[0]["why"]


def test_frequent_use_of_one_card(station):
    ledger, service = station
    _on(service, "frequent_card", sales=3, minutes=10)
    t0 = int(time.time())
    ledger.store("T1", [_sale(1, 1000, 700, asn=ASN, terminal_time=t0),
                        _sale(2, 1000, 700, asn=ASN, terminal_time=t0 + 200)])
    assert _alarms(ledger) == []
    ledger.store("T1", [_sale(3, 1000, 700, asn=ASN, terminal_time=t0 + 400),
                        _sale(4, 1000, 700, asn=ASN, terminal_time=t0 + 500)])
    assert _alarms(ledger) == [("T1", "frequent card")]  # once for the window
    why = ledger.journals.alarms()[0]["why"]
    assert "3 sales within 10 min" in why and ASN not in why and "0017" in why


def test_one_card_at_two_pumps_at_once(station):
    ledger, service = station
    _on(service, "frequent_card", overlap_s=60)
    t0 = int(time.time())
    ledger.store("T1", [_sale(1, 1000, 700, asn=ASN, terminal_time=t0)])
    ledger.store("T2", [_sale(1, 1000, 700, asn=OTHER, terminal_time=t0 + 10),
                        _sale(2, 1000, 700, asn=ASN, terminal_time=t0 + 3600)])
    assert _alarms(ledger) == []
    ledger.store("T2", [_sale(3, 1000, 700, asn=ASN, terminal_time=t0 + 30)])
    assert _alarms(ledger) == [("T2", "frequent card")]
    assert "at two pumps at once: T1 and T2" in ledger.journals.alarms()[0]["why"]


def test_a_hotlisted_card_presented(station):
    ledger, service = station
    _on(service, "hotlisted_card")
    service.hotlist(MANAGER, ASN)
    ledger.store("T1", [_sale(1, 1000, 700, asn=OTHER), _sale(2, 1000, 700, asn=ASN)])
    assert _alarms(ledger) == [("T1", "hotlisted card")]
    assert ASN not in ledger.journals.alarms()[0]["why"]


def test_a_hotlisted_card_presented_at_a_pump_raises_the_alert(station):
    """CARD_INFO (cardinfo.SEEN): a card on the station's hotlist, or one the pump says it
    refused for its own, raises hotlisted_card, masked, once per card and pump within
    `every_s`; a card refused for another reason and not listed raises nothing."""
    ledger, service = station
    _on(service, "hotlisted_card", every_s=0)
    seen = {"asn": OTHER, "nozzle": 1, "balance": 0}
    cardinfo.answer(ledger, "T1", dict(seen, refused="card_expired"))
    assert _alarms(ledger) == []
    cardinfo.answer(ledger, "T1", dict(seen, refused="card_hotlisted"))  # the pump's list
    service.hotlist(MANAGER, ASN)
    cardinfo.answer(ledger, "T2", dict(seen, asn=ASN))  # the pump's list stale
    assert _alarms(ledger) == [("T1", "hotlisted card"), ("T2", "hotlisted card")]
    first, second = ledger.journals.alarms()
    assert "refused (card_hotlisted)" in first["why"] and "did not say" in second["why"]
    assert OTHER not in first["why"] and ASN not in second["why"]
    assert [r for (r,) in ledger.db.execute("SELECT rule FROM alarms")] == [
        "hotlisted_card"] * 2
    _on(service, "hotlisted_card", every_s=60)
    for _again in range(3):  # the customer trying again: once within a minute
        cardinfo.answer(ledger, "T3", dict(seen, asn=ASN, refused="card_hotlisted"))
    assert len(ledger.journals.alarms()) == 3
    service.set_alert_rule(MANAGER, "hotlisted_card", False)
    cardinfo.answer(ledger, "T4", dict(seen, asn=ASN, refused="card_hotlisted"))
    assert len(ledger.journals.alarms()) == 3


def test_many_wrong_pins(station):
    ledger, service = station
    _on(service, "wrong_pins", count=6)
    events = [{"n": 1, "who": "service-pin", "what": "pin_wrong", "new": 5},
              {"n": 2, "who": "service-pin", "what": "pin_wrong", "new": 6}]
    ledger.alerts.events("P1", events[:1], 0)
    assert _alarms(ledger) == []
    ledger.alerts.events("P1", events, 1)
    ledger.alerts.events("P1", events, 1)  # sent again: raised once
    assert _alarms(ledger) == [("P1", "wrong pins")]


def test_a_pump_offline_for_long(station):
    ledger, service = station
    _on(service, "pump_offline", minutes=10)
    ledger.hello("P1", "1.0", "abcd", 1000)
    ledger.hello("P2", "1.0", "abcd", 1000)
    now = int(time.time())
    ledger.db.execute("UPDATE pumps SET seen = ? WHERE terminal = 'P1'", (now - 300,))
    ledger.db.execute("UPDATE pumps SET seen = ? WHERE terminal = 'P2'", (now + 600,))
    ledger.alerts.tick(now)
    assert _alarms(ledger) == []  # offline, not for long yet
    ledger.alerts.tick(now + 301)
    ledger.alerts.tick(now + 600)
    assert _alarms(ledger) == [("P1", "pump offline")]  # once per outage


def test_hooks_for_other_modules(station):
    ledger, service = station
    assert ledger.alerts.raise_("low_tank", "", "tank 2 below its low level")
    service.set_alert_rule(MANAGER, "gauge_variance", False)
    assert not ledger.alerts.raise_("gauge_variance", "", "tank 1: 200 L")
    [alarm] = ledger.db.execute("SELECT terminal, what, rule, severity FROM alarms").fetchall()
    assert alarm == ("", "low tank", "low_tank", "warning")


def test_a_failed_backup_raises_its_alert(station, tmp_path):
    from pumpside_host.station.backup import BackupError

    ledger, service = station
    with pytest.raises(BackupError):
        service.backup(LOCAL, str(tmp_path / "no such folder" / "x" / "backup.db"))
    [alarm] = ledger.journals.alarms()
    assert alarm["what"] == "backup failed" and alarm["why"].startswith("backup failed: ")


@pytest.mark.parametrize("rule, params, why", [
    ("no_such_rule", {}, "no alert rule"), ("large_sale", {"ceiling": 5}, "no parameter"),
    ("large_sale", {"amount": -1}, "whole number"), ("large_sale", {"amount": "5"},
                                                      "whole number"),
])
def test_a_bad_rule_change_changes_nothing(station, rule, params, why):
    ledger, service = station
    before = ledger.alerts.rules()
    with pytest.raises(ValueError, match=why):
        service.set_alert_rule(MANAGER, rule, True, params)
    assert ledger.alerts.rules() == before


@pytest.mark.parametrize("url", ["ftp://x/", "http://x/\n", "x" * 600])
def test_a_bad_webhook_url_is_refused(station, url):
    ledger, service = station
    with pytest.raises(ValueError, match="webhook URL"):
        service.set_webhook(MANAGER, url)
    assert ledger.alerts.webhook_url() == ""


def test_the_webhook_url_in_the_audit_trail_keeps_no_token(station):
    _ledger, service = station
    service.set_webhook(MANAGER, "https://user:pw@hooks.example/a?token=s3cret")
    record = service.audit(LOCAL)[-1]
    assert record["new"] == "https://hooks.example/a?(set)"
    assert "s3cret" not in json.dumps(record) and "pw" not in record["new"]


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.gate.wait(30)
        self.server.got.append(json.loads(body))
        status = self.server.answers.pop(0) if self.server.answers else 200
        self.send_response(status)
        self.end_headers()
        if status == 200:
            self.server.done.set()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    server.got, server.answers = [], [500]  # the first try fails: retried
    server.gate, server.done = threading.Event(), threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.gate.set()
    server.shutdown()


def test_alerts_go_to_the_webhook_retried_never_blocking_the_ingest(station, hook):
    ledger, service = station
    ledger.alerts.webhook = Webhook(tries=3, waits=(0.01,), timeout=30)
    service.set_webhook(MANAGER, "http://127.0.0.1:%d/hook?token=x" % hook.server_port)
    _on(service, "large_sale", amount=1000)
    # the hook holds its answer: the sale is stored and the alarm kept all the same
    results, _ack = ledger.store("T1", [_sale(1, 5000, 3500)])
    assert results == [[1, "stored", ""]] and _alarms(ledger) == [("T1", "large sale")]
    assert not hook.done.is_set()
    hook.gate.set()
    assert hook.done.wait(30)
    assert len(hook.got) == 2 and hook.got[0] == hook.got[1]  # a 500, then again
    assert {k: hook.got[1][k] for k in ("terminal", "what", "rule", "severity")} == {
        "terminal": "T1", "what": "large sale", "rule": "large_sale", "severity": "warning"}


def test_a_webhook_that_never_answers_drops_the_alert_after_its_tries(station):
    ledger, service = station
    webhook = ledger.alerts.webhook = Webhook(tries=2, waits=(0.01,), timeout=1)
    service.set_webhook(MANAGER, "http://127.0.0.1:9/nothing-listens")
    assert ledger.alerts.raise_("backup_failed", "", "backup to /mnt/usb: no space")
    webhook.queue.join()
    assert (webhook.sent, webhook.dropped) == (0, 1)


# -- the back office --------------------------------------------------------------------------
def _client(ledger, service, role):
    import re
    service.add_operator(LOCAL, role, role, PASSWORD)
    client = TestClient(make_app(ledger, load_secret(ledger.path), service))
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = client.post("/login", data={"csrf": token, "name": role, "password": PASSWORD})
    return client, re.search(r'name="csrf" value="([^"]+)"', answer.text).group(1)


def test_the_reports_page_its_csv_and_print(station):
    ledger, service = station
    _put(ledger, [{"terminal": "T1", "nozzle": 1, "grade": "95", "kind": "FINAL",
                   "card": None, "card_type": 0, "ml": 12345, "amount": 9876,
                   "received": _local(2026, 3, 10, 14)}])
    client, _token = _client(ledger, service, "auditor")
    page = client.get("/reports?kind=month&value=2026-03")
    assert page.status_code == 200 and 'id="chart-hour"' in page.text
    assert "12.345" in page.text and "98.76" in page.text
    answer = client.get("/reports?kind=day&value=2026-03-10&format=csv")
    assert answer.headers["content-type"].startswith("text/csv")
    assert ["grade", "95", "1", "12.345", "98.76"] in list(csv.reader(io.StringIO(
        answer.text)))
    printed = client.get("/reports?kind=range&value=2026-03-01&to=2026-03-31&print=1")
    assert printed.status_code == 200 and "<nav>" not in printed.text \
        and "2026-03-01..2026-03-31" in printed.text
    bad = client.get("/reports?kind=month&value=2026-13")
    assert bad.status_code == 400 and "YYYY-MM" in bad.text


def test_the_reports_page_its_csv_and_print_show_the_fleet_company_totals(station):
    ledger, service = station
    ledger.fleet.bind(ASN, ledger.fleet.add_company("Alpha Logistics", "", "prepaid", 0),
                      "A1")
    at = _local(2026, 3, 10, 14)
    _put(ledger, [{"terminal": "T1", "nozzle": 1, "grade": "95", "kind": kind,
                   "card": card, "card_type": 1, "ml": 12345, "amount": 9876,
                   "received": at} for kind, card in (("FINAL", ASN), ("ESCAPE", ASN),
                                                      ("UNLOCK", ASN), ("FINAL", OTHER))])
    client, token = _client(ledger, service, "auditor")
    page = client.get("/reports?kind=month&value=2026-03").text
    table = page[page.index('id="by-fleet"'):]
    table = table[:table.index("</table>")]
    assert "Alpha Logistics" in table and "24.690" in table and "197.52" in table
    assert "Fleet company totals" in page
    answer = client.get("/reports?kind=day&value=2026-03-10&format=csv")
    assert ["fleet", "Alpha Logistics", "2", "24.690", "197.52"] in list(csv.reader(
        io.StringIO(answer.text)))
    printed = client.get("/reports?kind=year&value=2026&print=1").text
    assert 'id="by-fleet"' in printed and "Alpha Logistics" in printed
    client.post("/lang", data={"csrf": token, "lang": "zh"})
    assert "车队单位汇总" in client.get("/reports?kind=month&value=2026-03").text
    quiet = client.get("/reports?kind=day&value=2026-03-11").text  # no fleet sale that day
    assert 'id="by-fleet"' not in quiet


def test_a_cashier_closes_the_shift_on_the_web_and_prints_it(station):
    ledger, service = station
    ledger.store("T1", [_sale(1, 4000, 2800)])
    client, token = _client(ledger, service, "cashier")
    assert client.get("/reports").status_code == 403
    answer = client.post("/shifts", data={"csrf": token})
    assert answer.status_code == 200 and "shift 1 closed" in answer.text
    page = client.get("/shifts/1")
    assert page.status_code == 200 and "4.000" in page.text and "28.00" in page.text
    assert client.get("/shifts/9").status_code == 404


# -- the engine in the station server: the event-log ingest and the timer ----------------
def test_the_server_raises_wrong_pins_from_the_event_log_and_checks_offline_pumps(
        tmp_path, monkeypatch):
    from test_link import Rig

    from pumpside import events
    from pumpside_host.station import alerts

    monkeypatch.setattr(alerts, "TICK_S", 0.05)
    rig = Rig(tmp_path, card=False)
    service = Service(rig.ledger)
    _on(service, "wrong_pins")
    _on(service, "pump_offline", minutes=5)
    rig.ledger.hello("P9", "1.0", "abcd", 1000)  # a pump heard from an hour ago
    rig.ledger.db.execute("UPDATE pumps SET seen = ? WHERE terminal = 'P9'",
                          (int(time.time()) - 3600,))

    async def script(rig):
        ev = rig.pump.events = events.EventLog(rig.root + "/events")
        ev.open()
        for count in (5, 6):
            ev.append(1_700_000_000 + count, "service-pin", "pin_wrong", None, count)
        await rig.until(lambda: ("P1", "wrong pins") in _alarms(rig.ledger), "wrong pins")
        await rig.until(lambda: ("P9", "pump offline") in _alarms(rig.ledger), "offline")
    rig.run(script)
    assert sorted(_alarms(rig.ledger)) == [("P1", "wrong pins"), ("P1", "wrong pins"),
                                           ("P9", "pump offline")]
    rig.ledger.close()


# -- the command line -------------------------------------------------------------------------
def test_the_command_line_closes_a_shift_reports_and_tunes_rules(station, capsys):
    from pumpside_host import cli

    ledger, _service = station
    ledger.store("T1", [_sale(1, 2500, 1750)])
    db = ["--db", ledger.path]
    assert cli.main(["station", "shift-close", "--as", "carol"] + db) == 0
    out = capsys.readouterr().out
    assert "SHIFT 1  closed by local:carol" in out and "sales 1  litres 2.500" in out
    assert cli.main(["station", "shift-report"] + db) == 0
    assert capsys.readouterr().out == out
    assert cli.main(["station", "report", "--range", "2000-01-01", "2099-12-31"] + db) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert ["grade", "92", "1", "2.500", "17.50"] in rows
    assert cli.main(["station", "alert-rule", "--rule", "large_sale", "--on", "--set",
                     "amount=5000"] + db) == 0
    assert ledger.alerts.rules()["large_sale"] == {"enabled": True, "params": {
        "amount": 5000}, "severity": "warning"}
    capsys.readouterr()
    for bad, why in ((["report"], "give one of"), (["report", "--month", "2026-13"], "YYYY-MM"),
                     (["alert-rule", "--rule", "large_sale", "--set", "amount=x"],
                      "NAME=WHOLE_NUMBER"), (["shift-report", "--shift", "7"], "no shift 7"),
                     (["alert-webhook", "--url", "ftp://x"], "webhook URL")):
        assert cli.main(["station"] + bad + db) == 2
        assert why in capsys.readouterr().err
    assert ledger.alerts.rules()["large_sale"]["params"] == {"amount": 5000}
