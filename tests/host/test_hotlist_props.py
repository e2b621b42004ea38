"""The hotlist against a plain set: random full lists and deltas, compaction included."""
import struct
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from pumpside import hotlist

numbers = st.integers(min_value=0, max_value=60)


def card(n):
    return struct.pack(">Q", n)


@settings(max_examples=60, deadline=None)
@given(st.sets(numbers, max_size=30),
       st.lists(st.tuples(st.sets(numbers, max_size=8), st.sets(numbers, max_size=8)),
                max_size=6))
def test_hotlist_matches_a_set(base, deltas):
    old = hotlist.COMPACT_AT
    hotlist.COMPACT_AT = 10  # compact often
    try:
        with tempfile.TemporaryDirectory() as root:
            on_flash = hotlist.Hotlist(root + "/hl").open()
            on_flash.full(1, [card(n) for n in sorted(base)])
            model = set(base)
            version = 1
            for add, remove in deltas:
                on_flash.apply(version, version + 1, [card(n) for n in sorted(add)],
                               [card(n) for n in sorted(remove)])
                version += 1
                model = (model | add) - remove  # within a delta, removes follow adds
                for n in range(62):
                    assert on_flash.listed(card(n)) == (n in model), (n, model)
            on_flash.close()
            again = hotlist.Hotlist(root + "/hl").open()
            assert again.version == version
            assert {n for n in range(62) if again.listed(card(n))} == model
            again.close()
    finally:
        hotlist.COMPACT_AT = old
