"""The technician's commands (`pumpside flash|info|provision|config|calibrate|logs|journal`
and `pumpside vboard`), over the device's USB serial through mpremote's transport
(device.py). Every change goes through the firmware's own service calls, which validate
it before anything is written (firmware/pumpside/service.py)."""
import json
import os
import sys


def _pin(args):
    pin = os.environ.get("PUMPSIDE_SERVICE_PIN")
    if pin is None:
        import getpass

        pin = getpass.getpass("service PIN: ")
    return pin


def _wlan_pass():
    """The WLAN passphrase: $PUMPSIDE_WLAN_PASS, else asked for without echo (never on the
    command line, where shells and process lists keep it); empty: an open network."""
    passphrase = os.environ.get("PUMPSIDE_WLAN_PASS")
    if passphrase is None:
        import getpass

        passphrase = getpass.getpass("WLAN passphrase (empty: an open network): ")
    return passphrase


def _device(args):
    from .device import Device

    return Device(args.port)


def _refusal(result):
    field = result.get("field")
    print("refused: %s%s" % (result.get("error"), " (field %s)" % field if field else ""),
          file=sys.stderr)
    return 1


def _cmd_vboard(args):
    """A virtual board to flash and service, its REPL on a pty, until ^C."""
    import time

    from .vboard import VirtualPump

    os.makedirs(args.dir, exist_ok=True)
    pump = VirtualPump(device_dir=args.dir, repl=True, echo=args.echo)
    # a new board gets the bench's default config; a kept one keeps its own
    pump.start(write_config=not os.path.exists(os.path.join(args.dir, "config.json")))
    print("virtual board: port %s, files in %s (^C ends it)" % (pump.port, args.dir), flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        pump.stop()
    return 0


def _cmd_flash(args):
    from .flash import flash

    with _device(args) as dev:
        report = flash(dev, board=args.board)
    print("flashed %s: %d files, %d copied, %d removed; software id %s (%s)" % (
        report["board"], report["files"], len(report["copied"]), len(report["removed"]),
        report["software_id"], report["version"]))
    return _booted(report["booted"], report["software_id"])


def _booted(booted, software_id=None):
    """Report how the firmware came back after a reset; the exit code."""
    if booted is None:
        print("the device did not report its boot: check its console", file=sys.stderr)
        return 2
    if booted["event"] != "boot":
        print("the device booted closed: %s" % booted.get("why"), file=sys.stderr)
        return 1
    if software_id and booted.get("software_id") != software_id:
        print("the device reports software id %s" % booted.get("software_id"), file=sys.stderr)
        return 1
    print("booted: software id %s" % booted.get("software_id"))
    return 0


def _service(args, call, files=None):
    """One service call (after writing `files`, {device path: bytes}); then the board is
    reset, so the firmware (interrupted by the REPL) boots again and sells with whatever
    changed. A boot that ends closed (or not at all) is said on stderr;
    `result["_booted"]` is _booted()'s exit code."""
    with _device(args) as dev:
        for path, data in (files or {}).items():
            dev.write(path, data)
        result = dev.service(call)
        booted = dev.reset()
    if booted is None or booted["event"] != "boot":
        result["_booted"] = _booted(booted)
    return result


def _cmd_freeze(args):
    from .build import freeze

    sid = freeze(args.board, args.out)
    print("frozen tree for %s in %s: software id %s (build it with FROZEN_MANIFEST=%s/"
          "manifest.py; copy main.py as a file)" % (args.board, args.out, sid, args.out))
    return 0


def _cmd_reset(args):
    with _device(args) as dev:
        return _booted(dev.reset())


def _cmd_info(args):
    result = _service(args, "info(board)")
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0 if result.get("ok") and result.get("manifest_ok") else 1


def assignments(items):
    """{name: value} from NAME=VALUE words, each typed as config.py's table says (the
    device's `config set` and the station's `params --set` alike); ValueError says why."""
    out = {}
    for item in items:
        name, eq, text = item.partition("=")
        if not eq:
            raise ValueError("%r: give NAME=VALUE" % item)
        out[name] = _typed(name, text)
    return out


def _typed(name, text):
    """A config value from the command line, typed as config.py's table says."""
    from pumpside.config import field

    spec = field(name)
    if spec is None:
        raise ValueError("unknown field %s" % name)
    if spec[0] is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("%s must be an integer" % name) from None
    return text


def _cmd_config(args):
    if args.action == "get":
        result = _service(args, "config_get(board)")
        if not result.get("ok"):
            return _refusal(result)
        values = result.get("config", {})
        names = args.items or sorted(values)
        for name in names:
            if name not in values:
                print("error: no field %s" % name, file=sys.stderr)
                return 2
            print("%s=%s" % (name, json.dumps(values[name])))
        return 0
    try:
        # `wlan_pass` without a value: read by _wlan_pass, never from the command line
        changes = assignments(item for item in args.items if item != "wlan_pass")
        if "wlan_pass" in args.items:
            changes["wlan_pass"] = _wlan_pass()
    except ValueError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    from pumpside.service import PROTECTED as legal
    pin = _pin(args) if any(n in legal for n in changes) else None
    result = _service(args, "config_set(%r, %r, %r, board)" % (changes, pin, args.who))
    if not result.get("ok"):
        return _refusal(result)
    print("set %s; the device restarted with it" % ", ".join(sorted(changes)))
    return result.get("_booted", 0)


STATION_CA = "station_ca.der"  # the station's CA certificate on the device (station_ca)


def station_pin(db, plain=False):
    """(config changes, files {device path: bytes}) that pin the station whose database
    is `db` on a terminal: its CA certificate (DER; the CA is made here if the station
    has not started yet) and TLS on. `plain`: station_tls=0, the unencrypted link that
    only the station's --plain-port takes. TlsFilesError when the CA cannot be read."""
    if plain:
        return {"station_tls": 0, "station_ca": ""}, {}
    from .station.tls import station_tls

    return ({"station_tls": 1, "station_ca": STATION_CA},
            {STATION_CA: station_tls(db).ca_der()})


def _cmd_provision(args):
    """Terminal id, station address and a new per-terminal key: generated here, sent to
    the device once and registered with the station, never printed; the station's CA
    pinned on the device (station_pin). With --wlan-ssid, the network the board joins,
    its passphrase read by _wlan_pass (never printed either)."""
    import secrets

    from .station.ledger import Ledger
    from .station.tls import TlsFilesError, station_tls

    key = secrets.token_bytes(32)
    changes = {"terminal_id": args.terminal_id, "station_addr": args.station,
               "terminal_key": key.hex()}
    if args.nozzle:
        changes["nozzle"] = args.nozzle
    if args.grade:
        changes["grade"] = args.grade
    if args.net_kind is not None:
        changes["net_kind"] = args.net_kind
    if args.wlan_ssid is not None:
        changes["wlan_ssid"] = args.wlan_ssid
        changes["wlan_pass"] = _wlan_pass()
    try:
        pinned, files = station_pin(args.db, args.plain)
        names = [] if args.plain else station_tls(args.db).names()
    except TlsFilesError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    changes.update(pinned)
    host = args.station.rpartition(":")[0]
    if names and host not in names:
        print("warning: the station's certificate names %s, not %s: the terminal will refuse "
              "it until the station is started with --tls-name %s" % (", ".join(names), host,
                                                                       host), file=sys.stderr)
    from .station.keyring import StationKeyError
    from .station.service import Actor, Service

    try:
        ledger = Ledger(args.db)  # the station knows the key before the terminal uses it
    except StationKeyError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    try:  # audited as the technician, a local operator
        Service(ledger).add_terminal(Actor.local(args.who), args.terminal_id, key)
    finally:
        ledger.close()
    result = _service(args, "config_set(%r, None, %r, board)" % (changes, args.who), files)
    if not result.get("ok"):
        return _refusal(result)
    print("provisioned %s for station %s: key sent to the device and the station (not shown)"
          "; %s" % (args.terminal_id, args.station, "PLAIN TCP (unencrypted)" if args.plain
                    else "TLS, the station's CA pinned"))
    if args.wlan_ssid is not None:
        print("WLAN %s: passphrase sent to the device (not shown)" % args.wlan_ssid)
    return result.get("_booted", 0)


def _cmd_calibrate(args):
    """K-factor from a proving run: the pump metered `metered_ml` into a proving can that
    reads `proved_ml`; the device computes the new K-factor in integers and records it."""
    result = _service(args, "calibrate(%d, %d, %r, %r, board)"
                      % (args.proved_ml, args.metered_ml, _pin(args), args.who))
    if not result.get("ok"):
        return _refusal(result)
    print("K-factor %s -> %s (proved %d ml, metered %d ml); event %s recorded" % (
        result["old_k_factor"], result["new_k_factor"], args.proved_ml, args.metered_ml,
        ",".join(str(n) for n in result.get("events", []))))
    return result.get("_booted", 0)


def _dump(args, call):
    with _device(args) as dev:
        items, result = dev.lines("import board\nfrom pumpside import service\nservice."
                                  + call, timeout=300)
        dev.reset()
    if not result.get("ok"):
        return _refusal(result)
    out = open(args.output, "w") if args.output else sys.stdout
    try:
        for item in items:
            out.write(json.dumps(item, sort_keys=True) + "\n")
    finally:
        if args.output:
            out.close()
    print("%d records%s" % (len(items), " to " + args.output if args.output else ""),
          file=sys.stderr)
    damaged = result.get("damaged") or result.get("corrupt")
    if damaged or result.get("chain_ok") is False:
        print("warning: damaged records on the device: %s" % (damaged,), file=sys.stderr)
        return 1
    return 0


def _cmd_logs(args):
    return _dump(args, "events(1, board)")


def _cmd_journal(args):
    return _dump(args, "journal_unsynced(board)")


def add_commands(sub):
    cmd = sub.add_parser("vboard", help="a virtual board with its REPL on a pty, for mpremote")
    cmd.add_argument("--dir", default="run/vboard", help="the device's files (kept)")
    cmd.add_argument("--echo", action="store_true", help="print its console too")
    cmd.set_defaults(func=_cmd_vboard)

    cmd = sub.add_parser("freeze", help="a tree to freeze into a custom MicroPython image")
    cmd.add_argument("--board", default="esp32")
    cmd.add_argument("--out", default="build/freeze")
    cmd.set_defaults(func=_cmd_freeze)

    def device_cmd(name, func, help):
        cmd = sub.add_parser(name, help=help)
        cmd.add_argument("--port", required=True, help="the device's serial port "
                         "(/dev/ttyUSB0, or the pty `pumpside vboard` prints)")
        cmd.add_argument("--who", default=os.environ.get("USER", "technician"),
                         help="technician id for the event log")
        cmd.set_defaults(func=func)
        return cmd

    cmd = device_cmd("flash", _cmd_flash, "build, copy what changed, verify the hashes, reset")
    cmd.add_argument("--board", default="sim", help="boards/<name>: sim, esp32, rp2")
    device_cmd("reset", _cmd_reset, "restart the firmware (soft reset) and show its boot")
    device_cmd("info", _cmd_info, "software id, manifest check, config, event counter")
    cmd = device_cmd("provision", _cmd_provision, "terminal id, station, a new terminal key")
    cmd.add_argument("--terminal-id", required=True)
    cmd.add_argument("--station", required=True, help="the station's host:port")
    cmd.add_argument("--db", required=True, help="the station's SQLite file (gets the key)")
    cmd.add_argument("--nozzle", type=int)
    cmd.add_argument("--grade")
    cmd.add_argument("--wlan-ssid", help="the WLAN the board joins; its passphrase from "
                     "$PUMPSIDE_WLAN_PASS or asked for")
    cmd.add_argument("--net-kind", choices=("wlan", "lan8720", "w5500"),
                     help="the board's network, where it has more than one (docs/boards.md)")
    cmd.add_argument("--plain", action="store_true", help="unencrypted link (station_tls=0) "
                     "to the station's --plain-port instead of TLS with its CA pinned")
    cmd = device_cmd("config", _cmd_config, "read or change the device's parameters")
    cmd.add_argument("action", choices=("get", "set"))
    cmd.add_argument("items", nargs="*", help="get: NAME ...; set: NAME=VALUE ... (wlan_pass "
                     "alone: the passphrase from $PUMPSIDE_WLAN_PASS or asked for)")
    cmd = device_cmd("calibrate", _cmd_calibrate, "new K-factor from a proving run")
    cmd.add_argument("--proved-ml", type=int, required=True, help="the proving can's reading")
    cmd.add_argument("--metered-ml", type=int, required=True,
                     help="what the pump showed for the proving run")
    cmd = device_cmd("logs", _cmd_logs, "copy the metrology event log off the device")
    cmd.add_argument("-o", "--output")
    cmd = device_cmd("journal", _cmd_journal, "copy the unsynced journal records off")
    cmd.add_argument("action", choices=("pull",))
    cmd.add_argument("-o", "--output")
