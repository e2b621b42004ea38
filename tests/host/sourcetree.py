"""The repository's Python sources as the host tests read them: parsed with ast (never
imported, so a real board's `machine` is not needed), and the sim board's modules loaded
from their files, as MICROPYPATH gives them to the virtual board."""
import ast
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIM_BOARD = ROOT / "boards" / "sim"


def parse(path):
    return ast.parse(path.read_text(), str(path))


def imports(parsed):
    """The top-level package of every absolute import in a parsed module."""
    for node in ast.walk(parsed):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def load_file(name, path):
    """The module in `path`, executed under `name`, without entering sys.modules."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_sim_board(monkeypatch):
    """boards/sim/board.py, with the simflash it imports by bare name put in sys.modules
    for the test's duration."""
    monkeypatch.setitem(sys.modules, "simflash", load_file("simflash", SIM_BOARD / "simflash.py"))
    return load_file("board", SIM_BOARD / "board.py")


def package_name(path):
    """The package a file under host_tools/ belongs to (pumpside_host.station)."""
    return ".".join(path.parent.relative_to(ROOT / "host_tools").parts)


def imported_modules(parsed, package):
    """Every module a parsed module of `package` imports, by its absolute dotted name; for
    `from X import a` both X and X.a (a may be a submodule)."""
    for node in ast.walk(parsed):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            yield base
            yield from (base + "." + alias.name for alias in node.names)


def sys_path_uses(parsed):
    """Line numbers where a module reaches sys.path (sys.path.insert, `from sys import
    path`, ...): the host imports installed packages instead."""
    for node in ast.walk(parsed):
        if isinstance(node, ast.Attribute) and node.attr == "path" and \
                isinstance(node.value, ast.Name) and node.value.id == "sys":
            yield node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module == "sys" and \
                any(alias.name == "path" for alias in node.names):
            yield node.lineno
