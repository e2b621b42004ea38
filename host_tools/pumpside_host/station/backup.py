"""Backup and restore of the station's store (its SQLite file).

A backup is a copy made while the station runs, by SQLite's online backup API from a
read transaction of its own: the copy is the store as it was at one instant, whatever
the terminals write meanwhile. It is checked after writing (PRAGMA integrity_check, and
every table's row count equal to the source's in that same instant), is owner-only
(0600) and carries what it came from inside it: the station's identity (meta
station_id, journals.py) and the schema version (user_version, schema.py).

A restore puts a backup in the place of the store while the station is stopped (the
running station holds `<db>.lock`, see `hold`); it refuses a file that is not an intact
SQLite store, a backup of another station (unless forced) or of a newer schema, and
keeps the store it replaces aside (renamed with a timestamp, never deleted). The
station key file (`<db>.key`) and the TLS folder (`<db>.tls/`) stay as they are: they
are not in the database.
"""
import fcntl
import os
import shutil
import sqlite3
import time

from . import schema

PREFIX = "station-backup-"  # a backup's name in a folder: PREFIX + UTC time + ".db"


class BackupError(ValueError):
    """A backup that cannot be made or a restore refused: the message says why (nothing
    was changed)."""


class StationRunning(BackupError):
    """The store is in use by a running station."""


def lock_file(db_path):
    return str(db_path) + ".lock"


def hold(db_path):
    """The running station's claim on its store: an exclusive lock on `<db>.lock` held as
    long as the returned file stays open (the OS drops it when the process ends, however
    it ends). StationRunning: another station holds it."""
    fd = os.open(lock_file(db_path), os.O_RDWR | os.O_CREAT, 0o600)
    held = os.fdopen(fd, "r+")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        held.close()
        raise StationRunning("%s is in use by a running station (it holds %s): stop it "
                             "first" % (db_path, lock_file(db_path))) from None
    return held


def _counts(db):
    tables = [row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
    return {table: db.execute('SELECT COUNT(*) FROM "%s"' % table).fetchone()[0]
            for table in tables}


def _station(db):
    try:
        row = db.execute("SELECT value FROM meta WHERE name = 'station_id'").fetchone()
    except sqlite3.DatabaseError:
        return None
    return "%016x" % row[0] if row else None


def identity(db):
    """What a store says it is: its station identity (16 hex digits, None: none) and its
    schema version."""
    return {"station": _station(db), "schema": schema.version(db)}


def target(out, now=None):
    """The file a backup goes to: `out` itself, or a timestamped name in it if it is a
    folder."""
    if os.path.isdir(out):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        # two in one second: numbered after the last of that second (never a number
        # retention freed: the newest must sort last)
        taken = [_made_order(n)[1] for n in os.listdir(out)
                 if n.startswith(PREFIX + stamp) and n.endswith(".db")]
        if not taken:
            return os.path.join(out, PREFIX + stamp + ".db")
        return os.path.join(out, "%s%s-%d.db" % (PREFIX, stamp, max(taken) + 1))
    return out


def make(db_path, out, keep=None):
    """Copy the store at `db_path` to `out` (a file, or a folder: a timestamped name in
    it, and with `keep` the `keep` newest backups there are kept, older ones removed);
    verified, 0600. Returns {"path", "rows", "station", "schema", "removed"}.
    BackupError: nothing written (a partial copy is removed)."""
    if not os.path.exists(db_path):
        raise BackupError("no station database %s" % db_path)
    if keep is not None and (keep < 1 or not os.path.isdir(out)):
        raise BackupError("--keep N (N >= 1) goes with --out FOLDER")
    path = target(out)
    if os.path.exists(path):
        raise BackupError("%s exists: a backup does not overwrite a file" % path)
    partial = path + ".partial"
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as e:
        raise BackupError("cannot write %s: %s" % (partial, e)) from None
    src = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, isolation_level=None)
    try:
        src.execute("BEGIN")  # one snapshot: the counts and the copy are the same instant
        rows = _counts(src)
        dst = sqlite3.connect(partial, isolation_level=None)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            _verify(dst, rows, path)
            ident = identity(dst)
        finally:
            dst.close()
        src.execute("COMMIT")
        os.chmod(partial, 0o600)
        _fsync(partial)
        os.rename(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    finally:
        src.close()
    removed = _retain(out, keep) if keep else []
    return dict(ident, path=path, rows=rows, removed=removed)


def _verify(db, rows, name):
    check = db.execute("PRAGMA integrity_check").fetchone()[0]
    if check != "ok":
        raise BackupError("the copy %s fails its integrity check: %s" % (name, check))
    have = _counts(db)
    if have != rows:
        raise BackupError("the copy %s does not hold the source's rows: %s, source %s" % (
            name, have, rows))


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _made_order(name):
    """A backup file's place in time: its timestamp, then its number within that second
    (`...Z.db` first, then `...Z-1.db`, `...Z-2.db`: by name alone '-' sorts before '.')."""
    stamp, _, n = name[len(PREFIX):-len(".db")].partition("-")
    return stamp, int(n) if n.isdigit() else 0


def _retain(folder, keep):
    """Remove the oldest backups in `folder` beyond the `keep` newest (by name: the
    timestamp sorts them). Returns the removed paths."""
    names = sorted((n for n in os.listdir(folder)
                    if n.startswith(PREFIX) and n.endswith(".db")), key=_made_order)
    removed = []
    for name in names[:-keep]:
        os.remove(os.path.join(folder, name))
        removed.append(os.path.join(folder, name))
    return removed


def check(path):
    """A backup's identity if it is an intact SQLite store (BackupError otherwise)."""
    if not os.path.isfile(path):
        raise BackupError("no backup file %s" % path)
    try:
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, isolation_level=None)
    except sqlite3.Error as e:
        raise BackupError("%s cannot be opened: %s" % (path, e)) from None
    try:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise BackupError("%s is damaged (integrity check: %s): not restored" % (
                path, result))
        ident = identity(db)
    except sqlite3.DatabaseError as e:
        raise BackupError("%s is not a station backup (%s): not restored" % (path, e)) \
            from None
    finally:
        db.close()
    if ident["station"] is None:
        raise BackupError("%s holds no station identity: not a station backup" % path)
    return ident


def restore(db_path, source, force_foreign=False, now=None):
    """Put the backup `source` in the place of the store at `db_path` (the station
    stopped). The store replaced (and its -wal/-shm) is renamed to
    `<db>.before-restore-<UTC time>`. Returns {"station", "schema", "aside"}.
    BackupError / StationRunning: nothing changed."""
    held = hold(db_path)  # refused while a station runs on it; held through the swap
    try:
        ident = check(source)
        if ident["schema"] > schema.VERSION:
            raise BackupError("%s is schema version %d, newer than this pumpside's %d: "
                              "restore it with the newer pumpside" % (
                                  source, ident["schema"], schema.VERSION))
        current = None
        if os.path.exists(db_path):
            db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
            try:
                current = _station(db)
            finally:
                db.close()
        if current is not None and current != ident["station"] and not force_foreign:
            raise BackupError("%s is a backup of station %s, this store is station %s: "
                              "not restored (--force-foreign if that is meant)" % (
                                  source, ident["station"], current))
        aside = None
        if os.path.exists(db_path):
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            aside = "%s.before-restore-%s" % (db_path, stamp)
            if os.path.exists(aside):
                raise BackupError("%s exists: wait a second and try again" % aside)
        incoming = db_path + ".restoring"
        fd = os.open(incoming, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        if aside:
            for suffix in ("-wal", "-shm", ""):  # the store last: its -wal goes with it
                if os.path.exists(db_path + suffix):
                    os.rename(db_path + suffix, aside + suffix)
        os.rename(incoming, db_path)
    finally:
        held.close()
    return dict(ident, aside=aside)
