"""The bench's card reader, PSAM slot and printer, over its wire protocol."""
from pumpside_host.bench import Bench
from pumpside_host.bench.cards import Issuer, VirtualCard, VirtualPsam


def _bench():
    issuer = Issuer()
    return Bench(psam=VirtualPsam(issuer)), VirtualCard.issue(issuer, "6200000000000017", 5000)


def test_card_slot_and_psam_answer_apdus():
    bench, card = _bench()
    assert bench.handle("CP") == "0" and bench.handle("CT 00a4040000") == "!removed"
    bench.insert_card(card)
    assert bench.handle("CP") == "1" and bench.handle("CO").startswith("3b")
    reply = bench.handle("CT 00a4040009a00000000386980701")
    assert reply.endswith("9000")
    assert bench.handle("CT 805c000204") == "000013889000"  # balance 5000
    assert bench.handle("ST 00b0960006") == "0000000001019000"
    assert [a[1] for a in bench.apdus] == ["card", "card", "psam"]


def test_card_pulled_between_two_apdus():
    bench, card = _bench()
    bench.insert_card(card, pull_after=1)
    assert bench.handle("CT 00a4040009a00000000386980701").endswith("9000")
    assert bench.handle("CT 805c000204") == "!removed"
    assert bench.handle("CP") == "0"


def test_printer_keeps_every_byte():
    bench, _ = _bench()
    bench.handle("PR 1b40")
    bench.handle("PR " + b"hello\n".hex())
    assert bytes(bench.printed) == b"\x1b@hello\n"
