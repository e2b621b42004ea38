import pytest

from pumpside_host.bench import Bench
from pumpside_host.vboard import DEFAULT_CONFIG, VirtualPump

# Short timeouts so safety rules fire in seconds; everything else is the embedded default.
FAST_TIMEOUTS = {"no_flow_timeout_ms": 1500, "no_pulse_timeout_ms": 1000, "done_show_ms": 1000}


@pytest.fixture
def make_pump():
    pumps = []

    def make(bench=None, flash_blocks=256, **config):
        cfg = dict(DEFAULT_CONFIG)
        cfg.update(FAST_TIMEOUTS)
        cfg.update(config)
        vp = VirtualPump(config=cfg, bench=bench or Bench(), flash_blocks=flash_blocks)
        pumps.append(vp)
        vp.start()
        vp.wait_state("IDLE", 10)
        return vp

    yield make
    for vp in pumps:
        vp.stop()
