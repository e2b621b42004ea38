"""A card's account as the desk shows it (carddesk.Desk.query): holder (ID masked), state,
bills (loads, sales, escapes, transfers), its balance as the station knows it against the
card's own, the differences flagged, and its loyalty points and pending voucher."""
from pumpside.card.apdu import CardError

from .cardbook import STARTED
from .carddesk import DeskError, DeskProblem, why_of
from .masking import mask_card
from .problems import Note


def query(desk, asn, reader=None):
    """A card's account: holder (ID masked), state, its bills (loads, sales, escapes,
    transfers), its balance as the station knows it, the card's own (read from the
    reader when given, else the last it told), and the differences flagged."""
    record = desk.book.get(asn) if isinstance(asn, str) else None
    if record is None:
        raise DeskProblem("card_unknown", card=mask_card(asn))
    names = ("kind", "amount", "ctc", "balance", "verified")
    sales = [dict(zip(names, row)) for row in desk.book.debits(asn)]
    escapes = [{"terminal": e["terminal"], "sale": e["sale"], "amount": e["amount"],
                "settled": e["settled_by"] is not None}
               for e in desk.ledger.cards.grey.records(asn)]
    balance = desk.book.balance(asn)
    card_balance, said = None, Note("balance_unknown")
    if reader is not None:
        card, _ = desk._open(reader)
        try:
            card_balance, said = card.balance(), Note("balance_read")
        except CardError as e:
            raise DeskError("cannot read the card: %s" % why_of(e)) from None
    else:
        last = desk.book.last_reported(asn)
        if last is not None:
            card_balance, said = last[0], Note("balance_last", at=last[1])
        else:  # every card is issued empty
            card_balance, said = 0, Note("balance_issued")
    flags = []
    if card_balance is not None and card_balance != balance:
        flags.append(Note("card_differs_offline" if reader is not None
                          else "card_differs_upload", card=card_balance, bills=balance))
    loads = desk.book.loads(asn)
    if any(load["state"] == STARTED for load in loads):
        flags.append(Note("load_cut"))
    if any(not s["verified"] for s in sales):
        flags.append(Note("tac_unverified", count=sum(not s["verified"] for s in sales)))
    if any(load["how"] and "DOES NOT VERIFY" in load["how"] for load in loads):
        flags.append(Note("load_tac_bad"))
    if record["status"] == "closed" and balance != desk.ledger.cards.grey.owed(asn):
        flags.append(Note("closed_leaves", balance=balance))
    holder = dict(record, id_number="*" * 4 + record["id_last4"]
                  if record["id_last4"] else "")
    del holder["id_last4"]
    return {"card": holder, "masked": mask_card(asn), "balance": balance,
            "card_balance": card_balance, "card_balance_from": str(said),
            "said": {"card_balance_from": said, "flags": flags},  # as Notes (the web's)
            "waiting": desk.book.waiting(asn), "loads": loads, "sales": sales,
            "escapes": escapes, "transfers": desk.book.transfers(asn),
            "flags": [str(flag) for flag in flags],
            # loyalty (loyalty.py): earned, redeemed, reversed, balance; the next fill's
            # voucher (None: none)
            "points": desk.ledger.loyalty.totals(asn),
            "voucher": desk.ledger.loyalty.voucher_for(asn)}
