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
                 reports
  cashier        reads: shift, forecourt, sales
  auditor        reads only, the audit trail included

The command line acts as a local operator (Actor.local): whoever can read the database
file and its station key file can read and change everything in it anyway, so the CLI
acts as an administrator, named "local:<OS user>" (or --as NAME) in the audit trail.
"""
import getpass
import json
from collections import namedtuple

from . import backup
from .audit import Audit
from .masking import mask_card
from .operators import LoginRefused, check_role  # noqa: F401 (LoginRefused: for callers)

SECRET = "(set)"  # how a secret's value shows in the audit trail

ADMIN = ("administrator",)
MANAGE = ("administrator", "manager")
# what each kind of call needs: the roles that may make it
ROLE_OF = {
    "terminal": ADMIN, "operator": ADMIN,
    "price": MANAGE, "params": MANAGE, "command": MANAGE, "hotlist": MANAGE,
    "nozzle": MANAGE, "reports": ("administrator", "manager", "auditor"),
    "read": ("administrator", "manager", "cashier", "auditor"),
    "audit": ("administrator", "auditor"),
    "backup": ADMIN,
}
WHAT = {"terminal": "add terminals or change their keys", "operator": "manage operators",
        "price": "set prices", "params": "set parameters", "command": "send commands",
        "hotlist": "change the hotlist", "nozzle": "change the nozzle map",
        "reports": "read reports", "read": "read the station", "audit": "read the audit trail",
        "backup": "back up or restore the store"}
# the mutating calls, by the permission each needs (the role tests go through all)
MUTATORS = {
    "add_terminal": "terminal", "set_price": "price", "set_params": "params",
    "command": "command", "hotlist": "hotlist", "set_nozzle": "nozzle",
    "add_operator": "operator", "set_role": "operator", "set_disabled": "operator",
    "set_password": "operator",
}


class Refused(PermissionError):
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


class Service:
    def __init__(self, ledger):
        self.ledger = ledger
        self.db = ledger.db
        self.trail = Audit(ledger.db)

    # -- who may ---------------------------------------------------------------------------
    def check(self, actor, what):
        """Refused unless `actor`'s role may do `what` (a key of ROLE_OF)."""
        if not isinstance(actor, Actor):
            raise Refused("no acting operator")
        if actor.role not in ROLE_OF[what]:
            raise Refused("operator %s (%s) may not %s: that needs %s" % (
                actor.name, actor.role, WHAT[what], " or ".join(ROLE_OF[what])))

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
            raise Refused("operator %s is unknown or disabled" % name)
        return Actor(operator["name"], operator["role"])

    # -- the audit trail -------------------------------------------------------------------
    def _change(self, actor, what, action, target, run):
        """Check, then run() -> (old, new, result) and record it, all in one
        transaction; returns result."""
        self.check(actor, what)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            old, new, result = run()
            self.trail.append(actor.name, actor.role, action, str(target), _text(old),
                              _text(new))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return result

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
        return self.backed_up(actor, backup.make(self.ledger.path, out, keep))

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
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.trail.append(actor.name, actor.role, action, str(target), old, new)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # -- terminals -------------------------------------------------------------------------
    def add_terminal(self, actor, terminal_id, key=None):
        """Register a terminal (or give a registered one a new key): returns its key,
        which goes to the caller's key file or to the terminal, never anywhere else."""
        self.check(actor, "terminal")  # the role first, whatever the input
        if not isinstance(terminal_id, str) or not 1 <= len(terminal_id) <= 16 \
                or not terminal_id.isprintable() or terminal_id != terminal_id.strip():
            raise ValueError("a terminal id is 1-16 printable characters (config "
                             "terminal_id)")
        if key is not None and (not isinstance(key, bytes) or len(key) != 32):
            raise ValueError("a terminal key is 32 bytes")

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
            raise ValueError("a grade code is 1-8 characters")

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
            raise ValueError("no terminal %s registered" % terminal)

        def run():
            cid = self.ledger.command(terminal, cmd)
            return "", "%s (command %d)" % (cmd, cid), cid
        return self._change(actor, "command", "command", terminal, run)

    def hotlist(self, actor, asn, listed=True):
        """List (or unlist) a card: returns the hotlist version."""
        def run():
            was = self.ledger.listed(asn)
            version = self.ledger.hotlist_change(asn, listed)
            return "listed" if was else "not listed", "%s (hotlist version %d)" % (
                "listed" if listed else "not listed", version), version
        return self._change(actor, "hotlist", "hotlist-add" if listed else "hotlist-remove",
                            mask_card(asn) if isinstance(asn, str) else "?", run)

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

    # -- operators -------------------------------------------------------------------------
    def operators(self, actor):
        """Every operator: name, role, disabled, created, failures (never a hash)."""
        self.check(actor, "operator")
        return self.ledger.operators.all()

    def _operator(self, name):
        operator = self.ledger.operators.get(name)
        if operator is None:
            raise ValueError("no operator %s" % name)
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
            raise ValueError("%s is the last enabled administrator: make another first"
                             % name)


def _text(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)
