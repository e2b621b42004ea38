"""End to end: the firmware's link (unix port) to the station server over loopback."""
import json
import time

import pytest

from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationThread
from pumpside_host.station.tls import station_tls

from .helpers import ASN, linked_pump, provisioned
from .helpers import fuelling as _fuelling
from .helpers import sale as _sale
from .helpers import saw as _saw
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e


def test_sales_sync_online_go_on_offline_and_drain_exactly_once(make_pump, tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    station = StationThread(ledger).start()
    port = station.port
    cfg, files = provisioned(ledger, port)
    key = bytes.fromhex(cfg["terminal_key"])
    vp = make_pump(files=files, **cfg)
    try:
        _wait(lambda: _saw(vp, "link_up"), 10, "the link")
        for litres in ("V100E", "V150E"):
            _sale(vp, litres, hang_up=True)
        _wait(lambda: len(ledger.sales("P1")) == 2, 10, "two sales at the station")
        station.stop()  # the station goes down: the pump sells on, offline
        _wait(lambda: _saw(vp, "link_down"), 30, "the link to notice")
        for litres in ("V120E", "V80E", "V60E"):
            _sale(vp, litres, hang_up=True)
        assert len(ledger.sales("P1")) == 2
        station = StationThread(ledger, port).start()  # back, same address
        _wait(lambda: len(ledger.sales("P1")) == 5, 60, "the backlog to drain")
        _wait(lambda: [f for n, f in vp.seen if n == "synced"][-1]["unsynced"] == 0, 10,
              "the pump's cursor")
    finally:
        if station.thread.is_alive():
            station.stop()
    sales = ledger.sales("P1")
    assert [s["sale"] for s in sales] == [1, 2, 3, 4, 5]  # each once, in order
    assert [s["ml"] for s in sales] == [1000, 1500, 1200, 800, 600]
    vp.kill()
    records = vp.dump_journal()
    assert records["state"]["unsynced"] == 0 and records["state"]["ack"] >= 5
    assert key.hex() not in "\n".join(vp.lines)  # the key never reaches the console


def test_price_change_applies_to_the_next_sale_not_the_one_in_progress(make_pump, station):
    ledger, server = station
    vp = linked_pump(make_pump, ledger, server.port)
    _fuelling(vp, "V300E", 500)  # 3.00 L at 7.59
    ledger.set_price("92", 8000)  # 8.00 from now on
    vp.wait_event("price", 10)
    first = vp.wait_event("delivery", 30)
    vp.bench.hang_up()
    second = _sale(vp, "V100E", hang_up=True)
    vp.kill()
    vp.reboot()  # the new price survives a power cycle
    vp.wait_state("IDLE", 10)
    third = _sale(vp, "V100E", hang_up=True)
    assert first["price"] == 7590 and first["amount"] == 2277
    assert second["price"] == 8000 and second["amount"] == 800
    assert third["price"] == 8000


def test_hotlist_push_refuses_the_card_within_a_heartbeat(make_pump, card_store, station):
    ledger, server = station
    # 1,200 cards listed before the pump first connects: far more than one 16 KB frame
    # holds (~819), so they go in chunks of 32 over a few beats on one session
    ledger.hotlist_changes(["63%014d" % i for i in range(1200)], True)
    vp = linked_pump(make_pump, ledger, server.port, cards=card_store, sale_mode="card")
    vp.wait_event("hotlist", 30, lambda f: f["version"] == 1200 and f["entries"] == 1200)
    ledger.hotlist_change(ASN, True)
    vp.wait_event("hotlist", 10, lambda f: f["version"] == 1201 and f["entries"] == 1201)
    vp.insert(ASN)
    _wait(lambda: vp.bench.display[2:3] == ["Card refused (hotlist)"], 10, "the refusal")
    vp.bench.remove_card()
    ledger.hotlist_change("6300000000000005", False)  # a delta takes one off
    vp.wait_event("hotlist", 10, lambda f: f["version"] == 1202 and f["entries"] == 1200)
    assert len([n for n, _f in vp.seen if n == "link_up"]) == 1  # the session held
    assert not card_store.cards[ASN].s["grey"]


def test_remote_stop_halts_a_fuelling_pump_and_suspend_refuses_new_sales(make_pump, station):
    ledger, server = station
    vp = linked_pump(make_pump, ledger, server.port)
    _fuelling(vp, "V2000E", 500)  # 20 L
    _wait(lambda: [p["state"] for p in ledger.pumps()] == ["Fuelling"], 10, "status")
    stop = ledger.command("P1", "stop")
    d = vp.wait_event("delivery", 10)
    assert d["stop"] == "REMOTE" and 500 < d["ml"] < 20000
    assert vp.bench.outputs() == (False, False, False)
    vp.bench.hang_up()
    _wait(lambda: ledger.command_result(stop) == {"ok": True, "why": ""}, 10, "reply")
    _wait(lambda: [s["ml"] for s in ledger.sales("P1")] == [d["ml"]], 10, "the sale")
    ledger.command("P1", "suspend")
    vp.wait_event("command", 10, lambda f: f["cmd"] == "suspend")
    vp.bench.press("V100E")
    _wait(lambda: vp.bench.display[2:3] == ["Pump suspended by the station"], 5,
          "the refusal")
    ledger.command("P1", "resume")
    vp.wait_event("command", 10, lambda f: f["cmd"] == "resume")
    assert _sale(vp, "V100E", hang_up=True)["ml"] == 1000
    assert vp.bench.truth_ml() < 20000


def test_card_sales_wait_for_the_station_time_and_its_time_sets_the_clock(make_pump, card_store,
                                                                           tmp_path):
    import socket

    from pumpside_host.bench import Bench

    ledger = Ledger(str(tmp_path / "station.db"))
    with socket.socket() as s:  # a free port for a station that is not up yet
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bench = Bench()
    bench.advance_clock(-400 * 86400)  # the board's RTC is a year off (lost with power)
    cfg, files = provisioned(ledger, port)  # its certificates hold with the clock off
    vp = make_pump(bench=bench, cards=card_store, sale_mode="card", files=files, **cfg)
    vp.insert(ASN)
    _wait(lambda: vp.bench.display[2:3] == ["Clock not set - no card sales"], 10,
          "the refusal")
    vp.bench.remove_card()
    station = StationThread(ledger, port, heartbeat_s=1).start()
    try:
        clock = vp.wait_event("clock_set", 30)
        assert clock["was_off_s"] > 399 * 86400
        vp.wait_event("clock_trusted", 10)
        vp.insert(ASN)
        _wait(lambda: vp.bench.display[2:3] == ["Enter PIN, E to confirm"], 10, "the PIN")
    finally:
        station.stop()
    assert not card_store.cards[ASN].s["grey"]


def test_totals_checked_and_params_taken_at_the_next_boot_on_micropython(make_pump,
                                                                          station):
    ledger, server = station
    vp = linked_pump(make_pump, ledger, server.port)
    m = ledger.metrology
    _wait(lambda: [t["why"] for t in m.totals("P1")] == ["baseline"], 10, "baseline")
    _sale(vp, "V100E", hang_up=True)
    _sale(vp, "V150E", hang_up=True)
    _wait(lambda: m.totals("P1")[0]["volume_ml"] == 2500, 10, "the moved totals")
    _wait(lambda: m.totals("P1")[0]["checked"] is True, 10, "the check")
    assert m.totals("P1")[0]["why"] == "" and m.totals("P1")[0]["amount"] == sum(
        s["amount"] for s in ledger.sales("P1"))
    ledger.params.set({"station": "ACME FUEL", "no_flow_timeout_ms": 45000})
    assert vp.wait_event("params", 10)["version"] == 1
    assert json.loads((vp.device_dir / "config.json").read_text())["station"] == \
        "ACME FUEL"
    vp.kill()
    vp.reboot()
    vp.wait_state("IDLE", 10)
    boot = [f for n, f in vp.seen if n == "boot"][-1]
    assert boot["config"]["station"] == "ACME FUEL"
    assert boot["config"]["no_flow_timeout_ms"] == 45000
    _wait(lambda: len([n for n, _f in vp.seen if n == "link_up"]) == 2, 10, "relink")
    time.sleep(2.5)  # beats: version 1 is held, not sent again
    assert len([n for n, _f in vp.seen if n == "params"]) == 1


def test_a_formatted_flash_numbers_its_sales_in_a_new_journal_beside_the_old_one(
        make_pump, station):
    """The pump's flash is formatted (or its board replaced under the same terminal id):
    its journal numbers sales from 1 again, under a new identity. The new sale 1 is
    stored as a new sale (not acknowledged as a duplicate, which the pump would prune and
    lose), the old sale 1 stays, and the operator sees the alarm."""
    ledger, server = station
    vp = linked_pump(make_pump, ledger, server.port)
    _sale(vp, "V100E", hang_up=True)
    _wait(lambda: len(ledger.sales("P1")) == 1, 15, "the first sale at the station")
    old = ledger.journals.current("P1")
    assert old == [f for n, f in vp.seen if n == "journal"][-1]["ident"]
    vp.kill()
    (vp.device_dir / "flash.bin").unlink()  # a blank flash: formatted at the next boot
    ups = sum(1 for n, _f in vp.seen if n == "link_up")
    vp.reboot()
    report = vp.wait_event("journal", 10)
    assert report["formatted"] and report["ident"] != old
    _wait(lambda: sum(1 for n, _f in vp.seen if n == "link_up") > ups, 15, "the link again")
    second = _sale(vp, "V150E", hang_up=True)
    assert second["sale"] == 1  # the new journal's first sale
    _wait(lambda: len(ledger.sales("P1")) == 2, 15, "the new journal's sale 1 stored")
    assert [(s["journal"], s["sale"], s["ml"]) for s in ledger.sales("P1")] == [
        (old, 1, 1000), (report["ident"], 1, 1500)]
    assert ledger.conflicts("P1") == [] and not _saw(vp, "sale_conflict")
    alarms = ledger.journals.alarms("P1")
    assert [a["what"] for a in alarms] == ["new journal"] and old in alarms[0]["why"]
    pump = ledger.pumps()[0]
    assert pump["journal"] == report["ident"] and pump["station_alarms"] == 1


def test_a_rebuilt_station_database_gets_its_price_to_the_pump(make_pump, tmp_path):
    """A station database rebuilt numbers its price tables from 1 again: its first table
    has the number of the one the pump holds, and still reaches it (the pump names the
    station its downloads came from)."""
    ledger = Ledger(str(tmp_path / "old.db"))
    ledger.set_price("92", 8000)  # version 1
    station = StationThread(ledger, heartbeat_s=1).start()
    port = station.port
    cfg, files = provisioned(ledger, port)
    key = bytes.fromhex(cfg["terminal_key"])
    vp = make_pump(files=files, **cfg)
    try:
        vp.wait_event("price", 10, lambda f: f["price"] == 8000)
        vp.wait_event("station", 10, lambda f: f["id"] == ledger.journals.station_id())
        station.stop()
        rebuilt = Ledger(str(tmp_path / "rebuilt.db"))  # a new database, the same terminal
        rebuilt.add_terminal("P1", key)
        assert rebuilt.set_price("92", 8500) == 1  # version 1 again
        # the station's CA lives beside its database, not in it: kept
        station = StationThread(rebuilt, port, heartbeat_s=1,
                                ssl=station_tls(ledger.path).context(["127.0.0.1"])).start()
        assert vp.wait_event("price", 40)["price"] == 8500
    finally:
        if station.thread.is_alive():
            station.stop()
    assert _sale(vp, "V100E", hang_up=True)["amount"] == 850  # 1 L at 8.50


def test_a_rebuilt_station_database_gets_its_commands_run(make_pump, tmp_path):
    """The pump remembers the command ids it ran and answers one it sees again without
    running it. A station whose database was rebuilt must not hand out those ids again:
    its `resume` runs, and the pump sells again."""
    ledger = Ledger(str(tmp_path / "old.db"))
    station = StationThread(ledger, heartbeat_s=1).start()
    port = station.port
    cfg, files = provisioned(ledger, port)
    key = bytes.fromhex(cfg["terminal_key"])
    vp = make_pump(files=files, **cfg)
    try:
        _wait(lambda: _saw(vp, "link_up"), 10, "the link")
        suspend = ledger.command("P1", "suspend")
        _wait(lambda: ledger.command_result(suspend) is not None, 20, "the suspend")
        station.stop()
        rebuilt = Ledger(str(tmp_path / "rebuilt.db"))  # a new database, the same terminal
        rebuilt.add_terminal("P1", key)
        # the station's CA lives beside its database, not in it: kept
        station = StationThread(rebuilt, port, heartbeat_s=1,
                                ssl=station_tls(ledger.path).context(["127.0.0.1"])).start()
        resume = rebuilt.command("P1", "resume")
        _wait(lambda: rebuilt.command_result(resume) is not None, 40, "the resume")
    finally:
        if station.thread.is_alive():
            station.stop()
    assert rebuilt.command_result(resume) == {"ok": True, "why": ""}
    assert _saw(vp, "command", cmd="resume") and not _saw(vp, "command_again")
    assert _sale(vp, "V050E", hang_up=True)["ml"] == 500  # not suspended any more
