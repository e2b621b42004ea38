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
