"""Property tests of the money and volume arithmetic against exact rationals."""
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from pumpside import meter

ml_s = st.integers(min_value=0, max_value=10_000_000)  # up to 10 m3 in one sale
price_s = st.integers(min_value=1, max_value=10_000_000)
k_s = st.integers(min_value=1000, max_value=10_000_000)
amount_s = st.integers(min_value=0, max_value=100_000_000)


def _rhu(x: Fraction) -> int:
    return int((x + Fraction(1, 2)).__floor__())


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=1, max_value=10**9))
def test_round_half_up_matches_exact_rational(num, den):
    assert meter.round_half_up(num, den) == _rhu(Fraction(num, den))


@given(ml_s, price_s)
def test_amount_is_exact_volume_times_price_rounded_half_up(ml, price):
    exact = Fraction(ml, 1000) * Fraction(price, 1000) * 100  # litres x price, in minor units
    assert meter.amount_for_ml(ml, price) == _rhu(exact)


@given(amount_s, price_s)
def test_amount_preset_volume_is_the_largest_within_the_amount(amount, price):
    ml = meter.ml_for_amount(amount, price)
    assert meter.amount_for_ml(ml, price) <= amount
    assert meter.amount_for_ml(ml + 1, price) > amount


@given(ml_s, k_s)
def test_pulses_for_ml_is_the_largest_within_the_volume(ml, k):
    p = meter.pulses_for_ml(ml, k)
    assert meter.ml_for_pulses(p, k) <= ml < meter.ml_for_pulses(p + 1, k) or \
        meter.ml_for_pulses(p + 1, k) > ml


@given(st.integers(min_value=0, max_value=10**8), k_s)
def test_volume_is_monotonic_and_within_half_a_millilitre(p, k):
    ml = meter.ml_for_pulses(p, k)
    assert abs(Fraction(p * 10**6, k) - ml) <= Fraction(1, 2)
    assert meter.ml_for_pulses(p + 1, k) >= ml


@given(amount_s, price_s, k_s)
def test_amount_preset_never_charges_more_than_preset(amount, price, k):
    p = meter.pulses_for_amount(amount, price, k)
    assert meter.amount_for_ml(meter.ml_for_pulses(p, k), price) <= amount


@given(st.integers(min_value=-10**12, max_value=10**12), st.integers(min_value=0, max_value=4))
def test_fmt_fixed_round_trips(value, decimals):
    text = meter.fmt_fixed(value, decimals)
    assert int(Fraction(text) * 10**decimals) == value
