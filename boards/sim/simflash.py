"""File-backed NOR flash for the sim board: littlefs's block device, with wear counters
and power cuts on demand.

`erase_ms` (PUMPSIDE_FLASH_ERASE_MS): each erase holds the process this long, as a real
NOR chip's sector erase stalls its CPU (W25Q-class: 45 ms typical for 4 KB, 400 ms at
most); 0 (the default) erases at file speed.

The image persists across process restarts like a real chip. Counters: bytes programmed
and bytes erased since boot; with `wear=True`, erases per block too (`block_erases`, for
the bench's wear figures: off by default, so the board's heap does not pay for it).
Faults (PUMPSIDE_FLASH_FAULT, armed at boot):
  program:N   power dies at the Nth program: nothing of it is written
  torn:N      power dies during the Nth program: only its first part is written
  erase:N     power dies during the Nth erase: only the first half of the block is erased
Before dying the board tells the bench the power is gone (so the fuel stops with it),
then the process is killed with SIGKILL: no Python code runs after the cut.
"""
import os
import time

ERASED = 0xFF


class SimFlash:
    def __init__(self, path, blocks=256, block_size=4096, fault=None, on_cut=None,
                 wear=False, erase_ms=0):
        self.block_size = block_size
        self.erase_ms = erase_ms
        self.blocks = blocks
        self.programmed = 0
        self.erased = 0
        self.programs = 0
        self.erases = 0
        self.fault = None
        self.on_cut = on_cut
        self.block_erases = None  # erases per block, if counted (wear=True)
        if wear:
            from array import array

            self.block_erases = array("L", [0] * blocks)
        self._blank = bytes([ERASED]) * block_size  # allocated once, as a driver would
        if fault:
            kind, n = fault.split(":")
            self.fault = (kind, int(n))
        try:
            self.f = open(path, "r+b")
        except OSError:
            f = open(path, "wb")
            for _ in range(blocks):
                f.write(self._blank)
            f.close()
            self.f = open(path, "r+b")

    def _cut(self):
        if self.on_cut:
            self.on_cut()
        os.system("kill -9 $PPID")  # the shell's parent is this MicroPython process

    def stats(self):
        return {"programmed": self.programmed, "erased": self.erased}

    def readblocks(self, block, buf, offset=0):
        self.f.seek(block * self.block_size + offset)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, offset=None):
        if offset is None:  # simple interface: erase then program the whole block
            self.ioctl(6, block)
            offset = 0
        self.programs += 1
        fault = self.fault
        if fault and fault[1] == self.programs and fault[0] in ("program", "torn"):
            if fault[0] == "torn":
                self.f.seek(block * self.block_size + offset)
                self.f.write(bytes(buf[:max(1, len(buf) // 2)]))
                self.f.flush()
            self._cut()
        self.f.seek(block * self.block_size + offset)
        self.f.write(buf)
        self.f.flush()
        self.programmed += len(buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase
            self.erases += 1
            fault = self.fault
            size = self.block_size
            blank = self._blank
            if fault and fault[0] == "erase" and fault[1] == self.erases:
                self.f.seek(arg * size)
                self.f.write(memoryview(blank)[:size // 2])
                self.f.flush()
                self._cut()
            self.f.seek(arg * size)
            self.f.write(blank)
            self.f.flush()
            self.erased += size
            if self.block_erases is not None:
                self.block_erases[arg] += 1
            if self.erase_ms:
                time.sleep_ms(self.erase_ms)
            return 0
        return 0  # init, deinit, sync: nothing to do for a file
