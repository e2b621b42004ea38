"""Packaging the micropython-lib way: firmware/package.json (mpremote mip install) and
firmware/manifest.py (freezing) name every module of the firmware package, so neither
can go stale when a module is added."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "firmware"


def _modules():
    return sorted(p.relative_to(FW).as_posix() for p in (FW / "pumpside").rglob("*.py"))


def test_package_json_lists_every_module_once():
    pkg = json.loads((FW / "package.json").read_text())
    targets = [t for t, _ in pkg["urls"]]
    assert targets == _modules()
    for target, url in pkg["urls"]:
        assert target == url and (FW / url).is_file()  # relative to package.json
    assert pkg["version"].count(".") == 2


def test_freeze_manifest_freezes_the_package():
    text = (FW / "manifest.py").read_text()
    assert 'package("pumpside")' in text
    assert 'include("$(PORT_DIR)/boards/manifest.py")' in text
