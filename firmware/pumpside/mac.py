"""HMAC-SHA256 on hashlib (RFC 2104; MicroPython has no `hmac`) and a constant-time
comparison: the link's frame tags and session keys (protocol.py), the pay code's tokens
(paycode.py). A module of its own, small: the pay code needs no protocol in the heap."""
import hashlib

_BLOCK = 64


def pads(key):
    """The key's inner and outer padded blocks: made once per session key (a frame's tag
    then costs its hashing only)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_sha256(key, msg, more=b""):
    """HMAC-SHA256 of msg followed by more (two parts, so a frame's body is hashed where
    it lies: no concatenated copy of it on a small heap). `key`: bytes, or its pads()."""
    inner_pad, outer_pad = key if type(key) is tuple else pads(key)
    inner = hashlib.sha256(inner_pad)
    inner.update(msg)
    if more:
        inner.update(more)
    outer = hashlib.sha256(outer_pad)
    outer.update(inner.digest())
    return outer.digest()


def same(a, b):
    """Constant-time comparison of two byte strings."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
