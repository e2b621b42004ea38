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
                                                 operators, audit, gateway-set, pay-windows,
                                                 pay-orders
                                                 (`station ACTION --help`)
  pumpside gateway-sandbox --port P --state FILE [--chaos P] [--refund-failures N]
                                                 a sandbox payment gateway (phone payment)
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


def _cmd_gateway_sandbox(args):
    from .bench import paysandbox

    if not 0 <= args.chaos <= 1 or args.refund_failures < 0 or args.retry_s <= 0:
        print("error: --chaos is 0 to 1, --refund-failures >= 0, --retry-s > 0",
              file=sys.stderr)
        return 2
    paysandbox.serve(args.port, args.state, host=args.host, retry_s=args.retry_s,
                     chaos=args.chaos, refund_failures=args.refund_failures, seed=args.seed)
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
    cmd = sub.add_parser("gateway-sandbox", help="a sandbox payment gateway (WeChat Pay v3 "
                         "style) for phone payment: its own process and state")
    cmd.add_argument("--port", type=int, default=8090, help="0: any free port (printed)")
    cmd.add_argument("--host", default="127.0.0.1")
    cmd.add_argument("--state", required=True, help="its SQLite file (its RSA key beside it: "
                     "STATE.key, the public key the station verifies with: STATE.pub)")
    cmd.add_argument("--retry-s", type=float, default=1.0,
                     help="a notification not acknowledged is sent again after this, "
                     "doubling (capped at 60 s)")
    cmd.add_argument("--chaos", type=float, default=0.0, metavar="P",
                     help="each notification duplicated, and held back, with probability P")
    cmd.add_argument("--refund-failures", type=int, default=0, metavar="N",
                     help="each refund's first N tries fail (HTTP 503 SYSTEM_ERROR)")
    cmd.add_argument("--seed", type=int, default=None)
    cmd.set_defaults(func=_cmd_gateway_sandbox)
    from .station_cli import add_station

    add_station(sub)

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
