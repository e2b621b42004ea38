"""The station link: one asyncio task, one TCP session at a time (protocol.py).

Connect, authenticate (CHALLENGE -> HELLO -> WELCOME), then drain the journal: the
records after the ack cursor go up in their journal bytes (RECORDS), several frames in
flight, and the station's SALES_ACKs move the cursor (which lets the journal prune).
With nothing to send, a HEARTBEAT every `heartbeat_s`; a STATUS with it, at each change
of state or alarm, and while fuel flows as the volume moves (live progress, PROGRESS_MS
apart). Reconnects with capped exponential backoff and jitter; every read has a timeout,
so a silent station is noticed. Each step is bounded (a window topped up, one answer
taken) and awaits the network, so the dispenser's loop never waits on the link. Offline,
selling goes on within the journal's limits; online, the backlog drains. Besides: the
totalizers (TOTALS) at each session's start and with a heartbeat when they moved, the
metrology event log's records the station lacks (EVENTS, acknowledged by EVENTS_ACK),
and the station's non-legal parameters (PARAMS, downloads.apply_params). No connection
is tried while the board's network (hal.py net) is down: the link waits for it, its
reason (net.status()) the link_down's.
"""
import asyncio
import os

from . import downloads, log, manifest, protocol, storage
from .compat import mem_free, sleep_ms, ticks_diff, ticks_ms, to_send, wait_for_ms
from .window import Window

FIRMWARE = manifest.VERSION
EV_BATCH = 4  # event-log records per EVENTS frame (~200 B each)
READ_TIMEOUT_S = 10
BACKOFF_MIN_MS = 500
BACKOFF_MAX_MS = 30000
_POLL_MS = 100
NET_WAIT_MS = 500  # the board's network is asked this often while it is down
STATUS_MIN_MS = 250  # STATUS on every state change or alarm, at most one per this
PROGRESS_MS = 500  # while the volume moves, a STATUS at most this often: a poll (_POLL_MS)
# or a SALES round trip late, still more than once a second
RX_LEN = 1024  # a station frame up to this size is read into one buffer taken at import,
# while the heap is whole: with the card sale loaded the free heap is ~13 KB in holes of
# <= ~800 B, where a 1.3 KB bytes object finds no room. Larger frames are allocated.
_RX = bytearray(RX_LEN)


class LinkError(Exception):
    pass


def _jitter(ms):
    return ms // 2 + int.from_bytes(os.urandom(2), "big") % (ms // 2 + 1)


def _tls(cfg):
    """The ssl context of a TLS link (config station_tls, the default), or None for the
    plain link station_tls=0 asks for. station_ca, the station's CA certificate (DER)
    that provisioning pinned, checks the station's certificate and its name or address;
    with none pinned the link refuses to connect rather than take any certificate. Made
    at each connect: a missing or bad CA file is a link_down reason, not a pump that
    will not boot."""
    if not cfg.station_tls:
        return None
    if not cfg.station_ca:
        raise LinkError("no station CA pinned")
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with open(cfg.station_ca, "rb") as f:
        context.load_verify_locations(cadata=f.read())
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class _TlsReader:
    """MicroPython's Stream.readinto on a TLS socket returns None when the bytes that woke
    it were not yet a whole TLS record (readexactly already waits again): wait again. And
    it polls the socket before it reads, which does not see what mbedTLS decrypted and
    holds already (the rest of a record whose first bytes were read): that is taken first,
    or a frame's body would wait for the station's next record."""

    def __init__(self, stream):
        self.stream = stream

    async def readinto(self, buf):
        count = self.stream.s.readinto(buf)  # non-blocking: None when mbedTLS holds none
        if count:
            return count
        while True:
            count = await self.stream.readinto(buf)
            if count is not None:
                return count

    async def readexactly(self, n):
        return await self.stream.readexactly(n)


class Link:
    def __init__(self, journal, cfg, clock, pump=None, software_id="", net=None):
        self.pump = pump  # applies downloads: prices, hotlist
        self.net = net  # the board's network (hal.py); None: the host's, always up
        self.why = None  # the last link_down's reason, until the link is up again
        self.software_id = software_id  # of the verified manifest, told on hello
        self.journal = journal
        self.cfg = cfg
        self.clock = clock
        host, _, port = cfg.station_addr.rpartition(":")
        self.host = host
        self.port = int(port)
        self.key = bytes.fromhex(cfg.terminal_key)
        self.online = False
        self.loyalty = False  # the station answers REWARDS and REDEEM (its WELCOME says)
        self.connects = 0
        self.uploaded = 0  # records the station has acknowledged in this boot
        self.heartbeat_ms = 10000
        self.timeout_s = READ_TIMEOUT_S
        self._question = None  # (type, payload, answer type) the card desk asks (ask),
        self._waiter = None  # [its answer, Event], until the answer comes
        self._window = Window()  # the session's drain (_upload): RECORDS in flight
        self._status = None  # (IFSF state, alarm count, ml) of the last STATUS sent
        self._status_ms = ticks_ms()
        self._totals = None  # (volume_ml, amount) of the last TOTALS sent in this session
        self.events_n = None  # the last event-log record the station holds (WELCOME)
        self.paths = pump.paths if pump is not None else storage.beside(journal.root)
        # the station whose downloads (prices, params, hotlist) this pump holds: another
        # one (its database rebuilt) numbers its versions anew and sends them all again
        self.station = storage.read_json(self.paths.station)
        saved = storage.read_json(self.paths.params)
        self.params_version = saved.get("version", 0) if isinstance(saved, dict) else 0
        self.done = Done(self.paths.commands)  # commands run

    async def run(self):
        backoff = BACKOFF_MIN_MS
        while True:
            try:
                await self._network()
                await self._session()
            except Exception as e:  # noqa: BLE001 - nothing on the link may stop the pump
                # refused frames, resets, EOF, timeouts, a station that says ERROR; a
                # network that went down says why itself
                if self.online:
                    self.why = None
                if self.online or backoff == BACKOFF_MIN_MS:
                    self._down(self._net_why() or str(e) or type(e).__name__)
            if self.online:
                backoff = BACKOFF_MIN_MS
            self.online = False
            await sleep_ms(_jitter(backoff))
            backoff = min(backoff * 2, BACKOFF_MAX_MS)

    def _down(self, why):
        if why != self.why:
            self.why = why
            log.event("link_down", {"why": why})

    def _net_why(self):
        """"network: <status>" while the board's network is down, else None."""
        net = self.net
        try:
            return None if net is None or net.connected() else "network: " + net.status()
        except OSError:  # the sim board's bench gone: the socket's reason stands
            return None

    async def _network(self):
        """Return once the board's network is up: started while it is down (the board
        paces the joins it starts again), each new reason a link_down, the pump selling
        meanwhile."""
        net = self.net
        if net is None or net.connected():
            return
        cfg = self.cfg
        while True:
            net.up(cfg.net_kind, cfg.wlan_ssid, cfg.wlan_pass)
            why = self._net_why()
            if why is None:
                return
            self._down(why)
            await sleep_ms(NET_WAIT_MS)

    # -- one session ------------------------------------------------------------------------
    async def _session(self):
        tls = _tls(self.cfg)
        if tls is None:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        else:  # the handshake waits on the station: bounded like every read
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                self.host, self.port, ssl=tls, server_hostname=self.host), self.timeout_s)
            # MicroPython's asyncio leaves the handshake to the first read or write and
            # waits for a readable socket before reading, while the station waits for the
            # ClientHello: one read now sends it (mbedTLS wants to read: None)
            sock = getattr(reader, "s", None)  # CPython's streams handshake by themselves
            if sock is not None and sock.readinto(bytearray(1)) is not None:
                writer.close()
                raise LinkError("TLS: data before the handshake")
            if sock is not None:
                reader = _TlsReader(reader)
        try:
            challenge = await self._frame(reader)
            nonce = os.urandom(protocol.NONCE_LEN)
            session = protocol.terminal_session(self.key, challenge, nonce)
            journal = self.journal
            await self._send(writer, session, protocol.HELLO, {
                "terminal": self.cfg.terminal_id, "nonce": nonce.hex(),
                "firmware": FIRMWARE, "software_id": self.software_id,
                "journal": journal.ident, "station": self.station,
                "journal_seq": journal.next_seq - 1, "psam": self._psam(),
                "prices_version": self.pump.prices.version if self.pump else 0,
                "hotlist_version": downloads.hotlist_version(self.pump) if self.pump else 0,
                "params_version": self.params_version,
                "wdt_resets": self.pump.wdt_resets if self.pump else 0})
            mtype, welcome = await self._receive(reader, session)
            if mtype != protocol.WELCOME:
                raise LinkError("station answered %s" % protocol.TYPE_NAMES[mtype])
            if self.pump is not None:
                downloads.station_time(self.pump, welcome.get("time"))
            self.heartbeat_ms = welcome.get("heartbeat_ms", 10000)  # bounded by SHAPES
            self.loyalty = welcome.get("loyalty") is True
            # a station silent for three beats (1 s at least, 10 s at most) is gone
            self.timeout_s = max(1, min(READ_TIMEOUT_S, 3 * self.heartbeat_ms // 1000))
            self.online = True
            self.connects += 1
            log.event("link_up", {"station": self.cfg.station_addr, "id": welcome.get("station"),
                                  "unsynced": journal.unsynced, "ack": journal.ack_seq})
            self._status = None  # (state, alarms, ml) the station last heard
            window = self._window
            window.start(journal, welcome.get("held"))
            self.events_n = welcome.get("events_n")
            self._totals = None
            await self._send_totals(writer, session)  # with HELLO: where the meter stands
            while True:  # a STATUS due goes between any two exchanges, backlog or not
                now = ticks_ms()
                status = self._status_due(now)
                if status is not None:
                    await self._send_status(writer, session, now, status)
                if self._question is not None and not window.in_flight():
                    await self._ask(reader, writer, session)
                elif window.due(journal):
                    await self._upload(reader, writer, session)
                elif self._events_due():
                    await self._upload_events(reader, writer, session)
                else:
                    await self._idle(reader, writer, session)
        finally:
            writer.close()

    def _psam(self):
        """The PSAM's terminal id (hex): the station checks card TACs with it."""
        tid = getattr(getattr(self.pump, "desk", None), "tid", None)
        return tid.hex() if tid else ""

    async def ask_grey(self, query, timeout_ms):
        """The station's GREY_ANSWER to `query` (settlement.query_for: a grey card with no
        escape open here), or None when offline or when none came within `timeout_ms`."""
        return await self.ask(protocol.GREY_QUERY, query, protocol.GREY_ANSWER, timeout_ms)

    async def ask(self, mtype, payload, want, timeout_ms):
        """The station's answer (of type `want`) to the card desk's question `payload` of
        type `mtype` (GREY_QUERY, CARD_INFO, LOAD, REWARDS, REDEEM), or None when offline or
        when none came within `timeout_ms`. The
        session sends it between its other exchanges, again in the next session if this
        one drops before the answer (so a question must be safe to ask twice: REDEEM is,
        by its redemption id); a question given up (timed out, cancelled) is withdrawn.
        One at a time: the card desk asks one thing at once."""
        if not self.online:
            return None
        waiter = [None, asyncio.Event()]
        self._question = (mtype, payload, want)
        self._waiter = waiter
        try:
            await wait_for_ms(waiter[1].wait(), timeout_ms)
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython's is asyncio's own
            pass
        finally:
            if self._waiter is waiter:
                self._question = self._waiter = None
        return waiter[0]

    async def _ask(self, reader, writer, session):
        """The card desk's question; its answer wakes the desk."""
        waiter = self._waiter
        mtype, payload, want = self._question
        await self._send(writer, session, mtype, payload)
        answer = await self._expect(reader, session, want, writer)
        if self._waiter is waiter:  # still waited on
            self._question = None
            waiter[0] = answer
            waiter[1].set()

    async def _upload(self, reader, writer, session):
        """One step of the drain: the window topped up with RECORDS frames (BATCH records
        each, copied from the journal's scan buffer into one buffer, one HMAC per frame;
        none while the card desk's question waits, so the window empties for it), then the oldest
        frame's SALES_ACK taken (window.py: the journal's cursor moves only to what the
        station acknowledged)."""
        journal = self.journal
        window = self._window
        while self._question is None:
            frame = window.frame(journal, session)
            if frame is None:
                break
            writer.write(to_send(frame))
            await writer.drain()
        if not window.in_flight():  # the unacknowledged seqs were damaged records: step over
            await self._idle(reader, writer, session)
            return
        # a malformed SALES_ACK ends the session here: the journal is not touched
        payload = await self._expect(reader, session, protocol.SALES_ACK)
        for seq, result, why in payload["results"]:
            if result == "rejected" or result == "conflict":  # the station keeps a conflict
                log.event("sale_" + result, {"seq": seq, "why": why})
        self._take_settled(payload.get("settled"))
        moved = window.acked(journal, payload.get("ack") or 0, self.clock.time())
        if moved is not None:
            self.uploaded += moved
            log.event("synced", {"ack": journal.ack_seq, "unsynced": journal.unsynced})

    async def _send_totals(self, writer, session):
        """TOTALS: the non-resettable totalizers after journal record `seq`, when they
        moved since the last TOTALS of this session (the first: at its start)."""
        totals = self.journal.totals
        if self._totals == (totals.volume_ml, totals.amount):
            return
        self._totals = (totals.volume_ml, totals.amount)
        await self._send(writer, session, protocol.TOTALS, {
            "nozzle": self.cfg.nozzle, "grade": self.pump.prices.grade if self.pump else
            self.cfg.grade, "volume_ml": totals.volume_ml, "amount": totals.amount,
            "seq": self.journal.next_seq - 1})

    def _events_due(self):
        events = getattr(self.pump, "events", None)
        return events is not None and self.events_n is not None and events.count > self.events_n

    async def _upload_events(self, reader, writer, session):
        """One batch of the event log's records after the station's last (EVENTS); its
        EVENTS_ACK moves the cursor (kept by the station: nothing written here). A refusal
        (the station found the chain broken) stops the upload for this session."""
        batch = []
        for item in self.pump.events.records(self.events_n + 1):
            batch.append(item)
            if len(batch) >= EV_BATCH:
                break
        if not batch:  # nothing readable after it: not again in this session
            self.events_n = None
            return
        await self._send(writer, session, protocol.EVENTS, {"events": batch})
        ack = await self._expect(reader, session, protocol.EVENTS_ACK, writer)
        n = ack["n"]
        if ack.get("ok") is not True or n <= self.events_n:
            log.event("events_refused", {"n": n, "why": ack.get("why")})
            self.events_n = None
            return
        self.events_n = n
        log.event("events_synced", {"n": n})

    async def _idle(self, reader, writer, session):
        """Status, totals if they moved, heartbeat; then wait until a beat is due or the
        journal has news."""
        if self.pump is not None:
            await self._send_status(writer, session, ticks_ms())
        await self._send_totals(writer, session)
        await self._send(writer, session, protocol.HEARTBEAT, {"time": self.clock.time()})
        beat = await self._expect(reader, session, protocol.HEARTBEAT, writer)
        if beat.get("totals") is True:  # the station asks: the next beat sends them
            self._totals = None
        if self.pump is not None:
            downloads.station_time(self.pump, beat.get("time"))
        self._take_settled(beat.get("settled"))
        if beat.get("station", self.station) != self.station:  # all its downloads are held
            try:
                storage.write_json(self.paths.station, beat["station"])
            except OSError:  # the next session names the old one: all is sent again
                pass
            self.station = beat["station"]
            log.event("station", {"id": self.station})
        journal = self.journal
        start = ticks_ms()
        seen = journal.next_seq
        while ticks_diff(ticks_ms(), start) < self.heartbeat_ms and journal.next_seq == seen \
                and self._question is None:
            await sleep_ms(_POLL_MS)
            now = ticks_ms()
            status = self._status_due(now)  # a change, an alarm, progress: said at once
            if status is not None:
                await self._send_status(writer, session, now, status)

    def _status_due(self, now):
        """The pump's state or alarm count moved since the last STATUS, and that went at
        least STATUS_MIN_MS before `now` (a pump that flaps sends no storm); or only its
        volume moved (fuel flows, live progress) and PROGRESS_MS went. The STATUS to send
        then (made once: on the sim board it asks the bench for the nozzle), else None."""
        pump = self.pump
        since = ticks_diff(now, self._status_ms)
        if pump is None or since < STATUS_MIN_MS:
            return None
        status = pump.status()
        last = self._status
        if last is None or last[0] != status["state"] or last[1] != status["alarms"] \
                or (since >= PROGRESS_MS and last[2] != status["ml"]):
            return status
        return None

    async def _send_status(self, writer, session, now, status=None):
        if status is None:
            status = self.pump.status()
        self._status = (status["state"], status["alarms"], status["ml"])
        self._status_ms = now
        await self._send(writer, session, protocol.STATUS, status)

    def _take_settled(self, items):
        """The station's list (SALES_ACK, HEARTBEAT `settled`) of this terminal's escapes
        another terminal settled, handed to settlement.py. Imported here, not at the top:
        the card sale loads it; a pump without one is never told of any escape."""
        if items:
            from . import settlement

            settlement.take_settled(self.journal, items, self.clock.time())

    # -- frames ------------------------------------------------------------------------------
    async def _frame(self, reader):
        """The next whole frame: a memoryview into the receive buffer (valid until the
        next read) or, beyond RX_LEN, bytes of its own."""
        buf = memoryview(_RX)
        await self._fill(reader, buf[:2])
        n = (_RX[0] << 8) | _RX[1]
        protocol.check_length(n)
        if n + 2 > RX_LEN:
            return bytes(buf[:2]) + await asyncio.wait_for(reader.readexactly(n),
                                                           self.timeout_s)
        await self._fill(reader, buf[2:2 + n])
        return buf[:2 + n]

    async def _fill(self, reader, buf):
        if not hasattr(reader, "readinto"):  # CPython's StreamReader (tier-1 tests)
            buf[:] = await asyncio.wait_for(reader.readexactly(len(buf)), self.timeout_s)
            return
        got = 0
        while got < len(buf):
            count = await asyncio.wait_for(reader.readinto(buf[got:]), self.timeout_s)
            if not count:
                raise LinkError("station closed the connection")
            got += count

    async def _send(self, writer, session, mtype, payload):
        writer.write(session.encode(mtype, payload))
        await writer.drain()

    async def _receive(self, reader, session):
        """(type, payload) of the station's next frame: authenticated, in sequence, its
        payload of its type's shape (protocol.check), else ProtocolError."""
        mtype, payload = session.decode(await self._frame(reader), protocol.FROM_STATION)
        protocol.check(mtype, payload)
        return mtype, payload

    async def _expect(self, reader, session, want, writer=None):
        """The frame of type `want`; downloads the station sends first are applied and
        answered (REPLY) on the way (DOWNLOADS). An ERROR or anything else ends the
        session."""
        while True:
            mtype, payload = await self._receive(reader, session)
            if mtype == want:
                return payload
            if mtype == protocol.ERROR:
                raise LinkError("station: %s" % payload.get("why"))
            apply = self.DOWNLOADS.get(mtype) if writer is not None else None
            if apply is None:
                raise LinkError("expected %s, got %s" % (protocol.TYPE_NAMES[want],
                                                         protocol.TYPE_NAMES[mtype]))
            await self._send(writer, session, protocol.REPLY, apply(self, payload))

    # -- downloads (DOWNLOADS): each takes a checked payload and returns its REPLY's; a
    # download that cannot be applied is answered ok false
    def _command(self, payload):
        """Run a COMMAND once per id: an id in the ring of recent ones (its REPLY was lost,
        the station sent it again) is answered with the result it had, not run again."""
        command_id, cmd = payload["id"], payload["cmd"]
        result = self.done.get(command_id)
        if result is None:
            ok, why = downloads.command(self.pump, cmd) if self.pump else (False, "no pump")
            self.done.put(command_id, ok, why)
            log.event("command", {"id": command_id, "cmd": cmd, "ok": ok, "why": why})
        else:
            ok, why = result
            log.event("command_again", {"id": command_id, "cmd": cmd, "ok": ok})
        return {"type": "COMMAND", "id": command_id, "ok": ok, "why": why}

    def _params(self, payload):
        """Non-legal settings, in force from the next boot (downloads.apply_params)."""
        pump = self.pump
        version = payload["version"]
        ok, why = downloads.apply_params(pump, version, payload["values"]) \
            if pump is not None else (False, "no pump")
        if ok:
            self.params_version = version
        return {"type": "PARAMS", "version": version, "ok": ok, "why": why}

    def _prices(self, payload):
        """A price table, now or at its time `at` (prices.PriceBook)."""
        pump = self.pump
        version = payload["version"]
        ok, why = downloads.apply_prices(pump, version, payload["grades"],
                                         payload.get("nozzles"), payload.get("at") or 0) \
            if pump is not None else (False, "no pump")
        return {"type": "PRICES", "version": version, "ok": ok, "why": why}

    def _hotlist(self, payload):
        pump = self.pump
        # popped: the parsed strings are garbage once converted, their room free again
        add = _card_keys(payload.pop("add", None))
        remove = _card_keys(payload.pop("remove", None))
        reply = {"type": "HOTLIST"}
        full = "full" in payload  # one part of a full list, staged until its last part
        if full:
            version, part, more = payload["full"], payload["part"], payload["more"]
            reply["part"] = part
        else:
            from_version, to_version = payload["from"], payload["to"]
        if pump is None:
            ok, why = False, "no pump"
        else:
            try:
                ok, why = downloads.stage_hotlist(pump, version, part, more, add) if full else \
                    downloads.apply_hotlist(pump, from_version, to_version, add, remove)
            except MemoryError:  # nothing applied (all or nothing): the station retries
                add = remove = None
                ok, why = False, "out of memory"
                log.event("hotlist_retry", {"why": why, "heap_free": mem_free()})
        reply["version"] = downloads.hotlist_version(pump) if pump else None
        reply["ok"] = ok
        reply["why"] = why
        if pump is not None and downloads.hotlist_damaged(pump):
            reply["need_full"] = True  # no delta can mend it
        return reply

    def _authorize(self, payload):
        """A paid order's sale (authorize.py, imported with the first one)."""
        order = payload["order"]
        if self.pump is None:
            ok, why = False, "busy"
        else:
            from . import authorize

            ok, why = authorize.take(self.pump, payload)
        log.event("authorize", {"order": order, "ok": ok, "why": why})
        return {"type": "AUTHORIZE", "order": order, "ok": ok, "why": why}

    # what the station may send while the link waits for an answer (_expect)
    DOWNLOADS = {protocol.PRICES: _prices, protocol.HOTLIST: _hotlist,
                 protocol.PARAMS: _params, protocol.COMMAND: _command,
                 protocol.AUTHORIZE: _authorize}


class Done:
    """The ids of the last DONE_MAX commands run and their results, kept on the flash
    beside the journal (a new file renamed over the old: a cut leaves one or the other),
    so a command the station sends again - its REPLY was lost, or the pump rebooted - is
    answered again without running twice."""

    def __init__(self, path):
        self.path = path
        ring = storage.read_json(path)  # none yet, or unreadable: an empty ring
        self.ring = [entry for entry in ring if isinstance(entry, list) and len(entry) == 3] \
            if isinstance(ring, list) else []  # [[id, ok, why]], oldest first

    def get(self, command_id):
        for entry in self.ring:
            if entry[0] == command_id:
                return bool(entry[1]), entry[2]
        return None

    def put(self, command_id, ok, why):
        self.ring.append([command_id, 1 if ok else 0, why[:60]])
        if len(self.ring) > DONE_MAX:
            del self.ring[0]
        try:
            storage.write_json(self.path, self.ring)
        except OSError as e:  # the command ran; a resend after a reboot would run again
            log.event("commands_not_saved", {"why": str(e)})


DONE_MAX = 16


def _card_keys(numbers):
    """Card numbers of 16 digits (checked by protocol.check) -> 8-byte keys."""
    return [bytes.fromhex(number) for number in numbers] if numbers else []
