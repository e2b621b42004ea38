# Run by tests/mpy/test_qr_mpy.py on the MicroPython unix port (tier 2's heap). Each line
# of stdin (hex, "-" for none; not arguments: this port dies on an argument past 255
# bytes) encoded with pumpside.qr: a line "size hexmatrix" each; then the first drawn by
# the SSD1306 driver (ssd1306.TextDisplay) beside the idle lines: "pixels hex"; then
# "heap" free before, and what the encoding allocated.
import gc
import sys

import framebuf
from ssd1306 import TextDisplay

from pumpside import qr


class Panel:
    def __init__(self):
        self.buf = bytearray(1024)
        self.fb = framebuf.FrameBuffer(self.buf, 128, 64, framebuf.MONO_VLSB)

    def flush(self):
        pass


gc.collect()
free = gc.mem_free()
least = free
codes = []
# "-" stands for the empty payload
for arg in sys.stdin.read().split():
    code = qr.encode(bytes.fromhex(arg.strip("-")))
    least = min(least, gc.mem_free())
    print(code[0], code[1].hex())
    codes.append(code)
panel = Panel()
TextDisplay(panel).show(["92#  7.59/L", "请插卡", "Insert card", ""], codes[0])
print("pixels", panel.buf.hex())
print("heap", free, free - least)
