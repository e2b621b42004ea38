"""What the station tells a pump about a card the pump just read: CARD_INFO (the card's
number, the nozzle, its balance) -> CARD_ANSWER (docs/protocol.md).

The answer is {"asn": the card's number} merged with what each contributor in PARTS
gives: a function (ledger, asn) -> dict of optional CARD_ANSWER fields ({} or None:
nothing to say). A feature adds its contributor to PARTS (and its fields to SHAPES'
CARD_ANSWER line as `~` fields) without touching this coordinator. The pump keeps the
answer in the sale's card dict as card["station"] ({} offline or without an answer in
time: the sale goes on without it). A contributor that fails is logged and left out:
it never costs the others their fields, nor the sale its answer.

Before them, each function in SEEN (ledger, terminal, payload) takes what the card
shows (its log's loads: pumpload.seen settles a load cut after CREDIT from it), so the
parts answer on an account that is up to date, and what the pump says of it
(alerts.card_seen: a hotlisted card presented, or one the pump refused for its hotlist,
`refused`, raises the hotlisted_card alert). The pump refuses such a card whatever the
answer says.

Contributors here: pumpload.offer (`load`, `load_id`: the oldest load waiting for the
card, offered at the pump after the PIN); fleet.odometer_part (`odometer`: a fleet card's
last reading, the pump's plausibility check of the next).
"""
import logging

from . import alerts, fleet, pumpload
from .masking import mask_card

log = logging.getLogger("pumpside.station")

PARTS = [pumpload.offer, fleet.odometer_part]
SEEN = [alerts.card_seen, pumpload.seen]


def answer(ledger, terminal, payload):
    """The CARD_ANSWER to a terminal's checked CARD_INFO `payload`."""
    asn = payload["asn"]
    out = {}
    if len(asn) == 16 and asn.isdigit():  # a card number; anything else gets no fields
        for step in SEEN:
            try:
                step(ledger, terminal, payload)
            except Exception:  # noqa: BLE001 - the answer goes out all the same
                log.exception("CARD_INFO of card %s from %s: %s failed", mask_card(asn),
                              terminal, getattr(step, "__name__", step))
        for part in PARTS:
            try:
                got = part(ledger, asn)
            except Exception:  # noqa: BLE001 - one contributor's fault is its own
                log.exception("CARD_INFO of card %s from %s: %s failed", mask_card(asn),
                              terminal, getattr(part, "__name__", part))
                continue
            if got:
                out.update(got)
    out["asn"] = asn
    return out
