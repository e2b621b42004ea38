"""`pumpside` command line: a command table in mpremote's manner.

  pumpside run [--auto] [--litres N] [--lpm F] [--keep]
                                                 the virtual pump: a console to play it
                                                 (or, --auto / no terminal, a watchable sale)
  pumpside campaign [--cuts N] [--seed S] [--cards]  power-cut campaign on the virtual pump
  pumpside netcampaign [--faults N] [--seed S]   network-fault campaign (pump <-> station)
  pumpside cards issue|list --store FILE ...     test fuel cards for the bench
  pumpside station serve|terminal-add|sales|price|hotlist|command|pumps|totals|events|
                   params|nozzle --db FILE ...
                                                 the reference station server and its admin
  pumpside vboard [--dir D]                      a virtual board: its REPL on a pty
  pumpside flash --port P [--board B]            build, copy what changed, verify, reset
  pumpside info|reset --port P                   software id, manifest check, config; reboot
  pumpside freeze --board B --out D              a tree to freeze into an image, with its id
  pumpside provision --port P --terminal-id T --station HOST:PORT --db FILE
                     [--wlan-ssid SSID] [--net-kind wlan|lan8720|w5500]
  pumpside config get|set --port P [NAME[=VALUE] ...] [--who W]   (set: wlan_pass alone
                                                 asks for the passphrase)
  pumpside calibrate --port P --proved-ml N --metered-ml M --who W
  pumpside logs --port P [-o FILE]               the metrology event log
  pumpside journal pull --port P [-o FILE]       the journal's unsynced records
The service PIN is read from $PUMPSIDE_SERVICE_PIN or asked for, the WLAN passphrase
from $PUMPSIDE_WLAN_PASS or asked for; neither is ever echoed.
Exit codes: 0 done, 1 refused by the device (the reason is printed), 2 usage or device
trouble.
"""
import argparse
import json
import sys


def _cmd_run(args):
    if not args.auto and sys.stdin.isatty() and sys.stdout.isatty():
        from .console import run_console

        return run_console(lpm=args.lpm)
    from .demo import run_demo

    return run_demo(litres=args.litres, lpm=args.lpm, keep=args.keep)


def _cmd_campaign(args):
    from . import campaign

    erase = {} if args.erase_ms is None else {"erase_ms": args.erase_ms}
    result = campaign.run(args.cuts, args.seed, cards=args.cards, **erase,
                          log=(lambda t: print(t, file=sys.stderr)) if args.verbose else None)
    campaign.print_result(result)
    bad = [k for k in campaign.MUST_BE_ZERO if result.get(k)]
    if bad:
        print("FAILED: " + ", ".join("%s=%s" % (k, result[k]) for k in bad))
        return 1
    return 0


def _card_date(text):
    """A YYYYMMDD calendar date, or None."""
    import datetime

    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _card_issue_error(args):
    """Why these `cards issue` options cannot make a card the firmware reads, or None."""
    start, expiry = _card_date(args.start), _card_date(args.expiry)
    if expiry is None:
        return "--expiry must be a date YYYYMMDD, got %r" % args.expiry
    if start is None:
        return "--start must be a date YYYYMMDD, got %r" % args.start
    if start > expiry:
        return "--start %s must not be after --expiry %s" % (args.start, args.expiry)
    for name, value, lo, hi in (("--type", args.type, 1, 255),
                                ("--price-level", args.price_level, 0, 255),
                                ("--discount", args.discount, 0, 99),
                                ("--balance", args.balance, 0, 0xFFFFFFFF),
                                ("--daily-fills", args.daily_fills, 0, 255),
                                ("--daily-amount", args.daily_amount, 0, 0xFFFFFFFF)):
        if not lo <= value <= hi:
            return "%s must be %d to %d, got %d" % (name, lo, hi, value)
    grades = [g for g in args.grades.split(",") if g] if args.grades else []
    if len(grades) > 4 or any(len(g) > 2 or not g.isascii() or not g.isalnum()
                              for g in grades):
        return "--grades must be at most 4 grades of 1 or 2 letters or digits, e.g. 92,95"
    return None


def _cmd_cards(args):
    from .bench.cards import CardStore

    store = CardStore(args.store)
    if args.action == "list":
        for asn, card in sorted(store.cards.items()):
            state = card.s
            print("%s balance %d.%02d type %d expiry %s%s%s" % (
                asn, state["balance"] // 100, state["balance"] % 100, state["card_type"],
                state["expiry"], " GREY" if state["grey"] else "",
                " PIN-BLOCKED" if not state["pin_tries"] else ""))
        return 0
    if not (len(args.asn) == 16 and all(c in "0123456789" for c in args.asn)):
        print("error: --asn must be 16 digits", file=sys.stderr)
        return 2
    if not (4 <= len(args.pin) <= 6 and args.pin.isdigit()):
        print("error: --pin must be 4 to 6 digits", file=sys.stderr)
        return 2
    why = _card_issue_error(args)
    if why:
        print("error: " + why, file=sys.stderr)
        return 2
    grades = [g for g in args.grades.split(",") if g] if args.grades else []
    store.issue(args.asn, args.balance, pin=args.pin, expiry=args.expiry, start=args.start,
                card_type=args.type, grades=grades, daily_fills=args.daily_fills,
                daily_amount=args.daily_amount, discount=args.discount,
                price_level=args.price_level, name=args.name, plate=args.plate,
                staff_pin=args.staff_pin, status=0 if args.blocked else 1)
    print("issued %s with balance %d (PIN not shown)" % (args.asn, args.balance))
    return 0


def _cmd_netcampaign(args):
    from . import netcampaign

    result = netcampaign.run(args.faults, args.seed,
                             log=(lambda t: print(t, file=sys.stderr)) if args.verbose else None)
    for key in netcampaign.FIGURES:
        print("%s: %d" % (key, result[key]))
    for key in sorted(result):
        if key not in netcampaign.FIGURES:
            print("%s: %s" % (key, result[key]))
    bad = [k for k in netcampaign.MUST_BE_ZERO if result[k]]
    if bad:
        print("FAILED: " + ", ".join("%s=%s" % (k, result[k]) for k in bad))
        return 1
    return 0


def _delivery(pump):
    """A pump's delivery as `station pumps` lists it: the one in progress, or its last."""
    if pump["state"] == "Fuelling":
        return " delivering %d ml amount %d" % (pump["ml"], pump["amount"])
    if pump["ml"] or pump["amount"]:
        return " last delivery %d ml amount %d" % (pump["ml"], pump["amount"])
    return ""


# how `station pumps` shows a terminal's last connection (ledger.pumps()["link"])
_LINKS = {"tls": " link TLS", "plain": " link PLAIN (unencrypted)"}


def _cmd_station(args):
    from .station import ledger as lg
    from .station.masking import mask_card

    if args.action == "serve":
        from .station.accounts import KeyFileError
        from .station.server import serve
        from .station.tls import TlsFilesError

        if bool(args.tls_cert) != bool(args.tls_key):
            print("error: --tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        try:
            serve(args.db, args.host, args.port, args.issuer_keys,
                  tls_cert=args.tls_cert, tls_key=args.tls_key, tls_names=args.tls_name,
                  plain_port=args.plain_port)
        except (KeyFileError, TlsFilesError) as e:
            print("error: %s" % e, file=sys.stderr)
            return 2
        return 0
    ledger = lg.Ledger(args.db)
    try:
        if args.action == "terminal-add":
            if not args.terminal or not args.key_file:
                print("error: terminal-add needs --terminal and --key-file", file=sys.stderr)
                return 2
            lg.key_file(args.key_file, ledger.add_terminal(args.terminal))
            print("terminal %s registered; its key is in %s (not shown)"
                  % (args.terminal, args.key_file))
        elif args.action == "sales":
            for sale in ledger.sales(args.terminal):
                print("%s %s sale %d seq %d %d ml amount %d card %s journal %s" % (
                    sale["terminal"], sale["kind"], sale["sale"], sale["seq"], sale["ml"],
                    sale["amount"], mask_card(sale["asn"]), sale["journal"] or "(none)"))
        elif args.action == "conflicts":
            rows = ledger.conflicts(args.terminal)
            for row in rows:
                got, had = row["record"], row["stored"]
                journal = row["journal"] or "(none)"
                if row["sale"] is None:  # an event record of the journal
                    print("%s journal %s %s seq %d: %s; stored: %s" % (
                        row["terminal"], journal, row["kind"], row["seq"], json.dumps(got),
                        json.dumps(had)))
                    continue
                print("%s journal %s %s sale %s seq %d: ml %s amount %s card %s time %s; "
                      "stored: ml %s amount %s card %s time %s" % (
                          row["terminal"], journal, row["kind"], row["sale"], row["seq"],
                          got.get("ml"), got.get("amount"), mask_card(got.get("asn")),
                          got.get("time"), had.get("ml"), had.get("amount"),
                          mask_card(had.get("asn")), had.get("time")))
            print("%d conflicting record(s)" % len(rows))
        elif args.action == "price-history":
            for row in ledger.price_history():
                print("v%(version)d %(grade)s %(price)d effective %(effective)d "
                      "set %(set_at)d" % row)
        elif args.action == "price":
            version = ledger.set_price(args.grade, args.price, args.at)
            print("price of %s: %d (version %d)%s" % (
                args.grade, args.price, version,
                " from the first sale at or after %d" % args.at if args.at else ""))
        elif args.action == "command":
            if not args.terminal:
                print("error: command needs --terminal", file=sys.stderr)
                return 2
            cid = ledger.command(args.terminal, args.cmd)
            print("command %d (%s) queued for %s: it goes with the next heartbeat"
                  % (cid, args.cmd, args.terminal))
        elif args.action == "pumps":
            for pump in ledger.pumps():
                print("%s %s%s %s (seen %s)%s%s firmware %s %s journal %s%s%s" % (
                    pump["terminal"], pump["state"], _delivery(pump), "online" if
                    pump["online"] else "OFFLINE", pump["seen"], _LINKS.get(pump["link"], ""),
                    " alarm " + pump["alarm"]
                    if pump["alarm"] else "", pump["firmware"], pump["software_id"],
                    pump["journal"] or "(none)",
                    " watchdog resets %d" % pump["wdt_resets"] if pump["wdt_resets"]
                    else "", " STATION ALARM (%d, see `station alarms`): %s" % (
                        pump["station_alarms"], pump["station_alarm"])
                    if pump["station_alarms"] else ""))
        elif args.action == "alarms":
            rows = ledger.journals.alarms(args.terminal)
            for row in rows:
                print("%(raised)d %(terminal)s %(what)s: %(why)s" % row)
            print("%d alarm(s)" % len(rows))
        elif args.action == "totals":
            for totals in ledger.metrology.totals(args.terminal, args.history):
                print("%s nozzle %d grade %s: %d ml amount %d after seq %d (reported %d) %s"
                      % (totals["terminal"], totals["nozzle"], totals["grade"],
                         totals["volume_ml"], totals["amount"], totals["seq"], totals["reported"],
                         "records pending" if totals["checked"] is None else
                         ("matches its records" if totals["why"] == "" else totals["why"])
                         if totals["checked"] else "MISMATCH: " + totals["why"]))
        elif args.action == "events":
            if not args.terminal:
                print("error: events needs --terminal", file=sys.stderr)
                return 2
            for event in ledger.metrology.events(args.terminal):
                print("%(n)d t %(t)d %(who)s %(what)s %(old)s -> %(new)s h %(h)s" % event)
        elif args.action == "params":
            if args.set:
                from .tech import assignments

                values = assignments(args.set)  # typed by config.py; ValueError: exit 2
                version = ledger.params.set(values)
                print("parameters version %d: %s (the terminals take them with their next "
                      "heartbeat, in force from their next boot)" % (
                          version, ", ".join(sorted(values))))
            cur = ledger.params.current()
            print("version %d %s" % (cur["version"], json.dumps(cur["values"],
                                                                 sort_keys=True)))
        elif args.action == "nozzle":
            if not args.terminal or not args.nozzle:
                print("error: nozzle needs --terminal, --nozzle and --grade", file=sys.stderr)
                return 2
            version = ledger.set_nozzle(args.terminal, args.nozzle, args.grade)
            print("%s nozzle %d: grade %s (with price table version %d)" % (
                args.terminal, args.nozzle, args.grade, version))
        elif args.action == "hotlist":
            version = ledger.hotlist_change(args.asn, not args.remove)
            print("%s %s (hotlist version %d)" % (
                args.asn, "removed" if args.remove else "listed", version))
    except ValueError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    finally:
        ledger.close()
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="pumpside", description="pumpside host tools")
    sub = parser.add_subparsers(dest="cmd", required=True)
    cmd = sub.add_parser("run", help="run the virtual pump (firmware on MicroPython + bench)")
    cmd.add_argument("--litres", type=int, default=20, help="volume preset in litres")
    cmd.add_argument("--lpm", type=float, default=40.0, help="fast-stage flow, L/min")
    cmd.add_argument("--keep", action="store_true", help="keep the pump running afterwards")
    cmd.add_argument("--auto", action="store_true",
                     help="no console: a scripted attended sale to watch (the default when "
                     "stdin or stdout is not a terminal)")
    cmd.set_defaults(func=_cmd_run)
    cmd = sub.add_parser("campaign", help="power cuts at random moments of random sales")
    cmd.add_argument("--cuts", type=int, default=200)
    cmd.add_argument("--seed", type=int, default=1)
    cmd.add_argument("--cards", action="store_true", help="card sales (grey lock, debit)")
    cmd.add_argument("--erase-ms", type=int, default=None,
                     help="each flash erase stalls the board this long (default: 45, a NOR "
                     "chip's 4 KB sector erase)")
    cmd.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    cmd.set_defaults(func=_cmd_campaign)
    cmd = sub.add_parser("cards", help="issue and list the bench's test fuel cards")
    cmd.add_argument("action", choices=("issue", "list"))
    cmd.add_argument("--store", required=True, help="card store (JSON) the bench uses")
    cmd.add_argument("--asn", default="6200000000000001", help="card number, 16 digits")
    cmd.add_argument("--balance", type=int, default=100000, help="minor units")
    cmd.add_argument("--pin", default="123456")
    cmd.add_argument("--expiry", default="20301231", help="YYYYMMDD")
    cmd.add_argument("--start", default="20240101", help="first valid day, YYYYMMDD")
    cmd.add_argument("--type", type=int, default=1, help="1 user, 4 staff, 6 company")
    cmd.add_argument("--price-level", type=int, default=0,
                     help="price level 0-255 (config level_discounts)")
    cmd.add_argument("--grades", default="", help="allowed grades, e.g. 92,95")
    cmd.add_argument("--daily-fills", type=int, default=0)
    cmd.add_argument("--daily-amount", type=int, default=0)
    cmd.add_argument("--discount", type=int, default=0, help="percent")
    cmd.add_argument("--name", default="TEST")
    cmd.add_argument("--plate", default="", help="vehicle plate: a plate-bound card")
    cmd.add_argument("--staff-pin", default="", help="staff password of a plate-bound card")
    cmd.add_argument("--blocked", action="store_true", help="issue the card blocked")
    cmd.set_defaults(func=_cmd_cards)
    cmd = sub.add_parser("netcampaign", help="network faults between the pump and the station")
    cmd.add_argument("--faults", type=int, default=200)
    cmd.add_argument("--seed", type=int, default=1)
    cmd.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    cmd.set_defaults(func=_cmd_netcampaign)
    cmd = sub.add_parser("station", help="the reference station server and its admin")
    cmd.add_argument("action", choices=("serve", "terminal-add", "sales", "conflicts", "alarms",
                                        "price",
                                        "hotlist",
                                        "command", "pumps", "totals", "events", "params",
                                        "nozzle", "price-history"))
    cmd.add_argument("--db", required=True, help="the station's SQLite file")
    cmd.add_argument("--host", default="127.0.0.1")
    cmd.add_argument("--port", type=int, default=7800)
    cmd.add_argument("--tls-cert", help="serve: a certificate chain (PEM) instead of the "
                     "station's own (made at its first start in DB.tls/)")
    cmd.add_argument("--tls-key", help="serve: that certificate's private key (PEM)")
    cmd.add_argument("--tls-name", action="append", default=[], metavar="NAME",
                     help="serve: a name or address terminals reach the station by, for its "
                     "own certificate (repeat; loopback, the host name and --host are in)")
    cmd.add_argument("--plain-port", type=int, metavar="PORT",
                     help="serve: also plain TCP (unencrypted) on this port, for terminals "
                     "set to station_tls=0; listed as PLAIN by `station pumps`")
    cmd.add_argument("--terminal", help="terminal id")
    cmd.add_argument("--issuer-keys", help="serve: JSON file of the issuers' TAC master keys "
                     "(card bills' TACs are verified with them; never logged)")
    cmd.add_argument("--key-file", help="terminal-add: where the new key is written (0600)")
    cmd.add_argument("--grade", default="92")
    cmd.add_argument("--price", type=int, default=0, help="1/1000 currency per litre")
    cmd.add_argument("--at", type=int, default=0, help="price: Unix seconds from which the "
                     "new price applies (to the first sale that starts then); 0: next sale")
    cmd.add_argument("--asn", default="", help="hotlist: a 16-digit card number")
    cmd.add_argument("--remove", action="store_true", help="hotlist: remove instead of add")
    cmd.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="params: a non-legal config field for every terminal (repeat)")
    cmd.add_argument("--nozzle", type=int, default=0, help="nozzle: the terminal's nozzle")
    cmd.add_argument("--history", action="store_true", help="totals: every reading")
    cmd.add_argument("--cmd", default="stop",
                     help="command: stop, suspend, resume, lock, unlock, terminate")
    cmd.set_defaults(func=_cmd_station)

    from .tech import add_commands

    add_commands(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "items", None) is not None and not any(
            e.startswith("-") for e in extra):
        args.items += extra  # `config set --port P NAME=VALUE`: names after the options
    elif extra:
        parser.error("unrecognized arguments: " + " ".join(extra))
    from .device import DeviceError

    try:
        return args.func(args) or 0
    except DeviceError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
