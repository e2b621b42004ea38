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

    def readblocks(self, block, buf, offset=0):
        self.dev.readblocks(block, buf, offset)

    def writeblocks(self, block, buf, offset=None):
        if offset is None:  # the simple protocol: erase, then program the whole block
            self.dev.ioctl(6, block)
            offset = 0
        page = self._page
        data = memoryview(buf)
        done = 0
        while done < len(data):
            at = offset + done
            start = at - at % PAGE
            length = min(len(data) - done, start + PAGE - at)
            if at == start and length == PAGE:
                self.dev.writeblocks(block, data[done:done + PAGE], start)
            else:
                for i in range(PAGE):
                    page[i] = 0xFF
                page[at - start:at - start + length] = data[done:done + length]
                self.dev.writeblocks(block, page, start)
            done += length

    def ioctl(self, op, arg):
        return self.dev.ioctl(op, arg)
