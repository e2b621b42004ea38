"""End to end: card sales and the station (card accounts, TACs verified with the issuer's
key; grey cards settled through the station)."""
import pytest

from pumpside_host.bench import Bench
from pumpside_host.bench.cards import (
    TEST_ISSUER_ID,
    TEST_TAC_MK,
    CardStore,
    VirtualPsam,
)
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationThread

from .helpers import saw as _saw
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e

ASN = "6200000000000017"
PIN = "123456"
CARD_MODE = {"sale_mode": "card", "sale_timeout_ms": 20000,
             "issuers": TEST_ISSUER_ID.hex()}


@pytest.fixture
def store(tmp_path):
    s = CardStore(str(tmp_path / "cards.json"))
    s.issue(ASN, 50000, pin=PIN)
    return s


@pytest.fixture
def station(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    ledger.cards.set_keys({TEST_ISSUER_ID: TEST_TAC_MK})
    st = StationThread(ledger, heartbeat_s=1).start()
    yield ledger, st
    if st.thread.is_alive():
        st.stop()


def _pump(make_pump, store, ledger, port, name, psam=None):
    key = ledger.add_terminal(name)
    bench = Bench()
    if psam is not None:
        bench.psam = VirtualPsam(store.issuer, terminal_id=bytes.fromhex(psam))
    cfg = dict(CARD_MODE, station_addr="127.0.0.1:%d" % port, terminal_id=name,
               terminal_key=key.hex())
    vp = make_pump(bench=bench, cards=store, **cfg)
    _wait(lambda: _saw(vp, "link_up"), 10, "the link of " + name)
    return vp


def _prompt(vp, en, timeout=10):
    _wait(lambda: len(vp.bench.display) > 2 and vp.bench.display[2] == en, timeout,
          "prompt %r (display %r)" % (en, vp.bench.display))


def _remove(vp):
    vp.bench.remove_card()

    def empty():
        slot = [f["present"] for name, f in vp.seen if name == "card_slot"]
        return slot and not slot[-1]

    _wait(empty, 5, "the card slot to empty")


def _to_preset(vp):
    vp.insert(ASN)
    _prompt(vp, "Enter PIN, E to confirm")
    vp.bench.press(PIN + "E")
    _prompt(vp, "Preset: V litres A amount F fill")


def test_card_sale_through_the_link_is_stored_with_its_verified_tac(make_pump, store,
                                                                    station):
    ledger, st = station
    vp = _pump(make_pump, store, ledger, st.port, "P1")
    _to_preset(vp)
    vp.bench.press("V300E")
    _prompt(vp, "Lift the nozzle")
    vp.bench.lift()
    d = vp.wait_event("delivery", 30)
    vp.bench.hang_up()
    vp.wait_event("receipt", 10)
    _remove(vp)
    _wait(lambda: [s["kind"] for s in ledger.sales("P1")] == ["FINAL"], 10, "the sale")
    acct = ledger.cards.account(ASN)
    card = vp.card_state(ASN)
    assert d["amount"] == 2277 and acct["balance"] == card["balance"] == 50000 - 2277
    assert [(b["kind"], b["amount"], b["verified"]) for b in acct["bills"]] == [
        ("FINAL", 2277, 1)]
    assert ledger.cards.rejected() == []
