"""Dispenser control: valves, pump motor and nozzle, and every safety rule.

`DispenserCore` is the pure decision maker: feed it the time and the pulser's two
channel counts and the nozzle switch; it answers with valve and motor settings and, at the
end of a sale, a `Delivery`. `Dispenser` is the asyncio shell that reads the HAL roles,
applies the decisions and measures how long a decision takes to reach the valves.

Valve stages: both valves open = fast flow; slow valve only = slow flow (the last
`slow_lead_ml` before a preset, so the closing valve cuts a slow stream and the overrun
is a fraction of a pulse). Safety rules live here and nowhere else.
"""
from . import meter
from .compat import const, sleep_ms, ticks_diff, ticks_ms, ticks_us

IDLE = const(0)
AUTHORIZED = const(1)  # waiting for the nozzle
FUELLING = const(2)  # valves open
SETTLING = const(3)  # valves shut, waiting for the pulser to stop
LOCKED = const(4)  # closed until a technician clears it
STATE_NAMES = ("IDLE", "AUTHORIZED", "FUELLING", "SETTLING", "LOCKED")

# Stop-reason codes, one per way a delivery can end (stored in the journal later).
STOP_CAP = const(1)  # preset or cap reached
STOP_NOZZLE = const(2)  # nozzle hung up
STOP_NO_FLOW = const(3)  # authorised but no pulse before the timeout
STOP_NO_PULSE = const(4)  # pulses stopped while fuelling
STOP_PULSER = const(5)  # one pulser channel missing
STOP_UNAUTHORIZED = const(6)  # flow with the valves shut
STOP_VALVE_STUCK = const(7)  # flow went on after the valves were told to shut
STOP_CANCEL = const(8)  # authorisation withdrawn (customer, station)
STOP_POWER = const(9)  # mains lost (early warning, or settled at boot after a cut)
STOP_CARD = const(10)  # the card was pulled or failed (card sale)
STOP_REMOTE = const(11)  # the station stopped (or locked) the pump
STOP_LAPSED = const(12)  # a station's authorisation (a paid order) expired, nozzle not lifted
STOP_NAMES = {
    STOP_CAP: "CAP",
    STOP_NOZZLE: "NOZZLE",
    STOP_NO_FLOW: "NO_FLOW",
    STOP_NO_PULSE: "NO_PULSE",
    STOP_PULSER: "PULSER",
    STOP_UNAUTHORIZED: "UNAUTHORIZED",
    STOP_VALVE_STUCK: "VALVE_STUCK",
    STOP_CANCEL: "CANCEL",
    STOP_POWER: "POWER",
    STOP_CARD: "CARD",
    STOP_REMOTE: "REMOTE",
    STOP_LAPSED: "LAPSED",
}
# Pulser faults: real dispenser firmware locks after N of these in a row. Not NO_PULSE: it
# comes only after fuel flowed (no pulse at all is NO_FLOW), and flow that stops with the
# nozzle still out is mostly its automatic shut-off with the customer slow to hang up. It
# neither counts nor clears the run; a pulser that died mid-delivery shows itself on the
# next sale as NO_FLOW, which counts.
_PULSER_FAULTS = (STOP_NO_FLOW, STOP_PULSER)
# Faults that lock the pump at once: fuel moved that nobody paid for.
_LOCK_AT_ONCE = (STOP_UNAUTHORIZED, STOP_VALVE_STUCK)

# The watchdog (Dispenser.watch): the control loop feeds the board's watchdog only when
# every task that must be alive has checked in since the last feed: the keypad (the
# customer's stop key, the service PIN) and, on a card pump, the card desk. The control
# loop itself feeds, so its own hang starves it too. The station link does not count: it
# may wait on the network within its own timeouts, and a stuck link stops no sale. A task
# that hangs resets the board at most one timeout (plus one tick) after its last check-in.
TASK_KEYPAD = const(1)
TASK_DESK = const(2)
HUNG_MS = const(1 << 29)  # a task a watchdog test hangs sleeps this long (6 days): for good

MODE_VOLUME = "V"
MODE_AMOUNT = "A"
MODE_FILL = "F"


class AuthorizationError(ValueError):
    pass


class Authorization:
    """What may be delivered: grade and price, plus a volume cap, an amount cap or both.

    A fill-up has neither; the config's `max_fill_ml` caps it. Caps from a card's balance or
    limits are combined with the customer's preset by passing both. `wait_ms`: how long
    the nozzle may stay hung up (0: the config's no_flow_timeout_ms); a station's
    authorisation (authorize.py) waits until its expiry and then lapses (STOP_LAPSED).
    """

    __slots__ = ("grade", "price", "volume_ml", "amount", "mode", "wait_ms")

    def __init__(self, grade, price, volume_ml=0, amount=0, mode=None, wait_ms=0):
        if not isinstance(price, int) or price <= 0:
            raise AuthorizationError("price must be a positive integer")
        if volume_ml < 0 or amount < 0:
            raise AuthorizationError("caps must not be negative")
        self.grade = grade
        self.price = price
        self.volume_ml = volume_ml
        self.amount = amount
        if mode is None:
            mode = MODE_AMOUNT if amount else (MODE_VOLUME if volume_ml else MODE_FILL)
        self.mode = mode
        self.wait_ms = wait_ms


class Delivery:
    """The outcome of one authorisation: metered volume and money, and why it stopped."""

    __slots__ = ("grade", "price", "mode", "pulses", "ml", "amount", "stop", "target_ml",
                 "overrun_ml", "fault", "started_ms", "ended_ms")

    def __init__(self, grade, price, mode, pulses, ml, amount, stop, target_ml, overrun_ml,
                 fault, started_ms, ended_ms):
        self.grade = grade
        self.price = price
        self.mode = mode
        self.pulses = pulses
        self.ml = ml
        self.amount = amount
        self.stop = stop
        self.target_ml = target_ml
        self.overrun_ml = overrun_ml
        self.fault = fault
        self.started_ms = started_ms
        self.ended_ms = ended_ms

    def as_dict(self):
        return {
            "grade": self.grade, "price": self.price, "mode": self.mode,
            "pulses": self.pulses, "ml": self.ml, "amount": self.amount,
            "stop": STOP_NAMES.get(self.stop, str(self.stop)), "target_ml": self.target_ml,
            "overrun_ml": self.overrun_ml, "fault": self.fault,
        }


def empty_delivery(grade, price, mode, stop):
    """The delivery of an authorisation that never reached the valves: no fuel."""
    now = ticks_ms()
    return Delivery(grade, price, mode, 0, 0, 0, stop, 0, 0, False, now, now)


class DispenserCore:
    """Pure control logic. Call `step(now_ms, a, b, lifted)` every tick.

    After a step, `fast`, `slow` and `motor` are the outputs to apply; `state` is the
    dispenser state; a finished delivery waits in `delivery` until `take_delivery()`.
    Counts are the monotonic counts of pulser channels A and B.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.state = IDLE
        self.fast = self.slow = self.motor = False
        self.delivery = None
        self.faults = 0  # consecutive pulser faults
        self.lock_reason = 0
        self.overruns = 0  # counted overrun deliveries (metrology)
        self.stage_event = None  # "slow" or "close" when a threshold made this step act
        self.unauthorized_ml = 0  # volume under the current unauthorised-flow alarm
        self.unauthorized_new = 0  # ml metered by the latest alarm step, for the totals
        self.delivered = (0, 0)  # (ml, amount) of the last delivery (progress() after it)
        self._auth = None
        self._base = None  # idle watch: count at the start of the noise window
        self._base_ms = 0

    # -- commands ------------------------------------------------------------------
    def check(self, auth):
        """The pulse target of `auth`; AuthorizationError if the pump cannot take it now."""
        if self.state == LOCKED:
            raise AuthorizationError("pump locked")
        if self.state != IDLE:
            raise AuthorizationError("pump busy")
        cfg = self.cfg
        k = cfg.k_factor
        caps = []
        if auth.volume_ml:
            caps.append(meter.pulses_for_ml(auth.volume_ml, k))
        if auth.amount:
            caps.append(meter.pulses_for_amount(auth.amount, auth.price, k))
        caps.append(meter.pulses_for_ml(cfg.max_fill_ml, k))
        target = min(caps)
        if target <= 0:
            raise AuthorizationError("preset below one pulse")
        return target

    def authorize(self, auth, now_ms):
        cfg = self.cfg
        k = cfg.k_factor
        target = self.check(auth)
        self._auth = auth
        self._target = target
        self._slow_at = target - meter.pulses_for_ml(cfg.slow_lead_ml, k)
        self._t_auth = now_ms
        self._a0 = self._b0 = None
        self.state = AUTHORIZED

    def cancel(self, now_ms, stop=STOP_CANCEL):
        """Withdraw the authorisation; a delivery in progress is stopped and settled."""
        if self.state == AUTHORIZED:
            self._a0 = self._b0 = None
            self._close(now_ms, stop)
        elif self.state == FUELLING:
            self._close(now_ms, stop)

    def power_fail(self, now_ms):
        """Mains lost: end any authorisation; the hardware has already lost its supply."""
        if self.state == AUTHORIZED or self.state == FUELLING:
            self._close(now_ms, STOP_POWER)

    def clear_lock(self, now_ms):
        if self.state == LOCKED:
            self.state = IDLE
            self.faults = 0
            self.lock_reason = 0
            self._base = None

    def take_delivery(self):
        delivery = self.delivery
        self.delivery = None
        return delivery

    # -- the control step ----------------------------------------------------------
    def step(self, now_ms, a, b, lifted):
        self.stage_event = None
        self.unauthorized_new = 0
        state = self.state
        if state == IDLE or state == LOCKED:
            self._watch_idle(now_ms, a)
        elif state == AUTHORIZED:
            self._step_authorized(now_ms, a, b, lifted)
        elif state == FUELLING:
            self._step_fuelling(now_ms, a, b, lifted)
        else:
            self._step_settling(now_ms, a)

    def _watch_idle(self, now_ms, a):
        cfg = self.cfg
        if self._base is None or ticks_diff(now_ms, self._base_ms) >= cfg.noise_window_ms:
            if self._base is not None and a - self._base > cfg.noise_pulses:
                self._unauthorized(a)
            self._base = a
            self._base_ms = now_ms
        elif a - self._base > cfg.noise_pulses:
            self._unauthorized(a)
            self._base = a

    def _unauthorized(self, a):
        ml = meter.ml_for_pulses(a - self._base, self.cfg.k_factor)
        self.unauthorized_new = ml  # metered fuel all the same: the owner of the totals adds it
        if self.state == LOCKED and self.lock_reason == STOP_UNAUTHORIZED:
            self.unauthorized_ml += ml  # still leaking: the alarm covers all of it
        else:
            self.unauthorized_ml = ml
        self.lock(STOP_UNAUTHORIZED)

    def lock(self, reason):
        self.state = LOCKED
        self.lock_reason = reason
        self.fast = self.slow = self.motor = False
        self._auth = None

    def _step_authorized(self, now_ms, a, b, lifted):
        if lifted:
            self._a0 = a
            self._b0 = b
            self._last_a = a
            self._t_open = self._t_pulse = self._stage_ms = now_ms
            self._stage_a = a
            self.fast = self._slow_at > 0
            self.slow = True
            self.motor = True
            self.state = FUELLING
            return
        # valves still shut: stray flow now is unauthorised flow
        self._watch_idle(now_ms, a)
        if self.state == LOCKED:
            return
        wait_ms = self._auth.wait_ms
        if ticks_diff(now_ms, self._t_auth) >= (wait_ms or self.cfg.no_flow_timeout_ms):
            self._close(now_ms, STOP_LAPSED if wait_ms else STOP_NO_FLOW)

    def _step_fuelling(self, now_ms, a, b, lifted):
        cfg = self.cfg
        pulses_a = a - self._a0
        pulses_b = b - self._b0
        if a != self._last_a:
            self._last_a = a
            self._t_pulse = now_ms
        if abs(pulses_a - pulses_b) > cfg.pulser_tolerance:
            self._close(now_ms, STOP_PULSER)
        elif not lifted:
            self._close(now_ms, STOP_NOZZLE)
        elif pulses_a >= self._target:
            self._close(now_ms, STOP_CAP)
            self.stage_event = "close"
        elif pulses_a == 0:
            if ticks_diff(now_ms, self._t_open) >= cfg.no_flow_timeout_ms:
                self._close(now_ms, STOP_NO_FLOW)
        elif ticks_diff(now_ms, self._t_pulse) >= cfg.no_pulse_timeout_ms:
            self._close(now_ms, STOP_NO_PULSE)
        elif self.fast and pulses_a >= self._slow_at:
            self.fast = False
            self.stage_event = "slow"
            self._stage_a = a
            self._stage_ms = now_ms

    def _close(self, now_ms, stop):
        """Shut both valves; the motor keeps line pressure while the pulser settles, so a
        valve that did not shut shows itself by flow."""
        self.fast = self.slow = False
        self._stop = stop
        self._t_close = self._t_quiet = now_ms
        self._a_close = self._last_a if self.state == FUELLING else None
        self._stuck = False
        self.state = SETTLING

    def _step_settling(self, now_ms, a):
        cfg = self.cfg
        if self._a_close is None:  # never opened: nothing to settle
            self._a_close = self._last_a = a
        if a != self._last_a:
            self._last_a = a
            self._t_quiet = now_ms
        if (not self._stuck and a - self._a_close > cfg.noise_pulses
                and ticks_diff(now_ms, self._t_close) >= cfg.valve_grace_ms):
            self._stuck = True
            self.motor = False  # the only thing left that stops the fuel
        if ticks_diff(now_ms, self._t_quiet) >= cfg.settle_ms:
            self.motor = False
            self._finish(now_ms, a)

    def _finish(self, now_ms, a):
        cfg = self.cfg
        auth = self._auth
        k = cfg.k_factor
        stop = STOP_VALVE_STUCK if self._stuck else self._stop
        pulses = a - self._a0 if self._a0 is not None else 0
        ml = meter.ml_for_pulses(pulses, k)
        overrun = pulses - self._target
        if overrun > 0:
            self.overruns += 1
        fault = stop in _PULSER_FAULTS and self._a0 is not None
        self.delivery = Delivery(auth.grade, auth.price, auth.mode, pulses, ml,
                                 meter.amount_for_ml(ml, auth.price), stop,
                                 meter.ml_for_pulses(self._target, k),
                                 meter.ml_for_pulses(overrun, k) if overrun > 0 else 0, fault,
                                 self._t_auth, now_ms)
        self.delivered = (ml, self.delivery.amount)
        self._auth = None
        self._base = None
        self.state = IDLE
        if stop in _LOCK_AT_ONCE:
            self.lock(stop)
        elif fault:
            self.faults += 1
            if self.faults >= cfg.fault_lock_count:
                self.lock(stop)
        elif pulses > 0 and stop != STOP_NO_PULSE:
            self.faults = 0

    def near_stage(self, a, now_ms, guard_ms):
        """True while fuelling when, at the flow of the stage so far, the next threshold
        decision (slow-down, close) may come within `guard_ms` (pulser count `a`); and
        before the stage's first pulse, its flow unknown."""
        if self.state != FUELLING:
            return False
        left = (self._slow_at if self.fast else self._target) - (a - self._a0)
        moved = a - self._stage_a
        return moved == 0 or left * ticks_diff(now_ms, self._stage_ms) < moved * guard_ms

    # -- progress ------------------------------------------------------------------
    def pulses(self, a):
        """Pulses delivered so far by the current authorisation."""
        if self._auth is None or self._a0 is None:
            return 0
        return a - self._a0

    def progress(self, a):
        """(ml, amount) delivered so far by the current authorisation; without one, those
        of the last delivery (the bill's), (0, 0) before the first."""
        if self._auth is None:
            return self.delivered
        ml = meter.ml_for_pulses(self.pulses(a), self.cfg.k_factor)
        return ml, meter.amount_for_ml(ml, self._auth.price)


class Dispenser:
    """The asyncio task that owns the valves, the motor and the nozzle switch.

    Roles (pumpside.hal): pulser.count()/count_b(), valves.set(fast, slow), motor.set(on),
    nozzle.lifted(). `on_tick(disp)` is called after every step (progress, deliveries).
    """

    def __init__(self, core, pulser, valves, motor, nozzle, on_tick=None):
        self.core = core
        self.pulser = pulser
        self.valves = valves
        self.motor = motor
        self.nozzle = nozzle
        self.on_tick = on_tick
        self.reaction_us = []  # last stage-threshold -> valve-command times (bench figure)
        self.last_count = 0
        self._out = (None, None, None)
        self._wdt = None  # the board's watchdog, once watch() started it
        self._tasks = 0  # the tasks that must check in before each feed (TASK_* bits)
        self._seen = 0  # the tasks that checked in since the last feed
        self._hung = 0  # the tasks a watchdog test hangs (the sim board's wdt.hang())
        self._test = None

    def tick(self):
        core = self.core
        a = self.pulser.count()
        b = self.pulser.count_b()
        lifted = self.nozzle.lifted()
        started_us = ticks_us()
        core.step(ticks_ms(), a, b, lifted)
        out = (core.fast, core.slow, core.motor)
        if out != self._out:
            fast, slow, motor = out
            if motor and not self._out[2]:
                self.motor.set(True)  # pressure first, then open
            if (fast, slow) != self._out[:2]:
                self.valves.set(fast, slow)
            if not motor and self._out[2] is not False:
                self.motor.set(False)
            self._out = out
            if core.stage_event:
                times = self.reaction_us
                times.append(ticks_diff(ticks_us(), started_us))
                if len(times) > 64:
                    times.pop(0)
        self.last_count = a
        wdt = self._wdt
        if wdt is not None and self._seen & self._tasks == self._tasks:
            self._seen = 0
            wdt.feed()
            if self._test is not None:
                name = self._test()
                self._hung = TASK_KEYPAD if name == "keypad" else \
                    TASK_DESK if name == "desk" else 0
        if self.on_tick:
            self.on_tick(self)

    def watch(self, wdt, timeout_ms, tasks):
        """Start the board's watchdog (the `wdt` role): tick() feeds it only when every
        task in `tasks` (TASK_* bits) checked in since the last feed."""
        self._wdt = wdt
        self._tasks = tasks
        self._test = getattr(wdt, "hang", None)  # optional: the sim board's watchdog test
        wdt.start(timeout_ms)
        wdt.feed()

    def check_in(self, task):
        """`task` (a TASK_* bit) finished a pass of its loop. Non-zero: a watchdog test
        asks it to hang."""
        self._seen |= task
        return self._hung & task

    async def run(self):
        cfg = self.core.cfg
        while True:
            self.tick()
            state = self.core.state
            if state == FUELLING or state == SETTLING:
                await sleep_ms(cfg.tick_ms)
            else:
                await sleep_ms(cfg.idle_tick_ms)
