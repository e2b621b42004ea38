"""The pay-by-phone code on the idle screen: its one-time token, its URL and its QR
matrix (qr.py).

URL: `<pay_base>/pay/<terminal_id>/<nozzle>?t=<token>`. The token is 16 hex digits: the
time it was issued (8, the pump's clock: station time, seconds) and a MAC the station
checks (8: the first 4 bytes of HMAC-SHA256 under the pay key over
"<terminal_id>|<nozzle>|<time>"), the pay key being HMAC-SHA256(terminal key,
b"pumpside-pay"): derived from the link key the station holds for the terminal, never the
link key itself (`token` below; the station imports this module to check one). A new
token at boot, after each use (a sale starts at this pump: a phone's order authorised
here, or any other) and every `pay_rotate_s` seconds; the station takes a token once (one
order) and only while it is fresh (station/payments/tokens.py). The matrix is built when
the idle screen needs it and dropped when the screen changes, so no sale carries it in
the heap.
"""
from . import log, qr
from .compat import ticks_add, ticks_diff
from .mac import hmac_sha256

MAC_BYTES = 4  # 32 bits: guessed online only, once, within minutes
TOKEN_LEN = 8 + 2 * MAC_BYTES  # hex digits


def pay_key(terminal_key):
    """The key tokens are made with, from the terminal's link key (bytes)."""
    return hmac_sha256(terminal_key, b"pumpside-pay")


def token(key, terminal, nozzle, issued):
    """The token of `terminal`'s `nozzle` issued at `issued` (seconds) under `key`."""
    mac = hmac_sha256(key, ("%s|%d|%d" % (terminal, nozzle, issued)).encode())
    return "%08x%s" % (issued, mac[:MAC_BYTES].hex())


class PayCode:
    def __init__(self, base, terminal, nozzle, rotate_s, terminal_key):
        self.prefix = base + "/pay/" + terminal + "/" + str(nozzle) + "?t="
        self.terminal = terminal
        self.nozzle = nozzle
        self.key = pay_key(terminal_key)
        self.rotate_ms = rotate_s * 1000
        self.token = ""
        self._issued = 0
        self._code = None
        self._until = 0

    def url(self):
        return self.prefix + self.token

    def code(self, now, time):
        """(size, matrix) of the code to show at `now` (ticks_ms), `time` the clock's
        seconds: a new token once the last one's time is up or it was used (a later
        issue time than any before it: never the same token twice)."""
        if not self.token or ticks_diff(self._until, now) <= 0:
            issued = time if time > self._issued else self._issued + 1
            self._issued = issued
            self.token = token(self.key, self.terminal, self.nozzle, issued)
            self._until = ticks_add(now, self.rotate_ms)
            self._code = None
            log.event("pay_code", {"issued": issued})  # the token is on show: no secret
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
