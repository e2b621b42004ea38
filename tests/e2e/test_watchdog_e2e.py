"""The board's watchdog on the virtual pump: a task that hangs (a watchdog test the bench
injects) stops the feeding; the bench's watchdog resets the board, its outputs drop; the
sale in flight is settled from the journal at the next boot; the reset is counted on the
flash and reported to the station."""
import time

import pytest

from .helpers import (
    ASN,
    CARD_MODE,
    card_sale_fuelling,
    fuelling,
    linked_pump,
    saw,
    wait_until,
)

pytestmark = pytest.mark.e2e

WDT_MS = 2000


def _finals(vp):
    return [r for r in vp.dump_journal()["records"] if r["type"] == "FINAL"]


def test_a_hung_keypad_resets_the_board_and_the_sale_settles_at_the_next_boot(
        make_pump, station):
    ledger, server = station
    vp = linked_pump(make_pump, ledger, server.port, watchdog_ms=WDT_MS, checkpoint_ml=10)
    wait_until(lambda: vp.bench.wdt_ms == WDT_MS, 5, "the watchdog started")
    fuelling(vp, "V9000E", 1000)  # 90 L: still flowing when the board resets
    hung_at = time.monotonic()
    vp.bench.hang_task("keypad")
    wait_until(lambda: vp.wdt_resets, WDT_MS / 1000 + 3, "the watchdog reset")
    # the keypad's last check-in was before the hang; the reset came one timeout after
    # the last feed (the bench polls every 20 ms; the loaded host adds its scheduling)
    assert vp.wdt_resets[0] - hung_at < WDT_MS / 1000 + 1.0
    assert vp.bench.wdt_resets == 1
    wait_until(lambda: vp.bench.outputs() == (False, False, False), 1, "the valves shut")
    truth = vp.bench.counts()[0]  # the pulses of the sale: the flow stopped at the reset
    report = vp.wait_event("journal", 10)  # the journal is opened first, then counted
    counted = vp.wait_event("watchdog_reset", 10)
    got = report["recovered"]
    assert counted == {"count": 1}
    assert got["sale"] == 1 and got["flags"] & 1  # F_RECOVERED
    # checkpointed every 10 ml (1 pulse) while the control loop ran on: only the flow of
    # its last tick and of the valves closing after the reset is not in it
    assert 0 <= truth - got["pulses"] <= 10, (truth, got)
    assert got["pulses"] > 100
    vp.wait_state("IDLE", 10)
    assert vp.bench.outputs() == (False, False, False)
    finals = _finals(vp)
    assert [f["sale"] for f in finals] == [1] and finals[0]["pulses"] == got["pulses"]
    # the station: the count in HELLO, the alarm in STATUS, the sale uploaded once
    wait_until(lambda: ledger.pumps()[0]["wdt_resets"] == 1, 15, "the count at the station")
    wait_until(lambda: ledger.pumps()[0]["alarm"] == "WATCHDOG", 15, "the alarm")
    wait_until(lambda: len(ledger.sales("P1")) == 1, 15, "the sale at the station")
    assert ledger.sales("P1")[0]["ml"] == got["ml"]
    # the next boot keeps feeding: no second reset
    time.sleep(WDT_MS / 1000 + 0.5)
    assert len(vp.wdt_resets) == 1 and vp.alive()
    assert saw(vp, "boot", wdt_resets=1)


def test_a_hung_card_desk_resets_the_board_and_the_card_pays_the_metered_sale(
        make_pump, card_store):
    vp = make_pump(cards=card_store, watchdog_ms=WDT_MS, checkpoint_ml=10, **CARD_MODE)
    card_sale_fuelling(vp, "V5000E")  # 50 L
    vp.bench.hang_task("desk")
    wait_until(lambda: vp.wdt_resets, WDT_MS / 1000 + 3, "the watchdog reset")
    wait_until(lambda: vp.bench.outputs() == (False, False, False), 1, "the valves shut")
    truth = vp.bench.counts()[0]
    got = vp.wait_event("journal", 10)["recovered"]
    assert vp.wait_event("watchdog_reset", 10) == {"count": 1}
    assert 0 <= truth - got["pulses"] <= 10 and got["pulses"] > 100, (truth, got)
    vp.bench.hang_up()
    # the card still in the reader: the new boot reads it and settles the escape the reset
    # left, with the metered amount
    receipt = vp.wait_event("receipt", 15)
    card = vp.card_state(ASN)
    assert receipt["amount"] == got["amount"] and not card["grey"]
    assert card["balance"] == 50000 - got["amount"]
    records = [r["type"] for r in vp.dump_journal()["records"]
               if r["type"] in ("FINAL", "ESCAPE", "UNLOCK")]
    assert records == ["ESCAPE", "UNLOCK"]  # owed at the boot (never debited), then paid


def test_a_pump_whose_tasks_are_alive_is_never_reset(make_pump):
    vp = make_pump(watchdog_ms=1000)
    wait_until(lambda: vp.bench.wdt_ms == 1000, 5, "the watchdog started")
    fuelling(vp, "V200E", 500)  # 2 L
    vp.wait_event("delivery", 20)
    vp.bench.hang_up()
    time.sleep(1.5)
    assert vp.wdt_resets == [] and vp.alive()
    assert not saw(vp, "watchdog_reset")
