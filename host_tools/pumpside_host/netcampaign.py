"""Network-fault campaign: the pump sells while its link to the station is broken in
every way a network breaks, and the station's ledger must end equal to the bench's
truth, each sale exactly once.

Between the firmware (unix port) and the station sits the bench's network (a TCP proxy,
bench/network.py) that, on each connection, injects one fault at a random moment: a drop
at a frame boundary, a drop in the middle of a frame, a frame delivered twice, two frames
swapped; now and then the station itself restarts. The pump keeps selling (short attended
sales) all along. The link is plain TCP, set so (station_tls=0, the station plain): the
proxy's faults act on the protocol's frames, which TLS would hide (under TLS each of them
only ends the connection, as the drops do).
Prints `net_faults`, `sales_lost`, `sales_doubled`.
"""
import random
import time

from .bench import Bench
from .bench.network import Network
from .station.ledger import Ledger
from .station.server import StationThread
from .vboard import DEFAULT_CONFIG, VirtualPump


def run(faults=200, seed=1, workdir=None, log=None):
    import tempfile

    rng = random.Random(seed)
    tmp = tempfile.TemporaryDirectory()
    ledger = Ledger(tmp.name + "/station.db")
    key = ledger.add_terminal("P1")
    # frames flow: faults come fast
    station = StationThread(ledger, heartbeat_s=0.2, plain=True).start()
    proxy = Network(station.port, rng)
    config = dict(DEFAULT_CONFIG, station_addr="127.0.0.1:%d" % proxy.port, terminal_id="P1",
                  terminal_key=key.hex(), done_show_ms=0, settle_ms=150, station_tls=0)
    pump = VirtualPump(config=config, bench=Bench(fast_lpm=60.0))
    deliveries = {}
    restarts = 0
    started = time.monotonic()
    try:
        pump.start()
        pump.wait_state("IDLE", 15)
        while proxy.total() + restarts < faults:
            preset = rng.choice((10, 20, 30))  # hundredths of a litre
            pump.bench.press("V%dE" % preset)
            sale = pump.wait_event("authorized", 10)["sale"]
            pump.bench.lift()
            delivery = pump.wait_event("delivery", 30)
            pump.bench.hang_up()
            deliveries[sale] = delivery["ml"]
            if rng.random() < 0.05:  # the station restarts (same database, same port)
                station.stop()
                time.sleep(rng.uniform(0.0, 0.5))
                station = StationThread(ledger, station.port, heartbeat_s=0.2,
                                        plain=True).start()
                restarts += 1
            if log and len(deliveries) % 20 == 0:
                log("sales %d faults %d restarts %d" % (len(deliveries), proxy.total(),
                                                        restarts))
        proxy.heal()  # everything must drain now

        def drained():
            synced = [f for n, f in pump.seen if n == "synced"]
            return synced and synced[-1]["unsynced"] == 0 and \
                len(ledger.sales("P1")) >= len(deliveries)

        deadline = time.monotonic() + 120
        while not drained() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        pump.stop()
        station.stop()
        proxy.close()
    rows = ledger.sales("P1")
    per_sale = {}
    for r in rows:
        per_sale.setdefault(r["sale"], []).append(r)
    lost = sum(1 for s in deliveries if s not in per_sale)
    doubled = sum(1 for s, sale_rows in per_sale.items() if len(sale_rows) > 1)
    wrong = sum(1 for s, ml in deliveries.items() if s in per_sale and
                per_sale[s][0]["ml"] != ml)
    phantom = sum(1 for s in per_sale if s not in deliveries)
    ledger.close()
    tmp.cleanup()
    return {"net_faults": proxy.total() + restarts, "sales_lost": lost,
            "sales_doubled": doubled, "sales_wrong_volume": wrong, "sales_phantom": phantom,
            "sales": len(deliveries), "station_restarts": restarts,
            "faults_by_kind": dict(proxy.faults), "wall_s": round(time.monotonic() - started, 1)}


FIGURES = ("net_faults", "sales_lost", "sales_doubled")
MUST_BE_ZERO = ("sales_lost", "sales_doubled", "sales_wrong_volume", "sales_phantom")
