"""The board's flash: mounting it (littlefs), where each file lives, small-file I/O.

A blank flash (every byte erased) is formatted on first boot. A flash that holds
anything else but does not mount is damaged: it is never formatted by the firmware, the
pump stays closed and a technician pulls the records (DOMAIN.md: records kept).

`Paths` names everything the firmware keeps on the flash; `write_atomic` is the one way a
small file is replaced (a temporary file renamed over it: a cut leaves the old file or
the new, never half of one) and `read_json` the one way such a file is read back.
"""
import json
import os

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


class Paths:
    """Where everything the firmware keeps on the flash lives, below one root."""

    def __init__(self, root):
        self.root = root
        self.journal = root + "/journal"  # the sale journal's directory (journal.py)
        self.hotlist = root + "/hotlist"  # hotlisted cards (hotlist.py)
        self.events = root + "/events"  # the metrology event log (events.py)
        self.prices = root + "/prices"  # the station's price table in force (prices.py)
        self.prices_next = root + "/prices.next"  # one waiting for its time
        self.params = root + "/params"  # the version of the station's parameters
        self.commands = root + "/cmds"  # station commands already run, with their results
        self.pin_tries = root + "/pin"  # wrong service PINs in a row (keypad.py), a count
        self.lock = root + "/lock"  # the stop code of the lock in force (app.py), if any
        self.resets = root + "/wdt_resets"  # resets the watchdog caused (app.main)
        self.station = root + "/station"  # the station whose downloads are held (link.py)
        self.redeem = root + "/redeem"  # the last loyalty redemption id made (rewards.py)


def beside(journal_root):
    """The Paths of the flash a journal at `journal_root` lives on."""
    return Paths(journal_root.rsplit("/", 1)[0])


def mount(bdev, path="/flash"):
    """Mount littlefs from `bdev` at `path`; returns (Paths, formatted)."""
    import vfs  # MicroPython only: CPython tests give the journal a directory instead

    formatted = False
    try:
        filesystem = vfs.VfsLfs2(bdev, readsize=READ_SIZE, progsize=PROG_SIZE, lookahead=LOOKAHEAD)
    except OSError as e:
        if not _blank(bdev):
            raise StorageError("flash damaged (%s): records kept, service needed" % e) from None
        vfs.VfsLfs2.mkfs(bdev, readsize=READ_SIZE, progsize=PROG_SIZE, lookahead=LOOKAHEAD)
        filesystem = vfs.VfsLfs2(bdev, readsize=READ_SIZE, progsize=PROG_SIZE, lookahead=LOOKAHEAD)
        formatted = True
    vfs.mount(filesystem, path)
    return Paths(path), formatted


def write_atomic(path, data):
    """Replace the file at `path` with `data` (str or bytes): written beside it, then
    renamed over it. OSError when the flash refuses; the old file is then intact."""
    tmp = path + ".new"
    with open(tmp, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def write_json(path, value):
    write_atomic(path, json.dumps(value))


def read_json(path):
    """The JSON value in the file at `path`, or None when there is none or it does not
    parse (callers check its shape)."""
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def remove(path):
    """Remove the file at `path` if it is there."""
    try:
        os.remove(path)
    except OSError:
        pass


def free_blocks(path):
    try:
        return os.statvfs(path)[3]
    except OSError:
        return None
