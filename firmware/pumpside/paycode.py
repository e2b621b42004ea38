"""The pay-by-phone code on the idle screen: its one-time token, its URL and its QR
matrix (qr.py).

URL: `<pay_base>/pay/<terminal_id>/<nozzle>?t=<token>`, the token 12 hex digits (48 bits)
from os.urandom. A new token at boot, after each use (a sale starts at this pump) and
every `pay_rotate_s` seconds. The station does not check tokens yet (issue 16's later
steps: it will issue or validate them); a token that is never shown twice is what the
pump can promise alone. The matrix is built when the idle screen needs it and dropped
when the screen changes, so no sale carries it in the heap.
"""
import os

from . import qr
from .compat import ticks_add, ticks_diff

TOKEN_BYTES = 6


class PayCode:
    def __init__(self, base, terminal, nozzle, rotate_s):
        self.prefix = base + "/pay/" + terminal + "/" + str(nozzle) + "?t="
        self.rotate_ms = rotate_s * 1000
        self.token = ""
        self._code = None
        self._until = 0

    def url(self):
        return self.prefix + self.token

    def code(self, now):
        """(size, matrix) of the code to show at `now` (ticks_ms): a new token once the
        last one's time is up."""
        if not self.token or ticks_diff(self._until, now) <= 0:
            self.token = os.urandom(TOKEN_BYTES).hex()
            self._until = ticks_add(now, self.rotate_ms)
            self._code = None
        if self._code is None:
            self._code = qr.encode(self.url().encode())
        return self._code

    def drop(self):
        """The idle screen is gone: the matrix's heap back, the token kept."""
        self._code = None

    def used(self):
        """A sale started: its token is spent."""
        self.token = ""
        self._code = None
