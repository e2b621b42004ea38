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
COMPACT_AT = 512  # delta entries before they are merged into a new base (4 KB of flash,
# searched by every lookup; applying a delta streams it, RAM is O(the new changes))


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

    def start(self):
        """A new lookup: its reads are counted from zero."""
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


class Hotlist:
    damaged = False  # see DamagedHotlist

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
        self._staged = None  # a full list arriving in parts: [version, last card, count]
        self._shut = False  # an update could not reopen the files (no RAM): see listed()

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
            magic, file_format, version = struct.unpack(_BASE_HDR, f.read(_BASE_LEN))
            size = os.stat(self.root + "/base")[6]
            if magic != b"HL" or file_format != _FORMAT or (size - _BASE_LEN) % WIDTH:
                f.close()
                raise HotlistError("hotlist base: unknown format or torn")
            self._base = f
            self.version = self._base_version = version
            self.count = (size - _BASE_LEN) // WIDTH
        try:
            delta = open(self.root + "/delta", "rb")
        except OSError:
            delta = None
        if delta is not None:
            magic, file_format, base_version, list_version, adds, removes = struct.unpack(
                _DELTA_HDR, delta.read(_DELTA_LEN))
            if magic != b"HD" or file_format != _FORMAT:
                delta.close()
                raise HotlistError("hotlist delta: unknown format")
            if base_version == self._base_version:
                self._delta = delta
                self.version = list_version
                self.adds = adds
                self.removes = removes
            else:
                delta.close()  # stale: merged into the base already
        return self

    def _reopen(self):
        """After an update: open the files again; if that fails (a fragmented heap has no
        room for a file buffer) the list stays shut and refuses every card until it can."""
        self._shut = True
        self.open()
        self._shut = False

    def close(self):
        for f in (self._base, self._delta):
            if f is not None:
                f.close()
        self._base = self._delta = None

    # -- lookup -------------------------------------------------------------------------
    def listed(self, card):
        """Is this card number hotlisted? True also when the list cannot be read (an
        update that ran out of RAM left it closed, and reopening fails): refuse rather
        than pass a card that may be listed."""
        key = _asn(card)
        if self._shut:
            try:
                self._reopen()
            except (OSError, MemoryError, HotlistError):
                return True
        search = self._search
        search.start()
        found = self._lookup(key)
        self.last_reads = search.reads
        return found

    def _lookup(self, key):
        search = self._search
        delta = self._delta
        if delta is not None:
            if search.find(delta, _DELTA_LEN, self.adds, key):
                return True
            if search.find(delta, _DELTA_LEN + self.adds * WIDTH, self.removes, key):
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

    def stage(self, version, cards, first, last):
        """One part of a full list that arrives in several (the station's frames are
        small): parts in ascending card order go to base.new; the last part swaps it in
        (the delta goes first, so a cut between leaves the old base, whose version is
        still the truth). A part out of order, or one without its first, is refused and
        the staging dropped; until the swap the list in use is the old one."""
        tmp = self.root + "/base.new"
        self.close()  # room for base.new's buffer on a fragmented heap (see apply)
        try:
            if first:
                self._staged = None
                with open(tmp, "wb") as f:
                    f.write(struct.pack(_BASE_HDR, b"HL", _FORMAT, version))
                self._staged = [version, None, 0]
            staged = self._staged
            if staged is None or staged[0] != version:
                raise HotlistError("part of full list %d without its beginning" % version)
            prev = staged[1]
            with open(tmp, "ab") as f:
                for card in cards:
                    key = _key(card)
                    if prev is not None and key <= prev:
                        raise HotlistError("full list not in ascending order at entry %d"
                                           % staged[2])
                    f.write(key)
                    prev = key
                    staged[2] += 1
            f = None  # closed: its buffer is garbage now, room for the reopen
            staged[1] = prev
            if last:
                self._staged = None
                try:
                    os.remove(self.root + "/delta")
                except OSError:
                    pass  # none
                os.rename(tmp, self.root + "/base")
        except (OSError, HotlistError):
            self._staged = None
            raise
        finally:
            self._reopen()

    def listed_count(self):
        """How many cards are listed (base, plus the delta's adds, less its removes)."""
        return self.count + self.adds - self.removes

    def apply(self, from_version, to_version, add=(), remove=()):
        """Apply a delta from `from_version` to `to_version`, all of it or nothing. RAM is
        O(this delta), not O(the delta file): the file's sorted adds and removes are
        streamed into the new one (a 512-entry delta read into RAM as bytes objects
        takes ~20 KB, more than a card-sale pump has free)."""
        if from_version != self.version:
            raise HotlistError("delta from version %d, the list is at %d: a full list is "
                               "needed" % (from_version, self.version))
        if to_version <= from_version:
            raise HotlistError("delta goes from version %d to %d" % (from_version, to_version))
        adds = sorted(_key(card) for card in add)
        removes = sorted(_key(card) for card in remove)
        new_adds = [key for key in adds if not self._in_base(key)]
        new_removes = [key for key in removes if self._in_base(key)]
        n_old_adds, n_old_removes = self.adds, self.removes
        # the open files go first: on a fragmented heap the new files' buffers (~430 B
        # each on littlefs) find room in the ones just let go
        self.close()
        tmp = self.root + "/delta.new"
        try:
            delta = open(self.root + "/delta", "rb") if n_old_adds + n_old_removes else None
            try:
                with open(tmp, "wb") as f:
                    f.write(bytes(_DELTA_LEN))  # the header goes last, with the counts
                    n_adds = _write_all(f, _merged(_entries(delta, _DELTA_LEN, n_old_adds),
                                                   new_adds, removes))
                    # a card in both lists ends removed (removes follow adds)
                    n_removes = _write_all(f, _merged(
                        _entries(delta, _DELTA_LEN + n_old_adds * WIDTH, n_old_removes),
                        new_removes, [key for key in adds if key not in removes]))
                    f.seek(0)
                    f.write(struct.pack(_DELTA_HDR, b"HD", _FORMAT, self._base_version,
                                        to_version, n_adds, n_removes))
            finally:
                if delta is not None:
                    delta.close()
            delta = f = None  # closed: their buffers are garbage now, room for the reopen
            if n_adds + n_removes > COMPACT_AT:
                self._compact(tmp, to_version, n_adds, n_removes)
            else:
                os.rename(tmp, self.root + "/delta")
        finally:
            self._reopen()

    def _compact(self, tmp, version, n_adds, n_removes):
        """Stream base + the new delta's adds - its removes into a new base, swapped in
        by rename; the old delta is stale then (its base version is not the base's)."""
        new_base = self.root + "/base.new"
        base = open(self.root + "/base", "rb") if self.count else None
        try:
            with open(tmp, "rb") as delta, open(new_base, "wb") as f:
                f.write(struct.pack(_BASE_HDR, b"HL", _FORMAT, version))
                _write_all(f, _merge(base, self.count, _entries(delta, _DELTA_LEN, n_adds),
                                     _entries(delta, _DELTA_LEN + n_adds * WIDTH, n_removes)))
        finally:
            if base is not None:
                base.close()
        os.rename(new_base, self.root + "/base")
        os.remove(tmp)


class DamagedHotlist:
    """Stands in for a list found damaged at boot: every card is refused (rather than
    none) and no delta can mend it, until the station's full list has arrived whole; from
    then on it answers as that list."""

    def __init__(self, root):
        self.root = root
        self._staging = None  # a full list arriving in parts
        self._list = None  # the full list, once whole

    @property
    def damaged(self):
        return self._list is None

    @property
    def version(self):
        return 0 if self._list is None else self._list.version  # 0: send a full list

    def listed(self, card):
        return True if self._list is None else self._list.listed(card)

    def listed_count(self):
        return 0 if self._list is None else self._list.listed_count()

    def apply(self, from_version, to_version, adds, removes):
        if self._list is None:
            raise HotlistError("hotlist damaged: a full list is needed")
        self._list.apply(from_version, to_version, adds, removes)

    def stage(self, version, cards, first, last):
        if self._list is not None:
            self._list.stage(version, cards, first, last)
            return
        if self._staging is None:
            self._staging = Hotlist(self.root)
        self._staging.stage(version, cards, first, last)
        if last:
            self._list, self._staging = self._staging, None


def open_hotlist(root):
    """The hotlist at `root`; a damaged one refuses every card rather than none (the pump
    stays open for the station to send a whole new list)."""
    from . import log

    try:
        hotlist = Hotlist(root).open()
    except (HotlistError, OSError, ValueError) as e:
        log.event("hotlist_damaged", {"why": str(e)})
        return DamagedHotlist(root)
    log.event("hotlist", {"version": hotlist.version, "entries": hotlist.listed_count()})
    return hotlist


def _key(card):
    card = _asn(card)
    return card if isinstance(card, bytes) else bytes(card)


def _entries(f, offset, count):
    """The `count` sorted entries at `offset` of an open file, read one at a time (two of
    these may take turns on one file: each seeks to its own place)."""
    for i in range(count):
        f.seek(offset + i * WIDTH)
        yield f.read(WIDTH)


def _write_all(f, entries):
    n = 0
    for key in entries:
        f.write(key)
        n += 1
    return n


def _merged(entries, more, minus):
    """Ascending, each once: the union of the ascending iterable `entries` and the ascending
    list `more`, without the entries of the list `minus`."""
    i = 0
    n_more = len(more)
    last = None
    for key in entries:
        while i < n_more and more[i] < key:
            if more[i] != last and more[i] not in minus:
                last = more[i]
                yield last
            i += 1
        if key != last and key not in minus:
            last = key
            yield key
    while i < n_more:
        if more[i] != last and more[i] not in minus:
            last = more[i]
            yield last
        i += 1


def _merge(base, count, adds, removes):
    """Sorted base entries, plus the sorted adds, minus the sorted removes (all three
    streamed: adds and removes are iterables, the base an open file)."""
    next_add = _next(adds)
    next_remove = _next(removes)
    if base is not None:
        base.seek(_BASE_LEN)
    for _ in range(count):
        entry = base.read(WIDTH)
        while next_add is not None and next_add < entry:
            yield next_add
            next_add = _next(adds)
        while next_remove is not None and next_remove < entry:
            next_remove = _next(removes)
        if next_remove is not None and next_remove == entry:
            continue
        yield entry
    while next_add is not None:
        yield next_add
        next_add = _next(adds)


def _next(it):
    try:
        return next(it)
    except StopIteration:
        return None
