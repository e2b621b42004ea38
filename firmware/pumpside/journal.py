"""Power-fail-safe sale journal: append-only records, recovery, ack cursor, limits.

Layout on the journal's filesystem (littlefs on the board's flash):
  <root>/jNNNN/SSSSSSSS   one record per file; SSSSSSSS = seq (hex), NNNN = seq // segment
  <root>/cp               CHECKPOINT of the sale in flight (one record, rewritten)
  <root>/ack              ACK: the station holds every record up to its seq (rewritten)
Why one file per record: littlefs commits a small file inside its directory's metadata
log, atomically and without copying a data block. Appending records to one big file
with a sync each time copies the file's last 4 KB block on every append (measured:
~1.8 KB programmed and 4 KB erased per 128-byte record, against ~0.1 KB for a small
file; see `make bench`). A record therefore exists whole or not at all; the CRC still
catches bit rot.

Write-ahead order: AUTHORIZED before a valve opens, CHECKPOINTs while fuelling, FINAL
before "done" is shown. A boot after a power cut finds the AUTHORIZED sale without FINAL
and settles it from the checkpoint. Segments the station acknowledged are pruned;
nothing unacknowledged is ever removed. A record from a newer firmware stops the scan
before anything is written.
"""
import os

from . import meter
from . import record as rec
from .dispenser import STOP_POWER

SEGMENT = 64  # records per directory
EV_UNAUTHORIZED = 1  # unauthorised flow: a = ml metered (it counts in the volume total)
EV_LOCK = 2  # pump locked: a = stop code
EV_UNLOCK = 3  # lock cleared by a technician


class JournalError(Exception):
    pass


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


class Journal:
    def __init__(self, root, nozzle=1, segment=SEGMENT):
        self.root = root
        self.segment = segment
        self.next_seq = 1
        self.ack_seq = 0
        self.sale_no = 0  # last sale number handed out (the TTC)
        self.totals = meter.Totalizer(nozzle)  # non-resettable; persisted in every FINAL
        self.last = None  # last settled bill, shown again on demand
        self.open_sale = None  # AUTHORIZED bill not yet settled
        self.open_seq = 0
        self.unsynced = 0
        self.unsynced_amount = 0
        self.oldest_unsynced = 0  # time of the oldest unacknowledged sale, 0 if none
        self.records = 0
        self.corrupt = []  # (seq, why) found by open()
        self.cp = None  # checkpoint of the sale in flight
        self._dir_totals = False  # newest directory holds a FINAL or SNAPSHOT

    # -- opening ----------------------------------------------------------------------
    def open(self):
        """Scan and verify everything; raise VersionError before writing a byte."""
        try:
            names = sorted(os.listdir(self.root))
        except OSError:
            names = None
        self.corrupt = []
        if names is None:
            os.mkdir(self.root)
            names = []
        if "ack" in names:
            got = self._decode_file(self.root + "/ack", None)
            if got and got[0] == rec.ACK:
                self.ack_seq = rec.unpack_ack(got[2])[0]
        for d in names:
            if len(d) == 5 and d[0] == "j":
                self._scan_dir(d)
        if "cp" in names:
            got = self._decode_file(self.root + "/cp", None)
            if got and got[0] == rec.CHECKPOINT:
                self.cp = rec.unpack_checkpoint(got[2])
        return self.corrupt

    def _decode_file(self, path, seq_name):
        data = _read(path)
        if data is None:
            self.corrupt.append((seq_name, "unreadable"))
            return None
        try:
            got = rec.decode(data)
        except rec.VersionError:
            raise
        except rec.RecordError as e:
            self.corrupt.append((seq_name if seq_name is not None else e.seq, e.why))
            return None
        if seq_name is not None and got[1] != seq_name:
            self.corrupt.append((seq_name, "seq %d in the wrong file" % got[1]))
            return None
        return got

    def _scan_dir(self, d):
        path = self.root + "/" + d
        self._dir_totals = False
        for name in sorted(os.listdir(path)):
            try:
                seq = int(name, 16)
            except ValueError:
                self.corrupt.append((None, "stray file " + d + "/" + name))
                continue
            if seq >= self.next_seq:
                self.next_seq = seq + 1  # never reuse a seq, not even a broken one's
            got = self._decode_file(path + "/" + name, seq)
            if got:
                self._apply(got[0], seq, got[2])

    def _apply(self, rtype, seq, payload):
        self.records += 1
        if rtype == rec.AUTHORIZED:
            bill = rec.unpack_bill(payload)
            self.open_sale = bill
            self.open_seq = seq
            self._sale_seen(bill)
        elif rtype in rec.SALE_TYPES:
            bill = rec.unpack_bill(payload)
            if self.open_sale is not None and self.open_sale["sale"] == bill["sale"]:
                self.open_sale = None
            self._settled(seq, bill)
        elif rtype == rec.SNAPSHOT:
            bill, _ack = rec.unpack_bill(payload)
            self._sale_seen(bill)
            self._totals(bill)
        elif rtype == rec.EVENT:
            ev = rec.unpack_event(payload)
            if ev["code"] == EV_UNAUTHORIZED and ev["a"] > 0:
                self.totals.add(ev["a"], 0)

    def _sale_seen(self, bill):
        if bill["sale"] > self.sale_no:
            self.sale_no = bill["sale"]

    def _totals(self, bill):
        self.totals.volume_ml = bill["total_ml"]
        self.totals.amount = bill["total_amount"]
        self.last = bill
        self._dir_totals = True

    def _settled(self, seq, bill):
        self._sale_seen(bill)
        self._totals(bill)
        if seq > self.ack_seq:
            self.unsynced += 1
            self.unsynced_amount += bill["amount"]
            if not self.oldest_unsynced or bill["time"] < self.oldest_unsynced:
                self.oldest_unsynced = bill["time"]

    # -- writing ----------------------------------------------------------------------
    def _append(self, rtype, payload):
        seq = self.next_seq
        d = self.root + "/j%04x" % (seq // self.segment)
        if seq % self.segment == 0 or seq == 1:
            try:
                os.mkdir(d)
            except OSError:
                pass  # exists
            self._dir_totals = False
        data = rec.encode(rtype, seq, payload)
        try:
            _write(d + "/%08x" % seq, data)
        except OSError as e:
            if e.args and e.args[0] == 2:  # ENOENT: the directory was lost with a cut
                os.mkdir(d)
                _write(d + "/%08x" % seq, data)
            else:
                raise
        self.next_seq = seq + 1
        self.records += 1
        return seq

    def begin(self, bill):
        """Journal a new sale's authorisation; returns its sale number. Call before the
        dispenser may open a valve."""
        bill["sale"] = self.sale_no + 1
        bill["total_ml"] = self.totals.volume_ml
        bill["total_amount"] = self.totals.amount
        self.open_seq = self._append(rec.AUTHORIZED, rec.pack_bill(bill))
        self.sale_no = bill["sale"]
        self.open_sale = bill
        self.cp = None
        return bill["sale"]

    def checkpoint(self, time, pulses, ml, flags=0):
        sale = self.open_sale
        if sale is None:
            return
        payload = rec.pack_checkpoint(sale["sale"], time, pulses, ml, flags)
        _write(self.root + "/cp", rec.encode(rec.CHECKPOINT, self.open_seq, payload))
        self.cp = rec.unpack_checkpoint(payload)

    def finish(self, time, pulses, ml, amount, stop, flags=0, overrun_ml=0):
        """Settle the open sale: FINAL with the totalizers after it. Returns the bill."""
        bill = dict(self.open_sale)
        bill["time"] = time
        bill["pulses"] = pulses
        bill["ml"] = ml
        bill["amount"] = amount
        bill["stop"] = stop
        bill["flags"] = flags
        bill["overrun_ml"] = overrun_ml
        bill["total_ml"] = self.totals.volume_ml + ml
        bill["total_amount"] = self.totals.amount + amount
        seq = self._append(rec.FINAL, rec.pack_bill(bill))
        self.open_sale = None
        self._settled(seq, bill)
        _remove(self.root + "/cp")
        self.cp = None
        return bill

    def recover(self, time):
        """Settle a sale a power cut left open, from its last checkpoint. Returns the bill
        or None. Exact when the checkpoint came from the power-fail warning."""
        sale = self.open_sale
        if sale is None:
            _remove(self.root + "/cp")
            return None
        cp = self.cp if self.cp is not None and self.cp["sale"] == sale["sale"] else None
        pulses = cp["pulses"] if cp else 0
        ml = cp["ml"] if cp else 0
        flags = rec.F_RECOVERED | (cp["flags"] & rec.F_WARNED if cp else 0)
        return self.finish(time, pulses, ml, meter.amount_for_ml(ml, sale["price"]),
                           STOP_POWER, flags)

    def event(self, time, code, a=0, b=0):
        seq = self._append(rec.EVENT, rec.pack_event(time, code, a, b))
        if code == EV_UNAUTHORIZED and a > 0:
            self.totals.add(a, 0)
        return seq

    def ack(self, seq, time):
        """The station holds every record up to `seq`: move the cursor, prune, recount."""
        if seq <= self.ack_seq:
            return
        if seq >= self.next_seq:
            raise JournalError("ack %d beyond the last record %d" % (seq, self.next_seq - 1))
        _write(self.root + "/ack", rec.encode(rec.ACK, seq, rec.pack_ack(seq, time)))
        self.ack_seq = seq
        self.prune()
        self._recount()

    def prune(self):
        """Remove directories whose records the station holds, keeping the newest."""
        dirs = sorted(n for n in os.listdir(self.root) if len(n) == 5 and n[0] == "j")
        newest = "j%04x" % ((self.next_seq - 1) // self.segment)
        doomed = [d for d in dirs if d != newest and
                  (int(d[1:], 16) + 1) * self.segment - 1 <= self.ack_seq]
        if not doomed:
            return 0
        if not self._dir_totals and self.last is not None:
            # totals and the last sale must outlive the records that carried them
            snap = dict(self.last)
            snap["total_ml"] = self.totals.volume_ml
            snap["total_amount"] = self.totals.amount
            self._append(rec.SNAPSHOT, rec.pack_bill(snap, self.ack_seq))
            self._dir_totals = True
        for d in doomed:
            path = self.root + "/" + d
            for name in os.listdir(path):
                os.remove(path + "/" + name)
            os.rmdir(path)
        return len(doomed)

    def _recount(self):
        self.unsynced = 0
        self.unsynced_amount = 0
        self.oldest_unsynced = 0
        for _seq, rtype, payload in self.read(self.ack_seq):
            if rtype in rec.SALE_TYPES:
                bill = rec.unpack_bill(payload)
                self.unsynced += 1
                self.unsynced_amount += bill["amount"]
                if not self.oldest_unsynced or bill["time"] < self.oldest_unsynced:
                    self.oldest_unsynced = bill["time"]

    # -- reading ----------------------------------------------------------------------
    def read(self, after=0):
        """Yield (seq, type, payload) of every valid record with seq > after, in order."""
        for d in sorted(n for n in os.listdir(self.root) if len(n) == 5 and n[0] == "j"):
            if (int(d[1:], 16) + 1) * self.segment - 1 <= after:
                continue
            path = self.root + "/" + d
            for name in sorted(os.listdir(path)):
                try:
                    seq = int(name, 16)
                except ValueError:
                    continue
                if seq <= after:
                    continue
                data = _read(path + "/" + name)
                try:
                    rtype, rseq, payload = rec.decode(data or b"")
                except rec.RecordError:
                    continue
                if rseq == seq:
                    yield seq, rtype, payload

    # -- limits -----------------------------------------------------------------------
    def refusal(self, cfg, now, free_blocks):
        """Why no new sale may start (a prompt key), or None. Checked before a sale so
        neither the flash nor the offline risk can fill up."""
        if self.unsynced >= cfg.max_unsynced_sales:
            return "offline_count"
        if self.unsynced_amount >= cfg.max_unsynced_amount:
            return "offline_amount"
        if self.oldest_unsynced and now - self.oldest_unsynced >= cfg.max_unsynced_age_s:
            return "offline_age"
        if free_blocks is not None and free_blocks < cfg.storage_reserve_blocks:
            return "storage_full"
        return None
