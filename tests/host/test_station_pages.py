"""The back office's station pages (station/web/station_pages.py) and what changed on the
others with them: every role against every new page and form (the server refuses, with
nothing changed), CSRF, bad input that changes nothing with a clear error (in the
operator's language), the audit record, the hotlist masked but for administrators, the
alarms acknowledged, commands' states and terminals' unsynced counts."""
import html
import re
import string

import pytest
from cardbench import HOLDER, blank, masters
from starlette.testclient import TestClient
from webstation import LOCAL, PASSWORD, ROLES, open_station

from pumpside_host.station.payments.orders import Orders
from pumpside_host.station.problems import MESSAGES
from pumpside_host.station.web import load_secret, make_app
from pumpside_host.station.web.i18n import PROBLEMS_ZH

ASN = "6200000000000017"
OTHER = "6200000000000025"
LOYAL = "6200000000000041"  # a card with points and a pending voucher "seed"
JOURNAL = "00112233aabbccdd"
CARD = "6200000000000001"  # the card the fixture issues (the desk's first number)


@pytest.fixture
def station(tmp_path):
    ledger, service = open_station(tmp_path)
    service.set_price(LOCAL, "95", 7100)
    service.hotlist(LOCAL, ASN)
    ledger.journals.raise_alarm("P1", "conflict", "FINAL of sale 3 differs")  # alarm 1
    service.set_loyalty_rule(LOCAL, "grade", "*", 1)  # loyalty (web/loyalty.py)
    ledger.store("P7", [{"type": "FINAL", "seq": 1, "sale": 1, "ml": 9000, "amount": 9000,
                         "asn": LOYAL, "tac": "01020304", "grade": "92"}])
    service.add_reward(LOCAL, "five off", "amount", 500, 20)
    service.redeem(LOCAL, LOYAL, 1, "seed")
    service.set_tank(LOCAL, 1, "92", 20000, 2000, 500)
    ledger.cards.set_masters(masters())
    assert service.card_issue(LOCAL, blank()[1], "registered", "2580", **HOLDER) == CARD
    # the till (web/till.py): an attended sale unpaid (the ledger's row 2), a prepaid
    # order the pump used 30.00 of: 20.00 change owed
    ledger.store("P7", [{"type": "FINAL", "seq": 2, "sale": 2, "ml": 2000, "amount": 1300,
                         "grade": "92", "nozzle": 1}])
    order = service.till_prepay(LOCAL, "P1", 2, 5000, "cash")
    Orders(ledger.db).settle(order["order_no"], 3000)
    app = make_app(ledger, load_secret(ledger.path), service)
    yield ledger, service, app
    ledger.close()


def csrf(response):
    return re.search(r'name="csrf" value="([^"]+)"', response.text).group(1)


def logged_in(app, role, lang=None):
    client = TestClient(app, follow_redirects=True)
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf(page), "name": role,
                                           "password": PASSWORD})
    assert response.status_code == 200 and role in response.text
    token = csrf(response)
    if lang:
        client.post("/lang", data={"csrf": token, "lang": lang})
    return client, token


def dump(ledger):
    return list(ledger.db.iterdump())


def versioned(service, path, fields):
    """The fields as a form loaded now sends them: its `version` of what it changes
    (unless the fields give one); "CARD": the card the fixture issued."""
    if fields.get("card") == "CARD":
        fields = dict(fields, card=service.cards(LOCAL)[0])
    if fields.get("order") == "ORDER":  # the fixture's till order with change owed
        fields = dict(fields, order=service.till(LOCAL)["change"][0]["order_no"])
    if path not in VERSION_OF or "version" in fields:
        return dict(fields)
    return dict(fields, version=str(VERSION_OF[path](service)))


VERSION_OF = {
    "/prices": lambda service: service.prices(LOCAL)["version"],
    "/nozzles": lambda service: service.prices(LOCAL)["version"],
    "/commands": lambda service: service.version_of(LOCAL, "command"),
    "/operators": lambda service: service.version_of(LOCAL, "operator"),
    "/hotlist": lambda service: service.hotlist_cards(LOCAL, 0, 0)["version"],
    "/parameters": lambda service: service.params(LOCAL)["version"],
    "/tanks": lambda service: service.version_of(LOCAL, "tanks"),
    "/cards": lambda service: service.card_version(LOCAL, service.cards(LOCAL)[0]),
    "/till/setting": lambda service: service.till(LOCAL)["version"],
}


def said(response):
    """The page's error or done line."""
    found = re.search(r'id="(?:error|done)">([^<]*)<', response.text)
    return html.unescape(found.group(1)) if found else ""


# each new mutating form: (path, fields, the roles that may, the audit action)
FORMS = [
    ("/hotlist", {"what": "add", "asn": OTHER}, ("administrator", "manager"), "hotlist-add"),
    ("/hotlist", {"what": "remove", "asn": ASN}, ("administrator", "manager"),
     "hotlist-remove"),
    ("/parameters", {"name": "max_unsynced_sales", "value": "500", "version": "0"},
     ("administrator", "manager"), "params"),
    ("/nozzles", {"terminal": "P1", "nozzle": "2", "grade": "95"},
     ("administrator", "manager"), "nozzle"),
    ("/alarms", {"id": "1"}, ("administrator", "manager"), "alarm-ack"),
    ("/tanks", {"what": "tank", "tank": "2", "grade": "95", "capacity": "30000",
                "low": "3000", "suction": "600"}, ("administrator", "manager"), "tank"),
    ("/tanks", {"what": "delivery", "tank": "1", "supplier": "Sinopec", "ordered": "5000",
                "delivered": "4990", "temp": "15.0"}, ("administrator", "manager"),
     "delivery"),
    ("/tanks", {"what": "dip", "tank": "1", "height": "100"}, ("administrator", "manager"),
     "dip"),
    ("/cards", {"what": "cash", "card": "CARD", "amount": "5000"},
     ("administrator", "manager", "cashier"), "card-fund"),
    ("/cards", {"what": "online", "card": "CARD", "amount": "5000"},
     ("administrator", "manager"), "card-fund"),
    ("/cards", {"what": "lost", "card": "CARD"}, ("administrator", "manager", "cashier"),
     "card-lost"),
    ("/loyalty", {"what": "rule", "rule": "grade", "key": "92", "value": "2"},
     ("administrator", "manager"), "loyalty-rule"),
    ("/loyalty", {"what": "reward", "name": "wash", "kind": "amount", "value": "300",
                  "cost": "10"}, ("administrator", "manager"), "loyalty-reward-add"),
    ("/loyalty", {"what": "redeem", "card": LOYAL, "reward": "1", "redemption": "w-1"},
     ("administrator", "manager", "cashier"), "loyalty-redeem"),
    ("/loyalty", {"what": "cancel", "card": LOYAL, "redemption": "seed"},
     ("administrator", "manager"), "loyalty-cancel"),
    ("/fleet", {"what": "company", "name": "Swift Haulage", "contact": "Wang",
                "mode": "credit", "credit_limit": "50000"}, ("administrator", "manager"),
     "fleet-company"),
    ("/till", {"what": "pay", "sale": "2", "kind": "cash"},
     ("administrator", "manager", "cashier"), "till-pay"),
    ("/till", {"what": "prepay", "terminal": "P1", "pump": "1", "amount": "20.00",
               "kind": "till-card"}, ("administrator", "manager", "cashier"), "till-prepay"),
    ("/till", {"what": "change", "order": "ORDER"}, ("administrator", "manager", "cashier"),
     "till-change"),
    ("/till/setting", {"refuse_next": "off"}, ("administrator", "manager"), "till-setting"),
]
PAGES = ("/hotlist", "/parameters", "/metrology", "/metrology?pump=P1", "/alarms",
         "/alarms/rows", "/loyalty", "/loyalty?card=" + LOYAL, "/fleet")
TILL_PAGE = "/till"  # the till's: a cashier's, a manager's, an administrator's


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("form", FORMS, ids=lambda f: f[3])
def test_every_role_against_every_new_form(station, role, form):
    ledger, service, app = station
    path, fields, may, action = form
    client, token = logged_in(app, role)
    before, records = dump(ledger), len(service.audit(LOCAL))
    response = client.post(path, data=dict(versioned(service, path, fields), csrf=token))
    if role in may:
        assert response.status_code == 200, said(response)
        assert dump(ledger) != before
        record = service.audit(LOCAL)[-1]
        assert len(service.audit(LOCAL)) == records + 1
        assert (record["who"], record["role"], record["action"]) == (role, role, action)
    else:
        assert response.status_code == 403
        assert "may not" in response.text
        assert dump(ledger) == before  # nothing, not even an audit record


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_every_new_page(station, role):
    _ledger, _service, app = station
    client, _token = logged_in(app, role)
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    rows = client.get("/commands/rows").status_code
    assert rows == (200 if role in ("administrator", "manager") else 403)
    till = client.get(TILL_PAGE)
    assert till.status_code == (403 if role == "auditor" else 200)
    assert ('id="till-setting"' in till.text) == (role in ("administrator", "manager"))
    rows = client.get(TILL_PAGE + "/rows")  # the rows the page polls
    assert rows.status_code == (403 if role == "auditor" else 200)
    if role != "auditor":
        assert 'data-sale="2"' in rows.text and "<html" not in rows.text
    change = client.get(TILL_PAGE + "/change")  # the change owed's rows, polled too
    assert change.status_code == (403 if role == "auditor" else 200)
    if role != "auditor":
        assert "<html" not in change.text and "<tr data-order=" in change.text
        assert "50.00 (cash)" in change.text  # the kind in words, never its "pay:" key
        assert "pay:" not in till.text and ">Bank card (till)</button>" in till.text


def test_new_pages_need_a_session(station):
    ledger, _service, app = station
    client = TestClient(app, follow_redirects=False)
    for path in PAGES + ("/commands/rows", TILL_PAGE, TILL_PAGE + "/rows",
                         TILL_PAGE + "/change"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login"
    before = dump(ledger)
    token = csrf(client.get("/login"))
    for path, fields, _may, _action in FORMS:
        assert client.post(path, data=dict(fields, csrf=token)).status_code == 403
    assert dump(ledger) == before


@pytest.mark.parametrize("token", [None, "", "forged-token"])
@pytest.mark.parametrize("form", FORMS, ids=lambda f: f[3])
def test_a_new_form_without_the_sessions_csrf_token_is_refused(station, form, token):
    ledger, _service, app = station
    path, fields, _may, _action = form
    client, _good = logged_in(app, "administrator")
    before = dump(ledger)
    if token is not None:
        fields = dict(fields, csrf=token)
    response = client.post(path, data=fields)
    assert response.status_code == 403 and "CSRF" in response.text
    assert dump(ledger) == before


# bad input on each new form: the fields, the status, what the error says
BAD = [
    ("/hotlist", {"what": "add", "asn": "62000000"}, 400, "a card number is 16 digits"),
    ("/hotlist", {"what": "add", "asn": "620000000000001x"}, 400, "16 digits"),
    ("/hotlist", {"what": "add"}, 400, "asn is missing"),
    ("/hotlist", {"what": "burn", "asn": OTHER}, 400, "what must be one of add, remove"),
    ("/hotlist", {"what": "add", "asn": ASN}, 400, "6200********0017 is on the hotlist"),
    ("/hotlist", {"what": "remove", "asn": OTHER}, 400,
     "6200********0025 is not on the hotlist"),
    ("/parameters", {"name": "max_unsynced_sales", "value": "lots", "version": "0"}, 400,
     "value must be a whole number"),
    ("/parameters", {"name": "max_unsynced_sales", "value": "0", "version": "0"}, 400,
     "config max_unsynced_sales: must be >= 1"),
    ("/parameters", {"name": "max_unsynced_sales", "value": "99999999", "version": "0"},
     400, "must be <= 100000"),
    ("/parameters", {"name": "k_factor", "value": "100000", "version": "0"}, 400,
     "k_factor: not settable by the station"),
    ("/parameters", {"name": "terminal_key", "value": "00", "version": "0"}, 400,
     "not settable by the station"),
    ("/parameters", {"name": "flux_capacitor", "value": "1", "version": "0"}, 400,
     "flux_capacitor: no such parameter"),
    ("/parameters", {"name": "max_unsynced_sales", "value": "500", "version": ""}, 400,
     "version must be a whole number"),
    ("/parameters", {"name": "max_unsynced_sales", "value": "500", "version": "7"}, 409,
     "the parameters changed since this form was loaded (version 7, now 0)"),
    ("/nozzles", {"terminal": "P9", "nozzle": "1", "grade": "92"}, 400,
     "no terminal P9 registered"),
    ("/nozzles", {"terminal": "P1", "nozzle": "0", "grade": "92"}, 400,
     "nozzle must be from 1 to 99"),
    ("/nozzles", {"terminal": "P1", "nozzle": "one", "grade": "92"}, 400,
     "nozzle must be a whole number"),
    ("/nozzles", {"terminal": "P1", "nozzle": "1", "grade": "98"}, 400,
     "no price for grade 98: set one first"),
    ("/nozzles", {"terminal": "P1", "nozzle": "1", "grade": "123456789"}, 400,
     "a grade code is 1-8 characters"),
    ("/alarms", {"id": "77"}, 400, "no station alarm 77"),
    ("/alarms", {"id": "first"}, 400, "id must be a whole number"),
    ("/alarms", {}, 400, "id must be a whole number"),
    ("/loyalty", {"what": "rule", "rule": "double_day", "key": "someday", "value": "1"}, 400,
     "a double-points day is a date YYYY-MM-DD or a weekday mon-sun"),
    ("/loyalty", {"what": "rule", "rule": "grade", "key": "92", "value": "two"}, 400,
     "value must be a whole number"),
    ("/loyalty", {"what": "reward", "name": "x", "kind": "free", "value": "1", "cost": "1"},
     400, "a reward is one of percent, amount"),
    ("/loyalty", {"what": "redeem", "card": OTHER, "reward": "1", "redemption": "w-3"}, 400,
     "the card has 0 points, the reward costs 20"),
    ("/loyalty", {"what": "redeem", "card": "6200", "reward": "1", "redemption": "w-4"}, 400,
     "a card number is 16 digits"),
    ("/loyalty", {"what": "redeem", "card": LOYAL, "reward": "9", "redemption": "w-5"}, 400,
     "no reward 9"),
    ("/loyalty", {"what": "cancel", "card": LOYAL, "redemption": "nope"}, 400,
     "no redemption nope"),
    ("/loyalty", {"what": "burn"}, 400, "what must be one of rule, reward, redeem, cancel"),
    ("/till", {"what": "pay", "sale": "2", "kind": "gold"}, 400,
     "a payment at the till is one of cash, till-card"),
    ("/till", {"what": "pay", "sale": "99", "kind": "cash"}, 400,
     "no sale 99 waits for payment"),
    ("/till", {"what": "pay", "sale": "1", "kind": "cash"}, 400,
     "no sale 1 waits for payment"),  # a card's sale: never the till's
    ("/till", {"what": "pay", "sale": "two", "kind": "cash"}, 400,
     "sale must be a whole number"),
    ("/till", {"what": "prepay", "terminal": "P9", "pump": "1", "amount": "20",
               "kind": "cash"}, 400, "no terminal P9 registered"),
    ("/till", {"what": "prepay", "terminal": "P1", "pump": "1", "amount": "lots",
               "kind": "cash"}, 400, "amount must be a number"),
    ("/till", {"what": "prepay", "terminal": "P1", "pump": "1", "amount": "20.001",
               "kind": "cash"}, 400, "amount: too many decimals"),
    ("/till", {"what": "prepay", "terminal": "P1", "pump": "1", "amount": "0",
               "kind": "cash"}, 400, "amount is out of range"),
    ("/till", {"what": "prepay", "terminal": "P1", "pump": "1", "amount": "99999",
               "kind": "cash"}, 400, "a prepaid amount is 0.01 to 5000.00"),
    ("/till", {"what": "prepay", "terminal": "P1", "pump": "1", "amount": "20",
               "kind": "gold"}, 400, "a payment at the till is one of cash, till-card"),
    ("/till", {"what": "change", "order": "nope"}, 400, "no change is owed on order nope"),
    ("/till", {"what": "burn"}, 400, "what must be one of pay, prepay, change"),
    ("/till/setting", {"refuse_next": "maybe"}, 400, "refuse_next must be one of on, off"),
    ("/till/setting", {"refuse_next": "on", "version": "7"}, 409,
     "the till's setting changed since this form was loaded (version 7, now 0)"),
]


@pytest.mark.parametrize("path,fields,status,why", BAD, ids=lambda v: str(v)[:30])
def test_bad_input_on_a_new_form_changes_nothing_with_a_clear_error(station, path, fields,
                                                                      status, why):
    ledger, service, app = station
    client, token = logged_in(app, "administrator")
    before = dump(ledger)
    response = client.post(path, data=dict(versioned(service, path, fields), csrf=token))
    assert response.status_code == status and why in said(response), said(response)
    assert dump(ledger) == before


def test_an_alarm_acknowledged_twice_is_refused_the_second_time(station):
    ledger, service, app = station
    client, token = logged_in(app, "manager")
    assert client.post("/alarms", data={"csrf": token, "id": "1"}).status_code == 200
    before = dump(ledger)
    response = client.post("/alarms", data={"csrf": token, "id": "1"})
    assert response.status_code == 400
    assert "station alarm 1 was acknowledged already (by manager)" in said(response)
    assert dump(ledger) == before


def test_an_acknowledged_alarm_leaves_the_forecourt_and_stays_on_the_alarms_page(station):
    ledger, service, app = station
    client, token = logged_in(app, "manager")
    assert client.get("/forecourt.json").json()["pumps"] == []  # no HELLO yet: no row
    ledger.hello("P1", "1.0", "abc", 1000)
    pump = client.get("/forecourt.json").json()["pumps"][0]
    assert pump["station_alarms"] == 1 and "differs" in pump["station_alarm"]
    rows = client.get("/alarms/rows").text
    assert 'data-alarm="1" class="open"' in rows and "Acknowledge" in rows
    client.post("/alarms", data={"csrf": token, "id": "1"})
    assert client.get("/forecourt.json").json()["pumps"][0]["station_alarms"] == 0
    rows = client.get("/alarms/rows").text
    assert 'data-alarm="1" class="acked"' in rows and "Acknowledged: manager" in rows
    record = service.audit(LOCAL)[-1]
    assert (record["target"], record["old"], record["new"]) == (
        "alarm 1 of P1", "open: conflict: FINAL of sale 3 differs", "acknowledged")


def test_a_cashier_sees_the_alarms_without_the_acknowledge_button(station):
    _ledger, _service, app = station
    client, _token = logged_in(app, "cashier")
    rows = client.get("/alarms/rows").text
    assert 'data-alarm="1"' in rows and "Acknowledge" not in rows


@pytest.mark.parametrize("role", ROLES)
def test_the_hotlist_shows_card_numbers_masked_except_to_administrators(station, role):
    _ledger, _service, app = station
    client, _token = logged_in(app, role)
    page = client.get("/hotlist").text
    assert 'id="listed-count">1<' in page
    if role == "administrator":
        assert ASN in page
    else:
        assert ASN not in page and "6200********0017" in page
    assert ('id="hotlist-add"' in page) == (role in ("administrator", "manager"))


def test_the_parameters_page_shows_the_values_set_and_the_nozzle_map(station):
    ledger, service, app = station
    service.set_params(LOCAL, {"max_unsynced_sales": 750})
    service.set_nozzle(LOCAL, "P1", 2, "95")
    client, token = logged_in(app, "auditor")
    page = client.get("/parameters").text
    assert re.search(r'data-param="max_unsynced_sales"><td>max_unsynced_sales</td>\s*'
                     r'<td class="value">750<', page)
    assert "<td>P1</td><td>2</td><td>95</td>" in page
    assert 'name="k_factor"' not in page and ">k_factor<" not in page  # legal: not here
    assert 'id="set-param"' not in page  # an auditor reads only


def test_the_metrology_page_shows_totals_and_the_event_log_of_a_pump(station):
    ledger, _service, app = station
    from pumpside import events as evlog

    ledger.metrology.reading("P1", {"nozzle": 1, "seq": 0, "volume_ml": 123456,
                                    "amount": 98765, "grade": "92"})
    item = {"n": 1, "t": 1795000000, "who": "tech", "what": "max_unsynced_sales",
            "old": 2000, "new": 500, "prev": evlog.GENESIS}
    item["h"] = evlog.record_hash(evlog.GENESIS, 1, item["t"], "tech", item["what"], 2000, 500)
    assert ledger.metrology.store_events("P1", [item])["ok"]
    client, _token = logged_in(app, "cashier")
    page = client.get("/metrology?pump=P1").text
    assert "123.456" in page and "987.65" in page and "baseline" in page
    assert "<td>tech</td><td>max_unsynced_sales</td><td>2000</td><td>500</td>" in page
    response = client.get("/metrology?pump=P9")
    assert response.status_code == 400 and "no terminal P9 registered" in said(response)


def test_commands_show_their_state_as_the_terminal_answers(station):
    ledger, service, app = station
    client, _token = logged_in(app, "manager")
    cid = service.command(LOCAL, "P1", "stop")
    other = service.command(LOCAL, "P1", "lock")

    def state(command_id):
        row = re.search(r'<tr data-command="%d" class="(\w+)">' % command_id,
                        client.get("/commands/rows").text)
        return row.group(1)
    assert state(cid) == "queued"
    ledger.pending_commands("P1")  # with the heartbeat
    assert state(cid) == "sent"
    ledger.command_done(cid, True, "", "P1")
    ledger.command_done(other, False, "no sale to stop", "P1")
    assert state(cid) == "done" and state(other) == "failed"
    assert "no sale to stop" in client.get("/commands/rows").text
    page = client.get("/commands").text
    assert 'data-live="/commands/rows"' in page and "/static/live.js" in page


def test_the_terminals_page_counts_what_a_pump_had_yet_to_send(station):
    ledger, _service, app = station
    client, _token = logged_in(app, "cashier")

    def unsynced():
        return re.search(r'<td class="unsynced">([^<]*)<', client.get("/terminals").text
                         ).group(1)
    assert unsynced() == "-"  # never connected: not known
    ledger.journals.seen("P1", JOURNAL)
    ledger.hello("P1", "1.0", "abc", 1000, journal_seq=5)  # its journal holds 5 records
    assert unsynced() == "5"
    ledger.store("P1", [{"type": "FINAL", "seq": 3, "sale": 1, "ml": 1000,
                         "amount": 650}], JOURNAL)
    assert unsynced() == "2"
    ledger.store("P1", [{"type": "FINAL", "seq": 6, "sale": 2, "ml": 1000,
                         "amount": 650}], JOURNAL)  # a sale after the HELLO
    assert unsynced() == "0"


def test_refusals_and_bad_input_are_said_in_the_operators_language(station):
    ledger, _service, app = station
    client, token = logged_in(app, "cashier", lang="zh")
    response = client.post("/alarms", data={"csrf": token, "id": "1"})
    assert response.status_code == 403
    assert "操作员 cashier（收银员）无权确认站级报警：需要 管理员 或 经理" in response.text
    client, token = logged_in(app, "manager", lang="zh")
    response = client.post("/nozzles", data={"csrf": token, "terminal": "P9", "nozzle": "1",
                                             "grade": "92", "version": "2"})
    assert response.status_code == 400 and said(response) == "终端 P9 未注册"
    response = client.post("/prices", data={"csrf": token, "grade": "92", "price": "x",
                                            "version": "2"})
    assert said(response) == "price 必须是整数"
    client, token = logged_in(app, "manager", lang="en")
    response = client.post("/nozzles", data={"csrf": token, "terminal": "P9", "nozzle": "1",
                                             "grade": "92", "version": "2"})
    assert said(response) == "no terminal P9 registered"


def test_every_problem_has_its_chinese_with_the_same_parameters():
    def names(text):
        return sorted(name for _lit, name, _spec, _conv in string.Formatter().parse(text)
                      if name)
    assert set(PROBLEMS_ZH) == set(MESSAGES)
    for code, text in MESSAGES.items():
        assert names(PROBLEMS_ZH[code]) == names(text), code


def test_the_hotlist_pages_by_position_for_every_role(station, monkeypatch):
    ledger, _service, app = station
    from pumpside_host.station.web import station_pages

    monkeypatch.setattr(station_pages, "HOTLIST_PAGE", 2)
    ledger.hotlist_changes(["62000000000001%02d" % n for n in range(30, 33)], True)
    client, _token = logged_in(app, "cashier")
    first = client.get("/hotlist").text
    assert first.count('<td class="card">') == 2 and 'href="/hotlist?skip=2"' in first
    second = client.get("/hotlist?skip=2").text
    assert second.count('<td class="card">') == 2 and 'id="next"' not in second
    assert "6200********0132" in second and "6200000000000132" not in second
    response = client.get("/hotlist?skip=two")
    assert response.status_code == 400 and said(response) == "skip must be a whole number"


def hidden_fields(page, form_id):
    """The page's form `form_id`: where it posts and its hidden fields (as the browser
    would send them)."""
    form = re.search(r'(?s)<form[^>]*action="([^"]+)"[^>]*id="%s">(.*?)</form>' % form_id,
                     page)
    return form.group(1), dict(re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))


# each mutating form: the page that holds it, its id there, what the operator fills in,
# a change made meanwhile elsewhere (a second tab, a colleague, the CLI), and what the
# refusal says
STALE = [
    ("/prices", "set-price", {"grade": "92", "price": "6400"},
     lambda s: s.set_price(LOCAL, "95", 7000), "the prices changed since this form"),
    ("/commands", "send-command", {"terminal": "P1", "cmd": "stop"},
     lambda s: s.command(LOCAL, "P1", "lock"), "the commands changed since this form"),
    ("/hotlist", "hotlist-add", {"asn": OTHER},
     lambda s: s.hotlist(LOCAL, "6200000000000033"), "the hotlist changed since this form"),
    ("/hotlist", "hotlist-remove", {"asn": ASN},
     lambda s: s.hotlist(LOCAL, "6200000000000033"), "the hotlist changed since this form"),
    ("/parameters", "set-param", {"name": "max_unsynced_sales", "value": "500"},
     lambda s: s.set_params(LOCAL, {"max_unsynced_sales": 400}),
     "the parameters changed since this form"),
    ("/parameters", "map-nozzle", {"terminal": "P1", "nozzle": "2", "grade": "95"},
     lambda s: s.set_nozzle(LOCAL, "P1", 2, "92"), "the nozzle map changed since this form"),
    ("/operators", "add-operator", {"name": "eve", "role": "cashier", "password": PASSWORD},
     lambda s: s.set_role(LOCAL, "cashier", "auditor"),
     "the operators changed since this form"),
    ("/operators", "set-password", {"name": "cashier", "password": "another password"},
     lambda s: s.set_disabled(LOCAL, "cashier"), "the operators changed since this form"),
    ("/tanks", "tank-form", {"tank": "1", "grade": "92", "capacity": "21000", "low": "2000",
                             "suction": "500"},
     lambda s: s.set_tank(LOCAL, 2, "95", 30000, 3000, 600), "the tanks changed since this form"),
    ("/cards?card=" + CARD, "card-act", {"what": "cash", "amount": "100"},
     lambda s: s.card_fund(LOCAL, CARD, 500), "the card changed since this form"),
    ("/alarms", "ack-1", {}, lambda s: s.ack_alarm(LOCAL, 1),
     "station alarm 1 was acknowledged already (by local:test)"),
    ("/till", "pay-2", {"kind": "cash"}, lambda s: s.till_pay(LOCAL, 2, "till-card"),
     "sale 2 was paid already (till-card): nothing was taken again"),
    ("/till", "change-1", {}, lambda s: s.till_change(
        LOCAL, s.till(LOCAL)["change"][0]["order_no"]), "was handed over already"),
    ("/till", "till-setting", {"refuse_next": "off"},
     lambda s: s.set_till_refuse_next(LOCAL, False),
     "the till's setting changed since this form"),
]
ONCE = ("ack-1", "pay-2", "change-1")  # what they act on is gone: no form to reload


@pytest.mark.parametrize("path,form_id,fields,meanwhile,why", STALE,
                         ids=lambda v: v if isinstance(v, str) and "-" in v else "")
def test_a_stale_form_from_a_second_tab_changes_nothing_with_a_clear_error(
        station, path, form_id, fields, meanwhile, why):
    ledger, service, app = station
    client, _token = logged_in(app, "administrator")
    action, loaded = hidden_fields(client.get(path).text, form_id)  # the first tab
    meanwhile(service)
    before = dump(ledger)
    response = client.post(action, data=dict(loaded, **fields))
    assert response.status_code in (400, 409) and why in said(response), said(response)
    assert dump(ledger) == before  # nothing, not even an audit record
    if form_id not in ONCE:  # reloaded, the form goes through
        action, reloaded = hidden_fields(client.get(path).text, form_id)
        assert client.post(action, data=dict(reloaded, **fields)).status_code == 200


def post_routes(app):
    """The operators' POST routes (the public ones, a phone's and the gateway's, are
    test_pay_web's: no session, their own checks)."""
    from starlette.routing import Route

    from pumpside_host.station.web.pay import PUBLIC_POSTS
    return {route.path for route in app.app.routes  # app: SecurityHeaders(Starlette)
            if isinstance(route, Route) and "POST" in (route.methods or ())
            and route.path not in PUBLIC_POSTS}


def test_every_changing_route_is_in_the_role_tests(station):
    """A form added to the back office without its role test fails here."""
    from test_station_web import FORMS as FIRST_FORMS
    from test_station_web_cards import ACTS as CARD_ACTS
    from test_station_web_tanks import FORMS as TANK_FORMS

    _ledger, _service, app = station
    tested = {form[0] for form in FORMS} | {form[0] for form in FIRST_FORMS} | (
        {"/tanks"} if TANK_FORMS else set()) | ({"/cards"} if CARD_ACTS else set())
    assert post_routes(app) - {"/login", "/logout", "/lang"} == tested


def test_every_post_route_refuses_a_missing_or_forged_csrf_token(station):
    ledger, _service, app = station
    client, _good = logged_in(app, "administrator")
    fields = {"grade": "95", "price": "7100", "version": "2", "terminal": "P1", "cmd": "stop",
              "what": "add", "asn": OTHER, "name": "max_unsynced_sales", "value": "9",
              "nozzle": "2", "id": "1", "role": "cashier", "password": PASSWORD,
              "lang": "zh"}
    for path in sorted(post_routes(app)):
        for token in (None, "forged-token"):
            before = dump(ledger)
            data = dict(fields, **({"csrf": token} if token else {}))
            response = client.post(path, data=data, follow_redirects=False)
            assert response.status_code == 403, path
            assert dump(ledger) == before, path
    assert client.get("/").status_code == 200  # still logged in: /logout refused too


def test_nothing_the_pages_load_comes_from_another_origin():
    """No CDN: every script, style, image and font the pages name is this origin's."""
    from pumpside_host.station.web import HERE
    files = list((HERE / "templates").glob("*.html")) + [
        f for f in (HERE / "static").iterdir()
        if f.suffix in (".js", ".css") and not f.name.endswith(".min.js")]
    for f in files:
        text = f.read_text()
        assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", text), f
        assert not re.search(r"""url\(\s*["']?(https?:)?//|@import|fetch\(\s*["']https?:""",
                             text), f


def test_the_terminals_page_shows_software_id_firmware_last_seen_journal_and_link(station):
    ledger, _service, app = station
    client, _token = logged_in(app, "cashier")
    ledger.journals.seen("P1", JOURNAL)
    ledger.hello("P1", "pumpside-0.5", "37213f709427c507", 1000, link="plain",
                 journal_seq=0)
    page = client.get("/terminals").text
    row = re.search(r"(?s)<tbody>\s*<tr>(.*?)</tr>", page).group(1)
    cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>([^<]*)</td>", row)]
    assert cells[:3] == ["P1", "37213f709427c507", "pumpside-0.5"]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", cells[3])  # last seen: a time
    assert cells[4:6] == [JOURNAL, "PLAIN (unencrypted)"]


@pytest.mark.parametrize("path,fields,upload,why", [
    ("/prices", {"grade": "95"}, "price", "price must be a whole number"),
    ("/prices", {"price": "7100"}, "grade", "grade is missing"),
    ("/commands", {"cmd": "stop"}, "terminal", "terminal is missing"),
    ("/hotlist", {"what": "add"}, "asn", "asn is missing"),
    ("/parameters", {"name": "max_unsynced_sales"}, "value", "value is missing"),
    ("/nozzles", {"terminal": "P1", "grade": "92"}, "nozzle", "nozzle must be a whole number"),
    ("/alarms", {}, "id", "id must be a whole number"),
    ("/operators", {"what": "add", "name": "eve", "role": "cashier"}, "password",
     "password is missing"),
])
def test_a_file_where_a_form_wants_text_changes_nothing(station, path, fields, upload, why):
    """A wrong type in a form (a file uploaded where a field is text) is bad input."""
    ledger, service, app = station
    client, token = logged_in(app, "administrator")
    before = dump(ledger)
    response = client.post(path, data=dict(versioned(service, path, fields), csrf=token),
                           files={upload: ("x.txt", b"1", "text/plain")})
    assert response.status_code == 400 and why in said(response), said(response)
    assert dump(ledger) == before


def test_the_sales_page_and_its_csv_show_and_filter_the_payment_kind(station):
    _ledger, _service, app = station
    client, _token = logged_in(app, "cashier", lang="zh")
    page = client.get("/sales")
    assert re.findall(r'<td class="pay">([^<]*)</td>', page.text) == ["未付款", "IC 卡"]
    csv = client.get("/sales?pay=unpaid&format=csv").text.strip().splitlines()
    assert csv[0].endswith(",amount,pay") and len(csv) == 2
    assert csv[1].endswith(",2000,1300,unpaid")


def test_the_till_page_lists_an_unpaid_sale_until_the_cashier_takes_it(station):
    ledger, _service, app = station
    client, token = logged_in(app, "cashier")
    page = client.get("/till")
    assert 'data-sale="2"' in page.text and "13.00" in page.text and "20.00" in page.text
    response = client.post("/till", data={"csrf": token, "what": "pay", "sale": "2",
                                          "kind": "till-card"})
    assert said(response) == "sale 2 of P7: 13.00 taken (till-card)"
    assert 'data-sale="2"' not in response.text
    assert ledger.db.execute("SELECT pay FROM sales WHERE rowid = 2").fetchone() == (
        "till-card",)


def test_the_reports_and_the_shift_show_the_tills_money_in_the_operators_language(station):
    _ledger, service, app = station
    shift = service.close_shift(LOCAL)  # the fixture's prepaid order: 50.00 cash in
    client, _token = logged_in(app, "manager", lang="zh")
    for path, table in (("/shifts/%d" % shift["id"], "shift-till"), ("/reports", "by-till")):
        page = client.get(path)
        found = re.search(r'<table id="%s">(.*?)</table>' % table, page.text, re.S)
        assert found, path
        cells = re.sub(r"<[^>]+>", " ", found.group(1)).split()
        assert cells == ["支付方式", "笔数", "金额", "预付收款", "现金", "1", "50.00", "净额",
                         "现金", "50.00"], (path, cells)


def test_the_till_says_what_it_did_in_chinese(station):
    ledger, _service, app = station
    client, token = logged_in(app, "cashier", lang="zh")
    response = client.post("/till", data={"csrf": token, "what": "pay", "sale": "2",
                                          "kind": "cash"})
    assert said(response) == "P7 交易 2：已收 13.00（现金）"
    response = client.post("/till", data={"csrf": token, "what": "pay", "sale": "2",
                                          "kind": "till-card"})
    assert said(response) == "交易 2 已收款（现金）：未重复收款"
    assert "收银台" in response.text and "待收款交易" in response.text
