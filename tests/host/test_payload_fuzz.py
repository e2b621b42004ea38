"""Authenticated payloads at both ends. Random JSON in frames with a correct tag and seq:
the station refuses it (ProtocolError or Refused: logged, the connection closed, nothing
stored); the terminal's link ends the session (LinkError, ProtocolError) and its journal
is untouched. Anything else - a crash in the handler, a row stored - fails. And every
payload protocol.SHAPES describes, of every type, is taken by the end that receives it."""
import asyncio
import json
import logging
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_protocol_props import payload_of
from test_station import Terminal, _sale, run

from fakes import FakeBoard
from pumpside import app, config, journal
from pumpside import link as lk
from pumpside import protocol as p
from pumpside_host.station import server as sv
from pumpside_host.station.ledger import Ledger

KEY = b"k" * 32
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
FIELDS = ["type", "id", "ok", "why", "version", "records", "seq", "sale", "ml", "amount",
          "asn", "state", "time", "ack", "results", "cmd", "grades", "at", "add", "remove",
          "from", "to", "full", "part", "more", "nozzle", "alarm", "alarms"]
payloads = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), json_values,
                           max_size=6)


class Writer:
    def __init__(self):
        self.out = []

    def write(self, data):
        self.out.append(data)

    async def drain(self):
        pass

    def close(self):
        pass


def _rows(ledger):
    return [ledger.db.execute("SELECT COUNT(*) FROM " + t).fetchone()[0]
            for t in ("sales", "events", "commands")] + [ledger.db.execute(
                "SELECT status FROM pumps").fetchall()]


@pytest.fixture(scope="module")
def station():
    root = tempfile.mkdtemp(prefix="pumpside-fuzz-")
    ledger = Ledger(root + "/station.db")
    ledger.add_terminal("T1", KEY)
    yield ledger
    ledger.close()
    shutil.rmtree(root, ignore_errors=True)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([t for t in p.FROM_TERMINAL if t != p.HELLO]), payloads)
def test_station_handler_only_refuses_malformed_authenticated_payloads(station, mtype,
                                                                         payload):
    server = sv.StationServer(station)
    term = p.Session(KEY, p.TO_STATION)
    sess = p.Session(KEY, p.TO_TERMINAL)
    conn = sv.Connection("T1", sess, Writer(), {})
    before = _rows(station)
    frame = term.encode(mtype, payload)
    try:
        asyncio.run(server.frame_in(conn, frame))
    except (sv.Refused, p.ProtocolError):
        assert _rows(station) == before  # refused: nothing of it stored
        return
    assert station.db.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == before[0]


def _link():
    root = tempfile.mkdtemp(prefix="pumpside-fuzz-")
    sales_journal = journal.Journal(root + "/journal")
    sales_journal.open()
    for i in range(3):  # three sales the station has not acknowledged
        sales_journal.event(1_700_000_000 + i, journal.EV_UNLOCK)
    cfg = config.parse(json.dumps({
        "grade": "92", "price": 7590, "k_factor": 100000, "slow_lead_ml": 100,
        "service_pin": "2468", "terminal_id": "T1", "station_addr": "127.0.0.1:1",
        "terminal_key": KEY.hex()}))
    board = FakeBoard()
    pump = app.Pump(board, cfg, sales_journal)
    link = lk.Link(sales_journal, cfg, board.clock, pump)
    pump.link = link
    return root, sales_journal, link


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data(), st.sampled_from([t for t in p.FROM_TERMINAL if t != p.RECORDS]))
def test_station_takes_every_payload_the_table_describes(station, data, mtype):
    # RECORDS: its line is what its binary payload decodes to (test_record_wire_props)
    payload = data.draw(payload_of(p.TYPE_NAMES[mtype]))
    server = sv.StationServer(station)
    conn = sv.Connection("T1", p.Session(KEY, p.TO_TERMINAL), Writer(), {})
    frame = p.Session(KEY, p.TO_STATION).encode(mtype, payload)
    if mtype == p.HELLO:  # checked on its own, before the session is made
        p.check(mtype, payload)
        sv.Connection("T1", conn.session, Writer(), payload)
    elif mtype == p.ERROR:
        with pytest.raises(sv.Refused, match="terminal reported"):  # it ends the session
            asyncio.run(server.frame_in(conn, frame))
    else:
        asyncio.run(server.frame_in(conn, frame))


@settings(max_examples=200, deadline=None)
@given(st.data(), st.sampled_from(p.FROM_STATION))
def test_link_takes_every_payload_the_table_describes(data, mtype):
    payload = data.draw(payload_of(p.TYPE_NAMES[mtype]))
    station = p.Session(KEY, p.TO_TERMINAL)
    if mtype == p.CHALLENGE:
        p.terminal_session(KEY, p.encode(mtype, 0, payload, None, p.TO_TERMINAL), b"T" * 16)
        return
    root, _jr, link = _link()
    try:
        async def go():
            reader = asyncio.StreamReader()
            reader.feed_data(station.encode(mtype, payload))
            downloaded = mtype in lk.Link.DOWNLOADS
            if downloaded:  # applied and answered while the link waits for a beat
                reader.feed_data(station.encode(p.HEARTBEAT, {"time": 1_700_000_000}))
            reader.feed_eof()
            link.timeout_s = 1
            term = p.Session(KEY, p.TO_STATION)
            if mtype == p.SALES_ACK:  # the answer to a SALES batch
                await link._upload(reader, Writer(), term)
            else:
                await link._expect(reader, term, p.HEARTBEAT if downloaded else mtype,
                                   Writer())
        asyncio.run(go())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _journal_bytes(root):
    out = {}
    for name in sorted(os.listdir(root + "/journal")):
        with open(root + "/journal/" + name, "rb") as f:
            out[name] = f.read()
    return out


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([t for t in p.FROM_STATION if t != p.CHALLENGE]), payloads,
       st.booleans())
def test_link_only_ends_the_session_on_malformed_station_payloads(mtype, payload, upload):
    root, sales_journal, link = _link()
    try:
        before = _journal_bytes(root)
        station = p.Session(KEY, p.TO_TERMINAL)
        term = p.Session(KEY, p.TO_STATION)
        async def go():
            reader = asyncio.StreamReader()
            reader.feed_data(station.encode(mtype, payload))
            if not upload:  # one frame while waiting for a beat, then the beat
                reader.feed_data(station.encode(p.HEARTBEAT, {"time": 1_700_000_000}))
            reader.feed_eof()
            link.timeout_s = 1
            if upload:  # the station's answer to a SALES batch
                await link._upload(reader, Writer(), term)
            else:
                await link._expect(reader, term, p.HEARTBEAT, Writer())
        try:
            asyncio.run(go())
        except (lk.LinkError, p.ProtocolError):
            assert _journal_bytes(root) == before  # session ends, nothing lost or moved
            return
        ack = payload.get("ack", 0)
        if _journal_bytes(root) != before:  # only a well-formed SALES_ACK moves the cursor
            assert upload and mtype == p.SALES_ACK and sales_journal.ack_seq == ack
    finally:
        shutil.rmtree(root, ignore_errors=True)


MALFORMED = {
    "reply_type_list": (p.REPLY, {"type": ["COMMAND"], "id": 1, "ok": True, "why": ""}),
    "oversized_int": (p.SALES, {"records": [dict(_sale(1, 1), amount=2**70)]}),
    "dict_for_asn": (p.SALES, {"records": [dict(_sale(1, 1), asn={"x": 1})]}),
    "missing_fields": (p.REPLY, {"type": "COMMAND"}),
    "status_no_state": (p.STATUS, {"nozzle": 1}),
    "records_not_list": (p.SALES, {"records": {"seq": 1}}),
    "float": (p.SALES, {"records": [dict(_sale(1, 1), ml=1.5)]}),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_authenticated_malformed_payload_refused_logged_closed_nothing_stored(
        tmp_path, caplog, case):
    caplog.set_level(logging.INFO, logger="pumpside.station")
    ledger = Ledger(str(tmp_path / "station.db"))
    key = ledger.add_terminal("T1")
    cid = ledger.command("T1", "stop")
    mtype, payload = MALFORMED[case]
    if mtype == p.REPLY and "id" in payload:
        payload["id"] = cid

    async def play(port):
        t = Terminal(port, "T1", key)
        await t.connect()
        await t.send(mtype, payload)
        got = await t.answer()  # the station's ERROR, then it closes
        return got, await t.closed()

    (got_type, got), closed = run(play, ledger)
    assert got_type == p.ERROR and got["why"].startswith("malformed") and closed
    assert "refused T1" in caplog.text and "malformed " + p.TYPE_NAMES[mtype] in caplog.text
    assert ledger.sales() == [] and ledger.command_result(cid) is None
    assert ledger.db.execute("SELECT status FROM pumps WHERE status IS NOT NULL"
                             ).fetchall() == []
    ledger.close()
