"""The customer display: a 128x64 SSD1306 OLED on I2C (address 0x3C), drawn with
framebuf's 8x8 font: 8 lines of 16 characters, long lines wrapped at a space; beside a
pay-by-phone QR code, 8 lines of 8 characters on the left and the code on a lit 64x64
square on the right (dark modules on light, as scanners want; 2 px a module up to
version 3, else 1 px).
The sim board draws its virtual panel's pixels with TextDisplay too.

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


def _code(fb, code):
    # the square's margin around the code is its quiet zone: 3 px (1.5 modules) at
    # version 3, more below; the text columns left of the square
    size, matrix = code
    px = 2 if size * 2 + 4 <= HEIGHT else 1
    x0 = WIDTH - HEIGHT
    fb.fill_rect(x0, 0, HEIGHT, HEIGHT, 1)
    off = (HEIGHT - size * px) // 2
    for y in range(size):
        row = y * size
        for x in range(size):
            if matrix[row + x]:
                fb.fill_rect(x0 + off + x * px, off + y * px, px, px, 0)
    return x0 // 8


class TextDisplay:
    """The display role: show(lines, code=None) puts one screen up, long lines wrap;
    code: (size, matrix) of a QR code (pumpside.qr) drawn at the right."""

    def __init__(self, panel):
        self.panel = panel

    def show(self, lines, code=None):
        fb = self.panel.fb
        fb.fill(0)
        cols = COLS if code is None else _code(fb, code)
        row = 0
        for line in lines:
            if not _ascii(line):
                continue
            while row < ROWS:
                cut = cols
                if len(line) > cols:  # wrapped at a space where there is one
                    space = line.rfind(" ", 0, cols + 1)
                    cut = space if space > 0 else cols
                fb.text(line[:cut], 0, row * 8, 1)
                row += 1
                line = line[cut:].lstrip()
                if not line:
                    break
        self.panel.flush()
