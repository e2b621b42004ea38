"""The bench's card reader, PSAM slot and printer, over its wire protocol."""
from pumpside_host.bench import Bench
from pumpside_host.bench.cards import Issuer, VirtualCard, VirtualPsam


def _bench():
    b = Bench()
    issuer = Issuer()
    b.psam = VirtualPsam(issuer)
    return b, VirtualCard.issue(issuer, "6200000000000017", 5000)


def test_card_slot_and_psam_answer_apdus():
    b, card = _bench()
    assert b.handle("CP") == "0" and b.handle("CT 00a4040000") == "!removed"
    b.insert_card(card)
    assert b.handle("CP") == "1" and b.handle("CO").startswith("3b")
    reply = b.handle("CT 00a4040009a00000000386980701")
    assert reply.endswith("9000")
    assert b.handle("CT 805c000204") == "000013889000"  # balance 5000
    assert b.handle("ST 00b0960006") == "0000000001019000"
    assert [a[1] for a in b.apdus] == ["card", "card", "psam"]


def test_card_pulled_between_two_apdus():
    b, card = _bench()
    b.insert_card(card, pull_after=1)
    assert b.handle("CT 00a4040009a00000000386980701").endswith("9000")
    assert b.handle("CT 805c000204") == "!removed"
    assert b.handle("CP") == "0"


def test_printer_keeps_every_byte():
    b, _ = _bench()
    b.handle("PR 1b40")
    b.handle("PR " + b"hello\n".hex())
    assert bytes(b.printed) == b"\x1b@hello\n"
