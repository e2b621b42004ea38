"""The open escapes' table (escapes.py): a card that never comes back holds no journal
segment; it is settled once when it does, after power cuts, a full table or a damaged
table file too."""
from _t import TempDir, raises
from fakes import T0, sale_bill
from pumpside import record as rec
from pumpside import settlement, storage
from pumpside.escapes import SIZE
from pumpside.journal import EV_ESCAPE_DROPPED, Journal, JournalError

ASN = b"\x62\x00\x00\x00\x00\x00\x00\x17\x00\x00"
TID = bytes.fromhex("000000000101")  # this terminal's PSAM
DEBIT = {"tac": b"\x01\x02\x03\x04", "gmac": b"\x05\x06\x07\x08"}
SALES = 5000  # after the abandoned escape, each acknowledged by the station as it goes


class Cut(Exception):
    """The power goes: nothing after it runs."""


class _Flash:
    """The escape table's writes fail from now on (`Cut`: a power cut; OSError: the flash
    refuses) until `restore`; every other file is written as usual."""

    def __init__(self, fault):
        self.fault = fault
        self.real = storage.write_atomic
        storage.write_atomic = self.write

    def write(self, path, data):
        if path.endswith("/escapes"):
            raise self.fault
        return self.real(path, data)

    def restore(self):
        storage.write_atomic = self.real


def _sale(journal, t=T0):
    journal.begin(sale_bill(time=t))
    return journal.finish(t, 100, 1000, 759, 1)


def _escape(journal, ttc=5, amount=3036, t=T0):
    """A card sale (lock TTC `ttc`, CTC `ttc`) whose card went before its debit."""
    journal.begin(sale_bill(time=t, asn=ASN, psam_ttc=ttc, ctc=ttc, balance=50000))
    return journal.finish(t, amount // 76, amount * 10000 // 7590, amount, 2, 0, 0, None,
                          rec.ESCAPE)


def _records(journal, rtype):
    return [rec.unpack_bill(p) for _s, t, p in journal.read() if t == rtype]


def _reboot(root, segment=32):
    journal = Journal(root, segment=segment)
    journal.open()
    return journal


def _sales_acked(journal, n, t=T0):
    for i in range(n):
        _sale(journal, t + i)
        journal.ack(journal.next_seq - 1, t + i)


def _grey(ttc):
    return {"grey": True, "terminal_id": TID, "ttc": ttc, "ctc": ttc}


def _settle(journal, ttc, t):
    """The card of the escape with lock `ttc` comes back grey here: 补扣."""
    own = settlement.own_escape(journal, ASN, _grey(ttc), TID)
    return settlement.settle_here(journal, own, t, own["amount"], 0, DEBIT)


def _file(path):
    with open(path, "rb") as f:
        return f.read()


def test_an_abandoned_escape_holds_no_segment_and_is_settled_once_when_its_card_returns():
    with TempDir("j") as root:
        journal = _reboot(root)
        escape = _escape(journal)
        _sales_acked(journal, SALES)
        # the log was pruned as the station acknowledged it (before the table: 157 kept)
        assert journal.next_seq == SALES + 2 and len(journal._segments()) == 1
        journal = _reboot(root)
        assert journal.unsynced == 0 and _records(journal, rec.ESCAPE) == []
        ((seq, kept),) = journal.escapes.entries()  # the table holds it
        assert seq == 1 and kept == escape
        assert journal.refusal(_Cfg(), T0, 100) is None
        bill = _settle(journal, 5, T0 + SALES)  # the card is back, grey: 补扣 once
        assert bill["sale"] == 1 and bill["amount"] == 3036 and bill["tac"] == DEBIT["tac"]
        assert len(journal.escapes) == 0
        # a second return: not grey now, its log shows this PSAM's debit of the lock
        assert settlement.own_escape(journal, ASN, _grey(5), TID) is None
        raises(JournalError, settlement.settle_here, journal, kept, T0, 3036, 0, DEBIT)
        card_log = [{"type": 0x93, "ctc": 5, "terminal_id": TID, "amount": 3036}]
        settlement.void(journal, ASN, card_log, TID, T0 + SALES + 1)
        journal = _reboot(root)
        assert [(b["sale"], b["amount"]) for b in _records(journal, rec.UNLOCK)] == [(1, 3036)]
        assert len(journal.escapes) == 0 and journal.unsynced == 1


class _Cfg:
    max_unsynced_sales = 10 ** 6
    max_unsynced_amount = 10 ** 9
    max_unsynced_age_s = 10 ** 6
    storage_reserve_blocks = 8


def test_a_cut_between_the_escape_and_its_table_entry_is_filed_at_boot():
    with TempDir("j") as root:
        journal = _reboot(root, 4)
        flash = _Flash(Cut())
        try:
            raises(Cut, _escape, journal)  # the ESCAPE record is written, the power goes
        finally:
            flash.restore()
        raises(OSError, _file, root + "/escapes")  # never written
        journal = _reboot(root, 4)  # the boot files it again from the log
        assert settlement.find(journal, ASN, 5)["amount"] == 3036
        _sales_acked(journal, 12)
        journal = _reboot(root, 4)
        assert _records(journal, rec.ESCAPE) == [] and len(journal._segments()) == 1
        assert _settle(journal, 5, T0)["amount"] == 3036 and len(journal.escapes) == 0


def test_no_segment_is_pruned_while_the_flash_refuses_the_table():
    with TempDir("j") as root:
        journal = _reboot(root, 4)
        flash = _Flash(OSError(28))
        try:
            _escape(journal)  # logged; the table's write fails: it waits in the journal
            _sales_acked(journal, 12)
            assert len(journal._segments()) == 4  # the ESCAPE's segment and all after it
            assert settlement.find(journal, ASN, 5) is not None
        finally:
            flash.restore()
        journal.ack(journal.next_seq - 1, T0)  # nothing new: the table is written, then pruned
        _sales_acked(journal, 1)
        assert len(journal._segments()) == 1 and len(_reboot(root, 4).escapes) == 1


def test_a_cut_between_the_unlock_and_the_table_settles_once():
    with TempDir("j") as root:
        journal = _reboot(root, 4)
        escape = _escape(journal)
        _sales_acked(journal, 12)  # its record pruned: only the table holds it
        flash = _Flash(Cut())
        try:
            raises(Cut, _settle, journal, 5, T0 + 60)  # UNLOCK written, the power goes
        finally:
            flash.restore()
        assert len(_file(root + "/escapes")) > 0  # the table still names it
        journal = _reboot(root, 4)  # the scan finds the UNLOCK: the entry goes
        assert len(journal.escapes) == 0 and settlement.own_escape(
            journal, ASN, _grey(5), TID) is None
        raises(JournalError, settlement.settle_here, journal, escape, T0, 3036, 0, DEBIT)
        assert [b["amount"] for b in _records(journal, rec.UNLOCK)] == [3036]
        _sales_acked(journal, 8)  # the UNLOCK pruned too: the table was written first
        journal = _reboot(root, 4)
        assert _records(journal, rec.UNLOCK) == [] and len(journal.escapes) == 0
        assert _file(root + "/escapes") == b""


def test_a_full_table_drops_the_oldest_escape_the_station_holds_and_never_one_it_does_not():
    with TempDir("j") as root:
        journal = _reboot(root)
        cfg = _Cfg()
        for ttc in range(1, SIZE + 1):
            _escape(journal, ttc, 100 + ttc)
        assert len(journal.escapes) == SIZE
        assert journal.refusal(cfg, T0, 100) == "escapes_full"  # none the station holds
        journal.ack(2, T0)  # the station holds the first two
        assert journal.refusal(cfg, T0, 100) is None
        _escape(journal, SIZE + 1)
        # the oldest one the station holds went, an EVENT saying so first
        assert len(journal.escapes) == SIZE and settlement.find(journal, ttc=1) is None
        assert settlement.find(journal, ttc=2) is not None
        (event,) = [rec.unpack_event(p) for _s, t, p in journal.read() if t == rec.EVENT]
        assert (event["code"], event["a"], event["b"]) == (EV_ESCAPE_DROPPED, 1, 101)
        journal = _reboot(root)  # its ESCAPE is still in the log: the EVENT keeps it out
        assert len(journal.escapes) == SIZE and settlement.find(journal, ttc=1) is None
        # full of escapes the station does not hold: one more (a sale the boot settles as
        # an escape) is kept all the same, nothing dropped; sales wait for the station
        journal.ack(journal.next_seq - 1, T0)
        _escape(journal, SIZE + 2)  # drops the second
        for ttc in range(SIZE + 3, 2 * SIZE + 3):
            _escape(journal, ttc)
        assert len(journal.escapes) == SIZE + 1 and journal.refusal(cfg, T0, 100) == \
            "escapes_full"
        dropped = [rec.unpack_event(p)["a"] for _s, t, p in journal.read() if t == rec.EVENT]
        assert dropped == list(range(1, SIZE + 2))  # only ever one the station held
        journal.ack(journal.next_seq - 1, T0)
        assert journal.refusal(cfg, T0, 100) is None
        _escape(journal, 2 * SIZE + 3)  # back to SIZE: the two oldest go
        assert len(journal.escapes) == SIZE
        assert settlement.find(journal, ttc=SIZE + 3) is None
        assert settlement.find(journal, ttc=SIZE + 4) is not None


def _flip(path, offset):
    data = bytearray(_file(path))
    data[offset] ^= 0xFF
    with open(path, "wb") as f:
        f.write(data)


def test_a_damaged_table_says_so_is_kept_for_service_and_filed_again_from_the_log():
    with TempDir("j") as root:
        path = root + "/escapes"
        journal = _reboot(root, 4)
        _escape(journal, 5)  # sale 1
        _sales_acked(journal, 8)  # its record pruned: only the table holds it
        _escape(journal, 6)  # sale 10, its record still in the log
        entry = len(_file(path)) // 2
        _flip(path, 2 * entry - 20)  # bit rot in the second entry
        damaged = _file(path)
        journal = Journal(root, segment=4)
        assert journal.open() == [(journal.next_seq - 1, "escapes: bad CRC")]
        # filed again from its ESCAPE record: nothing lost
        assert [e["psam_ttc"] for _s, e in journal.escapes.entries()] == [5, 6]
        _sale(journal)  # the next write replaces the table; the damaged one kept for service
        assert _file(path + ".bad") == damaged
        journal = _reboot(root, 4)
        assert journal.corrupt == [] and len(journal.escapes) == 2
        # bit rot in the first, whose record is gone: said, and the card, grey here with
        # no escape left in the table, is asked of the station that holds it
        _flip(path, 30)
        journal = Journal(root, segment=4)
        assert journal.open() == [(1, "escapes: bad CRC")]
        assert [e["sale"] for _s, e in journal.escapes.entries()] == [10]
        own = settlement.own_escape(journal, ASN, _grey(5), TID)
        assert own is None and settlement.query_for(ASN[:8], _grey(5), own)["ttc"] == 5
        # a file cut short, and one of another kind of record
        with open(path, "wb") as f:
            f.write(damaged[:entry] + damaged[:7])
        journal = Journal(root, segment=4)
        assert journal.open() == [(None, "escapes: bad length %d" % (entry + 7))]
        assert [e["sale"] for _s, e in journal.escapes.entries()] == [1, 10]
        with open(path, "wb") as f:
            f.write(rec.encode(rec.UNLOCK, 3, rec.pack_bill(sale_bill())))
        assert Journal(root, segment=4).open() == [(3, "escapes: holds a UNLOCK")]


def test_a_newer_firmwares_table_is_refused_and_left_untouched():
    with TempDir("j") as root:
        _escape(_reboot(root), 5)
        newer = rec.encode(rec.ESCAPE, 1, rec.pack_bill(sale_bill(asn=ASN)),
                           version=rec.VERSION + 1)
        with open(root + "/escapes", "wb") as f:
            f.write(newer)
        e = raises(rec.VersionError, Journal(root).open)
        assert "newer than this firmware" in str(e) and _file(root + "/escapes") == newer


def test_an_older_firmwares_table_and_log_are_read_and_settled_once():
    """A pump updated with an escape open: its table and its log of version 1 records
    (before the bill's `odo`) are read as this version's; the table is written anew."""
    with TempDir("j") as root:
        journal = _reboot(root)
        bill = _escape(journal, 5)
        v1 = rec.encode(rec.ESCAPE, 2, rec.pack_bill(bill)[:-4], version=1)
        with open(root + "/escapes", "wb") as f:
            f.write(v1)
        journal = Journal(root)
        assert journal.open() == []
        assert [(s, e) for s, e in journal.escapes.entries()] == [(2, bill)]
        _sale(journal)  # the next write: this version's entry
        assert _file(root + "/escapes") == rec.encode(rec.ESCAPE, 2, rec.pack_bill(bill))
        own = settlement.own_escape(journal, ASN, _grey(5), TID)
        assert own is not None and own["amount"] == 3036
