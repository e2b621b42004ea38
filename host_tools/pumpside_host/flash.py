"""`pumpside flash`: put a board's firmware onto a device and prove it is there.

1. build: mpy-cross over firmware/ and the board's modules (build.py), with the
   manifest (each file's sha256, the software id);
2. compare: the device's own hashes of those files, in one call;
3. copy what differs (only that: a re-flash of one changed module copies one file),
   each through a temporary name, and remove the files an older firmware left behind;
4. manifest.json last: a device cut off mid-flash holds files that do not match its
   manifest, and its firmware refuses to sell (app.py) until the flash is finished;
5. verify: read every hash back from the device against the manifest;
6. reset, and report the software id the firmware says it booted with.
"""
import json
import sys

from . import build as builder
from .device import DeviceError

OWNED = ("pumpside/",)  # folders the firmware owns on the device: stale files there go


def _progress(done, total, name, out):
    width = 24
    fill = width * done // total if total else width
    out.write("\r[%s%s] %d/%d %-28s" % ("#" * fill, "." * (width - fill), done, total,
                                        name[-28:]))
    out.flush()


def flash(dev, board="sim", out=sys.stderr, reset=True):
    """Flash `dev` (a device.Device); a report dict."""
    root = builder.build(board)
    manifest = json.loads((root / "manifest.json").read_text())
    files = manifest["files"]
    old = dev.hashes(list(files) + ["manifest.json"])
    changed = [p for p in sorted(files) if old.get(p) != files[p]]
    stale = []
    try:
        previous = json.loads(dev.read("manifest.json")) if old.get("manifest.json") else {}
    except (DeviceError, ValueError):
        previous = {}
    keep = set(files) | {"manifest.json"}
    for path in dev.files("", deep=False) + [p for d in OWNED for p in dev.files(d[:-1])]:
        if path in keep:
            continue
        if path.startswith(OWNED) or path in previous.get("files", {}):
            stale.append(path)
    total = sum(len((root / p).read_bytes()) for p in changed)
    done = 0
    for path in changed:
        _progress(done, total, path, out)
        data = (root / path).read_bytes()
        dev.write(path, data)
        done += len(data)
    _progress(total, total, "copied", out)
    out.write("\n")
    for path in stale:
        dev.remove(path)
    dev.write("manifest.json", (root / "manifest.json").read_bytes())
    got = dev.hashes(list(files) + ["manifest.json"])
    bad = [p for p in files if got.get(p) != files[p]]
    mf_hash = builder.hashlib.sha256((root / "manifest.json").read_bytes()).hexdigest()
    if bad or got.get("manifest.json") != mf_hash:
        raise DeviceError("verification failed: %s differ on the device after the copy; "
                          "flash again" % ", ".join(bad or ["manifest.json"]))
    report = {"board": board, "files": len(files), "copied": changed, "removed": stale,
              "software_id": manifest["software_id"], "version": manifest["version"],
              "booted": None}
    if reset:
        report["booted"] = dev.reset()
    return report
