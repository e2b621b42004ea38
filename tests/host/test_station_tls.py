"""Encrypted by default: the station's own CA and certificate (station/tls.py), made once
beside its database and kept 0600; `pumpside provision` pins the CA on the terminal; a
terminal with TLS on and no CA pinned connects to nothing; plain TCP only when set so,
and listed as such."""
import asyncio
import datetime
import json
import os
import socket
import ssl
import stat

import pytest
from cryptography import x509
from plainprobe import plain_reply
from test_link import Rig

from pumpside_host import cli, tech
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationThread
from pumpside_host.station.tls import (
    CA_CERT,
    CA_DER,
    CA_KEY,
    CERT,
    KEY,
    StationTls,
    TlsFilesError,
    folder_of,
    station_names,
    station_tls,
)

FILES = (CA_KEY, CA_CERT, CA_DER, CERT, KEY)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _snapshot(folder):
    return {name: (folder / name).read_bytes() for name in FILES if (folder / name).exists()}


def _tls_client(ca_der, port, name="127.0.0.1"):
    """What a terminal pinned to `ca_der` gets from the station: its first bytes."""
    ctx = ssl.create_default_context(cadata=ca_der)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5),
                         server_hostname=name) as tls:
        return tls.recv(256)


def test_the_station_makes_its_ca_at_first_start_0600_beside_the_db_and_reuses_it(tmp_path):
    db = tmp_path / "station.db"
    ledger = Ledger(str(db))
    folder = tmp_path / "station.db.tls"
    assert folder_of(db) == str(folder) and not folder.exists()
    station = StationThread(ledger).start()  # the first start: the CA and its certificate
    try:
        assert b"nonce" in _tls_client((folder / CA_DER).read_bytes(), station.port)
    finally:
        station.stop()
    assert _mode(folder) == 0o700
    for name in FILES:
        assert _mode(folder / name) == 0o600, name
    first = _snapshot(folder)
    # never in the database: no table or value holds a key or a certificate
    dump = "\n".join(ledger.db.iterdump())
    assert "PRIVATE KEY" not in dump and "CERTIFICATE" not in dump
    station = StationThread(ledger).start()  # a later start: the same CA and certificate
    station.stop()
    assert _snapshot(folder) == first
    ca = x509.load_der_x509_certificate(first[CA_DER])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.not_valid_before_utc.year == 1999  # a board whose clock is unset takes it
    ledger.close()


def test_the_server_certificate_names_the_station_and_a_new_host_keeps_the_ca(tmp_path):
    names = station_names("192.0.2.7", ["station.example"])
    assert names[:2] == ["127.0.0.1", "localhost"] and socket.gethostname() in names
    assert "192.0.2.7" in names and "station.example" in names
    assert "0.0.0.0" not in station_names("0.0.0.0")  # a wildcard is no address
    own = StationTls(tmp_path / "tls")
    own.server(names)
    cert = x509.load_pem_x509_certificate((tmp_path / "tls" / CERT).read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    assert "127.0.0.1" in ips and "192.0.2.7" in ips  # addresses as IP entries
    assert {"localhost", "station.example", socket.gethostname()} <= set(
        san.get_values_for_type(x509.DNSName))
    assert cert.issuer == x509.load_der_x509_certificate(own.ca_der()).subject
    ca = own.ca_der()
    own.server(["198.51.100.9"])  # started with another --host: issued again, same CA
    assert own.ca_der() == ca and "198.51.100.9" in own.names() and "192.0.2.7" in own.names()
    again = _snapshot(tmp_path / "tls")
    own.server(["127.0.0.1", "198.51.100.9"])  # all named: reused as it is
    assert _snapshot(tmp_path / "tls") == again
    # near its end it is issued again, the CA kept
    own.server(["127.0.0.1"], now=datetime.datetime.now(datetime.UTC)
               + datetime.timedelta(days=5 * 365 - 100))
    assert _snapshot(tmp_path / "tls")[CERT] != again[CERT] and own.ca_der() == ca


def test_a_terminal_checks_the_name_it_dialled(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    station = StationThread(ledger).start()
    ca = station_tls(ledger.path).ca_der()
    try:
        assert b"nonce" in _tls_client(ca, station.port, "127.0.0.1")
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            _tls_client(ca, station.port, "not-the-station.example")
        other = StationTls(tmp_path / "other")  # another station's CA pinned
        with pytest.raises(ssl.SSLCertVerificationError):
            _tls_client(other.ca_der(), station.port)
    finally:
        station.stop()
    ledger.close()


def test_tls_files_open_to_others_or_half_there_are_refused_and_nothing_is_replaced(
        tmp_path, monkeypatch):
    monkeypatch.setattr("logging.basicConfig", lambda **kw: None)  # `serve`'s, kept out
    own = StationTls(tmp_path / "tls")
    own.server(["127.0.0.1"])
    folder = tmp_path / "tls"
    before = _snapshot(folder)
    os.chmod(folder / CA_KEY, 0o644)
    with pytest.raises(TlsFilesError, match="chmod 600"):
        StationTls(folder).server(["127.0.0.1"])
    os.chmod(folder / CA_KEY, 0o600)
    (folder / CA_CERT).rename(tmp_path / "ca.pem.moved")  # the key without its certificate
    with pytest.raises(TlsFilesError, match="restore it from a backup"):
        StationTls(folder).ca_der()
    (tmp_path / "ca.pem.moved").rename(folder / CA_CERT)
    (folder / CA_KEY).write_bytes(b"not a key")
    with pytest.raises(TlsFilesError, match="damaged"):
        StationTls(folder).ca()
    (folder / CA_KEY).write_bytes(before[CA_KEY])
    assert _snapshot(folder) == before  # no second CA was made on the way
    # the station's command line says it and stops
    db = tmp_path / "bad.db"
    os.makedirs(folder_of(db))
    (tmp_path / "bad.db.tls" / CA_KEY).write_bytes(before[CA_KEY])
    assert cli.main(["station", "serve", "--db", str(db), "--port", "0"]) == 2
    assert not (tmp_path / "bad.db.tls" / CA_CERT).exists()
    assert cli.main(["station", "serve", "--db", str(db), "--tls-cert", "x.pem"]) == 2


class FakeDevice:
    """The device as tech.py's provision sees it: files written, service calls, reset."""

    def __init__(self):
        self.did = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def write(self, path, data):
        self.did.append(("write", path, data))

    def service(self, call):
        self.did.append(("service", call))
        return {"ok": True}

    def reset(self):
        return {"event": "boot", "software_id": "x"}


def _provision(monkeypatch, tmp_path, *extra):
    device = FakeDevice()
    monkeypatch.setattr(tech, "_device", lambda args: device)
    db = str(tmp_path / "station.db")
    rc = cli.main(["provision", "--port", "/dev/null", "--terminal-id", "P7", "--station",
                   "127.0.0.1:7800", "--db", db, *extra])
    return rc, device, db


def _changes(call):
    """The changes dict of a `config_set(...)` service call."""
    import ast

    return ast.literal_eval(call[len("config_set("):].rsplit(", None,", 1)[0])


def test_provision_pins_the_stations_ca_on_the_device_and_turns_tls_on(monkeypatch,
                                                                        tmp_path, capsys):
    rc, device, db = _provision(monkeypatch, tmp_path)
    assert rc == 0
    ca = station_tls(db).ca_der()  # made by provision: the station had not started yet
    (write, path, data), (call, text) = device.did
    assert (write, path, data) == ("write", tech.STATION_CA, ca)  # DER, before the config
    changes = _changes(text)
    assert changes["station_tls"] == 1 and changes["station_ca"] == tech.STATION_CA
    assert "TLS, the station's CA pinned" in capsys.readouterr().out
    # a later provision pins the same CA: the station made it once
    rc, device, _ = _provision(monkeypatch, tmp_path)
    assert rc == 0 and device.did[0][2] == ca
    # a station certificate that does not name the address given: said before it fails
    station_tls(db).server(["127.0.0.2"])
    capsys.readouterr()
    rc, device, _ = _provision(monkeypatch, tmp_path)
    assert rc == 0 and "--tls-name 127.0.0.1" in capsys.readouterr().err


def test_provision_plain_sets_tls_off_and_writes_no_ca(monkeypatch, tmp_path, capsys):
    rc, device, db = _provision(monkeypatch, tmp_path, "--plain")
    assert rc == 0 and [d[0] for d in device.did] == ["service"]
    changes = _changes(device.did[0][1])
    assert changes["station_tls"] == 0 and changes["station_ca"] == ""
    assert "PLAIN TCP (unencrypted)" in capsys.readouterr().out
    assert not os.path.exists(folder_of(db))  # no CA needed, none made


def test_provision_with_a_broken_ca_folder_changes_nothing(monkeypatch, tmp_path, capsys):
    os.makedirs(folder_of(tmp_path / "station.db"))
    (tmp_path / "station.db.tls" / CA_CERT).write_text("half a CA")
    rc, device, db = _provision(monkeypatch, tmp_path)
    assert rc == 2 and device.did == [] and "restore it" in capsys.readouterr().err
    ledger = Ledger(db)
    assert ledger.key_of("P7") is None  # the station registered nothing either
    ledger.close()


def test_a_terminal_with_tls_and_no_ca_pinned_refuses_to_connect(tmp_path, capsys):
    rig = Rig(tmp_path, card=False, station_ca="")  # TLS on (the default), no CA

    async def script(rig):
        for _ in range(50):
            if "no station CA pinned" in capsys.readouterr().out:
                return True
            await asyncio.sleep(0.02)
        return False

    assert rig.run(script)
    assert not rig.link.online and rig.link.connects == 0
    assert rig.ledger.pumps() == []  # the station never heard from it
    rig.ledger.close()


def _listing(tmp_path, capsys):
    assert cli.main(["station", "pumps", "--db", str(tmp_path / "station.db")]) == 0
    return capsys.readouterr().out


def test_the_station_lists_each_terminal_as_tls_or_plain(tmp_path, capsys):
    for plain in (False, True):
        rig = Rig(tmp_path, card=False, plain=plain)

        async def script(rig):
            await rig.until(lambda: rig.link.online, "the link")

        rig.run(script)
        rig.ledger.close()
        (pump,) = Ledger(str(tmp_path / "station.db")).pumps()
        assert pump["link"] == ("plain" if plain else "tls")
        out = _listing(tmp_path, capsys)
        assert ("link PLAIN (unencrypted)" in out) == plain, out
        assert ("link TLS" in out) != plain, out


def test_a_plain_terminal_gets_nothing_from_the_tls_port(tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    station = StationThread(ledger, plain_port=0).start()
    try:
        assert b"nonce" not in plain_reply(station.port)
        with socket.create_connection(("127.0.0.1", station.plain_port), 5) as plain:
            plain.settimeout(5)
            assert b"nonce" in plain.recv(256)  # the plain port: only when asked for
    finally:
        station.stop()
    ledger.close()


def test_the_config_default_is_tls_and_the_station_cannot_turn_it_off():
    from pumpside import config, downloads

    cfg = config.parse(json.dumps({"grade": "92", "price": 7590, "k_factor": 100000,
                                   "slow_lead_ml": 100, "service_pin": "2468"}))
    assert cfg.station_tls == 1 and cfg.station_ca == ""
    assert "station_tls" in downloads.REFUSED_PARAMS and "station_ca" in downloads.REFUSED_PARAMS
