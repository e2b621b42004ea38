"""The station's asyncio TCP server: one task per terminal connection.

Each connection: CHALLENGE, an authenticated HELLO (the terminal's key from the
registry; its journal's identity, a new one raising the alarm: journals.py), WELCOME;
then the terminal's frames in order, what they number keyed by that journal. Anything
wrong - unknown terminal, bad tag, replay, oversize or truncated frame, unknown type,
silence - is refused: the reason is logged (never a key), an ERROR is sent where the
session allows, the connection is closed and nothing from that frame is stored.
"""
import asyncio
import logging
import os
import sqlite3
import time

from pumpside import protocol

from . import alerts, backup, cardinfo, pumpload
from .ledger import Ledger
from .payments.desk import desk_of
from .payments.orders import OrderError
from .problems import Invalid
from .tls import station_names, station_tls

log = logging.getLogger("pumpside.station")
READ_TIMEOUT_S = 30.0  # three missed heartbeats of 10 s: the terminal is gone
HOTLIST_CHUNK = 32  # card numbers per HOTLIST frame: ~0.7 KB of JSON (a 2.6 KB frame found
# no room in the card-sale pump's 192K heap)
HOTLIST_FRAMES_PER_BEAT = 32  # at most this many HOTLIST frames before a HEARTBEAT answer
ORDER_ALARM = "paid order"  # alarms' `what`: a pump's REPLY or FINAL the orders refuse
ORDER_RULE = "paid_order"  # its alert rule (alerts.py)


class Refused(Exception):
    pass


RECORDS_GROUP = 16  # RECORDS frames stored in one transaction at most


def _arrived(reader):
    """The type of the next frame if the whole of it has arrived already, else None.
    asyncio's StreamReader has no public call for what it holds: its `_buffer`."""
    buf = getattr(reader, "_buffer", b"")
    if len(buf) < 4 or len(buf) < 2 + ((buf[0] << 8) | buf[1]):
        return None
    return buf[3]


class StationServer:
    def __init__(self, ledger, host="127.0.0.1", port=0, heartbeat_s=10, ssl=None,
                 plain_port=None, gauge=None, gauge_every_s=60.0):
        self.ledger = ledger
        self.gauge = gauge  # "HOST:PORT" of a tank gauge polled every gauge_every_s
        self.gauge_every_s = gauge_every_s
        self.poller = None  # gauge.GaugePoller, its own task in this loop
        self.ssl = ssl  # an ssl.SSLContext: the station speaks TLS (tls.py); None: plain
        self.host = host
        self.port = port
        self.plain_port = plain_port  # a second, plain TCP port beside the TLS one, if set
        self.heartbeat_s = heartbeat_s
        self.server = None
        self.plain_server = None
        self.sessions = {}  # terminal id -> (session, writer) of live connections
        self.timer = None  # the alert engine's timer task
        self.service = None  # the service layer the till's holds go through (made at need)

    async def start(self):
        self.server = await asyncio.start_server(self._serve, self.host, self.port,
                                                 ssl=self.ssl)
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("station listening on %s:%d (%s)", self.host, self.port,
                 "TLS" if self.ssl else "PLAIN TCP, unencrypted")
        if self.plain_port is not None:
            self.plain_server = await asyncio.start_server(self._serve, self.host,
                                                           self.plain_port)
            self.plain_port = self.plain_server.sockets[0].getsockname()[1]
            log.warning("station listening on %s:%d in PLAIN TCP, unencrypted: for "
                        "terminals set to station_tls=0", self.host, self.plain_port)
        self.timer = asyncio.ensure_future(self._alert_timer())
        desk_of(self.ledger)  # paid orders' sweeper (payments/desk.py)
        if self.gauge:
            from .gauge import GaugePoller, parse_address

            host, port = parse_address(self.gauge)
            self.poller = GaugePoller(self.ledger, host, port, self.gauge_every_s).start()
            log.info("tank gauge %s polled every %g s", self.gauge, self.gauge_every_s)
        return self

    async def _alert_timer(self):
        """The alert engine's timer (alerts.py: pumps offline for long)."""
        while True:
            await asyncio.sleep(alerts.TICK_S)
            try:
                self.ledger.alerts.tick()
            except sqlite3.Error as e:  # a busy store: the next tick tries again
                log.warning("alert timer: %s", e)
            except Exception:  # never the end of the timer (nor of the station)
                log.exception("alert timer")

    async def stop(self):
        if self.timer is not None:
            self.timer.cancel()
        if self.poller is not None and self.poller.task is not None:
            self.poller.task.cancel()
        for server in (self.server, self.plain_server):
            if server is not None:
                server.close()
                await server.wait_closed()

    async def _read(self, reader):
        head = await asyncio.wait_for(reader.readexactly(2), READ_TIMEOUT_S)
        n = (head[0] << 8) | head[1]
        protocol.check_length(n)  # an impossible length is refused before its bytes are awaited
        return head + await asyncio.wait_for(reader.readexactly(n), READ_TIMEOUT_S)

    async def _serve(self, reader, writer):
        peer = writer.get_extra_info("peername")
        link = "plain" if writer.get_extra_info("ssl_object") is None else "tls"
        terminal = None
        conn = None
        try:
            nonce = os.urandom(protocol.NONCE_LEN)
            writer.write(protocol.encode(protocol.CHALLENGE, 0, {"nonce": nonce.hex()}, None,
                                  protocol.TO_TERMINAL))
            await writer.drain()
            frame = await self._read(reader)
            mtype, hello = protocol.peek(frame)
            if mtype != protocol.HELLO:
                raise Refused("first frame is not HELLO")
            protocol.check(protocol.HELLO, hello)  # its shape, before anything in it is used
            terminal = hello["terminal"]
            key = self.ledger.key_of(terminal)
            if key is None:
                raise Refused("unknown terminal %r" % (terminal,))
            session = protocol.Session(
                protocol.session_key(key, nonce, bytes.fromhex(hello["nonce"])),
                protocol.TO_TERMINAL)
            session.decode(frame, protocol.FROM_TERMINAL)  # the tag: now the terminal is known
            # only an authenticated peer has a connection: is sent anything more
            journals = self.ledger.journals
            conn = Connection(terminal, session, writer, hello,
                              journals.seen(terminal, hello.get("journal")))
            if hello.get("station") != journals.station_id():
                # its versions were another station's (a database rebuilt numbers its own
                # from 1): all of this one's downloads go to it
                conn.stale_downloads()
            self.ledger.cards.hello(terminal, hello)  # its PSAM id: the TACs it uploads
            log.info("terminal %s connected from %s over %s (firmware %s, journal %s)",
                     terminal, peer, "TLS" if link == "tls" else "PLAIN TCP",
                     hello.get("firmware"), conn.journal or "(none)")
            prices = self.ledger.prices()
            await self._send(writer, session, protocol.WELCOME, {
                "time": int(time.time()), "prices_version": prices["version"],
                "hotlist_version": self.ledger.hotlist_version(),
                "heartbeat_ms": int(self.heartbeat_s * 1000),
                "events_n": self.ledger.metrology.events_held(terminal, conn.journal)[0],
                "held": journals.held(terminal, conn.journal),
                "station": journals.station_id(), "loyalty": True})
            self.sessions[terminal] = (session, writer)
            resets = hello.get("wdt_resets")
            before = self.ledger.hello(terminal, hello.get("firmware"),
                                       hello.get("software_id"),
                                       int(self.heartbeat_s * 1000), resets, link,
                                       hello.get("journal_seq"))
            if resets and resets != before:
                log.warning("terminal %s: its watchdog reset it (%d so far)", terminal, resets)
            while True:
                frame = await self._read(reader)
                if frame[3] == protocol.RECORDS:  # its type (authenticated by decode)
                    await self.records_in(conn, frame, reader)
                else:
                    await self.frame_in(conn, frame)
        except (asyncio.IncompleteReadError, ConnectionError):
            if terminal:
                log.info("terminal %s disconnected", terminal)
        except TimeoutError:
            log.warning("terminal %s silent for %ds: closed", terminal or peer,
                        READ_TIMEOUT_S)
        except asyncio.CancelledError:  # the station stops: the connection ends here (a
            # cancelled connection task, with TLS still closing, would be logged as an
            # unhandled exception by CPython 3.11's streams)
            log.info("connection of %s dropped: the station stops", terminal or peer)
        except (protocol.ProtocolError, Refused) as e:
            why = getattr(e, "why", None) or str(e)
            log.warning("refused %s from %s: %s", terminal or "connection", peer, why)
            if conn is not None:
                try:
                    await self._send(writer, conn.session, protocol.ERROR, {"why": why})
                except (ConnectionError, protocol.ProtocolError):
                    pass
        finally:
            if terminal and self.sessions.get(terminal, (None, None))[1] is writer:
                del self.sessions[terminal]
            writer.close()

    async def frame_in(self, conn, frame):
        """One frame of an authenticated session: its tag and seq, its payload's shape
        (protocol.check; ProtocolError: nothing of it is stored), then what it asks."""
        mtype, payload = conn.session.decode(frame, protocol.FROM_TERMINAL)
        protocol.check(mtype, payload)
        await self._handle(conn, mtype, payload)

    async def records_in(self, conn, frame, reader):
        """A RECORDS frame and those right behind it that have arrived already (the terminal keeps
        several in flight): each decoded and checked like any frame, all stored in one
        transaction (one commit), then a SALES_ACK for each, in order, whose `results`
        name only the records answered conflict or rejected (the rest are held: `ack`
        says up to where); the last one lists the escapes settled elsewhere. A frame
        refused stops there: those before it are stored and answered first."""
        frames = [frame]
        while len(frames) < RECORDS_GROUP and _arrived(reader) == protocol.RECORDS:
            frames.append(await self._read(reader))
        batches = []
        refused = None
        for frame in frames:
            try:
                mtype, payload = conn.session.decode(frame, protocol.FROM_TERMINAL)
                protocol.check(mtype, payload)
            except protocol.ProtocolError as e:
                refused = e
                break
            batches.append(payload["records"])
        if batches:
            terminal = conn.terminal
            stored = self.ledger.store_batches(terminal, batches, conn.journal)
            acks = [ack for _results, ack in stored]
            self.ledger.metrology.check(terminal, conn.journal, max(acks))
            self._paid_sales(conn, batches)
            self._till(terminal)
            last = len(batches) - 1
            for i, (records, (results, ack)) in enumerate(zip(batches, stored)):
                self._log_batch(terminal, records, results)
                results = [r for r in results if r[1] == "conflict" or r[1] == "rejected"]
                answer = {"results": results, "ack": ack}
                await self._send(conn.writer, conn.session, protocol.SALES_ACK,
                                 self._settled(conn, answer) if i == last else answer)
        if refused is not None:
            raise refused

    def _till(self, terminal):
        """The till's hold of a pump with an unpaid sale (till.py: suspend it while the
        setting is on; resume it once paid), through the service layer (audited)."""
        from .service import Service

        if self.service is None:
            self.service = Service(self.ledger)
        try:
            cmd = self.service.till_arrived(terminal)
        except (ValueError, sqlite3.Error) as e:  # the sales are stored: the next batch
            log.warning("%s: the till's hold: %s", terminal, e)  # or the till tries again
            return
        if cmd:
            log.info("%s: %s by the till (an unpaid sale)", terminal, cmd)

    async def _send(self, writer, session, mtype, payload):
        writer.write(session.encode(mtype, payload))
        await writer.drain()

    async def _handle(self, conn, mtype, payload):
        handler = self.HANDLERS.get(mtype)  # a HELLO again is let be
        if handler is not None:
            await handler(self, conn, payload)

    # -- the terminal's frames, each with a checked payload ---------------------------------
    async def _heartbeat(self, conn, payload):
        terminal = conn.terminal
        self.ledger.seen(terminal)
        # downloads ride on the heartbeat: a change reaches a pump within one beat
        sent = await self._send_prices(conn)
        sent = await self._send_params(conn) or sent
        sent = await self._send_hotlist(conn) or sent
        for command_id, cmd in self.ledger.pending_commands(terminal):
            await self._send(conn.writer, conn.session, protocol.COMMAND,
                             {"id": command_id, "cmd": cmd})
        await self._send_authorizations(conn)
        beat = self._settled(conn, {"time": int(time.time())})
        station = self.ledger.journals.station_id()
        if conn.station != station and not sent and self._downloads_held(conn):
            beat["station"] = station  # the terminal names it in its next HELLOs
            conn.station = station
        if self.ledger.metrology.want_reading(terminal):
            beat["totals"] = True  # a reading an hour old: a fresh one, please
        await self._send(conn.writer, conn.session, protocol.HEARTBEAT, beat)

    async def _reply(self, conn, payload):
        if payload["type"] == "AUTHORIZE":
            await self._authorize_reply(conn, payload)
            return
        self.REPLIES[payload["type"]](self, conn, payload)

    # -- paid orders (payments/): AUTHORIZE, the pump's REPLY, its FINAL --------------------
    async def _send_authorizations(self, conn):
        """AUTHORIZE of each paid order this pump is to be sent (Payments.authorizations:
        however the order was paid), while its link waits for the heartbeat's answer."""
        desk = desk_of(self.ledger)
        try:
            payloads = await desk.call("authorizations", conn.terminal)
        except (OrderError, sqlite3.Error) as e:  # the next beat tries again
            log.warning("terminal %s: paid orders not sent: %s", conn.terminal, e)
            return
        for payload in payloads:
            await self._send(conn.writer, conn.session, protocol.AUTHORIZE, payload)
            log.info("terminal %s: AUTHORIZE order %s (%d, nozzle %d)", conn.terminal,
                     payload["order"], payload["amount"], payload["nozzle"])

    async def _authorize_reply(self, conn, payload):
        order_no, ok, why = payload["order"], payload["ok"], payload.get("why") or ""
        (log.info if ok else log.warning)("terminal %s: AUTHORIZE order %s %s %s",
                                          conn.terminal, order_no,
                                          "taken" if ok else "refused:", why)
        desk = desk_of(self.ledger)
        try:
            await desk.call("answered", order_no, ok, why)
        except OrderError as e:  # not this station's order, or already settled otherwise
            log.warning("terminal %s: %s", conn.terminal, e)  # the alert's rule may be off
            self.ledger.alerts.raise_(ORDER_RULE, conn.terminal, str(e), what=ORDER_ALARM)

    def _paid_sales(self, conn, batches):
        """The FINALs of paid orders among stored records (or duplicates: settling the
        same sale again changes nothing): each settled on the payment desk, in order."""
        finals = [(r["order"], r["amount"]) for records in batches for r in records
                  if r.get("type") == "FINAL" and r.get("order")]
        if finals:
            asyncio.ensure_future(self._delivered(conn.terminal, finals))

    async def _delivered(self, terminal, finals):
        desk = desk_of(self.ledger)
        for order_no, amount in finals:
            try:
                order = await desk.call("delivered", order_no, amount)
            except OrderError as e:
                log.warning("terminal %s: %s", terminal, e)  # the alert's rule may be off
                self.ledger.alerts.raise_(ORDER_RULE, terminal, str(e), what=ORDER_ALARM)
                continue
            except Exception:  # noqa: BLE001 - the gateway failed for good: the order
                # shows its last error; the sweep has nothing more to try
                log.exception("terminal %s: order %s", terminal, order_no)
                continue
            log.info("terminal %s: order %s %s: captured %s, refunded %s", terminal,
                     order_no, order["state"], order["captured"], order["refunded"])

    def _command_reply(self, conn, payload):
        ok, why = payload["ok"], payload.get("why") or ""
        self.ledger.command_done(payload["id"], ok, why, conn.terminal)
        log.info("terminal %s: command %s %s %s", conn.terminal, payload["id"],
                 "done" if ok else "refused:", why)

    def _hotlist_reply(self, conn, payload):
        version = payload.get("version")
        conn.holds_hotlist(version)
        if not payload["ok"]:
            conn.hotlist_refused("part" in payload, payload.get("need_full"))
            log.warning("terminal %s refused HOTLIST (holds %s): %s", conn.terminal, version,
                        payload.get("why"))
        elif "part" not in payload or version == self.ledger.hotlist_version():
            log.info("terminal %s now holds HOTLIST version %s", conn.terminal, version)

    def _params_reply(self, conn, payload):
        conn.holds_params(payload.get("version") or 0, payload["ok"])
        if payload["ok"]:
            log.info("terminal %s now holds PARAMS version %s (%s)", conn.terminal,
                     payload.get("version"), payload.get("why"))
        else:
            log.warning("terminal %s refused PARAMS version %s: %s", conn.terminal,
                        payload.get("version"), payload.get("why"))

    def _prices_reply(self, conn, payload):
        if payload["ok"]:
            conn.holds_prices(payload.get("version") or 0)
            log.info("terminal %s now holds PRICES version %s", conn.terminal,
                     payload.get("version"))
        else:
            log.warning("terminal %s refused PRICES: %s", conn.terminal, payload.get("why"))

    async def _sales(self, conn, payload):
        """SALES, or RECORDS (the same records, sent in their journal bytes: protocol.py
        has decoded and CRC-checked them with the firmware's record module)."""
        terminal = conn.terminal
        records = payload["records"]
        results, ack = self.ledger.store(terminal, records, conn.journal)
        self.ledger.metrology.check(terminal, conn.journal)  # readings these complete
        self._paid_sales(conn, [records])
        self._till(terminal)
        self._log_batch(terminal, records, results)
        await self._send(conn.writer, conn.session, protocol.SALES_ACK,
                         self._settled(conn, {"results": results, "ack": ack}))

    def _log_batch(self, terminal, records, results):
        if log.isEnabledFor(logging.INFO):
            log.info("terminal %s: %d records, %d stored, %d duplicate, %d conflict, "
                     "%d rejected", terminal, len(records),
                     *[sum(1 for r in results if r[1] == what)
                       for what in ("stored", "duplicate", "conflict", "rejected")])

    async def _status(self, conn, payload):
        terminal = conn.terminal
        before = self.ledger.set_status(terminal, payload) or {}
        if payload.get("alarms", 0) != before.get("alarms", 0) and payload.get("alarm"):
            log.warning("terminal %s alarm: %s (%s in this boot)", terminal,
                        payload["alarm"], payload.get("alarms"))
        if payload["state"] != before.get("state"):
            log.info("terminal %s: %s", terminal, payload["state"])

    async def _grey_query(self, conn, payload):
        """A card grey-locked elsewhere (station/grey.py)."""
        await self._send(conn.writer, conn.session, protocol.GREY_ANSWER,
                         self.ledger.cards.grey.query(conn.terminal, payload))

    async def _card_info(self, conn, payload):
        """A card read at the pump: what the station holds for it (cardinfo.py)."""
        await self._send(conn.writer, conn.session, protocol.CARD_ANSWER,
                         cardinfo.answer(self.ledger, conn.terminal, payload))

    async def _load(self, conn, payload):
        """A load at the pump: MAC2, or why not (pumpload.py)."""
        await self._send(conn.writer, conn.session, protocol.LOAD_ANSWER,
                         pumpload.load(self.ledger, conn.terminal, payload))
    async def _rewards(self, conn, payload):
        """A card's points, rewards, pending vouchers and earning rules, asked by the pump
        after the card's PIN (loyalty.offer). A card number that is not one is answered
        with nothing on offer. The voucher the pump takes is held for it (a write)."""
        loyalty = self.ledger.loyalty
        try:
            with self.ledger.transaction():
                answer = loyalty.offer(payload["asn"], payload.get("card_type") or 0,
                                       conn.terminal)
        except Invalid:
            answer = {"asn": payload["asn"], "points": 0, "rewards": []}
        await self._send(conn.writer, conn.session, protocol.REWARDS_ANSWER, answer)

    async def _redeem(self, conn, payload):
        """Points spent on a reward at the pump, once per redemption id (the pump sends the
        same id again after a lost answer: the first result is answered again)."""
        with self.ledger.transaction():
            answer = self.ledger.loyalty.redeem_at_pump(conn.terminal, payload["asn"],
                                                        payload["reward"],
                                                        payload["redemption_id"])
        log.info("terminal %s: redemption %s %s%s", conn.terminal, payload["redemption_id"],
                 answer["status"], "" if answer["status"] == "ok" else
                 " (%s)" % answer.get("why"))
        await self._send(conn.writer, conn.session, protocol.REDEEM_ANSWER, answer)

    async def _totals(self, conn, payload):
        self.ledger.metrology.reading(conn.terminal, payload, journal=conn.journal)

    async def _events(self, conn, payload):
        metrology = self.ledger.metrology
        held = metrology.events_held(conn.terminal, conn.journal)[0]
        answer = metrology.store_events(conn.terminal, payload["events"], conn.journal)
        if answer["n"] > held:  # records new to the station: the alert rules (wrong PINs)
            self.ledger.alerts.events(conn.terminal, payload["events"], held)
        await self._send(conn.writer, conn.session, protocol.EVENTS_ACK, answer)

    async def _error(self, conn, payload):
        raise Refused("terminal reported: %s" % payload.get("why"))

    HANDLERS = {protocol.HEARTBEAT: _heartbeat, protocol.REPLY: _reply,
                protocol.SALES: _sales, protocol.RECORDS: _sales, protocol.STATUS: _status,
                protocol.GREY_QUERY: _grey_query, protocol.TOTALS: _totals,
                protocol.EVENTS: _events, protocol.ERROR: _error,
                protocol.CARD_INFO: _card_info, protocol.LOAD: _load,
                protocol.REWARDS: _rewards, protocol.REDEEM: _redeem}
    REPLIES = {"COMMAND": _command_reply, "HOTLIST": _hotlist_reply,
               "PARAMS": _params_reply, "PRICES": _prices_reply}  # by the REPLY's type

    # -- downloads ---------------------------------------------------------------------------
    async def _send_prices(self, conn):
        """The newest price table if the terminal does not hold it; one that waits for its
        time (`at`) goes after the table in force now, if the terminal lacks that too.
        True when one went."""
        have = conn.prices_version
        prices = self.ledger.prices()
        if not prices["version"] or prices["version"] == have:
            return False
        nozzles = self.ledger.params.nozzles(conn.terminal)  # the grade of its nozzles
        if prices["at"]:
            due = self.ledger.prices(due=True)
            if due["version"] > have:
                await self._send(conn.writer, conn.session, protocol.PRICES, _with_nozzles({
                    "version": due["version"], "grades": due["grades"], "at": 0}, nozzles))
        await self._send(conn.writer, conn.session, protocol.PRICES, _with_nozzles({
            "version": prices["version"], "grades": prices["grades"], "at": prices["at"]},
            nozzles))
        return True

    async def _send_params(self, conn):
        """The newest parameter set if the terminal has not answered it yet (True: sent)."""
        params = self.ledger.params.current()
        if params["version"] > conn.params_version:
            await self._send(conn.writer, conn.session, protocol.PARAMS, params)
            return True
        return False

    def _downloads_held(self, conn):
        """The terminal holds this station's price table, parameters and hotlist version
        (or keeps no hotlist): none of the version numbers it would name in HELLO is
        another station's. A station that has no price table or parameters yet leaves
        another station's there: it is not named until it has sent its own."""
        ledger = self.ledger
        prices = ledger.prices()["version"]
        params = ledger.params.current()["version"]
        foreign_prices, foreign_params = conn.foreign
        return conn.prices_version == prices and (prices or not foreign_prices) and \
            conn.params_version >= params and (params or not foreign_params) and \
            not conn.params_refused and \
            (conn.hotlist_version is None or conn.hotlist_version == ledger.hotlist_version()
             and conn.full_version is None and not conn.need_full)

    def _settled(self, conn, payload):
        """`payload` with `settled`: the escapes of the terminal's journal another
        terminal has settled and it has not closed yet (station/grey.py); left out when
        there are none."""
        settled = self.ledger.cards.grey.settled_elsewhere(conn.terminal, conn.journal)
        if settled:
            payload["settled"] = settled
        return payload

    async def _send_hotlist(self, conn):
        """Bring the terminal's hotlist to the ledger's version: deltas from the version
        it holds, in frames of HOTLIST_CHUNK cards, or a full list in parts (staged at the
        terminal, swapped with the last) when no delta reaches back to its version or a
        delta would be longer than the list. At most HOTLIST_FRAMES_PER_BEAT frames per
        heartbeat; the rest follows with the next ones. The connection's hotlist version
        moves on as frames go (the terminal applies them in order); a refusal in its REPLY
        resets it. True when a frame went."""
        ledger = self.ledger
        sent = False
        for _ in range(HOTLIST_FRAMES_PER_BEAT):
            have = conn.hotlist_version
            if have is None:
                return sent
            if conn.full_version is None:
                current = ledger.hotlist_version()
                if have == current and not conn.need_full:
                    return sent
                delta = None if conn.need_full else ledger.hotlist_delta(have, HOTLIST_CHUNK)
                if delta is not None and (ledger.hotlist_changes_since(have)
                                          <= max(ledger.hotlist_count(), HOTLIST_CHUNK)):
                    to, add, remove = delta
                    await self._send(conn.writer, conn.session, protocol.HOTLIST, {
                        "from": have, "to": to, "add": add, "remove": remove})
                    conn.holds_hotlist(to)
                    sent = True
                    continue
                conn.start_full(current)
            cards = ledger.hotlist(conn.full_after, HOTLIST_CHUNK + 1)
            more = len(cards) > HOTLIST_CHUNK
            cards = cards[:HOTLIST_CHUNK]
            await self._send(conn.writer, conn.session, protocol.HOTLIST, {
                "full": conn.full_version, "part": conn.full_part, "more": more,
                "add": cards})
            conn.part_sent(cards[-1] if more else None)
            sent = True
        return sent


class Connection:
    """One terminal's authenticated connection: its id, journal, session and writer, and
    what it holds as far as this session knows - each download's version (from its HELLO,
    then moved by what is sent and by its REPLYs), the station it names as theirs, and a
    full hotlist on its way in parts."""

    def __init__(self, terminal, session, writer, hello, journal=""):
        self.terminal = terminal
        self.journal = journal  # its journal's identity ('': its firmware tells none)
        self.station = hello.get("station")  # whose downloads it holds
        self.session = session
        self.writer = writer
        self.prices_version = hello.get("prices_version", 0)
        self.hotlist_version = hello.get("hotlist_version")  # None: it keeps none
        self.params_version = hello.get("params_version", 0)
        self.foreign = (0, 0)  # its prices and params versions, when another station's
        self.params_refused = False  # a PARAMS it refused in this session
        self.full_version = None  # a full hotlist going out in parts, of this version,
        self.full_after = ""  # its cards after this one next,
        self.full_part = 0  # as this part
        self.need_full = False  # no delta can bring its hotlist up: a full list

    def stale_downloads(self):
        """Its versions were issued by another station: whatever it holds, this station's
        prices, parameters and a full hotlist go to it (a list of version 0 is none: the
        deltas from 0 are the whole list)."""
        self.foreign = (self.prices_version, self.params_version)
        self.prices_version = 0
        self.params_version = 0
        if self.hotlist_version:
            self.need_full = True

    def holds_prices(self, version):
        self.prices_version = version

    def holds_params(self, version, ok=True):
        """Refused or not, a version is not sent again in this session (a terminal that
        refused it would refuse it at every beat); the next session tries again."""
        self.params_version = max(self.params_version, version)
        if not ok:
            self.params_refused = True

    def holds_hotlist(self, version):
        """What the terminal's REPLY says it holds, or what a delta just sent brings it
        to (a refusal of it says otherwise)."""
        self.hotlist_version = version

    def start_full(self, version):
        self.full_version = version
        self.full_after = ""
        self.full_part = 0
        self.need_full = False

    def part_sent(self, last_card):
        """A part of the full list went; `last_card` None: it was the last."""
        if last_card is not None:
            self.full_after = last_card
            self.full_part += 1
        else:
            self.hotlist_version = self.full_version
            self.full_version = None

    def hotlist_refused(self, in_parts, need_full):
        """The terminal applies all of a frame or none: the next beat goes on from the
        version it holds (frames already sent after this one fail too: they do not start
        there). A full list in parts starts over; a damaged list takes a full one."""
        if self.full_version is not None or in_parts:
            self.need_full = True
        self.full_version = None
        if need_full:
            self.need_full = True


def _with_nozzles(payload, nozzles):
    if nozzles:
        payload["nozzles"] = nozzles
    return payload


SYSTEM_BACKUP = "system:backup"  # the operator the station's scheduled backups are made as


async def scheduled_backups(ledger, folder, every_s, keep=None):
    """`station serve --backup-dir`: a verified backup into `folder` every `every_s`
    seconds (the first one after `every_s`), with `keep` retention, audited as
    SYSTEM_BACKUP. The copy is made off the loop (backup.make reads its own snapshot), so
    the terminals are served meanwhile; a backup that fails raises the backup_failed
    alert and the next one is tried at its time."""
    from .service import Actor, Service

    service = Service(ledger)
    actor = Actor(SYSTEM_BACKUP, "administrator")
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every_s)
        try:
            made = await loop.run_in_executor(None, backup.make, ledger.path, folder, keep)
        except backup.BackupError as e:
            log.error("scheduled backup failed: %s", e)
            service.backup_failed(str(e))
            continue
        service.backed_up(actor, made)
        log.info("scheduled backup %s (%d rows)%s", made["path"], sum(made["rows"].values()),
                 ", removed %d older" % len(made["removed"]) if made["removed"] else "")


def serve(db_path, host="127.0.0.1", port=7800, issuer_keys=None, *, tls_cert=None,
          tls_key=None, tls_names=(), plain_port=None, web_host="127.0.0.1", web_port=8080,
          gauge=None, gauge_every_s=60.0, backup_dir=None, backup_every_s=86400.0,
          backup_keep=None):
    """`pumpside station serve`: run until interrupted. `issuer_keys`: the JSON file of
    the issuers' TAC master keys (accounts.py), never logged. The port speaks TLS: with
    the station's own CA and certificate (tls.py: made at the first start in
    `<db>.tls/`, for the station's names and `tls_names`), or with the certificate and
    key files given. `plain_port`: plain TCP there as well, only when asked for. The back
    office (web/) runs in the same loop on `web_host`:`web_port` (None: not at all).
    `gauge`: HOST:PORT of a tank gauge polled every `gauge_every_s` (gauge.py).
    `backup_dir`: a verified backup there every `backup_every_s`, the `backup_keep` newest
    kept (scheduled_backups)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if tls_cert:
        ssl = tls_context(tls_cert, tls_key)
    else:
        own = station_tls(db_path)
        ssl = own.context(station_names(host, tls_names))
        log.info("station TLS: its CA in %s (pinned on the terminals by `pumpside "
                 "provision`), its certificate for %s", own.folder, ", ".join(own.names()))
    held = backup.hold(db_path)  # `station restore` refuses while this station runs
    ledger = Ledger(db_path)
    if issuer_keys:
        ledger.cards.load_keys(issuer_keys)

    async def main():
        server = await StationServer(ledger, host, port, ssl=ssl, plain_port=plain_port,
                                     gauge=gauge, gauge_every_s=gauge_every_s).start()
        if web_port is not None:
            from .web import WebServer

            web = await WebServer(ledger, web_host, web_port).start()
            log.info("back office on %s (operators: `pumpside station operator-add`)",
                     web.address())
        if backup_dir is not None:
            asyncio.ensure_future(scheduled_backups(ledger, backup_dir, backup_every_s,
                                                    backup_keep))
            log.info("a backup into %s every %g h%s", backup_dir, backup_every_s / 3600,
                     ", the %d newest kept" % backup_keep if backup_keep else "")
        await server.server.serve_forever()

    try:
        asyncio.run(main())
    finally:
        held.close()


def tls_context(cert, key):
    """The station's TLS server context from a certificate chain and its key (PEM files)."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class StationThread:
    """The station server on its own event loop in a thread (tests, the console). Like
    `station serve` it speaks TLS with the station's own CA and certificate (made in
    `<db>.tls/` at the first start, for 127.0.0.1), unless given another context (`ssl`)
    or asked for plain TCP (`plain`); `plain_port`: plain TCP there as well (0: any);
    `web_port`: the back office in the same loop on 127.0.0.1 there (0: any); `gauge`:
    HOST:PORT of a tank gauge polled every `gauge_every_s`. While it runs it holds the
    store's lock as `station serve` does (`station restore` refuses)."""

    def __init__(self, ledger, port=0, heartbeat_s=10, ssl=None, plain_port=None,
                 plain=False, web_port=None, gauge=None, gauge_every_s=60.0):
        import threading

        self.ledger = ledger
        self.gauge = gauge
        self.gauge_every_s = gauge_every_s
        self.port = port
        self.plain_port = plain_port
        self.heartbeat_s = heartbeat_s
        self.web_port = web_port
        self.web = None
        self._held = None  # the store's lock while it runs (start, stop)
        if ssl is None and not plain:
            ssl = station_tls(ledger.path).context(["127.0.0.1"])
        self.ssl = ssl
        self.loop = asyncio.new_event_loop()
        self.server = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True, name="station")

    def _main(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            StationServer(self.ledger, port=self.port, heartbeat_s=self.heartbeat_s,
                          ssl=self.ssl, plain_port=self.plain_port, gauge=self.gauge,
                          gauge_every_s=self.gauge_every_s).start())
        self.port = self.server.port
        self.plain_port = self.server.plain_port
        if self.web_port is not None:
            from .web import WebServer

            self.web = self.loop.run_until_complete(
                WebServer(self.ledger, "127.0.0.1", self.web_port).start())
            self.web_port = self.web.port
        self._ready.set()
        self.loop.run_forever()

    def start(self):
        self._held = backup.hold(self.ledger.path)
        self.thread.start()
        self._ready.wait(10)
        return self

    def stop(self):
        """Stop listening and drop every connection, as a station that goes down."""
        async def down():
            if self.web is not None:
                await self.web.stop()
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
        self._held.close()
