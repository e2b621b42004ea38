"""The grey-lock money flows, in the order real dispenser firmware runs them:
lock before fuel (INIT FOR GREY LOCK -> PSAM MAC1 -> GREY LOCK -> PSAM checks MAC2) and
settle after it (PSAM GMAC -> DEBIT FOR UNLOCK -> TAC), the same settle serving a card
left grey by a pulled card or a power cut (补扣)."""
from . import apdu


def bcd_datetime(unix_seconds):
    """7-byte BCD YYYYMMDDhhmmss (UTC) from Unix seconds, integers only."""
    days, rem = divmod(unix_seconds, 86400)
    hour, rem = divmod(rem, 3600)
    minute, second = divmod(rem, 60)
    # civil-from-days (Howard Hinnant), valid for every date after 1970; his names: the
    # 400-year era, day and year of the era, day of the year from March 1, month from March
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    if month <= 2:
        year += 1
    return bytes.fromhex("%04d%02d%02d%02d%02d%02d" % (year, month, day, hour, minute, second))


class UntrustedLock(apdu.CardError):
    """GREY LOCK went through but the PSAM refused the card's MAC2: the card is grey and
    untrusted; `locked` is what settling it (for 0) needs."""

    def __init__(self, cause, locked):
        super().__init__(cause.kind, str(cause), cause.sw)
        self.locked = locked


def lock(card, psam, terminal_id, asn, datetime7, before=None):
    """Grey-lock the card; returns what settling needs. `before(init, ttc)` runs after the
    PSAM's MAC1 and before the GREY LOCK APDU: the write-ahead journal record goes there.
    Raises apdu.CardError (GREY LOCK failed: a status word, not locked; no reply, maybe
    locked), UntrustedLock after a failed MAC2 (the card is grey but untrusted)."""
    init = card.init_grey_lock(terminal_id)
    ttc, psam_random, mac1 = psam.init_grey_lock(init["random"], init["ctc"], init["balance"],
                                                 datetime7, init["key_version"],
                                                 init["algorithm"], asn)
    if before is not None:
        before(init, ttc)
    gtac, mac2 = card.grey_lock(ttc, psam_random, datetime7, mac1)
    locked = {"balance": init["balance"], "ctc": init["ctc"], "ttc": ttc, "gtac": gtac,
              "datetime": datetime7}
    try:
        psam.verify_mac2(mac2)
    except apdu.CardError as e:
        raise UntrustedLock(e, locked) from None  # grey: it must still be settled (for 0)
    return locked


def settle(card, psam, asn, ctc, amount, terminal_id, ttc, datetime7):
    """PSAM GMAC, then DEBIT FOR UNLOCK for `amount` of the lock `ctc`, `ttc`; returns
    (TAC, GMAC), both kept in the bill. Raises apdu.CardError (the card not debited, or
    its reply lost: the card's log tells which)."""
    gmac = psam.gmac(asn, ctc, amount)
    return card.debit_for_unlock(amount, ctc, terminal_id, ttc, datetime7, gmac), gmac
