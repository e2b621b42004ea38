"""`pumpside station loyalty-rule | loyalty-rules | reward-add | rewards | redeem |
voucher-cancel | points`: loyalty on the command line (station/loyalty.py through the
service layer, as the local operator)."""
import secrets

from .station.loyalty import RULES, describe


def _rule(ledger, service, actor, args):
    value = None if args.remove else args.value
    if value is None and not args.remove:
        raise ValueError("give --value N (or --remove)")
    service.set_loyalty_rule(actor, args.rule, args.key, value)
    print("loyalty rule %s %s: %s" % (args.rule, args.key, "removed" if value is None
                                      else value))


def _rules(ledger, service, actor, args):
    rules = service.loyalty_rules(actor)
    for grade, rate in sorted(rules["grade"].items()):
        print("grade %s: %d point(s) per currency unit" % (grade, rate))
    for kind, percent in sorted(rules["card_kind"].items()):
        print("card kind %s: x %d %%" % (kind, percent))
    for day in rules["double_day"]:
        print("double points on %s" % day)
    if not any(rules.values()):
        print("no rules: no card sale earns points")


def _reward_add(ledger, service, actor, args):
    reward_id = service.add_reward(actor, args.name, args.kind, args.value, args.cost)
    print("reward %d added" % reward_id)


def _rewards(ledger, service, actor, args):
    for r in service.rewards(actor):
        print("%d %s: %s for %d points%s" % (r["id"], r["name"], describe(r), r["cost"],
                                             "" if r["active"] else " (withdrawn)"))


def _redeem(ledger, service, actor, args):
    redemption = args.id or secrets.token_hex(8)
    voucher = service.redeem(actor, args.card, args.reward, redemption)
    points = service.points(actor, args.card)
    print("redemption %s: voucher %s for the card's next fill (%s), %d points left"
          % (redemption, describe(voucher), voucher["state"], points["totals"]["balance"]))


def _cancel(ledger, service, actor, args):
    voucher = service.cancel_voucher(actor, args.id)
    print("voucher %s cancelled: %d points back" % (args.id, voucher["cost"]))


def _points(ledger, service, actor, args):
    p = service.points(actor, args.card)
    t = p["totals"]
    print("card %s: %d points (earned %d, redeemed %d, reversed %d, carried %+d)" % (
        p["masked"], t["balance"], t["earned"], t["redeemed"], t["reversed"], t["carried"]))
    for row in p["journal"]:
        print("  %s %+d %s" % (row["kind"], row["points"], row["why"]))
    for v in p["vouchers"]:
        print("  voucher %s: %s, %s" % (v["id"], describe(v), v["state"]))


def add_loyalty_actions(action):
    """The loyalty subcommands (`action` makes one, as station_cli.add_station's)."""
    cmd = action("loyalty-rule", _rule, "set an earning rule (a manager's): --rule grade "
                 "--key 92|* --value POINTS_PER_UNIT; --rule card_kind --key registered "
                 "--value PERCENT; --rule double_day --key 2026-12-24|sun --value 1")
    cmd.add_argument("--rule", required=True, choices=RULES)
    cmd.add_argument("--key", required=True)
    cmd.add_argument("--value", type=int)
    cmd.add_argument("--remove", action="store_true", help="remove the rule")
    action("loyalty-rules", _rules, "the earning rules")
    cmd = action("reward-add", _reward_add, "a reward for points (a manager's)")
    cmd.add_argument("--name", required=True)
    cmd.add_argument("--kind", required=True, choices=("percent", "amount"),
                     help="percent: VALUE %% off the next fill; amount: VALUE minor units "
                     "off")
    cmd.add_argument("--value", type=int, required=True)
    cmd.add_argument("--cost", type=int, required=True, help="points")
    action("rewards", _rewards, "the rewards")
    cmd = action("redeem", _redeem, "spend a card's points on a reward: a voucher for its "
                 "next fill (the same --id again spends once)")
    cmd.add_argument("--card", required=True, help="the card's 16-digit number")
    cmd.add_argument("--reward", type=int, required=True)
    cmd.add_argument("--id", help="the redemption's id (default: a new one, printed; give "
                     "it again to retry without spending twice)")
    cmd = action("voucher-cancel", _cancel, "take back a pending voucher: its points "
                 "return (a manager's)")
    cmd.add_argument("--id", required=True)
    cmd = action("points", _points, "a card's points, their journal and its vouchers")
    cmd.add_argument("--card", required=True, help="the card's 16-digit number")
