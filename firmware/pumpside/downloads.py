"""What the station may do to the pump, through the link: a new price table, a hotlist
delta or part, a command, the time, non-legal parameters. Loaded with the link only
(link.py imports it), so a pump without a station carries none of this code. Each
function takes the Pump (app.py), changes it only through its parts' named methods
(terminal.py, prices.py, hotlist.py) and answers (ok, why) where the station expects an
answer. Every download is applied all or nothing: a half-applied price table or hotlist
never exists.
"""
from . import config, log, storage
from .compat import ticks_ms

CLOCK_MIN = 1577836800  # 2020-01-01: a station time before it is not a time
CLOCK_STEP_S = 2  # the clock is set when the station's time is further off than this
CLOCK_DRIFT_S = 300  # a clock that cannot be set is untrusted beyond this

# never from the station: the legal ones (service.LEGAL_PARAMS, under the service PIN and
# the event log), the secrets, the nozzle's grade and price (PRICES) and the link and the
# network it runs on (a station could cut itself off)
REFUSED_PARAMS = ("k_factor", "slow_lead_ml", "service_pin", "terminal_key", "price",
                  "grade", "nozzle", "station_addr", "terminal_id", "station_tls",
                  "station_ca", "net_kind", "wlan_ssid", "wlan_pass")


def apply_prices(pump, version, grades, nozzles, at):
    """A price table (this nozzle's grade from the station's map, and its price), in
    force from the next sale on or waiting for `at` (prices.PriceBook)."""
    return pump.take_prices(version, grades, nozzles, at)


def apply_params(pump, version, values):
    """Non-legal parameters from the station (PARAMS), all or nothing: config.json with
    them is validated whole (config.Config) before it is written; the pump runs on the
    config it booted with and takes them at the next boot. The version (HELLO's
    params_version) is written after config.json: a cut between the two only makes the
    station send the same version again."""
    for name in values:
        if name in REFUSED_PARAMS:
            return False, name + ": not settable by the station"
    cfg_path = pump.board.config_path
    raw = storage.read_json(cfg_path)
    if not isinstance(raw, dict):
        return False, "config.json: unreadable"
    raw.update(values)
    try:
        config.Config(raw)  # every field, as the next boot will check them
        storage.write_json(cfg_path, raw)
        storage.write_json(pump.paths.params, {"version": version})
    except config.ConfigError as e:  # names the field, never a value
        return False, str(e)
    except OSError as e:
        return False, "config.json: %s" % e
    log.event("params", {"version": version, "names": sorted(values), "at": "next boot"})
    return True, "from the next boot"


def command(pump, cmd):
    """A station command (IFSF): stop/terminate ends the delivery in progress, which
    settles as usual; suspend/resume close/open the pump to new sales; lock/unlock (the
station's own lock only: a safety lock is refused, terminal.unlock)."""
    terminal = pump.terminal
    ok, why = True, ""
    if cmd == "stop" or cmd == "terminate":
        terminal.stop()
    elif cmd == "suspend":
        terminal.suspend()
    elif cmd == "resume":
        terminal.resume()
    elif cmd == "lock":
        ok, why = terminal.lock()
    elif cmd == "unlock":
        ok, why = terminal.unlock()
    else:
        return False, "unknown command"
    pump.show(ticks_ms())
    return ok, why


def hotlist_version(pump):
    """The hotlist version this pump holds (0: damaged, send a full list); None when it
    keeps no hotlist (attended: the station then sends none)."""
    return pump.hotlist.version if pump.hotlist is not None else None


def hotlist_damaged(pump):
    """The list was found damaged at boot (it refuses every card): only a full list
    replaces it."""
    return pump.hotlist is not None and pump.hotlist.damaged


def apply_hotlist(pump, from_version, to_version, add, remove):
    """A hotlist delta from the station (card numbers as 8 bytes), all or nothing."""
    hotlist = pump.hotlist
    if hotlist is None:
        return False, "no hotlist here"
    try:
        hotlist.apply(from_version, to_version, add, remove)
    except (OSError, ValueError) as e:  # HotlistError is a ValueError
        return False, str(e)
    log.event("hotlist", {"version": hotlist.version, "entries": hotlist.listed_count(),
                          "add": len(add), "remove": len(remove)})
    return True, ""


def stage_hotlist(pump, version, part, more, cards):
    """One part of a full hotlist: staged beside the list in use, in force with the last
    part (a damaged list is replaced this way too)."""
    hotlist = pump.hotlist
    if hotlist is None:
        return False, "no hotlist here"
    try:
        hotlist.stage(version, cards, part == 0, not more)
    except (OSError, ValueError) as e:
        return False, str(e)
    if not more:
        log.event("hotlist", {"version": hotlist.version, "entries": hotlist.listed_count(),
                              "full": True})
    return True, ""


def station_time(pump, when):
    """The station's time (WELCOME, HEARTBEAT): the clock is set from it when it is
    off by more than CLOCK_STEP_S, and trusted from then on in this boot - offline
    too (an RTC drifts seconds a day; the boards keep no time without power, so a
    boot starts untrusted). A clock that cannot be set and is off by more than
    CLOCK_DRIFT_S is untrusted until the station's time agrees with it."""
    if not isinstance(when, int) or when < CLOCK_MIN:
        return
    clock = pump.board.clock
    terminal = pump.terminal
    offset_s = when - clock.time()
    if -CLOCK_STEP_S <= offset_s <= CLOCK_STEP_S:
        pass
    elif hasattr(clock, "set"):
        clock.set(when)
        log.event("clock_set", {"time": when, "was_off_s": offset_s})
    elif not -CLOCK_DRIFT_S <= offset_s <= CLOCK_DRIFT_S:
        if terminal.clock_trusted():
            log.event("clock_untrusted", {"off_s": offset_s})
        terminal.trust_clock(False)
        return
    if not terminal.clock_trusted():
        log.event("clock_trusted", {"time": when})
    terminal.trust_clock(True)
