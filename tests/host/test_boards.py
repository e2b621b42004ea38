"""The real boards (boards/esp32, boards/rp2) read without hardware: their source is parsed
with ast, never imported, so `machine` is not needed on the desktop."""
import ast
import re

import pytest

from sourcetree import ROOT, imports, parse

REAL = ("esp32", "rp2")
EXTRA_ROLES = {"wdt", "net", "led"}  # DESIGN.md's later roles, and the status LED
SHARED = ("parts.py", "cardlink.py", "keymatrix.py", "ssd1306.py")
TERMINALS = ("pulser channel A", "pulser channel B", "fast valve", "slow valve",
             "motor contactor", "nozzle switch", "card reader UART", "PSAM UART",
             "display", "keypad", "printer UART", "power-fail", "status LED")


def _board_roles(path):
    """Names a Board instance carries: class attributes and what __init__ sets on self."""
    tree = parse(path)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Board")
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    roles = {t.id for n in cls.body if isinstance(n, ast.Assign) for t in n.targets
             if isinstance(t, ast.Name)}
    for node in ast.walk(init):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and \
                isinstance(node.value, ast.Name) and node.value.id == "self":
            roles.add(node.attr)
    return roles - {"link"}  # the sim board's connection to the bench, not a role


@pytest.mark.parametrize("board", REAL)
def test_board_file_opens_with_a_wiring_table(board):
    doc = ast.get_docstring(parse(ROOT / "boards" / board / "board.py"))
    assert doc and "Wiring" in doc
    for terminal in TERMINALS:
        assert terminal.lower() in doc.lower(), terminal
    assert re.search(r"^\s+(GPIO|pin)\s+dir\s+terminal", doc, re.M)


@pytest.mark.parametrize("board", REAL)
def test_make_builds_the_sim_boards_roles(board):
    tree = parse(ROOT / "boards" / board / "board.py")
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "make" in funcs and not funcs["make"].args.args
    sim = _board_roles(ROOT / "boards" / "sim" / "board.py")
    real = _board_roles(ROOT / "boards" / board / "board.py")
    assert sim <= real, sim - real
    assert real - sim <= EXTRA_ROLES, real - sim
    assert {"wdt", "net"} <= real


def test_every_hal_role_is_a_sim_role():
    from pumpside import hal

    assert set(hal.ROLES) <= _board_roles(ROOT / "boards" / "sim" / "board.py")


def test_machine_is_imported_only_inside_boards():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", "build", "boards", "tests"):
            continue
        assert "machine" not in set(imports(parse(path))), rel


@pytest.mark.parametrize("board", REAL)
def test_nothing_runs_at_import(board):
    """Module level holds imports, constants, classes and functions: no call reaches a
    pin (const() and the PIO decorator, which only assembles, are the exceptions)."""
    for path in sorted((ROOT / "boards" / board).glob("*.py")):
        for node in parse(path).body:
            if isinstance(node, (ast.Assign, ast.Expr)):
                for call in ast.walk(node):
                    if isinstance(call, ast.Call):
                        assert getattr(call.func, "id", None) == "const", (path.name, node.lineno)


@pytest.mark.parametrize("name", SHARED)
def test_shared_drivers_live_once_in_common_and_go_with_every_real_board(name):
    from pumpside_host.build import sources

    assert (ROOT / "boards/common" / name).is_file()
    for board in REAL:
        assert not (ROOT / "boards" / board / name).exists()
        devs = dict(sources(board))
        assert devs[name] == ROOT / "boards/common" / name  # flashed beside board.py
    # the virtual board needs none of them but the display's: it draws its panel's pixels
    assert (name in dict(sources("sim"))) == (name == "ssd1306.py")


def test_compile_and_typecheck_are_in_make_test():
    text = (ROOT / "Makefile").read_text()
    test = re.search(r"^test:(.*)$", text, re.M).group(1).split()
    assert test.index("typecheck") == test.index("compile") + 1
    assert re.search(r"^typecheck: setup", text, re.M)
    for board in REAL:
        assert (ROOT / "boards" / board / "pyrightconfig.json").exists()


@pytest.mark.parametrize("board", REAL)
def test_a_real_board_builds_with_its_manifest(board):
    """What `pumpside flash --board B` copies: mpy-cross output, main.py as source, the
    board's and the shared drivers at the root, manifest.json with every file's hash."""
    import hashlib
    import json

    from pumpside_host.build import build

    tree = build(board)
    manifest = json.loads((tree / "manifest.json").read_text())
    for name in ("main.py", "board.mpy", "parts.mpy", "cardlink.mpy", "pumpside/meter.mpy"):
        assert name in manifest["files"], name
        assert manifest["files"][name] == hashlib.sha256((tree / name).read_bytes()).hexdigest()
    assert (tree / "board.mpy").read_bytes()[:1] == b"M"  # an .mpy, not source
    assert len(manifest["software_id"]) == 16


def test_holding_the_recall_key_asks_for_the_software_id(monkeypatch):
    """The front panel has no I key: R held for HOLD_SCANS scans reports "I" once, after
    the "R" its press reported; a short press reports "R" alone."""
    import importlib.util
    import sys
    import time
    import types

    levels = {}  # pin number -> level the fake reads

    class Pin:
        OPEN_DRAIN = IN = PULL_UP = 0

        def __init__(self, number, *args, **kw):
            self.number = number
            levels.setdefault(number, 1)

        def value(self, level=None):
            if level is None:
                return levels[self.number]
            return None

    monkeypatch.setitem(sys.modules, "machine", types.SimpleNamespace(Pin=Pin))
    monkeypatch.setattr(time, "sleep_us", lambda us: None, raising=False)
    spec = importlib.util.spec_from_file_location(
        "keymatrix", ROOT / "boards" / "common" / "keymatrix.py")
    keymatrix = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(keymatrix)
    keypad = keymatrix.KeyMatrix([1, 2, 3, 4], [5, 6, 7, 8], recall=9)

    def scans(n):
        return [k for k in (keypad.read() for _ in range(n)) if k]

    levels[9] = 0  # R pressed and held
    assert scans(keymatrix.HOLD_SCANS + 20) == ["R", "I"]
    levels[9] = 1
    assert scans(3) == []
    levels[9] = 0  # a short press
    assert scans(5) == ["R"]
    levels[9] = 1
    assert scans(keymatrix.HOLD_SCANS + 5) == []


class _Wlan:
    """network.WLAN as the fake network module of the tests below: it records what it
    was told; `code` is what status() answers (the rp2 port's STAT_* values)."""

    def __init__(self, interface):
        self.interface = interface
        self.calls = []
        self.code = 0

    def active(self, on):
        self.calls.append(("active", on))

    def connect(self, ssid, key):
        self.calls.append(("connect", ssid, key))
        self.code = 1  # STAT_CONNECTING

    def isconnected(self):
        return self.code == 3

    def status(self):
        return self.code


def _load(monkeypatch, path, name, **modules):
    """A board module from its source under CPython, with fake MicroPython modules."""
    import importlib.util
    import sys
    import time
    import types

    fakes = {"machine": types.SimpleNamespace(), "micropython":
             types.SimpleNamespace(const=lambda x: x)}
    fakes.update(modules)
    for module, fake in fakes.items():
        monkeypatch.setitem(sys.modules, module, fake)
    clock = [0]
    monkeypatch.setattr(time, "ticks_ms", lambda: clock[0], raising=False)
    monkeypatch.setattr(time, "ticks_diff", lambda a, b: a - b, raising=False)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, clock


def _network(**extra):
    import types

    return types.SimpleNamespace(STA_IF=0, STAT_IDLE=0, STAT_CONNECTING=1, STAT_GOT_IP=3,
                                 STAT_NO_AP_FOUND=-2, STAT_WRONG_PASSWORD=-3,
                                 STAT_CONNECT_FAIL=-1, WLAN=_Wlan, **extra)


def test_the_real_boards_net_joins_the_wlan_and_names_why_it_is_down(monkeypatch):
    parts, clock = _load(monkeypatch, ROOT / "boards/common/parts.py", "parts",
                         network=_network())
    net = parts.Net()
    assert net.status() == "down" and not net.connected()  # nothing built before up()
    net.up("", "forecourt", "pump-wlan-8x7")
    wlan = net.nic.wlan
    assert wlan.calls == [("active", True), ("connect", "forecourt", "pump-wlan-8x7")]
    assert net.status() == "joining" and not net.connected()
    net.up("", "forecourt", "pump-wlan-8x7")  # joining: not started again
    for code, why in ((-2, "no AP"), (-3, "wrong passphrase"), (-1, "join failed -1"),
                      (2, "joining"), (3, "up")):
        wlan.code = code
        assert net.status() == why
    assert net.connected()
    wlan.code = -3
    net.up("", "forecourt", "pump-wlan-8x7")  # failed just now: the AP is left alone
    assert len(wlan.calls) == 2
    clock[0] += parts.JOIN_RETRY_MS
    net.up("", "forecourt", "")
    assert wlan.calls[-1] == ("connect", "forecourt", None)  # an open network: no key
    none = parts.Net()
    none.up("lan8720", "forecourt", "x")  # no such PHY on this board
    assert none.status() == "no lan8720" and none.nic is None


def test_the_esp32_builds_its_wired_phys_with_network_lan(monkeypatch):
    import types

    made = []

    class Lan:
        def __init__(self, **kw):
            made.append(kw)
            self.code = 0
            self.link = False

        def active(self, on):
            self.on = on

        def status(self):
            return self.code

        def isconnected(self):
            return self.link

    pin = type("Pin", (), {"OUT": 1, "__init__": lambda self, n: setattr(self, "n", n)})
    machine = types.SimpleNamespace(Pin=pin, SPI=lambda *a, **kw: ("spi", a, kw))
    network = _network(LAN=Lan, PHY_LAN8720=1, PHY_W5500=102, ETH_GOT_IP=5)
    names = ("cardlink", "esp32", "keymatrix", "parts", "ssd1306")
    board, _ = _load(monkeypatch, ROOT / "boards/esp32/board.py", "board", machine=machine,
                     network=network, **{n: types.SimpleNamespace() for n in names})
    eth = board.lan8720(23, 18, 12, 0, 17)
    kw = made[-1]
    assert kw["phy_type"] == 1 and kw["phy_addr"] == 0 and kw["mdc"].n == 23
    assert kw["mdio"].n == 18 and kw["power"].n == 12 and kw["ref_clk"].n == 17
    assert eth.lan.on is True and eth.status() == "no link"
    eth.lan.link = True
    assert eth.status() == "no address" and not eth.connected()
    eth.lan.code = 5
    assert eth.status() == "up" and eth.connected()
    board.w5500(2, 14, 13, 12, 15, 4)
    kw = made[-1]
    assert kw["phy_type"] == 102 and kw["cs"].n == 15 and kw["int"].n == 4
    assert kw["spi"][0] == "spi"
