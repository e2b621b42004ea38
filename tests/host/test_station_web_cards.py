"""The back office's card page (/cards): the cards issued here with their numbers masked,
one card's account, and the desk's acts without a reader, each by the roles that may."""
import pytest
from cardbench import HOLDER, PIN, T0, blank, masters
from test_station_web import LOCAL, logged_in, station  # noqa: F401 (a fixture)

from pumpside_host.station.operators import ROLES


@pytest.fixture
def desk(station):  # noqa: F811
    ledger, service, app = station
    ledger.cards.set_masters(masters())
    card, reader = blank()
    asn = service.card_issue(LOCAL, reader, "registered", PIN, **HOLDER, now=T0)
    return ledger, service, app, asn


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_cards_masked(desk, role):
    ledger, service, app, asn = desk
    client, _token = logged_in(app, role)
    page = client.get("/cards")
    assert page.status_code == 200 and "6200********0001" in page.text and asn not in page.text
    assert 'href="/cards"' in client.get("/").text
    account = client.get("/cards", params={"card": asn})
    assert "ID ****1234" in account.text and HOLDER["id_number"] not in account.text


# (fields, the roles that may)
ACTS = [({"what": "cash", "amount": "5000"}, ("administrator", "manager", "cashier")),
        ({"what": "online", "amount": "5000"}, ("administrator", "manager")),
        ({"what": "lost"}, ("administrator", "manager", "cashier"))]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("fields, may", ACTS, ids=lambda a: a if isinstance(a, str) else "")
def test_every_role_against_every_card_act(desk, role, fields, may):
    ledger, service, app, asn = desk
    client, token = logged_in(app, role)
    before = len(service.audit(LOCAL))
    response = client.post("/cards", data=dict(fields, card=asn, csrf=token,
                                               version=str(service.card_version(LOCAL, asn))))
    if role in may:
        assert response.status_code == 200, response.text
        assert service.audit(LOCAL)[-1]["who"] == role
        if fields["what"] == "lost":
            assert ledger.listed(asn)
        else:
            assert service.card(LOCAL, asn)["waiting"] == 5000
    else:
        assert response.status_code == 403
        assert len(service.audit(LOCAL)) == before and not ledger.listed(asn)


@pytest.mark.parametrize("fields, why", [
    ({"what": "cash", "amount": "-5"}, "amount must be from 1"),
    ({"what": "cash", "amount": "ten"}, "amount must be a whole number"),
    ({"what": "cash", "amount": "5", "card": "6200000000000099"}, "no card 6200"),
    ({"what": "unblock", "id_last4": "1234"}, "is not reported lost"),
    ({"what": "burn"}, "unknown change"),
])
def test_a_bad_card_act_changes_nothing_with_a_clear_error(desk, fields, why):
    ledger, service, app, asn = desk
    client, token = logged_in(app, "manager")
    before = len(service.audit(LOCAL))
    version = service.card_version(LOCAL, fields.get("card", asn))  # as its form has it
    response = client.post("/cards", data=dict(dict(card=asn, csrf=token,
                                                    version=str(version)), **fields))
    assert response.status_code == 400 and why in response.text
    assert len(service.audit(LOCAL)) == before
