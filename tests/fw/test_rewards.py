"""rewards.py's decisions without the link (both interpreters): the REWARDS_ANSWER read
(malformed items dropped, what the card cannot afford left out, its oldest pending
voucher taken), the menu's keys, the voucher's money off, the receipt's points. The
questions to the station run in tests/host/test_pump_loyalty.py."""
from pumpside import rewards


class _Paths:
    redeem = "/nonexistent/redeem"


class _Pump:
    def __init__(self, link):
        self.link = link
        self.paths = _Paths()


class _Desk:
    def __init__(self, link=True):
        self.pump = _Pump(object() if link else None)
        self.bill = {"grade": "92"}


ASN = "6200000000000017"


def _answer(**over):
    answer = {"asn": ASN, "points": 300, "rates": {"92": 2, "*": 1}, "pct": 150,
              "double": False, "vouchers": [],
              "rewards": [[1, "five off", 100, "amount", 500], [2, "ten pct", 1000, "percent",
                                                                10]]}
    answer.update(over)
    return answer


def _menu(answer, link=True):
    r = rewards.Rewards(_Desk(link))
    r._asn = ASN
    r.phase = rewards.ASKING
    return r, r._answered(answer)


def test_the_answer_offers_what_the_card_can_afford():
    r, actions = _menu(_answer())
    assert actions == [("show", "rewards_menu", None)] and r.phase == rewards.MENU
    assert r.offer == [[1, "five off", 100, "amount", 500]] and r.voucher is None
    assert r.line() == "300  1:five off 100"


def test_malformed_rewards_and_vouchers_are_left_out():
    bad = [[0, "zero id", 1, "amount", 5], [3, 7, 1, "amount", 5], [4, "x", 1, "free", 5],
           [5, "x", 1, "amount", -5], [6, "x", 0, "amount", 5]]
    r, _ = _menu(_answer(rewards=bad + [[9, "ok", 10, "percent", 5]],
                         vouchers=[[0, "amount", 5], [8, "gift", 5]],
                         rates={"92": "2", "95": -1, "*": 1}))
    assert r.offer == [[9, "ok", 10, "percent", 5]] and r.voucher is None
    assert r.answer["rates"] == {"*": 1} and r.receipt(1000) == (15, 315)


def test_a_pending_voucher_is_taken_and_no_reward_offered():
    r, actions = _menu(_answer(vouchers=[[0, "amount", 5], [7, "percent", 10],
                                         [8, "amount", 300]]))
    assert actions == [("show", "rewards_menu", None)] and r.voucher == [7, "percent", 10]
    assert r.line() == "-10%  E"
    assert r.key("1") == (True, None)  # nothing to buy: a voucher is this sale's already
    assert r.off(2277) == 228 and r.off(0) == 0


def test_nothing_to_offer_or_no_answer_goes_to_the_preset():
    r, actions = _menu(_answer(points=50))
    assert actions == [("show", "choose_preset", None)] and r.phase == 0
    r, actions = _menu(None)
    assert actions == [("show", "choose_preset", None)] and r.answer is None
    r, actions = _menu(_answer(asn="6200000000000025"))  # another card's: not this one's
    assert actions == [("show", "choose_preset", None)] and r.answer is None


def test_the_menus_keys():
    r, _ = _menu(_answer())
    assert r.key("C") == (False, None)  # C cancels the sale: never the menu's
    assert r.key("9") == (True, None)  # no such reward
    assert r.key("E") == (True, [("show", "choose_preset", None)]) and r.phase == 0
    assert r.key("E") == (False, None)  # the menu closed: the preset's key
    r, _ = _menu(_answer())
    assert r.step(False) is None and r.phase == 0  # the preset timed out: menu gone
    assert r.key("1") == (False, None)


def test_the_receipts_points():
    r, _ = _menu(_answer())
    assert r.receipt(1777) == (53, 353)  # 1777 x 2 x 150 % // 10000
    r.answer["double"] = True
    assert r.receipt(1777) == (106, 406)
    r.desk.bill = {"grade": "95"}  # the "*" rate
    assert r.receipt(1000) == (30, 330)
    r, _ = _menu(None)
    assert r.receipt(1777) == "later"  # the station credits them when the sale arrives
    r, _ = _menu(None, link=False)
    assert r.receipt(1777) is None  # no station: no loyalty
