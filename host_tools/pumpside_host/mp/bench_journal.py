# `make bench` part run on the MicroPython unix port: the journal on the sim board's
# file-backed flash (littlefs, firmware settings). Prints `name: value unit` lines.
# A "sale" here is the default config's 30 L sale: AUTHORIZED, a checkpoint per 500 ml
# (60), the closing checkpoint and FINAL.
import os
import sys
import time
from array import array

import vfs
from simflash import SimFlash

from pumpside import journal, storage
from pumpside import record as rec

SALE_CHECKPOINTS = 60
SALES = int(sys.argv[1]) if len(sys.argv) > 1 else 40
BACKLOG = int(sys.argv[2]) if len(sys.argv) > 2 else 2000


def figure(name, value, unit):
    """One figure line, `name: value unit` (benchmarks.py checks every line's shape)."""
    print("%s: %s %s" % (name, value, unit))


def fresh(path, blocks):
    try:
        os.remove(path)
    except OSError:
        pass
    flash = SimFlash(path, blocks=blocks)
    vfs.VfsLfs2.mkfs(flash, readsize=storage.READ_SIZE, progsize=storage.PROG_SIZE,
                     lookahead=storage.LOOKAHEAD)
    fs = vfs.VfsLfs2(flash, readsize=storage.READ_SIZE, progsize=storage.PROG_SIZE,
                     lookahead=storage.LOOKAHEAD)
    return flash, fs


def bill():
    b = rec.new_bill()
    b.update({"time": 1700000000, "nozzle": 1, "grade": "92", "price": 7590, "mode": "V"})
    return b


class Samples:
    """A histogram of 20 us buckets (the last one open-ended): percentiles without
    keeping thousands of samples in a 128K heap."""

    BUCKET = 20

    def __init__(self, buckets=2500):
        self.counts = array("H", bytes(2 * buckets))
        self.n = 0
        self.max = 0

    def append(self, us):
        self.last = us
        i = min(us // self.BUCKET, len(self.counts) - 1)
        self.counts[i] += 1
        self.n += 1
        if us > self.max:
            self.max = us

    def pct(self, q):
        want = (q * self.n + 99) // 100
        seen = 0
        for i in range(len(self.counts)):
            seen += self.counts[i]
            if seen >= want:
                return (i + 1) * self.BUCKET
        return self.max


def timed(commits, fn, *args):
    t = time.ticks_us()
    fn(*args)
    if commits is not None:
        commits.append(time.ticks_diff(time.ticks_us(), t))


class Fuelling:
    """The checkpoints (the commits while fuel flows): their times, and how many erased
    (a renewal of the checkpoint directory, which the recorder keeps away from a valve
    decision, or else a compaction)."""

    def __init__(self):
        self.us = Samples()
        self.plain_us = Samples()  # those that erased nothing
        self.erasing = 0

    def checkpoint(self, jr, *args):
        erases = flash.erases
        t = time.ticks_us()
        jr.checkpoint(*args)
        us = time.ticks_diff(time.ticks_us(), t)
        self.us.append(us)
        if flash.erases == erases:
            self.plain_us.append(us)
        else:
            self.erasing += 1


def sale(jr, checkpoints, commits=None, fuelling=None):
    timed(commits, jr.begin, bill())
    for i in range(checkpoints):
        if fuelling is None:
            timed(commits, jr.checkpoint, 1700000000, i * 50, i * 500)
        else:
            fuelling.checkpoint(jr, 1700000000, i * 50, i * 500)
            commits.append(fuelling.us.last)
    timed(commits, jr.finish, 1700000000, 3000, 30000, 22770, 1)


# 1. the chosen layout: wear and latency per sale ------------------------------------
flash, fs = fresh("bench_flash.bin", 512)
vfs.mount(fs, "/f")
jr = journal.Journal("/f/journal")
jr.open()
sale(jr, SALE_CHECKPOINTS)  # warm-up: directories exist
p0, e0 = flash.programmed, flash.erased
commits = Samples()
fuelling = Fuelling()
for _ in range(SALES):
    sale(jr, SALE_CHECKPOINTS, commits, fuelling)
figure("flash_bytes_programmed_per_sale", (flash.programmed - p0) // SALES, "B")
figure("flash_bytes_erased_per_sale", (flash.erased - e0) // SALES, "B")
figure("record_bytes", rec.MAX_RECORD, "B")
figure("checkpoint_record_bytes",
       rec.HDR_LEN + rec.PAYLOAD_LEN[rec.CHECKPOINT] + rec.CRC_LEN, "B")
figure("journal_commit_us_p50", commits.pct(50), "us")
figure("journal_commit_us_p99", commits.pct(99), "us")
figure("journal_commit_us_max", commits.max, "us")
figure("journal_checkpoint_us_max", fuelling.us.max, "us")
figure("journal_checkpoint_us_p99", fuelling.us.pct(99), "us")
figure("journal_checkpoint_plain_us_max", fuelling.plain_us.max, "us")
figure("journal_checkpoints_erasing_per_sale_x100", fuelling.erasing * 100 // SALES, "count")
del commits, fuelling
vfs.umount("/f")

# 2. the rejected layout: every record appended to one file with a sync -----------------
flash, fs = fresh("bench_flash.bin", 512)
vfs.mount(fs, "/f")
f = open("/f/log", "ab")
f.write(bytes(rec.MAX_RECORD))
f.flush()
p0, e0 = flash.programmed, flash.erased
for _ in range(100):
    f.write(bytes(rec.MAX_RECORD))
    f.flush()
f.close()
figure("append_layout_bytes_programmed_per_record", (flash.programmed - p0) // 100, "B")
figure("append_layout_bytes_erased_per_record", (flash.erased - e0) // 100, "B")
vfs.umount("/f")

# 3. the offline backlog: flash used and boot scan time at the 2,000-sale limit -------
flash, fs = fresh("bench_flash.bin", 1024)
vfs.mount(fs, "/f")
jr = journal.Journal("/f/journal")
jr.open()
free0 = storage.free_blocks("/f")
for _ in range(BACKLOG):
    sale(jr, 1)
used = free0 - storage.free_blocks("/f")
figure("flash_kib_for_%d_unsynced_sales" % BACKLOG, used * 4, "KiB")
t = time.ticks_ms()
jr = journal.Journal("/f/journal")
jr.open()
figure("journal_open_ms_%d_unsynced_sales" % BACKLOG, time.ticks_diff(time.ticks_ms(), t), "ms")
assert jr.unsynced == BACKLOG + 0
vfs.umount("/f")
os.remove("bench_flash.bin")
