"""Fleet companies (station/fleet.py): company accounts, vehicle cards issued at the desk,
allocations (分配) and take-backs conserving money, the restrictions a card carries
(EF1C, EF1D) written at each load, the monthly limit's alert, the monthly statement."""
import re
import struct

import pytest
from cardbench import ADMIN, AUDITOR, CASHIER, MANAGER, PIN, T0, Pump, blank, station
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpside_host.station import cardinfo
from pumpside_host.station import fleet as fl
from pumpside_host.station.fleet import FLEET_MUTATORS, FleetError
from pumpside_host.station.service import Refused


@pytest.fixture
def desk(tmp_path):
    ledger, service = station(tmp_path / "station.db")
    yield ledger, service
    ledger.close()


def dump(ledger):
    return list(ledger.db.iterdump())


def company(service, mode="prepaid", credit=0, name="Swift Haulage"):
    return service.fleet_company_add(MANAGER, name, "Wang 13900000000", mode, credit, now=T0)


def vehicle(service, company_id, plate="京A12345"):
    card, reader = blank()
    asn = service.fleet_card_issue(MANAGER, reader, company_id, plate, PIN, now=T0)
    return asn, card, reader


def test_a_vehicle_card_gets_its_allocation_and_restrictions_at_the_desk(desk):
    ledger, service = desk
    cid = company(service)
    asn, card, reader = vehicle(service, cid)
    assert ledger.cards and service.desk.book.get(asn)["kind"] == "fleet"
    service.fleet_card_limits(MANAGER, asn, grades="92,95", window="0600-2200",
                              sale_amount=30000, day_amount=50000, month_amount=200000,
                              month_ml=300000)
    service.fleet_deposit(MANAGER, cid, 100000, "transfer", now=T0)
    service.fleet_allocate(MANAGER, asn, 60000, now=T0)
    assert service.fleet_account(MANAGER, cid, now=T0)["balance"] == 40000
    assert service.desk.book.waiting(asn) == 60000
    service.card_load(CASHIER, reader, PIN, now=T0 + 10)
    assert card.s["balance"] == 60000 and service.desk.book.balance(asn) == 60000
    rest = card.ef1c()
    assert rest[0:8] == b"9295\0\0\0\0" and rest[10:26] == bytes(16)
    assert struct.unpack(">I", rest[26:30])[0] == cid
    assert struct.unpack(">I", rest[31:35])[0] == 50000
    ef1d = card.ef1d()
    assert ef1d[0] == 1 and len(ef1d) == 32
    sale, sale_ml, day_ml, left, left_ml = struct.unpack(">IIIII", ef1d[1:21])
    assert (sale, sale_ml, day_ml, left, left_ml) == (30000, 0, 0, 200000, 300000)
    assert ef1d[23:27] == bytes.fromhex("06002200")
    # the firmware's own reading of EF1C takes it
    from pumpside.card.fuelcard import FuelCard
    fc = FuelCard(reader)
    fc.select()
    assert fc.restrictions()["grades"] == ["92", "95"]
    # a sale, then the next load writes this month's remainder
    Pump(ledger).sell(card, 12000, t=T0 + 60)
    service.fleet_allocate(MANAGER, asn, 1000, now=T0 + 70)
    service.card_load(CASHIER, reader, PIN, now=T0 + 80)
    assert struct.unpack(">I", card.ef1d()[13:17])[0] == 200000 - 12000
    actions = [r["action"] for r in service.audit(ADMIN)]
    for action in ("fleet-company", "fleet-card", "fleet-limits", "fleet-deposit",
                   "fleet-allocate", "card-load"):
        assert action in actions


def test_take_back_only_what_waits_and_money_is_conserved(desk):
    ledger, service = desk
    cid = company(service)
    asn, card, reader = vehicle(service, cid)
    service.fleet_deposit(MANAGER, cid, 50000, "cash", now=T0)
    service.fleet_allocate(MANAGER, asn, 20000, now=T0)
    service.fleet_allocate(MANAGER, asn, 5000, now=T0)
    service.fleet_takeback(MANAGER, asn, 7000, now=T0)
    assert service.desk.book.waiting(asn) == 18000
    assert service.fleet_account(MANAGER, cid)["balance"] == 32000
    service.card_load(CASHIER, reader, PIN, now=T0 + 5)
    before = dump(ledger)
    with pytest.raises(FleetError, match="not on the card yet"):
        service.fleet_takeback(MANAGER, asn, 1)
    with pytest.raises(FleetError, match="to allocate"):
        service.fleet_allocate(MANAGER, asn, 32001)
    assert dump(ledger) == before


def test_a_credit_account_allocates_down_to_its_limit(desk):
    ledger, service = desk
    cid = company(service, "credit", 10000)
    asn, _card, _reader = vehicle(service, cid)
    service.fleet_allocate(MANAGER, asn, 10000)
    assert service.fleet_account(MANAGER, cid)["balance"] == -10000
    with pytest.raises(FleetError, match="credit included"):
        service.fleet_allocate(MANAGER, asn, 1)
    with pytest.raises(FleetError, match="owes"):
        service.fleet_company_set(MANAGER, cid, "", "prepaid", 0)


BAD_LIMITS = [
    dict(grades="92,95,98,0#,89"), dict(grades="ABC"), dict(window="2200-0600"),
    dict(window="6-22"), dict(window="2500-2600"), dict(sale_amount=-1),
    dict(day_ml=2 ** 32), dict(month_amount="100"), dict(speed=5),
    dict(sale_amount=5000, day_amount=4000), dict(day_ml=90000, month_ml=50000),
    dict(sale_amount=True),
]


@pytest.mark.parametrize("bad", BAD_LIMITS, ids=lambda b: repr(b))
def test_bad_limits_are_refused_with_a_clear_error_and_nothing_changes(desk, bad):
    ledger, service = desk
    cid = company(service)
    asn, _card, _reader = vehicle(service, cid)
    before = dump(ledger)
    with pytest.raises(FleetError) as e:
        service.fleet_card_limits(MANAGER, asn, **bad)
    assert str(e.value) and PIN not in str(e.value)
    assert dump(ledger) == before


@pytest.mark.parametrize("args", [
    ("", "x", "prepaid", 0), ("A", "x", "postpaid", 0), ("A", "x", "prepaid", 100),
    ("A", "x", "credit", -1), ("A", "x", "credit", "9"), ("A" * 41, "", "prepaid", 0),
    ("A", "a\x07b", "prepaid", 0)])
def test_bad_company_input_is_refused_and_nothing_changes(desk, args):
    ledger, service = desk
    before = dump(ledger)
    with pytest.raises(FleetError):
        service.fleet_company_add(MANAGER, *args)
    assert dump(ledger) == before


def test_bad_money_input_is_refused_and_nothing_changes(desk):
    ledger, service = desk
    cid = company(service)
    asn, _card, _reader = vehicle(service, cid)
    before = dump(ledger)
    for call in (lambda: service.fleet_deposit(MANAGER, cid, 0, "cash"),
                 lambda: service.fleet_deposit(MANAGER, cid, 100, "cheque"),
                 lambda: service.fleet_deposit(MANAGER, 999, 100, "cash"),
                 lambda: service.fleet_allocate(MANAGER, "6200000000000999", 100),
                 lambda: service.fleet_allocate(MANAGER, asn, -5),
                 lambda: service.fleet_takeback(MANAGER, asn, 10 ** 12)):
        with pytest.raises(ValueError):
            call()
    assert dump(ledger) == before


def test_company_names_are_unique(desk):
    _ledger, service = desk
    company(service)
    with pytest.raises(FleetError, match="exists"):
        company(service)


@pytest.mark.parametrize("role", [ADMIN, MANAGER, CASHIER, AUDITOR], ids=lambda a: a.role)
def test_roles_for_every_fleet_change(desk, role):
    ledger, service = desk
    cid = company(service, "credit", 100000, name="Base")
    asn, _card, _reader = vehicle(service, cid)
    service.fleet_deposit(MANAGER, cid, 5000, "cash")
    service.fleet_allocate(MANAGER, asn, 3000)
    calls = {
        "fleet_company_add": lambda: service.fleet_company_add(role, "New Co", "", "prepaid"),
        "fleet_company_set": lambda: service.fleet_company_set(role, cid, "x", "credit", 5),
        "fleet_deposit": lambda: service.fleet_deposit(role, cid, 100, "cash"),
        "fleet_allocate": lambda: service.fleet_allocate(role, asn, 100),
        "fleet_takeback": lambda: service.fleet_takeback(role, asn, 100),
        "fleet_card_issue": lambda: service.fleet_card_issue(role, blank()[1], cid, "B1",
                                                             PIN),
        "fleet_card_limits": lambda: service.fleet_card_limits(role, asn, grades="92"),
    }
    assert set(calls) == set(FLEET_MUTATORS)
    for name, call in calls.items():
        before, records = dump(ledger), len(service.audit(ADMIN))
        if role.role in ("administrator", "manager"):
            call()
            assert len(service.audit(ADMIN)) > records, name
            assert service.audit(ADMIN)[-1]["who"] == role.name
        else:
            with pytest.raises(Refused):
                call()
            assert dump(ledger) == before, name
    service.fleet_companies(role)  # every role reads
    service.fleet_account(role, cid)


def test_a_sale_past_the_monthly_limit_raises_the_fleet_alert_once(desk):
    ledger, service = desk
    cid = company(service)
    asn, card, reader = vehicle(service, cid)
    service.fleet_card_limits(MANAGER, asn, month_amount=15000)
    service.fleet_deposit(MANAGER, cid, 50000, "cash")
    service.fleet_allocate(MANAGER, asn, 50000)
    service.card_load(CASHIER, reader, PIN, now=T0)
    pump = Pump(ledger)

    def alerts():
        return [a for a in ledger.db.execute("SELECT rule, why FROM alarms")
                if a[0] == fl.FLEET_ALERT]
    pump.sell(card, 10000, t=T0 + 100)
    assert alerts() == []
    pump.sell(card, 6000, t=T0 + 200)
    assert len(alerts()) == 1 and asn not in alerts()[0][1]
    pump.sell(card, 100, t=T0 + 300)
    assert len(alerts()) == 1  # once per card and month


def test_the_statement_equals_a_recomputation_and_its_csv(desk):
    ledger, service = desk
    cid = company(service)
    other = company(service, name="Other Co")
    cards = [vehicle(service, cid, plate) for plate in ("京A1", "京B2")]
    stranger = vehicle(service, other, "沪C3")
    pump = Pump(ledger)
    sold = []
    month = fl.month_of(T0)
    for asn, card, reader in cards + [stranger]:
        company_id = service.fleet.card(asn)["company"]
        service.fleet_deposit(MANAGER, company_id, 90000, "cash")
        service.fleet_allocate(MANAGER, asn, 90000)
        service.card_load(CASHIER, reader, PIN, now=T0)
        for i, (grade, amount) in enumerate((("92", 5000), ("95", 7000), ("92", 3000))):
            bill = pump.sell(card, amount, t=T0 + 100 + i, upload=False)
            bill["grade"] = grade
            ledger.store("P1", [bill])
            sold.append((service.fleet.card(asn)["plate"], company_id, grade, amount))
    rows = service.fleet_statement(MANAGER, cid, month)
    expect = {}
    for plate, company_id, grade, amount in sold:
        if company_id == cid:
            n, ml, total = expect.get((plate, grade), (0, 0, 0))
            expect[(plate, grade)] = (n + 1, ml + amount, total + amount)
    assert {(r["plate"], r["grade"]): (r["sales"], r["ml"], r["amount"]) for r in rows} \
        == expect
    assert all(r["odometer_start"] is None and r["l_per_100km"] is None and "*" in r["card"]
               for r in rows)  # no bill carried an odometer
    text = fl.statement_csv(rows)
    assert text.splitlines()[0] == ("plate,card,grade,sales,litres,amount,odometer_start,"
                                    "odometer_end,km,l_per_100km")
    assert len(text.splitlines()) == len(rows) + 1
    assert service.fleet_statement(MANAGER, cid, "1999-01") == []
    with pytest.raises(FleetError):
        service.fleet_statement(MANAGER, cid, "2026-13")
    with pytest.raises(Refused):
        service.fleet_statement(CASHIER, cid, month)


def test_odometer_readings_are_kept_and_the_statement_gives_km_and_l_per_100km(desk):
    ledger, service = desk
    cid = company(service)
    (asn, card, reader), (other, card2, reader2) = (vehicle(service, cid, p)
                                                    for p in ("京A1", "京B2"))
    service.fleet_deposit(MANAGER, cid, 180000, "cash")
    for a, r in ((asn, reader), (other, reader2)):
        service.fleet_allocate(MANAGER, a, 90000)
        service.card_load(CASHIER, r, PIN, now=T0)
    assert service.fleet.last_odometer(asn) is None
    pump = Pump(ledger)
    # fill to fill: 10.000 L at 50,000 km (the tank before the month's km), then 33.333 L
    # and 12.000 L over the next 600 km; the other vehicle one reading only
    for t, odo, ml, grade in ((T0 + 10, 50000, 10000, "92"), (T0 + 20, 50350, 33333, "92"),
                              (T0 + 30, 50600, 12000, "95")):
        bill = pump.sell(card, ml, t=t, upload=False)
        ledger.store("P1", [dict(bill, odo=odo, grade=grade)])
    bill = pump.sell(card2, 2000, t=T0 + 40, upload=False)
    ledger.store("P1", [dict(bill, odo=7000, grade="92")])
    bill = pump.sell(card2, 1000, t=T0 + 50, upload=False)
    ledger.store("P1", [dict(bill, grade="92")])  # no reading on this bill: none kept
    results, _ack = ledger.store("P1", [dict(bill, grade="92")])  # again: a duplicate
    assert results[0][1] == "duplicate"
    results, _ack = ledger.store("P1", [dict(bill, grade="92", odo=9999)])  # not the same
    assert results[0][1] == "conflict"  # kept aside: no reading
    assert service.fleet.last_odometer(asn) == 50600
    assert service.fleet.last_odometer(other) == 7000
    # what the pump is told when the card is read (CARD_INFO -> CARD_ANSWER's odometer)
    assert cardinfo.answer(ledger, "P1", {"asn": asn, "nozzle": 1, "balance": 0}) \
        == {"asn": asn, "odometer": 50600}
    rows = service.fleet_statement(MANAGER, cid, fl.month_of(T0))
    figures = {(r["plate"], r["grade"]): (r["odometer_start"], r["odometer_end"], r["km"],
                                          r["l_per_100km"]) for r in rows}
    # (33.333 + 12.000) L / 600 km * 100 = 7.5555 -> 7.56
    assert figures == {("京A1", "92"): (50000, 50600, 600, "7.56"),
                       ("京A1", "95"): (50000, 50600, 600, "7.56"),
                       ("京B2", "92"): (7000, 7000, 0, None)}
    lines = fl.statement_csv(rows).splitlines()
    assert lines[1].endswith(",50000,50600,600,7.56") and lines[3].endswith(",7000,7000,0,")
    # another month holds none of these readings
    assert {r["km"] for r in service.fleet_statement(MANAGER, cid, "1999-01")} == set()


def test_the_schema_step_takes_the_readings_of_the_sales_already_held(tmp_path):
    from pumpside_host.station import schema

    ledger, service = station(tmp_path / "station.db")
    cid = company(service)
    asn, card, reader = vehicle(service, cid)
    service.fleet_deposit(MANAGER, cid, 9000, "cash")
    service.fleet_allocate(MANAGER, asn, 9000)
    service.card_load(CASHIER, reader, PIN, now=T0)
    pump = Pump(ledger)
    bill = pump.sell(card, 3000, t=T0 + 10, upload=False)
    ledger.store("P1", [dict(bill, odo=120)])
    db = ledger.db
    db.execute("DROP TABLE fleet_odometer")  # a store of the step before
    step = dict((f.__name__, n) for n, f in schema.STEPS)["_v15_fleet_odometer"]
    db.execute("PRAGMA user_version = %d" % (step - 1))
    schema.upgrade(db, str(tmp_path / "station.db"))
    assert schema.version(db) == schema.VERSION
    assert service.fleet.last_odometer(asn) == 120
    assert db.execute("SELECT ml, terminal FROM fleet_odometer").fetchall() == [(3000, "P1")]
    ledger.close()


OPS = st.lists(st.tuples(st.sampled_from(("deposit", "allocate", "takeback", "load",
                                          "sell")),
                         st.integers(0, 1), st.integers(1, 40000)), max_size=25)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, credit=st.sampled_from((0, 30000)))
def test_allocation_conserves_money(tmp_path_factory, ops, credit):
    """company balance + cards' balances + waiting + spent == money paid in, whatever
    the sequence of loads, allocations, take-backs and sales (refused steps change
    nothing)."""
    ledger, service = station(tmp_path_factory.mktemp("fleet") / "station.db")
    try:
        cid = company(service, "credit" if credit else "prepaid", credit)
        cards = [vehicle(service, cid, plate) for plate in ("A1", "B2")]
        pump = Pump(ledger)
        t = T0
        for op, which, amount in ops:
            t += 60
            asn, card, reader = cards[which]
            try:
                if op == "deposit":
                    service.fleet_deposit(MANAGER, cid, amount, "cash", now=t)
                elif op == "allocate":
                    service.fleet_allocate(MANAGER, asn, amount, now=t)
                elif op == "takeback":
                    service.fleet_takeback(MANAGER, asn, amount, now=t)
                elif op == "load":
                    if service.desk.book.waiting(asn):
                        service.card_load(CASHIER, reader, PIN, now=t)
                elif card.s["balance"] >= amount:
                    pump.sell(card, amount, t=t)
            except FleetError:
                pass
            book = service.desk.book
            paid = service.fleet.paid_in(cid)
            held = sum(book.balance(a) + book.waiting(a) for a, _c, _r in cards)
            spent = sum(sum(row[1] for row in book.debits(a)) for a, _c, _r in cards)
            assert service.fleet.balance(cid) + held + spent == paid
            assert service.fleet.balance(cid) >= -credit
            for a, c, _r in cards:
                assert c.s["balance"] == book.balance(a)
    finally:
        ledger.close()


def test_the_fleet_page_acts_reads_in_chinese_and_exports_the_statement(tmp_path):
    from argon2 import PasswordHasher
    from test_station_i18n import untranslated
    from test_station_pages import csrf, logged_in

    from pumpside_host.station.ledger import Ledger
    from pumpside_host.station.service import Service
    from pumpside_host.station.web import load_secret, make_app

    ledger = Ledger(str(tmp_path / "station.db"),
                    hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        from cardbench import masters
        ledger.cards.set_masters(masters())
        service = Service(ledger)
        for role in ("manager", "cashier"):
            service.add_operator(ADMIN, role, role, "a long enough password")
        app = make_app(ledger, load_secret(ledger.path), service)
        client, token = logged_in(app, "manager", "zh")
        response = client.post("/fleet", data={"csrf": token, "what": "company",
                                               "name": "Swift", "mode": "prepaid",
                                               "credit_limit": "0"})
        assert response.status_code == 200 and "车队：添加单位已完成" in response.text
        cid = service.fleet_companies(MANAGER)[0]["id"]
        asn, card, reader = vehicle(service, cid, "京A9")
        for fields in ({"what": "deposit", "amount": "30000", "method": "transfer"},
                       {"what": "allocate", "card": asn, "amount": "20000"},
                       {"what": "takeback", "card": asn, "amount": "5000"},
                       {"what": "limits", "card": asn, "grades": "92", "window": "",
                        "day_amount": "40000", "month_amount": "90000"}):
            response = client.post("/fleet", data=dict(fields, csrf=csrf(response),
                                                       company=str(cid)))
            assert response.status_code == 200, response.text
        account = service.fleet_account(MANAGER, cid)
        assert account["balance"] == 15000 and account["cards"][0]["waiting"] == 15000
        assert account["cards"][0]["day_amount"] == 40000
        page = client.get("/fleet?company=%d" % cid)
        # masked wherever a person reads it (the forms' option values carry the number)
        assert page.status_code == 200 and asn not in re.sub(r"<[^>]*>", " ", page.text)
        assert not untranslated(page.text), untranslated(page.text)
        service.card_load(CASHIER, reader, PIN, now=T0)
        pump = Pump(ledger)
        ledger.cards.hello("P1", {"psam": pump.psam.tid.hex()})
        for t, odo, ml in ((T0 + 10, 41000, 5000), (T0 + 20, 41200, 8000)):
            ledger.store("P1", [dict(pump.sell(card, ml, t=t, upload=False), odo=odo)])
        page = client.get("/fleet?company=%d&month=%s" % (cid, fl.month_of(T0)))
        row = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", page.text.split(
            '<table id="statement">')[1].split("</table>")[0]))
        assert "里程表 公里 百公里油耗" in row and "41000 - 41200 200 4.00" in row, row
        assert not untranslated(page.text), untranslated(page.text)
        before = dump(ledger)
        response = client.post("/fleet", data={"csrf": csrf(page), "company": str(cid),
                                               "what": "limits", "card": asn,
                                               "window": "2200-0600"})
        assert response.status_code == 400 and dump(ledger) == before
        csv = client.get("/fleet?company=%d&month=%s&format=csv" % (cid, fl.month_of(T0)))
        assert csv.status_code == 200 and csv.text.startswith("plate,card,grade")
        assert csv.text.splitlines()[1].endswith(",41000,41200,200,4.00")
        cashier, token = logged_in(app, "cashier", "zh")
        assert cashier.get("/fleet?company=%d" % cid).status_code == 200
        refused = cashier.post("/fleet", data={"csrf": token, "company": str(cid),
                                               "what": "deposit", "amount": "1",
                                               "method": "cash"})
        assert refused.status_code == 403 and dump(ledger) == before
    finally:
        ledger.close()


def test_a_vehicle_card_with_a_bad_plate_pin_or_company_is_not_issued(desk):
    ledger, service = desk
    cid = company(service)
    before = dump(ledger)
    for company_id, plate, pin in ((cid, "", PIN), (cid, "A" * 17, PIN), (cid, "A1", "12"),
                                   (999, "A1", PIN)):
        with pytest.raises(ValueError):
            service.fleet_card_issue(MANAGER, blank()[1], company_id, plate, pin)
    assert dump(ledger) == before
    asn, _card, _reader = vehicle(service, cid)
    assert service.fleet.card(asn)["plate"] == "京A12345"
    assert service.audit(ADMIN)[-1]["action"] == "fleet-card"
