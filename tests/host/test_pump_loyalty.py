"""Loyalty at the pump (rewards.py, the card desk's hooks) against the station's own
loyalty (station/loyalty.py) behind a fake link that hands the desk's questions to it:
the menu after the PIN, a redemption exactly once across lost answers and power cuts,
the voucher off the card's debit and marked used by the journal's EV_VOUCHER, the
receipt's points equal to the ledger's; offline and late answers. The real link and
server carry the same questions in test_link.py."""
import asyncio
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cardsale import ASN, CFG, Rig

from pumpside import config, protocol, rewards
from pumpside import points as earning
from pumpside import record as rec
from pumpside.compat import ticks_ms
from pumpside_host.station import cardinfo
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.loyalty import WEEKDAYS
from pumpside_host.station.service import Actor, Service

LOCAL = Actor.local("test")
START = 50000  # the test card's balance


class StationLink:
    """The link as the card desk sees it (`online`, `ask`), answering from a real ledger's
    loyalty as server.py does. `lose`: how many answers to REDEEM to lose after the
    station acted on it (the link then asks again, as its next session would)."""

    def __init__(self, ledger, online=True, lose=0, silent=(), terminal="P1"):
        self.ledger = ledger
        self.terminal = terminal  # the pump asking
        self.online = online
        self.loyalty = True  # its WELCOME said so
        self.lose = lose
        self.silent = silent  # question types never answered in time
        self.asked = []

    async def ask(self, mtype, payload, want, timeout_ms):
        if not self.online:
            return None
        protocol.check(mtype, dict(payload))  # the pump asks in the table's shape
        if mtype == protocol.CARD_INFO:  # the card read: the station's word (no load)
            answer = cardinfo.answer(self.ledger, "P1", payload)
            protocol.check(want, answer)
            return answer
        while True:
            self.asked.append((protocol.TYPE_NAMES[mtype], dict(payload)))
            await asyncio.sleep(0)
            if mtype in self.silent:
                return None
            loyalty = self.ledger.loyalty
            if mtype == protocol.REWARDS:
                answer = loyalty.offer(payload["asn"], payload.get("card_type") or 0,
                                       self.terminal)
            else:
                with self.ledger.transaction():
                    answer = loyalty.redeem_at_pump(self.terminal, payload["asn"],
                                                    payload["reward"],
                                                    payload["redemption_id"])
            protocol.check(want, answer)  # the station answers in the table's shape
            if mtype == protocol.REDEEM and self.lose:
                self.lose -= 1  # lost on the way: asked again with the same payload
                continue
            return answer


@pytest.fixture
def station(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    service = Service(ledger)
    service.set_loyalty_rule(LOCAL, "grade", "92", 2)
    service.set_loyalty_rule(LOCAL, "card_kind", "anonymous", 150)  # type 2 if not issued
    gift = service.add_reward(LOCAL, "five off", "amount", 500, 100)
    service.add_reward(LOCAL, "ten pct", "percent", 10, 1000)
    # 300 points earned earlier (150.00 at 2 a unit)
    ledger.store("P0", [{"type": "FINAL", "seq": 1, "sale": 1, "ml": 1, "amount": 15000,
                         "grade": "92", "asn": ASN, "time": int(time.time()), "ctc": 1,
                         "tac": "01020304"}])
    assert ledger.loyalty.balance(ASN) == 300
    yield ledger, service, gift
    ledger.close()


def _rig(link, rig=None, terminal="P1"):
    rig = rig or Rig()
    rig.pump.link = link
    rig.desk.cfg = config.parse(json.dumps(dict(CFG, terminal_id=terminal)))
    return rig


def _sale(rig, keys_after_pin, preset="V100E", pulses=200):
    """Insert the card, PIN, the keys for the rewards menu, the preset, fuel, settle:
    the prompts seen after the PIN and after the menu keys."""
    seen = []

    async def settle():
        for _ in range(6):
            await asyncio.sleep(0)
            rig.step()

    async def go():
        rig.board.card_obj = rig.card
        rig.step()
        await settle()  # the card read asks the station (CARD_INFO) first
        rig.keys("123456E")
        seen.append(rig.desk.prompt)
        await settle()
        seen.append(rig.desk.prompt)
        for k in keys_after_pin:
            rig.keys(k)
            await settle()
            seen.append(rig.desk.prompt)
        rig.keys(preset)
        rig.fuel(pulses)
        rig.step()
    asyncio.run(go())
    return seen


def _upload(rig, ledger, terminal="P1"):
    """What the link would upload: the journal's FINALs and EVENTs, stored."""
    records = [rec.to_json(seq, t, p, True) for seq, t, p in rig.pump.journal.read()
               if t in (rec.FINAL, rec.EVENT, rec.UNLOCK, rec.ESCAPE)]
    results, _ack = ledger.store(terminal, records)
    assert all(r[1] in ("stored", "duplicate") for r in results), results
    return records


def _printed(rig):
    return rig.board.printed.decode("utf-8", "replace").splitlines()


def _row(lines, label):
    return [ln[len(label):].strip() for ln in lines if ln.startswith(label)]


def test_redeem_at_the_pump_discounts_the_sale_and_the_ledger_agrees(station):
    ledger, _service, gift = station
    link = StationLink(ledger)
    rig = _rig(link)
    try:
        seen = _sale(rig, "1")  # the first reward on offer: five off, 100 points
        assert seen == ["rewards_asking", "rewards_menu", "redeemed"]
        assert [q[0] for q in link.asked] == ["REWARDS", "REDEEM"]
        redeem = link.asked[1][1]
        assert redeem["reward"] == gift and redeem["redemption_id"] == "P1-0-1"
        bill = rig.desk.bill
        assert (bill["ml"], bill["amount"]) == (1000, 759 - 500)  # 7.59 less 5.00
        assert rig.card.s["balance"] == START - 259  # the card paid the amount less it
        lines = _printed(rig)
        earned = earning.earn(259, 2)
        assert _row(lines, "Voucher") == ["-5.00"] and _row(lines, "Amount") == ["2.59"]
        assert _row(lines, "Points earned") == [str(earned)]
        assert _row(lines, "Points total") == [str(300 - 100 + earned)]
        assert rig.desk.screen_value(ticks_ms())[1].endswith("积分 Points +%d" % earned)
        records = _upload(rig, ledger)
        event = [r for r in records if r["type"] == "EVENT"]
        assert [(e["code"], e["b"]) for e in event] == [(5, bill["sale"])]
        assert ledger.loyalty.balance(ASN) == 300 - 100 + earned
        assert ledger.loyalty.receipt("P1", "", "FINAL", bill["sale"]) == {
            "points_earned": earned, "points_total": 300 - 100 + earned}
        (voucher,) = ledger.loyalty.vouchers(ASN, ("used",))
        assert (voucher["id"], voucher["used_terminal"], voucher["used_sale"]) == (
            "P1-0-1", "P1", bill["sale"])
    finally:
        rig.close()


def test_a_voucher_redeemed_at_the_desk_comes_off_the_cards_next_fill_at_the_pump(station):
    ledger, service, _gift = station
    ten = [r["id"] for r in service.rewards(LOCAL) if r["kind"] == "percent"][0]
    ledger.store("P0", [{"type": "FINAL", "seq": 2, "sale": 2, "ml": 1, "amount": 50000,
                         "grade": "92", "asn": ASN, "time": int(time.time()), "ctc": 2,
                         "tac": "01020304"}])  # 1000 more points
    service.redeem(Actor("cas", "cashier"), ASN, ten, "desk-1")  # 10 % off, 1000 points
    link = StationLink(ledger)
    rig = _rig(link)
    try:
        seen = _sale(rig, "E")
        assert seen == ["rewards_asking", "rewards_menu", "choose_preset"]
        bill = rig.desk.bill
        assert bill["amount"] == 759 - 76  # 10 % of 7.59, half up
        assert _row(_printed(rig), "Voucher") == ["-0.76"]
        _upload(rig, ledger)
        used = ledger.loyalty.redemption("desk-1")
        assert (used["state"], used["used_terminal"], used["used_sale"]) == (
            "used", "P1", bill["sale"])
        assert ledger.loyalty.balance(ASN) == 1300 - 1000 + earning.earn(683, 2)
    finally:
        rig.close()


def test_a_pump_selling_with_the_voucher_offline_keeps_it_from_the_other_pump(station):
    """P1 is offered the card's voucher and sells with it, its records not uploaded (its
    link down after the offer): P2, online, is not offered it (the card pays in full
    there). P2's sale releases nothing; P1's records up, the voucher is P1's sale's."""
    ledger, service, gift = station
    service.redeem(Actor("cas", "cashier"), ASN, gift, "desk-1")  # five off: 200 left
    rig1 = _rig(StationLink(ledger))
    rig2 = _rig(StationLink(ledger, terminal="P2"), terminal="P2")
    try:
        assert _sale(rig1, "E")[:2] == ["rewards_asking", "rewards_menu"]
        assert rig1.desk.bill["amount"] == 759 - 500
        assert ledger.loyalty.redemption("desk-1")["held_by"] == "P1"
        assert _sale(rig2, "E")[:2] == ["rewards_asking", "rewards_menu"]  # 200 points
        assert rig2.desk.bill["amount"] == 759  # no voucher offered: paid in full
        assert _row(_printed(rig2), "Voucher") == []
        _upload(rig2, ledger, "P2")
        assert ledger.loyalty.redemption("desk-1")["state"] == "pending"
        _upload(rig1, ledger)
        used = ledger.loyalty.redemption("desk-1")
        assert (used["state"], used["used_terminal"], used["used_sale"]) == (
            "used", "P1", rig1.desk.bill["sale"])
    finally:
        rig1.close()
        rig2.close()


def test_the_holders_sale_without_the_voucher_releases_it_at_once(station):
    """P1 is offered the card's voucher (held for P1) but the sale takes no fuel: the
    voucher never came off. P1's records up (the card's sale, no EV_VOUCHER), the voucher
    is released at once and P2 is offered it."""
    ledger, service, gift = station
    service.redeem(Actor("cas", "cashier"), ASN, gift, "desk-1")  # 200 left
    number = ledger.loyalty.redemption("desk-1")["number"]
    rig = _rig(StationLink(ledger))
    try:
        _sale(rig, "E", pulses=0)
        assert ledger.loyalty.redemption("desk-1")["held_by"] == "P1"
        assert ledger.loyalty.offer(ASN, 2, "P2")["vouchers"] == []
        assert [(r["type"], r["amount"]) for r in _upload(rig, ledger)] == [("FINAL", 0)]
        desk = ledger.loyalty.redemption("desk-1")
        assert (desk["state"], desk["held_by"]) == ("pending", None)
        assert [v[0] for v in ledger.loyalty.offer(ASN, 2, "P2")["vouchers"]] == [number]
    finally:
        rig.close()


def test_a_lost_redeem_answer_is_asked_again_with_the_same_id_and_spends_once(station):
    ledger, _service, _gift = station
    link = StationLink(ledger, lose=2)
    rig = _rig(link)
    try:
        assert _sale(rig, "1")[-1] == "redeemed"
        ids = [q[1]["redemption_id"] for q in link.asked if q[0] == "REDEEM"]
        assert ids == ["P1-0-1"] * 3  # twice lost, the same id each time
        _upload(rig, ledger)
        assert ledger.loyalty.totals(ASN)["redeemed"] == 100  # spent once
        assert rig.desk.bill["amount"] == 259
    finally:
        rig.close()


def test_offline_no_menu_and_the_receipt_says_points_credited_later(station):
    ledger, _service, _gift = station
    link = StationLink(ledger, online=False)
    rig = _rig(link)
    try:
        seen = _sale(rig, "")
        assert seen == ["choose_preset", "choose_preset"] and link.asked == []
        lines = _printed(rig)
        assert "Points credited later" in lines and not _row(lines, "Points total")
        assert rig.desk.bill["amount"] == 759 and rig.card.s["balance"] == START - 759
        _upload(rig, ledger)  # the station credits them when the sale arrives
        assert ledger.loyalty.balance(ASN) == 300 + earning.earn(759, 2)
    finally:
        rig.close()


def test_the_link_down_before_redeem_no_redemption_and_the_sale_goes_on(station):
    ledger, _service, _gift = station

    class Drops(StationLink):
        async def ask(self, mtype, payload, want, timeout_ms):
            answer = await StationLink.ask(self, mtype, payload, want, timeout_ms)
            if mtype == protocol.REWARDS:
                self.online = False  # the link goes down after the offer
            return answer
    link = Drops(ledger)
    rig = _rig(link)
    try:
        seen = _sale(rig, "1")
        assert seen == ["rewards_asking", "rewards_menu", "rewards_unavailable"]
        assert [q[0] for q in link.asked] == ["REWARDS"]  # no REDEEM went
        assert rig.desk.bill["amount"] == 759
        assert ledger.loyalty.vouchers(ASN, ("pending", "used")) == []
        assert ledger.loyalty.balance(ASN) == 300
        # the id was written before the link was asked: the next one is new all the same
        with open(rig.pump.paths.redeem) as f:
            assert json.load(f)["id"] == "P1-0-1"
    finally:
        rig.close()


def test_a_station_without_loyalty_is_not_asked(station):
    ledger, _service, _gift = station
    link = StationLink(ledger)
    link.loyalty = False  # its WELCOME did not say loyalty
    rig = _rig(link)
    try:
        assert _sale(rig, "")[:2] == ["choose_preset", "choose_preset"] and link.asked == []
        assert "Points credited later" in _printed(rig)
    finally:
        rig.close()


def test_no_rewards_answer_in_time_the_sale_goes_on_without_the_menu(station):
    ledger, _service, _gift = station
    link = StationLink(ledger, silent=(protocol.REWARDS,))
    rig = _rig(link)
    try:
        seen = _sale(rig, "1")  # the 1 is a digit of no menu: the preset ignores it
        assert seen[:2] == ["rewards_asking", "choose_preset"]
        assert [q[0] for q in link.asked] == ["REWARDS"]
        assert rig.desk.bill["amount"] == 759
        assert "Points credited later" in _printed(rig)
    finally:
        rig.close()


def test_redeem_unanswered_the_sale_goes_on_and_the_voucher_waits_for_the_next_fill(station):
    """The REDEEM reached the station (points spent, a pending voucher) but its answer
    never came in time: this sale pays in full; the card's next fill takes the voucher,
    so the points were not spent for nothing, and only once."""
    ledger, _service, _gift = station

    class Late(StationLink):
        async def ask(self, mtype, payload, want, timeout_ms):
            answer = await StationLink.ask(self, mtype, payload, want, timeout_ms)
            return None if mtype == protocol.REDEEM else answer
    rig = _rig(Late(ledger))
    try:
        assert _sale(rig, "1")[-1] == "rewards_unavailable"
        assert rig.desk.bill["amount"] == 759
        _upload(rig, ledger)
        first = earning.earn(759, 2)
        assert ledger.loyalty.balance(ASN) == 300 - 100 + first
        assert ledger.loyalty.voucher_for(ASN)["voucher"] == "P1-0-1"  # waiting
        rig.board.card_obj = None
        rig.step()
        rig.step()
        link = StationLink(ledger)
        rig.pump.link = link
        seen = _sale(rig, "E")  # the menu shows the waiting voucher; E: fuel
        assert seen == ["rewards_asking", "rewards_menu", "choose_preset"]
        assert [q[0] for q in link.asked] == ["REWARDS"]  # nothing bought again
        assert rig.desk.bill["amount"] == 259
        _upload(rig, ledger)
        second = earning.earn(259, 2)
        assert ledger.loyalty.balance(ASN) == 300 - 100 + first + second
        assert ledger.loyalty.voucher_for(ASN) is None
        assert ledger.loyalty.totals(ASN)["redeemed"] == 100
    finally:
        rig.close()


def test_a_power_cut_after_the_id_was_written_never_reuses_it(station):
    """The id is written to the flash before REDEEM goes: after a cut (the answer never
    came) the next redemption takes the next id, never the one the station may hold."""
    ledger, _service, _gift = station

    class Cut(StationLink):
        async def ask(self, mtype, payload, want, timeout_ms):
            if mtype == protocol.REDEEM:
                with open(rig.pump.paths.redeem) as f:
                    saved.append(json.load(f))  # on the flash before it is sent
                await StationLink.ask(self, mtype, payload, want, timeout_ms)
                await asyncio.Event().wait()  # the power goes before the answer
            return await StationLink.ask(self, mtype, payload, want, timeout_ms)
    saved = []
    rig = _rig(Cut(ledger))
    try:
        rig.board.card_obj = rig.card

        async def go():
            rig.step()
            for _ in range(4):  # the card read asks the station (CARD_INFO) first
                await asyncio.sleep(0)
                rig.step()
            rig.keys("123456E")
            for _ in range(4):
                await asyncio.sleep(0)
                rig.step()
            rig.keys("1")
            for _ in range(4):
                await asyncio.sleep(0)
                rig.step()
        asyncio.run(go())
        assert saved == [{"n": 1, "id": "P1-0-1", "reward": 1}]
        assert rig.desk.prompt == "rewards_redeeming"
        # the station spent the points on a pending voucher; nothing was journaled here
        assert ledger.loyalty.voucher_for(ASN)["voucher"] == "P1-0-1"
        assert not [t for _s, t, _p in rig.pump.journal.read()]
        # the pump boots again on the same flash (its redeem file): the card comes back
        again = _rig(StationLink(ledger))
        again.desk.rewards.path = rig.pump.paths.redeem
        seen = _sale(again, "E")
        assert seen[1] == "rewards_menu" and again.desk.bill["amount"] == 259
        _upload(again, ledger)
        assert ledger.loyalty.voucher_for(ASN) is None
        assert ledger.loyalty.totals(ASN)["redeemed"] == 100
        # a new redemption after the cut: the next id
        ledger.store("P0", [{"type": "FINAL", "seq": 2, "sale": 2, "ml": 1, "amount": 15000,
                             "grade": "92", "asn": ASN, "time": int(time.time()), "ctc": 2,
                             "tac": "01020304"}])
        again.board.card_obj = None
        again.step()
        link = StationLink(ledger)
        again.pump.link = link
        assert _sale(again, "1")[-1] == "redeemed"
        assert [q[1]["redemption_id"] for q in link.asked if q[0] == "REDEEM"] == ["P1-0-2"]
        again.close()
    finally:
        rig.close()


def test_a_bad_answer_or_a_refusal_gives_no_voucher(station):
    ledger, _service, _gift = station

    class Refusing(StationLink):
        async def ask(self, mtype, payload, want, timeout_ms):
            if mtype == protocol.REDEEM:
                return {"redemption_id": payload["redemption_id"], "status": "refused",
                        "why": "reward withdrawn"}
            answer = await StationLink.ask(self, mtype, payload, want, timeout_ms)
            if mtype != protocol.REWARDS:
                return answer
            answer["rewards"].append([0, 5, "x", "free", -1])  # malformed: not offered
            return answer
    rig = _rig(Refusing(ledger))
    try:
        seen = _sale(rig, "1")
        assert seen[-1] == "redeem_refused" and rig.desk.bill["amount"] == 759
        assert len(rig.desk.rewards.offer) == 1  # the bad item left out
    finally:
        rig.close()


def test_the_station_refuses_another_terminals_id_and_answers_a_repeat_alike(station):
    ledger, _service, gift = station
    loyalty = ledger.loyalty
    assert loyalty.redeem_at_pump("P1", ASN, gift, "P2-0-1")["status"] == "refused"
    first = loyalty.redeem_at_pump("P1", ASN, gift, "P1-x-1")
    assert first["status"] == "ok" and first["points"] == 200
    assert loyalty.redeem_at_pump("P1", ASN, gift, "P1-x-1") == first
    assert loyalty.balance(ASN) == 200
    short = loyalty.redeem_at_pump("P1", ASN, 2, "P1-x-2")
    assert short["status"] == "refused" and "200 points" in short["why"]
    loyalty.use(first["voucher"], "P1", 9)
    assert loyalty.redeem_at_pump("P1", ASN, gift, "P1-x-1")["why"] == "voucher used"


@settings(max_examples=200, deadline=None)
@given(amount=st.integers(0, 10 ** 9), rate=st.integers(0, 10000),
       pct=st.integers(0, 1000), grade=st.sampled_from(["92", "95", "0"]),
       double=st.booleans(), star=st.booleans())
def test_the_pumps_receipt_earns_what_the_station_earns(tmp_path_factory, amount, rate,
                                                       pct, grade, double, star):
    """For any rules and amount, the figure the pump prints (rewards.Rewards.receipt on
    the REWARDS_ANSWER's table) is the one the station's ledger books (Loyalty.stored)."""
    ledger = Ledger(str(tmp_path_factory.mktemp("s") / "station.db"))
    try:
        loyalty = ledger.loyalty
        now = int(time.time())
        loyalty.set_rule("grade", "*" if star else "92", rate)
        loyalty.set_rule("card_kind", "anonymous", pct)
        if double:
            loyalty.set_rule("double_day", WEEKDAYS[time.localtime(now).tm_wday], 1)
        answer = loyalty.offer(ASN, 2, "P1", now)

        class Desk:
            class pump:  # noqa: N801
                link = object()
                paths = type("P", (), {"redeem": "/nonexistent"})
            bill = {"grade": grade}
        pump_side = rewards.Rewards(Desk)
        pump_side.answer = answer
        pump_side.points = answer["points"]
        printed = pump_side.receipt(amount)
        ledger.store("P1", [{"type": "FINAL", "seq": 1, "sale": 1, "ml": 1, "amount": amount,
                             "grade": grade, "asn": ASN, "time": now, "ctc": 1,
                             "card_type": 2, "tac": "01020304"}])
        assert printed == (loyalty.receipt("P1", "", "FINAL", 1)["points_earned"],
                           loyalty.balance(ASN))
    finally:
        ledger.close()
