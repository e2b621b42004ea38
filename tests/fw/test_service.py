"""Service operations (the host tool's REPL calls): one JSON result line, refusals named,
legal parameters only with the PIN and an event record, secrets never printed."""
import json

from _t import raises, rmtree, tmpdir
from pumpside import manifest, service

PIN = "86420135"
KEY = "5a" * 32
CFG = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
       "service_pin": PIN, "sale_mode": "attended"}


def _setup(**over):
    root = tmpdir()
    cfg = dict(CFG)
    cfg.update(over)
    with open(root + "/config.json", "w") as f:
        f.write(json.dumps(cfg))
    return root


def _read(path):
    with open(path) as f:
        return f.read()


def _call(fn, *args, **kw):
    """(result, printed lines) of one service call on the tree at kw["root"]."""
    root = kw.pop("root")
    if fn is not service.config_get:
        kw["flash_root"] = root
    if fn not in (service.events, service.journal_unsynced):
        kw["config_path"] = root + "/config.json"
    out = []
    service.print = out.append
    try:
        res = fn(*args, **kw)
    finally:
        service.print = print
    assert json.loads(out[-1]) == res, out  # the last line is the result
    return res, out


def _events(root):
    res, out = _call(service.events, root=root)
    return res, [json.loads(line) for line in out[:-1]]


def test_invalid_value_refused_naming_the_field_file_untouched():
    root = _setup()
    try:
        before = _read(root + "/config.json")
        for changes, field in (({"price": 0}, "price"), ({"k_factor": "1"}, "k_factor"),
                               ({"colour": "red"}, "colour"), ([1], "(changes)")):
            res, out = _call(service.config_set, changes, PIN, "t1", root=root)
            assert not res["ok"] and res["field"] == field, res
            assert len(out) == 1
        assert _read(root + "/config.json") == before
        assert _events(root)[0]["count"] == 0
    finally:
        rmtree(root)


def test_legal_change_needs_the_pin_and_is_recorded():
    root = _setup()
    try:
        before = _read(root + "/config.json")
        for pin in (None, "", "86420134", PIN + "0"):
            res, _ = _call(service.config_set, {"k_factor": 99000}, pin, "t1", root=root)
            assert not res["ok"] and res["error"] == "service mode required", res
            assert res["field"] == "k_factor"
        res, _ = _call(service.config_set, {"slow_lead_ml": 150}, root=root)
        assert not res["ok"] and res["field"] == "slow_lead_ml"
        res, _ = _call(service.config_set, {"service_pin": "1234"}, root=root)
        assert not res["ok"] and res["field"] == "service_pin"
        assert _read(root + "/config.json") == before
        res, _ = _call(service.config_set, {"k_factor": 99000}, PIN, "", root=root)
        assert not res["ok"] and res["field"] == "who"
        res, _ = _call(service.config_set, {"k_factor": 99000, "price": 7600}, PIN, "t1",
                       root=root)
        assert res["ok"] and res["events"] == [1], res
        assert res["changed"] == ["k_factor", "price"]
        assert json.loads(_read(root + "/config.json"))["k_factor"] == 99000
        info, recs = _events(root)
        assert info["count"] == 1 and info["chain_ok"] and len(recs) == 1
        r = recs[0]
        assert (r["n"], r["who"], r["what"], r["old"], r["new"]) == \
            (1, "t1", "k_factor", 100000, 99000)
    finally:
        rmtree(root)


def test_non_legal_change_needs_no_pin_and_adds_no_event():
    root = _setup()
    try:
        res, _ = _call(service.config_set, {"price": 7700, "station_addr": "10.0.0.2:7800",
                                            "terminal_id": "T1", "terminal_key": KEY},
                       root=root)
        assert res["ok"] and res["events"] == [], res
        assert res["config"]["price"] == 7700 and res["config"]["terminal_key"] == "***"
        saved = json.loads(_read(root + "/config.json"))
        assert saved["terminal_key"] == KEY and saved["service_pin"] == PIN
        res, _ = _call(service.config_set, {"k_factor": 100000}, root=root)  # unchanged
        assert res["ok"] and res["changed"] == []
        assert _events(root)[0]["count"] == 0
    finally:
        rmtree(root)


def test_full_event_log_refuses_the_legal_change():
    root = _setup()
    try:
        for k in (99000, 99100, 99200):
            res, _ = _call(service.config_set, {"k_factor": k}, PIN, "t1", capacity=3,
                           root=root)
            assert res["ok"], res
        before = _read(root + "/config.json")
        res, _ = _call(service.config_set, {"k_factor": 99300}, PIN, "t1", capacity=3,
                       root=root)
        assert not res["ok"] and "full" in res["error"] and res["field"] == "k_factor"
        res, _ = _call(service.calibrate, 20100, 20000, PIN, "t1", capacity=3, root=root)
        assert not res["ok"] and "full" in res["error"]
        assert _read(root + "/config.json") == before
        res, _ = _call(service.config_set, {"price": 7000}, capacity=3, root=root)
        assert res["ok"]  # the rest of the config stays serviceable
        assert _events(root)[0]["count"] == 3
    finally:
        rmtree(root)


def test_calibrate_exact_integer_k_factor_and_limits():
    root = _setup()
    try:
        res, _ = _call(service.calibrate, 20100, 20000, None, "t1", root=root)
        assert not res["ok"] and res["error"] == "service mode required"
        res, _ = _call(service.calibrate, 20100, 20000, PIN, "t1", now=1795000000,
                       root=root)
        assert res == {"ok": True, "old_k_factor": 100000, "new_k_factor": 99502,
                       "events": [1]}, res  # 100000 x 20000 / 20100 = 99502.49
        res, _ = _call(service.calibrate, 20000, 21100, PIN, "t1", root=root)  # +5.5 %
        assert not res["ok"] and res["field"] == "metered_ml"
        res, _ = _call(service.calibrate, 20000, 21000, PIN, "t1", root=root)  # +5 %: ok
        assert res["ok"] and res["new_k_factor"] == 104477  # 99502 x 1.05 = 104477.1
        for proved, metered in ((0, 100), (100, -1), (True, 100)):
            res, _ = _call(service.calibrate, proved, metered, PIN, "t1", root=root)
            assert not res["ok"] and res["field"] in ("proved_ml", "metered_ml")
        info, recs = _events(root)
        assert info["count"] == 2 and [r["new"] for r in recs] == [99502, 104477]
        assert recs[0]["t"] == 1795000000
        assert json.loads(_read(root + "/config.json"))["k_factor"] == 104477
    finally:
        rmtree(root)


def test_secrets_never_printed_or_logged():
    root = _setup(terminal_key=KEY, terminal_id="T1", station_addr="10.0.0.2:7800")
    try:
        printed = []
        for fn, args in ((service.config_get, ()), (service.info, ()),
                         (service.config_set, ({"k_factor": 99000}, PIN, "t1")),
                         (service.config_set, ({"service_pin": "123"}, PIN, "t1")),
                         (service.config_set, ({"terminal_key": "xyz"},)),
                         (service.calibrate, (20100, 20000, PIN, "t1")),
                         (service.events, ())):
            printed += _call(fn, *args, root=root)[1]
        text = "\n".join(printed) + _read(root + "/events/log")
        assert PIN not in text and KEY not in text and "xyz" not in text
        assert '"***"' in text
    finally:
        rmtree(root)


def test_info_reports_the_manifest_and_the_event_counter():
    root = _setup()
    tree = tmpdir()
    try:
        _call(service.config_set, {"k_factor": 99000}, PIN, "t1", root=root)
        res, out = _call(service.info, root=root)
        assert res["ok"] and res["version"] == manifest.VERSION and len(out) == 1
        assert res["event_count"] == 1 and res["event_capacity"] == 1000
        assert res["events_chain_ok"] and res["config"]["k_factor"] == 99000
        assert "service_pin" not in res["config"]
        assert res["journal_unsynced"] == 0
        assert not res["manifest_ok"] or res["software_id"]  # CPython: firmware/ has none
        files = _tree(tree)
        res, _ = _call(service.info, fw_root=tree, root=root)
        assert res["manifest_ok"] and res["software_id"] == manifest.software_id(files)
        with open(tree + "/pumpside/ui.py", "w") as f:
            f.write("U = 3\n")
        res, _ = _call(service.info, fw_root=tree, root=root)
        assert res["ok"] and not res["manifest_ok"] and res["software_id"] is None
        assert "pumpside/ui.py" in res["manifest_error"]
    finally:
        rmtree(tree)
        rmtree(root)


def _tree(tree):
    import os

    os.mkdir(tree + "/pumpside")
    files = {}
    for name, text in (("pumpside/meter.py", "K = 1\n"), ("pumpside/ui.py", "U = 2\n")):
        with open(tree + "/" + name, "w") as f:
            f.write(text)
        files[name] = manifest.file_hash(tree + "/" + name)
    with open(tree + "/" + manifest.NAME, "w") as f:
        f.write(json.dumps(manifest.make(files)))
    return files


def test_manifest_detects_an_altered_and_a_missing_file():
    import os

    tree = tmpdir()
    try:
        files = _tree(tree)
        got = manifest.verify(tree)
        assert got["software_id"] == manifest.software_id(files)
        with open(tree + "/pumpside/meter.py", "w") as f:
            f.write("K = 2\n")
        e = raises(manifest.ManifestError, manifest.verify, tree)
        assert "pumpside/meter.py" in str(e) and "hash" in str(e)
        os.remove(tree + "/pumpside/meter.py")
        e = raises(manifest.ManifestError, manifest.verify, tree)
        assert "pumpside/meter.py" in str(e) and "missing" in str(e)
        os.remove(tree + "/" + manifest.NAME)
        assert "no manifest" in str(raises(manifest.ManifestError, manifest.verify, tree))
    finally:
        rmtree(tree)


def test_journal_unsynced_lists_records_after_the_ack():
    from pumpside import journal
    from pumpside import record as rec

    root = tmpdir()
    try:
        jr = journal.Journal(root + "/journal")
        jr.open()
        for i in range(3):
            bill = rec.new_bill()
            bill.update(time=1795000000 + i, nozzle=1, grade="92", price=7590, mode="V",
                        preset_ml=1000)
            jr.begin(bill)
            jr.finish(1795000000 + i, 100, 1000, 759, 1)
        jr.ack(1, 1795000009)
        res, out = _call(service.journal_unsynced, root=root)
        assert res["ok"] and res["count"] == 2 and res["ack"] == 1, res
        recs = [json.loads(line) for line in out[:-1]]
        assert [r["seq"] for r in recs] == [2, 3] and recs[0]["type"] == "FINAL"
    finally:
        rmtree(root)
