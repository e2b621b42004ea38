import json

from _t import raises
from pumpside import config

GOOD = {"grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
        "service_pin": "2468"}


def _with(**kw):
    fields = dict(GOOD)
    for k in kw:
        if kw[k] is None:
            del fields[k]
        else:
            fields[k] = kw[k]
    return json.dumps(fields)


def test_good_config_with_defaults():
    cfg = config.parse(json.dumps(GOOD))
    assert cfg.k_factor == 100000
    assert cfg.fault_lock_count == 6
    assert cfg.nozzle == 1


def test_zero_or_negative_values_name_the_field():
    for field in ("k_factor", "price", "slow_lead_ml"):
        for bad in (0, -1):
            e = raises(config.ConfigError, config.parse, _with(**{field: bad}))
            assert e.field == field, e
            assert field in str(e)


def test_missing_required_field_named():
    for field in ("k_factor", "price", "grade", "slow_lead_ml", "service_pin"):
        e = raises(config.ConfigError, config.parse, _with(**{field: None}))
        assert e.field == field
        assert "missing" in str(e)


def test_wrong_types_refused():
    assert raises(config.ConfigError, config.parse, _with(price=7.59)).field == "price"
    assert raises(config.ConfigError, config.parse, _with(price="759")).field == "price"
    assert raises(config.ConfigError, config.parse, _with(k_factor=True)).field == "k_factor"
    assert raises(config.ConfigError, config.parse, _with(grade=92)).field == "grade"


def test_unknown_field_and_broken_file():
    assert raises(config.ConfigError, config.parse, _with(colour="red")).field == "colour"
    assert raises(config.ConfigError, config.parse, "{not json").field == "(file)"
    assert raises(config.ConfigError, config.parse, "[1, 2]").field == "(file)"
    assert raises(config.ConfigError, config.load, "/nonexistent/config.json").field == "(file)"


def test_service_pin_never_in_repr_or_errors():
    cfg = config.parse(_with(service_pin="97531"))
    assert "97531" not in repr(cfg)
    assert "service_pin" not in cfg.as_dict()
    assert cfg.as_dict(secrets=True)["service_pin"] == "97531"
    e = raises(config.ConfigError, config.parse, _with(service_pin="97x31"))
    assert "97x31" not in str(e)
    assert e.field == "service_pin"


def test_wlan_passphrase_is_a_secret_and_the_network_kind_checked():
    cfg = config.parse(_with(wlan_ssid="forecourt", wlan_pass="pump-wlan-8x7"))
    assert "pump-wlan-8x7" not in repr(cfg) and "wlan_pass" not in cfg.as_dict()
    assert cfg.as_dict()["wlan_ssid"] == "forecourt" and cfg.net_kind == ""
    assert cfg.as_dict(secrets=True)["wlan_pass"] == "pump-wlan-8x7"
    assert "wlan_pass" in config.SECRETS
    e = raises(config.ConfigError, config.parse, _with(wlan_pass="short7x"))
    assert e.field == "wlan_pass" and "short7x" not in str(e)
    assert config.parse(_with(wlan_pass="")).wlan_pass == ""  # an open network
    e = raises(config.ConfigError, config.parse, _with(net_kind="ppp"))
    assert e.field == "net_kind" and "lan8720" in str(e)


def test_sale_mode_and_level_discounts_checked():
    e = raises(config.ConfigError, config.parse, _with(sale_mode="kiosk"))
    assert e.field == "sale_mode" and "card, attended" in str(e)
    for bad in ("1:60", "x:2", "1-2", "300:1"):
        e = raises(config.ConfigError, config.parse, _with(level_discounts=bad))
        assert e.field == "level_discounts", bad
    e = raises(config.ConfigError, config.parse, _with(issuers="43415244303030"))
    assert e.field == "issuers"
    assert config.parse(_with(issuers="4341524430303031,1122334455667788")).issuers
    cfg = config.parse(_with(level_discounts="1:2,3:5"))
    assert config.parse_levels(cfg.level_discounts) == {1: 2, 3: 5}


def test_type_discounts_checked_like_level_discounts():
    for bad in ("1:60", "x:2", "1-2", "300:1"):
        e = raises(config.ConfigError, config.parse, _with(type_discounts=bad))
        assert e.field == "type_discounts" and "type:percent" in str(e), bad
    cfg = config.parse(_with(type_discounts="4:3,1:0"))
    assert config.parse_levels(cfg.type_discounts, "type_discounts") == {4: 3, 1: 0}
    assert config.parse(_with()).type_discounts == ""


def test_field_table_types_defaults_and_bounds():
    assert config.field("price") == (int, None, 1, 10000000)  # legal: no default
    assert config.field("station") == (str, "PUMPSIDE STATION", 1, 32)
    assert config.field("level_discounts") == (str, "", 0, 64)
    assert config.field("station_tls") == (int, 1, 0, 1)  # TLS unless set to 0
    assert config.field("no_such_field") is None
    assert config.field("pric") is None and config.field("rice") is None  # whole names
    names = [name for name, _spec in config.fields()]
    assert len(names) == len(set(names)) == 46 and names[0] == "nozzle"
    for name, (typ, default, lo, hi) in config.fields():
        assert typ in (int, str) and lo <= hi, name
        if default is not None:
            assert config.check(name, default) == default, name


def test_same_secret_compares_whole_strings():
    assert config.same_secret("2468", "2468")
    assert not config.same_secret("2467", "2468")
    assert not config.same_secret("246", "2468")
    assert not config.same_secret("24680", "2468")
