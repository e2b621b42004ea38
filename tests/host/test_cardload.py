"""Load (圈存) at the pump (cardload.py) against the station's side (cardinfo.py,
pumpload.py): the pump's card desk on a fake board with the bench's virtual card and PSAM,
its link answered by a real ledger, its journal's records stored in that ledger as the
link uploads them. A load cut at every step - the card pulled, the power, the network -
is recovered: loaded exactly once, never lost."""
import asyncio
import json
import shutil
import tempfile

import pytest
from cardbench import ISSUER, MANAGER, station

from fakes import FakeBoard
from pumpside import app, config, journal, protocol
from pumpside import record as rec
from pumpside import sale as card_sale
from pumpside.cardsale import CardDesk
from pumpside.compat import ticks_ms
from pumpside_host.bench.cards import VirtualCard, VirtualPsam
from pumpside_host.station import cardinfo, pumpload
from pumpside_host.station.cardbook import DONE, PENDING, STARTED, CardBook

ASN = "6200000000000017"
TOP_UP = 10000
CFG = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
       "service_pin": "2468", "sale_mode": "card", "settle_ms": 10, "valve_grace_ms": 10}
T0 = 1_795_000_000


class PowerCut(BaseException):
    """The supply gone: nothing after it runs (the board reboots)."""


class StationLink:
    """The link as the card desk sees it, answered by the ledger (CARD_INFO, LOAD).
    `lose`: the answers of these types are made by the station and lost on the way."""

    def __init__(self, ledger, online=True):
        self.ledger = ledger
        self.online = online
        self.lose = set()
        self.loyalty = False  # its WELCOME did not offer loyalty (rewards.py asks nothing)
        self.asked = []
        self.payloads = []

    async def ask(self, mtype, payload, answer_type, timeout_ms):
        payload = json.loads(json.dumps(payload))
        protocol.check(mtype, payload)  # as the station checks it
        self.asked.append(mtype)
        self.payloads.append(payload)
        await asyncio.sleep(0)
        if mtype == protocol.CARD_INFO:
            answer = cardinfo.answer(self.ledger, "P1", payload)
        elif mtype == protocol.REWARDS:  # asked only when `loyalty` (its WELCOME said so)
            answer = self.ledger.loyalty.offer(payload["asn"],
                                              payload.get("card_type") or 0, "P1")
        else:
            answer = pumpload.load(self.ledger, "P1", payload, T0)
        protocol.check(answer_type, answer)  # as the pump checks it
        return None if mtype in self.lose else answer

    async def ask_grey(self, query, timeout_ms):
        return None


class Pulled:
    """The card, pulled while the instruction `ins` is on its way: after the card ran it
    (`executed`) or before."""

    def __init__(self, board, card, ins, executed):
        self.board, self.card, self.ins, self.executed = board, card, ins, executed

    def transceive(self, apdu):
        if apdu[1] == self.ins:
            if self.executed:
                self.card.transceive(apdu)
            self.board.card_obj = None
            raise OSError("card pulled")
        return self.card.transceive(apdu)


class LoadRig:
    def __init__(self, tmp_path, balance=0, online=True):
        self.dir = tempfile.mkdtemp()
        self.ledger, self.service = station(tmp_path / "station.db")
        self.book = CardBook(self.ledger.db)
        self.book.add(ASN, ISSUER.issuer_id.hex(), "registered", "Li Lei", "1234", "138")
        self.card = VirtualCard.issue(ISSUER, ASN, balance)
        self.board = FakeBoard()
        self.board.now = T0
        self.board.psam_obj = VirtualPsam(ISSUER)
        self.link = StationLink(self.ledger, online)
        self.synced = 0
        self.boot()

    def boot(self):
        """The pump (re)started on its journal: a load a power cut left open is ended."""
        sales_journal = journal.Journal(self.dir + "/journal")
        sales_journal.open()
        self.cut_at_boot = sales_journal.recover_load(self.board.now)
        self.pump = app.Pump(self.board, config.parse(json.dumps(CFG)), sales_journal)
        self.desk = CardDesk(self.pump)
        assert self.pump.attach_desk(self.desk)
        self.pump.link = self.link
        self.pump.sale_terms()

    def close(self):
        self.ledger.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def run(self, *events, steps=6):
        """Each event (a callable, or keys to press), then steps of the desk in a loop
        (its questions to the link run as tasks)."""
        async def go():
            for event in events:
                if callable(event):
                    event()
                else:
                    for k in event:
                        self.pump.keypad.key(k, ticks_ms())
                for _ in range(steps):
                    self.desk.step(ticks_ms())
                    self.pump.disp.tick()
                    await asyncio.sleep(0)
        asyncio.run(go())

    def insert(self, card=None):
        self.board.card_obj = card or self.card

    def pull(self):
        self.board.card_obj = None

    def to_offer(self, card=None):
        """Card in, PIN: the load offered."""
        self.run(lambda: self.insert(card), "123456E")
        assert self.desk.prompt == "load_offer", self.desk.prompt
        assert self.desk.sale.state == card_sale.LOAD_OFFER

    def sync(self):
        """The journal's records after the last upload, stored in the ledger (RECORDS)."""
        records = [rec.to_json(seq, t, p, True) for seq, t, p in self.pump.journal.read()
                   if seq > self.synced]
        if records:
            results, _ack = self.ledger.store("P1", records, "")
            assert all(r[1] in ("stored", "duplicate") for r in results), results
            self.synced = records[-1]["seq"]

    def loads(self):
        return [(x["amount"], x["state"]) for x in self.book.loads(ASN)]

    def records(self):
        return [rec.unpack_load(p) for _s, t, p in self.pump.journal.read() if t == rec.LOAD]


@pytest.fixture
def rig(tmp_path):
    r = LoadRig(tmp_path)
    r.service.card_fund(MANAGER, ASN, TOP_UP, "online", T0)  # the online top-up
    yield r
    r.close()


def _done_once(rig, balance=TOP_UP):
    """The top-up is on the card exactly once and the station agrees."""
    assert rig.card.s["balance"] == balance
    assert rig.loads() == [(TOP_UP, DONE)]
    assert rig.book.balance(ASN) == balance


def test_card_info_offers_the_waiting_load_and_the_sale_goes_on_with_the_new_balance(rig):
    rig.run(rig.insert)
    assert rig.desk.info["station"] == {"asn": ASN, "load": TOP_UP,
                                        "load_id": rig.book.loads(ASN)[0]["id"]}
    rig.run("123456E")
    assert rig.desk.prompt == "load_offer"
    assert rig.desk.screen_value(ticks_ms())[0] == "load_offer"
    rig.run("E")
    assert rig.link.asked == [protocol.CARD_INFO, protocol.LOAD]
    assert rig.card.s["balance"] == TOP_UP and rig.desk.sale.state == card_sale.PRESET
    assert rig.desk.info["balance"] == TOP_UP and rig.desk.prompt == "choose_preset"
    intent, done = rig.records()
    assert (intent["state"], done["state"]) == (rec.LOAD_INTENT, rec.LOAD_DONE)
    assert (intent["balance"], done["balance"], done["amount"]) == (0, TOP_UP, TOP_UP)
    assert intent["counter"] == done["counter"] == 0 and done["tac"] != bytes(4)
    assert rig.loads() == [(TOP_UP, STARTED)]  # MAC2 given: on the card once the record is in
    rig.sync()
    _done_once(rig)
    (load,) = rig.book.loads(ASN)
    assert load["how"] == "loaded at pump P1"  # its TAC verified
    rig.sync()  # the record again (a lost SALES_ACK): still once
    _done_once(rig)
    # the sale goes on: a preset of 1 L on the loaded balance
    rig.run("V100E")
    assert rig.card.s["grey"]


def test_after_the_load_the_rewards_are_asked_before_the_presets_prompt(rig):
    """A station with loyalty: after the load the rewards question comes first and the
    preset's prompt after it, never before (a preset keyed at that early prompt went to
    the question and was lost)."""
    rig.link.loyalty = True
    shown = []
    do = rig.desk._do

    def spy(action):  # the prompts the screen took, in turn
        more = do(action)
        if not shown or shown[-1] != rig.desk.prompt:
            shown.append(rig.desk.prompt)
        return more
    rig.desk._do = spy
    rig.to_offer()
    rig.run("E")
    assert rig.link.asked == [protocol.CARD_INFO, protocol.LOAD, protocol.REWARDS]
    assert shown[shown.index("loading"):] == ["loading", "rewards_asking", "choose_preset"]
    rig.run("V100E")  # keyed at the preset's prompt: taken
    assert rig.card.s["grey"] and rig.desk.sale.state != card_sale.PRESET


def test_no_keys_in_the_load_record_nor_the_wire(rig):
    rig.to_offer()
    rig.run("E")
    text = json.dumps([rec.to_json(s, t, p) for s, t, p in rig.pump.journal.read()])
    for key in (ISSUER.load_mk, ISSUER.tac_mk, ISSUER.load_key(bytes.fromhex(ASN))):
        assert key.hex() not in text.lower()


def test_cancel_skips_the_load_and_the_money_waits(rig):
    rig.to_offer()
    rig.run("C")
    assert rig.desk.sale.state == card_sale.PRESET and rig.desk.prompt == "choose_preset"
    assert rig.card.s["balance"] == 0 and rig.loads() == [(TOP_UP, PENDING)]
    assert rig.link.asked == [protocol.CARD_INFO] and rig.records() == []


def test_offline_nothing_is_asked_nor_offered(tmp_path):
    r = LoadRig(tmp_path, balance=5000, online=False)
    try:
        r.service.card_fund(MANAGER, ASN, TOP_UP, "online", T0)
        r.run(r.insert, "123456E")
        assert r.desk.info["station"] == {} and r.desk.prompt == "choose_preset"
        assert r.link.asked == [] and r.card.s["balance"] == 5000
    finally:
        r.close()


def test_no_card_answer_in_time_the_sale_goes_on_without_it(rig):
    rig.link.lose.add(protocol.CARD_INFO)
    rig.card.s["balance"] = 5000  # (not the station's business: it is a test of the pump)
    rig.run(rig.insert, "123456E")
    assert rig.desk.info["station"] == {} and rig.desk.prompt == "choose_preset"


def test_an_empty_card_with_a_load_waiting_is_not_refused_for_its_balance(rig):
    rig.to_offer()  # balance 0, below min_sale_amount: the load is what it buys with


def test_network_lost_before_load_answer_no_load_then_loaded_once_next_time(rig):
    rig.link.lose.add(protocol.LOAD)  # the station made MAC2; the pump never got it
    rig.to_offer()
    rig.run("E")
    assert rig.desk.prompt == "load_failed" and rig.desk.sale.state == card_sale.PRESET
    assert rig.card.s["balance"] == 0 and rig.records() == []
    assert rig.loads() == [(TOP_UP, STARTED)]
    rig.run(rig.pull)
    rig.link.lose.clear()
    rig.to_offer()  # offered again: the counter at LOAD says the card never got it
    rig.run("E")
    rig.sync()
    _done_once(rig)


def test_card_pulled_while_the_station_makes_mac2_nothing_credited(rig):
    rig.to_offer()
    rig.run("E", rig.pull, steps=1)
    assert rig.desk.sale.state == card_sale.IDLE and rig.card.s["balance"] == 0
    assert rig.records() == []
    rig.to_offer()
    rig.run("E")
    rig.sync()
    _done_once(rig)


@pytest.mark.parametrize("executed", [False, True], ids=["before CREDIT", "after CREDIT"])
def test_card_pulled_at_credit_is_recovered_from_its_online_counter(rig, executed):
    rig.to_offer(Pulled(rig.board, rig.card, 0x52, executed))
    rig.run("E")
    assert rig.desk.prompt == "card_removed" and rig.desk.sale.state == card_sale.IDLE
    assert rig.card.s["balance"] == (TOP_UP if executed else 0)
    intent, cut = rig.records()
    assert (intent["state"], cut["state"]) == (rec.LOAD_INTENT, rec.LOAD_CUT)
    rig.sync()
    assert rig.loads() == [(TOP_UP, STARTED)]  # a cut record decides nothing
    if executed:  # the card's log shows it at the next insertion: done, not offered
        rig.run(rig.insert, "123456E")
        assert rig.desk.prompt == "choose_preset" and rig.desk.info["station"] == {
            "asn": ASN}
        assert "card's log" in rig.book.loads(ASN)[0]["how"]
        assert len(rig.records()) == 2  # no second CREDIT
    else:
        rig.to_offer()
        rig.run("E")
        rig.sync()
    _done_once(rig)
    assert rig.desk.sale.state == card_sale.PRESET


def test_a_load_past_the_cards_log_is_settled_by_its_counter_at_load(rig):
    """The card's log no longer shows the load cut after CREDIT (ten later entries):
    offered again, the counter at LOAD settles it, nothing credited twice."""
    rig.to_offer(Pulled(rig.board, rig.card, 0x52, True))
    rig.run("E")
    rig.card.s["log"] = []  # scrolled out
    rig.to_offer()
    rig.run("E")
    assert rig.desk.prompt == "load_failed" and len(rig.records()) == 2
    assert "online counter" in rig.book.loads(ASN)[0]["how"]
    rig.sync()
    _done_once(rig)


def test_card_refusing_credit_is_a_cut_and_the_money_waits(rig):
    rig.card.garble[0x52] = (b"\x93\x02", False)  # MAC2 refused: not credited
    rig.to_offer()
    rig.run("E")
    assert rig.desk.prompt == "load_failed" and rig.desk.sale.state == card_sale.PRESET
    assert rig.card.s["balance"] == 0 and rig.records()[-1]["state"] == rec.LOAD_CUT
    rig.card.garble.clear()
    rig.run(rig.pull)
    rig.to_offer()
    rig.run("E")
    rig.sync()
    _done_once(rig)


@pytest.mark.parametrize("cut", ["after the intent", "after CREDIT"])
def test_power_cut_during_the_load_is_ended_at_boot_and_recovered_once(rig, cut):
    rig.to_offer()
    journal_load = rig.pump.journal.load

    def power_gone_before_credit(when7, mac2):
        raise PowerCut()

    def power_gone_at_done(load):
        if load["state"] == rec.LOAD_DONE:
            raise PowerCut()
        return journal_load(load)

    if cut == "after the intent":
        rig.desk.card.credit_load = power_gone_before_credit
    else:
        rig.pump.journal.load = power_gone_at_done
    with pytest.raises(PowerCut):
        rig.run("E")
    assert rig.card.s["balance"] == (TOP_UP if cut == "after CREDIT" else 0)
    rig.pull()
    rig.boot()  # the intent without its end: ended as cut
    assert rig.cut_at_boot is not None and rig.cut_at_boot["state"] == rec.LOAD_CUT
    assert [x["state"] for x in rig.records()] == [rec.LOAD_INTENT, rec.LOAD_CUT]
    assert rig.pump.journal.open_load is None
    rig.boot()  # and only once
    assert rig.cut_at_boot is None
    rig.sync()
    if cut == "after CREDIT":  # the card's log shows it: done, nothing offered
        rig.run(rig.insert, "123456E")
        assert rig.desk.prompt == "choose_preset"
    else:
        rig.to_offer()
        rig.run("E")
        rig.sync()
    _done_once(rig)


def test_the_load_record_is_checked_by_the_station(rig):
    bad = {"seq": 1, "type": "LOAD", "load": 1, "amount": 5, "state": 9, "asn": ASN}
    results, _ = rig.ledger.store("P1", [bad], "")
    assert results[0][1] == "rejected" and "state" in results[0][2]
    forged = {"seq": 2, "type": "LOAD", "load": rig.book.loads(ASN)[0]["id"],
              "amount": TOP_UP, "state": rec.LOAD_DONE, "asn": ASN, "tac": "00112233"}
    results, _ = rig.ledger.store("P1", [forged], "")
    assert results[0][1] == "stored"
    assert rig.loads() == [(TOP_UP, PENDING)]  # never started: no money moves


def test_load_refused_for_a_wrong_mac1_or_amount_or_another_psam(rig):
    rig.to_offer()
    real = rig.desk.card.init_load  # its MAC1 changed on the way

    def bad_mac1(amount, tid):
        init = real(amount, tid)
        return dict(init, mac1=bytes(4))

    rig.desk.card.init_load = bad_mac1
    rig.run("E")
    assert rig.desk.prompt == "load_failed" and rig.card.s["balance"] == 0
    assert rig.loads() == [(TOP_UP, PENDING)]
    load_id = rig.book.loads(ASN)[0]["id"]
    base = {"asn": ASN, "load_id": load_id, "amount": TOP_UP, "balance": 0, "counter": 0,
            "random": "00" * 4, "mac1": "00" * 4, "terminal": rig.desk.tid.hex()}
    assert pumpload.load(rig.ledger, "P1", dict(base, amount=1))["refused"] == \
        "another amount"
    assert pumpload.load(rig.ledger, "P1", dict(base, terminal="0" * 12))["refused"] == \
        "not this terminal's PSAM"
    assert pumpload.load(rig.ledger, "P1", dict(base, load_id=999))["refused"] == \
        "no such load"
    assert rig.loads() == [(TOP_UP, PENDING)]


def test_card_answer_parts_are_merged_and_a_failing_part_is_left_out(rig, monkeypatch):
    def odometer(ledger, asn):
        return {"odometer": 12345}

    def broken(ledger, asn):
        raise RuntimeError("boom")

    monkeypatch.setattr(cardinfo, "PARTS", [broken, pumpload.offer, odometer])
    got = cardinfo.answer(rig.ledger, "P1", {"asn": ASN, "nozzle": 1, "balance": 0})
    assert got == {"asn": ASN, "load": TOP_UP, "load_id": rig.book.loads(ASN)[0]["id"],
                   "odometer": 12345}
    assert cardinfo.answer(rig.ledger, "P1", {"asn": "x", "nozzle": 1, "balance": 0}) == {
        "asn": "x"}
    protocol.check(protocol.CARD_ANSWER, dict(got))


def test_a_lost_card_is_offered_nothing(rig):
    rig.book.set_status(ASN, "lost", T0)
    assert cardinfo.answer(rig.ledger, "P1", {"asn": ASN, "nozzle": 1, "balance": 0}) == {
        "asn": ASN}


class Listed:
    """The pump's hotlist (hotlist.py's lookup) holding these card numbers."""

    def __init__(self, *asns):
        self.asns = {bytes.fromhex(a) for a in asns}

    def listed(self, asn8):
        return bytes(asn8) in self.asns


def test_a_card_on_the_pumps_hotlist_is_told_to_the_station_and_refused_all_the_same(rig):
    """The pump refuses a hotlisted card for itself, tells the station why (CARD_INFO
    `refused`): the station's hotlisted_card alert fires, masked; its answer (a load
    waiting for the card) does not lift the refusal."""
    rig.service.set_alert_rule(MANAGER, "hotlisted_card", True)
    rig.desk.hotlist = Listed(ASN)
    rig.run(rig.insert)
    assert rig.link.asked == [protocol.CARD_INFO]
    assert rig.link.payloads[0]["refused"] == card_sale.HOTLISTED
    assert rig.desk.info["station"]["load"] == TOP_UP  # answered as usual
    assert rig.desk.prompt == "card_hotlisted" and rig.desk.sale.state == card_sale.IDLE
    (alarm,) = rig.ledger.journals.alarms("P1")
    assert alarm["what"] == "hotlisted card" and "refused (card_hotlisted)" in alarm["why"]
    assert ASN not in alarm["why"] and rig.card.s["balance"] == 0
    rig.run(rig.pull, "123456E")  # the keys of a refused card do nothing
    assert rig.desk.sale.state == card_sale.IDLE and rig.loads() == [(TOP_UP, PENDING)]


def test_a_card_refused_for_another_reason_says_so_and_raises_no_alert(rig):
    rig.service.set_alert_rule(MANAGER, "hotlisted_card", True)
    rig.card.s["status"] = 2  # blocked on the card (its EF15)
    rig.run(rig.insert)
    assert rig.link.payloads[0]["refused"] == "card_blocked"
    assert rig.desk.prompt == "card_blocked" and rig.ledger.journals.alarms() == []


def test_a_card_not_refused_sends_no_reason(rig):
    rig.run(rig.insert)
    assert "refused" not in rig.link.payloads[0] and rig.desk.prompt == "enter_pin"


def test_a_fleet_card_is_offered_nothing_its_loads_are_the_desks(rig):
    """The desk writes a fleet card's restrictions at each load; a pump does not."""
    rig.ledger.db.execute("UPDATE card_registry SET kind = 'fleet' WHERE asn = ?", (ASN,))
    assert cardinfo.answer(rig.ledger, "P1", {"asn": ASN, "nozzle": 1, "balance": 0}) == {
        "asn": ASN}


def test_the_done_record_arriving_after_the_card_told_it_moves_nothing_twice(rig):
    """The pump offline after the load (its LOAD record not uploaded yet); the card at
    the next insertion shows the load in its log: done. The record, when it comes, is
    taken once and changes nothing."""
    rig.to_offer()
    rig.run("E")
    assert rig.loads() == [(TOP_UP, STARTED)]
    rig.run(rig.pull)
    rig.run(rig.insert, "123456E")  # CARD_INFO with the card's log
    assert rig.desk.prompt == "choose_preset" and rig.loads() == [(TOP_UP, DONE)]
    how = rig.book.loads(ASN)[0]["how"]
    rig.sync()
    _done_once(rig)
    assert rig.book.loads(ASN)[0]["how"] == how and "card's log" in how
