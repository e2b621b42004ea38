"""`pumpside` command line: a command table in mpremote's manner.

  pumpside run [--litres N] [--lpm F] [--keep]   virtual pump with a watchable sale
"""
import argparse
import sys


def _cmd_run(args):
    from .demo import run_demo

    return run_demo(litres=args.litres, lpm=args.lpm, keep=args.keep)


def build_parser():
    p = argparse.ArgumentParser(prog="pumpside", description="pumpside host tools")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the virtual pump (firmware on MicroPython + bench)")
    r.add_argument("--litres", type=int, default=20, help="volume preset in litres")
    r.add_argument("--lpm", type=float, default=40.0, help="fast-stage flow, L/min")
    r.add_argument("--keep", action="store_true", help="keep the pump running afterwards")
    r.set_defaults(func=_cmd_run)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
