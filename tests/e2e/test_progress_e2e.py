"""End to end: live progress of a delivery reaches the station (STATUS while Fuelling),
and the station shows it per pump (`pumpside station pumps`)."""
import pytest

from pumpside_host import cli
from pumpside_host.bench import Bench
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationThread

from .helpers import CARD_MODE, linked_pump, remove_card, start_card_sale, wait_until

pytestmark = pytest.mark.e2e


def _deliver(vp, card):
    """2.00 L at 12 L/min, the last 100 ml at 5 L/min: about 11 s of flow; the delivery,
    the nozzle hung up (and the card taken) after it."""
    if card:
        start_card_sale(vp, "V200E")
    else:
        vp.bench.press("V200E")
        vp.wait_event("authorized")
        vp.bench.lift()
    delivery = vp.wait_event("delivery", 30)
    vp.bench.hang_up()
    if card:
        vp.wait_event("receipt", 10)
        remove_card(vp)
    return delivery


@pytest.mark.parametrize("mode", ["attended", "card"])
def test_a_ten_second_delivery_shows_its_progress_at_the_station(make_pump, card_store, mode,
                                                                    tmp_path, monkeypatch,
                                                                    capsys):
    card = mode == "card"
    ledger = Ledger(str(tmp_path / "station.db"))
    heard = []  # every STATUS the station stored, in order
    set_status = ledger.set_status

    def spy(terminal, status):
        heard.append(dict(status))
        return set_status(terminal, status)

    monkeypatch.setattr(ledger, "set_status", spy)
    # heartbeats 30 s apart: a STATUS during the delivery is progress, not the one that
    # goes with each heartbeat
    server = StationThread(ledger, heartbeat_s=30).start()
    try:
        vp = linked_pump(make_pump, ledger, server.port, bench=Bench(fast_lpm=12.0),
                         **(dict(CARD_MODE, cards=card_store) if card else {}))
        delivery = _deliver(vp, card)
        wait_until(lambda: len(ledger.sales("P1")) == 1, 10, "the sale at the station")
        bill = ledger.sales("P1")[0]
        wait_until(lambda: heard[-1]["state"] == "Idle", 10, "the pump idle again")
    finally:
        server.stop()
    assert delivery["ml"] == bill["ml"] == 2000 and delivery["amount"] == bill["amount"]
    progress = [s["ml"] for s in heard if s["state"] == "Fuelling"]
    assert progress == sorted(progress), progress  # the volume only grows
    assert len({ml for ml in progress if ml > 0}) >= 3, progress  # heard while it flowed
    last = heard[-1]  # after the delivery: its final figures, which are the bill's
    assert (last["ml"], last["amount"]) == (bill["ml"], bill["amount"]), heard[-3:]
    pump = ledger.pumps()[0]
    assert (pump["state"], pump["ml"], pump["amount"]) == ("Idle", 2000, bill["amount"])
    ledger.close()
    capsys.readouterr()
    assert cli.main(["station", "pumps", "--db", str(tmp_path / "station.db")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("P1 Idle last delivery 2000 ml amount %d " % bill["amount"]), out
