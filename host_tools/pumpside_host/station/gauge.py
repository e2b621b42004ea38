"""The station's tank-gauge client: asks a Veeder-Root TLS-3xx console (or the bench's
simulator) over TCP in the serial interface's computer format (codec: veeder.py), and
the poller that does it on a schedule inside the station's event loop.

The poller is an asyncio task beside the terminals' server: the gauge's socket is
asyncio's (never a blocking call on the loop), each question has a timeout, and what it
stores is a few rows. A gauge that is off, times out or answers garbage raises one
station alarm (source "gauge") per outage and the poller tries again at its next turn;
the terminals' link never waits on it.

Each poll: I201 (inventory) -> a reading per tank the station knows; I205 (in-tank
alarms) -> a station alarm for each alarm the console raises anew; I202 (deliveries) ->
each delivery stored once. Then today's reconciliation of every tank (and yesterday's,
closed by its last reading, at the first poll of a day); a tank that fell below its
pump-suction level has its nozzles' terminals suspended, and resumed once a delivery
lifted it (tanks.py).
"""
import asyncio
import logging
import socket
import sqlite3
import time

from .. import veeder
from .days import bounds, day_of, local
from .service import Service
from .tanks import GAUGE

log = logging.getLogger("pumpside.station")

OFF = "gauge off"  # the alarm's `what` when the gauge cannot be read


def parse_address(text):
    """HOST:PORT -> (host, port); ValueError otherwise."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("a gauge address is HOST:PORT, not %r" % text)
    return host, int(port)


def ask(host, port, function, tank=0, timeout=5.0):
    """One question to the gauge, answered (veeder.Answer); GaugeError for no answer, a
    timeout or an answer that is not one."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(veeder.command(function, tank))
            data = veeder.read_answer(sock.recv)
    except OSError as e:  # TimeoutError among them
        raise _unreachable(host, port, timeout, e) from None
    return veeder.decode(data, function, tank)


def _unreachable(host, port, timeout, e):
    """The GaugeError of an exchange the network ended (ask, ask_async)."""
    if isinstance(e, TimeoutError):
        return veeder.GaugeError("the gauge at %s:%d did not answer within %g s"
                                 % (host, port, timeout))
    return veeder.GaugeError("the gauge at %s:%d cannot be reached: %s"
                             % (host, port, e.strerror or e))


async def ask_async(host, port, function, tank=0, timeout=5.0):
    """ask() on the event loop: the whole exchange bounded by `timeout`."""
    async def exchange():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(veeder.command(function, tank))
            await writer.drain()
            buf = bytearray()
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    raise veeder.GaugeError(
                        "the gauge closed the connection mid-answer (%d bytes, no ETX)"
                        % len(buf) if buf else "the gauge closed the connection without "
                        "answering")
                buf += chunk
                if veeder.ETX in chunk:
                    return bytes(buf[:buf.index(veeder.ETX) + 1])
                if len(buf) > 65536:
                    raise veeder.GaugeError("answer longer than 65536 bytes without ETX")
        finally:
            writer.close()

    try:
        data = await asyncio.wait_for(exchange(), timeout)
    except OSError as e:  # TimeoutError among them
        raise _unreachable(host, port, timeout, e) from None
    return veeder.decode(data, function, tank)


def _unix(when):
    """A console's YYMMDDHHmm tuple as Unix seconds: the console's clock is a wall clock
    set to the station's local time (its reports print what the site reads on its own
    clock), so it is read in the station's time zone (days.py), not as UTC."""
    return local(when[0], when[1], when[2], when[3], when[4])


class GaugePoller:
    def __init__(self, ledger, host, port, every_s=60.0, timeout_s=5.0, clock=time.time):
        self.ledger = ledger
        self.service = Service(ledger)
        self.host = host
        self.port = port
        self.every_s = every_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.up = None  # None: not asked yet; True/False: the last poll's outcome
        self.why = ""
        self.polls = 0
        self.failures = 0
        self.in_row = 0  # failed polls since the last good one
        self.active = {}  # tank -> the console's alarm codes active at the last poll
        self.last_day = None
        self.task = None

    def start(self, loop=None):
        self.task = (loop or asyncio.get_running_loop()).create_task(self.run())
        return self

    async def run(self):
        while True:
            try:
                await self.poll()
            except sqlite3.Error as e:  # the store busy or failing: the next turn again
                log.error("gauge poll not stored: %s", e)
            await asyncio.sleep(self.every_s)

    async def poll(self):
        """One poll: True when the gauge answered and its answers were stored."""
        self.polls += 1
        try:
            answers = []
            for function in (veeder.INVENTORY, veeder.ALARM, veeder.DELIVERY):
                answers.append(await ask_async(self.host, self.port, function, 0,
                                               self.timeout_s))
        except veeder.GaugeError as e:
            self.down(str(e))
            return False
        self.store(*answers)
        return True

    def down(self, why):
        """The gauge could not be read: one alarm per outage (alert rule gauge_off, raised
        at the rule's `polls`-th failed poll in a row)."""
        self.failures += 1
        self.in_row += 1
        self.why = why
        self.up = False
        if self.in_row == max(1, self.ledger.alerts.rules()["gauge_off"]["params"]["polls"]):
            self.ledger.alerts.raise_("gauge_off", GAUGE, why + " (the pumps go on; tank "
                                      "readings wait)", what=OFF)
        else:
            log.warning("gauge still unreadable: %s", why)

    def store(self, inventory, alarms=None, deliveries=None, at=None):
        """Store one poll's answers (veeder.Answer each; `at`: the readings' time, the
        station's clock by default). Returns the tank state changes."""
        at = int(self.clock() if at is None else at)
        if self.up is False:
            log.info("gauge readable again")
        self.up, self.why, self.in_row = True, "", 0
        tanks = self.ledger.tanks
        known = {t["number"]: t for t in tanks.all()}
        changes = []
        with self.ledger.transaction():
            for deliveries_answer in ([deliveries] if deliveries else []):
                for d in deliveries_answer.items:
                    if d.tank in known:
                        tanks.gauge_delivery(d.tank, _unix(d.start), _unix(d.end),
                                             round((d.end_volume - d.start_volume) * 1000),
                                             round((d.end_tc_volume - d.start_tc_volume)
                                                   * 1000))
            for item in inventory.items:
                if item.tank not in known:
                    continue
                change = tanks.add_reading(
                    item.tank, at, max(0, round(item.volume * 1000)),
                    max(0, round(item.tc_volume * 1000)), round(item.height),
                    round(item.water), round(item.temperature * 10), "gauge")
                if change:
                    changes.append((item.tank, known[item.tank]["state"], change[0]))
            for a in (alarms.items if alarms else []):
                self._console_alarms(a)
            day = day_of(at)
            # the day before closes (its alarms raised) at a new day's first poll, and at
            # the poller's first (a station restarted past midnight); today's figures run
            closing = self.last_day if self.last_day else day_of(bounds(day)[0] - 1)
            for number in known:
                if closing != day:
                    tanks.reconcile(number, closing)
                tanks.reconcile(number, day, alarm=False)
            self.last_day = day
        for number, was, now in changes:
            if now == "suction":
                self._command(known[number], "suspend")
            elif was == "suction":
                self._command(known[number], "resume")
        return changes

    def _console_alarms(self, item):
        codes = set(item.codes)
        for code in sorted(codes - self.active.get(item.tank, set())):
            self.ledger.alerts.raise_(
                "gauge_alarm", GAUGE, "tank %d: %s (console code %s)" % (
                    item.tank, veeder.ALARMS.get(code, "alarm"), code), what="gauge alarm")
        self.active[item.tank] = codes

    def _command(self, tank, cmd):
        """suspend/resume the terminals of the nozzles `tank` feeds."""
        for terminal in sorted({t for t, _n in tank["nozzles"]}):
            try:
                self.service.tank_command(terminal, cmd)
            except ValueError as e:  # a terminal no longer registered
                self.ledger.alerts.raise_("tank_command_failed", GAUGE, "tank %d: %s %s: %s"
                                          % (tank["number"], cmd, terminal, e),
                                          what="tank command failed")
