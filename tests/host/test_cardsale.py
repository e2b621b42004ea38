"""The card sale's shell (cardsale.py) on a fake board, with the bench's virtual card and
PSAM (real 3DES) in its slots: the whole flow in milliseconds, and garbage from the card
at any point of it."""
import asyncio
import json
import shutil
import struct
import tempfile
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fakes import FakeBoard
from pumpside import app, cardsale, config, dispenser, downloads, escapes, journal, settlement
from pumpside.cardsale import CardDesk
from pumpside.compat import ticks_ms
from pumpside_host.bench.cards import Issuer, VirtualCard, VirtualPsam

ASN = "6200000000000017"
CFG = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
       "service_pin": "2468", "sale_mode": "card", "settle_ms": 10, "valve_grace_ms": 10}


class Rig:
    def __init__(self, card=None):
        self.dir = tempfile.mkdtemp()
        self.board = FakeBoard()
        self.board.now = 1_795_000_000  # 2026-11-18: the test cards are valid
        issuer = Issuer()
        self.card = card or VirtualCard.issue(issuer, ASN, 50000)
        self.board.psam_obj = VirtualPsam(issuer)
        sales_journal = journal.Journal(self.dir + "/journal")
        sales_journal.open()
        self.pump = app.Pump(self.board, config.parse(json.dumps(CFG)), sales_journal)
        self.desk = CardDesk(self.pump)
        assert self.pump.attach_desk(self.desk)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def step(self, n=1):
        for _ in range(n):
            self.desk.step(ticks_ms())
            self.pump.disp.tick()

    def keys(self, keys):
        for k in keys:
            self.pump.keypad.key(k, ticks_ms())

    def fuel(self, pulses):
        """Lift, let `pulses` flow (or up to the cap), hang up, let the pulser settle."""
        b = self.board
        b.is_lifted = True
        self.step()
        for _ in range(pulses):
            if self.pump.core.state != dispenser.FUELLING:
                break
            b.a += 1
            b.b += 1
            self.step()
        b.is_lifted = False
        for _ in range(20):
            self.step()
            time.sleep(0.002)

    def card_pulled_mid_fuelling(self, pulses=50):
        """A card sale (PIN, a 100 ml preset) that has fuelled `pulses` pulses, the card
        pulled (the nozzle still lifted)."""
        b = self.board
        b.card_obj = self.card
        self.step()
        self.keys("123456E")
        self.keys("V100E")
        b.is_lifted = True
        self.step()
        for _ in range(pulses):
            b.a += 1
            b.b += 1
            self.step()
        b.card_obj = None

    def hang_up(self, after=0):
        """Let `after` of 40 steps pass with the nozzle lifted, then hang it up for the
        rest (the sale settles)."""
        for i in range(40):
            if i == after:
                self.board.is_lifted = False
            self.step()
            time.sleep(0.002)

    def paid(self):
        """Money the journal says the card paid: FINAL and UNLOCK amounts."""
        sales_journal = self.pump.journal
        return sum(journal.rec.unpack_bill(p)["amount"] for _s, t, p in sales_journal.read()
                   if t in (journal.rec.FINAL, journal.rec.UNLOCK))


def test_whole_card_sale_on_the_fake_board():
    rig = Rig()
    try:
        rig.board.card_obj = rig.card
        rig.step()
        assert rig.desk.prompt == "enter_pin"
        rig.keys("123456E")
        assert rig.desk.prompt == "choose_preset"
        rig.keys("V100E")  # 1.00 L
        assert rig.card.s["grey"] and rig.pump.core.state == dispenser.AUTHORIZED
        rig.fuel(200)
        rig.step()
        bill = rig.desk.bill
        assert bill["ml"] == 1000 and bill["amount"] == 759 and bill["tac"] != bytes(4)
        assert rig.card.s["balance"] == 50000 - 759 and not rig.card.s["grey"]
        text = rig.board.printed.decode("utf-8", "replace")
        assert "7.59" in text
        assert rig.desk.prompt == "take_receipt"
        # no station, no loyalty: no points (tests/host/test_pump_loyalty.py has them)
        assert "Points" not in text
        assert rig.desk.screen_value(ticks_ms())[1] == "余额 Balance 492.41"
    finally:
        rig.close()


def test_card_gone_before_its_answer_to_reset_is_no_crash():
    rig = Rig()
    try:
        rig.board.card_obj = rig.card
        real = rig.board.card.power_on

        def gone():
            raise OSError("bench: removed")

        rig.board.card.power_on = gone
        rig.step()
        assert rig.desk.prompt == "card_removed" and rig.desk.sale.state == 0
        rig.board.card.power_on = real
    finally:
        rig.close()


class Garbling:
    """The card, until its Nth APDU; from then on, replies from the script."""

    def __init__(self, card, n, replies):
        self.card = card
        self.n = n
        self.replies = list(replies)

    def transceive(self, apdu):
        if self.n > 0:
            self.n -= 1
            return self.card.transceive(apdu)
        if not self.replies:
            raise OSError("card gone")
        item = self.replies.pop(0)
        if item is None:  # the card executes the command, the reply is lost
            self.card.transceive(apdu)
            raise OSError("no reply")
        return item


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 12), st.lists(st.one_of(st.none(), st.binary(max_size=34)),
                                    max_size=4))
@example(10, [None])  # DEBIT done, its reply lost: the card's log settles the escape
@example(10, [b"\x12"])  # DEBIT answered with one byte, not done: 补扣 on return
@example(9, [None])  # GREY LOCK done, reply lost: grey without a MAC2, settled for 0
@example(7, [b"\x63\xc1"])  # VERIFY: one try left
def test_garbage_from_the_card_never_crashes_and_never_moves_money_unrecorded(n, replies):
    rig = Rig()
    try:
        rig.board.card_obj = Garbling(rig.card, n, replies)
        rig.step()
        rig.keys("123456E")
        rig.keys("V50E")
        rig.fuel(100)
        rig.step(3)
        rig.board.card_obj = None  # the customer takes the card
        rig.step()
        assert (rig.board.valve_log[-1] if rig.board.valve_log else (False, False)) == (False,
                                                                                    False)
        rig.board.card_obj = rig.card  # and brings it back: a grey card is settled here
        rig.step(2)
        rig.keys("C")
        rig.board.card_obj = None
        rig.step()
        assert not rig.card.s["grey"]
        assert rig.card.s["balance"] == 50000 - rig.paid()
        assert len(rig.pump.journal.escapes) == 0  # every escape was settled by the card's return
        assert rig.pump.journal.open_sale is None
    finally:
        rig.close()


# The fields of each card reply the sale reads (offset, length), by (INS, P1): docs/card.md.
FIELDS = {
    "EF15": ((0xB0, 0x95), [(0, 8), (8, 2), (10, 2), (12, 8), (20, 4), (24, 4), (28, 1),
                            (29, 1)]),
    "EF16": ((0xB0, 0x96), [(0, 1), (1, 1), (2, 20), (22, 19), (41, 1), (42, 4), (46, 1),
                            (47, 9)]),
    "EF1C": ((0xB0, 0x9C), [(0, 2), (2, 2), (4, 2), (6, 2), (8, 2), (10, 16), (26, 4),
                            (30, 1), (31, 4), (35, 1)]),
    "EF1D": ((0xB0, 0x9D), [(0, 1), (1, 4), (5, 4), (9, 4), (13, 4), (17, 4), (21, 2),
                            (23, 4), (27, 5)]),  # read from a fleet card only
    "balance": ((0x5C, 0x00), [(0, 4)]),
    "grey status": ((0xCA, 0x00), [(0, 1), (1, 4), (5, 2), (7, 2), (9, 6), (15, 4), (19, 7),
                                   (26, 4)]),
    "log record": ((0xB2, 0x01), [(0, 2), (2, 3), (5, 4), (9, 1), (10, 6), (16, 7)]),
    "INIT FOR GREY LOCK": ((0x7A, 0x08), [(0, 4), (4, 2), (6, 3), (9, 1), (10, 1), (11, 4)]),
}


class Patching:
    """The card, answering one command with its real reply with one field overwritten:
    right length, 9000, wrong contents."""

    def __init__(self, card, key, offset, value):
        self.card = card
        self.key = key
        self.offset = offset
        self.value = value

    def transceive(self, apdu):
        reply = self.card.transceive(apdu)
        if (apdu[1], apdu[2]) != self.key or reply[-2:] != b"\x90\x00":
            return reply
        data = bytearray(reply[:-2])
        data[self.offset:self.offset + len(self.value)] = self.value
        return bytes(data) + reply[-2:]


def _patches(name):
    key, fields = FIELDS[name]
    return st.sampled_from(fields).flatmap(
        lambda f: st.tuples(st.just(f[0]), st.binary(min_size=f[1], max_size=f[1])))


def _sale_with_patched_card(name, offset, value):
    rig = Rig(_fleet_card(_ef1d()) if name == "EF1D" else None)
    try:
        rig.board.card_obj = Patching(rig.card, FIELDS[name][0], offset, value)
        rig.step()
        rig.keys("123456E")
        if name == "EF1D":
            rig.keys("1000E")  # the odometer
        rig.keys("F")
        rig.fuel(100)
        rig.step(3)
        rig.board.card_obj = None
        rig.step()
        assert (rig.board.valve_log[-1] if rig.board.valve_log else (False, False)) == (False,
                                                                                    False)
        # no money moved without a record: what left the card is what the journal says
        assert rig.card.s["balance"] == 50000 - rig.paid()
        if rig.card.s["grey"]:  # a grey card always has this terminal's record of it
            assert len(rig.pump.journal.escapes) or rig.pump.journal.open_sale is not None
        return rig.desk.prompt, rig.card.s["ctc"]
    finally:
        rig.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.parametrize("name", sorted(FIELDS))
@given(data=st.data())
def test_random_card_file_contents_end_the_sale_safely(name, data):
    """Every field of every file the sale reads, overwritten with random bytes in a reply
    of the right length ending in 9000: the parsers and the pure sale see it. Nothing but
    the card layer's own error may come out of the card layer, and nothing at all out of
    the desk: valves shut, and the card paid exactly what the journal says."""
    offset, value = data.draw(_patches(name))
    _sale_with_patched_card(name, offset, value)


@pytest.mark.parametrize("name, offset, value, prompt", [
    ("EF1C", 0, b"\xff9", "card_error"),  # a non-UTF-8 grade: CardError(MALFORMED)
    ("EF16", 41, b"\x65", "card_error"),  # a discount of 101 %: not a percentage
    ("EF16", 41, b"\x64", "bad_discount"),  # 100 %: price 0, refused before the grey lock
    ("EF1D", 0, b"\x02", "card_error"),  # a fleet file of a version this pump does not know
    ("EF1D", 23, b"\x24\x00\x06\x00", "card_error"),  # a window from 24:00 to 06:00
    ("EF1D", 13, bytes(4), "fleet_month"),  # the month's remainder used up
])
def test_bad_card_data_is_refused_before_the_grey_lock(name, offset, value, prompt):
    assert _sale_with_patched_card(name, offset, value) == (prompt, 0)  # never locked


def test_one_fill_a_day_is_not_used_up_by_a_cancelled_sale():
    """A cancel after the grey lock settles for 0 (a 0x93 entry of 0 in the card's log):
    a card allowed one fill a day may still fill; after a real fill it may not."""
    rig = Rig(VirtualCard.issue(Issuer(), ASN, 50000, daily_fills=1))
    try:
        rig.board.card_obj = rig.card
        rig.step()
        rig.keys("123456E")
        rig.keys("A2000E")
        assert rig.pump.core.state == dispenser.AUTHORIZED
        rig.keys("C")  # before the nozzle: settled for 0
        for _ in range(30):
            rig.step()
            time.sleep(0.002)
        assert rig.card.s["log"][0]["amount"] == 0 and rig.card.s["log"][0]["type"] == 0x93
        assert rig.desk.prompt == "take_receipt"
        rig.board.card_obj = None
        rig.step()
        rig.board.card_obj = rig.card
        rig.step()
        assert rig.desk.prompt == "enter_pin"  # a sale settled for 0 is no fill: no daily_limit
        rig.keys("123456E")
        rig.keys("V100E")
        rig.fuel(200)
        rig.step()
        assert rig.desk.prompt == "take_receipt" and rig.card.s["balance"] == 50000 - 759
        rig.board.card_obj = None
        rig.step()
        rig.board.card_obj = rig.card
        rig.step()
        assert rig.desk.prompt == "daily_limit"
    finally:
        rig.close()


class FakeLink:
    """The station link as the card desk sees it: `online` and `ask_grey`, which records
    each GREY_QUERY and answers it with `answer(query)` (None: no answer in time); `ask`
    (CARD_INFO, LOAD) records each in `asked` and answers with `answers[type](payload)`
    (none there: no answer in time)."""

    def __init__(self, online=True, answer=None, answers=None):
        self.online = online
        self.loyalty = False  # a station without loyalty: no REWARDS asked
        self.answer = answer
        self.answers = answers or {}
        self.queries = []
        self.timeouts = []
        self.asked = []

    async def ask_grey(self, query, timeout_ms):
        self.queries.append(query)
        self.timeouts.append(timeout_ms)
        await asyncio.sleep(0)
        return self.answer(query) if self.answer else None

    async def ask(self, mtype, payload, answer_type, timeout_ms):
        self.asked.append((mtype, dict(payload)))
        await asyncio.sleep(0)
        answer = self.answers.get(mtype)
        return answer(payload) if answer else None


def _run_desk(rig, steps=5):
    """Step the desk inside an event loop: its question to the link runs as a task."""
    async def go():
        for _ in range(steps):
            rig.step()
            await asyncio.sleep(0)
    asyncio.run(go())


OTHER_PSAM = "000000000999"


def _grey_elsewhere(ttc=7, ctc=0):
    """A card grey-locked by another terminal's PSAM (lock CTC `ctc`, PSAM TTC `ttc`)."""
    card = VirtualCard.issue(Issuer(), ASN, 50000)
    card.s.update(grey=True, grey_tid=OTHER_PSAM, grey_ttc=ttc, grey_dt="20261117080000",
                  gtac="01020304", grey_ctc=ctc)
    return card


def _ask(rig, link):
    """Insert the card; the desk asks the station and waits for the link's answer (the
    link's `answer`); step until the desk is done with it."""
    rig.pump.link = link
    # a pump with a station sells cards on the station's time
    downloads.station_time(rig.pump, rig.board.now)
    rig.board.card_obj = rig.card
    prompts = []

    async def go():
        rig.step()
        prompts.append(rig.desk.prompt)
        for _ in range(5):
            await asyncio.sleep(0)
            rig.step()
    asyncio.run(go())
    if link.online:
        assert prompts == ["settling_grey"] and link.queries == [
            {"asn": ASN, "terminal": OTHER_PSAM, "ttc": 7, "ctc": 0}]
        assert link.timeouts == [cardsale._ASK_MS]
    else:
        assert link.queries == []


OWED = {"status": "owed", "amount": 759, "ml": 1000, "grade": "92", "price": 7590,
        "terminal": "P1", "sale": 3}


def test_grey_elsewhere_owed_is_debited_once_and_journaled_as_unlock_flag_64():
    rig = Rig(_grey_elsewhere())
    try:
        link = FakeLink(answer=lambda q: dict(OWED, asn=q["asn"], ttc=q["ttc"]))
        _ask(rig, link)
        bill = rig.desk.bill
        assert rig.desk.prompt == "take_receipt"
        assert not rig.card.s["grey"] and rig.card.s["balance"] == 50000 - 759
        assert (bill["amount"], bill["ml"], bill["grade"], bill["price"]) == (
            759, 1000, "92", 7590)
        assert bill["flags"] == journal.rec.F_ELSEWHERE and bill["tac"] != bytes(4)
        assert (bill["asn"][:8].hex(), bill["ctc"], bill["psam_ttc"]) == (ASN, 0, 7)
        sales_journal = rig.pump.journal
        (got,) = [(t, journal.rec.unpack_bill(p)) for _s, t, p in sales_journal.read()]
        assert got[0] == journal.rec.UNLOCK and got[1]["sale"] == 1 == sales_journal.sale_no
        assert got[1]["flags"] == journal.rec.F_ELSEWHERE and rig.paid() == 759
        assert len(sales_journal.escapes) == 0  # not an escape of this terminal's
    finally:
        rig.close()


@pytest.mark.parametrize("why", ["settled", "unknown", "no answer", "offline",
                                 "another card", "another ttc", "bad amount"])
def test_grey_elsewhere_not_owed_is_refused_and_nothing_is_debited(why):
    rig = Rig(_grey_elsewhere())
    try:
        answers = {
            "settled": lambda q: {"asn": q["asn"], "ttc": q["ttc"], "status": "settled"},
            "unknown": lambda q: {"asn": q["asn"], "ttc": q["ttc"], "status": "unknown"},
            "another card": lambda q: dict(OWED, asn="6200000000000018", ttc=q["ttc"]),
            "another ttc": lambda q: dict(OWED, asn=q["asn"], ttc=8),
            "bad amount": lambda q: dict(OWED, asn=q["asn"], ttc=q["ttc"], amount=-1),
        }
        # "no answer": the link's ask_grey gave up after _ASK_MS (test_link tests that)
        link = FakeLink(online=why != "offline", answer=answers.get(why))
        _ask(rig, link)
        assert rig.desk.prompt == "card_grey_elsewhere"
        assert rig.card.s["grey"] and rig.card.s["balance"] == 50000
        assert list(rig.pump.journal.read()) == [] and rig.desk.bill is None
    finally:
        rig.close()


def test_card_pulled_while_the_station_is_asked_withdraws_the_question():
    rig = Rig(_grey_elsewhere())
    try:
        link = FakeLink()
        cancelled = []

        async def never(query, timeout_ms):  # the station has not answered yet
            link.queries.append(query)
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(query)
                raise

        link.ask_grey = never
        rig.pump.link = link
        downloads.station_time(rig.pump, rig.board.now)
        rig.board.card_obj = rig.card

        async def go():
            rig.step()
            await asyncio.sleep(0)
            assert rig.desk.prompt == "settling_grey" and len(link.queries) == 1
            rig.board.card_obj = None  # pulled before the answer
            rig.step()
            await asyncio.sleep(0)
        asyncio.run(go())
        assert cancelled == link.queries and rig.desk.prompt == "card_removed"
        assert rig.desk.sale.state == 0 and list(rig.pump.journal.read()) == []
    finally:
        rig.close()


def test_card_back_at_the_first_pump_after_another_settled_it_closes_the_escape_free():
    """Pump 1's ESCAPE was settled at pump 2 through the station; the card comes back to
    pump 1 before the station told it: the card's log shows the debit of that lock by
    another PSAM, so pump 1 takes nothing and closes its escape (marker, flags 128|8)."""
    r1 = Rig()
    r2 = None
    try:
        r1.card_pulled_mid_fuelling()
        b = r1.board
        r1.hang_up(after=20)
        jr1 = r1.pump.journal
        ((_seq, esc),) = jr1.escapes.entries()
        assert esc["amount"] > 0 and r1.card.s["grey"]
        # pump 2 (another PSAM) settles it: the station says owed
        r2 = Rig(r1.card)
        r2.board.psam_obj = VirtualPsam(Issuer(), terminal_id=bytes.fromhex("000000000102"))
        assert r2.desk.start()
        link = FakeLink(answer=lambda q: dict(OWED, asn=q["asn"], ttc=q["ttc"],
                                              amount=esc["amount"], ml=esc["ml"],
                                              sale=esc["sale"]))
        r2.pump.link = link
        downloads.station_time(r2.pump, r2.board.now)
        r2.board.card_obj = r1.card
        _run_desk(r2)
        (q,) = link.queries
        assert q["terminal"] == r1.desk.tid.hex() and q["ttc"] == esc["psam_ttc"]
        assert r2.desk.prompt == "take_receipt"
        paid = 50000 - esc["amount"]
        assert not r1.card.s["grey"] and r1.card.s["balance"] == paid
        r2.board.card_obj = None
        r2.step()
        # back at pump 1: nothing more is taken, the escape is closed
        b.card_obj = r1.card
        r1.step()
        assert r1.desk.prompt == "enter_pin"  # a new sale may start
        assert r1.card.s["balance"] == paid
        assert len(jr1.escapes) == 0
        recs = [(t, journal.rec.unpack_bill(p)) for _s, t, p in jr1.read()]
        assert [t for t, _ in recs] == [journal.rec.ESCAPE, journal.rec.UNLOCK]
        marker = recs[1][1]
        assert marker["sale"] == esc["sale"] and marker["amount"] == 0
        assert marker["flags"] == journal.rec.F_SETTLED_ELSEWHERE | journal.rec.F_CARD_LOG
        assert (marker["tac"] + marker["gmac"])[:6].hex() == "000000000102"
        assert r1.paid() == 0  # pump 1 journaled no money for the card
        r1.keys("C")
        b.card_obj = None
        r1.step()
        b.card_obj = r1.card  # and again: nothing to close, nothing taken
        r1.step()
        assert len(list(jr1.read())) == 2 and r1.card.s["balance"] == paid
    finally:
        r1.close()
        if r2 is not None:
            r2.close()


def test_a_card_grey_here_whose_escape_the_full_table_dropped_is_settled_through_the_station():
    """Pump 1's escape table filled up with later escapes while the station held this one:
    it was dropped (EVENT code 4). The card comes back to pump 1 grey with its own PSAM's
    lock: with no escape left here, the station is asked, and the card pays once."""
    rig = Rig()
    try:
        rig.card_pulled_mid_fuelling()
        b = rig.board
        rig.hang_up()
        jr = rig.pump.journal
        ((_seq, esc),) = jr.escapes.entries()
        assert esc["amount"] > 0 and rig.card.s["grey"]
        jr.ack(jr.next_seq - 1, b.now)  # the station holds it
        for ttc in range(100, 100 + escapes.SIZE):  # other cards' escapes fill the table
            jr.begin(journal.rec.sale_bill(b.now, "92", 7590, "V", 1000, 0, {
                "asn": b"\x62" + bytes(9), "ctc": 1, "psam_ttc": ttc, "balance": 100}))
            jr.finish(b.now, 10, 100, 76, 2, 0, 0, None, journal.rec.ESCAPE)
        assert len(jr.escapes) == escapes.SIZE and settlement.find(jr, ASN) is None
        link = FakeLink(answer=lambda q: dict(OWED, asn=q["asn"], ttc=q["ttc"],
                                              amount=esc["amount"], ml=esc["ml"],
                                              terminal="P1", sale=esc["sale"]))
        rig.pump.link = link
        downloads.station_time(rig.pump, b.now)
        b.card_obj = rig.card
        _run_desk(rig)
        (q,) = link.queries
        assert q == {"asn": ASN, "terminal": rig.desk.tid.hex(), "ttc": esc["psam_ttc"],
                     "ctc": esc["ctc"]}
        assert rig.desk.prompt == "take_receipt"
        assert not rig.card.s["grey"] and rig.card.s["balance"] == 50000 - esc["amount"]
        unlocks = [journal.rec.unpack_bill(p) for _s, t, p in jr.read()
                   if t == journal.rec.UNLOCK]
        assert [(u["flags"], u["amount"], u["psam_ttc"]) for u in unlocks] == [
            (journal.rec.F_ELSEWHERE, esc["amount"], esc["psam_ttc"])]
        assert unlocks[0]["sale"] == jr.sale_no != esc["sale"]
        # the table is full of escapes the station does not hold yet: the card, not grey
        # now, buys nothing until it does (a grey one would still be settled, as above)
        b.card_obj = None
        rig.step()
        b.card_obj = rig.card
        _run_desk(rig)
        assert rig.desk.prompt == "escapes_full" and rig.desk.sale.state == 0
    finally:
        rig.close()


def _fleet_card(ef1d):
    """A vehicle card (EF16 type 3) whose fleet file EF1D holds `ef1d` (None: none)."""
    card = VirtualCard.issue(Issuer(), ASN, 50000, card_type=3)
    card.s["files"] = {"95": card.ef15().hex(), "96": card.ef16().hex(),
                       "9c": card.ef1c().hex()}
    if ef1d is not None:
        card.s["files"]["9d"] = ef1d.hex()
    return card


def _ef1d(day_ml=0, window="00002400", month=None):
    month = month or time.strftime("%y%m", time.gmtime(1_795_000_000))
    return (b"\x01" + struct.pack(">IIIII", 0, 0, day_ml, 0xFFFFFFFF, 0xFFFFFFFF)
            + bytes.fromhex(month + window) + bytes(5))


def test_a_fleet_card_reads_its_fleet_file_asks_the_odometer_and_bills_it(capsys):
    rig = Rig(_fleet_card(_ef1d(day_ml=1500)))
    try:
        rig.board.card_obj = rig.card
        rig.step()
        rig.keys("123456E")
        assert rig.desk.prompt == "enter_odometer"
        assert rig.desk.screen_value(ticks_ms())[1] == " km"
        rig.keys("0E")  # not a reading
        assert rig.desk.prompt == "odometer_bad"
        assert json.loads(capsys.readouterr().out.split("@odometer_bad ")[1].split("\n")[0]) \
            == {"km": 0, "last": None, "tries_left": 2}
        assert rig.desk.screen_value(ticks_ms())[1] == "剩余次数 tries left: 2"
        rig.keys("8123")
        assert rig.desk.screen_value(ticks_ms())[1] == "8123 km"
        rig.keys("4E")
        assert rig.desk.prompt == "choose_preset"
        rig.keys("V500E")  # 5 L asked, 1.5 L a day
        assert rig.pump.core.state == dispenser.AUTHORIZED
        rig.fuel(400)
        rig.step()
        bill = rig.desk.bill
        assert bill["ml"] == 1500 and bill["odo"] == 81234 and bill["amount"] == 1139
        finals = [journal.rec.unpack_bill(p) for _s, t, p in rig.pump.journal.read()
                  if t == journal.rec.FINAL]
        assert [b["odo"] for b in finals] == [81234]
        assert journal.rec.to_json(1, journal.rec.FINAL, journal.rec.pack_bill(bill),
                                   True)["odo"] == 81234
    finally:
        rig.close()


@pytest.mark.parametrize("ef1d, prompt", [
    (_ef1d(window="12002000"), "fleet_window"),  # the card is read at 11:06 UTC
    (_ef1d()[:21] + b"\x26\x13" + _ef1d()[23:], "card_error"),  # month 13: malformed
])
def test_a_fleet_card_refused_at_the_read_moves_nothing(ef1d, prompt):
    rig = Rig(_fleet_card(ef1d))
    try:
        rig.board.card_obj = rig.card
        rig.step()
        assert rig.desk.prompt == prompt and rig.desk.sale.state == 0
        assert rig.card.s["balance"] == 50000 and not rig.card.s["grey"]
    finally:
        rig.close()


def test_a_fleet_card_with_no_fleet_file_yet_still_asks_the_odometer():
    rig = Rig(_fleet_card(None))
    try:
        rig.board.card_obj = rig.card
        rig.step()
        rig.keys("123456E")
        assert rig.desk.prompt == "enter_odometer" and rig.desk.info["fleet"] is None
    finally:
        rig.close()
