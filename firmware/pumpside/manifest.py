"""The firmware's manifest: each file's sha256 and the software identification.

`pumpside flash` (and every build of host_tools/pumpside_host/build.py) writes
`manifest.json` beside the firmware's files on the device:

    {"version": "pumpside-0.5", "files": {"pumpside/meter.mpy": "<sha256 hex>", ...},
     "software_id": "<16 hex>"}

The software id (WELMEC 7.2 / OIML D31: identification shown on demand) is a hash over
the legally relevant files, the ones that meter, price, journal and transmit a sale:
any change to one of them changes the id. At boot the firmware hashes every file the
manifest lists; a file that does not match (or is missing) closes the pump, naming it.
The host computes the id with this module too: one definition for both ends.
"""
import hashlib
import json

VERSION = "pumpside-0.5"
NAME = "manifest.json"

# legally relevant modules (DOMAIN.md §3): metering, price arithmetic, the sale's records
# and their transmission, the legal parameters and their event log; by module name, so
# the id means the same whether a device holds .py or .mpy files
LEGAL = ("app", "config", "dispenser", "escapes", "events", "journal", "manifest", "meter",
         "protocol", "record", "sale", "service", "settlement")

_CHUNK = 512


class ManifestError(Exception):
    pass


def is_legal(name):
    """True for a manifest path of a legally relevant module ("pumpside/meter.mpy")."""
    if not name.startswith("pumpside/") or name.count("/") != 1:
        return False
    return name[9:].rsplit(".", 1)[0] in LEGAL


def file_hash(path):
    sha256 = hashlib.sha256()
    buf = bytearray(_CHUNK)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            sha256.update(buf if n == _CHUNK else buf[:n])
    return _hex(sha256.digest())


def _hex(raw):
    return "".join("%02x" % b for b in raw)


def software_id(files):
    """16 hex digits over the legally relevant entries of {path: sha256 hex}."""
    sha256 = hashlib.sha256()
    for name in sorted(files):
        if is_legal(name):
            sha256.update((name + ":" + files[name] + "\n").encode())
    return _hex(sha256.digest())[:16]


def make(files):
    """The manifest for {path: sha256 hex}."""
    return {"version": VERSION, "files": files, "software_id": software_id(files)}


def own_root():
    """The folder this firmware runs from (it holds pumpside/ and manifest.json), found
    from this module's file; None for firmware frozen into the image, which has no files."""
    path = globals().get("__file__")
    if not path:
        return None
    parts = path.rsplit("/", 2)
    return parts[0] if len(parts) == 3 else "."


def load(root):
    try:
        with open(root + "/" + NAME) as f:
            data = json.loads(f.read())
    except OSError:
        raise ManifestError("no manifest.json: firmware not flashed by pumpside flash") from None
    except ValueError:
        raise ManifestError("manifest.json is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ManifestError("manifest.json has no file list")
    return data


def frozen():
    """The identity of firmware frozen into the image: `pumpside freeze` writes
    pumpside/frozen_id.py (the software id over the frozen sources) into the package it
    freezes. The image is flash the firmware cannot write, so there is no file to hash
    at boot; without that module a frozen build has no id and may not sell."""
    try:
        from . import frozen_id
    except ImportError:
        raise ManifestError("frozen firmware without frozen_id: build it with "
                            "pumpside freeze") from None
    files = frozen_id.FILES
    if frozen_id.SOFTWARE_ID != software_id(files):
        raise ManifestError("software altered: frozen_id does not match its files")
    return {"version": frozen_id.VERSION, "files": files, "software_id": frozen_id.SOFTWARE_ID,
            "frozen": True}


def verify(root):
    """The manifest at `root` after checking every file it lists against its hash;
    ManifestError naming the first file that is missing or altered. `root` None (frozen
    firmware): the identity frozen with it."""
    if root is None:
        return frozen()
    data = load(root)
    files = data["files"]
    for name in sorted(files):
        try:
            actual = file_hash(root + "/" + name)
        except OSError:
            raise ManifestError("software altered: " + name + " missing") from None
        if actual != files[name]:
            raise ManifestError("software altered: " + name + " does not match its hash")
    if data.get("software_id") != software_id(files):
        raise ManifestError("software altered: the software id does not match the files")
    return data
