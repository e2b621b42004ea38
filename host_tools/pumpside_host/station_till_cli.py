"""`pumpside station till | till-pay | till-prepay | till-change | till-refuse-next`: the
kiosk's till on the command line (station/till.py through the service layer, as the local
operator). Amounts are minor units (cents)."""
import time

from .station.till import TILL_KINDS


def _money(minor):
    return "%d.%02d" % (minor // 100, minor % 100)


def _till(ledger, service, actor, args):
    till = service.till(actor)
    print("unpaid sales (id pump sale nozzle grade litres amount time):")
    for s in till["unpaid"]:
        print("  %d %s %d %s %s %d.%03d %s %s" % (
            s["id"], s["terminal"], s["sale"], s["nozzle"] or "-", s["grade"] or "-",
            s["ml"] // 1000, s["ml"] % 1000, _money(s["amount"]),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["at"] or s["received"]))))
    if not till["unpaid"]:
        print("  (none)")
    print("change owed (order pump paid used change):")
    for o in till["change"]:
        print("  %s %s/%d %s %s %s %s" % (o["order_no"], o["terminal"], o["pump"],
                                          _money(o["paid"]), o["kind"], _money(o["capture"]),
                                          _money(o["refund"])))
    if not till["change"]:
        print("  (none)")
    print("refuse the next sale on a pump with an unpaid one: %s%s" % (
        "on" if till["refuse_next"] else "off",
        " (held: %s)" % ", ".join(till["held"]) if till["held"] else ""))


def _pay(ledger, service, actor, args):
    sale = service.till_pay(actor, args.sale, args.kind)
    print("sale %d of %s: %s taken (%s)" % (sale["sale"], sale["terminal"],
                                            _money(sale["amount"]), args.kind))


def _prepay(ledger, service, actor, args):
    order = service.till_prepay(actor, args.terminal, args.pump, args.amount, args.kind)
    print("order %s: pump %s/%d prepaid %s (%s)" % (order["order_no"], order["terminal"],
                                                    order["pump"], _money(order["amount"]),
                                                    args.kind))


def _change(ledger, service, actor, args):
    amount = service.till_change(actor, args.order)
    print("order %s: change %s handed over" % (args.order, _money(amount)))


def _refuse_next(ledger, service, actor, args):
    service.set_till_refuse_next(actor, args.state == "on")
    print("refuse the next sale on a pump with an unpaid one: %s" % args.state)


def add_till_actions(action):
    """The till's subcommands (`action` makes one, as station_cli.add_station's)."""
    action("till", _till, "the till: attended sales waiting for payment, prepaid orders' "
           "change owed, the refuse-next setting")
    cmd = action("till-pay", _pay, "take payment for an unpaid attended sale (its id in "
                 "`station till`)")
    cmd.add_argument("sale", type=int)
    cmd.add_argument("--kind", choices=TILL_KINDS, required=True)
    cmd = action("till-prepay", _prepay, "prepay a pump: the customer paid --amount at the "
                 "till", terminal="required")
    cmd.add_argument("--pump", type=int, default=1, help="the pump (nozzle side) 1-99")
    cmd.add_argument("--amount", type=int, required=True, help="minor units")
    cmd.add_argument("--kind", choices=TILL_KINDS, required=True)
    cmd = action("till-change", _change, "a prepaid order's change owed handed over")
    cmd.add_argument("order")
    cmd = action("till-refuse-next", _refuse_next, "refuse the next sale on a pump with an "
                 "unpaid one (a manager's)")
    cmd.add_argument("state", choices=("on", "off"))
