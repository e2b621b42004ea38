"""The bench's network (bench/network.py) as the sim board sees it: `NS` says whether it
is up and why not; taken down, every connection through it drops and new ones fail;
brought back, connections pass again."""
import socket

from pumpside_host.bench import Bench


def test_the_bench_takes_the_boards_network_down_and_up():
    station = socket.socket()
    station.bind(("127.0.0.1", 0))
    station.listen(4)
    station.settimeout(5)
    bench = Bench()
    port = bench.route(station.getsockname()[1])
    try:
        assert bench.handle("NS") == "up"
        pump = socket.create_connection(("127.0.0.1", port), timeout=5)
        far, _ = station.accept()
        pump.sendall(b"SALES")
        assert far.recv(16) == b"SALES"

        bench.net_down("no AP")
        assert bench.handle("NS") == "no AP"
        assert pump.recv(16) == b""  # the connection dropped with the network
        late = socket.create_connection(("127.0.0.1", port), timeout=5)
        late.settimeout(5)
        assert late.recv(16) == b""  # no route: closed at once, the station never sees it
        assert bench.network.cuts == 1

        bench.net_up()
        assert bench.handle("NS") == "up"
        pump = socket.create_connection(("127.0.0.1", port), timeout=5)
        far, _ = station.accept()
        far.sendall(b"ACK")
        pump.settimeout(5)
        assert pump.recv(16) == b"ACK"
    finally:
        bench.stop()
        station.close()
