"""Backup and restore of the station's store (station/backup.py, the service's backup,
`pumpside station backup/restore`): a consistent verified copy while the station runs,
restores refused when damaged, foreign, newer or while the station runs, the store
replaced kept aside; what a restore recovers of the terminals' sales."""
import asyncio
import os
import sqlite3
import stat

import pytest

from pumpside_host.cli import main
from pumpside_host.station import backup
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import SYSTEM_BACKUP, StationThread, scheduled_backups
from pumpside_host.station.service import Actor, Refused, Service

LOCAL = Actor.local("test")


def sale(seq, ml=1000):
    return {"type": "FINAL", "seq": seq, "sale": seq, "ml": ml, "amount": ml, "grade": "92"}


@pytest.fixture
def station(tmp_path):
    db = str(tmp_path / "station.db")
    ledger = Ledger(db)
    service = Service(ledger)
    service.add_terminal(LOCAL, "P1")
    ledger.store("P1", [sale(1), sale(2)], "j1")
    yield db, ledger, service
    ledger.close()


def test_a_backup_is_a_verified_private_copy_with_the_station_identity(station, tmp_path):
    db, ledger, service = station
    out = str(tmp_path / "b.db")
    made = service.backup(LOCAL, out)
    assert made["path"] == out and made["rows"]["sales"] == 2
    assert made["station"] == ledger.journals.station_id()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    copy = sqlite3.connect(out)
    assert copy.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 2
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    copy.close()
    record = service.audit(LOCAL)[-1]
    assert (record["action"], record["target"], record["who"]) == ("backup", out, LOCAL.name)
    with pytest.raises(backup.BackupError, match="does not overwrite"):
        service.backup(LOCAL, out)


def test_a_backup_while_another_connection_writes_is_one_instant(station, tmp_path):
    db, ledger, service = station
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO meta VALUES ('uncommitted', 1)")
    made = backup.make(db, str(tmp_path / "b.db"))  # a write in progress: not in the copy
    writer.execute("COMMIT")
    writer.close()
    assert made["rows"]["meta"] == ledger.db.execute(
        "SELECT COUNT(*) FROM meta").fetchone()[0] - 1


@pytest.mark.parametrize("role", ("manager", "cashier", "auditor"))
def test_only_an_administrator_backs_up(station, tmp_path, role):
    db, ledger, service = station
    before = len(service.audit(LOCAL))
    with pytest.raises(Refused, match="may not back up"):
        service.backup(Actor("x", role), str(tmp_path / "b.db"))
    assert not os.path.exists(tmp_path / "b.db") and len(service.audit(LOCAL)) == before


def test_keep_removes_the_oldest_backups_of_a_folder(station, tmp_path):
    db, ledger, service = station
    folder = tmp_path / "backups"
    folder.mkdir()
    for name in ("station-backup-20200101T000000Z.db", "station-backup-20200102T000000Z.db",
                 "other.db"):
        (folder / name).write_bytes(b"x")
    made = service.backup(LOCAL, str(folder), keep=2)
    assert os.path.basename(made["path"]).startswith("station-backup-")
    assert sorted(os.listdir(folder)) == sorted(
        ["other.db", "station-backup-20200102T000000Z.db", os.path.basename(made["path"])])
    with pytest.raises(backup.BackupError, match="--keep"):
        backup.make(db, str(tmp_path / "file.db"), keep=2)


def test_restore_puts_the_backup_in_place_and_keeps_the_store_aside(station, tmp_path):
    db, ledger, service = station
    out = str(tmp_path / "b.db")
    service.backup(LOCAL, out)
    ledger.store("P1", [sale(3)], "j1")
    ledger.close()
    made = backup.restore(db, out)
    assert made["aside"].startswith(db + ".before-restore-")
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    again = Ledger(db)
    assert [s["sale"] for s in again.sales()] == [1, 2]
    again.close()
    aside = sqlite3.connect(made["aside"])  # the store replaced, whole
    assert aside.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 3
    aside.close()


def test_restore_is_refused_while_the_station_runs(station, tmp_path):
    db, ledger, service = station
    out = str(tmp_path / "b.db")
    service.backup(LOCAL, out)
    held = backup.hold(db)  # as `station serve` holds it
    try:
        with pytest.raises(backup.StationRunning, match="running station"):
            backup.restore(db, out)
    finally:
        held.close()
    assert [s["sale"] for s in ledger.sales()] == [1, 2]
    assert not [n for n in os.listdir(tmp_path) if "before-restore" in n]


def test_the_console_station_holds_the_store_as_serve_does(station, tmp_path):
    """`make run`'s station runs in a thread (StationThread): restore is refused while it
    runs and goes through once it stopped."""
    db, ledger, service = station
    out = str(tmp_path / "b.db")
    service.backup(LOCAL, out)
    running = StationThread(ledger, plain=True).start()
    try:
        with pytest.raises(backup.StationRunning, match="running station"):
            backup.restore(db, out)
    finally:
        running.stop()
    assert backup.restore(db, out)["aside"]


@pytest.mark.parametrize("content,why", [
    (b"not a database at all, just some text" * 200, "not a station backup"),
    (b"", "holds no station identity|not a station backup"),
])
def test_restore_refuses_what_is_not_a_backup(station, tmp_path, content, why):
    db, ledger, service = station
    bad = tmp_path / "bad.db"
    bad.write_bytes(content)
    with pytest.raises(backup.BackupError, match=why):
        backup.restore(db, str(bad))
    assert [s["sale"] for s in ledger.sales()] == [1, 2]


def test_restore_refuses_a_damaged_backup(station, tmp_path):
    db, ledger, service = station
    out = tmp_path / "b.db"
    service.backup(LOCAL, str(out))
    data = bytearray(out.read_bytes())
    page = 4096
    for i in range(page + 8, len(data)):  # every page after the first scrambled
        data[i] ^= 0x5A
    out.write_bytes(bytes(data))
    with pytest.raises(backup.BackupError, match="damaged|not a station backup"):
        backup.restore(db, str(out))
    assert [s["sale"] for s in ledger.sales()] == [1, 2]


def test_restore_refuses_a_foreign_or_newer_backup(station, tmp_path):
    db, ledger, service = station
    other = Ledger(str(tmp_path / "other.db"))
    foreign = other.journals.station_id()
    other.close()
    with pytest.raises(backup.BackupError, match="backup of station .* not restored"):
        backup.restore(db, str(tmp_path / "other.db"))
    newer = str(tmp_path / "newer.db")
    service.backup(LOCAL, newer)
    copy = sqlite3.connect(newer)
    copy.execute("PRAGMA user_version = 99")
    copy.close()
    with pytest.raises(backup.BackupError, match="newer than this pumpside"):
        backup.restore(db, newer)
    assert [s["sale"] for s in ledger.sales()] == [1, 2]
    ledger.close()
    made = backup.restore(db, str(tmp_path / "other.db"), force_foreign=True)
    assert made["station"] == foreign and os.path.exists(made["aside"])


def test_the_cli_backs_up_and_restores_audited(station, tmp_path, capsys):
    db, ledger, service = station
    out = str(tmp_path / "b.db")
    assert main(["station", "backup", "--db", db, "--out", out, "--as", "ops"]) == 0
    assert "integrity ok" in capsys.readouterr().out
    ledger.store("P1", [sale(3)], "j1")
    ledger.close()
    assert main(["station", "restore", "--db", db, "--from", str(tmp_path / "no.db")]) == 2
    assert "no backup file" in capsys.readouterr().err
    assert main(["station", "restore", "--db", db, "--from", out, "--as", "ops"]) == 0
    assert "kept as" in capsys.readouterr().out
    again = Ledger(db)
    records = Service(again).audit(LOCAL)
    # the backup's own record was written after its copy: the restored trail has the restore
    assert [(r["action"], r["who"]) for r in records[-2:]] == [
        ("terminal-add", LOCAL.name), ("restore", "local:ops")]
    assert [s["sale"] for s in again.sales()] == [1, 2]
    again.close()


def test_a_second_station_on_a_held_store_is_a_clear_error(station, capsys):
    db, ledger, service = station
    held = backup.hold(db)  # a station serving this store
    try:
        assert main(["station", "serve", "--db", db, "--port", "0", "--web-port", "0"]) == 2
    finally:
        held.close()
    assert "in use by a running station" in capsys.readouterr().err


def test_held_is_the_highest_record_of_a_journal_the_store_holds(station):
    db, ledger, service = station
    journals = ledger.journals
    assert journals.held("P1", "j1") == 2 and journals.held("P1", "j2") == 0
    ledger.store("P1", [{"type": "EVENT", "seq": 5}, sale(4)], "j1")
    assert journals.held("P1", "j1") == 5 and journals.held("P2", "j1") == 0


def _run_schedule(ledger, folder, keep, until):
    """scheduled_backups on its own loop, every 10 ms, until `until()` holds (at most
    30 s of the loop: the test asserts what was made, never how fast)."""
    async def run():
        task = asyncio.ensure_future(scheduled_backups(ledger, folder, 0.01, keep))
        for _ in range(3000):
            await asyncio.sleep(0.01)
            if until():
                break
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())


def test_serve_makes_verified_backups_on_its_schedule_keeping_the_newest(station, tmp_path):
    db, ledger, service = station
    folder = tmp_path / "backups"
    folder.mkdir()

    def made():
        return [r for r in service.audit(LOCAL) if r["who"] == SYSTEM_BACKUP]

    _run_schedule(ledger, str(folder), 2, lambda: len(made()) >= 4)
    records = made()
    assert len(records) >= 4 and all(r["action"] == "backup" for r in records)
    names = sorted(os.listdir(folder))
    assert len(names) == 2  # the two newest kept
    newest = max(records, key=lambda r: r["id"])["target"]
    assert os.path.basename(newest) in names  # two made in one second: the newer is kept
    for name in names:
        assert backup.check(str(folder / name))["station"] == ledger.journals.station_id()
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600


def test_a_scheduled_backup_that_fails_raises_the_alert_and_the_next_is_tried(station,
                                                                              tmp_path):
    db, ledger, service = station
    folder = tmp_path / "unmounted" / "backups"  # the backup disk went away
    _run_schedule(ledger, str(folder), None, lambda: len(
        [a for a in ledger.journals.alarms() if a["what"] == "backup failed"]) >= 2)
    failed = [a for a in ledger.journals.alarms() if a["what"] == "backup failed"]
    assert len(failed) >= 2 and "cannot write" in failed[0]["why"]
    assert not [r for r in service.audit(LOCAL) if r["who"] == SYSTEM_BACKUP]


def test_serve_refuses_a_backup_schedule_it_cannot_keep(station, tmp_path, capsys):
    db, ledger, service = station
    for args, why in ((["--backup-dir", str(tmp_path / "none")], "is not a folder"),
                      (["--backup-dir", str(tmp_path), "--backup-every", "0"], "hours > 0"),
                      (["--backup-dir", str(tmp_path), "--backup-keep", "0"], "at least 1")):
        assert main(["station", "serve", "--db", db, "--port", "0", "--web-port", "0",
                     *args]) == 2
        assert why in capsys.readouterr().err
