"""Journal record codec: header, payload, CRC32; and the payload layouts.

Record: magic "PS" (2), version (1), type (1), seq (4), payload length (2), payload,
CRC32 of all before it (4); big-endian. Payloads are fixed-width structs. The bill keeps
what a real dispenser's bill keeps (DOMAIN.md 1): sale number (TTC), time, nozzle,
grade, price, preset, pulses, volume, amount, stop code, totalizers, and the card fields
the card sale fills (ASN, balance, CTC, TAC, GMAC, PSAM TTC, card type, a fleet card's
odometer). A sale the station authorised for a paid order (authorize.py: pay by phone,
the kiosk's prepay) has the payment fields after the bill in its AUTHORIZED and FINAL
records: the order (ORDER_LEN ASCII characters at most, NUL-padded) and the
authorisation's expiry (station time): PAYLOAD_LEN + PAY_LEN bytes, told apart by their
length. The station imports this module too: one codec for both ends.

Version 2 added the bill's last field, `odo`; a version 1 record (a journal an older
firmware wrote, a pump not yet updated) decodes as version 2 with `odo` 0 (no version 1
record carries the payment fields: they came after it).
"""
import binascii
import struct

MAGIC = 0x5053
VERSION = 2
_HDR = ">HBBIH"
HDR_LEN = 10
CRC_LEN = 4

AUTHORIZED = 1  # written before any valve opens
CHECKPOINT = 2  # progress of the sale in flight
FINAL = 3  # settled sale
ESCAPE = 4  # card pulled while grey-locked (card sale)
UNLOCK = 5  # grey card settled later (补扣)
EVENT = 6  # audit event
ACK = 7  # the station acknowledged every record up to `seq`
SNAPSHOT = 8  # totals and last sale, carried forward when old records are pruned
LOAD = 9  # a load (圈存) at the pump: its intent before CREDIT FOR LOAD, its end after
TYPE_NAMES = {AUTHORIZED: "AUTHORIZED", CHECKPOINT: "CHECKPOINT", FINAL: "FINAL",
              ESCAPE: "ESCAPE", UNLOCK: "UNLOCK", EVENT: "EVENT", ACK: "ACK",
              SNAPSHOT: "SNAPSHOT", LOAD: "LOAD"}

# bill flags
F_RECOVERED = 1  # settled at boot from the journal after a power cut
F_WARNED = 2  # the power-fail warning came: the checkpointed volume is exact
F_OVERRUN = 4  # delivered beyond the preset
F_CARD_LOG = 8  # debit confirmed from the card's own log (its TAC reply was lost)
F_NOT_LOCKED = 16  # the card was never grey-locked: nothing owed
F_UNTRUSTED = 32  # MAC2 failed: no fuel, the card settled for 0
F_ELSEWHERE = 64  # an UNLOCK of another terminal's ESCAPE (its card, CTC and PSAM TTC),
# as the station answered a GREY_QUERY; the sale number is this terminal's own
F_SETTLED_ELSEWHERE = 128  # an UNLOCK that closes this terminal's own ESCAPE (its sale
# number) which another terminal settled (that one's UNLOCK, flag 64): amount 0, nothing
# moved here. Its `tac` and `gmac` (no debit of its own) hold who settled it: that
# terminal's PSAM id, 6 bytes, then 2 zero bytes (`by` in to_json)

BILL_FIELDS = (
    ("sale", "I"), ("time", "I"), ("nozzle", "B"), ("grade", "4s"), ("price", "I"),
    ("mode", "1s"), ("preset_ml", "I"), ("preset_amount", "I"), ("pulses", "I"),
    ("ml", "I"), ("amount", "I"), ("stop", "B"), ("flags", "B"), ("overrun_ml", "I"),
    ("total_ml", "Q"), ("total_amount", "Q"), ("asn", "10s"), ("balance", "I"),
    ("ctc", "H"), ("tac", "4s"), ("gmac", "4s"), ("psam_ttc", "I"), ("card_type", "B"),
    ("odo", "I"),  # a fleet card's odometer reading, km (0: none); version 2
)
_BILL_FMT = ">" + "".join(f for _, f in BILL_FIELDS)
_TEXT = ("grade", "mode")  # str in the dict, NUL-padded ASCII in the record
_BYTES = {"asn": 10, "tac": 4, "gmac": 4}
_CP_FMT = ">IIIIB"  # sale, time, pulses, ml, flags
_EVENT_FMT = ">IHii"  # time, code, a, b
_ACK_FMT = ">II"  # acknowledged seq, time
_SNAP_FMT = _BILL_FMT + "I"  # last bill + ack cursor
ORDER_LEN = 16  # an order number's characters at most (the station makes 16): a record
# with them still fits a 128-byte littlefs inline file and 32 of them a segment's 4 KB
# block (MAX_RECORD <= 128)
_PAY_FMT = _BILL_FMT + "16sI"  # a paid order's bill: + order, expiry
# LOAD: time, load id (the station's), amount, balance (before the load in an intent,
# after it when done), the card's online counter before the load, state, ASN, TAC, the
# date and time CREDIT FOR LOAD carries (BCD; the station's, with its MAC2)
LOAD_FIELDS = ("time", "load", "amount", "balance", "counter", "state", "asn", "tac", "at")
_LOAD_FMT = ">IIIIHB8s4s7s"
LOAD_INTENT = 1  # MAC2 in hand, CREDIT FOR LOAD about to be sent
LOAD_DONE = 2  # CREDIT answered: the TAC
LOAD_CUT = 3  # CREDIT sent, no answer (card pulled, power cut): the card's online
# counter tells the station at the card's next load whether it was credited

PAYLOAD_LEN = {
    AUTHORIZED: struct.calcsize(_BILL_FMT), CHECKPOINT: struct.calcsize(_CP_FMT),
    FINAL: struct.calcsize(_BILL_FMT), ESCAPE: struct.calcsize(_BILL_FMT),
    UNLOCK: struct.calcsize(_BILL_FMT), EVENT: struct.calcsize(_EVENT_FMT),
    ACK: struct.calcsize(_ACK_FMT), SNAPSHOT: struct.calcsize(_SNAP_FMT),
    LOAD: struct.calcsize(_LOAD_FMT),
}
PAY_LEN = struct.calcsize(_PAY_FMT) - PAYLOAD_LEN[FINAL]
PAY_TYPES = (AUTHORIZED, FINAL)  # the records that may carry the payment fields
BILL_TYPES = (AUTHORIZED, FINAL, ESCAPE, UNLOCK)
_V1_BILL = PAYLOAD_LEN[FINAL] - 4  # a version 1 bill: no `odo`
SALE_TYPES = (FINAL, ESCAPE, UNLOCK)  # what the station must receive
MAX_RECORD = HDR_LEN + PAYLOAD_LEN[FINAL] + PAY_LEN + CRC_LEN


class RecordError(ValueError):
    def __init__(self, seq, why):
        super().__init__("record %s: %s" % ("?" if seq is None else seq, why))
        self.seq = seq
        self.why = why


class VersionError(RecordError):
    pass


def _crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


def encode(rtype, seq, payload, version=VERSION):
    hdr = struct.pack(_HDR, MAGIC, version, rtype, seq, len(payload))
    return hdr + payload + struct.pack(">I", _crc(hdr + payload))


def record_size(data, pos=0):
    """Size of the record starting at `pos`, from its header (RecordError if no header)."""
    if len(data) - pos < HDR_LEN:
        raise RecordError(None, "short record (%d bytes)" % (len(data) - pos))
    magic, _v, _t, seq, n = struct.unpack(_HDR, data[pos:pos + HDR_LEN])
    if magic != MAGIC:
        raise RecordError(None, "bad magic")
    if n > MAX_RECORD:
        raise RecordError(seq, "bad length %d" % n)
    return HDR_LEN + n + CRC_LEN


def decode(data):
    """(type, seq, payload) of one record; RecordError says what is wrong with it."""
    if len(data) < HDR_LEN + CRC_LEN:
        raise RecordError(None, "short record (%d bytes)" % len(data))
    magic, version, rtype, seq, n = struct.unpack(_HDR, data[:HDR_LEN])
    if magic != MAGIC:
        raise RecordError(None, "bad magic")
    if len(data) != HDR_LEN + n + CRC_LEN:
        raise RecordError(seq, "bad length %d for %d bytes" % (n, len(data)))
    body = data[:HDR_LEN + n]
    if struct.unpack(">I", data[HDR_LEN + n:])[0] != _crc(body):
        raise RecordError(seq, "bad CRC")
    # The framing (magic, header, CRC) is the same in every version, so a sound record
    # with a higher version was really written by a newer firmware, not by bit rot.
    if version > VERSION:
        raise VersionError(seq, "journal version %d is newer than this firmware's %d"
                           % (version, VERSION))
    if version < 1:
        raise RecordError(seq, "bad version %d" % version)
    if rtype not in PAYLOAD_LEN:
        raise RecordError(seq, "unknown type %d" % rtype)
    old = version == 1 and (rtype in BILL_TYPES or rtype == SNAPSHOT)
    if n != PAYLOAD_LEN[rtype] - (4 if old else 0) and not (
            not old and rtype in PAY_TYPES and n == PAYLOAD_LEN[rtype] + PAY_LEN):
        raise RecordError(seq, "bad length %d for %s" % (n, TYPE_NAMES[rtype]))
    if old:  # the bill gains `odo` 0 (a snapshot's ack follows it)
        return rtype, seq, (bytes(data[HDR_LEN:HDR_LEN + _V1_BILL]) + bytes(4)
                            + bytes(data[HDR_LEN + _V1_BILL:HDR_LEN + n]))
    return rtype, seq, data[HDR_LEN:HDR_LEN + n]


def from_wire(data):
    """The records back to back in `data` (a RECORDS frame's payload: each in the
    journal's own bytes), each as to_json(compact) makes it: what the station stores.
    RecordError names the first that is not a whole, sound record (short, bad magic,
    length, CRC, version or type): then none of them is taken."""
    out = []
    pos = 0
    while pos < len(data):
        size = record_size(data, pos)
        if pos + size > len(data):
            raise RecordError(None, "truncated record (%d of %d bytes)"
                              % (len(data) - pos, size))
        rtype, seq, payload = decode(data[pos:pos + size])
        out.append(to_json(seq, rtype, payload, True))
        pos += size
    if not out:
        raise RecordError(None, "no record")
    return out


def new_bill():
    bill = {}
    for name, _fmt in BILL_FIELDS:
        if name in _TEXT:
            bill[name] = ""
        elif name in _BYTES:
            bill[name] = bytes(_BYTES[name])
        else:
            bill[name] = 0
    return bill


def sale_bill(time, grade, price, mode, preset_ml, preset_amount, card=None):
    """A new sale's bill: the terms it is authorised on, and `card` (a dict of card fields:
    asn, balance, ctc, psam_ttc, card_type) for a card sale."""
    bill = new_bill()
    bill["time"] = time
    bill["grade"] = grade
    bill["price"] = price
    bill["mode"] = mode
    bill["preset_ml"] = preset_ml
    bill["preset_amount"] = preset_amount
    if card:
        bill.update(card)
    return bill


def pack_bill(bill, extra=None):
    """The bill's payload; with `extra` (the ack cursor) a SNAPSHOT's. A bill with an
    `order` (a paid order's sale) has the payment fields after it."""
    values = []
    for name, _ in BILL_FIELDS:
        value = bill[name]
        if name in _TEXT:
            value = value.encode()
        values.append(value)
    if extra is not None:
        values.append(extra)
        return struct.pack(_SNAP_FMT, *values)
    order = bill.get("order")
    if not order:
        return struct.pack(_BILL_FMT, *values)
    values.append(order.encode())
    values.append(bill.get("expiry", 0))
    return struct.pack(_PAY_FMT, *values)


def unpack_bill(payload):
    n = len(payload)
    layout = _SNAP_FMT if n == PAYLOAD_LEN[SNAPSHOT] else \
        _PAY_FMT if n == PAYLOAD_LEN[FINAL] + PAY_LEN else _BILL_FMT
    values = struct.unpack(layout, payload)
    bill = {}
    for i in range(len(BILL_FIELDS)):
        name = BILL_FIELDS[i][0]
        value = values[i]
        if name in _TEXT:
            value = value.rstrip(b"\0").decode()
        bill[name] = value
    if layout is _SNAP_FMT:
        return bill, values[-1]
    if layout is _PAY_FMT:
        bill["order"] = values[-2].rstrip(b"\0").decode()
        bill["expiry"] = values[-1]
    return bill


def by_fields(psam_id):
    """The `tac` and `gmac` of a F_SETTLED_ELSEWHERE marker: the settler's PSAM id."""
    by = bytes(psam_id[:6])
    return {"tac": by[:4], "gmac": by[4:] + bytes(8 - len(by))}


def time_amount(data):
    """(time, amount) of a whole bill record's bytes (header to CRC), read in place: what
    the journal's unsynced counts need, without unpacking the bill."""
    return struct.unpack_from(_TIME_AMOUNT, data)


_TIME_AMOUNT = ">14xI26xI"  # a bill record's time and amount (payload offsets 4 and 34)


def pack_checkpoint(sale, time, pulses, ml, flags):
    return struct.pack(_CP_FMT, sale, time, pulses, ml, flags)


def unpack_checkpoint(payload):
    sale, time, pulses, ml, flags = struct.unpack(_CP_FMT, payload)
    return {"sale": sale, "time": time, "pulses": pulses, "ml": ml, "flags": flags}


def pack_event(time, code, a=0, b=0):
    return struct.pack(_EVENT_FMT, time, code, a, b)


def unpack_event(payload):
    time, code, a, b = struct.unpack(_EVENT_FMT, payload)
    return {"time": time, "code": code, "a": a, "b": b}


def pack_load(load):
    return struct.pack(_LOAD_FMT, *[load[name] for name in LOAD_FIELDS])


def unpack_load(payload):
    values = struct.unpack(_LOAD_FMT, payload)
    return {LOAD_FIELDS[i]: values[i] for i in range(len(LOAD_FIELDS))}


def pack_ack(seq, time):
    return struct.pack(_ACK_FMT, seq, time)


def unpack_ack(payload):
    return struct.unpack(_ACK_FMT, payload)


_ALWAYS = ("sale", "ml", "amount")


def to_json(seq, rtype, payload, compact=False):
    """A log record as the station receives it: a flat dict, bytes as hex, the card
    number as its 16 digits. One form for the link, the service dump and the station.
    `compact` (the link) leaves out fields that are zero: absent means 0."""
    item = {"seq": seq, "type": TYPE_NAMES[rtype]}
    if rtype in BILL_TYPES:
        fields = unpack_bill(payload)
    elif rtype == SNAPSHOT:
        fields, item["ack"] = unpack_bill(payload)
    elif rtype == EVENT:
        fields = unpack_event(payload)
    elif rtype == LOAD:
        fields = unpack_load(payload)
    else:
        fields = {}
    for name in fields:
        value = fields[name]
        if isinstance(value, bytes):
            if name == "asn":
                value = value[:8]
            if compact and not any(value):
                continue
            value = value.hex()
        elif compact and not value and name not in _ALWAYS:
            continue
        item[name] = value
    if rtype == UNLOCK and fields["flags"] & F_SETTLED_ELSEWHERE:
        item.pop("tac", None)  # not a TAC: who settled the escape (by_fields)
        item.pop("gmac", None)
        item["by"] = (fields["tac"] + fields["gmac"])[:6].hex()
    return item
