"""A load (圈存) at a pump, the station's side (firmware: cardload.py; docs/card.md).

- seen(): CARD_INFO's loads from the card's log: a started load there is done.
- offer(): a CARD_ANSWER contributor (cardinfo.PARTS): the oldest load waiting for the
  card (pending, or started and not known to be on the card) as `load` and `load_id`.
- load(): LOAD -> LOAD_ANSWER. First each load of the card recorded as started is
  settled from the online counter INITIALIZE FOR LOAD reported (past the load's: it is
  on the card, done; the same: it never got it, waiting again: carddesk.settle_started).
  Then the load asked for must be waiting, of that amount; MAC1 is checked with the
  card's load key (derived here from the issuer's master key in the key file: it never
  leaves the station), the load is recorded as started (committed) and MAC2 goes back
  with the date and time CREDIT FOR LOAD must carry.
- stored(): the pump's LOAD record (record.py) once the ledger stored it: a done one
  moves the load to "on the card" with its TAC (checked against the started load's
  inputs), exactly once (a load done already, by this record or by the card's counter
  at the desk or another pump, stays as it is); an intent or a cut changes nothing (the
  card's counter decides at its next load).

What a pump changes is audited as `terminal:<id>` (service.terminal_tx).
"""
import logging
import struct

from pumpside import record as rec

from .cardbook import DONE, PENDING, STARTED, CardBook
from .cardio import T_LOAD
from .masking import mask_card

log = logging.getLogger("pumpside.station")


def offer(ledger, asn):
    """{"load", "load_id"} of the oldest load waiting for an active card whose issuer's
    load key the station holds, or {}. Not for a fleet card: the desk writes its
    restrictions (EF1C, EF1D) at each load, which a pump does not."""
    book = CardBook(ledger.db)
    record = book.get(asn)
    if record is None or record["status"] != "active":
        return {}
    if record["kind"] == "fleet":  # its restrictions are written at each load: the desk's
        return {}
    if not _keys(ledger, record):
        return {}
    waiting = book.loads(asn, (PENDING, STARTED))
    if not waiting:
        return {}
    return {"load": waiting[0]["amount"], "load_id": waiting[0]["id"]}


def seen(ledger, terminal, payload, now=None):
    """CARD_INFO's `loads` (the card's log entries of type 02: online counter, amount,
    terminal id, date and time): a started load among them is on the card, done (the TAC
    recomputed). Before the PIN the counter is not known: a load not in the log stays as
    it is (LOAD's counter decides)."""
    asn = payload["asn"]
    book = CardBook(ledger.db)
    if not payload.get("loads") or not book.loads(asn, (STARTED,)):
        return
    log_entries = []
    for entry in payload["loads"]:
        counter, amount, tid, at = entry
        try:
            log_entries.append({"type": T_LOAD, "ctc": counter, "amount": amount,
                                "terminal_id": bytes.fromhex(tid),
                                "datetime": bytes.fromhex(at)})
        except (TypeError, ValueError):
            continue
    keys = _keys(ledger, book.get(asn))
    if keys is None:
        return
    desk, tx = _service(ledger, terminal)
    desk.settle_started(tx, asn, keys, log_entries, None, now)


def _keys(ledger, record):
    """The card's load and TAC keys, or None when the key file lacks them."""
    from .carddesk import Desk, DeskError

    try:
        return Desk(ledger).card_keys(record, ("load", "tac"))
    except DeskError:
        return None


def _service(ledger, terminal):
    from .service import Service

    service = Service(ledger)
    return service.desk, service.terminal_tx(terminal)


def load(ledger, terminal, payload, now=None):
    """The LOAD_ANSWER to a terminal's checked LOAD `payload`."""
    from .carddesk import DeskError

    load_id, asn = payload["load_id"], payload["asn"]

    def refused(why):
        log.warning("terminal %s: load %d of card %s refused: %s", terminal, load_id,
                    mask_card(asn), why)
        return {"load_id": load_id, "refused": why}

    book = CardBook(ledger.db)
    record = book.get(asn) if len(asn) == 16 and asn.isdigit() else None
    if record is None or record["status"] != "active":
        return refused("card not usable here")
    if payload["counter"] > 0xFFFF or payload["balance"] > 0xFFFFFFFF \
            or payload["amount"] > 0xFFFFFFFF:
        return refused("malformed")
    keys = _keys(ledger, record)
    if keys is None:
        return refused("no load key")
    psam = ledger.cards.psam_of(terminal)
    if psam is None or psam != payload["terminal"].lower():
        return refused("not this terminal's PSAM")
    desk, tx = _service(ledger, terminal)
    desk.settle_started(tx, asn, keys, [], payload["counter"], now)
    for waiting in book.loads(asn):
        if waiting["id"] == load_id:
            break
    else:
        return refused("no such load")
    if waiting["state"] != PENDING:
        return refused("on the card already" if waiting["state"] == DONE else "not waiting")
    if waiting["amount"] != payload["amount"]:
        return refused("another amount")
    init = {"balance": struct.pack(">I", payload["balance"]),
            "counter": struct.pack(">H", payload["counter"]),
            "random": bytes.fromhex(payload["random"]), "mac1": bytes.fromhex(payload["mac1"])}
    try:
        _counter, _before, when, mac2 = desk.begin_load(tx, keys, waiting, init,
                                                        bytes.fromhex(psam), now)
    except DeskError as e:
        return refused(str(e))
    log.info("terminal %s: load %d of card %s started (%d)", terminal, load_id,
             mask_card(asn), waiting["amount"])
    return {"load_id": load_id, "mac2": mac2.hex(), "at": when.hex()}


def check(record):
    """A LOAD record's fields, or ValueError (the ledger rejects it)."""
    for name in ("load", "amount", "balance", "counter", "state", "time"):
        value = record.get(name, 0)
        if type(value) is not int or value < 0:
            raise ValueError("bad " + name)
    if record.get("state") not in (rec.LOAD_INTENT, rec.LOAD_DONE, rec.LOAD_CUT):
        raise ValueError("bad state")
    asn = record.get("asn")
    if not isinstance(asn, str) or len(asn) != 16 or not asn.isdigit():
        raise ValueError("bad asn")
    if record["state"] == rec.LOAD_DONE and len(str(record.get("tac", ""))) != 8:
        raise ValueError("no TAC")


def stored(ledger, terminal, record, now=None):
    """The pump's LOAD record, stored for the first time."""
    asn, load_id, state = record["asn"], record["load"], record["state"]
    if state != rec.LOAD_DONE:
        log.info("terminal %s: load %d of card %s %s", terminal, load_id, mask_card(asn),
                 "about to be credited" if state == rec.LOAD_INTENT
                 else "cut (the card's counter decides at its next load)")
        return
    book = CardBook(ledger.db)
    started = [x for x in book.loads(asn, (STARTED,)) if x["id"] == load_id]
    if not started:  # done already (by the card's counter), or not this card's: nothing
        log.info("terminal %s: load %d of card %s: done already or unknown", terminal,
                 load_id, mask_card(asn))
        return
    load = started[0]
    if load["amount"] != record["amount"] or load["counter"] != record.get("counter", 0):
        log.warning("terminal %s: load %d of card %s: its record differs from the load "
                    "started (left for the card's counter)", terminal, load_id,
                    mask_card(asn))
        return
    keys = _keys(ledger, book.get(asn))
    if keys is None:
        return
    desk, tx = _service(ledger, terminal)
    desk.finish_load(tx, asn, keys, load, bytes.fromhex(record["tac"]),
                 "loaded at pump %s" % terminal, now)
