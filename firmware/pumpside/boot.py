"""Boot: the firmware's files are checked against their manifest before any sale code
is loaded.

A module altered on the device (bit rot, a hand edit, a flash cut short) may not even
import, so main.py comes here first, with only the manifest, the log and the prompts
loaded. A file that does not match keeps the pump closed - outputs off, the reason on
the display and the console - until a technician flashes it again (`pumpside flash`
copies just the file that differs). Only a firmware that matches goes on to app.main.
"""
import asyncio

from . import log, manifest, prompts
from .compat import sleep_ms


def safe_outputs(board):
    board.motor.set(False)
    board.valves.set(False, False)


async def closed(board, why):
    while True:  # stay closed, keep saying why; only a fixed firmware or config opens it
        board.display.show(prompts.lines("closed") + [why])
        await sleep_ms(5000)


def run(board_module):
    board = board_module.make()
    safe_outputs(board)
    try:
        software_id = manifest.verify(manifest.own_root())["software_id"]
    except manifest.ManifestError as e:
        log.event("closed", {"why": str(e)})
        asyncio.run(closed(board, str(e)))
        return
    from . import app

    app.main(board, software_id)
