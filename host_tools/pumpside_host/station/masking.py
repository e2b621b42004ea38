"""Card numbers as a person reads them at the station: the middle hidden, in logs, the
CLI and (later) the back office pages. The full number stays in the database only."""


def mask_card(asn):
    """6200********0017 for a 16-digit card number; "-" for none; "?" for anything else."""
    if not asn:
        return "-"
    return asn[:4] + "********" + asn[-4:] if isinstance(asn, str) and len(asn) == 16 \
        else "?"
