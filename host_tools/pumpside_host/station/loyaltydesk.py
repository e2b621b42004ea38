"""The service layer's loyalty calls (a part of service.Service): the manager's earning
rules and rewards, redemption at the desk (a cashier may), a voucher taken back, and the
reads. Each change checks the role first and is audited in its own transaction
(service._tx); a card number shows masked in the trail. A redemption asked again with
the same id answers its first result and writes nothing, not even an audit record."""
from .loyalty import describe
from .masking import mask_card

# the loyalty calls that change the store, by the permission each needs (service.ROLE_OF)
LOYALTY_MUTATORS = {"set_loyalty_rule": "loyalty", "add_reward": "loyalty",
                    "set_reward_active": "loyalty", "redeem": "card-desk",
                    "cancel_voucher": "loyalty"}


class LoyaltyCalls:
    """Mixed into service.Service: uses its check() and _tx()."""

    def set_loyalty_rule(self, actor, rule, key, value):
        """Set a rule (value None: remove it): grade -> points per currency unit, card_kind
        -> multiplier %, double_day (YYYY-MM-DD or mon..sun) -> on (any value) / off."""
        self.check(actor, "loyalty")
        loyalty = self.ledger.loyalty
        rule, key, value = loyalty.check_rule(rule, key, value)

        def run():
            old, new = loyalty.set_rule(rule, key, value)
            return "" if old is None else old, "(removed)" if new is None else new, None
        self._tx(actor)(run, "loyalty-rule", "%s %s" % (rule, key))

    def add_reward(self, actor, name, kind, value, cost):
        """A reward (kind "percent": value % off the next fill; "amount": value minor
        units off) for `cost` points: returns its id."""
        self.check(actor, "loyalty")

        def run():
            reward_id = self.ledger.loyalty.add_reward(name, kind, value, cost)
            reward = self.ledger.loyalty.reward(reward_id)
            return "", "%s: %s for %d points" % (reward["name"], describe(reward),
                                                  cost), reward_id
        return self._tx(actor)(run, "loyalty-reward-add", "reward")

    def set_reward_active(self, actor, reward_id, active):
        """Withdraw a reward (no new redemption) or offer it again."""
        self.check(actor, "loyalty")

        def run():
            reward = self.ledger.loyalty.set_reward_active(reward_id, active)
            return "offered" if reward["active"] else "withdrawn", \
                "offered" if active else "withdrawn", None
        self._tx(actor)(run, "loyalty-reward-" + ("on" if active else "off"),
                        "reward %s" % reward_id)

    def redeem(self, actor, asn, reward_id, redemption_id, now=None):
        """Spend a card's points on a reward: a voucher the card carries to its next
        fill. `redemption_id` is the client's: asked again, the first result."""
        self.check(actor, "card-desk")
        loyalty = self.ledger.loyalty
        before = loyalty.redeemed_before(redemption_id, asn, reward_id)
        if before is not None:
            return before

        def run():
            voucher = loyalty.redeem(asn, reward_id, redemption_id, now)
            return "%d points" % (loyalty.balance(asn) + voucher["cost"]), \
                "%d points, voucher %s: %s" % (loyalty.balance(asn), redemption_id,
                                               describe(voucher)), voucher
        return self._tx(actor)(run, "loyalty-redeem", mask_card(asn) if isinstance(asn, str)
                               else "?")

    def cancel_voucher(self, actor, redemption_id, now=None):
        """A pending voucher taken back: its points return to the card."""
        self.check(actor, "loyalty")

        def run():
            voucher = self.ledger.loyalty.cancel(redemption_id, now)
            return "pending", "cancelled, %d points back" % voucher["cost"], voucher
        return self._tx(actor)(run, "loyalty-cancel", "voucher %s" % redemption_id)

    # -- reads ------------------------------------------------------------------------------
    def loyalty_rules(self, actor):
        self.check(actor, "read")
        return self.ledger.loyalty.rules()

    def rewards(self, actor):
        self.check(actor, "read")
        return self.ledger.loyalty.rewards()

    def points(self, actor, asn):
        """A card's points: totals (earned, redeemed, reversed, balance), the journal,
        its vouchers (pending, used, cancelled) and the one its next fill takes."""
        self.check(actor, "read")
        loyalty = self.ledger.loyalty
        return {"masked": mask_card(asn), "totals": loyalty.totals(asn),
                "journal": loyalty.journal(asn),
                "vouchers": loyalty.vouchers(asn, ("pending", "used", "cancelled")),
                "next": loyalty.voucher_for(asn)}

    def sale_points(self, actor, terminal, journal, kind, sale):
        """A stored card sale's receipt figures: points_earned, points_total."""
        self.check(actor, "read")
        return self.ledger.loyalty.receipt(terminal, journal, kind, sale)
