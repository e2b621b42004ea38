"""The network-fault campaign, short: 2 x 150 faults here (two seeds, in parallel), thousands
in `make campaign`."""
import json
from pathlib import Path

import pytest

from pumpside_host import netcampaign

pytestmark = pytest.mark.e2e

FAULTS = 150
RESULTS = Path(__file__).resolve().parents[2] / "build" / "campaign"


@pytest.mark.parametrize("seed", [404, 505])
def test_network_fault_campaign(seed):
    result = netcampaign.run(FAULTS, seed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / ("net-%d.json" % seed)).write_text(json.dumps(result))
    for key in netcampaign.MUST_BE_ZERO:
        assert result[key] == 0, (key, result)
    assert result["net_faults"] >= FAULTS and result["sales"] > 0
    assert min(result["faults_by_kind"].values()) > 0, result  # every kind of fault hit
    assert result["station_restarts"] > 0, result
