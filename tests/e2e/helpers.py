"""Helpers shared by the end-to-end tests."""
import time


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def saw(vp, name, **fields):
    """Did the firmware log event `name` with these fields at some point?"""
    return any(n == name and all(f.get(k) == v for k, v in fields.items()) for n, f in vp.seen)


def sale(vp, keys, timeout=60, hang_up=False):
    """Key a preset, lift the nozzle, return the delivery."""
    vp.bench.press(keys)
    vp.wait_event("authorized")
    vp.bench.lift()
    d = vp.wait_event("delivery", timeout)
    if hang_up:
        vp.bench.hang_up()
    return d
