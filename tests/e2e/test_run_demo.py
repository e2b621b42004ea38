"""`pumpside run --auto` (make run without a terminal): the non-interactive demo runs a
sale to its end and prints the pump's display and the final volume."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

PUMPSIDE = Path(sys.executable).parent / "pumpside"


def test_run_auto_sells_two_litres_and_prints_display_and_volume(tmp_path):
    out = subprocess.run([str(PUMPSIDE), "run", "--auto", "--litres", "2"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    # first the back office of the demo's station: its address and a one-time password
    assert re.match(r"back office: http://127\.0\.0\.1:\d+/  log in as admin, password "
                    r"\S{16} \(made for this demo's database only", lines[0]), lines[0]
    # then the bench's tank gauge the station polls (the simulator's address)
    assert re.match(r"tank gauge: 127\.0\.0\.1:\d+ \(Veeder-Root TLS-3xx", lines[1]), lines[1]
    assert lines[2].startswith("pumpside virtual pump: firmware on the MicroPython unix port")
    # the display as the firmware drew it (no terminal: one line per screen)
    screens = [line for line in lines if " | " in line]
    assert any("Sale complete, thank you" in s and "2.00 L" in s for s in screens), screens
    assert any("bench truth" in s for s in screens)
    assert lines[-1].startswith("delivery: 2000 ml, 1518 minor units, stop CAP, pulses 200")
    assert "Traceback" not in out.stdout + out.stderr
