"""The station's service layer: every role against every mutating call (refused calls
change nothing), the append-only audit trail, operators and their logins, terminal keys
sealed under the station key outside the database, and the schema's numbered steps."""
import os
import sqlite3
import stat

import pytest
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

import pumpside_host.station as package
from pumpside import record as rec
from pumpside_host import cli
from pumpside_host.station import keyring
from pumpside_host.station.audit import Audit
from pumpside_host.station.keyring import StationKeyError
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.operators import ROLES, LoginRefused
from pumpside_host.station.schema import VERSION as SCHEMA_VERSION
from pumpside_host.station.service import MUTATORS, SECRET, Actor, Refused, Service

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # tests only
ASN = "6200000000000017"
PASSWORD = "correct horse battery"


@pytest.fixture
def station(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"), hasher=CHEAP)
    service = Service(ledger)
    root = Actor.local("setup")
    service.add_terminal(root, "T1")
    service.set_price(root, "92", 8000)
    service.add_operator(root, "root", "administrator", PASSWORD)
    service.add_operator(root, "bob", "cashier", PASSWORD)
    ledger.journals.raise_alarm("T1", "conflict", "a record differs")  # alarm 1
    ledger.params.set_nozzle("T1", 2, "92")  # for the tank calls (not audited here)
    ledger.tanks.set_tank(1, "92", 30000, 3000, 1000)
    yield ledger, service
    ledger.close()


# each mutating call of the service, made by `actor`
CALLS = {
    "add_terminal": lambda s, a: s.add_terminal(a, "T9"),
    "set_price": lambda s, a: s.set_price(a, "92", 8100),
    "set_params": lambda s, a: s.set_params(a, {"max_unsynced_sales": 500}),
    "command": lambda s, a: s.command(a, "T1", "stop"),
    "hotlist": lambda s, a: s.hotlist(a, ASN),
    "set_nozzle": lambda s, a: s.set_nozzle(a, "T1", 1, "92"),
    "add_operator": lambda s, a: s.add_operator(a, "carol", "cashier", PASSWORD),
    "set_role": lambda s, a: s.set_role(a, "bob", "manager"),
    "set_disabled": lambda s, a: s.set_disabled(a, "bob"),
    "set_password": lambda s, a: s.set_password(a, "bob", "another long one"),
    "ack_alarm": lambda s, a: s.ack_alarm(a, 1),
    "close_shift": lambda s, a: s.close_shift(a),
    "set_alert_rule": lambda s, a: s.set_alert_rule(a, "large_sale", True, {"amount": 1}),
    "set_webhook": lambda s, a: s.set_webhook(a, "http://127.0.0.1:9/hook"),
    "set_tank": lambda s, a: s.set_tank(a, 2, "92", 20000, 2000, 500),
    "feed_tank": lambda s, a: s.feed_tank(a, 1, "T1", 2),
    "delivery_note": lambda s, a: s.delivery_note(a, 1, "Sinopec", 10_000_000, 10_000_000,
                                                  150),
    "dip": lambda s, a: s.dip(a, 1, 1000),
}
ALLOWED = {
    "administrator": set(CALLS),
    "manager": {"set_price", "set_params", "command", "hotlist", "set_nozzle", "ack_alarm",
                "close_shift", "set_alert_rule", "set_webhook", "set_tank", "feed_tank",
                "delivery_note", "dip"},
    "cashier": {"close_shift"},
    "auditor": set(),
}


def _dump(ledger):
    return list(ledger.db.iterdump())


def test_the_table_names_every_mutating_call_of_the_service():
    assert set(CALLS) == set(MUTATORS)
    assert set(ALLOWED) == set(ROLES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_every_role_against_every_mutating_call(station, role, call):
    ledger, service = station
    actor = Actor("someone", role)
    before = _dump(ledger)
    audit_before = len(service.audit(Actor.local()))
    if call in ALLOWED[role]:
        CALLS[call](service, actor)
        records = service.audit(Actor.local())
        assert len(records) == audit_before + 1
        assert (records[-1]["who"], records[-1]["role"]) == ("someone", role)
    else:
        with pytest.raises(Refused, match="someone \\(%s\\) may not" % role):
            CALLS[call](service, actor)
        assert _dump(ledger) == before  # nothing changed, not even the audit trail


def test_the_role_is_checked_before_the_input(station):
    ledger, service = station
    cashier = Actor("cat", "cashier")
    for call in (lambda: service.add_terminal(cashier, ""),
                 lambda: service.command(cashier, "NOPE", "explode"),
                 lambda: service.set_price(cashier, "92", -1),
                 lambda: service.hotlist(cashier, "62"),
                 lambda: service.add_operator(cashier, "", "owner", "")):
        with pytest.raises(Refused):
            call()


def test_a_call_without_an_operator_is_refused(station):
    ledger, service = station
    with pytest.raises(Refused, match="no acting operator"):
        service.set_price("root", "92", 1)


def test_bad_input_changes_nothing_and_writes_no_audit_record(station):
    ledger, service = station
    root = Actor.local()
    before = _dump(ledger)
    for call in (lambda: service.set_price(root, "92", -1),
                 lambda: service.set_price(root, "", 8000),
                 lambda: service.set_params(root, {"k_factor": 1}),
                 lambda: service.set_params(root, {}),
                 lambda: service.command(root, "NOPE", "stop"),
                 lambda: service.command(root, "T1", "explode"),
                 lambda: service.hotlist(root, "62"),
                 lambda: service.set_nozzle(root, "T1", 1, "98"),
                 lambda: service.set_nozzle(root, "T1", 0, "92"),
                 lambda: service.add_terminal(root, ""),
                 lambda: service.add_terminal(root, "T" * 17),
                 lambda: service.add_terminal(root, "T2", b"short"),
                 lambda: service.add_operator(root, "eve", "owner", PASSWORD),
                 lambda: service.add_operator(root, "eve", "cashier", "short"),
                 lambda: service.add_operator(root, "bob", "cashier", PASSWORD),
                 lambda: service.add_operator(root, "local:eve", "cashier", PASSWORD),
                 lambda: service.set_role(root, "nobody", "manager"),
                 lambda: service.set_role(root, "bob", "owner"),
                 lambda: service.set_password(root, "bob", "short")):
        with pytest.raises(ValueError):
            call()
    assert _dump(ledger) == before


def test_the_last_administrator_is_neither_demoted_nor_disabled(station):
    ledger, service = station
    root = Actor.local()
    with pytest.raises(ValueError, match="last enabled administrator"):
        service.set_role(root, "root", "manager")
    with pytest.raises(ValueError, match="last enabled administrator"):
        service.set_disabled(root, "root")
    service.add_operator(root, "ann", "administrator", PASSWORD)
    service.set_disabled(root, "root")
    assert ledger.operators.get("root")["disabled"]


def test_the_audit_record_says_who_what_old_and_new_never_a_secret(station):
    ledger, service = station
    manager = Actor("mia", "manager")
    service.set_price(manager, "92", 8100, 0)
    key = service.add_terminal(Actor.local("tech"), "T1")  # a new key for T1
    service.hotlist(manager, ASN)
    service.set_password(Actor.local(), "bob", "another long one")
    records = service.audit(Actor("al", "auditor"))
    price = [r for r in records if r["action"] == "price"][-1]
    assert (price["who"], price["role"], price["target"], price["old"]) == \
        ("mia", "manager", "92", "8000")
    assert price["new"].startswith("8100 ")
    assert price["at"] > 0
    rekey = records[-3]
    assert (rekey["who"], rekey["action"], rekey["target"], rekey["old"], rekey["new"]) == \
        ("local:tech", "terminal-key", "T1", SECRET, SECRET)
    hot = records[-2]
    assert (hot["action"], hot["target"], hot["old"]) == \
        ("hotlist-add", "6200********0017", "not listed")
    assert records[-1]["new"] == SECRET
    text = repr(ledger.db.execute("SELECT * FROM audit").fetchall())
    assert key.hex() not in text and ASN not in text and PASSWORD not in text
    assert "another long one" not in text


def test_the_audit_trail_is_append_only(station):
    ledger, service = station
    assert service.audit(Actor("al", "auditor"))
    with pytest.raises(Refused):
        service.audit(Actor("cat", "cashier"))
    # the service offers no way to change a record, and the code writes none
    assert not [name for name in dir(service) if "audit" in name and name != "audit"]
    assert [name for name in dir(Audit) if not name.startswith("__")] == \
        ["append", "last", "records"]  # one writer, two reads
    for name in os.listdir(package.__path__[0]):
        if name.endswith(".py"):
            with open(os.path.join(package.__path__[0], name)) as f:
                text = f.read().upper()
            assert "UPDATE AUDIT" not in text and "DELETE FROM AUDIT" not in text, name
    # and the database refuses one
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.db.execute("UPDATE audit SET who = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        ledger.db.execute("DELETE FROM audit")


def test_login_right_wrong_disabled_unknown(station):
    ledger, service = station
    assert service.verify_login("bob", PASSWORD) == Actor("bob", "cashier")
    with pytest.raises(LoginRefused, match="wrong name or password"):
        service.verify_login("bob", "not it at all")
    with pytest.raises(LoginRefused, match="wrong name or password"):
        service.verify_login("nobody", PASSWORD)
    service.set_disabled(Actor.local(), "bob")
    with pytest.raises(LoginRefused, match="disabled"):
        service.verify_login("bob", PASSWORD)
    with pytest.raises(Refused):
        service.actor("bob")  # a session of a disabled operator acts no more
    service.set_disabled(Actor.local(), "bob", False)
    service.set_role(Actor.local(), "bob", "manager")
    assert service.actor("bob") == Actor("bob", "manager")


def test_after_five_wrong_passwords_each_try_waits_a_growing_delay(station):
    ledger, service = station
    now = 1_000_000
    for _ in range(5):
        with pytest.raises(LoginRefused, match="wrong"):
            service.verify_login("bob", "not it at all", now)
    assert ledger.operators.get("bob")["failures"] == 5
    with pytest.raises(LoginRefused, match="try again in 1 s"):
        service.verify_login("bob", PASSWORD, now)  # even the right one, too soon
    with pytest.raises(LoginRefused, match="wrong"):
        service.verify_login("bob", "not it at all", now + 1)
    with pytest.raises(LoginRefused, match="try again in 2 s"):
        service.verify_login("bob", PASSWORD, now + 1)
    with pytest.raises(LoginRefused, match="try again in 1 s"):
        service.verify_login("bob", PASSWORD, now + 2)
    assert ledger.operators.get("bob")["failures"] == 6  # refused tries are not counted
    assert service.verify_login("bob", PASSWORD, now + 3) == Actor("bob", "cashier")
    assert ledger.operators.get("bob")["failures"] == 0


def test_terminal_keys_are_sealed_under_the_station_key_beside_the_database(tmp_path):
    path = str(tmp_path / "station.db")
    ledger = Ledger(path, hasher=CHEAP)
    key = Service(ledger).add_terminal(Actor.local(), "T1")
    stored = bytes(ledger.db.execute("SELECT key FROM terminals").fetchone()[0])
    assert key not in stored and ledger.key_of("T1") == key
    ledger.close()
    for name in (path, keyring.file_of(path)):
        assert stat.S_IMODE(os.stat(name).st_mode) == 0o600, name
    with open(path, "rb") as f:
        assert key not in f.read()
    # a row copied onto another terminal does not open
    db = sqlite3.connect(path)
    db.execute("INSERT INTO terminals VALUES ('T2', ?, 0)", (stored,))
    db.commit()
    db.close()
    ledger = Ledger(path, hasher=CHEAP)
    with pytest.raises(StationKeyError, match="T2"):
        ledger.key_of("T2")
    ledger.close()


def test_a_store_without_its_station_key_is_refused_and_no_new_key_is_made(tmp_path):
    path = str(tmp_path / "station.db")
    Ledger(path, hasher=CHEAP).add_terminal("T1")
    os.rename(keyring.file_of(path), str(tmp_path / "elsewhere"))
    with pytest.raises(StationKeyError, match="is missing"):
        Ledger(path, hasher=CHEAP)
    assert not os.path.exists(keyring.file_of(path))
    assert cli.main(["station", "pumps", "--db", path]) == 2
    with open(str(tmp_path / "wrong.key"), "w") as f:
        f.write("00" * 32)
    os.chmod(str(tmp_path / "wrong.key"), 0o600)
    os.rename(str(tmp_path / "wrong.key"), keyring.file_of(path))
    with pytest.raises(StationKeyError, match="not this store's key"):
        Ledger(path, hasher=CHEAP).key_of("T1")
    with open(keyring.file_of(path), "w") as f:
        f.write("not hex")
    with pytest.raises(StationKeyError, match="64 hex digits"):
        Ledger(path, hasher=CHEAP)


@given(st.text(min_size=1, max_size=32), st.binary(min_size=32, max_size=32),
       st.integers(min_value=0, max_value=59))
def test_a_sealed_key_opens_only_as_it_was_sealed(terminal_id, key, flip):
    box = keyring.StationKey(bytes(range(32)), "test")
    sealed = box.seal(terminal_id, key)
    assert len(sealed) == 60 and key not in sealed
    assert box.open(terminal_id, sealed) == key
    damaged = bytearray(sealed)
    damaged[flip] ^= 1
    with pytest.raises(StationKeyError):
        box.open(terminal_id, bytes(damaged))
    with pytest.raises(StationKeyError):
        box.open(terminal_id + "x", sealed)
    with pytest.raises(StationKeyError):
        keyring.StationKey(bytes(32), "other").open(terminal_id, sealed)


def test_a_station_key_file_open_to_others_is_refused(tmp_path):
    path = str(tmp_path / "station.db")
    Ledger(path, hasher=CHEAP).close()
    os.chmod(keyring.file_of(path), 0o644)
    with pytest.raises(StationKeyError, match="chmod 600"):
        Ledger(path, hasher=CHEAP)


def test_a_database_that_cannot_be_opened_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["station", "pumps", "--db", str(tmp_path / "no" / "station.db")]) == 2
    assert "cannot open the station's database" in capsys.readouterr().err


def test_the_station_key_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(keyring.ENV, "ab" * 32)
    path = str(tmp_path / "station.db")
    ledger = Ledger(path, hasher=CHEAP)
    key = ledger.add_terminal("T1")
    ledger.close()
    assert not os.path.exists(keyring.file_of(path))
    assert Ledger(path, hasher=CHEAP).key_of("T1") == key
    monkeypatch.setenv(keyring.ENV, "cd" * 32)
    with pytest.raises(StationKeyError, match=r"\$PUMPSIDE_STATION_KEY"):
        Ledger(path, hasher=CHEAP).key_of("T1")


def _as_before_versions(path, ledger):
    """Turn a store made by this code back into one as the code before schema versions
    made it: keys in plain, no operators or audit tables, user_version 0, no key file."""
    rows = [(tid, ledger.key_of(tid)) for tid in ledger.terminals()]
    ledger.close()
    db = sqlite3.connect(path, isolation_level=None)
    for tid, key in rows:
        db.execute("UPDATE terminals SET key = ? WHERE id = ?", (key, tid))
    db.execute("DROP TABLE operators")
    db.execute("DROP TABLE audit")
    _as_version_3(db)
    db.execute("PRAGMA user_version = 0")
    db.close()
    os.remove(keyring.file_of(path))


def _as_version_3(db):
    """A store as schema version 3 left it: no settling journal of escapes, no HELLO
    journal_seq, no alarm acks."""
    for table, column in (("grey_records", "settled_journal"), ("pumps", "journal_seq"),
                          ("alarms", "acked"), ("alarms", "acked_by")):
        db.execute("ALTER TABLE %s DROP COLUMN %s" % (table, column))
    db.execute("PRAGMA user_version = 3")


def test_a_version_3_store_gets_unsynced_counts_and_alarm_acks_in_place(tmp_path):
    path = str(tmp_path / "station.db")
    ledger = Ledger(path, hasher=CHEAP)
    ledger.add_terminal("T1")
    ledger.hello("T1", "1.0", "abc", 1000)
    ledger.journals.raise_alarm("T1", "conflict", "a record differs")
    ledger.close()
    db = sqlite3.connect(path, isolation_level=None)
    _as_version_3(db)
    db.close()
    ledger = Ledger(path, hasher=CHEAP)
    assert ledger.schema_version() == SCHEMA_VERSION
    service = Service(ledger)
    assert service.alarms(Actor.local())[0]["acked"] is None  # the old alarm, still open
    service.ack_alarm(Actor.local("x"), 1)
    assert service.alarms(Actor.local(), open_only=True) == []
    assert service.terminals(Actor.local())[0]["unsynced"] is None  # no HELLO since
    ledger.close()


def test_a_store_from_before_schema_versions_upgrades_in_place(tmp_path):
    path = str(tmp_path / "station.db")
    ledger = Ledger(path, hasher=CHEAP)
    keys = {tid: ledger.add_terminal(tid) for tid in ("T1", "T2")}
    ledger.set_price("92", 8000)
    sale = {"seq": 1, "type": "FINAL", "sale": 1, "ml": 5000, "amount": 4000,
            "asn": ASN, "tac": "01020304"}
    assert ledger.store("T1", [sale])[0] == [[1, "stored", ""]]
    ledger.hotlist_change(ASN, True)
    ledger.cards.set_keys({})
    escape = {"seq": 2, "type": "ESCAPE", "sale": 2, "ml": 1000, "amount": 759, "asn": ASN,
              "ctc": 3, "psam_ttc": 9, "grade": "92", "price": 7590, "time": 1_795_000_000}
    unlock = {"seq": 1, "type": "UNLOCK", "sale": 1, "ml": 1000, "amount": 759, "asn": ASN,
              "ctc": 3, "psam_ttc": 9, "flags": rec.F_ELSEWHERE, "tac": "01020304",
              "balance": 49241, "time": 1_795_000_100}
    assert ledger.store("T1", [escape])[0][0][1] == "stored"
    assert ledger.store("T2", [unlock], journal="aa" * 8)[0][0][1] == "stored"
    _as_before_versions(path, ledger)
    db = sqlite3.connect(path)
    assert bytes(db.execute("SELECT key FROM terminals WHERE id = 'T1'").fetchone()[0]) == \
        keys["T1"]  # as the old code kept it
    db.close()

    ledger = Ledger(path, hasher=CHEAP)
    assert ledger.schema_version() == SCHEMA_VERSION
    assert {tid: ledger.key_of(tid) for tid in ledger.terminals()} == keys
    stored = [bytes(r[0]) for r in ledger.db.execute("SELECT key FROM terminals")]
    assert not set(stored) & set(keys.values())  # sealed now
    assert [s["sale"] for s in ledger.sales("T1")] == [1, 2]
    (grey,) = ledger.cards.grey.records(ASN)  # the settling UNLOCK's journal, found
    assert (grey["settled_by"], grey["settled_journal"]) == ("T2", "aa" * 8)
    assert ledger.prices()["grades"] == {"92": 8000}
    assert ledger.hotlist() == [ASN]
    service = Service(ledger)
    service.add_operator(Actor.local(), "root", "administrator", PASSWORD)  # new tables
    assert service.audit(Actor.local())[-1]["action"] == "operator-add"
    ledger.close()
    ledger = Ledger(path, hasher=CHEAP)  # again: nothing left to do, nothing sealed twice
    assert {tid: ledger.key_of(tid) for tid in ledger.terminals()} == keys
    ledger.close()


def test_a_store_from_a_newer_pumpside_is_refused(tmp_path):
    path = str(tmp_path / "station.db")
    Ledger(path, hasher=CHEAP).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = %d" % (SCHEMA_VERSION + 1))
    db.close()
    with pytest.raises(ValueError, match="newer"):
        Ledger(path, hasher=CHEAP)


# -- the command line -------------------------------------------------------------------
def test_the_cli_acts_as_a_named_local_operator_through_the_service(tmp_path, monkeypatch,
                                                                    capsys):
    db = str(tmp_path / "station.db")
    monkeypatch.setenv("PUMPSIDE_OPERATOR_PASSWORD", PASSWORD)
    assert cli.main(["station", "operator-add", "--db", db, "--name", "root",
                     "--role", "administrator"]) == 0
    assert cli.main(["station", "operator-add", "--db", db, "--name", "root",
                     "--role", "cashier"]) == 2  # exists
    assert cli.main(["station", "price", "--db", db, "--as", "tech", "--grade", "95",
                     "--price", "8120"]) == 0
    assert cli.main(["station", "terminal-add", "--db", db, "--terminal", "T1",
                     "--key-file", str(tmp_path / "t1.key")]) == 0
    assert cli.main(["station", "operator-role", "--db", db, "--name", "root",
                     "--role", "manager"]) == 2  # the last administrator
    assert cli.main(["station", "operator-add", "--db", db, "--name", "bob",
                     "--role", "cashier"]) == 0
    assert cli.main(["station", "operator-disable", "--db", db, "--name", "bob"]) == 0
    capsys.readouterr()
    assert cli.main(["station", "operators", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "root administrator" in out and "bob cashier DISABLED" in out
    assert PASSWORD not in out
    assert cli.main(["station", "audit", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "local:tech (administrator) price 95:  -> 8120" in out
    assert "terminal-add T1:  -> (set)" in out
    assert "operator-disable bob: enabled -> disabled" in out
    with open(str(tmp_path / "t1.key")) as f:
        assert f.read().strip() not in out
    ledger = Ledger(db)
    assert Service(ledger).verify_login("root", PASSWORD).role == "administrator"
    ledger.close()


def test_operator_add_takes_no_password_argument_and_needs_one(tmp_path, monkeypatch,
                                                               capsys):
    db = str(tmp_path / "station.db")
    monkeypatch.delenv("PUMPSIDE_OPERATOR_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["station", "operator-add", "--db", db, "--name", "root",
                     "--role", "administrator"]) == 2
    assert "PUMPSIDE_OPERATOR_PASSWORD" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["station", "operator-add", "--db", db, "--name", "root", "--role",
                  "administrator", "--password", PASSWORD])
    monkeypatch.setenv("PUMPSIDE_OPERATOR_PASSWORD", "short")
    assert cli.main(["station", "operator-add", "--db", db, "--name", "root",
                     "--role", "administrator"]) == 2
    assert "at least" in capsys.readouterr().err
    ledger = Ledger(db)
    assert ledger.operators.all() == []
    ledger.close()


def test_each_station_action_has_its_own_options_and_help(capsys):
    helps = {}
    for action in ("price", "hotlist", "terminal-add", "serve", "nozzle", "operator-add"):
        with pytest.raises(SystemExit):
            cli.main(["station", action, "--help"])
        helps[action] = capsys.readouterr().out
    assert "--price" in helps["price"] and "--asn" not in helps["price"]
    assert "--asn" in helps["hotlist"] and "--price" not in helps["hotlist"]
    assert "--key-file" in helps["terminal-add"]
    assert "--tls-cert" in helps["serve"] and "--as" not in helps["serve"]
    assert "--role" in helps["operator-add"] and "--password" not in helps["operator-add"]
    assert len(set(helps.values())) == len(helps)
    with pytest.raises(SystemExit):  # an option of another action is refused
        cli.main(["station", "price", "--db", "x.db", "--price", "1", "--asn", ASN])
    with pytest.raises(SystemExit):
        cli.main(["station", "nozzle", "--db", "x.db", "--terminal", "T1", "--grade", "92"])


def test_the_stores_wal_and_shm_files_are_owner_only_too(tmp_path):
    """SQLite's WAL and shared-memory files hold the store's rows as well: 0600 like it,
    whatever the umask."""
    path = str(tmp_path / "station.db")
    old = os.umask(0o022)
    try:
        ledger = Ledger(path, hasher=CHEAP)
        Service(ledger).add_terminal(Actor.local(), "T1")
        for name in (path, path + "-wal", path + "-shm"):
            assert stat.S_IMODE(os.stat(name).st_mode) == 0o600, name
        ledger.close()
    finally:
        os.umask(old)


def _as_version(path, ledger, number):
    """Turn a store made by this code back into one as schema version `number` left it
    (1: before versions, user_version 0), each later step undone."""
    keys = [(tid, ledger.key_of(tid)) for tid in ledger.terminals()]
    ledger.close()
    db = sqlite3.connect(path, isolation_level=None)
    if number < 5:
        for table, column in (("pumps", "journal_seq"), ("alarms", "acked"),
                              ("alarms", "acked_by")):
            db.execute("ALTER TABLE %s DROP COLUMN %s" % (table, column))
    if number < 4:
        db.execute("ALTER TABLE grey_records DROP COLUMN settled_journal")
    if number < 3:
        db.execute("DROP TABLE operators")
        db.execute("DROP TABLE audit")
    if number < 2:
        for tid, key in keys:
            db.execute("UPDATE terminals SET key = ? WHERE id = ?", (key, tid))
        os.remove(keyring.file_of(path))
    db.execute("PRAGMA user_version = %d" % (number if number > 1 else 0))
    db.close()


@pytest.mark.parametrize("number", range(1, SCHEMA_VERSION))
def test_a_store_of_every_earlier_version_upgrades_in_place(tmp_path, number):
    """A store made by today's code, turned back into each earlier version, opens as
    today's: nothing lost, every table there, each step run once."""
    path = str(tmp_path / "station.db")
    ledger = Ledger(path, hasher=CHEAP)
    key = ledger.add_terminal("T1")
    ledger.set_price("92", 8000)
    ledger.store("T1", [{"seq": 1, "type": "FINAL", "sale": 1, "ml": 5000, "amount": 4000}])
    ledger.hotlist_change(ASN, True)
    ledger.journals.raise_alarm("T1", "conflict", "a record differs")
    _as_version(path, ledger, number)

    ledger = Ledger(path, hasher=CHEAP)
    assert ledger.schema_version() == SCHEMA_VERSION
    assert ledger.key_of("T1") == key
    assert [s["sale"] for s in ledger.sales("T1")] == [1]
    assert ledger.prices()["grades"] == {"92": 8000} and ledger.hotlist() == [ASN]
    service = Service(ledger)
    service.add_operator(Actor.local(), "root", "administrator", PASSWORD)
    service.ack_alarm(Actor.local(), 1)
    assert service.alarms(Actor.local(), open_only=True) == []
    assert service.audit(Actor.local())[-1]["action"] == "alarm-ack"
    ledger.close()
    ledger = Ledger(path, hasher=CHEAP)  # again: nothing left to do
    assert ledger.key_of("T1") == key and ledger.schema_version() == SCHEMA_VERSION
    ledger.close()
