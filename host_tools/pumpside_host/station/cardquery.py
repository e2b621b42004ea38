"""A card's account as the desk shows it (carddesk.Desk.query): holder (ID masked), state,
bills (loads, sales, escapes, transfers), its balance as the station knows it against the
card's own, the differences flagged, and its loyalty points and pending voucher."""
from pumpside.card.apdu import CardError

from .cardbook import STARTED
from .carddesk import DeskError, why_of
from .masking import mask_card


def query(desk, asn, reader=None):
    """A card's account: holder (ID masked), state, its bills (loads, sales, escapes,
    transfers), its balance as the station knows it, the card's own (read from the
    reader when given, else the last it told), and the differences flagged."""
    record = desk.book.get(asn) if isinstance(asn, str) else None
    if record is None:
        raise DeskError("no card %s issued here" % mask_card(asn))
    names = ("kind", "amount", "ctc", "balance", "verified")
    sales = [dict(zip(names, row)) for row in desk.book.debits(asn)]
    escapes = [{"terminal": e["terminal"], "sale": e["sale"], "amount": e["amount"],
                "settled": e["settled_by"] is not None}
               for e in desk.ledger.cards.grey.records(asn)]
    balance = desk.book.balance(asn)
    card_balance, said = None, "unknown"
    if reader is not None:
        card, _ = desk._open(reader)
        try:
            card_balance, said = card.balance(), "read from the card now"
        except CardError as e:
            raise DeskError("cannot read the card: %s" % why_of(e)) from None
    else:
        last = desk.book.last_reported(asn)
        if last is not None:
            card_balance, said = last[0], "the card's last bill or load (at %d)" % last[1]
        else:  # every card is issued empty
            card_balance, said = 0, "issued empty, no bill or load since"
    flags = []
    if card_balance is not None and card_balance != balance:
        flags.append("the card says %d, its bills %d: %s" % (
            card_balance, balance, "bills may still be offline at a pump"
            if reader is not None else "a newer bill may not be uploaded yet"))
    loads = desk.book.loads(asn)
    if any(load["state"] == STARTED for load in loads):
        flags.append("a load was cut: insert the card at the desk to finish it")
    if any(not s["verified"] for s in sales):
        flags.append("%d sale bill(s) with an unverified TAC"
                     % sum(not s["verified"] for s in sales))
    if any(load["how"] and "DOES NOT VERIFY" in load["how"] for load in loads):
        flags.append("a load's TAC does not verify")
    if record["status"] == "closed" and balance != desk.ledger.cards.grey.owed(asn):
        flags.append("closed, yet its bills leave %d (a bill that came after it was "
                     "replaced)" % balance)
    holder = dict(record, id_number="*" * 4 + record["id_last4"]
                  if record["id_last4"] else "")
    del holder["id_last4"]
    return {"card": holder, "masked": mask_card(asn), "balance": balance,
            "card_balance": card_balance, "card_balance_from": said,
            "waiting": desk.book.waiting(asn), "loads": loads, "sales": sales,
            "escapes": escapes, "transfers": desk.book.transfers(asn), "flags": flags,
            # loyalty (loyalty.py): earned, redeemed, reversed, balance; the next fill's
            # voucher (None: none)
            "points": desk.ledger.loyalty.totals(asn),
            "voucher": desk.ledger.loyalty.voucher_for(asn)}
