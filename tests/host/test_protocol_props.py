"""Hypothesis on the wire codec: HMAC agrees with Python's hmac; random bytes, cut or
flipped frames only ever raise ProtocolError, on either end's decoder."""
import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from pumpside import protocol as p

KEY = b"k" * 32
payloads = st.dictionaries(st.text(max_size=8), st.one_of(
    st.integers(-2**40, 2**40), st.text(max_size=30), st.booleans(), st.none()), max_size=6)


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_matches_the_standard_library(key, msg):
    assert p.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


@given(st.binary(max_size=300))
def test_random_bytes_only_raise_protocol_errors(data):
    for direction, allowed in ((p.TO_STATION, p.FROM_TERMINAL),
                               (p.TO_TERMINAL, p.FROM_STATION)):
        try:
            frame, _rest = p.split(data)
            if frame is not None:
                p.decode(frame, KEY, direction, allowed)
        except p.ProtocolError:
            pass
        try:
            p.peek(data)
        except p.ProtocolError:
            pass


@given(payloads, st.integers(0, 300), st.integers(0, 7))
def test_every_cut_or_flipped_bit_is_refused(payload, where, bit):
    sess = p.Session(KEY, p.TO_STATION)
    frame = sess.encode(p.SALES, payload)
    other = p.Session(KEY, p.TO_TERMINAL)
    assert other.decode(frame)[1] == payload  # intact: accepted
    cut = frame[:where % len(frame)]
    flipped = bytearray(frame)
    flipped[where % len(frame)] ^= 1 << bit
    for bad in (cut, bytes(flipped)):
        fresh = p.Session(KEY, p.TO_TERMINAL)
        try:
            got, _rest = p.split(bad)
            if got is not None:
                fresh.decode(got)
                raise AssertionError("a damaged frame was accepted")
        except p.ProtocolError:
            pass


def test_a_payload_nested_too_deep_is_refused_not_a_crash():
    sess = p.Session(KEY, p.TO_STATION)
    other = p.Session(KEY, p.TO_TERMINAL)
    data = b"[" * 8000 + b"]" * 8000  # 16 KB: within the frame limit
    body = bytes([p.VERSION, p.SALES]) + (1).to_bytes(4, "big") + data
    frame = (len(body) + p.TAG_LEN).to_bytes(2, "big") + body + p._tag(sess.key, p.TO_STATION,
                                                                        body)
    try:
        other.decode(frame)
        raise AssertionError("accepted")
    except p.ProtocolError as e:
        assert e.why in ("payload nested too deep", "payload is not a JSON object")
