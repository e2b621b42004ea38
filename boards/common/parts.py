"""Portable HAL roles on machine.Pin, UART, WDT, RTC and network: relay outputs, the
nozzle switch, the supply monitor, the printer, the clock, the watchdog, the network
(WLAN, or a wired PHY the board builds) and the status LED. The same on ESP32 and
RP2040: one file here, flashed beside each real board's board.py (build.py;
tests/host/test_boards.py checks it).

Nothing here runs at import: every pin is claimed by a constructor, called from make().
"""
import time

import machine
from micropython import const

_EPOCH_2000 = const(946684800)  # 1970 -> 2000, for a port whose time() counts from 2000
_UART_CHUNK = const(256)  # bytes per UART write: one TX ring's worth
HOLD_FEED_MS = const(500)  # the watchdog fed at the REPL: well inside the shortest timeout
JOIN_RETRY_MS = const(10000)  # a failed WLAN join is started again this often


class Output:
    """A relay driver input (valve solenoid, motor contactor coil). Off at construction:
    off is the safe state of every output, and the level a reset leaves behind."""

    def __init__(self, pin_id, active_high=True):
        self._on = 1 if active_high else 0
        self.pin = machine.Pin(pin_id, machine.Pin.OUT, value=1 - self._on)

    def set(self, on):
        self.pin.value(self._on if on else 1 - self._on)


class Valves:
    """Two-stage valve: fast = main solenoid, slow = bypass solenoid."""

    def __init__(self, fast, slow):
        self.fast = fast
        self.slow = slow

    def set(self, fast, slow):
        # the main stage opens last and closes first: the bypass leads on the way up and
        # carries the slow-down on the way down
        if fast:
            self.slow.set(slow)
            self.fast.set(True)
        else:
            self.fast.set(False)
            self.slow.set(slow)


class Motor:
    def __init__(self, contactor):
        self.contactor = contactor

    def set(self, on):
        self.contactor.set(on)


class Nozzle:
    """The holster switch. It closes to ground when the nozzle leaves the holster, so a
    broken wire reads "hung up" and stops the flow (fail-safe). Debounced in software:
    a level counts once it has held for `debounce_ms`, sampled at every lifted() call
    (the dispenser's 10 ms tick)."""

    def __init__(self, pin_id, debounce_ms=30):
        self.pin = machine.Pin(pin_id, machine.Pin.IN, machine.Pin.PULL_UP)
        self.debounce_ms = debounce_ms
        self._state = self.pin.value() == 0
        self._raw = self._state
        self._since = time.ticks_ms()

    def lifted(self):
        raw = self.pin.value() == 0
        now = time.ticks_ms()
        if raw != self._raw:
            self._raw = raw
            self._since = now
        elif raw != self._state and time.ticks_diff(now, self._since) >= self.debounce_ms:
            self._state = raw
        return self._state


class PowerFail:
    """The brown-out comparator on the unregulated supply: its open-collector output goes
    low when mains is lost, tens of ms before the 3.3 V rail sags. The pin IRQ only
    latches the event in a preallocated byte and sets a ThreadSafeFlag (no allocation:
    STYLE.md 4); asserted() reads the level and the latch, so an edge shorter than a
    control tick is still seen once."""

    def __init__(self, pin_id):
        import asyncio

        self.pin = machine.Pin(pin_id, machine.Pin.IN)  # pulled up on the board (10 k)
        self._latch = bytearray(1)
        self.flag = asyncio.ThreadSafeFlag()  # for a task that wants to await the warning
        self._isr_ref = self._isr  # one bound method, made here and not in the IRQ
        self.pin.irq(handler=self._isr_ref, trigger=machine.Pin.IRQ_FALLING)

    def _isr(self, pin):
        self._latch[0] = 1
        self.flag.set()

    def asserted(self):
        if self.pin.value() == 0:
            return True
        if self._latch[0]:
            self._latch[0] = 0
            return True
        return False


class Printer:
    """ESC/POS thermal printer on a UART (TX only is needed; 9600 8N1 is the factory
    default of most kiosk printers). Bounded: a printer that stops taking bytes raises
    OSError instead of stalling the caller."""

    def __init__(self, uart, timeout_ms=2000):
        self.uart = uart
        self.timeout_ms = timeout_ms

    def write(self, data):
        view = memoryview(data)
        sent = 0
        deadline = time.ticks_add(time.ticks_ms(), self.timeout_ms)
        while sent < len(view):
            n = self.uart.write(view[sent:sent + _UART_CHUNK])
            if n:
                sent += n
            elif time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError("printer not taking data")


class Clock:
    """Wall clock from the MCU's RTC, Unix seconds. Neither board has a backup battery:
    the time is lost with power and comes back from the station (set())."""

    def __init__(self):
        self.offset = _EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0

    def time(self):
        return time.time() + self.offset

    def set(self, seconds):
        utc = time.gmtime(seconds - self.offset)
        # RTC.datetime: (year, month, day, weekday, hours, minutes, seconds, subseconds)
        machine.RTC().datetime((utc[0], utc[1], utc[2], utc[6], utc[3], utc[4], utc[5], 0))


class Watchdog:
    """machine.WDT, started only when the firmware asks (a started WDT cannot be stopped:
    starting it in make() would reset a board whose app does not feed it yet). `timer_id`:
    the machine.Timer that feeds it while a technician holds the REPL (hold())."""

    def __init__(self, timer_id=-1):
        self._wdt = None
        self._timer_id = timer_id
        self._timer = None

    def start(self, timeout_ms):
        if self._wdt is None:
            self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def caused_reset(self):
        return machine.reset_cause() == machine.WDT_RESET

    def hold(self):
        """A technician interrupted the app (^C) and holds the REPL: a timer feeds the
        watchdog (its callback runs at the REPL too) until the next reset."""
        wdt = self._wdt
        if wdt is not None and self._timer is None:
            self._timer = machine.Timer(self._timer_id, mode=machine.Timer.PERIODIC,
                                        period=HOLD_FEED_MS, callback=lambda t: wdt.feed())


class Wlan:
    """The WLAN station interface (ESP32's and the Pico W's CYW43 alike). Started once
    (active(True): on the Pico W this loads the CYW43's firmware, a few hundred ms, at
    the link's start in boot); a join that failed is started again at most every
    JOIN_RETRY_MS, so a wrong passphrase does not hammer the access point."""

    def __init__(self):
        import network

        self.network = network
        self.wlan = network.WLAN(network.STA_IF)
        self.wlan.active(True)
        self._tried = None  # time.ticks_ms() of the last connect()

    def up(self, ssid, passphrase):
        if not ssid or self.connected() or self.status() == "joining":
            return
        now = time.ticks_ms()
        if self._tried is None or time.ticks_diff(now, self._tried) >= JOIN_RETRY_MS:
            self._tried = now
            self.wlan.connect(ssid, passphrase or None)  # None: an open network

    def connected(self):
        return self.wlan.isconnected()

    def status(self):
        network = self.network
        code = self.wlan.status()
        if code == network.STAT_GOT_IP:
            return "up"
        if network.STAT_CONNECTING <= code < network.STAT_GOT_IP:
            return "joining"  # associating, or waiting for its DHCP address
        if code == network.STAT_NO_AP_FOUND:
            return "no AP"
        if code == network.STAT_WRONG_PASSWORD:
            return "wrong passphrase"
        if code == network.STAT_IDLE:
            return "down" if self._tried is not None else "no SSID"
        return "join failed %d" % code  # the port's reason code (docs/operations.md)


class Net:
    """The board's network (hal.py net): the WLAN, or a wired PHY the board has
    (`wired`: {net_kind: a function building an interface with up(ssid, passphrase),
    connected() and status()}); `default` is the kind when config net_kind is empty.
    Nothing is built before up(): an unused radio stays off."""

    def __init__(self, wired=None, default="wlan"):
        self.wired = wired or {}
        self.default = default
        self.nic = None
        self._why = "down"

    def up(self, kind, ssid, passphrase):
        if self.nic is None:
            kind = kind or self.default
            make = Wlan if kind == "wlan" else self.wired.get(kind)
            if make is None:
                self._why = "no " + kind  # not on this board
                return
            self.nic = make()
        self.nic.up(ssid, passphrase)

    def connected(self):
        return self.nic is not None and self.nic.connected()

    def status(self):
        return self.nic.status() if self.nic is not None else self._why


class Led:
    """Status LED: on = pump open for sales, blinking is the app's business."""

    def __init__(self, pin_id):
        self.pin = machine.Pin(pin_id, machine.Pin.OUT, value=0)

    def set(self, on):
        self.pin.value(1 if on else 0)
