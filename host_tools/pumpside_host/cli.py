"""`pumpside` command line: a command table in mpremote's manner.

  pumpside run [--litres N] [--lpm F] [--keep]   virtual pump with a watchable sale
  pumpside campaign [--cuts N] [--seed S]        power-cut campaign on the virtual pump
"""
import argparse
import sys


def _cmd_run(args):
    from .demo import run_demo

    return run_demo(litres=args.litres, lpm=args.lpm, keep=args.keep)


def _cmd_campaign(args):
    from . import campaign

    result = campaign.run(args.cuts, args.seed,
                          log=(lambda t: print(t, file=sys.stderr)) if args.verbose else None)
    campaign.print_result(result)
    bad = [k for k in campaign.MUST_BE_ZERO if result[k]]
    if bad:
        print("FAILED: " + ", ".join("%s=%s" % (k, result[k]) for k in bad))
        return 1
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="pumpside", description="pumpside host tools")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the virtual pump (firmware on MicroPython + bench)")
    r.add_argument("--litres", type=int, default=20, help="volume preset in litres")
    r.add_argument("--lpm", type=float, default=40.0, help="fast-stage flow, L/min")
    r.add_argument("--keep", action="store_true", help="keep the pump running afterwards")
    r.set_defaults(func=_cmd_run)
    c = sub.add_parser("campaign", help="power cuts at random moments of random sales")
    c.add_argument("--cuts", type=int, default=200)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    c.set_defaults(func=_cmd_campaign)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
