"""`make run`'s console, played the way a person plays it: keys pressed through textual's
test pilot into the real console, the firmware on the unix port behind it."""
import asyncio
import re

import pytest

from pumpside_host.bench.printer import receipts
from pumpside_host.console import PumpConsole, start_pump, stop_pump

pytestmark = pytest.mark.e2e


async def _until(pilot, cond, what, timeout=20.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        await pilot.pause(0.05)


def _shows(app, text):
    return any(text in line for line in app.bench.display)


def _receipt_field(text, name):
    m = re.search(r"^%s\s+(\d+)\.(\d\d)\b" % name, text, re.M)
    assert m, "no %s on the receipt:\n%s" % (name, text)
    return int(m.group(1)) * 100 + int(m.group(2))


def _play(tmp_path, script, web=None):
    """`make run`'s pump and console: once the console is ready, `await script(vp, app,
    pilot)`; then the pump stops. Returns the pump, its card store and what script
    returned. With `web` (a dict), the station serves its back office too, as make run's
    does."""
    vp, store = start_pump(tmp_path, web_port=0 if web is not None else None, web=web)

    async def play():
        app = PumpConsole(vp, store, web)
        async with app.run_test(size=(140, 48)) as pilot:
            await _until(pilot, lambda: _shows(app, "Insert your fuel card"), "ready")
            return await script(vp, app, pilot)

    try:
        return vp, store, asyncio.run(play())
    except AssertionError as e:
        raise AssertionError("%s; console tail:\n%s" % (e, "\n".join(vp.lines[-25:]))) from None
    finally:
        stop_pump(vp)


def test_a_person_buys_fuel_with_a_card(tmp_path):
    async def buy(vp, app, pilot):
        # card sales are dated on the station's time: the link (TLS) brings it first
        await _until(pilot, lambda: any(n == "clock_trusted" for n, _ in vp.seen),
                     "the station's time")
        await pilot.press("i")  # the highlighted card: the first, a normal one
        await _until(pilot, lambda: _shows(app, "Enter PIN"), "the PIN prompt")
        await pilot.press(*"123456", "enter")
        await _until(pilot, lambda: _shows(app, "Preset"), "the preset prompt")
        await pilot.press("v", *"500", "enter")  # 5.00 L
        await _until(pilot, lambda: _shows(app, "Lift the nozzle"), "lift")
        await pilot.click("#nozzle")  # lifts it
        await _until(pilot, lambda: _shows(app, "Fuelling"), "fuelling")
        await _until(pilot, lambda: not any(vp.bench.outputs()), "the valves to close")
        await pilot.press("n")  # hang up
        await _until(pilot, lambda: "FUEL RECEIPT" in app.receipt_text, "the receipt")
        await pilot.press("o")  # take the card
        await _until(pilot, lambda: _shows(app, "Thank you"), "thank you")
        # the station beside the pump got the sale over the link (TLS, the station's
        # own CA pinned as provision pins it), its TAC verified with the issuer key of
        # the bench's cards
        await _until(pilot, lambda: "FINAL #1 5.000 L 37.95 card 6200********0001 "
                     "TAC ok" in str(app.query_one("#station").render()),
                     "the station's view")
        assert re.search(r"pump PUMP1: .*  TLS$", str(app.query_one("#station").render()),
                         re.M)
        return app.receipt_text

    vp, _store, text = _play(tmp_path, buy)
    assert "5.00 L" in text and "37.95" in text and "6200********0001" in text
    # the card paid exactly what the paper says, and nothing is left grey-locked
    amount = _receipt_field(text, "Amount")
    state = vp.card_state("6200000000000001")
    assert amount == 3795 and state["balance"] == 50000 - amount and not state["grey"]
    assert _receipt_field(text, "Balance") == state["balance"]
    assert receipts(bytes(vp.bench.printed))[-1] == text
    # the station verified the card's TAC and its account agrees with the card
    acct = vp.station.ledger.cards.account("6200000000000001")
    assert acct["balance"] == state["balance"]
    assert [(b["kind"], b["amount"], b["verified"]) for b in acct["bills"]] == [
        ("FINAL", amount, 1)]
    assert vp.station.ledger.cards.rejected() == []
    # the bench's truth: the metered volume is the pulser's count, within one pulse
    (delivery,) = [f for name, f in vp.seen if name == "delivery"]
    pulses, _ = vp.bench.counts()
    assert delivery["ml"] == 5000 == pulses * 10  # k_factor 100000: 10 ml a pulse
    assert delivery["ml"] <= vp.bench.truth_ml() < delivery["ml"] + 10


def test_a_refused_card_and_the_keypad_buttons(tmp_path):
    async def refuse_and_cancel(vp, app, pilot):
        await pilot.press("down", "down")  # the third card: expired
        await pilot.press("i")
        await _until(pilot, lambda: _shows(app, "Card expired"), "the refusal")
        await pilot.press("o")
        await pilot.press("up", "up", "i")
        await _until(pilot, lambda: _shows(app, "Enter PIN"), "the PIN prompt")
        for k in "1234":
            await pilot.click("#k" + k)
        await _until(pilot, lambda: app.bench.display[3].endswith("****"), "4 stars")
        await pilot.click("#kC")
        await _until(pilot, lambda: _shows(app, "Cancelled"), "cancelled")
        await pilot.press("o")
        await pilot.press("ctrl+c")  # quits, as a person expects (textual's own: ctrl+q)
        await _until(pilot, lambda: not app.is_running, "the console to quit")

    vp, store, _ = _play(tmp_path, refuse_and_cancel)
    assert store.cards["6200000000000001"].s["balance"] == 50000
    assert vp.proc.poll() is not None  # the firmware went with it


def test_w_takes_the_pumps_network_down_and_up_again(tmp_path):
    async def flap(vp, app, pilot):
        await _until(pilot, lambda: any(n == "link_up" for n, _ in vp.seen), "the link")
        await pilot.press("w")
        await _until(pilot, lambda: any(n == "link_down" and f["why"] == "network: no AP"
                                        for n, f in vp.seen), "the link down, and why")
        await _until(pilot, lambda: "network DOWN: no AP" in str(
            app.query_one("#truth").render()), "the panel saying so")  # its next refresh
        ups = sum(1 for n, _ in vp.seen if n == "link_up")
        await pilot.press("w")
        await _until(pilot, lambda: sum(1 for n, _ in vp.seen if n == "link_up") > ups,
                     "the link up again")

    _play(tmp_path, flap)


def test_the_first_screen_tells_how_to_log_in_to_the_back_office_and_keeps_it(tmp_path):
    web = {}

    async def look(vp, app, pilot):
        def shown():
            return " ".join(str(app.query_one("#web").render()).split())
        assert web["address"] in shown() and web["password"] in shown()
        assert shown().startswith("back office: http://127.0.0.1:")
        assert "log in as admin, password" in shown()
        for n in range(40):  # a busy service log scrolls below it, not over it
            app.query_one("#log").write("@tick %d" % n)
        await pilot.pause(0.2)
        assert web["password"] in shown()

    _play(tmp_path, look, web)
