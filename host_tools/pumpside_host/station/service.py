"""The station's service layer: every change an operator makes goes through here.

Each call takes the acting operator (an Actor: name and role), checks the role before
anything else (a refused call raises Refused and changes nothing), makes the change and
writes its audit record in one transaction: who, role, when, what (action and target),
the old value and the new. A secret's value never goes into the record: a terminal key
or a password shows as "(set)"; a card number as it is masked (masking.py; the hotlist's
own log holds the number under the version the record names).

Roles (ROLE_OF: which roles may do what):
  administrator  operators, terminals and their keys, backup and restore, and everything
                 below
  manager        prices and their schedule, parameters, commands, hotlist, nozzle map,
                 reports, the alert rules and their webhook, tanks, delivery notes and
                 dips
  cashier        closes a shift and reads its report; reads: forecourt, sales (not the
                 period reports: those are the manager's and the auditor's); at the card
                 desk: issue a card, take cash for it and load it, report a card lost (the
                 holder at the counter must not wait for a manager to stop a stolen card);
                 the till (tilldesk.py): takes payment for attended sales, prepays a pump,
                 hands over the change owed (the "refuse the next sale" setting is a
                 manager's: "params")
  auditor        reads only, the audit trail included

Every role reads the station (reads.py: the pages' and the CLI's reads come through
here too). A refusal or bad input is a problems.Problem: a stable code and its
parameters, said in English here and in the operator's language by the back office.

The card desk (carddesk.py) needs a manager for what moves money or trust without the
card's own proof: recording an online top-up, unblocking, replacing a card, resetting its
PIN, the desk's settings. Its calls (CARD_MUTATORS) audit each step they commit: a card
issued, money taken, a load on the card (or found again after a cut), a card lost,
unblocked, replaced; a PIN reset shows as "(set)", never the PIN.

Loyalty (loyaltydesk.py, mixed in here): the earning rules, the rewards and taking a
voucher back are a manager's ("loyalty"); redeeming points at the desk is the card
desk's (a cashier may). Each is audited; a redemption asked again with its id is not.

The command line acts as a local operator (Actor.local): whoever can read the database
file and its station key file can read and change everything in it anyway, so the CLI
acts as an administrator, named "local:<OS user>" (or --as NAME) in the audit trail.
"""
import getpass
import json
from collections import namedtuple

from . import backup, cardbook, reports
from .audit import Audit
from .carddesk import Desk
from .fleet import FleetService
from .loyaltydesk import LoyaltyCalls
from .masking import mask_card
from .operators import LoginRefused, check_role  # noqa: F401 (LoginRefused: for callers)
from .problems import Invalid, Problem
from .reads import Reads
from .shifts import Shifts
from .tilldesk import TillCalls

SECRET = "(set)"  # how a secret's value shows in the audit trail

ADMIN = ("administrator",)
MANAGE = ("administrator", "manager")
# what each kind of call needs: the roles that may make it
ROLE_OF = {
    "terminal": ADMIN, "operator": ADMIN,
    "price": MANAGE, "params": MANAGE, "command": MANAGE, "hotlist": MANAGE,
    "nozzle": MANAGE, "alarm": MANAGE, "reports": ("administrator", "manager", "auditor"),
    "read": ("administrator", "manager", "cashier", "auditor"),
    "audit": ("administrator", "auditor"),
    "backup": ADMIN, "tanks": MANAGE,
    "shift": ("administrator", "manager", "cashier"), "alerts": MANAGE,
    "card-desk": ("administrator", "manager", "cashier"), "card-manage": MANAGE,
    "loyalty": MANAGE, "fleet": MANAGE, "till": ("administrator", "manager", "cashier"),
}
WHAT = {"terminal": "add terminals or change their keys", "operator": "manage operators",
        "price": "set prices", "params": "set parameters", "command": "send commands",
        "hotlist": "change the hotlist", "nozzle": "change the nozzle map",
        "alarm": "acknowledge station alarms",
        "reports": "read reports", "read": "read the station", "audit": "read the audit trail",
        "backup": "back up or restore the store", "shift": "close a shift",
        "alerts": "change the alert rules",
        "tanks": "set up tanks or record deliveries and dips",
        "card-desk": "work the card desk",
        "card-manage": "unblock, replace or re-PIN cards, record online top-ups or "
                       "change the card desk's settings",
        "loyalty": "set loyalty rules and rewards",
        "fleet": "manage fleet companies, their vehicle cards and allocations",
        "till": "work the till"}
# the mutating calls, by the permission each needs (the role tests go through all)
MUTATORS = {
    "add_terminal": "terminal", "set_price": "price", "set_params": "params",
    "command": "command", "hotlist": "hotlist", "set_nozzle": "nozzle",
    "add_operator": "operator", "set_role": "operator", "set_disabled": "operator",
    "set_password": "operator", "ack_alarm": "alarm", "close_shift": "shift",
    "set_alert_rule": "alerts", "set_webhook": "alerts",
    "set_tank": "tanks", "feed_tank": "tanks", "delivery_note": "tanks", "dip": "tanks",
}
# the operator the station's own tank watch acts as (suspend/resume below pump suction)
SYSTEM_TANKS = "system:tanks"
# the card desk's (they drive a card reader: tested apart, test_station_carddesk.py)
CARD_MUTATORS = {
    "card_issue": "card-desk", "card_fund": "card-desk", "card_load": "card-desk",
    "card_lost": "card-desk", "card_unblock": "card-manage", "card_replace": "card-manage",
    "card_pin_reset": "card-manage", "card_setting": "card-manage",
}


class Refused(Problem, PermissionError):
    """The acting operator's role may not make this call (nothing was changed)."""


class Actor(namedtuple("Actor", "name role")):
    """Who acts: an operator's name and role."""

    @classmethod
    def local(cls, name=None):
        """The command line's operator: an administrator named local:<OS user>, or
        local:<name> (--as) when given (always local:, never taken for a web operator)."""
        if name:
            name = "local:" + name
        else:
            try:
                name = "local:" + getpass.getuser()
            except (KeyError, OSError):  # no user name for this uid
                name = "local:?"
        return cls(name, "administrator")


class Service(Reads, LoyaltyCalls, FleetService, TillCalls):
    def __init__(self, ledger):
        self.ledger = ledger
        self.db = ledger.db
        self.trail = Audit(ledger.db)
        self.desk = Desk(ledger)
        self.fleet = ledger.fleet  # fleet.py (FleetService's calls)
        self.desk.restrictions = lambda asn, now: (self.fleet.files(asn, now)
                                                   if self.fleet.is_fleet(asn) else None)

    # -- who may ---------------------------------------------------------------------------
    def check(self, actor, what):
        """Refused unless `actor`'s role may do `what` (a key of ROLE_OF)."""
        if not isinstance(actor, Actor):
            raise Refused("no_actor")
        if actor.role not in ROLE_OF[what]:
            raise Refused("refused", name=actor.name, role=actor.role, what=WHAT[what],
                          needs=" or ".join(ROLE_OF[what]), permission=what)

    def verify_login(self, name, password, now=None):
        """The Actor for a name and password (LoginRefused: wrong, disabled or too many
        wrong tries lately; see operators.py)."""
        operator = self.ledger.operators.verify(name, password, now)
        return Actor(operator["name"], operator["role"])

    def actor(self, name):
        """The Actor of an enabled operator, as the database has it now (a session's
        operator whose role changed acts with the new role; a disabled one is refused)."""
        operator = self.ledger.operators.get(name)
        if operator is None or operator["disabled"]:
            raise Refused("unknown_operator", name=name)
        return Actor(operator["name"], operator["role"])

    # -- the audit trail -------------------------------------------------------------------
    def _change(self, actor, what, action, target, run):
        """Check, then run() -> (old, new, result) and record it, all in one
        transaction; returns result."""
        self.check(actor, what)
        return self._tx(actor)(run, action, target)

    def audit(self, actor, limit=-1, after=0):
        """The audit records (id > after), oldest first: id, at, who, role, action,
        target, old, new."""
        self.check(actor, "audit")
        return self.trail.records(after, limit)

    # -- backup and restore ----------------------------------------------------------------
    def backup(self, actor, out, keep=None):
        """A verified copy of the store (backup.make: a file, or a timestamped one in a
        folder with `keep` retention), audited: returns what backup.make tells."""
        self.check(actor, "backup")
        try:
            made = backup.make(self.ledger.path, out, keep)
        except backup.BackupError as e:
            self.backup_failed(str(e))
            raise
        return self.backed_up(actor, made)

    def backup_failed(self, why):
        """A backup that could not be made: the backup_failed alert (alerts.py)."""
        self.ledger.alerts.raise_("backup_failed", "", "backup failed: %s" % why)

    def backed_up(self, actor, made):
        """The audit record of a backup made (by `backup`, or by backup.make off the
        station's loop once the role was checked: the web app's download); returns it."""
        self.check(actor, "backup")
        self._record(actor, "backup", made["path"], "", "%d rows, station %s, schema %d%s"
                     % (sum(made["rows"].values()), made["station"], made["schema"],
                        ", removed %d older" % len(made["removed"])
                        if made["removed"] else ""))
        return made

    def restored(self, actor, source, made):
        """The audit record of a restore (backup.restore, done with the store closed),
        written into the restored store."""
        self.check(actor, "backup")
        self._record(actor, "restore", source, made["aside"] or "",
                     "station %s, schema %d" % (made["station"], made["schema"]))

    def _record(self, actor, action, target, old, new):
        """An audit record of an act that changes no row of the store (its own
        transaction)."""
        with self.ledger.transaction():
            self.trail.append(actor.name, actor.role, action, str(target), old, new)

    # -- terminals -------------------------------------------------------------------------
    def add_terminal(self, actor, terminal_id, key=None):
        """Register a terminal (or give a registered one a new key): returns its key,
        which goes to the caller's key file or to the terminal, never anywhere else."""
        self.check(actor, "terminal")  # the role first, whatever the input
        if not isinstance(terminal_id, str) or not 1 <= len(terminal_id) <= 16 \
                or not terminal_id.isprintable() or terminal_id != terminal_id.strip():
            raise Invalid("terminal_id")
        if key is not None and (not isinstance(key, bytes) or len(key) != 32):
            raise Invalid("terminal_key")

        def run():
            had = terminal_id in self.ledger.terminals()
            return SECRET if had else "", SECRET, self.ledger.add_terminal(terminal_id, key)
        action = "terminal-key" if terminal_id in self.ledger.terminals() else "terminal-add"
        return self._change(actor, "terminal", action, terminal_id, run)

    # -- prices, nozzles, parameters -------------------------------------------------------
    def set_price(self, actor, grade, price, at=0):
        """A new price of `grade` (from the next sale, or the first at or after `at`):
        returns the price table version."""
        if not isinstance(grade, str) or not 0 < len(grade) <= 8:
            raise Invalid("grade")

        def run():
            before = self.ledger.prices()
            old = before["grades"].get(grade)
            version = self.ledger.set_price(grade, price, at)
            return ("" if old is None else old), \
                "%d%s (version %d)" % (price, " at %d" % at if at else "", version), version
        return self._change(actor, "price", "price", grade, run)

    def set_nozzle(self, actor, terminal, nozzle, grade):
        """Map a terminal's nozzle to a grade: returns the price table version."""
        def run():
            if terminal not in self.ledger.terminals():
                raise Invalid("unknown_terminal", terminal=terminal)
            if not isinstance(grade, str) or not 0 < len(grade) <= 8:
                raise Invalid("grade")
            old = self.ledger.params.nozzles(terminal).get(str(nozzle), "")
            version = self.ledger.set_nozzle(terminal, nozzle, grade)
            return old, "%s (price version %d)" % (grade, version), version
        return self._change(actor, "nozzle", "nozzle", "%s nozzle %s" % (terminal, nozzle), run)

    def set_params(self, actor, values):
        """Parameters for every terminal: returns the new parameters version."""
        def run():
            before = self.ledger.params.current()["values"]
            version = self.ledger.params.set(values)  # ValueError: nothing set
            old = {name: before.get(name) for name in sorted(values)}
            return old, dict(sorted(values.items()), version=version), version
        return self._change(actor, "params", "params", "all terminals", run)

    # -- commands, hotlist -----------------------------------------------------------------
    def command(self, actor, terminal, cmd):
        """Queue a command for a terminal: returns its id."""
        self.check(actor, "command")  # the role first, whatever the input
        if terminal not in self.ledger.terminals():
            raise Invalid("unknown_terminal", terminal=terminal)

        def run():
            cid = self.ledger.command(terminal, cmd)
            return "", "%s (command %d)" % (cmd, cid), cid
        return self._change(actor, "command", "command", terminal, run)

    def hotlist(self, actor, asn, listed=True):
        """List (or unlist) a card: returns the hotlist version. Listing a listed card
        or unlisting one that is not is bad input (a stale form: nothing changes)."""
        def run():
            if not isinstance(asn, str) or len(asn) != 16 or not asn.isdigit():
                raise Invalid("card")
            was = self.ledger.listed(asn)
            if was == listed:
                raise Invalid("listed" if listed else "not_listed", card=mask_card(asn))
            version = self.ledger.hotlist_change(asn, listed)
            return "listed" if was else "not listed", "%s (hotlist version %d)" % (
                "listed" if listed else "not listed", version), version
        return self._change(actor, "hotlist", "hotlist-add" if listed else "hotlist-remove",
                            mask_card(asn) if isinstance(asn, str) else "?", run)

    # -- station alarms --------------------------------------------------------------------
    def ack_alarm(self, actor, alarm_id):
        """Acknowledge a station alarm (journals.ack_alarm): it leaves the open ones."""
        def run():
            alarm = self.ledger.journals.alarm(alarm_id)
            if alarm is None:
                raise Invalid("unknown_alarm", id=alarm_id)
            if alarm["acked"] is not None:
                raise Invalid("alarm_acked", id=alarm_id, who=alarm["acked_by"])
            self.ledger.journals.ack_alarm(alarm_id, actor.name)
            return "open: %s: %s" % (alarm["what"], alarm["why"]), "acknowledged", None
        target = self.ledger.journals.alarm(alarm_id) if isinstance(alarm_id, int) else None
        return self._change(actor, "alarm", "alarm-ack", "alarm %s%s" % (
            alarm_id, " of " + target["terminal"] if target else ""), run)
    # -- shifts, reports, alerts -----------------------------------------------------------
    def close_shift(self, actor, now=None):
        """Close the shift now open (shifts.py): its report, kept and returned; a nozzle
        whose totalizer does not match raises totalizer_mismatch (alerts.py)."""
        def run():
            shift = Shifts(self.ledger).close(actor.name, actor.role, now)
            self.ledger.alerts.shift_closed(shift)
            t = shift["totals"]
            return "", "%d sales, %d ml, amount %d; %d nozzles, %d mismatched" % (
                t["count"], t["ml"], t["amount"], len(shift["nozzles"]),
                sum(1 for n in shift["nozzles"] if n["diff_ml"] or n["diff_amount"])), shift
        return self._change(actor, "shift", "shift-close", "shift", run)

    def shift_report(self, actor, shift_id=None):
        """A closed shift's report (the last one's without an id); None: no such shift."""
        self.check(actor, "read")
        return Shifts(self.ledger).get(shift_id)

    def shifts(self, actor, limit=100):
        self.check(actor, "read")
        return Shifts(self.ledger).list(limit)

    def report(self, actor, kind, value, to=None):
        """The sales report of a day, month, year or range of days (reports.py;
        BadPeriod, a ValueError: not a period)."""
        self.check(actor, "reports")
        start, end, label = reports.period(kind, value, to)
        return reports.report(self.db, start, end, label)

    def alert_rules(self, actor):
        self.check(actor, "read")
        return self.ledger.alerts.rules()

    def set_alert_rule(self, actor, rule, enabled, params=None):
        """Switch an alert rule on or off and tune it (alerts.py)."""
        def run():
            old, new = self.ledger.alerts.set_rule(rule, enabled, params)
            return old, new, new
        return self._change(actor, "alerts", "alert-rule", rule, run)

    def set_webhook(self, actor, url):
        """The URL alerts are POSTed to ("": none); the trail shows it without its query
        (a token there stays out of the record)."""
        def run():
            old = self.ledger.alerts.set_webhook(url)
            return _no_query(old), _no_query(url), None
        return self._change(actor, "alerts", "alert-webhook", "webhook", run)
    # -- tanks (tanks.py) ---------------------------------------------------------------------
    def set_tank(self, actor, number, grade, capacity_l, low_l, suction_l, strapping=None):
        """Add or change a tank: its grade, capacity, low and pump-suction levels (whole
        litres) and strapping table ([[height mm, litres], ...]; None: a straight one)."""
        def run():
            old = self.ledger.tanks.tank(number) if isinstance(number, int) else None
            self.ledger.tanks.set_tank(number, grade, capacity_l, low_l, suction_l,
                                       strapping)
            new = self.ledger.tanks.tank(number)
            return _tank_text(old), _tank_text(new), None
        return self._change(actor, "tanks", "tank", "tank %s" % number, run)

    def feed_tank(self, actor, number, terminal, nozzle):
        """Tank `number` feeds the terminal's nozzle (mapped to the tank's grade)."""
        def run():
            old = self.db.execute("SELECT tank FROM tank_nozzles WHERE terminal = ? AND "
                                  "nozzle = ?", (terminal, nozzle)).fetchone()
            grade = self.ledger.params.nozzles(terminal).get(str(nozzle))
            self.ledger.tanks.feed(number, terminal, nozzle, grade)
            return "" if old is None else "tank %d" % old[0], "tank %s" % number, None
        return self._change(actor, "tanks", "tank-feed", "%s nozzle %s" % (terminal, nozzle),
                            run)

    def delivery_note(self, actor, number, supplier, ordered_ml, delivered_ml, temp_c10,
                      at=None):
        """A delivery note typed in (volumes in ml, temperature in tenths of a degree C):
        returns the delivery's id (flagged and alarmed when it differs, tanks.py)."""
        import time

        def run():
            delivery = self.ledger.tanks.note(number, int(time.time()) if at is None else at,
                                              supplier, ordered_ml, delivered_ml, temp_c10)
            d = self.ledger.tanks.delivery(delivery)
            return "", "%s: ordered %d ml, delivered %d ml at %.1f C (%d ml at 15 C)%s" % (
                supplier, ordered_ml, delivered_ml, temp_c10 / 10, d["note15_ml"],
                ", FLAGGED: " + d["flag"] if d["flag"] else ""), delivery
        return self._change(actor, "tanks", "delivery", "tank %s" % number, run)

    def dip(self, actor, number, height_mm, temp_c10=None, water_mm=None, at=None):
        """A hand dip: the height read off the dipstick, its volume by the strapping
        table, stored as a reading (source 'dip'); returns the volume in ml."""
        import time

        from .tanks import TankError, volume_at

        def run():
            tank = self.ledger.tanks.need(number)
            if not isinstance(height_mm, int) or height_mm < 0:
                raise TankError("a dip's height is whole mm >= 0")
            ml = volume_at(tank["strapping"], height_mm)
            self.ledger.tanks.add_reading(number, int(time.time()) if at is None else at, ml,
                                          None, height_mm, water_mm, temp_c10, "dip")
            return "", "%d mm = %d ml" % (height_mm, ml), ml
        return self._change(actor, "tanks", "dip", "tank %s" % number, run)

    def tank_command(self, terminal, cmd):
        """The tank watch's suspend/resume of a nozzle's terminal, as SYSTEM_TANKS
        (audited like an operator's command)."""
        return self.command(Actor(SYSTEM_TANKS, "manager"), terminal, cmd)

    def reconcile(self, actor, number, day):
        """Tank `number`'s reconciliation of `day` (YYYY-MM-DD), computed and stored."""
        self.check(actor, "reports")
        with self.ledger.transaction():
            return self.ledger.tanks.reconcile(number, day)
    # -- the card desk (carddesk.py) --------------------------------------------------------
    def _tx(self, actor):
        """A change's transaction (_change, the card desk's calls): run() -> (old, new,
        result) committed with its audit record (`action`; none when None)."""
        def tx(run, action=None, target=""):
            with self.ledger.transaction():
                old, new, result = run()
                if action:
                    self.trail.append(actor.name, actor.role, action, str(target), _text(old),
                                      _text(new))
            return result
        return tx

    def terminal_tx(self, terminal):
        """The transaction of what a terminal's message changes on a card's account (a
        load at the pump: pumpload.py), audited as `terminal:<id>`."""
        return self._tx(Actor("terminal:" + terminal, "terminal"))

    def card_issue(self, actor, reader, kind, pin, name="", id_number="", phone="",
                   now=None):
        """Issue the blank card in `reader`: returns its number."""
        self.check(actor, "card-desk")
        return self.desk.issue(self._tx(actor), reader, kind, pin, name, id_number, phone,
                               now)

    def card_fund(self, actor, asn, amount, source="cash", now=None):
        """Money taken for a card (cash at the desk; "online": a top-up the back office
        records, a manager's): it waits for the card. Returns the load's id."""
        self.check(actor, "card-desk" if source == "cash" else "card-manage")
        return self.desk.fund(self._tx(actor), asn, amount, source, now)

    def card_load(self, actor, reader, pin, now=None):
        """The money waiting for the card in `reader` onto it: the loads' ids."""
        self.check(actor, "card-desk")
        return self.desk.load(self._tx(actor), reader, pin, now)

    def card_lost(self, actor, asn, now=None):
        self.check(actor, "card-desk")
        return self.desk.lost(self._tx(actor), asn, now)

    def card_unblock(self, actor, asn, id_last4):
        self.check(actor, "card-manage")
        return self.desk.unblock(self._tx(actor), asn, id_last4)

    def card_replace(self, actor, reader, asn, pin, id_last4, now=None):
        self.check(actor, "card-manage")
        return self.desk.replace(self._tx(actor), reader, asn, pin, id_last4, now)

    def card_pin_reset(self, actor, reader, id_last4, pin):
        self.check(actor, "card-manage")
        return self.desk.pin_reset(self._tx(actor), reader, id_last4, pin)

    def card_setting(self, actor, name, value):
        self.check(actor, "card-manage")
        if name not in cardbook.OPERATOR_SETTINGS:
            raise ValueError("a card desk setting is one of " +
                             ", ".join(cardbook.OPERATOR_SETTINGS))

        def run():
            old = self.desk.book.setting(name)
            self.desk.book.set_setting(name, value)
            return old, value, None
        self._tx(actor)(run, "card-setting", name)

    def card(self, actor, asn, reader=None):
        """A card's account, bills, balances and flags (carddesk.Desk.query)."""
        self.check(actor, "read")
        return self.desk.query(asn, reader)

    def cards(self, actor):
        self.check(actor, "read")
        return self.desk.book.all()
    # -- phone payment ---------------------------------------------------------------------
    def set_gateway(self, actor, url, public_key, public_url):
        """The payment gateway the station uses (payments/config.py: a file beside the
        store; its public key, no secret): returns the settings."""
        self.check(actor, "terminal")
        from .payments import config

        old = config.load(self.ledger.path)
        values = config.save(self.ledger.path, url, public_key, public_url)
        self._record(actor, "gateway", "phone payment", _text(old and dict(
            url=old["url"], public_url=old["public_url"])), _text(dict(
                url=values["url"], public_url=values["public_url"],
                public_key=values["public_key"])))
        return values

    def set_pay_windows(self, actor, **windows):
        """The payment orders' windows (payments/config.py DEFAULTS' names: a phone's pay
        window, every paid order's use window - a till prepay's too - the largest amount),
        with or without a gateway: returns them all. A paid order keeps the use window it
        was paid with; the payment desk takes a change at the station's next start."""
        self.check(actor, "terminal")
        from .payments import config

        old = config.windows(self.ledger.path)
        values = config.save_windows(self.ledger.path, **windows)
        self._record(actor, "pay-windows", "payment orders", _text(old), _text(values))
        return values

    # -- operators -------------------------------------------------------------------------
    def operators(self, actor):
        """Every operator: name, role, disabled, created, failures (never a hash)."""
        self.check(actor, "operator")
        return self.ledger.operators.all()

    def version_of(self, actor, what):
        """The version of what a `what` call changes ("operator", "command", "tanks": a
        tank's set-up or the nozzles it feeds): the audit id of its newest change (a form
        loaded before it is stale)."""
        self.check(actor, what)
        return self.trail.last({"operator": "operator-", "command": "command",
                                "tanks": "tank"}[what])

    def card_version(self, actor, asn):
        """The version of a card at the desk: the audit id of the newest desk act on it
        (a card form loaded before it is stale; ids of cards masked alike share it)."""
        self.check(actor, "read")
        return self.trail.last("card-", mask_card(asn))

    def _operator(self, name):
        operator = self.ledger.operators.get(name)
        if operator is None:
            raise Invalid("no_operator", name=name)
        return operator

    def add_operator(self, actor, name, role, password):
        def run():
            self.ledger.operators.add(name, role, password)
            return "", "%s, password %s" % (role, SECRET), None
        return self._change(actor, "operator", "operator-add", name, run)

    def set_role(self, actor, name, role):
        def run():
            old = self._operator(name)["role"]
            check_role(role)
            self._keep_an_administrator(name, role, old)
            self.ledger.operators.set_role(name, role)
            return old, role, None
        return self._change(actor, "operator", "operator-role", name, run)

    def set_disabled(self, actor, name, disabled=True):
        def run():
            operator = self._operator(name)
            if disabled:
                self._keep_an_administrator(name, None, operator["role"])
            self.ledger.operators.set_disabled(name, disabled)
            return "disabled" if operator["disabled"] else "enabled", \
                "disabled" if disabled else "enabled", None
        return self._change(actor, "operator", "operator-disable" if disabled
                            else "operator-enable", name, run)

    def set_password(self, actor, name, password):
        def run():
            self._operator(name)
            self.ledger.operators.set_password(name, password)
            return SECRET, SECRET, None
        return self._change(actor, "operator", "operator-password", name, run)

    def _keep_an_administrator(self, name, role, old):
        """The last enabled administrator is neither demoted nor disabled (the web app
        would have nobody to manage operators; the CLI could still)."""
        if old != "administrator" or role == "administrator":
            return
        others = [o for o in self.ledger.operators.all() if o["role"] == "administrator"
                  and not o["disabled"] and o["name"] != name]
        if not others:
            raise Invalid("last_administrator", name=name)


def _tank_text(tank):
    if tank is None:
        return ""
    return "%s, %d L, low %d L, suction %d L, strapping %s" % (
        tank["grade"], tank["capacity_ml"] // 1000, tank["low_ml"] // 1000,
        tank["suction_ml"] // 1000, json.dumps(tank["strapping"]))


def _text(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _no_query(url):
    """A URL as the audit trail shows it: its query and user info left out."""
    if not url:
        return ""
    base, sep, _query = url.partition("?")
    scheme, _, rest = base.partition("://")
    host, slash, path = rest.partition("/")
    host = host.rpartition("@")[2]
    return "%s://%s%s%s%s" % (scheme, host, slash, path, "?" + SECRET if sep else "")
