# `make bench` part run on the MicroPython unix port: what the idle screen's pay code
# (pumpside.paycode, pumpside.qr, pumpside.mac) costs in heap and time. Prints
# `name: value unit` only.
#   bench_qr.py BASE   (the config's pay_base; terminal "P1", nozzle 1)
#   firmware_qr_code_heap_bytes: the three modules loaded (.mpy) and collected
#   firmware_qr_heap_bytes: what a code on screen holds (matrix, URL, token, pay key),
#     collected
#   firmware_qr_encode_alloc_bytes: every byte one encoding allocates, the collector off
#     (its transient peak is at most this)
#   firmware_qr_modules: the code's side in modules
#   firmware_qr_encode_ms: one encoding (version 3, the mask chosen of 8) on this port
import gc
import sys
import time

from pumpside import compat, log  # noqa: F401 - the firmware's own, loaded before these

log.event = lambda name, fields=None: None  # stdout carries figures only (@pay_code)

gc.collect()
base = gc.mem_alloc()
from pumpside.paycode import PayCode  # noqa: E402

gc.collect()
loaded = gc.mem_alloc()
pay = PayCode(sys.argv[1], "P1", 1, 180, bytes(32))
gc.collect()
before = gc.mem_alloc()
gc.disable()
t0 = time.ticks_us()
code = pay.code(time.ticks_ms(), int(time.time()))
took = time.ticks_diff(time.ticks_us(), t0)
alloc = gc.mem_alloc() - before
gc.enable()
gc.collect()
print("firmware_qr_code_heap_bytes: %d B" % (loaded - base))
print("firmware_qr_heap_bytes: %d B" % (gc.mem_alloc() - before))
print("firmware_qr_encode_alloc_bytes: %d B" % alloc)
print("firmware_qr_modules: %d count" % code[0])  # a side: version 3 is 29
print("firmware_qr_encode_ms: %d ms" % (took // 1000))
