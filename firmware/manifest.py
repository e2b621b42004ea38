# Freezing the firmware package into a custom MicroPython image (micropython-lib style):
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/firmware/manifest.py
# The board module (boards/<name>/board.py and its drivers) is flashed as files beside it
# by `pumpside flash`, as is manifest.json. Frozen code costs no heap (vboard.py's note on
# BOARD_HEAPSIZE). A frozen package has no files for boot.py to hash, so its software id
# must come with the image: until that exists, a frozen build boots closed ("frozen
# firmware: no files to verify") - freeze for development, flash .mpy files to sell.
include("$(PORT_DIR)/boards/manifest.py")
package("pumpside")
