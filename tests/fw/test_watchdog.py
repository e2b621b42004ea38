"""The watchdog's feeding rule (watchdog.py): the control loop feeds only when every task
that counts checked in since the last feed; a watchdog test hangs one task; the resets
it caused are counted on the flash."""
from _t import TempDir, raises
from fakes import FakeBoard, pump_rig, remove_scratch
from pumpside import hal, watchdog


def teardown_module():
    remove_scratch()


def test_fed_only_when_every_counted_task_checked_in():
    board = FakeBoard()
    watch = watchdog.Watchdog(board.wdt)
    watch.start(3000)
    assert board.wdt_ms == 3000 and board.feeds == 1  # fed as it starts
    watch.tick()
    assert board.feeds == 1  # the keypad has not checked in
    assert not watch.check_in(watchdog.KEYPAD)
    watch.tick()
    watch.tick()
    assert board.feeds == 2  # one feed per round of check-ins, not per tick
    watch.count(watchdog.DESK)  # a card pump: the desk counts too
    watch.check_in(watchdog.KEYPAD)
    watch.check_in(watchdog.KEYPAD)
    watch.tick()
    assert board.feeds == 2  # the desk is silent: no feed, however often the keypad beats
    watch.check_in(watchdog.DESK)
    watch.tick()
    assert board.feeds == 3


def test_a_watchdog_test_hangs_the_task_it_names():
    board = FakeBoard()
    watch = watchdog.Watchdog(board.wdt)
    watch.count(watchdog.DESK)
    board.wdt_hang = "desk"
    watch.check_in(watchdog.KEYPAD)
    watch.check_in(watchdog.DESK)
    watch.tick()  # the board names the task with the feed
    assert watch.check_in(watchdog.DESK) and not watch.check_in(watchdog.KEYPAD)
    board.wdt_hang = None
    watch.tick()
    assert not watch.check_in(watchdog.DESK)


def test_a_board_without_a_watchdog_test_never_hangs_a_task():
    class Plain:  # a real board's role: no hang()
        def feed(self):
            pass

    watch = watchdog.Watchdog(Plain())
    watch.check_in(watchdog.KEYPAD)
    watch.tick()
    assert not watch.check_in(watchdog.KEYPAD)


def test_resets_are_counted_on_the_flash_only_when_the_watchdog_caused_them():
    with TempDir() as root:
        path = root + "/wdt_resets"
        assert watchdog.count_reset(path, False) == 0
        assert watchdog.count_reset(path, True) == 1
        assert watchdog.count_reset(path, False) == 1  # a power cut: kept, not counted
        assert watchdog.count_reset(path, True) == 2


def test_the_control_loop_feeds_while_the_keypad_checks_in():
    board, pump = pump_rig()
    pump.disp.tick()
    assert board.feeds == 0
    pump.watch.check_in(watchdog.KEYPAD)  # what Keypad.run does every pass
    pump.disp.tick()
    pump.disp.tick()
    assert board.feeds == 1


def test_hal_check_names_the_missing_watchdog():
    board = FakeBoard()
    board.wdt = None
    assert "wdt" in str(raises(hal.HalError, hal.check, board))
