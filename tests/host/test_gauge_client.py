"""The station's tank-gauge client and poller (station/gauge.py) against the bench's
simulator and against a fake console that answers whatever a test wants: each bad answer
is a clear GaugeError, a station alarm (once per outage), never a crash, and the
station's loop keeps running while the gauge is silent."""
import asyncio
import socket
import threading

import pytest

from pumpside_host import veeder
from pumpside_host.bench.gauge import GaugeSim, SimTank
from pumpside_host.station import gauge
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.service import Actor, Service

GOOD = veeder.encode_inventory(0, (2026, 3, 1, 6, 0), [veeder.Inventory(
    1, "1", 0, 1000.0, 1001.0, 29000.0, 66.7, 0.0, 14.0, 0.0)])


class FakeConsole:
    """Answers every command with `reply` and hangs up (bytes; None: says nothing;
    "close": hangs up at once)."""

    def __init__(self, reply):
        self.reply = reply
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(16)
                    if self.reply == "close":
                        continue
                    if self.reply is None:
                        conn.recv(16)  # silent: hold until the client hangs up
                    else:
                        conn.sendall(self.reply)  # then hang up
                except OSError:
                    pass

    def close(self):
        self.server.close()


def _summed(text):
    body = b"\x01" + text + b"&&"
    return body + b"%04X" % veeder.checksum(body) + b"\x03"


BAD = {
    "garbage": (b"\xde\xad\xbe\xef garbage\x03", "does not start with SOH"),
    "truncated": (GOOD[:40], "mid-answer"),
    "wrong checksum": (GOOD[:-5] + b"0000\x03", "wrong checksum"),
    "unknown command": (b"\x019999FF1B\x03", "did not understand"),
    "other function": (_summed(b"i205002603010600"), "answer to function 205"),
    "bad float": (_summed(b"i20100260301060001" + b"1000007" + b"XYZ00000" * 7),
                  "not an 8-hex-digit IEEE float"),
    "few fields": (_summed(b"i20100260301060001" + b"1000002" + b"3F800000" * 2), "fewer than"),
    "not ascii": (b"\x01i201\xff\xfe&&0000\x03", "wrong checksum|not ASCII"),
    "closed": ("close", "without answering"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_client_gives_a_clear_error_for_each_bad_answer(case):
    reply, why = BAD[case]
    console = FakeConsole(reply)
    try:
        with pytest.raises(veeder.GaugeError, match=why):
            gauge.ask("127.0.0.1", console.port, veeder.INVENTORY, timeout=2)
        with pytest.raises(veeder.GaugeError, match=why):
            asyncio.run(gauge.ask_async("127.0.0.1", console.port, veeder.INVENTORY,
                                        timeout=2))
    finally:
        console.close()


def test_a_silent_gauge_times_out_and_an_absent_one_is_unreachable():
    console = FakeConsole(None)
    try:
        with pytest.raises(veeder.GaugeError, match="did not answer within"):
            gauge.ask("127.0.0.1", console.port, veeder.INVENTORY, timeout=0.3)
        with pytest.raises(veeder.GaugeError, match="did not answer within"):
            asyncio.run(gauge.ask_async("127.0.0.1", console.port, veeder.INVENTORY,
                                        timeout=0.3))
    finally:
        console.close()
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(veeder.GaugeError, match="cannot be reached"):
        gauge.ask("127.0.0.1", port, veeder.INVENTORY, timeout=1)


def test_the_address_is_checked():
    assert gauge.parse_address("10.0.0.5:4001") == ("10.0.0.5", 4001)
    for bad in ("nohost", ":80", "host:", "host:99999", "host:x"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            gauge.parse_address(bad)


@pytest.fixture
def station(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    service = Service(ledger)
    root = Actor.local("setup")
    service.add_terminal(root, "T1")
    service.set_price(root, "92", 8000)
    service.set_nozzle(root, "T1", 1, "92")
    service.set_tank(root, 1, "92", 30000, 3000, 1000)
    service.feed_tank(root, 1, "T1", 1)
    yield ledger
    ledger.close()


def _gauge_alarms(ledger):
    return [a for a in ledger.journals.alarms() if a["terminal"] == "gauge"]


def test_the_poller_alarms_once_per_outage_and_reads_again_after(station):
    console = FakeConsole(BAD["garbage"][0])
    poller = gauge.GaugePoller(station, "127.0.0.1", console.port, timeout_s=1)
    try:
        assert asyncio.run(poller.poll()) is False
        assert asyncio.run(poller.poll()) is False
        alarms = _gauge_alarms(station)
        assert [a["what"] for a in alarms] == [gauge.OFF]
        assert "does not start with SOH" in alarms[0]["why"]
        assert poller.up is False and poller.failures == 2
    finally:
        console.close()
    sim = GaugeSim([SimTank(1, "1", 30000, 18000)]).start()
    try:
        poller.port = sim.port
        assert asyncio.run(poller.poll()) is True
        reading = station.tanks.last_reading(1)
        assert (reading["volume_ml"], reading["height_mm"], reading["temp_c10"],
                reading["source"]) == (18_000_000, 1200, 150, "gauge")
        sim.stop()
        assert asyncio.run(poller.poll()) is False  # a second outage: a second alarm
        assert [a["what"] for a in _gauge_alarms(station)] == [gauge.OFF, gauge.OFF]
    finally:
        sim.stop()


def test_a_silent_gauge_never_stalls_the_stations_loop(station):
    """While the poller waits on a gauge that says nothing, the loop runs other work
    (the terminals' server's): counted, not timed."""
    console = FakeConsole(None)
    poller = gauge.GaugePoller(station, "127.0.0.1", console.port, timeout_s=0.5)
    ticks = []

    async def other_work():
        while True:
            ticks.append(1)
            await asyncio.sleep(0.01)

    async def main():
        worker = asyncio.create_task(other_work())
        ok = await poller.poll()
        worker.cancel()
        return ok

    try:
        assert asyncio.run(main()) is False
    finally:
        console.close()
    assert len(ticks) > 5  # the loop went on around the poll
    assert "did not answer" in _gauge_alarms(station)[0]["why"]


def test_console_alarms_are_raised_once_while_active(station):
    sim = GaugeSim([SimTank(1, "1", 30000, 18000)]).start()
    poller = gauge.GaugePoller(station, "127.0.0.1", sim.port)
    try:
        sim.set(1, water_mm=80)
        asyncio.run(poller.poll())
        asyncio.run(poller.poll())
        sim.leak(1, 5.0)
        asyncio.run(poller.poll())
    finally:
        sim.stop()
    whys = [a["why"] for a in _gauge_alarms(station) if a["what"] == "gauge alarm"]
    assert whys == ["tank 1: high water alarm (console code 03)",
                    "tank 1: leak alarm (console code 02)"]


@pytest.mark.parametrize("zone, when, day", [
    # 20:00 on 1 March at UTC+8 is 12:00 UTC: read as UTC it would be 04:00 on the 2nd
    ("Asia/Shanghai", (2026, 3, 1, 20, 0), "2026-03-01"),
    # 00:30 on 1 March at UTC-5 is 05:30 UTC: read as UTC it would be 19:30 on the 28th
    ("America/New_York", (2026, 3, 1, 0, 30), "2026-03-01"),
    # the hour before midnight on the day daylight saving starts (a 23-hour day)
    ("America/New_York", (2026, 3, 8, 23, 30), "2026-03-08"),
])
def test_the_consoles_delivery_times_are_read_in_the_stations_time_zone(
        station, monkeypatch, zone, when, day):
    """A console prints its own wall clock, set to the site's local time: a delivery it
    reports at `when` is that local time (days.py's zone), on that local day."""
    import time

    from pumpside_host.station import days

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        Service(station).set_tank(Actor.local("t"), 1, "92", 30000, 3000, 1000)
        start = (when[0], when[1], when[2], when[3], when[4] - 30) if when[4] >= 30 else \
            (when[0], when[1], when[2], when[3] - 1, when[4] + 30)
        report = veeder.decode(veeder.encode_deliveries(0, when, [(1, "1", [veeder.Delivery(
            1, "1", start, when, 1000.0, 1000.0, 0.0, 15.0, 6000.0, 6000.0, 0.0, 15.0, 66.7,
            400.0)])]), veeder.DELIVERY, 0)
        inventory = veeder.decode(veeder.encode_inventory(0, when, []), veeder.INVENTORY, 0)
        gauge.GaugePoller(station, "127.0.0.1", 1).store(
            inventory, deliveries=report, at=days.local(*when))
        [delivery] = station.tanks.deliveries(1)
        assert delivery["at"] == days.local(*when)
        assert days.day_of(delivery["at"]) == day
        assert time.strftime("%H:%M", time.localtime(delivery["at"])) == "%02d:%02d" % when[3:]
    finally:
        monkeypatch.undo()
        time.tzset()
