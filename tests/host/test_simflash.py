"""The sim board's flash (boards/sim/simflash.py) under CPython: counters, persistence,
and its power cuts. A cut calls `on_cut` and then kills the process; here `on_cut`
raises, so the test sees the cut and the image as the kill would leave it."""
import pytest

from sourcetree import SIM_BOARD, load_file

simflash = load_file("simflash", SIM_BOARD / "simflash.py")
ERASED = simflash.ERASED
SimFlash = simflash.SimFlash

BS = 256  # small blocks keep the images tiny; the driver takes any size


class Cut(Exception):
    pass


def _cut():
    raise Cut()


def _flash(tmp_path, fault=None, blocks=4):
    return SimFlash(str(tmp_path / "flash.bin"), blocks=blocks, block_size=BS, fault=fault,
                    on_cut=_cut)


def _read(flash, block, n=BS, offset=0):
    buf = bytearray(n)
    flash.readblocks(block, buf, offset)
    return bytes(buf)


def test_new_image_is_erased_and_sized(tmp_path):
    flash = _flash(tmp_path)
    assert flash.ioctl(4, 0) == 4 and flash.ioctl(5, 0) == BS
    assert (tmp_path / "flash.bin").stat().st_size == 4 * BS
    assert _read(flash, 3) == bytes([ERASED]) * BS
    assert flash.stats() == {"programmed": 0, "erased": 0}


def test_counters_of_bytes_programmed_and_erased(tmp_path):
    flash = _flash(tmp_path)
    flash.ioctl(6, 1)
    flash.writeblocks(1, b"A" * 16, 0)
    flash.writeblocks(1, b"B" * 32, 16)
    assert flash.stats() == {"programmed": 48, "erased": BS}
    assert (flash.programs, flash.erases) == (2, 1)
    flash.writeblocks(2, b"C" * BS)  # the simple interface: erase, then program the block
    assert flash.stats() == {"programmed": 48 + BS, "erased": 2 * BS}
    assert (flash.programs, flash.erases) == (3, 2)
    assert _read(flash, 1, 48) == b"A" * 16 + b"B" * 32 and _read(flash, 2) == b"C" * BS


def test_data_persists_across_reopen_and_counters_restart(tmp_path):
    flash = _flash(tmp_path)
    flash.writeblocks(0, b"journal!" * (BS // 8))
    flash.writeblocks(3, b"xyz", 100)
    flash.f.close()
    again = _flash(tmp_path)  # the same file: a reboot, not a new chip
    assert _read(again, 0) == b"journal!" * (BS // 8)
    assert _read(again, 3, 3, 100) == b"xyz"
    assert again.stats() == {"programmed": 0, "erased": 0}  # since boot


def test_cut_at_the_nth_program_writes_nothing_of_it_and_keeps_earlier_data(tmp_path):
    flash = _flash(tmp_path, fault="program:3")
    flash.writeblocks(0, b"1" * 8, 0)
    flash.writeblocks(0, b"2" * 8, 8)
    with pytest.raises(Cut):
        flash.writeblocks(0, b"3" * 8, 16)
    assert flash.programmed == 16  # the cut program is not counted as done
    image = _flash(tmp_path)  # what the next boot finds
    assert _read(image, 0, 24) == b"1" * 8 + b"2" * 8 + bytes([ERASED]) * 8


def test_torn_program_writes_only_its_first_part(tmp_path):
    flash = _flash(tmp_path, fault="torn:2")
    flash.writeblocks(1, b"a" * 20, 0)
    with pytest.raises(Cut):
        flash.writeblocks(1, b"b" * 20, 20)
    image = _flash(tmp_path)
    got = _read(image, 1, 40)
    assert got[:20] == b"a" * 20
    assert got[20:30] == b"b" * 10 and got[30:] == bytes([ERASED]) * 10
    assert 0 < got.count(b"b") < 20  # some of it, not all of it


def test_torn_one_byte_program_still_writes_something(tmp_path):
    flash = _flash(tmp_path, fault="torn:1")
    with pytest.raises(Cut):
        flash.writeblocks(0, b"z", 5)
    assert _read(_flash(tmp_path), 0, 1, 5) == b"z"


def test_cut_at_the_nth_erase_leaves_the_block_half_erased(tmp_path):
    flash = _flash(tmp_path, fault="erase:2")
    flash.writeblocks(0, b"old0" * (BS // 4), 0)
    flash.writeblocks(2, b"old2" * (BS // 4), 0)
    flash.ioctl(6, 0)  # the first erase completes
    with pytest.raises(Cut):
        flash.ioctl(6, 2)
    assert flash.erased == BS  # only the completed erase counts
    image = _flash(tmp_path)
    assert _read(image, 0) == bytes([ERASED]) * BS
    half = _read(image, 2)
    assert half[:BS // 2] == bytes([ERASED]) * (BS // 2)
    assert half[BS // 2:] == (b"old2" * (BS // 4))[BS // 2:]


def test_an_armed_fault_fires_once_at_its_own_count_only(tmp_path):
    flash = _flash(tmp_path, fault="erase:3")
    for _ in range(2):
        flash.ioctl(6, 1)
        flash.writeblocks(1, b"p" * 4, 0)  # programs do not move an erase fault
    with pytest.raises(Cut):
        flash.ioctl(6, 1)
    assert flash.erases == 3 and flash.programs == 2


def test_erases_per_block_are_counted_only_when_asked(tmp_path):
    assert _flash(tmp_path).block_erases is None  # the board's flash: no array on its heap
    flash = SimFlash(str(tmp_path / "wear.bin"), blocks=4, block_size=BS, wear=True)
    assert list(flash.block_erases) == [0, 0, 0, 0]
    flash.ioctl(6, 1)
    flash.ioctl(6, 1)
    flash.ioctl(6, 3)
    flash.writeblocks(2, b"w" * BS)  # the simple interface erases block 2 first
    flash.writeblocks(2, b"p" * 4, 0)  # a program alone erases nothing
    assert list(flash.block_erases) == [0, 2, 1, 1]
    assert sum(flash.block_erases) == flash.erases == 4
    for _ in range(70000):  # more than 16 bits hold: an old block does not wrap
        flash.ioctl(6, 0)
    assert flash.block_erases[0] == 70000


def test_a_cut_erase_is_not_counted_on_its_block(tmp_path):
    flash = SimFlash(str(tmp_path / "wear.bin"), blocks=4, block_size=BS, fault="erase:2",
                     on_cut=_cut, wear=True)
    flash.ioctl(6, 2)
    with pytest.raises(Cut):
        flash.ioctl(6, 2)
    assert list(flash.block_erases) == [0, 0, 1, 0]  # only the completed erase, as `erased`
