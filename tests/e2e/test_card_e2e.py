"""End to end: the customer's card sale on the virtual pump (firmware on the MicroPython
unix port, sim board, bench card and PSAM with real 3DES)."""
import time

import pytest

from pumpside import meter
from pumpside_host import cardcrypto
from pumpside_host.bench.cards import Issuer, VirtualCard

from .helpers import ASN, CARD_MODE, PIN
from .helpers import card_sale as _card_sale
from .helpers import card_sale_fuelling as _card_sale_fuelling
from .helpers import prompt as _prompt
from .helpers import remove_card as _remove
from .helpers import saw as _saw
from .helpers import to_preset as _to_preset
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e


def _pump(make_pump, card_store, **config):
    cfg = dict(CARD_MODE)
    cfg.update(config)
    vp = make_pump(cards=card_store, **cfg)
    assert _saw(vp, "psam", terminal_id="000000000101")
    return vp


def test_normal_card_sale_debits_exactly_the_receipt_amount(make_pump, card_store):
    vp = _pump(make_pump, card_store)
    _prompt(vp, "Insert your fuel card")
    _to_preset(vp)
    vp.bench.press("V500E")  # 5.00 L
    _prompt(vp, "Lift the nozzle")
    assert vp.card_state(ASN)["grey"]  # grey-locked before any fuel
    vp.bench.lift()
    d = vp.wait_event("delivery", 30)
    vp.bench.hang_up()
    r = vp.wait_event("receipt", 10)
    assert d["record"] == "FINAL" and d["ml"] == 5000 and d["amount"] == 3795
    card = vp.card_state(ASN)
    assert not card["grey"] and card["balance"] == 50000 - 3795 == r["balance"]
    assert card["log"][0]["amount"] == 3795 and card["log"][0]["type"] == 0x93
    text = bytes(vp.bench.printed).decode("utf-8", "replace")
    assert "37.95" in text and "5.00 L" in text and "6200********0017" in text
    assert "Points" not in text  # no station, no loyalty (test_loyalty_e2e.py)
    _prompt(vp, "Take your card and receipt")
    assert vp.bench.display[3] == "余额 Balance 462.05"
    _remove(vp)
    _prompt(vp, "Thank you")
    # the journal holds the sale with the card's TAC
    vp.kill()
    finals = [r for r in vp.dump_journal()["records"] if r["type"] == "FINAL"]
    assert len(finals) == 1 and finals[0]["amount"] == 3795
    # the TAC, recomputed from the issuer's key: the card signed exactly this debit
    f, entry = finals[0], card["log"][0]
    _pk, tk = card_store.issuer.keys(bytes.fromhex(ASN))
    want = cardcrypto.mac(cardcrypto.single(tk), (3795).to_bytes(4, "big") + b"\x93"
                          + bytes.fromhex(entry["tid"]) + f["psam_ttc"].to_bytes(4, "big")
                          + bytes.fromhex(entry["dt"]))
    assert f["tac"] == want.hex() and f["tac"].upper() in text


def _journal(vp):
    vp.kill()
    return vp.dump_journal()["records"]


def test_refusals_name_the_reason(make_pump, card_store, tmp_path):
    card_store.issue("6200000000000021", 50000, expiry="20200101")
    card_store.issue("6200000000000022", 50000, status=0)
    card_store.issue("6200000000000023", 50000)  # hotlisted below
    card_store.issue("6200000000000024", 50000, grades=["95"])
    card_store.issue("6200000000000025", 50, pin=PIN)  # below min_sale_amount
    stranger = Issuer(issuer_id=b"OTHER001")  # a card of an issuer this station refuses
    card_store.cards["6200000000000026"] = VirtualCard.issue(stranger, "6200000000000026", 50000)
    vp = _pump(make_pump, card_store)
    vp.kill()
    vp.flash_tool("hotlist", "3", "6200000000000023", "6200000000000099")
    vp.reboot()
    vp.wait_state("IDLE", 10)
    assert _saw(vp, "hotlist", version=3, entries=2)
    for asn, prompt in (("6200000000000021", "Card expired"),
                        ("6200000000000022", "Card blocked"),
                        ("6200000000000023", "Card refused (hotlist)"),
                        ("6200000000000024", "Grade not allowed for this card"),
                        ("6200000000000025", "Balance too low"),
                        ("6200000000000026", "Card not accepted")):
        vp.insert(asn)
        _prompt(vp, prompt)
        _remove(vp)
        assert not vp.card_state(asn)["grey"] and vp.card_state(asn)["ctc"] == 0
    assert vp.bench.counts() == (0, 0)
    assert not [r for r in _journal(vp) if r["type"] == "AUTHORIZED"]


def test_wrong_pin_shows_tries_left_then_blocks(make_pump, card_store):
    vp = _pump(make_pump, card_store)
    vp.insert(ASN)
    _prompt(vp, "Enter PIN, E to confirm")
    for left in (2, 1):
        vp.bench.press("1111E")
        _prompt(vp, "Wrong PIN")
        _wait(lambda n=left: vp.bench.display[3].endswith("tries left: %d" % n), 5, "tries")
    vp.bench.press("1111E")
    _prompt(vp, "PIN blocked - card locked")
    _remove(vp)
    vp.insert(ASN)  # the right PIN no longer opens it
    _prompt(vp, "Enter PIN, E to confirm")
    vp.bench.press(PIN + "E")
    _prompt(vp, "PIN blocked - card locked")
    assert vp.card_state(ASN)["pin_tries"] == 0 and not vp.card_state(ASN)["grey"]
    assert PIN not in "\n".join(vp.lines)  # the PIN is never on the console


def test_low_balance_caps_the_fill_up(make_pump, card_store):
    card_store.issue("6200000000000031", 1000)  # 10.00: 1.31 L at 7.59
    vp = _pump(make_pump, card_store)
    d, _receipt = _card_sale(vp, "F", "6200000000000031")
    assert d["stop"] == "CAP" and 990 <= d["amount"] <= 1000
    assert d["amount"] == meter.amount_for_ml(d["ml"], 7590)
    assert vp.card_state("6200000000000031")["balance"] == 1000 - d["amount"]


def test_cancel_at_each_waiting_state_moves_no_money(make_pump, card_store):
    vp = _pump(make_pump, card_store)
    vp.insert(ASN)
    _prompt(vp, "Enter PIN, E to confirm")
    vp.bench.press("C")
    _prompt(vp, "Cancelled - take your card")
    _remove(vp)
    _to_preset(vp)
    vp.bench.press("C")
    _prompt(vp, "Cancelled - take your card")
    _remove(vp)
    _to_preset(vp)
    vp.bench.press("A2000E")
    _prompt(vp, "Lift the nozzle")
    vp.bench.press("C")  # grey-locked, then cancelled before the nozzle: settled for 0
    r = vp.wait_event("receipt", 10)
    assert r["amount"] == 0
    card = vp.card_state(ASN)
    assert not card["grey"] and card["balance"] == 50000 and vp.bench.counts() == (0, 0)


def test_cancel_at_the_staff_password_and_while_fuelling(make_pump, card_store):
    """C at the staff password of a plate-bound card ends the sale with nothing moved; C
    while fuel flows stops the delivery and the card pays exactly the metered amount."""
    card_store.issue("6200000000000043", 50000, plate="A12345", staff_pin="8888")
    vp = _pump(make_pump, card_store)
    vp.insert("6200000000000043")
    _prompt(vp, "Enter PIN, E to confirm")
    vp.bench.press(PIN + "E")
    _prompt(vp, "Staff password, E to confirm")
    vp.bench.press("88")  # half typed, then cancelled
    vp.bench.press("C")
    _prompt(vp, "Cancelled - take your card")
    _remove(vp)
    plate = vp.card_state("6200000000000043")
    assert not plate["grey"] and plate["ctc"] == 0 and plate["balance"] == 50000
    _card_sale_fuelling(vp, "V2000E")  # 20 L, cancelled long before
    vp.bench.press("C")
    d = vp.wait_event("delivery", 10)
    vp.bench.hang_up()
    r = vp.wait_event("receipt", 10)
    assert d["stop"] == "CANCEL" and d["record"] == "FINAL" and 1000 <= d["ml"] < 20000
    assert d["amount"] == meter.amount_for_ml(d["ml"], 7590) == r["amount"]
    assert vp.bench.counts()[0] == d["pulses"]  # the valves shut on C
    card = vp.card_state(ASN)
    assert not card["grey"] and card["balance"] == 50000 - d["amount"]
    assert card["log"][0]["amount"] == d["amount"]
    _remove(vp)
    finals = [r for r in _journal(vp) if r["type"] == "FINAL"]
    assert [f["amount"] for f in finals] == [d["amount"]]


def test_wrong_mac2_no_fuel_flows(make_pump, card_store):
    vp = _pump(make_pump, card_store)
    card_store.cards[ASN].wrong_mac2 = True
    _to_preset(vp)
    vp.bench.lift()  # the customer lifts the nozzle early
    vp.bench.press("V1000E")
    vp.wait_event("receipt", 10)
    assert _saw(vp, "card", prompt="card_error")
    assert vp.bench.counts() == (0, 0) and vp.bench.outputs() == (False, False, False)
    card = vp.card_state(ASN)
    assert not card["grey"] and card["balance"] == 50000  # settled for 0
    assert _saw(vp, "mac2_failed")
    vp.bench.hang_up()
    finals = [r for r in _journal(vp) if r["type"] == "FINAL"]
    assert len(finals) == 1 and finals[0]["amount"] == 0 and finals[0]["flags"] & 32


def test_card_pulled_mid_fuelling_is_settled_once_after_reinsertion_and_reboot(make_pump,
                                                                               card_store):
    vp = _pump(make_pump, card_store)
    _card_sale_fuelling(vp, "V1000E")
    _remove(vp)
    d = vp.wait_event("delivery", 10)
    assert d["record"] == "ESCAPE" and d["stop"] == "CARD" and d["amount"] > 0
    _prompt(vp, "Card removed - reinsert to pay")
    vp.bench.hang_up()
    assert vp.card_state(ASN)["grey"] and vp.card_state(ASN)["balance"] == 50000
    assert vp.bench.counts()[0] == d["pulses"]  # valves shut: no more fuel after the pull
    vp.reboot()  # the escape outlives a power cycle
    vp.wait_state("IDLE", 10)
    vp.insert(ASN)
    r = vp.wait_event("receipt", 10)
    card = vp.card_state(ASN)
    assert r["amount"] == d["amount"] and not card["grey"]
    assert card["balance"] == 50000 - d["amount"]
    _remove(vp)
    _prompt(vp, "Thank you")
    vp.insert(ASN)  # a second insertion changes nothing: a normal sale starts
    _prompt(vp, "Enter PIN, E to confirm")
    vp.bench.press("C")
    _remove(vp)
    assert vp.card_state(ASN)["balance"] == 50000 - d["amount"]
    types = [r["type"] for r in _journal(vp) if r["type"] in ("FINAL", "ESCAPE", "UNLOCK")]
    assert types == ["ESCAPE", "UNLOCK"]


def test_own_escape_is_settled_before_the_hotlist_refuses_the_card(make_pump, card_store):
    """A card that escaped here and was hotlisted since still pays what it owes (补扣,
    once) on its return; only then is it refused."""
    vp = _pump(make_pump, card_store)
    _card_sale_fuelling(vp, "V1000E")
    _remove(vp)
    d = vp.wait_event("delivery", 10)
    assert d["record"] == "ESCAPE" and d["amount"] > 0
    vp.bench.hang_up()
    vp.kill()
    vp.flash_tool("hotlist", "4", ASN)
    vp.reboot()
    vp.wait_state("IDLE", 10)
    assert _saw(vp, "hotlist", version=4, entries=1)
    vp.insert(ASN)
    r = vp.wait_event("receipt", 10)
    card = vp.card_state(ASN)
    assert r["amount"] == d["amount"] and not card["grey"]
    assert card["balance"] == 50000 - d["amount"]
    _prompt(vp, "Take your card and receipt")
    _remove(vp)
    vp.insert(ASN)  # settled: now the hotlist refuses it, and nothing more is debited
    _prompt(vp, "Card refused (hotlist)")
    _remove(vp)
    assert vp.card_state(ASN)["balance"] == 50000 - d["amount"]
    types = [r["type"] for r in _journal(vp) if r["type"] in ("FINAL", "ESCAPE", "UNLOCK")]
    assert types == ["ESCAPE", "UNLOCK"]


def test_card_pulled_between_any_two_apdus_ends_safely(make_pump, card_store):
    """The card leaves after its Nth APDU, for every N of a whole sale (read 0-6, VERIFY
    7, INIT 8, GREY LOCK 9, DEBIT 10, clear TAC flag 11): valves shut, a clear prompt,
    and every cent that moved has its record; a card left grey is settled on its next
    insertion."""
    vp = _pump(make_pump, card_store)
    for n in range(12):
        vp.insert(ASN, pull_after=n)
        time.sleep(0.3)
        vp.bench.press(PIN + "E")
        time.sleep(0.3)
        vp.bench.press("V50E")
        time.sleep(0.3)
        vp.bench.lift()
        try:
            vp.wait_event("delivery", 3)
        except TimeoutError:
            pass  # no fuel was authorised
        vp.bench.hang_up()
        time.sleep(0.2)
        _remove(vp)
        assert vp.bench.outputs() == (False, False, False), n
        vp.insert(ASN)  # back in: a grey card settles at once, else a new sale starts
        _wait(lambda: vp.bench.display[2] in ("Enter PIN, E to confirm",
                                              "Take your card and receipt"), 10, "the card")
        if vp.bench.display[2] == "Enter PIN, E to confirm":
            vp.bench.press("C")
        _remove(vp)
        assert not vp.card_state(ASN)["grey"], n
    pulses = vp.bench.counts()[0]
    records = _journal(vp)
    bills = [r for r in records if r["type"] in ("FINAL", "ESCAPE", "UNLOCK")]
    paid = sum(r["amount"] for r in bills if r["type"] in ("FINAL", "UNLOCK"))
    assert vp.card_state(ASN)["balance"] == 50000 - paid
    assert pulses == sum(r["pulses"] for r in bills if r["type"] != "UNLOCK")
    assert pulses > 0  # some pulls came after the fuel
    escaped = sorted(r["sale"] for r in bills if r["type"] == "ESCAPE")
    assert escaped == sorted(r["sale"] for r in bills if r["type"] == "UNLOCK")
    assert PIN not in "\n".join(vp.lines)


def test_plate_bound_card_daily_limit_and_grey_elsewhere(make_pump, card_store):
    card_store.issue("6200000000000041", 50000, plate="A12345", staff_pin="8888", daily_fills=1)
    grey = card_store.issue("6200000000000042", 50000)
    grey.s.update(grey=True, grey_tid="000000000999", grey_ttc=7, grey_dt="20261124080000",
                  gtac="01020304", grey_ctc=0)
    vp = _pump(make_pump, card_store)
    vp.insert("6200000000000042")
    _prompt(vp, "Card locked at another pump")
    _remove(vp)
    vp.insert("6200000000000041")
    _prompt(vp, "Enter PIN, E to confirm")
    vp.bench.press(PIN + "E")
    _prompt(vp, "Staff password, E to confirm")
    vp.bench.press("1111E")
    _prompt(vp, "Wrong staff password")
    vp.bench.press("8888E")
    _prompt(vp, "Preset: V litres A amount F fill")
    vp.bench.press("A500E")  # 5.00
    _prompt(vp, "Lift the nozzle")
    vp.bench.lift()
    r = vp.wait_event("receipt", 30)
    vp.bench.hang_up()
    assert 500 - 8 < r["amount"] <= 500  # within one pulse (10 ml = 7.59 cents) of the cap
    _remove(vp)
    vp.insert("6200000000000041")  # one fill a day on this card
    _prompt(vp, "Daily limit reached")
    _remove(vp)
    assert "8888" not in "\n".join(vp.lines)


def test_garbled_replies_end_safely_and_are_resolved_from_the_card(make_pump, card_store):
    """GREY LOCK answered with garbage (not executed): no fuel, an escape of 0 that the
    card's next insertion voids. DEBIT executed but its reply garbled: an escape that the
    card's own log settles (flag 8) without charging twice."""
    vp = _pump(make_pump, card_store)
    card = card_store.cards[ASN]
    card.garble[0x7C] = (b"\x90", False)  # GREY LOCK: one byte, less than a status word
    _to_preset(vp)
    vp.bench.press("V300E")
    _prompt(vp, "Card error - take your card")
    vp.bench.lift()
    assert not card.s["grey"] and vp.bench.counts() == (0, 0)
    vp.bench.hang_up()
    _remove(vp)
    del card.garble[0x7C]
    card.garble[0x7E] = (b"\x12\x34\x56", True)  # DEBIT done, reply garbled
    _to_preset(vp)  # the first insertion also voids the escape of 0
    # (the console and the display are two channels: wait for the event, do not race it)
    _wait(lambda: _saw(vp, "unlocked_grey", amount=0, flags=16), 5, "the void")
    vp.bench.press("V300E")
    _prompt(vp, "Lift the nozzle")
    vp.bench.lift()
    d = vp.wait_event("delivery", 30, lambda f: f["ml"] > 0)
    vp.bench.hang_up()
    assert d["record"] == "ESCAPE" and d["amount"] == 2277  # 3 L at 7.59
    _prompt(vp, "Card removed - reinsert to pay")
    _remove(vp)
    del card.garble[0x7E]
    assert not card.s["grey"] and card.s["balance"] == 50000 - 2277  # the card paid
    vp.insert(ASN)  # the card's log shows the debit: settled, not charged again
    _prompt(vp, "Enter PIN, E to confirm")
    _wait(lambda: _saw(vp, "unlocked_grey", amount=2277, flags=8), 5, "the settlement")
    vp.bench.press("C")
    _remove(vp)
    assert card.s["balance"] == 50000 - 2277
    recs = [r for r in _journal(vp) if r["type"] in ("FINAL", "ESCAPE", "UNLOCK")]
    assert [(r["type"], r["amount"]) for r in recs] == [
        ("ESCAPE", 0), ("UNLOCK", 0), ("ESCAPE", 2277), ("UNLOCK", 2277)]


def test_brown_out_defers_the_debit_until_the_supply_returns(make_pump, card_store):
    vp = _pump(make_pump, card_store)
    _to_preset(vp)
    vp.bench.press("V1000E")
    _prompt(vp, "Lift the nozzle")
    vp.bench.lift()
    vp.wait_event("progress", 10, lambda f: f["ml"] >= 500)
    vp.bench.power_off(warn=True)  # mains dips: the supply monitor warns, fuel stops
    vp.wait_event("power_warning", 5)
    _wait(lambda: [f["state"] for n, f in vp.seen if n == "state"][-1] == "IDLE", 5,
          "the dispenser to settle under the warning")
    time.sleep(0.3)  # several card-task steps, each deferring the debit
    assert vp.card_state(ASN)["grey"]
    assert not _saw(vp, "receipt")  # no card transaction on a dying supply
    vp.bench.power_on()
    r = vp.wait_event("receipt", 10)
    d = [f for n, f in vp.seen if n == "delivery"][-1]
    assert d["stop"] == "POWER" and r["amount"] == d["amount"] > 0
    assert vp.card_state(ASN)["balance"] == 50000 - d["amount"]
    assert not vp.card_state(ASN)["grey"]
