"""`pumpside station ACTION --db FILE ...`: the station's command line, one subcommand per
action with its own options and help. The reading ones read the ledger; the changing ones
go through the service layer (station/service.py) as the local operator (service.Actor.local:
an administrator named local:<user>, or local:NAME with --as), audited as such.
"""
import json
import sqlite3
import sys


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
    from .station.backup import StationRunning
    from .station.keyring import StationKeyError
    from .station.server import serve
    from .station.tls import TlsFilesError
    from .station.web import WebPortError

    if bool(args.tls_cert) != bool(args.tls_key):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        serve(args.db, args.host, args.port, args.issuer_keys,
              tls_cert=args.tls_cert, tls_key=args.tls_key, tls_names=args.tls_name,
              plain_port=args.plain_port, web_host=args.web_host,
              web_port=None if args.web_port == 0 else args.web_port)
    except (KeyFileError, TlsFilesError, StationKeyError, WebPortError,
            StationRunning) as e:
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


def _station_gateway_set(ledger, service, actor, args):
    values = service.set_gateway(actor, args.url, args.public_key, args.public_url)
    print("phone payment: gateway %(url)s, its public key %(public_key)s; the phones and "
          "the gateway reach this station at %(public_url)s (pay page /pay/<terminal>/"
          "<pump>?t=<token>, notifications /pay/notify)" % values)


def _station_pay_orders(ledger, service, actor, args):
    from .station.payments.orders import Orders

    service.check(actor, "read")
    rows = Orders(ledger.db).all(args.last)
    for o in rows:
        print("%(order_no)s %(terminal)s/%(pump)d %(preset)s %(amount)d %(state)s "
              "captured %(captured)d refunded %(refunded)d" % o
              + (" (owed: capture %s refund %s; %s)" % (o["capture"], o["refund"],
                                                        o["last_error"] or "pending")
                 if o["capture"] is not None and (o["captured"] < o["capture"]
                                                  or o["refunded"] < o["refund"]) else ""))
    print("%d order(s)" % len(rows))


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


def _station_backup(ledger, service, actor, args):
    from .station.backup import BackupError

    try:
        made = service.backup(actor, args.out, args.keep)
    except BackupError as e:
        raise ValueError(str(e)) from None
    print("backup %s: %d rows in %d tables, integrity ok, station %s, schema %d" % (
        made["path"], sum(made["rows"].values()), len(made["rows"]), made["station"],
        made["schema"]))
    for path in made["removed"]:
        print("removed the older backup %s" % path)


def _station_restore(args):
    """`station restore`: the station stopped, the backup checked, the store replaced
    (kept aside), then the restore audited in the restored store."""
    from .station import ledger as lg
    from .station.backup import BackupError, restore
    from .station.keyring import StationKeyError
    from .station.service import Actor, Service

    actor = Actor.local(args.as_)
    try:
        made = restore(args.db, args.source, args.force_foreign)
    except BackupError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    print("restored %s into %s (station %s, schema %d)" % (args.source, args.db,
                                                          made["station"], made["schema"]))
    if made["aside"]:
        print("the store it replaced is kept as %s" % made["aside"])
    try:
        ledger = lg.Ledger(args.db)  # upgrades an older schema in place
    except (StationKeyError, OSError, sqlite3.Error) as e:
        print("error: the restored store does not open: %s" % e, file=sys.stderr)
        return 2
    try:
        Service(ledger).restored(actor, args.source, made)
    finally:
        ledger.close()
    return 0


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
    except (OSError, sqlite3.Error) as e:
        print("error: cannot open the station's database %s: %s" % (args.db, e),
              file=sys.stderr)
        return 2
    try:
        args.action(ledger, Service(ledger), Actor.local(args.as_), args)
    except (ValueError, Refused, sqlite3.OperationalError) as e:  # e.g. locked too long
        print("error: %s" % e, file=sys.stderr)
        return 2
    finally:
        ledger.close()
    return 0


def add_station(sub):
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
    cmd.add_argument("--web-port", type=int, default=8080, metavar="PORT",
                     help="the back office (web pages for operators) on this port "
                     "(default 8080; 0: none)")
    cmd.add_argument("--web-host", default="127.0.0.1", metavar="HOST",
                     help="the address the back office listens on (default 127.0.0.1: "
                     "this machine only)")
    cmd.set_defaults(func=_station_serve)

    cmd = action("backup", _station_backup, "a verified copy of the store, made while the "
                 "station runs (0600; audited)")
    cmd.add_argument("--out", required=True, metavar="FILE|FOLDER", help="the backup file, "
                     "or a folder: a timestamped file in it")
    cmd.add_argument("--keep", type=int, metavar="N", help="with --out FOLDER: keep the N "
                     "newest backups there, remove older ones")
    cmd = actions.add_parser("restore", help="put a backup in place of the store (the "
                             "station stopped; the store replaced is kept aside)",
                             description="put a backup in place of the store (the "
                             "station stopped; the store replaced is kept aside)")
    cmd.add_argument("--db", required=True, help="the station's SQLite file")
    cmd.add_argument("--from", dest="source", required=True, metavar="FILE",
                     help="the backup file")
    cmd.add_argument("--force-foreign", action="store_true", help="restore a backup of "
                     "another station (its identity replaces this one's; see "
                     "docs/operations.md)")
    cmd.add_argument("--as", dest="as_", metavar="NAME", help="the name the audit trail "
                     "gives this command line's operator (default local:<your user name>)")
    cmd.set_defaults(func=_station_restore)
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
    cmd = action("gateway-set", _station_gateway_set, "the payment gateway for phone "
                 "payment (audited; written to DB.gateway.json)")
    cmd.add_argument("--url", required=True, help="the gateway's API, e.g. "
                     "http://127.0.0.1:8090 (`pumpside gateway-sandbox`)")
    cmd.add_argument("--public-key", required=True, metavar="PEM",
                     help="the gateway's public key (the sandbox's STATE.pub)")
    cmd.add_argument("--public-url", required=True, help="where phones and the gateway "
                     "reach this station's web port, e.g. http://192.0.2.10:8080")
    cmd = action("pay-orders", _station_pay_orders, "the phone payment orders, newest first")
    cmd.add_argument("--last", type=int, default=50, help="at most N (default 50)")
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
