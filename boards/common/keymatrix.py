"""The customer keypad: a 4x4 membrane matrix, plus the recall key as its own button.

Rows are open-drain outputs pulled low one at a time, columns are inputs with pull-ups;
a pressed key pulls its column low while its row is driven. One scan per read(). A key
is reported once, on the second consecutive scan that sees it down (the scan period is
the debounce), and again only after it was released. The recall key held down for
HOLD_SCANS scans also reports "I" (the software id: the front panel has no I key).
"""
import time

import machine

# front-panel layout, row by row (V volume, A amount, F fill-up preset; C cancel, E enter,
# S service); the recall key R is the 17th key and has its own input
LAYOUT = "123V456A789FC0ES"
HOLD_SCANS = 40  # 2 s at the firmware's 50 ms keypad poll


class KeyMatrix:
    def __init__(self, rows, cols, recall=None, layout=LAYOUT):
        self.rows = [machine.Pin(pin, machine.Pin.OPEN_DRAIN, value=1) for pin in rows]
        self.cols = [machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP) for pin in cols]
        self.recall = None
        if recall is not None:
            self.recall = machine.Pin(recall, machine.Pin.IN, machine.Pin.PULL_UP)
        self.layout = layout
        self._down = None
        self._sent = False
        self._held = 0  # scans the key has been down

    def _scan(self):
        if self.recall is not None and self.recall.value() == 0:
            return "R"
        ncols = len(self.cols)
        for i, row in enumerate(self.rows):
            row.value(0)
            time.sleep_us(10)  # the membrane's line capacitance settles
            for j, col in enumerate(self.cols):
                if col.value() == 0:
                    row.value(1)
                    return self.layout[i * ncols + j]
            row.value(1)
        return None

    def read(self):
        key = self._scan()
        if key != self._down:
            self._down = key
            self._sent = False
            self._held = 0
            return None
        if key is None:
            return None
        self._held += 1
        if key == "R" and self._held == HOLD_SCANS:
            return "I"
        if self._sent:
            return None
        self._sent = True
        return key
