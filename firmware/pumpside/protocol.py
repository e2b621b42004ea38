"""Terminal <-> station wire protocol: frames, authentication, the message set.

One module for both ends (the station imports it too); docs/protocol.md is its
specification for a POS vendor. Frame, all integers big-endian:

    length 2 | version 1 | type 1 | seq 4 | payload (JSON, UTF-8) | tag 16

`length` counts everything after itself. `tag` = HMAC-SHA256(session key, direction ||
version || type || seq || payload), first 16 bytes; direction is b"T" (terminal to
station) or b"S". Sessions: the station opens with CHALLENGE (its nonce, untagged); the
terminal answers HELLO (its id and nonce), tagged under
    session key = HMAC-SHA256(terminal key, b"pumpside-session" || station nonce ||
                              terminal nonce),
so a recorded session replays nowhere (new nonces, new key) and a frame cannot be
reflected (direction). Each direction's seq starts at 1 and goes up by exactly one: a
dropped, repeated or reordered frame inside a session is refused. MicroPython has no
`hmac`, so HMAC is built on hashlib here, and tags are compared in constant time.
"""
import hashlib
import json
import struct

VERSION = 1
MAX_PAYLOAD = 16384  # bytes of JSON in one frame, enforced on both ends
TAG_LEN = 16
_HDR = ">HBBI"
HDR_LEN = 8  # length 2, version 1, type 1, seq 4
MAX_FRAME = HDR_LEN + MAX_PAYLOAD + TAG_LEN
NONCE_LEN = 16

# message types (docs/protocol.md has each payload)
CHALLENGE = 1  # S->T: {"nonce": hex}; untagged, seq 0
HELLO = 2  # T->S: {"terminal", "nonce", "firmware", "software_id", "journal_seq", "psam",
# "prices_version", "hotlist_version", "params_version"}
WELCOME = 3  # S->T: {"time", "prices_version", "hotlist_version", "heartbeat_ms",
# "events_n" (the last event-log record it holds of this terminal)}
HEARTBEAT = 4  # both ways: {"time"} (station time down, terminal time up); the station's
# may say "totals": true (send TOTALS now)
STATUS = 5  # T->S: {"state" (IFSF), "nozzle", "grade", "price", "ml", "amount", "alarm",
# "alarms"}: with each heartbeat and on every change (at most one per 250 ms)
SALES = 6  # T->S: {"records": [journal records]}, a batch after the ack cursor
SALES_ACK = 7  # S->T: {"results": [[seq, "stored"|"duplicate"|"rejected", why]], "ack"}
PRICES = 8  # S->T: {"version", "grades": {grade: price}, "at": time or 0, "nozzles":
# {nozzle: grade} of this terminal, if the station maps them}
HOTLIST = 9  # S->T: a delta {"from", "to", "add": [asn], "remove": [asn]} or a part of a
# full list {"full": version, "part", "more", "add": [asn]}; 32 cards a frame
PARAMS = 10  # S->T: {"version", "values": {config field: value}}: non-legal settings,
# written to config.json, in force from the next boot
COMMAND = 11  # S->T: {"id", "cmd": stop|suspend|resume|lock|unlock|terminate}
REPLY = 12  # T->S: {"type", "id"|"version", "ok", "why"}: answers a download or command
GREY_QUERY = 13  # T->S: {"asn", "ttc", "ctc", "terminal"}: a card grey at another PSAM
GREY_ANSWER = 14  # S->T: {"asn", "ttc", "status": owed|settled|unknown, ...}
TOTALS = 15  # T->S: {"nozzle", "grade", "volume_ml", "amount", "seq"}: the non-resettable
# totalizers after journal record seq
EVENTS = 16  # T->S: {"events": [records of the metrology event log, n ascending]}
ERROR = 17  # both ways: {"why"}; the sender closes the connection after it
EVENTS_ACK = 18  # S->T: {"n" (the last record held), "ok", "why"}
TYPE_NAMES = {CHALLENGE: "CHALLENGE", HELLO: "HELLO", WELCOME: "WELCOME",
              HEARTBEAT: "HEARTBEAT", STATUS: "STATUS", SALES: "SALES",
              SALES_ACK: "SALES_ACK", PRICES: "PRICES", HOTLIST: "HOTLIST", PARAMS: "PARAMS",
              COMMAND: "COMMAND", REPLY: "REPLY", GREY_QUERY: "GREY_QUERY",
              GREY_ANSWER: "GREY_ANSWER", TOTALS: "TOTALS", EVENTS: "EVENTS", ERROR: "ERROR",
              EVENTS_ACK: "EVENTS_ACK"}
FROM_TERMINAL = (HELLO, HEARTBEAT, STATUS, SALES, REPLY, GREY_QUERY, TOTALS, EVENTS, ERROR)
FROM_STATION = (CHALLENGE, WELCOME, HEARTBEAT, SALES_ACK, PRICES, HOTLIST, PARAMS, COMMAND,
                GREY_ANSWER, ERROR, EVENTS_ACK)
TO_TERMINAL = b"S"  # the direction byte of frames the station sends
TO_STATION = b"T"


class ProtocolError(ValueError):
    """A frame that must be refused; `why` is safe to log (it never holds key material)."""

    def __init__(self, why):
        super().__init__(why)
        self.why = why


# -- HMAC-SHA256 on hashlib (RFC 2104) -------------------------------------------------
_BLOCK = 64


def hmac_sha256(key, msg, more=b""):
    """HMAC-SHA256 of msg followed by more (two parts, so a frame's body is hashed where
    it lies: no concatenated copy of it on a small heap)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    if more:
        inner.update(more)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def same(a, b):
    """Constant-time comparison of two byte strings."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def session_key(terminal_key, station_nonce, terminal_nonce):
    return hmac_sha256(terminal_key, b"pumpside-session" + station_nonce + terminal_nonce)


# -- frames ----------------------------------------------------------------------------
def _tag(key, direction, body):
    return hmac_sha256(key, direction, body)[:TAG_LEN]


def encode(mtype, seq, payload, key=None, direction=TO_STATION):
    """One frame. `payload` is a dict (JSON-encoded here); `key` None only for CHALLENGE."""
    data = json.dumps(payload).encode()
    if len(data) > MAX_PAYLOAD:
        raise ProtocolError("payload of %d bytes exceeds %d" % (len(data), MAX_PAYLOAD))
    body = struct.pack(">BBI", VERSION, mtype, seq) + data
    tag = bytes(TAG_LEN) if key is None else _tag(key, direction, body)
    return struct.pack(">H", len(body) + TAG_LEN) + body + tag


def check_length(n):
    """Refuse a frame's length field before reading the bytes it announces."""
    if n > MAX_FRAME - 2:
        raise ProtocolError("frame of %d bytes exceeds %d" % (n, MAX_FRAME - 2))
    if n < HDR_LEN - 2 + TAG_LEN:
        raise ProtocolError("frame of %d bytes is shorter than a header and tag" % n)


def split(buf):
    """(frame bytes, rest) if `buf` starts with a whole frame, else (None, buf). Refuses a
    length that could never be a frame before waiting for its bytes."""
    if len(buf) < 2:
        return None, buf
    n = (buf[0] << 8) | buf[1]
    check_length(n)
    if len(buf) < 2 + n:
        return None, buf
    return buf[:2 + n], buf[2 + n:]


def decode(frame, key=None, direction=TO_STATION, allowed=None):
    """(type, seq, payload dict) of one whole frame (bytes or a memoryview), checked:
    version, known type, tag (unless `key` is None: CHALLENGE only), JSON object.
    ProtocolError says why not."""
    if len(frame) < HDR_LEN + TAG_LEN:
        raise ProtocolError("truncated frame (%d bytes)" % len(frame))
    n, version, mtype, seq = struct.unpack(_HDR, frame[:HDR_LEN])
    if n != len(frame) - 2:
        raise ProtocolError("length %d for %d bytes" % (n, len(frame) - 2))
    body = memoryview(frame)[2:-TAG_LEN]  # hashed in place, not copied
    if key is not None and not same(_tag(key, direction, body), frame[-TAG_LEN:]):
        raise ProtocolError("bad tag")
    if version != VERSION:
        raise ProtocolError("version %d, this end speaks %d" % (version, VERSION))
    if mtype not in TYPE_NAMES:
        raise ProtocolError("unknown type %d" % mtype)
    if allowed is not None and mtype not in allowed:
        raise ProtocolError("%s not expected here" % TYPE_NAMES[mtype])
    return mtype, seq, _payload(frame)


def _payload(frame):
    data = frame[HDR_LEN:-TAG_LEN]  # a memoryview stays one (MicroPython parses it)
    try:
        try:
            payload = json.loads(data)
        except TypeError:  # CPython's json takes no memoryview
            payload = json.loads(bytes(data))
    except (ValueError, UnicodeError):
        raise ProtocolError("payload is not JSON") from None
    except RuntimeError:  # RecursionError: nested deeper than the parser goes
        raise ProtocolError("payload nested too deep") from None
    if not isinstance(payload, dict):
        raise ProtocolError("payload is not a JSON object")
    return payload


def peek(frame):
    """(type, payload) of a HELLO before its tag can be checked: the station needs the
    terminal id inside to find the key. Nothing from it is trusted until decode()."""
    if len(frame) < HDR_LEN + TAG_LEN:
        raise ProtocolError("truncated frame (%d bytes)" % len(frame))
    return frame[3], _payload(frame)


class Session:
    """One end's view of an authenticated session: the key, and each direction's seq."""

    def __init__(self, key, send_direction):
        self.key = key
        self.send_dir = send_direction
        self.recv_dir = TO_TERMINAL if send_direction == TO_STATION else TO_STATION
        self.sent = 0
        self.received = 0

    def encode(self, mtype, payload):
        self.sent += 1
        return encode(mtype, self.sent, payload, self.key, self.send_dir)

    def decode(self, frame, allowed=None):
        mtype, seq, payload = decode(frame, self.key, self.recv_dir, allowed)
        if seq != self.received + 1:
            raise ProtocolError("seq %d after %d (replayed, lost or reordered)"
                                % (seq, self.received))
        self.received = seq
        return mtype, payload


def terminal_session(terminal_key, challenge_frame, terminal_nonce):
    """The terminal's side: read the station's CHALLENGE, return (session, nonce)."""
    mtype, seq, payload = decode(challenge_frame, None, TO_TERMINAL, (CHALLENGE,))
    try:
        station_nonce = bytes.fromhex(payload["nonce"])
    except (KeyError, ValueError, TypeError):
        raise ProtocolError("challenge without a nonce") from None
    if len(station_nonce) != NONCE_LEN or seq != 0:
        raise ProtocolError("malformed challenge")
    return Session(session_key(terminal_key, station_nonce, terminal_nonce), TO_STATION)
