"""Mounting the board's flash (a block device) as littlefs for the journal.

A blank flash (every byte erased) is formatted on first boot. A flash that holds
anything else but does not mount is damaged: it is never formatted by the firmware, the
pump stays closed and a technician pulls the records (DOMAIN.md: records kept).
"""

# littlefs geometry: a 16-byte program unit fits NOR flash; 64-byte reads make a
# 256-byte cache, so a journal record (~110 bytes) stays inline in its directory.
READ_SIZE = 64
PROG_SIZE = 16
LOOKAHEAD = 32


class StorageError(Exception):
    pass


def _blank(bdev, blocks=2):
    size = bdev.ioctl(5, 0)
    buf = bytearray(size)
    for b in range(blocks):
        bdev.readblocks(b, buf)
        for x in buf:
            if x != 0xFF:
                return False
    return True


def mount(bdev, path="/flash"):
    """Mount littlefs from `bdev` at `path`; returns (path, formatted)."""
    import vfs  # MicroPython only: CPython tests give the journal a directory instead

    formatted = False
    try:
        fs = vfs.VfsLfs2(bdev, readsize=READ_SIZE, progsize=PROG_SIZE, lookahead=LOOKAHEAD)
    except OSError as e:
        if not _blank(bdev):
            raise StorageError("flash damaged (%s): records kept, service needed" % e) from None
        vfs.VfsLfs2.mkfs(bdev, readsize=READ_SIZE, progsize=PROG_SIZE, lookahead=LOOKAHEAD)
        fs = vfs.VfsLfs2(bdev, readsize=READ_SIZE, progsize=PROG_SIZE, lookahead=LOOKAHEAD)
        formatted = True
    vfs.mount(fs, path)
    return path, formatted


def free_blocks(path):
    import os

    try:
        return os.statvfs(path)[3]
    except OSError:
        return None
