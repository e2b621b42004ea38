# Runs on the MicroPython unix port in a virtual board's directory, on its flash.bin,
# with the firmware's own littlefs settings and journal code:
#   flash_tool.py dump              every journal record as a JSON line (reads only;
#                                   a blank or damaged flash is reported, never formatted)
#   flash_tool.py plant PATH HEX    write one file (service and fault-injection tests)
#   flash_tool.py flip PATH OFFSET  invert one byte of a file (bit-rot tests)
#   flash_tool.py hotlist VERSION ASN...  install a full hotlist (16-digit card numbers)
#   flash_tool.py fill N [E]        format a blank flash, journal N settled sales and
#                                   append E records to the metrology event log (bench)
#   flash_tool.py raw PORT          send the journal's segment bytes, unframed, to
#                                   127.0.0.1:PORT: the floor a link's drain is held to
import json
import os
import sys

import vfs
from simflash import SimFlash

from pumpside import journal, storage
from pumpside import record as rec


def _mount():
    flash = SimFlash("flash.bin", blocks=int(os.getenv("PUMPSIDE_FLASH_BLOCKS") or 256))
    fs = vfs.VfsLfs2(flash, readsize=storage.READ_SIZE, progsize=storage.PROG_SIZE,
                     lookahead=storage.LOOKAHEAD)
    vfs.mount(fs, "/flash")


def dump():
    sales_journal = journal.Journal("/flash/journal")
    sales_journal.open()
    for seq, why in sales_journal.corrupt:
        print(json.dumps({"kind": "corrupt", "seq": seq, "why": why}))
    for seq, rtype, payload in sales_journal.read():
        item = {"kind": "record"}
        item.update(rec.to_json(seq, rtype, payload))
        print(json.dumps(item))
    print(json.dumps({
        "kind": "state", "next_seq": sales_journal.next_seq, "ack": sales_journal.ack_seq,
        "sale_no": sales_journal.sale_no, "total_ml": sales_journal.totals.volume_ml,
        "total_amount": sales_journal.totals.amount, "unsynced": sales_journal.unsynced,
        "open_sale": sales_journal.open_sale["sale"] if sales_journal.open_sale else None,
        "escapes": len(sales_journal.escapes), "segments": len(sales_journal._segments())}))
    print(json.dumps({"kind": "flash", "free_blocks": storage.free_blocks("/flash")}))


def plant(path, hexdata):
    with open("/flash/" + path, "wb") as f:
        f.write(bytes.fromhex(hexdata))


def flip(path, offset):
    with open("/flash/" + path, "rb") as f:
        data = bytearray(f.read())
    data[offset] ^= 0xFF
    with open("/flash/" + path, "wb") as f:
        f.write(data)


def hotlist(version, asns):
    from pumpside.hotlist import Hotlist

    on_flash = Hotlist("/flash/hotlist").open()
    on_flash.full(version, sorted(bytes.fromhex(a) for a in asns))
    on_flash.close()


def fill(n):
    from pumpside import meter

    sales_journal = journal.Journal("/flash/journal")
    sales_journal.open()
    for i in range(n):
        bill = rec.new_bill()
        bill.update(time=1795000000 + i, nozzle=1, grade="92", price=7590, mode="V",
                    preset_ml=20000)
        sales_journal.begin(bill)
        ml = 20000 + i % 100
        sales_journal.finish(1795000000 + i, ml // 10, ml, meter.amount_for_ml(ml, 7590), 1)
    print(json.dumps({"kind": "filled", "sales": n, "next_seq": sales_journal.next_seq}))


def fill_events(n):
    from pumpside.events import EventLog

    log = EventLog("/flash/events")
    log.open()
    for i in range(n):
        log.append(1795000000 + i, "bench", "k_factor", 100000 + i, 100001 + i)


def raw(port):
    import socket
    import time

    s = socket.socket()
    s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    t0 = time.ticks_us()
    sent = 0
    for name in sorted(os.listdir("/flash/journal")):
        if name[0] == "j":
            with open("/flash/journal/" + name, "rb") as f:
                data = f.read()
            s.write(data)
            sent += len(data)
    s.close()
    print(json.dumps({"kind": "raw", "bytes": sent,
                      "us": time.ticks_diff(time.ticks_us(), t0)}))


if sys.argv[1] == "fill":
    flash = SimFlash("flash.bin", blocks=int(os.getenv("PUMPSIDE_FLASH_BLOCKS") or 256))
    storage.mount(flash)
    fill(int(sys.argv[2]))
    fill_events(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    sys.exit(0)
_mount()
if sys.argv[1] == "raw":
    raw(int(sys.argv[2]))
elif sys.argv[1] == "hotlist":
    hotlist(int(sys.argv[2]), sys.argv[3:])
elif sys.argv[1] == "dump":
    dump()
elif sys.argv[1] == "plant":
    plant(sys.argv[2], sys.argv[3])
elif sys.argv[1] == "flip":
    flip(sys.argv[2], int(sys.argv[3]))
