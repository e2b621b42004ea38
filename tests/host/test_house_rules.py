"""Rules of the house that a reviewer would otherwise check by eye."""
import ast
import subprocess
from pathlib import Path

import pytest

from sourcetree import (
    ROOT,
    imported_modules,
    imports,
    load_sim_board,
    package_name,
    parse,
    sys_path_uses,
)

FIRMWARE = sorted((ROOT / "firmware").rglob("*.py"))
BOARD_FILES = sorted((ROOT / "boards").rglob("*.py"))
CPYTHON_ONLY = {"dataclasses", "typing", "enum", "abc", "fractions", "decimal"}


@pytest.mark.parametrize("path", FIRMWARE, ids=lambda p: str(p.relative_to(ROOT)))
def test_firmware_imports_no_machine_and_no_cpython_only_module(path):
    names = set(imports(parse(path)))
    assert "machine" not in names, "only boards/ may import machine"
    if path.name != "compat.py":  # compat imports CPython's time/traceback on CPython only
        assert not names & CPYTHON_ONLY
        assert not names & {"host_tools", "pumpside_host", "boards", "board"} or \
            path.name == "main.py"


@pytest.mark.parametrize("path", FIRMWARE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_float_in_firmware_logic(path):
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Constant):
            assert not isinstance(node.value, float), "float literal line %d" % node.lineno
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "float":
            raise AssertionError("float() call line %d" % node.lineno)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and \
                path.name != "compat.py":
            raise AssertionError("true division (float result) line %d" % node.lineno)


@pytest.mark.parametrize("path", FIRMWARE + BOARD_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_mpy_cross_compiles(path, tmp_path):
    from pumpside_host.vboard import micropython_binary

    mpy_cross = Path(micropython_binary()).parent / "mpy-cross"
    out = subprocess.run([str(mpy_cross), "-o", str(tmp_path / "x.mpy"), str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_every_hal_role_is_implemented_by_the_sim_board(monkeypatch):
    from pumpside import hal

    sim = load_sim_board(monkeypatch)

    classes = {"pulser": sim.Pulser, "valves": sim.Valves, "motor": sim.Motor,
               "nozzle": sim.Nozzle, "display": sim.Display, "keypad": sim.Keypad,
               "power_fail": sim.PowerFail, "clock": sim.Clock, "flash": sim.SimFlash,
               "card": sim.CardReader, "psam": sim.PsamSlot, "printer": sim.Printer,
               "wdt": sim.Watchdog, "net": sim.Net}
    assert set(classes) == set(hal.ROLES)
    for role, methods in hal.ROLES.items():
        for m in methods:
            assert callable(getattr(classes[role], m)), (role, m)


HOST_AND_TESTS = sorted((ROOT / "host_tools").rglob("*.py")) + \
    sorted((ROOT / "tests").rglob("*.py"))
STATION = sorted((ROOT / "host_tools" / "pumpside_host" / "station").rglob("*.py"))
TEST_TOOLING = ("pumpside_host.bench", "pumpside_host.vboard")


def test_no_host_or_test_module_edits_sys_path():
    """The firmware and the host tools are installed packages (make setup) and the test
    helpers are on pytest's pythonpath (pytest.ini): nothing reaches sys.path."""
    found = ["%s:%d" % (path.relative_to(ROOT), line) for path in HOST_AND_TESTS
             for line in sys_path_uses(parse(path))]
    assert not found, "sys.path used at " + ", ".join(found)


def test_the_station_imports_no_test_tooling():
    """The station is production code: the bench and the virtual board are test tooling."""
    found = ["%s imports %s" % (path.relative_to(ROOT), name) for path in STATION
             for name in imported_modules(parse(path), package_name(path))
             if name in TEST_TOOLING or name.startswith(tuple(t + "." for t in TEST_TOOLING))]
    assert STATION and not found, found


def test_the_import_rules_see_what_they_forbid():
    source = ast.parse("import sys\nsys.path.insert(0, 'x')\nfrom sys import path\n"
                       "from ..bench import cards\nfrom .. import vboard\n"
                       "import pumpside_host.bench.server\nfrom . import ledger\n")
    assert sorted(sys_path_uses(source)) == [2, 3]
    names = set(imported_modules(source, "pumpside_host.station"))
    assert {"pumpside_host.bench.cards", "pumpside_host.vboard",
            "pumpside_host.bench.server", "pumpside_host.station.ledger"} <= names


# an object's state is changed through its own methods: a library object being configured
# is the one exception (the link's ssl context)
FOREIGN_WRITES_ALLOWED = {"context.verify_mode", "context.check_hostname"}


def foreign_writes_and_private_uses(tree):
    """(line, what) for each attribute of another object written (`pump.x = ...`,
    `core.lock_reason += 1`) and each underscore member of another object used
    (`pump._prices_path()`): only `self` (and `cls`) may do either."""
    found = []

    def own(node):
        return isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")

    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Attribute) and not own(sub) and \
                            ast.unparse(sub) not in FOREIGN_WRITES_ALLOWED:
                        found.append((node.lineno, "writes " + ast.unparse(sub)))
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and \
                not node.attr.startswith("__") and not own(node):
            found.append((node.lineno, "uses " + ast.unparse(node)))
    return found


@pytest.mark.parametrize("path", FIRMWARE, ids=lambda p: str(p.relative_to(ROOT)))
def test_firmware_changes_an_object_only_through_its_methods(path):
    assert foreign_writes_and_private_uses(parse(path)) == []


def test_the_ownership_rule_catches_what_it_forbids():
    tree = ast.parse("pump.suspended = True\ncore.faults += 1\nlink.query = None\n"
                     "pump._prices_path()\nself.x = 1\nself._y()\nd = {}\nd['k'] = 1\n")
    assert [what for _, what in foreign_writes_and_private_uses(tree)] == [
        "writes pump.suspended", "writes core.faults", "writes link.query",
        "uses pump._prices_path"]
