"""The customer's card sale as a pure state machine: events in, actions out.

IDLE -> CARD (reading) -> PIN [-> STAFF, plate-bound cards] [-> ODO, fleet cards: the
odometer] [-> LOAD_OFFER -> LOADING, a load waiting at the station] -> PRESET -> LOCKING
(grey lock) -> AUTHORIZED -> FUELLING -> SETTLING (debit for unlock) -> RECEIPT -> IDLE,
with an exit from every waiting state on timeout, cancel or a pulled card. The shell
(cardsale.py) runs the actions - card APDUs, journal writes, the dispenser - and feeds
back what happened. Nothing here does I/O, so every path is tested by feeding events, on
CPython and MicroPython alike.

Actions are tuples: ("show", prompt key, detail), ("read_card",), ("verify_pin", pin),
("verify_staff", password), ("odometer_bad", km, last, tries left), ("grey_lock", caps),
("authorize", caps), ("stop",), ("settle", sale), ("unlock_grey", grey record),
("release",), ("print",), ("load", offer). `caps`, `sale` and `offer` are dicts.
"""
from . import config, fleetcard, meter
from .card.psam import T_UNLOCK
from .compat import const, ticks_diff

IDLE = const(0)
CARD = const(1)
PIN = const(2)
PRESET = const(3)
LOCKING = const(4)
AUTHORIZED = const(5)
FUELLING = const(6)
SETTLING = const(7)
RECEIPT = const(8)
STAFF = const(9)  # staff (driver) password of a plate-bound card
ODO = const(10)  # a fleet card's odometer reading (fleetcard.py)
LOAD_OFFER = const(11)  # a load waits at the station: OK (E) to load, C to go on without
LOADING = const(12)  # the load (cardload.py) runs
STATE_NAMES = ("IDLE", "CARD", "PIN", "PRESET", "LOCKING", "AUTHORIZED", "FUELLING",
               "SETTLING", "RECEIPT", "STAFF", "ODO", "LOAD_OFFER", "LOADING")
_WAITING = (PIN, STAFF, ODO, PRESET, AUTHORIZED, RECEIPT, LOAD_OFFER)  # the customer may
# walk away

CARD_ACTIVE = 1
STAFF_CARD = 4


def discount_for(card, cfg, today):
    """The card's discount in percent: the largest of the holder's own (EF16, until its
    expiry date), its price level's (config `level_discounts`) and its card type's (config
    `type_discounts`). Discounts do not add up."""
    holder = card["holder"]
    holder_discount = holder.get("discount", 0)
    if holder_discount and holder.get("discount_expiry", "99999999") < today:
        holder_discount = 0
    levels = config.parse_levels(getattr(cfg, "level_discounts", ""))
    level = levels.get(holder.get("price_level", 0), 0)
    types = config.parse_levels(getattr(cfg, "type_discounts", ""), "type_discounts")
    by_type = types.get(holder.get("card_type", 0), 0)
    return max(holder_discount, level, by_type)


def discounted_price(price, discount_percent):
    """Unit price after the holder's discount, through the one rounding function; 0 for a
    discount of 100 % or more (such a card is refused: no price below 1)."""
    if not discount_percent:
        return price
    if discount_percent >= 100:
        return 0
    return meter.round_half_up(price * (100 - discount_percent), 100)


def day_use(card_log, today7):
    """(fills, amount) of the card's log entries of the day `today7` (4 BCD bytes,
    YYYYMMDD): a fill is a debit for unlock that took money; a settle for 0 (a cancel
    before the nozzle, a wrong MAC2, a voided lock) is not a fill."""
    fills = amount = 0
    for entry in card_log:
        if entry["type"] == T_UNLOCK and entry["amount"] > 0 \
                and entry["datetime"][:4] == today7:
            fills += 1
            amount += entry["amount"]
    return fills, amount


HOTLISTED = "card_hotlisted"  # the refusal of a card on the pump's hotlist


def card_refusal(card, cfg, today, hotlisted):
    """Why the card itself may not buy fuel here, whatever the station says of it (a
    prompt key), or None: an issuer not taken, blocked, expired, not valid yet, on the
    hotlist. What the pump tells the station with CARD_INFO (`refused`); no answer of the
    station lifts it (check_card asks it again after the answer)."""
    issuer = card["issuer"]
    accepted = getattr(cfg, "issuers", "")
    if accepted and "".join("%02x" % b for b in issuer["issuer"]) not in accepted.lower():
        return "card_unknown"  # an issuer this station does not take
    if issuer["status"] != CARD_ACTIVE:
        return "card_blocked"
    if issuer["expiry"] < today:
        return "card_expired"
    if issuer["start"] > today:
        return "card_not_valid_yet"
    if hotlisted:
        return HOTLISTED
    return None


def check_card(card, cfg, prices, today, hotlisted, own_grey):
    """Why this card may not buy fuel here (a prompt key), or None. `card` holds what the
    shell read: issuer, holder, restrictions, balance, grey status, today's fills and
    amount. `today` is YYYYMMDD; `own_grey` is this terminal's journal record of a grey
    lock of this card, if any. A card grey from this terminal's own escape is settled (补扣)
    before any other check: a hotlisted, expired or blocked card still pays what it owes,
    and its escape leaves the pump's small escape table (escapes.py)."""
    grey = card["grey"]
    if grey["grey"] and own_grey is not None:
        return None
    why = card_refusal(card, cfg, today, hotlisted)
    if why:
        return why
    if grey["grey"]:
        return "card_grey_elsewhere"
    grades = card["restrictions"]["grades"]
    if grades and prices.grade not in grades:
        return "grade_not_allowed"
    limits = card["restrictions"]
    if limits["daily_fills"] and card["fills_today"] >= limits["daily_fills"]:
        return "daily_limit"
    if limits["daily_amount"] and card["amount_today"] >= limits["daily_amount"]:
        return "daily_limit"
    offer = load_offer(card)  # a load waiting at the station is offered after the PIN
    if not grey["grey"] and card["balance"] + (offer["amount"] if offer else 0) \
            < cfg.min_sale_amount:
        return "low_balance"
    price = discounted_price(prices.price, discount_for(card, cfg, today))
    if price < 1:
        return "bad_discount"  # a card would buy fuel for nothing
    return fleetcard.refusal(card.get("fleet"), price, cfg.min_sale_amount)  # its EF1D


def load_offer(card):
    """{"load_id", "amount"} of the load the station's CARD_ANSWER says waits for the card
    (card["station"], cardload.py), or None."""
    station = card.get("station") or {}
    amount = station.get("load")
    if not amount or station.get("load_id") is None:
        return None
    return {"load_id": station["load_id"], "amount": amount}


def caps_for(card, grade, price):
    """The most this card may buy now: balance and the day's remaining amount limit."""
    amount = card["balance"]
    daily = card["restrictions"]["daily_amount"]
    if daily:
        left = daily - card["amount_today"]
        if left < amount:
            amount = left
    return {"grade": grade, "price": price, "amount": amount, "volume_ml": 0}


class Sale:
    def __init__(self, cfg, prices):
        self.cfg = cfg
        self.prices = prices  # the grade and price sold now (prices.PriceBook)
        self.state = IDLE
        self.card = None
        self.pin = ""
        self.entry = None  # preset being keyed: "V" or "A"
        self.digits = ""
        self.caps = None
        self.sale = None  # what settling needs: caps, lock, delivery
        self.today = "00000000"  # YYYYMMDD of the card read
        self.odo = 0  # a fleet card's odometer reading, km (the bill's `odo`)
        self._odo_bad = 0  # implausible readings keyed
        self._refusal = None  # why the terminal sells nothing now, though grey cards settle
        self._since = 0

    def _go(self, state, now):
        self.state = state
        self._since = now

    def _reset(self, now):
        self.card = None
        self.pin = ""
        self.entry = None
        self.digits = ""
        self.caps = None
        self.sale = None
        self._refusal = None
        self.odo = 0
        self._odo_bad = 0
        self._go(IDLE, now)

    # -- card ---------------------------------------------------------------------------
    def card_inserted(self, now, refused=None):
        """A card in the slot. `refused`: the terminal sells nothing now (its escape table
        is full), yet a card that comes back grey is read and settled (补扣) all the same."""
        if self.state != IDLE:
            return []
        self._go(CARD, now)
        self._refusal = refused
        return [("show", "reading_card", None), ("read_card",)]

    def card_read(self, card, now, today, hotlisted, own_grey):
        """The shell read the card's files, balance, grey status and today's log."""
        if self.state != CARD:
            return []
        self.today = today
        why = check_card(card, self.cfg, self.prices, today, hotlisted, own_grey)
        if why:
            self._reset(now)
            return [("show", why, None), ("release",)]
        self.card = card
        if card["grey"]["grey"]:  # grey here: settle the journal's record first (补扣)
            self._go(SETTLING, now)
            return [("show", "settling_grey", None), ("unlock_grey", own_grey)]
        if self._refusal:
            return self.refused(self._refusal, now)
        self._go(PIN, now)
        return [("show", "enter_pin", card["balance"])]

    def card_error(self, why, now):
        """A card APDU failed or the card was pulled."""
        state = self.state
        if state == IDLE:
            return []  # the card of a sale already over (refused, cancelled) leaves
        if state in (FUELLING, AUTHORIZED):
            self._go(SETTLING, now)
            return [("show", "card_removed", None), ("stop",)]
        if state == SETTLING:
            return [("show", "card_removed", None)]  # the journal keeps it grey: escape
        self._reset(now)
        return [("show", why, None), ("release",)]

    def card_removed(self, now):
        return self.card_error("card_removed", now)

    # -- keypad -------------------------------------------------------------------------
    def key(self, key, now):
        state = self.state
        self._since = now
        if key == "C" and state in (CARD, PIN, STAFF, ODO, PRESET):
            self._reset(now)
            return [("show", "cancelled", None), ("release",)]
        if state == PIN or state == STAFF:
            return self._pin_key(key, now)
        if state == LOAD_OFFER:
            return self._offer_key(key, now)
        if state == PRESET:
            return self._preset_key(key, now)
        if state == ODO:
            return self._odo_key(key, now)
        if state == AUTHORIZED and key == "C":
            return [("stop",)]
        if state == FUELLING and key == "C":
            return [("stop",)]
        return []

    def _pin_key(self, key, now):
        if "0" <= key <= "9" and len(self.pin) < 6:
            self.pin += key
            return [("show", "enter_pin" if self.state == PIN else "enter_staff",
                     len(self.pin))]
        if key == "E" and len(self.pin) >= 4:
            pin, self.pin = self.pin, ""
            return [("verify_pin" if self.state == PIN else "verify_staff", pin)]
        return []

    def pin_result(self, ok, tries_left, now):
        """VERIFY answered; for a plate-bound card the staff password comes next."""
        state = self.state
        if state != PIN and state != STAFF:
            return []
        if ok:
            if state == PIN and self.card["restrictions"].get("plate"):
                self._go(STAFF, now)
                return [("show", "enter_staff", None)]
            return self._after_pin(now)
        if tries_left:
            return [("show", "wrong_pin" if state == PIN else "wrong_staff", tries_left)]
        self._reset(now)
        return [("show", "pin_blocked" if state == PIN else "staff_blocked", None),
                ("release",)]

    def _after_pin(self, now):
        """After the PIN (and a plate-bound card's staff password): a fleet card's
        odometer, then a load waiting at the station, then the preset."""
        if fleetcard.is_fleet(self.card) and not self.odo:
            self._go(ODO, now)
            return [("show", "enter_odometer", "")]
        offer = load_offer(self.card)
        if offer is not None:
            self._go(LOAD_OFFER, now)
            return [("show", "load_offer", offer["amount"])]
        self._go(PRESET, now)
        return [("show", "choose_preset", None)]

    def _odo_key(self, key, now):
        """The odometer, km: a plausible reading (fleetcard.odometer_ok, against the last
        one the station told) goes on the bill; a bad one is keyed again, the
        ODO_TRIES-th ends the sale."""
        if "0" <= key <= "9" and len(self.digits) < fleetcard.ODO_DIGITS:
            self.digits += key
            return [("show", "enter_odometer", self.digits)]
        if key != "E" or not self.digits:
            return []
        km = int(self.digits)
        self.digits = ""
        last = self.card.get("station", {}).get("odometer")
        if fleetcard.odometer_ok(km, last, self.cfg.odometer_max_km):
            self.odo = km
            return self._after_pin(now)
        self._odo_bad += 1
        left = fleetcard.ODO_TRIES - self._odo_bad
        said = ("odometer_bad", km, last, left)  # the shell's event, as for a wrong PIN
        if left:
            return [said, ("show", "odometer_bad", left)]
        self._reset(now)
        return [said, ("show", "odometer_refused", None), ("release",)]

    # -- a load waiting at the station (cardload.py runs it) ----------------------------
    def _offer_key(self, key, now):
        if key == "E":
            self._go(LOADING, now)
            offer = load_offer(self.card)
            return [("show", "loading", offer["amount"]), ("load", offer)]
        if key == "C":  # no load now: the sale goes on (the money waits on)
            self._go(PRESET, now)
            return [("show", "choose_preset", None)]
        return []

    def loaded(self, balance, now):
        """The load is on the card: the sale goes on with its new balance."""
        if self.state != LOADING:
            return []
        self.card["balance"] = balance
        self.card["station"] = {}  # offered once: not again in this sale
        self._go(PRESET, now)
        return [("show", "choose_preset", None)]

    def load_failed(self, why, now):
        """No load (refused, no answer, the card refused it): the sale goes on with the
        balance the card had; `why` is shown."""
        if self.state != LOADING:
            return []
        self.card["station"] = {}
        self._go(PRESET, now)
        return [("show", why, None)]

    def _preset_key(self, key, now):
        if self.entry is None:
            if key in ("V", "A"):
                self.entry, self.digits = key, ""
                return [("show", "enter_volume" if key == "V" else "enter_amount", 0)]
            if key == "F":
                return self._lock(0, 0, now)
            return []
        if "0" <= key <= "9" and len(self.digits) < 6:
            self.digits += key
            return [("show", "enter_volume" if self.entry == "V" else "enter_amount",
                     int(self.digits))]
        if key == "E":
            value = int(self.digits) if self.digits else 0
            entry = self.entry
            self.entry = None
            self.digits = ""
            if value <= 0:
                return [("show", "refused", None)]
            if entry == "V":
                return self._lock(value * 10, 0, now)
            return self._lock(0, value, now)
        return []

    def _lock(self, volume_ml, amount, now):
        card = self.card
        price = discounted_price(self.prices.price, discount_for(card, self.cfg, self.today))
        if price < 1:  # never grey-lock a sale that could not be authorised
            self._reset(now)
            return [("show", "bad_discount", None), ("release",)]
        caps = caps_for(card, self.prices.grade, price)
        if amount:
            caps["amount"] = amount if amount < caps["amount"] else caps["amount"]
        caps["volume_ml"] = volume_ml
        caps["mode"] = "A" if amount else ("V" if volume_ml else "F")
        why = fleetcard.cap(caps, card.get("fleet"), self.cfg.min_sale_amount)  # EF1D
        if why:
            self._reset(now)
            return [("show", why, None), ("release",)]
        if caps["amount"] < self.cfg.min_sale_amount:
            self._reset(now)
            return [("show", "low_balance", None), ("release",)]
        self.caps = caps
        self._go(LOCKING, now)
        return [("show", "locking", None), ("grey_lock", caps)]

    # -- money and fuel -----------------------------------------------------------------
    def locked(self, lock, now):
        """The card is grey-locked and the PSAM trusts it: fuel may flow."""
        if self.state != LOCKING:
            return []
        self.sale = {"caps": self.caps, "lock": lock, "delivery": None}
        self._go(AUTHORIZED, now)
        return [("authorize", self.caps), ("show", "lift_nozzle", None)]

    def lock_failed(self, lock, now):
        """GREY LOCK or MAC2 failed: no fuel; a card already grey is settled for 0."""
        if self.state != LOCKING:
            return []
        if lock is None:
            self._reset(now)
            return [("show", "card_error", None), ("release",)]
        self.sale = {"caps": self.caps, "lock": lock, "delivery": None, "untrusted": True}
        self._go(SETTLING, now)
        return [("show", "card_error", None), ("settle", self.sale)]

    def fuelling(self, now):
        if self.state == AUTHORIZED:
            self._go(FUELLING, now)
        return []

    def delivered(self, delivery, now):
        """The dispenser settled the volume: debit the card for exactly its amount."""
        if self.sale is None or self.state not in (AUTHORIZED, FUELLING, SETTLING):
            return []
        self.sale["delivery"] = delivery
        self._go(SETTLING, now)
        return [("show", "settling", None), ("settle", self.sale)]

    def settled(self, tac, balance_after, now, amount=0):
        """The card paid `amount`: its balance on the screen, the receipt printed (the
        shell adds the loyalty points: rewards.py)."""
        if self.state != SETTLING:
            return []
        self._go(RECEIPT, now)
        return [("show", "take_receipt", balance_after), ("print",)]

    def refused(self, why, now):
        """The terminal itself will not sell now (offline limits, storage, power)."""
        self._reset(now)
        return [("show", why, None), ("release",)]

    def escaped(self, now):
        """The debit could not be made (card pulled): the journal keeps the sale as an
        escape, the card stays grey until it comes back (补扣)."""
        if self.state != SETTLING:
            return []
        self._reset(now)
        return [("show", "card_escaped", None)]

    def card_taken(self, now):
        if self.state == RECEIPT:
            self._reset(now)
            return [("show", "thank_you", None)]
        return self.card_removed(now)

    # -- time ---------------------------------------------------------------------------
    def tick(self, now):
        """Every waiting state gives up after its timeout."""
        state = self.state
        if state not in _WAITING:
            return []
        if ticks_diff(now, self._since) < self.cfg.sale_timeout_ms:
            return []
        if state == AUTHORIZED:
            return [("stop",)]  # the dispenser ends it; the sale settles for what flowed
        if state == RECEIPT:
            self._reset(now)
            return [("show", "ready", None)]
        self._reset(now)
        return [("show", "timed_out", None), ("release",)]
