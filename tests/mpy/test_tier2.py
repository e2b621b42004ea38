"""Tier 2: every firmware logic test again on the real MicroPython unix port, one process
per test under a constrained heap (-X heapsize=152K: vboard.HEAPSIZE says why), so a
failure names its test. The firmware runs as mpy-cross compiled it (build.py), as a board
runs it; the tests are source."""
import importlib
import os
import subprocess
from pathlib import Path

import pytest

from pumpside_host.build import build
from pumpside_host.vboard import HEAPSIZE, micropython_binary

ROOT = Path(__file__).resolve().parents[2]
FW_TESTS = ROOT / "tests" / "fw"
RUNNER = ROOT / "tests" / "mprun.py"


def _mp(arg):
    env = dict(os.environ)
    env["MICROPYPATH"] = ".frozen:%s:%s" % (build("sim"), FW_TESTS)
    return subprocess.run([micropython_binary(), "-X", "heapsize=" + HEAPSIZE, str(RUNNER),
                           str(FW_TESTS), arg], capture_output=True, text=True, env=env,
                          timeout=120)


def _collect():
    out = _mp("--list")
    if out.returncode != 0:
        return ["<collection failed: %s>" % (out.stdout + out.stderr).strip()[-400:]]
    return out.stdout.split()


@pytest.mark.parametrize("test", _collect())
def test_on_micropython(test):
    assert "::" in test, test
    out = _mp(test)
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    if last.startswith("SKIP"):
        pytest.skip(last[5:])
    assert out.returncode == 0 and last == "PASS", out.stdout + out.stderr


def test_every_firmware_test_is_collected_on_micropython():
    """The runner sees the same tests that pytest sees under CPython (tests/fw is on
    pytest's pythonpath, pytest.ini)."""
    expected = set()
    for path in sorted(FW_TESTS.glob("test_*.py")):
        mod = importlib.import_module(path.stem)
        expected |= {path.stem + "::" + n for n in dir(mod) if n.startswith("test_")}
    assert set(_collect()) == expected
