"""Network-fault campaign: the pump sells while its link to the station is broken in
every way a network breaks, and the station's ledger must end equal to the bench's
truth, each sale exactly once.

Between the firmware (unix port) and the station sits a TCP proxy that, on each
connection, injects one fault at a random moment: a drop at a frame boundary, a drop in
the middle of a frame, a frame delivered twice, two frames swapped; now and then the
station itself restarts. The pump keeps selling (short attended sales) all along. The
link is plain TCP, set so (station_tls=0, the station plain): the proxy's faults act on
the protocol's frames, which TLS would hide (under TLS each of them only ends the
connection, as the drops do).
Prints `net_faults`, `sales_lost`, `sales_doubled`.
"""
import random
import socket
import threading
import time

from .bench import Bench
from .station.ledger import Ledger
from .station.server import StationThread
from .vboard import DEFAULT_CONFIG, VirtualPump

FAULTS = ("drop_boundary", "drop_mid", "duplicate", "reorder")


class FaultyProxy:
    """Loopback TCP proxy: terminal <-> station, one fault per connection."""

    def __init__(self, upstream_port, rng):
        self.upstream = upstream_port
        self.rng = rng
        self.lock = threading.Lock()
        self.faults = {f: 0 for f in FAULTS}
        self.enabled = True
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.running = True
        threading.Thread(target=self._accept, daemon=True, name="proxy").start()

    def total(self):
        with self.lock:
            return sum(self.faults.values())

    def heal(self):
        """Inject no more faults: connections from now on pass untouched."""
        with self.lock:
            self.enabled = False

    def close(self):
        self.running = False
        self.sock.close()

    def _accept(self):
        while self.running:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()  # the station is down: the terminal sees a refused session
                continue
            with self.lock:
                fault = self.rng.choice(FAULTS) if self.enabled else None
                # where: after how many whole frames (boundary faults), or at which byte
                direction = self.rng.choice(("up", "down"))
                nth = self.rng.randint(1, 6)
            pair = {"fault": fault, "dir": direction, "nth": nth, "socks": (client, server),
                    "done": False}
            threading.Thread(target=self._pump, args=(pair, client, server, "up"),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(pair, server, client, "down"),
                             daemon=True).start()

    def _hit(self, pair):
        with self.lock:
            if not pair["done"]:
                pair["done"] = True
                self.faults[pair["fault"]] += 1

    def _kill(self, pair):
        for s in pair["socks"]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _pump(self, pair, src, dst, direction):
        buf = b""
        frames = 0
        held = None
        mine = pair["fault"] is not None and pair["dir"] == direction
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if not mine or pair["done"]:
                    dst.sendall(data)
                    continue
                buf += data
                while len(buf) >= 2 and len(buf) >= 2 + ((buf[0] << 8) | buf[1]):
                    n = 2 + ((buf[0] << 8) | buf[1])
                    frame, buf = buf[:n], buf[n:]
                    frames += 1
                    fault = pair["fault"]
                    if frames < pair["nth"] or pair["done"]:
                        dst.sendall(frame)
                    elif fault == "drop_boundary":
                        self._hit(pair)
                        self._kill(pair)
                        return
                    elif fault == "drop_mid":
                        dst.sendall(frame[:max(1, len(frame) // 2)])
                        self._hit(pair)
                        self._kill(pair)
                        return
                    elif fault == "duplicate":
                        dst.sendall(frame + frame)
                        self._hit(pair)
                    elif fault == "reorder":
                        if held is None:
                            held = frame
                        else:
                            dst.sendall(frame + held)
                            self._hit(pair)
                if pair["done"] and buf:
                    dst.sendall(buf)
                    buf = b""
        except OSError:
            pass
        self._kill(pair)


def run(faults=200, seed=1, workdir=None, log=None):
    import tempfile

    rng = random.Random(seed)
    tmp = tempfile.TemporaryDirectory()
    ledger = Ledger(tmp.name + "/station.db")
    key = ledger.add_terminal("P1")
    # frames flow: faults come fast
    station = StationThread(ledger, heartbeat_s=0.2, plain=True).start()
    proxy = FaultyProxy(station.port, rng)
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
