"""The back office's loyalty page (station/web/loyalty.py): a card's points and vouchers,
the redeem form sent twice (a double click, a retry after a lost answer) spends once, the
forms a role may not use are not shown, bad input changes nothing."""
import re

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from pumpside_host.station.ledger import Ledger
from pumpside_host.station.service import Actor, Service
from pumpside_host.station.web import load_secret, make_app

PASSWORD = "a long enough password"
ASN = "6200000000000017"
LOCAL = Actor.local("test")
ROLES = ("administrator", "manager", "cashier", "auditor")


@pytest.fixture
def station(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"),
                    hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    service = Service(ledger)
    for role in ROLES:
        service.add_operator(LOCAL, role, role, PASSWORD)
    service.set_loyalty_rule(LOCAL, "grade", "*", 1)
    ledger.store("P1", [{"type": "FINAL", "seq": 1, "sale": 1, "ml": 9000, "amount": 9000,
                         "grade": "92", "asn": ASN, "tac": "01020304"}])
    service.add_reward(LOCAL, "five off", "amount", 500, 20)
    yield ledger, service, make_app(ledger, load_secret(ledger.path), service)
    ledger.close()


def logged_in(app, role):
    client = TestClient(app, follow_redirects=True)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"csrf": token, "name": role,
                                           "password": PASSWORD})
    assert response.status_code == 200
    return client


def form_of(page, form_id):
    form = re.search(r'(?s)<form[^>]*id="%s">(.*?)</form>' % form_id, page).group(1)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_the_redeem_form_sent_twice_spends_once(station):
    ledger, service, app = station
    client = logged_in(app, "cashier")
    page = client.get("/loyalty?card=" + ASN).text
    assert "6200********0017" in page and ASN not in page.replace('value="%s"' % ASN, "")
    assert '<span id="points-balance">90</span>' in page
    fields = dict(form_of(page, "redeem"), reward="1")
    first = client.post("/loyalty", data=fields)
    again = client.post("/loyalty", data=fields)  # a double click, a retry
    assert first.status_code == again.status_code == 200
    assert "the card has 70 points left" in first.text and "70 points left" in again.text
    assert service.points(LOCAL, ASN)["totals"]["balance"] == 70
    assert [r["action"] for r in service.audit(LOCAL)].count("loyalty-redeem") == 1
    page = client.get("/loyalty?card=" + ASN).text
    assert 'data-voucher="%s"' % fields["redemption"] in page
    assert form_of(page, "redeem")["redemption"] != fields["redemption"]  # a new form


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_the_forms_it_may_use(station, role):
    _ledger, service, app = station
    service.redeem(LOCAL, ASN, 1, "v1")
    page = logged_in(app, role).get("/loyalty?card=" + ASN).text
    manages = role in ("administrator", "manager")
    assert ('id="loyalty-rule"' in page) == manages
    assert ('id="reward-add"' in page) == manages
    assert ('id="cancel-v1"' in page) == manages
    assert ('id="redeem"' in page) == (role != "auditor")


def test_a_card_number_that_is_not_one_is_refused(station):
    _ledger, _service, app = station
    response = logged_in(app, "auditor").get("/loyalty?card=6200")
    assert response.status_code == 400 and "a card number is 16 digits" in response.text
