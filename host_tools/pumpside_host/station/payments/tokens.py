"""The pumps' one-time pay tokens, checked by the station (the pump makes them:
firmware pumpside/paycode.py, whose `token` this module calls with the same key).

A token is 16 hex digits: its issue time (8, seconds by the pump's clock, which the
station sets) and a MAC under the terminal's pay key (derived from its link key) over
terminal, nozzle and issue time. The station takes one that verifies for this pump and
was issued at most MAX_AGE_S ago (the pump replaces its token every pay_rotate_s, 180 s
by default, and after each sale; a photo of an old code goes stale) and not more than
SKEW_S ahead of the station's clock. Each is taken once: an order made with it keeps it
(orders.py `token`) and a second order with it is refused (TokenUsed).
"""
import hmac

from pumpside.paycode import TOKEN_LEN, pay_key, token

MAX_AGE_S = 600
SKEW_S = 60
_HEX = frozenset("0123456789abcdef")


def valid(terminal_key, terminal, nozzle, text, now):
    """Whether `text` is a token the pump `nozzle` of `terminal` (its link key
    `terminal_key`) issued, fresh at `now`."""
    if not isinstance(text, str) or len(text) != TOKEN_LEN or not set(text) <= _HEX:
        return False
    issued = int(text[:8], 16)
    if not now - MAX_AGE_S <= issued <= now + SKEW_S:
        return False
    return hmac.compare_digest(token(pay_key(terminal_key), terminal, int(nozzle), issued),
                               text)
