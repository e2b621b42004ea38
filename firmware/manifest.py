# Freezing the firmware package into a custom MicroPython image (micropython-lib style):
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/firmware/manifest.py
# Frozen code keeps its bytecode and names in flash: only module, function and class
# objects take heap (docs/boards.md, "Heap budget"). A frozen package has no
# files for boot.py to hash, so its software id must be frozen with it:
# `pumpside freeze --board B --out DIR` writes DIR/manifest.py like this one plus the
# board's modules and pumpside/frozen_id.py; a build from this file alone boots closed
# ("frozen firmware without frozen_id").
include("$(PORT_DIR)/boards/manifest.py")
package("pumpside")
