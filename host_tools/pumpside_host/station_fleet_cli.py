"""`pumpside station fleet-*`: the fleet desk on the command line (station/fleet.py through
the service layer, as the local operator). A vehicle card is issued in the bench's virtual
issuing reader (--issuer-keys, --cards: as card-issue); its allocation reaches it with
`card-load --asn N` (the desk writes its restrictions at that load). The driver's PIN
comes from $PUMPSIDE_CARD_PIN or is asked, never an option."""
from .station.fleet import LIMITS, METHODS, MODES, statement_csv
from .station.masking import mask_card
from .station_cards_cli import _pin, _with_reader


def _company_add(ledger, service, actor, args):
    cid = service.fleet_company_add(actor, args.name, args.contact or "", args.mode,
                                    args.credit_limit)
    print("fleet company %d: %s (%s)" % (cid, args.name, args.mode))


def _company_set(ledger, service, actor, args):
    service.fleet_company_set(actor, args.company, args.contact or "", args.mode,
                              args.credit_limit)
    print("fleet company %d: %s, credit limit %d" % (args.company, args.mode,
                                                     args.credit_limit))


def _deposit(ledger, service, actor, args):
    service.fleet_deposit(actor, args.company, args.amount, args.method)
    print("fleet company %d: %d paid in (%s), balance %d" % (
        args.company, args.amount, args.method, service.fleet.balance(args.company)))


def _allocate(ledger, service, actor, args):
    if args.back:
        service.fleet_takeback(actor, args.asn, args.back)
        print("%d taken back from card %s" % (args.back, mask_card(args.asn)))
    if args.amount:
        load = service.fleet_allocate(actor, args.asn, args.amount)
        print("%d allocated to card %s (load %d: card-load --asn puts it on the card)"
              % (args.amount, mask_card(args.asn), load))


def _card_issue(ledger, service, actor, args):
    asn = _with_reader(args, ledger, True, lambda reader: service.fleet_card_issue(
        actor, reader, args.company, args.plate, _pin()))
    print("fleet card %s issued for %s (company %d); in %s" % (
        mask_card(asn), args.plate, args.company, args.cards))


def _limits(ledger, service, actor, args):
    limits = {name: getattr(args, name) for name in LIMITS
              if getattr(args, name) is not None}
    old = service.fleet.card(args.asn)
    service.fleet_card_limits(actor, args.asn, old["grades"] if args.grades is None
                              else args.grades, old["window"] if args.window is None
                              else args.window, **limits)
    print("card %s: limits set; the card gets them at its next load" % mask_card(args.asn))


def _fleet(ledger, service, actor, args):
    if args.company is None:
        for c in service.fleet_companies(actor):
            print("%d %s %s credit limit %d paid in %d balance %d" % (
                c["id"], c["name"], c["mode"], c["credit_limit"], c["paid_in"],
                c["balance"]))
        return
    account = service.fleet_account(actor, args.company)
    print("%s %s balance %d (paid in %d, credit limit %d)" % (
        account["name"], account["mode"], account["balance"], account["paid_in"],
        account["credit_limit"]))
    for v in account["cards"]:
        print("  %s %s %s grades %s window %s balance %d waiting %d month left %s" % (
            v["masked"], v["plate"], v["status"], v["grades"] or "any", v["window"] or "any",
            v["balance"], v["waiting"], "-" if v["month_left_amount"] is None
            else v["month_left_amount"]))


def _statement(ledger, service, actor, args):
    print(statement_csv(service.fleet_statement(actor, args.company, args.month)), end="")


def add_fleet_actions(action):
    """The fleet desk's subcommands (`action` makes one, as station_cli.add_station's)."""
    cmd = action("fleet-company-add", _company_add, "a fleet company account (a manager's)")
    cmd.add_argument("--name", required=True)
    cmd.add_argument("--contact")
    cmd.add_argument("--mode", choices=MODES, default="prepaid")
    cmd.add_argument("--credit-limit", type=int, default=0, help="minor units (credit)")
    cmd = action("fleet-company-set", _company_set, "a company's contact, mode, credit limit")
    cmd.add_argument("--company", type=int, required=True)
    cmd.add_argument("--contact")
    cmd.add_argument("--mode", choices=MODES, required=True)
    cmd.add_argument("--credit-limit", type=int, default=0)
    cmd = action("fleet-deposit", _deposit, "money a company paid into its master account")
    cmd.add_argument("--company", type=int, required=True)
    cmd.add_argument("--amount", type=int, required=True, help="minor units")
    cmd.add_argument("--method", choices=METHODS, default="transfer")
    cmd = action("fleet-allocate", _allocate, "allocate (分配) from the company's account to "
                 "a vehicle card (--amount) or take back what waits for it (--back)")
    cmd.add_argument("--asn", required=True)
    cmd.add_argument("--amount", type=int, default=0)
    cmd.add_argument("--back", type=int, default=0)
    cmd = action("fleet-card-issue", _card_issue, "issue a vehicle card (a blank one in the "
                 "issuing reader) bound to a company and a plate; the driver's PIN from "
                 "$PUMPSIDE_CARD_PIN or asked")
    cmd.add_argument("--issuer-keys", metavar="FILE")
    cmd.add_argument("--cards", metavar="FILE")
    cmd.add_argument("--company", type=int, required=True)
    cmd.add_argument("--plate", required=True)
    cmd = action("fleet-limits", _limits, "a vehicle card's allowed grades, limits (0: none) "
                 "and time window HHMM-HHMM")
    cmd.add_argument("--asn", required=True)
    cmd.add_argument("--grades", help="comma separated, empty: any")
    cmd.add_argument("--window", help="HHMM-HHMM, empty: any time")
    for name in LIMITS:
        cmd.add_argument("--" + name.replace("_", "-"), dest=name, type=int,
                         help="minor units" if name.endswith("amount") else "millilitres")
    cmd = action("fleet", _fleet, "the fleet companies, or one's account and vehicle cards")
    cmd.add_argument("--company", type=int)
    cmd = action("fleet-statement", _statement, "a company's month as CSV (per vehicle and "
                 "grade)")
    cmd.add_argument("--company", type=int, required=True)
    cmd.add_argument("--month", required=True, help="YYYY-MM")
