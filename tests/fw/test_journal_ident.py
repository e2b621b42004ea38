"""A journal's identity: made when the journal is formatted, kept while it lives, a new
one for a new journal (a flash formatted, a board replaced), so the station can tell the
new journal's sale 1 from the old one's."""
import os

from _t import TempDir, rmtree
from pumpside import record as rec
from pumpside.journal import Journal

T0 = 1_700_000_000


def _sale(journal, ml):
    bill = rec.new_bill()
    bill.update({"time": T0, "nozzle": 1, "grade": "92", "price": 7590, "mode": "V",
                 "preset_ml": 20000})
    journal.begin(bill)
    return journal.finish(T0, ml // 10, ml, ml * 7590 // 10000, 1)


def _opened(root):
    journal = Journal(root)
    journal.open()
    return journal


def test_a_journal_keeps_its_identity_and_a_formatted_one_gets_another():
    with TempDir("j") as root:
        journal = _opened(root)
        assert journal.ident is None  # open() writes nothing
        assert journal.identify() is True
        ident = journal.ident
        assert len(ident) == 16 and int(ident, 16) >= 0
        with open(root + "/id", "rb") as f:
            assert f.read().hex() == ident  # 8 bytes on the flash
        _sale(journal, 1000)
        again = _opened(root)
        assert again.identify() is False and again.ident == ident
        assert [s for s, _t, _p in again.read()] == [1]  # the id file is no record
        assert again.corrupt == []
        rmtree(root)  # the flash formatted: a new journal, numbered from 1 again
        fresh = _opened(root)
        assert fresh.identify() is True and fresh.ident != ident
        assert _sale(fresh, 2000)["sale"] == 1


def test_an_older_firmwares_journal_gets_an_identity_and_keeps_its_records():
    with TempDir("j") as root:
        journal = _opened(root)
        _sale(journal, 1000)
        _sale(journal, 1500)
        journal.ack(2, T0)
        older = _opened(root)  # as an older firmware left it: no id file
        assert "id" not in os.listdir(root)
        assert older.identify() is True and len(older.ident) == 16
        assert older.ack_seq == 2 and older.sale_no == 2
        assert _sale(older, 500)["sale"] == 3  # its numbers go on
        assert _opened(root).identify() is False


def test_a_damaged_identity_is_replaced_not_fatal():
    with TempDir("j") as root:
        journal = _opened(root)
        journal.identify()
        with open(root + "/id", "wb") as f:
            f.write(b"abc")  # a cut in its creation (or worse): not 8 bytes
        again = _opened(root)
        assert again.identify() is True and again.ident != journal.ident
