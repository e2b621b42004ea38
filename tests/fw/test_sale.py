from pumpside import sale
from pumpside.sale import Sale

TODAY = "20261123"


class Cfg:
    grade = "92"
    price = 7590
    min_sale_amount = 1000
    sale_timeout_ms = 30000


def card(balance=20000, status=1, expiry="20301231", start="20200101", grades=(),
         fills_today=0, amount_today=0, daily_fills=0, daily_amount=0, discount=0,
         grey=False, plate=b""):
    return {
        "issuer": {"status": status, "expiry": expiry, "start": start,
                   "issuer": b"CARD0001",
                   "asn": b"\x62\x00\x00\x00\x00\x00\x00\x17"},
        "holder": {"discount": discount, "card_type": 1},
        "restrictions": {"grades": list(grades), "daily_fills": daily_fills, "plate": plate,
                         "daily_amount": daily_amount},
        "balance": balance, "grey": {"grey": grey}, "fills_today": fills_today,
        "amount_today": amount_today,
    }


def kinds(actions):
    return [a[0] for a in actions]


def shown(actions):
    return [a[1] for a in actions if a[0] == "show"]


def to_preset(card_sale, c=None):
    card_sale.card_inserted(0)
    card_sale.card_read(c or card(), 0, TODAY, False, None)
    for k in "1234":
        card_sale.key(k, 0)
    assert card_sale.key("E", 0) == [("verify_pin", "1234")]
    card_sale.pin_result(True, None, 0)
    assert card_sale.state == sale.PRESET


def test_whole_sale_in_order():
    card_sale = Sale(Cfg(), Cfg())
    assert kinds(card_sale.card_inserted(0)) == ["show", "read_card"]
    out = card_sale.card_read(card(), 0, TODAY, False, None)
    assert shown(out) == ["enter_pin"] and card_sale.state == sale.PIN
    to_preset(card_sale := Sale(Cfg(), Cfg()))
    for k in "V2000":
        card_sale.key(k, 0)
    out = card_sale.key("E", 0)
    assert out[-1][0] == "grey_lock"
    caps = out[-1][1]
    assert caps["volume_ml"] == 20000 and caps["amount"] == 20000 and caps["mode"] == "V"
    out = card_sale.locked({"ctc": 3, "ttc": 9}, 0)
    assert out[0] == ("authorize", caps) and card_sale.state == sale.AUTHORIZED
    card_sale.fuelling(0)
    out = card_sale.delivered({"ml": 20000, "amount": 15180}, 0)
    assert out[-1][0] == "settle" and out[-1][1]["delivery"]["amount"] == 15180
    out = card_sale.settled(b"TAC!", 4820, 0, 15180)
    assert out == [("show", "take_receipt", 4820), ("print",)]  # points: rewards.py
    assert shown(card_sale.card_taken(0)) == ["thank_you"] and card_sale.state == sale.IDLE


def test_cards_refused_with_the_right_prompt():
    cases = [
        (card(status=0), False, "card_blocked"),
        (card(expiry="20261122"), False, "card_expired"),
        (card(start="20261124"), False, "card_not_valid_yet"),
        (card(), True, "card_hotlisted"),
        (card(grey=True), False, "card_grey_elsewhere"),
        (card(grades=["95", "98"]), False, "grade_not_allowed"),
        (card(daily_fills=2, fills_today=2), False, "daily_limit"),
        (card(daily_amount=50000, amount_today=50000), False, "daily_limit"),
        (card(balance=999), False, "low_balance"),
    ]
    for c, hot, why in cases:
        card_sale = Sale(Cfg(), Cfg())
        card_sale.card_inserted(0)
        out = card_sale.card_read(c, 0, TODAY, hot, None)
        assert shown(out) == [why] and ("release",) in out and card_sale.state == sale.IDLE, why


def test_the_cards_own_refusal_is_told_and_no_station_answer_lifts_it():
    """card_refusal: what the pump tells the station (CARD_INFO `refused`) before its
    answer; a load waiting (card["station"]) does not make a refused card sell."""
    assert sale.card_refusal(card(), Cfg(), TODAY, True) == sale.HOTLISTED
    assert sale.card_refusal(card(status=0), Cfg(), TODAY, True) == "card_blocked"
    assert sale.card_refusal(card(balance=0), Cfg(), TODAY, False) is None  # a load may come
    for c, hot, why in ((card(balance=0), True, "card_hotlisted"),
                        (card(balance=0, expiry="20261122"), False, "card_expired")):
        c["station"] = {"load": 50000, "load_id": 3}
        card_sale = Sale(Cfg(), Cfg())
        card_sale.card_inserted(0)
        out = card_sale.card_read(c, 0, TODAY, hot, None)
        assert shown(out) == [why] and card_sale.state == sale.IDLE


def test_grade_allowed_and_expiry_today_accepted():
    card_sale = Sale(Cfg(), Cfg())
    card_sale.card_inserted(0)
    out = card_sale.card_read(card(grades=["92"], expiry=TODAY), 0, TODAY, False, None)
    assert card_sale.state == sale.PIN, out


def test_grey_here_is_settled_first():
    card_sale = Sale(Cfg(), Cfg())
    card_sale.card_inserted(0)
    record = {"sale": 7, "amount": 1234}
    out = card_sale.card_read(card(grey=True), 0, TODAY, False, record)
    assert ("unlock_grey", record) in out and card_sale.state == sale.SETTLING


def test_a_full_escape_table_refuses_the_sale_yet_settles_a_card_grey_here():
    card_sale = Sale(Cfg(), Cfg())
    card_sale.card_inserted(0, "escapes_full")
    out = card_sale.card_read(card(), 0, TODAY, False, None)
    assert shown(out) == ["escapes_full"] and ("release",) in out
    assert card_sale.state == sale.IDLE
    card_sale.card_inserted(0, "escapes_full")
    record = {"sale": 7, "amount": 1234}
    out = card_sale.card_read(card(grey=True), 0, TODAY, False, record)
    assert ("unlock_grey", record) in out and card_sale.state == sale.SETTLING
    card_sale.escaped(0)
    card_sale.card_inserted(0)  # the table has room again: the refusal is not remembered
    assert shown(card_sale.card_read(card(), 0, TODAY, False, None)) == ["enter_pin"]


def test_wrong_pin_shows_tries_then_blocks():
    card_sale = Sale(Cfg(), Cfg())
    card_sale.card_inserted(0)
    card_sale.card_read(card(), 0, TODAY, False, None)
    assert card_sale.pin_result(False, 2, 0) == [("show", "wrong_pin", 2)]
    assert card_sale.state == sale.PIN
    out = card_sale.pin_result(False, 0, 0)
    assert shown(out) == ["pin_blocked"] and card_sale.state == sale.IDLE


def test_pin_digits_never_shown():
    card_sale = Sale(Cfg(), Cfg())
    card_sale.card_inserted(0)
    card_sale.card_read(card(), 0, TODAY, False, None)
    for k in "9876":
        out = card_sale.key(k, 0)
        assert all("9" not in str(a[2]) for a in out if a[0] == "show")


def test_low_balance_caps_the_authorization():
    card_sale = Sale(Cfg(), Cfg())
    to_preset(card_sale, card(balance=5000))
    for k in "A9000E":
        out = card_sale.key(k, 0)
    assert out[-1][0] == "grey_lock" and out[-1][1]["amount"] == 5000


def test_daily_amount_left_caps_and_discount_lowers_the_price():
    card_sale = Sale(Cfg(), Cfg())
    to_preset(card_sale, card(daily_amount=8000, amount_today=5000, discount=5))
    out = card_sale.key("F", 0)
    caps = out[-1][1]
    assert caps["amount"] == 3000 and caps["mode"] == "F"
    assert caps["price"] == sale.discounted_price(7590, 5) == 7211  # 7210.5 rounds up


def test_cancel_at_every_waiting_state():
    for state_setup in ("pin", "preset", "entry"):
        card_sale = Sale(Cfg(), Cfg())
        card_sale.card_inserted(0)
        card_sale.card_read(card(), 0, TODAY, False, None)
        if state_setup != "pin":
            card_sale.pin_result(True, None, 0)
        if state_setup == "entry":
            card_sale.key("V", 0)
            card_sale.key("5", 0)
        out = card_sale.key("C", 0)
        assert ("release",) in out and card_sale.state == sale.IDLE, state_setup
    card_sale = Sale(Cfg(), Cfg())
    to_preset(card_sale)
    card_sale.key("F", 0)
    card_sale.locked({"ctc": 1, "ttc": 1}, 0)
    assert card_sale.key("C", 0) == [("stop",)]  # authorised: stop the dispenser, then settle
    assert card_sale.delivered({"ml": 0, "amount": 0}, 0)[-1][0] == "settle"


def test_every_waiting_state_times_out():
    card_sale = Sale(Cfg(), Cfg())
    card_sale.card_inserted(0)
    card_sale.card_read(card(), 0, TODAY, False, None)
    assert card_sale.tick(29999) == [] and card_sale.state == sale.PIN
    out = card_sale.tick(30000)
    assert shown(out) == ["timed_out"] and card_sale.state == sale.IDLE
    card_sale = Sale(Cfg(), Cfg())
    to_preset(card_sale)
    card_sale.key("F", 100)
    card_sale.locked({}, 100)
    assert card_sale.tick(30100) == [("stop",)]


def test_card_pulled_mid_fuelling_stops_and_keeps_the_sale():
    card_sale = Sale(Cfg(), Cfg())
    to_preset(card_sale)
    card_sale.key("F", 0)
    card_sale.locked({"ctc": 1, "ttc": 1}, 0)
    card_sale.fuelling(0)
    out = card_sale.card_removed(0)
    assert ("stop",) in out and card_sale.state == sale.SETTLING and card_sale.sale is not None
    out = card_sale.delivered({"ml": 5000, "amount": 3795}, 0)
    assert out[-1][0] == "settle"  # the shell journals an escape when the card is gone


def test_failed_mac2_settles_for_nothing_and_never_authorizes():
    card_sale = Sale(Cfg(), Cfg())
    to_preset(card_sale)
    card_sale.key("F", 0)
    out = card_sale.lock_failed({"ctc": 1, "ttc": 1}, 0)
    assert "authorize" not in kinds(out) and out[-1][0] == "settle"
    assert card_sale.sale["untrusted"] and card_sale.sale["delivery"] is None


def test_events_out_of_order_are_ignored():
    card_sale = Sale(Cfg(), Cfg())
    assert card_sale.locked({}, 0) == [] and card_sale.delivered({}, 0) == []
    assert card_sale.settled(b"", 0, 0) == []
    assert card_sale.pin_result(True, None, 0) == [] and card_sale.state == sale.IDLE


def test_plate_bound_card_needs_the_staff_password():
    card_sale = Sale(Cfg(), Cfg())
    card_sale.card_inserted(0)
    card_sale.card_read(card(plate=b"A12345"), 0, TODAY, False, None)
    for k in "1234":
        card_sale.key(k, 0)
    assert card_sale.key("E", 0) == [("verify_pin", "1234")]
    assert shown(card_sale.pin_result(True, None, 0)) == ["enter_staff"]
    assert card_sale.state == sale.STAFF
    for k in "8888":
        assert shown(card_sale.key(k, 0)) == ["enter_staff"]
    assert card_sale.key("E", 0) == [("verify_staff", "8888")]
    assert shown(card_sale.pin_result(False, 2, 0)) == ["wrong_staff"]
    assert card_sale.state == sale.STAFF
    for k in "9999E":
        out = card_sale.key(k, 0)
    assert out == [("verify_staff", "9999")]
    assert shown(card_sale.pin_result(True, None, 0)) == ["choose_preset"]
    assert card_sale.state == sale.PRESET


def test_staff_password_blocked_or_cancelled_ends_the_sale():
    for last in ("blocked", "cancel", "timeout"):
        card_sale = Sale(Cfg(), Cfg())
        card_sale.card_inserted(0)
        card_sale.card_read(card(plate=b"A12345"), 0, TODAY, False, None)
        for k in "1234E":
            card_sale.key(k, 0)
        card_sale.pin_result(True, None, 0)
        if last == "blocked":
            out = card_sale.pin_result(False, 0, 0)
            assert shown(out) == ["staff_blocked"]
        elif last == "cancel":
            out = card_sale.key("C", 0)
            assert shown(out) == ["cancelled"]
        else:
            out = card_sale.tick(Cfg.sale_timeout_ms + 1)
            assert shown(out) == ["timed_out"]
        assert ("release",) in out and card_sale.state == sale.IDLE


class LevelCfg(Cfg):
    level_discounts = "1:3,2:8"


def test_price_level_and_holder_discount_with_its_expiry():
    def c(discount=0, expiry="20991231", level=0):
        read = card(discount=discount)
        read["holder"].update(discount_expiry=expiry, price_level=level)
        return read

    assert sale.discount_for(c(5), LevelCfg, TODAY) == 5
    assert sale.discount_for(c(5, expiry="20250101"), LevelCfg, TODAY) == 0  # expired
    assert sale.discount_for(c(5, level=2), LevelCfg, TODAY) == 8  # the larger one
    assert sale.discount_for(c(0, level=1), LevelCfg, TODAY) == 3
    assert sale.discount_for(c(0, level=7), LevelCfg, TODAY) == 0
    card_sale = Sale(LevelCfg(), LevelCfg())
    to_preset(card_sale, c(level=2))
    caps = [a for a in card_sale.key("F", 0) if a[0] == "grey_lock"][0][1]
    assert caps["price"] == sale.discounted_price(7590, 8) == 6983  # 6982.8 rounds up


class IssuerCfg(Cfg):
    issuers = "4341524430303031,1122334455667788"


def test_only_the_accepted_issuers_cards():
    ok = card()
    other = card()
    other["issuer"] = dict(other["issuer"], issuer=b"OTHER001")
    assert sale.check_card(ok, IssuerCfg, IssuerCfg, TODAY, False, None) is None
    assert sale.check_card(other, IssuerCfg, IssuerCfg, TODAY, False, None) == "card_unknown"
    assert sale.check_card(other, Cfg, Cfg, TODAY, False, None) is None  # none configured: any


def test_a_discount_of_100_percent_is_refused_before_the_grey_lock():
    assert sale.discounted_price(7590, 100) == 0 and sale.discounted_price(7590, 255) == 0
    assert sale.discounted_price(1, 99) == 0  # rounds to nothing: refused too
    free = card(discount=100)
    assert sale.check_card(free, Cfg, Cfg, TODAY, False, None) == "bad_discount"
    card_sale = Sale(Cfg(), Cfg())
    to_preset(card_sale)
    card_sale.card["holder"]["discount"] = 100  # a card whose discount changed under the sale
    out = card_sale.key("F", 0)
    assert shown(out) == ["bad_discount"] and "grey_lock" not in kinds(out)
    assert card_sale.state == sale.IDLE


def test_own_escape_is_settled_before_every_other_check():
    """Grey from this terminal's escape: 补扣 first, whatever else is wrong with the card
    (the refusal comes on its next insertion, when it is no longer grey)."""
    record = {"sale": 7, "amount": 1234}
    stranger = card(grey=True)
    stranger["issuer"] = dict(stranger["issuer"], issuer=b"OTHER001")
    for c, hot in ((card(grey=True), True), (card(grey=True, expiry="20200101"), False),
                   (card(grey=True, status=0), False), (stranger, False),
                   (card(grey=True, start="20991231"), False),
                   (card(grey=True, balance=0, daily_fills=1, fills_today=1), False)):
        card_sale = Sale(IssuerCfg(), IssuerCfg())
        card_sale.card_inserted(0)
        out = card_sale.card_read(c, 0, TODAY, hot, record)
        assert ("unlock_grey", record) in out and card_sale.state == sale.SETTLING, c
        refused = sale.check_card(c, IssuerCfg, IssuerCfg, TODAY, hot, None)
        assert refused is not None  # refused after


def test_a_settle_for_zero_is_not_a_fill():
    day = bytes.fromhex("20261123")

    def entry(amount, type_=0x93, dt="20261123101500"):
        return {"type": type_, "amount": amount, "datetime": bytes.fromhex(dt)}

    log = [entry(0), entry(1500), entry(0), entry(700, type_=0x91),
           entry(900, dt="20261122235959")]
    assert sale.day_use(log, day) == (1, 1500)
    assert sale.day_use([entry(0)], day) == (0, 0)  # cancelled once: no fill used


def test_preset_and_receipt_time_out():
    card_sale = Sale(Cfg(), Cfg())
    to_preset(card_sale)
    card_sale.key("V", 1000)  # a key restarts the wait
    card_sale.key("5", 2000)
    assert card_sale.tick(31999) == [] and card_sale.state == sale.PRESET
    out = card_sale.tick(32000)
    assert shown(out) == ["timed_out"] and ("release",) in out and card_sale.state == sale.IDLE
    assert "grey_lock" not in kinds(out)
    card_sale = Sale(Cfg(), Cfg())
    to_preset(card_sale)
    card_sale.key("F", 0)
    card_sale.locked({"ctc": 1, "ttc": 1}, 0)
    card_sale.fuelling(0)
    card_sale.delivered({"ml": 2000, "amount": 1518}, 0)
    card_sale.settled(b"TAC!", 500, 100, 1518)
    assert card_sale.state == sale.RECEIPT
    assert card_sale.tick(30099) == [] and card_sale.state == sale.RECEIPT
    out = card_sale.tick(30100)  # the card left in the slot: the receipt screen gives way
    assert out == [("show", "ready", None)] and card_sale.state == sale.IDLE


class TypeCfg(Cfg):
    level_discounts = "1:3,2:8"
    type_discounts = "4:6,2:10"


def test_card_type_discount_and_the_larger_discount_wins():
    def c(discount=0, level=0, card_type=1, expiry="20991231"):
        read = card(discount=discount)
        read["holder"].update(discount_expiry=expiry, price_level=level, card_type=card_type)
        return read

    assert sale.discount_for(c(card_type=4), TypeCfg, TODAY) == 6
    assert sale.discount_for(c(card_type=4, level=2), TypeCfg, TODAY) == 8  # level wins
    assert sale.discount_for(c(card_type=4, level=1), TypeCfg, TODAY) == 6  # type wins
    assert sale.discount_for(c(7, card_type=4, level=1), TypeCfg, TODAY) == 7  # own wins
    assert sale.discount_for(c(20, card_type=4, expiry="20250101"), TypeCfg, TODAY) == 6
    assert sale.discount_for(c(card_type=2, level=2), TypeCfg, TODAY) == 10  # never 18
    assert sale.discount_for(c(card_type=3), TypeCfg, TODAY) == 0
    assert sale.discount_for(c(card_type=4), LevelCfg, TODAY) == 0  # no type_discounts
    card_sale = Sale(TypeCfg(), TypeCfg())
    to_preset(card_sale, c(card_type=2, level=1))
    caps = [a for a in card_sale.key("F", 0) if a[0] == "grey_lock"][0][1]
    assert caps["price"] == sale.discounted_price(7590, 10) == 6831


def _offered(amount=5000, balance=20000):
    """A sale at PIN with a load of `amount` waiting at the station (card["station"])."""
    card_sale = Sale(Cfg(), Cfg())
    c = card(balance=balance)
    c["station"] = {"asn": "6200000000000017", "load": amount, "load_id": 7}
    card_sale.card_inserted(0)
    assert shown(card_sale.card_read(c, 0, TODAY, False, None)) == ["enter_pin"]
    for k in "1234":
        card_sale.key(k, 0)
    card_sale.key("E", 0)
    out = card_sale.pin_result(True, None, 0)
    assert out == [("show", "load_offer", amount)] and card_sale.state == sale.LOAD_OFFER
    return card_sale


def test_a_waiting_load_is_offered_after_the_pin_and_loaded():
    card_sale = _offered()
    out = card_sale.key("E", 0)
    assert out == [("show", "loading", 5000), ("load", {"load_id": 7, "amount": 5000})]
    assert card_sale.state == sale.LOADING
    assert card_sale.key("C", 0) == [] and card_sale.state == sale.LOADING  # in flight
    assert shown(card_sale.loaded(25000, 0)) == ["choose_preset"]
    assert card_sale.state == sale.PRESET and card_sale.card["balance"] == 25000
    assert sale.load_offer(card_sale.card) is None  # not offered again in this sale
    assert card_sale.loaded(1, 0) == [] and card_sale.load_failed("x", 0) == []


def test_a_load_declined_or_failed_goes_on_to_the_preset():
    card_sale = _offered()
    assert shown(card_sale.key("C", 0)) == ["choose_preset"]
    assert card_sale.state == sale.PRESET and card_sale.card["balance"] == 20000
    card_sale = _offered()
    card_sale.key("E", 0)
    assert shown(card_sale.load_failed("load_failed", 0)) == ["load_failed"]
    assert card_sale.state == sale.PRESET and card_sale.card["balance"] == 20000


def test_a_load_offer_times_out_or_ends_with_the_card():
    card_sale = _offered()
    assert kinds(card_sale.tick(Cfg.sale_timeout_ms)) == ["show", "release"]
    assert card_sale.state == sale.IDLE
    card_sale = _offered()
    card_sale.key("E", 0)
    assert kinds(card_sale.card_removed(0)) == ["show", "release"]
    assert card_sale.state == sale.IDLE


def test_no_offer_without_a_load_and_a_load_lets_an_empty_card_in():
    c = card(balance=0)
    assert sale.check_card(c, Cfg(), Cfg(), TODAY, False, None) == "low_balance"
    c["station"] = {"load": 5000}  # no load id: nothing to offer
    assert sale.load_offer(c) is None
    assert sale.check_card(c, Cfg(), Cfg(), TODAY, False, None) == "low_balance"
    c["station"] = {"load": 5000, "load_id": 1}
    assert sale.check_card(c, Cfg(), Cfg(), TODAY, False, None) is None
    to_preset(Sale(Cfg(), Cfg()), card())  # no station word: straight to the preset
