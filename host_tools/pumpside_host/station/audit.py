"""The station's audit trail: one record per change an operator made (written by the
service layer, service.py, in the change's own transaction): when, who and their role,
the action, its target, the old value and the new (never a secret's value).

Append-only: this module, the only one that touches the table, has no path that changes
or deletes a record, and the database refuses one (the triggers below).
"""
import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, who TEXT NOT NULL,
    role TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
    old TEXT NOT NULL, new TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""
FIELDS = ("id", "at", "who", "role", "action", "target", "old", "new")


class Audit:
    def __init__(self, db):
        self.db = db

    def append(self, who, role, action, target, old, new):
        self.db.execute("INSERT INTO audit (at, who, role, action, target, old, new) "
                        "VALUES (?,?,?,?,?,?,?)",
                        (int(time.time()), who, role, action, target, old, new))

    def last(self, prefix, target=None):
        """The id of the newest record whose action starts with `prefix` (and, given, on
        `target`) (0: none)."""
        row = self.db.execute("SELECT MAX(id) FROM audit WHERE substr(action, 1, ?) = ?"
                              + ("" if target is None else " AND target = ?"),
                              (len(prefix), prefix) + (() if target is None else (target,))
                              ).fetchone()
        return row[0] or 0

    def records(self, after=0, limit=-1):
        """The records with id > after, oldest first, at most `limit`."""
        return [dict(zip(FIELDS, row)) for row in self.db.execute(
            "SELECT %s FROM audit WHERE id > ? ORDER BY id LIMIT ?" % ", ".join(FIELDS),
            (after, limit))]
