"""The journal's window of the RP2040's flash, with programs of any size.

rp2.Flash programs whole 256-byte pages (the QSPI flash's page program, aligned), while
storage.py mounts littlefs with 16-byte program units. NOR programming only clears bits,
so a 16-byte program becomes a page program of the 16 bytes padded with 0xFF, which
leaves every other byte of the page as it was. The pad buffer is allocated once.
"""
from micropython import const

PAGE = const(256)


class PageFlash:
    def __init__(self, dev):
        self.dev = dev
        self._page = bytearray(PAGE)

    def readblocks(self, n, buf, off=0):
        self.dev.readblocks(n, buf, off)

    def writeblocks(self, n, buf, off=None):
        if off is None:  # the simple protocol: erase, then program the whole block
            self.dev.ioctl(6, n)
            off = 0
        page = self._page
        mv = memoryview(buf)
        done = 0
        while done < len(mv):
            at = off + done
            start = at - at % PAGE
            k = min(len(mv) - done, start + PAGE - at)
            if at == start and k == PAGE:
                self.dev.writeblocks(n, mv[done:done + PAGE], start)
            else:
                for i in range(PAGE):
                    page[i] = 0xFF
                page[at - start:at - start + k] = mv[done:done + k]
                self.dev.writeblocks(n, page, start)
            done += k

    def ioctl(self, op, arg):
        return self.dev.ioctl(op, arg)
