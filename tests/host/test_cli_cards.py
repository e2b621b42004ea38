"""`pumpside cards`: issue test cards into a store the bench loads, list them."""
from pumpside_host import cli
from pumpside_host.bench.cards import CardStore


def test_issue_then_list(tmp_path, capsys):
    store = str(tmp_path / "cards.json")
    assert cli.main(["cards", "issue", "--store", store, "--asn", "6200000000000017",
                     "--balance", "25000", "--pin", "4321", "--grades", "92,95",
                     "--discount", "5"]) == 0
    out = capsys.readouterr().out
    assert "4321" not in out and "6200000000000017" in out
    card = CardStore(store).cards["6200000000000017"]
    assert card.s["balance"] == 25000 and card.s["grades"] == ["92", "95"]
    assert card.s["discount"] == 5
    assert cli.main(["cards", "list", "--store", store]) == 0
    assert "6200000000000017 balance 250.00" in capsys.readouterr().out


def test_bad_input_refused(tmp_path, capsys):
    store = str(tmp_path / "cards.json")
    assert cli.main(["cards", "issue", "--store", store, "--asn", "62x"]) == 2
    assert cli.main(["cards", "issue", "--store", store, "--pin", "12"]) == 2
    assert "must be" in capsys.readouterr().err
    assert CardStore(store).cards == {}


def test_price_level_and_start_date(tmp_path, capsys):
    store = str(tmp_path / "cards.json")
    assert cli.main(["cards", "issue", "--store", store, "--asn", "6200000000000018",
                     "--price-level", "2", "--start", "20250301", "--expiry", "20280228",
                     "--type", "4"]) == 0
    s = CardStore(store).cards["6200000000000018"].s
    assert (s["price_level"], s["start"], s["expiry"], s["card_type"]) == (
        2, "20250301", "20280228", 4)
    ef15, ef16 = CardStore(store).cards["6200000000000018"].ef15(), \
        CardStore(store).cards["6200000000000018"].ef16()
    assert ef15[20:28].hex() == "2025030120280228" and ef16[0] == 4 and ef16[46] == 2


def test_bad_dates_type_and_ranges_refused_with_a_clear_error(tmp_path, capsys):
    store = str(tmp_path / "cards.json")
    cases = [
        (["--expiry", "2030-12-31"], "--expiry must be a date YYYYMMDD"),
        (["--expiry", "20301332"], "--expiry must be a date YYYYMMDD"),
        (["--expiry", "20230229"], "--expiry must be a date YYYYMMDD"),  # not a leap year
        (["--start", "2024"], "--start must be a date YYYYMMDD"),
        (["--start", "20310101"], "--start 20310101 must not be after --expiry 20301231"),
        (["--type", "0"], "--type must be 1 to 255"),
        (["--type", "256"], "--type must be 1 to 255"),
        (["--price-level", "-1"], "--price-level must be 0 to 255"),
        (["--discount", "100"], "--discount must be 0 to 99"),
        (["--balance", "-5"], "--balance must be 0 to 4294967295"),
        (["--daily-fills", "300"], "--daily-fills must be 0 to 255"),
        (["--grades", "92,95,98,0,89"], "--grades must be at most 4 grades"),
        (["--grades", "100"], "--grades must be at most 4 grades"),
    ]
    for extra, why in cases:
        assert cli.main(["cards", "issue", "--store", store] + extra) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("error: " + why), (extra, err)
    assert CardStore(store).cards == {}
    assert cli.main(["cards", "issue", "--store", store, "--expiry", "20240229",
                     "--start", "20240229"]) == 0  # a leap day, valid for one day
