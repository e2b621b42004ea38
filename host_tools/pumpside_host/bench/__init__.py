"""The bench: virtual dispenser hardware for the sim board (hydraulics, pulser, valves,
nozzle, keypad, display), with controls and records for tests in gpiozero's manner."""

from .hydraulics import Hydraulics
from .server import Bench

__all__ = ["Bench", "Hydraulics"]
