"""What the pump's display shows: a pure function of a snapshot of the terminal.

`lines(view)` turns the dict that `app.Pump.snapshot` takes (closed, note, entry, state,
progress, the card desk's prompt, the last sale) into the display's four lines: the
grade and price in force, then a message in both languages (prompts.py), then a value.
Nothing here reads a clock or a device, so every screen is tested from a dict alone.
"""
from . import dispenser, meter, prompts


def volume_amount(ml, amount):
    return meter.fmt_litres(ml) + " L  " + meter.fmt_fixed(amount, 2)


def lines(view):
    head = [view["grade"] + "#  " + meter.fmt_price(view["price"]) + "/L"]
    if view["closed"]:
        return head + prompts.lines("closed") + [view["closed"]]
    last = view["last"]  # the last settled bill, while it is shown
    if view["recall"]:
        return head + prompts.lines("last_sale") + [volume_amount(last["ml"], last["amount"])]
    if view["note"]:
        return head + prompts.lines(view["note"]) + [view["note_value"]]
    entry = view["entry"]
    if entry == "S":
        return head + prompts.lines("service_pin") + ["*" * len(view["digits"])]
    if entry is not None:
        value = int(view["digits"]) if view["digits"] else 0
        if entry == "V":
            return head + prompts.lines("enter_volume") + [meter.fmt_fixed(value, 2) + " L"]
        return head + prompts.lines("enter_amount") + [meter.fmt_fixed(value, 2)]
    state = view["state"]
    if state == dispenser.LOCKED:
        why = dispenser.STOP_NAMES.get(view["lock_reason"], "")
        return head + prompts.lines("locked") + [prompts.both(why) if why else ""]
    if state == dispenser.AUTHORIZED:
        return head + prompts.lines("lift") + [""]
    if state == dispenser.FUELLING or state == dispenser.SETTLING:
        return head + prompts.lines("fuelling") + [volume_amount(view["ml"], view["amount"])]
    desk = view["desk"]  # the card desk's (prompt, value)
    if desk is not None:
        return head + prompts.lines(desk[0]) + [desk[1]]
    if last is not None:
        stop = last["stop"]
        key = "done" if stop in (dispenser.STOP_CAP, dispenser.STOP_NOZZLE) else \
            dispenser.STOP_NAMES[stop]
        return head + prompts.lines(key) + [volume_amount(last["ml"], last["amount"])]
    return head + prompts.lines("ready") + [""]


def idle(view):
    """The screen invites a new sale ("insert card", or the presets): where the
    pay-by-phone code shows beside it."""
    if view["closed"] or view["recall"] or view["note"] or view["last"] is not None \
            or view["entry"] is not None or view["state"] != dispenser.IDLE:
        return False
    desk = view["desk"]
    return desk is None or desk[0] == "insert_card"
