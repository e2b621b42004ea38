"""The back office's loyalty page (/loyalty): the earning rules and the rewards (their
forms a manager's), one card's points by its number (totals, the journal, its vouchers)
with a redeem form (a cashier may) and, for a manager, a pending voucher taken back.

Every change goes through the service layer (loyaltydesk.py: role and audit). The redeem
form carries a redemption id made when the page was drawn: the same form sent twice (a
double click, a retry after a lost answer) spends the points once and shows the first
result."""
import secrets

from starlette.routing import Route

from ..problems import Note
from ..service import Refused

NUMBER_MAX = 10_000_000


def routes(app):
    """The /loyalty routes, given make_app's parts (service, page, guarded, may,
    int_field, text_field, BadInput)."""
    service, page = app.service, app.page

    def card_of(text):
        text = (text or "").strip()
        if text and (len(text) != 16 or not text.isdigit()):
            raise app.BadInput("card")
        return text

    def loyalty_page(request, actor, asn="", status=200, **context):
        account = service.points(actor, asn) if asn else None
        rewards = service.rewards(actor)
        return page(request, "loyalty.html", actor, status=status,
                    rules=service.loyalty_rules(actor), rewards=rewards,
                    offered=[r for r in rewards if r["active"]], account=account, asn=asn,
                    redemption=secrets.token_hex(8),
                    may_set=app.may(actor, "loyalty"), may_redeem=app.may(actor, "card-desk"),
                    **context)

    async def loyalty(request, actor, form):
        try:
            asn = card_of(request.query_params.get("card"))
        except ValueError as e:
            return loyalty_page(request, actor, status=400, error=e)
        return loyalty_page(request, actor, asn)

    async def change(request, actor, form):
        asn = ""
        try:
            what = app.text_field(form, "what")
            if what == "rule":
                rule, key = app.text_field(form, "rule"), app.text_field(form, "key")
                value = None if form.get("remove") else app.int_field(form, "value", 0,
                                                                      NUMBER_MAX)
                service.set_loyalty_rule(actor, rule, key, value)
                done = Note("loyalty_rule_set", rule=rule, key=key.strip())
            elif what == "reward":
                reward_id = service.add_reward(
                    actor, app.text_field(form, "name"), app.text_field(form, "kind"),
                    app.int_field(form, "value", 1, NUMBER_MAX),
                    app.int_field(form, "cost", 1, NUMBER_MAX))
                done = Note("loyalty_reward_added", id=reward_id)
            elif what == "redeem":
                asn = card_of(app.text_field(form, "card"))
                voucher = service.redeem(actor, asn, app.int_field(form, "reward", 1, 2 ** 62),
                                         app.text_field(form, "redemption"))
                done = Note("loyalty_redeemed", id=voucher["id"],
                            balance=service.points(actor, asn)["totals"]["balance"])
            elif what == "cancel":
                asn = card_of(form.get("card"))
                voucher = service.cancel_voucher(actor, app.text_field(form, "redemption"))
                done = Note("loyalty_cancelled", id=voucher["id"])
            else:
                raise app.BadInput("field_choice", field="what",
                                   choices="rule, reward, redeem, cancel")
        except Refused:
            raise  # 403 (guarded)
        except ValueError as e:  # Invalid, BadInput: nothing changed
            return loyalty_page(request, actor, asn if not isinstance(asn, str) or
                                len(asn) == 16 else "", status=400, error=e)
        return loyalty_page(request, actor, asn, done=done)

    return [Route("/loyalty", app.guarded("read", loyalty)),
            Route("/loyalty", app.guarded("card-desk", change), methods=["POST"])]
