# `make bench`'s firmware heap scenario (benchmarks.firmware_heap): the sim board's
# main.py as it is, plus one task beside the firmware's own that samples the live heap
# (gc.collect() then gc.mem_alloc()) at every turn of the scheduler, from the first task
# on. Every 250 samples it logs `@heap {"peak": B, "first": B, "now": B, "samples": n}`
# ("first": the first sample, the firmware booted and nothing run yet), with "modules"
# (every module loaded, sorted) when that list changed; the bench reads the last one.
import asyncio
import gc
import sys

import board
from pumpside import boot, log

PEAK = [0, 0, 0, 0]  # bytes, samples, modules reported, the first sample


async def sampler():
    last = 0
    while True:
        gc.collect()
        now = gc.mem_alloc()
        if now > PEAK[0]:
            PEAK[0] = now
        PEAK[1] += 1
        if PEAK[1] == 1:
            PEAK[3] = now
        if PEAK[1] - last >= 250 or len(sys.modules) != PEAK[2]:
            last = PEAK[1]
            fields = {"peak": PEAK[0], "first": PEAK[3], "now": now, "samples": PEAK[1]}
            if len(sys.modules) != PEAK[2]:
                PEAK[2] = len(sys.modules)
                fields["modules"] = sorted(sys.modules)
            log.event("heap", fields)
        await asyncio.sleep_ms(1)


_run = asyncio.run


def run(main):
    async def beside():
        asyncio.create_task(sampler())
        await main

    return _run(beside())


asyncio.run = run  # boot.py's and app.py's asyncio.run(...) start the sampler too
boot.run(board)
