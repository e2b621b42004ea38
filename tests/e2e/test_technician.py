"""End to end, as a technician works: the virtual board's REPL on a pty, reached only
through mpremote (the `pumpside` commands use its transport; the corruption below uses the
`mpremote` command itself). No test touches the device's files directly."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pumpside_host.bench import Bench
from pumpside_host.build import build
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationThread
from pumpside_host.vboard import DEFAULT_CONFIG, VirtualPump

from .conftest import FAST_TIMEOUTS
from .helpers import fuelling as _fuelling
from .helpers import sale as _sale
from .helpers import saw as _saw
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
PIN = DEFAULT_CONFIG["service_pin"]


def pumpside(*args, pin=PIN):
    env = dict(os.environ)
    env.pop("PUMPSIDE_SERVICE_PIN", None)
    if pin is not None:
        env["PUMPSIDE_SERVICE_PIN"] = pin
    return subprocess.run([str(BIN / "pumpside"), *args], capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)


def mpremote(port, *args):
    return subprocess.run([str(BIN / "mpremote"), "connect", port, "resume", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def board():
    """A board with MicroPython and a config but no firmware yet: it boots to the REPL."""
    cfg = dict(DEFAULT_CONFIG)
    cfg.update(FAST_TIMEOUTS)
    vp = VirtualPump(config=cfg, bench=Bench(), repl=True)
    vp.start()
    yield vp
    vp.stop()


def flashed(vp):
    out = pumpside("flash", "--port", vp.port)
    assert out.returncode == 0, out.stdout + out.stderr
    vp.wait_state("IDLE", 20)
    return out


def test_flash_from_scratch_reflash_and_a_corrupted_file(board, tmp_path):
    manifest = json.loads((build("sim") / "manifest.json").read_text())
    assert not mpremote(board.port, "fs", "ls", ":pumpside").returncode == 0  # blank board
    out = flashed(board)
    n = len(manifest["files"])
    assert "%d files, %d copied" % (n, n) in out.stdout
    assert "booted: software id %s" % manifest["software_id"] in out.stdout
    boot = [f for name, f in board.seen if name == "boot"][-1]
    assert boot["software_id"] == manifest["software_id"]

    out = pumpside("flash", "--port", board.port)  # nothing changed: nothing copied
    assert out.returncode == 0 and "%d files, 0 copied" % n in out.stdout, out.stdout

    # one module damaged on the device (bit rot, or a hand edit): its hash gives it away
    bad = tmp_path / "meter.mpy"
    bad.write_bytes(b"M\x06\x00\x1f garbage")
    assert mpremote(board.port, "fs", "cp", str(bad), ":pumpside/meter.mpy").returncode == 0
    before = len(board.seen)
    info = pumpside("info", "--port", board.port)
    assert info.returncode == 1 and "pumpside/meter.mpy" in info.stdout
    out = pumpside("reset", "--port", board.port)  # it boots again, and refuses to sell
    assert out.returncode == 1 and "software altered" in out.stderr, out.stdout + out.stderr
    closed = board.wait_event("closed", 20, lambda f: "software altered" in f["why"])
    assert "pumpside/meter.mpy" in closed["why"]
    assert not any(name == "boot" for name, _ in board.seen[before:])  # it never sells
    board.bench.press("V100E")
    assert not _saw(board, "authorized")

    out = pumpside("flash", "--port", board.port)  # only the damaged file goes again
    assert out.returncode == 0 and "%d files, 1 copied" % n in out.stdout, out.stdout
    board.wait_state("IDLE", 20)


def test_provision_then_a_sale_syncs_with_the_new_key(board, tmp_path):
    flashed(board)
    db = str(tmp_path / "station.db")
    ledger = Ledger(db)
    station = StationThread(ledger, heartbeat_s=1).start()  # TLS: its own CA, made now
    try:
        out = pumpside("provision", "--port", board.port, "--terminal-id", "P7",
                       "--station", "127.0.0.1:%d" % station.port, "--db", db, pin=None)
        assert out.returncode == 0, out.stdout + out.stderr
        key = ledger.key_of("P7")
        assert key is not None and len(key) == 32
        assert key.hex() not in out.stdout + out.stderr  # sent once, never shown
        _wait(lambda: _saw(board, "link_up"), 20, "the link with the new key")
        _sale(board, "V100E", hang_up=True)
        _wait(lambda: len(ledger.sales("P7")) == 1, 20, "the sale at the station")
    finally:
        station.stop()
    assert ledger.sales("P7")[0]["ml"] == 1000
    assert key.hex() not in "\n".join(board.lines)
    got = pumpside("config", "get", "--port", board.port, "terminal_key", "terminal_id",
                   "station_tls", "station_ca")
    assert got.returncode == 0 and 'terminal_id="P7"' in got.stdout
    assert key.hex() not in got.stdout
    # the station's own CA pinned on the device: the link is TLS, checked against it
    assert "station_tls=1" in got.stdout and 'station_ca="station_ca.der"' in got.stdout
    assert ledger.pumps()[0]["link"] == "tls" and not _saw(board, "link_plain")


def test_calibrate_config_refusals_logs_and_journal_pull(board, tmp_path):
    flashed(board)
    for keys in ("V100E", "V150E"):  # two sales; no station: both stay unsynced
        _sale(board, keys, hang_up=True)

    # a legal parameter outside service mode (wrong PIN): refused, nothing changes
    out = pumpside("config", "set", "--port", board.port, "k_factor=101000", pin="0000")
    assert out.returncode == 1 and "service" in out.stderr and "0000" not in out.stderr
    # a bad value: refused naming the field, the old config kept
    out = pumpside("config", "set", "--port", board.port, "price=0")
    assert out.returncode == 1 and "price" in out.stderr
    out = pumpside("config", "get", "--port", board.port, "k_factor", "price")
    assert out.stdout.split() == ["k_factor=100000", "price=7590"]

    log0 = tmp_path / "events0.jsonl"
    assert pumpside("logs", "--port", board.port, "-o", str(log0)).returncode == 0
    n0 = len(log0.read_text().splitlines())

    # proving run: the pump showed 20.00 L, the can holds 20.10 L -> K-factor down 0.5 %
    out = pumpside("calibrate", "--port", board.port, "--proved-ml", "20100",
                   "--metered-ml", "20000", "--who", "tech7")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "100000 -> 99502" in out.stdout
    board.wait_state("IDLE", 20)  # it restarted with the new K-factor
    boot = [f for name, f in board.seen if name == "boot"][-1]
    assert boot["config"]["k_factor"] == 99502

    log1 = tmp_path / "events1.jsonl"
    assert pumpside("logs", "--port", board.port, "-o", str(log1)).returncode == 0
    events = [json.loads(line) for line in log1.read_text().splitlines()]
    assert len(events) == n0 + 1  # the non-resettable counter up by one
    last = events[-1]
    assert (last["n"], last["who"], last["what"], last["old"], last["new"]) == (
        n0 + 1, "tech7", "k_factor", 100000, 99502)
    assert PIN not in log1.read_text()

    pulled = tmp_path / "journal.jsonl"
    out = pumpside("journal", "pull", "--port", board.port, "-o", str(pulled))
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in pulled.read_text().splitlines()]
    finals = [r for r in records if r.get("type") == "FINAL"]
    assert [(r["sale"], r["ml"]) for r in finals] == [(1, 1000), (2, 1500)]  # every unsynced sale


def test_a_technician_interrupting_a_sale_shuts_the_valves_and_the_sale_is_kept(board):
    flashed(board)
    _fuelling(board, "V2000E", 300, timeout=20)  # 20 L
    info = pumpside("info", "--port", board.port)  # ^C over the USB serial, mid-fuelling
    assert info.returncode == 0, info.stdout + info.stderr
    assert _saw(board, "interrupted"), "\n".join(board.lines[-40:])
    cmds = [c[1:] for c in board.bench.valve_commands()]
    assert [c for c in cmds if c[0] == "valves"][-1] == ("valves", (False, False))
    assert [c for c in cmds if c[0] == "motor"][-1] == ("motor", False)  # the fuel stopped
    time.sleep(0.3)  # the valves' closing time
    assert board.bench.outputs() == (False, False, False)
    truth = round(board.bench.truth_ml())
    assert 300 < truth < 20000
    board.bench.hang_up()
    board.wait_state("IDLE", 20)  # the command reset the board: it booted and sells again
    report = [f for name, f in board.seen if name == "journal"][-1]
    assert report["recovered"]["sale"] == 1  # the sale in flight, settled at boot
    assert abs(report["recovered"]["ml"] - truth) <= 10  # exact: one pulse is 10 ml


def test_mip_installs_the_firmware_package_from_package_json(board):
    root = Path(__file__).resolve().parents[2] / "firmware"
    out = mpremote(board.port, "mip", "install", "--target", "lib", str(root / "package.json"))
    assert out.returncode == 0, out.stdout + out.stderr
    # 62 L at 1.259/L: the installed package's own arithmetic, on the board
    out = mpremote(board.port, "exec", "from pumpside import meter\n"
                   "print(meter.amount_for_ml(62000, 1259))")
    assert out.returncode == 0 and out.stdout.split() == ["7806"], out.stdout + out.stderr
