"""The display as a pure function of a snapshot (screen.py): every screen from a dict."""
from pumpside import dispenser, screen


def _view(**over):
    view = {"grade": "92", "price": 7590, "nozzle": 1, "closed": None, "suspended": False,
            "alarms": 0, "last_alarm": "", "recall": False, "last": None, "note": None,
            "note_value": "", "entry": None, "digits": "", "state": dispenser.IDLE,
            "lock_reason": 0, "ml": 0, "amount": 0, "desk": None, "card_stage": 0}
    view.update(over)
    return view


def _bill(ml, amount, stop=dispenser.STOP_CAP):
    return {"ml": ml, "amount": amount, "stop": stop}


def test_idle_shows_the_grade_the_price_and_the_preset_keys():
    lines = screen.lines(_view())
    assert lines == ["92#  7.59/L", "请选择预置", "Preset: V litres A amount F fill", ""]
    assert screen.lines(_view(grade="95", price=8123))[0] == "95#  8.123/L"  # 3 decimals


def test_closed_wins_over_everything_and_says_why():
    lines = screen.lines(_view(closed="flash damaged", note="refused",
                               state=dispenser.FUELLING, ml=1000))
    assert lines[2:] == ["Pump closed", "flash damaged"]


def test_recall_then_note_then_entry():
    last = _bill(20000, 15180)
    assert screen.lines(_view(recall=True, last=last))[2:] == ["Last sale", "20.00 L  151.80"]
    assert screen.lines(_view(note="wrong_pin", note_value="x"))[2:] == ["Wrong PIN", "x"]
    assert screen.lines(_view(entry="S", digits="1234"))[3] == "****"
    assert screen.lines(_view(entry="V", digits="2050"))[2:] == [
        "Enter litres, E to confirm", "20.50 L"]
    assert screen.lines(_view(entry="A", digits=""))[3] == "0.00"


def test_dispenser_states():
    locked = screen.lines(_view(state=dispenser.LOCKED, lock_reason=dispenser.STOP_PULSER))
    assert locked[2] == "Pump locked - call service" and locked[3]
    assert screen.lines(_view(state=dispenser.AUTHORIZED))[2] == "Lift the nozzle"
    for state in (dispenser.FUELLING, dispenser.SETTLING):
        lines = screen.lines(_view(state=state, ml=12340, amount=9366))
        assert lines[2:] == ["Fuelling", "12.34 L  93.66"]


def test_the_card_desk_then_the_last_sale_while_shown():
    assert screen.lines(_view(desk=("insert_card", "")))[2] == "Insert your fuel card"
    done = screen.lines(_view(last=_bill(5000, 3795)))
    assert done[2:] == ["Sale complete, thank you", "5.00 L  37.95"]
    stopped = screen.lines(_view(last=_bill(100, 76, dispenser.STOP_CANCEL)))
    assert stopped[2] != done[2] and stopped[3] == "0.10 L  0.76"
