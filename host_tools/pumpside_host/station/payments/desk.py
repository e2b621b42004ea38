"""The station's one payment desk: the payments service (service.py) on one worker thread
with its own connection to the store, so the gateway's HTTP calls never run on the
station's loop. The pay page (web/pay.py) and the link (server.py: AUTHORIZE, the pump's
REPLY and FINAL) share it: `desk_of(ledger)`, made at the first call, its sweeper started
in the station's loop. One worker: the calls run in the order they were made (a REPLY's
`answered` before the FINAL's `delivered` that follows it).
"""
import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from . import config
from .gateway import SandboxGateway
from .service import Payments

log = logging.getLogger("pumpside.station")
SWEEP_S = 5.0
_DESKS = {}  # id(ledger) -> (ledger, its Desk)


class Desk:
    """`await desk.call("capture", order, amount)` from the station's loop."""

    def __init__(self, payments):
        self.payments = payments
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="payments")
        self.task = None  # the sweeper, when started in the station's loop

    def gateway(self):
        """The payment gateway, or None: phone payment is not set up (the till's)."""
        return self.payments.gateway

    async def call(self, name, *args):
        return await asyncio.get_running_loop().run_in_executor(
            self.worker, getattr(self.payments, name), *args)

    def start(self):
        """Its sweeper, in the running loop (once; again after that loop stopped it)."""
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self.sweeper())

    async def sweeper(self):
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await self.call("sweep")
            except Exception:  # noqa: BLE001 - the sweep must outlive a bad order or a
                # gateway answering nonsense; the next sweep tries again
                log.exception("payments sweep")


def open_desk(ledger):
    """A payment desk of its own for the ledger's store: with the gateway its settings
    name (config.py), or none (no phone payment: the till's prepaid orders still go to
    their pumps, with the windows set: config.windows)."""
    settings = config.load(ledger.path)
    if settings is None:
        windows = config.windows(ledger.path)
        return Desk(Payments.open(ledger.path, None, "",
                                  pay_window_s=windows["pay_window_s"],
                                  use_window_s=windows["use_window_s"]))
    gateway = SandboxGateway(settings["url"], settings["public_key"])
    return Desk(Payments.open(ledger.path, gateway, settings["public_url"],
                              pay_window_s=settings["pay_window_s"],
                              use_window_s=settings["use_window_s"]))


def desk_of(ledger):
    """The ledger's payment desk (Desk.gateway() None: no phone payment), made once and
    shared; its sweeper started when called in a running loop."""
    held = _DESKS.get(id(ledger))
    if held is None or held[0] is not ledger:
        held = _DESKS[id(ledger)] = (ledger, open_desk(ledger))
    desk = held[1]
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # made outside a loop (a test's client): no sweeper
        return desk
    desk.start()
    return desk


def attach_desk(ledger, payments):
    """The ledger's desk on a payments service given (another gateway adapter: the
    tests' in-process sandbox), in place of the one its settings make."""
    desk = Desk(payments)
    _DESKS[id(ledger)] = (ledger, desk)
    return desk
