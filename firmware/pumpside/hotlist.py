"""Hotlisted cards: a sorted file of fixed-width card numbers on flash, searched by binary
search and never loaded into RAM, updated by versioned deltas applied atomically.

Files under the hotlist's directory:
  base    header ("HL", format, list version) + sorted 8-byte card numbers (the ASN of
          EF15); the count follows from the file size, because a write back at the start
          of a littlefs file copies the whole file (8 MB for a million cards)
  delta   header ("HD", format, base version, list version, adds, removes) + sorted adds
          + sorted removes: the changes since the base, small, rewritten per update
A lookup reads ~log2(n) entries of the base (20 for 1,000,000) plus the delta's. Each
file is replaced by writing a new one and renaming it over the old: littlefs and POSIX
renames are atomic, so a half-applied update never exists. A delta whose base version
is not the base's own is stale (its content was merged into that base) and is ignored.
"""
import os
import struct

WIDTH = 8  # card number (ASN) bytes
_BASE_HDR = ">2sBI"  # magic, format, list version
_BASE_LEN = 7
_DELTA_HDR = ">2sBIIII"  # magic, format, base version, list version, adds, removes
_DELTA_LEN = 19
_FORMAT = 1
COMPACT_AT = 512  # delta entries before they are merged into a new base (4 KB of RAM)


class HotlistError(ValueError):
    pass


def _asn(card):
    if not isinstance(card, (bytes, bytearray)) or len(card) != WIDTH:
        raise HotlistError("a card number is %d bytes" % WIDTH)
    return card


class _Search:
    """Binary search over sorted entries in an open file, read into one reused buffer
    (no entry is copied, the list is never loaded), counting the entries it read. Not
    allocation-free: `make bench` measures hotlist_lookup_ram_bytes = 32 B per lookup on
    the unix port with 1,000,000 entries (the file calls' own small allocations)."""

    def __init__(self):
        self.buf = bytearray(WIDTH)
        self.reads = 0

    def find(self, f, offset, count, key):
        buf = self.buf
        lo = 0
        hi = count
        while lo < hi:
            mid = (lo + hi) >> 1
            f.seek(offset + mid * WIDTH)
            f.readinto(buf)
            self.reads += 1
            if buf == key:
                return True
            if buf < key:
                lo = mid + 1
            else:
                hi = mid
        return False


def _read_sorted(f, offset, count):
    out = []
    f.seek(offset)
    for _ in range(count):
        out.append(f.read(WIDTH))
    return out


class Hotlist:
    def __init__(self, root):
        self.root = root
        self.version = 0  # the list version the terminal holds (0: none yet)
        self.count = 0  # entries in the base
        self.adds = 0
        self.removes = 0
        self.last_reads = 0  # entries read by the last lookup (bench figure)
        self._base_version = 0
        self._search = _Search()
        self._base = None
        self._delta = None

    # -- opening ------------------------------------------------------------------------
    def open(self):
        try:
            os.mkdir(self.root)
        except OSError:
            pass
        self.close()
        self.version = self.count = self._base_version = 0
        self.adds = self.removes = 0
        try:
            f = open(self.root + "/base", "rb")
        except OSError:
            f = None
        if f is not None:
            magic, fmt, version = struct.unpack(_BASE_HDR, f.read(_BASE_LEN))
            size = os.stat(self.root + "/base")[6]
            if magic != b"HL" or fmt != _FORMAT or (size - _BASE_LEN) % WIDTH:
                f.close()
                raise HotlistError("hotlist base: unknown format or torn")
            self._base = f
            self.version = self._base_version = version
            self.count = (size - _BASE_LEN) // WIDTH
        try:
            d = open(self.root + "/delta", "rb")
        except OSError:
            d = None
        if d is not None:
            magic, fmt, base_v, list_v, adds, removes = struct.unpack(_DELTA_HDR,
                                                                      d.read(_DELTA_LEN))
            if magic != b"HD" or fmt != _FORMAT:
                d.close()
                raise HotlistError("hotlist delta: unknown format")
            if base_v == self._base_version:
                self._delta = d
                self.version = list_v
                self.adds = adds
                self.removes = removes
            else:
                d.close()  # stale: merged into the base already
        return self

    def close(self):
        for f in (self._base, self._delta):
            if f is not None:
                f.close()
        self._base = self._delta = None

    # -- lookup -------------------------------------------------------------------------
    def listed(self, card):
        """Is this card number hotlisted?"""
        key = _asn(card)
        search = self._search
        search.reads = 0
        found = self._lookup(key)
        self.last_reads = search.reads
        return found

    def _lookup(self, key):
        search = self._search
        d = self._delta
        if d is not None:
            if search.find(d, _DELTA_LEN, self.adds, key):
                return True
            if search.find(d, _DELTA_LEN + self.adds * WIDTH, self.removes, key):
                return False
        return self._in_base(key)

    def _in_base(self, key):
        if self._base is None:
            return False
        return self._search.find(self._base, _BASE_LEN, self.count, key)

    # -- updates --------------------------------------------------------------------------
    def full(self, version, cards):
        """Replace the whole list from an iterable of card numbers in ascending order."""
        tmp = self.root + "/base.new"
        n = 0
        prev = None
        with open(tmp, "wb") as f:
            f.write(struct.pack(_BASE_HDR, b"HL", _FORMAT, version))
            for card in cards:
                key = bytes(_asn(card))
                if prev is not None and key <= prev:
                    raise HotlistError("full list not in ascending order at entry %d" % n)
                f.write(key)
                prev = key
                n += 1
        self.close()
        os.rename(tmp, self.root + "/base")
        self.open()

    def apply(self, from_version, to_version, add=(), remove=()):
        """Apply a delta from `from_version` to `to_version`, all of it or nothing."""
        if from_version != self.version:
            raise HotlistError("delta from version %d, the list is at %d: a full list is "
                               "needed" % (from_version, self.version))
        if to_version <= from_version:
            raise HotlistError("delta goes from version %d to %d" % (from_version, to_version))
        adds, removes = self._effective()
        for card in add:
            key = bytes(_asn(card))
            if key in removes:
                removes.remove(key)
            elif not self._in_base(key) and key not in adds:
                adds.append(key)
        for card in remove:
            key = bytes(_asn(card))
            if key in adds:
                adds.remove(key)
            elif self._in_base(key) and key not in removes:
                removes.append(key)
        adds.sort()
        removes.sort()
        if len(adds) + len(removes) > COMPACT_AT:
            self._compact(to_version, adds, removes)
        else:
            self._write_delta(to_version, adds, removes)

    def _effective(self):
        d = self._delta
        if d is None:
            return [], []
        return (_read_sorted(d, _DELTA_LEN, self.adds),
                _read_sorted(d, _DELTA_LEN + self.adds * WIDTH, self.removes))

    def _write_delta(self, version, adds, removes):
        tmp = self.root + "/delta.new"
        with open(tmp, "wb") as f:
            f.write(struct.pack(_DELTA_HDR, b"HD", _FORMAT, self._base_version, version,
                                len(adds), len(removes)))
            for key in adds:
                f.write(key)
            for key in removes:
                f.write(key)
        self.close()
        os.rename(tmp, self.root + "/delta")
        self.open()

    def _compact(self, version, adds, removes):
        """Stream base + adds - removes into a new base: one pass, O(delta) RAM."""
        self.full(version, _merge(self._base, self.count, adds, removes))


def _merge(base, count, adds, removes):
    """Sorted base entries, plus the sorted adds, minus the sorted removes."""
    ai = ri = 0
    if base is not None:
        base.seek(_BASE_LEN)
    for _ in range(count):
        entry = base.read(WIDTH)
        while ai < len(adds) and adds[ai] < entry:
            yield adds[ai]
            ai += 1
        while ri < len(removes) and removes[ri] < entry:
            ri += 1
        if ri < len(removes) and removes[ri] == entry:
            continue
        yield entry
    while ai < len(adds):
        yield adds[ai]
        ai += 1
