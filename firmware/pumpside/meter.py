"""Metering arithmetic: pulses -> millilitres -> money, and the electronic totalizers.

Units: volume in ml, money in minor units (fen/cents), unit price in thousandths of the
currency per litre (7.59/L -> 7590, and 1.259/L -> 1259, which minor units cannot hold),
K-factor in pulses per litre x 1000 (100 p/L -> 100000; a calibrated
133.5 p/L -> 133500). Integers only: the ESP32 and RP2040 ports have 32-bit floats, which
cannot hold a pump totalizer to the millilitre.

`round_half_up` is the one rounding function of the product: display, receipt, journal,
card debit and station all reach money through `amount_for_ml`.
"""

_ML_PER_L_X1000 = 1000000  # ml per litre times the K-factor's x1000 scale


def round_half_up(num, den):
    """num / den rounded half up, for num >= 0 and den > 0 (62 L at 1.259 -> 78.06)."""
    if num < 0 or den <= 0:
        raise ValueError("round_half_up needs num >= 0 and den > 0")
    return (2 * num + den) // (2 * den)


def check_k_factor(k_factor):
    if not isinstance(k_factor, int) or isinstance(k_factor, bool) or k_factor <= 0:
        raise ValueError("k_factor must be a positive integer (pulses per litre x 1000)")


def ml_for_pulses(pulses, k_factor):
    """Volume of `pulses` pulses, rounded half up to the millilitre."""
    return round_half_up(pulses * _ML_PER_L_X1000, k_factor)


def pulses_for_ml(ml, k_factor):
    """The largest pulse count whose volume does not exceed `ml`."""
    if ml < 0:
        return 0
    # ml_for_pulses(p) <= ml  <=>  2 * p * 1e6 < (2 * ml + 1) * k
    return ((2 * ml + 1) * k_factor - 1) // (2 * _ML_PER_L_X1000)


_PRICE_DEN = 10000  # ml x (price in 1/1000 per litre) -> minor units (1/100)


def amount_for_ml(ml, price):
    """Money in minor units for `ml` millilitres at `price` thousandths per litre."""
    return round_half_up(ml * price, _PRICE_DEN)


def ml_for_amount(amount, price):
    """The largest volume whose amount does not exceed `amount` (amount preset -> target)."""
    if amount < 0:
        return 0
    # amount_for_ml(ml) <= amount  <=>  2 * ml * price < (2 * amount + 1) * _PRICE_DEN
    return ((2 * amount + 1) * _PRICE_DEN - 1) // (2 * price)


def pulses_for_amount(amount, price, k_factor):
    return pulses_for_ml(ml_for_amount(amount, price), k_factor)


def fmt_fixed(value, decimals):
    """An integer in minor units as a decimal string: fmt_fixed(7806, 2) -> '78.06'."""
    sign = "-" if value < 0 else ""
    value = -value if value < 0 else value
    if decimals == 0:
        return sign + str(value)
    scale = 10**decimals
    frac = str(value % scale)
    return sign + str(value // scale) + "." + "0" * (decimals - len(frac)) + frac


def fmt_price(price):
    """Unit price for display: 3 decimals when the third is used (1.259), else 2 (7.59)."""
    if price % 10:
        return fmt_fixed(price, 3)
    return fmt_fixed(price // 10, 2)


def fmt_litres(ml):
    """Litres with the dispenser's 0.01 L display resolution, rounded half up."""
    if ml < 0:
        return "-" + fmt_litres(-ml)
    return fmt_fixed(round_half_up(ml, 10), 2)


class Totalizer:
    """Non-resettable electronic totals of one nozzle: volume (ml) and amount (minor units).

    It only ever adds; there is no reset. The journal (a later layer) persists it.
    """

    __slots__ = ("nozzle", "volume_ml", "amount", "sales")

    def __init__(self, nozzle, volume_ml=0, amount=0, sales=0):
        self.nozzle = nozzle
        self.volume_ml = volume_ml
        self.amount = amount
        self.sales = sales

    def restore(self, volume_ml, amount):
        """The totals a journal record carries, taken as they are when the journal is
        replayed (each FINAL persists them)."""
        self.volume_ml = volume_ml
        self.amount = amount

    def add(self, ml, amount):
        if ml < 0 or amount < 0:
            raise ValueError("totalizers only count up")
        self.volume_ml += ml
        self.amount += amount
        if ml:
            self.sales += 1
