"""The HAL contract: the roles a board hands to the firmware, written down once.

A board module (`boards/<name>/board.py`) exposes `make()`, returning an object whose
attributes are these roles. Roles, not pins: the firmware never imports `machine`, and
the sim board and every real board implement the same method names.

Every call is synchronous and short, like a register read: a board whose role needs I/O
(the sim board's socket to the bench, a UART reader) bounds it with a timeout.

role        methods                          meaning
pulser      count() -> int                   channel A pulses, monotonic since boot
            count_b() -> int                 channel B pulses (second pickup, 90 deg apart)
valves      set(fast: bool, slow: bool)      fast stage = main valve, slow = bypass valve
motor       set(on: bool)                    pump motor contactor
nozzle      lifted() -> bool                 nozzle switch (True = out of its holster)
display     show(lines: list of str,         customer display, one call per screen;
                 code=None)                  code: a QR code (size, matrix: pumpside.qr)
                                             drawn beside the lines (the idle screen's
                                             pay-by-phone code)
keypad      read() -> str or None            one key: 0-9, V A F (preset), E enter,
                                             C cancel, S service, R recall
                                             the last sale; None when no key
power_fail  asserted() -> bool                supply monitor's early warning: mains lost,
                                             a few tens of ms of hold-up left
clock       time() -> int                    wall clock, seconds since 1970 (RTC)
            set(seconds)                     set it (the station's time; optional: a
                                             board without it keeps its own clock)
card        present() -> bool                user-card slot: card switch,
            power_on() -> bytes              reset, answer to reset (ATR),
            transceive(apdu) -> bytes        one T=0 APDU -> reply + SW1 SW2; raises
                                             OSError when the card is gone
psam        transceive(apdu) -> bytes        the terminal's SAM slot (holds the keys)
printer     write(data: bytes)               receipt printer (ESC/POS), UART
flash       readblocks(n, buf, off=0)        the journal's block device (littlefs'
            writeblocks(n, buf, off=None)    extended protocol: off given = program only,
            ioctl(op, arg)                   ioctl 6 = erase; 4/5 = count/size)
wdt         start(timeout_ms)                start the watchdog (never stopped again; a
                                             board never starts it in make())
            feed()                           the control loop's (dispenser.Dispenser.watch)
            caused_reset() -> bool           the last reset was this watchdog's
            hold()                           a technician took the REPL (^C): keep the
                                             board from resetting (a timer feeds it)
            hang() -> str or None            optional (sim board): the task a watchdog
                                             test hangs ("keypad", "desk")
net         up(kind, ssid, passphrase)       start the network without blocking: kind ""
                                             is the board's own (config net_kind), ssid and
                                             passphrase join a WLAN; called again while
                                             down, it starts a join that had given up
            connected() -> bool              up, with an address: sockets may be opened
            status() -> str                  "up", or why not: "joining", "no AP", "wrong
                                             passphrase", "no link" (cable, PHY), "down",
                                             "no <kind>" (not on this board); never the
                                             passphrase
(board)     config_path: str                 where config.json lives on the board's fs
            name: str                        board name for logs

The link (link.py) asks net.connected() before each connection and reports net.status()
as its link_down reason while the network is down; sockets come from the port's own
socket module (asyncio.open_connection), over whichever interface is up.
"""

ROLES = {
    "pulser": ("count", "count_b"),
    "valves": ("set",),
    "motor": ("set",),
    "nozzle": ("lifted",),
    "display": ("show",),
    "keypad": ("read",),
    "power_fail": ("asserted",),
    "clock": ("time",),
    "flash": ("readblocks", "writeblocks", "ioctl"),
    "card": ("present", "power_on", "transceive"),
    "psam": ("transceive",),
    "printer": ("write",),
    "wdt": ("start", "feed", "caused_reset", "hold"),
    "net": ("up", "connected", "status"),
}

KEYS = "0123456789VAFECSR"


class HalError(Exception):
    pass


def check(board):
    """Raise HalError naming the first missing role or method of `board`."""
    for role in ROLES:
        part = getattr(board, role, None)
        if part is None:
            raise HalError("board lacks role " + role)
        for method in ROLES[role]:
            if not hasattr(part, method):
                raise HalError("board role " + role + " lacks " + method + "()")
    if not isinstance(getattr(board, "config_path", None), str):
        raise HalError("board lacks config_path")
