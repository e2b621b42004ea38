"""Where the station finds its payment gateway: `<db>.gateway.json` beside the store (like
its key and TLS files; written by `pumpside station gateway-set`), holding the gateway's
URL, the path of its public key (PEM: the notifications' signatures are verified with it),
the station's public URL (the customer's phone and the gateway reach the pay page and the
notify endpoint there) and the order windows. No secret lives in it."""
import json
import os

DEFAULTS = {"pay_window_s": 180, "use_window_s": 600, "amount_max": 500000}


def path_of(db_path):
    return str(db_path) + ".gateway.json"


def load(db_path):
    """The gateway settings, or None: phone payment is not set up."""
    try:
        with open(path_of(db_path)) as f:
            values = json.load(f)
    except FileNotFoundError:
        return None
    for name in ("url", "public_key", "public_url"):
        if not isinstance(values.get(name), str) or not values[name]:
            raise ValueError("%s: %s is missing: set it with `pumpside station "
                             "gateway-set`" % (path_of(db_path), name))
    return dict(DEFAULTS, **values)


def save(db_path, url, public_key, public_url, **windows):
    """Write the settings (ValueError: a bad one; nothing written)."""
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
    values = dict(DEFAULTS, url=url.rstrip("/"), public_key=os.path.abspath(public_key),
                  public_url=public_url.rstrip("/"))
    for name, value in windows.items():
        if name not in DEFAULTS or not isinstance(value, int) or value <= 0:
            raise ValueError("%s must be a positive whole number" % name)
        values[name] = value
    tmp = path_of(db_path) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(values, f, indent=1, sort_keys=True)
    os.replace(tmp, path_of(db_path))
    return values
