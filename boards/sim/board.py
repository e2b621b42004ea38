"""Virtual board: every HAL role is a request to the bench over a local TCP socket.

The bench (pumpside_host.bench) plays the dispenser: hydraulics, two-channel pulser,
valves with response delay, nozzle, keypad and display. Each role call is one line out
and one line back, synchronous like a register access on a real board.

Environment: PUMPSIDE_BENCH=host:port (default 127.0.0.1:7700); the config file is
config.json in the working directory, as on a board's flash root.
"""
import os
import socket

_DEFAULT_BENCH = "127.0.0.1:7700"


class BenchLink:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        sock = socket.socket()
        sock.connect(socket.getaddrinfo(host, int(port))[0][-1])
        self.sock = sock
        self.stream = sock.makefile("rwb", 0) if hasattr(sock, "recv_into") else sock
        self.call("H board")

    def call(self, line):
        s = self.stream
        s.write(line.encode() + b"\n")
        reply = s.readline()
        if not reply:
            raise OSError("bench closed the connection")
        reply = reply.decode().rstrip("\n")
        if reply.startswith("!"):
            raise OSError("bench: " + reply[1:])
        return reply


class Pulser:
    def __init__(self, link):
        self.link = link
        self._b = 0

    def count(self):
        reply = self.link.call("P")
        a, b = reply.split()
        self._b = int(b)
        return int(a)

    def count_b(self):
        # channel B was latched by the same bench read as channel A (one PCNT snapshot)
        return self._b


class Valves:
    def __init__(self, link):
        self.link = link

    def set(self, fast, slow):
        self.link.call("V %d %d" % (1 if fast else 0, 1 if slow else 0))


class Motor:
    def __init__(self, link):
        self.link = link

    def set(self, on):
        self.link.call("M %d" % (1 if on else 0))


class Nozzle:
    def __init__(self, link):
        self.link = link

    def lifted(self):
        return self.link.call("N") == "1"


class Display:
    def __init__(self, link):
        self.link = link

    def show(self, lines):
        import json

        self.link.call("D " + json.dumps(lines))


class Keypad:
    def __init__(self, link):
        self.link = link

    def read(self):
        return self.link.call("K") or None


class Board:
    name = "sim"

    def __init__(self, addr):
        link = BenchLink(addr)
        self.link = link
        self.pulser = Pulser(link)
        self.valves = Valves(link)
        self.motor = Motor(link)
        self.nozzle = Nozzle(link)
        self.display = Display(link)
        self.keypad = Keypad(link)
        self.config_path = "config.json"


def make():
    return Board(os.getenv("PUMPSIDE_BENCH") or _DEFAULT_BENCH)
