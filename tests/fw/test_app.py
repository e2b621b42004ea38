import json

from _t import raises, rmtree, sleep_ms, tmpdir
from fakes import FakeBoard
from pumpside import app, config, dispenser, hal
from pumpside.compat import ticks_ms
from pumpside.journal import Journal

CFG = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
       "service_pin": "2468", "sale_mode": "attended"}


_DIRS = []


def _pump(events=None, software_id="", **over):
    board = FakeBoard()
    cfg = dict(CFG)
    cfg.update(over)
    root = tmpdir()
    _DIRS.append(root)
    journal = Journal(root + "/journal")
    journal.open()
    return board, app.Pump(board, config.parse(json.dumps(cfg)), journal, events=events,
                           software_id=software_id)


def teardown_module():
    while _DIRS:
        rmtree(_DIRS.pop())


def _keys(pump, keys):
    for k in keys:
        pump.keypad.key(k, ticks_ms())


def test_volume_preset_keyed_in_hundredths_of_a_litre():
    board, pump = _pump()
    _keys(pump, "V2000")
    assert pump.screen(ticks_ms())[3] == "20.00 L"
    _keys(pump, "E")
    assert pump.core.state == dispenser.AUTHORIZED
    assert pump.core._auth.volume_ml == 20000 and pump.core._auth.mode == "V"


def test_amount_preset_and_clear():
    board, pump = _pump()
    _keys(pump, "A12C")
    assert pump.presets.entry is None and pump.core.state == dispenser.IDLE
    _keys(pump, "A5000E")
    assert pump.core._auth.amount == 5000 and pump.core._auth.mode == "A"
    _keys(pump, "C")  # customer cancels while waiting for the nozzle
    pump.disp.tick()
    assert pump.core.state == dispenser.SETTLING


def test_empty_preset_refused_with_a_prompt():
    board, pump = _pump()
    _keys(pump, "VE")
    assert pump.core.state == dispenser.IDLE
    assert pump.screen(ticks_ms())[2] == "Preset refused"


def test_fill_up_is_one_key():
    board, pump = _pump()
    _keys(pump, "F")
    assert pump.core._auth.mode == "F"


def test_service_pin_masked_and_checked():
    board, pump = _pump()
    pump.core.lock(dispenser.STOP_UNAUTHORIZED)
    _keys(pump, "S24")
    assert pump.screen(ticks_ms())[3] == "**"
    _keys(pump, "69E")
    assert pump.core.state == dispenser.LOCKED
    assert pump.screen(ticks_ms())[2] == "Wrong PIN"
    _keys(pump, "S2468E")
    assert pump.core.state == dispenser.IDLE
    for lines in board.screens:
        assert "2468" not in " ".join(lines)


def test_screen_shows_grade_price_and_progress():
    board, pump = _pump()
    _keys(pump, "V100E")
    board.is_lifted = True
    pump.disp.tick()
    board.a = board.b = 50
    pump.disp.tick()
    lines = pump.screen(ticks_ms())
    assert lines[0] == "92#  7.59/L"
    assert lines[3] == "0.50 L  3.80"
    assert board.motor_log[-1] is True and board.valve_log[-1] == (True, True)


def test_same_secret_compares_whole_strings():
    assert config.same_secret("2468", "2468")
    assert not config.same_secret("2467", "2468")
    assert not config.same_secret("246", "2468")
    assert not config.same_secret("24680", "2468")


def test_hal_check_names_the_missing_role():
    board = FakeBoard()
    hal.check(board)
    board.keypad = None
    e = raises(hal.HalError, hal.check, board)
    assert "keypad" in str(e)
    board = FakeBoard()
    board.pulser = object()
    assert "count" in str(raises(hal.HalError, hal.check, board))


def test_authorization_is_journaled_before_a_valve_can_open():
    board, pump = _pump()
    _keys(pump, "V100E")
    journal = pump.journal
    assert journal.open_sale is not None and journal.open_sale["sale"] == 1
    assert journal.open_sale["preset_ml"] == 1000 and journal.open_sale["price"] == 7590
    assert board.valve_log == []  # nothing opened yet; the record came first


def test_sale_settles_into_the_journal_with_checkpoints():
    board, pump = _pump(checkpoint_ml=200, settle_ms=20)
    _keys(pump, "V100E")
    board.is_lifted = True
    pump.disp.tick()
    for a in range(0, 101, 5):
        board.a = board.b = a
        pump.disp.tick()
        if a == 50:
            assert pump.journal.cp["pulses"] >= 20  # checkpointed every 200 ml
    board.is_lifted = False
    for _ in range(200):
        pump.disp.tick()
        if pump.journal.open_sale is None:
            break
        sleep_ms(2)
    journal = pump.journal
    assert journal.open_sale is None
    assert journal.last["ml"] == 1000 and journal.last["amount"] == 759
    assert journal.totals.volume_ml == 1000 and journal.unsynced == 1 and journal.cp is None
    assert journal.recover(0) is None  # the stale checkpoint file settles nothing


def test_offline_limit_refuses_new_sales_with_a_prompt():
    board, pump = _pump(max_unsynced_sales=1)
    pump.journal.unsynced = 1
    _keys(pump, "V100E")
    assert pump.journal.open_sale is None and pump.core.state == dispenser.IDLE
    assert pump.screen(ticks_ms())[2] == "Offline sales limit - sync needed"


def test_power_warning_refuses_new_sales():
    board, pump = _pump()
    board.power_warning = True
    _keys(pump, "V100E")
    assert pump.core.state == dispenser.IDLE and pump.journal.open_sale is None


def test_journal_write_failure_closes_the_pump_and_says_why():
    board, pump = _pump()
    _keys(pump, "V100E")
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
    _keys(pump, "V100E")  # no new sale while closed
    assert pump.journal.sale_no == 1


def test_software_id_on_demand_and_never_over_a_delivery():
    from pumpside import manifest

    board, pump = _pump(software_id="0123456789abcdef")
    _keys(pump, "I")
    lines = pump.screen(ticks_ms())
    assert lines[2] == "Software version, id"
    assert lines[3] == manifest.VERSION + " 0123456789abcdef"
    _keys(pump, "V100E")
    _keys(pump, "I")
    assert pump.screen(ticks_ms())[2] == "Lift the nozzle"


def test_service_pin_shows_the_event_counter():
    from pumpside import events

    root = tmpdir()
    _DIRS.append(root)
    board, pump = _pump(events=events.open_log(root + "/events"))
    pump.events.append(1795000000, "t1", "k_factor", 100000, 99502)
    _keys(pump, "S2468E")  # idle: service mode, nothing to unlock
    lines = pump.screen(ticks_ms())
    assert lines[2] == "Service mode" and lines[3] == "events 1/%d" % events.CAPACITY
    pump.core.lock(dispenser.STOP_UNAUTHORIZED)
    _keys(pump, "S2468E")
    lines = pump.screen(ticks_ms())
    assert pump.core.state == dispenser.IDLE
    assert lines[2] == "Pump unlocked" and lines[3].startswith("events 1/")


def test_firmware_that_does_not_match_its_manifest_keeps_the_pump_closed():
    import os

    from pumpside import manifest

    tree = tmpdir()
    _DIRS.append(tree)
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
