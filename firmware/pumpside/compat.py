"""The only module that knows CPython from MicroPython.

Everything else imports `const`, the `ticks_*` functions, `sleep_ms`, `wait_for_ms` and
`print_exception` from here.
On CPython the tick counters wrap at 2**30 like a 32-bit MicroPython port, so wrap-around
bugs show up in the desktop tests too.
"""
import sys

MICROPYTHON = sys.implementation.name == "micropython"

if MICROPYTHON:
    from asyncio import sleep_ms, wait_for_ms  # noqa: F401
    from time import ticks_add, ticks_diff, ticks_ms, ticks_us  # noqa: F401

    from micropython import const  # noqa: F401

    def print_exception(exc):
        sys.print_exception(exc)  # noqa

    def mem_free():
        import gc

        gc.collect()
        return gc.mem_free()

    def to_send(buf):
        """What a stream's write() may take of a buffer that is reused after it: the
        stream sends what it can and copies the rest (MicroPython's asyncio)."""
        return buf

else:
    import time as _time
    import traceback as _tb

    def const(value):
        return value

    _PERIOD = 1 << 30
    _MASK = _PERIOD - 1
    _HALF = _PERIOD >> 1

    def ticks_ms():
        return _time.monotonic_ns() // 1000000 & _MASK

    def ticks_us():
        return _time.monotonic_ns() // 1000 & _MASK

    def ticks_add(ticks, delta):
        return (ticks + delta) & _MASK

    def ticks_diff(end, start):
        return ((end - start + _HALF) & _MASK) - _HALF

    async def sleep_ms(ms):
        import asyncio

        await asyncio.sleep(ms / 1000)

    async def wait_for_ms(awaitable, ms):
        import asyncio

        return await asyncio.wait_for(awaitable, ms / 1000)

    def print_exception(exc):
        _tb.print_exception(type(exc), exc, exc.__traceback__)

    def mem_free():
        return None  # CPython has no fixed heap

    def to_send(buf):
        """CPython's transports keep a reference to what they could not send yet: a copy
        of a buffer that is reused after it."""
        return bytes(buf)
