"""`make bench`: figures as `name: value unit`, one per line. Never asserted in tests.

control_reaction_us: time from the firmware's pulser read that crossed a stage threshold
(slow-down or close) to the valve command having gone out, measured inside the firmware
with ticks_us on the MicroPython unix port. control_reaction_e2e_us_p50/p99 and
control_reaction_e2e_idle_us_max: seen from the bench, from the latest pulse edge to the
valve command's arrival, on an idle pump (no link, few checkpoints), so it includes the
control loop's polling period. control_reaction_e2e_us_max and preset_overrun_ml_max
(preset_overrun): from the edge of the pulse that crossed the threshold, under load:
checkpoints every 100 ml, a backlog draining, erases as slow as a NOR chip's.

Every line goes through `figure(name, value, unit)`, which refuses a line that is not
`name: value unit` (FIGURE_LINE); the MicroPython scripts of mp/ print the same shape and
their lines are checked the same way.

link_* and link_tls_*: the firmware's link draining the same backlog plain (the station's
--plain-port, station_tls=0) and over TLS with the station's own CA pinned (the default):
MicroPython's heap before the session, at link_up and at its peak, and the time from
connect to the station's CHALLENGE (over TLS: the handshake). On the unix port mbedTLS
takes its buffers from the C library, not MicroPython's heap: link_tls_c_heap_* shows
them (a bare-metal port such as the rp2 takes them from MicroPython's heap).

flash_*_<board> (mp/bench_wear.py): flash life on each real board's journal partition
(BOARD_FLASH_BLOCKS), the sim flash counting erases per block while an online pump sells
default-config 30 L sales, each acknowledged: blocks erased per sale, sales of life
(blocks x FLASH_CYCLES / blocks erased per sale: perfect wear levelling assumed) and the
wear spread (max / mean erases per block at the end of the run).

`PUMPSIDE_BENCH_QUICK=1` (or `main(quick=True)`) runs every figure small - a smoke run of
the printing code, not figures to quote.
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .bench import Bench
from .build import build
from .vboard import (
    BENCH_HEAPSIZE,
    BOARD_HEAPSIZE,
    DEFAULT_CONFIG,
    VirtualPump,
    micropython_binary,
)

# the boards' journal partitions in 4 KB blocks (docs/boards.md "Journal partition"): the
# ESP32's `journal` partition (0x100000), the Pico W's JOURNAL_BYTES (boards/rp2/board.py)
BOARD_FLASH_BLOCKS = (("esp32", 256), ("pico_w", 148))
# rated erase cycles per sector of the boards' NOR flash: the Pico W's Winbond W25Q16JV
# ("minimum 100K program-erase cycles per sector", its datasheet) and, on Espressif's own
# modules, every flash chip used is specified to at least 100,000 (Espressif on esp32.com,
# "How many times can you flash?": the module's flash chip varies by lot)
FLASH_CYCLES = 100000
SALES = 100  # x 2 stage events (slow-down, close) per sale: 200 samples for p99
FIGURE_LINE = re.compile(r"^[a-z0-9_]+: -?[0-9.]+ \S+$")


def figure(name, value, unit, out=None):
    """Print one figure as `name: value unit`; ValueError if it would not be one."""
    line = "%s: %s %s" % (name, value, unit)
    if not FIGURE_LINE.match(line):
        raise ValueError("not a `name: value unit` figure: %r" % line)
    out = out or sys.stdout
    out.write(line + "\n")
    out.flush()


def figure_line(line, out=None):
    """Check and print a figure line printed elsewhere (the mp/ scripts)."""
    name, _, rest = line.partition(": ")
    value, _, unit = rest.partition(" ")
    figure(name, value, unit, out)


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def heap_figures(boot, suffix=""):
    figure("firmware_heap_free_after_boot" + suffix, boot["heap_free"], "B")
    figure("firmware_heap_size" + suffix, _kib(BOARD_HEAPSIZE), "KiB")


def _kib(size):
    """KiB of a heap size written as MicroPython's -X heapsize takes it ("192K", "1M")."""
    size = size.strip().upper()
    scale = {"K": 1, "M": 1024}.get(size[-1:], None)
    return int(size[:-1]) * scale if scale else int(size) // 1024


def control_reaction(sales=SALES):
    """Short truck-flow presets (0.5 L, the last 150 ml slow): each sale crosses two
    stage thresholds (slow-down, close), so 100 sales give 200 samples."""
    config = dict(DEFAULT_CONFIG, slow_lead_ml=150, done_show_ms=0, settle_ms=150)
    bench = Bench(fast_lpm=120.0, slow_lpm=20.0)
    inside = []
    t0 = time.monotonic()
    with VirtualPump(config=config, bench=bench) as pump:
        heap_figures(pump.wait_event("boot", 10))
        pump.wait_state("IDLE", 10)
        for _ in range(sales):
            bench.press("V050E")  # 0.5 L at truck flow
            pump.wait_event("authorized")
            bench.lift()
            delivery = pump.wait_event("delivery", 30)
            bench.hang_up()
            assert delivery["stop"] == "CAP", delivery
        inside = [f["reaction_us"] for n, f in pump.seen if n == "stage"]
    e2e = [s * 1e6 for s in bench.reaction_s]
    return inside, e2e, time.monotonic() - t0


PRESETS_ML = (500, 1000, 2000)  # truck-flow presets, cycled
PRESET_SLOW_LEAD_ML = 150


STATION_FRAME_S = 0.03  # preset_overrun's station: time to store one RECORDS frame


def preset_overrun(sales=60, backlog=10000, erase_ms=45):
    """Truck-flow presets (120 L/min, the last 150 ml at 20 L/min) with a checkpoint every
    100 ml, while the link drains a `backlog` of sales to the station (TLS, as the product
    runs), on a sim flash whose every erase stalls the board `erase_ms` as a real NOR
    chip's does (simflash.py): how far past its preset each sale stopped, and how late
    each slow-down and close command reached the valves after the pulse that crossed its
    threshold, as the bench saw it (control_reaction_e2e_us_max and ..._under_load_*: the
    pulse's edge to the command's arrival, the control loop's polling and anything that
    held it up included). Goal: no overrun beyond one pulse plus what flows at the slow
    rate while the valve closes (preset_overrun_goal_ml)."""
    from .station.ledger import Ledger
    from .station.server import StationThread
    from .tech import station_pin

    bench = Bench(fast_lpm=120.0, slow_lpm=20.0)
    hyd = bench.hyd
    late_us, overrun, during_drain = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(tmp + "/station.db")
        key = ledger.add_terminal("P1")
        store_batches = ledger.store_batches

        def slow_station(*args):  # a loaded back office or a WAN: ~30 ms a frame, so the
            time.sleep(STATION_FRAME_S * len(args[1]))  # drain (RECORDS: ~20,000 sales/s
            return store_batches(*args)  # otherwise) lasts beside the presets

        ledger.store_batches = slow_station
        station = StationThread(ledger).start()
        pinned, files = station_pin(tmp + "/station.db")
        config = dict(DEFAULT_CONFIG, station_addr="127.0.0.1:%d" % station.port,
                      terminal_id="P1", terminal_key=key.hex(), max_unsynced_sales=100000,
                      max_unsynced_amount=2000000000, max_unsynced_age_s=31536000,
                      slow_lead_ml=PRESET_SLOW_LEAD_ML, checkpoint_ml=100, done_show_ms=0,
                      settle_ms=150, **pinned)
        pump = VirtualPump(config=config, bench=bench, device_dir=tmp, flash_blocks=4096,
                           files=files, flash_erase_ms=erase_ms)
        try:
            pump.write_config()
            pump.flash_tool("fill", str(backlog))
            pump.start(write_config=False)
            pump.wait_event("link_up", 60)
            for i in range(sales):
                preset = PRESETS_ML[i % len(PRESETS_ML)]
                start = bench.counts()[0]
                logged = len(bench.valve_log)
                bench.press("V%03dE" % (preset // 10))
                pump.wait_event("authorized", 10)
                bench.lift()
                delivery = pump.wait_event("delivery", 30)
                bench.hang_up()
                assert delivery["stop"] == "CAP", delivery
                draining = not any(n == "synced" and f["unsynced"] == 0 for n, f in pump.seen)
                during_drain += draining
                overrun.append(delivery["ml"] - delivery["target_ml"])
                target = preset * hyd.k_factor // 1000000
                for a, age, rate, fast, slow in bench.valve_log[logged:]:
                    if fast or rate <= 0:
                        continue  # the opening, or a command with no flow to judge by
                    edge = start + (target - PRESET_SLOW_LEAD_ML // 10 if slow else target)
                    pulse_s = 1e6 / hyd.k_factor / rate
                    late_us.append((age + (a - edge) * pulse_s) * 1e6)
        finally:
            pump.stop()
            station.stop()
            ledger.close()
    pulse_ml = 1000000 // bench.hyd.k_factor
    figure("preset_overrun_flash_erase_ms", erase_ms, "ms")
    figure("preset_overrun_sales", sales, "count")
    figure("preset_overrun_sales_during_drain", during_drain, "count")
    figure("preset_overrun_ml_max", max(overrun), "ml")
    figure("preset_overrun_goal_ml", pulse_ml + round(20.0 * 1000 / 60 * hyd.close_delay_s),
           "ml")
    figure("control_reaction_e2e_us_max", int(max(late_us)), "us")
    figure("control_reaction_e2e_under_load_us_p99", int(_pct(late_us, 99)), "us")
    figure("control_reaction_e2e_under_load_samples", len(late_us), "count")


def mp_figures(script, *args, heapsize=BENCH_HEAPSIZE):
    """Run a benchmark script of mp/ on the unix port (128K heap) in a scratch directory."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ".frozen:%s" % build("sim")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([micropython_binary(), "-X", "heapsize=" + heapsize,
                              str(Path(__file__).parent / "mp" / script),
                              *[str(a) for a in args]], cwd=tmp, env=env,
                             capture_output=True, text=True, timeout=1200)
    if out.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (script, out.stdout, out.stderr))
    return out.stdout


def card_sales(sales=5):
    """Card-mode boot heap, and the customer's waits: card in -> PIN prompt, PIN -> preset
    prompt, preset -> lift prompt (reading, grey lock: card + PSAM APDUs), hang-up ->
    receipt (debit, FINAL, printer), over the bench's socket on the unix port."""
    from .bench.cards import CardStore

    out = {"read": [], "pin": [], "lock": [], "settle": []}
    with tempfile.TemporaryDirectory() as tmp:
        store = CardStore(tmp + "/cards.json")
        store.issue("6200000000000017", 10000000, pin="123456")
        config = dict(DEFAULT_CONFIG, sale_mode="card", done_show_ms=0)
        with VirtualPump(config=config, cards=store) as pump:
            heap_figures(pump.wait_event("boot", 10), "_card_mode")
            pump.wait_state("IDLE", 10)

            def prompt(name):
                pump.wait_event("card", 10, lambda f: f["prompt"] == name)
                return time.monotonic()

            for _ in range(sales):
                started = time.monotonic()
                pump.insert("6200000000000017")
                out["read"].append(prompt("enter_pin") - started)
                pump.bench.press("123456E")
                started = time.monotonic()
                out["pin"].append(prompt("choose_preset") - started)
                pump.bench.press("V100E")
                started = time.monotonic()
                pump.wait_event("grey_locked", 10)
                out["lock"].append(time.monotonic() - started)
                pump.bench.lift()
                pump.wait_event("delivery", 30)
                started = time.monotonic()
                pump.wait_event("receipt", 10)
                out["settle"].append(time.monotonic() - started)
                pump.bench.hang_up()
                pump.bench.remove_card()
                prompt("thank_you")
    for step, seconds in out.items():
        figure("card_%s_ms_max" % step, int(max(seconds) * 1000), "ms")


def drain(sales=10000):
    """Offline backlog -> station: `sales` settled sales journaled on the sim flash (10,000,
    the backlog a terminal must hold offline; max_unsynced_sales is raised for it here), then
    the firmware boots with the station reachable; the time from link up to the last ack,
    over TLS as the product runs and plain (drain_plain_sales_per_s).
    The boot's free heap with that backlog and the link loaded is a figure of its own:
    the journal's open keeps no per-record or per-segment state and reads every segment
    into one reused buffer. The floor, in the same run: the same journal bytes read from
    the same flash by the unix port and written unframed to a loopback socket."""
    import socket
    import threading

    from .station.ledger import Ledger
    from .station.server import StationThread
    from .tech import station_pin

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(tmp + "/station.db")
        key = ledger.add_terminal("P1")
        # TLS with the station's own CA, as the product runs; a plain port for the link
        # heap bench's plain run
        station = StationThread(ledger, plain_port=0).start()
        pinned, files = station_pin(tmp + "/station.db")
        config = dict(DEFAULT_CONFIG, station_addr="127.0.0.1:%d" % station.port,
                      terminal_id="P1", terminal_key=key.hex(), max_unsynced_sales=100000,
                      max_unsynced_amount=2000000000, **pinned)
        pump = VirtualPump(config=config, device_dir=tmp, flash_blocks=4096, files=files)
        pump.write_config()
        started = time.monotonic()
        pump.flash_tool("fill", str(sales))
        fill_s = time.monotonic() - started
        # the floor: raw bytes to a socket that only counts them
        got = {"bytes": 0}
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def sink():
            conn, _ = listener.accept()
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                got["bytes"] += len(data)
            conn.close()

        th = threading.Thread(target=sink, daemon=True)
        th.start()
        raw = json.loads(pump.flash_tool("raw", str(listener.getsockname()[1])).splitlines()[-1])
        th.join(10)
        listener.close()
        # the same backlog again for the link's heap bench (mp/bench_link.py), plain as
        # terminal P2 and over TLS as P3, so the ledger stores it again rather than
        # answering duplicates
        link_dirs = []
        for name, link, over in (
                ("P2", "link", dict(station_tls=0, station_ca="",
                                    station_addr="127.0.0.1:%d" % station.plain_port)),
                ("P3", "link_tls", {})):
            link_dir = Path(tmp) / link
            link_dir.mkdir()
            shutil.copy(Path(tmp) / "flash.bin", link_dir / "flash.bin")
            for path, data in files.items():
                (link_dir / path).write_bytes(data)
            (link_dir / "config.json").write_text(json.dumps(dict(
                config, terminal_id=name, terminal_key=ledger.add_terminal(name).hex(),
                **over)))
            link_dirs.append((link_dir, link))
        # and for the plain drain (station_tls=0, the station's plain port) as P4
        plain_dir = Path(tmp) / "plain"
        plain_dir.mkdir()
        shutil.copy(Path(tmp) / "flash.bin", plain_dir / "flash.bin")
        plain = VirtualPump(config=dict(
            config, terminal_id="P4", terminal_key=ledger.add_terminal("P4").hex(),
            station_tls=0, station_ca="", station_addr="127.0.0.1:%d" % station.plain_port),
            device_dir=plain_dir, flash_blocks=4096)
        pump.start(write_config=False)
        try:
            boot, took = _drained(pump, started=True)
            plain_took = _drained(plain)[1]
            link_lines = [line for link_dir, link in link_dirs
                          for line in link_heap(link_dir, 4096, link)]
        finally:
            pump.stop()
            plain.stop()
            station.stop()
        stored = len(ledger.sales("P1"))
        ledger.close()
    rate = sales / took
    raw_rate = sales / (raw["us"] / 1e6)
    figure("drain_sales", sales, "count")
    figure("firmware_heap_free_after_boot_drain_backlog", boot["heap_free"], "B")
    figure("drain_sales_in_ledger", stored, "count")
    figure("drain_journal_fill_s", "%.0f" % fill_s, "s")
    figure("drain_sales_per_s", "%.0f" % rate, "sales/s")
    figure("drain_plain_sales_per_s", "%.0f" % (sales / plain_took), "sales/s")
    figure("drain_raw_floor_sales_per_s", "%.0f" % raw_rate, "sales/s")
    figure("drain_raw_floor_bytes", raw["bytes"], "B")
    figure("drain_raw_floor_s", "%.2f" % (raw["us"] / 1e6), "s")
    figure("drain_vs_raw_ratio", "%.3f" % (rate / raw_rate), "ratio")
    for line in link_lines:
        figure_line(line)
    got = {line.partition(": ")[0]: int(line.partition(": ")[2].split()[0])
           for line in link_lines}
    # what TLS adds to the link on this port: MicroPython's heap (the ssl context, the
    # CA, the wrapped socket) at link_up and at the peak, and the handshake's time
    for name in ("heap_session_up_bytes", "heap_peak_bytes"):
        figure("link_tls_extra_" + name, got["link_tls_" + name] - got["link_" + name], "B")
    figure("link_tls_handshake_ms", got["link_tls_connect_ms_median"]
           - got["link_connect_ms_median"], "ms")


def _drained(pump, started=False):
    """Boot `pump` (unless `started`) and wait for its backlog to drain: (its boot event,
    the seconds from link_up to the last ack); the pump killed after."""
    if not started:
        pump.start()
    try:
        boot = pump.wait_event("boot", 60)
        pump.wait_event("link_up", 60)
        t_up = [t for t, n in pump.stamps if n == "link_up"][0]
        pump.wait_event("synced", 1200, lambda f: f["unsynced"] == 0)
        t_done = [t for t, n in pump.stamps if n == "synced"][-1]
    finally:
        pump.kill()
    return boot, t_done - t_up


def link_heap(device_dir, flash_blocks, prefix="link"):
    """mp/bench_link.py in `device_dir` (flash.bin, config.json) at the board's heap: the
    firmware's Link drains that journal to the station while the live heap is sampled;
    its figures named `prefix`_..."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ".frozen:%s" % build("sim")
    env["PUMPSIDE_FLASH_BLOCKS"] = str(flash_blocks)
    out = subprocess.run([micropython_binary(), "-X", "heapsize=" + BOARD_HEAPSIZE,
                          str(Path(__file__).parent / "mp" / "bench_link.py"), "config.json",
                          prefix],
                         cwd=device_dir, env=env, capture_output=True, text=True,
                         timeout=1200)
    if out.returncode != 0:
        raise RuntimeError("bench_link.py failed:\n%s%s" % (out.stdout, out.stderr))
    return out.stdout.splitlines()


class HeapFail(Exception):
    """The heap scenario did not pass at this heap size (why)."""


PAY_BASE = "https://192.168.1.10:8443"  # the heap scenario's pay_base: a version 3 code


def _heap_run(flash, events, heapsize, timeout_s=60, pay=True):
    """One run of the heap scenario (see firmware_heap) on a copy of the filled `flash`
    at `-X heapsize=<heapsize>K`: its last @heap report and the wall time; HeapFail when
    the firmware ran out (MemoryError, a reset, the link dropped) or did not finish."""
    from .bench.cards import CardStore
    from .station.ledger import Ledger
    from .station.server import StationThread
    from .tech import station_pin

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(flash, Path(tmp) / "flash.bin")
        ledger = Ledger(tmp + "/station.db")
        key = ledger.add_terminal("P1")
        station = StationThread(ledger).start()  # TLS, its own CA pinned as provision does
        pinned, files = station_pin(ledger.path)
        store = CardStore(tmp + "/cards.json")
        store.issue("6200000000000017", 10000000, pin="123456")
        config = dict(DEFAULT_CONFIG, sale_mode="card", done_show_ms=0,
                      station_addr="127.0.0.1:%d" % station.port, terminal_id="P1",
                      terminal_key=key.hex(), max_unsynced_sales=100000,
                      max_unsynced_amount=2000000000, max_unsynced_age_s=31536000, **pinned)
        if pay:  # the idle screens show the pay-by-phone code
            config["pay_base"] = PAY_BASE
        pump = VirtualPump(config=config, cards=store, device_dir=tmp, heapsize="%dK" % heapsize,
                           flash_blocks=HEAP_FLASH_BLOCKS, files=files,
                           main=Path(__file__).parent / "mp" / "heap_main.py")
        deadline = time.monotonic() + timeout_s
        pos = [0]

        def failed():
            if any("MemoryError" in line for line in pump.lines):
                return "MemoryError"
            for name, fields in pump.seen:
                if name in ("link_down", "closed", "hotlist_retry", "refused"):
                    return "%s %s" % (name, json.dumps(fields))
            if [n for n, _ in pump.seen].count("boot") > 1 or not pump.alive():
                return "firmware reset or exited"
            return None

        def wait(name, where=None):
            """The next @name (matching `where`) after the last one waited for."""
            while True:
                seen = pump.seen
                for i in range(pos[0], len(seen)):
                    if seen[i][0] == name and (where is None or where(seen[i][1])):
                        pos[0] = i + 1
                        return seen[i][1]
                why = failed()
                if why is None and time.monotonic() > deadline:
                    why = "no @%s in %d s" % (name, timeout_s)
                if why is not None:
                    tail = [line for line in pump.lines if not line.startswith("@heap")]
                    raise HeapFail("%s; console tail:\n%s" % (why, "\n".join(tail[-12:])))
                time.sleep(0.02)

        started = time.monotonic()
        try:
            pump.start(write_config=True)
            wait("boot")
            wait("link_up")
            if pay:  # the idle screen's pay code was made and drawn (since the boot)
                after = pos[0]
                pos[0] = 0
                wait("pay_code")
                pos[0] = max(after, pos[0])
            # one card sale while the link drains the backlog (and then the event log)
            pump.insert("6200000000000017")
            wait("card", lambda f: f["prompt"] == "enter_pin")
            pump.bench.press("123456E")
            wait("card", lambda f: f["prompt"] == "choose_preset")
            pump.bench.press("V100E")
            wait("grey_locked")
            pump.bench.lift()
            wait("delivery")
            wait("receipt")
            settled = pos[0]  # the sale's records are in the journal
            pump.bench.hang_up()
            pump.bench.remove_card()
            wait("card", lambda f: f["prompt"] == "thank_you")
            # everything the station lacked is up, the sale's own records with it
            pos[0] = settled
            wait("synced", lambda f: f["unsynced"] == 0)
            if events:
                pos[0] = 0
                wait("events_synced", lambda f: f["n"] == events)
            took = time.monotonic() - started
            pos[0] = len(pump.seen)
            report = wait("heap")
            modules = [f["modules"] for n, f in pump.seen if n == "heap" and "modules" in f]
            report["modules"] = modules[-1]
            report["s"] = took
            return report
        finally:
            pump.stop()
            station.stop()
            ledger.close()


HEAP_FLASH_BLOCKS = 1024


def firmware_heap(backlog=2000, events=100, kib=(96, 384, 8), tries=3, pay=True):
    """The firmware's heap on the unix port, loaded as a board with a filesystem install
    loads it (.mpy files): the sim board in card mode with its station link and event log
    (mp/heap_main.py: the board's main.py and a task sampling the live heap, collected,
    at every turn of the scheduler). The scenario: `backlog` settled sales and `events`
    event-log records on the flash (flash_tool fill), the firmware boots with the station
    reachable, and one card sale (card, PIN, 1 L preset, grey lock, debit, receipt) runs
    while the link drains the backlog; it ends when the station holds every sale and
    every event-log record. It passes when nothing ran out: no MemoryError, no reset, no
    link_down. `pay`: the idle screens show the pay-by-phone QR code (pay_base set; the
    card sale's screens do not), as a pump that sells by phone runs.
      firmware_code_heap_bytes: the modules that scenario loaded, imported alone
        (mp/bench_code_heap.py) and collected: what their bytecode, globals and names
        cost in heap.
      firmware_data_heap_peak_bytes: the scenario's live peak above that.
      firmware_min_heapsize_kib: the smallest -X heapsize (kib = (low, high, step)) at
        which the scenario passes `tries` times running, by bisection. Near that size a
        run passes or not by how the link's frames and the sale's allocations happened to
        interleave (fragmentation: at 264-280 KiB some runs pass, some do not), so one
        pass proves little."""
    low, high, step = kib
    with tempfile.TemporaryDirectory() as tmp:
        filler = VirtualPump(device_dir=tmp, flash_blocks=HEAP_FLASH_BLOCKS)
        try:
            filler.flash_tool("fill", str(backlog), str(events))
        finally:
            filler.stop()
        flash = Path(tmp) / "flash.bin"
        try:
            top = _heap_run(flash, events, high, pay=pay)
        except HeapFail as e:
            raise RuntimeError("the heap scenario fails at %dK: %s" % (high, e)) from None
        runs, good, bad = 1, high, low - step  # bad: the largest size known to fail
        while good - bad > step:
            mid = bad + (good - bad) // step // 2 * step
            try:
                for _ in range(tries):
                    runs += 1
                    _heap_run(flash, events, mid, pay=pay)
                good = mid
            except HeapFail:
                bad = mid
    fw = build("sim")
    modules = [m for m in top["modules"] if m != "__main__"]
    code = {}
    for line in mp_figures("bench_code_heap.py", *modules, heapsize="%dK" % high).splitlines():
        name, _, rest = line.partition(": ")
        code[name] = int(rest.split()[0])
    mpy = sum((fw / (m.replace(".", "/") + ext)).stat().st_size
              for m in modules for ext in (".mpy", "/__init__.mpy")
              if (fw / (m.replace(".", "/") + ext)).is_file())
    figure("firmware_heap_backlog_sales", backlog, "count")
    figure("firmware_heap_backlog_events", events, "count")
    figure("firmware_code_modules", code["firmware_code_modules"], "count")
    figure("firmware_code_mpy_bytes", mpy, "B")
    figure("firmware_code_heap_bytes", code["firmware_code_heap_bytes"], "B")
    figure("firmware_heap_peak_total_bytes", top["peak"], "B")
    figure("firmware_data_heap_peak_bytes",
           top["peak"] - code["firmware_code_heap_total_bytes"], "B")
    figure("firmware_data_heap_after_boot_bytes",
           top["first"] - code["firmware_code_heap_total_bytes"], "B")
    figure("firmware_heap_samples", top["samples"], "count")
    figure("firmware_heap_scenario_s", "%.1f" % top["s"], "s")
    figure("firmware_min_heapsize_kib", good, "KiB")
    figure("firmware_min_heapsize_tries", tries, "count")
    figure("firmware_min_heapsize_runs", runs, "count")


def firmware_qr():
    """The idle screen's pay code (paycode.py, qr.py) on the unix port, at the heap
    scenario's pay_base: its modules' heap, what a code on screen holds, what one encoding
    allocates and takes (mp/bench_qr.py)."""
    for line in mp_figures("bench_qr.py", PAY_BASE).splitlines():
        figure_line(line)


def station_ingest(terminals=32, sales=1000):
    """The reference station's ingest: `terminals` simulated terminals (asyncio, in a
    process of their own so they do not share the station's GIL) speak the real protocol
    (pumpside/protocol.py: CHALLENGE, tagged HELLO, WELCOME) to the real station server
    and ledger on loopback, each uploading `sales` settled sales in SALES batches of the
    link's size and waiting for each SALES_ACK, as a draining terminal does, over TLS with
    the station's own CA as the product runs. The rate is the sales the ledger holds
    afterwards over the time from every terminal authenticated to the last ack."""
    from .station.ledger import Ledger
    from .station.server import StationThread
    from .station.tls import station_tls

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(tmp + "/station.db")
        keys = [("T%02d" % i, ledger.add_terminal("T%02d" % i).hex())
                for i in range(terminals)]
        station = StationThread(ledger).start()
        try:
            job = json.dumps({"port": station.port, "terminals": keys, "sales": sales,
                              "ca": station_tls(ledger.path).ca_der().hex()})
            out = subprocess.run([sys.executable, "-c", "from pumpside_host.benchmarks "
                                  "import fake_terminals; fake_terminals()"],
                                 input=job, capture_output=True, text=True, timeout=1200)
            if out.returncode != 0:
                raise RuntimeError("fake terminals failed:\n" + out.stdout + out.stderr)
            ingest = json.loads(out.stdout.splitlines()[-1])
        finally:
            station.stop()
        stored = len(ledger.sales())
        ledger.close()
    figure("station_ingest_terminals", terminals, "count")
    figure("station_ingest_batch", ingest["batch"], "records")
    figure("station_ingest_sales", stored, "count")
    figure("station_ingest_acked_stored", ingest["stored"], "count")
    figure("station_ingest_s", "%.2f" % ingest["s"], "s")
    figure("station_ingest_sales_per_s", "%.0f" % (stored / ingest["s"]), "sales/s")


def web_pages(pumps=32, sales=100000, renders=200):
    """The back office (station/web) on a ledger of `sales` sales from `pumps` pumps
    (stored as terminals send them, 1000 a batch, dated over the last 30 days): the
    forecourt page's render time (p50, p99 over `renders`, in-process through Starlette's
    TestClient: the app's own time, no network) and a month's sales filtered by grade."""
    import re

    from argon2 import PasswordHasher
    from starlette.testclient import TestClient

    from .station.ledger import Ledger
    from .station.service import Actor, Service
    from .station.web import load_secret, make_app

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(tmp + "/station.db", hasher=PasswordHasher(time_cost=1,
                                                                    memory_cost=1024))
        service = Service(ledger)
        service.add_operator(Actor.local("bench"), "bench", "cashier", "bench password")
        service.set_price(Actor.local("bench"), "92", 7590)
        for p in range(pumps):
            ledger.hello("T%02d" % p, "1.0", "abcd", 1000, link="tls")
            ledger.set_status("T%02d" % p, {"state": "Fuelling", "ml": 1234, "amount": 937})
        per = sales // pumps
        for p in range(pumps):
            for first in range(0, per, 1000):
                ledger.store("T%02d" % p, [
                    {"type": "FINAL", "seq": n + 1, "sale": n + 1, "ml": 20000,
                     "amount": 15180, "grade": "92" if n % 3 else "95"}
                    for n in range(first, min(per, first + 1000))])
        now = int(time.time())
        ledger.db.execute("UPDATE sales SET received = ? - (rowid % 30) * 86400", (now,))
        client = TestClient(make_app(ledger, load_secret(ledger.path), service))
        page = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        client.post("/login", data={"csrf": token, "name": "bench",
                                    "password": "bench password"})
        took = []
        for _ in range(renders):
            t0 = time.perf_counter()
            assert client.get("/").status_code == 200
            took.append((time.perf_counter() - t0) * 1000)
        start = time.strftime("%Y-%m-%d", time.localtime(now - 29 * 86400))
        end = time.strftime("%Y-%m-%d", time.localtime(now))
        query = []
        for _ in range(5):
            t0 = time.perf_counter()
            answer = client.get("/sales?grade=95&from=%s&to=%s" % (start, end))
            assert answer.status_code == 200
            query.append((time.perf_counter() - t0) * 1000)
        stored = len(ledger.sales())
        ledger.close()
    figure("web_pumps", pumps, "count")
    figure("web_ledger_sales", stored, "count")
    figure("web_forecourt_p50_ms", "%.1f" % _pct(took, 50), "ms")
    figure("web_forecourt_p99_ms", "%.1f" % _pct(took, 99), "ms")
    figure("web_sales_query_ms", "%.1f" % statistics.median(query), "ms")


def report_month(sales=1000000, pumps=32, runs=3):
    """The station's month report (station/reports.py: SQL GROUP BY over the index
    `sales_report`) on a ledger of `sales` sales from `pumps` pumps spread evenly over
    the year 2025 (two nozzles a pump, three grades, a third by card), built straight into
    the `sales` table with executemany in one transaction (the ledger's own columns, as
    Ledger.store writes them). report_month_ms: the median of `runs` reports of June
    2025 (~1/12 of the sales, every breakdown, with the card loads (one per 10 sales),
    4 tanks' stock from their daily reconciliation rows and the fleet company totals of
    50 companies, 20 of the cards each); report_year_ms: the whole ledger's year."""
    from .station import reports
    from .station.ledger import Ledger

    start = int(time.mktime((2025, 1, 1, 0, 0, 0, 0, 0, -1)))
    span = int(time.mktime((2026, 1, 1, 0, 0, 0, 0, 0, -1))) - start
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(tmp + "/station.db")
        db = ledger.db
        t0 = time.perf_counter()

        def rows():
            for n in range(sales):
                pump, sale = n % pumps, n // pumps + 1
                at = start + n * span // sales
                card = "62000000%08d" % (n % 5000) if n % 3 == 0 else None
                record = {"type": "FINAL", "seq": sale, "sale": sale, "ml": 20000 + n % 977,
                          "amount": 15180 + n % 741, "grade": ("92", "95", "0#")[n % 3],
                          "nozzle": 1 + n // pumps % 2, "time": at}
                if card:
                    record.update(asn=card, card_type=1 + n % 2)
                yield (("T%02d" % pump, "FINAL", sale, sale, card, record["ml"],
                        record["amount"], json.dumps(record, sort_keys=True), at, "")
                       + reports.columns(record, reports.pay_kind(record, "FINAL")))
        db.execute("BEGIN")
        db.executemany("INSERT INTO sales (terminal, kind, sale, seq, asn, ml, amount, "
                       "record, received, journal, %s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
                       "?)" % reports.COLUMNS, rows())
        # the card desk's loads (one for every 10 sales) and 4 tanks' daily reconciliation
        # rows of the year: the report's card loads and stock sections read them too
        db.executemany("INSERT INTO card_loads (asn, amount, source, state, funded) VALUES "
                       "(?,?,?,'done',?)", (("62000000%08d" % (n % 5000), 10000 + n % 991,
                                             ("cash", "online")[n % 2],
                                             start + n * span // (sales // 10))
                                            for n in range(sales // 10)))
        db.executemany("INSERT INTO tank_days VALUES (?,?,?,?,?,?,?,?,?,?,'')", (
            (tank, time.strftime("%Y-%m-%d", time.localtime(start + d * 86400 + 43200)),
             20_000_000, 0, 500_000, 19_500_000, 19_499_000, -1000, -1000 * (d % 31 + 1),
             500_000 * (d % 31 + 1)) for tank in range(1, 5) for d in range(365)))
        db.executemany("INSERT INTO fleet_companies (id, name, mode, credit_limit, created) "
                       "VALUES (?,?,'prepaid',0,?)", ((c, "Fleet %02d" % c, start)
                                                     for c in range(1, 51)))
        db.executemany("INSERT INTO fleet_cards (asn, company, plate) VALUES (?,?,?)", (
            ("62000000%08d" % (n * 3), 1 + n % 50, "A%05d" % n) for n in range(1000)))
        db.execute("COMMIT")
        built = time.perf_counter() - t0
        took = []
        for _ in range(runs):
            t0 = time.perf_counter()
            rep = reports.report(db, *reports.period("month", "2025-06")[:2])
            took.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        year = reports.report(db, *reports.period("year", "2025")[:2])
        year_ms = (time.perf_counter() - t0) * 1000
        held = db.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
        ledger.close()
    figure("report_ledger_sales", held, "count")
    figure("report_ledger_pumps", pumps, "count")
    figure("report_ledger_build_s", "%.1f" % built, "s")
    figure("report_month_sales", rep["totals"]["count"], "count")
    figure("report_month_loads", rep["card_loads"]["count"], "count")
    figure("report_month_tanks", len(rep["stock"]), "count")
    figure("report_month_fleet_companies", len(rep["fleet"]), "count")
    figure("report_month_ms", "%.0f" % statistics.median(took), "ms")
    figure("report_year_sales", year["totals"]["count"], "count")
    figure("report_year_ms", "%.0f" % year_ms, "ms")
def phone_payments(orders=20):
    """Phone payment: the sandbox gateway in its own process (`pumpside gateway-sandbox`,
    no chaos) and the station with its web port (StationThread). Per order: the pay page's
    POST (the order made at the gateway), the payer paying by API, then the time until the
    signed notification made the order paid (polled every 2 ms on the store), and the
    capture of 10 L's amount with the refund of the rest (both confirmed by the gateway)."""
    import socket
    import sqlite3
    import urllib.parse
    import urllib.request

    from pumpside.paycode import pay_key, token

    from .station.ledger import Ledger
    from .station.payments.gateway import SandboxGateway
    from .station.payments.orders import Orders
    from .station.payments.service import Payments
    from .station.server import StationThread
    from .station.service import Actor, Service

    local = Actor.local("bench")
    with tempfile.TemporaryDirectory() as tmp:
        state = tmp + "/sandbox.db"
        proc = subprocess.Popen([sys.executable, "-m", "pumpside_host.cli", "gateway-sandbox",
                                 "--port", "0", "--state", state, "--retry-s", "0.2"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        server = None
        try:
            url = proc.stdout.readline().split()[3]
            ledger = Ledger(tmp + "/station.db")
            service = Service(ledger)
            service.set_price(local, "92", 7590)
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            base = "http://127.0.0.1:%d" % port
            service.set_gateway(local, url, state + ".pub", base)
            for n in range(orders):
                service.add_terminal(local, "B%02d" % n)
            server = StationThread(ledger, web_port=port).start()
            db = sqlite3.connect(ledger.path, timeout=10)
            payments = Payments.open(ledger.path, SandboxGateway(url, state + ".pub"), base)
            paid_ms, settle_ms = [], []
            for n in range(orders):
                terminal = "B%02d" % n  # the pump's one-time token, as its QR code has it
                t = token(pay_key(ledger.key_of(terminal)), terminal, 1, int(time.time()))
                urllib.request.urlopen(base + "/pay/B%02d/1" % n, urllib.parse.urlencode(
                    {"preset": "amount", "value": "200", "t": t}).encode(),
                    timeout=10).read()
                order_no = db.execute("SELECT order_no FROM pay_orders WHERE terminal = ?",
                                      ("B%02d" % n,)).fetchone()[0]
                t0 = time.perf_counter()
                urllib.request.urlopen(urllib.request.Request(
                    url + "/sandbox/pay/" + order_no, data=b"", method="POST"),
                    timeout=10).read()
                while Orders(db).get(order_no)["state"] != "paid":
                    if time.perf_counter() - t0 > 30:
                        raise RuntimeError("order %s never paid" % order_no)
                    time.sleep(0.002)
                paid_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                order = payments.capture(order_no, 7590)
                settle_ms.append((time.perf_counter() - t0) * 1000)
                if (order["captured"], order["refunded"]) != (7590, 12410):
                    raise RuntimeError("order %s: %r" % (order_no, order))
            payments.close()
            db.close()
        finally:
            if server is not None:
                server.stop()
            proc.terminate()
            proc.wait(10)
    figure("pay_orders", orders, "count")
    figure("pay_notify_to_paid_ms_p50", "%.1f" % _pct(paid_ms, 50), "ms")
    figure("pay_notify_to_paid_ms_max", "%.1f" % max(paid_ms), "ms")
    figure("pay_capture_refund_ms_p50", "%.1f" % _pct(settle_ms, 50), "ms")


def fake_terminals():
    """The simulated terminals of station_ingest (stdin: the job as JSON; stdout: the
    result as JSON). Each one connects and authenticates, all wait for the last, then each
    uploads its sales in batches, one batch in flight."""
    import asyncio
    import ssl

    from pumpside import meter, protocol
    from pumpside import record as rec
    from pumpside.window import BATCH

    job = json.loads(sys.stdin.read())

    def batches(sales):
        out, batch = [], []
        for seq in range(1, sales + 1):
            bill = rec.new_bill()
            ml = 20000 + seq % 100
            bill.update(sale=seq, time=1795000000 + seq, nozzle=1, grade="92", price=7590,
                        mode="V", preset_ml=20000, pulses=ml // 10, ml=ml,
                        amount=meter.amount_for_ml(ml, 7590), stop=1)
            batch.append(rec.to_json(seq, rec.FINAL, rec.pack_bill(bill), True))
            if len(batch) == BATCH:
                out.append(batch)
                batch = []
        return out + ([batch] if batch else [])

    tls = ssl.create_default_context(cadata=bytes.fromhex(job["ca"]))
    work = batches(job["sales"])  # the same records for each terminal: own ids, own ledger
    stored = [0]

    async def frame(reader):
        head = await reader.readexactly(2)
        return head + await reader.readexactly((head[0] << 8) | head[1])

    async def terminal(tid, key, ready, go):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", job["port"], ssl=tls, server_hostname="127.0.0.1")
        nonce = os.urandom(protocol.NONCE_LEN)
        session = protocol.terminal_session(bytes.fromhex(key), await frame(reader), nonce)
        writer.write(session.encode(protocol.HELLO, {
            "terminal": tid, "nonce": nonce.hex(), "firmware": "bench", "software_id": "",
            "journal_seq": job["sales"], "prices_version": 0, "hotlist_version": 0}))
        mtype, _ = session.decode(await frame(reader), protocol.FROM_STATION)
        assert mtype == protocol.WELCOME, mtype
        ready.append(tid)
        if len(ready) == len(job["terminals"]):
            go.set()
        await go.wait()
        for batch in work:
            writer.write(session.encode(protocol.SALES, {"records": batch}))
            await writer.drain()
            mtype, ack = session.decode(await frame(reader), protocol.FROM_STATION)
            assert mtype == protocol.SALES_ACK, protocol.TYPE_NAMES[mtype]
            stored[0] += sum(1 for r in ack["results"] if r[1] == "stored")
        writer.close()
        return time.monotonic()

    async def main():
        ready, go = [], asyncio.Event()
        tasks = [asyncio.create_task(terminal(tid, key, ready, go))
                 for tid, key in job["terminals"]]
        await go.wait()
        t0 = time.monotonic()
        ends = await asyncio.gather(*tasks)
        return max(ends) - t0

    took = asyncio.run(main())
    print(json.dumps({"s": took, "stored": stored[0], "batch": BATCH}))


FULL = {"journal": (40, 2000), "hotlist": 1000000, "reaction_sales": SALES, "card_sales": 5,
        "presets": (60, 10000),
        "drain_sales": 10000, "ingest_sales": 1000, "wear_sales": 10000, "web_sales": 100000,
        "report_sales": 1000000,
        "pay_orders": 50,
        "heap": {"backlog": 2000, "events": 100, "kib": (96, 384, 8), "tries": 3}}
QUICK = {"journal": (2, 20), "hotlist": 2000, "reaction_sales": 2, "card_sales": 1,
         "presets": (3, 16),
         "drain_sales": 16, "ingest_sales": 16, "wear_sales": 20, "web_sales": 320,
         "report_sales": 3200,
         "pay_orders": 3,
         "heap": {"backlog": 16, "events": 4, "kib": (192, 320, 64), "tries": 1}}


def main(quick=None):
    if quick is None:
        quick = os.environ.get("PUMPSIDE_BENCH_QUICK", "") not in ("", "0")
    size = QUICK if quick else FULL
    t0 = time.monotonic()
    for script, args in (("bench_journal.py", size["journal"]),
                         ("bench_hotlist.py", (size["hotlist"],))):
        for line in mp_figures(script, *args).splitlines():
            figure_line(line)
    for board, blocks in BOARD_FLASH_BLOCKS:
        for line in mp_figures("bench_wear.py", board, blocks, size["wear_sales"],
                               FLASH_CYCLES).splitlines():
            figure_line(line)
    inside, e2e, took = control_reaction(size["reaction_sales"])
    figure("control_reaction_us_p50", _pct(inside, 50), "us")
    figure("control_reaction_us_p99", _pct(inside, 99), "us")
    figure("control_reaction_us_max", max(inside), "us")
    figure("control_reaction_e2e_us_p50", int(_pct(e2e, 50)), "us")
    figure("control_reaction_e2e_us_p99", int(_pct(e2e, 99)), "us")
    figure("control_reaction_e2e_idle_us_max", int(max(e2e)), "us")
    figure("control_reaction_samples", len(inside), "count")
    figure("control_reaction_mean_us", int(statistics.mean(inside)), "us")
    figure("control_reaction_wall_s", "%.1f" % took, "s")
    preset_overrun(*size["presets"])
    card_sales(size["card_sales"])
    firmware_qr()
    firmware_heap(**size["heap"])
    drain(size["drain_sales"])
    station_ingest(32, size["ingest_sales"])
    web_pages(32, size["web_sales"])
    report_month(size["report_sales"], 32)
    phone_payments(size["pay_orders"])
    figure("bench_wall_s", "%.1f" % (time.monotonic() - t0), "s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
