"""The back office's card desk page (/cards): every card issued here (numbers masked),
one card's account by its number as the operator types it, and the desk's acts that need
no card in a reader: take cash or record an online top-up (it waits for the card's next
visit to the desk), report a card lost, unblock it. Issuing, loading, replacing and PIN
resets need the card in the desk's reader: `pumpside station card-*` (station_cards_cli).
Every act goes through the service layer (role and audit)."""
from starlette.routing import Route

from ..carddesk import DeskError
from ..masking import mask_card
from ..problems import Note

AMOUNT_MAX = 10_000_000  # minor units one desk act takes (100,000.00)


def routes(service, page, guarded, text, number, BadInput, fresh, status_of):  # noqa: N803
    """The /cards routes; `page`, `guarded`, `text` and `number` are the app's helpers
    (web/__init__.py), BadInput its bad-form error."""

    def cards_page(request, actor, asn=None, status=200, **context):
        rows = [service.card(actor, a) for a in service.cards(actor)]
        account = None
        if asn:
            try:
                account = service.card(actor, asn)
            except DeskError as e:
                context.setdefault("error", e)
                status = 400 if status == 200 else status  # bad input, as /metrology?pump=P9
        return page(request, "cards.html", actor, status=status, rows=rows,
                    account=account, version=service.card_version(actor, asn)
                    if account else None, **context)

    async def cards(request, actor, form):
        return cards_page(request, actor, request.query_params.get("card", "").strip())

    async def act(request, actor, form):
        asn = ""
        try:
            asn = text(form, "card").strip()
            what = text(form, "what")
            # a form from before another act on this card (a second tab, a colleague): stale
            fresh(form, service.card_version(actor, asn), "card")
            if what == "cash" or what == "online":
                amount = number(form, "amount", 1, AMOUNT_MAX)
                service.card_fund(actor, asn, amount, what)
                done = Note("card_funded", card=mask_card(asn),
                            amount="%d.%02d" % (amount // 100, amount % 100))
            elif what == "lost":
                service.card_lost(actor, asn)
                done = Note("card_lost", card=mask_card(asn))
            elif what == "unblock":
                service.card_unblock(actor, asn, text(form, "id_last4"))
                done = Note("card_unblocked", card=mask_card(asn))
            else:
                raise BadInput("unknown_change", what=repr(what))
        except ValueError as e:  # DeskError, BadInput: nothing changed
            return cards_page(request, actor, asn, status=status_of(e), error=e)
        return cards_page(request, actor, asn, done=done)

    return [Route("/cards", guarded("read", cards)),
            Route("/cards", guarded("card-desk", act), methods=["POST"])]
