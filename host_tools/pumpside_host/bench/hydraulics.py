"""Hydraulics of one dispenser hose, integrated exactly between events.

Flow is piecewise constant: it changes only when a valve reaches its commanded position
(after the valve's response delay), when the motor or the nozzle trigger changes, or when
the tank is full (the nozzle's automatic shut-off releases the trigger). So the state is
advanced lazily to any instant `t` (seconds) by integrating segment by segment; there is
no simulation tick and no drift. The pulser's channels are floor(true volume x pulses per
litre), each channel frozen when it is made to fail.
"""

FAST = "fast"
SLOW = "slow"


class Hydraulics:
    def __init__(self, t, k_factor=100000, fast_lpm=40.0, slow_lpm=5.0, open_delay_s=0.04,
                 close_delay_s=0.03):
        self.t = t
        self.k_factor = k_factor  # pulses per litre x 1000, as the meter really is
        self.fast_lpm = fast_lpm
        self.slow_lpm = slow_lpm
        self.open_delay_s = open_delay_s
        self.close_delay_s = close_delay_s
        self.truth_ml = 0.0  # everything that went through the meter
        self.valve = {FAST: False, SLOW: False}  # actual positions
        self.motor = False
        self.lifted = False
        self.trigger = False  # customer squeezing the nozzle's lever
        self.tank_room_ml = None  # None: endless; else room left before auto shut-off
        self.auto_shutoffs = 0
        self.creep_lpm = 0.0  # leak past shut valves (fault)
        self.stuck = set()  # valves that ignore a close command (fault)
        self.frozen = {}  # channel -> frozen count (fault: channel lost)
        self.pending = []  # [t_effective, valve, open]
        self.commands = []  # (t, what, value): every valve and motor command
        self.events = []  # (t, what): auto shut-off and the like

    # -- what the meter sees ---------------------------------------------------------
    def rate_ml_s(self):
        if not (self.lifted and self.trigger):
            return 0.0
        if self.motor:
            if self.valve[FAST]:
                return self.fast_lpm * 1000.0 / 60.0
            if self.valve[SLOW]:
                return self.slow_lpm * 1000.0 / 60.0
        if not self.valve[FAST] and not self.valve[SLOW]:
            return self.creep_lpm * 1000.0 / 60.0
        return 0.0

    def _raw_pulses(self):
        # a hair of tolerance so that float error never loses the pulse at an exact edge
        return int(self.truth_ml * self.k_factor / 1e6 + 1e-9)

    def counts(self):
        raw = self._raw_pulses()
        return self.frozen.get("a", raw), self.frozen.get("b", raw)

    def pulse_age_s(self):
        """Time since channel A's last pulse edge, if the flow has been steady since."""
        rate = self.rate_ml_s()
        if rate <= 0:
            return None
        edge_ml = self._raw_pulses() * 1e6 / self.k_factor
        return (self.truth_ml - edge_ml) / rate

    # -- time ------------------------------------------------------------------------
    def advance(self, t):
        while True:
            due = [p for p in self.pending if p[0] <= t]
            if not due:
                break
            first = min(due, key=lambda p: p[0])
            self._integrate(first[0])
            self.pending.remove(first)
            _, valve, is_open = first
            if is_open or valve not in self.stuck:
                self.valve[valve] = is_open
        self._integrate(t)

    def _integrate(self, t):
        dt = t - self.t
        if dt <= 0:
            return
        rate = self.rate_ml_s()
        if rate > 0:
            v = rate * dt
            room = self.tank_room_ml
            if room is not None and v >= room:
                self.truth_ml += room
                self.tank_room_ml = 0.0
                self.trigger = False  # the nozzle's automatic shut-off
                self.auto_shutoffs += 1
                self.events.append((self.t + room / rate, "auto_shutoff"))
            else:
                self.truth_ml += v
                if room is not None:
                    self.tank_room_ml = room - v
        self.t = t

    # -- commands from the board, controls from the test ----------------------------------
    def set_valves(self, t, fast, slow):
        self.advance(t)
        self.commands.append((t, "valves", (fast, slow)))
        for valve, want in ((FAST, fast), (SLOW, slow)):
            moving = [p for p in self.pending if p[1] == valve]
            heading = moving[0][2] if moving else self.valve[valve]
            if heading == want:
                continue  # already there or on its way: a repeated command changes nothing
            delay = self.open_delay_s if want else self.close_delay_s
            self.pending = [p for p in self.pending if p[1] != valve]
            if self.valve[valve] != want:
                self.pending.append([t + delay, valve, want])

    def set_motor(self, t, on):
        self.advance(t)
        self.commands.append((t, "motor", on))
        self.motor = on

    def mains_off(self, t):
        """Mains lost: the pump motor stops and the solenoid valves drop shut at once, with
        no command from the board and no closing delay."""
        self.advance(t)
        self.events.append((t, "mains_off"))
        self.motor = False
        self.pending = []
        self.valve[FAST] = self.valve[SLOW] = False

    def set_flow(self, t, fast_lpm=None, slow_lpm=None):
        self.advance(t)
        if fast_lpm is not None:
            self.fast_lpm = fast_lpm
        if slow_lpm is not None:
            self.slow_lpm = slow_lpm

    def set_creep(self, t, lpm):
        """A leak of `lpm` past the shut valves (a fault)."""
        self.advance(t)
        self.creep_lpm = lpm

    def stick_valve(self, t, valve):
        """`valve` ignores every close command from now on (a fault)."""
        self.advance(t)
        self.stuck.add(valve)

    def set_nozzle(self, t, lifted=None, trigger=None):
        self.advance(t)
        if lifted is not None:
            self.lifted = lifted
            if not lifted:
                self.trigger = False
        if trigger is not None:
            self.trigger = trigger

    def set_tank(self, t, room_ml):
        self.advance(t)
        self.tank_room_ml = None if room_ml is None else float(room_ml)

    def lose_channel(self, t, channel):
        self.advance(t)
        self.frozen[channel] = self.counts()["ab".index(channel)]

    def restore_channels(self, t):
        self.advance(t)
        self.frozen = {}
