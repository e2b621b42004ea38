"""`pumpside station card-*`: the card desk on the command line, with the bench's card
store as the issuing reader's cards; PINs from the environment, never shown."""
import json

from pumpside_host import cli
from pumpside_host.bench.cards import CardStore, Issuer

ASN = "6200000000000001"


def _station(tmp_path, *args):
    keys = tmp_path / "keys.json"
    if not keys.exists():
        keys.write_text(json.dumps({"issuers": [Issuer().key_file_entry()]}))
    return cli.main(["station", args[0], "--db", str(tmp_path / "s.db")] + list(args[1:]))


def _desk(tmp_path):
    return ["--issuer-keys", str(tmp_path / "keys.json"), "--cards", str(tmp_path / "c.json")]


def test_issue_load_query_lost_and_replace(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PUMPSIDE_CARD_PIN", "2580")
    monkeypatch.setenv("PUMPSIDE_CARD_NEW_PIN", "1357")
    desk = _desk(tmp_path)
    assert _station(tmp_path, "card-issue", *desk, "--name", "Li Lei", "--id-number",
                    "110101199003071234", "--phone", "13800138000") == 0
    assert _station(tmp_path, "card-load", *desk, "--asn", ASN, "--cash", "5000") == 0
    assert _station(tmp_path, "card-load", "--asn", ASN, "--online", "700",
                    "--no-card") == 0
    assert CardStore(str(tmp_path / "c.json")).cards[ASN].s["balance"] == 5000
    assert _station(tmp_path, "card", "--asn", ASN) == 0
    out = capsys.readouterr().out
    assert "6200********0001" in out and "ID ****1234" in out and "waiting 700" in out
    assert "loyalty points 0 (earned 0, redeemed 0, reversed 0, carried +0)" in out
    assert ASN not in out and "2580" not in out and "110101199003071234" not in out
    assert _station(tmp_path, "card-lost", "--asn", ASN) == 0
    assert _station(tmp_path, "card-replace", *desk, "--asn", ASN, "--id-last4",
                    "1234") == 2
    assert "replace it after 172800 s" in capsys.readouterr().err
    assert _station(tmp_path, "card-setting", "--name", "replace_wait_s", "--value", "0") == 0
    assert _station(tmp_path, "card-replace", *desk, "--asn", ASN, "--id-last4", "1234") == 0
    assert "replaced by 6200********0002 carrying 5700" in capsys.readouterr().out
    assert CardStore(str(tmp_path / "c.json")).cards["6200000000000002"].s["balance"] == 5700
    new = "6200000000000002"
    assert _station(tmp_path, "card-pin-reset", *desk, "--asn", new, "--id-last4",
                    "0000") == 2
    assert "identity check failed" in capsys.readouterr().err
    monkeypatch.setenv("PUMPSIDE_CARD_NEW_PIN", "8642")
    assert _station(tmp_path, "card-pin-reset", *desk, "--asn", new, "--id-last4",
                    "1234") == 0
    assert CardStore(str(tmp_path / "c.json")).cards[new].s["pin"] == "8642"
    assert _station(tmp_path, "card") == 0
    out = capsys.readouterr().out
    assert "6200********0001 registered closed balance 0 waiting 0" in out
    assert "6200********0002 registered active balance 5700 waiting 0" in out


def test_without_keys_or_reader_the_desk_says_what_it_needs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PUMPSIDE_CARD_PIN", "2580")
    assert _station(tmp_path, "card-issue", "--name", "x") == 2
    assert "--issuer-keys FILE --cards FILE" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{}")
    assert _station(tmp_path, "card-issue", "--issuer-keys", str(tmp_path / "bad.json"),
                    "--cards", str(tmp_path / "c.json"), "--kind", "anonymous") == 2
    assert "no \"issuers\" list" in capsys.readouterr().err
    assert _station(tmp_path, "card-load", *_desk(tmp_path), "--asn", ASN) == 2
    assert "no card 6200********0001" in capsys.readouterr().err
