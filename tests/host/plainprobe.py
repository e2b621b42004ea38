"""A plain (unencrypted) client at a station's port, for the tests that show the TLS port
gives it nothing in the clear (tests/host and tests/e2e, which finds it on pythonpath)."""
import socket


def plain_reply(port, timeout=5):
    """What a plain client that sends a frame gets from the port at 127.0.0.1 within
    `timeout` seconds: b"" when it is closed on or gets nothing."""
    with socket.create_connection(("127.0.0.1", port), timeout) as plain:
        plain.sendall(b"\x00\x20" + bytes(32))
        plain.settimeout(timeout)
        try:
            return plain.recv(64)
        except (TimeoutError, ConnectionError):
            return b""
