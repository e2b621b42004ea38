"""What the station tells a pump about a card the pump just read: CARD_INFO (the card's
number, the nozzle, its balance) -> CARD_ANSWER (docs/protocol.md).

The answer is {"asn": the card's number} merged with what each contributor in PARTS
gives: a function (ledger, asn) -> dict of optional CARD_ANSWER fields ({} or None:
nothing to say). A feature adds its contributor to PARTS (and its fields to SHAPES'
CARD_ANSWER line as `~` fields) without touching this coordinator. The pump keeps the
answer in the sale's card dict as card["station"] ({} offline or without an answer in
time: the sale goes on without it). A contributor that fails is logged and left out:
it never costs the others their fields, nor the sale its answer.

Contributors here: pumpload.offer (`load`, `load_id`: the oldest load waiting for the
card, offered at the pump after the PIN).
"""
import logging

from . import pumpload
from .masking import mask_card

log = logging.getLogger("pumpside.station")

PARTS = [pumpload.offer]


def answer(ledger, terminal, payload):
    """The CARD_ANSWER to a terminal's checked CARD_INFO `payload`."""
    asn = payload["asn"]
    out = {}
    if len(asn) == 16 and asn.isdigit():  # a card number; anything else gets no fields
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
