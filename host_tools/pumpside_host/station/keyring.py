"""The station key: what the terminals' keys are encrypted under in the database.

It is held outside the database: $PUMPSIDE_STATION_KEY (64 hex digits) when set, else the
file `<db>.key` beside the database (64 hex digits, 0600), made at the first start. A copy
of the database without it holds no usable terminal key. A terminal key is stored as
nonce (12 bytes) + AES-256-GCM ciphertext and tag, the terminal id bound in as associated
data (a key copied onto another terminal's row does not open).
"""
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENV = "PUMPSIDE_STATION_KEY"
NONCE = 12


class StationKeyError(ValueError):
    """The station key is missing, malformed or not the one this store's keys are under:
    the message says what to do (it never holds a key)."""


def file_of(db_path):
    """The station key's file for a database file."""
    return str(db_path) + ".key"


def _parse(text, where):
    text = text.strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise StationKeyError("%s: the station key must be 64 hex digits" % where)
    return key


def private_file(path, refuse, make=None):
    """The bytes of the owner-only file `path` beside the store (a secret): refused with
    refuse(mode) (the exception the caller raises) when others may read it; a missing
    file is made 0600 holding make() when `make` is given, else FileNotFoundError."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode & 0o777
            if mode & 0o077:
                raise refuse(mode)
            return f.read()
    except FileNotFoundError:
        if make is None:
            raise
    data = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return data


class StationKey:
    def __init__(self, key, where):
        self._aead = AESGCM(key)
        self.where = where  # $PUMPSIDE_STATION_KEY or the file: for error messages

    @classmethod
    def load(cls, db_path, create):
        """The station key of the database at `db_path`: from the environment, else its
        file; a missing file is made (0600) when `create`, else StationKeyError."""
        text = os.environ.get(ENV)
        if text:
            return cls(_parse(text, "$" + ENV), "$" + ENV)
        path = file_of(db_path)

        def refuse(mode):
            return StationKeyError("%s is open to others (mode %03o): the station key must "
                                   "be 0600 (chmod 600 %s)" % (path, mode, path))

        def make():
            return (secrets.token_bytes(32).hex() + "\n").encode()

        try:
            text = private_file(path, refuse, make if create else None)
        except FileNotFoundError:
            raise StationKeyError(
                "%s is missing and this store's terminal keys are encrypted under it: "
                "put the station key file back (or set $%s)" % (path, ENV)) from None
        return cls(_parse(text.decode(), path), path)

    def seal(self, terminal_id, key):
        nonce = secrets.token_bytes(NONCE)
        return nonce + self._aead.encrypt(nonce, bytes(key), terminal_id.encode())

    def open(self, terminal_id, blob):
        blob = bytes(blob)
        try:
            return self._aead.decrypt(blob[:NONCE], blob[NONCE:], terminal_id.encode())
        except InvalidTag:
            raise StationKeyError("terminal %s's key does not open with the station key in "
                                  "%s: it is not this store's key" % (terminal_id, self.where)
                                  ) from None
