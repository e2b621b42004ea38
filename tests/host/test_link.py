"""The firmware's link (pumpside/link.py, under CPython) against the reference station
server, both on one event loop: downloads, commands, status and the clock, end to end
in a fraction of a second each, over TLS with the station's own CA pinned (the product's
default). tests/e2e runs the same link on the MicroPython port."""
import asyncio
import json
import logging
import shutil
import tempfile

import pytest

from fakes import FakeBoard
from pumpside import app, config, downloads, journal, storage
from pumpside import link as lk
from pumpside import record as rec
from pumpside import window as wn
from pumpside.hotlist import Hotlist, HotlistError, open_hotlist
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationServer
from pumpside_host.station.tls import station_tls

CFG = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
       "service_pin": "2468", "sale_mode": "attended", "terminal_id": "P1"}


class Desk:
    """The card desk as the pump's downloads see it: it holds the hotlist."""

    class sale:  # noqa: N801 - the card sale's state machine, idle
        state = 0

    def __init__(self, hotlist):
        self.hotlist = hotlist

    def start(self):
        return True

    def screen_value(self, now):
        return "insert_card", ""

    def on_state(self, state, now):
        pass


def asn(i):
    return "62%014d" % i


class Rig:
    """A pump (fake board, real journal, hotlist, Pump and Link) and a station, the link
    over TLS with the station's own CA pinned; `plain`: set to plain TCP (station_tls=0)
    to the station's plain port."""

    def __init__(self, tmp, card=True, heartbeat_s=0.05, plain=False, **cfg):
        self.plain = plain
        self.tmp = tmp
        self.ledger = Ledger(str(tmp / "station.db"))
        self.tls = station_tls(tmp / "station.db")
        self.key = self.ledger.add_terminal("P1")
        self.heartbeat_s = heartbeat_s
        self.board = FakeBoard()
        self.cfg_over = dict(cfg)
        self.card = card
        self.net = None  # the board's net role given to the link (None: the host's)
        self.root = tempfile.mkdtemp(prefix="pumpside-link-")
        # the CA pinned as provisioning pins it: a copy on the terminal's flash
        with open(self.root + "/station_ca.der", "wb") as f:
            f.write(self.tls.ca_der())

    def build(self, port):
        c = dict(CFG)
        c.update({"station_addr": "127.0.0.1:%d" % port, "terminal_key": self.key.hex(),
                  "station_ca": self.root + "/station_ca.der", "station_tls": 0 if self.plain
                  else 1})
        c["sale_mode"] = "card" if self.card else "attended"
        c.update(self.cfg_over)
        cfg = config.parse(json.dumps(c))
        sales_journal = journal.Journal(self.root + "/journal")
        sales_journal.open()
        sales_journal.identify()
        self.pump = app.Pump(self.board, cfg, sales_journal)
        if self.card:
            self.pump.attach_desk(Desk(open_hotlist(self.pump.paths.hotlist)))
        self.link = lk.Link(sales_journal, cfg, self.board.clock, self.pump, net=self.net)
        if cfg.station_addr:
            self.pump.attach_link(self.link)
        return self.pump

    def run(self, script):
        async def main():
            server = await StationServer(self.ledger, heartbeat_s=self.heartbeat_s,
                                         ssl=self.tls.context(["127.0.0.1"]),
                                         plain_port=0 if self.plain else None).start()
            self.server = server
            self.build(server.plain_port if self.plain else server.port)
            task = asyncio.ensure_future(self.link.run())
            try:
                return await script(self)
            finally:
                task.cancel()
                try:
                    await task
                except BaseException:  # noqa: BLE001 - the cancellation
                    pass
                await server.stop()
        try:
            return asyncio.run(asyncio.wait_for(main(), 60))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    async def until(self, cond, what, timeout=20):
        for _ in range(int(timeout / 0.02)):
            if cond():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("timed out waiting for " + what)


@pytest.fixture
def rig(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pumpside.station")
    rig = Rig(tmp_path)
    yield rig
    rig.ledger.close()


def _listed(pump, i):
    return pump.desk.hotlist.listed(bytes.fromhex(asn(i)))


def test_a_thousand_hotlisted_cards_reach_the_pump_in_chunks_and_a_removal_follows(rig,
                                                                                     caplog):
    sent = []
    orig = StationServer._send

    async def spy(self, writer, session, mtype, payload):
        if mtype == lk.protocol.HOTLIST:
            sent.append((len(lk.protocol.encode(mtype, 1, payload, b"k")), dict(payload)))
        return await orig(self, writer, session, mtype, payload)

    StationServer._send = spy
    try:
        rig.ledger.hotlist_changes([asn(i) for i in range(1200)], True)

        async def script(rig):
            await rig.until(lambda: downloads.hotlist_version(rig.pump) == 1200, "1200 cards")
            assert rig.pump.desk.hotlist.listed_count() == 1200
            assert _listed(rig.pump, 0) and _listed(rig.pump, 1199) and not _listed(rig.pump, 1200)
            rig.ledger.hotlist_change(asn(7), False)  # a delta: one card off the list
            await rig.until(lambda: downloads.hotlist_version(rig.pump) == 1201, "the removal")
            assert not _listed(rig.pump, 7) and _listed(rig.pump, 8)
            rig.ledger.hotlist_changes([asn(i) for i in range(5000, 6100)], True)
            await rig.until(lambda: downloads.hotlist_version(rig.pump) == 2301, "1100 more")
            assert _listed(rig.pump, 6099) and rig.pump.desk.hotlist.listed_count() == 2299
            assert rig.link.online and rig.link.connects == 1  # one session all along
        rig.run(script)
    finally:
        StationServer._send = orig
    assert max(n for n, _ in sent) < 1024  # every frame far below the 16 KB limit
    assert all(len(p.get("add", [])) + len(p.get("remove", [])) <= 32 for _, p in sent)
    deltas = [p for _, p in sent if "from" in p]
    assert [p["from"] for p in deltas][:2] == [0, 32]  # 1,200 adds went as deltas
    assert {"from": 1200, "to": 1201, "add": [], "remove": [asn(7)]} in deltas
    assert "refused" not in caplog.text


def test_a_terminal_too_far_behind_gets_the_full_list_in_parts_swapped_at_the_end(rig):
    rig.ledger.hotlist_changes([asn(i) for i in range(900)], True)
    rig.ledger.hotlist_changes([asn(i) for i in range(0, 900, 2)], False)  # 1350 changes

    async def script(rig):
        await rig.until(lambda: downloads.hotlist_version(rig.pump) == 1350, "the full list")
        hotlist = rig.pump.desk.hotlist
        assert hotlist.listed_count() == 450 and hotlist.count == 450 and hotlist.adds == 0
        assert _listed(rig.pump, 1) and not _listed(rig.pump, 2)
    rig.run(script)


def test_a_full_list_is_staged_a_part_out_of_order_changes_nothing(tmp_path):
    root = str(tmp_path / "hl")
    hotlist = Hotlist(root).open()
    hotlist.apply(0, 1, [bytes.fromhex(asn(1))])
    keys = [bytes.fromhex(asn(i)) for i in range(10)]
    hotlist.stage(9, keys[:5], True, False)
    assert hotlist.version == 1  # the old list
    assert hotlist.listed(keys[1]) and not hotlist.listed(keys[2])
    with pytest.raises(HotlistError):
        hotlist.stage(9, keys[3:], False, True)  # overlaps the last part: refused, dropped
    with pytest.raises(HotlistError):
        hotlist.stage(9, keys[5:], False, True)  # the staging is gone: starts again at part 0
    assert hotlist.version == 1 and hotlist.listed_count() == 1
    hotlist.stage(9, keys[:5], True, False)
    hotlist.stage(9, keys[5:], False, True)
    assert hotlist.version == 9 and hotlist.listed_count() == 10 and hotlist.adds == 0
    assert Hotlist(root).open().version == 9


class SettableClock:
    def __init__(self, board):
        self.board = board
        self.sets = []

    def time(self):
        return self.board.now

    def set(self, seconds):
        self.sets.append(seconds)
        self.board.now = seconds


def test_card_sales_wait_for_the_station_time_which_sets_the_clock(rig):
    import time

    rig.board.now = 1_000_000_000  # 2001: an RTC that lost its time with the power
    rig.board.clock = SettableClock(rig.board)

    async def script(rig):
        assert rig.pump.terminal.refusal() == "clock"  # a card pump with a station: not before
        await rig.until(lambda: rig.pump.terminal.clock_trusted(), "the station's time")
        assert rig.board.clock.sets and abs(rig.board.now - time.time()) < 5
        assert rig.pump.terminal.refusal() is None
    rig.run(script)


def test_clock_without_set_far_off_stays_untrusted_attended_and_no_station_unaffected(
        tmp_path):
    rig = Rig(tmp_path)
    rig.board.now = 1_000_000_000  # the FakeBoard's clock has no set()

    async def script(rig):
        await rig.until(lambda: rig.link.online, "the link")
        await asyncio.sleep(0.2)  # several heartbeats with the station's time
        assert not rig.pump.terminal.clock_trusted() and rig.pump.terminal.refusal() == "clock"
        rig.board.now = int(__import__("time").time()) + 60  # off by a minute: in bound
        await rig.until(lambda: rig.pump.terminal.clock_trusted(), "trust")
        assert rig.pump.terminal.refusal() is None
    rig.run(script)
    rig.ledger.close()
    for over in ({"card": False}, {"station_addr": ""}):  # attended; no station
        c = dict(CFG)
        c.update({"station_addr": "127.0.0.1:1", "terminal_key": "00" * 32})
        if "station_addr" in over:
            c["station_addr"] = ""
        c["sale_mode"] = "attended" if "card" in over else "card"
        board = FakeBoard()
        board.now = 1_000_000_000
        sales_journal = journal.Journal(tempfile.mkdtemp(prefix="pumpside-link-") + "/journal")
        sales_journal.open()
        pump = app.Pump(board, config.parse(json.dumps(c)), sales_journal)
        if "card" not in over:
            pump.attach_desk(Desk(None))
        if c["station_addr"]:
            pump.attach_link(lk.Link(sales_journal, pump.cfg, board.clock, pump))
        assert pump.terminal.refusal() is None, over  # sells on its own clock
        shutil.rmtree(sales_journal.root.rsplit("/", 1)[0], ignore_errors=True)


class Ran:
    """Counts the commands the pump actually runs (downloads.command, as the link calls
    it); `restore()` puts the real one back."""

    def __init__(self, pump):
        self.cmds = []
        self.orig = downloads.command

        def command(p, cmd):
            if p is pump:
                self.cmds.append(cmd)
            return self.orig(p, cmd)
        downloads.command = command

    def restore(self):
        downloads.command = self.orig


def _lose_first_reply(ledger):
    """The station loses the first REPLY of each command id (as a connection that drops
    after the terminal sent it): the command stays pending and goes again."""
    orig, lost = ledger.command_done, set()

    def command_done(cid, ok, why, terminal_id=None):
        if cid not in lost:
            lost.add(cid)
            return None
        return orig(cid, ok, why, terminal_id)
    ledger.command_done = command_done
    return lost


def test_lock_unlock_terminate_run_once_each_when_their_reply_is_lost(rig):
    from pumpside import dispenser

    lost = _lose_first_reply(rig.ledger)

    async def script(rig):
        ran = Ran(rig.pump)
        try:
            await steps(rig, ran)
        finally:
            ran.restore()

    async def steps(rig, ran):
        core = rig.pump.core
        lock = rig.ledger.command("P1", "lock")
        await rig.until(lambda: rig.ledger.command_result(lock) is not None, "lock's reply")
        # a second run would have answered "busy: stop first" (the pump is locked)
        assert rig.ledger.command_result(lock) == {"ok": True, "why": ""}
        assert core.state == dispenser.LOCKED and lock in lost
        unlock = rig.ledger.command("P1", "unlock")
        await rig.until(lambda: rig.ledger.command_result(unlock) is not None, "unlock")
        assert core.state == dispenser.IDLE
        core.authorize(dispenser.Authorization("92", 7590, volume_ml=1000), 0)
        term = rig.ledger.command("P1", "terminate")
        await rig.until(lambda: rig.ledger.command_result(term) is not None, "terminate")
        assert core.state == dispenser.SETTLING and core._stop == dispenser.STOP_REMOTE
        assert ran.cmds == ["lock", "unlock", "terminate"]  # each once, answered twice
        assert {lock, unlock, term} <= lost
        # the ring is on the flash: after a reboot the same id is still answered, not run
        assert lk.Done(rig.root + "/cmds").get(lock) == (True, "")
    rig.run(script)


def test_the_ring_survives_a_reboot_and_keeps_the_last_ids(tmp_path):
    path = str(tmp_path / "cmds")
    done = lk.Done(path)
    for cid in range(1, lk.DONE_MAX + 3):
        done.put(cid, cid % 2 == 0, "why %d" % cid)
    again = lk.Done(path)
    assert again.get(1) is None and again.get(2) is None  # fell out of the ring
    assert again.get(3) == (False, "why 3") and again.get(lk.DONE_MAX + 2) == (True, "why %d"
                                                                           % (lk.DONE_MAX + 2))
    assert not (tmp_path / "cmds.new").exists()
    (tmp_path / "cmds").write_text("[[1, 1")  # damaged: an empty ring, no crash
    assert lk.Done(path).ring == []


def test_a_queued_command_expires_at_the_station_and_is_never_sent(rig):
    import time

    old = rig.ledger.command("P1", "lock")
    rig.ledger.db.execute("UPDATE commands SET created = ? WHERE id = ?",
                          (int(time.time()) - rig.ledger.COMMAND_TTL_S - 1, old))

    async def script(rig):
        ran = Ran(rig.pump)
        try:
            fresh = rig.ledger.command("P1", "suspend")
            await rig.until(lambda: rig.ledger.command_result(fresh) is not None, "suspend")
            await asyncio.sleep(0.2)  # more beats
            return ran.cmds
        finally:
            ran.restore()
    assert rig.run(script) == ["suspend"]
    assert rig.ledger.command_result(old) == {"ok": False, "why": "expired"}


def test_a_price_at_a_set_time_waits_on_flash_and_applies_at_the_first_sale_after_it(
        tmp_path):
    import os
    import time

    from pumpside import dispenser

    rig = Rig(tmp_path, card=False)
    now = int(time.time())
    rig.board.now = now
    rig.ledger.set_price("92", 7700)  # in force now
    at = now + 3600
    rig.ledger.set_price("92", 8000, at)  # from an hour on
    with pytest.raises(ValueError):
        rig.ledger.set_price("95", 9000)  # not now while a table waits: name its time

    async def script(rig):
        pump = rig.pump
        await rig.until(lambda: pump.prices.version == 2, "the waiting table")
        assert pump.prices.price == 7700 and pump.prices.waiting["at"] == at  # v1 first
        assert os.path.exists(pump.paths.prices_next)
        assert pump.terminal.refusal() is None and pump.prices.price == 7700  # not yet
        pump.core.authorize(dispenser.Authorization("92", 7700, volume_ml=1000), 0)
        rig.board.now = at  # its time comes during a sale: that sale keeps its price
        assert pump.terminal.refusal() is None and pump.prices.price == 7700
        assert pump.cfg.price == 7590  # the config is never changed
        pump.core.state = dispenser.IDLE  # settled
        # a reboot keeps it waiting: the next sale's start takes it
        again = app.Pump(rig.board, pump.cfg, pump.journal)
        again.attach_link(lk.Link(pump.journal, pump.cfg, rig.board.clock, again))
        assert again.prices.price == 7700 and again.prices.version == 2
        for k in "V100E":
            again.keypad.key(k, 0)
        assert again.prices.price == 8000 and again.core._auth.price == 8000
        assert not os.path.exists(pump.paths.prices_next) and again.prices.waiting is None
        rebooted = app.Pump(rig.board, pump.cfg, pump.journal)
        assert rebooted.prices.price == 8000 and rebooted.prices.version == 2
    rig.run(script)
    rig.ledger.close()


def test_station_price_at_from_the_cli(tmp_path, capsys):
    from pumpside_host import cli

    db = str(tmp_path / "s.db")
    assert cli.main(["station", "price", "--db", db, "--grade", "92", "--price", "8000",
                     "--at", "4102444800"]) == 0
    assert "from the first sale at or after 4102444800" in capsys.readouterr().out
    assert cli.main(["station", "price", "--db", db, "--price", "8100"]) == 2
    ledger = Ledger(db)
    assert ledger.prices() == {"version": 1, "grades": {"92": 8000}, "at": 4102444800}
    assert ledger.prices(due=True) == {"version": 0, "grades": {}, "at": 0}
    ledger.close()


def test_status_on_every_state_change_rate_limited_alarms_at_once_offline_after_3_beats(
        tmp_path, caplog, capsys):
    import time

    from pumpside import dispenser
    from pumpside_host import cli

    caplog.set_level(logging.INFO, logger="pumpside.station")
    rig = Rig(tmp_path, card=False, heartbeat_s=30)  # beats far apart: STATUS by change
    rig.board.now = int(time.time())
    statuses = []
    orig = StationServer._handle

    async def spy(self, conn, mtype, payload):
        if mtype == lk.protocol.STATUS:
            statuses.append((time.monotonic(), payload["state"], payload.get("alarms")))
        return await orig(self, conn, mtype, payload)

    def state():
        return [p["state"] for p in rig.ledger.pumps()]

    async def script(rig):
        await rig.until(lambda: state() == ["Idle"], "the first status")
        rig.pump.core.authorize(dispenser.Authorization("92", 7590, volume_ml=1000), 0)
        await rig.until(lambda: state() == ["Authorised"], "Authorised", 3)
        rig.board.is_lifted = True
        await rig.until(lambda: state() == ["Started"], "Started", 3)
        n = len(statuses)
        t0 = time.monotonic()
        changes = 0
        while time.monotonic() - t0 < 1.0:  # a nozzle switch that flaps every 10 ms
            rig.board.is_lifted = not rig.board.is_lifted
            changes += 1
            await asyncio.sleep(0.01)
        t1 = time.monotonic()
        rig.board.is_lifted = True  # it settles lifted: that state reaches the station
        await rig.until(lambda: statuses[-1][1] == "Started", "the settled state", 3)
        flaps = [s for s in statuses[n:] if s[0] < t1]
        # tens of state changes in that time: rate-limited to one STATUS per 250 ms, so a
        # handful at most, not one each (a loaded machine flaps less, never sends more)
        assert changes >= 10 and len(flaps) <= (t1 - t0) / 0.25 + 2, (changes, len(flaps))
        rig.pump.terminal.alarm("PULSER")
        await rig.until(lambda: "alarm: PULSER" in caplog.text, "the alarm", 3)
        assert rig.ledger.pumps()[0]["alarm"] == "PULSER"
        pump = rig.ledger.pumps()[0]
        assert pump["online"] and pump["firmware"] == lk.FIRMWARE
    StationServer._handle = spy
    try:
        rig.run(script)
    finally:
        StationServer._handle = orig
    seen = rig.ledger.pumps()[0]["seen"]
    assert rig.ledger.pumps(now=seen + 90)[0]["online"]  # 3 beats of 30 s
    assert not rig.ledger.pumps(now=seen + 91)[0]["online"]
    rig.ledger.db.execute("UPDATE pumps SET seen = ?", (int(time.time()) - 91,))
    rig.ledger.close()
    capsys.readouterr()
    assert cli.main(["station", "pumps", "--db", str(tmp_path / "station.db")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("P1 ") and "OFFLINE" in out and lk.FIRMWARE in out


def test_progress_goes_between_the_batches_of_a_backlog_while_fuel_flows(tmp_path,
                                                                           monkeypatch):
    """A pump fuelling while its link drains a backlog to a slow station: STATUS goes
    between the RECORDS frames, the volume growing (counted: the station's slowness only
    makes the drain longer)."""
    import time

    from pumpside import dispenser
    from pumpside import record as rec

    rig = Rig(tmp_path, card=False, heartbeat_s=30)
    rig.board.now = int(time.time())
    heard = []  # (type, ml) of every frame the station took, in order
    orig = StationServer._handle

    async def slow(self, conn, mtype, payload):
        heard.append((mtype, payload.get("ml")))
        return await orig(self, conn, mtype, payload)

    records_in = StationServer.records_in

    async def slow_records(self, conn, frame, reader):
        heard.append((lk.protocol.RECORDS, None))
        await asyncio.sleep(0.05)  # a busy station: 40 frames take 2 s at least
        return await records_in(self, conn, frame, reader)

    monkeypatch.setattr(StationServer, "_handle", slow)
    monkeypatch.setattr(StationServer, "records_in", slow_records)
    monkeypatch.setattr("pumpside_host.station.server.RECORDS_GROUP", 1)  # one at a time

    async def script(rig):
        pump = rig.pump
        sales_journal = pump.journal
        for _ in range(40 * wn.BATCH):  # sold offline, before the session
            bill = rec.new_bill()
            bill.update({"time": rig.board.now, "nozzle": 1, "grade": "92", "price": 7590,
                         "mode": "V", "preset_ml": 1000})
            sales_journal.begin(bill)
            sales_journal.finish(rig.board.now, 100, 1000, 759, 1)
        pump.core.authorize(dispenser.Authorization("92", 7590, volume_ml=50000), 0)
        pump.core.step(0, 0, 0, True)  # the nozzle lifted: fuelling from pulse 0
        while sales_journal.ack_seq < sales_journal.next_seq - 1:
            pump.disp.last_count += 10  # 100 ml a tick of the test
            await asyncio.sleep(0.02)

    rig.run(script)
    first = heard.index((lk.protocol.RECORDS, None))
    last = len(heard) - 1 - heard[::-1].index((lk.protocol.RECORDS, None))
    progress = [ml for mtype, ml in heard[first:last] if mtype == lk.protocol.STATUS]
    assert len(progress) >= 2 and progress == sorted(set(progress)), progress


def test_the_card_desk_asks_the_station_about_a_grey_card_and_gets_an_answer_or_none(
        rig, caplog, monkeypatch):
    """link.ask_grey: the GREY_ANSWER; None when offline or when none came in time, and a
    question given up is not sent again."""
    query = {"asn": asn(17), "terminal": "000000000999", "ttc": 7, "ctc": 0}
    rig.build(1)  # no station there: offline, so no question
    assert asyncio.run(rig.link.ask_grey(query, 5000)) is None
    drop = [True]
    orig = StationServer._send

    async def lossy(self, writer, session, mtype, payload):
        if mtype == lk.protocol.GREY_ANSWER and drop[0]:
            return None  # the answer is lost
        return await orig(self, writer, session, mtype, payload)

    monkeypatch.setattr(StationServer, "_send", lossy)

    def asked():
        return len([metrology for metrology in caplog.messages if "asked for card" in metrology])

    async def script(rig):
        await rig.until(lambda: rig.link.online, "the link")
        assert await rig.link.ask_grey(query, 300) is None  # no answer in time
        n = asked()
        assert n >= 1
        await asyncio.sleep(1.5)  # heartbeats and a new session: the question is gone
        assert asked() == n
        drop[0] = False
        await rig.until(lambda: rig.link.online, "the link")
        answer = await rig.link.ask_grey(query, 5000)
        assert answer["status"] == "unknown"  # no escape of that lock at the station
        assert (answer["asn"], answer["ttc"]) == (query["asn"], 7) and asked() == n + 1
    rig.run(script)


def test_card_info_and_load_go_through_the_session_to_the_station(rig):
    """link.ask of CARD_INFO: the station's CARD_ANSWER (a card it does not know: its
    number only); LOAD for a card it does not know: refused, no MAC2."""
    info = {"asn": asn(17), "nozzle": 1, "balance": 0, "loads": []}
    load = {"asn": asn(17), "load_id": 1, "amount": 100, "balance": 0, "counter": 0,
            "random": "00" * 4, "mac1": "00" * 4, "terminal": "000000000101"}

    async def script(rig):
        await rig.until(lambda: rig.link.online, "the link")
        answer = await rig.link.ask(lk.protocol.CARD_INFO, info, lk.protocol.CARD_ANSWER,
                                    5000)
        assert answer == {"asn": asn(17)}
        answer = await rig.link.ask(lk.protocol.LOAD, load, lk.protocol.LOAD_ANSWER, 5000)
        assert answer == {"load_id": 1, "refused": "card not usable here"}
    rig.run(script)


def test_a_redeem_whose_answer_the_session_lost_is_sent_again_and_spends_once(
        rig, monkeypatch):
    """link.ask of the rewards desk (rewards.py): REWARDS answered from the station's
    loyalty; a REDEEM the station carried out but whose answer died with the session is
    sent again in the next session, same id: the same answer, the points spent once."""
    loyalty = rig.ledger.loyalty
    loyalty.set_rule("grade", "*", 1)
    gift = loyalty.add_reward("five off", "amount", 500, 40)
    rig.ledger.store("P1", [{"type": "FINAL", "seq": 1, "sale": 1, "ml": 1, "amount": 10000,
                             "asn": asn(17), "tac": "01020304", "ctc": 1}])
    cut = [True]
    answers = []
    orig = StationServer._send

    async def lossy(self, writer, session, mtype, payload):
        if mtype == lk.protocol.REDEEM_ANSWER:
            answers.append(dict(payload))
            if cut[0]:
                cut[0] = False
                writer.close()  # the session ends before the answer leaves
                return None
        return await orig(self, writer, session, mtype, payload)

    monkeypatch.setattr(StationServer, "_send", lossy)
    p = lk.protocol

    async def script(rig):
        await rig.until(lambda: rig.link.online, "the link")
        assert rig.link.loyalty  # the station's WELCOME said it answers REWARDS
        offer = await rig.link.ask(p.REWARDS, {"asn": asn(17), "card_type": 1},
                                   p.REWARDS_ANSWER, 5000)
        assert offer["points"] == 100 and offer["rewards"] == [
            [gift, "five off", 40, "amount", 500]] and offer["vouchers"] == []
        assert offer["rates"] == {"*": 1} and offer["pct"] == 100
        redeem = {"asn": asn(17), "reward": gift, "redemption_id": "P1-j-1"}
        answer = await rig.link.ask(p.REDEEM, redeem, p.REDEEM_ANSWER, 10000)
        assert answer["status"] == "ok" and answer["points"] == 60
        assert len(answers) == 2 and answers[0] == answers[1] == answer
        assert rig.link.connects >= 2  # the answer came in the next session
    rig.run(script)
    assert loyalty.totals(asn(17))["redeemed"] == 40 and loyalty.balance(asn(17)) == 60


def test_the_link_waits_for_the_boards_network_and_says_why_it_is_down(rig, capsys):
    """No connection while the board's network is down (the station sees none), its
    reason the link_down's, each reason once; the network started with the config's
    settings; up again, the link connects."""
    rig.net = rig.board.net
    rig.board.net_status = "no AP"
    rig.cfg_over.update(wlan_ssid="forecourt", wlan_pass="s3cret-passphrase")
    seen = []
    orig = StationServer._serve

    async def spy(self, reader, writer):
        seen.append(1)
        return await orig(self, reader, writer)

    async def script(rig):
        await asyncio.sleep(1.2)  # two looks at the network, at least
        assert not seen and not rig.link.online
        rig.board.net_status = "wrong passphrase"
        await rig.until(lambda: rig.link.why == "network: wrong passphrase", "the new reason")
        rig.board.net_status = "up"
        await rig.until(lambda: rig.link.online, "the link up")
        assert seen

    StationServer._serve = spy
    try:
        rig.run(script)
    finally:
        StationServer._serve = orig
    out = capsys.readouterr().out
    downs = [line for line in out.splitlines() if line.startswith("@link_down")]
    assert downs == ['@link_down {"why": "network: no AP"}',
                     '@link_down {"why": "network: wrong passphrase"}']
    assert rig.board.net_ups and rig.board.net_ups[0] == ("", "forecourt", "s3cret-passphrase")
    assert "s3cret" not in out  # the passphrase: never on the console


def test_a_network_that_drops_is_the_link_downs_reason(rig, capsys):
    rig.net = rig.board.net

    async def script(rig):
        await rig.until(lambda: rig.link.online, "the link up")
        rig.board.net_status = "no link"  # the cable pulled: the connection dies with it
        rig.server.sessions["P1"][1].close()
        await rig.until(lambda: not rig.link.online, "the link down")
        rig.board.net_status = "up"
        await rig.until(lambda: rig.link.online, "the link up again", 10)

    rig.run(script)
    out = capsys.readouterr().out
    assert '@link_down {"why": "network: no link"}' in out.splitlines()


def test_hello_names_the_journal_and_a_rebuilt_station_database_sends_all_its_downloads(
        tmp_path):
    """The station keys the pump's records by the journal its HELLO names. A station whose
    database was rebuilt numbers its prices, parameters and hotlist from 1 again: the pump
    holds version 1 of each (2 of the parameters) from the old one, yet takes the new
    station's, because it names the station its downloads came from."""
    rig = Rig(tmp_path)
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(json.dumps(dict(CFG, sale_mode="card", terminal_key=rig.key.hex(),
                                         station_addr="127.0.0.1:7800")))
    rig.board.config_path = str(cfg_path)
    old = rig.ledger
    old.set_price("92", 8000)
    old.params.set({"station": "OLD"})
    old.params.set({"station": "OLDER"})
    old.hotlist_change(asn(1), True)
    rebuilt = Ledger(str(tmp_path / "rebuilt.db"))
    rebuilt.add_terminal("P1", rig.key)
    rebuilt.set_price("92", 8500)  # version 1 again
    rebuilt.params.set({"station": "NEW"})  # version 1: below the pump's 2
    rebuilt.hotlist_change(asn(2), True)  # version 1 again, another card

    async def script(rig):
        pump, link = rig.pump, rig.link
        await rig.until(lambda: link.station == old.journals.station_id(), "the station named")
        assert old.journals.current("P1") == pump.journal.ident and len(pump.journal.ident) == 16
        assert pump.prices.price == 8000 and link.params_version == 2 and _listed(pump, 1)
        assert storage.read_json(pump.paths.station) == old.journals.station_id()
        new = await _rebuilt(rig, rebuilt)
        try:
            await rig.until(lambda: link.station == rebuilt.journals.station_id(),
                            "the rebuilt station named")
        finally:
            await new.stop()
        assert pump.prices.price == 8500 and pump.prices.version == 1
        assert link.params_version == 1 and json.loads(cfg_path.read_text())["station"] == "NEW"
        assert _listed(pump, 2) and not _listed(pump, 1)  # the new station's list, whole
        assert rebuilt.journals.current("P1") == pump.journal.ident
        assert rebuilt.journals.alarms() == []  # a new station, not a new journal
    rig.run(script)
    rebuilt.close()
    old.close()


async def _rebuilt(rig, ledger):
    """The rig's station goes; one on `ledger` (a rebuilt database) takes its port."""
    server = rig.server
    server.server.close()
    for _session, writer in list(server.sessions.values()):
        writer.close()
    await server.server.wait_closed()
    # its CA files beside the database: a rebuilt database keeps them (docs/operations.md)
    return await StationServer(ledger, port=server.port, heartbeat_s=rig.heartbeat_s,
                               ssl=rig.tls.context(["127.0.0.1"])).start()


def test_a_rebuilt_station_without_prices_yet_is_not_named_until_it_sent_its_own(tmp_path):
    """Named before it sent a table, the rebuilt station would take the old station's
    version 1 the pump names for its own version 1, and never send that."""
    rig = Rig(tmp_path, card=False)
    rig.ledger.set_price("92", 8000)
    rebuilt = Ledger(str(tmp_path / "rebuilt.db"))
    rebuilt.add_terminal("P1", rig.key)

    async def script(rig):
        link = rig.link
        await rig.until(lambda: link.station == rig.ledger.journals.station_id(), "named")
        new = await _rebuilt(rig, rebuilt)
        try:
            await rig.until(lambda: rebuilt.pumps() and rebuilt.pumps()[0]["online"], "relink")
            await asyncio.sleep(0.3)  # beats
            assert link.station == rig.ledger.journals.station_id()  # not the new one yet
            assert rebuilt.set_price("92", 8500) == 1
            await rig.until(lambda: link.station == rebuilt.journals.station_id(), "named")
            assert rig.pump.prices.price == 8500
        finally:
            await new.stop()
    rig.run(script)
    rebuilt.close()
    rig.ledger.close()


def _sale(sales_journal, ml):
    t = 1_700_000_000
    bill = rec.new_bill()
    bill.update({"time": t, "nozzle": 1, "grade": "92", "price": 7590, "mode": "V",
                 "preset_ml": 20000})
    sales_journal.begin(bill)
    sales_journal.checkpoint(t, ml // 10, ml)
    return sales_journal.finish(t, ml // 10, ml, ml * 7590 // 10000, 1)


def test_after_a_restore_the_pump_resends_every_record_it_still_holds(tmp_path):
    """What a restore recovers (docs/operations.md): the sales in the backup, every sale
    the station had not acknowledged when it stopped, and those it acknowledged after
    the backup that the pump has not pruned yet (WELCOME's `held` is below its ack
    cursor: it sends again from there, as far as its flash holds the records). The sales
    in pruned segments are lost to the station. Nothing is stored twice."""
    from pumpside_host.station import backup

    rig = Rig(tmp_path, card=False)
    made = {}

    async def script(rig):
        sales_journal = rig.pump.journal
        for ml in (1000, 2000):
            _sale(sales_journal, ml)
        await rig.until(lambda: sales_journal.ack_seq == sales_journal.next_seq - 1,
                        "two sales acknowledged")
        made.update(backup.make(rig.ledger.path, str(tmp_path / "backup.db")))
        for n in range(70):  # acknowledged after the backup; the older segments pruned
            _sale(sales_journal, 3000 + n)
        await rig.until(lambda: sales_journal.ack_seq == sales_journal.next_seq - 1,
                        "the sales acknowledged")
        on_flash = sorted(bill_ml(payload) for _s, rtype, payload in sales_journal.read(0)
                          if rtype in rec.SALE_TYPES)
        assert 0 < len(on_flash) < 72  # some pruned, some not
        server = rig.server  # the station stops
        server.server.close()
        for _session, writer in list(server.sessions.values()):
            writer.close()
        await server.server.wait_closed()
        rig.ledger.close()
        _sale(sales_journal, 9000)  # while it is down: not acknowledged
        on_flash.append(9000)
        backup.restore(rig.ledger.path, made["path"])
        restored = Ledger(rig.ledger.path)
        new = await StationServer(restored, port=server.port, heartbeat_s=rig.heartbeat_s,
                                  ssl=rig.tls.context(["127.0.0.1"])).start()
        try:
            want = sorted(set([1000, 2000] + on_flash))
            await rig.until(lambda: len(restored.sales()) == len(want), "the resent sales")
            await asyncio.sleep(0.3)  # beats: nothing more comes, nothing twice
            assert sorted(s["ml"] for s in restored.sales()) == want
            assert sales_journal.ack_seq == sales_journal.next_seq - 1
        finally:
            await new.stop()
            restored.close()
    rig.run(script)


def bill_ml(payload):
    return rec.unpack_bill(payload)["ml"]


def test_hello_tells_the_journal_seq_the_station_counts_unsynced_records_from(tmp_path):
    """The terminals page's unsynced count (ledger.unsynced): the journal seq the pump's
    HELLO told less the highest the station holds of that journal; 0 once all came."""
    rig = Rig(tmp_path, card=False)
    told = {}

    async def script(rig):
        sales_journal = rig.pump.journal
        for ml in (1000, 2000, 3000):  # written before the link's first HELLO
            _sale(sales_journal, ml)
        told["seq"] = sales_journal.next_seq - 1
        await rig.until(lambda: sales_journal.ack_seq == sales_journal.next_seq - 1,
                        "three sales acknowledged")
    rig.run(script)
    row = rig.ledger.db.execute("SELECT journal_seq FROM pumps WHERE terminal = 'P1'")
    assert row.fetchone()[0] == told["seq"] >= 3  # AUTHORIZED, CHECKPOINT: seqs too
    assert len(rig.ledger.sales("P1")) == 3 and rig.ledger.unsynced("P1") == 0
    journal = rig.ledger.journals.current("P1")
    rig.ledger.db.execute("DELETE FROM sales WHERE terminal = 'P1' AND sale = 3")
    held = rig.ledger.journals.held("P1", journal)
    assert rig.ledger.unsynced("P1") == told["seq"] - held > 0  # as if the last not come
    rig.ledger.close()
