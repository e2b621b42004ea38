"""The customer display: a 128x64 SSD1306 OLED on I2C (address 0x3C), drawn with
framebuf's 8x8 font: 8 lines of 16 characters.

framebuf has ASCII glyphs only: a line with other characters (the Chinese line of a
prompt) is left out and the English line shows. A Chinese display needs a font on flash
(docs/boards.md, not done).
"""
import framebuf
from micropython import const

WIDTH = const(128)
HEIGHT = const(64)
COLS = const(16)
ROWS = const(8)

# power-up sequence from the SSD1306 datasheet (charge pump on, horizontal addressing)
_INIT = (0xAE, 0x20, 0x00, 0x40, 0xA1, 0xA8, 0x3F, 0xC8, 0xD3, 0x00, 0xDA, 0x12,
         0xD5, 0x80, 0xD9, 0xF1, 0xDB, 0x30, 0x81, 0xCF, 0xA4, 0xA6, 0x8D, 0x14, 0xAF)


class Ssd1306:
    def __init__(self, i2c, addr=0x3C):
        self.i2c = i2c
        self.addr = addr
        self.buf = bytearray(WIDTH * HEIGHT // 8)
        self.fb = framebuf.FrameBuffer(self.buf, WIDTH, HEIGHT, framebuf.MONO_VLSB)
        self._cmd = bytearray(2)
        for code in _INIT:
            self.command(code)

    def command(self, code):
        self._cmd[0] = 0x80  # Co = 1, D/C = 0: one command byte follows
        self._cmd[1] = code
        self.i2c.writeto(self.addr, self._cmd)

    def flush(self):
        for code in (0x21, 0, WIDTH - 1, 0x22, 0, HEIGHT // 8 - 1):  # the whole screen
            self.command(code)
        self.i2c.writevto(self.addr, (b"\x40", self.buf))


def _ascii(line):
    for ch in line:
        if ord(ch) > 126:
            return False
    return True


class TextDisplay:
    """The display role: show(lines) puts one screen up, long lines wrap."""

    def __init__(self, panel):
        self.panel = panel

    def show(self, lines):
        fb = self.panel.fb
        fb.fill(0)
        row = 0
        for line in lines:
            if not _ascii(line):
                continue
            while row < ROWS:
                fb.text(line[:COLS], 0, row * 8, 1)
                row += 1
                line = line[COLS:]
                if not line:
                    break
        self.panel.flush()
