"""The metrology event log: every change of a legally relevant parameter, counted and
hash-chained (DOMAIN.md §3, WELMEC 7.2 / OIML D31 event logger).

One file, `<root>/log`, on the board's littlefs flash beside the journal; one JSON line
per record, appended and never rewritten:

    {"n": 3, "t": 1795000000, "who": "tech7", "what": "k_factor", "old": 100000,
     "new": 99502, "prev": "<h of record 2>", "h": "<32 hex>"}

n is the non-resettable event counter: the record count, 1, 2, 3... There is no call
that clears, rewrites or removes a record, and the log holds CAPACITY records: when it
is full, `append` refuses (EventLogFull) and the caller refuses the legal change with
it, as a real meter's event logger does. h = sha256(prev + "|" + the record's canonical
bytes), truncated to 32 hex digits; the first record's prev is 32 zeros. So a changed,
removed or inserted record breaks the chain from there on, and `open` names its n.

Power cuts: littlefs commits an append when the file is closed, so a cut leaves the log
as it was before or after the record. On a filesystem without that guarantee a cut can
leave a torn last line (no newline, or not JSON): `open` drops it (the log is copied
without it to a temp file and renamed into place) and reports it. Any other damage is
reported with its n and the log refuses further appends: tampering stays visible.
Records carry parameter names and integer values only: never a secret.
"""
import binascii
import hashlib
import json
import os

CAPACITY = 1000  # records; one real meter keeps 1,000 and then refuses changes
HASH_HEX = 32
GENESIS = "0" * HASH_HEX
WHO_MAX = 32
_WHAT_MAX = 32
_CHUNK = 512


class EventLogError(Exception):
    pass


class EventLogFull(EventLogError):
    pass


def text_ok(text, most):
    """Printable ASCII without "|" (the canonical form's separator), 1..most chars."""
    if not isinstance(text, str) or not 0 < len(text) <= most:
        return False
    for c in text:
        if not " " <= c <= "~" or c == "|":
            return False
    return True


def _value_ok(v):
    return v is None or (isinstance(v, int) and not isinstance(v, bool))


def _canon(v):
    return "-" if v is None else "%d" % v


def record_hash(prev, n, when, who, what, old, new):
    """The chain hash of one record: sha256 over prev and its canonical bytes."""
    text = "%s|%d|%d|%s|%s|%s|%s" % (prev, n, when, who, what, _canon(old), _canon(new))
    digest = hashlib.sha256(text.encode()).digest()
    return binascii.hexlify(digest).decode()[:HASH_HEX]


def _line(n, when, who, what, old, new, prev, digest):
    """The record as one JSON line, fields in a fixed order on both interpreters."""
    return ('{"n": %d, "t": %d, "who": %s, "what": %s, "old": %s, "new": %s, '
            '"prev": "%s", "h": "%s"}\n' % (n, when, json.dumps(who), json.dumps(what),
                                            json.dumps(old), json.dumps(new), prev, digest))


def check(item, n, prev):
    """Why the parsed record `item` is not record n after hash `prev`, or None."""
    if not isinstance(item, dict):
        return "not a record"
    when, who, what = item.get("t"), item.get("who"), item.get("what")
    old, new = item.get("old"), item.get("new")
    if item.get("n") != n:
        return "counter %s where %d was due" % (item.get("n"), n)
    if not (isinstance(when, int) and text_ok(who, WHO_MAX) and text_ok(what, _WHAT_MAX)
            and _value_ok(old) and _value_ok(new)):
        return "malformed record"
    if item.get("prev") != prev:
        return "chain broken: prev does not match"
    if item.get("h") != record_hash(prev, n, when, who, what, old, new):
        return "hash does not match the record"
    return None


class EventLog:
    def __init__(self, root, capacity=CAPACITY):
        self.root = root
        self.path = root + "/log"
        self.capacity = capacity
        self.count = 0  # the event counter: records in the log
        self.head = GENESIS  # h of the last good record
        self.damaged = []  # (n, why) found by open(): appends are refused
        self.torn = None  # why a torn last record was dropped by open(), or None
        self.opened = False
        self._newline = False  # the last record lacks its newline: write one first

    @property
    def chain_ok(self):
        return not self.damaged

    @property
    def room(self):
        return self.capacity - self.count

    def open(self):
        """Verify the whole chain; returns the damage found, [(n, why), ...]. Reads only:
        the folder is made by the first append, so a boot writes nothing to the flash."""
        self.count, self.head, self.damaged, self.torn = 0, GENESIS, [], None
        self._newline = False
        good_end = 0  # bytes up to the end of the last whole record
        pos = 0
        last = None  # (n, why, whole line) of the first bad one: torn if it is the last
        try:
            f = open(self.path, "rb")
        except OSError:
            self.opened = True
            return self.damaged  # no log yet: no event so far
        with f:
            while True:
                raw = f.readline()
                if not raw:
                    break
                n = self.count + 1
                why = None
                try:
                    item = json.loads(raw)
                except ValueError:
                    item = None
                    why = "not a JSON record"
                if why is None:
                    why = check(item, n, self.head)
                if why is not None and raw[-1:] != b"\n":
                    why = "torn: " + why
                if why is None and last is None:
                    self.head = item["h"]
                    good_end = pos + len(raw)
                    self._newline = raw[-1:] != b"\n"  # cut just before its newline
                elif last is None:
                    last = (n, why, raw[-1:] == b"\n")
                elif len(self.damaged) < 8:
                    self.damaged.append((n, why))
                self.count = n
                pos += len(raw)
        if last is not None:
            n, why, whole = last
            if n == self.count and not whole:
                self._drop_tail(good_end)  # a cut in mid-append: not an event
                self.count = n - 1
                self.torn = why
            else:
                self.damaged.insert(0, (n, why))
        self.opened = True
        return self.damaged

    def _drop_tail(self, size):
        tmp = self.path + ".new"
        buf = bytearray(_CHUNK)
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            left = size
            while left > 0:
                got = src.readinto(buf)
                if not got:
                    break
                got = min(got, left)
                dst.write(buf if got == _CHUNK else buf[:got])
                left -= got
        os.rename(tmp, self.path)

    def append(self, when, who, what, old, new):
        """Record one change; returns its n. Refuses (EventLogError) a damaged or
        unopened log and malformed fields, and (EventLogFull) a full log."""
        if not self.opened:
            raise EventLogError("event log not opened")
        if self.damaged:
            raise EventLogError("event log damaged at n=%d" % self.damaged[0][0])
        if self.count >= self.capacity:
            raise EventLogFull("event log full (%d records)" % self.capacity)
        if not text_ok(who, WHO_MAX):
            raise EventLogError("who: 1-32 printable characters, no |")
        if not (text_ok(what, _WHAT_MAX) and isinstance(when, int) and _value_ok(old)
                and _value_ok(new)):
            raise EventLogError("malformed event")
        n = self.count + 1
        digest = record_hash(self.head, n, when, who, what, old, new)
        line = _line(n, when, who, what, old, new, self.head, digest)
        if self._newline:
            line = "\n" + line
        if n == 1:
            try:
                os.mkdir(self.root)
            except OSError:
                pass  # there already
        with open(self.path, "ab") as f:  # littlefs: committed whole when closed
            f.write(line.encode())
        self._newline = False
        self.count = n
        self.head = digest
        return n

    def records(self, n_from=1):
        """Yield each record that parses, as a dict, from counter n_from on."""
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        with f:
            while True:
                raw = f.readline()
                if not raw:
                    break
                try:
                    item = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(item, dict) and isinstance(item.get("n"), int) and \
                        item["n"] >= n_from:
                    yield item


def open_log(root):
    """The event log at `root`, verified; a broken chain is logged and shown in service
    info (legal changes are refused), it does not close the pump."""
    from . import log

    events = EventLog(root)
    damaged = events.open()
    if damaged:
        log.event("events_damaged", {"damaged": [list(damage) for damage in damaged]})
    if events.torn:
        log.event("events_torn", {"why": events.torn, "count": events.count})
    return events
