"""End to end: two virtual pumps sell from two tanks of the bench's tank gauge (a
Veeder-Root TLS-3xx simulator over TCP); the station polls it, sees the levels fall by
what was sold, records a delivery from the gauge's report joined with its note; then
simulated days (the gauge's clock moved, sales fed to the ledger, no sleeping) with a
slow leak in one tank, raised by the reconciliation on the day it should be."""
import asyncio
import calendar
import datetime
import time

import pytest

from pumpside_host.bench import Bench
from pumpside_host.bench.gauge import GaugeSim, SimTank
from pumpside_host.station.gauge import GaugePoller
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationThread
from pumpside_host.station.service import Actor, Service

from .helpers import provisioned, sale, saw, wait_until

pytestmark = pytest.mark.e2e


def test_two_tanks_polled_a_delivery_and_a_slow_leak(make_pump, tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    service, root = Service(ledger), Actor.local("e2e")
    service.set_price(root, "92", 7590)
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, second=0,
                                                      microsecond=0)
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
    for day in range(12):
        midnight = calendar.timegm((first + datetime.timedelta(days=day)).timetuple())
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
    days = ledger.tanks.days(2, first.strftime("%Y-%m"))
    assert len(days) == 12 and all(abs(d["variance_ml"]) <= 10 for d in days[1:])
    assert not [a for a in ledger.journals.alarms()
                if a["what"] in ("gauge alarm", "tank variance jump", "gauge off")]
    sim.stop()
    ledger.close()
    assert time.time()  # the simulated month took no sleeping
