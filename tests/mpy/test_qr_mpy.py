"""Tier 2: the QR encoder (pumpside.qr) on the MicroPython unix port under tier 2's heap,
as mpy-cross compiled it: its matrices are CPython's, and the SSD1306 driver's pixels
(boards/common/ssd1306.py, framebuf) with the code beside the idle lines scan as the URL."""
import os
import subprocess
from pathlib import Path

import qrscan

from pumpside import qr
from pumpside_host.build import build
from pumpside_host.vboard import HEAPSIZE, micropython_binary

SCRIPT = Path(__file__).with_name("qr_script.py")

URL = b"https://station.example:8443/pay/T0001/1?t=6553f100a1b2c3d4"  # time, MAC
PAYLOADS = [URL, b"", b"A" * 17, bytes(range(53)), bytes(range(255, 121, -1))]


def _run(payloads):
    env = dict(os.environ)
    env["MICROPYPATH"] = ".frozen:%s" % build("sim")
    out = subprocess.run([micropython_binary(), "-X", "heapsize=" + HEAPSIZE, str(SCRIPT)],
                         input="\n".join(p.hex() or "-" for p in payloads), capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.split("\n")


def test_micropython_encodes_every_module_as_cpython():
    lines = _run(PAYLOADS)
    for data, line in zip(PAYLOADS, lines):
        size, matrix = line.split()
        want_size, want = qr.encode(data)
        assert (int(size), bytes.fromhex(matrix)) == (want_size, bytes(want))


def test_the_ssd1306_draws_a_code_a_phone_reads_beside_the_lines():
    lines = _run([URL])
    pixels = bytes.fromhex(lines[1].split()[1])
    rows = [[pixels[(y >> 3) * 128 + x] >> (y & 7) & 1 for x in range(128)]
            for y in range(64)]
    assert qrscan.decode(rows) == [URL]
    assert any(rows[y][x] for y in range(8) for x in range(64))  # the text on the left
    assert all(rows[0][x] for x in range(64, 128))  # the lit square on the right
