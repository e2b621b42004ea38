"""Where the station finds its payment gateway and its payment orders' windows:
`<db>.gateway.json` beside the store (like its key and TLS files; written by `pumpside
station gateway-set` and `pumpside station pay-windows`), holding the gateway's URL, the
path of its public key (PEM: the notifications' signatures are verified with it), the
station's public URL (the customer's phone and the gateway reach the pay page and the
notify endpoint there) and the order windows (DEFAULTS: a phone's pay window, the use
window of every paid order - a phone's or a till's prepay - and the largest amount). A
station with a till and no gateway holds only the windows there (or nothing: DEFAULTS).
No secret lives in it."""
import json
import os

DEFAULTS = {"pay_window_s": 180, "use_window_s": 600, "amount_max": 500000}
GATEWAY = ("url", "public_key", "public_url")


def path_of(db_path):
    return str(db_path) + ".gateway.json"


def _read(db_path):
    try:
        with open(path_of(db_path)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def load(db_path):
    """The gateway settings (with the windows), or None: phone payment is not set up (no
    file, or one with the windows alone)."""
    values = _read(db_path)
    if not any(name in values for name in GATEWAY):
        return None
    for name in GATEWAY:
        if not isinstance(values.get(name), str) or not values[name]:
            raise ValueError("%s: %s is missing: set it with `pumpside station "
                             "gateway-set`" % (path_of(db_path), name))
    return dict(DEFAULTS, **values)


def windows(db_path):
    """The order windows (DEFAULTS, each as set), with or without a gateway."""
    values = _read(db_path)
    return {name: values.get(name, default) for name, default in DEFAULTS.items()}


def _windows(values, given):
    for name, value in given.items():
        if name not in DEFAULTS or not isinstance(value, int) or isinstance(value, bool) \
                or value <= 0:
            raise ValueError("%s must be a positive whole number" % name)
        values[name] = value
    return values


def _write(db_path, values):
    tmp = path_of(db_path) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(values, f, indent=1, sort_keys=True)
    os.replace(tmp, path_of(db_path))
    return values


def save_windows(db_path, **given):
    """Set some of the order windows (DEFAULTS' names), the gateway's settings and the
    other windows kept (ValueError: a bad one; nothing written). Returns the windows."""
    values = _windows(_read(db_path), given)
    _write(db_path, values)
    return windows(db_path)


def save(db_path, url, public_key, public_url, **windows):
    """Write the gateway's settings, the windows set before kept (ValueError: a bad one;
    nothing written)."""
    for name, value in (("url", url), ("public_url", public_url)):
        if not value.startswith(("http://", "https://")):
            raise ValueError("--%s must be an http:// or https:// URL" % name.replace("_", "-"))
    if not os.path.isfile(public_key):
        raise ValueError("no public key file %s (the gateway's PEM)" % public_key)
    from .gateway import load_public_key

    try:
        load_public_key(public_key)
    except ValueError as e:
        raise ValueError("%s is not a PEM public key: %s" % (public_key, e)) from None
    values = dict(DEFAULTS, **_read(db_path))
    values.update(url=url.rstrip("/"), public_key=os.path.abspath(public_key),
                  public_url=public_url.rstrip("/"))
    return _write(db_path, _windows(values, windows))
