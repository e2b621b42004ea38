import struct

from _t import TempDir, raises
from pumpside.hotlist import COMPACT_AT, Hotlist, HotlistError


def card(n):
    return struct.pack(">Q", n)


def _even(n):
    return (card(2 * i) for i in range(n))


def _loaded(root, version, count):
    """A hotlist opened at `root` and given a full list `version` of `count` even cards."""
    hotlist = Hotlist(root).open()
    hotlist.full(version, _even(count))
    return hotlist


def test_empty_list_lists_nobody():
    with TempDir("hl") as root:
        hotlist = Hotlist(root).open()
        assert hotlist.version == 0 and not hotlist.listed(card(5))
        hotlist.close()


def test_full_list_binary_search_reads_log2_entries():
    with TempDir("hl") as root:
        hotlist = _loaded(root, 7, 1000)
        assert hotlist.version == 7 and hotlist.count == 1000
        assert hotlist.listed(card(0)) and hotlist.listed(card(998)) and hotlist.listed(card(1998))
        assert not hotlist.listed(card(1)) and not hotlist.listed(card(2000))
        assert hotlist.last_reads <= 11
        hotlist.close()


def test_full_list_must_be_sorted_and_well_formed():
    with TempDir("hl") as root:
        hotlist = Hotlist(root).open()
        e = raises(HotlistError, hotlist.full, 2, [card(5), card(3)])
        assert "ascending" in str(e)
        raises(HotlistError, hotlist.full, 2, [b"short"])
        raises(HotlistError, hotlist.listed, b"123")
        assert hotlist.version == 0  # the failed load left the old list in place
        hotlist.close()


def test_delta_adds_and_removes_atomically_and_survives_reopen():
    with TempDir("hl") as root:
        hotlist = _loaded(root, 1, 100)
        hotlist.apply(1, 2, add=[card(3), card(501)], remove=[card(10), card(11)])
        assert hotlist.version == 2 and hotlist.listed(card(3)) and not hotlist.listed(card(10))
        assert (hotlist.adds, hotlist.removes) == (2, 1)  # card 11 was never listed
        hotlist.apply(2, 3, add=[card(10)], remove=[card(3)])
        assert hotlist.listed(card(10)) and not hotlist.listed(card(3))
        assert hotlist.listed(card(501))
        hotlist.close()
        hotlist = Hotlist(root).open()
        assert hotlist.version == 3 and hotlist.listed(card(501)) and hotlist.listed(card(10))
        hotlist.close()


def test_delta_from_another_version_is_refused_untouched():
    with TempDir("hl") as root:
        hotlist = _loaded(root, 5, 10)
        e = raises(HotlistError, hotlist.apply, 4, 6, [card(1)])
        assert "full list is needed" in str(e)
        raises(HotlistError, hotlist.apply, 5, 5, [card(1)])
        assert hotlist.version == 5 and not hotlist.listed(card(1))
        hotlist.close()


def test_big_delta_compacts_into_a_new_base():
    with TempDir("hl") as root:
        hotlist = _loaded(root, 1, 200)
        adds = [card(2 * i + 1) for i in range(COMPACT_AT)]
        hotlist.apply(1, 2, add=adds, remove=[card(0), card(398)])
        assert hotlist.version == 2 and hotlist.adds == 0 and hotlist.removes == 0  # merged
        assert hotlist.count == 200 + COMPACT_AT - 2
        assert hotlist.listed(card(1)) and hotlist.listed(card(2)) and not hotlist.listed(card(0))
        assert not hotlist.listed(card(398)) and hotlist.listed(card(396))
        hotlist.close()
        hotlist = Hotlist(root).open()  # the stale delta is ignored after the merge
        assert hotlist.version == 2 and not hotlist.listed(card(0)) and hotlist.listed(card(1))
        hotlist.close()


def test_cut_before_the_rename_leaves_the_old_list():
    with TempDir("hl") as root:
        hotlist = _loaded(root, 1, 10)
        hotlist.close()
        with open(root + "/delta.new", "wb") as f:  # an update a power cut interrupted
            f.write(b"HD\\x01garbage")
        hotlist = Hotlist(root).open()
        assert hotlist.version == 1 and hotlist.listed(card(4)) and not hotlist.listed(card(5))
        hotlist.apply(1, 2, add=[card(5)])
        assert hotlist.listed(card(5))
        hotlist.close()
