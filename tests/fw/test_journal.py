import os

from _t import TempDir, raises
from fakes import T0, open_journal, sale_bill
from pumpside import record as rec
from pumpside import settlement
from pumpside.journal import EV_LOCK, EV_UNAUTHORIZED, Journal, JournalError, split_segment


def _sale(journal, ml, t=T0):
    journal.begin(sale_bill(time=t))
    journal.checkpoint(t, ml // 10, ml)
    return journal.finish(t, ml // 10, ml, ml * 7590 // 10000, 1)


def _files(root):
    out = []
    for name in sorted(os.listdir(root)):
        if name in ("c0", "c1"):  # a checkpoint directory
            out.append((name, _files(root + "/" + name)))
            continue
        with open(root + "/" + name, "rb") as f:
            out.append((name, f.read()))
    return out


def _flip(path, offset):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[offset] ^= 0xFF
    with open(path, "wb") as f:
        f.write(data)


def test_record_round_trip_and_sizes():
    bill = sale_bill(sale=7, pulses=2000, ml=20000, amount=15180, asn=b"1234567890")
    data = rec.encode(rec.FINAL, 42, rec.pack_bill(bill))
    assert len(data) <= rec.MAX_RECORD <= 128  # fits a littlefs inline file
    rtype, seq, payload = rec.decode(data)
    assert (rtype, seq) == (rec.FINAL, 42)
    assert rec.unpack_bill(payload) == bill


def test_corrupt_records_say_what_and_which():
    data = bytearray(rec.encode(rec.FINAL, 9, rec.pack_bill(sale_bill())))
    bad = bytearray(data)
    bad[20] ^= 0x40
    e = raises(rec.RecordError, rec.decode, bytes(bad))
    assert e.seq == 9 and e.why == "bad CRC"
    assert "length" in raises(rec.RecordError, rec.decode, bytes(data[:-3])).why
    assert "short" in raises(rec.RecordError, rec.decode, b"PS").why
    assert "magic" in raises(rec.RecordError, rec.decode, b"XX" + bytes(data[2:])).why
    unknown = rec.encode(99, 5, b"abc")
    assert "unknown type" in raises(rec.RecordError, rec.decode, unknown).why
    newer = rec.encode(rec.FINAL, 6, rec.pack_bill(sale_bill()), version=rec.VERSION + 1)
    e = raises(rec.VersionError, rec.decode, newer)
    assert "newer" in str(e) and e.seq == 6


def test_sales_survive_reopen_with_totals_and_last_sale():
    with TempDir("j") as root:
        journal = open_journal(root)
        _sale(journal, 20000)
        _sale(journal, 5000)
        again = Journal(root)
        assert again.open() == []
        assert again.sale_no == 2 and again.next_seq == 3
        assert again.totals.volume_ml == 25000 and again.last["ml"] == 5000
        assert again.unsynced == 2 and again.unsynced_amount == 15180 + 3795
        assert again.open_sale is None and again.recover(T0) is None


def test_power_cut_mid_sale_settles_once_from_the_checkpoint():
    with TempDir("j") as root:
        journal = open_journal(root, begin=True)
        journal.checkpoint(T0, 700, 7000)
        journal.checkpoint(T0, 1234, 12340, rec.F_WARNED)
        # power cut: no FINAL; next boot
        journal = open_journal(root)
        assert journal.open_sale["sale"] == 1 and journal.cp["pulses"] == 1234
        bill = journal.recover(T0 + 5)
        assert bill["ml"] == 12340 and bill["amount"] == 9366 and bill["stop"] == 9
        assert bill["flags"] == rec.F_RECOVERED | rec.F_WARNED
        journal = Journal(root)  # and a second boot settles nothing again
        journal.open()
        assert journal.recover(T0 + 9) is None and journal.unsynced == 1
        assert journal.totals.volume_ml == 12340


def test_cut_before_first_checkpoint_settles_zero_and_never_reuses_seq():
    with TempDir("j") as root:
        journal = open_journal(root, begin=True)
        journal = open_journal(root)
        bill = journal.recover(T0)
        assert bill["ml"] == 0 and bill["flags"] == rec.F_RECOVERED
        assert journal.begin(sale_bill()) == 2 and journal.next_seq == 2


def test_corrupt_record_skipped_with_neighbours_kept():
    with TempDir("j") as root:
        journal = open_journal(root)
        for ml in (1000, 2000, 3000):
            _sale(journal, ml)
        size = rec.HDR_LEN + rec.PAYLOAD_LEN[rec.FINAL] + rec.CRC_LEN
        _flip(root + "/j0000", size + 30)  # inside the second sale's FINAL
        journal = Journal(root)
        assert journal.open() == [(2, "bad CRC")]
        finals = [s for s, t, p in journal.read() if t == rec.FINAL]
        assert finals == [1, 3]
        assert journal.next_seq == 4 and journal.totals.volume_ml == 6000
        _flip(root + "/j0000", size + 4)  # and a garbled seq is not believed
        journal = Journal(root)
        assert journal.open() == [(None, "bad CRC")] and journal.next_seq == 4
        _flip(root + "/j0000", size)  # and a broken header: found again past it
        journal = Journal(root)
        assert journal.open() == [(2, "bad magic")]
        assert [s for s, t, p in journal.read()] == [1, 3]


def test_newer_journal_refused_and_left_untouched():
    with TempDir("j") as root:
        journal = open_journal(root)
        _sale(journal, 1000)
        newer = rec.encode(rec.FINAL, 32, rec.pack_bill(sale_bill()), version=rec.VERSION + 1)
        with open(root + "/j0001", "wb") as f:
            f.write(newer)
        before = _files(root)
        e = raises(rec.VersionError, Journal(root).open)
        assert "newer than this firmware" in str(e)
        assert _files(root) == before


def test_stray_and_unknown_files_reported_not_fatal():
    with TempDir("j") as root:
        journal = open_journal(root)
        _sale(journal, 1000)
        with open(root + "/jzzzz", "w") as f:
            f.write("hello")
        with open(root + "/j0000", "ab") as f:
            f.write(rec.encode(77, 2, b"??"))
        journal = open_journal(root)
        _sale(journal, 2000)  # a good record after the bad one
        journal = Journal(root)
        bad = journal.open()
        assert (2, "unknown type 77") in bad and (None, "stray file jzzzz") in bad
        assert len(bad) == 2
        assert [s for s, t, p in journal.read()] == [1, 3] and journal.totals.volume_ml == 3000


def test_ack_prunes_acknowledged_segments_and_keeps_totals():
    with TempDir("j") as root:
        journal = Journal(root, segment=4)
        journal.open()
        for _ in range(10):
            _sale(journal, 1000)  # FINALs 1..10 in segments j0000 (1-3), j0001, j0002 (8-10)
        assert journal.unsynced == 10
        journal.ack(8, T0)
        assert journal.unsynced == 2 and journal.unsynced_amount == 2 * 759
        names = sorted(n for n in os.listdir(root) if n.startswith("j"))
        assert names == ["j0002"]
        journal.ack(10, T0)
        journal = Journal(root, segment=4)
        journal.open()
        assert journal.totals.volume_ml == 10000 and journal.last["ml"] == 1000
        assert journal.unsynced == 0
        assert journal.sale_no == 10 and journal.ack_seq == 10
        for _ in range(3):
            _sale(journal, 500)  # j0002 full, on into j0003 (12, 13)
        journal.ack(13, T0)  # j0002 goes: a SNAPSHOT carries the totals on
        journal = Journal(root, segment=4)
        journal.open()
        assert sorted(n for n in os.listdir(root) if n.startswith("j")) == ["j0003"]
        assert journal.totals.volume_ml == 11500 and journal.sale_no == 13
        assert journal.last["ml"] == 500
        raises(JournalError, journal.ack, 999, T0)


def test_unacknowledged_records_are_never_pruned():
    with TempDir("j") as root:
        journal = Journal(root, segment=4)
        journal.open()
        for _ in range(6):
            _sale(journal, 1000)
        assert journal.prune() == 0
        assert len([s for s, t, p in journal.read() if t == rec.FINAL]) == 6


def test_unauthorised_flow_counts_in_the_volume_total():
    with TempDir("j") as root:
        journal = open_journal(root)
        journal.event(T0, EV_UNAUTHORIZED, 40)
        _sale(journal, 1000)
        journal.event(T0, EV_UNAUTHORIZED, 30)
        journal = open_journal(root)
        assert journal.totals.volume_ml == 1070 and journal.totals.amount == 759


class _Cfg:
    max_unsynced_sales = 3
    max_unsynced_amount = 2000
    max_unsynced_age_s = 3600
    storage_reserve_blocks = 8


def test_offline_limits():
    with TempDir("j") as root:
        journal = open_journal(root)
        cfg = _Cfg()
        assert journal.refusal(cfg, T0, 100) is None
        assert journal.refusal(cfg, T0, 7) == "storage_full"
        _sale(journal, 1000)
        assert journal.refusal(cfg, T0 + 3600, 100) == "offline_age"
        _sale(journal, 10000)
        assert journal.refusal(cfg, T0, 100) == "offline_amount"
        cfg.max_unsynced_amount = 10**9
        _sale(journal, 1000)
        assert journal.refusal(cfg, T0, 100) == "offline_count"
        journal.ack(journal.next_seq - 1, T0)
        assert journal.refusal(cfg, T0 + 99999, 100) is None


ASN = b"\x62\x00\x00\x00\x00\x00\x00\x17\x00\x00"


def _card_sale(journal, ml, ttc=5):
    journal.begin(sale_bill(asn=ASN, psam_ttc=ttc, balance=50000, ctc=3))
    journal.checkpoint(T0, ml // 10, ml)


def _escape(journal, time, pulses, ml, amount, stop):
    """The open card sale ends without its debit: ESCAPE (as the card desk and the boot's
    recovery end it)."""
    return journal.finish(time, pulses, ml, amount, stop, 0, 0, None, rec.ESCAPE)


def test_escape_waits_for_its_card_and_unlock_settles_it_once():
    with TempDir("j") as root:
        journal = open_journal(root)
        _card_sale(journal, 4000)
        _escape(journal, T0 + 1, 400, 4000, 3036, 2)
        assert settlement.find(journal, ASN)["amount"] == 3036
        assert settlement.find(journal, ASN, 6) is None
        assert journal.totals.volume_ml == 4000  # the fuel left the tank: the totalizer counts it
        again = open_journal(root)
        esc = again_esc = settlement.find(again, ASN, 5)
        assert esc is not None and esc["pulses"] == 400
        bill = settlement.settle_here(again, esc, T0 + 60, 3036, 0,
                                      {"tac": b"\x01\x02\x03\x04", "balance": 50000 - 3036})
        assert bill["tac"] == b"\x01\x02\x03\x04" and settlement.find(again, ASN) is None
        assert again.totals.volume_ml == 4000 and again.last["amount"] == 3036
        raises(JournalError, settlement.settle_here, again, again_esc, T0 + 61, 3036, 0,
               {})
        third = open_journal(root)
        assert settlement.find(third, ASN) is None and third.unsynced == 2
        types = [t for _s, t, _p in third.read()]
        assert types == [rec.ESCAPE, rec.UNLOCK]


def test_power_cut_in_a_card_sale_recovers_as_an_escape():
    with TempDir("j") as root:
        journal = open_journal(root)
        _card_sale(journal, 2500)
        again = open_journal(root)
        bill = again.recover(T0 + 9)
        assert bill["flags"] & rec.F_RECOVERED and bill["ml"] == 2500
        assert settlement.find(again, ASN, 5)["ml"] == 2500  # the card may be grey: owed


def _escape_behind_acknowledged_sales(root):
    """A journal of four-record segments: a card sale that escaped (759 owed), then nine
    sales, all of it acknowledged by the station."""
    journal = Journal(root, segment=4)
    journal.open()
    _card_sale(journal, 1000)
    _escape(journal, T0, 100, 1000, 759, 2)
    for _ in range(9):
        _sale(journal, 1000)
    journal.ack(journal.next_seq - 1, T0)
    return journal


def test_an_acknowledged_escape_leaves_the_log_and_waits_in_its_table():
    with TempDir("j") as root:
        journal = _escape_behind_acknowledged_sales(root)
        assert settlement.find(journal, ASN) is not None
        assert len(journal._segments()) == 1  # the escape holds no segment back
        again = Journal(root, segment=4)
        again.open()
        assert rec.ESCAPE not in [t for _s, t, _p in again.read()]  # its record is gone
        assert settlement.find(again, ASN)["amount"] == 759  # and its table holds it
        settlement.settle_here(again, settlement.find(again, ASN), T0, 759, 0, {})
        for _ in range(8):
            _sale(again, 1000)
        again.ack(again.next_seq - 1, T0)
        assert len(again._segments()) == 1 and len(again.escapes) == 0


def _told(esc, **kw):
    """An item of the station's `settled` list naming escape `esc`."""
    item = {"sale": esc["sale"], "asn": esc["asn"][:8].hex(), "ctc": esc["ctc"],
            "ttc": esc["psam_ttc"], "by": "P2", "by_sale": 4, "psam": "000000000102"}
    item.update(kw)
    return item


def test_an_escape_settled_elsewhere_is_closed_by_a_marker_that_goes_up():
    with TempDir("j") as root:
        journal = _escape_behind_acknowledged_sales(root)
        esc = settlement.find(journal, ASN)
        total = (journal.totals.volume_ml, journal.totals.amount)
        seq = journal.next_seq
        # the station's list: items that do not name this escape exactly change nothing
        settlement.take_settled(journal, [_told(esc, sale=2), _told(esc, ctc=4), _told(esc, ttc=6),
                                     _told(esc, asn="6200000000000018"), _told(esc, psam=1),
                                     "junk"], T0 + 60)
        settlement.take_settled(journal, {"sale": 1}, T0 + 60)
        assert settlement.find(journal, ASN) == esc and journal.next_seq == seq
        settlement.take_settled(journal, [_told(esc), _told(esc)], T0 + 60)  # closed once
        assert settlement.find(journal, ASN) is None and journal.next_seq == seq + 1
        assert (journal.totals.volume_ml, journal.totals.amount) == total  # no fuel, no money
        raises(JournalError, settlement.close_elsewhere, journal, esc, T0 + 61,
               bytes.fromhex("000000000102"))
        # the marker goes up like any record: who settled it, no TAC, nothing paid
        (seq, rtype, payload), = [r for r in journal.read(journal.ack_seq)]
        bill = rec.unpack_bill(payload)
        assert bill["amount"] == 0 and bill["sale"] == 1
        assert bill["flags"] == rec.F_SETTLED_ELSEWHERE
        item = rec.to_json(seq, rtype, payload, True)
        assert item["type"] == "UNLOCK" and item["flags"] == 128 and item["amount"] == 0
        assert item["by"] == "000000000102" and "tac" not in item and "gmac" not in item
        assert (item["asn"], item["ctc"], item["psam_ttc"]) == (ASN[:8].hex(), 3, 5)
        again = Journal(root, segment=4)
        again.open()
        assert len(again.escapes) == 0 and settlement.find(again, ASN) is None
        # an UNLOCK of another terminal's escape (flag 64) never closes one of ours
        _card_sale(again, 1000, ttc=6)
        _escape(again, T0, 100, 1000, 759, 2)
        mine = settlement.find(again, ASN, 6)
        other = rec.sale_bill(T0, "92", 7590, "", 0, 0, {
            "asn": ASN, "psam_ttc": 9, "ctc": 4, "amount": 500, "flags": rec.F_ELSEWHERE})
        other["sale"] = mine["sale"]  # told the same sale number: it takes one of its own
        bill = settlement.settle_for_other(again, other)
        assert bill["sale"] == mine["sale"] + 1 == again.sale_no
        assert settlement.find(again, ASN, 6) == mine


def test_a_card_back_not_grey_voids_or_closes_its_escapes_by_its_own_log():
    """Never locked (nothing in the card's log): settled for 0, flag 16; debited here and
    the reply lost (this PSAM's debit of the lock in the log): settled for that amount,
    flag 8; debited by another PSAM: closed by a marker, flags 128|8; an escape that is
    owed and not in the log stays open."""
    tid = bytes.fromhex("000000000101")
    other = bytes.fromhex("000000000102")
    with TempDir("j") as root:
        journal = open_journal(root)
        for ctc, amount in ((3, 0), (4, 759), (5, 800), (6, 900)):
            journal.begin(sale_bill(asn=ASN, psam_ttc=ctc, balance=50000, ctc=ctc))
            _escape(journal, T0, 100, 1000, amount, 2)
        log = [{"type": 0x93, "ctc": 4, "terminal_id": tid, "amount": 759},
               {"type": 0x93, "ctc": 5, "terminal_id": other, "amount": 800},
               {"type": 0x91, "ctc": 6, "terminal_id": tid, "amount": 0}]
        settlement.void(journal, ASN, log, tid, T0 + 60)
        # owed: the station settles it
        assert [e["ctc"] for _s, e in journal.escapes.entries()] == [6]
        unlocks = [rec.unpack_bill(p) for _s, t, p in journal.read() if t == rec.UNLOCK]
        assert [(b["ctc"], b["amount"], b["flags"]) for b in unlocks] == [
            (3, 0, rec.F_NOT_LOCKED), (4, 759, rec.F_CARD_LOG),
            (5, 0, rec.F_SETTLED_ELSEWHERE | rec.F_CARD_LOG)]
        assert (unlocks[2]["tac"] + unlocks[2]["gmac"])[:6] == other


def test_the_station_is_asked_only_for_a_grey_card_with_no_escape_here_and_owed_is_checked():
    asn8 = ASN[:8]
    grey = {"grey": True, "terminal_id": bytes.fromhex("000000000999"), "ttc": 7, "ctc": 2}
    assert settlement.query_for(asn8, grey, None) == {
        "asn": asn8.hex(), "terminal": "000000000999", "ttc": 7, "ctc": 2}
    # grey here with its escape in the table: settled here; without (dropped): asked
    assert settlement.query_for(asn8, grey, {"sale": 3}) is None
    assert settlement.query_for(asn8, dict(grey, grey=False), None) is None
    answer = {"status": "owed", "asn": asn8.hex(), "ttc": 7, "amount": 759, "ml": 1000,
              "price": 7590, "grade": "92"}
    assert settlement.owed(answer, asn8, grey) == {"station": answer, "amount": 759}
    for bad in ({"status": "settled"}, {"asn": "6200000000000018"}, {"ttc": 8},
                {"amount": -1}, {"ml": "1"}, {"price": True}, {"grade": "12345"},
                {"grade": None}):
        assert settlement.owed(dict(answer, **bad), asn8, grey) is None, bad
    assert settlement.owed(None, asn8, grey) is None


def test_ack_moves_the_counts_as_a_fresh_scan_would():
    with TempDir("j") as root:
        journal = Journal(root, segment=4)
        journal.open()
        for i in range(11):
            _sale(journal, 1000 + i * 10, T0 + i)
            journal.event(T0 + i, EV_LOCK, 1)
        for upto in (3, 9, 10, 21):
            journal.ack(upto, T0 + 100)
            fresh = Journal(root, segment=4)
            fresh.open()
            assert (journal.unsynced, journal.unsynced_amount, journal.oldest_unsynced) == (
                fresh.unsynced, fresh.unsynced_amount, fresh.oldest_unsynced), upto
        assert journal.unsynced == 0 and journal.unsynced_amount == 0
        assert journal.oldest_unsynced == 0


def test_record_of_version_zero_is_bad_not_newer():
    payload = rec.pack_bill(sale_bill())
    zero = rec.encode(rec.FINAL, 11, payload, version=0)
    e = raises(rec.RecordError, rec.decode, zero)
    assert not isinstance(e, rec.VersionError)  # damage, not a newer firmware's journal
    assert e.seq == 11 and e.why == "bad version 0"
    assert rec.decode(rec.encode(rec.FINAL, 11, payload))[1] == 11  # version 1 is good


def test_record_of_bad_length_says_so_with_its_seq():
    payload = rec.pack_bill(sale_bill())
    good = rec.encode(rec.FINAL, 12, payload)
    # the header's length disagrees with the bytes there are
    e = raises(rec.RecordError, rec.decode, good + b"\x00")
    assert e.seq == 12 and e.why.startswith("bad length")
    # sound framing and CRC, but not the length of a FINAL
    short = rec.encode(rec.FINAL, 13, payload[:-1])
    e = raises(rec.RecordError, rec.decode, short)
    assert e.seq == 13 and e.why == "bad length %d for FINAL" % (len(payload) - 1)
    # a header claiming more than any record holds: refused before reading that far
    huge = bytearray(good)
    huge[8:10] = bytes([0xFF, 0xFF])
    e = raises(rec.RecordError, rec.record_size, bytes(huge))
    assert e.seq == 12 and e.why == "bad length 65535"
    assert rec.record_size(good) == len(good)


def test_segment_skips_bad_version_and_bad_length_records_keeping_neighbours():
    payload = rec.pack_bill(sale_bill())
    data = (rec.encode(rec.FINAL, 1, payload)
            + rec.encode(rec.FINAL, 2, payload, version=0)
            + rec.encode(rec.FINAL, 3, payload)
            + rec.encode(rec.FINAL, 4, payload[:-1])
            + rec.encode(rec.FINAL, 5, payload))
    got = [(r[1], why) for r, why in split_segment(data, 0)]
    assert got == [(1, None), (2, "bad version 0"), (3, None),
                   (4, "bad length %d for FINAL" % (len(payload) - 1)), (5, None)]


def _load(state, load_id=3, balance=0):
    return {"time": T0, "load": load_id, "amount": 5000, "balance": balance, "counter": 2,
            "state": state, "asn": b"\x62\x00\x00\x00\x00\x00\x00\x17", "tac": bytes(4),
            "at": bytes.fromhex("20261123101500")}


def test_a_load_intent_cut_by_the_power_is_ended_at_boot_once():
    with TempDir("j") as root:
        journal = open_journal(root)
        journal.load(_load(rec.LOAD_INTENT))
        assert journal.open_load is not None
        again = open_journal(root)
        assert again.open_load["load"] == 3
        cut = again.recover_load(T0 + 5)
        assert cut["state"] == rec.LOAD_CUT and cut["time"] == T0 + 5
        third = open_journal(root)
        assert third.open_load is None and third.recover_load(T0) is None
        records = [rec.unpack_load(p) for _s, t, p in third.read() if t == rec.LOAD]
        assert [r["state"] for r in records] == [rec.LOAD_INTENT, rec.LOAD_CUT]
        assert records[0]["at"] == bytes.fromhex("20261123101500")
        assert third.unsynced == 0  # a load is no sale: the offline limits do not count it


def test_a_load_done_leaves_nothing_open_and_goes_up_as_a_record():
    with TempDir("j") as root:
        journal = open_journal(root)
        journal.load(_load(rec.LOAD_INTENT))
        journal.load(_load(rec.LOAD_DONE, balance=5000))
        assert journal.open_load is None and open_journal(root).open_load is None
        seq, t, payload = [r for r in journal.read() if r[1] == rec.LOAD][-1]
        item = rec.to_json(seq, t, payload, True)
        assert item["type"] == "LOAD" and item["state"] == rec.LOAD_DONE
        assert item["asn"] == "6200000000000017" and item["balance"] == 5000
