"""The station store's schema versions: SQLite's `user_version` and the numbered steps
that bring a store from any earlier version to this one, in place.

Version 1 is the store as made before versions (user_version 0): the idempotent CREATE
TABLE IF NOT EXISTS, journals.rekey and the column additions of Ledger.__init__ and its
parts make it, or bring an older one up to it, at every opening. Each later version is a
step here, run once, in its own transaction, which also sets the version it makes; a
store from a newer pumpside is refused.
"""
import logging

from . import alerts, audit, cardbook, fleet, grey, loyalty, operators, reports, shifts, tanks
from .keyring import StationKey
from .payments import orders as pay_orders
from .till import schema_step as till_step

log = logging.getLogger("pumpside.station")

VERSION = 17


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


def _v5_unsynced_and_alarm_acks(db, key):
    """The journal seq a terminal's HELLO told (ledger.unsynced), and who acknowledged
    a station alarm and when (journals.py)."""
    for table, column, kind in (("pumps", "journal_seq", "INTEGER"),
                                ("alarms", "acked", "INTEGER"),
                                ("alarms", "acked_by", "TEXT")):
        if column not in {row[1] for row in db.execute("PRAGMA table_info(%s)" % table)}:
            db.execute("ALTER TABLE %s ADD COLUMN %s %s" % (table, column, kind))


def _v6_reports_alerts(db, key):
    """Reports (reports.py: the sales' grade, nozzle, card type, payment kind and time as
    columns filled from their record, and the index a report reads instead of the rows),
    shifts (shifts.py), the alert engine's rules (alerts.py) and the alarms' rule and
    severity."""
    for statement in reports.SCHEMA + shifts.SCHEMA + alerts.SCHEMA:
        words = statement.split()
        if words[:2] == ["ALTER", "TABLE"] and words[5] in {
                row[1] for row in db.execute("PRAGMA table_xinfo(%s)" % words[2])}:
            continue  # there already (a store put back to an older version by hand)
        db.execute(statement)


def _v7_tanks(db, key):
    """Tanks, the nozzles they feed, gauge readings, deliveries, daily reconciliation
    (tanks.py), and the index their sales sums use."""
    tanks.Tanks.create(db)


def _v8_card_desk(db, key):
    """The card desk's book (cardbook.py): issued cards and their holders, loads,
    replacements' transfers, the desk's settings."""
    for statement in cardbook.SCHEMA.split(";\n"):
        if statement.strip():
            db.execute(statement)


def _v10_pay_orders(db, key):
    """Phone payment: the payment orders and their history (payments/orders.py)."""
    for statement in pay_orders.SCHEMA.split(";\n"):
        if statement.strip():
            db.execute(statement)


def _v9_report_loads(db, key):
    """The card loads' report index (reports.py: loads by the time they were funded)."""
    for statement in reports.LOADS_SCHEMA:
        db.execute(statement)


def _v11_loyalty(db, key):
    """Loyalty (loyalty.py): the earning rules, the points journal per card, the rewards
    and their redemptions."""
    for statement in loyalty.SCHEMA.split(";\n"):
        if statement.strip():
            db.execute(statement)


def _v12_fleet(db, key):
    """Fleet companies, their vehicle cards and the master accounts' moves (fleet.py)."""
    for statement in fleet.SCHEMA.split(";\n"):
        if statement.strip():
            db.execute(statement)


def _v13_fleet_report(db, key):
    """The fleet company totals' index of the reports (reports.py: a fleet card's sales
    by the time the station received them)."""
    for statement in reports.FLEET_SCHEMA:
        db.execute(statement)


def _v14_till(db, key):
    """The kiosk's till (till.py): the sales' payment kinds told again (fleet, phone),
    when the till took an attended sale's money, the till orders' source and kind
    (payments/orders.py), the pumps the till holds, the index of the unpaid sales."""
    till_step(db)


def _v15_fleet_odometer(db, key):
    """The odometer readings fleet cards' bills carry (fleet.py: fleet_odometer), those of
    the sales already held taken from their records."""
    for statement in fleet.ODOMETER_SCHEMA.split(";\n"):
        if statement.strip():
            db.execute(statement)


def _v16_pay_authorize(db, key):
    """A paid order's AUTHORIZE outstanding at its pump (payments/orders.py `sent`: the
    time it was sent, 0: none: such an order is the pump's journal's to settle, never
    refunded by the clock) and the pump's one-time token it was made with (`token`)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(pay_orders)")}
    for column, kind in pay_orders.AUTHORIZE_COLUMNS:
        if column not in have:
            db.execute("ALTER TABLE pay_orders ADD COLUMN %s %s" % (column, kind))
    db.execute(pay_orders.AUTHORIZE_INDEX)


def _v17_voucher_hold(db, key):
    """A pending voucher held for the terminal it was offered to (loyalty.py `offer`,
    HOLD_S): the terminal (`held_by`) and since when (`held_at`)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(loyalty_redemptions)")}
    for column, kind in loyalty.HOLD_COLUMNS:
        if column not in have:
            db.execute("ALTER TABLE loyalty_redemptions ADD COLUMN %s %s" % (column, kind))


STEPS = ((2, _v2_seal_keys), (3, _v3_operators), (4, _v4_settled_journal),
         (5, _v5_unsynced_and_alarm_acks), (6, _v6_reports_alerts), (7, _v7_tanks),
         (8, _v8_card_desk), (9, _v9_report_loads), (10, _v10_pay_orders),
         (11, _v11_loyalty), (12, _v12_fleet), (13, _v13_fleet_report), (14, _v14_till),
         (15, _v15_fleet_odometer), (16, _v16_pay_authorize), (17, _v17_voucher_hold))
