"""pumpside: firmware of a pump-side outdoor payment terminal (MicroPython first)."""

VERSION = "0.1.0"
