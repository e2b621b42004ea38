# `make bench` part run on the MicroPython unix port: flash life. A pump that is online
# journals `sales` default-config 30 L sales (AUTHORIZED, 60 checkpoints, FINAL; the
# station acknowledges each one, so segments are pruned as they would be) on a sim flash
# of `blocks` 4 KB blocks (a board's journal partition) that counts erases per block.
#   flash_blocks_erased_per_sale_<board>: erases over the run / sales
#   flash_sales_of_life_<board>: blocks x rated erase cycles / blocks erased per sale
#   flash_wear_spread_<board>: max / mean erases per block at the end of the run
# Argv: board label, blocks, sales, rated cycles.
import os
import sys

import vfs
from simflash import SimFlash

from pumpside import journal, storage
from pumpside import record as rec

BOARD = sys.argv[1]
BLOCKS = int(sys.argv[2])
SALES = int(sys.argv[3])
CYCLES = int(sys.argv[4])
SALE_CHECKPOINTS = 60


def figure(name, value, unit):
    """One figure line, `name: value unit` (benchmarks.py checks every line's shape)."""
    print("%s_%s: %s %s" % (name, BOARD, value, unit))


def bill():
    b = rec.new_bill()
    b.update({"time": 1700000000, "nozzle": 1, "grade": "92", "price": 7590, "mode": "V"})
    return b


path = "wear_%s.bin" % BOARD
try:
    os.remove(path)
except OSError:
    pass
flash = SimFlash(path, blocks=BLOCKS, wear=True)
vfs.VfsLfs2.mkfs(flash, readsize=storage.READ_SIZE, progsize=storage.PROG_SIZE,
                 lookahead=storage.LOOKAHEAD)
vfs.mount(vfs.VfsLfs2(flash, readsize=storage.READ_SIZE, progsize=storage.PROG_SIZE,
                      lookahead=storage.LOOKAHEAD), "/f")
jr = journal.Journal("/f/journal")
jr.open()
for _ in range(SALES):
    jr.begin(bill())
    for i in range(SALE_CHECKPOINTS):
        jr.checkpoint(1700000000, i * 50, i * 500)
    jr.finish(1700000000, 3000, 30000, 22770, 1)
    jr.ack(jr.next_seq - 1, 1700000000)
vfs.umount("/f")
os.remove(path)

counts = flash.block_erases
total = 0
most = 0
for n in counts:
    total += n
    most = max(most, n)
assert total == flash.erases
# integers only: erases per sale in thousandths, spread in hundredths
figure("flash_blocks_erased_per_sale", "%d.%03d" % divmod(total * 1000 // SALES, 1000), "blocks")
figure("flash_sales_of_life", BLOCKS * CYCLES * SALES // total, "sales")
figure("flash_wear_spread", "%d.%02d" % divmod(most * BLOCKS * 100 // total, 100), "ratio")
figure("flash_block_erases_max", most, "erases")
figure("flash_blocks", BLOCKS, "blocks")
