"""`pumpside station fleet-*`: the fleet desk on the command line: a company, its money
paid in, a vehicle card issued in the bench's reader, limits, an allocation loaded with its
restrictions, a take-back refused past what waits, the statement as CSV."""
import struct

from test_cli_station_cards import _desk, _station

from pumpside_host.bench.cards import CardStore

ASN = "6200000000000001"


def test_company_card_allocation_limits_and_statement(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PUMPSIDE_CARD_PIN", "2580")
    desk = _desk(tmp_path)
    assert _station(tmp_path, "fleet-company-add", "--name", "Swift Haulage", "--mode",
                    "credit", "--credit-limit", "20000") == 0
    assert _station(tmp_path, "fleet-deposit", "--company", "1", "--amount", "30000",
                    "--method", "cash") == 0
    assert _station(tmp_path, "fleet-card-issue", *desk, "--company", "1", "--plate",
                    "京A12345") == 0
    assert _station(tmp_path, "fleet-limits", "--asn", ASN, "--grades", "92,95",
                    "--day-amount", "20000", "--month-amount", "100000") == 0
    assert _station(tmp_path, "fleet-limits", "--asn", ASN, "--window", "9-5") == 2
    assert "HHMM-HHMM" in capsys.readouterr().err
    assert _station(tmp_path, "fleet-allocate", "--asn", ASN, "--amount", "45000") == 0
    assert _station(tmp_path, "fleet-allocate", "--asn", ASN, "--amount", "6000") == 2
    assert "credit included" in capsys.readouterr().err
    assert _station(tmp_path, "card-load", *desk, "--asn", ASN) == 0
    card = CardStore(str(tmp_path / "c.json")).cards[ASN]
    assert card.s["balance"] == 45000
    assert card.ef1c()[0:4] == b"9295"
    assert struct.unpack(">I", card.ef1d()[13:17])[0] == 100000
    assert _station(tmp_path, "fleet-allocate", "--asn", ASN, "--back", "1") == 2
    assert _station(tmp_path, "fleet", "--company", "1") == 0
    out = capsys.readouterr().out
    assert "balance -15000" in out and "6200********0001 京A12345" in out and ASN not in out
    assert "2580" not in out
    assert _station(tmp_path, "fleet-statement", "--company", "1", "--month", "2026-01") == 0
    assert capsys.readouterr().out.startswith("plate,card,grade,sales,litres,amount")
    assert _station(tmp_path, "fleet") == 0
    assert "Swift Haulage credit" in capsys.readouterr().out
