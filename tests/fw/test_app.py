"""The Pump's wiring (app.py): a sale through the journal, storage trouble, the HAL,
a firmware that does not match its manifest."""
import json

from _t import raises, sleep_ms
from fakes import FakeBoard, fuelling_rig, press, pump_rig, remove_scratch, scratch_dir
from pumpside import dispenser, hal
from pumpside.compat import ticks_ms


def teardown_module():
    remove_scratch()


def test_screen_shows_grade_price_and_progress():
    board, pump = pump_rig()
    press(pump, "V100E")
    board.is_lifted = True
    pump.disp.tick()
    board.a = board.b = 50
    pump.disp.tick()
    lines = pump.screen(ticks_ms())
    assert lines[0] == "92#  7.59/L"
    assert lines[3] == "0.50 L  3.80"
    assert board.motor_log[-1] is True and board.valve_log[-1] == (True, True)


def test_a_checkpoint_that_renews_waits_while_a_valve_decision_is_near():
    """Its erase would hold up the control loop: at this flow (the ticks come within the
    same few ms, a stage's start has no flow to judge by) every step is near the slow-down
    or the close, so it waits for the settled count, written with the valves shut."""
    board, pump = pump_rig(checkpoint_ml=100, settle_ms=20)
    press(pump, "V100E")
    journal = pump.journal
    while not journal.checkpoint_renews():  # the directory's room used up to the reserve
        journal.checkpoint(0, 0, 0)
    board.is_lifted = True
    pump.disp.tick()
    for a in range(1, 101):
        board.a = board.b = a
        pump.disp.tick()
        assert pump.core.state != dispenser.FUELLING or journal.cp["pulses"] == 0
    board.is_lifted = False
    for _ in range(200):
        pump.disp.tick()
        if journal.open_sale is None:
            break
        sleep_ms(2)
    assert journal.last["pulses"] == 100 and not journal.checkpoint_renews()


def test_a_warning_as_the_meter_settles_marks_the_settled_checkpoint_warned():
    """The count did not move since the last checkpoint, but the warning came: the
    checkpoint is written again, warned, so a cut during the FINAL recovers it as exact."""
    from pumpside import record as rec

    board, pump = fuelling_rig(50, checkpoint_ml=200, settle_ms=20)
    pulses = pump.journal.cp["pulses"]
    assert pulses >= 20 and not pump.journal.cp["flags"] & rec.F_WARNED
    board.power_warning = True
    delivery = dispenser.Delivery("92", 7590, "V", pulses, pulses * 10, 0, dispenser.STOP_CAP,
                                  1000, 0, False, 0, 0)
    flags = pump.recorder.settled(delivery, ticks_ms())
    assert flags & rec.F_WARNED and pump.journal.cp["pulses"] == pulses
    assert pump.journal.cp["flags"] & rec.F_WARNED


def test_hal_check_names_the_missing_role():
    board = FakeBoard()
    hal.check(board)
    board.keypad = None
    e = raises(hal.HalError, hal.check, board)
    assert "keypad" in str(e)
    board = FakeBoard()
    board.pulser = object()
    assert "count" in str(raises(hal.HalError, hal.check, board))


def test_sale_settles_into_the_journal_with_checkpoints():
    board, pump = fuelling_rig(50, checkpoint_ml=200, settle_ms=20)
    assert pump.journal.cp["pulses"] >= 20  # checkpointed every 200 ml
    for a in range(55, 101, 5):
        board.a = board.b = a
        pump.disp.tick()
    board.is_lifted = False
    for _ in range(200):
        pump.disp.tick()
        if pump.journal.open_sale is None:
            break
        sleep_ms(2)
    sales = pump.journal
    assert sales.open_sale is None and sales.last["ml"] == 1000 and sales.last["amount"] == 759
    assert sales.totals.volume_ml == 1000 and sales.unsynced == 1 and sales.cp is None
    assert sales.recover(0) is None  # the stale checkpoint file settles nothing


def test_journal_write_failure_closes_the_pump_and_says_why():
    board, pump = pump_rig()
    press(pump, "V100E")
    assert pump.journal.open_sale is not None

    def full(*args):
        raise OSError(28)  # ENOSPC

    pump.journal.checkpoint = full
    pump.journal.finish = full
    board.is_lifted = True
    pump.disp.tick()
    board.a = board.b = 80
    pump.disp.tick()
    closed = pump.terminal.closed
    assert closed is not None and "journal write failed" in closed
    pump.disp.tick()  # the next control tick shuts the valves
    assert pump.core.state == dispenser.SETTLING and board.valve_log[-1] == (False, False)
    lines = pump.screen(ticks_ms())
    assert lines[1:3] == ["暂停服务", "Pump closed"]
    press(pump, "V100E")  # no new sale while closed
    assert pump.journal.sale_no == 1


def test_firmware_that_does_not_match_its_manifest_keeps_the_pump_closed():
    import os

    from pumpside import manifest

    tree = scratch_dir()
    os.mkdir(tree + "/pumpside")
    with open(tree + "/pumpside/meter.py", "w") as f:
        f.write("K = 1\n")
    with open(tree + "/" + manifest.NAME, "w") as f:
        f.write(json.dumps(manifest.make({"pumpside/meter.py": "00" * 32})))
    why = []

    async def closed(board, text):
        why.append(text)

    board = FakeBoard()

    class BoardModule:  # what main.py hands boot.run: the board module
        @staticmethod
        def make():
            return board

    from pumpside import boot

    own_root, boot_closed = manifest.own_root, boot.closed
    manifest.own_root = lambda: tree
    boot.closed = closed
    try:
        boot.run(BoardModule)  # checked before app (or a damaged module) is imported
    finally:
        manifest.own_root, boot.closed = own_root, boot_closed
    assert why and "pumpside/meter.py" in why[0], why
    assert board.valve_log == [(False, False)] and board.motor_log == [False]


def test_every_message_has_both_languages():
    from pumpside import prompts

    keys = prompts.keys()
    assert len(keys) == len(set(keys)) > 50 and "ready" in keys and "POWER" in keys
    for key in keys:
        zh, en = prompts.lines(key)
        assert zh and en and zh != en, key
        assert prompts.both(key) == zh + " " + en
    assert prompts.lines("closed") == ["暂停服务", "Pump closed"]
    raises(KeyError, prompts.lines, "no_such_message")
    raises(KeyError, prompts.lines, "read")  # a key's prefix is not the key
