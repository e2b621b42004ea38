"""Loyalty points earned by a card sale: the one function the pump (its receipt) and the
station (its points ledger, station/loyalty.py) both use, so the receipt's figure and the
ledger's are the same number.

The rule table is the station manager's (station/loyalty.py): a rate per grade (points per
currency unit, i.e. per 100 minor units; the grade "*" is the rate of any grade without
its own; none: 0), a multiplier per card kind in percent (none: 100) and double-points
days. The station tells the pump the table for a card in its REWARDS_ANSWER (the grades'
rates, the card kind's multiplier, whether today is a double day: docs/protocol.md).

    points = amount x rate x percent x (2 on a double day) // (100 x 100)

whole points, rounded down; integers only.
"""
from .meter import round_half_up


def rate_of(grades, grade):
    """The grade's rate from the table's {grade or "*": points per unit} (grades are
    compared lower-case: the station keeps them so)."""
    grade = (grade or "").lower()
    rate = grades.get(grade)
    if rate is None:
        rate = grades.get("*", 0)
    return rate


def earn(amount, rate, percent=100, double=False):
    """The points a sale of `amount` minor units earns at `rate` points per currency unit,
    the card kind's multiplier `percent`, twice on a double-points day."""
    if amount <= 0 or rate <= 0 or percent <= 0:
        return 0
    return amount * rate * percent * (2 if double else 1) // 10000


def off(amount, kind, value):
    """Money a voucher takes off a sale of `amount` minor units: kind "percent" (value %
    of it, rounded half up) or "amount" (value minor units), never more than the sale."""
    if amount <= 0 or value <= 0:
        return 0
    if kind == "percent":
        cut = round_half_up(amount * value, 100)
    else:
        cut = value
    return cut if cut < amount else amount
