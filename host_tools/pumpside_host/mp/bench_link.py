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
# live data, not what a lazy collector happened to leave lying around.
#   bench_link.py CONFIG_JSON   (station_addr, terminal_id, terminal_key of a config)
# Prints `name: value unit` lines only.
import asyncio
import gc
import os
import sys

from simflash import SimFlash

from pumpside import config, journal, log, storage

PEAK = [0, 0]  # bytes, samples


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


async def watch(jr, task):
    while jr.ack_seq < jr.next_seq - 1:
        sample()
        await asyncio.sleep_ms(1)
    task.cancel()


def main():
    cfg = config.load(sys.argv[1])
    log.event = lambda *a: None  # stdout carries figures only
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
    rec.to_json = sampled(rec.to_json)
    gc.collect()
    base = gc.mem_alloc()
    ln = link.Link(jr, cfg, _Clock())

    async def run():
        task = asyncio.create_task(ln.run())
        await watch(jr, task)
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(run())
    figure("link_heap_peak_bytes", PEAK[0] - base, "B")
    figure("link_module_heap_bytes", base - before_import, "B")
    figure("link_heap_peak_total_bytes", PEAK[0], "B")
    figure("link_heap_samples", PEAK[1], "count")
    figure("link_heap_drained_sales", unsynced - jr.unsynced, "count")


main()
