"""Loyalty points, kept in the station's ledger per card (never on the card): the earning
rules the manager sets, the points journal (earned, redeemed, reversed; a card's balance
is the sum of its rows), the rewards the manager defines and their redemptions (a voucher
the card carries to its next sale).

Earning: a card sale (a FINAL with a card number, or an UNLOCK that took money: a grey
card's 补扣) earns points when the ledger stores it the first time (`stored`, the
ledger's hook inside its transaction): a record sent again is a duplicate and never
reaches the hook, one that conflicts is kept apart and never reaches it either; the
journal's key (terminal, journal, kind, sale) makes a second row impossible anyway.
The points are pumpside.points.earn's - the firmware's own function, so the pump's receipt
and this ledger agree: amount x rate(grade) x multiplier(card kind) % x (2 on a
double-points day) // (100 x 100), whole points rounded down: rate in points per currency
unit (100 minor units), the grade's own or the "*" rule's (0: none); the card kind's
multiplier in percent (no rule: 100); a double-points day by the bill's own local date or
weekday. The rules in force when the sale is stored apply (a sale uploaded after a rule
changed earns by the new rule; its day is still its own).

Redeeming: a reward (N % off, or a fixed amount off, the next fill, for a cost in
points) spends the points now and leaves a pending voucher on the card. A redemption
carries an id the client makes (a form's hidden field, the pump's own id: its terminal,
journal and a number it keeps on its flash): asked again with the same id it answers the
first result and spends nothing, so a retry after a lost answer spends once. A pending
voucher cancelled by a manager gives its points back (a `reversed` row).

At the pump (docs/protocol.md, REWARDS..REDEEM_ANSWER): after the PIN the pump asks
`offer(asn, card_type, terminal)` - the card's points, the rewards on offer, its pending vouchers
(their `number`, the redemption's row number: what the pump's journal names) and the
rule table for its receipt (the grades' rates, the card kind's multiplier, whether today
is a double day). A reward chosen there is `redeem_at_pump`: redeem() under the pump's id.
The pump applies one pending voucher (the oldest, or the one just redeemed) to that sale:
after the card's debit it journals the EVENT EV_VOUCHER (a = voucher number, b = the
sale), right before the sale's FINAL, and `stored` marks the voucher used by it. A
voucher whose sale never took it (no fuel, the card pulled before its debit, a power cut,
an answer that came too late) stays pending: the card's next fill takes it, here or at
any pump, or a manager cancels it and its points return. So points are spent once, and
never for nothing. The voucher a pump is offered first (the one it takes) is held for
that pump (`hold`: held_by, held_at), and so is one it redeemed: for HOLD_S seconds no
other pump is offered it, since the pump may sell with it while its link is down and its
EV_VOUCHER is not up yet; the same pump asking again gets it again. The holder's records
end the hold early: its EV_VOUCHER uses the voucher, a sale of the card stored from it
(FINAL, ESCAPE, UNLOCK) with the voucher still pending shows the sale went without it
(`release`); a manager's cancel ends it too. A pump offline longer than HOLD_S that sold
with the voucher can still meet another pump's sale with it after the hold ran out.
`receipt(terminal, journal, kind, sale)` gives the figures a receipt prints:
`points_earned` (this sale's) and `points_total` (the card's balance after it).

A registered card replaced (carddesk.py) hands its points to the new card (`carry`: a
`carried` row off the old card, one onto the new) and its pending vouchers with them.

The tables are made by the schema step loyalty (schema.py); only this module writes them.
"""
import re
import time

from pumpside import points as earning
from pumpside.journal import EV_VOUCHER

from .cardbook import CardBook
from .days import day_of
from .journals import LEGACY
from .masking import mask_card
from .problems import Invalid

SCHEMA = """
CREATE TABLE IF NOT EXISTS loyalty_rules (
    rule TEXT NOT NULL, key TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (rule, key));
CREATE TABLE IF NOT EXISTS loyalty_points (
    id INTEGER PRIMARY KEY AUTOINCREMENT, asn TEXT NOT NULL, kind TEXT NOT NULL,
    points INTEGER NOT NULL, at INTEGER NOT NULL, terminal TEXT, journal TEXT,
    sale_kind TEXT, sale INTEGER, redemption TEXT, why TEXT NOT NULL DEFAULT '',
    UNIQUE (terminal, journal, sale_kind, sale));
CREATE INDEX IF NOT EXISTS loyalty_points_card ON loyalty_points (asn, id);
CREATE TABLE IF NOT EXISTS loyalty_rewards (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, kind TEXT NOT NULL,
    value INTEGER NOT NULL, cost INTEGER NOT NULL, active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS loyalty_redemptions (
    id TEXT PRIMARY KEY, asn TEXT NOT NULL, reward INTEGER NOT NULL, kind TEXT NOT NULL,
    value INTEGER NOT NULL, cost INTEGER NOT NULL, state TEXT NOT NULL, at INTEGER NOT NULL,
    used_terminal TEXT, used_sale INTEGER)
"""
# schema step 17 (schema.py): the terminal a pending voucher is held for and since when
HOLD_COLUMNS = (("held_by", "TEXT"), ("held_at", "INTEGER"))

RULES = ("grade", "card_kind", "double_day")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REWARD_KINDS = ("percent", "amount")
EARNED, REDEEMED, REVERSED, CARRIED = "earned", "redeemed", "reversed", "carried"
PENDING, USED, CANCELLED = "pending", "used", "cancelled"
TYPE_KINDS = {1: "registered", 2: "anonymous"}  # EF16's card type, for a card not issued here
RATE_MAX = 10000  # points per currency unit
PERCENT_MAX = 1000  # a card kind's multiplier, %
COST_MAX = 10_000_000
AMOUNT_MAX = 10_000_000  # minor units off a fill
OFFER_MAX = 8  # rewards told to the pump (its menu picks one by its digit 1-8)
VOUCHERS_MAX = 4  # pending vouchers told to the pump (it applies the oldest)
HOLD_S = 900  # a voucher offered to a pump is held for it this long (offer, below)
NAME_AT_PUMP = 16  # characters of a reward's name told to the pump (its screen, its heap)
ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}\Z")


def _whole(value, low, high, what):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Invalid("loyalty_number", what=what, low=low, high=high)
    return value


def _card(asn):
    if not isinstance(asn, str) or len(asn) != 16 or not asn.isdigit():
        raise Invalid("card")
    return asn


class Loyalty:
    def __init__(self, db):
        self.db = db
        self.book = CardBook(db)
        self.clock = time.time

    # -- rules ------------------------------------------------------------------------------
    def rules(self):
        """{"grade": {grade or "*": points per currency unit}, "card_kind": {kind: %},
        "double_day": [YYYY-MM-DD or weekday, ...]}."""
        out = {"grade": {}, "card_kind": {}, "double_day": []}
        for rule, key, value in self.db.execute(
                "SELECT rule, key, value FROM loyalty_rules ORDER BY rule, key"):
            if rule == "double_day":
                out[rule].append(key)
            else:
                out[rule][key] = value
        return out

    @staticmethod
    def check_rule(rule, key, value):
        """(rule, key, value) checked (Invalid: which and why); value None removes it."""
        if rule not in RULES:
            raise Invalid("loyalty_rule", choices=", ".join(RULES))
        key = key.strip().lower() if isinstance(key, str) else ""
        if rule == "grade":
            if not 0 < len(key) <= 8 or not key.isprintable():
                raise Invalid("grade")
            if value is not None:
                _whole(value, 0, RATE_MAX, "points per unit")
        elif rule == "card_kind":
            if not 0 < len(key) <= 16 or not key.replace(" ", "").isalnum():
                raise Invalid("loyalty_kind")
            if value is not None:
                _whole(value, 0, PERCENT_MAX, "multiplier %")
        else:
            if key not in WEEKDAYS:
                try:
                    if time.strftime("%Y-%m-%d", time.strptime(key, "%Y-%m-%d")) != key:
                        raise ValueError(key)
                except ValueError:
                    raise Invalid("loyalty_day") from None
            if value is not None:
                value = 1
        return rule, key, value

    def set_rule(self, rule, key, value):
        """Set (or, value None, remove) one rule: returns (old, new) as the audit shows
        them (None: none)."""
        rule, key, value = self.check_rule(rule, key, value)
        row = self.db.execute("SELECT value FROM loyalty_rules WHERE rule = ? AND key = ?",
                              (rule, key)).fetchone()
        if value is None:
            self.db.execute("DELETE FROM loyalty_rules WHERE rule = ? AND key = ?",
                            (rule, key))
        else:
            self.db.execute("INSERT OR REPLACE INTO loyalty_rules VALUES (?, ?, ?)",
                            (rule, key, value))
        return (None if row is None else row[0]), value

    def kind_of(self, asn, record=None):
        """The card's kind: the card desk's (registered, anonymous, ...), else its type
        byte's."""
        card = self.book.get(asn)
        if card is not None:
            return card["kind"]
        card_type = (record or {}).get("card_type") or 0
        return TYPE_KINDS.get(card_type, "type %d" % card_type)

    @staticmethod
    def double_day(rules, at):
        """Unix second `at` falls on a double-points day of `rules` (its local date or its
        weekday)."""
        days = rules["double_day"]
        return day_of(at) in days or WEEKDAYS[time.localtime(at).tm_wday] in days

    def points_for(self, amount, grade, kind, at):
        """The points a sale of `amount` minor units of `grade` by a card of `kind` at
        Unix second `at` (its local day) earns under the rules now (pumpside.points)."""
        rules = self.rules()
        return earning.earn(amount, earning.rate_of(rules["grade"], grade),
                            rules["card_kind"].get(kind, 100), self.double_day(rules, at))

    # -- the ledger's hook ------------------------------------------------------------------
    def stored(self, terminal, record, kind, journal=LEGACY):
        """A record stored the first time (ledger.store, inside its transaction): a card
        sale earns its points; the pump's EV_VOUCHER event (a voucher applied to its sale,
        journaled right before that sale's FINAL) marks the voucher used; a sale of a card
        (FINAL, ESCAPE, UNLOCK) releases the card's vouchers still held by that terminal
        (release)."""
        if kind == "EVENT" and record.get("code") == EV_VOUCHER:
            self.use(record.get("a"), terminal, record.get("b"))
            return
        asn = record.get("asn")
        if kind not in ("FINAL", "UNLOCK", "ESCAPE") or not isinstance(asn, str) or \
                len(asn) != 16:
            return
        self.release(asn, terminal)
        if kind == "ESCAPE":
            return
        amount = record.get("amount") or 0
        if amount <= 0:  # a marker (settled elsewhere), an empty sale
            return
        at = record.get("time") or int(self.clock())
        points = self.points_for(amount, record.get("grade"), self.kind_of(asn, record), at)
        if points <= 0:
            return
        self.db.execute("INSERT OR IGNORE INTO loyalty_points (asn, kind, points, at, "
                        "terminal, journal, sale_kind, sale, why) VALUES (?,?,?,?,?,?,?,?,?)",
                        (asn, EARNED, points, int(self.clock()), terminal, journal, kind,
                         record["sale"], "%s %d of %s" % (kind, record["sale"], terminal)))

    def use(self, number, terminal, sale):
        """The pending voucher `number` (its row number, as the pump names it) was applied
        to `terminal`'s sale `sale`: used. Another state (cancelled meanwhile, used) stays
        as it is."""
        if not isinstance(number, int) or not isinstance(sale, int):
            return
        self.db.execute("UPDATE loyalty_redemptions SET state = ?, used_terminal = ?, "
                        "used_sale = ? WHERE rowid = ? AND state = ?",
                        (USED, terminal, sale, number, PENDING))

    def hold(self, number, terminal, now):
        """The pending voucher `number` is held for `terminal` from `now` (offer,
        redeem_at_pump): for HOLD_S seconds no other terminal is offered it."""
        self.db.execute("UPDATE loyalty_redemptions SET held_by = ?, held_at = ? WHERE "
                        "rowid = ? AND state = ?", (terminal, int(now), number, PENDING))

    def release(self, asn, terminal):
        """`terminal`'s records show a sale of the card stored (its FINAL, ESCAPE or
        UNLOCK): a voucher of the card still pending and held by that terminal was not
        taken by it (the pump journals EV_VOUCHER right before the FINAL, and `stored`
        has marked a voucher it took used by then): held no longer, any pump's again."""
        self.db.execute("UPDATE loyalty_redemptions SET held_by = NULL, held_at = NULL "
                        "WHERE asn = ? AND held_by = ? AND state = ?",
                        (asn, terminal, PENDING))

    # -- balances ---------------------------------------------------------------------------
    def balance(self, asn):
        return self.db.execute("SELECT COALESCE(SUM(points), 0) FROM loyalty_points WHERE "
                               "asn = ?", (asn,)).fetchone()[0]

    def journal(self, asn):
        """The card's points rows, oldest first: id, kind, points, at, terminal, sale,
        redemption, why."""
        names = ("id", "kind", "points", "at", "terminal", "sale", "redemption", "why")
        return [dict(zip(names, row)) for row in self.db.execute(
            "SELECT %s FROM loyalty_points WHERE asn = ? ORDER BY id" % ", ".join(names),
            (asn,))]

    def totals(self, asn):
        """{"earned", "redeemed", "reversed", "carried", "balance"} of the card (redeemed
        as a positive figure; carried: from a replaced card, less to its replacement;
        balance = earned - redeemed + reversed + carried)."""
        out = {EARNED: 0, REDEEMED: 0, REVERSED: 0, CARRIED: 0}
        for kind, points in self.db.execute("SELECT kind, SUM(points) FROM loyalty_points "
                                            "WHERE asn = ? GROUP BY kind", (asn,)):
            out[kind] = -points if kind == REDEEMED else points
        out["balance"] = out[EARNED] - out[REDEEMED] + out[REVERSED] + out[CARRIED]
        return out

    def carry(self, asn, successor, now=None):
        """A replaced card's points and pending vouchers go to its replacement (the card
        desk's replace, inside its transaction): a `carried` row off the old card and
        one onto the new, each card's balance still its rows' sum; a pending voucher keeps
        its number (the pumps name it by it) and is the new card's next fill's. Returns
        (points carried, vouchers moved)."""
        points = self.balance(asn)
        at = int(now or self.clock())
        if points:
            for card, signed, why in ((asn, -points, "carried to " + mask_card(successor)),
                                      (successor, points, "carried from " + mask_card(asn))):
                self.db.execute("INSERT INTO loyalty_points (asn, kind, points, at, why) "
                                "VALUES (?,?,?,?,?)", (card, CARRIED, signed, at, why))
        moved = self.db.execute("UPDATE loyalty_redemptions SET asn = ? WHERE asn = ? AND "
                                "state = ?", (successor, asn, PENDING)).rowcount
        return points, moved

    def receipt(self, terminal, journal, kind, sale):
        """The receipt's figures of a stored card sale: {"points_earned": n,
        "points_total": the card's balance after it} (earned 0: the sale earned none;
        None: no such card sale)."""
        row = self.db.execute("SELECT asn FROM sales WHERE terminal = ? AND journal = ? AND "
                              "kind = ? AND sale = ?", (terminal, journal, kind,
                                                        sale)).fetchone()
        if row is None or not row[0]:
            return None
        earned = self.db.execute("SELECT id, points FROM loyalty_points WHERE terminal = ? "
                                 "AND journal = ? AND sale_kind = ? AND sale = ?",
                                 (terminal, journal, kind, sale)).fetchone()
        if earned is None:
            return {"points_earned": 0, "points_total": self.balance(row[0])}
        total = self.db.execute("SELECT SUM(points) FROM loyalty_points WHERE asn = ? AND "
                                "id <= ?", (row[0], earned[0])).fetchone()[0]
        return {"points_earned": earned[1], "points_total": total}

    # -- rewards ----------------------------------------------------------------------------
    def add_reward(self, name, kind, value, cost):
        name = name.strip() if isinstance(name, str) else ""
        if not 0 < len(name) <= 40 or not name.isprintable():
            raise Invalid("loyalty_reward_name")
        if kind not in REWARD_KINDS:
            raise Invalid("loyalty_reward_kind", choices=", ".join(REWARD_KINDS))
        _whole(value, 1, 100 if kind == "percent" else AMOUNT_MAX,
               "percent off" if kind == "percent" else "amount off")
        _whole(cost, 1, COST_MAX, "cost in points")
        return self.db.execute("INSERT INTO loyalty_rewards (name, kind, value, cost) "
                               "VALUES (?,?,?,?)", (name, kind, value, cost)).lastrowid

    def set_reward_active(self, reward_id, active):
        reward = self.reward(reward_id)
        self.db.execute("UPDATE loyalty_rewards SET active = ? WHERE id = ?",
                        (1 if active else 0, reward["id"]))
        return reward

    def reward(self, reward_id):
        row = self.db.execute("SELECT id, name, kind, value, cost, active FROM "
                              "loyalty_rewards WHERE id = ?", (reward_id,)).fetchone() \
            if isinstance(reward_id, int) else None
        if row is None:
            raise Invalid("loyalty_no_reward", id=reward_id)
        return dict(zip(("id", "name", "kind", "value", "cost", "active"), row))

    def rewards(self, active_only=False):
        return [dict(zip(("id", "name", "kind", "value", "cost", "active"), row))
                for row in self.db.execute(
                    "SELECT id, name, kind, value, cost, active FROM loyalty_rewards %s "
                    "ORDER BY id" % ("WHERE active = 1" if active_only else ""))]

    # -- redemptions ------------------------------------------------------------------------
    def redemption(self, redemption_id):
        """The redemption of that id: id, asn, reward, kind, value, cost, state, at,
        used_terminal, used_sale, `number` (its row number: the pump's name for the
        voucher), held_by and held_at (the terminal it is held for and since when: offer;
        None: none)."""
        row = self.db.execute("SELECT id, asn, reward, kind, value, cost, state, at, "
                              "used_terminal, used_sale, rowid, held_by, held_at FROM "
                              "loyalty_redemptions WHERE id = ?", (redemption_id,)).fetchone()
        return None if row is None else dict(zip(
            ("id", "asn", "reward", "kind", "value", "cost", "state", "at", "used_terminal",
             "used_sale", "number", "held_by", "held_at"), row))

    def redeemed_before(self, redemption_id, asn, reward_id):
        """The first result of a redemption asked again (same id): the same card and
        reward, or Invalid (the id was used for another); None: a new one."""
        if not isinstance(redemption_id, str) or not ID_RE.match(redemption_id):
            raise Invalid("loyalty_redemption_id")
        before = self.redemption(redemption_id)
        if before is not None and (before["asn"], before["reward"]) != (asn, reward_id):
            raise Invalid("loyalty_redemption_other", id=redemption_id)
        return before

    def redeem(self, asn, reward_id, redemption_id, now=None):
        """Spend the reward's cost from the card's points: a pending voucher. Returns the
        redemption (its first result when `redemption_id` was seen before)."""
        _card(asn)
        before = self.redeemed_before(redemption_id, asn, reward_id)
        if before is not None:
            return before
        reward = self.reward(reward_id)
        if not reward["active"]:
            raise Invalid("loyalty_reward_off", id=reward_id)
        card = self.book.get(asn)
        if card is not None and card["status"] != "active":
            raise Invalid("loyalty_card_state", state=card["status"])
        have = self.balance(asn)
        if have < reward["cost"]:
            raise Invalid("loyalty_short", have=have, cost=reward["cost"])
        now = int(now or self.clock())
        self.db.execute("INSERT INTO loyalty_redemptions (id, asn, reward, kind, value, cost, "
                        "state, at) VALUES (?,?,?,?,?,?,?,?)",
                        (redemption_id, asn, reward["id"], reward["kind"], reward["value"],
                         reward["cost"], PENDING, now))
        self.db.execute("INSERT INTO loyalty_points (asn, kind, points, at, redemption, why) "
                        "VALUES (?,?,?,?,?,?)", (asn, REDEEMED, -reward["cost"], now,
                                                 redemption_id, reward["name"]))
        return self.redemption(redemption_id)

    # -- at the pump (server.py: REWARDS, REDEEM) -------------------------------------------
    def offer(self, asn, card_type, terminal, now=None):
        """The REWARDS_ANSWER for a card at `terminal`: its points, the rewards on offer
        (at most OFFER_MAX, cheapest first), its pending vouchers (oldest first, at most
        VOUCHERS_MAX: [number, kind, value]) and its rule table (`rates`: the grades'
        rates, `pct`: its kind's multiplier, `double`: today is a double day).

        A voucher held for another terminal within HOLD_S is not listed (that pump may be
        selling with it offline). The first one listed - the one the pump takes (it
        applies the oldest sound one) - is held for `terminal` from `now` (hold): the
        same terminal asking again gets it again; its records release it (release: the
        card's sale without it) or use it (EV_VOUCHER), a manager's cancel ends it."""
        _card(asn)
        now = int(now or self.clock())
        rules = self.rules()
        kind = self.kind_of(asn, {"card_type": card_type})
        rewards = sorted(self.rewards(active_only=True), key=lambda r: (r["cost"], r["id"]))
        vouchers = [v for v in self.vouchers(asn)
                    if v["held_by"] in (None, terminal) or v["held_at"] is None or
                    now - v["held_at"] >= HOLD_S][:VOUCHERS_MAX]
        if vouchers:
            self.hold(vouchers[0]["number"], terminal, now)
        return {"asn": asn, "points": max(0, self.balance(asn)),
                "rewards": [[r["id"], r["name"][:NAME_AT_PUMP], r["cost"], r["kind"],
                             r["value"]]
                            for r in rewards[:OFFER_MAX]],
                "vouchers": [[v["number"], v["kind"], v["value"]] for v in vouchers],
                "rates": rules["grade"], "pct": rules["card_kind"].get(kind, 100),
                "double": self.double_day(rules, now)}

    def redeem_at_pump(self, terminal, asn, reward_id, redemption_id):
        """A REDEEM from the pump: redeem() under the pump's id, answered as its
        REDEEM_ANSWER (status ok with the voucher's number, kind and value and the points
        left, or refused and why). The same id again answers the first result. The id is
        the pump's own: it starts with the terminal's id and "-" (no two pumps share one).
        The voucher is held for the terminal from the start (hold: it comes off this
        sale)."""
        if not isinstance(redemption_id, str) or not redemption_id.startswith(terminal + "-"):
            return {"redemption_id": str(redemption_id)[:64], "status": "refused",
                    "why": "not this terminal's redemption id"}
        try:
            voucher = self.redeem(asn, reward_id, redemption_id)
        except Invalid as e:
            return {"redemption_id": redemption_id, "status": "refused", "why": str(e)[:80]}
        if voucher["state"] != PENDING:  # cancelled at the desk, or used by a sale already
            return {"redemption_id": redemption_id, "status": "refused",
                    "why": "voucher " + voucher["state"]}
        self.hold(voucher["number"], terminal, self.clock())
        return {"redemption_id": redemption_id, "status": "ok", "voucher": voucher["number"],
                "kind": voucher["kind"], "value": voucher["value"],
                "points": max(0, self.balance(asn))}

    def cancel(self, redemption_id, now=None):
        """A pending voucher taken back: its points return (a `reversed` row)."""
        voucher = self.redemption(redemption_id) if isinstance(redemption_id, str) else None
        if voucher is None:
            raise Invalid("loyalty_no_redemption", id=redemption_id)
        if voucher["state"] != PENDING:
            raise Invalid("loyalty_not_pending", id=redemption_id, state=voucher["state"])
        now = int(now or self.clock())
        self.db.execute("UPDATE loyalty_redemptions SET state = ?, held_by = NULL, "
                        "held_at = NULL WHERE id = ?", (CANCELLED, redemption_id))
        self.db.execute("INSERT INTO loyalty_points (asn, kind, points, at, redemption, why) "
                        "VALUES (?,?,?,?,?,?)", (voucher["asn"], REVERSED, voucher["cost"],
                                                 now, redemption_id, "voucher cancelled"))
        return voucher

    def vouchers(self, asn, states=(PENDING,)):
        return [v for v in (self.redemption(row[0]) for row in self.db.execute(
            "SELECT id FROM loyalty_redemptions WHERE asn = ? ORDER BY at, rowid", (asn,)))
            if v["state"] in states]

    def voucher_for(self, asn):
        """The voucher the card's next fill takes (the oldest pending one, as the pump's
        REWARDS_ANSWER lists them first), as the card query shows it; None: none."""
        pending = self.vouchers(asn)
        if not pending:
            return None
        v = pending[0]
        return {"voucher": v["id"], "off_pct" if v["kind"] == "percent" else "off":
                v["value"]}


def describe(voucher):
    """A voucher as people read it: "10 % off" / "5.00 off"."""
    if voucher["kind"] == "percent":
        return "%d %% off" % voucher["value"]
    return "%d.%02d off" % (voucher["value"] // 100, voucher["value"] % 100)
