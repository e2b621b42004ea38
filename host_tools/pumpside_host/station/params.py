"""The station's parameters for its terminals (PARAMS) and its nozzle -> grade map.

Parameters: one versioned set for every terminal, each version the whole set (the last
value of each name set so far). Only non-legal config fields: the legal ones (the meter's
calibration), the secrets, the nozzle's grade and price (they go with PRICES) and the
link's own settings are refused here - and by the terminal, whatever a station sends.
Each value is checked by the firmware's own config rules; the terminal validates its
whole config.json with them before writing it and takes them at its next boot.

Nozzle map: terminal and nozzle -> grade code; it goes with the price table (PRICES'
`nozzles`), so the grade and its price change together at the pump.
"""
import json
import time

from pumpside import config
from pumpside.downloads import REFUSED_PARAMS

from .problems import Invalid

SCHEMA = """
CREATE TABLE IF NOT EXISTS params (
    version INTEGER PRIMARY KEY AUTOINCREMENT, vals TEXT NOT NULL, set_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nozzles (
    terminal TEXT NOT NULL, nozzle INTEGER NOT NULL, grade TEXT NOT NULL,
    PRIMARY KEY (terminal, nozzle));
"""


class Params:
    def __init__(self, db):
        self.db = db
        db.executescript(SCHEMA)

    def current(self):
        """{"version": v, "values": {name: value}} (version 0: none set)."""
        row = self.db.execute("SELECT version, vals FROM params ORDER BY version DESC "
                              "LIMIT 1").fetchone()
        return {"version": row[0], "values": json.loads(row[1])} if row else \
            {"version": 0, "values": {}}

    def set(self, values):
        """A new version with these names set (the others as they were); ValueError for a
        name the station may not set or a value the firmware would refuse."""
        if not isinstance(values, dict) or not values:
            raise Invalid("no_params")
        for name, value in values.items():
            if name in REFUSED_PARAMS:
                raise Invalid("param_refused", name=name)
            if config.field(name) is None:
                raise Invalid("param_unknown", name=name)
            try:
                config.check(name, value)
            except config.ConfigError as e:
                why = str(e).split(": ", 1)[-1]  # ConfigError: "config NAME: why"
                raise Invalid("param_value", name=name, why=why) from None
        merged = self.current()["values"]
        merged.update(values)
        cur = self.db.execute("INSERT INTO params (vals, set_at) VALUES (?, ?)",
                              (json.dumps(merged, sort_keys=True), int(time.time())))
        return cur.lastrowid

    def set_nozzle(self, terminal, nozzle, grade):
        if not isinstance(grade, str) or not 0 < len(grade) <= 8:
            raise Invalid("grade")
        if not isinstance(nozzle, int) or isinstance(nozzle, bool) or not 1 <= nozzle <= 99:
            raise Invalid("nozzle")
        self.db.execute("INSERT OR REPLACE INTO nozzles VALUES (?, ?, ?)",
                        (terminal, nozzle, grade))

    def nozzles(self, terminal=None):
        """{nozzle (str): grade} of one terminal, or [(terminal, nozzle, grade)] of all."""
        if terminal is not None:
            return {str(n): g for n, g in self.db.execute(
                "SELECT nozzle, grade FROM nozzles WHERE terminal = ?", (terminal,))}
        return self.db.execute("SELECT terminal, nozzle, grade FROM nozzles "
                               "ORDER BY terminal, nozzle").fetchall()
