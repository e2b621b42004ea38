"""The idle screen's pay-by-phone code (paycode.py, app.Pump.show): its URL, its one-time
token (issue time and a MAC under the pay key the station derives too) and its rotation
(time, use), the matrix dropped when the screen changes."""
from _t import raises
from fakes import pump_rig, remove_scratch
from pumpside import config, qr
from pumpside.compat import ticks_add, ticks_ms
from pumpside.mac import hmac_sha256
from pumpside.paycode import PayCode, pay_key, token

BASE = "https://st.example"
KEY = bytes(range(32))
PAY = {"pay_base": BASE, "terminal_id": "T0001", "pay_rotate_s": 60, "terminal_key": KEY.hex()}
T = 1_700_000_000


def teardown_module():
    remove_scratch()


def _token(url):
    return url[url.index("?t=") + 3:]


def test_the_url_names_the_pay_page_of_this_pump_with_a_token_the_station_can_check():
    pay = PayCode(BASE, "T0001", 2, 60, KEY)
    size, matrix = pay.code(0, T)
    url = pay.url()
    assert url.startswith(BASE + "/pay/T0001/2?t=")
    issued = _token(url)
    assert len(issued) == 16 and all(c in "0123456789abcdef" for c in issued)
    assert int(issued[:8], 16) == T  # the issue time, then the MAC
    key = hmac_sha256(KEY, b"pumpside-pay")  # derived from the link key, never the key
    assert issued[8:] == hmac_sha256(key, b"T0001|2|%d" % T)[:4].hex()
    assert issued == token(pay_key(KEY), "T0001", 2, T)
    assert token(pay_key(bytes(32)), "T0001", 2, T) != issued  # another key
    assert token(pay_key(KEY), "T0001", 1, T) != issued  # another nozzle
    assert (size, bytes(matrix)) == (29, bytes(qr.encode(url.encode())[1]))  # version 3


def test_the_token_rotates_on_time_and_after_use_never_in_between():
    pay = PayCode(BASE, "T0001", 1, 60, KEY)
    now = ticks_ms()
    code = pay.code(now, T)
    first = pay.url()
    assert pay.code(ticks_add(now, 59999), T + 59) is code  # the same code, not built again
    pay.drop()  # the screen changed: the matrix goes, the token stays
    assert pay.code(ticks_add(now, 59999), T + 59)[1] == code[1] and pay.url() == first
    second = pay.code(ticks_add(now, 60000), T + 60) and pay.url()
    assert second != first
    pay.used()  # in the same second: still a later issue time, another token
    assert pay.code(ticks_add(now, 60001), T + 60) and pay.url() not in (first, second)
    assert int(_token(pay.url())[:8], 16) == T + 61


def test_the_idle_screen_shows_the_code_and_a_sale_spends_its_token():
    # the test holds no matrix across a step: tier 2's heap carries a whole pump beside it
    board, pump = pump_rig(**PAY)
    now = ticks_ms()
    pump.show(now)
    url = pump.pay.url()
    assert url.startswith(BASE + "/pay/T0001/1?t=")
    # the pump's matrix is the encoder's for its URL (the test above)
    assert board.codes[-1][0] == 29 and len(board.codes[-1][1]) == 29 * 29
    assert board.screens[-1][2] == "Preset: V litres A amount F fill"
    board.codes[:] = []
    pump.keypad.key("V", now)  # keying a preset: the code goes (its matrix freed)
    pump.show(now)
    assert board.codes == [None]
    pump.keypad.key("C", now)  # cancelled: the same token again, its matrix built anew
    pump.show(now)
    assert board.codes[-1][0] == 29 and pump.pay.url() == url
    board.codes[:] = []
    for k in "V100E":
        pump.keypad.key(k, now)
    pump.show(now)
    assert board.codes == [None]
    assert pump.pay.token == ""  # the sale started: its token spent


def test_no_pay_base_no_code():
    board, pump = pump_rig()
    pump.show(ticks_ms())
    assert pump.pay is None and board.codes == [None]


def test_a_pay_base_that_is_no_url_is_refused_by_name():
    for bad in ("st.example", "https://st.example/", "ftp://x"):
        e = raises(config.ConfigError, config.check, "pay_base", bad)
        assert e.field == "pay_base"
    assert config.check("pay_base", "http://10.0.0.5:8080/fuel") == "http://10.0.0.5:8080/fuel"
    e = raises(config.ConfigError, config.check, "pay_base", "https://" + "x" * 40)
    assert e.field == "pay_base"
