"""`pumpside run`: the virtual pump on the MicroPython unix port, a sale to watch live.

A simulated customer keys a volume preset, lifts the nozzle and holds the trigger; the
pump's display is redrawn as the firmware shows it, with the bench's true volume beside.
The pump is linked to a station (a temporary database) whose back office is served on
127.0.0.1:8080 (another free port if that one is taken): its address and a demo
administrator's one-time password are printed first.
"""
import sys
import tempfile
import time
from pathlib import Path

from .bench import Bench
from .vboard import DEFAULT_CONFIG, VirtualPump


class Screen:
    def __init__(self, out=sys.stdout):
        self.out = out
        self.tty = out.isatty()
        self.lines = []
        self.bench = None
        self._drawn = 0

    def show(self, lines):
        self.lines = list(lines)
        self.draw()

    def draw(self, status=""):
        width = 36
        rows = ["+" + "-" * width + "+"]
        for line in self.lines:
            rows.append("| " + _pad(line, width - 2) + " |")
        rows.append("+" + "-" * width + "+")
        if status:
            rows.append(status)
        if self.tty:
            if self._drawn:
                self.out.write("\x1b[%dF\x1b[J" % self._drawn)
            self._drawn = len(rows)
            self.out.write("\n".join(rows) + "\n")
        else:
            self.out.write(" | ".join(self.lines) + ("   " + status if status else "") + "\n")
        self.out.flush()


def _pad(text, width):
    # CJK characters take two terminal columns
    cols = sum(2 if ord(c) > 0x2E7F else 1 for c in text)
    return text + " " * max(0, width - cols)


def _station(workdir):
    """The demo's station with its back office: (StationThread, pump config, files, web)."""
    from .console import WEB_PORT, _free, demo_administrator, demo_tanks
    from .station.ledger import Ledger
    from .station.server import StationThread
    from .station.service import Actor, Service
    from .tech import station_pin

    ledger = Ledger(str(Path(workdir) / "station.db"))
    service, actor = Service(ledger), Actor.local("demo")
    key = service.add_terminal(actor, "PUMP1")
    service.set_price(actor, DEFAULT_CONFIG["grade"], DEFAULT_CONFIG["price"])
    name, password = demo_administrator(service, actor)
    gauge = demo_tanks(service, actor, DEFAULT_CONFIG["grade"], "PUMP1")
    station = StationThread(ledger, heartbeat_s=2, web_port=_free(WEB_PORT),
                            gauge=gauge.address(), gauge_every_s=10).start()
    station.gauge_sim = gauge  # run_demo feeds it the bench and stops it
    pinned, files = station_pin(ledger.path)
    config = dict(DEFAULT_CONFIG, station_addr="127.0.0.1:%d" % station.port,
                  terminal_id="PUMP1", terminal_key=key.hex(), **pinned)
    web = {"address": "http://127.0.0.1:%d/" % station.web_port, "name": name,
           "password": password, "gauge": gauge.address()}
    return station, config, files, web


def run_demo(litres=20, lpm=40.0, keep=False):
    from .console import web_banner

    with tempfile.TemporaryDirectory(prefix="pumpside-demo-") as tmp:
        station, config, files, web = _station(tmp)
        print(web_banner(web))
        try:
            return _demo(litres, lpm, keep, config, files, station)
        finally:
            station.stop()
            station.gauge_sim.stop()


def _demo(litres, lpm, keep, config, files, station):
    screen = Screen()
    bench = Bench(fast_lpm=lpm, on_screen=screen.show)
    station.gauge_sim.feed(1, bench)  # what the pump sells leaves tank 1
    with VirtualPump(config=config, bench=bench, files=files, station=station) as pump:
        print("pumpside virtual pump: firmware on the MicroPython unix port (pid %d), bench "
              "on 127.0.0.1:%d, %g L/min" % (pump.proc.pid, bench.port, lpm))
        pump.wait_state("IDLE", 10)
        time.sleep(0.5)
        bench.press("V" + str(litres * 100) + "E")  # keyed in hundredths of a litre
        pump.wait_event("authorized")
        time.sleep(0.5)
        bench.lift()
        while True:
            try:
                delivery = pump.wait_event("delivery", timeout=0.5)
                break
            except TimeoutError:
                screen.draw("bench truth %.1f ml" % bench.truth_ml())
        bench.hang_up()
        time.sleep(0.3)
        screen.draw("bench truth %.1f ml" % bench.truth_ml())
        print("delivery: %(ml)d ml, %(amount)d minor units, stop %(stop)s, pulses %(pulses)d"
              % delivery)
        if keep:
            print("pump keeps running; Ctrl-C to stop")
            while pump.proc.poll() is None:
                time.sleep(1)
    return 0
