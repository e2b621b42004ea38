"""The link's drain with several RECORDS frames in flight: each frame carries the journal's
records in their own bytes, in order; the journal's cursor moves only to an ack the
station sent, so a session that drops mid-window loses nothing."""
import asyncio
import shutil

import pytest
from test_payload_fuzz import KEY, Writer

from pumpside import journal
from pumpside import link as lk
from pumpside import protocol as p
from pumpside import record as rec
from pumpside import window as wn


def _journal(root, n):
    jr = journal.Journal(root + "/journal")
    jr.open()
    for i in range(n):
        jr.event(1_700_000_000 + i, journal.EV_LOCK, i)
    return jr


def _drain(jr, acks, steps):
    """`steps` _upload steps of a Link on `jr`, the station answering with SALES_ACKs of
    `acks` and then closing: (what was sent, the error that ended it or None)."""
    from test_payload_fuzz import _link

    root, _jr, link = _link()
    shutil.rmtree(root, ignore_errors=True)
    link.journal = jr
    writer = Writer()
    station = p.Session(KEY, p.TO_TERMINAL)

    async def go():
        reader = asyncio.StreamReader()
        for ack in acks:
            reader.feed_data(station.encode(p.SALES_ACK, {"results": [], "ack": ack}))
        reader.feed_eof()
        link.timeout_s = 1
        term = p.Session(KEY, p.TO_STATION)
        for _ in range(steps):
            await link._upload(reader, writer, term)

    try:
        asyncio.run(go())
        error = None
    except (lk.LinkError, asyncio.IncompleteReadError) as e:
        error = e
    sent = []
    check = p.Session(KEY, p.TO_TERMINAL)
    for frame in writer.out:
        mtype, payload = check.decode(bytes(frame), p.FROM_TERMINAL)
        assert mtype == p.RECORDS
        sent.append([r["seq"] for r in payload["records"]])
    return sent, error


def test_a_window_of_frames_goes_before_the_first_answer_in_journal_order(tmp_path):
    jr = _journal(str(tmp_path), 3 * wn.BATCH + 2)
    sent, error = _drain(jr, [], 1)
    assert error is not None  # the station closed before answering
    assert sent == [list(range(1 + i * wn.BATCH, 1 + (i + 1) * wn.BATCH))
                    for i in range(3)] + [[3 * wn.BATCH + 1, 3 * wn.BATCH + 2]]
    assert jr.ack_seq == 0 and jr.unsynced == 0  # events: nothing unsynced to count


def test_a_session_dropped_mid_window_moves_the_cursor_no_further_than_the_acks(tmp_path):
    n = 2 * wn.ACK_EVERY  # more than the cursor may lag
    jr = _journal(str(tmp_path), n)
    # answers for the first ACK_EVERY + 8 records, then the connection drops
    acks = [wn.BATCH * (i + 1) for i in range(wn.ACK_EVERY // wn.BATCH + 1)]
    _sent, error = _drain(jr, acks, len(acks) + 1)
    assert error is not None
    assert 0 < jr.ack_seq <= acks[-1]  # moved, but only to an ack the station sent
    left = [seq for seq, _t, _p in jr.read(jr.ack_seq)]
    assert left == list(range(jr.ack_seq + 1, n + 1))  # the rest still on the flash


def test_the_cursor_reaches_the_last_ack_once_nothing_is_in_flight(tmp_path):
    n = 2 * wn.BATCH + 4
    jr = _journal(str(tmp_path), n)
    sent, error = _drain(jr, [wn.BATCH, 2 * wn.BATCH, n], 3)
    assert error is None and [len(s) for s in sent] == [wn.BATCH, wn.BATCH, 4]
    assert jr.ack_seq == n


@pytest.mark.parametrize("ack", [25, 0])
def test_an_ack_beyond_the_journal_or_none_moves_nothing(tmp_path, ack):
    jr = _journal(str(tmp_path), 4)
    _drain(jr, [ack], 1)
    assert jr.ack_seq == 0
    assert rec.MAX_RECORD * wn.BATCH + p.HDR_LEN + p.TAG_LEN == wn.TX_LEN
