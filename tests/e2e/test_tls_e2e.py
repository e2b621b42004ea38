"""End to end: the link over TLS by default - MicroPython's ssl (mbedTLS) on the terminal,
Python's ssl at the station, which made its own CA and certificate at its first start;
the terminal provisioned as `pumpside provision` does it, with that CA (DER: the unix
port's mbedTLS parses no PEM) pinned. Plain TCP only when set so, and shown as such."""
import socket
import ssl
import time

import pytest
from plainprobe import plain_reply

from pumpside_host.station.ledger import Ledger
from pumpside_host.station.server import StationThread
from pumpside_host.station.tls import StationTls, station_tls

from .helpers import provisioned
from .helpers import sale as _sale
from .helpers import saw as _saw
from .helpers import wait_until as _wait

pytestmark = pytest.mark.e2e


def test_a_provisioned_pump_syncs_over_tls_with_the_stations_own_ca(make_pump, tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    station = StationThread(ledger).start()  # its first start: CA and certificate made
    cfg, files = provisioned(ledger, station.port)
    assert cfg["station_tls"] == 1 and list(files.values()) == [
        station_tls(ledger.path).ca_der()]
    try:
        # the station speaks only TLS: a plain client gets no CHALLENGE in the clear
        assert b"nonce" not in plain_reply(station.port)
        vp = make_pump(files=files, **cfg)
        _wait(lambda: _saw(vp, "link_up"), 20, "the link over TLS")
        d = _sale(vp, "V100E", hang_up=True)
        _wait(lambda: len(ledger.sales("P1")) == 1, 20, "the sale at the station")
    finally:
        station.stop()
    sale = ledger.sales("P1")[0]
    assert (sale["sale"], sale["ml"], sale["amount"]) == (1, d["ml"], d["amount"]) \
        and d["ml"] == 1000
    assert ledger.pumps()[0]["link"] == "tls" and not _saw(vp, "link_plain")


def test_a_station_whose_certificate_is_not_the_pinned_one_gets_nothing(make_pump, tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    station = StationThread(ledger).start()
    cfg, _files = provisioned(ledger, station.port)
    impostor = StationTls(tmp_path / "impostor").ca_der()  # another station's CA pinned
    try:
        vp = make_pump(files={cfg["station_ca"]: impostor}, **cfg)
        down = vp.wait_event("link_down", 20)
        _sale(vp, "V100E", hang_up=True)  # the pump sells on, offline
        time.sleep(3)  # while the link retries (0.5, 1, 2 s backoff), refused each time
    finally:
        station.stop()
    assert "not correctly signed" in down["why"], down
    assert not _saw(vp, "link_up") and ledger.sales("P1") == [] and ledger.pumps() == []


def test_tls_with_no_ca_pinned_connects_to_nothing(make_pump, tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    station = StationThread(ledger).start()
    cfg, _files = provisioned(ledger, station.port)
    cfg["station_ca"] = ""  # TLS on (the default) but no CA: no certificate is taken
    try:
        vp = make_pump(**cfg)
        down = vp.wait_event("link_down", 20)
        _sale(vp, "V100E", hang_up=True)  # the pump sells on, offline
    finally:
        station.stop()
    assert down["why"] == "no station CA pinned"
    assert not _saw(vp, "link_up") and ledger.pumps() == []


def test_plain_only_when_set_said_at_boot_and_listed_by_the_station(make_pump, tmp_path):
    ledger = Ledger(str(tmp_path / "station.db"))
    station = StationThread(ledger, plain_port=0).start()
    cfg, _files = provisioned(ledger, station.plain_port)
    cfg.update(station_tls=0, station_ca="")  # plain, set so
    try:
        vp = make_pump(**cfg)
        boot_log = [name for name, _ in vp.seen]
        assert boot_log.index("link_plain") < boot_log.index("boot")
        assert vp.seen[boot_log.index("link_plain")][1] == {"station": cfg["station_addr"]}
        _wait(lambda: _saw(vp, "link_up"), 20, "the plain link")
        _sale(vp, "V100E", hang_up=True)
        _wait(lambda: len(ledger.sales("P1")) == 1, 20, "the sale at the station")
        # and the TLS port is no plain port: Python's TLS client pinned to the CA is answered
        ctx = ssl.create_default_context(cadata=station_tls(ledger.path).ca_der())
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", station.port), 5),
                             server_hostname="127.0.0.1") as tls:
            assert b"nonce" in tls.recv(256)
    finally:
        station.stop()
    assert ledger.pumps()[0]["link"] == "plain"
