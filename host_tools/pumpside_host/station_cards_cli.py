"""`pumpside station card-*`: the card desk on the command line (station/carddesk.py
through the service layer, as the local operator). The issuing reader is the bench's
virtual one: --cards FILE is the bench's card store (`pumpside cards`), the card in the
reader a new blank one (card-issue, card-replace) or the store's card --asn. PINs come
from $PUMPSIDE_CARD_PIN (and $PUMPSIDE_CARD_NEW_PIN) or are asked, never an option: a
command line is seen by others and kept in shell histories.
"""
import getpass
import os

from .station.masking import mask_card


def _pin(env="PUMPSIDE_CARD_PIN", prompt="card PIN: "):
    return os.environ.get(env) or getpass.getpass(prompt)


class _Reader:
    """The bench's issuing reader over a card store file: the card put in, saved back
    (under its number, once it has one) whatever happened, as a real card keeps what
    was written to it."""

    def __init__(self, args, ledger, blank):
        from .bench.cards import CardStore, IssuingReader, VirtualCard

        if not args.issuer_keys or not args.cards:
            raise ValueError("the card desk needs the issuer key file and the card reader: "
                             "--issuer-keys FILE --cards FILE")
        ledger.cards.load_keys(args.issuer_keys)  # KeyFileError (a ValueError): no keys shown
        self.store = CardStore(args.cards)
        if blank:
            card = VirtualCard.blank(self.store.issuer)
        else:
            card = self.store.cards.get(args.asn)
            if card is None:
                raise ValueError("no card %s in %s" % (mask_card(args.asn), args.cards))
        self.card = card
        self.reader = IssuingReader()
        self.reader.insert(card)

    def save(self):
        if self.card.s.get("asn"):
            self.store.add(self.card)


def _with_reader(args, ledger, blank, run):
    reader = _Reader(args, ledger, blank)
    try:
        return run(reader.reader)
    finally:
        reader.save()


def _card_issue(ledger, service, actor, args):
    asn = _with_reader(args, ledger, True, lambda reader: service.card_issue(
        actor, reader, args.kind, _pin(), args.name or "", args.id_number or "",
        args.phone or ""))
    print("card %s issued (%s); in %s" % (mask_card(asn), args.kind, args.cards))


def _card_load(ledger, service, actor, args):
    if args.cash:
        service.card_fund(actor, args.asn, args.cash, "cash")
        print("%d cash taken for card %s" % (args.cash, mask_card(args.asn)))
    if args.online:
        service.card_fund(actor, args.asn, args.online, "online")
        print("online top-up of %d recorded for card %s: it waits for the card"
              % (args.online, mask_card(args.asn)))
    if args.no_card:
        return
    done = _with_reader(args, ledger, False,
                        lambda reader: service.card_load(actor, reader, _pin()))
    account = service.card(actor, args.asn)
    print("card %s: %d load(s) on the card, balance %d" % (mask_card(args.asn), len(done),
                                                           account["balance"]))


def _card_lost(ledger, service, actor, args):
    version = service.card_lost(actor, args.asn)
    print("card %s reported lost: hotlisted (version %d), every pump has it within a "
          "heartbeat" % (mask_card(args.asn), version))


def _card_unblock(ledger, service, actor, args):
    version = service.card_unblock(actor, args.asn, args.id_last4)
    print("card %s unblocked (hotlist version %d)" % (mask_card(args.asn), version))


def _card_replace(ledger, service, actor, args):
    new, amount, loaded = _with_reader(args, ledger, True, lambda reader: service.card_replace(
        actor, reader, args.asn, _pin("PUMPSIDE_CARD_NEW_PIN", "the new card's PIN: "),
        args.id_last4))
    print("card %s replaced by %s carrying %d%s" % (
        mask_card(args.asn), mask_card(new), amount, "" if loaded or not amount else
        " (waiting on its account: card-load --asn %s finishes the load)" % new))


def _card_pin_reset(ledger, service, actor, args):
    _with_reader(args, ledger, False, lambda reader: service.card_pin_reset(
        actor, reader, args.id_last4, _pin("PUMPSIDE_CARD_NEW_PIN", "new PIN: ")))
    print("card %s: PIN reset (not shown)" % mask_card(args.asn))


def _card_setting(ledger, service, actor, args):
    service.card_setting(actor, args.name, args.value)
    print("card desk: %s = %d" % (args.name, args.value))


def _card(ledger, service, actor, args):
    if not args.asn:
        for asn in service.cards(actor):
            account = service.card(actor, asn)
            print("%s %s %s balance %d waiting %d%s" % (
                account["masked"], account["card"]["kind"], account["card"]["status"],
                account["balance"], account["waiting"], " FLAGGED" if account["flags"]
                else ""))
        return
    account = service.card(actor, args.asn)
    card = account["card"]
    print("card %s %s %s %s ID %s phone %s" % (
        account["masked"], card["kind"], card["status"], card["name"] or "-",
        card["id_number"] or "-", card["phone"] or "-"))
    if card["replaces"] or card["replaced_by"]:
        print("  replaces %s, replaced by %s" % (mask_card(card["replaces"]),
                                                 mask_card(card["replaced_by"])))
    print("  balance by its bills %d; the card's own %s (%s); waiting %d" % (
        account["balance"], "-" if account["card_balance"] is None
        else account["card_balance"], account["card_balance_from"], account["waiting"]))
    for load in account["loads"]:
        print("  load %d %s %d %s%s" % (load["id"], load["source"], load["amount"],
                                        load["state"], " (%s)" % load["how"]
                                        if load["how"] else ""))
    for sale in account["sales"]:
        print("  %s ctc %d amount %d balance %d%s" % (
            sale["kind"], sale["ctc"], sale["amount"], sale["balance"],
            "" if sale["verified"] else " TAC unverified"))
    for escape in account["escapes"]:
        print("  escape %s sale %d amount %d %s" % (escape["terminal"], escape["sale"],
                                                   escape["amount"], "settled"
                                                   if escape["settled"] else "OPEN"))
    for transfer in account["transfers"]:
        print("  carried %d to %s" % (transfer["amount"], mask_card(transfer["other"])))
    points = account["points"]
    print("  loyalty points %d (earned %d, redeemed %d, reversed %d, carried %+d)%s" % (
        points["balance"], points["earned"], points["redeemed"], points["reversed"],
        points["carried"],
        "; next fill's voucher %s" % account["voucher"]["voucher"] if account["voucher"]
        else ""))
    for flag in account["flags"]:
        print("  FLAG: %s" % flag)


def add_card_actions(action):
    """The card desk's subcommands (`action` makes one, as station_cli.add_station's)."""
    def reader(cmd, asn=True):
        cmd.add_argument("--issuer-keys", metavar="FILE", help="the issuer key file "
                         "(tac_key, load_key, purchase_key; never shown); needed with a card")
        cmd.add_argument("--cards", metavar="FILE", help="the bench's card store (the "
                         "virtual issuing reader's cards); needed with a card")
        if asn:
            cmd.add_argument("--asn", required=True, help="the card's 16-digit number")

    cmd = action("card-issue", _card_issue, "issue a new card (a blank one in the issuing "
                 "reader); its PIN from $PUMPSIDE_CARD_PIN or asked")
    reader(cmd, asn=False)
    cmd.add_argument("--kind", choices=("registered", "anonymous"), default="registered")
    cmd.add_argument("--name", help="the holder's name (registered)")
    cmd.add_argument("--id-number", help="the holder's ID number (only its last 4 kept)")
    cmd.add_argument("--phone", help="the holder's phone number")
    cmd = action("card-load", _card_load, "take money for a card (--cash, or --online: a "
                 "top-up made elsewhere) and put what waits onto the card (PIN from "
                 "$PUMPSIDE_CARD_PIN or asked); a cut load is finished first")
    reader(cmd)
    cmd.add_argument("--cash", type=int, default=0, help="cash taken at the desk (minor "
                     "units)")
    cmd.add_argument("--online", type=int, default=0, help="an online top-up to record "
                     "(a manager's)")
    cmd.add_argument("--no-card", action="store_true", help="only take the money: it "
                     "waits for the card")
    cmd = action("card-lost", _card_lost, "report a registered card lost (hotlisted)")
    cmd.add_argument("--asn", required=True)
    cmd = action("card-unblock", _card_unblock, "a card reported lost is found: take it off "
                 "the hotlist (a manager's; the holder's ID checked)")
    cmd.add_argument("--asn", required=True)
    cmd.add_argument("--id-last4", required=True, help="the last 4 characters of the "
                     "holder's ID number, as shown")
    cmd = action("card-replace", _card_replace, "a new card for one reported lost, with "
                 "the balance the station can prove (a manager's; new PIN from "
                 "$PUMPSIDE_CARD_NEW_PIN or asked)")
    reader(cmd)
    cmd.add_argument("--id-last4", required=True)
    cmd = action("card-pin-reset", _card_pin_reset, "a new PIN for the card (a manager's, "
                 "after the identity check; from $PUMPSIDE_CARD_NEW_PIN or asked)")
    reader(cmd)
    cmd.add_argument("--id-last4", required=True)
    cmd = action("card-setting", _card_setting, "a card desk setting (a manager's): "
                 "replace_wait_s, how long after a loss report a replacement waits")
    cmd.add_argument("--name", required=True, choices=("replace_wait_s",))
    cmd.add_argument("--value", type=int, required=True)
    cmd = action("card", _card, "a card's account, bills and balances, differences "
                 "flagged (without --asn: every card issued here)")
    cmd.add_argument("--asn", help="the card's 16-digit number")
