"""Attended presets (attended.py): V litres, A amount, F fill-up, keyed on the pump."""
from fakes import press, pump_rig, remove_scratch
from pumpside import dispenser
from pumpside.compat import ticks_ms


def teardown_module():
    remove_scratch()


def test_volume_preset_keyed_in_hundredths_of_a_litre():
    board, pump = pump_rig()
    press(pump, "V2000")
    assert pump.screen(ticks_ms())[3] == "20.00 L"
    press(pump, "E")
    assert pump.core.state == dispenser.AUTHORIZED
    assert pump.core._auth.volume_ml == 20000 and pump.core._auth.mode == "V"


def test_amount_preset_and_clear():
    board, pump = pump_rig()
    press(pump, "A12C")
    assert pump.presets.entry is None and pump.core.state == dispenser.IDLE
    press(pump, "A5000E")
    assert pump.core._auth.amount == 5000 and pump.core._auth.mode == "A"
    press(pump, "C")  # customer cancels while waiting for the nozzle
    pump.disp.tick()
    assert pump.core.state == dispenser.SETTLING


def test_empty_preset_refused_with_a_prompt():
    board, pump = pump_rig()
    press(pump, "VE")
    assert pump.core.state == dispenser.IDLE
    assert pump.screen(ticks_ms())[2] == "Preset refused"


def test_fill_up_is_one_key():
    board, pump = pump_rig()
    press(pump, "F")
    assert pump.core._auth.mode == "F"


def test_authorization_is_journaled_before_a_valve_can_open():
    board, pump = pump_rig()
    press(pump, "V100E")
    sale = pump.journal.open_sale
    assert sale is not None and sale["sale"] == 1
    assert sale["preset_ml"] == 1000 and sale["price"] == 7590
    assert board.valve_log == []  # nothing opened yet; the record came first


def test_offline_limit_refuses_new_sales_with_a_prompt():
    board, pump = pump_rig(max_unsynced_sales=1)
    pump.journal.unsynced = 1
    press(pump, "V100E")
    assert pump.journal.open_sale is None and pump.core.state == dispenser.IDLE
    assert pump.screen(ticks_ms())[2] == "Offline sales limit - sync needed"


def test_power_warning_refuses_new_sales():
    board, pump = pump_rig()
    board.power_warning = True
    press(pump, "V100E")
    assert pump.core.state == dispenser.IDLE and pump.journal.open_sale is None
