"""`pumpside` command line: a command table in mpremote's manner.

  pumpside run [--auto] [--litres N] [--lpm F] [--keep]
                                                 the virtual pump: a console to play it
                                                 (or, --auto / no terminal, a watchable sale)
  pumpside campaign [--cuts N] [--seed S] [--cards]  power-cut campaign on the virtual pump
  pumpside cards issue|list --store FILE ...     test fuel cards for the bench
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

    result = campaign.run(args.cuts, args.seed, cards=args.cards,
                          log=(lambda t: print(t, file=sys.stderr)) if args.verbose else None)
    campaign.print_result(result)
    bad = [k for k in campaign.MUST_BE_ZERO if result.get(k)]
    if bad:
        print("FAILED: " + ", ".join("%s=%s" % (k, result[k]) for k in bad))
        return 1
    return 0


def _cmd_cards(args):
    from .bench.cards import CardStore

    store = CardStore(args.store)
    if args.action == "list":
        for asn, card in sorted(store.cards.items()):
            s = card.s
            print("%s balance %d.%02d type %d expiry %s%s%s" % (
                asn, s["balance"] // 100, s["balance"] % 100, s["card_type"], s["expiry"],
                " GREY" if s["grey"] else "", " PIN-BLOCKED" if not s["pin_tries"] else ""))
        return 0
    if not (len(args.asn) == 16 and all(c in "0123456789" for c in args.asn)):
        print("error: --asn must be 16 digits", file=sys.stderr)
        return 2
    if not (4 <= len(args.pin) <= 6 and args.pin.isdigit()):
        print("error: --pin must be 4 to 6 digits", file=sys.stderr)
        return 2
    grades = [g for g in args.grades.split(",") if g] if args.grades else []
    store.issue(args.asn, args.balance, pin=args.pin, expiry=args.expiry,
                card_type=args.type, grades=grades, daily_fills=args.daily_fills,
                daily_amount=args.daily_amount, discount=args.discount, name=args.name,
                plate=args.plate, staff_pin=args.staff_pin, status=0 if args.blocked else 1)
    print("issued %s with balance %d (PIN not shown)" % (args.asn, args.balance))
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="pumpside", description="pumpside host tools")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the virtual pump (firmware on MicroPython + bench)")
    r.add_argument("--litres", type=int, default=20, help="volume preset in litres")
    r.add_argument("--lpm", type=float, default=40.0, help="fast-stage flow, L/min")
    r.add_argument("--keep", action="store_true", help="keep the pump running afterwards")
    r.add_argument("--auto", action="store_true",
                   help="no console: a scripted attended sale to watch (the default when "
                   "stdin or stdout is not a terminal)")
    r.set_defaults(func=_cmd_run)
    c = sub.add_parser("campaign", help="power cuts at random moments of random sales")
    c.add_argument("--cuts", type=int, default=200)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--cards", action="store_true", help="card sales (grey lock, debit)")
    c.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    c.set_defaults(func=_cmd_campaign)
    k = sub.add_parser("cards", help="issue and list the bench's test fuel cards")
    k.add_argument("action", choices=("issue", "list"))
    k.add_argument("--store", required=True, help="card store (JSON) the bench uses")
    k.add_argument("--asn", default="6200000000000001", help="card number, 16 digits")
    k.add_argument("--balance", type=int, default=100000, help="minor units")
    k.add_argument("--pin", default="123456")
    k.add_argument("--expiry", default="20301231", help="YYYYMMDD")
    k.add_argument("--type", type=int, default=1, help="1 user, 4 staff, 6 company")
    k.add_argument("--grades", default="", help="allowed grades, e.g. 92,95")
    k.add_argument("--daily-fills", type=int, default=0)
    k.add_argument("--daily-amount", type=int, default=0)
    k.add_argument("--discount", type=int, default=0, help="percent")
    k.add_argument("--name", default="TEST")
    k.add_argument("--plate", default="", help="vehicle plate: a plate-bound card")
    k.add_argument("--staff-pin", default="", help="staff password of a plate-bound card")
    k.add_argument("--blocked", action="store_true", help="issue the card blocked")
    k.set_defaults(func=_cmd_cards)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
