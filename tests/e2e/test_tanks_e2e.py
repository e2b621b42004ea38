"""End to end (issue 15's "Done when"): two virtual pumps sell from two tanks of the
bench's tank gauge (a Veeder-Root TLS-3xx simulator over TCP); the station polls it, sees
the levels fall by what was sold, records a delivery from the gauge's report joined with
its note; a cashier closes the shift and its report matches the sales; then simulated
days (the gauge's clock moved, sales fed to the ledger, no sleeping) with a slow leak in
one tank, raised by the reconciliation on the day it should be; the next shift holds
those days' sales; a day and a month report equal a recomputation from the raw ledger
rows, and the simulated month's report shows each tank's stock and the leak's variance.
(Each alert rule on its scenario and not on a normal day: tests/host/
test_station_reports.py, test_every_rule_fires_on_its_scenario_and_not_on_a_normal_day.)"""
import asyncio
import datetime
import json
import time

import pytest

from pumpside_host.bench import Bench
from pumpside_host.bench.gauge import GaugeSim, SimTank
from pumpside_host.station import days, reports
from pumpside_host.station.gauge import GaugePoller
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationThread
from pumpside_host.station.service import Actor, Service

from .helpers import provisioned, sale, saw, wait_until

pytestmark = pytest.mark.e2e


def _recomputed(ledger, start, end):
    """A report's totals, grades and pumps from the raw ledger rows, in Python."""
    out = {}
    for terminal, kind, ml, amount, record, received in ledger.db.execute(
            "SELECT terminal, kind, ml, amount, record, received FROM sales"):
        if start <= received < end and kind in ("FINAL", "ESCAPE"):
            grade = json.loads(record).get("grade") or ""
            for key in (("total", ""), ("grade", grade), ("pump", terminal)):
                acc = out.setdefault(key, [0, 0, 0])
                acc[0] += 1
                acc[1] += ml
                acc[2] += amount
    return out


def _figures(rep):
    out = {("total", ""): [rep["totals"][k] for k in ("count", "ml", "amount")]}
    for name in ("grade", "pump"):
        for row in rep[name]:
            out[(name, row["key"])] = [row["count"], row["ml"], row["amount"]]
    return out


def test_two_tanks_polled_a_delivery_and_a_slow_leak(make_pump, tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    service, root = Service(ledger), Actor.local("e2e")
    service.set_price(root, "92", 7590)
    # the console's clock: local wall-clock time, as the station reads it (gauge.py)
    now = datetime.datetime.now().replace(second=0, microsecond=0)
    sim = GaugeSim([SimTank(1, "1", 30000, 18000), SimTank(2, "2", 30000, 12000)],
                   start=now).start()
    keys = {}
    for number, name in ((1, "P1"), (2, "P2")):
        keys[name] = service.add_terminal(root, name)
        service.set_nozzle(root, name, 1, "92")
        service.set_tank(root, number, "92", 30000, 3000, 1000)
        service.feed_tank(root, number, name, 1)
    station = StationThread(ledger, heartbeat_s=1, gauge=sim.address(),
                            gauge_every_s=0.2).start()

    def on_station(call):
        """An operator's call made in the station's loop (as the back office makes it)."""
        async def run():
            return call()
        return asyncio.run_coroutine_threadsafe(run(), station.loop).result(10)

    pumps = []
    try:
        for number, name in ((1, "P1"), (2, "P2")):
            bench = Bench()
            sim.feed(number, bench)
            cfg, files = provisioned(ledger, station.port, name, keys[name])
            pumps.append(make_pump(bench=bench, files=files, **cfg))
            wait_until(lambda vp=pumps[-1]: saw(vp, "link_up"), 10, "the link of " + name)
        sale(pumps[0], "V100E", hang_up=True)  # 1.00 L from tank 1
        sale(pumps[1], "V150E", hang_up=True)  # 1.50 L from tank 2
        wait_until(lambda: len(ledger.sales()) == 2, 10, "both sales at the station")

        def level(number):
            reading = ledger.tanks.last_reading(number)
            return reading and reading["volume_ml"]

        sold = {s["terminal"]: s["ml"] for s in ledger.sales()}
        assert sold == {"P1": 1000, "P2": 1500}
        # the gauge sees what the meters saw (the bench's true volume: within a pulse)
        wait_until(lambda: level(1) is not None and abs(level(1) - 17_999_000) <= 20
                   and abs(level(2) - 11_998_500) <= 20, 10, "the gauge's levels to fall")
        # a tanker drops 5,000 L into tank 2; its note is typed in
        sim.deliver(2, 5000, temperature=17.0)
        on_station(lambda: service.delivery_note(root, 2, "Sinopec", 5_000_000, 5_000_000,
                                                 170))
        wait_until(lambda: any(d["gauge_ml"] for d in ledger.tanks.deliveries(2)), 10,
                   "the gauge's delivery report")
        [delivery] = ledger.tanks.deliveries(2)
        assert delivery["supplier"] == "Sinopec" and delivery["flag"] == ""
        assert abs(delivery["gauge_ml"] - 5_000_000) <= 10
        wait_until(lambda: level(2) > 16_990_000, 10, "the level after the delivery")
        polls = station.server.poller.polls
        assert polls >= 3 and station.server.poller.up is True
        # the cashier closes the shift: its report is the sales the station holds
        shift = on_station(lambda: service.close_shift(Actor("carol", "cashier")))
        held = ledger.sales()
        assert shift["totals"] == {"count": 2, "ml": 2500,
                                   "amount": sum(x["amount"] for x in held)}
        assert [(r["key"], r["ml"]) for r in shift["grade"]] == [("92", 2500)]
        assert all((n["diff_ml"], n["diff_amount"]) == (0, 0) for n in shift["nozzles"])
    finally:
        station.stop()
        for vp in pumps:
            vp.stop()
    assert not [a for a in ledger.journals.alarms() if a["terminal"] == "gauge"]

    # simulated days from the first of next month: 500 L a day from each tank, tank 1
    # leaking 20 L a day (0.83 L/h: under the console's own leak test). The month's
    # rule: |-20 n| > 130 + 1 % of 500 n  <=>  n > 8.67: the 9th day.
    first = (now.replace(day=1, hour=0, minute=0) + datetime.timedelta(days=32)).replace(day=1)
    sim.leak(1, 20 / 24)
    sim.now = first
    clock = [0]
    poller = GaugePoller(ledger, "127.0.0.1", sim.port, clock=lambda: clock[0])
    seq = {"P1": 100, "P2": 100}
    for day in range(12):  # the station's local days (days.py), as the reports'
        midnight = days.midnight(first.year, first.month, first.day + day)
        for number, name in ((1, "P1"), (2, "P2")):
            seq[name] += 1
            ledger.store(name, [{"seq": seq[name], "type": "FINAL", "sale": seq[name],
                                 "ml": 500_000, "amount": 500 * 7590, "nozzle": 1,
                                 "time": midnight + 12 * 3600}], ledger.journals.current(name))
            sim.draw(number, 500)
        sim.advance(23 * 3600)
        clock[0] = midnight + 23 * 3600
        assert asyncio.run(poller.poll()) is True
        sim.advance(3600)  # to the next midnight
    leak = [a for a in ledger.journals.alarms() if a["what"] == "tank variance"]
    assert len(leak) == 1 and leak[0]["why"].startswith(
        "tank 1 (92) %s" % (first + datetime.timedelta(days=8)).strftime("%Y-%m-%d"))
    rows = ledger.tanks.days(2, first.strftime("%Y-%m"))
    assert len(rows) == 12 and all(abs(d["variance_ml"]) <= 10 for d in rows[1:])
    assert not [a for a in ledger.journals.alarms()
                if a["what"] in ("gauge alarm", "tank variance jump", "gauge off")]
    # the next shift holds the simulated days' sales
    second = service.close_shift(Actor("carol", "cashier"))
    assert second["totals"]["count"] == 24 and second["totals"]["ml"] == 24 * 500_000
    assert second["totals"]["amount"] == 24 * 500 * 7590
    # a day's and a month's report equal a recomputation from the raw rows (booked when
    # the station stored them: today, this month)
    auditor = Actor("audrey", "auditor")
    today = days.day_of(time.time())
    for period in (("day", today), ("month", today[:7])):
        rep = service.report(auditor, *period)
        assert _figures(rep) == _recomputed(ledger, *reports.period(*period)[:2])
        assert rep["totals"]["count"] > 0
    # the simulated month's stock: what the pumps drew by their bills' time, the leak
    stock = {t["tank"]: t for t in service.report(auditor, "month",
                                                   first.strftime("%Y-%m"))["stock"]}
    # (a live sale billed in the second of the live phase's last reading falls in the
    # month's first day: it adds to its sales and its variance alike)
    assert stock[1]["days"] == stock[2]["days"] == 12
    late = {n: stock[n]["sales_ml"] - 12 * 500_000 for n in (1, 2)}
    assert late[1] in (0, 1000) and late[2] in (0, 1500)
    # from the first reading (23 h in: 19.17 L leaked) to the last: 239.17 L leaked
    assert abs(stock[1]["variance_ml"] - late[1] + 239_167) <= 100
    assert abs(stock[2]["variance_ml"] - late[2]) <= 100
    sim.stop()
    ledger.close()
    assert time.time()  # the simulated month took no sleeping
