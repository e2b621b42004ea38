from _t import raises
from fakes import ScriptedReader
from pumpside.card import apdu, grey_lock
from pumpside.card.fuelcard import FuelCard, pin_block


def test_bcd_datetime_fixed_vectors():
    assert grey_lock.bcd_datetime(0) == bytes.fromhex("19700101000000")
    assert grey_lock.bcd_datetime(951782400) == bytes.fromhex("20000229000000")  # leap day
    assert grey_lock.bcd_datetime(1795000000) == bytes.fromhex("20261118110640")


def test_pin_block_and_bad_pins():
    assert pin_block("1234") == bytes.fromhex("1234ff")
    assert pin_block("123456") == bytes.fromhex("123456")
    for bad in ("123", "1234567", "12a4"):
        e = raises(apdu.CardError, pin_block, bad)
        assert bad not in str(e)


def test_issuer_file_parsed():
    ef15 = (b"ISSUER01" + b"\x00\x01\x01\x00" + bytes.fromhex("6200000000000017")
            + bytes.fromhex("20240101") + bytes.fromhex("20301231") + b"\x01\x01")
    card = FuelCard(ScriptedReader(ef15 + b"\x90\x00"))
    info = card.issuer()
    assert info["asn"] == bytes.fromhex("6200000000000017")
    assert (info["start"], info["expiry"], info["status"]) == ("20240101", "20301231", 1)
    assert card.reader.sent[0] == bytes([0, 0xB0, 0x95, 0, 30])


def test_short_file_is_a_card_error_not_a_crash():
    card = FuelCard(ScriptedReader(b"\x01\x02\x90\x00"))
    e = raises(apdu.CardError, card.issuer)
    assert e.kind == apdu.MALFORMED


def test_grey_status_parsed():
    reply = bytearray(30)
    reply[0] = 1
    reply[1:5] = (3000).to_bytes(4, "big")
    reply[5:7] = (7).to_bytes(2, "big")
    reply[9:15] = bytes.fromhex("000000000101")
    card = FuelCard(ScriptedReader(bytes(reply) + b"\x90\x00"))
    status = card.grey_status()
    assert status["grey"] and status["balance"] == 3000 and status["ctc"] == 7
    assert status["terminal_id"] == bytes.fromhex("000000000101")


def test_card_data_that_does_not_parse_is_malformed_on_either_python():
    """A non-UTF-8 grade (UnicodeError on MicroPython, UnicodeDecodeError on CPython), a
    discount over 100 %, a start or expiry date that is not BCD: CardError(MALFORMED),
    nothing else."""
    ef1c = bytearray(36)
    ef1c[0:2] = b"\xff9"
    ef16 = bytearray(56)
    ef16[41] = 101
    bad_start = bytearray(30)
    bad_start[20:24] = bytes.fromhex("2024a101")
    bad_expiry = bytearray(30)
    bad_expiry[24:28] = bytes.fromhex("2030123f")
    for reply, run in ((ef1c, FuelCard.restrictions), (ef16, FuelCard.holder),
                       (bad_start, FuelCard.issuer), (bad_expiry, FuelCard.issuer)):
        e = raises(apdu.CardError, run, FuelCard(ScriptedReader(bytes(reply) + b"\x90\x00")))
        assert e.kind == apdu.MALFORMED and "card data" in str(e)
    ef1c[0:2] = b"92"
    assert FuelCard(ScriptedReader(bytes(ef1c) + b"\x90\x00")).restrictions()["grades"] == ["92"]
    ef16[41] = 100  # 100 % still parses; the sale refuses it before the grey lock
    assert FuelCard(ScriptedReader(bytes(ef16) + b"\x90\x00")).holder()["discount"] == 100
