"""The station server against a terminal built from the same codec: the ledger holds
each sale once, and every kind of bad session is refused, logged, and stores nothing."""
import asyncio
import json
import logging
import os

import pytest

from pumpside import protocol as p
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationServer


def _sale(seq, sale, amount=3795, kind="FINAL"):
    return {"seq": seq, "type": kind, "sale": sale, "ml": 5000, "amount": amount,
            "asn": "6200000000000017", "tac": "01020304"}


class Terminal:
    """A scripted terminal: connect, authenticate, send frames, read answers."""

    def __init__(self, port, tid, key):
        self.port, self.tid, self.key = port, tid, key
        self.sent = []  # every frame sent, for replay tests

    async def connect(self, nonce=None):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        challenge = await self.frame()
        self.nonce = nonce or os.urandom(16)
        self.session = p.terminal_session(self.key, challenge, self.nonce)
        await self.send(p.HELLO, {"terminal": self.tid, "nonce": self.nonce.hex(),
                                  "firmware": "test"})
        return await self.answer()

    async def frame(self):
        head = await asyncio.wait_for(self.reader.readexactly(2), 5)
        return head + await asyncio.wait_for(self.reader.readexactly(
            (head[0] << 8) | head[1]), 5)

    async def send(self, mtype, payload):
        self.raw(self.session.encode(mtype, payload))

    def raw(self, data):
        self.sent.append(data)
        self.writer.write(data)

    async def answer(self):
        return self.session.decode(await self.frame(), p.FROM_STATION)

    async def closed(self):
        """True once the station has closed the connection (after an ERROR or at once)."""
        try:
            while True:
                await self.frame()
        except (asyncio.IncompleteReadError, ConnectionError):
            return True


@pytest.fixture
def station(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pumpside.station")
    ledger = Ledger(str(tmp_path / "station.db"))
    key = ledger.add_terminal("T1")
    yield ledger, key, caplog
    ledger.close()


def run(coro_fn, ledger):
    async def main():
        server = await StationServer(ledger).start()
        try:
            return await coro_fn(server.port)
        finally:
            await server.stop()
    return asyncio.run(main())


def test_sales_stored_exactly_once(station):
    ledger, key, caplog = station

    async def play(port):
        t = Terminal(port, "T1", key)
        mtype, welcome = await t.connect()
        assert mtype == p.WELCOME and welcome["heartbeat_ms"] == 10000
        await t.send(p.SALES, {"records": [_sale(1, 1), _sale(2, 2, 1518)]})
        _, ack = await t.answer()
        await t.send(p.SALES, {"records": [_sale(2, 2, 1518), _sale(3, 3)]})  # resent
        _, ack2 = await t.answer()
        await t.send(p.HEARTBEAT, {"time": 1})
        beat = await t.answer()
        t.writer.close()
        t2 = Terminal(port, "T1", key)  # a new session after a reconnect
        await t2.connect()
        await t2.send(p.SALES, {"records": [_sale(3, 3), {"seq": 4, "type": "BOGUS"}]})
        _, ack3 = await t2.answer()
        t2.writer.close()
        return ack, ack2, beat, ack3

    ack, ack2, beat, ack3 = run(play, ledger)
    assert [r[1] for r in ack["results"]] == ["stored", "stored"] and ack["ack"] == 2
    assert [r[1] for r in ack2["results"]] == ["duplicate", "stored"] and ack2["ack"] == 3
    assert beat[0] == p.HEARTBEAT and beat[1]["time"] > 0
    assert [r[1] for r in ack3["results"]] == ["duplicate", "rejected"]
    assert [(s["sale"], s["amount"]) for s in ledger.sales("T1")] == [(1, 3795), (2, 1518),
                                                                       (3, 3795)]
    assert key.hex() not in caplog.text


@pytest.mark.parametrize("attack", ["wrong_key", "unknown_terminal", "modified", "oversize",
                                    "truncated", "unknown_type", "replay", "not_hello"])
def test_bad_sessions_are_refused_logged_and_store_nothing(station, attack):
    ledger, key, caplog = station

    async def play(port):
        t = Terminal(port, "T1", key)
        if attack == "wrong_key":
            t.key = os.urandom(32)
        if attack == "unknown_terminal":
            t.tid = "T9"
        if attack in ("wrong_key", "unknown_terminal"):
            t.reader, t.writer = await asyncio.open_connection("127.0.0.1", port)
            challenge = await t.frame()
            t.session = p.terminal_session(t.key, challenge, b"n" * 16)
            await t.send(p.HELLO, {"terminal": t.tid, "nonce": (b"n" * 16).hex()})
            await t.send(p.SALES, {"records": [_sale(1, 1)]})
            return await t.closed()
        if attack == "not_hello":
            t.reader, t.writer = await asyncio.open_connection("127.0.0.1", port)
            challenge = await t.frame()
            t.session = p.terminal_session(t.key, challenge, b"n" * 16)
            await t.send(p.SALES, {"records": [_sale(1, 1)]})
            return await t.closed()
        await t.connect()
        if attack == "modified":
            f = bytearray(t.session.encode(p.SALES, {"records": [_sale(1, 1, 1)]}))
            f[-30] ^= 0x01  # one bit of the amount's neighbourhood
            t.raw(bytes(f))
        elif attack == "oversize":
            t.raw(b"\xff\xff" + bytes(100))
        elif attack == "truncated":
            f = t.session.encode(p.SALES, {"records": [_sale(1, 1)]})
            t.raw(f[:-5])
            t.writer.write_eof()
        elif attack == "unknown_type":
            t.session.sent += 1
            t.raw(p.encode(99, t.session.sent, {}, t.session.key, p.TO_STATION))
        elif attack == "replay":
            await t.send(p.SALES, {"records": [_sale(1, 1)]})
            await t.answer()
            recorded = list(t.sent)
            t.writer.close()
            ledger.db.execute("DELETE FROM sales")  # so a replay that got in would show
            t2 = Terminal(port, "T1", key)
            t2.reader, t2.writer = await asyncio.open_connection("127.0.0.1", port)
            await t2.frame()  # a new challenge: the recording answers an old one
            for f in recorded:
                t2.raw(f)
            return await t2.closed()
        return await t.closed()

    assert run(play, ledger)
    assert ledger.sales() == []
    assert "refused" in caplog.text or "disconnected" in caplog.text
    assert key.hex() not in caplog.text


def test_admin_commands(tmp_path, capsys):
    from pumpside_host import cli

    db = str(tmp_path / "s.db")
    keyfile = tmp_path / "t1.key"
    assert cli.main(["station", "terminal-add", "--db", db, "--terminal", "T1",
                     "--key-file", str(keyfile)]) == 0
    key = bytes.fromhex(keyfile.read_text().strip())
    out = capsys.readouterr().out
    assert len(key) == 32 and key.hex() not in out and oct(keyfile.stat().st_mode)[-3:] == "600"
    assert cli.main(["station", "price", "--db", db, "--grade", "95", "--price", "8120"]) == 0
    assert cli.main(["station", "price", "--db", db, "--grade", "95", "--price", "-1"]) == 2
    assert cli.main(["station", "hotlist", "--db", db, "--asn", "6200000000000017"]) == 0
    assert cli.main(["station", "hotlist", "--db", db, "--asn", "62"]) == 2
    ledger = Ledger(db)
    assert ledger.key_of("T1") == key
    assert ledger.prices() == {"version": 1, "grades": {"95": 8120}, "at": 0}
    assert ledger.hotlist_version() == 1
    ledger.store("T1", [_sale(1, 1)])
    ledger.close()
    capsys.readouterr()
    assert cli.main(["station", "sales", "--db", db]) == 0
    assert "T1 FINAL sale 1 seq 1 5000 ml amount 3795" in capsys.readouterr().out


def test_price_history_keeps_every_price_set(tmp_path, capsys):
    from pumpside_host import cli

    db = str(tmp_path / "s.db")
    for grade, price in (("92", 7590), ("95", 8120), ("92", 7700)):
        assert cli.main(["station", "price", "--db", db, "--grade", grade,
                         "--price", str(price)]) == 0
    ledger = Ledger(db)
    hist = ledger.price_history()
    ledger.close()
    assert [(h["version"], h["grade"], h["price"]) for h in hist] == [
        (1, "92", 7590), (2, "95", 8120), (3, "92", 7700)]  # the old price is kept
    capsys.readouterr()
    assert cli.main(["station", "price-history", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [["v1", "92", "7590"], ["v2", "95", "8120"],
                                                     ["v3", "92", "7700"]]


def test_a_different_record_under_a_taken_key_is_kept_as_a_conflict(tmp_path, capsys, caplog):
    """A formatted flash (or a replaced board) numbers its sales from 1 again: its sale 1
    is not the stored sale 1, so it is never acknowledged as a duplicate and lost; it is
    kept in conflicts, once, alarmed, and listed for the operator with the card masked."""
    from pumpside_host import cli

    db = str(tmp_path / "s.db")
    ledger = Ledger(db)
    first = _sale(1, 1)
    again = dict(_sale(1, 1, 1518), time=1795000999, asn="6200000000000017")
    event = {"seq": 2, "type": "EVENT", "code": 2, "a": 3, "time": 1795000000}
    other_event = dict(event, a=4)
    assert [r[1] for r in ledger.store("T1", [first, event])[0]] == ["stored", "stored"]
    with caplog.at_level(logging.ERROR, "pumpside.station"):
        results, ack = ledger.store("T1", [first, again, event, other_event])
    assert [r[1] for r in results] == ["duplicate", "conflict", "duplicate", "conflict"]
    assert ack == 2 and "sale 1 differs" in results[1][2]
    assert caplog.text.count("ALARM terminal T1") == 2
    results, _ = ledger.store("T1", [again])  # sent again (its ack was lost): kept once
    assert [r[1] for r in results] == ["conflict"]
    conflicts = ledger.conflicts("T1")
    assert [(c["kind"], c["sale"], c["seq"]) for c in conflicts] == [("FINAL", 1, 1),
                                                                      ("EVENT", None, 2)]
    assert conflicts[0]["record"]["amount"] == 1518 and conflicts[0]["stored"]["amount"] == 3795
    assert [(s["sale"], s["amount"]) for s in ledger.sales("T1")] == [(1, 3795)]
    ledger.close()
    capsys.readouterr()
    assert cli.main(["station", "conflicts", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "T1 journal (none) FINAL sale 1 seq 1: ml 5000 amount 1518 card 6200********0017 " \
        "time 1795000999" in out
    assert "T1 journal (none) EVENT seq 2: " in out
    assert "6200000000000017" not in out and "2 conflicting record(s)" in out


def test_a_new_station_database_does_not_hand_out_the_command_ids_of_an_old_one(tmp_path):
    """A terminal answers a command id it has run before from its ring without running
    it: a rebuilt database starting its ids at 1 again would have its commands ignored."""
    firsts = []
    for name in ("a.db", "b.db", "c.db"):
        ledger = Ledger(str(tmp_path / name))
        first = ledger.command("T1", "suspend")
        assert ledger.command("T1", "resume") == first + 1
        assert 0 < first <= Ledger.COMMAND_ID_SPAN
        ledger.close()
        firsts.append(first)
    assert len(set(firsts)) == 3  # equal by chance once in 2**30
    again = Ledger(str(tmp_path / "a.db"))  # reopened: ids go on, not drawn again
    assert again.command("T1", "stop") == firsts[0] + 2
    again.close()


def test_pumps_lists_the_delivery_in_progress_then_the_last_one(tmp_path, capsys):
    from pumpside_host import cli

    db = str(tmp_path / "s.db")
    ledger = Ledger(db)
    ledger.add_terminal("T1")
    ledger.add_terminal("T2")
    status = {"state": "Fuelling", "nozzle": 1, "grade": "92", "price": 7590, "ml": 1520,
              "amount": 1154, "alarm": "", "alarms": 0}
    ledger.set_status("T1", status)
    ledger.set_status("T2", dict(status, state="Idle", ml=0, amount=0))
    assert [(p["state"], p["ml"], p["amount"]) for p in ledger.pumps()] == [
        ("Fuelling", 1520, 1154), ("Idle", 0, 0)]
    capsys.readouterr()
    assert cli.main(["station", "pumps", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("T1 Fuelling delivering 1520 ml amount 1154 online")
    assert lines[1].startswith("T2 Idle online")  # nothing delivered since it booted
    ledger.set_status("T1", dict(status, state="Idle", ml=2000, amount=1518))
    ledger.close()
    assert cli.main(["station", "pumps", "--db", db]) == 0
    assert capsys.readouterr().out.startswith("T1 Idle last delivery 2000 ml amount 1518 ")


def _bill(sale, amount=3795, ml=5000):
    from pumpside import record as rec

    bill = rec.new_bill()
    bill.update(sale=sale, time=1795000000 + sale, nozzle=1, grade="92", price=7590,
                mode="V", ml=ml, amount=amount, stop=1)
    return rec.pack_bill(bill)


def _records(*items):
    """A RECORDS payload: (seq, sale[, amount]) FINAL records in the journal's bytes."""
    from pumpside import record as rec

    return b"".join(rec.encode(rec.FINAL, item[0], _bill(*item[1:])) for item in items)


def test_records_in_flight_are_stored_once_acked_in_order_and_damage_stores_nothing(station):
    """RECORDS frames sent back to back (a window in flight) are answered by one SALES_ACK
    each, in order, naming only the records not held; sent again they are duplicates, a
    different record under a stored sale is a conflict; a frame whose record fails its
    CRC (under a good tag) or whose bytes were changed on the way is refused whole:
    ERROR, closed, nothing of it stored."""
    from pumpside import record as rec

    ledger, key, caplog = station

    async def play(port):
        t = Terminal(port, "T1", key)
        await t.connect()
        for frame in (_records((1, 1), (2, 2)), _records((3, 3), (4, 4)),
                      _records((5, 5)) + rec.encode(rec.EVENT, 6, rec.pack_event(1, 2, 3))):
            await t.send(p.RECORDS, frame)  # no answer awaited in between
        acks = [await t.answer() for _ in range(3)]
        await t.send(p.RECORDS, _records((3, 3), (4, 4, 1518), (7, 7)))
        again = await t.answer()
        bad = bytearray(_records((8, 8), (9, 9)))
        bad[-1] ^= 1  # the second record's CRC
        await t.send(p.RECORDS, bytes(bad))
        refused = await t.answer()
        closed = await t.closed()
        t2 = Terminal(port, "T1", key)
        await t2.connect()
        frame = bytearray(t2.session.encode(p.RECORDS, _records((8, 8))))
        frame[20] ^= 1  # changed on the way: the tag no longer fits
        t2.raw(bytes(frame))
        return acks, again, refused, closed, await t2.closed()

    acks, again, refused, closed, closed2 = run(play, ledger)
    # each frame answered in order; `results` names only what was not held
    assert [(m, a["ack"], a["results"]) for m, a in acks] == [
        (p.SALES_ACK, 2, []), (p.SALES_ACK, 4, []), (p.SALES_ACK, 6, [])]
    assert [r[:2] for r in again[1]["results"]] == [[4, "conflict"]]
    assert again[1]["ack"] == 7
    assert refused == (p.ERROR, {"why": "bad RECORDS: record 9: bad CRC"}) and closed
    assert closed2 and "bad tag" in caplog.text
    assert [s["sale"] for s in ledger.sales("T1")] == [1, 2, 3, 4, 5, 7]  # not 8 nor 9
    assert [c["sale"] for c in ledger.conflicts("T1")] == [4]
    stored = ledger.db.execute("SELECT record FROM sales WHERE sale = 1").fetchone()[0]
    assert json.loads(stored) == rec.to_json(1, rec.FINAL, _bill(1), True)
