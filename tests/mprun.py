"""Runs firmware tests (tests/fw/test_*.py) on the MicroPython unix port.

  micropython mprun.py --list          one `module::test` per line
  micropython mprun.py module::test    run one; last line PASS, SKIP <why> or FAIL <why>

tests/mpy/test_tier2.py calls it once per test, so pytest names each failing test.
"""
import os
import sys


def _modules(folder):
    names = [n[:-3] for n in os.listdir(folder) if n.startswith("test_") and n.endswith(".py")]
    names.sort()
    return names


def _listed(folder, name):
    """Test names read from the source, without importing it: listing every module's
    tests must not need the whole firmware in one tier-2 heap."""
    out = []
    with open(folder + "/" + name + ".py") as f:
        for line in f:
            if line.startswith("def test_"):
                out.append(line[4:line.index("(")])
    out.sort()
    return out


def main():
    folder = sys.argv[1]
    arg = sys.argv[2]
    if arg == "--list":
        for name in _modules(folder):
            for t in _listed(folder, name):
                print(name + "::" + t)
        return 0
    import gc

    import _t

    modname, test = arg.split("::")
    gc.collect()
    mod = __import__(modname)
    gc.collect()
    try:
        getattr(mod, test)()
    except _t.Skip as e:
        print("SKIP " + str(e))
        return 0
    except Exception as e:  # noqa: BLE001 - report any failure with its traceback
        sys.print_exception(e)
        print("FAIL " + repr(e))
        return 1
    print("PASS")
    return 0


sys.exit(main())
