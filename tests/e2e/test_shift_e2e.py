"""End to end: a shift closed after the virtual pump's sales (issue 15, 班结): its report
matches the sales the station holds and the pump delivered, the nozzle's totalizer at the
boundary matches its records, and the day's report says the same."""
import time

import pytest

from pumpside_host.station.service import Actor, Service
from pumpside_host.station.shifts import text

from .helpers import linked_pump, sale, wait_until

pytestmark = pytest.mark.e2e

SALES = 3


def test_a_shift_closed_after_virtual_pump_sales_matches_them(make_pump, station):
    ledger, server = station
    service = Service(ledger)
    vp = linked_pump(make_pump, ledger, server.port)
    deliveries = []
    for _ in range(SALES):
        deliveries.append(sale(vp, "V20E", hang_up=True))  # 0.20 L each
    wait_until(lambda: len(ledger.sales("P1")) == SALES, 15, "the sales at the station")
    last = max(s["seq"] for s in ledger.sales("P1"))
    wait_until(lambda: any(t["seq"] >= last for t in ledger.metrology.totals("P1")), 15,
               "a totalizer reading after the last sale")

    shift = service.close_shift(Actor("carol", "cashier"))
    held = ledger.sales("P1")
    assert shift["totals"] == {"count": SALES, "ml": sum(d["ml"] for d in deliveries),
                               "amount": sum(s["amount"] for s in held)}
    assert shift["totals"]["ml"] == sum(s["ml"] for s in held)
    assert [r["key"] for r in shift["pay"]] == ["unpaid"]  # attended: for the till
    [nozzle] = shift["nozzles"]
    assert nozzle["close_seq"] >= last and (nozzle["diff_ml"], nozzle["diff_amount"]) == (0, 0)
    assert "sales %d" % SALES in text(shift) and "MISMATCH" not in text(shift)

    today = time.strftime("%Y-%m-%d")  # from yesterday: a test that runs over midnight
    days = service.report(Actor("auditor", "auditor"), "range", time.strftime(
        "%Y-%m-%d", time.localtime(time.time() - 86400)), today)
    assert days["totals"] == shift["totals"]
    assert ledger.journals.alarms() == []
