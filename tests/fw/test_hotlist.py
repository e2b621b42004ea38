import struct

from _t import raises, rmtree, tmpdir
from pumpside.hotlist import COMPACT_AT, Hotlist, HotlistError


def card(n):
    return struct.pack(">Q", n)


class Dir:
    def __enter__(self):
        self.path = tmpdir()
        return self.path + "/hl"

    def __exit__(self, *exc):
        rmtree(self.path)


def _even(n):
    return (card(2 * i) for i in range(n))


def test_empty_list_lists_nobody():
    with Dir() as root:
        hl = Hotlist(root).open()
        assert hl.version == 0 and not hl.listed(card(5))
        hl.close()


def test_full_list_binary_search_reads_log2_entries():
    with Dir() as root:
        hl = Hotlist(root).open()
        hl.full(7, _even(1000))
        assert hl.version == 7 and hl.count == 1000
        assert hl.listed(card(0)) and hl.listed(card(998)) and hl.listed(card(1998))
        assert not hl.listed(card(1)) and not hl.listed(card(2000))
        assert hl.last_reads <= 11
        hl.close()


def test_full_list_must_be_sorted_and_well_formed():
    with Dir() as root:
        hl = Hotlist(root).open()
        e = raises(HotlistError, hl.full, 2, [card(5), card(3)])
        assert "ascending" in str(e)
        raises(HotlistError, hl.full, 2, [b"short"])
        raises(HotlistError, hl.listed, b"123")
        assert hl.version == 0  # the failed load left the old list in place
        hl.close()


def test_delta_adds_and_removes_atomically_and_survives_reopen():
    with Dir() as root:
        hl = Hotlist(root).open()
        hl.full(1, _even(100))
        hl.apply(1, 2, add=[card(3), card(501)], remove=[card(10), card(11)])
        assert hl.version == 2 and hl.listed(card(3)) and not hl.listed(card(10))
        assert (hl.adds, hl.removes) == (2, 1)  # card 11 was never listed
        hl.apply(2, 3, add=[card(10)], remove=[card(3)])
        assert hl.listed(card(10)) and not hl.listed(card(3)) and hl.listed(card(501))
        hl.close()
        hl = Hotlist(root).open()
        assert hl.version == 3 and hl.listed(card(501)) and hl.listed(card(10))
        hl.close()


def test_delta_from_another_version_is_refused_untouched():
    with Dir() as root:
        hl = Hotlist(root).open()
        hl.full(5, _even(10))
        e = raises(HotlistError, hl.apply, 4, 6, [card(1)])
        assert "full list is needed" in str(e)
        raises(HotlistError, hl.apply, 5, 5, [card(1)])
        assert hl.version == 5 and not hl.listed(card(1))
        hl.close()


def test_big_delta_compacts_into_a_new_base():
    with Dir() as root:
        hl = Hotlist(root).open()
        hl.full(1, _even(200))
        adds = [card(2 * i + 1) for i in range(COMPACT_AT)]
        hl.apply(1, 2, add=adds, remove=[card(0), card(398)])
        assert hl.version == 2 and hl.adds == 0 and hl.removes == 0  # merged
        assert hl.count == 200 + COMPACT_AT - 2
        assert hl.listed(card(1)) and hl.listed(card(2)) and not hl.listed(card(0))
        assert not hl.listed(card(398)) and hl.listed(card(396))
        hl.close()
        hl = Hotlist(root).open()  # the stale delta is ignored after the merge
        assert hl.version == 2 and not hl.listed(card(0)) and hl.listed(card(1))
        hl.close()


def test_cut_before_the_rename_leaves_the_old_list():
    with Dir() as root:
        hl = Hotlist(root).open()
        hl.full(1, _even(10))
        hl.close()
        with open(root + "/delta.new", "wb") as f:  # an update a power cut interrupted
            f.write(b"HD\\x01garbage")
        hl = Hotlist(root).open()
        assert hl.version == 1 and hl.listed(card(4)) and not hl.listed(card(5))
        hl.apply(1, 2, add=[card(5)])
        assert hl.listed(card(5))
        hl.close()
