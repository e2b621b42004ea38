import json
from pathlib import Path

import pytest

from pumpside_host.bench import Bench
from pumpside_host.bench.cards import CardStore
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationThread
from pumpside_host.vboard import DEFAULT_CONFIG, VirtualPump

from .helpers import ASN, PIN

# Short timeouts so safety rules fire in seconds; everything else is the embedded default.
FAST_TIMEOUTS = {"no_flow_timeout_ms": 1500, "no_pulse_timeout_ms": 1000, "done_show_ms": 1000}


@pytest.fixture
def make_pump():
    pumps = []

    def make(bench=None, flash_blocks=256, cards=None, files=None, **config):
        cfg = dict(DEFAULT_CONFIG)
        cfg.update(FAST_TIMEOUTS)
        cfg.update(config)
        vp = VirtualPump(config=cfg, bench=bench or Bench(), flash_blocks=flash_blocks,
                         cards=cards, files=files)
        pumps.append(vp)
        vp.start()
        vp.wait_state("IDLE", 10)
        return vp

    yield make
    for vp in pumps:
        vp.stop()


@pytest.fixture
def card_store(tmp_path):
    """The bench's card issuer, with card ASN (PIN, balance 500.00) issued."""
    store = CardStore(str(tmp_path / "cards.json"))
    store.issue(ASN, 50000, pin=PIN)
    return store


@pytest.fixture
def station(tmp_path):
    """A ledger and the station serving it on a free loopback port, beating every second,
    over TLS with its own CA (helpers.provisioned pins it); stopped after the test unless
    the test stopped it."""
    ledger = Ledger(str(tmp_path / "station.db"))
    server = StationThread(ledger, heartbeat_s=1).start()
    yield ledger, server
    if server.thread.is_alive():
        server.stop()


def pytest_terminal_summary(terminalreporter):
    """The power-cut campaign's figures, summed over its runs (written by the workers)."""
    results = Path(__file__).resolve().parents[2] / "build" / "campaign"
    out = terminalreporter
    net = [json.loads(p.read_text()) for p in sorted(results.glob("net-*.json"))]
    if net:
        out.section("network-fault campaign")
        out.write_line("net_faults: %d" % sum(r["net_faults"] for r in net))
        out.write_line("sales_lost: %d" % sum(r["sales_lost"] for r in net))
        out.write_line("sales_doubled: %d" % sum(r["sales_doubled"] for r in net))
        out.write_line("sales: %d, faults by kind: %s, station restarts: %d" % (
            sum(r["sales"] for r in net),
            {k: sum(r["faults_by_kind"].get(k, 0) for r in net) for k in net[0]["faults_by_kind"]},
            sum(r["station_restarts"] for r in net)))
    runs = [json.loads(p.read_text()) for p in sorted(results.glob("seed-*.json"))]
    if not runs:
        return
    out.section("power-cut campaign")
    out.write_line("power_cuts: %d" % sum(r["power_cuts"] for r in runs))
    out.write_line("sales_lost: %d" % sum(r["sales_lost"] for r in runs))
    out.write_line("sales_doubled: %d" % sum(r["sales_doubled"] for r in runs))
    out.write_line("volume_error_max_ml: %d" % max(r["volume_error_max_ml"] for r in runs))
    out.write_line("sales: %d, cuts warned/hard/flash: %d/%d/%d" % (
        sum(r["sales"] for r in runs), sum(r["cuts_warned"] for r in runs),
        sum(r["cuts_hard"] for r in runs), sum(r["cuts_flash"] for r in runs)))
