"""The station's asyncio TCP server: one task per terminal connection.

Each connection: CHALLENGE, an authenticated HELLO (the terminal's key from the
registry), WELCOME; then the terminal's frames in order. Anything wrong - unknown
terminal, bad tag, replay, oversize or truncated frame, unknown type, silence - is
refused: the reason is logged (never a key), an ERROR is sent where the session allows,
the connection is closed and nothing from that frame is stored.
"""
import asyncio
import logging
import os
import time

from pumpside import protocol as p

from .ledger import Ledger

log = logging.getLogger("pumpside.station")
READ_TIMEOUT_S = 30.0  # three missed heartbeats of 10 s: the terminal is gone
HOTLIST_CHUNK = 32  # card numbers per HOTLIST frame: ~0.7 KB of JSON (a 2.6 KB frame found
# no room in the card-sale pump's 192K heap)
HOTLIST_FRAMES_PER_BEAT = 32  # at most this many HOTLIST frames before a HEARTBEAT answer


class Refused(Exception):
    pass


class StationServer:
    def __init__(self, ledger, host="127.0.0.1", port=0, heartbeat_s=10, ssl=None):
        self.ledger = ledger
        self.ssl = ssl  # an ssl.SSLContext: the station speaks TLS (tls_context)
        self.host = host
        self.port = port
        self.heartbeat_s = heartbeat_s
        self.server = None
        self.sessions = {}  # terminal id -> (session, writer) of live connections

    async def start(self):
        self.server = await asyncio.start_server(self._serve, self.host, self.port,
                                                 ssl=self.ssl)
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("station listening on %s:%d", self.host, self.port)
        return self

    async def stop(self):
        self.server.close()
        await self.server.wait_closed()

    async def _read(self, reader):
        head = await asyncio.wait_for(reader.readexactly(2), READ_TIMEOUT_S)
        n = (head[0] << 8) | head[1]
        p.check_length(n)  # an impossible length is refused before its bytes are awaited
        return head + await asyncio.wait_for(reader.readexactly(n), READ_TIMEOUT_S)

    async def _serve(self, reader, writer):
        peer = writer.get_extra_info("peername")
        terminal = None
        session = None
        try:
            nonce = os.urandom(p.NONCE_LEN)
            writer.write(p.encode(p.CHALLENGE, 0, {"nonce": nonce.hex()}, None,
                                  p.TO_TERMINAL))
            await writer.drain()
            frame = await self._read(reader)
            mtype, hello = p.peek(frame)
            if mtype != p.HELLO:
                raise Refused("first frame is not HELLO")
            terminal = hello.get("terminal")
            key = self.ledger.key_of(terminal) if isinstance(terminal, str) else None
            if key is None:
                raise Refused("unknown terminal %r" % (terminal,))
            try:
                tnonce = bytes.fromhex(hello.get("nonce", ""))
            except (TypeError, ValueError):
                raise Refused("HELLO without a nonce") from None
            candidate = p.Session(p.session_key(key, nonce, tnonce), p.TO_TERMINAL)
            candidate.decode(frame, p.FROM_TERMINAL)  # the tag: now the terminal is known
            session = candidate  # only an authenticated peer is sent anything more
            self.ledger.cards.hello(terminal, hello)  # its PSAM id: the TACs it uploads
            log.info("terminal %s connected from %s (firmware %s)", terminal, peer,
                     hello.get("firmware"))
            prices = self.ledger.prices()
            await self._send(writer, session, p.WELCOME, {
                "time": int(time.time()), "prices_version": prices["version"],
                "hotlist_version": self.ledger.hotlist_version(),
                "heartbeat_ms": int(self.heartbeat_s * 1000),
                "events_n": self.ledger.metrology.events_held(terminal)[0]})
            self.sessions[terminal] = (session, writer)
            fw, sid = hello.get("firmware"), hello.get("software_id")
            self.ledger.hello(terminal, fw if isinstance(fw, str) else None,
                              sid if isinstance(sid, str) else None,
                              int(self.heartbeat_s * 1000))
            hl = hello.get("hotlist_version")
            pv = hello.get("params_version")
            held = {"PRICES": hello.get("prices_version", 0),  # what the terminal holds
                    "HOTLIST": hl if isinstance(hl, int) else None,  # None: keeps none
                    "hl_full": None, "hl_need_full": False,
                    "PARAMS": pv if isinstance(pv, int) else 0}
            while True:
                await self.frame_in(terminal, session, writer, await self._read(reader),
                                    held)
        except (asyncio.IncompleteReadError, ConnectionError):
            if terminal:
                log.info("terminal %s disconnected", terminal)
        except TimeoutError:
            log.warning("terminal %s silent for %ds: closed", terminal or peer,
                        READ_TIMEOUT_S)
        except (p.ProtocolError, Refused) as e:
            why = getattr(e, "why", None) or str(e)
            log.warning("refused %s from %s: %s", terminal or "connection", peer, why)
            if session is not None:
                try:
                    await self._send(writer, session, p.ERROR, {"why": why})
                except (ConnectionError, p.ProtocolError):
                    pass
        finally:
            if terminal and self.sessions.get(terminal, (None, None))[1] is writer:
                del self.sessions[terminal]
            writer.close()

    async def frame_in(self, terminal, session, writer, frame, held):
        """One frame of an authenticated session: its tag and seq (ProtocolError), its
        payload's shape (Refused: nothing of it is stored), then what it asks."""
        mtype, payload = session.decode(frame, p.FROM_TERMINAL)
        check_payload(mtype, payload)
        await self._handle(terminal, session, writer, mtype, payload, held)

    async def _send(self, writer, session, mtype, payload):
        writer.write(session.encode(mtype, payload))
        await writer.drain()

    async def _handle(self, terminal, session, writer, mtype, payload, held):
        if mtype == p.HEARTBEAT:
            self.ledger.seen(terminal)
            # downloads ride on the heartbeat: a change reaches a pump within one beat
            await self._send_prices(writer, session, held, terminal)
            await self._send_params(writer, session, held)
            await self._send_hotlist(writer, session, held)
            for command_id, cmd in self.ledger.pending_commands(terminal):
                await self._send(writer, session, p.COMMAND, {"id": command_id, "cmd": cmd})
            beat = self._settled(terminal, {"time": int(time.time())})
            if self.ledger.metrology.want_reading(terminal):
                beat["totals"] = True  # a reading an hour old: a fresh one, please
            await self._send(writer, session, p.HEARTBEAT, beat)
        elif mtype == p.REPLY and payload.get("type") == "COMMAND":
            ok, why = bool(payload.get("ok")), payload.get("why") or ""
            if isinstance(payload.get("id"), int):
                self.ledger.command_done(payload["id"], ok, why, terminal)
            log.info("terminal %s: command %s %s %s", terminal, payload.get("id"),
                     "done" if ok else "refused:", why)
        elif mtype == p.REPLY and payload.get("type") == "HOTLIST":
            version = payload.get("version")
            held["HOTLIST"] = version if isinstance(version, int) else None
            if not payload.get("ok"):
                # the terminal applies all of a frame or none: the next beat goes on from
                # the version it holds (frames already sent after this one fail too: they
                # do not start there). A full list in parts starts over; a damaged list
                # takes a full one.
                if held["hl_full"] is not None or "part" in payload:
                    held["hl_need_full"] = True
                held["hl_full"] = None
                if payload.get("need_full"):
                    held["hl_need_full"] = True
                log.warning("terminal %s refused HOTLIST (holds %s): %s", terminal, version,
                            payload.get("why"))
            elif "part" not in payload or version == self.ledger.hotlist_version():
                log.info("terminal %s now holds HOTLIST version %s", terminal, version)
        elif mtype == p.REPLY and payload.get("type") == "PARAMS":
            # refused or not, not sent again in this session (a terminal that refused it
            # would refuse it at every beat); the next session tries again
            held["PARAMS"] = max(held.get("PARAMS", 0), payload.get("version") or 0)
            if payload.get("ok"):
                log.info("terminal %s now holds PARAMS version %s (%s)", terminal,
                         payload.get("version"), payload.get("why"))
            else:
                log.warning("terminal %s refused PARAMS version %s: %s", terminal,
                            payload.get("version"), payload.get("why"))
        elif mtype == p.REPLY:
            kind = payload.get("type")
            if payload.get("ok") and kind in held:
                held[kind] = payload.get("version")
                log.info("terminal %s now holds %s version %s", terminal, kind,
                         payload.get("version"))
            else:
                log.warning("terminal %s refused %s: %s", terminal, kind, payload.get("why"))
        elif mtype == p.SALES:
            records = payload.get("records")
            if not isinstance(records, list):
                raise Refused("SALES without records")
            results, ack = self.ledger.store(terminal, records)
            self.ledger.metrology.check(terminal)  # readings these records complete
            stored = sum(1 for r in results if r[1] == "stored")
            log.info("terminal %s: %d records, %d stored, %d duplicate, %d rejected",
                     terminal, len(records), stored,
                     sum(1 for r in results if r[1] == "duplicate"),
                     sum(1 for r in results if r[1] == "rejected"))
            await self._send(writer, session, p.SALES_ACK,
                             self._settled(terminal, {"results": results, "ack": ack}))
        elif mtype == p.STATUS:
            before = self.ledger.set_status(terminal, payload) or {}
            if payload.get("alarms", 0) != before.get("alarms", 0) and payload.get("alarm"):
                log.warning("terminal %s alarm: %s (%s in this boot)", terminal,
                            payload["alarm"], payload.get("alarms"))
            if payload.get("state") != before.get("state"):
                log.info("terminal %s: %s", terminal, payload.get("state"))
        elif mtype == p.GREY_QUERY:  # a card grey-locked elsewhere (station/grey.py)
            await self._send(writer, session, p.GREY_ANSWER,
                             self.ledger.cards.grey.query(terminal, payload))
        elif mtype == p.TOTALS:
            self.ledger.metrology.reading(terminal, payload)
        elif mtype == p.EVENTS:
            await self._send(writer, session, p.EVENTS_ACK,
                             self.ledger.metrology.store_events(terminal, payload["events"]))
        elif mtype == p.ERROR:
            raise Refused("terminal reported: %s" % payload.get("why"))


    async def _send_prices(self, writer, session, held, terminal):
        """The newest price table if the terminal does not hold it; one that waits for its
        time (`at`) goes after the table in force now, if the terminal lacks that too."""
        have = held["PRICES"] if isinstance(held["PRICES"], int) else 0
        prices = self.ledger.prices()
        if not prices["version"] or prices["version"] == have:
            return
        nozzles = self.ledger.params.nozzles(terminal)  # the grade of its nozzles
        if prices["at"]:
            due = self.ledger.prices(due=True)
            if due["version"] > have:
                await self._send(writer, session, p.PRICES, _with_nozzles({
                    "version": due["version"], "grades": due["grades"], "at": 0}, nozzles))
        await self._send(writer, session, p.PRICES, _with_nozzles({
            "version": prices["version"], "grades": prices["grades"], "at": prices["at"]},
            nozzles))

    async def _send_params(self, writer, session, held):
        """The newest parameter set if the terminal has not answered it yet."""
        params = self.ledger.params.current()
        if params["version"] > held.get("PARAMS", 0):
            await self._send(writer, session, p.PARAMS, params)

    def _settled(self, terminal, payload):
        """`payload` with `settled`: the terminal's escapes another terminal has settled
        and it has not closed yet (station/grey.py); left out when there are none."""
        settled = self.ledger.cards.grey.settled_elsewhere(terminal)
        if settled:
            payload["settled"] = settled
        return payload

    async def _send_hotlist(self, writer, session, held):
        """Bring the terminal's hotlist to the ledger's version: deltas from the version
        it holds, in frames of HOTLIST_CHUNK cards, or a full list in parts (staged at the
        terminal, swapped with the last) when no delta reaches back to its version or a
        delta would be longer than the list. At most HOTLIST_FRAMES_PER_BEAT frames per
        heartbeat; the rest follows with the next ones. `held` moves on as frames go
        (the terminal applies them in order); a refusal in its REPLY resets it."""
        ledger = self.ledger
        for _ in range(HOTLIST_FRAMES_PER_BEAT):
            have = held["HOTLIST"]
            full = held["hl_full"]
            if have is None:
                return
            if full is None:
                current = ledger.hotlist_version()
                if have == current and not held["hl_need_full"]:
                    return
                delta = None if held["hl_need_full"] else \
                    ledger.hotlist_delta(have, HOTLIST_CHUNK)
                if delta is not None and (ledger.hotlist_changes_since(have)
                                          <= max(ledger.hotlist_count(), HOTLIST_CHUNK)):
                    to, add, remove = delta
                    await self._send(writer, session, p.HOTLIST, {
                        "from": have, "to": to, "add": add, "remove": remove})
                    held["HOTLIST"] = to
                    continue
                full = held["hl_full"] = {"version": current, "after": "", "part": 0}
                held["hl_need_full"] = False
            cards = ledger.hotlist(full["after"], HOTLIST_CHUNK + 1)
            more = len(cards) > HOTLIST_CHUNK
            cards = cards[:HOTLIST_CHUNK]
            await self._send(writer, session, p.HOTLIST, {
                "full": full["version"], "part": full["part"], "more": more, "add": cards})
            if more:
                full["after"] = cards[-1]
                full["part"] += 1
            else:
                held["hl_full"] = None
                held["HOTLIST"] = full["version"]


def _with_nozzles(payload, nozzles):
    if nozzles:
        payload["nozzles"] = nozzles
    return payload


MAX_INT = 2**53 - 1  # a JSON integer both ends and SQLite hold exactly
MAX_DEPTH = 6
MAX_RECORDS = 64  # records in one SALES frame (the link sends 8)
MAX_EVENTS = 64  # event-log records in one EVENTS frame (the link sends 4)
IFSF_STATES = ("Inoperative", "Closed", "Idle", "Calling", "Authorised", "Started",
               "Suspended", "Fuelling", "SuspendedFuelling")
REPLY_TYPES = ("COMMAND", "PRICES", "HOTLIST", "PARAMS")
# fields of a sale record that must be what the ledger and the accounts expect, if present
_RECORD_INTS = ("seq", "sale", "ml", "amount", "pulses", "price", "time", "ttc", "ctc",
                "flags", "stop", "balance", "nozzle", "preset_ml", "preset_amount",
                "overrun_ml", "of_sale")
_RECORD_STRS = ("type", "asn", "grade", "mode", "tac", "gmac", "psam", "of_terminal",
                "by")


def _int(v, lo=0, hi=MAX_INT):
    return type(v) is int and lo <= v <= hi


def _opt(payload, name, test):
    return name not in payload or payload[name] is None or test(payload[name])


def _sane(v, depth=0):
    """JSON a terminal may send: no float (NaN, Infinity), integers within MAX_INT, no
    deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(v, dict):
        return all(_sane(x, depth + 1) for x in v.values())
    if isinstance(v, list):
        return all(_sane(x, depth + 1) for x in v)
    if isinstance(v, float):
        return False
    if isinstance(v, int) and not isinstance(v, bool):
        return -MAX_INT <= v <= MAX_INT
    return True


def check_payload(mtype, payload):
    """Refuse an authenticated payload whose shape is not the protocol's: the session is
    closed and nothing from it is stored (a well-formed record the ledger cannot take is
    answered 'rejected' instead, per record)."""
    name = p.TYPE_NAMES[mtype]
    ok = _sane(payload)
    if ok and mtype == p.HEARTBEAT:
        ok = _opt(payload, "time", _int)
    elif ok and mtype == p.STATUS:
        ok = payload.get("state") in IFSF_STATES and all(
            _opt(payload, f, _int) for f in ("nozzle", "ml", "amount", "price", "alarms")) \
            and all(_opt(payload, f, lambda v: isinstance(v, str)) for f in ("alarm", "grade"))
    elif ok and mtype == p.REPLY:
        kind = payload.get("type")
        ok = kind in REPLY_TYPES and isinstance(payload.get("ok"), bool) and \
            _opt(payload, "why", lambda v: isinstance(v, str)) and \
            _opt(payload, "version", _int) and _opt(payload, "part", _int) and \
            _opt(payload, "need_full", lambda v: isinstance(v, bool)) and \
            (kind != "COMMAND" or _int(payload.get("id")))
    elif ok and mtype == p.SALES:
        records = payload.get("records")
        ok = isinstance(records, list) and len(records) <= MAX_RECORDS and all(
            isinstance(r, dict) and _int(r.get("seq"), 1)
            and all(_opt(r, f, _int) for f in _RECORD_INTS)
            and all(_opt(r, f, lambda v: isinstance(v, str)) for f in _RECORD_STRS)
            for r in records)
    elif ok and mtype == p.GREY_QUERY:
        ok = isinstance(payload.get("asn"), str) and _opt(payload, "terminal", lambda v:
                                                          isinstance(v, str))
    elif ok and mtype == p.TOTALS:
        ok = all(_int(payload.get(f)) for f in ("nozzle", "volume_ml", "amount", "seq")) \
            and _opt(payload, "grade", lambda v: isinstance(v, str))
    elif ok and mtype == p.EVENTS:
        items = payload.get("events")
        ok = isinstance(items, list) and 0 < len(items) <= MAX_EVENTS and all(
            isinstance(r, dict) for r in items)
    elif ok and mtype == p.ERROR:
        ok = _opt(payload, "why", lambda v: isinstance(v, str))
    if not ok:
        raise Refused("malformed %s" % name)


def serve(db_path, host="127.0.0.1", port=7800, issuer_keys=None, *, tls_cert=None,
          tls_key=None):
    """`pumpside station serve`: run until interrupted. `issuer_keys`: the JSON file of
    the issuers' TAC master keys (accounts.py), never logged."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    ledger = Ledger(db_path)
    if issuer_keys:
        ledger.cards.load_keys(issuer_keys)

    async def main():
        server = await StationServer(ledger, host, port, ssl=tls_context(
            tls_cert, tls_key) if tls_cert else None).start()
        await server.server.serve_forever()

    asyncio.run(main())


def tls_context(cert, key):
    """The station's TLS server context from a certificate chain and its key (PEM files)."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class StationThread:
    """The station server on its own event loop in a thread (tests, the console)."""

    def __init__(self, ledger, port=0, heartbeat_s=10, ssl=None):
        import threading

        self.ledger = ledger
        self.port = port
        self.heartbeat_s = heartbeat_s
        self.ssl = ssl
        self.loop = asyncio.new_event_loop()
        self.server = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True, name="station")

    def _main(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            StationServer(self.ledger, port=self.port, heartbeat_s=self.heartbeat_s,
                          ssl=self.ssl).start())
        self.port = self.server.port
        self._ready.set()
        self.loop.run_forever()

    def start(self):
        self.thread.start()
        self._ready.wait(10)
        return self

    def stop(self):
        """Stop listening and drop every connection, as a station that goes down."""
        async def down():
            await self.server.stop()
            for _session, writer in list(self.server.sessions.values()):
                writer.close()
            # end every connection's task here, not later on a loop that is gone
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(down(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
