"""The sale's checkpoints: two small directories of their own beside the journal's log,
<root>/c0/cp and <root>/c1/cp (the newer of the two counts; <root>/cp, an older
firmware's, too). The journal owns them (journal.py): it prepares them before a sale's
valve opens, writes each checkpoint and finds the newest at boot, through the named
methods below.

Checkpoints never wait for a compaction: a rewrite appends a commit (80 B) to its
directory's 4 KB metadata block, and only the commit that finds the block full compacts
it (an erase; tens of ms on a busy directory, longer on a real chip). A checkpoint
directory holds nothing else, and the commits a fresh one still takes are counted
(CP_ROOM): before a sale's valve opens, and in a long sale when its routine checkpoints
reach the last CP_RESERVE of them, the other directory is made afresh (rmdir, mkdir) and
takes over. So a checkpoint is one commit that erases nothing, except such a renewal,
which the recorder keeps away from a valve decision; the power-fail warning's checkpoints
use the reserve.
"""
import os

from . import record as rec
from . import storage

# commits a fresh checkpoint directory takes before one compacts it: 50 on the 4 KB blocks
# and littlefs settings of storage.py (tests/fw/test_journal_flash.py counts the erases)
CP_ROOM = 48
CP_RESERVE = 4  # of them kept for the power-fail warning's checkpoints


class Checkpoints:
    def __init__(self, root):
        self.root = root
        self._dir = 0  # the directory in use (c0, c1)
        self._room = 0  # commits it takes before it compacts; 0: not known (renew)

    def newest(self, load, names):
        """The newest checkpoint on the flash (unpacked) or None: the highest sale number,
        and of one sale the most pulses (a rewrite counts up). load(name, type, names) is
        the journal's read of one record file; `names`: the root's listing (for cp)."""
        best = None
        for name in ("cp", "c0/cp", "c1/cp"):
            found = load(name, rec.CHECKPOINT, names if name == "cp" else None)
            if found:
                cp = rec.unpack_checkpoint(found[2])
                if best is None or (found[1], cp["pulses"]) > best[0]:
                    best = ((found[1], cp["pulses"]), cp)
        return best and best[1]

    def prepare(self):
        """Before a sale's valve opens: a directory with less than half its room left is
        made afresh now, so no checkpoint of the sale erases unless the sale is long."""
        if self._room < CP_ROOM // 2:
            self._renew()

    def renews(self):
        """True when the next routine checkpoint first renews a directory (erases)."""
        return self._room <= CP_RESERVE

    def write(self, sale, time, pulses, ml, flags):
        """Rewrite the checkpoint of sale number `sale`; returns it unpacked. One commit
        that erases nothing, unless a routine one finds only the reserve left."""
        if self._room <= (0 if flags & rec.F_WARNED else CP_RESERVE):
            self._renew()
        payload = rec.pack_checkpoint(sale, time, pulses, ml, flags)
        with open("%s/c%d/cp" % (self.root, self._dir), "wb") as f:
            f.write(rec.encode(rec.CHECKPOINT, sale, payload))
        self._room -= 1
        return rec.unpack_checkpoint(payload)

    def _renew(self):
        """The other directory made afresh (its stale checkpoint, if any, goes with it)
        and taken into use: CP_ROOM commits before it compacts. The one in use keeps the
        latest checkpoint until the next is written."""
        other = 1 - self._dir
        path = "%s/c%d" % (self.root, other)
        storage.remove(path + "/cp")
        try:
            os.rmdir(path)
        except OSError:  # not there yet
            pass
        os.mkdir(path)
        self._dir = other
        self._room = CP_ROOM
