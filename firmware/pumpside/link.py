"""The station link: one asyncio task, one TCP session at a time (protocol.py).

Connect, authenticate (CHALLENGE -> HELLO -> WELCOME), then drain the journal: the
records after the ack cursor go up in batches (SALES), and the station's SALES_ACK moves
the cursor (which lets the journal prune). With nothing to send, a HEARTBEAT every
`heartbeat_s`. Reconnects with capped exponential backoff and jitter; every read has a
timeout, so a silent station is noticed. Each step is bounded (one batch, one frame) and
awaits the network, so the dispenser's loop never waits on the link. Offline, selling
goes on within the journal's limits; online, the backlog drains.
"""
import asyncio
import os

from . import log, manifest, protocol
from . import record as rec
from .compat import sleep_ms, ticks_diff, ticks_ms

FIRMWARE = manifest.VERSION
BATCH = 8  # records per SALES frame: ~400 B of compact JSON each; the frame is built a
# few times over in RAM (JSON, bytes, HMAC input), so a batch stays small beside the card
# sale (a 24-record frame ran out of heap in the network campaign)
READ_TIMEOUT_S = 10
BACKOFF_MIN_MS = 500
BACKOFF_MAX_MS = 30000
_POLL_MS = 100


class LinkError(Exception):
    pass


def _jitter(ms):
    return ms // 2 + int.from_bytes(os.urandom(2), "big") % (ms // 2 + 1)


class Link:
    def __init__(self, journal, cfg, clock, pump=None, software_id=""):
        self.pump = pump  # applies downloads: prices, hotlist
        self.software_id = software_id  # of the verified manifest, told on hello
        self.journal = journal
        self.cfg = cfg
        self.clock = clock
        host, _, port = cfg.station_addr.rpartition(":")
        self.host = host
        self.port = int(port)
        self.key = bytes.fromhex(cfg.terminal_key)
        self.online = False
        self.connects = 0
        self.uploaded = 0  # records the station has acknowledged in this boot
        self.heartbeat_ms = 10000
        self.timeout_s = READ_TIMEOUT_S

    async def run(self):
        backoff = BACKOFF_MIN_MS
        while True:
            try:
                await self._session()
            except Exception as e:  # noqa: BLE001 - nothing on the link may stop the pump
                # refused frames, resets, EOF, timeouts, a station that says ERROR
                if self.online or backoff == BACKOFF_MIN_MS:
                    log.event("link_down", {"why": str(e) or type(e).__name__})
            if self.online:
                backoff = BACKOFF_MIN_MS
            self.online = False
            await sleep_ms(_jitter(backoff))
            backoff = min(backoff * 2, BACKOFF_MAX_MS)

    # -- one session ------------------------------------------------------------------------
    async def _session(self):
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            challenge = await self._frame(reader)
            nonce = os.urandom(protocol.NONCE_LEN)
            session = protocol.terminal_session(self.key, challenge, nonce)
            jr = self.journal
            await self._send(writer, session, protocol.HELLO, {
                "terminal": self.cfg.terminal_id, "nonce": nonce.hex(),
                "firmware": FIRMWARE, "software_id": self.software_id,
                "journal_seq": jr.next_seq - 1,
                "prices_version": self.pump.prices_version if self.pump else 0,
                "hotlist_version": self.pump.hotlist_version() if self.pump else 0})
            mtype, welcome = session.decode(await self._frame(reader), protocol.FROM_STATION)
            if mtype != protocol.WELCOME:
                raise LinkError("station answered %s" % protocol.TYPE_NAMES[mtype])
            beat = welcome.get("heartbeat_ms")
            self.heartbeat_ms = beat if isinstance(beat, int) and 50 <= beat <= 600000 \
                else 10000
            # a station silent for three beats (1 s at least, 10 s at most) is gone
            self.timeout_s = max(1, min(READ_TIMEOUT_S, 3 * self.heartbeat_ms // 1000))
            self.online = True
            self.connects += 1
            log.event("link_up", {"station": self.cfg.station_addr,
                                  "unsynced": jr.unsynced, "ack": jr.ack_seq})
            while True:
                if jr.next_seq - 1 > jr.ack_seq:
                    await self._upload(reader, writer, session)
                else:
                    await self._idle(reader, writer, session)
        finally:
            writer.close()

    async def _upload(self, reader, writer, session):
        jr = self.journal
        batch = []
        for seq, rtype, payload in jr.read(jr.ack_seq):
            batch.append(rec.to_json(seq, rtype, payload, True))
            if len(batch) >= BATCH:
                break
        if not batch:  # the unacknowledged seqs were damaged records: step over them
            await self._idle(reader, writer, session)
            return
        await self._send(writer, session, protocol.SALES, {"records": batch})
        payload = await self._expect(reader, session, protocol.SALES_ACK)
        for seq, result, why in payload.get("results", ()):
            if result == "rejected":
                log.event("sale_rejected", {"seq": seq, "why": why})
        ack = payload.get("ack", 0)
        if isinstance(ack, int) and jr.ack_seq < ack < jr.next_seq:
            jr.ack(ack, self.clock.time())
            self.uploaded += len(batch)
            log.event("synced", {"ack": ack, "unsynced": jr.unsynced})

    async def _idle(self, reader, writer, session):
        """Status and heartbeat, then wait until a beat is due or the journal has news."""
        if self.pump is not None:
            await self._send(writer, session, protocol.STATUS, self.pump.status())
        await self._send(writer, session, protocol.HEARTBEAT, {"time": self.clock.time()})
        await self._expect(reader, session, protocol.HEARTBEAT, writer)
        jr = self.journal
        start = ticks_ms()
        seen = jr.next_seq
        while ticks_diff(ticks_ms(), start) < self.heartbeat_ms and jr.next_seq == seen:
            await sleep_ms(_POLL_MS)

    # -- frames ------------------------------------------------------------------------------
    async def _frame(self, reader):
        head = await asyncio.wait_for(reader.readexactly(2), self.timeout_s)
        n = (head[0] << 8) | head[1]
        protocol.check_length(n)
        return head + await asyncio.wait_for(reader.readexactly(n), self.timeout_s)

    async def _send(self, writer, session, mtype, payload):
        writer.write(session.encode(mtype, payload))
        await writer.drain()

    async def _expect(self, reader, session, want, writer=None):
        """The frame of type `want`; downloads the station sends first are applied and
        answered (REPLY) on the way. An ERROR or anything else ends the session."""
        while True:
            mtype, payload = session.decode(await self._frame(reader),
                                            protocol.FROM_STATION)
            if mtype == want:
                return payload
            if mtype == protocol.ERROR:
                raise LinkError("station: %s" % payload.get("why"))
            if mtype == protocol.COMMAND and writer is not None:
                ok, why = self.pump.command(payload.get("cmd")) if self.pump else (False, "")
                log.event("command", {"id": payload.get("id"), "cmd": payload.get("cmd"),
                                      "ok": ok, "why": why})
                await self._send(writer, session, protocol.REPLY, {
                    "type": "COMMAND", "id": payload.get("id"), "ok": ok, "why": why})
                continue
            if mtype not in (protocol.PRICES, protocol.HOTLIST) or writer is None:
                raise LinkError("expected %s, got %s" % (protocol.TYPE_NAMES[want],
                                                         protocol.TYPE_NAMES[mtype]))
            ok, why = self._download(mtype, payload)
            await self._send(writer, session, protocol.REPLY, {
                "type": protocol.TYPE_NAMES[mtype], "version": payload.get("version"),
                "ok": ok, "why": why})

    def _download(self, mtype, payload):
        version = payload.get("version")
        if self.pump is None or not isinstance(version, int):
            return False, "malformed download"
        if mtype == protocol.PRICES:
            return self.pump.apply_prices(version, payload.get("grades"))
        entries = payload.get("full")
        if not isinstance(entries, list):
            return False, "malformed hotlist"
        return self.pump.apply_hotlist(version, entries)
