from _t import raises
from fakes import ScriptedReader
from pumpside.card import apdu
from pumpside.card.apdu import CardError


def test_command_cases():
    assert apdu.command(0x00, 0xB0, 0x95, 0x00, le=30) == bytes([0, 0xB0, 0x95, 0, 30])
    assert apdu.command(0x00, 0x20, 0, 0, b"\x12\x34\x56") == bytes([0, 0x20, 0, 0, 3,
                                                                      0x12, 0x34, 0x56])
    assert apdu.command(0x80, 0x5C, 0, 2, le=4) == bytes([0x80, 0x5C, 0, 2, 4])
    assert apdu.command(0, 0xA4, 4, 0, b"\xa0", le=256)[-1] == 0
    raises(ValueError, apdu.command, 0, 0, 0, 0, bytes(256))


def test_status_words_and_tries_left():
    reader = ScriptedReader(b"\x63\xc2")
    e = raises(CardError, apdu.call, reader, apdu.command(0, 0x20, 0, 0, b"\x12\x34\x56"))
    assert e.kind == apdu.STATUS and e.sw == 0x63C2 and e.tries_left() == 2
    assert "2 tries left" in str(e) and "123456" not in str(e)
    e = raises(CardError, apdu.call, ScriptedReader(b"\x69\x83"), b"\x00\x20\x00\x00")
    assert "PIN blocked" in str(e) and e.tries_left() is None
    assert apdu.meaning(0x6A82) == "file not found"
    assert apdu.meaning(0x1234) == "unknown status"


def test_get_response_chaining():
    reader = ScriptedReader(b"\x61\x04", b"\x01\x02\x03\x04\x90\x00")
    assert apdu.call(reader, b"\x00\xb0\x95\x00\x00", length=4) == b"\x01\x02\x03\x04"
    assert reader.sent[1] == bytes([0, 0xC0, 0, 0, 4])


def test_wrong_le_is_sent_again_with_the_right_one():
    reader = ScriptedReader(b"\x6c\x1e", bytes(30) + b"\x90\x00")
    assert len(apdu.call(reader, bytes([0, 0xB0, 0x95, 0, 0]))) == 30
    assert reader.sent[1] == bytes([0, 0xB0, 0x95, 0, 0x1E])
    assert apdu.with_le(bytes([0, 0xCA, 0, 0]), 5) == bytes([0, 0xCA, 0, 0, 5])
    assert apdu.with_le(bytes([0, 0x20, 0, 0, 1, 9]), 5) == bytes([0, 0x20, 0, 0, 1, 9, 5])
    assert apdu.with_le(bytes([0, 0x20, 0, 0, 1, 9, 2]), 5) == bytes([0, 0x20, 0, 0, 1, 9, 5])


def test_short_wrong_length_and_endless_chaining_are_card_errors():
    assert raises(CardError, apdu.call, ScriptedReader(b"\x90"), b"\x00\x00\x00\x00").kind == \
        apdu.MALFORMED
    assert raises(CardError, apdu.call, ScriptedReader(b""), b"\x00\x00\x00\x00").kind == \
        apdu.MALFORMED
    e = raises(CardError, apdu.call, ScriptedReader(b"\x01\x02\x90\x00"), b"\x00\x00\x00\x00",
               length=4)
    assert e.kind == apdu.MALFORMED and "2 bytes" in str(e)
    endless = ScriptedReader(*([b"\x61\x01"] * 9))
    assert raises(CardError, apdu.call, endless, b"\x00\x00\x00\x00").kind == apdu.MALFORMED


def test_card_pulled_between_apdus():
    reader = ScriptedReader(b"\x61\x04", OSError("no card"))
    e = raises(CardError, apdu.call, reader, b"\x00\xb0\x95\x00\x00")
    assert e.kind == apdu.REMOVED and "removed" in str(e)
