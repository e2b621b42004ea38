"""`pumpside station ACTION --db FILE ...`: the station's command line, one subcommand per
action with its own options and help. Every one goes through the service layer
(station/service.py; its reads: station/reads.py) as the local operator
(service.Actor.local: an administrator named local:<user>, or local:NAME with --as); the
changing ones are audited as such.
"""
import json
import os
import sqlite3
import sys

from .station_cards_cli import add_card_actions
from .station_fleet_cli import add_fleet_actions
from .station_loyalty_cli import add_loyalty_actions
from .station_till_cli import add_till_actions


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
    if args.gauge:
        from .station.gauge import parse_address

        try:
            parse_address(args.gauge)
        except ValueError as e:
            print("error: --gauge: %s" % e, file=sys.stderr)
            return 2
    if not args.gauge_every > 0:
        print("error: --gauge-every: seconds > 0", file=sys.stderr)
        return 2
    if not args.backup_every > 0:
        print("error: --backup-every: hours > 0", file=sys.stderr)
        return 2
    if args.backup_keep is not None and args.backup_keep < 1:
        print("error: --backup-keep: at least 1", file=sys.stderr)
        return 2
    if args.backup_dir is not None and not os.path.isdir(args.backup_dir):
        print("error: --backup-dir: %s is not a folder" % args.backup_dir, file=sys.stderr)
        return 2
    try:
        serve(args.db, args.host, args.port, args.issuer_keys,
              tls_cert=args.tls_cert, tls_key=args.tls_key, tls_names=args.tls_name,
              plain_port=args.plain_port, web_host=args.web_host,
              web_port=None if args.web_port == 0 else args.web_port,
              gauge=args.gauge, gauge_every_s=args.gauge_every,
              backup_dir=args.backup_dir, backup_every_s=args.backup_every * 3600,
              backup_keep=args.backup_keep)
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

    for sale in service.sales(actor, args.terminal):
        print("%s %s sale %d seq %d %d ml amount %d card %s journal %s" % (
            sale["terminal"], sale["kind"], sale["sale"], sale["seq"], sale["ml"],
            sale["amount"], mask_card(sale["asn"]), sale["journal"] or "(none)"))


def _station_conflicts(ledger, service, actor, args):
    from .station.masking import mask_card

    rows = service.conflicts(actor, args.terminal)
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
    for row in service.price_history(actor, args.grade):
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
    for pump in service.pumps(actor):
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


def _station_terminals(ledger, service, actor, args):
    for row in service.terminals(actor):
        print("%s firmware %s %s journal %s seen %s unsynced %s" % (
            row["terminal"], row.get("firmware") or "-", row.get("software_id") or "-",
            row.get("journal") or "(none)", row.get("seen") or "never",
            "?" if row["unsynced"] is None else row["unsynced"]))


def _station_commands(ledger, service, actor, args):
    for row in reversed(service.commands(actor, args.last)):
        print("%(id)d %(terminal)s %(cmd)s created %(created)d: %(state)s" % row
              + (" (%s)" % row["why"] if row["why"] else ""))


def _station_nozzles(ledger, service, actor, args):
    for terminal, nozzle, grade in service.nozzles(actor):
        print("%s nozzle %d: grade %s" % (terminal, nozzle, grade))


def _station_alarms(ledger, service, actor, args):
    rows = service.alarms(actor, args.terminal, args.open)
    for row in rows:
        print("#%(id)d %(raised)d %(terminal)s %(what)s: %(why)s" % row + (
            " [acknowledged by %s at %d]" % (row["acked_by"], row["acked"])
            if row["acked"] else " [OPEN]"))
    print("%d alarm(s), %d open" % (len(rows), sum(1 for r in rows if not r["acked"])))


def _station_alarm_ack(ledger, service, actor, args):
    service.ack_alarm(actor, args.id)
    print("station alarm %d acknowledged" % args.id)


def _station_gateway_set(ledger, service, actor, args):
    values = service.set_gateway(actor, args.url, args.public_key, args.public_url)
    print("phone payment: gateway %(url)s, its public key %(public_key)s; the phones and "
          "the gateway reach this station at %(public_url)s (pay page /pay/<terminal>/"
          "<pump>?t=<token>, notifications /pay/notify)" % values)


def _station_pay_windows(ledger, service, actor, args):
    from .station.payments import config

    given = {name: value for name, value in (
        ("pay_window_s", args.pay_window_s), ("use_window_s", args.use_window_s),
        ("amount_max", args.amount_max)) if value is not None}
    if given:
        values = service.set_pay_windows(actor, **given)
    else:
        service.check(actor, "read")
        values = config.windows(ledger.path)
    print("payment orders: pay window %(pay_window_s)d s (a phone's), use window "
          "%(use_window_s)d s (every paid order: a phone's, a till prepay), at most "
          "%(amount_max)d" % values)


def _station_pay_orders(ledger, service, actor, args):
    from .station.payments.orders import Orders

    service.check(actor, "read")
    rows = Orders(ledger.db).all(args.last)
    for o in rows:
        owed = o["capture"] is not None and (o["captured"] < o["capture"]
                                             or o["refunded"] < o["refund"])
        if o["source"] == "till":  # the kiosk's: its refund is the change the cashier owes
            tail = " till:%s%s" % (o["kind"], " (change owed %d)" % o["refund"] if owed
                                   else "")
        else:
            tail = " (owed: capture %s refund %s; %s)" % (
                o["capture"], o["refund"], o["last_error"] or "pending") if owed else ""
        print("%(order_no)s %(terminal)s/%(pump)d %(preset)s %(amount)d %(state)s "
              "captured %(captured)d refunded %(refunded)d" % o + tail)
    print("%d order(s)" % len(rows))


def _station_totals(ledger, service, actor, args):
    for totals in service.totals(actor, args.terminal, args.history):
        print("%s nozzle %d grade %s: %d ml amount %d after seq %d (reported %d) %s"
              % (totals["terminal"], totals["nozzle"], totals["grade"],
                 totals["volume_ml"], totals["amount"], totals["seq"], totals["reported"],
                 "records pending" if totals["checked"] is None else
                 ("matches its records" if totals["why"] == "" else totals["why"])
                 if totals["checked"] else "MISMATCH: " + totals["why"]))


def _station_events(ledger, service, actor, args):
    for event in service.events(actor, args.terminal):
        print("%(n)d t %(t)d %(who)s %(what)s %(old)s -> %(new)s h %(h)s" % event)


def _station_params(ledger, service, actor, args):
    if args.set:
        from .tech import assignments

        values = assignments(args.set)  # typed by config.py; ValueError: exit 2
        version = service.set_params(actor, values)
        print("parameters version %d: %s (the terminals take them with their next "
              "heartbeat, in force from their next boot)" % (version, ", ".join(sorted(values))))
    cur = service.params(actor)
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


def _litres(text):
    """Litres as typed (up to 3 decimals) -> whole ml; ValueError otherwise."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(str(text)) * 1000
    except InvalidOperation:
        raise ValueError("%r is not a volume in litres" % text) from None
    if value != value.to_integral_value():
        raise ValueError("%r: at most 3 decimals (ml)" % text)
    return int(value)


def _tenths(text):
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(str(text)) * 10
    except InvalidOperation:
        raise ValueError("%r is not a temperature in degrees C" % text) from None
    return int(value.to_integral_value())


def _station_tank_add(ledger, service, actor, args):
    strapping = None
    if args.strapping:
        try:
            strapping = json.loads(args.strapping)
        except ValueError:
            raise ValueError("--strapping: JSON [[height mm, litres], ...]") from None
    service.set_tank(actor, args.tank, args.grade, args.capacity, args.low, args.suction,
                     strapping)
    print("tank %d: %s, %d L (low %d L, pump suction %d L)" % (
        args.tank, args.grade, args.capacity, args.low, args.suction))


def _station_tank_feed(ledger, service, actor, args):
    service.feed_tank(actor, args.tank, args.terminal, args.nozzle)
    print("tank %d feeds %s nozzle %d" % (args.tank, args.terminal, args.nozzle))


def _station_tanks(ledger, service, actor, args):
    service.check(actor, "read")
    for tank in ledger.tanks.all():
        r = tank["reading"]
        level = "no reading" if r is None else "%.1f L at %s (%s%s%s)" % (
            r["volume_ml"] / 1000, _when(r["at"]), r["source"],
            ", %.1f C" % (r["temp_c10"] / 10) if r["temp_c10"] is not None else "",
            ", water %d mm" % r["water_mm"] if r["water_mm"] else "")
        print("tank %d %s capacity %d L low %d L suction %d L: %s; %s; feeds %s" % (
            tank["number"], tank["grade"], tank["capacity_ml"] // 1000,
            tank["low_ml"] // 1000, tank["suction_ml"] // 1000, level, tank["state"],
            ", ".join("%s/%d" % (t, n) for t, n in tank["nozzles"]) or "no nozzle"))


def _when(at):
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(at))


def _station_delivery(ledger, service, actor, args):
    delivery = service.delivery_note(actor, args.tank, args.supplier, _litres(args.ordered),
                                     _litres(args.delivered), _tenths(args.temp))
    d = ledger.tanks.delivery(delivery)
    print("delivery %d to tank %d: %.3f L at %.1f C = %.3f L at 15 C%s" % (
        delivery, args.tank, d["note_ml"] / 1000, d["note_temp_c10"] / 10,
        d["note15_ml"] / 1000, "; FLAGGED: " + d["flag"] if d["flag"] else ""))


def _station_deliveries(ledger, service, actor, args):
    service.check(actor, "read")
    for d in ledger.tanks.deliveries(args.tank):
        print("%d tank %d %s %s ordered %s note %s (15 C %s) gauge %s (15 C %s)%s" % (
            d["id"], d["tank"], _when(d["at"]), d["supplier"] or "(gauge)",
            *("-" if v is None else "%.1f L" % (v / 1000) for v in (
                d["ordered_ml"], d["note_ml"], d["note15_ml"], d["gauge_ml"],
                d["gauge15_ml"])), " FLAGGED: " + d["flag"] if d["flag"] else ""))


def _station_dip(ledger, service, actor, args):
    ml = service.dip(actor, args.tank, args.height, _tenths(args.temp) if args.temp else None)
    print("tank %d: %d mm = %.3f L" % (args.tank, args.height, ml / 1000))


def _station_reconcile(ledger, service, actor, args):
    import time

    from .station.days import day_of

    day = args.day or day_of(time.time())
    tanks = [args.tank] if args.tank else [t["number"] for t in ledger.tanks.all()]
    for number in tanks:
        row = service.reconcile(actor, number, day)
        if row is None:
            print("tank %d %s: no reading that day" % (number, day))
            continue
        print("tank %d %s: opening %.1f + deliveries %.1f - sales %.1f = book %.1f; gauge "
              "%.1f; variance %+.1f L; month %+.1f L over %.1f L sold%s" % (
                  number, day, *(row[k] / 1000 for k in (
                      "opening_ml", "deliveries_ml", "sales_ml", "book_ml", "closing_ml",
                      "variance_ml", "month_ml", "month_sales_ml")),
                  "; ALARM " + row["alarm"] if row["alarm"] else ""))


def _station_gauge_read(args):
    from . import veeder
    from .station.gauge import ask, parse_address

    try:
        host, port = parse_address(args.gauge)
        answer = ask(host, port, {"inventory": veeder.INVENTORY,
                                  "deliveries": veeder.DELIVERY,
                                  "alarms": veeder.ALARM}[args.report], args.tank,
                     args.timeout)
    except ValueError as e:  # GaugeError too
        print("error: %s" % e, file=sys.stderr)
        return 2
    print("gauge %s report %s at %04d-%02d-%02d %02d:%02d" % ((args.gauge, answer.function)
                                                            + answer.time))
    for item in answer.items:
        print("  " + ", ".join("%s=%s" % (k, round(v, 3) if isinstance(v, float) else v)
                               for k, v in item._asdict().items()))
    return 0


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


def _station_shift_close(ledger, service, actor, args):
    from .station.shifts import text

    print(text(service.close_shift(actor)))


def _station_shift_report(ledger, service, actor, args):
    from .station.shifts import text

    if args.list:
        for row in service.shifts(actor):
            print("%(id)d %(opened)d..%(closed)d %(who)s" % row)
        return
    shift = service.shift_report(actor, args.shift)
    if shift is None:
        raise ValueError("no shift %s closed" % (args.shift or "has been"))
    print(text(shift))


def _station_report(ledger, service, actor, args):
    from .station import reports

    kinds = [k for k in ("day", "month", "year") if getattr(args, k)]
    if args.range:
        kinds.append("range")
    if len(kinds) != 1:
        raise ValueError("give one of --day, --month, --year, --from/--to")
    kind = kinds[0]
    rep = service.report(actor, kind, args.range[0] if kind == "range" else
                         getattr(args, kind), args.range[1] if kind == "range" else None)
    sys.stdout.write(reports.to_csv(rep))


def _station_alert_rules(ledger, service, actor, args):
    for rule, r in service.alert_rules(actor).items():
        print("%s %s %s %s" % (rule, "on" if r["enabled"] else "off", r["severity"],
                               " ".join("%s=%s" % kv for kv in sorted(r["params"].items()))))
    url = ledger.alerts.webhook_url()
    print("webhook %s" % (service_url(url) or "(none)"))


def service_url(url):
    from .station.service import _no_query

    return _no_query(url)


def _station_alert_rule(ledger, service, actor, args):
    params = {}
    for item in args.set:
        name, eq, value = item.partition("=")
        if not eq or not value.isdigit():
            raise ValueError("--set takes NAME=WHOLE_NUMBER, not %r" % item)
        params[name] = int(value)
    enabled = args.on if args.on or args.off else service.alert_rules(actor).get(
        args.rule, {}).get("enabled", False)
    new = service.set_alert_rule(actor, args.rule, enabled, params)
    print("%s %s %s" % (args.rule, "on" if new["enabled"] else "off",
                        " ".join("%s=%s" % kv for kv in sorted(new["params"].items()))))


def _station_alert_webhook(ledger, service, actor, args):
    service.set_webhook(actor, args.url)
    print("webhook %s" % (service_url(args.url) or "(none)"))


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
    cmd.add_argument("--gauge", metavar="HOST:PORT", help="a tank gauge (Veeder-Root "
                     "TLS-3xx computer format over TCP) polled for tank readings, alarms "
                     "and deliveries")
    cmd.add_argument("--gauge-every", type=float, default=60.0, metavar="S",
                     help="seconds between gauge polls (default 60)")
    cmd.add_argument("--backup-dir", metavar="FOLDER", help="make a verified backup into "
                     "this folder on a schedule while serving (audited as system:backup)")
    cmd.add_argument("--backup-every", type=float, default=24.0, metavar="H",
                     help="hours between scheduled backups (default 24)")
    cmd.add_argument("--backup-keep", type=int, metavar="N",
                     help="keep the N newest backups in the folder, remove older ones")
    cmd.set_defaults(func=_station_serve)
    cmd = actions.add_parser("gauge-read", help="ask a tank gauge one report and show it "
                             "(no store needed)", description="ask a tank gauge one report")
    cmd.add_argument("--gauge", required=True, metavar="HOST:PORT")
    cmd.add_argument("--report", choices=("inventory", "deliveries", "alarms"),
                     default="inventory")
    cmd.add_argument("--tank", type=int, default=0, help="one tank (default 0: all)")
    cmd.add_argument("--timeout", type=float, default=5.0)
    cmd.set_defaults(func=_station_gauge_read)

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
    cmd = action("alarms", _station_alarms, "the station's alarms (a new journal, a "
                 "conflict ...), acknowledged or open", "only this terminal's")
    cmd.add_argument("--open", action="store_true", help="only those not acknowledged")
    cmd = action("alarm-ack", _station_alarm_ack, "acknowledge a station alarm (it leaves "
                 "the open ones; audited)")
    cmd.add_argument("--id", type=int, required=True, help="the alarm's number (`station "
                     "alarms` shows it as #N)")
    action("pumps", _station_pumps, "each pump's state, link, firmware and alarms")
    action("terminals", _station_terminals, "the registered terminals: firmware, journal, "
           "last seen, unsynced (records the pump had yet to send at its last HELLO)")
    cmd = action("commands", _station_commands, "the newest commands and their state "
                 "(queued, sent, done, failed, expired)")
    cmd.add_argument("--last", type=int, default=100, help="how many (default 100)")
    action("nozzles", _station_nozzles, "the nozzle map (terminal, nozzle -> grade)")
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
    cmd = action("pay-windows", _station_pay_windows, "show (or set, audited) the payment "
                 "orders' windows, with or without a gateway (DB.gateway.json)")
    cmd.add_argument("--pay-window-s", type=int, help="a phone's order: seconds to pay it")
    cmd.add_argument("--use-window-s", type=int, help="a paid order (a phone's, a till "
                     "prepay): seconds to use it at the pump before it lapses")
    cmd.add_argument("--amount-max", type=int, help="the largest order, in minor units")
    cmd = action("pay-orders", _station_pay_orders, "the payment orders (the phone's and the "
                 "till's prepaid ones), newest first")
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
    action("shift-close", _station_shift_close, "close the shift now open and print its "
           "report (audited)")
    cmd = action("shift-report", _station_shift_report, "print a closed shift's report "
                 "(the last one's by default)")
    cmd.add_argument("--shift", type=int, help="the shift's number")
    cmd.add_argument("--list", action="store_true", help="list the shifts closed")
    cmd = action("report", _station_report, "the sales report of a day, month, year or "
                 "range of days, as CSV (docs/operations.md)")
    cmd.add_argument("--day", metavar="YYYY-MM-DD")
    cmd.add_argument("--month", metavar="YYYY-MM")
    cmd.add_argument("--year", metavar="YYYY")
    cmd.add_argument("--range", nargs=2, metavar=("FROM", "TO"),
                     help="two days YYYY-MM-DD, both in")
    action("alert-rules", _station_alert_rules, "the alert rules and the webhook")
    cmd = action("alert-rule", _station_alert_rule, "switch an alert rule on or off and "
                 "tune it (audited)")
    cmd.add_argument("--rule", required=True)
    onoff = cmd.add_mutually_exclusive_group()
    onoff.add_argument("--on", action="store_true")
    onoff.add_argument("--off", action="store_true")
    cmd.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="a parameter of the rule (repeat)")
    cmd = action("alert-webhook", _station_alert_webhook, "the URL alerts are POSTed to "
                 "(audited; '' for none)")
    cmd.add_argument("--url", required=True)
    cmd = action("tank-add", _station_tank_add, "add or change a tank (audited)")
    cmd.add_argument("--tank", type=int, required=True, help="its number, as the gauge's")
    cmd.add_argument("--grade", required=True, help="grade code of what it holds")
    cmd.add_argument("--capacity", type=int, required=True, help="litres")
    cmd.add_argument("--low", type=int, required=True, help="low level, litres (alarm)")
    cmd.add_argument("--suction", type=int, required=True, help="pump-suction level, "
                     "litres (its nozzles are suspended below it)")
    cmd.add_argument("--strapping", help="JSON [[height mm, litres], ...] (default: "
                     "straight, 2000 mm full)")
    cmd = action("tank-feed", _station_tank_feed, "a tank feeds a terminal's nozzle "
                 "(audited)", "required")
    cmd.add_argument("--tank", type=int, required=True)
    cmd.add_argument("--nozzle", type=int, required=True)
    action("tanks", _station_tanks, "the tanks, their last reading and what they feed")
    cmd = action("delivery", _station_delivery, "record a delivery note (audited; "
                 "corrected to 15 C, flagged when it differs)")
    cmd.add_argument("--tank", type=int, required=True)
    cmd.add_argument("--supplier", required=True)
    cmd.add_argument("--ordered", required=True, help="litres ordered")
    cmd.add_argument("--delivered", required=True, help="litres delivered (the note's)")
    cmd.add_argument("--temp", required=True, help="the product's temperature, deg C")
    cmd = action("deliveries", _station_deliveries, "the deliveries, notes and gauge's")
    cmd.add_argument("--tank", type=int)
    cmd = action("dip", _station_dip, "a hand dip: height in mm (audited)")
    cmd.add_argument("--tank", type=int, required=True)
    cmd.add_argument("--height", type=int, required=True, help="mm")
    cmd.add_argument("--temp", help="deg C")
    cmd = action("reconcile", _station_reconcile, "book versus gauge per tank for a day")
    cmd.add_argument("--tank", type=int, help="one tank (default: all)")
    cmd.add_argument("--day", help="YYYY-MM-DD (UTC; default today)")
    add_card_actions(action)  # the card desk: card-issue, card-load, ... (station_cards_cli)
    add_loyalty_actions(action)  # loyalty-rule, reward-add, redeem, ... (station_loyalty_cli)
    add_fleet_actions(action)  # the fleet desk: fleet-company-add, ... (station_fleet_cli)
    add_till_actions(action)  # the kiosk's till: till, till-pay, ... (station_till_cli)
    cmd = action("audit", _station_audit, "the audit trail, oldest first")
    cmd.add_argument("--last", type=int, default=0, help="only the last N records")
