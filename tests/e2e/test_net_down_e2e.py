"""The board's network down and up again, on the virtual pump: the bench takes the sim
board's network down (its net role says why, every connection through the bench's
network drops), the pump sells on offline, and the backlog drains once it is back."""
import threading

import pytest

from pumpside_host.bench import Bench

from .helpers import provisioned, saw, wait_until

pytestmark = pytest.mark.e2e

OFFLINE_SALES = 9  # a FINAL record each: one RECORDS frame (up to window.BATCH = 32)


def _sale(vp, deliveries):
    vp.bench.press("V10E")  # 0.10 L
    sale = vp.wait_event("authorized", 10)["sale"]
    vp.bench.lift()
    deliveries[sale] = vp.wait_event("delivery", 30)["ml"]
    vp.bench.hang_up()


def test_network_drops_mid_backlog_sales_go_on_and_every_sale_reaches_the_station_once(
        make_pump, station):
    ledger, server = station
    held = threading.Event()  # the station got the backlog's frame (and answers it late)
    release = threading.Event()
    store = ledger.store
    batches = []

    def gated_store(terminal, records, *journal):
        result = store(terminal, records, *journal)  # stored: sent again all the same
        batches.append(len(records))
        if len(batches) == 1:
            held.set()
            release.wait(20)  # the network drops before the pump hears the ack
        return result

    ledger.store = gated_store
    bench = Bench(fast_lpm=60.0)
    cfg, files = provisioned(ledger, bench.route(server.port))  # TLS through the bench's net
    vp = make_pump(bench=bench, files=files, done_show_ms=0, settle_ms=150, **cfg)
    wait_until(lambda: saw(vp, "link_up"), 10, "the link")

    bench.net_down("no AP")
    vp.wait_event("link_down", 10, lambda f: f["why"] == "network: no AP")
    deliveries = {}
    for _ in range(OFFLINE_SALES):
        _sale(vp, deliveries)
    assert not ledger.sales("P1") and not batches  # nothing went while it was down

    bench.net_up()  # the drain starts: the backlog's frame stored, its answer held
    wait_until(held.is_set, 20, "the backlog's frame at the station")
    # the pump has not heard it acknowledged: its cursor never runs ahead of the acks
    assert not any(n == "synced" for n, f in vp.seen)
    bench.net_down("no link")
    vp.wait_event("link_down", 10, lambda f: f["why"] == "network: no link")
    release.set()
    _sale(vp, deliveries)  # the pump sells on, offline

    bench.net_up()
    wait_until(lambda: any(n == "synced" and f["unsynced"] == 0 for n, f in vp.seen), 30,
               "the backlog drained")
    rows = ledger.sales("P1")
    assert sorted(r["sale"] for r in rows) == sorted(deliveries)  # each exactly once
    assert {r["sale"]: r["ml"] for r in rows} == deliveries
    assert len(batches) >= 2 and batches[1] > OFFLINE_SALES  # sent again after the drop
    assert sum(1 for n, _ in vp.seen if n == "link_up") >= 3
