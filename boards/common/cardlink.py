"""The ISO 7816 reader module on a UART: one module with two contact slots, the user
card (slot 0) and the PSAM (slot 1). It handles the card's electrical side, the ATR and
T=0 procedure bytes; we exchange whole APDUs in length-prefixed frames (docs/boards.md):

    STX 0x02 | slot | code | len hi | len lo | data[len] | LRC (XOR of slot .. data)

Host codes: 'P' presence, 'R' cold reset (data = ATR), 'A' APDU (data = reply + SW1 SW2),
'O' power off. The reader answers with the same slot and a status in place of the code:
0 ok, 1 no card, 2 card mute, 3 frame error, 4 unknown code. 115200 8N1.
"""
import time

from micropython import const

_STX = const(0x02)
_MAX = const(300)  # longest data field: a 261-byte case-4 APDU, a 258-byte reply
OK = const(0)
NO_CARD = const(1)
MUTE = const(2)

# a PSAM's DES/SM4 MAC and a card's GET RESPONSE chain take well under a second; the
# presence poll runs often and must stay short
PRESENCE_MS = const(200)
APDU_MS = const(1500)


class ReaderPort:
    def __init__(self, uart):
        self.uart = uart
        self._tx = bytearray(_MAX + 6)
        self._head = bytearray(5)
        self._body = bytearray(_MAX + 1)

    def exchange(self, slot, code, data, timeout_ms):
        """One request, one reply: returns (status, data). Raises OSError on a timeout or
        a damaged frame (after throwing away whatever is left on the line)."""
        n = len(data)
        if n > _MAX:
            raise ValueError("APDU too long")
        frame = self._tx
        frame[0] = _STX
        frame[1] = slot
        frame[2] = code
        frame[3] = n >> 8
        frame[4] = n & 0xFF
        frame[5:5 + n] = data
        lrc = 0
        for i in range(1, 5 + n):
            lrc ^= frame[i]
        frame[5 + n] = lrc
        self._drain()
        self.uart.write(memoryview(frame)[:6 + n])
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        head = self._head
        self._read(head, 5, deadline)
        size = (head[3] << 8) | head[4]
        if head[0] != _STX or head[1] != slot or size > _MAX:
            self._drain()
            raise OSError("reader: bad frame")
        body = self._body
        self._read(body, size + 1, deadline)
        lrc = head[1] ^ head[2] ^ head[3] ^ head[4]
        for i in range(size):
            lrc ^= body[i]
        if lrc != body[size]:
            self._drain()
            raise OSError("reader: LRC error")
        return head[2], bytes(body[:size])

    def _read(self, buf, n, deadline):
        into = memoryview(buf)
        got = 0
        while got < n:
            count = self.uart.readinto(into[got:n])
            if count:
                got += count
            elif time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError("reader: timeout")

    def _drain(self):
        while self.uart.any():
            self.uart.read()


class CardSlot:
    """The user-card role: present(), power_on() -> ATR, transceive(apdu) -> reply."""

    def __init__(self, port, slot=0):
        self.port = port
        self.slot = slot

    def present(self):
        status, data = self.port.exchange(self.slot, ord("P"), b"", PRESENCE_MS)
        return status == OK and data[:1] == b"\x01"

    def power_on(self):
        status, atr = self.port.exchange(self.slot, ord("R"), b"", APDU_MS)
        if status != OK:
            raise OSError("card: no ATR (status %d)" % status)
        return atr

    def power_off(self):
        self.port.exchange(self.slot, ord("O"), b"", PRESENCE_MS)

    def transceive(self, apdu):
        status, reply = self.port.exchange(self.slot, ord("A"), apdu, APDU_MS)
        if status != OK or len(reply) < 2:
            raise OSError("card gone (status %d)" % status)
        return reply


class PsamSlot(CardSlot):
    """The SAM slot: powered (reset) on first use and again after a failed exchange."""

    def __init__(self, port, slot=1):
        super().__init__(port, slot)
        self.atr = None

    def transceive(self, apdu):
        if self.atr is None:
            self.atr = self.power_on()
        try:
            return super().transceive(apdu)
        except OSError:
            self.atr = None
            raise
