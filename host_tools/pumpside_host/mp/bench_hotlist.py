# `make bench` part on the MicroPython unix port: a 1,000,000-entry hotlist on littlefs
# on the sim board's file-backed flash; lookups of listed and unlisted cards.
import gc
import os
import struct
import sys
import time

import vfs
from simflash import SimFlash

from pumpside import hotlist, storage

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
LOOKUPS = 200


def figure(name, value, unit):
    """One figure line, `name: value unit` (benchmarks.py checks every line's shape)."""
    print("%s: %s %s" % (name, value, unit))


try:
    os.remove("hl_flash.bin")
except OSError:
    pass
flash = SimFlash("hl_flash.bin", blocks=(N * 8) // 4096 * 5 // 4 + 64)
vfs.VfsLfs2.mkfs(flash, readsize=storage.READ_SIZE, progsize=storage.PROG_SIZE,
                 lookahead=storage.LOOKAHEAD)
vfs.mount(vfs.VfsLfs2(flash, readsize=storage.READ_SIZE, progsize=storage.PROG_SIZE,
                      lookahead=storage.LOOKAHEAD), "/f")


def cards():
    for i in range(N):
        yield struct.pack(">Q", 6200000000000000 + 7 * i)  # ASN-like, every 7th number


hl = hotlist.Hotlist("/f/hotlist").open()
t = time.ticks_ms()
hl.full(1, cards())
figure("hotlist_entries", hl.count, "count")
figure("hotlist_load_s", time.ticks_diff(time.ticks_ms(), t) // 1000, "s")
hl.apply(1, 2, add=[struct.pack(">Q", 6200000000000001)])  # a delta on top, as in service
keys = [struct.pack(">Q", 6200000000000000 + (i * 7919) % (7 * N)) for i in range(LOOKUPS)]
reads = 0
worst = 0
gc.collect()
gc.disable()
before = gc.mem_alloc()
t = time.ticks_us()
listed = 0
for key in keys:
    if hl.listed(key):
        listed += 1
    reads += hl.last_reads
    worst = max(worst, hl.last_reads)
took = time.ticks_diff(time.ticks_us(), t)
allocated = gc.mem_alloc() - before
gc.enable()
figure("hotlist_lookup_reads", reads // LOOKUPS, "reads")
figure("hotlist_lookup_reads_worst", worst, "reads")
figure("hotlist_lookup_ms", "%d.%03d" % (took // LOOKUPS // 1000, took // LOOKUPS % 1000), "ms")
figure("hotlist_lookup_ram_bytes", allocated // LOOKUPS, "B")
figure("hotlist_lookups_listed", listed, "count")
figure("hotlist_lookups", LOOKUPS, "count")
hl.close()
vfs.umount("/f")
os.remove("hl_flash.bin")
