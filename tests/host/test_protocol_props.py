"""Hypothesis on the wire codec: HMAC agrees with Python's hmac; random bytes, cut or
flipped frames only ever raise ProtocolError, on either end's decoder. And on the field
table (protocol.SHAPES): payloads of every type drawn from it pass protocol.check, and one
malformed field is refused by its name."""
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


# -- payloads from protocol.SHAPES: every message type -------------------------------------
def shape_tokens(name):
    """The field tokens of line `name` in protocol.SHAPES (its continuation lines too)."""
    lines = p.SHAPES.split("\n")
    for i, line in enumerate(lines):
        if line.split(" ", 1)[0] == name:
            text = line[len(name):]
            for more in lines[i + 1:]:
                if not more.startswith(" "):
                    break
                text += " " + more
            return text.split()
    raise KeyError(name)


def groups(name):
    """[(condition or None, [(mode, field, kind)])] of a shape, in order."""
    out = [(None, [])]
    for token in shape_tokens(name):
        if token.startswith("&"):
            out.append((token[1:], []))
            continue
        mode = token[0] if token[0] in "?~" else ""
        field, _, kind = token[len(mode):].partition(":")
        out[-1][1].append((mode, field, kind))
    return out


def _range(text, lo, hi):
    low, dash, high = text.partition("-")
    if not text:
        return lo, hi
    if not dash:
        return int(low), int(low)
    return (int(low) if low else lo), (int(high) if high else hi)


scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=6)


def value_of(kind):
    """A strategy for valid values of one field type of the table."""
    if "|" in kind:
        return st.sampled_from(kind.split("|"))
    if kind.startswith("@"):
        return payload_of(kind[1:])
    kind, _, item = kind.partition("/")
    code, bounds = kind[0], kind[1:]
    if code == "u":
        lo, hi = _range(bounds, 0, p.MAX_INT)
        return st.integers(lo, hi)
    if code == "v":
        return st.integers(0, p.MAX_ID)
    if code == "s":
        return st.text(max_size=8)
    if code == "b":
        return st.booleans()
    if code == "d":
        return st.dictionaries(st.text(max_size=4), st.integers(0, 9999) | st.text(max_size=4),
                               max_size=3)
    if code == "x":
        n = int(bounds) if bounds else None
        return st.binary(min_size=n or 0, max_size=n or 8).map(bytes.hex)
    if code == "a":
        return st.lists(st.text("0123456789", min_size=16, max_size=16), max_size=4)
    assert code == "l", kind
    lo, hi = _range(bounds, 0, 4)
    return st.lists(value_of(item) if item else scalars, min_size=lo,
                    max_size=min(hi, max(lo, 4)))


@st.composite
def payload_of(draw, name):
    """A payload of shape `name` that the table says is well formed."""
    payload = {}
    present = {}  # a field a condition asks about: there or not, drawn once
    for cond, fields in groups(name):
        if cond is not None:
            field, _, want = cond.lstrip("!").partition("=")
            if want:
                holds = payload.get(field) == want
            else:
                if field not in present:
                    present[field] = draw(st.booleans())
                holds = present[field] != cond.startswith("!")
            if not holds:
                continue
        for mode, field, kind in fields:
            if mode and draw(st.integers(0, 3)) == 0:
                payload.pop(field, None)  # optional: left out
            elif mode and draw(st.integers(0, 7)) == 0:
                payload[field] = None  # optional: null, the same
            else:
                payload[field] = draw(value_of(kind))
    return payload


def wrong_value(kind):
    """A value no field of this type takes."""
    if "|" in kind:
        return "NOT-" + kind.split("|")[0]
    return {"u": "1", "v": -1, "s": 5, "b": 1, "d": [], "x": "zz", "a": ["123"],
            "l": {}, "@": 7}[kind[0]]


def fields_in_force(name, payload):
    """(mode, field, kind) of the table's fields that apply to `payload`."""
    out = []
    for cond, fields in groups(name):
        if cond is not None:
            field, _, want = cond.lstrip("!").partition("=")
            holds = payload.get(field) == want if want else (field in payload) != \
                cond.startswith("!")
            if not holds:
                continue
        out += fields
    return out


ALL_SHAPES = sorted(p.TYPE_NAMES)


@given(st.data(), st.sampled_from(ALL_SHAPES))
def test_check_takes_every_payload_the_table_describes(data, mtype):
    payload = data.draw(payload_of(p.TYPE_NAMES[mtype]))
    p.check(mtype, dict(payload))


@given(st.data(), st.sampled_from(ALL_SHAPES))
def test_check_refuses_a_malformed_field_by_name(data, mtype):
    name = p.TYPE_NAMES[mtype]
    payload = data.draw(payload_of(name))
    mode, field, kind = data.draw(st.sampled_from(fields_in_force(name, payload)))
    payload[field] = wrong_value(kind)
    if mode == "~":
        p.check(mtype, payload)
        assert field not in payload  # dropped: the receiver's default applies
        return
    try:
        p.check(mtype, payload)
    except p.ProtocolError as e:
        assert e.why == "malformed %s: %s" % (name, field), e.why  # never the value
    else:
        raise AssertionError("%s with a malformed %s accepted" % (name, field))


@given(st.data())
def test_check_names_a_malformed_field_inside_a_record(data):
    payload = data.draw(payload_of("SALES").filter(lambda pl: pl["records"]))
    fields = [f for f in groups("record")[0][1]]
    _mode, field, kind = data.draw(st.sampled_from(fields))
    i = data.draw(st.integers(0, len(payload["records"]) - 1))
    payload["records"][i][field] = wrong_value(kind)
    try:
        p.check(p.SALES, payload)
        raise AssertionError("accepted")
    except p.ProtocolError as e:
        assert e.why.startswith("malformed SALES: records[")  # the first malformed one
        if i == 0:
            assert e.why == "malformed SALES: records[0].%s" % field, e.why


def test_the_table_has_a_line_for_every_type_and_no_other():
    names = [line.split(" ", 1)[0] for line in p.SHAPES.split("\n")
             if line and not line.startswith(" ")]
    assert sorted(names) == sorted(list(p.TYPE_NAMES.values()) + ["record"])
    for name in names:
        for _cond, fields in groups(name):
            for _mode, _field, kind in fields:
                value_of(kind)  # every type in it is one this test knows
