"""End to end: the link over TLS - MicroPython's ssl (mbedTLS) on the terminal,
Python's ssl at the station, a self-signed station certificate made here whose DER form
is pinned on the terminal (station_ca; the unix port's mbedTLS parses no PEM)."""
import datetime
import ipaddress
import socket
import ssl
import time

import pytest

from pumpside_host.bench import Bench
from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationThread, tls_context
from pumpside_host.vboard import DEFAULT_CONFIG, VirtualPump

from .conftest import FAST_TIMEOUTS
from .helpers import sale as _sale
from .helpers import saw as _saw
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e


def _self_signed(folder, name):
    """(cert.pem, key.pem, cert DER bytes) of a self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem, key_pem = folder / (name + ".pem"), folder / (name + ".key")
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(pem), str(key_pem), cert.public_bytes(serialization.Encoding.DER)


def _tls_pump(tmp_path, station, key, ca_der):
    cfg = dict(DEFAULT_CONFIG, **FAST_TIMEOUTS)
    cfg.update(station_addr="127.0.0.1:%d" % station.port, terminal_id="P1",
               terminal_key=key.hex(), station_tls=1, station_ca="station_ca.der")
    device = tmp_path / "device"
    device.mkdir()
    (device / "station_ca.der").write_bytes(ca_der)
    return VirtualPump(config=cfg, bench=Bench(), device_dir=str(device)).start()


def test_a_sale_goes_to_the_station_over_tls(tmp_path):
    cert, cert_key, der = _self_signed(tmp_path, "station")
    ledger = Ledger(str(tmp_path / "station.db"))
    key = ledger.add_terminal("P1")
    station = StationThread(ledger, ssl=tls_context(cert, cert_key)).start()
    vp = _tls_pump(tmp_path, station, key, der)
    try:
        # the station speaks only TLS: a plain client gets no CHALLENGE in the clear
        with socket.create_connection(("127.0.0.1", station.port), 5) as plain:
            plain.sendall(b"\x00\x20" + bytes(32))
            plain.settimeout(5)
            try:
                got = plain.recv(64)
            except (TimeoutError, ConnectionError):
                got = b""
            assert b"nonce" not in got
        # and Python's own TLS client is answered with the CHALLENGE
        ctx = ssl.create_default_context(cadata=der)
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", station.port), 5),
                             server_hostname="127.0.0.1") as tls:
            assert b"nonce" in tls.recv(256)
        vp.wait_state("IDLE", 10)
        _wait(lambda: _saw(vp, "link_up"), 20, "the link over TLS")
        d = _sale(vp, "V100E", hang_up=True)
        _wait(lambda: len(ledger.sales("P1")) == 1, 20, "the sale at the station")
    finally:
        vp.stop()
        station.stop()
    sale = ledger.sales("P1")[0]
    assert (sale["sale"], sale["ml"], sale["amount"]) == (1, d["ml"], d["amount"]) \
        and d["ml"] == 1000


def test_a_station_whose_certificate_is_not_the_pinned_one_gets_nothing(tmp_path):
    cert, cert_key, _der = _self_signed(tmp_path, "station")
    _other, _other_key, other_der = _self_signed(tmp_path, "impostor")
    ledger = Ledger(str(tmp_path / "station.db"))
    key = ledger.add_terminal("P1")
    station = StationThread(ledger, ssl=tls_context(cert, cert_key)).start()
    vp = _tls_pump(tmp_path, station, key, other_der)  # pins another CA
    try:
        vp.wait_state("IDLE", 10)
        down = vp.wait_event("link_down", 20)
        _sale(vp, "V100E", hang_up=True)  # the pump sells on, offline
        time.sleep(3)  # while the link retries (0.5, 1, 2 s backoff), refused each time
    finally:
        vp.stop()
        station.stop()
    assert "not correctly signed" in down["why"], down
    assert not _saw(vp, "link_up") and ledger.sales("P1") == []
