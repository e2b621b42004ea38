"""Property tests of RECORDS, the frame that carries journal records in their own bytes:
what the station decodes is what the journal holds (record.to_json), and any damage -
a byte changed, a record cut short, garbage - is refused whole (nothing of it taken)."""
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_record_props import bills, u32

from pumpside import protocol as p
from pumpside import record as rec

KEY = b"k" * 32

events = st.builds(rec.pack_event, u32, st.integers(0, 65535),
                   st.integers(-2**31, 2**31 - 1), st.integers(-2**31, 2**31 - 1))
# totalizers within what JSON and SQLite hold exactly (protocol.MAX_INT), as on the flash
wire_bills = bills.map(lambda b: dict(b, total_ml=b["total_ml"] % p.MAX_INT,
                                      total_amount=b["total_amount"] % p.MAX_INT))
records = st.one_of(
    st.tuples(st.sampled_from([rec.FINAL, rec.ESCAPE, rec.UNLOCK]),
              wire_bills.map(rec.pack_bill)),
    st.tuples(st.just(rec.EVENT), events),
    st.tuples(st.just(rec.SNAPSHOT),
              st.tuples(wire_bills, u32).map(lambda b: rec.pack_bill(*b))))
batches = st.lists(st.tuples(records, st.integers(1, 2**32 - 1)), min_size=1, max_size=8)


def _body(batch):
    return b"".join(rec.encode(rtype, seq, payload) for (rtype, payload), seq in batch)


def _expected(batch):
    return [rec.to_json(seq, rtype, payload, True) for (rtype, payload), seq in batch]


def _frame(body):
    return p.Session(KEY, p.TO_STATION).encode(p.RECORDS, body)


def _station():
    return p.Session(KEY, p.TO_TERMINAL)


@given(batches)
def test_records_round_trip_as_the_journal_holds_them(batch):
    body = _body(batch)
    assert rec.from_wire(body) == _expected(batch)
    assert rec.from_wire(memoryview(body)) == _expected(batch)
    mtype, payload = _station().decode(_frame(body), p.FROM_TERMINAL)
    assert mtype == p.RECORDS and payload == {"records": _expected(batch)}
    p.check(mtype, payload)  # the table's RECORDS line takes what the journal holds


@given(batches, st.data())
def test_any_changed_byte_of_the_records_is_refused(batch, data):
    body = bytearray(_body(batch))
    i = data.draw(st.integers(0, len(body) - 1))
    body[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(rec.RecordError):
        rec.from_wire(bytes(body))
    # under a good tag too (the terminal's own fault): the station refuses the frame
    with pytest.raises(p.ProtocolError, match="bad RECORDS"):
        _station().decode(_frame(bytes(body)), p.FROM_TERMINAL)


@given(batches, st.data())
def test_records_cut_short_are_refused(batch, data):
    body = _body(batch)
    cut = data.draw(st.integers(0, len(body) - 1))
    ends = [len(_body(batch[:n])) for n in range(1, len(batch))]
    if cut in ends:  # cut between two records: the whole ones before it, no more (the
        # frame's HMAC is what refuses a frame cut there: test_protocol_props)
        assert rec.from_wire(body[:cut]) == _expected(batch[:ends.index(cut) + 1])
        return
    with pytest.raises(rec.RecordError):
        rec.from_wire(body[:cut])


@given(batches, st.data())
def test_any_changed_byte_of_the_frame_is_refused(batch, data):
    frame = bytearray(_frame(_body(batch)))
    i = data.draw(st.integers(2, len(frame) - 1))  # the length: test_protocol's
    frame[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(p.ProtocolError):
        _station().decode(bytes(frame), p.FROM_TERMINAL)


@given(st.binary(max_size=400))
def test_garbage_only_ever_raises_record_error(blob):
    try:
        rec.from_wire(blob)
    except rec.RecordError:
        pass
