"""ISO 7816-4 APDUs: command encoding, response parsing, status words, T=0 chaining.

Every failure of the card layer is a CardError: a status word with its meaning, a reply
too short to hold one, a reply of the wrong length, a card pulled between two APDUs.
The sale catches exactly this one error type and ends safely. Nothing here logs data:
a VERIFY APDU carries the PIN.
"""

GET_RESPONSE_INS = 0xC0

# ISO 7816-4 and PBOC status words the fuel-card flows meet, with their meaning.
SW_OK = 0x9000
SW_MEANING = {
    0x9000: "ok",
    0x6281: "returned data may be corrupted",
    0x6283: "selected file invalidated",
    0x6581: "memory failure",
    0x6700: "wrong length",
    0x6981: "command incompatible with file structure",
    0x6982: "security status not satisfied",
    0x6983: "PIN blocked",
    0x6984: "referenced data invalidated",
    0x6985: "conditions of use not satisfied",
    0x6986: "command not allowed",
    0x6988: "secure messaging data incorrect",
    0x6A80: "incorrect data",
    0x6A81: "function not supported",
    0x6A82: "file not found",
    0x6A83: "record not found",
    0x6A84: "not enough memory",
    0x6A86: "incorrect P1 P2",
    0x6A88: "referenced data not found",
    0x6B00: "wrong parameters P1 P2",
    0x6D00: "instruction not supported",
    0x6E00: "class not supported",
    0x6F00: "unknown card error",
    0x9302: "MAC invalid",
    0x9303: "application blocked",
    0x9401: "insufficient balance",
    0x9403: "key index not supported",
    0x9406: "required MAC not available",
}

# The kinds a caller acts on (prompt, retry, refuse); `meaning()` gives the words.
REMOVED = "removed"  # card pulled / reader lost it
MALFORMED = "malformed"  # reply too short, wrong length, unparsable
STATUS = "status"  # the card answered with a non-9000 status word


class CardError(Exception):
    def __init__(self, kind, message, sw=None):
        super().__init__(message)
        self.kind = kind
        self.sw = sw

    def tries_left(self):
        """For 63Cx after VERIFY: x; else None."""
        if self.sw is not None and self.sw & 0xFFF0 == 0x63C0:
            return self.sw & 0x0F
        return None


def meaning(sw):
    if sw & 0xFFF0 == 0x63C0:
        return "wrong PIN, %d tries left" % (sw & 0x0F)
    if sw >> 8 == 0x61:
        return "%d more bytes available" % (sw & 0xFF)
    if sw >> 8 == 0x6C:
        return "wrong Le, %d expected" % (sw & 0xFF)
    return SW_MEANING.get(sw, "unknown status")


def command(cla, ins, p1, p2, data=b"", le=None):
    """Short APDU bytes: CLA INS P1 P2 [Lc data] [Le] (Le 256 encoded as 00)."""
    if len(data) > 255:
        raise ValueError("short APDU data is at most 255 bytes")
    out = bytearray((cla, ins, p1, p2))
    if data:
        out.append(len(data))
        out += data
    if le is not None:
        if not 0 <= le <= 256:
            raise ValueError("Le out of range")
        out.append(le & 0xFF)
    return bytes(out)


class Response:
    __slots__ = ("data", "sw")

    def __init__(self, data, sw):
        self.data = data
        self.sw = sw

    @property
    def ok(self):
        return self.sw == SW_OK


def parse(raw):
    if raw is None or len(raw) < 2:
        raise CardError(MALFORMED, "card reply too short (%d bytes)" % (len(raw or b"")))
    return Response(bytes(raw[:-2]), (raw[-2] << 8) | raw[-1])


def with_le(apdu, le):
    """The same command with Le set: case 1/3 APDUs gain one, case 2/4 have it replaced."""
    n = len(apdu)
    if n == 4 or (n > 5 and n == 5 + apdu[4]):
        return apdu + bytes((le,))
    return apdu[:-1] + bytes((le,))


def exchange(reader, apdu, max_chain=8):
    """Send one APDU through `reader.transceive` and follow T=0 chaining: 61xx means GET
    RESPONSE for xx bytes, 6Cxx means send again with Le = xx. A reader exception (the
    card was pulled) becomes CardError(REMOVED)."""
    data = b""
    for _ in range(max_chain):
        try:
            raw = reader.transceive(apdu)
        except CardError:
            raise
        except Exception as e:  # noqa: BLE001 - whatever the reader raises, the card is gone
            raise CardError(REMOVED, "card removed (%s)" % type(e).__name__) from None
        response = parse(raw)
        sw1 = response.sw >> 8
        if sw1 == 0x61:
            data += response.data
            apdu = command(0x00, GET_RESPONSE_INS, 0, 0, le=response.sw & 0xFF or 256)
        elif sw1 == 0x6C:
            apdu = with_le(apdu, response.sw & 0xFF)
        else:
            return Response(data + response.data, response.sw)
    raise CardError(MALFORMED, "card kept chaining replies")


def call(reader, apdu, length=None, min_length=None):
    """exchange() and insist on 9000 and, when given, the reply's exact or least length."""
    response = exchange(reader, apdu)
    if not response.ok:
        raise CardError(STATUS, "%04X %s" % (response.sw, meaning(response.sw)), response.sw)
    n = len(response.data)
    if length is not None and n != length:
        raise CardError(MALFORMED, "reply of %d bytes, %d expected" % (n, length))
    if min_length is not None and n < min_length:
        raise CardError(MALFORMED, "reply of %d bytes, at least %d expected" % (n, min_length))
    return response.data
