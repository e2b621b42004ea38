"""A fleet card at the pump (fleetcard.py and its hooks in sale.py): the fleet file EF1D,
its per-sale, daily and monthly limits less what the card's log shows spent since the
load, the time window, and the odometer prompt. Pure: no card, no board."""
import struct

from _t import raises
from pumpside import fleetcard, sale
from pumpside.card.apdu import CardError
from pumpside.sale import Sale

TODAY = "20261123"
TODAY7 = bytes.fromhex(TODAY)
NOW = 1795392000 + 10 * 3600  # 2026-11-23 10:00 UTC
NONE = 0xFFFFFFFF


class Cfg:
    grade = "92"
    price = 10000  # 10.000 a litre: 1 minor unit buys 1 ml
    min_sale_amount = 100
    sale_timeout_ms = 30000
    odometer_max_km = 2000
    local_offset_min = 0


def ef1d(sale_amount=0, sale_ml=0, day_ml=0, left_amount=NONE, left_ml=NONE,
         month="2611", window="00002400", version=1):
    return (bytes((version,)) + struct.pack(">IIIII", sale_amount, sale_ml, day_ml,
                                             left_amount, left_ml)
            + bytes.fromhex(month) + bytes.fromhex(window) + bytes(5))


def entry(kind, amount, day=TODAY, hhmm="0800"):
    return {"type": kind, "amount": amount, "ctc": 1,
            "datetime": bytes.fromhex(day + hhmm + "00")}


def debit(amount, day=TODAY):
    return entry(0x93, amount, day)


def load(amount, day=TODAY):
    return entry(0x02, amount, day)


def fleet_card(balance=50000, log=(), station=None, now=NOW, offset=0, **fields):
    card_log = list(log)
    c = {"issuer": {"status": 1, "expiry": "20301231", "start": "20200101",
                    "issuer": b"CARD0001", "asn": b"\x62\x00\x00\x00\x00\x00\x00\x17"},
         "holder": {"discount": 0, "card_type": 3},
         "restrictions": {"grades": [], "daily_fills": 0, "plate": b"",
                          "daily_amount": 0, "company": b"\0\0\0\x07"},
         "balance": balance, "grey": {"grey": False}, "fills_today": 0, "amount_today": 0,
         "log": card_log,
         "fleet": fleetcard.read(ef1d(**fields), card_log, now, TODAY7, offset)}
    if station is not None:
        c["station"] = station
    return c


def shown(actions):
    return [a[1] for a in actions if a[0] == "show"]


def to_odometer(card_sale, c):
    card_sale.card_inserted(0)
    out = card_sale.card_read(c, 0, TODAY, False, None)
    assert shown(out) == ["enter_pin"], out
    for k in "1234E":
        card_sale.key(k, 0)
    out = card_sale.pin_result(True, None, 0)
    assert out == [("show", "enter_odometer", "")] and card_sale.state == sale.ODO


def keys(card_sale, text):
    out = []
    for k in text:
        out = card_sale.key(k, 0)
    return out


def test_the_fleet_file_parses_and_bad_ones_are_card_errors():
    got = fleetcard.parse(ef1d(30000, 40000, 50000, 600, NONE, "2611", "06002200"))
    assert got == {"sale_amount": 30000, "sale_ml": 40000, "day_ml": 50000,
                   "left_amount": 600, "left_ml": None, "month": "2611",
                   "window": (600, 2200)}
    for bad in (ef1d(version=2), ef1d(month="2613"), ef1d(month="26a1"),
                ef1d(window="22000600"), ef1d(window="00602400"), ef1d(window="00002401"),
                ef1d()[:31]):
        assert raises(CardError, fleetcard.parse, bad).kind == "malformed"
    assert fleetcard.read(None, [], NOW, TODAY7, 0) is None  # not loaded yet: no limits


def test_what_a_card_is_fleet():
    c = fleet_card()
    assert fleetcard.is_fleet(c)
    c["holder"]["card_type"] = 1
    assert fleetcard.is_fleet(c)  # a company in EF1C
    c["restrictions"]["company"] = bytes(4)
    assert not fleetcard.is_fleet(c)


def test_outside_its_time_window_the_card_is_refused():
    for now, offset, why in ((NOW, 0, None), (NOW - 5 * 3600, 0, "fleet_window"),
                             (NOW + 12 * 3600, 0, "fleet_window"),
                             (NOW - 5 * 3600, 480, None)):  # 05:00 UTC is 13:00 at +8
        card_sale = Sale(Cfg(), Cfg())
        card_sale.card_inserted(0)
        c = fleet_card(window="06002200", now=now, offset=offset)
        out = card_sale.card_read(c, 0, TODAY, False, None)
        if why:
            assert shown(out) == [why] and ("release",) in out and card_sale.state == sale.IDLE
        else:
            assert shown(out) == ["enter_pin"]


def test_the_months_remainder_less_the_debits_since_the_load():
    # remainder 5000 as of the load; the log (newest first) shows 1200 + 800 since it, the
    # 3000 before the load is in the remainder already
    log = [debit(1200), debit(800), load(10000), debit(3000)]
    c = fleet_card(left_amount=5000, log=log)
    assert c["fleet"]["month_spent"] == 2000
    card_sale = Sale(Cfg(), Cfg())
    to_odometer(card_sale, c)
    keys(card_sale, "12345E")
    out = keys(card_sale, "F")
    caps = out[-1][1]
    assert out[-1][0] == "grey_lock" and caps["amount"] == 3000 and caps["volume_ml"] == 0
    # used up: refused at the read
    card_sale = Sale(Cfg(), Cfg())
    card_sale.card_inserted(0)
    out = card_sale.card_read(fleet_card(left_amount=2000, log=log), 0, TODAY, False, None)
    assert shown(out) == ["fleet_month"] and card_sale.state == sale.IDLE
    # litres: the debits at this sale's price (10.00: 2000 -> 2000 ml)
    card_sale = Sale(Cfg(), Cfg())
    card_sale.card_inserted(0)
    out = card_sale.card_read(fleet_card(left_ml=2000, log=log), 0, TODAY, False, None)
    assert shown(out) == ["fleet_month"]
    # another month's remainder is not this month's: the station watches the month
    c = fleet_card(left_amount=100, left_ml=100, month="2610", log=log)
    assert fleetcard.left(c["fleet"], 10000, 100) == (None, None, None)


def test_per_sale_and_daily_litres_cap_the_preset_and_a_used_up_day_is_refused():
    log = [debit(4000), debit(2500, "20261122")]  # 4.00 L today, yesterday's not counted
    c = fleet_card(sale_amount=20000, sale_ml=30000, day_ml=10000, log=log)
    card_sale = Sale(Cfg(), Cfg())
    to_odometer(card_sale, c)
    keys(card_sale, "100E")
    out = keys(card_sale, "V5000E")  # 50 L asked: 6 L left today
    caps = out[-1][1]
    assert (caps["volume_ml"], caps["amount"], caps["mode"]) == (6000, 20000, "V")
    c = fleet_card(sale_amount=2500, sale_ml=30000, log=log)
    card_sale = Sale(Cfg(), Cfg())
    to_odometer(card_sale, c)
    keys(card_sale, "100E")
    caps = keys(card_sale, "A9000E")[-1][1]  # 90.00 asked: 25.00 a sale
    assert (caps["amount"], caps["volume_ml"], caps["mode"]) == (2500, 30000, "A")
    card_sale = Sale(Cfg(), Cfg())
    card_sale.card_inserted(0)
    out = card_sale.card_read(fleet_card(day_ml=4000, log=log), 0, TODAY, False, None)
    assert shown(out) == ["daily_limit"] and ("release",) in out
    # less left than the smallest sale (min_sale_amount 1.00: 100 ml) is used up too
    for fields, why in (({"day_ml": 4099}, "daily_limit"), ({"left_ml": 6599}, "fleet_month"),
                        ({"left_amount": 6599}, "fleet_month")):  # 6500 this month
        card_sale = Sale(Cfg(), Cfg())
        card_sale.card_inserted(0)
        out = card_sale.card_read(fleet_card(log=log, **fields), 0, TODAY, False, None)
        assert shown(out) == [why], fields
    assert fleetcard.left(fleet_card(log=log, day_ml=4100)["fleet"], 10000, 100) == (
        None, 100, None)
    # at 7.590 a litre 0.20 L cost 1.52: the most 1.52 buys is 0.20 L, 0.40 L of 0.60 left
    assert fleetcard.left(fleet_card(log=[debit(152)], day_ml=600)["fleet"], 7590, 100) == (
        None, 400, None)


def test_the_odometer_is_checked_against_the_last_reading_and_refused_the_third_time():
    assert fleetcard.odometer_ok(1, None, 2000) and fleetcard.odometer_ok(9999999, None, 2000)
    assert not fleetcard.odometer_ok(0, None, 2000)
    assert not fleetcard.odometer_ok(10000000, None, 2000)
    assert fleetcard.odometer_ok(50000, 50000, 2000) and fleetcard.odometer_ok(52000, 50000,
                                                                               2000)
    assert not fleetcard.odometer_ok(49999, 50000, 2000)
    assert not fleetcard.odometer_ok(52001, 50000, 2000)
    card_sale = Sale(Cfg(), Cfg())
    to_odometer(card_sale, fleet_card(station={"odometer": 50000}))
    assert keys(card_sale, "4") == [("show", "enter_odometer", "4")]
    assert keys(card_sale, "9000E") == [("odometer_bad", 49000, 50000, 2),
                                        ("show", "odometer_bad", 2)]  # below the last
    assert card_sale.state == sale.ODO and card_sale.odo == 0
    assert keys(card_sale, "E") == []  # nothing keyed
    assert shown(keys(card_sale, "60000E")) == ["odometer_bad"]  # 10,000 km on
    assert shown(keys(card_sale, "50310E")) == ["choose_preset"]
    assert card_sale.state == sale.PRESET and card_sale.odo == 50310
    caps = keys(card_sale, "F")[-1][1]
    assert caps["amount"] == 50000
    # three bad readings end the sale
    card_sale = Sale(Cfg(), Cfg())
    to_odometer(card_sale, fleet_card(station={"odometer": 50000}))
    keys(card_sale, "1E")
    keys(card_sale, "2E")
    out = keys(card_sale, "3E")
    assert out == [("odometer_bad", 3, 50000, 0), ("show", "odometer_refused", None),
                   ("release",)]
    assert card_sale.state == sale.IDLE and card_sale.odo == 0
    # no reading from the station: anything plausible; 7 digits at most
    card_sale = Sale(Cfg(), Cfg())
    to_odometer(card_sale, fleet_card())
    assert keys(card_sale, "123456789") == [] and keys(card_sale, "E") == [
        ("show", "choose_preset", None)]
    assert card_sale.odo == 1234567


def test_the_odometer_prompt_cancels_and_times_out():
    card_sale = Sale(Cfg(), Cfg())
    to_odometer(card_sale, fleet_card())
    assert shown(keys(card_sale, "12C")) == ["cancelled"] and card_sale.state == sale.IDLE
    card_sale = Sale(Cfg(), Cfg())
    to_odometer(card_sale, fleet_card())
    card_sale.key("1", 0)
    assert shown(card_sale.tick(30000)) == ["timed_out"] and card_sale.state == sale.IDLE


def test_a_limit_used_up_by_a_new_price_after_the_read_is_refused_at_the_preset():
    """The price table changed between the read and the preset (a cheaper price: the
    day's earlier amount is more litres): the limit is checked again, nothing locked."""
    prices = Cfg()
    card_sale = Sale(Cfg(), prices)
    to_odometer(card_sale, fleet_card(day_ml=4200, log=[debit(4000)]))
    keys(card_sale, "100E")
    prices.price = 5000
    out = keys(card_sale, "F")
    assert out == [("show", "daily_limit", None), ("release",)]
    assert card_sale.state == sale.IDLE
