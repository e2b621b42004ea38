"""Random card replies: the card layer raises its own CardError, nothing else."""
from hypothesis import given
from hypothesis import strategies as st

from fakes import ScriptedReader
from pumpside.card import apdu

replies = st.lists(st.one_of(st.binary(max_size=40),
                             st.tuples(st.binary(max_size=8), st.integers(0, 0xFFFF)).map(
                                 lambda t: t[0] + bytes((t[1] >> 8, t[1] & 0xFF))),
                             st.just(OSError("pulled"))), min_size=1, max_size=12)


@given(replies, st.sampled_from([None, 4, 30]))
def test_random_replies_raise_only_card_errors(items, length):
    try:
        data = apdu.call(ScriptedReader(*items), bytes([0, 0xB0, 0x95, 0, 0]), length=length)
    except apdu.CardError as e:
        assert e.kind in (apdu.REMOVED, apdu.MALFORMED, apdu.STATUS)
        return
    assert length is None or len(data) == length


@given(st.binary(min_size=4, max_size=4), st.binary(max_size=255),
       st.one_of(st.none(), st.integers(0, 256)))
def test_command_layout(header, data, le):
    cmd = apdu.command(header[0], header[1], header[2], header[3], data, le)
    assert cmd[:4] == header
    rest = cmd[4:]
    if data:
        assert rest[0] == len(data) and rest[1:1 + len(data)] == data
        rest = rest[1 + len(data):]
    assert rest == (b"" if le is None else bytes((le & 0xFF,)))
