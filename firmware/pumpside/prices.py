"""The price book: the grade and unit price this nozzle sells at, from the config until
the station sends a table (PRICES), and a table waiting for its time.

The book is consulted where a sale starts (`due`, then `grade`/`price`): a sale in
progress keeps the price it was authorised at. Both tables live on the flash
(storage.Paths.prices and .prices_next, each replaced whole by storage.write_atomic), so
a reboot sells at the last table the station sent and a cut never leaves half of one.
The config itself is never changed.
"""
import os

from . import log, storage

PRICE_MAX = 10000000  # thousandths of the currency per litre, as config.py's "price"


def _price_ok(price):
    return isinstance(price, int) and not isinstance(price, bool) and 0 < price <= PRICE_MAX


def _grade_ok(grade):
    return isinstance(grade, str) and 0 < len(grade) <= 8


def _table(saved):
    """A table read back from the flash, or None when it is not one."""
    if isinstance(saved, dict) and _price_ok(saved.get("price")) and \
            isinstance(saved.get("version"), int) and isinstance(saved.get("at", 0), int):
        return saved
    return None


class PriceBook:
    def __init__(self, cfg, paths=None):
        self.nozzle = cfg.nozzle
        self.grade = cfg.grade  # in force: the next sale's grade and price
        self.price = cfg.price
        self.version = 0  # of the newest table the station sent (HELLO tells it)
        self.waiting = None  # {version, price, grade, at}: a table waiting for its time
        self._paths = paths  # None: a book that keeps nothing (tests of the sale)

    def load(self):
        """The tables kept on the flash; none, or one unreadable: the config's price."""
        paths = self._paths
        table = _table(storage.read_json(paths.prices))
        if table is not None:
            self._use(table)
        table = _table(storage.read_json(paths.prices_next))
        if table is not None and "at" in table:
            self.waiting = table
            self.version = table["version"]
        return self

    def grade_of(self, nozzles):
        """This nozzle's grade in the station's map {nozzle: grade}, or the one it has;
        None when the map names one that is no grade code."""
        grade = self.grade
        if isinstance(nozzles, dict):
            grade = nozzles.get(str(self.nozzle), grade)
        return grade if _grade_ok(grade) else None

    def take(self, version, grades, nozzles, at, now):
        """A table from the station: in force from the next sale on, or (`at` still ahead
        of `now`, Unix seconds) waiting for the first sale that starts at or after `at`;
        a newer table replaces a waiting one. (ok, why) for the station's REPLY."""
        grade = self.grade_of(nozzles)
        price = grades.get(grade) if isinstance(grades, dict) and grade else None
        if not _price_ok(price):
            return False, "no valid price for grade %s" % grade
        table = {"version": version, "price": price, "grade": grade}
        try:
            if at > now:
                table["at"] = at
                storage.write_json(self._paths.prices_next, table)
                self.waiting = table
                self.version = version
                log.event("price_pending", table)
                return True, ""
            storage.write_json(self._paths.prices, table)
        except OSError as e:
            return False, "flash: %s" % e
        if self.waiting is not None:
            self.waiting = None
            storage.remove(self._paths.prices_next)
        self._use(table)
        log.event("price", table)
        return True, ""

    def due(self, now):
        """Where a sale starts: a waiting table whose time has come goes in force (the
        waiting file renamed over the one in force). True when the price changed."""
        table = self.waiting
        if table is None or now < table["at"]:
            return False
        try:
            os.rename(self._paths.prices_next, self._paths.prices)
        except OSError as e:
            log.event("price_pending", {"why": "flash: %s" % e})
            return False
        self.waiting = None
        self._use(table)
        log.event("price", table)
        return True

    def _use(self, table):
        self.price = table["price"]
        self.version = table["version"]
        if _grade_ok(table.get("grade")):
            self.grade = table["grade"]
