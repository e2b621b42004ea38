"""`pumpside provision` with a WLAN, and `config set wlan_pass`: the passphrase is taken
from the environment or asked for without echo, sent to the device in its one service
call, and never printed."""
import getpass

from pumpside_host import cli, tech

PASS = "pump-wlan-8x7"


def _provision(monkeypatch, tmp_path, capsys, *extra):
    calls = []
    monkeypatch.setattr(tech, "_service",
                        lambda args, call, *files: calls.append(call) or {"ok": True})
    code = cli.main(["provision", "--port", "/dev/null", "--terminal-id", "P1", "--station",
                     "10.0.0.2:7800", "--db", str(tmp_path / "station.db"), *extra])
    out = capsys.readouterr()
    return code, calls, out.out + out.err


def test_provision_sets_the_wlan_and_never_shows_its_passphrase(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PUMPSIDE_WLAN_PASS", PASS)
    code, calls, printed = _provision(monkeypatch, tmp_path, capsys, "--wlan-ssid",
                                      "forecourt", "--net-kind", "wlan")
    assert code == 0 and len(calls) == 1
    assert "'wlan_ssid': 'forecourt'" in calls[0] and "'wlan_pass': '%s'" % PASS in calls[0]
    assert "'net_kind': 'wlan'" in calls[0]
    assert "WLAN forecourt" in printed and PASS not in printed


def test_the_passphrase_is_asked_for_without_echo(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("PUMPSIDE_WLAN_PASS", raising=False)
    asked = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or PASS)
    code, calls, printed = _provision(monkeypatch, tmp_path, capsys, "--wlan-ssid", "yard")
    assert code == 0 and asked and "'wlan_pass': '%s'" % PASS in calls[0]
    assert PASS not in printed


def test_without_an_ssid_the_network_is_left_as_it_is(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(getpass, "getpass", lambda prompt: 1 / 0)  # never asked
    code, calls, printed = _provision(monkeypatch, tmp_path, capsys)
    assert code == 0 and "wlan" not in calls[0] and "WLAN" not in printed


def test_config_set_takes_the_passphrase_without_it_on_the_command_line(monkeypatch, capsys):
    monkeypatch.delenv("PUMPSIDE_WLAN_PASS", raising=False)
    monkeypatch.setattr(getpass, "getpass", lambda prompt: PASS)
    calls = []
    monkeypatch.setattr(tech, "_service",
                        lambda args, call, *files: calls.append(call) or {"ok": True})
    code = cli.main(["config", "set", "--port", "/dev/null", "wlan_ssid=yard", "wlan_pass"])
    printed = capsys.readouterr()
    assert code == 0 and "'wlan_pass': '%s'" % PASS in calls[0] and "'yard'" in calls[0]
    assert PASS not in printed.out + printed.err
