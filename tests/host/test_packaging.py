"""Packaging the micropython-lib way: firmware/package.json (mpremote mip install) and
firmware/manifest.py (freezing) name every module of the firmware package, so neither
can go stale when a module is added. On the host the same package is an installed
distribution (firmware/pyproject.toml, editable: make setup)."""
import importlib.metadata
import json
from pathlib import Path

import pumpside

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


def test_the_host_imports_the_firmware_installed_from_its_own_files():
    """The station and the tools run the very files the build compiles for a board."""
    from pumpside_host import build

    dist = importlib.metadata.distribution("pumpside-firmware")
    version = json.loads((FW / "package.json").read_text())["version"]
    assert dist.version == version
    assert Path(pumpside.__file__).resolve() == FW / "pumpside" / "__init__.py"  # no copy
    assert build.FIRMWARE.resolve() == FW
    from pumpside.card import apdu

    assert Path(apdu.__file__).resolve().is_relative_to(FW / "pumpside")


def test_only_the_package_is_importable_from_the_firmware_tree():
    """main.py and manifest.py are the board's entry point and the freeze manifest, not
    modules of the host."""
    import importlib.util

    assert importlib.util.find_spec("main") is None
    spec = importlib.util.find_spec("manifest")
    assert spec is None or not Path(spec.origin).resolve().is_relative_to(FW)


def test_freeze_manifest_freezes_the_package():
    text = (FW / "manifest.py").read_text()
    assert 'package("pumpside")' in text
    assert 'include("$(PORT_DIR)/boards/manifest.py")' in text


def test_a_frozen_build_carries_its_software_id(tmp_path, monkeypatch):
    """`pumpside freeze` writes pumpside/frozen_id.py; firmware frozen into an image (no
    files, own_root() None) takes its id from there, and refuses to sell without it."""
    import sys
    import types

    from pumpside import manifest
    from pumpside_host.build import freeze

    sid = freeze("esp32", tmp_path / "fz")
    text = (tmp_path / "fz" / "manifest.py").read_text()
    assert 'package("pumpside")' in text and 'module("board.py")' in text
    assert 'module("parts.py")' in text  # the shared drivers freeze with the board
    frozen = types.ModuleType("pumpside.frozen_id")
    exec((tmp_path / "fz" / "pumpside" / "frozen_id.py").read_text(), frozen.__dict__)
    assert frozen.SOFTWARE_ID == sid and "pumpside/meter.py" in frozen.FILES

    monkeypatch.setitem(sys.modules, "pumpside.frozen_id", frozen)
    monkeypatch.setattr(sys.modules["pumpside"], "frozen_id", frozen, raising=False)
    assert manifest.verify(None)["software_id"] == sid

    frozen.FILES = dict(frozen.FILES, **{"pumpside/meter.py": "0" * 64})  # not what it says
    try:
        manifest.verify(None)
        raise AssertionError("a frozen id that does not match its files was accepted")
    except manifest.ManifestError as e:
        assert "frozen_id" in str(e)

    monkeypatch.delitem(sys.modules, "pumpside.frozen_id")
    monkeypatch.delattr(sys.modules["pumpside"], "frozen_id")
    try:
        manifest.verify(None)
        raise AssertionError("a frozen build without its id was accepted")
    except manifest.ManifestError as e:
        assert "without frozen_id" in str(e)
