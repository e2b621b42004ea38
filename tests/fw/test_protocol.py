from _t import raises
from pumpside import protocol as p

KEY = bytes(range(32))
SN = b"S" * 16
TN = b"T" * 16


def _pair():
    """A terminal and a station session after CHALLENGE/HELLO, as both ends build them."""
    challenge = p.encode(p.CHALLENGE, 0, {"nonce": SN.hex()}, None, p.TO_TERMINAL)
    term = p.terminal_session(KEY, challenge, TN)
    station = p.Session(p.session_key(KEY, SN, TN), p.TO_TERMINAL)
    return term, station


def test_hmac_sha256_rfc4231_vectors():
    assert p.hmac_sha256(b"\x0b" * 20, b"Hi There").hex() == (
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    assert p.hmac_sha256(b"Jefe", b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    long_key = b"\xaa" * 131  # longer than a block: hashed first
    assert p.hmac_sha256(long_key, b"Test Using Larger Than Block-Size Key - Hash Key First"
                         ).hex() == ("60e431591ee0b67f0d8a26aacbf5b77f"
                                     "8e0bc6213728c5140546040f0ee37f54")


def test_constant_time_compare():
    assert p.same(b"abc", b"abc")
    assert not p.same(b"abc", b"abd") and not p.same(b"abc", b"ab")


def test_session_round_trip_both_ways():
    term, station = _pair()
    hello = term.encode(p.HELLO, {"terminal": "T1", "nonce": TN.hex()})
    assert p.peek(hello) == (p.HELLO, {"terminal": "T1", "nonce": TN.hex()})
    assert station.decode(hello, p.FROM_TERMINAL) == (p.HELLO, {"terminal": "T1",
                                                                "nonce": TN.hex()})
    sales = term.encode(p.SALES, {"records": [{"seq": 5, "amount": 3795}]})
    assert station.decode(sales)[1]["records"][0]["amount"] == 3795
    ack = station.encode(p.SALES_ACK, {"results": [[5, "stored", ""]], "ack": 5})
    assert term.decode(ack, p.FROM_STATION) == (p.SALES_ACK,
                                                {"results": [[5, "stored", ""]], "ack": 5})


def test_tampered_reflected_replayed_and_reordered_frames_refused():
    term, station = _pair()
    f1 = term.encode(p.HEARTBEAT, {"time": 1})
    f2 = term.encode(p.HEARTBEAT, {"time": 2})
    bad = bytearray(f1)
    bad[-20] ^= 1  # one bit of the payload
    assert raises(p.ProtocolError, station.decode, bytes(bad)).why == "bad tag"
    assert raises(p.ProtocolError, station.decode, f2).why.startswith("seq 2 after 0")
    station.decode(f1)
    assert "after 1" in raises(p.ProtocolError, station.decode, f1).why  # repeated
    # a station frame sent back to the station (reflection) fails its tag
    echo = station.encode(p.HEARTBEAT, {"time": 3})
    assert raises(p.ProtocolError, station.decode, echo).why == "bad tag"
    # the same frames in a new session (new nonces) fail: a recording replays nowhere
    challenge = p.encode(p.CHALLENGE, 0, {"nonce": ("N" * 16).encode().hex()}, None,
                         p.TO_TERMINAL)
    fresh = p.Session(p.session_key(KEY, b"N" * 16, TN), p.TO_TERMINAL)
    assert p.terminal_session(KEY, challenge, TN).key == fresh.key
    assert raises(p.ProtocolError, fresh.decode, f1).why == "bad tag"
    # the wrong terminal key
    other = p.Session(p.session_key(b"x" * 32, SN, TN), p.TO_TERMINAL)
    assert raises(p.ProtocolError, other.decode, f2).why == "bad tag"


def test_split_waits_for_whole_frames_and_refuses_impossible_lengths():
    term, _station = _pair()
    f = term.encode(p.STATUS, {"state": "Idle"})
    g = term.encode(p.TOTALS, {"volume_ml": 1})
    stream = f + g
    assert p.split(stream[:5]) == (None, stream[:5])
    assert p.split(stream) == (f, g)
    assert p.split(g) == (g, b"")
    assert "exceeds" in raises(p.ProtocolError, p.split, b"\xff\xff" + bytes(10)).why
    assert "shorter" in raises(p.ProtocolError, p.split, b"\x00\x03abc").why


def test_oversize_unknown_type_and_junk_payloads_refused():
    term, station = _pair()
    big = {"x": "a" * p.MAX_PAYLOAD}
    assert "exceeds" in raises(p.ProtocolError, term.encode, p.EVENTS, big).why
    odd = p.encode(99, 1, {}, station.key, p.TO_STATION)
    assert raises(p.ProtocolError, station.decode, odd).why == "unknown type 99"
    wrong_way = term.encode(p.PRICES, {"version": 1})  # only the station sends prices
    assert "not expected" in raises(p.ProtocolError, station.decode, wrong_way,
                                    p.FROM_TERMINAL).why
    assert "truncated" in raises(p.ProtocolError, p.decode, b"\x00\x01a").why
    assert "challenge" in raises(p.ProtocolError, p.terminal_session, KEY,
                                 p.encode(p.CHALLENGE, 0, {"n": 1}, None, p.TO_TERMINAL),
                                 TN).why


def test_errors_never_carry_key_material():
    term, station = _pair()
    f = bytearray(term.encode(p.HEARTBEAT, {"time": 1}))
    f[-1] ^= 0xFF
    e = raises(p.ProtocolError, station.decode, bytes(f))
    assert station.key.hex() not in str(e) and KEY.hex() not in str(e)
