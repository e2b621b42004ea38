"""`pumpside` command line: a command table in mpremote's manner.

  pumpside run [--auto] [--litres N] [--lpm F] [--keep]
                                                 the virtual pump: a console to play it
                                                 (or, --auto / no terminal, a watchable sale)
  pumpside campaign [--cuts N] [--seed S] [--cards]  power-cut campaign on the virtual pump
  pumpside netcampaign [--faults N] [--seed S]   network-fault campaign (pump <-> station)
  pumpside cards issue|list --store FILE ...     test fuel cards for the bench
  pumpside station ACTION --db FILE [--as NAME] ...  the reference station server and its
                                                 admin: serve, terminal-add, sales, conflicts,
                                                 alarms, pumps, price, price-history, hotlist,
                                                 command, totals, events, params, nozzle,
                                                 operator-add|-password|-role|-disable,
                                                 operators, audit (`station ACTION --help`)
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

    result = campaign.run(args.cuts, args.seed, cards=args.cards,
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


def _station_serve(args):
    from .station.accounts import KeyFileError
    from .station.keyring import StationKeyError
    from .station.server import serve
    from .station.tls import TlsFilesError

    if bool(args.tls_cert) != bool(args.tls_key):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        serve(args.db, args.host, args.port, args.issuer_keys,
              tls_cert=args.tls_cert, tls_key=args.tls_key, tls_names=args.tls_name,
              plain_port=args.plain_port)
    except (KeyFileError, TlsFilesError, StationKeyError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    return 0


def _station_terminal_add(ledger, service, actor, args):
    from .station import ledger as lg

    key = service.add_terminal(actor, args.terminal)
    lg.key_file(args.key_file, key)
    print("terminal %s registered; its key is in %s (not shown)" % (args.terminal,
                                                                   args.key_file))


def _station_sales(ledger, service, actor, args):
    from .station.masking import mask_card

    for sale in ledger.sales(args.terminal):
        print("%s %s sale %d seq %d %d ml amount %d card %s journal %s" % (
            sale["terminal"], sale["kind"], sale["sale"], sale["seq"], sale["ml"],
            sale["amount"], mask_card(sale["asn"]), sale["journal"] or "(none)"))


def _station_conflicts(ledger, service, actor, args):
    from .station.masking import mask_card

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


def _station_price_history(ledger, service, actor, args):
    for row in ledger.price_history(args.grade):
        print("v%(version)d %(grade)s %(price)d effective %(effective)d set %(set_at)d" % row)


def _station_price(ledger, service, actor, args):
    version = service.set_price(actor, args.grade, args.price, args.at)
    print("price of %s: %d (version %d)%s" % (
        args.grade, args.price, version,
        " from the first sale at or after %d" % args.at if args.at else ""))


def _station_command(ledger, service, actor, args):
    cid = service.command(actor, args.terminal, args.cmd)
    print("command %d (%s) queued for %s: it goes with the next heartbeat"
          % (cid, args.cmd, args.terminal))


def _station_pumps(ledger, service, actor, args):
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


def _station_alarms(ledger, service, actor, args):
    rows = ledger.journals.alarms(args.terminal)
    for row in rows:
        print("%(raised)d %(terminal)s %(what)s: %(why)s" % row)
    print("%d alarm(s)" % len(rows))


def _station_totals(ledger, service, actor, args):
    for totals in ledger.metrology.totals(args.terminal, args.history):
        print("%s nozzle %d grade %s: %d ml amount %d after seq %d (reported %d) %s"
              % (totals["terminal"], totals["nozzle"], totals["grade"],
                 totals["volume_ml"], totals["amount"], totals["seq"], totals["reported"],
                 "records pending" if totals["checked"] is None else
                 ("matches its records" if totals["why"] == "" else totals["why"])
                 if totals["checked"] else "MISMATCH: " + totals["why"]))


def _station_events(ledger, service, actor, args):
    for event in ledger.metrology.events(args.terminal):
        print("%(n)d t %(t)d %(who)s %(what)s %(old)s -> %(new)s h %(h)s" % event)


def _station_params(ledger, service, actor, args):
    if args.set:
        from .tech import assignments

        values = assignments(args.set)  # typed by config.py; ValueError: exit 2
        version = service.set_params(actor, values)
        print("parameters version %d: %s (the terminals take them with their next "
              "heartbeat, in force from their next boot)" % (version, ", ".join(sorted(values))))
    cur = ledger.params.current()
    print("version %d %s" % (cur["version"], json.dumps(cur["values"], sort_keys=True)))


def _station_nozzle(ledger, service, actor, args):
    version = service.set_nozzle(actor, args.terminal, args.nozzle, args.grade)
    print("%s nozzle %d: grade %s (with price table version %d)" % (
        args.terminal, args.nozzle, args.grade, version))


def _station_hotlist(ledger, service, actor, args):
    from .station.masking import mask_card

    version = service.hotlist(actor, args.asn, not args.remove)
    print("%s %s (hotlist version %d)" % (
        mask_card(args.asn) if len(args.asn) == 16 else args.asn,
        "removed" if args.remove else "listed", version))


def _operator_password():
    """A new operator's password: $PUMPSIDE_OPERATOR_PASSWORD, else asked twice without
    echo (never an argument: it would show in the process list and the shell history)."""
    import getpass
    import os

    password = os.environ.get("PUMPSIDE_OPERATOR_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise ValueError("no password: set $PUMPSIDE_OPERATOR_PASSWORD or run on a terminal")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        raise ValueError("the two passwords differ")
    return password


def _station_operator_add(ledger, service, actor, args):
    service.add_operator(actor, args.name, args.role, _operator_password())
    print("operator %s added as %s (password not shown)" % (args.name, args.role))


def _station_operator_password(ledger, service, actor, args):
    service.set_password(actor, args.name, _operator_password())
    print("operator %s: password changed (not shown)" % args.name)


def _station_operators(ledger, service, actor, args):
    for op in service.operators(actor):
        print("%s %s%s created %d%s" % (op["name"], op["role"],
                                        " DISABLED" if op["disabled"] else "", op["created"],
                                        " wrong passwords %d" % op["failures"]
                                        if op["failures"] else ""))


def _station_operator_role(ledger, service, actor, args):
    service.set_role(actor, args.name, args.role)
    print("operator %s is now %s" % (args.name, args.role))


def _station_operator_disable(ledger, service, actor, args):
    service.set_disabled(actor, args.name, not args.enable)
    print("operator %s %s" % (args.name, "enabled" if args.enable else "disabled"))


def _station_audit(ledger, service, actor, args):
    rows = service.audit(actor)
    for row in rows[-args.last:] if args.last else rows:
        print("%(id)d %(at)d %(who)s (%(role)s) %(action)s %(target)s: %(old)s -> %(new)s"
              % row)


def _cmd_station(args):
    """A `station` subcommand other than serve: the store opened, the CLI's operator
    (service.Actor.local: an administrator named local:<user> or --as), the action."""
    from .station import ledger as lg
    from .station.keyring import StationKeyError
    from .station.service import Actor, Refused, Service

    try:
        ledger = lg.Ledger(args.db)
    except StationKeyError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    try:
        args.action(ledger, Service(ledger), Actor.local(args.as_), args)
    except (ValueError, Refused) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    finally:
        ledger.close()
    return 0


def _station_parsers(sub):
    """`pumpside station ACTION --db FILE ...`: one subcommand per action, each with its
    own options and help."""
    station = sub.add_parser("station", help="the reference station server and its admin")
    actions = station.add_subparsers(dest="station_action", required=True, metavar="ACTION")

    def action(name, func, help, terminal=None):
        cmd = actions.add_parser(name, help=help, description=help)
        cmd.add_argument("--db", required=True, help="the station's SQLite file (its station "
                         "key beside it: DB.key, or $PUMPSIDE_STATION_KEY)")
        cmd.add_argument("--as", dest="as_", metavar="NAME",
                         help="the name the audit trail gives this command line's operator "
                         "(default local:<your user name>)")
        if terminal == "required":
            cmd.add_argument("--terminal", required=True, help="terminal id")
        elif terminal:
            cmd.add_argument("--terminal", help=terminal)
        cmd.set_defaults(func=_cmd_station, action=func)
        return cmd

    cmd = actions.add_parser("serve", help="serve terminals (TLS; its own CA made at the "
                             "first start in DB.tls/)")
    cmd.add_argument("--db", required=True, help="the station's SQLite file")
    cmd.add_argument("--host", default="127.0.0.1")
    cmd.add_argument("--port", type=int, default=7800)
    cmd.add_argument("--tls-cert", help="a certificate chain (PEM) instead of the "
                     "station's own (made at its first start in DB.tls/)")
    cmd.add_argument("--tls-key", help="that certificate's private key (PEM)")
    cmd.add_argument("--tls-name", action="append", default=[], metavar="NAME",
                     help="a name or address terminals reach the station by, for its "
                     "own certificate (repeat; loopback, the host name and --host are in)")
    cmd.add_argument("--plain-port", type=int, metavar="PORT",
                     help="also plain TCP (unencrypted) on this port, for terminals "
                     "set to station_tls=0; listed as PLAIN by `station pumps`")
    cmd.add_argument("--issuer-keys", help="JSON file of the issuers' TAC master keys "
                     "(card bills' TACs are verified with them; never logged)")
    cmd.set_defaults(func=_station_serve)

    cmd = action("terminal-add", _station_terminal_add, "register a terminal (or give it "
                 "a new key): its key is written to --key-file, never shown", "required")
    cmd.add_argument("--key-file", required=True, help="where the key is written (0600)")
    action("sales", _station_sales, "the sales held (card numbers masked)",
           "only this terminal's")
    action("conflicts", _station_conflicts, "records kept because they differ from the "
           "one stored under their key", "only this terminal's")
    action("alarms", _station_alarms, "the station's alarms", "only this terminal's")
    action("pumps", _station_pumps, "each pump's state, link, firmware and alarms")
    cmd = action("price", _station_price, "set a grade's price (audited)")
    cmd.add_argument("--grade", default="92", help="grade code (default 92)")
    cmd.add_argument("--price", type=int, required=True, help="1/1000 currency per litre")
    cmd.add_argument("--at", type=int, default=0, help="Unix seconds from which the new "
                     "price applies (to the first sale that starts then); 0: next sale")
    cmd = action("price-history", _station_price_history, "every price ever set")
    cmd.add_argument("--grade", help="only this grade's")
    cmd = action("hotlist", _station_hotlist, "list or unlist a card (audited)")
    cmd.add_argument("--asn", required=True, help="a 16-digit card number")
    cmd.add_argument("--remove", action="store_true", help="remove instead of add")
    cmd = action("command", _station_command, "queue a command for a terminal (audited)",
                 "required")
    cmd.add_argument("--cmd", default="stop",
                     help="stop (default), suspend, resume, lock, unlock, terminate")
    cmd = action("totals", _station_totals, "totalizers, cross-checked with the records",
                 "only this terminal's")
    cmd.add_argument("--history", action="store_true", help="every reading")
    action("events", _station_events, "a terminal's metrology event log", "required")
    cmd = action("params", _station_params, "show (or --set, audited) the terminals' "
                 "parameters")
    cmd.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="a non-legal config field for every terminal (repeat)")
    cmd = action("nozzle", _station_nozzle, "map a terminal's nozzle to a grade (audited)",
                 "required")
    cmd.add_argument("--nozzle", type=int, required=True, help="the terminal's nozzle")
    cmd.add_argument("--grade", required=True, help="grade code (it must have a price)")
    cmd = action("operator-add", _station_operator_add, "add an operator (the first "
                 "administrator too); password from $PUMPSIDE_OPERATOR_PASSWORD or asked")
    cmd.add_argument("--name", required=True)
    cmd.add_argument("--role", required=True,
                     choices=("administrator", "manager", "cashier", "auditor"))
    cmd = action("operator-password", _station_operator_password, "set an operator's "
                 "password ($PUMPSIDE_OPERATOR_PASSWORD or asked)")
    cmd.add_argument("--name", required=True)
    action("operators", _station_operators, "list the operators")
    cmd = action("operator-role", _station_operator_role, "change an operator's role")
    cmd.add_argument("--name", required=True)
    cmd.add_argument("--role", required=True,
                     choices=("administrator", "manager", "cashier", "auditor"))
    cmd = action("operator-disable", _station_operator_disable, "disable an operator (or "
                 "--enable one again)")
    cmd.add_argument("--name", required=True)
    cmd.add_argument("--enable", action="store_true", help="enable instead")
    cmd = action("audit", _station_audit, "the audit trail, oldest first")
    cmd.add_argument("--last", type=int, default=0, help="only the last N records")


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
    _station_parsers(sub)

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
