"""A fleet (vehicle) card at the pump: its fleet file EF1D (docs/card.md, the one layout
definition; the station writes it at each load, station/fleet.py), the limits it carries,
its time window and the odometer reading the driver keys in.

Pure functions of what the card desk read (cardsale.py) and the sale's terms; sale.py
calls them. What the pump can prove about the card's spending since its load is the
card's own log (every pump's debits, newest first, its last 10 transactions): the month's
remainder is as of the load (the load's own log entry, type 02), so the debits logged
after it are taken off. The log holds amounts, not litres: the litres of an earlier sale
are the most its amount buys at this sale's unit price (exact for sales at the same
price; the station holds the litres and raises `fleet_limit` for the month).
"""
import struct

from .card.apdu import MALFORMED, CardError
from .card.psam import T_UNLOCK
from .meter import amount_for_ml, ml_for_amount

T_LOAD = 0x02  # an e-purse load in the card's log
FLEET_TYPE = 3  # EF16 card type of a vehicle card
VERSION = 1  # of the fleet file
NONE = 0xFFFFFFFF  # a month's remainder of "no monthly limit"
ODO_MAX = 10000000  # km: no vehicle reads this much
ODO_TRIES = 3  # bad readings before the sale is refused
ODO_DIGITS = 7


def is_fleet(card):
    """A vehicle card: EF16 card type 3, or a company in EF1C."""
    if card["holder"].get("card_type") == FLEET_TYPE:
        return True
    company = card["restrictions"].get("company")
    return bool(company) and any(company)


def _bcd(data):
    digits = "".join("%02x" % b for b in data)
    if not digits.isdigit():
        raise CardError(MALFORMED, "card data: bad fleet file")
    return digits


def parse(data):
    """The fleet file's 32 bytes as a dict (CardError MALFORMED: a version, month or
    window that does not parse). Limits 0 are none; a remainder None: no monthly limit."""
    if len(data) != 32 or data[0] != VERSION:
        raise CardError(MALFORMED, "card data: bad fleet file")
    sale_amount, sale_ml, day_ml, left_amount, left_ml = struct.unpack(">IIIII", data[1:21])
    month = _bcd(data[21:23])
    window = _bcd(data[23:27])
    start, end = int(window[:4]), int(window[4:])
    if not (1 <= int(month[2:]) <= 12 and start % 100 < 60 and end % 100 < 60
            and start < end <= 2400):
        raise CardError(MALFORMED, "card data: bad fleet file")
    return {"sale_amount": sale_amount, "sale_ml": sale_ml, "day_ml": day_ml,
            "left_amount": None if left_amount == NONE else left_amount,
            "left_ml": None if left_ml == NONE else left_ml,
            "month": month, "window": (start, end)}


def local(now, offset_min):
    """(YYMM, HHMM) of Unix seconds `now` in the station's local time (UTC + offset)."""
    from .card.grey_lock import bcd_datetime
    digits = "".join("%02x" % b for b in bcd_datetime(now + offset_min * 60))
    return digits[2:6], int(digits[8:12])


def since_load(card_log, month):
    """Money the card's log shows debited since its newest load, in `month` (YYMM): the
    entries are newest first; a load ends the walk."""
    spent = 0
    for entry in card_log:
        if entry["type"] == T_LOAD:
            break
        if entry["type"] == T_UNLOCK and entry["amount"] > 0 \
                and "%02x%02x" % (entry["datetime"][1], entry["datetime"][2]) == month:
            spent += entry["amount"]
    return spent


def read(data, card_log, now, today7, offset_min):
    """What the pump holds of a fleet card's file EF1D (`data`: its 32 bytes, None: the
    card has none; CardError if they do not parse): its limits, the money its log shows
    spent this month since the load and today, whether now is in its time window.
    `today7`: the 4 BCD bytes of the day of the daily limits (as sale.day_use counts)."""
    if data is None:
        return None
    card = parse(data)
    month, hhmm = local(now, offset_min)
    fleet = dict(card)
    fleet["in_window"] = card["window"][0] <= hhmm < card["window"][1]
    # the remainder is as of the load, of the load's month: another month's is not this
    # month's (the station writes this month's at the next load and watches the month)
    current = card["month"] == month
    fleet["month_spent"] = since_load(card_log, month) if current else 0
    if not current:
        fleet["left_amount"] = fleet["left_ml"] = None
    day = 0
    for entry in card_log:
        if entry["type"] == T_UNLOCK and entry["amount"] > 0 \
                and entry["datetime"][:4] == today7:
            day += entry["amount"]
    fleet["day_spent"] = day
    return fleet


def left(fleet, price, least):
    """(amount, ml, why) the fleet file lets the sale buy now at unit price `price`: None
    for no cap; `why` the prompt key of a limit used up, else None. A limit that leaves
    less than the smallest sale (`least`, minor units: config min_sale_amount) is used up."""
    amount = fleet["sale_amount"] or None
    ml = fleet["sale_ml"] or None
    if fleet["left_amount"] is not None:
        month = fleet["left_amount"] - fleet["month_spent"]
        if month < least:
            return 0, 0, "fleet_month"
        amount = month if amount is None or month < amount else amount
    # an earlier sale's litres: the most its amount buys at this price (meter's rounding)
    if fleet["left_ml"] is not None:
        month = fleet["left_ml"] - ml_for_amount(fleet["month_spent"], price)
        if month <= 0 or amount_for_ml(month, price) < least:
            return 0, 0, "fleet_month"
        ml = month if ml is None or month < ml else ml
    if fleet["day_ml"]:
        day = fleet["day_ml"] - ml_for_amount(fleet["day_spent"], price)
        if day <= 0 or amount_for_ml(day, price) < least:
            return 0, 0, "daily_limit"
        ml = day if ml is None or day < ml else ml
    return amount, ml, None


def refusal(fleet, price, least):
    """Why this fleet card buys nothing now (a prompt key), or None."""
    if fleet is None:
        return None
    if not fleet["in_window"]:
        return "fleet_window"
    return left(fleet, price, least)[2]


def cap(caps, fleet, least):
    """Lower the sale's caps (sale.caps_for's, at its unit price) to what the fleet file
    leaves: money, and litres (0 in caps: none). Returns the prompt key of the limit that
    leaves nothing, else None."""
    if fleet is None:
        return None
    amount, ml, why = left(fleet, caps["price"], least)
    if why:
        return why
    if amount is not None and amount < caps["amount"]:
        caps["amount"] = amount
    if ml is not None and (not caps["volume_ml"] or ml < caps["volume_ml"]):
        caps["volume_ml"] = ml
    return None


def odometer_ok(km, last, max_km):
    """Is `km` a plausible reading: above 0 and below ODO_MAX, and when the station told
    the last reading (`last`, else None), not below it nor more than `max_km` past it."""
    if not 0 < km < ODO_MAX:
        return False
    if last is None:
        return True
    return last <= km <= last + max_km
