"""The firmware's card layer against the bench's virtual card and PSAM (real 3DES)."""
import datetime
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyemv.mac import mac_iso9797_3

from fakes import ScriptedReader
from pumpside.card import apdu, grey_lock
from pumpside.card.fuelcard import FuelCard
from pumpside.card.psam import Psam
from pumpside_host import cardcrypto
from pumpside_host.bench.cards import Issuer, VirtualCard, VirtualPsam

ASN = "6200000000000017"
DT = grey_lock.bcd_datetime(1_795_000_000)


def _setup(balance=10000, **kw):
    issuer = Issuer()
    vcard = VirtualCard.issue(issuer, ASN, balance, **kw)
    vpsam = VirtualPsam(issuer)
    card, psam = FuelCard(vcard), Psam(vpsam)
    card.select()
    return issuer, vcard, card, psam


def test_grey_lock_then_debit_for_unlock_moves_exactly_the_amount():
    issuer, vcard, card, psam = _setup()
    info = card.issuer()
    assert info["asn"].hex() == ASN and info["expiry"] == "20301231"
    card.verify_pin("123456")
    tid = psam.terminal_id()
    locked = grey_lock.lock(card, psam, tid, info["asn"], DT)
    assert locked["balance"] == 10000 and card.grey_status()["grey"]
    assert card.grey_status()["terminal_id"] == tid
    tac, gmac = grey_lock.settle(card, psam, info["asn"], locked["ctc"], 1518, tid,
                                 locked["ttc"], DT)
    assert gmac == psam.gmac(info["asn"], locked["ctc"], 1518)
    # the TAC, recomputed from the issuer's keys: the card really signed this debit
    _pk, tk = issuer.keys(info["asn"])
    expect = cardcrypto.mac(cardcrypto.single(tk), struct.pack(">I", 1518) + b"\x93" + tid
                            + struct.pack(">I", locked["ttc"]) + DT)
    assert tac == expect
    assert card.balance() == 8482 and not card.grey_status()["grey"]
    log = card.record(1)
    assert log["amount"] == 1518 and log["type"] == 0x93 and log["terminal_id"] == tid
    e = pytest.raises(apdu.CardError, grey_lock.settle, card, psam, info["asn"], locked["ctc"],
                      1518, tid, locked["ttc"], DT).value
    assert e.sw == 0x6985 and card.balance() == 8482  # settled once, never twice


def test_wrong_pin_counts_down_then_blocks():
    _i, vcard, card, _p = _setup()
    for left in (2, 1):
        e = pytest.raises(apdu.CardError, card.verify_pin, "999999").value
        assert e.tries_left() == left
    e = pytest.raises(apdu.CardError, card.verify_pin, "999999").value
    assert e.sw == 0x6983 and "blocked" in str(e)
    e = pytest.raises(apdu.CardError, card.verify_pin, "123456").value
    assert e.sw == 0x6983  # the right PIN no longer helps
    assert "999999" not in str(e) and "123456" not in str(e)


def test_wrong_mac2_leaves_the_card_grey_and_untrusted_then_settles_for_zero():
    _i, vcard, card, psam = _setup()
    vcard.wrong_mac2 = True
    asn = bytes.fromhex(ASN)
    tid = psam.terminal_id()
    e = pytest.raises(apdu.CardError, grey_lock.lock, card, psam, tid, asn, DT).value
    assert e.sw == 0x9302 and card.grey_status()["grey"]
    locked = e.locked
    grey_lock.settle(card, psam, asn, locked["ctc"], 0, tid, locked["ttc"], DT)
    assert card.balance() == 10000 and not card.grey_status()["grey"]


class Pulled:
    """A reader whose card is pulled after `n` APDUs."""

    def __init__(self, inner, n):
        self.inner = inner
        self.n = n

    def transceive(self, cmd):
        if self.n == 0:
            raise OSError("card removed")
        self.n -= 1
        return self.inner.transceive(cmd)


@pytest.mark.parametrize("after", range(0, 6))  # the 6 card APDUs of a sale
def test_card_pulled_between_any_two_apdus_is_a_card_error(after):
    issuer = Issuer()
    vcard = VirtualCard.issue(issuer, ASN, 5000)
    vpsam = VirtualPsam(issuer)
    card = FuelCard(Pulled(vcard, after))
    psam = Psam(vpsam)
    tid = bytes.fromhex("000000000101")
    with pytest.raises(apdu.CardError) as e:
        card.select()
        card.issuer()
        card.verify_pin("123456")
        locked = grey_lock.lock(card, psam, tid, bytes.fromhex(ASN), DT)
        grey_lock.settle(card, psam, bytes.fromhex(ASN), locked["ctc"], 100, tid,
                         locked["ttc"], DT)
    assert e.value.kind == apdu.REMOVED
    # whatever happened, the card holds its money or is grey: never debited unrecorded
    assert vcard.s["balance"] == 5000


def test_a_card_left_grey_is_settled_later_by_another_reader():
    issuer, vcard, card, psam = _setup(balance=3000)
    asn = bytes.fromhex(ASN)
    tid = psam.terminal_id()
    locked = grey_lock.lock(card, psam, tid, asn, DT)
    again = FuelCard(vcard)  # re-inserted
    again.select()
    status = again.grey_status()
    assert status["grey"] and status["ctc"] == locked["ctc"] and status["ttc"] == locked["ttc"]
    grey_lock.settle(again, psam, asn, status["ctc"], 1234, tid, status["ttc"], DT)
    assert again.balance() == 1766


@given(st.binary(min_size=8, max_size=8), st.binary(max_size=64))
def test_mac_agrees_with_pyemv_iso9797(key, data):
    # ISO 9797-1 algorithm 3 with K1 = K2 is algorithm 1: single-DES CBC-MAC
    assert cardcrypto.mac(key, data) == mac_iso9797_3(key, key, data, 2)[:4]


def test_cbc_mac_published_vector():
    # ANSI X9.9 / FIPS 113 example: zero-padded text, MAC F1D30F68
    key = bytes.fromhex("0123456789ABCDEF")
    text = b"7654321 Now is the time for " + bytes(4)
    assert cardcrypto.cbc_mac(key, text)[:4].hex().upper() == "F1D30F68"
    assert cardcrypto.mac(key, b"abc") == mac_iso9797_3(key, key, b"abc", 2)[:4]


@given(st.integers(min_value=0, max_value=4_102_444_799))
def test_bcd_datetime_matches_the_calendar(secs):
    t = datetime.datetime.fromtimestamp(secs, datetime.UTC)
    assert grey_lock.bcd_datetime(secs).hex() == t.strftime("%Y%m%d%H%M%S")


@given(st.lists(st.binary(max_size=40), max_size=6),
       st.sampled_from(["select", "issuer", "holder", "restrictions", "balance", "pin",
                        "init", "grey", "status", "record", "psam_init", "gmac"]))
def test_random_replies_only_raise_card_errors(replies, step):
    card = FuelCard(ScriptedReader(*replies))
    psam = Psam(ScriptedReader(*replies))
    calls = {
        "select": card.select, "issuer": card.issuer, "holder": card.holder,
        "restrictions": card.restrictions, "balance": card.balance,
        "pin": lambda: card.verify_pin("1234"),
        "init": lambda: card.init_grey_lock(bytes(6)),
        "grey": lambda: card.grey_lock(1, bytes(4), DT, bytes(4)),
        "status": card.grey_status, "record": lambda: card.record(1),
        "psam_init": lambda: psam.init_grey_lock(bytes(4), 1, 2, DT, 1, 0, bytes(8)),
        "gmac": lambda: psam.gmac(bytes(8), 1, 100),
    }
    try:
        calls[step]()
    except apdu.CardError:
        pass


# Each command's reply as the card layer expects it: exact data length, then 9000, so the
# random contents reach the file parsers instead of failing on length or status.
EXACT = {  # step: (data length, call)
    "issuer": (30, lambda c, p: c.issuer()),
    "holder": (56, lambda c, p: c.holder()),
    "restrictions": (36, lambda c, p: c.restrictions()),
    "balance": (4, lambda c, p: c.balance()),
    "status": (30, lambda c, p: c.grey_status()),
    "record": (23, lambda c, p: c.record(1)),
    "init": (15, lambda c, p: c.init_grey_lock(bytes(6))),
    "grey": (8, lambda c, p: c.grey_lock(1, bytes(4), DT, bytes(4))),
    "debit": (4, lambda c, p: c.debit_for_unlock(100, 1, bytes(6), 1, DT, bytes(4))),
    "psam_tid": (6, lambda c, p: p.terminal_id()),
    "psam_init": (12, lambda c, p: p.init_grey_lock(bytes(4), 1, 2, DT, 1, 0, bytes(8))),
    "gmac": (8, lambda c, p: p.gmac(bytes(8), 1, 100)),
}


@pytest.mark.parametrize("step", sorted(EXACT))
@given(data=st.data())
def test_well_framed_random_file_contents_only_raise_card_errors(step, data):
    """A reply of the right length ending in 9000 with random contents: the parser
    returns plain values or raises CardError - never UnicodeError, ValueError, ..."""
    n, run = EXACT[step]
    body = data.draw(st.binary(min_size=n, max_size=n))
    card = FuelCard(ScriptedReader(body + b"\x90\x00"))
    psam = Psam(ScriptedReader(body + b"\x90\x00"))
    try:
        run(card, psam)
    except apdu.CardError as e:
        assert e.kind == apdu.MALFORMED, e  # 9000 and the right length: only bad data
