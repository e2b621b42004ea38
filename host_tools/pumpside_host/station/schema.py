"""The station store's schema versions: SQLite's `user_version` and the numbered steps
that bring a store from any earlier version to this one, in place.

Version 1 is the store as made before versions (user_version 0): the idempotent CREATE
TABLE IF NOT EXISTS, journals.rekey and the column additions of Ledger.__init__ and its
parts make it, or bring an older one up to it, at every opening. Each later version is a
step here, run once, in its own transaction, which also sets the version it makes; a
store from a newer pumpside is refused.
"""
import logging

from . import audit, grey, operators
from .keyring import StationKey
from .payments import orders as pay_orders

log = logging.getLogger("pumpside.station")

VERSION = 5


def version(db):
    return db.execute("PRAGMA user_version").fetchone()[0]


def upgrade(db, path):
    """Run the steps the store at `path` has not had; returns its station key (a store
    whose terminal keys are sealed never gets a new one: its key must be there)."""
    have = version(db)
    if have > VERSION:
        raise ValueError("%s is schema version %d, newer than this pumpside's %d: use the "
                         "newer pumpside" % (path, have, VERSION))
    sealed = have >= 2 and db.execute("SELECT 1 FROM terminals LIMIT 1").fetchone() is not None
    key = StationKey.load(path, create=not sealed)
    for number, step in STEPS:
        if have >= number:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            if version(db) < number:  # not done meanwhile by another process
                step(db, key)
                db.execute("PRAGMA user_version = %d" % number)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        log.info("%s: schema version %d", path, number)
    return key


def _v2_seal_keys(db, key):
    """Terminal keys were stored in plain: each is sealed under the station key."""
    for terminal_id, plain in db.execute("SELECT id, key FROM terminals").fetchall():
        db.execute("UPDATE terminals SET key = ? WHERE id = ?",
                   (key.seal(terminal_id, plain), terminal_id))


def _v3_operators(db, key):
    """Operators (operators.py) and the append-only audit trail (audit.py)."""
    for statement in (operators.SCHEMA + audit.SCHEMA).split(";\n"):
        if statement.strip():
            db.execute(statement)


def _v4_settled_journal(db, key):
    """A settled escape names the settling UNLOCK's journal too; an escape settled before
    takes the journal of the stored UNLOCK that settled it (the newest if several)."""
    db.execute(grey.SETTLED_JOURNAL)
    db.execute("UPDATE grey_records SET settled_journal = (SELECT journal FROM sales WHERE "
               "sales.terminal = grey_records.settled_by AND sales.sale = "
               "grey_records.settled_sale AND sales.kind = 'UNLOCK' ORDER BY rowid DESC "
               "LIMIT 1) WHERE settled_by IS NOT NULL")


def _v5_pay_orders(db, key):
    """Phone payment: the payment orders and their history (payments/orders.py)."""
    for statement in pay_orders.SCHEMA.split(";\n"):
        if statement.strip():
            db.execute(statement)


STEPS = ((2, _v2_seal_keys), (3, _v3_operators), (4, _v4_settled_journal),
         (5, _v5_pay_orders))
