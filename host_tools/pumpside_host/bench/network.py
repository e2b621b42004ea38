"""The bench's network: a loopback TCP proxy between the virtual board and the station.

It plays what lies between a real board and the station (WLAN, switch, router): it can
be taken down and up (`cut`, `mend`: every connection through it dropped, new ones
refused, while the bench tells the sim board's net role why), and the network-fault
campaign (netcampaign.py) gives it a random source to inject one fault per connection:
a drop at a frame boundary, a drop in the middle of a frame, a frame delivered twice,
two frames swapped.
"""
import socket
import threading

FAULTS = ("drop_boundary", "drop_mid", "duplicate", "reorder")


class Network:
    """terminal <-> station through `port`; with `rng`, one fault per connection."""

    def __init__(self, upstream_port, rng=None):
        self.upstream = upstream_port
        self.rng = rng
        self.lock = threading.Lock()
        self.faults = {f: 0 for f in FAULTS}
        self.enabled = rng is not None
        self.down = False
        self.cuts = 0  # connections dropped by cut()
        self._pairs = []  # live connections' pairs
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

    def cut(self):
        """The network goes down: every connection through it drops, new ones are refused
        until mend()."""
        with self.lock:
            self.down = True
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            if not pair["closed"]:
                self.cuts += 1
                self._kill(pair)

    def mend(self):
        with self.lock:
            self.down = False

    def close(self):
        self.running = False
        self.sock.close()
        self.cut()

    def _accept(self):
        while self.running:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                down = self.down
            if down:
                client.close()  # no route: the connection fails at once
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()  # the station is down: the terminal sees a refused session
                continue
            with self.lock:
                fault = self.rng.choice(FAULTS) if self.enabled else None
                # where: after how many whole frames (boundary faults), or at which byte
                direction = self.rng.choice(("up", "down")) if fault else "up"
                nth = self.rng.randint(1, 6) if fault else 0
                pair = {"fault": fault, "dir": direction, "nth": nth,
                        "socks": (client, server), "done": False, "closed": False}
                self._pairs = [p for p in self._pairs if not p["closed"]]
                self._pairs.append(pair)
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
        pair["closed"] = True
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


