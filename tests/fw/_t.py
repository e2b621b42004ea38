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


def tmpdir():
    """A new empty directory under /tmp (both interpreters; MicroPython has no tempfile)."""
    import binascii
    import os

    path = "/tmp/pumpside-t-" + binascii.hexlify(os.urandom(6)).decode()
    os.mkdir(path)
    return path


def rmtree(path):
    import os

    for entry in os.listdir(path):
        p = path + "/" + entry
        try:
            os.remove(p)
        except OSError:
            rmtree(p)
    os.rmdir(path)


class TempDir:
    """A new empty directory for one test, removed with all it holds on the way out:
    `with TempDir() as root:`; `TempDir("j")` gives the path `j` inside it instead."""

    def __init__(self, leaf=None):
        self.leaf = leaf

    def __enter__(self):
        self.path = tmpdir()
        return self.path if self.leaf is None else self.path + "/" + self.leaf

    def __exit__(self, *exc):
        rmtree(self.path)


def sleep_ms(ms):
    import time

    if MICROPYTHON:
        time.sleep_ms(ms)
    else:
        time.sleep(ms / 1000)
