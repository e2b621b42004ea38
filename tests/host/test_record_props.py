"""Property tests of the journal record codec and segment reader."""
import struct

from hypothesis import given
from hypothesis import strategies as st

from pumpside import journal
from pumpside import record as rec

u32 = st.integers(min_value=0, max_value=2**32 - 1)
text4 = st.text(alphabet="0123456789ABCDEF#", min_size=0, max_size=4)

bills = st.fixed_dictionaries({
    "sale": u32, "time": u32, "nozzle": st.integers(0, 255), "grade": text4,
    "price": u32, "mode": st.sampled_from(["V", "A", "F"]), "preset_ml": u32,
    "preset_amount": u32, "pulses": u32, "ml": u32, "amount": u32,
    "stop": st.integers(0, 255), "flags": st.integers(0, 255), "overrun_ml": u32,
    "total_ml": st.integers(0, 2**64 - 1), "total_amount": st.integers(0, 2**64 - 1),
    "asn": st.binary(min_size=10, max_size=10), "balance": u32,
    "ctc": st.integers(0, 65535), "tac": st.binary(min_size=4, max_size=4),
    "gmac": st.binary(min_size=4, max_size=4), "psam_ttc": u32,
    "card_type": st.integers(0, 255), "odo": u32,
})


@given(bills, u32)
def test_bill_round_trip(bill, seq):
    data = rec.encode(rec.FINAL, seq, rec.pack_bill(bill))
    rtype, got_seq, payload = rec.decode(data)
    assert (rtype, got_seq) == (rec.FINAL, seq)
    assert rec.unpack_bill(payload) == bill


@given(bills, u32, u32, st.sampled_from(rec.BILL_TYPES))
def test_a_version_1_record_decodes_with_odo_0(bill, seq, ack, rtype):
    """A journal an older firmware wrote (no `odo` in its bills) and a pump not yet updated
    are read as version 2 with `odo` 0: a bill, and a snapshot's bill before its ack."""
    bill = dict(bill, odo=0)
    v1 = rec.pack_bill(bill)[:-4]
    rtype_, got_seq, payload = rec.decode(rec.encode(rtype, seq, v1, version=1))
    assert (rtype_, got_seq, rec.unpack_bill(payload)) == (rtype, seq, bill)
    snap = rec.pack_bill(bill, ack)
    v1 = snap[:-8] + snap[-4:]
    _t, _s, payload = rec.decode(rec.encode(rec.SNAPSHOT, seq, v1, version=1))
    assert rec.unpack_bill(payload) == (bill, ack)
    # a version 1 header on a version 2 bill (or the other way round) is a bad length
    for version, body in ((1, rec.pack_bill(bill)), (2, rec.pack_bill(bill)[:-4])):
        try:
            rec.decode(rec.encode(rtype, seq, body, version=version))
        except rec.RecordError as e:
            assert "length" in e.why
        else:
            raise AssertionError("version %d with %d bytes decoded" % (version, len(body)))
    assert rec.from_wire(rec.encode(rec.FINAL, seq, rec.pack_bill(bill)[:-4], version=1))[
        0].get("odo") is None  # absent: 0


@given(bills, st.data())
def test_any_single_byte_change_is_caught(bill, data):
    good = rec.encode(rec.FINAL, 7, rec.pack_bill(bill))
    i = data.draw(st.integers(0, len(good) - 1))
    delta = data.draw(st.integers(1, 255))
    bad = bytearray(good)
    bad[i] ^= delta
    try:
        rec.decode(bytes(bad))
    except rec.RecordError:
        return
    raise AssertionError("changed byte %d went unnoticed" % i)


@given(st.binary(max_size=200))
def test_garbage_only_ever_raises_record_error(blob):
    try:
        rec.decode(blob)
    except rec.RecordError:
        pass


@given(st.lists(st.tuples(st.sampled_from([rec.FINAL, rec.EVENT]), u32), min_size=1,
                max_size=20), st.data())
def test_segment_reader_keeps_every_record_the_damage_missed(specs, data):
    seg = b""
    spans = []
    for i, (rtype, x) in enumerate(specs):
        payload = (rec.pack_bill(rec.new_bill()) if rtype == rec.FINAL
                   else rec.pack_event(x, 1, 0, 0))
        r = rec.encode(rtype, 64 + i, payload)
        spans.append((len(seg), len(seg) + len(r), 64 + i))
        seg += r
    hit = data.draw(st.integers(0, len(seg) - 1))
    bad = bytearray(seg)
    bad[hit] ^= data.draw(st.integers(1, 255))
    got = list(journal.split_segment(bytes(bad), 64))
    good = [g[1] for g, why in got if why is None]
    damaged = [seq for start, end, seq in spans if start <= hit < end]
    assert good == [seq for _, _, seq in spans if seq not in damaged]
    assert sum(1 for _, why in got if why is not None) == 1


def test_header_layout_is_what_docs_say():
    data = rec.encode(rec.ACK, 0x01020304, rec.pack_ack(5, 6))
    assert data[:2] == b"PS"
    assert struct.unpack(">BBIH", data[2:10]) == (rec.VERSION, rec.ACK, 0x01020304, 8)


@given(bills, st.integers(1, 2**32 - 1))
def test_compact_json_only_leaves_out_zeros(bill, seq):
    payload = rec.pack_bill(bill)
    full = rec.to_json(seq, rec.FINAL, payload)
    compact = rec.to_json(seq, rec.FINAL, payload, compact=True)
    assert {"seq", "type", "sale", "ml", "amount"} <= set(compact)
    for k, v in full.items():
        if k in compact:
            assert compact[k] == v
        else:
            assert v in (0, "") or set(v) == {"0"}, (k, v)
    assert full["asn"] == bill["asn"][:8].hex()
