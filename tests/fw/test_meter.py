from _t import raises
from pumpside import meter


def test_round_half_up_textbook():
    # 62 L at 1.259/L = 78.058 -> 78.06 (DOMAIN.md)
    assert meter.amount_for_ml(62000, 1259) == 7806
    assert meter.round_half_up(5, 10) == 1
    assert meter.round_half_up(4, 10) == 0
    assert meter.round_half_up(15, 10) == 2
    assert meter.round_half_up(0, 7) == 0


def test_round_half_up_refuses_negative():
    raises(ValueError, meter.round_half_up, -1, 10)
    raises(ValueError, meter.round_half_up, 1, 0)


def test_ml_for_pulses_at_100_per_litre():
    assert meter.ml_for_pulses(100, 100000) == 1000
    assert meter.ml_for_pulses(2000, 100000) == 20000
    assert meter.ml_for_pulses(1, 100000) == 10


def test_ml_for_pulses_at_calibrated_133_5():
    # 133.5 p/L: one pulse = 7.49 ml; 1335 pulses = exactly 10 L
    assert meter.ml_for_pulses(1335, 133500) == 10000
    assert meter.ml_for_pulses(1, 133500) == 7


def test_pulses_for_ml_is_largest_not_exceeding():
    for k in (100000, 133500, 99870):
        for ml in (0, 1, 9, 10, 11, 999, 1000, 20000, 123457):
            p = meter.pulses_for_ml(ml, k)
            assert meter.ml_for_pulses(p, k) <= ml
            assert meter.ml_for_pulses(p + 1, k) > ml


def test_amount_preset_to_volume_and_back():
    price = 7590
    amount = 5000  # 50.00 at 7.59/L
    ml = meter.ml_for_amount(amount, price)
    assert meter.amount_for_ml(ml, price) <= amount
    assert meter.amount_for_ml(ml + 1, price) > amount
    assert ml == 6588  # 6.588 L -> 50.0029 -> 50.00; 6.589 L -> 50.01
    p = meter.pulses_for_amount(amount, price, 100000)
    assert p == 658
    assert meter.amount_for_ml(meter.ml_for_pulses(p, 100000), price) == 4994


def test_price_display():
    assert meter.fmt_price(7590) == "7.59"
    assert meter.fmt_price(1259) == "1.259"


def test_format():
    assert meter.fmt_fixed(7806, 2) == "78.06"
    assert meter.fmt_fixed(5, 2) == "0.05"
    assert meter.fmt_fixed(-150, 2) == "-1.50"
    assert meter.fmt_fixed(42, 0) == "42"
    assert meter.fmt_litres(20000) == "20.00"
    assert meter.fmt_litres(7495) == "7.50"
    assert meter.fmt_litres(7494) == "7.49"


def test_totalizer_only_counts_up():
    t = meter.Totalizer(1)
    t.add(20000, 15180)
    t.add(0, 0)
    assert (t.volume_ml, t.amount, t.sales) == (20000, 15180, 1)
    raises(ValueError, t.add, -1, 0)
    assert not hasattr(t, "reset")


def test_k_factor_check():
    raises(ValueError, meter.check_k_factor, 0)
    raises(ValueError, meter.check_k_factor, -100000)
    raises(ValueError, meter.check_k_factor, True)
    meter.check_k_factor(133500)
