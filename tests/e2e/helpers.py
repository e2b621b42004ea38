"""Helpers shared by the end-to-end tests: waiting on the virtual pump, a sale at the
keypad, the customer's card steps, a pump linked to a station, the station's card desk
and what a receipt printed."""
import time

from pumpside_host.bench.cards import TEST_ISSUER_ID, IssuingReader, VirtualCard
from pumpside_host.station.service import Service
from pumpside_host.tech import station_pin

# The card every card test's store holds (the card_store fixture), and card mode for it.
ASN = "6200000000000017"
PIN = "123456"
CARD_MODE = {"sale_mode": "card", "sale_timeout_ms": 20000, "issuers": TEST_ISSUER_ID.hex()}


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def saw(vp, name, **fields):
    """Did the firmware log event `name` with these fields at some point?"""
    return any(n == name and all(f.get(k) == v for k, v in fields.items()) for n, f in vp.seen)


def start_sale(vp, keys):
    """Key a preset (attended mode) and lift the nozzle once the pump is authorised."""
    vp.bench.press(keys)
    vp.wait_event("authorized")
    vp.bench.lift()


def fuelling(vp, keys, past_ml, timeout=10):
    """A sale keyed with `keys`, once more than `past_ml` has flowed."""
    start_sale(vp, keys)
    vp.wait_event("progress", timeout, lambda f: f["ml"] > past_ml)


def sale(vp, keys, timeout=60, hang_up=False):
    """Key a preset, lift the nozzle, return the delivery."""
    start_sale(vp, keys)
    d = vp.wait_event("delivery", timeout)
    if hang_up:
        vp.bench.hang_up()
    return d


def provisioned(ledger, port, name="P1", key=None):
    """(config, files) of a terminal `name` provisioned for the station of `ledger` on
    `port`, as `pumpside provision` does it: a key registered with the station and the
    station's own CA pinned (tech.station_pin: TLS)."""
    key = key or ledger.add_terminal(name)
    config, files = station_pin(ledger.path)
    config.update(station_addr="127.0.0.1:%d" % port, terminal_id=name,
                  terminal_key=key.hex())
    return config, files


def linked_pump(make_pump, ledger, port, name="P1", **config):
    """A pump provisioned for the station as `name` (TLS), once its link is up."""
    cfg, files = provisioned(ledger, port, name)
    cfg.update(config)
    vp = make_pump(files=files, **cfg)
    wait_until(lambda: saw(vp, "link_up"), 10, "the link of " + name)
    return vp


def prompt(vp, en, timeout=10):
    """Wait until the display's prompt line (the English one) reads `en`."""
    wait_until(lambda: len(vp.bench.display) > 2 and vp.bench.display[2] == en, timeout,
               "prompt %r (display %r)" % (en, vp.bench.display))


def remove_card(vp):
    """The customer takes the card; wait until the terminal has seen the slot empty."""
    vp.bench.remove_card()

    def empty():
        slot = [f["present"] for name, f in vp.seen if name == "card_slot"]
        return slot and not slot[-1]

    wait_until(empty, 5, "the card slot to empty")


def to_preset(vp, asn=ASN, pin=PIN):
    """Insert the card and enter its PIN: the terminal asks for the preset."""
    vp.insert(asn)
    prompt(vp, "Enter PIN, E to confirm")
    vp.bench.press(pin + "E")
    prompt(vp, "Preset: V litres A amount F fill")


def start_card_sale(vp, preset, asn=ASN):
    """Card `asn` in, its PIN, `preset` (keypad keys, "V1000E"), the nozzle lifted."""
    to_preset(vp, asn)
    vp.bench.press(preset)
    prompt(vp, "Lift the nozzle")
    vp.bench.lift()


def card_sale_fuelling(vp, preset, asn=ASN):
    """A card sale with `preset`, once its first litre has flowed."""
    start_card_sale(vp, preset, asn)
    vp.wait_event("progress", 10, lambda f: f["ml"] >= 1000)


def sell_at_preset(vp, preset):
    """At the preset's prompt: `preset` keyed, the nozzle lifted, the sale to its receipt,
    the card left in: its delivery and its receipt."""
    vp.bench.press(preset)
    prompt(vp, "Lift the nozzle")
    vp.bench.lift()
    delivery = vp.wait_event("delivery", 30)
    vp.bench.hang_up()
    return delivery, vp.wait_event("receipt", 10)


def card_sale(vp, preset, asn=ASN):
    """A whole card sale with `preset`, the card left in: its delivery and its receipt."""
    to_preset(vp, asn)
    return sell_at_preset(vp, preset)


# -- the station's card desk ----------------------------------------------------------------
HOLDER = {"name": "Li Lei", "id_number": "110101199003071234", "phone": "13800138000"}


def card_desk(ledger, issuer):
    """The station's service layer, its key store holding `issuer`'s master keys (the
    desk issues and loads that issuer's cards, the station checks their MACs and TACs)."""
    ledger.cards.set_masters({issuer.issuer_id: {
        "tac": issuer.tac_mk, "load": issuer.load_mk, "purchase": issuer.purchase_mk}})
    return Service(ledger)


def desk_issue(service, actor, card_store, pin=PIN, **holder):
    """A blank card of the store's issuer issued registered at the desk (holder HOLDER
    unless given) and put in the store for the pumps: (its number, the card, its reader)."""
    card = VirtualCard.blank(card_store.issuer)
    reader = IssuingReader(card)
    asn = service.card_issue(actor, reader, "registered", pin, **(holder or HOLDER))
    card_store.add(card)
    return asn, card, reader


def sum_of_bills(account):
    """A card account's (Service.card) money by its bills: loads done, less its sales and
    what a replacement carried away."""
    return (sum(load["amount"] for load in account["loads"] if load["state"] == "done")
            - sum(sale["amount"] for sale in account["sales"])
            - sum(t["amount"] for t in account["transfers"]))


def receipt_rows(vp, since=0):
    """The label/value rows ("Amount": "22.77", "Points total": "45") the pump's printer
    printed from byte `since` of its output on (the last of a label wins)."""
    text = bytes(vp.bench.printed[since:]).decode("utf-8", "replace")
    rows = {}
    for line in text.splitlines():
        parts = line.rsplit(None, 1)
        if len(parts) == 2:
            rows[parts[0].strip()] = parts[1]
    return rows
