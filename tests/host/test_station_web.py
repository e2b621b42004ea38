"""The back office (station/web): every role against every page and every form (the
server refuses, whatever the menu shows), CSRF, sessions, bad input that changes nothing.
Starlette's TestClient, no browser (the browser tests are tests/e2e/test_web_e2e.py)."""
import os
import re
import sqlite3
import tempfile

import pytest
from starlette.testclient import TestClient
from webstation import LOCAL, PASSWORD, ROLES, open_station

from pumpside_host.station.web import SESSION_COOKIE, load_secret, make_app, secret_file

ASN = "6200000000000017"


@pytest.fixture
def station(tmp_path):
    ledger, service = open_station(tmp_path)
    ledger.store("P1", [{"type": "FINAL", "seq": 1, "sale": 1, "ml": 20000, "amount": 13000,
                         "grade": "92"}])  # the card number set below (no TAC)
    ledger.db.execute("UPDATE sales SET asn = ?", (ASN,))
    app = make_app(ledger, load_secret(ledger.path), service)
    return ledger, service, app


def csrf(response):
    return re.search(r'name="csrf" value="([^"]+)"', response.text).group(1)


def login(app, name, password=PASSWORD):
    client = TestClient(app, follow_redirects=True)
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf(page), "name": name,
                                           "password": password})
    return client, response


def logged_in(app, role):
    client, response = login(app, role)
    assert response.status_code == 200 and role in response.text
    return client, csrf(response)


def audit_count(service):
    return len(service.audit(LOCAL))


def versioned(service, path, fields):
    """The fields as a form loaded now sends them: its `version` of what it changes
    (unless the fields give one)."""
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
}


# each mutating form: (path, fields, the roles that may, what changed it shows)
FORMS = [
    ("/prices", {"grade": "95", "price": "7100", "version": "1"}, ("administrator", "manager"),
     lambda ledger: ledger.prices()["grades"].get("95")),
    ("/commands", {"terminal": "P1", "cmd": "stop"}, ("administrator", "manager"),
     lambda ledger: ledger.db.execute("SELECT COUNT(*) FROM commands").fetchone()[0]),
    ("/operators", {"what": "add", "name": "newbie", "role": "cashier",
                    "password": PASSWORD}, ("administrator",),
     lambda ledger: ledger.operators.get("newbie")),
    ("/operators", {"what": "disable", "name": "cashier"}, ("administrator",),
     lambda ledger: ledger.operators.get("cashier")["disabled"]),
    ("/operators", {"what": "role", "name": "cashier", "role": "auditor"}, ("administrator",),
     lambda ledger: ledger.operators.get("cashier")["role"]),
    ("/operators", {"what": "password", "name": "auditor", "password": "another password"},
     ("administrator",), lambda ledger: ledger.db.execute(
         "SELECT hash FROM operators WHERE name = 'auditor'").fetchone()[0]),
    ("/shifts", {"what": "close"}, ("administrator", "manager", "cashier"),
     lambda ledger: ledger.db.execute("SELECT COUNT(*) FROM shifts").fetchone()[0]),
    ("/alert-rules", {"rule": "large_sale", "enabled": "1", "amount": "5000"},
     ("administrator", "manager"), lambda ledger: ledger.alerts.rules()["large_sale"]),
    ("/alert-rules", {"what": "webhook", "url": "http://127.0.0.1:9/hook"},
     ("administrator", "manager"), lambda ledger: ledger.alerts.webhook_url()),
]
PAGES = {"/": ROLES, "/shifts": ROLES, "/alert-rules": ROLES,
         "/reports": ("administrator", "manager", "auditor"), "/sales": ROLES,
         "/prices": ROLES, "/terminals": ROLES,
         "/forecourt.json": ROLES, "/commands": ("administrator", "manager"),
         "/audit": ("administrator", "auditor"), "/operators": ("administrator",),
         "/backup": ("administrator",)}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("form", FORMS, ids=lambda f: "%s-%s" % (f[0], list(f[1].values())[0]))
def test_every_role_against_every_form(station, role, form):
    ledger, service, app = station
    path, fields, may, changed = form
    client, token = logged_in(app, role)
    before, records = changed(ledger), audit_count(service)
    response = client.post(path, data=dict(versioned(service, path, fields), csrf=token))
    if role in may:
        assert response.status_code == 200, response.text
        assert changed(ledger) != before
        assert audit_count(service) == records + 1
        assert service.audit(LOCAL)[-1]["who"] == role  # the web operator, not local:
    else:
        assert response.status_code == 403
        assert changed(ledger) == before and audit_count(service) == records


@pytest.mark.parametrize("role", ROLES)
def test_every_role_against_every_page(station, role):
    _ledger, _service, app = station
    client, _token = logged_in(app, role)
    for path, may in PAGES.items():
        status = client.get(path).status_code
        assert status == (200 if role in may else 403), (path, status)


@pytest.mark.parametrize("role", ROLES)
def test_only_an_administrator_downloads_a_backup_audited(station, role, tmp_path):
    ledger, service, app = station
    client, _token = logged_in(app, role)
    records = audit_count(service)
    response = client.get("/backup")
    if role != "administrator":
        assert response.status_code == 403 and audit_count(service) == records
        assert not response.content.startswith(b"SQLite format 3")
        return
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="station-backup-')
    assert response.headers["cache-control"] == "no-store"
    copy = tmp_path / "downloaded.db"
    copy.write_bytes(response.content)
    db = sqlite3.connect(str(copy))
    assert db.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 1
    db.close()
    record = service.audit(LOCAL)[-1]
    assert (record["who"], record["action"]) == ("administrator", "backup")
    assert record["target"].startswith("download station-backup-")
    assert not [n for n in os.listdir(tempfile.gettempdir())
                if n.startswith("pumpside-backup-")]  # nothing left on the station's disk


def test_a_backup_is_not_for_a_visitor(station):
    _ledger, service, app = station
    records = audit_count(service)
    response = TestClient(app, follow_redirects=False).get("/backup")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert audit_count(service) == records


def test_menus_show_only_what_the_role_may(station):
    _ledger, _service, app = station
    client, _token = logged_in(app, "cashier")
    page = client.get("/").text
    assert 'href="/sales"' in page and 'href="/operators"' not in page \
        and 'href="/audit"' not in page


def test_without_a_session_pages_go_to_login_and_forms_are_refused(station):
    ledger, _service, app = station
    client = TestClient(app, follow_redirects=False)
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login"
    token = csrf(client.get("/login"))
    response = client.post("/prices", data={"csrf": token, "grade": "95", "price": "1",
                                            "version": "1"})
    assert response.status_code == 403 and "95" not in ledger.prices()["grades"]


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_form_without_the_sessions_csrf_token_is_refused(station, token):
    ledger, service, app = station
    client, _good = logged_in(app, "administrator")
    records = audit_count(service)
    fields = {"grade": "95", "price": "7100", "version": "1"}
    if token is not None:
        fields["csrf"] = token
    response = client.post("/prices", data=fields)
    assert response.status_code == 403 and "CSRF" in response.text
    assert "95" not in ledger.prices()["grades"] and audit_count(service) == records


def test_a_token_from_another_session_is_refused(station):
    ledger, _service, app = station
    _other, other_token = logged_in(app, "manager")
    client, _token = logged_in(app, "administrator")
    response = client.post("/prices", data={"csrf": other_token, "grade": "95",
                                            "price": "7100", "version": "1"})
    assert response.status_code == 403 and "95" not in ledger.prices()["grades"]


def test_login_without_csrf_is_refused(station):
    _ledger, _service, app = station
    client = TestClient(app)
    client.get("/login")
    response = client.post("/login", data={"name": "administrator", "password": PASSWORD})
    assert response.status_code == 403 and SESSION_COOKIE in client.cookies
    assert client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("name,password", [("administrator", "wrong password!"),
                                           ("nobody", PASSWORD)])
def test_a_wrong_login_is_refused_alike(station, name, password):
    _ledger, _service, app = station
    client, response = login(app, name, password)
    assert response.status_code == 403 and "wrong name or password" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_goes_through_the_operators_delay(station, monkeypatch):
    from types import SimpleNamespace

    from pumpside_host.station import operators
    ledger, _service, app = station
    # the operators' clock stands still: the tries all fall in one second
    monkeypatch.setattr(operators, "time", SimpleNamespace(time=lambda: 1800000000))
    for _ in range(5):
        login(app, "manager", "wrong password!")
    _client, response = login(app, "manager")  # the right one, too soon
    assert response.status_code == 403 and "try again in" in response.text
    assert ledger.operators.get("manager")["failures"] == 5


def test_the_session_cookie_is_signed_httponly_and_strict(station):
    _ledger, _service, app = station
    client = TestClient(app)
    response = client.get("/login")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    token = csrf(response)
    name, value = SESSION_COOKIE, client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    client.cookies.set(name, value[:-3] + ("AAA" if value[-3:] != "AAA" else "BBB"))
    response = client.post("/login", data={"csrf": token, "name": "administrator",
                                           "password": PASSWORD})
    assert response.status_code == 403  # a tampered cookie is no session: no token


def test_logout_ends_the_session(station):
    _ledger, _service, app = station
    client, token = logged_in(app, "manager")
    assert client.post("/logout", data={"csrf": token}).status_code == 200
    assert client.get("/prices", follow_redirects=False).status_code == 303


def test_a_disabled_or_demoted_operator_acts_as_the_database_says_now(station):
    _ledger, service, app = station
    client, _token = logged_in(app, "manager")
    service.set_role(LOCAL, "manager", "cashier")
    assert client.get("/commands").status_code == 403
    service.set_disabled(LOCAL, "manager")
    assert client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("fields,why", [
    ({"grade": "95", "price": "0"}, "price must be from 1"),
    ({"grade": "95", "price": "10000001"}, "price must be from 1"),
    ({"grade": "95", "price": "7.5"}, "price must be a whole number"),
    ({"grade": "95", "price": "abc"}, "price must be a whole number"),
    ({"grade": "95"}, "price must be a whole number"),
    ({"price": "7100"}, "grade is missing"),
    ({"grade": "toolonggrade", "price": "7100"}, "a grade code is 1-8 characters"),
    ({"grade": "95", "price": "7100", "at": "soon"}, "at must be a date and time"),
    ({"grade": "95", "price": "7100", "at": "2031-13-45T25:00"}, "at must be a date and time"),
    ({"grade": "95", "price": "7100", "at": "2020-01-01T10:00"}, "the time 2020-01-01 10:00:00 "
     "has passed"),
    ({"grade": "95", "price": "7100", "at": "1000"}, "has passed"),
])
def test_a_bad_price_changes_nothing_with_a_clear_error(station, fields, why):
    ledger, service, app = station
    client, token = logged_in(app, "manager")
    before, records = ledger.price_history(), audit_count(service)
    response = client.post("/prices", data=dict(fields, csrf=token, version="1"))
    assert response.status_code == 400 and why in response.text
    assert ledger.price_history() == before and audit_count(service) == records


def test_a_stale_price_form_sets_nothing(station):
    """A form loaded before another change (a second tab, a colleague) is refused: the
    price it would set was chosen against a table that is gone."""
    ledger, service, app = station
    client, token = logged_in(app, "manager")
    form = client.get("/prices").text
    assert 'name="version" value="1"' in form
    service.set_price(LOCAL, "92", 6600)  # meanwhile, elsewhere
    before, records = ledger.price_history(), audit_count(service)
    response = client.post("/prices", data={"csrf": token, "grade": "92", "price": "6400",
                                            "version": "1"})
    assert response.status_code == 409 and "prices changed since this form" in response.text
    assert ledger.price_history() == before and audit_count(service) == records
    response = client.post("/prices", data={"csrf": token, "grade": "92", "price": "6400",
                                            "version": "2"})
    assert response.status_code == 200 and ledger.prices()["grades"]["92"] == 6400


@pytest.mark.parametrize("fields,why", [
    ({"terminal": "P9", "cmd": "stop"}, "no terminal P9 registered"),
    ({"terminal": "P1", "cmd": "explode"}, "command must be one of"),
    ({"cmd": "stop"}, "terminal is missing"),
])
def test_a_bad_command_changes_nothing_with_a_clear_error(station, fields, why):
    ledger, service, app = station
    client, token = logged_in(app, "manager")
    records = audit_count(service)
    response = client.post("/commands", data=dict(versioned(service, "/commands", fields),
                                                  csrf=token))
    assert response.status_code == 400 and why in response.text
    assert ledger.db.execute("SELECT COUNT(*) FROM commands").fetchone()[0] == 0
    assert audit_count(service) == records


@pytest.mark.parametrize("fields,why", [
    ({"what": "add", "name": "x", "role": "owner", "password": PASSWORD}, "a role is one of"),
    ({"what": "add", "name": "x", "role": "cashier", "password": "short"},
     "a password is at least"),
    ({"what": "add", "name": "manager", "role": "cashier", "password": PASSWORD},
     "operator manager exists"),
    ({"what": "disable", "name": "administrator"}, "last enabled administrator"),
    ({"what": "role", "name": "ghost", "role": "cashier"}, "no operator ghost"),
    ({"what": "explode", "name": "manager"}, "what must be one of"),
])
def test_a_bad_operator_change_changes_nothing(station, fields, why):
    ledger, service, app = station
    client, token = logged_in(app, "administrator")
    before, records = ledger.operators.all(), audit_count(service)
    response = client.post("/operators", data=dict(versioned(service, "/operators", fields),
                                                   csrf=token))
    assert response.status_code == 400 and why in response.text
    assert ledger.operators.all() == before and audit_count(service) == records


def test_a_price_set_on_the_web_shows_in_the_audit_trail(station):
    _ledger, _service, app = station
    client, token = logged_in(app, "manager")
    client.post("/prices", data={"csrf": token, "grade": "95", "price": "7100",
                                 "version": "1"})
    auditor, _token = logged_in(app, "auditor")
    page = auditor.get("/audit").text
    assert "<td>manager</td><td>manager</td>\n<td>price</td><td>95</td>" in page


@pytest.mark.parametrize("role,card", [("administrator", ASN), ("manager", "6200********0017"),
                                       ("cashier", "6200********0017"),
                                       ("auditor", "6200********0017")])
def test_card_numbers_are_masked_except_for_administrators(station, role, card):
    _ledger, _service, app = station
    client, _token = logged_in(app, role)
    page = client.get("/sales").text
    assert card in page
    if card != ASN:
        assert ASN not in page
    exported = client.get("/sales?format=csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    assert card in exported.text and (card == ASN or ASN not in exported.text)


def test_sales_filter_by_pump_grade_kind_and_date(station):
    ledger, _service, app = station
    ledger.store("P2", [{"type": "FINAL", "seq": 1, "sale": 1, "ml": 5000, "amount": 3000,
                         "grade": "95"}])
    client, _token = logged_in(app, "cashier")

    def rows(query):
        lines = client.get("/sales?format=csv&" + query).text.strip().splitlines()
        return [line.split(",")[1] for line in lines[1:]]
    assert sorted(rows("")) == ["P1", "P2"]
    assert rows("pump=P2") == ["P2"] and rows("grade=92") == ["P1"]
    assert rows("kind=ESCAPE") == [] and rows("from=2000-01-01") != []
    assert rows("to=2000-01-01") == []
    response = client.get("/sales?from=yesterday")
    assert response.status_code == 400 and "from must be a date" in response.text
    assert rows("card=%s" % ASN) == ["P1"] and rows("card=0017") == ["P1"]
    assert rows("card=0018") == []
    for probe in ("000000", "62000000000000", "abcd"):  # no probing of the hidden digits
        response = client.get("/sales?card=" + probe)
        assert response.status_code == 400 and "last 4 digits" in response.text


def test_every_answer_keeps_to_its_own_origin(station):
    _ledger, _service, app = station
    client = TestClient(app)
    for path in ("/login", "/static/app.css", "/"):
        headers = client.get(path, follow_redirects=False).headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"


def test_the_language_is_the_operators_pick(station):
    _ledger, _service, app = station
    client, token = logged_in(app, "cashier")
    page = client.post("/lang", data={"csrf": token, "lang": "zh"}).text
    assert "油站前庭" in page and 'lang="zh-CN"' in page
    page = client.post("/lang", data={"csrf": token, "lang": "en"}).text
    assert "Forecourt" in page and "油站前庭" not in page


def test_forecourt_state_shows_each_pump(station):
    ledger, _service, app = station
    ledger.hello("P1", "1.0", "abcd", 1000, link="tls")
    ledger.set_status("P1", {"state": "Fuelling", "ml": 1234, "amount": 802, "nozzle": 2,
                             "grade": "95"})
    client, _token = logged_in(app, "cashier")
    pump, = client.get("/forecourt.json").json()["pumps"]
    assert pump["terminal"] == "P1" and pump["state"] == "Fuelling" and pump["online"]
    assert pump["litres"] == "1.234" and pump["money"] == "8.02"
    assert pump["nozzle"] == 2 and pump["grade"] == "95"  # as its STATUS says
    assert 'data-pump="P1"' in client.get("/").text


def test_the_secret_lives_outside_the_database_owner_only(station, tmp_path):
    ledger, _service, _app = station
    import os
    path = secret_file(ledger.path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_secret(ledger.path) == load_secret(ledger.path)
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="open to others"):
        load_secret(ledger.path)


def test_static_files_ship_in_the_package(station):
    _ledger, _service, app = station
    client = TestClient(app)
    assert "EventSource" in client.get("/static/forecourt.js").text
    assert client.get("/static/app.css").status_code == 200


def test_the_password_check_runs_off_the_stations_loop(station, monkeypatch):
    """argon2 takes ~0.2 s of CPU a try: it must not stall the terminals' frames, which
    the same loop serves."""
    import asyncio

    from pumpside_host.station.operators import Operators
    _ledger, _service, app = station
    where = []
    verify = Operators.verify

    def spy(self, name, password, now=None):
        try:
            asyncio.get_running_loop()
            where.append("the loop")
        except RuntimeError:
            where.append("a worker thread")
        return verify(self, name, password, now)

    monkeypatch.setattr(Operators, "verify", spy)
    _client, response = login(app, "cashier")
    assert response.status_code == 200 and where == ["a worker thread"]


# the vendored chart library: Chart.js 4.6.1's dist/chart.umd.min.js as npm ships it
CHART_JS_SHA256 = "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"


def test_the_chart_library_is_the_pinned_one_and_ships_with_its_license():
    import hashlib
    from pathlib import Path

    from pumpside_host.station import web
    static = Path(web.__file__).parent / "static"
    data = (static / "chart.umd.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == CHART_JS_SHA256
    assert data.startswith(b"/*!\n * Chart.js v4.6.1")
    assert "MIT License" in (static / "chart.js-LICENSE.md").read_text()


def test_the_sales_chart_sums_each_day_of_the_filter(station):
    import json
    ledger, _service, app = station
    ledger.store("P2", [{"type": "FINAL", "seq": 1, "sale": 1, "ml": 5000, "amount": 3000,
                         "grade": "95"}])
    client, _token = logged_in(app, "cashier")

    def days(query):
        page = client.get("/sales?" + query).text
        found = re.search(r'<script id="days" type="application/json">(.*?)</script>', page)
        return json.loads(found.group(1))["days"] if found else []
    day, = days("")
    assert day["litres"] == 25.0 and day["amount"] == 160.0
    assert [d["litres"] for d in days("grade=95")] == [5.0]
    assert days("to=2000-01-01") == []  # nothing to draw: no chart


def test_a_taken_web_port_is_a_clear_error(tmp_path, capsys):
    import socket

    from pumpside_host import cli
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert cli.main(["station", "serve", "--db", str(tmp_path / "s.db"), "--port", "0",
                         "--web-port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "the back office cannot listen on 127.0.0.1:%d" % port in err
    assert "--web-port" in err and "Traceback" not in err


def test_a_manager_schedules_a_price_that_becomes_current_at_its_time(station):
    """The prices page on the store's clock (ledger.clock, set here: no waiting): a price
    set for a time to come (the form's datetime-local field) shows as scheduled, the
    current one stays until that time, then it is current and the schedule is empty."""
    import time

    ledger, service, app = station
    start = int(time.mktime((2031, 5, 1, 9, 0, 0, 0, 0, -1)))
    ledger.clock = lambda: start
    client, token = logged_in(app, "manager")

    def table(page, name):
        body = re.search(r'(?s)<table id="%s">(.*?)</table>' % name, page).group(1)
        return re.findall(r'<tr data-grade="([^"]+)">.*?<td class="price">([^<]+)</td>',
                          body)

    response = client.post("/prices", data={"csrf": token, "grade": "92", "price": "6900",
                                            "at": "2031-05-01T12:30", "version": "1"})
    assert response.status_code == 200, response.text
    assert "price of 92 will be 6.900 from 2031-05-01 12:30:00 (version 2)" in response.text
    assert table(response.text, "current") == [("92", "6.500")]
    assert table(response.text, "scheduled") == [("92", "6.900")]
    assert ledger.prices(due=True)["grades"] == {"92": 6500}
    record = service.audit(LOCAL)[-1]
    assert (record["who"], record["action"], record["new"]) == (
        "manager", "price", "6900 at %d (version 2)" % (start + 12600))

    ledger.clock = lambda: start + 12600 - 1  # a second before
    page = client.get("/prices").text
    assert table(page, "current") == [("92", "6.500")]
    assert table(page, "scheduled") == [("92", "6.900")]
    ledger.clock = lambda: start + 12600  # its time
    page = client.get("/prices").text
    assert table(page, "current") == [("92", "6.900")]
    assert table(page, "scheduled") == []
    assert re.search(r'(?s)<table id="history">.*<td>2</td><td>92</td><td>6.900</td>', page)
    # a time that has come by now is refused, the table as it is
    before = ledger.price_history()
    response = client.post("/prices", data={"csrf": token, "grade": "92", "price": "7000",
                                            "at": "2031-05-01T12:00", "version": "2"})
    assert response.status_code == 400 and "has passed" in response.text
    assert ledger.price_history() == before


def test_what_the_back_office_runs_on_is_pinned_and_installed_as_pinned():
    """Issue 13's stack: a real ASGI framework and server, templates, a real password hash,
    signed sessions, forms, the browser driver of its tests; each pinned (==) in
    requirements.txt, and the version installed is the pinned one."""
    import importlib.metadata
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "requirements.txt").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M))
    pins = {name.lower(): version for name, version in pins.items()}
    for name in ("starlette", "uvicorn", "jinja2", "argon2-cffi", "itsdangerous",
                 "python-multipart", "playwright"):
        assert name in pins, name
        assert importlib.metadata.version(name) == pins[name], name
