"""Terminal <-> station wire protocol: frames, authentication, the message set and each
message's payload (SHAPES, checked by check() at the end that receives it).

One module for both ends (the station imports it too); docs/protocol.md is its
specification for a POS vendor. Frame, all integers big-endian:

    length 2 | version 1 | type 1 | seq 4 | payload (JSON, UTF-8) | tag 16

RECORDS alone carries no JSON: its payload is journal records back to back, each in the
journal's own bytes (record.py: header, payload, CRC32), decoded at the station by the
same record module (record.from_wire) into the `records` of its SHAPES line.

`length` counts everything after itself. `tag` = HMAC-SHA256(session key, direction ||
version || type || seq || payload), first 16 bytes; direction is b"T" (terminal to
station) or b"S". Sessions: the station opens with CHALLENGE (its nonce, untagged); the
terminal answers HELLO (its id and nonce), tagged under
    session key = HMAC-SHA256(terminal key, b"pumpside-session" || station nonce ||
                              terminal nonce),
so a recorded session replays nowhere (new nonces, new key) and a frame cannot be
reflected (direction). Each direction's seq starts at 1 and goes up by exactly one: a
dropped, repeated or reordered frame inside a session is refused. MicroPython has no
`hmac`, so HMAC is built on hashlib (mac.py), and tags are compared in constant time.
"""
import json
import struct

from . import record
from .compat import MICROPYTHON
from .mac import hmac_sha256, pads, same  # noqa: F401 - the link's, the station's

VERSION = 1
MAX_PAYLOAD = 16384  # bytes of JSON in one frame, enforced on both ends
TAG_LEN = 16
_HDR = ">HBBI"
HDR_LEN = 8  # length 2, version 1, type 1, seq 4
MAX_FRAME = HDR_LEN + MAX_PAYLOAD + TAG_LEN
NONCE_LEN = 16

# message types; SHAPES below declares each one's payload
CHALLENGE = 1  # S->T, untagged, seq 0
HELLO = 2  # T->S
WELCOME = 3  # S->T (events_n: the last event-log record it holds of this journal; held:
# its last journal record, below the ack cursor after a restore: those are sent again;
# loyalty: it answers REWARDS and REDEEM)
HEARTBEAT = 4  # both ways: station time down, terminal time up; the station's may say
# "totals": true (send TOTALS now), list escapes settled elsewhere, and name the station
# (`station`) once the terminal holds all of its downloads
STATUS = 5  # T->S: with each heartbeat and on every change (at most one per 250 ms)
SALES = 6  # T->S: a batch of journal records after the ack cursor
SALES_ACK = 7  # S->T: results [[seq, "stored"|"duplicate"|"rejected", why]] and the ack
# (for RECORDS: only the records answered "conflict" or "rejected")
PRICES = 8  # S->T: grades {grade: price}, at (time, or 0: now), nozzles {nozzle: grade}
HOTLIST = 9  # S->T: a delta (from, to, add, remove) or a part of a full list (full,
# part, more, add); 32 cards a frame
PARAMS = 10  # S->T: {config field: value}: non-legal settings, in force from the next boot
COMMAND = 11  # S->T: stop|suspend|resume|lock|unlock|terminate
REPLY = 12  # T->S: answers a download or command
GREY_QUERY = 13  # T->S: a card grey at another PSAM
GREY_ANSWER = 14  # S->T
TOTALS = 15  # T->S: the non-resettable totalizers after journal record seq
EVENTS = 16  # T->S: records of the metrology event log, n ascending
ERROR = 17  # both ways; the sender closes the connection after it
EVENTS_ACK = 18  # S->T: n, the last record held
RECORDS = 19  # T->S: journal records after the ack cursor in their own bytes (binary
# payload); several in flight, each answered by a SALES_ACK in order
AUTHORIZE = 20  # S->T: a paid order (phone, kiosk) authorises one sale at a nozzle, capped
# and until an expiry; answered by a REPLY (type AUTHORIZE, the order, ok or why not)
CARD_INFO = 21  # T->S: a card read at the pump (its number, balance, why the pump refuses
# it if it does): what does the station hold for it?
CARD_ANSWER = 22  # S->T: what it holds, optional fields (a load waiting, ...)
LOAD = 23  # T->S: INITIALIZE FOR LOAD's answer (MAC1): please make MAC2
LOAD_ANSWER = 24  # S->T: MAC2 and the date and time CREDIT FOR LOAD carries, or refused
REWARDS = 25  # T->S: a card's loyalty points and rewards, asked after its PIN
REWARDS_ANSWER = 26  # S->T: points, rewards, pending vouchers, the card's earning rules
REDEEM = 27  # T->S: spend points on a reward, under the pump's own redemption id
REDEEM_ANSWER = 28  # S->T: ok (the voucher) or refused; the same id answers the same
TYPE_NAMES = {CHALLENGE: "CHALLENGE", HELLO: "HELLO", WELCOME: "WELCOME",
              HEARTBEAT: "HEARTBEAT", STATUS: "STATUS", SALES: "SALES",
              SALES_ACK: "SALES_ACK", PRICES: "PRICES", HOTLIST: "HOTLIST", PARAMS: "PARAMS",
              COMMAND: "COMMAND", REPLY: "REPLY", GREY_QUERY: "GREY_QUERY",
              GREY_ANSWER: "GREY_ANSWER", TOTALS: "TOTALS", EVENTS: "EVENTS", ERROR: "ERROR",
              EVENTS_ACK: "EVENTS_ACK", RECORDS: "RECORDS", AUTHORIZE: "AUTHORIZE",
              CARD_INFO: "CARD_INFO", CARD_ANSWER: "CARD_ANSWER", LOAD: "LOAD",
              LOAD_ANSWER: "LOAD_ANSWER", REWARDS: "REWARDS",
              REWARDS_ANSWER: "REWARDS_ANSWER", REDEEM: "REDEEM",
              REDEEM_ANSWER: "REDEEM_ANSWER"}
FROM_TERMINAL = (HELLO, HEARTBEAT, STATUS, SALES, REPLY, GREY_QUERY, TOTALS, EVENTS, ERROR,
                 RECORDS, CARD_INFO, LOAD, REWARDS, REDEEM)
FROM_STATION = (CHALLENGE, WELCOME, HEARTBEAT, SALES_ACK, PRICES, HOTLIST, PARAMS, COMMAND,
                GREY_ANSWER, ERROR, EVENTS_ACK, AUTHORIZE, CARD_ANSWER, LOAD_ANSWER,
                REWARDS_ANSWER, REDEEM_ANSWER)
TO_TERMINAL = b"S"  # the direction byte of frames the station sends
TO_STATION = b"T"


class ProtocolError(ValueError):
    """A frame that must be refused; `why` is safe to log (it never holds key material)."""

    def __init__(self, why):
        super().__init__(why)
        self.why = why


# -- payload shapes ---------------------------------------------------------------------
MAX_INT = 2**53 - 1  # every integer on the wire: JSON parsers and SQLite hold it exactly
MAX_ID = 0x7FFFFFFF  # a version, id or count the station issues: the terminal keeps it in a
# 32-bit field
MAX_DEPTH = 6  # nesting of a payload
MAX_ASNS = 1024  # card numbers in one HOTLIST list (the station sends 32)

# The field table: one line per message type (and per nested object), the definition of
# its payload; docs/protocol.md explains each field. A line that starts with spaces goes
# on with the one above. A field is `name:type`, required (present, not null); `?name`
# is optional (absent or null: the receiver's default); `~name` is optional and a null
# or malformed value is dropped (the receiver's default applies), not refused.
#   u  integer 0..MAX_INT; u1- at least 1; u50-600000 a range
#   v  integer 0..MAX_ID          s  string        b  true or false    d  object
#   x  hex string; x16 of 16 bytes                 a  list of card numbers (16 digits)
#   l  list; l1-64 of 1 to 64 items; l/T items of type T; @name an object of line `name`
#   A|B|C  one of these strings
# `&f` starts fields that apply when field f is present, `&!f` when it is absent,
# `&f=V` when it is the string V. Fields not listed are let through. RECORDS' line is the
# payload its binary body decodes to (record.from_wire). One string, read
# as each payload is checked: small in a heap where every constant is in RAM.
SHAPES = """
CHALLENGE nonce:x16
HELLO terminal:s nonce:x ~firmware:s ~software_id:s ~journal_seq:u ~psam:s ~prices_version:u
  ~hotlist_version:u ~params_version:u ~wdt_resets:u ~journal:x8 ~station:x8
WELCOME ~time:u ~prices_version:u ~hotlist_version:u ~heartbeat_ms:u50-600000 ~events_n:v
  ~station:x8 ~held:v ~loyalty:b
HEARTBEAT ?time:u ~totals:b ~settled:l ~station:x8
STATUS ?nozzle:u ?grade:s ?price:u ?ml:u ?amount:u ?alarm:s ?alarms:u
  state:Inoperative|Closed|Idle|Calling|Authorised|Started|Suspended|Fuelling|SuspendedFuelling
SALES records:l-64/@record
RECORDS records:l1-64/@record
record seq:u1- ?sale:u ?ml:u ?amount:u ?pulses:u ?price:u ?time:u ?ttc:u ?ctc:u ?flags:u
  ?stop:u ?balance:u ?nozzle:u ?preset_ml:u ?preset_amount:u ?overrun_ml:u ?of_sale:u
  ?type:s ?asn:s ?grade:s ?mode:s ?tac:s ?gmac:s ?psam:s ?of_terminal:s ?by:s ?order:s
  ?expiry:u ?load:u ?counter:u ?state:u ?at:x7
SALES_ACK results:l/l3-3 ?ack:v ~settled:l
PRICES version:v grades:d ?at:v ?nozzles:d
HOTLIST ?add:a ?remove:a &full full:v part:v more:b ?remove:l-0 &!full from:v to:v
PARAMS version:v values:d
COMMAND id:v cmd:s
REPLY type:COMMAND|PRICES|HOTLIST|PARAMS|AUTHORIZE ok:b ?why:s ?version:u ?part:u
  ?need_full:b &type=COMMAND id:u &type=AUTHORIZE order:s
GREY_QUERY asn:s ?terminal:s
GREY_ANSWER ~asn:s ~ttc:u ~status:owed|settled|unknown ~amount:u ~ml:u ~grade:s ~price:u
  ~terminal:s ~sale:u ~why:s
TOTALS nozzle:u volume_ml:u amount:u seq:u ?grade:s
EVENTS events:l1-64/d
ERROR ?why:s
EVENTS_ACK n:v ~ok:b ~why:s
AUTHORIZE order:s nozzle:u1-255 ?grade:s amount:u1- ?ml:u expiry:u
CARD_INFO asn:s nozzle:u balance:u ~loads:l-10/l4-4 ~refused:s
CARD_ANSWER asn:s ~load:u1- ~load_id:v ~odometer:u
LOAD asn:s load_id:v amount:u1- balance:u counter:u random:x4 mac1:x4 terminal:x6
LOAD_ANSWER load_id:v ~mac2:x4 ~at:x7 ~refused:s
REWARDS asn:s ?card_type:u
REWARDS_ANSWER asn:s points:u rewards:l-8/l5-5 ?vouchers:l-4/l3-3 ?rates:d ?pct:u ?double:b
REDEEM asn:s reward:v redemption_id:s
REDEEM_ANSWER redemption_id:s status:ok|refused ~why:s ~voucher:v ~kind:percent|amount
  ~value:u ~points:u
"""


def is_uint(value, low=0, high=MAX_INT):
    """An integer (not a bool) within low..high."""
    return type(value) is int and low <= value <= high


def check(mtype, payload):
    """Refuse a received payload whose shape is not its type's in SHAPES: ProtocolError
    `malformed <TYPE>: <field>` (a field's name and place, never its value). Drops the
    null or malformed `~` fields. Everywhere in the payload: no float, integers within
    MAX_INT, nesting no deeper than MAX_DEPTH."""
    what = TYPE_NAMES[mtype]
    _fields(payload, what, what, "")
    for name in payload:
        if not _plain(payload[name], 1):
            raise ProtocolError("malformed %s: %s" % (what, name))


def _plain(value, depth):
    if depth > MAX_DEPTH:
        return False
    if type(value) is dict:
        value = value.values()
    elif type(value) is not list:
        return type(value) is not float and (type(value) is not int
                                              or -MAX_INT <= value <= MAX_INT)
    return all(_plain(item, depth + 1) for item in value)


def _fields(obj, line, what, path):
    """Check obj against the fields on `line` of SHAPES (and its continuation lines)."""
    applies = True
    for mode, field, kind in _tokens(line):
        if mode == "&":  # a condition on another field of obj
            applies = field not in obj if kind == "!" else \
                field in obj and (not kind or obj[field] == kind)
        elif applies:
            value = obj.get(field)
            if value is None and mode == "?":
                continue
            if value is None or not _valid(value, kind, what, path + field):
                if mode != "~":
                    raise ProtocolError("malformed %s: %s%s" % (what, path, field))
                obj.pop(field, None)


# The station (CPython) keeps each line's fields and each type parsed; the board parses
# them at each check (no RAM kept for them).
_PARSED = None if MICROPYTHON else {}


def _tokens(line):
    """(mode, name, kind) of each field of `line`: mode "", "?" or "~"; a condition is
    mode "&", kind the string wanted ("" any, "!" the field absent)."""
    if _PARSED is None:
        return _parse(line)
    tokens = _PARSED.get(line)
    if tokens is None:
        tokens = _PARSED[line] = list(_parse(line))
    return tokens


def _parse(line):
    start = SHAPES.find("\n" + line + " ") + len(line) + 2
    end = SHAPES.find("\n", start)
    while SHAPES[end + 1:end + 2] == " ":
        end = SHAPES.find("\n", end + 1)
    for token in SHAPES[start:end].split():
        if token[0] == "&":
            field, _, want = token[1:].partition("=")
            yield ("&", field[1:], "!") if field[0] == "!" else ("&", field, want)
        else:
            mode = token[0] if token[0] in "?~" else ""
            field, _, kind = token[len(mode):].partition(":")
            yield mode, field, kind


def _kind(kind):
    """(code, minimum, maximum, fixed, item) of a type: fixed when it names a minimum."""
    got = _PARSED.get(kind) if _PARSED is not None else None
    if got is None:
        kind, _, item = kind.partition("/")
        low, dash, high = kind[1:].partition("-")
        minimum = int(low) if low else 0
        maximum = int(high) if high else minimum if low and not dash else MAX_INT
        got = (kind[0], minimum, maximum, bool(low), item)
        if _PARSED is not None:
            _PARSED[kind + "/" + item if item else kind] = got
    return got


def _valid(value, kind, what, path):
    if "|" in kind:
        return type(value) is str and value in kind.split("|")
    if kind[0] == "@":
        if type(value) is dict:
            _fields(value, kind[1:], what, path + ".")
        return type(value) is dict
    code, minimum, maximum, fixed, item = _kind(kind)
    if code == "u" or code == "v":
        return is_uint(value, minimum, maximum if code == "u" else MAX_ID)
    if code == "s" or code == "b" or code == "d":
        return type(value) is (str if code == "s" else bool if code == "b" else dict)
    if code == "x":
        try:
            data = bytes.fromhex(value)
        except (TypeError, ValueError):
            return False
        return not fixed or len(data) == minimum
    if code == "a":
        return type(value) is list and len(value) <= MAX_ASNS and all(
            type(asn) is str and len(asn) == 16 and asn.isdigit() for asn in value)
    if type(value) is not list or not minimum <= len(value) <= maximum:  # l: the code left
        return False
    for i in range(len(value) if item else 0):
        if not _valid(value[i], item, what, "%s[%d]" % (path, i)):
            raise ProtocolError("malformed %s: %s[%d]" % (what, path, i))
    return True


# -- HMAC-SHA256 (mac.py: the pay code's tokens use it too) -----------------------------
def session_key(terminal_key, station_nonce, terminal_nonce):
    return hmac_sha256(terminal_key, b"pumpside-session" + station_nonce + terminal_nonce)


# -- frames ----------------------------------------------------------------------------
def _tag(key, direction, body):
    return hmac_sha256(key, direction, body)[:TAG_LEN]


def seal(frame, n, mtype, seq, key=None, direction=TO_STATION):
    """Make `frame` (a bytearray whose payload, `n` bytes, lies at HDR_LEN) one frame:
    header before the payload, tag after it (all zero when `key` is None: CHALLENGE).
    Returns the frame's length. The link builds RECORDS in place so: no copy of them."""
    if n > MAX_PAYLOAD:
        raise ProtocolError("payload of %d bytes exceeds %d" % (n, MAX_PAYLOAD))
    end = HDR_LEN + n
    struct.pack_into(_HDR, frame, 0, end - 2 + TAG_LEN, VERSION, mtype, seq)
    frame[end:end + TAG_LEN] = bytes(TAG_LEN) if key is None else \
        _tag(key, direction, memoryview(frame)[2:end])
    return end + TAG_LEN


def encode(mtype, seq, payload, key=None, direction=TO_STATION):
    """One frame (a bytearray). `payload`: a dict (JSON-encoded here), or the bytes of a
    binary payload (RECORDS); `key` None only for CHALLENGE."""
    data = json.dumps(payload).encode() if type(payload) is dict else payload
    frame = bytearray(HDR_LEN + len(data) + TAG_LEN)
    frame[HDR_LEN:HDR_LEN + len(data)] = data
    seal(frame, len(data), mtype, seq, key, direction)
    return frame


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
    if frame[3] == RECORDS:
        try:
            return {"records": record.from_wire(data)}
        except record.RecordError as e:
            raise ProtocolError("bad RECORDS: %s" % e) from None
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
        self.pads = pads(key)  # the tag's key, padded once
        self.send_dir = send_direction
        self.recv_dir = TO_TERMINAL if send_direction == TO_STATION else TO_STATION
        self.sent = 0
        self.received = 0

    def encode(self, mtype, payload):
        self.sent += 1
        return encode(mtype, self.sent, payload, self.pads, self.send_dir)

    def seal(self, frame, n, mtype):
        """The next frame in place in `frame` (see seal()); returns its length."""
        self.sent += 1
        return seal(frame, n, mtype, self.sent, self.pads, self.send_dir)

    def decode(self, frame, allowed=None):
        mtype, seq, payload = decode(frame, self.pads, self.recv_dir, allowed)
        if seq != self.received + 1:
            raise ProtocolError("seq %d after %d (replayed, lost or reordered)"
                                % (seq, self.received))
        self.received = seq
        return mtype, payload


def terminal_session(terminal_key, challenge_frame, terminal_nonce):
    """The terminal's side: read the station's CHALLENGE, return (session, nonce)."""
    mtype, seq, payload = decode(challenge_frame, None, TO_TERMINAL, (CHALLENGE,))
    check(CHALLENGE, payload)  # a nonce of NONCE_LEN bytes
    if seq != 0:
        raise ProtocolError("malformed CHALLENGE: seq")
    station_nonce = bytes.fromhex(payload["nonce"])
    return Session(session_key(terminal_key, station_nonce, terminal_nonce), TO_STATION)
