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
    assert "CHALLENGE: nonce" in raises(p.ProtocolError, p.terminal_session, KEY,
                                 p.encode(p.CHALLENGE, 0, {"n": 1}, None, p.TO_TERMINAL),
                                 TN).why


def test_errors_never_carry_key_material():
    term, station = _pair()
    f = bytearray(term.encode(p.HEARTBEAT, {"time": 1}))
    f[-1] ^= 0xFF
    e = raises(p.ProtocolError, station.decode, bytes(f))
    assert station.key.hex() not in str(e) and KEY.hex() not in str(e)


ASN = "1000010000000001"


def _why(mtype, payload):
    return raises(p.ProtocolError, p.check, mtype, payload).why


def test_every_type_has_a_field_table():
    lines = [line.split()[0] for line in p.SHAPES.split("\n") if line[:1] not in ("", " ")]
    assert sorted(lines) == sorted(list(p.TYPE_NAMES.values()) + ["record"])


def test_check_takes_well_formed_payloads():
    p.check(p.SALES, {"records": [{"seq": 5, "amount": 3795, "asn": ASN}]})
    p.check(p.SALES_ACK, {"results": [[5, "stored", ""]], "ack": 5})
    p.check(p.HOTLIST, {"from": 1, "to": 2, "add": [ASN], "remove": []})
    p.check(p.HOTLIST, {"full": 3, "part": 0, "more": True, "add": [ASN]})
    p.check(p.REPLY, {"type": "COMMAND", "id": 4, "ok": False, "why": "busy"})
    p.check(p.STATUS, {"state": "Idle", "alarm": None, "alarms": 0})  # null: absent
    p.check(p.PRICES, {"version": 2, "grades": {"92": 7590}, "at": 0})
    p.check(p.TOTALS, {"nozzle": 1, "volume_ml": 2**40, "amount": 0, "seq": 9})


def test_check_names_the_malformed_field_never_its_value():
    assert _why(p.SALES, {"records": [{"seq": 1}, {"seq": 2, "amount": "secret"}]}) \
        == "malformed SALES: records[1].amount"
    assert _why(p.SALES, {"records": [{"seq": 0}]}) == "malformed SALES: records[0].seq"
    assert _why(p.SALES, {"records": [{"seq": 1, "ml": 1.5}]}).endswith("records[0].ml")
    assert _why(p.REPLY, {"type": "COMMAND", "ok": True}) == "malformed REPLY: id"
    assert _why(p.REPLY, {"type": "LOAD", "ok": True}) == "malformed REPLY: type"
    assert _why(p.STATUS, {"nozzle": 1}) == "malformed STATUS: state"
    assert _why(p.SALES_ACK, {"results": [[1, "stored"]]}) == "malformed SALES_ACK: results[0]"
    assert _why(p.SALES_ACK, {"ack": 1}) == "malformed SALES_ACK: results"
    assert _why(p.EVENTS, {"events": []}) == "malformed EVENTS: events"
    assert _why(p.COMMAND, {"id": p.MAX_ID + 1, "cmd": "stop"}) == "malformed COMMAND: id"
    assert _why(p.CHALLENGE, {"nonce": "00" * 15}) == "malformed CHALLENGE: nonce"
    assert "secret" not in _why(p.ERROR, {"why": ["secret"]})


def test_check_hotlist_variants_and_card_numbers():
    assert _why(p.HOTLIST, {"from": 1}) == "malformed HOTLIST: to"
    assert _why(p.HOTLIST, {"full": 1, "part": 0, "more": 1}) == "malformed HOTLIST: more"
    assert _why(p.HOTLIST, {"full": 1, "part": 0, "more": False, "remove": [ASN]}) \
        == "malformed HOTLIST: remove"
    assert _why(p.HOTLIST, {"from": 1, "to": 2, "add": [ASN[:15]]}) == "malformed HOTLIST: add"
    assert _why(p.HOTLIST, {"from": 1, "to": 2, "add": ["x" * 16]}) == "malformed HOTLIST: add"
    too_many = [ASN] * (p.MAX_ASNS + 1)
    assert _why(p.HOTLIST, {"from": 1, "to": 2, "remove": too_many}) \
        == "malformed HOTLIST: remove"


def test_check_drops_tolerated_fields_and_bounds_every_integer():
    welcome = {"time": 1, "heartbeat_ms": 10, "events_n": "x", "prices_version": None}
    p.check(p.WELCOME, welcome)
    assert welcome == {"time": 1}  # the link's defaults apply
    beat = {"time": 2, "totals": "yes", "settled": []}
    p.check(p.HEARTBEAT, beat)
    assert beat == {"time": 2, "settled": []}
    assert _why(p.HEARTBEAT, {"time": -1}) == "malformed HEARTBEAT: time"
    # fields no table names are let through, within the wire's bounds
    assert _why(p.HEARTBEAT, {"extra": [p.MAX_INT + 1]}) == "malformed HEARTBEAT: extra"
    assert _why(p.HEARTBEAT, {"extra": {"a": 0.5}}) == "malformed HEARTBEAT: extra"
    p.check(p.HEARTBEAT, {"extra": [-p.MAX_INT, True, None, "s"]})
    deep = [[[[[1]]]]]  # the 1 at depth MAX_DEPTH
    p.check(p.HEARTBEAT, {"extra": deep})
    assert _why(p.HEARTBEAT, {"extra": [deep]}) == "malformed HEARTBEAT: extra"
