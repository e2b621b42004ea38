"""The power-cut campaign, short: 2 x 100 cuts here, thousands in `make campaign`. Each
flash erase stalls the board as a NOR chip's does (campaign.FLASH_ERASE_MS), and a warned
cut whose fuel flowed must have its warned checkpoint within the hold-up
(warned_checkpoint_missed is one of campaign.MUST_BE_ZERO)."""
import json
from pathlib import Path

import pytest

from pumpside_host import campaign

pytestmark = pytest.mark.e2e

CUTS = 100
CHECKPOINT_ML = 200
RESULTS = Path(__file__).resolve().parents[2] / "build" / "campaign"


@pytest.mark.parametrize("seed", [101, 202])
def test_power_cut_campaign(seed):
    result = campaign.run(CUTS, seed, checkpoint_ml=CHECKPOINT_ML)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / ("seed-%d.json" % seed)).write_text(json.dumps(result))
    for key in campaign.MUST_BE_ZERO:
        assert result.get(key, 0) == 0, (key, result)
    assert result["power_cuts"] >= CUTS and result["flash_erase_ms"] == campaign.FLASH_ERASE_MS
    assert min(result["cuts_warned"], result["cuts_hard"], result["cuts_flash"]) > 0, result
    # each kind of flash cut happened: a program that never happens, a torn one, an erase
    kinds = {kind: result["cuts_flash_" + kind] for kind in campaign.FLASH_KINDS}
    assert min(kinds.values()) > 0 and sum(kinds.values()) == result["cuts_flash"], kinds
    # without the warning a sale may lose the flow since its last completed checkpoint
    assert CHECKPOINT_ML <= result["volume_error_bound_ml"] <= CHECKPOINT_ML + 100
    assert result["volume_error_max_ml"] <= result["volume_error_bound_ml"], result


CARD_CUTS = 40


def test_power_cut_campaign_card_sales():
    """Cuts anywhere in card sales: no card left grey without a record that settles it,
    balances = start - settled amounts, nothing paid twice."""
    result = campaign.run(CARD_CUTS, 303, checkpoint_ml=CHECKPOINT_ML, cards=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "seed-303.json").write_text(json.dumps(result))
    for key in campaign.MUST_BE_ZERO:
        assert result.get(key, 0) == 0, (key, result)
    assert result["power_cuts"] >= CARD_CUTS and result["card_money_moved"] > 0
    assert result["escapes"] > 0, result  # some cuts came between the lock and the debit
    assert result["volume_error_max_ml"] <= result["volume_error_bound_ml"], result
