"""The watchdog's feeding rule, and the count of the resets it caused.

The board's watchdog (the `wdt` role: machine.WDT on a real board) resets the MCU when it
is not fed within `watchdog_ms`. The control loop (the dispenser's tick) feeds it, and
only when every task that must be alive has checked in since the last feed: a task that
hangs stops the feeding, and the board resets at most one timeout (plus one tick) after
that task's last check-in. At a reset the relay outputs drop (valves shut, motor off) and
the next boot settles the sale in flight from the journal (journal.recover).

Tasks that count: the keypad (the customer's stop key, the service PIN) and, on a card
pump, the card desk (a card sale half done). The dispenser is the control loop itself:
while it runs it feeds, and when it hangs nothing feeds. The station link does not
count: it may wait on the network for as long as its own timeouts allow, and a stuck
link stops no sale (the station shows the pump offline).

A task checks in once a pass of its loop, so the timeout must exceed the longest pass of
any of them, including the synchronous work that blocks the whole loop (a chain of card
APDUs, a TLS handshake): 8 s by default (the RP2040's longest is 8388 ms).

A watchdog test (the sim board's `wdt.hang()`, on demand from the bench) names a task
that then stops checking in and waits forever, as a task stuck on a lost event would.
"""
from . import log, storage
from .compat import const, sleep_ms

KEYPAD = const(1)
DESK = const(2)
_NAMES = {"keypad": KEYPAD, "desk": DESK}


class Watchdog:
    """The feeding rule around the board's `wdt` role: start(), check_in(), tick()."""

    def __init__(self, wdt):
        self.wdt = wdt
        self.tasks = KEYPAD  # the tasks that must check in (bits); the desk joins on a card pump
        self.seen = 0  # tasks that checked in since the last feed
        self.hang = 0  # tasks a watchdog test asks to hang
        self._test = getattr(wdt, "hang", None)  # the sim board's watchdog test, optional

    def count(self, task):
        """`task` (KEYPAD, DESK) must check in from now on."""
        self.tasks |= task

    def start(self, timeout_ms):
        self.wdt.start(timeout_ms)
        self.wdt.feed()

    def check_in(self, task):
        """`task` finished a pass of its loop. True: a watchdog test asks it to hang."""
        self.seen |= task
        return bool(self.hang & task)

    def tick(self):
        """The control loop's, every tick: feed when every counted task checked in."""
        if self.seen & self.tasks != self.tasks:
            return
        self.seen = 0
        self.wdt.feed()
        if self._test is not None:
            self.hang = _NAMES.get(self._test(), 0)


async def hang():
    """A task a watchdog test hangs: it never checks in again."""
    while True:
        await sleep_ms(60000)


def count_reset(path, rebooted):
    """At boot, `rebooted`: the last reset was the watchdog's (the `wdt` role's
    caused_reset()), one more on the flash counter at `path`, logged. The count of
    watchdog resets so far."""
    count = storage.read_json(path)
    count = count if isinstance(count, int) else 0
    if rebooted:
        count += 1
        try:
            storage.write_json(path, count)
        except OSError:  # a full flash loses the count, never the boot
            pass
        log.event("watchdog_reset", {"count": count})
    return count
