"""The back office tests' station: a store with one operator of each role (cheap
password hashes), terminal P1 and grade 92's price; each test file adds its own."""
from argon2 import PasswordHasher

from pumpside_host.station.ledger import Ledger
from pumpside_host.station.service import Actor, Service

ROLES = ("administrator", "manager", "cashier", "auditor")
PASSWORD = "a long enough password"
LOCAL = Actor.local("test")


def open_station(tmp_path):
    """(ledger, service) of a new store under tmp_path."""
    ledger = Ledger(str(tmp_path / "station.db"),
                    hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    service = Service(ledger)
    for role in ROLES:
        service.add_operator(LOCAL, role, role, PASSWORD)
    service.add_terminal(LOCAL, "P1")
    service.set_price(LOCAL, "92", 6500)
    return ledger, service
