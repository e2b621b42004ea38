"""Typed terminal configuration with defaults and validation.

A config is a JSON object on the device's flash (`config.json`). Loading checks every
field before anything uses it: a missing required field, a wrong type or a value out of
range raises ConfigError naming the field, and the pump stays closed. Secrets (the
service PIN) are never put into an error message or a repr.
"""
import json

_REQUIRED = None

# name: (type, default or _REQUIRED, minimum, maximum)
# Legally relevant fields (K-factor, price, slow-down lead) have no default: a pump must
# never sell on a value nobody set.
FIELDS = {
    "nozzle": (int, 1, 1, 99),
    "grade": (str, _REQUIRED, 1, 8),  # grade code shown to the customer, e.g. "92"
    "price": (int, _REQUIRED, 1, 10000000),  # thousandths of the currency per litre
    "k_factor": (int, _REQUIRED, 1000, 10000000),  # pulses per litre x 1000
    "slow_lead_ml": (int, _REQUIRED, 1, 5000),  # slow stage starts this far before target
    "service_pin": (str, _REQUIRED, 4, 8),  # technician PIN, digits
    "max_fill_ml": (int, 150000, 1000, 2000000),  # fill-up cap (150 L car, larger for trucks)
    "max_preset_amount": (int, 999999, 1, 99999999),
    "no_flow_timeout_ms": (int, 60000, 100, 600000),  # authorised, no pulse yet (30-120 s)
    "no_pulse_timeout_ms": (int, 30000, 100, 600000),  # pulses stopped while fuelling
    "noise_pulses": (int, 3, 0, 1000),  # stray pulses tolerated with valves shut
    "noise_window_ms": (int, 10000, 100, 3600000),
    "pulser_tolerance": (int, 5, 1, 1000),  # max channel A/B disagreement, pulses
    "fault_lock_count": (int, 6, 1, 100),  # consecutive pulser faults before lock
    "valve_grace_ms": (int, 300, 10, 10000),  # flow allowed after a close command
    "settle_ms": (int, 400, 10, 10000),  # pulser quiet this long -> final count
    "tick_ms": (int, 5, 1, 10),  # control loop period while valves are open
    "idle_tick_ms": (int, 50, 5, 1000),
    "progress_ms": (int, 250, 50, 5000),
    "done_show_ms": (int, 5000, 0, 600000),
    # journal: bounded loss without a power-fail warning is one checkpoint interval
    "checkpoint_ml": (int, 500, 10, 100000),
    "checkpoint_ms": (int, 2000, 100, 600000),
    # offline limits: no new sale beyond these until the station acknowledges
    "max_unsynced_sales": (int, 2000, 1, 100000),  # real dispensers cap unsent bills at 2,000
    "max_unsynced_amount": (int, 10000000, 1, 2000000000),  # minor units
    "max_unsynced_age_s": (int, 604800, 60, 31536000),  # oldest unsent sale: 7 days
    "storage_reserve_blocks": (int, 8, 2, 1000),  # free flash kept for settling and events
    # the sale: "card" = unattended pay-at-pump with the fuel card; "attended" = presets
    # keyed on the pump's keypad and paid at the kiosk (also the metering test mode)
    "sale_mode": (str, "card", 4, 8),
    "min_sale_amount": (int, 100, 1, 10000000),  # a card balance below this is refused
    "sale_timeout_ms": (int, 60000, 1000, 600000),  # every waiting state of the card sale
    "station": (str, "PUMPSIDE STATION", 1, 32),  # the receipt's heading
    # loyalty: one point per this many minor units paid (100: one per yuan); 0: no points
    "points_per_unit": (int, 100, 0, 10000000),
    # discount in percent by the card's price level (EF16): "level:percent,...", e.g. "1:2"
    "level_discounts": (str, "", 0, 64),
    # discount in percent by the card's type (EF16 byte 0): "type:percent,...", e.g. "4:3"
    "type_discounts": (str, "", 0, 64),
    # card issuers this station accepts: 16 hex digits each, comma-separated; empty: any
    # card the PSAM's keys work for
    "issuers": (str, "", 0, 170),
    # the station link: empty station_addr = no link (the pump sells within its offline
    # limits); the key is the per-terminal secret set at provisioning, 64 hex digits
    "station_addr": (str, "", 0, 64),  # host:port
    "terminal_id": (str, "", 0, 16),
    "terminal_key": (str, "", 0, 64),
    # TLS on top of the link (the frames are authenticated either way): 1 = wrap the
    # connection in MicroPython's ssl; station_ca = the station's CA certificate (DER; the
    # unix port's mbedTLS parses no PEM) on the device, which pins it and checks the
    # station's name or address; empty = encrypted, the station not verified
    "station_tls": (int, 0, 0, 1),
    "station_ca": (str, "", 0, 64),
}

_CHOICES = {"sale_mode": ("card", "attended")}

SECRETS = ("service_pin", "terminal_key")


def parse_levels(text, field="level_discounts"):
    """{price level (or card type): percent} from "level:percent,..." (ConfigError naming
    `field` if malformed)."""
    out = {}
    for item in text.split(","):
        if not item:
            continue
        level, _, pct = item.partition(":")
        if not (level.isdigit() and pct.isdigit() and int(level) < 256 and int(pct) <= 50):
            raise ConfigError(field, "must be " + field.split("_")[0]
                              + ":percent pairs, percent <= 50")
        out[int(level)] = int(pct)
    return out


class ConfigError(ValueError):
    def __init__(self, field, why):
        super().__init__("config " + field + ": " + why)
        self.field = field
        self.why = why


def _check(name, value):
    typ, _default, lo, hi = FIELDS[name]
    if typ is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(name, "must be an integer")
        if value < lo:
            raise ConfigError(name, "must be >= " + str(lo) if lo > 0 else "must be >= 0")
        if value > hi:
            raise ConfigError(name, "must be <= " + str(hi))
    else:
        if not isinstance(value, str):
            raise ConfigError(name, "must be a string")
        if not lo <= len(value) <= hi:
            raise ConfigError(name, "length must be " + str(lo) + ".." + str(hi))
        if name == "service_pin" and not value.isdigit():
            raise ConfigError(name, "must be digits")
        if name == "terminal_key" and value and (len(value) != 64 or any(
                c not in "0123456789abcdefABCDEF" for c in value)):
            raise ConfigError(name, "must be 64 hex digits")
        if name == "station_addr" and value:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(name, "must be host:port")
        if name in _CHOICES and value not in _CHOICES[name]:
            raise ConfigError(name, "must be one of " + ", ".join(_CHOICES[name]))
        if name == "level_discounts" or name == "type_discounts":
            parse_levels(value, name)
        if name == "issuers" and value:
            for item in value.split(","):
                if len(item) != 16 or any(c not in "0123456789abcdefABCDEF" for c in item):
                    raise ConfigError(name, "must be 16 hex digits per issuer, comma-separated")
    return value


class Config:
    """Validated settings; read them as attributes (cfg.k_factor)."""

    def __init__(self, values):
        if not isinstance(values, dict):
            raise ConfigError("(file)", "must be a JSON object")
        for name in values:
            if name not in FIELDS:
                raise ConfigError(name, "unknown field")
        for name in FIELDS:
            if name in values:
                value = _check(name, values[name])
            elif FIELDS[name][1] is _REQUIRED:
                raise ConfigError(name, "missing")
            else:
                value = FIELDS[name][1]
            setattr(self, name, value)

    def as_dict(self, secrets=False):
        out = {}
        for name in FIELDS:
            if secrets or name not in SECRETS:
                out[name] = getattr(self, name)
        return out

    def __repr__(self):
        return "Config(" + repr(self.as_dict()) + ")"


def same_secret(a, b):
    """Compare a keyed secret (the service PIN) with the configured one without an
    early exit on the first differing character."""
    diff = len(a) ^ len(b)
    for i in range(min(len(a), len(b))):
        diff |= ord(a[i]) ^ ord(b[i])
    return diff == 0


def parse(text):
    try:
        values = json.loads(text)
    except ValueError:
        raise ConfigError("(file)", "not valid JSON") from None
    return Config(values)


def load(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError("(file)", "cannot read " + path) from None
    return parse(text)
