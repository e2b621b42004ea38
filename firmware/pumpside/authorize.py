"""A station's authorisation of one sale for a paid order (AUTHORIZE: pay by phone, a
prepay at the kiosk). Loaded by the link when the first one comes.

take() checks it, journals it - the sale's AUTHORIZED record carries the order and its
expiry (record.py's payment fields), its preset the caps - before the dispenser is
authorised and "Lift the nozzle" shows, then hands it to the dispenser preset to the
caps, waiting for the nozzle until the expiry (station time). The FINAL carries the
order: what was dispensed, which the station captures. The nozzle still hung up at the
expiry: the sale lapses (its FINAL: 0 ml, stop LAPSED), and the station refunds in full.
A power cut before FINAL: the journal's recovery settles the sale at boot, its FINAL
carrying the order all the same.

The REPLY says ok, or why not (`why`): "busy" (a sale in progress or open), a terminal's
refusal (closed, power, locked, suspended, its offline limits), "journal": all for now,
the station may send it again; "expired", "nozzle" (no such nozzle here), "grade" (the
nozzle sells another), "order" (a malformed order number), "refused" (caps below one
pulse): for good. The same order again (the REPLY was lost) is answered ok, not taken
twice: the open sale's or the last settled sale's order.
"""
from . import dispenser, log
from . import record as rec
from .compat import ticks_ms

MAX_WAIT_S = 3600  # an expiry further off is cut to this (the dispenser's wait in ms)
FINAL_WHY = ("expired", "nozzle", "grade", "order", "refused")  # the station refunds


def take(pump, payload):
    """(ok, why) of the REPLY to AUTHORIZE `payload` (its shape checked)."""
    order = payload["order"]
    if not 0 < len(order) <= rec.ORDER_LEN or not _plain(order):
        return False, "order"
    journal = pump.journal
    sale = journal.open_sale
    if sale is not None and sale.get("order") == order:
        return True, "taken"
    last = journal.last
    if last is not None and last.get("order") == order:
        return True, "settled"
    cfg = pump.cfg
    now_s = pump.board.clock.time()
    wait_s = payload["expiry"] - now_s
    if wait_s <= 0:
        return False, "expired"
    if payload["nozzle"] != cfg.nozzle:
        return False, "nozzle"
    grade, price = pump.sale_terms()
    if payload.get("grade") and payload["grade"] != grade:
        return False, "grade"
    desk = pump.desk  # a card customer at the card desk (PIN, preset) holds the pump
    if sale is not None or pump.core.state != dispenser.IDLE or \
            (desk is not None and desk.sale.state):
        return False, "busy"
    why = pump.terminal.refusal()
    if why:
        return False, why
    now = ticks_ms()
    try:
        auth = dispenser.Authorization(grade, price, payload.get("ml") or 0,
                                       payload["amount"],
                                       wait_ms=min(wait_s, MAX_WAIT_S) * 1000)
        pump.core.check(auth)
    except dispenser.AuthorizationError as e:
        log.event("refused", {"why": str(e), "order": order})
        return False, "refused"
    bill = rec.sale_bill(now_s, grade, price, auth.mode, auth.volume_ml, auth.amount)
    bill["order"] = order
    bill["expiry"] = payload["expiry"]
    if not pump.recorder.begin(bill):  # journaled before "lift the nozzle"
        return False, "journal"
    log.event("order_authorized", {"order": order, "amount": auth.amount,
                                   "ml": auth.volume_ml, "expiry": payload["expiry"]})
    if not pump.start_authorized(auth, now):  # settled at once: 0 ml, the order refunded
        pump.finish_sale(dispenser.empty_delivery(grade, price, auth.mode,
                                                  dispenser.STOP_CANCEL), 0, now)
        return False, "refused"
    pump.show(now)
    return True, ""


def _plain(text):
    """Letters, digits, - and _ only (an order number the journal keeps as ASCII)."""
    for c in text:
        if not ("0" <= c <= "9" or "a" <= c <= "z" or "A" <= c <= "Z" or c in "-_"):
            return False
    return True
