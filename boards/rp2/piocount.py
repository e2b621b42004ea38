"""A pulser channel counted by a PIO state machine: edges are counted in hardware at any
rate the CPU is busy, and read on demand through the state machine's RX FIFO.

The program keeps the count in X, running down (X = -count mod 2**32, from wherever X
stood: only differences are used). A reading
execs `mov(isr, x)` and `push()` into the state machine (PIO runs an exec'd instruction
at once, between its own, without moving its program counter) and takes the word from
the RX FIFO. The 32-bit hardware count is extended in software: each reading adds the
difference from the last one modulo 2**32, so count() is monotonic past the wrap (at
100 pulses per litre a wrap is 43 million litres away, but a long-lived pump gets there
no sooner than a test would).
"""
import machine
import rp2
from micropython import const

TYPE_CHECKING = False
if TYPE_CHECKING:  # the PIO assembler's names exist only inside an @asm_pio function
    from rp2.asm_pio import jmp, label, pin, wait, x_dec

# 200 kHz: 5 us per PIO cycle, so the [31] delays below make a 160 us glitch filter (a
# pulse must still be high 160 us after its rising edge). A pulser at 120 L/min and
# 133.5 pulses per litre gives 267 Hz: 1.9 ms high, 1.9 ms low.
FREQ = const(200000)
_MASK = const(0xFFFFFFFF)


@rp2.asm_pio()
def _edges():
    label("top")
    wait(0, pin, 0)[31]  # low, then hold off 32 cycles
    wait(1, pin, 0)[31]  # rising edge, then 32 cycles later...
    jmp(pin, "count")  # ...still high: a real pulse
    jmp("top")  # a glitch: not counted
    label("count")
    jmp(x_dec, "top")
    jmp("top")  # X was 0 and wrapped to 2**32 - 1: still one edge counted


class PioCounter:
    def __init__(self, sm_id, pin_id):
        pin = machine.Pin(pin_id, machine.Pin.IN, machine.Pin.PULL_UP)
        self.sm = rp2.StateMachine(sm_id, _edges, freq=FREQ, in_base=pin, jmp_pin=pin)
        self._mov = rp2.asm_pio_encode("mov(isr, x)", 0)
        self._push = rp2.asm_pio_encode("push()", 0)
        self.sm.active(1)
        self._raw = self._read()
        self.total = 0

    def _read(self):
        state_machine = self.sm
        while state_machine.rx_fifo():  # nothing else pushes, but never read a stale word
            state_machine.get()
        state_machine.exec(self._mov)
        state_machine.exec(self._push)
        return -state_machine.get() & _MASK

    def count(self):
        raw = self._read()
        self.total += (raw - self._raw) & _MASK
        self._raw = raw
        return self.total
