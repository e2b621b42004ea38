"""Helpers for firmware tests that run under both pytest (CPython) and the MicroPython
unix port (tests/mprun.py): no pytest import at module level."""
import sys

MICROPYTHON = sys.implementation.name == "micropython"


class Skip(Exception):
    pass


def skip(reason):
    if not MICROPYTHON:
        import pytest

        pytest.skip(reason)
    raise Skip(reason)


def raises(exc, fn, *args, **kw):
    """Call fn and return the exception of type `exc` it raised; fail if it did not."""
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %s" % (exc.__name__, fn))
