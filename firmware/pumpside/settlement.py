"""A grey card's escape, from the ESCAPE record that opens it to the one UNLOCK that
settles it (DOMAIN.md 1, docs/card.md).

An ESCAPE is a card sale that ended without its debit (card pulled, debit failed, power
cut): the card may be grey and owes the bill's amount. The journal keeps the open ones in
their table (escapes.py, in step with the log at boot); this module decides how each is
settled, once:
- here (补扣): the card comes back grey with this PSAM's lock of the escape's TTC and is
  debited the escape's amount (`settle_here`); or it comes back not grey and its own log
  says what happened to the lock (`void`: never locked, or the debit's reply was lost);
- elsewhere: another terminal debited it through the station; this terminal closes its
  escape with a marker UNLOCK (flag F_SETTLED_ELSEWHERE, no money), told by the card's
  log (`void`) or by the station's list (`take_settled`);
and the other way round: a card grey at another terminal is asked of the station
(`query_for`); an escape the station says is owed (`owed`) is debited here and journaled
under a sale number of this terminal's (`settle_for_other`, flag F_ELSEWHERE). So is a
card grey from this terminal whose escape its table no longer holds (dropped when full:
the station holds it).

Each way writes one UNLOCK record: a power cut before it leaves the escape open, after it
settled, so a cut anywhere settles the escape once (the card itself refuses a second
debit for one lock).
"""
from . import log
from . import record as rec
from .card.psam import T_UNLOCK
from .compat import const
from .journal import JournalError

_MAX_SETTLED = const(8)  # escapes settled elsewhere taken from one frame (the station sends 4)


def find(journal, asn=None, ttc=None, sale=None):
    """The oldest open escape (the journal's table) of card `asn` (10 bytes, as the bill
    holds it), PSAM TTC `ttc` and sale number `sale`, each matching any if None; or None."""
    for _seq, bill in journal.escapes.entries():
        if (asn is None or bill["asn"] == asn) and (ttc is None or bill["psam_ttc"] == ttc) \
                and (sale is None or bill["sale"] == sale):
            return bill
    return None


def own_escape(journal, asn, grey, tid):
    """The open escape of this terminal for a card whose grey status names its PSAM
    (`tid`), matched by the lock's TTC; None for a card not grey or grey elsewhere."""
    if grey["grey"] and grey["terminal_id"] == tid:
        return find(journal, asn, grey["ttc"])
    return None


def query_for(asn8, grey, own):
    """The GREY_QUERY for a grey card with no open escape here (`own`: none): locked by
    another terminal's PSAM, or by this one's when the table dropped it. The station is
    asked for the escape of the lock (card, locking PSAM, TTC, CTC); None: nothing to ask."""
    if not grey["grey"] or own is not None:
        return None
    return {"asn": asn8.hex(), "terminal": grey["terminal_id"].hex(), "ttc": grey["ttc"],
            "ctc": grey["ctc"]}


def owed(answer, asn8, grey):
    """What the card owes from the station's GREY_ANSWER (None: no answer in time), as the
    card sale settles it: {"station": answer, "amount"}; None unless the answer is an
    escape owed by this very lock (card and TTC) with sound figures."""
    if answer is None or answer.get("status") != "owed":
        return None
    if answer.get("asn") != asn8.hex() or answer.get("ttc") != grey["ttc"]:
        return None
    for key in ("amount", "price", "ml"):
        value = answer.get(key)
        if not isinstance(value, int) or value is True or value is False \
                or not 0 <= value <= 0x7FFFFFFF:
            return None
    grade = answer.get("grade")
    if not isinstance(grade, str) or len(grade) > 4:
        return None
    return {"station": answer, "amount": answer["amount"]}


def settle_here(journal, escape, time, amount, flags, card):
    """UNLOCK of this terminal's open escape: the card paid `amount` here (补扣; 0 when it
    was never locked). `card` holds the debit's fields (tac, gmac, balance after). Raises
    JournalError for an escape that is not open: it is settled once."""
    if find(journal, escape["asn"], escape["psam_ttc"]) is None:
        raise JournalError("sale %d is not waiting for its card" % escape["sale"])
    bill = dict(escape)
    bill.update(card)
    bill["time"] = time
    bill["amount"] = amount
    bill["flags"] = flags
    return journal.append(rec.UNLOCK, bill)


def close_elsewhere(journal, escape, time, by, flags=0):
    """The marker UNLOCK of this terminal's escape that another terminal settled (PSAM id
    `by`, 6 bytes): amount 0, nothing moves here; it leaves the table."""
    card = rec.by_fields(by)
    card["balance"] = 0
    return settle_here(journal, escape, time, 0, rec.F_SETTLED_ELSEWHERE | flags, card)


def settle_for_other(journal, bill):
    """UNLOCK of another terminal's escape paid here through the station (`bill` from
    rec.sale_bill, with the card's fields and flag F_ELSEWHERE), under the next sale
    number of this terminal's own: the other's could clash with one of ours."""
    bill["sale"] = journal.sale_no + 1
    return journal.append(rec.UNLOCK, bill)


def void(journal, asn, card_log, tid, time):
    """A card that is not grey, with an escape open here: it was never locked (the cut
    came before GREY LOCK), or its debit went through and only the reply was lost (its log
    shows this PSAM's debit of the lock), or another terminal settled it through the
    station (its log shows that one's debit of the lock). Each such escape is settled
    accordingly, once; one still owed stays open for the station. OSError: the journal
    could not be written."""
    escape = find(journal, asn)
    while escape is not None:
        paid = settler = None
        for entry in card_log:
            if entry["type"] == T_UNLOCK and entry["ctc"] == escape["ctc"]:
                if entry["terminal_id"] == tid:
                    paid = entry["amount"]
                else:
                    settler = entry["terminal_id"]
                break
        if paid is None and settler is None and escape["amount"]:
            log.event("escape_open", {"sale": escape["sale"], "amount": escape["amount"]})
            return
        if settler is not None:  # nothing is taken here: the escape is closed
            close_elsewhere(journal, escape, time, settler, rec.F_CARD_LOG)
            log.event("escape_settled_elsewhere", {"sale": escape["sale"], "psam": settler.hex()})
        else:
            flags = rec.F_CARD_LOG if paid is not None else rec.F_NOT_LOCKED
            settle_here(journal, escape, time, paid or 0, flags, {})
            log.event("unlocked_grey", {"sale": escape["sale"], "amount": paid or 0,
                                        "flags": flags})
        escape = find(journal, asn)


def take_settled(journal, items, time):
    """The station's list (SALES_ACK, HEARTBEAT `settled`) of this terminal's escapes that
    another terminal settled: each still open here is closed by its marker, which goes up
    like any record. An item names the escape's card, CTC and TTC as well as its sale
    number (a sale number alone could be another journal's); a malformed one is skipped,
    a write that fails waits for the list to come again."""
    if not isinstance(items, list):
        return
    for item in items[:_MAX_SETTLED]:
        if not isinstance(item, dict):
            continue
        number = item.get("sale")
        escape = None if number is None else find(journal, sale=number)
        settler = item.get("psam")
        if escape is None or not (isinstance(settler, str) and len(settler) == 12) \
                or item.get("asn") != escape["asn"][:8].hex() \
                or item.get("ctc") != escape["ctc"] or item.get("ttc") != escape["psam_ttc"]:
            continue
        try:
            close_elsewhere(journal, escape, time, bytes.fromhex(settler))
        except (OSError, ValueError) as e:
            log.event("escape_not_closed", {"sale": escape["sale"], "why": str(e)})
            return
        log.event("escape_settled_elsewhere", {"sale": escape["sale"], "by": item.get("by"),
                                               "by_sale": item.get("by_sale"), "psam": settler})
