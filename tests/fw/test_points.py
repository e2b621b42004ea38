"""pumpside.points: the loyalty earning function the receipt and the station's ledger
share, and a voucher's money off (both interpreters; the station's agreement with it is
tests/host/test_pump_loyalty.py's property)."""
from pumpside import points


def test_rate_of_a_grade_its_own_or_the_star_rule_or_none():
    grades = {"92": 2, "*": 1}
    assert points.rate_of(grades, "92") == 2
    assert points.rate_of(grades, "95") == 1
    assert points.rate_of({"e95": 3}, "E95") == 3  # the station keeps grades lower-case
    assert points.rate_of({}, "92") == 0 and points.rate_of({"92": 1}, None) == 0


def test_earn_whole_points_rounded_down_by_rate_kind_and_double_day():
    assert points.earn(6550, 1) == 65  # one a currency unit, the rest dropped
    assert points.earn(1000, 3) == 30
    assert points.earn(1000, 1, 50) == 5  # an anonymous card at 50 %
    assert points.earn(1000, 1, 100, True) == 20  # a double day
    assert points.earn(99, 1) == 0
    assert points.earn(2 ** 40, 10000, 1000, True) == 2 ** 40 * 10000 * 1000 * 2 // 10000


def test_nothing_earned_without_money_rate_or_multiplier():
    assert points.earn(0, 5) == 0 and points.earn(-100, 5) == 0
    assert points.earn(1000, 0) == 0 and points.earn(1000, 1, 0) == 0


def test_a_vouchers_money_off_never_more_than_the_sale():
    assert points.off(15180, "percent", 10) == 1518
    assert points.off(15185, "percent", 10) == 1519  # half up: 1518.5
    assert points.off(15180, "amount", 500) == 500
    assert points.off(300, "amount", 500) == 300  # the whole sale, never more
    assert points.off(300, "percent", 100) == 300
    assert points.off(0, "amount", 500) == 0 and points.off(1000, "amount", 0) == 0
