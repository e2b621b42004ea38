"""Power-fail-safe sale journal: append-only records, recovery, ack cursor, limits.

Layout on the journal's filesystem (littlefs on the board's flash), chosen from measured
flash wear and space (`make bench`):
  <root>/sale    AUTHORIZED record of the sale in flight   } rewritten in place, never
  <root>/ack     ACK: the station holds records <= seq     } deleted; a stale one is
                                                           } known by its numbers
  <root>/id      the journal's identity: 8 random bytes, made when it is formatted
  <root>/jNNNN   log segment: settled records (FINAL, ESCAPE, UNLOCK, EVENT, SNAPSHOT)
                 with seq NNNN*32 .. NNNN*32+31, appended one at a time
  <root>/escapes the open escapes' table (escapes.py): copies of their ESCAPE records
  <root>/c0/cp   the sale's latest CHECKPOINT, in one of two small directories of their
  <root>/c1/cp   own (checkpoints.py: the newer of the two counts; <root>/cp, an older
                 firmware's, too)
Why: a rewrite of an existing small file is one atomic littlefs metadata commit (~90 B
programmed), so the many in-flight writes of a sale cost little. An append to a file is
atomic too, but copies the file's last block (~2 KB programmed, 4 KB erased); it is paid
once per settled sale, and a segment never outgrows one 4 KB block. One file per record
would wear less but costs ~770 B of flash per 107-byte record in directory metadata
(3 MB for the 2,000-sale offline limit); segments hold the same 2,000 sales in ~250 KB.
(A new file's creation is committed at open, so a cut there leaves it empty: the
in-flight files are created once and then only rewritten.)
Checkpoints never wait for a compaction (checkpoints.py says how). The station's
acknowledgements and the pruning they bring wait while a sale is open (`ack`): nothing
but the sale's own records is written while fuel flows.

Write-ahead order: AUTHORIZED before a valve opens, CHECKPOINTs while fuelling, FINAL
before "done" is shown. A boot after a power cut finds an AUTHORIZED sale with no FINAL
and settles it from the checkpoint. Segments the station acknowledged are pruned;
nothing unacknowledged is ever removed. An open escape lives on in its table, so it holds
no segment; the scan at boot brings the table in step with the records on the flash (it
is written with the next record or prune). A record from a newer firmware stops the scan
before anything is written. The identity tells this journal from an earlier one of the
same terminal (a flash formatted, a board replaced), whose numbers started at 1 too: the
station keys what a journal numbers by it (HELLO's `journal`).
"""
import os

from . import meter, storage
from . import record as rec
from .checkpoints import Checkpoints
from .dispenser import STOP_POWER
from .escapes import EscapeTable

SEGMENT = 32  # records per segment file: 32 x 107 B stays within one 4 KB block
EV_UNAUTHORIZED = 1  # unauthorised flow: a = ml metered (it counts in the volume total)
EV_LOCK = 2  # pump locked: a = stop code
EV_UNLOCK = 3  # lock cleared with the service PIN: a = its stop code
EV_ESCAPE_DROPPED = 4  # an open escape the station holds, dropped from the full escape
# table to make room: a = its sale number, b = its amount (settled by or through the station)
EV_VOUCHER = 5  # a loyalty voucher applied to a card sale (rewards.py): a = the station's
# voucher number, b = the sale; journaled after the card's debit, right before its FINAL


class JournalError(Exception):
    pass


def is_card_sale(bill):
    return any(bill["asn"])


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _names(path):
    """The names in directory `path`, one at a time (MicroPython's ilistdir; CPython's
    scandir): never a list of them. OSError if there is no such directory."""
    if hasattr(os, "ilistdir"):
        for entry in os.ilistdir(path):
            yield entry[0]
    else:
        with os.scandir(path) as it:
            for entry in it:
                yield entry.name


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _append(path, data):
    with open(path, "ab") as f:
        f.write(data)


def _segment_index(name):
    """NNNN of a segment file called jNNNN (hex), else None."""
    if len(name) != 5 or name[0] != "j":
        return None
    try:
        return int(name[1:], 16)
    except ValueError:
        return None


def split_segment(data, first_seq):
    """Yield ((type, seq, payload, record), None) for each good record of a segment file
    (`record`: its whole bytes, header to CRC) and ((None, seq, None, None), why) for a
    damaged one, which is skipped by searching for the next record that decodes: the
    records around it are kept."""
    pos = 0
    expect = first_seq
    n = len(data)
    while pos < n:
        good = None
        try:
            size = rec.record_size(data, pos)
            whole = data[pos:pos + size]
            rtype, seq, payload = rec.decode(whole)
            good = (rtype, seq, payload, whole)
        except rec.VersionError:
            raise
        except rec.RecordError as e:
            why = e.why
            seq = e.seq if e.seq is not None else expect
        if good:
            yield good, None
            expect = good[1] + 1
            pos += size
            continue
        yield (None, seq, None, None), why
        next_pos = _resync(data, pos + 1)
        if next_pos is None:
            return
        pos = next_pos
        expect = seq + 1


def _resync(data, pos):
    """The offset of the next record at or after `pos` that decodes, or None. `data` may
    be a memoryview of the scan buffer (no find()): the magic is searched byte by byte."""
    magic_hi = rec.MAGIC >> 8
    magic_lo = rec.MAGIC & 0xFF
    end = len(data) - 1
    while True:
        while pos < end and not (data[pos] == magic_hi and data[pos + 1] == magic_lo):
            pos += 1
        if pos >= end:
            return None
        try:
            rec.decode(data[pos:pos + rec.record_size(data, pos)])
            return pos
        except rec.VersionError:
            return pos
        except rec.RecordError:
            pos += 1


class Journal:
    def __init__(self, root, nozzle=1, segment=SEGMENT):
        self.root = root
        self.segment = segment
        self.next_seq = 1  # next log seq
        self.ack_seq = 0
        self.sale_no = 0  # last sale number handed out (the TTC)
        self.totals = meter.Totalizer(nozzle)  # non-resettable; persisted in every FINAL
        self.last = None  # last settled bill, shown again on demand
        self.open_sale = None  # AUTHORIZED bill not yet settled
        self.unsynced = 0
        self.unsynced_amount = 0
        self.oldest_unsynced = 0  # time of the oldest unacknowledged sale, 0 if none
        self.records = 0
        self.corrupt = []  # (seq, why) found by open()
        self.cp = None  # checkpoint of the sale in flight
        self._seg_totals = False  # newest segment holds a FINAL or SNAPSHOT
        self._settled_sales = 0  # highest sale number settled in the log
        # the open escapes: ESCAPE records no UNLOCK has settled yet (settlement.py reads it)
        self.escapes = EscapeTable(root + "/escapes")
        # One buffer that every segment is read into (open's scan, read, ack), grown once
        # to a full segment (a sound one never holds more than `segment` records) when a
        # segment needs it. Opening a journal keeps no per-record or per-segment state and
        # allocates no per-segment buffer, so a 10,000-sale backlog boots in the same heap
        # as an empty journal.
        self._buf = bytearray(4 * rec.MAX_RECORD)
        self._view = memoryview(self._buf)
        self._loads = 0  # bumped on each load into _buf: a paused read() sees it reused
        self._low = 0  # no segment has an index below this
        self.ident = None  # the identity (16 hex digits), once identify() ran
        self._checkpoints = Checkpoints(root)  # their two directories
        self._ack_due = None  # (seq, time) of an ack that waits for the open sale's end
        self.open_load = None  # a LOAD intent with no end after it (cardload.py)

    def _path(self, name):
        return self.root + "/" + name

    def _segments(self):
        """(index, name) of every segment file, oldest first (tools and tests: the
        journal itself walks segment indices and never holds a list of them)."""
        found = []
        for name in os.listdir(self.root):
            index = _segment_index(name)
            if index is not None:
                found.append((index, name))
        found.sort()
        return found

    def _next_index(self, after):
        """The lowest segment index above `after`, or None: one pass over the directory,
        O(1) memory. Only needed where the segments are not contiguous."""
        best = None
        for name in _names(self.root):
            index = _segment_index(name)
            if index is not None and index > after and (best is None or index < best):
                best = index
        return best

    def _load_segment(self, index):
        """Segment `index` read into the scan buffer (a memoryview of its bytes), or None
        if there is no such file. Only a damaged file can be longer than the buffer: that
        one is read whole."""
        try:
            f = open(self._path("j%04x" % index), "rb")
        except OSError:
            return None
        self._loads += 1
        with f:
            n = f.readinto(self._buf) or 0
            if n < len(self._buf):
                return self._view[:n]
            size = f.seek(0, 2)
            f.seek(0)
            if size > self.segment * rec.MAX_RECORD:  # only a damaged file is this long
                return f.read()
            if size > n:
                self._view = self._buf = None  # the small one goes before the full one comes
                self._buf = bytearray(self.segment * rec.MAX_RECORD)
                self._view = memoryview(self._buf)
                n = f.readinto(self._buf) or 0
            return self._view[:n]

    # -- opening ----------------------------------------------------------------------
    def open(self):
        """Scan and verify everything; raise VersionError before writing a byte."""
        self.corrupt = []
        # one pass over the directory keeps only the lowest and highest segment index
        # (not a list of names: a 10,000-sale backlog is 313 segments)
        low = high = None
        names = []  # of the in-flight files that exist
        try:
            for name in _names(self.root):
                index = _segment_index(name)
                if index is not None:
                    low = index if low is None or index < low else low
                    high = index if high is None or index > high else high
                elif name in ("ack", "sale", "cp"):
                    names.append(name)
                elif name[0] == "j":
                    self.corrupt.append((None, "stray file " + name))
        except OSError:
            os.mkdir(self.root)
        self.corrupt.extend(self.escapes.load())
        ack = self._load("ack", rec.ACK, names)
        if ack:
            self.ack_seq = rec.unpack_ack(ack[2])[0]
        sale = self._load("sale", rec.AUTHORIZED, names)
        checkpoint = self._checkpoints.newest(self._load, names)
        self._low = low or 0
        index = low
        while index is not None and index <= high:
            data = self._load_segment(index)
            if data is None:  # a gap: find the next one
                index = self._next_index(index)
                continue
            self._scan(index, data)
            index += 1
        if sale:
            bill = rec.unpack_bill(sale[2])
            self._sale_seen(bill)
            if bill["sale"] > self._settled_sales:
                self.open_sale = bill
                if checkpoint and checkpoint["sale"] == bill["sale"]:
                    self.cp = checkpoint
        return self.corrupt

    def identify(self):
        """The journal's identity, read, or made (8 random bytes) when it has none: a new
        journal, or one an older firmware wrote. True when it was made here."""
        data = _read(self._path("id"))
        made = data is None or len(data) != 8
        if made:
            data = os.urandom(8)
            storage.write_atomic(self._path("id"), data)
        self.ident = data.hex()
        return made

    def _load(self, name, rtype, names=None):
        """The record in file `name`: read when it is in `names` (the directory's listing),
        or with names None when it is there at all."""
        if names is not None and name not in names:
            return None
        data = _read(self._path(name))
        if not data and names is None:  # none, or made afresh and cut before it was written
            return None
        try:
            decoded = rec.decode(data or b"")
        except rec.VersionError:
            raise
        except rec.RecordError as e:
            self.corrupt.append((e.seq, name + ": " + e.why))
            return None
        if decoded[0] != rtype:
            self.corrupt.append((decoded[1], name + ": holds a " + rec.TYPE_NAMES[decoded[0]]))
            return None
        return decoded

    def _scan(self, index, data):
        first = index * self.segment
        self._seg_totals = False
        for record, why in split_segment(data, first):
            seq = record[1]
            if why is not None and not first <= seq < first + self.segment:
                seq = None  # a damaged header's seq is not to be believed
            if seq is not None and seq >= self.next_seq:
                self.next_seq = seq + 1  # never reuse a seq, not even a broken one's
            if why is not None:
                self.corrupt.append((seq, why))
            else:
                self._apply(record[0], seq, record[2])
        if self.next_seq <= first:
            self.next_seq = first  # an empty segment still claims its numbers

    def _apply(self, rtype, seq, payload):
        self.records += 1
        if rtype in rec.SALE_TYPES:
            bill = rec.unpack_bill(payload)
            self._settled(seq, bill, rtype)
        elif rtype == rec.SNAPSHOT:
            bill, _ack = rec.unpack_bill(payload)
            self._sale_seen(bill)
            self._totals(bill)
        elif rtype == rec.LOAD:
            self._load_seen(rec.unpack_load(payload))
        elif rtype == rec.EVENT:
            event = rec.unpack_event(payload)
            if event["code"] == EV_UNAUTHORIZED and event["a"] > 0:
                self.totals.add(event["a"], 0)
            elif event["code"] == EV_ESCAPE_DROPPED:
                self.escapes.remove(event["a"])

    def _load_seen(self, load):
        if load["state"] == rec.LOAD_INTENT:
            self.open_load = load
        elif self.open_load is not None and self.open_load["load"] == load["load"]:
            self.open_load = None

    def _sale_seen(self, bill):
        if bill["sale"] > self.sale_no:
            self.sale_no = bill["sale"]

    def _totals(self, bill, last=True):
        self.totals.restore(bill["total_ml"], bill["total_amount"])
        if last:
            self.last = bill
        self._seg_totals = True
        if bill["sale"] > self._settled_sales:
            self._settled_sales = bill["sale"]

    def _settled(self, seq, bill, rtype=rec.FINAL):
        self._sale_seen(bill)
        self._totals(bill, rtype != rec.UNLOCK)  # an UNLOCK moves money, not fuel
        if rtype == rec.ESCAPE:
            self.escapes.add(seq, bill)
        elif rtype == rec.UNLOCK and not bill["flags"] & rec.F_ELSEWHERE:
            # our own escape's sale number (another terminal's escape: a number of ours)
            self.escapes.remove(bill["sale"])
        if seq > self.ack_seq:
            self.unsynced += 1
            self.unsynced_amount += bill["amount"]
            if not self.oldest_unsynced or bill["time"] < self.oldest_unsynced:
                self.oldest_unsynced = bill["time"]

    # -- writing ----------------------------------------------------------------------
    def _log(self, rtype, payload):
        seq = self.next_seq
        name = "j%04x" % (seq // self.segment)
        if seq % self.segment == 0:
            self._seg_totals = False
        _append(self._path(name), rec.encode(rtype, seq, payload))
        self.next_seq = seq + 1
        self.records += 1
        return seq

    def begin(self, bill):
        """Journal a new sale's authorisation; returns its sale number. Call before the
        dispenser may open a valve."""
        self._checkpoints.prepare()  # while the valves are shut
        bill["sale"] = self.sale_no + 1
        bill["total_ml"] = self.totals.volume_ml
        bill["total_amount"] = self.totals.amount
        _write(self._path("sale"), rec.encode(rec.AUTHORIZED, bill["sale"],
                                              rec.pack_bill(bill)))
        self.sale_no = bill["sale"]
        self.open_sale = bill
        self.cp = None
        return bill["sale"]

    def checkpoint_renews(self):
        """True when the next routine checkpoint first renews a checkpoint directory
        (erases): the recorder keeps that one away from a valve decision."""
        return self._checkpoints.renews()

    def checkpoint(self, time, pulses, ml, flags=0):
        """Rewrite the open sale's checkpoint: one commit that erases nothing, unless a
        routine one finds only the warning's reserve left (checkpoint_renews)."""
        sale = self.open_sale
        if sale is None:
            return
        self.cp = self._checkpoints.write(sale["sale"], time, pulses, ml, flags)

    def finish(self, time, pulses, ml, amount, stop, flags=0, overrun_ml=0, card=None,
               rtype=rec.FINAL):
        """Settle the open sale: FINAL (or ESCAPE: the card still owes the amount) with
        the totalizers after it; `card` adds the card fields (tac, gmac, balance after).
        Returns the bill."""
        bill = dict(self.open_sale)
        bill["time"] = time
        if card:
            bill.update(card)  # a card sale's bill has its debit's time (the TAC's)
        bill["pulses"] = pulses
        bill["ml"] = ml
        bill["amount"] = amount
        bill["stop"] = stop
        bill["flags"] = flags
        bill["overrun_ml"] = overrun_ml
        self.append(rtype, bill)
        self.open_sale = None
        self.cp = None  # the in-flight files stay; their sale number marks them stale
        due = self._ack_due
        if due is not None:
            self._ack_due = None
            self._ack_file(due[0], due[1])
            self.prune()
        return bill

    def append(self, rtype, bill):
        """Log a settled bill (FINAL, ESCAPE or UNLOCK) with the totalizers after it and
        count it; returns the bill. An UNLOCK moves money, not fuel: it adds nothing to the
        totalizers (the fuel and the amount were counted by its ESCAPE)."""
        moved = rtype != rec.UNLOCK
        bill["total_ml"] = self.totals.volume_ml + (bill["ml"] if moved else 0)
        bill["total_amount"] = self.totals.amount + (bill["amount"] if moved else 0)
        seq = self._log(rtype, rec.pack_bill(bill))
        self._settled(seq, bill, rtype)
        if not self.escapes.saved:  # the record first, then its table entry
            self.escapes.make_room(self.ack_seq, lambda dropped: self.event(
                bill["time"], EV_ESCAPE_DROPPED, dropped["sale"], dropped["amount"]))
            self.escapes.save()
        return bill

    def recover(self, time):
        """Settle a sale a power cut left open, from its last checkpoint. Returns the bill
        or None. Exact when the checkpoint came from the power-fail warning."""
        sale = self.open_sale
        if sale is None:
            return None
        checkpoint = self.cp
        pulses = checkpoint["pulses"] if checkpoint else 0
        ml = checkpoint["ml"] if checkpoint else 0
        flags = rec.F_RECOVERED | (checkpoint["flags"] & rec.F_WARNED if checkpoint else 0)
        # a card sale's card may be grey: it owes the amount until it is settled
        rtype = rec.ESCAPE if is_card_sale(sale) else rec.FINAL
        return self.finish(time, pulses, ml, meter.amount_for_ml(ml, sale["price"]),
                           STOP_POWER, flags, 0, None, rtype)

    def load(self, load):
        """Log a load's record (record.LOAD_FIELDS; cardload.py): its intent before CREDIT
        FOR LOAD, its end (done, or cut) after. Returns its seq."""
        seq = self._log(rec.LOAD, rec.pack_load(load))
        self._load_seen(load)
        return seq

    def recover_load(self, time):
        """A load whose intent a power cut left without its end: ended as cut (the card's
        online counter tells the station whether CREDIT FOR LOAD reached it). Returns
        that record's fields, or None."""
        load = self.open_load
        if load is None:
            return None
        load = dict(load, state=rec.LOAD_CUT, time=time)
        self.load(load)
        return load

    def event(self, time, code, a=0, b=0):
        seq = self._log(rec.EVENT, rec.pack_event(time, code, a, b))
        if code == EV_UNAUTHORIZED and a > 0:
            self.totals.add(a, 0)
        return seq

    def ack(self, seq, time):
        """The station holds every record up to `seq`: move the cursor, prune, recount."""
        if seq <= self.ack_seq:
            return
        if seq >= self.next_seq:
            raise JournalError("ack %d beyond the last record %d" % (seq, self.next_seq - 1))
        if self.open_sale is None:
            self._ack_file(seq, time)
        else:  # written with the sale's end; a cut before it only brings duplicates again
            self._ack_due = (seq, time)
        previous_ack = self.ack_seq
        self.ack_seq = seq
        if seq == self.next_seq - 1:  # all of it acknowledged: nothing is unsynced
            self.unsynced = self.unsynced_amount = self.oldest_unsynced = 0
            if self.open_sale is None:
                self.prune()
            return
        # take the newly acknowledged sales off the counts: only (previous_ack, seq] and the first
        # record after it are read, not the whole backlog (a drain acks many times)
        oldest = 0
        for record_seq, rtype, data in self.read(previous_ack, True):
            if rtype not in rec.SALE_TYPES:
                continue
            when, amount = rec.time_amount(data)
            if record_seq > seq:
                oldest = when  # records are in time order: the oldest left
                break
            self.unsynced -= 1
            self.unsynced_amount -= amount
        self.oldest_unsynced = oldest if self.unsynced else 0
        if self.open_sale is None:
            self.prune()

    def _ack_file(self, seq, time):
        _write(self._path("ack"), rec.encode(rec.ACK, seq, rec.pack_ack(seq, time)))

    def prune(self):
        """Remove segments whose records the station holds, keeping the newest (an open
        escape holds none: its table keeps it)."""
        if not self.escapes.save():
            return 0  # the escape table on the flash is behind: the records stay
        newest = (self.next_seq - 1) // self.segment
        # segments self._low .. last, none of them the newest, go (walked by index: no list)
        last = min((self.ack_seq + 1) // self.segment - 1, newest - 1)
        if last < self._low:
            return 0
        if not self._seg_totals and self.last is not None:
            # totals and the last sale must outlive the records that carried them
            snapshot = dict(self.last)
            snapshot["total_ml"] = self.totals.volume_ml
            snapshot["total_amount"] = self.totals.amount
            self._log(rec.SNAPSHOT, rec.pack_bill(snapshot, self.ack_seq))
            self._seg_totals = True
        removed = 0
        for index in range(self._low, last + 1):
            try:
                os.remove(self._path("j%04x" % index))
                removed += 1
            except OSError:  # a gap
                pass
        self._low = last + 1
        return removed

    # -- reading ----------------------------------------------------------------------
    def read(self, after=0, whole=False):
        """Yield (seq, type, payload) of every valid log record with seq > after; with
        `whole`, the record's own bytes (header to CRC, as RECORDS carries them) in place
        of a copy of its payload: a view into the scan buffer, valid until the next record
        is asked for.

        Segments are read one at a time into the journal's one scan buffer, from the
        segment that holds `after + 1`. If the buffer was used by something else while
        this generator waited at a yield (the link reads a batch, then acks), the segment
        is read again and the records already yielded are skipped."""
        index = max(self._low, (after + 1) // self.segment)
        last = (self.next_seq - 1) // self.segment
        done = after
        while index is not None and index <= last:
            data = self._load_segment(index)
            if data is None:
                index = self._next_index(index)
                continue
            token = self._loads
            again = True
            while again:
                again = False
                for record, why in split_segment(data, index * self.segment):
                    if why is None and record[1] > done:
                        done = record[1]
                        yield record[1], record[0], record[3] if whole else bytes(record[2])
                        if self._loads != token:
                            data = self._load_segment(index)
                            token = self._loads
                            again = data is not None
                            break
            index += 1

    # -- limits -----------------------------------------------------------------------
    def refusal(self, cfg, now, free_blocks):
        """Why no new sale may start (a prompt key), or None. Checked before a sale so
        neither the flash, the offline risk nor the escape table can fill up."""
        if self.unsynced >= cfg.max_unsynced_sales:
            return "offline_count"
        if self.unsynced_amount >= cfg.max_unsynced_amount:
            return "offline_amount"
        if self.oldest_unsynced and now - self.oldest_unsynced >= cfg.max_unsynced_age_s:
            return "offline_age"
        if self.escapes.full(self.ack_seq):
            return "escapes_full"
        if free_blocks is not None and free_blocks < cfg.storage_reserve_blocks:
            return "storage_full"
        return None
