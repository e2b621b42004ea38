"""`make bench`: figures as `name: value unit`, one per line. Never asserted in tests.

control_reaction_us: time from the firmware's pulser read that crossed a stage threshold
(slow-down or close) to the valve command having gone out, measured inside the firmware
with ticks_us on the MicroPython unix port. control_reaction_e2e_us: the same edge seen
from the bench: from the pulse edge that crossed the threshold to the valve command's
arrival, so it includes the control loop's polling period.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .bench import Bench
from .vboard import (
    BOARD_HEAPSIZE,
    DEFAULT_CONFIG,
    FIRMWARE,
    HEAPSIZE,
    SIM_BOARD,
    VirtualPump,
    micropython_binary,
)

SALES = 30


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def control_reaction(sales=SALES):
    cfg = dict(DEFAULT_CONFIG, slow_lead_ml=300, done_show_ms=0, settle_ms=200)
    bench = Bench(fast_lpm=120.0, slow_lpm=10.0)
    inside = []
    t0 = time.monotonic()
    with VirtualPump(config=cfg, bench=bench) as vp:
        boot = vp.wait_event("boot", 10)
        print("firmware_heap_free_after_boot: %d B (of %s)" % (boot["heap_free"], BOARD_HEAPSIZE))
        vp.wait_state("IDLE", 10)
        for _ in range(sales):
            bench.press("V150E")  # 1.5 L at truck flow
            vp.wait_event("authorized")
            bench.lift()
            d = vp.wait_event("delivery", 30)
            bench.hang_up()
            assert d["stop"] == "CAP", d
        inside = [f["reaction_us"] for n, f in vp.seen if n == "stage"]
    e2e = [s * 1e6 for s in bench.reaction_s]
    return inside, e2e, time.monotonic() - t0


def mp_figures(script, *args):
    """Run a benchmark script of mp/ on the unix port (128K heap) in a scratch directory."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ".frozen:%s:%s" % (SIM_BOARD, FIRMWARE)
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([micropython_binary(), "-X", "heapsize=" + HEAPSIZE,
                              str(Path(__file__).parent / "mp" / script),
                              *[str(a) for a in args]], cwd=tmp, env=env,
                             capture_output=True, text=True, timeout=1200)
    if out.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (script, out.stdout, out.stderr))
    return out.stdout


def main():
    for script, args in (("bench_journal.py", (40, 2000)), ("bench_hotlist.py", (1000000,))):
        sys.stdout.write(mp_figures(script, *args))
        sys.stdout.flush()
    inside, e2e, took = control_reaction()
    print("control_reaction_us_p50: %d us" % _pct(inside, 50))
    print("control_reaction_us_p99: %d us" % _pct(inside, 99))
    print("control_reaction_us_max: %d us" % max(inside))
    print("control_reaction_e2e_us_p50: %d us" % _pct(e2e, 50))
    print("control_reaction_e2e_us_p99: %d us" % _pct(e2e, 99))
    print("control_reaction_samples: %d count" % len(inside))
    print("control_reaction_mean_us: %d us" % statistics.mean(inside))
    print("bench_wall_s: %.1f s" % took)
    return 0


if __name__ == "__main__":
    sys.exit(main())
