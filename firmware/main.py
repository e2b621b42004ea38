# Boot: the board module of this device builds the HAL roles; the app runs on them.
import board
from pumpside import app

app.main(board.make())
