"""The bench's automatic tank gauge: a Veeder-Root TLS-3xx console as its network option
serves the serial interface's computer format over TCP (codec: pumpside_host/veeder.py).

Tanks are upright cylinders (height proportional to volume: the station's strapping
table for them is [[0, 0], [height_mm, capacity_l]]). A tank's level falls as the virtual
pumps fed from it dispense (`feed(tank, bench)`: the bench's true metered volume, read at
each answer) or as `draw` says, rises on `deliver`, and loses `leak_lph` litres an hour of
the gauge's own clock (`advance` moves that clock: simulated days without sleeping).
Water and temperature are set on demand. Faults on demand (`fault`): "off" (the
connection is closed unanswered), "silent" (no answer: the client times out), "garbage",
"badsum", "truncated", "unknown" (9999FF1B to everything).

TC volume is the console's own: volume x (1 - coefficient x (temperature - 15)), with
the coefficient its setup holds for the product (0.00120 /degC gasoline, 0.00083 diesel).
"""
import datetime
import socket
import threading

from .. import veeder

COEFFICIENT = {"gasoline": 0.00120, "diesel": 0.00083}


class SimTank:
    def __init__(self, number, product, capacity_l, volume_l, height_mm=2000,
                 kind="gasoline", temperature=15.0, low_l=None):
        self.number = number
        self.product = product  # the console's one-character product code
        self.capacity_l = float(capacity_l)
        self.volume_l = float(volume_l)
        self.height_mm_full = height_mm
        self.kind = kind
        self.temperature = temperature
        self.water_mm = 0.0
        self.leak_lph = 0.0
        self.low_l = low_l
        self.deliveries = []  # veeder.Delivery, oldest first
        self.feeds = []  # [bench, metered ml already taken]

    def height(self, volume=None):
        volume = self.volume_l if volume is None else volume
        return volume * self.height_mm_full / self.capacity_l

    def tc(self, volume=None):
        volume = self.volume_l if volume is None else volume
        return volume * (1 - COEFFICIENT[self.kind] * (self.temperature - 15.0))


class GaugeSim:
    def __init__(self, tanks, start=None):
        self.tanks = {t.number: t for t in tanks}
        self.lock = threading.RLock()
        # its clock: a wall clock in local time, as a console's is set (unless told)
        self.now = start or datetime.datetime.now().replace(second=0, microsecond=0)
        self.fault = None
        self.asked = []  # every command received (bytes)
        self.server = None
        self.port = None
        self._threads = []

    # -- the tanks (tests and the demo drive these) ----------------------------------------
    def feed(self, number, bench):
        """Tank `number` feeds the pump on `bench`: what its meter delivers leaves it."""
        with self.lock:
            self.tanks[number].feeds.append([bench, bench.truth_ml()])

    def _take_feeds(self):
        for tank in self.tanks.values():
            for feed in tank.feeds:
                metered = feed[0].truth_ml()
                tank.volume_l = max(0.0, tank.volume_l - (metered - feed[1]) / 1000.0)
                feed[1] = metered

    def draw(self, number, litres):
        with self.lock:
            tank = self.tanks[number]
            tank.volume_l = max(0.0, tank.volume_l - litres)

    def deliver(self, number, litres, temperature=None, minutes=30):
        """A tanker's drop: the level rises by `litres`; the delivery report (I202) gets
        its record. `temperature`: the tank's after mixing (None: as it was)."""
        with self.lock:
            self._take_feeds()
            tank = self.tanks[number]
            start = (tank.volume_l, tank.tc(), tank.water_mm, tank.temperature,
                     tank.height())
            began = self.now
            self.now += datetime.timedelta(minutes=minutes)
            tank.volume_l = min(tank.capacity_l, tank.volume_l + litres)
            if temperature is not None:
                tank.temperature = temperature
            tank.deliveries.append(veeder.Delivery(
                number, tank.product, _tuple(began), _tuple(self.now), start[0], start[1],
                start[2], start[3], tank.volume_l, tank.tc(), tank.water_mm,
                tank.temperature, start[4], tank.height()))

    def advance(self, seconds):
        """The gauge's clock moves on; leaking tanks lose what they leak meanwhile."""
        with self.lock:
            for tank in self.tanks.values():
                tank.volume_l = max(0.0, tank.volume_l - tank.leak_lph * seconds / 3600.0)
            self.now += datetime.timedelta(seconds=seconds)

    def leak(self, number, lph):
        with self.lock:
            self.tanks[number].leak_lph = lph

    def set(self, number, temperature=None, water_mm=None):
        with self.lock:
            tank = self.tanks[number]
            if temperature is not None:
                tank.temperature = temperature
            if water_mm is not None:
                tank.water_mm = water_mm

    def volume(self, number):
        with self.lock:
            self._take_feeds()
            return self.tanks[number].volume_l

    # -- answers ---------------------------------------------------------------------------
    def answer(self, data):
        """The console's answer to one command (bytes)."""
        with self.lock:
            self.asked.append(bytes(data))
            if self.fault == "unknown":
                return veeder.SOH + veeder.UNKNOWN + veeder.ETX
            try:
                function, tank = veeder.parse_command(data)
            except veeder.GaugeError:
                return veeder.SOH + veeder.UNKNOWN + veeder.ETX
            if tank and tank not in self.tanks or function not in veeder.FUNCTIONS:
                return veeder.SOH + veeder.UNKNOWN + veeder.ETX
            self._take_feeds()
            tanks = [self.tanks[n] for n in sorted(self.tanks) if not tank or n == tank]
            when = _tuple(self.now)
            if function == veeder.INVENTORY:
                out = veeder.encode_inventory(tank, when, [self._inventory(t) for t in tanks])
            elif function == veeder.DELIVERY:
                out = veeder.encode_deliveries(tank, when, [
                    (t.number, t.product, t.deliveries[-10:]) for t in tanks])
            else:
                out = veeder.encode_alarms(tank, when, [
                    veeder.TankAlarms(t.number, self._alarms(t)) for t in tanks])
            return self._spoil(out)

    def _inventory(self, t):
        water_l = t.water_mm * t.capacity_l / t.height_mm_full
        return veeder.Inventory(t.number, t.product, 0, t.volume_l, t.tc(),
                                t.capacity_l - t.volume_l, t.height(), t.water_mm,
                                t.temperature, water_l)

    @staticmethod
    def _alarms(t):
        codes = []
        if t.leak_lph > 0 and t.leak_lph >= 2.0:  # the console's own test sees a gross leak
            codes.append("02")
        if t.water_mm >= 50:
            codes.append("03")
        if t.low_l is not None and t.volume_l < t.low_l:
            codes.append("05")
        return codes

    def _spoil(self, out):
        if self.fault == "garbage":
            return b"\x00\xffNOT A GAUGE\x03"
        if self.fault == "badsum":
            return out[:-5] + (b"0000" if out[-5:-1] != b"0000" else b"0001") + veeder.ETX
        if self.fault == "truncated":
            return out[:len(out) // 2]
        return out

    # -- the TCP port ------------------------------------------------------------------------
    def start(self, host="127.0.0.1", port=0):
        self.server = socket.create_server((host, port))
        self.port = self.server.getsockname()[1]
        thread = threading.Thread(target=self._accept, daemon=True, name="gauge-sim")
        thread.start()
        self._threads.append(thread)
        return self

    def address(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        if self.server is not None:
            try:
                self.server.close()
            except OSError:
                pass
            self.server = None

    def _accept(self):
        server = self.server
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            conn.settimeout(5)
            buf = b""
            while True:
                try:
                    chunk = conn.recv(256)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 7:  # <SOH>iFFFTT
                    start = buf.find(veeder.SOH)
                    if start < 0:
                        buf = b""
                        break
                    if len(buf) - start < 7:
                        buf = buf[start:]
                        break
                    cmd, buf = buf[start:start + 7], buf[start + 7:]
                    if self.fault == "off":
                        return
                    if self.fault == "silent":
                        continue
                    try:
                        conn.sendall(self.answer(cmd))
                    except OSError:
                        return
                    if self.fault == "truncated":
                        return


def _tuple(when):
    return (when.year, when.month, when.day, when.hour, when.minute)


def demo_gauge(benches=()):
    """The `pumpside run` demo's gauge: two tanks (92 and diesel), the first feeding the
    pumps on `benches`."""
    sim = GaugeSim([SimTank(1, "1", 30000, 18000, kind="gasoline", low_l=3000),
                    SimTank(2, "2", 30000, 22000, kind="diesel", low_l=3000)])
    for bench in benches:
        sim.feed(1, bench)
    return sim.start()
