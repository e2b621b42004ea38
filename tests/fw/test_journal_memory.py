"""The journal's memory: opening and reading a long offline backlog keeps no per-record or
per-segment state, and every segment is read into one reused buffer (a 10,000-sale
backlog must boot in the virtual board's 192K heap beside the link).
Behaviour, not speed: counts and sizes, never wall time."""
import gc
import os

from _t import MICROPYTHON, rmtree, skip, tmpdir
from pumpside import record as rec
from pumpside.journal import SEGMENT, Journal

T0 = 1_700_000_000


def _bill(sale, ml):
    bill = rec.new_bill()
    bill.update({"sale": sale, "time": T0 + sale, "nozzle": 1, "grade": "92", "price": 7590,
                 "mode": "V", "preset_ml": 20000, "ml": ml, "amount": ml * 7590 // 1000})
    return bill


def _fill(root, segments, segment=SEGMENT):
    """`segments` full segment files of FINAL records, as the journal writes them (written
    a segment at a time: a few thousand sales through begin/finish would be slow)."""
    os.mkdir(root)
    seq = 1
    for index in range(segments):
        out = []
        while seq < (index + 1) * segment:
            out.append(rec.encode(rec.FINAL, seq, rec.pack_bill(_bill(seq, 1000 + seq % 7))))
            seq += 1
        with open(root + "/j%04x" % index, "wb") as f:
            f.write(b"".join(out))
    return seq - 1  # records written


class Backlog:
    def __init__(self, segments):
        self.segments = segments

    def __enter__(self):
        self.path = tmpdir()
        self.root = self.path + "/j"
        self.records = _fill(self.root, self.segments)
        return self

    def __exit__(self, *exc):
        rmtree(self.path)


def _in_use():
    """Bytes allocated now: MicroPython's gc heap, CPython's traced memory."""
    gc.collect()
    if MICROPYTHON:
        return gc.mem_alloc()
    import tracemalloc

    return tracemalloc.get_traced_memory()[0]


def _sizes(journal):
    """The length of every container the journal object holds."""
    out = {}
    for name, value in journal.__dict__.items():
        if isinstance(value, (list, dict, tuple, bytes, bytearray, str)):
            out[name] = len(value)
    return out


def _opened(segments):
    """(journal, bytes it keeps) for a backlog of `segments` full segments."""
    with Backlog(segments) as backlog:
        before = _in_use()
        journal = Journal(backlog.root)
        assert journal.open() == []
        kept = _in_use() - before
        assert journal.records == backlog.records and journal.unsynced == backlog.records
        assert journal.next_seq == backlog.records + 1
        return journal, kept


def _tracing(fn):
    if not MICROPYTHON:
        import tracemalloc

        tracemalloc.start()
        try:
            return fn()
        finally:
            tracemalloc.stop()
    return fn()


def test_opening_a_long_backlog_keeps_no_per_record_state():
    def run():
        small, small_kept = _opened(2)  # 63 records
        large, large_kept = _opened(40)  # 1,279 records
        # the same structures, of the same sizes, whatever the backlog
        assert _sizes(small) == _sizes(large), (_sizes(small), _sizes(large))
        assert len(large.escapes) == 0 and large.corrupt == []
        # and the same bytes kept (a few hundred of slack for the allocator's rounding)
        assert large_kept - small_kept < 512, (small_kept, large_kept)

    _tracing(run)


def test_opening_and_reading_peak_does_not_grow_with_segments():
    """The peak while opening and reading the whole backlog: one scan buffer, however
    many segments (a list of segment names, or a buffer per segment, would grow it)."""
    if MICROPYTHON:
        skip("the unix port has no allocation peak to read; CPython's tracemalloc has")
    import tracemalloc

    def peak(segments):
        with Backlog(segments) as backlog:
            journal = Journal(backlog.root)
            gc.collect()
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                journal.open()
                n = 0
                for _rec in journal.read():
                    n += 1
                top = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert n == backlog.records
            return top - base

    small, large = peak(2), peak(60)
    assert large - small < 1024, (small, large)


def test_a_paused_read_survives_the_scan_buffer_being_reused():
    """The link reads a batch, stops, and the ack reads again: a read() paused at a yield
    that finds the buffer reused reads its segment again and goes on where it was."""
    with Backlog(3) as backlog:
        journal = Journal(backlog.root)
        journal.open()
        first = journal.read(0)
        got = [next(first)[0] for _ in range(5)]
        other = [s for s, _t, _p in journal.read(40)]  # another segment through the same buffer
        assert other == list(range(41, backlog.records + 1))
        got += [s for s, _t, _p in first]
        assert got == list(range(1, backlog.records + 1))
        payloads = [p for _s, _t, p in journal.read(0)]
        assert all(isinstance(p, bytes) for p in payloads)  # copies, not views of the buffer
        assert rec.unpack_bill(payloads[0])["sale"] == 1


def test_segments_with_a_gap_are_scanned_and_read_around_it():
    with Backlog(4) as backlog:
        os.remove(backlog.root + "/j0001")
        journal = Journal(backlog.root)
        assert journal.open() == []
        want = [s for s in range(1, backlog.records + 1) if not 32 <= s < 64]
        assert journal.records == len(want) and journal.next_seq == backlog.records + 1
        assert [s for s, _t, _p in journal.read()] == want
        assert [s for s, _t, _p in journal.read(20)] == [s for s in want if s > 20]
        journal.ack(100, T0)  # prunes j0000 and j0002 across the gap; j0003 (96..127) stays
        assert sorted(n for _i, n in journal._segments()) == ["j0003"]
        again = Journal(backlog.root)
        again.open()
        finals = [s for s, t, _p in again.read() if t == rec.FINAL]
        assert finals == list(range(96, backlog.records + 1))
