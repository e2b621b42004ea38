"""Load (圈存) at the pump, and the station's word on a card (CARD_INFO).

After the card is read the pump tells the station (CARD_INFO: number, nozzle, balance, the
loads in the card's log: a load cut after CREDIT is found there before anything is
offered again) and
keeps its answer (CARD_ANSWER) in the sale's card dict as card["station"]: a load waiting
for the card (money an online top-up or the desk put on its account), and whatever else
the station adds (station/cardinfo.py). Offline or with no answer in time the sale goes on
with card["station"] = {}: nothing offered.

A waiting load is offered after the PIN (sale.py LOAD_OFFER). Accepted, it runs here, in
this order (docs/card.md):

1. INITIALIZE FOR LOAD with the PSAM's terminal id -> balance, online counter, random, MAC1.
2. LOAD to the station; its LOAD_ANSWER brings MAC2 and the date and time CREDIT carries
   (the station checked MAC1 with the card's load key, which never leaves it, and recorded
   the load as started before it answered). No answer, refused: no load, the sale goes on.
3. The journal's LOAD intent record (the card's counter, balance before, the station's
   date and time), then CREDIT FOR LOAD -> TAC, then the LOAD done record (balance after,
   TAC), which reaches the station like a sale: it moves the waiting money to "on the
   card", once. CREDIT unanswered (card pulled) ends as a LOAD cut record; a power cut
   between the intent and its end is ended so at boot (journal.recover_load).

The station settles every cut from the card itself: the online counter INITIALIZE FOR LOAD
reports at the card's next load (here or at the desk) is past the started load's (credited)
or the same (not: the money waits again). So a load is never made twice nor lost. The
firmware holds no load key and journals none.
"""
import struct

from . import log, protocol, receipt
from . import record as rec
from .card.apdu import REMOVED, CardError

T_LOAD = 0x02  # a load in the card's log
ASK_MS = 8000  # the station's answer to CARD_INFO or LOAD, at most (then: none)


def ask_info(desk, info, then, now, refused=None):
    """Ask the station what it holds for the card just read (CARD_INFO); its answer goes
    into info["station"] ({} offline or without an answer), then then(now) -> actions.
    `refused`: why the pump refuses the card whatever the answer (sale.card_refusal: a
    hotlisted card presented reaches the station's alerts); offline, nobody is told."""
    link = desk.pump.link
    if link is None or not link.online:
        info["station"] = {}
        return then(now)
    asn = info["issuer"]["asn"].hex()
    payload = {"asn": asn, "nozzle": desk.cfg.nozzle, "balance": info["balance"],
               "loads": [[e["ctc"], e["amount"], e["terminal_id"].hex(), e["datetime"].hex()]
                         for e in info["log"] if e["type"] == T_LOAD]}
    if refused:
        payload["refused"] = refused

    def answered(answer, now):
        info["station"] = answer if answer is not None and answer.get("asn") == asn else {}
        log.event("card_info", {"card": receipt.mask(info["issuer"]["asn"]),
                                "answer": answer is not None,
                                "load": info["station"].get("load", 0)})
        return then(now)

    desk.ask_station(link.ask(protocol.CARD_INFO, payload, protocol.CARD_ANSWER, ASK_MS),
                     answered)
    return None


def start(desk, offer, now):
    """The customer took the offered load: INITIALIZE FOR LOAD, then LOAD to the station."""
    sale = desk.sale
    link = desk.pump.link
    if link is None or not link.online:
        log.event("load_failed", {"load": offer["load_id"], "why": "offline"})
        return sale.load_failed("load_failed", now)
    asn8 = desk.info["issuer"]["asn"]
    try:
        init = desk.card.init_load(offer["amount"], desk.tid)
    except CardError as e:
        log.event("load_failed", {"load": offer["load_id"], "why": str(e)})
        if e.kind == REMOVED:
            return sale.card_error("card_removed", now)
        return sale.load_failed("load_failed", now)
    before = struct.unpack(">I", init["balance"])[0]
    counter = struct.unpack(">H", init["counter"])[0]
    load = {"time": 0, "load": offer["load_id"], "amount": offer["amount"], "balance": before,
            "counter": counter, "state": rec.LOAD_INTENT, "asn": asn8, "tac": bytes(4),
            "at": bytes(7)}
    payload = {"asn": asn8.hex(), "load_id": offer["load_id"], "amount": offer["amount"],
               "balance": before, "counter": counter, "random": init["random"].hex(),
               "mac1": init["mac1"].hex(), "terminal": desk.tid.hex()}
    desk.ask_station(link.ask(protocol.LOAD, payload, protocol.LOAD_ANSWER, ASK_MS),
                     lambda answer, now: _credit(desk, load, answer, now))
    return None


def _credit(desk, load, answer, now):
    """The station's LOAD_ANSWER (None: none in time): MAC2 -> intent, CREDIT, done."""
    sale = desk.sale
    pump = desk.pump
    if answer is None or answer.get("load_id") != load["load"] or "mac2" not in answer \
            or "at" not in answer:
        log.event("load_failed", {"load": load["load"], "why": "no answer" if answer is None
                                  else answer.get("refused") or "no MAC2"})
        return sale.load_failed("load_failed", now)
    board = desk.board
    if board.power_fail.asserted():  # no card transaction on a dying supply: the station's
        # started load is found not credited at the card's next load
        log.event("load_failed", {"load": load["load"], "why": "power"})
        return sale.load_failed("load_failed", now)
    load["at"] = bytes.fromhex(answer["at"])
    load["time"] = board.clock.time()
    journal = pump.journal
    try:
        journal.load(load)  # the intent: before CREDIT, so a cut is known after a reboot
    except OSError as e:
        pump.terminal.close("journal write failed (%s)" % e)
        return sale.load_failed("load_failed", now)
    try:
        tac = desk.card.credit_load(load["at"], bytes.fromhex(answer["mac2"]))
    except CardError as e:
        return _cut(desk, load, e, now)
    after = load["balance"] + load["amount"]
    try:
        journal.load(dict(load, state=rec.LOAD_DONE, balance=after, tac=tac,
                          time=board.clock.time()))
    except OSError as e:  # on the card all the same: the station finds it by its counter
        pump.terminal.close("journal write failed (%s)" % e)
    log.event("loaded", {"load": load["load"], "amount": load["amount"], "balance": after})
    return sale.loaded(after, now)


def _cut(desk, load, error, now):
    """CREDIT FOR LOAD had no good answer: maybe credited, maybe not. The LOAD cut record
    says so; the card's online counter settles it at the station."""
    try:
        desk.pump.journal.load(dict(load, state=rec.LOAD_CUT, time=desk.board.clock.time()))
    except OSError as e:
        desk.pump.terminal.close("journal write failed (%s)" % e)
    log.event("load_cut", {"load": load["load"], "amount": load["amount"], "why": str(error)})
    if error.kind == REMOVED:
        return desk.sale.card_error("card_removed", now)
    return desk.sale.load_failed("load_failed", now)
