"""The station link's RECORDS window (link.py owns one and drives it, a session at a
time): the journal's records after the last one sent go up in their own bytes, BATCH a
frame, up to WINDOW frames in flight; each SALES_ACK takes the oldest frame off, and the
journal's ack cursor moves only to what the station acknowledged. The journal is passed
in to each call: the window holds no journal of its own."""
from . import protocol
from . import record as rec

BATCH = 32  # records per RECORDS frame, in the journal's own bytes (<= record.MAX_RECORD
# each, one segment's worth): the frame is built in _TX (3,576 B), taken at import while
# the heap is whole, so no frame is allocated on a fragmented heap; the drain's speed is
# per frame (8 records a frame drained at about half the rate on the unix port)
WINDOW = 8  # RECORDS frames in flight: the next ones go while the station stores the first
# (the stream's drain() waits while the network holds what it can: at most the rest of
# one frame is copied to the heap)
ACK_EVERY = 128  # acknowledged records the journal's cursor may lag (four segments): each
# move writes the ack file and recounts; a dropped session sends them again (duplicates)
TX_LEN = protocol.HDR_LEN + BATCH * rec.MAX_RECORD + protocol.TAG_LEN
_TX = bytearray(TX_LEN)


class Window:
    def __init__(self):
        self._flight = []  # the record count of each RECORDS frame in flight, oldest first
        self._sent = self._acked = 0  # the last record sent, acknowledged
        self._records = None  # the journal's reader after _sent, while it has more
        self._unacked = 0  # records acknowledged past the journal's cursor

    def start(self, journal, held):
        """A session's start: nothing in flight, the records after the journal's cursor
        to go; after `held` (WELCOME's) when it is below the cursor: a store restored from
        a backup gets again what the flash still holds (its acks leave the cursor alone)."""
        self._flight = []
        self._sent = self._acked = journal.ack_seq
        if held is not None and held < journal.ack_seq:
            self._sent = held
        self._records = None
        self._unacked = 0

    def in_flight(self):
        return len(self._flight)

    def due(self, journal):
        """True while frames are in flight or records wait to be sent."""
        return bool(self._flight) or journal.next_seq - 1 > min(self._sent, journal.ack_seq)

    def frame(self, journal, session):
        """The next RECORDS frame (sealed in _TX: a view of it), gone in flight; None when
        the window is full or no record waits."""
        if len(self._flight) >= WINDOW:
            return None
        n = self._batch(journal)
        if not n:
            return None
        return memoryview(_TX)[:session.seal(_TX, n, protocol.RECORDS)]

    def _batch(self, journal):
        """Up to BATCH records after the last one sent, copied into _TX after the frame's
        header: their bytes' count (0: none to send); the frame goes in flight."""
        records = self._records
        if records is None:
            if journal.next_seq - 1 <= self._sent:
                return 0
            records = self._records = journal.read(self._sent, True)
        at = protocol.HDR_LEN
        count = 0
        for seq, _rtype, data in records:
            _TX[at:at + len(data)] = data
            at += len(data)
            self._sent = seq
            count += 1
            if count >= BATCH:
                break
        else:
            self._records = None  # read to its end: records written since need a new one
        if count:
            self._flight.append(count)
        return at - protocol.HDR_LEN

    def acked(self, journal, ack, time):
        """The oldest frame's SALES_ACK (its `ack`): the frame is off the window. The
        journal's cursor moves to the station's ack every ACK_EVERY records and whenever
        the window is empty: the records it moved over, else None."""
        count = self._flight.pop(0)
        if self._acked < ack < journal.next_seq:
            self._acked = ack
            self._unacked += count
        if self._acked > journal.ack_seq and (
                not self._flight or self._acked - journal.ack_seq >= ACK_EVERY):
            journal.ack(self._acked, time)
            count, self._unacked = self._unacked, 0
            return count
        return None
