"""The journal while fuel flows: checkpoints in directories of their own that never wait
for a compaction, the warning's reserve, acknowledgements held until the sale ends. The
sim flash tests count erases under littlefs (MicroPython's vfs only)."""
import os

from _t import MICROPYTHON, TempDir, skip
from fakes import T0, open_journal, sale_bill
from pumpside import record as rec
from pumpside.checkpoints import CP_RESERVE, CP_ROOM
from pumpside.journal import Journal


def _cp(root, name):
    try:
        with open(root + "/" + name, "rb") as f:
            return rec.unpack_checkpoint(rec.decode(f.read())[2])
    except OSError:
        return None


def _routine_until_renewal(journal, pulses=0):
    """Routine checkpoints until the next one would renew; the pulses reached."""
    while not journal.checkpoint_renews():
        pulses += 1
        journal.checkpoint(T0, pulses, pulses * 10)
    return pulses


def test_checkpoints_live_in_their_own_directory_made_before_the_valve_opens():
    with TempDir("j") as root:
        journal = open_journal(root, begin=True)
        assert "c1" in os.listdir(root) and not journal.checkpoint_renews()
        journal.checkpoint(T0, 12, 120)
        assert _cp(root, "c1/cp")["pulses"] == 12 and "cp" not in os.listdir(root)
        journal.finish(T0, 12, 120, 91, 1)
        # the next sale keeps the directory while half of its room is left
        journal.begin(sale_bill())
        journal.checkpoint(T0, 3, 30)
        assert _cp(root, "c1/cp")["pulses"] == 3 and "c0" not in os.listdir(root)


def test_a_long_sale_renews_the_other_directory_and_recovers_from_the_newest():
    with TempDir("j") as root:
        journal = open_journal(root, begin=True)
        pulses = _routine_until_renewal(journal)
        assert pulses == CP_ROOM - CP_RESERVE
        journal.checkpoint(T0, pulses + 1, (pulses + 1) * 10)  # renews c0, writes there
        assert _cp(root, "c0/cp")["pulses"] == pulses + 1
        assert _cp(root, "c1/cp")["pulses"] == pulses  # kept until c1 is renewed itself
        reopened = Journal(root)
        reopened.open()  # a cut here: the newest of the two counts
        assert reopened.cp["pulses"] == pulses + 1
        assert reopened.recover(T0)["pulses"] == pulses + 1


def test_the_warning_checkpoints_use_the_reserve_and_never_renew():
    with TempDir("j") as root:
        journal = open_journal(root, begin=True)
        pulses = _routine_until_renewal(journal)
        before = sorted(os.listdir(root))
        for i in range(CP_RESERVE):
            journal.checkpoint(T0, pulses + i, (pulses + i) * 10, rec.F_WARNED)
        assert sorted(os.listdir(root)) == before and _cp(root, "c1/cp")["flags"] == rec.F_WARNED
        reopened = open_journal(root)
        bill = reopened.recover(T0)
        assert bill["pulses"] == pulses + CP_RESERVE - 1 and bill["flags"] & rec.F_WARNED


def test_an_older_firmwares_checkpoint_file_is_still_recovered():
    with TempDir("j") as root:
        journal = open_journal(root)
        sale = journal.begin(sale_bill())
        payload = rec.pack_checkpoint(sale, T0, 77, 770, 0)
        with open(root + "/cp", "wb") as f:
            f.write(rec.encode(rec.CHECKPOINT, sale, payload))
        reopened = open_journal(root)
        assert reopened.cp["pulses"] == 77


def test_a_checkpoint_file_cut_as_it_was_made_is_no_checkpoint_and_no_damage():
    with TempDir("j") as root:
        journal = open_journal(root, begin=True)
        journal.checkpoint(T0, 40, 400)
        os.mkdir(root + "/c0")  # the other one renewed, its new file created, never written
        with open(root + "/c0/cp", "wb"):
            pass
        reopened = Journal(root)
        assert reopened.open() == [] and reopened.cp["pulses"] == 40


def test_a_stale_checkpoint_of_an_earlier_sale_is_not_taken():
    with TempDir("j") as root:
        journal = open_journal(root, begin=True)
        journal.checkpoint(T0, 500, 5000)
        journal.finish(T0, 500, 5000, 3795, 1)
        journal.begin(sale_bill())  # sale 2: no checkpoint yet
        reopened = open_journal(root)
        assert reopened.cp is None and reopened.recover(T0)["pulses"] == 0


def test_an_ack_while_a_sale_is_open_is_written_when_it_ends():
    with TempDir("j") as root:
        journal = Journal(root, segment=4)
        journal.open()
        for _ in range(6):
            journal.begin(sale_bill())
            journal.finish(T0, 100, 1000, 759, 1)
        journal.begin(sale_bill())
        journal.checkpoint(T0, 5, 50)
        segments = journal._segments()
        journal.ack(6, T0 + 1)
        # counted at once, but nothing written or pruned while the fuel may flow
        assert journal.ack_seq == 6 and journal.unsynced == 0
        assert "ack" not in os.listdir(root) and journal._segments() == segments
        cut = Journal(root, segment=4)
        cut.open()
        assert cut.ack_seq == 0 and cut.unsynced == 6  # a cut now: sent again, no loss
        journal.finish(T0, 5, 50, 38, 1)
        reopened = Journal(root, segment=4)
        reopened.open()
        assert reopened.ack_seq == 6 and reopened.unsynced == 1
        assert len(journal._segments()) < len(segments)


# -- on the sim board's flash (littlefs): erases counted -------------------------------
def _sim_flash(path):
    import vfs
    from simflash import SimFlash

    from pumpside import storage

    flash = SimFlash(path, blocks=256)
    vfs.VfsLfs2.mkfs(flash, readsize=storage.READ_SIZE, progsize=storage.PROG_SIZE,
                     lookahead=storage.LOOKAHEAD)
    vfs.mount(vfs.VfsLfs2(flash, readsize=storage.READ_SIZE, progsize=storage.PROG_SIZE,
                          lookahead=storage.LOOKAHEAD), "/tf")
    return flash


def test_checkpoints_while_fuelling_never_erase_on_the_sim_flash():
    """A backlog in the journal's directory (a compaction there copies all of it), then
    sales of 100 checkpoints: every one that erased was a renewal the journal announced
    (checkpoint_renews), and no warned one ever erased."""
    if not MICROPYTHON:
        skip("littlefs: MicroPython's vfs only (tier 2)")
    import vfs

    scratch = TempDir()
    path = scratch.__enter__() + "/flash.bin"
    flash = _sim_flash(path)
    try:
        journal = Journal("/tf/journal")
        journal.open()
        for _ in range(100):  # a backlog: four segment files beside the in-flight files
            journal.begin(sale_bill())
            journal.finish(T0, 100, 1000, 759, 1)
        unannounced = announced = 0
        for _ in range(3):
            journal.begin(sale_bill())
            for pulses in range(1, 101):
                if journal.checkpoint_renews():
                    # the warning comes just when the next routine one would renew
                    for _ in range(CP_RESERVE):
                        erases = flash.erases
                        journal.checkpoint(T0, pulses, pulses * 10, rec.F_WARNED)
                        assert flash.erases == erases, "a warned checkpoint erased"
                    break
                erases = flash.erases
                journal.checkpoint(T0, pulses, pulses * 10)
                unannounced += flash.erases != erases
            journal.finish(T0, pulses, pulses * 10, 1, 1)
        assert unannounced == 0, unannounced  # the renewal before each sale did the erasing
        # a sale longer than the room: the renewals are the only erasing checkpoints
        journal.begin(sale_bill())
        for pulses in range(1, 3 * CP_ROOM):
            renews = journal.checkpoint_renews()
            erases = flash.erases
            journal.checkpoint(T0, pulses, pulses * 10)
            if flash.erases != erases:
                assert renews, "checkpoint %d erased unannounced" % pulses
                announced += 1
        assert announced >= 2
    finally:
        vfs.umount("/tf")
        scratch.__exit__()
