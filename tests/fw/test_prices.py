"""The price book (prices.py): the station's tables on the flash, one waiting for its
time, the config never changed."""
import json
import os

from _t import rmtree, tmpdir
from pumpside import config, storage
from pumpside.prices import PriceBook

CFG = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
       "service_pin": "2468", "nozzle": 2}
_DIRS = []


def _book():
    root = tmpdir()
    _DIRS.append(root)
    cfg = config.parse(json.dumps(CFG))
    return cfg, storage.Paths(root), PriceBook(cfg, storage.Paths(root)).load()


def _exists(path):
    try:
        os.stat(path)
    except OSError:
        return False
    return True


def teardown_module():
    while _DIRS:
        rmtree(_DIRS.pop())


def test_the_config_price_until_the_station_sends_a_table():
    cfg, paths, book = _book()
    assert (book.grade, book.price, book.version, book.waiting) == ("92", 7590, 0, None)
    assert book.take(3, {"92": 7700, "95": 8200}, None, 0, 1000) == (True, "")
    assert (book.grade, book.price, book.version) == ("92", 7700, 3)
    assert cfg.price == 7590 and cfg.grade == "92"  # the config is never changed
    again = PriceBook(cfg, paths).load()  # a reboot sells at the station's table
    assert (again.grade, again.price, again.version) == ("92", 7700, 3)


def test_the_nozzle_map_names_the_grade():
    cfg, paths, book = _book()
    assert book.take(4, {"92": 7700, "95": 8200}, {"1": "92", "2": "95"}, 0, 1000)[0]
    assert (book.grade, book.price) == ("95", 8200)
    ok, why = book.take(5, {"92": 7800}, {"2": "98"}, 0, 1000)
    assert not ok and "98" in why and (book.grade, book.price, book.version) == ("95", 8200, 4)
    ok, why = book.take(5, {"95": 0}, None, 0, 1000)
    assert not ok and book.price == 8200


def test_a_table_waits_for_its_time_and_goes_in_force_where_a_sale_starts():
    cfg, paths, book = _book()
    assert book.take(6, {"92": 8000}, None, 5000, 1000) == (True, "")
    assert book.price == 7590 and book.version == 6 and book.waiting["at"] == 5000
    assert not book.due(4999) and book.price == 7590
    rebooted = PriceBook(cfg, paths).load()  # it waits across a reboot
    assert rebooted.waiting["version"] == 6 and rebooted.version == 6
    assert rebooted.due(5000) and rebooted.price == 8000 and rebooted.waiting is None
    assert not _exists(paths.prices_next)
    assert PriceBook(cfg, paths).load().price == 8000


def test_a_newer_table_replaces_the_waiting_one():
    cfg, paths, book = _book()
    book.take(7, {"92": 8000}, None, 5000, 1000)
    assert book.take(8, {"92": 7900}, None, 0, 1000) == (True, "")
    assert book.waiting is None and not _exists(paths.prices_next)
    assert not book.due(6000) and (book.price, book.version) == (7900, 8)


def test_an_unreadable_table_leaves_the_config_price():
    cfg, paths, book = _book()
    with open(paths.prices, "w") as f:
        f.write("{not json")
    with open(paths.prices_next, "w") as f:
        f.write(json.dumps({"version": 2, "price": -1, "at": 9}))
    again = PriceBook(cfg, paths).load()
    assert (again.price, again.version, again.waiting) == (7590, 0, None)
