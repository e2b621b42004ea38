"""The back office's tanks page (station/web/tanks.py): every role against the page, its
chart data and its forms (the server refuses, whatever the page shows), bad input that
changes nothing."""
import re
import time

import pytest
from starlette.testclient import TestClient
from webstation import LOCAL, PASSWORD, ROLES, open_station

from pumpside_host.station.web import load_secret, make_app


@pytest.fixture
def station(tmp_path):
    ledger, service = open_station(tmp_path)
    service.set_nozzle(LOCAL, "P1", 1, "92")
    service.set_tank(LOCAL, 1, "92", 30000, 3000, 1000)
    service.feed_tank(LOCAL, 1, "P1", 1)
    today = int(time.mktime(time.localtime()[:3] + (0, 0, 0, 0, 0, -1)))
    ledger.tanks.add_reading(1, today + 60, 20_000_000, 19_950_000, 1333, 5, 182)
    ledger.tanks.reconcile(1, time.strftime("%Y-%m-%d", time.localtime(today)))
    app = make_app(ledger, load_secret(ledger.path), service)
    yield ledger, service, app
    ledger.close()


def csrf(response):
    return re.search(r'name="csrf" value="([^"]+)"', response.text).group(1)


def logged_in(app, role):
    client = TestClient(app, follow_redirects=True)
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf(page), "name": role,
                                           "password": PASSWORD})
    assert response.status_code == 200 and role in response.text
    return client, csrf(response)


FORMS = [
    ({"what": "tank", "tank": "2", "grade": "0#", "capacity": "20000", "low": "2000",
      "suction": "500"}, lambda ledger: ledger.tanks.tank(2)),
    ({"what": "delivery", "tank": "1", "supplier": "Sinopec", "ordered": "10000",
      "delivered": "9999.5", "temp": "21.5"}, lambda ledger: len(ledger.tanks.deliveries())),
    ({"what": "dip", "tank": "1", "height": "1000"},
     lambda ledger: len(ledger.tanks.readings(1))),
]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_against_the_tanks_page_and_its_forms(station, role):
    ledger, service, app = station
    client, token = logged_in(app, role)
    page = client.get("/tanks")
    assert page.status_code == 200
    assert 'href="/tanks"' in page.text and "20000.000" in page.text  # the level, L
    assert ("reconciliation" in page.text) == (role != "cashier")
    assert ('id="delivery-note"' in page.text) == (role in ("administrator", "manager"))
    chart = client.get("/tanks.json?tank=1").json()
    assert chart["readings"] == [{"at": chart["readings"][0]["at"], "litres": 20000.0}]
    assert bool(chart["days"]) == (role != "cashier")
    for fields, changed in FORMS:
        before, records = changed(ledger), len(service.audit(LOCAL))
        response = client.post("/tanks", data=dict(
            fields, csrf=token, version=str(service.version_of(LOCAL, "tanks"))))
        if role in ("administrator", "manager"):
            assert response.status_code == 200, response.text
            assert changed(ledger) != before
            assert len(service.audit(LOCAL)) == records + 1
            assert service.audit(LOCAL)[-1]["who"] == role
        else:
            assert response.status_code == 403
            assert changed(ledger) == before and len(service.audit(LOCAL)) == records


def test_bad_input_changes_nothing(station):
    ledger, service, app = station
    client, token = logged_in(app, "manager")
    records = len(service.audit(LOCAL))
    for fields, why in (({"what": "delivery", "tank": "1", "supplier": "S", "ordered": "x",
                          "delivered": "1", "temp": "15"}, "ordered must be a number"),
                        ({"what": "delivery", "tank": "1", "supplier": "S", "ordered": "1",
                          "delivered": "1.0001", "temp": "15"}, "too many decimals"),
                        ({"what": "tank", "tank": "0"}, "tank must be from 1 to 99"),
                        ({"what": "feed", "tank": "1", "terminal": "P1", "nozzle": "5"},
                         "not in the nozzle map"),
                        ({"what": "nothing", "tank": "1"}, "unknown change")):
        response = client.post("/tanks", data=dict(
            fields, csrf=token, version=str(service.version_of(LOCAL, "tanks"))))
        assert response.status_code == 400 and why in response.text, why
    assert len(service.audit(LOCAL)) == records
    assert client.get("/tanks.json?tank=9").status_code == 404
    assert client.post("/tanks", data={"what": "dip", "tank": "1",
                                       "height": "5"}).status_code == 403  # no CSRF


def test_the_tanks_page_is_not_for_a_visitor(station):
    _ledger, _service, app = station
    client = TestClient(app, follow_redirects=False)
    for path in ("/tanks", "/tanks.json?tank=1"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login"


def test_the_reports_page_and_its_csv_show_the_stock_and_variance(station):
    ledger, _service, app = station
    client, _token = logged_in(app, "auditor")
    today = time.strftime("%Y-%m-%d")
    page = client.get("/reports?kind=day&value=" + today)
    assert page.status_code == 200 and 'id="stock"' in page.text and "20000.000" in page.text
    answer = client.get("/reports?kind=month&value=%s&format=csv" % today[:7])
    assert "stock,1:closing,1,20000.000," in answer.text
    assert "stock,1:variance,1,0.000," in answer.text
