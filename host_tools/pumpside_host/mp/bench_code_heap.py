# `make bench` part run on the MicroPython unix port: what the firmware's code costs in
# heap when its .mpy files are loaded from a filesystem (bytecode, module globals, the
# names interned in the qstr pool). Imports the modules named on the command line - the
# ones the heap scenario's firmware had loaded (mp/heap_main.py) - in that order, then
# collects. Prints `name: value unit` lines only.
#   bench_code_heap.py MODULE...
import gc
import sys

gc.collect()
base = gc.mem_alloc()
for name in sys.argv[1:]:
    __import__(name)
gc.collect()
print("firmware_code_heap_bytes: %d B" % (gc.mem_alloc() - base))
print("firmware_code_heap_total_bytes: %d B" % gc.mem_alloc())
print("firmware_code_modules: %d count" % (len(sys.argv) - 1))
