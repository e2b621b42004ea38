"""The watchdog's feeding rule (dispenser.Dispenser.watch): the control loop feeds only
when every task that counts checked in since the last feed; a watchdog test hangs one
task; ^C holds the watchdog for the technician."""
from _t import raises
from fakes import FakeBoard, pump_rig, remove_scratch
from pumpside import dispenser, hal

KEYPAD = dispenser.TASK_KEYPAD
DESK = dispenser.TASK_DESK


def teardown_module():
    remove_scratch()


def test_fed_only_when_every_counted_task_checked_in():
    board, pump = pump_rig()
    disp = pump.disp
    disp.tick()
    assert board.feeds == 0 and board.wdt_ms is None  # started with the tasks (Pump.run)
    disp.watch(board.wdt, 3000, KEYPAD)
    assert board.wdt_ms == 3000 and board.feeds == 1  # fed as it starts
    disp.tick()
    assert board.feeds == 1  # the keypad has not checked in
    assert not disp.check_in(KEYPAD)
    disp.tick()
    disp.tick()
    assert board.feeds == 2  # one feed per round of check-ins, not per tick
    disp.tick()
    assert board.feeds == 2  # the keypad went silent: the board will reset


def test_on_a_card_pump_the_desk_counts_too():
    board, pump = pump_rig()
    disp = pump.disp
    disp.watch(board.wdt, 3000, KEYPAD | DESK)
    disp.check_in(KEYPAD)
    disp.check_in(KEYPAD)
    disp.tick()
    assert board.feeds == 1  # the desk is silent: no feed, however often the keypad beats
    disp.check_in(DESK)
    disp.tick()
    assert board.feeds == 2


def test_a_watchdog_test_hangs_the_task_it_names():
    board, pump = pump_rig()
    disp = pump.disp
    disp.watch(board.wdt, 3000, KEYPAD | DESK)
    board.wdt_hang = "desk"
    disp.check_in(KEYPAD)
    disp.check_in(DESK)
    disp.tick()  # the board names the task with the feed
    assert disp.check_in(DESK) and not disp.check_in(KEYPAD)
    board.wdt_hang = None
    disp.tick()
    assert not disp.check_in(DESK)


def test_a_board_without_a_watchdog_test_never_hangs_a_task():
    class Plain:  # a real board's role: no hang()
        def start(self, timeout_ms):
            pass

        def feed(self):
            pass

    board, pump = pump_rig()
    pump.disp.watch(Plain(), 3000, KEYPAD)
    pump.disp.check_in(KEYPAD)
    pump.disp.tick()
    assert not pump.disp.check_in(KEYPAD)


def test_a_technician_at_the_repl_holds_the_watchdog():
    board, pump = pump_rig()
    pump.disp.watch(board.wdt, 3000, KEYPAD)
    pump.interrupted()  # ^C: outputs off, the watchdog held (a timer feeds it)
    assert board.wdt_ms is None


def test_hal_check_names_the_missing_watchdog():
    board = FakeBoard()
    board.wdt = None
    assert "wdt" in str(raises(hal.HalError, hal.check, board))
