# Boot: the board module of this device builds the HAL roles; the firmware's files are
# checked against their manifest (boot.py), then the app runs on them.
import board
from pumpside import boot

boot.run(board)
