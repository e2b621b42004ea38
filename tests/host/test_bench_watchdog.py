"""The bench's watchdog (the sim board's `wdt` role): started, fed, held at the REPL,
due when starved, the reset remembered until the next boot's hello, off without power."""
from pumpside_host.bench import Bench


def _bench():
    now = [100.0]
    bench = Bench(clock=lambda: now[0])
    assert bench.handle("H board") == "ok"
    return bench, now


def test_starved_for_its_timeout_it_is_due_and_the_next_boot_knows_why():
    bench, now = _bench()
    assert bench.handle("WR") == "0" and not bench.watchdog_due()  # not started
    bench.handle("W 1000")
    now[0] += 0.9
    assert bench.handle("F") == "" and not bench.watchdog_due()
    now[0] += 1.0
    assert not bench.watchdog_due()
    now[0] += 0.01
    assert bench.watchdog_due()
    bench.watchdog_reset()
    assert not bench.watchdog_due() and bench.wdt_resets == 1
    assert bench.handle("H board") == "ok" and bench.handle("WR") == "1"
    assert bench.handle("H board") == "ok" and bench.handle("WR") == "0"  # then a power-on


def test_a_watchdog_reset_drops_the_outputs():
    bench, now = _bench()
    bench.lift()
    bench.handle("M 1")
    bench.handle("V 1 1")
    now[0] += 0.5
    assert bench.outputs() == (True, True, True)
    bench.watchdog_reset()
    now[0] += 0.5
    assert bench.outputs() == (False, False, False)


def test_the_feed_names_the_task_a_watchdog_test_hangs_until_the_next_boot():
    bench, now = _bench()
    bench.handle("W 1000")
    bench.hang_task("keypad")
    assert bench.handle("F") == "keypad"
    bench.handle("H board")
    assert bench.handle("F") == ""


def test_held_at_the_repl_or_without_power_it_never_resets():
    bench, now = _bench()
    bench.handle("W 1000")
    bench.handle("W 0")  # ^C: the board's timer feeds it
    now[0] += 60
    assert not bench.watchdog_due()
    bench.handle("W 1000")
    bench.power_off(warn=False)
    now[0] += 60
    assert not bench.watchdog_due()
