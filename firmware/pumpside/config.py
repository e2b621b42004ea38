"""Typed terminal configuration with defaults and validation.

A config is a JSON object on the device's flash (`config.json`). Loading checks every
field before anything uses it: a missing required field, a wrong type or a value out of
range raises ConfigError naming the field, and the pump stays closed. Secrets (SECRETS:
the service PIN, the terminal key, the WLAN passphrase) are never put into an error
message or a repr.
"""
import json

# One line a field: name|type (i: integer, s: string)|default (* for none: required)|
# minimum|maximum (of the value, or of a string's length). One text, searched when a
# field is looked up: the table costs its bytes once, not a dict of tuples (on a board
# that runs .mpy files the constants live in the heap: 40 fields as a dict take 5.5 KB
# on the unix port). Legally relevant fields (K-factor, price, slow-down lead) have no
# default: a pump must never sell on a value nobody set.
_TABLE = (
    "\n"
    "nozzle|i|1|1|99\n"
    "grade|s|*|1|8\n"  # grade code shown to the customer, e.g. "92"
    "price|i|*|1|10000000\n"  # thousandths of the currency per litre
    "k_factor|i|*|1000|10000000\n"  # pulses per litre x 1000
    "slow_lead_ml|i|*|1|5000\n"  # the slow stage starts this far before the target
    "service_pin|s|*|4|8\n"  # technician PIN, digits; a new one 6-8 (service.py)
    "max_fill_ml|i|150000|1000|2000000\n"  # fill-up cap (150 L car, more for trucks)
    "max_preset_amount|i|999999|1|99999999\n"
    "no_flow_timeout_ms|i|60000|100|600000\n"  # authorised, no pulse yet (30-120 s)
    "no_pulse_timeout_ms|i|30000|100|600000\n"  # pulses stopped while fuelling
    "noise_pulses|i|3|0|1000\n"  # stray pulses tolerated with valves shut
    "noise_window_ms|i|10000|100|3600000\n"
    "pulser_tolerance|i|5|1|1000\n"  # max channel A/B disagreement, pulses
    "fault_lock_count|i|6|1|100\n"  # consecutive pulser faults before lock
    "valve_grace_ms|i|300|10|10000\n"  # flow allowed after a close command
    "settle_ms|i|400|10|10000\n"  # pulser quiet this long -> final count
    "tick_ms|i|5|1|10\n"  # control loop period while valves are open
    "idle_tick_ms|i|50|5|1000\n"
    "progress_ms|i|250|50|5000\n"
    # the board's watchdog (Dispenser.watch); at most 8000: the RP2040's longest is 8388 ms
    "watchdog_ms|i|8000|1000|8000\n"
    "done_show_ms|i|5000|0|600000\n"
    # journal: bounded loss without a power-fail warning is one checkpoint interval
    "checkpoint_ml|i|500|10|100000\n"
    "checkpoint_ms|i|2000|100|600000\n"
    # offline limits: no new sale beyond these until the station acknowledges
    "max_unsynced_sales|i|2000|1|100000\n"  # real dispensers cap unsent bills at 2,000
    "max_unsynced_amount|i|10000000|1|2000000000\n"  # minor units
    "max_unsynced_age_s|i|604800|60|31536000\n"  # oldest unsent sale: 7 days
    "storage_reserve_blocks|i|8|2|1000\n"  # free flash kept for settling and events
    # the sale: "card" = unattended pay-at-pump with the fuel card; "attended" = presets
    # keyed on the pump's keypad and paid at the kiosk (also the metering test mode)
    "sale_mode|s|card|4|8\n"
    "min_sale_amount|i|100|1|10000000\n"  # a card balance below this is refused
    "sale_timeout_ms|i|60000|1000|600000\n"  # every waiting state of the card sale
    "station|s|PUMPSIDE STATION|1|32\n"  # the receipt's heading
    # fleet cards (fleetcard.py): the most km an odometer reading may be past the last one
    # the station told; the station's local time as minutes east of UTC (a fleet card's
    # time window and month are the station's local time)
    "odometer_max_km|i|2000|1|100000\n"
    "local_offset_min|i|0|-720|840\n"
    # discount in percent by the card's price level (EF16): "level:percent,...", e.g. "1:2"
    "level_discounts|s||0|64\n"
    # discount in percent by the card's type (EF16 byte 0): "type:percent,...", e.g. "4:3"
    "type_discounts|s||0|64\n"
    # card issuers this station accepts: 16 hex digits each, comma-separated; empty: any
    # card the PSAM's keys work for
    "issuers|s||0|170\n"
    # the station link: empty station_addr = no link (the pump sells within its offline
    # limits); the key is the per-terminal secret set at provisioning, 64 hex digits
    "station_addr|s||0|64\n"  # host:port
    "terminal_id|s||0|16\n"
    "terminal_key|s||0|64\n"
    # TLS on top of the link (the frames are authenticated either way): 1 (the default) =
    # MicroPython's ssl with the station's certificate checked against station_ca, the
    # station's CA certificate on the device (DER; the unix port's mbedTLS parses no PEM),
    # pinned by `pumpside provision`; no CA pinned: no connection. 0 = plain TCP, only
    # when set so
    "station_tls|i|1|0|1\n"
    "station_ca|s||0|64\n"
    # pay by phone: the idle screen's QR code names <pay_base>/pay/<terminal_id>/<nozzle>
    # ?t=<token> (paycode.py); empty: no code. Short: up to 53 bytes of URL draw at 2 px
    # a module (docs/boards.md)
    "pay_base|s||0|40\n"
    "pay_rotate_s|i|180|2|3600\n"  # a shown token is replaced after this long
    # the board's network (hal.py's net role): net_kind "" = the board's own (docs/boards.md)
    "net_kind|s||0|8\n"
    "wlan_ssid|s||0|32\n"
    "wlan_pass|s||0|64\n"  # WPA2 passphrase (8-63) or 64 hex digits; empty = open network
)


def _parse(line):
    name, value_type, default, minimum, maximum = line.split("|")
    value_type = int if value_type == "i" else str
    if default == "*":
        default = None
    elif value_type is int:
        default = int(default)
    return name, (value_type, default, int(minimum), int(maximum))


def field(name):
    """(type, default or None when required, minimum, maximum) of a config field, or None
    when there is no such field."""
    start = _TABLE.find("\n" + name + "|")
    if start < 0:
        return None
    return _parse(_TABLE[start + 1:_TABLE.index("\n", start + 1)])[1]


def fields():
    """Every field as (name, (type, default, minimum, maximum)), in the table's order."""
    for line in _TABLE.split("\n"):
        if line:
            yield _parse(line)


_CHOICES = {"sale_mode": ("card", "attended"), "net_kind": ("", "wlan", "lan8720", "w5500")}

SECRETS = ("service_pin", "terminal_key", "wlan_pass")


def parse_levels(text, field="level_discounts"):
    """{price level (or card type): percent} from "level:percent,..." (ConfigError naming
    `field` if malformed)."""
    out = {}
    for item in text.split(","):
        if not item:
            continue
        level, _, percent = item.partition(":")
        if not (level.isdigit() and percent.isdigit() and int(level) < 256
                and int(percent) <= 50):
            raise ConfigError(field, "must be " + field.split("_")[0]
                              + ":percent pairs, percent <= 50")
        out[int(level)] = int(percent)
    return out


class ConfigError(ValueError):
    def __init__(self, field, why):
        super().__init__("config " + field + ": " + why)
        self.field = field
        self.why = why


def check(name, value):
    """`value` for the field `name`, or ConfigError naming the field."""
    value_type, _default, minimum, maximum = field(name)
    if value_type is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(name, "must be an integer")
        if value < minimum:
            raise ConfigError(name, "must be >= " + str(minimum))
        if value > maximum:
            raise ConfigError(name, "must be <= " + str(maximum))
    else:
        if not isinstance(value, str):
            raise ConfigError(name, "must be a string")
        if not minimum <= len(value) <= maximum:
            raise ConfigError(name, "length must be " + str(minimum) + ".." + str(maximum))
        if name == "service_pin" and not value.isdigit():
            raise ConfigError(name, "must be digits")
        if name == "terminal_key" and value and (len(value) != 64 or any(
                c not in "0123456789abcdefABCDEF" for c in value)):
            raise ConfigError(name, "must be 64 hex digits")
        if name == "wlan_pass" and 0 < len(value) < 8:
            raise ConfigError(name, "length must be 8..64 (or empty: an open network)")
        if name == "station_addr" and value:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(name, "must be host:port")
        if name == "pay_base" and value and (value.split("://")[0] not in ("http", "https")
                                             or value[-1] == "/"):
            raise ConfigError(name, "must be http(s)://host[:port][/path], no / at the end")
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
            if field(name) is None:
                raise ConfigError(name, "unknown field")
        for name, (_value_type, default, _minimum, _maximum) in fields():
            if name in values:
                value = check(name, values[name])
            elif default is None:
                raise ConfigError(name, "missing")
            else:
                value = default
            setattr(self, name, value)

    def as_dict(self, secrets=False):
        out = {}
        for name, _spec in fields():
            if secrets or name not in SECRETS:
                out[name] = getattr(self, name)
        return out

    def __repr__(self):
        return "Config(" + repr(self.as_dict()) + ")"


def same_secret(keyed, secret):
    """Compare a keyed secret (the service PIN) with the configured one without an
    early exit on the first differing character."""
    diff = len(keyed) ^ len(secret)
    for i in range(min(len(keyed), len(secret))):
        diff |= ord(keyed[i]) ^ ord(secret[i])
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
