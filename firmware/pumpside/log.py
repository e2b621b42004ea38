"""Service log on the board's console: one line per event, `@name {json}`.

Technicians read it over the USB REPL; the virtual pump's tests read it from stdout.
Never pass secrets here: the config's repr and errors already leave them out.
"""
import json


def event(name, fields=None):
    if fields is None:
        print("@" + name)
    else:
        print("@" + name + " " + json.dumps(fields))


def info(text):
    print("# " + text)
