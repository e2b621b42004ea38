"""The back office in Chinese: every page and every form's result (a change made, bad
input, a refusal, a stale form, a login refused) says nothing in English that an operator
reads: no label of the English catalogue (i18n.ZH's keys) stands untranslated and no line
matches an English message (problems.MESSAGES, problems.NOTES)."""
import html
import json
import re
import string

import pytest
from argon2 import PasswordHasher
from cardbench import HOLDER, blank, masters
from starlette.testclient import TestClient

from pumpside_host.station.ledger import Ledger
from pumpside_host.station.problems import MESSAGES, NOTES
from pumpside_host.station.service import Actor, Service
from pumpside_host.station.web import PAGES, load_secret, make_app
from pumpside_host.station.web.i18n import NOTES_ZH, ZH

PASSWORD = "a long enough password"
ASN = "6200000000000017"
OTHER = "6200000000000025"
LOCAL = Actor.local("test")
# operators not named as a role (a role's name is a word the page translates)
NAMES = {"administrator": "ada", "manager": "mia", "cashier": "cai", "auditor": "aud"}
CJK = re.compile("[\u4e00-\u9fff]")


@pytest.fixture
def station(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"),
                    hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    service = Service(ledger)
    for role, name in NAMES.items():
        service.add_operator(LOCAL, name, role, PASSWORD)
    service.add_terminal(LOCAL, "P1")
    service.set_price(LOCAL, "92", 6500)
    service.hotlist(LOCAL, ASN)
    service.command(LOCAL, "P1", "stop")
    ledger.journals.raise_alarm("P1", "conflict", "FINAL of sale 3 differs")  # alarm 1
    ledger.store("P1", [{"type": "FINAL", "seq": 1, "sale": 1, "ml": 20000, "amount": 13000,
                         "grade": "92"}])
    service.set_loyalty_rule(LOCAL, "grade", "*", 1)  # loyalty (web/loyalty.py)
    ledger.store("P1", [{"type": "FINAL", "seq": 2, "sale": 2, "ml": 9000, "amount": 9000,
                         "grade": "92", "asn": ASN, "tac": "01020304"}])
    service.add_reward(LOCAL, "five off", "amount", 500, 20)
    service.redeem(LOCAL, ASN, 1, "seed")
    service.set_tank(LOCAL, 1, "92", 20000, 2000, 500)  # a tank with a reading
    service.dip(LOCAL, 1, 800)
    ledger.cards.set_masters(masters())  # a card with a bill waiting, and its flag
    service.card_issue(LOCAL, blank()[1], "registered", "2580", **HOLDER)
    service.card_fund(LOCAL, service.cards(LOCAL)[0], 1000)
    app = make_app(ledger, load_secret(ledger.path), service)
    yield ledger, service, app
    ledger.close()


def csrf(response):
    return re.search(r'name="csrf" value="([^"]+)"', response.text).group(1)


def chinese_client(app):
    client = TestClient(app, follow_redirects=True)
    page = client.get("/login")
    client.post("/lang", data={"csrf": csrf(page), "lang": "zh"})
    return client


def logged_in(app, role):
    client = chinese_client(app)
    response = client.post("/login", data={"csrf": csrf(client.get("/login")),
                                           "name": NAMES[role], "password": PASSWORD})
    assert response.status_code == 200 and "当前用户" in response.text
    return client, csrf(response)


def english_patterns():
    """Each English message as a pattern (its parameters: anything)."""
    out = []
    for text in list(MESSAGES.values()) + list(NOTES.values()):
        parts = [re.escape(literal) + (".+?" if name else "")
                 for literal, name, _spec, _conv in string.Formatter().parse(text)]
        out.append(re.compile("".join(parts)))
    return out


ENGLISH = english_patterns()


def untranslated(text):
    """What an operator reads in this page that is still English."""
    text = re.sub(r"(?s)<script.*?</script>", " ", text)
    found = []
    for node in re.split(r"<[^>]*>", text):
        node = html.unescape(node).strip()
        if not node:
            continue
        if node in ZH:
            found.append(node)
        found += [node for pattern in ENGLISH if pattern.search(node)]
    return found


def said(response):
    found = re.search(r'id="(?:error|done)">([^<]*)<', response.text)
    return html.unescape(found.group(1)) if found else ""


def check(response):
    assert not untranslated(response.text), untranslated(response.text)
    line = said(response)
    assert line and CJK.search(line), line


@pytest.mark.parametrize("role", list(NAMES))
def test_every_page_in_chinese_has_no_english_left(station, role):
    _ledger, _service, app = station
    client, _token = logged_in(app, role)
    paths = [path for path, _label, _what in PAGES] + [
        "/metrology?pump=P1", "/alarms/rows", "/commands/rows", "/sales?grade=92",
        "/sales?from=yesterday", "/sales?pump=P9", "/metrology?pump=P9", "/hotlist?skip=x",
        "/tanks?tank=1", "/cards?card=%s" % CARD(_service), "/cards?card=6200000000000099",
        "/reports?kind=month&value=2026-13", "/reports?kind=week", "/reports?kind=year&value=26",
        "/reports?kind=range&value=2026-03-02&to=2026-03-01", "/reports?kind=day&value=x",
        "/tanks?tank=1&month=2026-13", "/loyalty?card=" + ASN, "/loyalty?card=12"]
    for path in paths:
        response = client.get(path)
        assert response.status_code in (200, 400, 403), path
        assert not untranslated(response.text), (path, untranslated(response.text))
        if response.status_code != 200:
            assert CJK.search(said(response)), path


def test_a_shift_not_there_is_said_in_chinese(station):
    _ledger, _service, app = station
    client, _token = logged_in(app, "cashier")
    response = client.get("/shifts/99")
    assert response.status_code == 404 and said(response) == "没有班次 99"
    assert not untranslated(response.text), untranslated(response.text)


# every form and what it answers: a change made, bad input, a stale form (as a manager or
# an administrator; the versions as the fixture's store has them)
FORMS = [
    ("/prices", {"grade": "95", "price": "7100", "version": "now"}, 200),
    ("/prices", {"grade": "95", "price": "0", "version": "now"}, 400),
    ("/prices", {"grade": "95", "price": "7100", "version": "0"}, 409),
    ("/prices", {"grade": "95", "price": "7100", "at": "2031-05-01T12:30", "version": "now"},
     200),
    ("/prices", {"grade": "95", "price": "7100", "at": "2020-01-01T10:00", "version": "now"},
     400),
    ("/prices", {"grade": "95", "price": "7100", "at": "soon", "version": "now"}, 400),
    ("/commands", {"terminal": "P1", "cmd": "stop", "version": "now"}, 200),
    ("/commands", {"terminal": "P9", "cmd": "stop", "version": "now"}, 400),
    ("/commands", {"terminal": "P1", "cmd": "stop", "version": "0"}, 409),
    ("/hotlist", {"what": "add", "asn": OTHER, "version": "now"}, 200),
    ("/hotlist", {"what": "remove", "asn": ASN, "version": "now"}, 200),
    ("/hotlist", {"what": "add", "asn": ASN, "version": "now"}, 400),
    ("/hotlist", {"what": "remove", "asn": ASN, "version": "0"}, 409),
    ("/parameters", {"name": "max_unsynced_sales", "value": "500", "version": "now"}, 200),
    ("/parameters", {"name": "max_unsynced_sales", "value": "x", "version": "now"}, 400),
    ("/parameters", {"name": "max_unsynced_sales", "value": "500", "version": "3"}, 409),
    ("/nozzles", {"terminal": "P1", "nozzle": "2", "grade": "92", "version": "now"}, 200),
    ("/nozzles", {"terminal": "P1", "nozzle": "0", "grade": "92", "version": "now"}, 400),
    ("/nozzles", {"terminal": "P1", "nozzle": "2", "grade": "92", "version": "0"}, 409),
    ("/alarms", {"id": "1"}, 200),
    ("/alarms", {"id": "9"}, 400),
    ("/tanks", {"what": "tank", "tank": "2", "grade": "95", "capacity": "30000",
                "low": "3000", "suction": "600", "version": "now"}, 200),
    ("/tanks", {"what": "tank", "tank": "2", "grade": "95", "capacity": "30000",
                "low": "3000", "suction": "9000", "version": "now"}, 400),
    ("/tanks", {"what": "tank", "tank": "2", "grade": "123456789", "capacity": "30000",
                "low": "3000", "suction": "600", "version": "now"}, 400),
    ("/tanks", {"what": "dip", "tank": "1", "height": "100"}, 200),
    ("/tanks", {"what": "dip", "tank": "7", "height": "100"}, 400),
    ("/tanks", {"what": "delivery", "tank": "1", "supplier": "Sinopec", "ordered": "5000",
                "delivered": "5000", "temp": "15.0"}, 200),
    ("/tanks", {"what": "delivery", "tank": "1", "supplier": "S" * 65, "ordered": "5000",
                "delivered": "5000", "temp": "15.0"}, 400),
    ("/tanks", {"what": "delivery", "tank": "1", "supplier": "Sinopec", "ordered": "5000",
                "delivered": "5000.0001", "temp": "15.0"}, 400),
    ("/tanks", {"what": "feed", "tank": "1", "terminal": "P1", "nozzle": "3",
                "version": "now"}, 400),
    ("/tanks", {"what": "tank", "tank": "2", "grade": "95", "capacity": "30000",
                "low": "3000", "suction": "600", "version": "0"}, 409),
    ("/tanks", {"what": "burn", "tank": "1"}, 400),
    ("/cards", {"what": "cash", "card": "CARD", "amount": "5000", "version": "now"}, 200),
    ("/cards", {"what": "online", "card": "CARD", "amount": "5000", "version": "now"}, 200),
    ("/cards", {"what": "lost", "card": "CARD", "version": "now"}, 200),
    ("/cards", {"what": "lost", "card": "CARD", "version": "0"}, 409),
    ("/cards", {"what": "unblock", "card": "CARD", "id_last4": "1234",
                "version": "now"}, 400),
    ("/cards", {"what": "lost", "card": "6200000000000099", "version": "0"}, 400),
    ("/cards", {"what": "cash", "card": "CARD", "amount": "0", "version": "now"}, 400),
    ("/alert-rules", {"rule": "large_sale", "enabled": "1", "amount": "50000"}, 200),
    ("/alert-rules", {"rule": "conflict", "enabled": "0"}, 200),
    ("/alert-rules", {"rule": "large_sale", "enabled": "1", "amount": "9" * 14}, 400),
    ("/alert-rules", {"rule": "nonsense"}, 400),
    ("/alert-rules", {"what": "webhook", "url": "https://example.com/hook"}, 200),
    ("/alert-rules", {"what": "webhook", "url": ""}, 200),
    ("/alert-rules", {"what": "webhook", "url": "ftp://example.com"}, 400),
    ("/shifts", {}, 200),
    ("/loyalty", {"what": "rule", "rule": "double_day", "key": "sat", "value": "1"}, 200),
    ("/loyalty", {"what": "rule", "rule": "double_day", "key": "someday", "value": "1"},
     400),
    ("/loyalty", {"what": "reward", "name": "wash", "kind": "percent", "value": "5",
                  "cost": "10"}, 200),
    ("/loyalty", {"what": "reward", "name": "wash", "kind": "free", "value": "5",
                  "cost": "10"}, 400),
    ("/loyalty", {"what": "redeem", "card": ASN, "reward": "1", "redemption": "z1"}, 200),
    ("/loyalty", {"what": "redeem", "card": OTHER, "reward": "1", "redemption": "z2"}, 400),
    ("/loyalty", {"what": "cancel", "card": ASN, "redemption": "seed"}, 200),
    ("/loyalty", {"what": "cancel", "card": ASN, "redemption": "z9"}, 400),
]
OPERATOR_FORMS = [
    ({"what": "add", "name": "eve", "role": "cashier", "password": PASSWORD}, 200),
    ({"what": "role", "name": "cai", "role": "auditor"}, 200),
    ({"what": "disable", "name": "cai"}, 200),
    ({"what": "enable", "name": "cai"}, 200),
    ({"what": "password", "name": "cai", "password": PASSWORD}, 200),
    ({"what": "add", "name": "eve", "role": "cashier", "password": "short"}, 400),
    ({"what": "role", "name": "ada", "role": "cashier"}, 400),  # the last administrator
    ({"what": "password", "name": "cai", "password": PASSWORD, "version": "0"}, 409),
]


def CARD(service):  # noqa: N802 - the card the fixture issued
    return service.cards(LOCAL)[0]


def version_now(service, path):
    """The version a form of `path` loaded now carries."""
    return {"/prices": service.prices(LOCAL)["version"],
            "/nozzles": service.prices(LOCAL)["version"],
            "/commands": service.version_of(LOCAL, "command"),
            "/hotlist": service.hotlist_cards(LOCAL, 0, 0)["version"],
            "/parameters": service.params(LOCAL)["version"],
            "/tanks": service.version_of(LOCAL, "tanks"),
            "/cards": service.card_version(LOCAL, CARD(service))}.get(path)


@pytest.mark.parametrize("path,fields,status", FORMS, ids=lambda v: str(v)[:40])
def test_every_form_result_in_chinese_has_no_english_left(station, path, fields, status):
    _ledger, service, app = station
    client, token = logged_in(app, "manager")
    if fields.get("version") == "now":
        fields = dict(fields, version=str(version_now(service, path)))
    if fields.get("card") == "CARD":
        fields = dict(fields, card=CARD(service))
    response = client.post(path, data=dict(fields, csrf=token))
    assert response.status_code == status, said(response)
    check(response)


@pytest.mark.parametrize("fields,status", OPERATOR_FORMS, ids=lambda v: str(v)[:40])
def test_every_operator_form_result_in_chinese_has_no_english_left(station, fields, status):
    _ledger, _service, app = station
    client, token = logged_in(app, "administrator")
    version = re.search(r'name="version" value="(\d+)"', client.get("/operators").text)
    response = client.post("/operators", data=dict(
        {"version": version.group(1)}, **fields, csrf=token))
    assert response.status_code == status, said(response)
    check(response)


def test_refusals_and_tokens_in_chinese(station):
    _ledger, _service, app = station
    client, token = logged_in(app, "cashier")
    response = client.post("/prices", data={"csrf": token, "grade": "92", "price": "1",
                                            "version": "1"})
    assert response.status_code == 403
    check(response)
    response = client.post("/prices", data={"csrf": "forged", "grade": "92", "price": "1"})
    assert response.status_code == 403
    check(response)


def test_login_refusals_in_chinese(station):
    ledger, _service, app = station
    client = chinese_client(app)
    token = csrf(client.get("/login"))
    for fields in ({"name": "mia", "password": "wrong password!"},
                   {"name": "nobody", "password": PASSWORD}, {"name": "mia"}):
        response = client.post("/login", data=dict(fields, csrf=token))
        assert response.status_code in (400, 403)
        check(response)
    response = client.post("/login", data={"name": "mia", "password": PASSWORD})
    assert response.status_code == 403
    check(response)
    # the delay after too many wrong tries (as operators.verify keeps it)
    ledger.db.execute("UPDATE operators SET failures = 9, failed_at = strftime('%s','now') "
                      "WHERE name = 'mia'")
    response = client.post("/login", data={"csrf": token, "name": "mia",
                                           "password": PASSWORD})
    assert response.status_code == 403 and "秒后再试" in said(response)
    check(response)


def test_every_note_has_its_chinese_with_the_same_parameters():
    def names(text):
        return sorted(name for _lit, name, _spec, _conv in string.Formatter().parse(text)
                      if name)
    assert set(NOTES_ZH) == set(NOTES)
    for code, text in NOTES.items():
        assert names(NOTES_ZH[code]) == names(text), code


def test_every_label_a_template_translates_has_its_chinese():
    from pumpside_host.station.web import HERE
    for template in (HERE / "templates").glob("*.html"):
        for label in re.findall(r"\bt\('([^']+)'\)", template.read_text()):
            assert label in ZH, (template.name, label)


def test_the_pumps_states_and_alarm_kinds_are_said_in_chinese(station):
    import inspect

    from pumpside import ifsf
    from pumpside_host.station.web import IFSF_STATES

    said_by_firmware = set(re.findall(r'"([A-Z][a-z]+)"', inspect.getsource(ifsf.ifsf_state)))
    assert said_by_firmware == set(IFSF_STATES)
    ledger, _service, app = station
    ledger.set_status("P1", {"state": "Fuelling", "nozzle": 1, "ml": 1500, "amount": 975,
                             "alarm": ""})
    client, _token = logged_in(app, "cashier")
    page = client.get("/").text
    assert '<td class="state">加油中</td>' in page
    words = json.loads(re.search(r'<script id="words" type="application/json">(.*?)</script>',
                                 page).group(1))
    assert words["states"] == {state: ZH[state] for state in IFSF_STATES}  # live updates
    assert "<td>记录冲突</td>" in client.get("/alarms").text
