"""The service layer's reads (station/reads.py): every role may read, the service
decides (a call without an operator is refused), card numbers masked but for an
administrator, an unknown pump a clear error; the command line's reading subcommands and
`station alarm-ack` go through them."""
import pytest
from argon2 import PasswordHasher

from pumpside_host import cli
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.problems import Invalid
from pumpside_host.station.reads import command_state
from pumpside_host.station.service import Actor, Refused, Service

ROLES = ("administrator", "manager", "cashier", "auditor")
ASN = "6200000000000017"
JOURNAL = "00112233aabbccdd"
LOCAL = Actor.local("test")


@pytest.fixture
def station(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"),
                    hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    service = Service(ledger)
    service.add_terminal(LOCAL, "P1")
    service.set_price(LOCAL, "92", 6500)
    service.set_nozzle(LOCAL, "P1", 1, "92")
    service.hotlist(LOCAL, ASN)
    service.set_params(LOCAL, {"max_unsynced_sales": 500})
    service.command(LOCAL, "P1", "stop")
    ledger.journals.seen("P1", JOURNAL)
    ledger.hello("P1", "1.0", "abc", 1000, journal_seq=4)
    ledger.store("P1", [{"type": "FINAL", "seq": 2, "sale": 1, "ml": 1000, "amount": 650,
                         "grade": "92"}], JOURNAL)
    ledger.db.execute("UPDATE sales SET asn = ?", (ASN,))  # a card sale (no TAC checked)
    ledger.metrology.reading("P1", {"nozzle": 1, "seq": 2, "volume_ml": 1000,
                                    "amount": 650}, journal=JOURNAL)
    ledger.journals.raise_alarm("P1", "conflict", "a record differs")
    yield ledger, service
    ledger.close()


READS = {
    "sales": lambda s, a: s.sales(a),
    "sales_filtered": lambda s, a: s.sales_filtered(a, {"grade": "92"}),
    "sales_per_day": lambda s, a: s.sales_per_day(a, {}),
    "conflicts": lambda s, a: s.conflicts(a),
    "pumps": lambda s, a: s.pumps(a),
    "terminals": lambda s, a: s.terminals(a),
    "alarms": lambda s, a: s.alarms(a),
    "prices": lambda s, a: s.prices(a),
    "price_history": lambda s, a: s.price_history(a),
    "params": lambda s, a: s.params(a),
    "nozzles": lambda s, a: s.nozzles(a),
    "hotlist_cards": lambda s, a: s.hotlist_cards(a),
    "commands": lambda s, a: s.commands(a),
    "totals": lambda s, a: s.totals(a, "P1"),
    "events": lambda s, a: s.events(a, "P1"),
}


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_station_through_the_service(station, role):
    _ledger, service = station
    actor = Actor("someone", role)
    for name, read in READS.items():
        assert read(service, actor) is not None, name


def test_a_read_without_an_operator_is_refused(station):
    _ledger, service = station
    for read in READS.values():
        with pytest.raises(Refused, match="no acting operator"):
            read(service, ("root", "administrator"))


@pytest.mark.parametrize("role", ROLES)
def test_card_numbers_are_read_masked_but_by_an_administrator(station, role):
    _ledger, service = station
    actor = Actor("someone", role)
    shown = ASN if role == "administrator" else "6200********0017"
    assert service.sales(actor)[0]["asn"] == shown
    assert service.sales_filtered(actor, {})[0]["card"] == shown
    assert service.hotlist_cards(actor)["cards"] == [(ASN, shown)]


def test_the_audit_trail_is_for_administrators_and_auditors(station):
    _ledger, service = station
    for role in ROLES:
        if role in ("administrator", "auditor"):
            assert service.audit(Actor("a", role))
        else:
            with pytest.raises(Refused):
                service.audit(Actor("a", role))


def test_a_read_of_an_unknown_pump_or_bad_filter_is_a_clear_error(station):
    _ledger, service = station
    for read, why in ((lambda: service.totals(LOCAL, "P9"), "no terminal P9 registered"),
                      (lambda: service.events(LOCAL, "P9"), "no terminal P9 registered"),
                      (lambda: service.events(LOCAL, ""), "terminal is missing"),
                      (lambda: service.sales(LOCAL, "P9"), "no terminal P9 registered"),
                      (lambda: service.sales_filtered(LOCAL, {"card": "123"}), "last 4"),
                      (lambda: service.sales_filtered(LOCAL, {"from": "yesterday"}),
                       "from must be a date"),
                      (lambda: service.hotlist_cards(LOCAL, -1), "skip must be")):
        with pytest.raises(Invalid, match=why):
            read()


def test_the_unsynced_count_is_the_journal_seq_told_less_what_the_station_holds(station):
    ledger, service = station
    assert service.terminals(LOCAL)[0]["unsynced"] == 2  # told 4, holds up to 2
    ledger.journals.seen("P1", "ffffffffffffffff")  # a new journal: its own count
    ledger.hello("P1", "1.0", "abc", 1000, journal_seq=3)
    assert service.terminals(LOCAL)[0]["unsynced"] == 3


def test_a_commands_state_follows_what_the_terminal_answered():
    base = {"sent": None, "done": None, "ok": None, "why": None}
    assert command_state(base) == "queued"
    assert command_state(dict(base, sent=1)) == "sent"
    assert command_state(dict(base, sent=1, done=2, ok=1)) == "done"
    assert command_state(dict(base, sent=1, done=2, ok=0, why="busy")) == "failed"
    assert command_state(dict(base, done=2, ok=0, why="expired")) == "expired"


def test_the_cli_reads_through_the_service_and_acknowledges_an_alarm(station, capsys):
    ledger, _service = station
    db = ledger.path
    ledger.close()
    assert cli.main(["station", "alarms", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "#1 " in out and "P1 conflict: a record differs [OPEN]" in out
    assert "1 alarm(s), 1 open" in out
    assert cli.main(["station", "alarm-ack", "--db", db, "--as", "night", "--id", "1"]) == 0
    assert cli.main(["station", "alarm-ack", "--db", db, "--id", "1"]) == 2
    assert "acknowledged already (by local:night)" in capsys.readouterr().err
    assert cli.main(["station", "alarm-ack", "--db", db, "--id", "9"]) == 2
    assert "no station alarm 9" in capsys.readouterr().err
    assert cli.main(["station", "alarm-ack", "--db", db, "--id", str(1 << 64)]) == 2
    assert "no station alarm" in capsys.readouterr().err
    assert cli.main(["station", "alarms", "--db", db, "--open"]) == 0
    assert "0 alarm(s), 0 open" in capsys.readouterr().out
    assert cli.main(["station", "audit", "--db", db, "--last", "1"]) == 0
    assert "local:night (administrator) alarm-ack alarm 1 of P1" in capsys.readouterr().out
    assert cli.main(["station", "terminals", "--db", db]) == 0
    assert "P1 firmware 1.0 abc journal %s" % JOURNAL in capsys.readouterr().out
    assert cli.main(["station", "commands", "--db", db]) == 0
    assert "P1 stop created" in capsys.readouterr().out
    assert cli.main(["station", "nozzles", "--db", db]) == 0
    assert "P1 nozzle 1: grade 92" in capsys.readouterr().out
    assert cli.main(["station", "events", "--db", db, "--terminal", "P9"]) == 2
    assert "no terminal P9 registered" in capsys.readouterr().err
    assert cli.main(["station", "sales", "--db", db]) == 0
    assert "card 6200********0017" in capsys.readouterr().out  # the CLI masks too
    ledger.__init__(db)  # the fixture closes it
