# `make bench` part run on the MicroPython unix port at the virtual board's heap: the
# firmware's own Link (pumpside/link.py) drains a journal on a sim flash (flash.bin in the
# working directory, a copy of the drain bench's) to the real station on loopback, and
# the live heap is sampled throughout: gc.collect() then gc.mem_alloc()
#   - each time the link calls into JSON, HMAC or the record codec (the frame, its
#     payload and the batch are alive in the caller's frames at that moment), and
#   - from a task that runs at every turn of the scheduler (every await of the link).
# The peak of those samples is the link's live heap at its worst, above the heap held
# before the Link was made (its modules loaded, the journal open): what the link needs
# beside the rest of the firmware. Garbage is collected before each sample, so this is
# live data, not what a lazy collector happened to leave lying around. Besides the peak:
# the live heap once the session is up (link_up: with TLS, mbedTLS's context and record
# buffers are on MicroPython's heap), and the time from connect to the station's first
# frame (CHALLENGE), the median of CONNECTS fresh connections after the drain: over TLS
# that is the handshake. Run once plain (station_tls=0) and once over TLS to compare.
# On this port mbedTLS allocates with the C library (a bare-metal port such as the rp2
# takes it from MicroPython's heap, the esp32 from ESP-IDF's): its record buffers (16 KB
# in, 4 KB out in MicroPython's mbedTLS config) and handshake state show as the growth of
# the process's C heap ([heap] in /proc/self/smaps, in pages, a lower bound: pages freed
# earlier are reused) from before the session to link_up.
#   bench_link.py CONFIG_JSON PREFIX   (station_addr, terminal_id, terminal_key and the
#                                       station_tls / station_ca of a config)
# Prints `PREFIX_name: value unit` lines only.
import asyncio
import gc
import os
import sys
import time

from simflash import SimFlash

from pumpside import config, journal, log, storage

PEAK = [0, 0]  # bytes, samples
UP = [0, 0]  # the live heap and the C heap's resident bytes at link_up
CONNECTS = 5


def sample():
    gc.collect()
    m = gc.mem_alloc()
    if m > PEAK[0]:
        PEAK[0] = m
    PEAK[1] += 1


def sampled(fn):
    def call(*args):
        out = fn(*args)
        sample()
        return out

    return call


class _Json:
    """protocol.py's `json`, sampled after each dumps/loads."""

    def __init__(self, real):
        self.dumps = sampled(real.dumps)
        self.loads = sampled(real.loads)


class _Clock:
    def time(self):
        return 1795000000


def figure(name, value, unit):
    print("%s: %s %s" % (name, value, unit))


class _Challenged(Exception):
    pass


async def connect_ms(ln):
    """ms from the link's connect to the station's CHALLENGE in full (the TLS handshake
    included), the session then dropped."""
    frame = ln._frame

    async def first(reader):
        await frame(reader)
        raise _Challenged()

    ln._frame = first
    start = time.ticks_ms()
    try:
        await ln._session()
    except _Challenged:
        pass
    finally:
        del ln._frame
    return time.ticks_diff(time.ticks_ms(), start)


def c_heap():
    """Resident bytes of the process's C heap (brk), or 0 where /proc has none."""
    try:
        with open("/proc/self/smaps") as f:
            inside = False
            for line in f:
                if line.endswith("[heap]\n"):
                    inside = True
                elif inside and line.startswith("Rss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def on_event(name, fields=None):
    if name == "link_up" and not UP[0]:
        gc.collect()
        UP[0] = gc.mem_alloc()
        UP[1] = c_heap()


async def watch(jr, task):
    while jr.ack_seq < jr.next_seq - 1:
        sample()
        await asyncio.sleep_ms(1)
    task.cancel()


def main():
    cfg = config.load(sys.argv[1])
    prefix = sys.argv[2]
    log.event = on_event  # stdout carries figures only
    storage.mount(SimFlash("flash.bin", blocks=int(os.getenv("PUMPSIDE_FLASH_BLOCKS") or 256)))
    jr = journal.Journal("/flash/journal")
    jr.open()
    unsynced = jr.unsynced
    gc.collect()
    before_import = gc.mem_alloc()
    from pumpside import link, protocol
    from pumpside import record as rec

    protocol.json = _Json(protocol.json)
    protocol.hmac_sha256 = sampled(protocol.hmac_sha256)
    rec.decode = sampled(rec.decode)
    gc.collect()
    base = gc.mem_alloc()
    c_base = c_heap()
    ln = link.Link(jr, cfg, _Clock())

    async def run():
        task = asyncio.create_task(ln.run())
        await watch(jr, task)
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(run())
    times = sorted(asyncio.run(connect_ms(ln)) for _ in range(CONNECTS))
    figure(prefix + "_heap_before_bytes", base, "B")
    figure(prefix + "_heap_session_up_bytes", UP[0] - base, "B")
    figure(prefix + "_heap_peak_bytes", PEAK[0] - base, "B")
    figure(prefix + "_c_heap_growth_session_up_bytes", UP[1] - c_base, "B")
    figure(prefix + "_module_heap_bytes", base - before_import, "B")
    figure(prefix + "_heap_peak_total_bytes", PEAK[0], "B")
    figure(prefix + "_heap_samples", PEAK[1], "count")
    figure(prefix + "_heap_drained_sales", unsynced - jr.unsynced, "count")
    figure(prefix + "_connect_ms_median", times[CONNECTS // 2], "ms")
    figure(prefix + "_connect_ms_max", times[-1], "ms")


main()
