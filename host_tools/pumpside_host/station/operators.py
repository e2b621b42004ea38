"""The station's operators: accounts with a role and an argon2id password hash.

Operators are changed through the service layer (service.py), which checks the acting
operator's role and writes the audit record; this module owns the rows and the password
checks.

Login attempts are limited: after FREE_TRIES wrong passwords in a row (counted in the
database, so every process sees them), each further try must wait a delay that doubles
with every wrong one (1 s, 2 s, 4 s, ... at most MAX_DELAY_S); a try within the delay is
refused without looking at the password. A right password resets the count.
"""
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .problems import Invalid, Problem

SCHEMA = """
CREATE TABLE IF NOT EXISTS operators (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0, failed_at INTEGER NOT NULL DEFAULT 0);
"""
ROLES = ("administrator", "manager", "cashier", "auditor")
FREE_TRIES = 5
MAX_DELAY_S = 300
MIN_PASSWORD = 10


class LoginRefused(Problem, PermissionError):
    """A login refused: unknown name, wrong password, disabled, or too soon after
    wrong tries. The message never says which name exists."""


def check_name(name):
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or not name.isprintable() \
            or name != name.strip() or name.startswith("local:"):
        raise Invalid("operator_name")


def check_role(role):
    if role not in ROLES:
        raise Invalid("role", choices=", ".join(ROLES))


def check_password(password):
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Invalid("password", length=MIN_PASSWORD)


def delay_after(failures):
    """The wait before the next try after `failures` wrong ones in a row."""
    if failures < FREE_TRIES:
        return 0
    return min(1 << (failures - FREE_TRIES), MAX_DELAY_S)


class Operators:
    def __init__(self, db, hasher=None):
        self.db = db
        self.hasher = hasher or PasswordHasher()  # argon2id, the library's defaults
        self._dummy = None  # a hash to check an unknown name's password against

    def get(self, name):
        """{"name", "role", "disabled", "created", "failures"} or None."""
        row = self.db.execute("SELECT name, role, disabled, created, failures FROM operators "
                              "WHERE name = ?", (name,)).fetchone()
        return dict(zip(("name", "role", "disabled", "created", "failures"),
                        (row[0], row[1], bool(row[2]), row[3], row[4]))) if row else None

    def all(self):
        return [self.get(row[0]) for row in
                self.db.execute("SELECT name FROM operators ORDER BY name").fetchall()]

    def add(self, name, role, password):
        check_name(name)
        check_role(role)
        check_password(password)
        if self.get(name) is not None:
            raise Invalid("operator_exists", name=name)
        self.db.execute("INSERT INTO operators (name, role, hash, created) VALUES (?,?,?,?)",
                        (name, role, self.hasher.hash(password), int(time.time())))

    def set_role(self, name, role):
        check_role(role)
        self.db.execute("UPDATE operators SET role = ? WHERE name = ?", (role, name))

    def set_disabled(self, name, disabled):
        self.db.execute("UPDATE operators SET disabled = ? WHERE name = ?",
                        (1 if disabled else 0, name))

    def set_password(self, name, password):
        check_password(password)
        self.db.execute("UPDATE operators SET hash = ?, failures = 0 WHERE name = ?",
                        (self.hasher.hash(password), name))

    def verify(self, name, password, now=None):
        """The operator (as get() gives it) whose password this is; LoginRefused else."""
        now = int(time.time()) if now is None else now
        row = self.db.execute("SELECT hash, disabled, failures, failed_at FROM operators "
                              "WHERE name = ?", (name,)).fetchone()
        if row is None:
            self._dummy = self._dummy or self.hasher.hash("not a password")
            try:  # the same work as for a known name
                self.hasher.verify(self._dummy, str(password))
            except VerificationError:
                pass
            raise LoginRefused("login_wrong")
        stored, disabled, failures, failed_at = row
        wait = failed_at + delay_after(failures) - now
        if wait > 0:
            raise LoginRefused("login_wait", wait=wait)
        try:
            self.hasher.verify(stored, str(password))
        except (VerificationError, InvalidHashError):
            self.db.execute("UPDATE operators SET failures = failures + 1, failed_at = ? "
                            "WHERE name = ?", (now, name))
            raise LoginRefused("login_wrong") from None
        if disabled:
            raise LoginRefused("login_disabled", name=name)
        self.db.execute("UPDATE operators SET failures = 0, failed_at = 0 WHERE name = ?",
                        (name,))
        if self.hasher.check_needs_rehash(stored):
            self.db.execute("UPDATE operators SET hash = ? WHERE name = ?",
                            (self.hasher.hash(password), name))
        return self.get(name)
