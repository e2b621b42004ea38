"""The journal on littlefs on the sim board's flash: cuts, limits, bad flash, bad records."""
import hashlib
import time

import pytest

from pumpside import record as rec
from pumpside_host.bench import Bench

from .helpers import fuelling as _fuelling
from .helpers import sale
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e


def _quick_sale(vp, keys="V30E"):
    return sale(vp, keys, 20, hang_up=True)


def _finals(vp):
    return [r for r in vp.dump_journal()["records"] if r["type"] == "FINAL"]


def _flash_hash(vp):
    return hashlib.sha256((vp.device_dir / "flash.bin").read_bytes()).hexdigest()


def test_warned_cut_mid_sale_recovers_exactly_and_shows_again(make_pump):
    vp = make_pump()
    _fuelling(vp, "V2000E", 2000)
    vp.power_cut(warn=True)
    truth = vp.bench.counts()[0]
    assert any(n == "power_warning" for n, _ in vp.seen)
    vp.reboot()
    report = vp.wait_event("journal", 10)
    got = report["recovered"]
    assert got["sale"] == 1 and got["pulses"] == truth and got["flags"] == 3
    assert report["total_ml"] == got["ml"] == truth * 10
    vp.wait_state("IDLE", 5)
    vp.bench.press("R")  # the customer asks to see the last sale again
    _wait(lambda: vp.bench.display[2] == "Last sale", 3, "the recalled sale")
    assert vp.bench.display[3].startswith("%d.%02d L" % (truth // 100, truth % 100))
    assert [f["sale"] for f in _finals(vp)] == [1]


def test_cut_without_warning_recovers_within_one_checkpoint(make_pump):
    vp = make_pump(checkpoint_ml=500)
    _fuelling(vp, "V2000E", 2700)
    vp.power_cut(warn=False)
    truth = vp.bench.counts()[0]
    vp.reboot()
    got = vp.wait_event("journal", 10)["recovered"]
    # 500 ml = 50 pulses, plus the flow of the tick that wrote the checkpoint late
    assert 0 <= truth - got["pulses"] <= 55 and got["flags"] == 1
    assert got["pulses"] > 0
    finals = _finals(vp)
    assert len(finals) == 1 and finals[0]["stop"] == 9


def test_offline_sales_limit_stops_new_sales_with_a_prompt(make_pump):
    vp = make_pump(max_unsynced_sales=2, slow_lead_ml=10)
    _quick_sale(vp)
    _quick_sale(vp)
    before = vp.bench.truth_ml()
    vp.bench.press("V30E")
    refused = vp.wait_event("refused", 3)
    assert refused["why"] == "offline_count" and refused["unsynced"] == 2
    _wait(lambda: "Offline sales limit - sync needed" in vp.bench.display, 3, "the prompt")
    vp.bench.lift()
    time.sleep(0.3)
    assert vp.bench.truth_ml() == before and len(_finals_after_stop(vp)) == 2


def _finals_after_stop(vp):
    vp.kill()
    return _finals(vp)


def test_offline_age_limit(make_pump):
    vp = make_pump(max_unsynced_age_s=3600, slow_lead_ml=10)
    _quick_sale(vp)
    vp.bench.advance_clock(3601)
    vp.bench.press("V30E")
    assert vp.wait_event("refused", 3)["why"] == "offline_age"


def test_full_flash_stops_sales_before_it_fills_and_keeps_every_record(make_pump):
    vp = make_pump(bench=Bench(slow_lpm=20.0), slow_lead_ml=10)
    _quick_sale(vp, "V10E")  # its checkpoint directory is made before its valve opens
    vp.kill()
    vp.reboot()
    free = vp.wait_event("journal", 10)["free_blocks"]
    vp.kill()  # a reserve one block below today's free space: full after ~one segment
    vp.config["storage_reserve_blocks"] = free - 1
    vp.write_config()
    vp.reboot()
    vp.wait_state("IDLE", 10)
    sales = 0
    for _ in range(200):
        vp.bench.press("V10E")
        name, fields = _next_of(vp, ("authorized", "refused"))
        if name == "refused":
            assert fields["why"] == "storage_full"
            break
        vp.bench.lift()
        vp.wait_event("delivery", 10)
        vp.bench.hang_up()
        sales += 1
    else:
        raise AssertionError("the flash never filled")
    assert sales > 5
    _wait(lambda: "Storage full - sync needed" in vp.bench.display, 3, "the prompt")
    finals = _finals_after_stop(vp)
    assert [f["sale"] for f in finals] == list(range(1, sales + 2))  # the first sale's too


def _next_of(vp, names, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        name, fields = vp.events.get(timeout=max(0.01, deadline - time.monotonic()))
        if name in names:
            return name, fields


def test_damaged_flash_keeps_the_pump_closed_and_the_records_untouched(make_pump):
    vp = make_pump()
    _quick_sale(vp)
    vp.kill()
    image = vp.device_dir / "flash.bin"
    data = bytearray(image.read_bytes())
    for block in (0, 1):  # both superblock copies
        data[block * 4096 + 8:block * 4096 + 64] = b"\x5a" * 56
    image.write_bytes(bytes(data))
    before = _flash_hash(vp)
    delivered = vp.bench.truth_ml()
    vp.reboot()
    closed = vp.wait_event("closed", 10)
    assert "flash damaged" in closed["why"] and "records kept" in closed["why"]
    _wait(lambda: vp.bench.display[:2] == ["暂停服务", "Pump closed"], 5, "closed screen")
    vp.bench.press("V30E")
    vp.bench.lift()
    time.sleep(0.3)
    vp.kill()
    assert _flash_hash(vp) == before  # never formatted
    assert vp.bench.truth_ml() == delivered  # and no fuel


def test_newer_journal_is_refused_and_left_untouched(make_pump):
    vp = make_pump()
    _quick_sale(vp)
    vp.kill()
    newer = rec.encode(rec.FINAL, 32, rec.pack_bill(rec.new_bill()), version=rec.VERSION + 1)
    vp.flash_tool("plant", "journal/j0001", newer.hex())  # a segment a newer firmware wrote
    before = _flash_hash(vp)
    vp.reboot()
    closed = vp.wait_event("closed", 10)
    assert "newer than this firmware" in closed["why"]
    time.sleep(0.2)
    vp.kill()
    assert _flash_hash(vp) == before


def test_corrupt_record_reported_with_its_seq_and_neighbours_kept(make_pump):
    vp = make_pump(slow_lead_ml=10)
    for _ in range(3):
        _quick_sale(vp)
    vp.kill()
    final = rec.HDR_LEN + rec.PAYLOAD_LEN[rec.FINAL] + rec.CRC_LEN
    vp.flash_tool("flip", "journal/j0000", str(final + 40))  # inside sale 2's FINAL
    vp.reboot()
    corrupt = vp.wait_event("journal_corrupt", 10)
    assert corrupt == {"seq": 2, "why": "bad CRC"}
    report = vp.wait_event("journal", 10)
    assert report["corrupt"] == 1 and report["next_seq"] == 4
    vp.wait_state("IDLE", 5)
    d = _quick_sale(vp)
    assert d["sale"] == 4  # numbering goes on; nothing reused
    assert [f["sale"] for f in _finals_after_stop(vp)] == [1, 3, 4]
