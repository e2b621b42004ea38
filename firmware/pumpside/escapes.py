"""This terminal's open escapes: a small table on the flash beside the sale log, so a card
that never comes back holds no journal segment (docs/card.md, docs/operations.md).

An entry is a copy of the ESCAPE record itself (record.py: header with its log seq, the
bill, CRC32), oldest first; the file is the entries one after the other, replaced whole
(storage.write_atomic: a cut leaves the old table or the new). The journal owns the table
and keeps it in step with its log (journal.py):
- an ESCAPE is logged, then filed here; the UNLOCK that settles it (or the EVENT that
  drops it) is logged, then the entry goes. The scan at boot puts a cut between the two
  right from the records still on the flash;
- no segment is pruned while the table on the flash is behind the log (`saved`);
- `size` entries at most: a new escape makes room by dropping the oldest one the station
  already holds (its seq acknowledged), an EVENT record saying so first; one the station
  does not hold is never dropped, and while the table is full of those no new sale
  starts (`full`).
"""
import os
import struct

from . import log, storage
from . import record as rec

SIZE = 16  # open escapes kept on the pump; a sale with a full table needs one the station holds
_ENTRY = rec.HDR_LEN + rec.PAYLOAD_LEN[rec.ESCAPE] + rec.CRC_LEN
_ENTRY_V1 = _ENTRY - 4  # a table of version 1 records (before the bill's `odo`)


class EscapeTable:
    def __init__(self, path, size=SIZE):
        self.path = path
        self.size = size
        self.saved = True  # the file holds what the table holds
        self._data = b""  # the entries
        self._damaged = False  # the file held damage: kept as NAME.bad when next saved

    def __len__(self):
        return len(self._data) // _ENTRY

    def load(self):
        """Read the table from the flash; [(seq, why)] of the damaged entries, which are
        left out (the journal's scan files again each one whose ESCAPE is still in the log;
        the station holds the others). VersionError: a newer firmware's table, untouched."""
        self._data = b""
        self.saved = True
        self._damaged = False
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError:
            return []
        bad = []
        size = _ENTRY
        if len(data) % _ENTRY and not len(data) % _ENTRY_V1:
            size = _ENTRY_V1  # an older firmware's: each entry made this version's
            self.saved = False
        elif len(data) % _ENTRY:
            bad.append((None, "escapes: bad length %d" % len(data)))
        good = []
        for pos in range(0, len(data) - size + 1, size):
            entry = data[pos:pos + size]
            try:
                rtype, seq, payload = rec.decode(entry)
            except rec.VersionError:
                raise
            except rec.RecordError as e:
                bad.append((e.seq, "escapes: " + e.why))
                continue
            if rtype != rec.ESCAPE:
                bad.append((seq, "escapes: holds a " + rec.TYPE_NAMES[rtype]))
                continue
            good.append(entry if size == _ENTRY else rec.encode(rtype, seq, payload))
        self._data = b"".join(good)
        if bad:
            self._damaged = True
            self.saved = False
        return bad

    def entries(self):
        """(seq, bill) of each open escape, oldest first; the bills are new dicts."""
        data = self._data
        for pos in range(0, len(data), _ENTRY):
            yield _seq(data, pos), _bill(data, pos)

    def _find(self, sale):
        data = self._data
        for pos in range(0, len(data), _ENTRY):
            if struct.unpack_from(">I", data, pos + rec.HDR_LEN)[0] == sale:
                return pos
        return None

    def add(self, seq, bill):
        """File the escape of ESCAPE record `seq` (in the table; `save` writes it)."""
        if self._find(bill["sale"]) is not None:
            return
        data = self._data
        pos = 0
        while pos < len(data) and _seq(data, pos) < seq:
            pos += _ENTRY  # kept in seq order: one the scan files again may be older
        self._data = data[:pos] + rec.encode(rec.ESCAPE, seq, rec.pack_bill(bill)) + data[pos:]
        self.saved = False

    def remove(self, sale):
        """Take the escape of sale number `sale` out (its UNLOCK or EVENT is logged)."""
        pos = self._find(sale)
        if pos is not None:
            self._data = self._data[:pos] + self._data[pos + _ENTRY:]
            self.saved = False

    def held(self, ack_seq):
        """The bill of the oldest escape if the station holds it (its seq <= `ack_seq`),
        else None: the entries are in seq order, so then it holds none of them."""
        data = self._data
        return _bill(data, 0) if data and _seq(data, 0) <= ack_seq else None

    def full(self, ack_seq):
        """No room for another escape: `size` of them, none that the station holds."""
        return len(self) >= self.size and self.held(ack_seq) is None

    def make_room(self, ack_seq, before_drop):
        """Down to `size` entries: the oldest the station holds goes, `before_drop(bill)`
        journaling why first (an OSError from it keeps the entry); one the station does
        not hold never goes."""
        while len(self) > self.size:
            bill = self.held(ack_seq)
            if bill is None:
                return
            try:
                before_drop(bill)
            except OSError as e:
                log.event("escape_not_dropped", {"sale": bill["sale"], "why": str(e)})
                return
            self.remove(bill["sale"])
            log.event("escape_dropped", {"sale": bill["sale"], "amount": bill["amount"]})

    def save(self):
        """Write the table to the flash if it is behind; False when the flash refused (the
        journal then prunes nothing until a later save succeeds). A damaged file is kept
        as NAME.bad for service first."""
        if self.saved:
            return True
        if self._damaged:
            self._damaged = False
            storage.remove(self.path + ".bad")
            try:
                os.rename(self.path, self.path + ".bad")
            except OSError:  # gone, or the flash refuses: the table is written all the same
                pass
        try:
            storage.write_atomic(self.path, self._data)
        except OSError as e:
            log.event("escapes_unsaved", {"why": str(e), "open": len(self)})
            return False
        self.saved = True
        return True


def _seq(data, pos):
    return struct.unpack_from(">I", data, pos + 4)[0]  # the record header's seq


def _bill(data, pos):
    return rec.unpack_bill(data[pos + rec.HDR_LEN:pos + _ENTRY - rec.CRC_LEN])
