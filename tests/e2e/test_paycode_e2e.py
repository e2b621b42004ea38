"""The idle pump's pay-by-phone code, scanned off the virtual panel's pixels with zbar as a
phone would (the sim board draws them with the SSD1306 driver's code): the pay page of
this pump, a token that rotates on time and after each sale."""

import pytest
import qrscan

from .helpers import CARD_MODE, start_sale
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e

PAY = {"pay_base": "https://st.example:8443", "terminal_id": "T0001",
       "terminal_key": "00" * 32}
PREFIX = "https://st.example:8443/pay/T0001/1?t="


def _scan(vp):
    found = qrscan.decode(vp.bench.pixel_rows())
    return found[0].decode() if found else None


def _url(vp, other_than=(), timeout=10):
    seen = []

    def fresh():
        seen[:] = [_scan(vp)]
        return seen[0] is not None and seen[0] not in other_than

    _wait(fresh, timeout, "a pay code other than %s" % (other_than,))
    url = seen[0]
    assert url.startswith(PREFIX) and len(url) == len(PREFIX) + 16, url
    return url


def test_the_idle_code_names_this_pumps_pay_page_and_rotates_on_time(make_pump):
    vp = make_pump(pay_rotate_s=2, **PAY)
    first = _url(vp)
    assert vp.bench.display[2] == "Preset: V litres A amount F fill"
    assert _url(vp, (first,), timeout=8) != first  # the next token, 2 s on


def test_a_sale_spends_the_token_and_hides_the_code(make_pump):
    vp = make_pump(**PAY)
    first = _url(vp)
    start_sale(vp, "V100E")  # 1.00 L
    assert _scan(vp) is None  # "lift the nozzle": no code on a sale's screens
    vp.wait_event("delivery", 20)
    vp.bench.hang_up()
    assert _url(vp, (first,), timeout=10) != first  # idle again, a new token


def test_insert_card_beside_the_code_in_card_mode(make_pump, card_store):
    cfg = dict(CARD_MODE)
    cfg.update(PAY)
    vp = make_pump(cards=card_store, **cfg)
    _url(vp)
    assert vp.bench.display[2] == "Insert your fuel card"
