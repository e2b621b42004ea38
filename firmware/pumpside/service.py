"""Service operations for the technician's host tool, called over the REPL (mpremote exec)
while the app is stopped:

    from pumpside import service; service.config_set({"k_factor": 99502}, "2468", "tech7")

Each call prints its result as ONE JSON line, {"ok": true, ...} or {"ok": false,
"error": "...", "field": "..."}, and returns the same dict; a refused request never
raises out of the call. events() and journal_unsynced() print their records first, one
JSON line each, and the result line last.

Legally relevant parameters (LEGAL_PARAMS) change only with the service PIN and only
while the event log has room: each changed one is recorded in the event log (events.py)
BEFORE config.json is replaced (temp file + rename), and everything is validated before
anything is written. The price unit and the rounding are code constants (meter.py),
covered by the software id (manifest.py) rather than by this path. Secrets (the service
PIN, the terminal key) are never printed, logged or written to the event log.

Every call takes the board module (`import board` at the REPL, as main.py does; the
firmware never imports it): `config_path` defaults to its CONFIG_PATH (else
"config.json"), `flash_root` to its flash at /flash, mounted here if the app has not
mounted it (board.make_flash(): the flash role alone, no bench connection on the sim).
Tests pass both paths instead.
"""
import json

from . import config, manifest, storage
from . import events as evlog

LEGAL_PARAMS = ("k_factor", "slow_lead_ml")
PROTECTED = LEGAL_PARAMS + ("service_pin",)  # need the PIN; the PIN is never an event
MAX_CORRECTION_PCT = 5  # a proving run off by more is a fault, not a calibration
# a service PIN set now (a change, or provisioning) has 6-8 digits; config.py still loads
# the 4- and 5-digit PINs of configs already on devices, so those keep booting and working
NEW_PIN_MIN = 6
MOUNT = "/flash"


def _out(result):
    print(json.dumps(result))
    return result


def _refused(error, field=""):
    return {"ok": False, "error": error, "field": field}


def _masked(values):
    out = dict(values)
    for name in config.SECRETS:
        if name in out:
            out[name] = "***" if out[name] else ""
    return out


# -- where things are ------------------------------------------------------------------
# The board module is passed in (STYLE 1; the REPL caller imports it, as main.py does):
#   import board; from pumpside import service; service.info(board)
def config_path_default(board=None):
    return getattr(board, "CONFIG_PATH", None) or getattr(board, "config_path", None) \
        or "config.json"


def flash_root_default(board=None):
    """The board's flash at /flash, mounted now from the board's flash role if the app has
    not mounted it (board.make_flash() if the board has it: no other role is built)."""
    import vfs

    for _fs, path in vfs.mount():
        if path == MOUNT:
            return MOUNT
    if board is None:
        raise OSError("flash not mounted: pass the board module (import board)")
    make_flash = getattr(board, "make_flash", None)
    if make_flash is not None:
        flash = make_flash()
    else:
        flash = getattr(board, "flash", None) or board.make().flash
    return storage.mount(flash, MOUNT)[0].root


def _now(now):
    if now is None:
        import time

        now = int(time.time())
    return now


def _read_raw(path):
    """The config file's object, or None if there is no file (a device not provisioned)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    try:
        values = json.loads(text)
    except ValueError:
        raise config.ConfigError("(file)", "not valid JSON") from None
    if not isinstance(values, dict):
        raise config.ConfigError("(file)", "must be a JSON object")
    return values


def _open_log(flash_root, capacity):
    event_log = evlog.EventLog(storage.Paths(flash_root).events, capacity or evlog.CAPACITY)
    event_log.open()
    return event_log


# -- operations ------------------------------------------------------------------------
def info(board=None, config_path=None, flash_root=None, capacity=None, fw_root=None):
    """Version, software id and manifest check, config (no secrets), event counter."""
    try:
        result = {"ok": True, "version": manifest.VERSION, "software_id": None,
                  "manifest_ok": False}
        try:
            result["software_id"] = manifest.verify(fw_root or manifest.own_root())["software_id"]
            result["manifest_ok"] = True
        except manifest.ManifestError as e:
            result["manifest_error"] = str(e)
        if board is not None:
            result["board"] = getattr(board, "name", None) or getattr(
                getattr(board, "Board", None), "name", None)
        try:
            result["config"] = config.load(config_path or config_path_default(board)).as_dict()
        except config.ConfigError as e:
            result["config_error"] = str(e)
        flash_root = flash_root or flash_root_default(board)
        event_log = _open_log(flash_root, capacity)
        result.update({"event_count": event_log.count, "event_capacity": event_log.capacity,
                       "events_chain_ok": event_log.chain_ok,
                       "events_damaged": [list(damage) for damage in event_log.damaged]})
        result["journal_unsynced"] = _journal(flash_root).unsynced
        return _out(result)
    except Exception as e:  # noqa: BLE001 - a service call reports, never raises
        return _out(_refused("%s: %s" % (type(e).__name__, e)))


def config_get(board=None, config_path=None):
    try:
        path = config_path or config_path_default(board)
        raw = _read_raw(path)
        if raw is None:
            return _out(_refused("no config file " + path, "(file)"))
        try:
            values = config.Config(raw).as_dict(secrets=True)
        except config.ConfigError as e:
            result = _refused(str(e), e.field)
            result["config"] = _masked(raw)
            return _out(result)
        return _out({"ok": True, "config": _masked(values)})
    except config.ConfigError as e:
        return _out(_refused(str(e), e.field))
    except Exception as e:  # noqa: BLE001
        return _out(_refused("%s: %s" % (type(e).__name__, e)))


def config_set(changes, pin=None, who="", board=None, config_path=None, flash_root=None,
               now=None, capacity=None):
    """Merge `changes` into config.json: all validated first; legal fields need the PIN
    and an event record each. Result: {"ok", "changed", "events", "config"}."""
    try:
        return _out(_apply(changes, pin, who, board, config_path, flash_root, now, capacity))
    except config.ConfigError as e:
        return _out(_refused(str(e), e.field))
    except Exception as e:  # noqa: BLE001
        return _out(_refused("%s: %s" % (type(e).__name__, e)))


def _apply(changes, pin, who, board, config_path, flash_root, now, capacity, guard=None):
    """config_set's work; `guard`: a field whose change needs the PIN even when its value
    stays (calibrate asks for service mode whatever the result)."""
    if not isinstance(changes, dict):
        return _refused("changes must be a dict of field: value", "(changes)")
    path = config_path or config_path_default(board)
    current = _read_raw(path)
    provisioning = current is None  # no config yet: no PIN to ask for, nothing to guard
    current = current or {}
    merged = dict(current)
    merged.update(changes)
    cfg = config.Config(merged)  # ConfigError names the field; nothing written yet
    changed = [name for name in sorted(changes) if current.get(name) != merged[name]]
    if "service_pin" in changed and len(merged["service_pin"]) < NEW_PIN_MIN:
        return _refused("config service_pin: a new PIN must be %d-8 digits" % NEW_PIN_MIN,
                        "service_pin")
    legal = [name for name in changed if name in LEGAL_PARAMS]
    guarded = [name for name in changed if name in PROTECTED] or ([guard] if guard else [])
    if guarded and not provisioning:
        service_pin = current.get("service_pin")
        if not (isinstance(pin, str) and isinstance(service_pin, str)
                and config.same_secret(pin, service_pin)):
            return _refused("service mode required", guarded[0])
    numbers = []
    if legal:
        if not evlog.text_ok(who, evlog.WHO_MAX):
            return _refused("who: the technician id, 1-32 printable characters", "who")
        event_log = _open_log(flash_root or flash_root_default(board), capacity)
        if not event_log.chain_ok:
            return _refused("event log damaged at n=%d: service needed"
                            % event_log.damaged[0][0], legal[0])
        if event_log.room < len(legal):
            return _refused("event log full (%d records): legal changes refused"
                            % event_log.capacity, legal[0])
        when = _now(now)
        for name in legal:  # the record first: a cut after it leaves the old config
            old = current.get(name)
            numbers.append(event_log.append(when, who, name,
                                            old if isinstance(old, int) else None, merged[name]))
    if changed:
        storage.write_json(path, merged)
    return {"ok": True, "changed": changed, "events": numbers,
            "config": _masked(cfg.as_dict(secrets=True))}


def calibrate(proved_ml, metered_ml, pin=None, who="", board=None, config_path=None,
              flash_root=None, now=None, capacity=None):
    """New K-factor from a proving run: the pump metered `metered_ml`, the proving can
    holds `proved_ml`. new = round-half-up(old * metered / proved), through the legal
    change path. Result: {"ok", "old_k_factor", "new_k_factor", "events"}."""
    try:
        for name, value in (("proved_ml", proved_ml), ("metered_ml", metered_ml)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                return _out(_refused("must be a positive integer (ml)", name))
        if abs(metered_ml - proved_ml) * 100 > MAX_CORRECTION_PCT * proved_ml:
            return _out(_refused("correction over %d %%: a meter fault, not a calibration"
                                 % MAX_CORRECTION_PCT, "metered_ml"))
        path = config_path or config_path_default(board)
        cfg = config.load(path)
        old = cfg.k_factor
        new = (2 * old * metered_ml + proved_ml) // (2 * proved_ml)
        result = _apply({"k_factor": new}, pin, who, board, path, flash_root, now, capacity,
                        "k_factor")
        if result["ok"]:
            result = {"ok": True, "old_k_factor": old, "new_k_factor": new,
                      "events": result["events"]}
        return _out(result)
    except config.ConfigError as e:
        return _out(_refused(str(e), e.field))
    except Exception as e:  # noqa: BLE001
        return _out(_refused("%s: %s" % (type(e).__name__, e)))


def events(n_from=1, board=None, flash_root=None, capacity=None):
    """Every event record from n_from on, one JSON line each, then
    {"ok", "count" (the event counter), "shown", "chain_ok", "damaged"}."""
    try:
        event_log = _open_log(flash_root or flash_root_default(board), capacity)
        shown = 0
        for item in event_log.records(n_from):
            print(json.dumps(item))
            shown += 1
        return _out({"ok": True, "count": event_log.count, "shown": shown,
                     "capacity": event_log.capacity, "chain_ok": event_log.chain_ok,
                     "damaged": [list(damage) for damage in event_log.damaged]})
    except Exception as e:  # noqa: BLE001
        return _out(_refused("%s: %s" % (type(e).__name__, e)))


def _journal(flash_root):
    from .journal import Journal

    journal = Journal(storage.Paths(flash_root).journal)
    journal.open()
    return journal


def journal_unsynced(board=None, flash_root=None):
    """Every journal record after the ack cursor, one JSON line each, then
    {"ok", "count", "ack", "next_seq", "corrupt"}."""
    try:
        from . import record as rec

        journal = _journal(flash_root or flash_root_default(board))
        count = 0
        for seq, rtype, payload in journal.read(journal.ack_seq):
            print(json.dumps(rec.to_json(seq, rtype, payload)))
            count += 1
        return _out({"ok": True, "count": count, "ack": journal.ack_seq,
                     "next_seq": journal.next_seq,
                     "corrupt": [list(entry) for entry in journal.corrupt]})
    except Exception as e:  # noqa: BLE001
        return _out(_refused("%s: %s" % (type(e).__name__, e)))
