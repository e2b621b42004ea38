"""What the station may do to the pump, through the link: a new price table (with this
nozzle's grade), a hotlist delta or part, a command, the time, non-legal parameters.
Loaded with the link only (link.py imports it), so a pump without a station carries none
of this code; each function takes the Pump (app.py) and answers (ok, why) where the
station expects an answer. Every download is applied all or nothing: a half-applied
price table or hotlist never exists.
"""
import json
import os

from . import config, dispenser, log
from .compat import ticks_ms

CLOCK_MIN = 1577836800  # 2020-01-01: a station time before it is not a time
CLOCK_STEP_S = 2  # the clock is set when the station's time is further off than this
CLOCK_DRIFT_S = 300  # a clock that cannot be set is untrusted beyond this


def grade_of(pump, nozzles):
    """This nozzle's grade from the station's map {nozzle: grade} (PRICES' nozzles), or the
    one it has; None when the map names one that is no grade code."""
    grade = pump.cfg.grade
    if isinstance(nozzles, dict):
        grade = nozzles.get(str(pump.cfg.nozzle), grade)
    return grade if isinstance(grade, str) and 0 < len(grade) <= 8 else None


def price_of(grades, grade):
    price = grades.get(grade) if isinstance(grades, dict) and grade else None
    return price if isinstance(price, int) and 0 < price <= 10000000 else None


def apply_prices(pump, version, grades, nozzles=None):
    """A new price table: this nozzle's grade (the station's map may name another) and its
    price apply from the next authorisation on; the sale in progress keeps the price it
    was authorised at. Written to flash first (temp file + rename), so a cut leaves the
    old table or the new, never half; the grade and its price change together."""
    grade = grade_of(pump, nozzles)
    price = price_of(grades, grade)
    if price is None:
        return False, "no valid price for grade %s" % grade
    path = pump._prices_path()
    try:
        with open(path + ".new", "w") as f:
            f.write(json.dumps({"version": version, "price": price, "grade": grade}))
        os.rename(path + ".new", path)
    except OSError as e:
        return False, "flash: %s" % e
    pump.cfg.price = price
    pump.cfg.grade = grade
    pump.prices_version = version
    log.event("price", {"version": version, "price": price, "grade": grade})
    pump.show(ticks_ms())
    return True, ""


# never from the station: the legal ones (service.LEGAL_PARAMS, under the service PIN and
# the event log), the secrets, the nozzle's grade and price (PRICES) and the link itself
REFUSED_PARAMS = ("k_factor", "slow_lead_ml", "service_pin", "terminal_key", "price",
                  "grade", "nozzle", "station_addr", "terminal_id", "station_tls",
                  "station_ca")


def apply_params(pump, version, values, path):
    """Non-legal parameters from the station (PARAMS), all or nothing: config.json with
    them is validated whole (config.Config) before it is written (temp file + rename); the
    pump runs on the config it booted with and takes them at the next boot. `path` keeps
    the version (HELLO's params_version), written after config.json: a cut between the two
    only makes the station send the same version again."""
    for name in values:
        if name in REFUSED_PARAMS:
            return False, name + ": not settable by the station"
    cfg_path = pump.board.config_path
    try:
        with open(cfg_path) as f:
            raw = json.loads(f.read())
        raw.update(values)
        config.Config(raw)  # every field, as the next boot will check them
        for p, data in ((cfg_path, raw), (path, {"version": version})):
            with open(p + ".tmp", "w") as f:
                f.write(json.dumps(data))
            os.rename(p + ".tmp", p)
    except config.ConfigError as e:  # names the field, never a value
        return False, str(e)
    except (OSError, ValueError, AttributeError) as e:
        return False, "config.json: %s" % e
    log.event("params", {"version": version, "names": sorted(values), "at": "next boot"})
    return True, "from the next boot"


def command(pump, cmd):
    """A station command (IFSF): stop/terminate ends the delivery in progress, which
    settles as usual; suspend/resume close/open the pump to new sales; lock/unlock."""
    now = ticks_ms()
    core = pump.core
    if cmd == "stop" or cmd == "terminate":
        core.cancel(now, dispenser.STOP_REMOTE)
    elif cmd == "suspend":
        pump.suspended = True
    elif cmd == "resume":
        pump.suspended = False
    elif cmd == "lock":
        if core.state != dispenser.IDLE:
            return False, "busy: stop first"
        core._lock(dispenser.STOP_REMOTE)
    elif cmd == "unlock":
        core.clear_lock(now)
    else:
        return False, "unknown command"
    pump.show(now)
    return True, ""


def hotlist_version(pump):
    """The hotlist version this pump holds; None when it keeps no hotlist (attended:
    the station then sends none)."""
    if pump.desk is None:
        return None
    return getattr(pump.desk.hotlist, "version", 0)  # 0: damaged, needs a full list


def hotlist_damaged(pump):
    """The list found damaged at boot (it refuses every card): only a full list
    replaces it."""
    return pump.desk is not None and not hasattr(pump.desk.hotlist, "apply")


def apply_hotlist(pump, from_version, to_version, add, remove):
    """A hotlist delta from the station (card numbers as 8 bytes), all or nothing."""
    hl = pump.desk.hotlist if pump.desk is not None else None
    if not hasattr(hl, "apply"):
        return False, "hotlist damaged: a full list is needed"
    try:
        hl.apply(from_version, to_version, add, remove)
    except (OSError, ValueError) as e:  # HotlistError is a ValueError
        return False, str(e)
    log.event("hotlist", {"version": hl.version, "entries": hl.listed_count(),
                          "add": len(add), "remove": len(remove)})
    return True, ""


def stage_hotlist(pump, version, part, more, cards):
    """One part of a full hotlist: staged beside the list in use, swapped in with the
    last part (a damaged list is replaced this way too)."""
    if pump.desk is None:
        return False, "no hotlist here"
    hl = pump.desk.hotlist
    if not hasattr(hl, "stage"):  # damaged at boot: a new list replaces it
        from .hotlist import Hotlist

        hl = pump._new_hotlist or Hotlist(pump.journal.root.rsplit("/", 1)[0] + "/hotlist")
        pump._new_hotlist = hl
    try:
        hl.stage(version, cards, part == 0, not more)
    except (OSError, ValueError) as e:
        return False, str(e)
    if not more:
        pump.desk.hotlist = hl
        pump._new_hotlist = None
        log.event("hotlist", {"version": hl.version, "entries": hl.listed_count(),
                              "full": True})
    return True, ""


def station_time(pump, t):
    """The station's time (WELCOME, HEARTBEAT): the clock is set from it when it is
    off by more than CLOCK_STEP_S, and trusted from then on in this boot - offline
    too (an RTC drifts seconds a day; the boards keep no time without power, so a
    boot starts untrusted). A clock that cannot be set and is off by more than
    CLOCK_DRIFT_S is untrusted until the station's time agrees with it."""
    if not isinstance(t, int) or t < CLOCK_MIN:
        return
    clock = pump.board.clock
    off = t - clock.time()
    if -CLOCK_STEP_S <= off <= CLOCK_STEP_S:
        pass
    elif hasattr(clock, "set"):
        clock.set(t)
        log.event("clock_set", {"time": t, "was_off_s": off})
    elif not -CLOCK_DRIFT_S <= off <= CLOCK_DRIFT_S:
        if pump.clock_synced is not None:
            log.event("clock_untrusted", {"off_s": off})
        pump.clock_synced = None
        return
    if pump.clock_synced is None:
        log.event("clock_trusted", {"time": t})
    pump.clock_synced = ticks_ms()
