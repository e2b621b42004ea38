"""The metrology event log: counted, hash-chained, append-only, refuses when full."""
from _t import TempDir, raises
from pumpside import events


def _log(root, capacity=events.CAPACITY):
    log = events.EventLog(root + "/events", capacity)
    log.open()
    return log


def _lines(root):
    with open(root + "/events/log") as f:
        return f.read().split("\n")


def _write(root, lines):
    with open(root + "/events/log", "w") as f:
        f.write("\n".join(lines))


def test_chain_verifies_and_the_counter_survives_a_reopen():
    with TempDir() as root:
        log = _log(root)
        assert log.count == 0 and log.chain_ok
        assert log.append(1795000000, "tech7", "k_factor", 100000, 99502) == 1
        assert log.append(1795000060, "tech7", "slow_lead_ml", 100, 150) == 2
        again = _log(root)
        assert again.count == 2 and again.chain_ok and again.torn is None
        assert again.head == log.head
        assert again.append(1795000100, "tech8", "k_factor", 99502, 99600) == 3
        recs = list(_log(root).records())
        assert [r["n"] for r in recs] == [1, 2, 3]
        assert recs[0]["prev"] == events.GENESIS and recs[1]["prev"] == recs[0]["h"]
        assert recs[2]["who"] == "tech8" and recs[2]["old"] == 99502
        assert recs[2]["new"] == 99600 and recs[2]["what"] == "k_factor"
        assert len(recs[2]["h"]) == events.HASH_HEX
        assert [r["n"] for r in _log(root).records(2)] == [2, 3]


def test_full_log_refuses():
    with TempDir() as root:
        log = _log(root, capacity=3)
        for i in range(3):
            log.append(1795000000 + i, "t1", "k_factor", 100000 + i, 100001 + i)
        assert log.room == 0
        raises(events.EventLogFull, log.append, 1795000009, "t1", "k_factor", 1, 2)
        log = _log(root, capacity=3)
        assert log.count == 3
        raises(events.EventLogFull, log.append, 1795000009, "t1", "k_factor", 1, 2)


def test_torn_last_record_is_dropped_and_reported():
    with TempDir() as root:
        log = _log(root)
        log.append(1795000000, "t1", "k_factor", 100000, 99000)
        log.append(1795000001, "t1", "k_factor", 99000, 98000)
        lines = _lines(root)
        assert lines[-1] == ""
        with open(root + "/events/log", "a") as f:
            f.write(lines[1][:40])  # a cut in mid-append
        log = _log(root)
        assert log.count == 2 and log.chain_ok and log.torn
        assert log.append(1795000002, "t1", "k_factor", 98000, 98500) == 3
        log = _log(root)
        assert log.count == 3 and log.chain_ok and log.torn is None


def test_record_cut_before_its_newline_is_kept():
    with TempDir() as root:
        log = _log(root)
        log.append(1795000000, "t1", "k_factor", 100000, 99000)
        _write(root, _lines(root)[:1])  # the whole record, no newline
        log = _log(root)
        assert log.count == 1 and log.chain_ok
        assert log.append(1795000001, "t1", "k_factor", 99000, 98000) == 2
        assert _log(root).chain_ok and _log(root).count == 2


def test_tampered_or_removed_record_is_named_and_appends_refused():
    with TempDir() as root:
        log = _log(root)
        for i in range(3):
            log.append(1795000000 + i, "t1", "k_factor", 100000 + i, 100001 + i)
        lines = _lines(root)
        _write(root, [lines[0], lines[1].replace("100002", "100009"), lines[2], ""])
        log = _log(root)
        assert not log.chain_ok and log.damaged[0][0] == 2, log.damaged
        assert log.count == 3
        e = raises(events.EventLogError, log.append, 1795000009, "t1", "k_factor", 1, 2)
        assert "n=2" in str(e)
        _write(root, [lines[0], lines[2], ""])  # a record taken out
        log = _log(root)
        assert log.damaged[0][0] == 2 and "counter" in log.damaged[0][1]
        _write(root, lines[:2] + ["{not json", lines[2], ""])
        assert _log(root).damaged[0][0] == 3


def test_malformed_events_refused():
    with TempDir() as root:
        log = _log(root)
        for who in ("", "a|b", "x" * 33, None):
            raises(events.EventLogError, log.append, 1795000000, who, "k_factor", 1, 2)
        raises(events.EventLogError, log.append, 1795000000, "t1", "k_factor", "1", 2)
        raises(events.EventLogError, events.EventLog(root + "/e2").append, 0, "t", "k", 1, 2)
        assert log.count == 0


def test_opening_an_empty_log_writes_nothing_to_the_flash():
    import os

    with TempDir() as root:
        log = _log(root)  # every boot opens it: a pump never calibrated writes nothing
        assert log.count == 0 and "events" not in os.listdir(root)
        assert log.append(1795000000, "tech7", "k_factor", 100000, 99502) == 1
        assert "events" in os.listdir(root)
