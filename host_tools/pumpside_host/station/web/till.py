"""The back office's till (/till: the kiosk's cashier, tilldesk.py through the service
layer): the attended sales waiting for payment (the cashier takes cash or a bank card and
the sale leaves the list), a pump prepaid for a sum, the prepaid orders' change owed (the
cashier hands it over and it leaves the list), and the manager's "refuse the next sale on
a pump with an unpaid one" setting (POST /till/setting). /till/rows: the unpaid sales'
rows alone, which the page polls (static/live.js).

A form acts on the sale or order it names: one dealt with already (a second tab, a
colleague) is refused and changes nothing; the setting's form carries its version.
"""
from starlette.routing import Route

from ..problems import Note
from ..till import TILL_KINDS
from . import BadInput, _int, _money, _text, fresh, status_of
from .tanks import _decimal

AMOUNT_MAX = 10 ** 9


def routes(service, page, guarded, may):
    """The till's routes (make_app's page, guarded and may)."""

    def till_page(request, actor, status=200, **context):
        return page(request, "till.html", actor, status=status, till=service.till(actor),
                    kinds=TILL_KINDS, may_set=may(actor, "params"),
                    terminals=[t["terminal"] for t in service.terminals(actor)], **context)

    async def till(request, actor, form):
        return till_page(request, actor)

    async def rows(request, actor, form):
        """The unpaid sales' rows alone: the page polls them (static/live.js), so a sale
        shows without a reload."""
        return page(request, "till_rows.html", actor, till=service.till(actor),
                    kinds=TILL_KINDS)

    async def change_rows(request, actor, form):
        """The change owed's rows alone (the page polls them): an order shows as soon as
        its pump's sale settles it."""
        return page(request, "till_change_rows.html", actor, till=service.till(actor))

    async def act(request, actor, form):
        try:
            what = _text(form, "what")
            if what == "pay":
                kind = _text(form, "kind")
                sale = service.till_pay(actor, _int(form, "sale", 1, 2 ** 62), kind)
                done = Note("till_taken", sale=sale["sale"], terminal=sale["terminal"],
                            amount=_money(sale["amount"]), kind=kind)
            elif what == "prepay":
                kind = _text(form, "kind")
                order = service.till_prepay(
                    actor, _text(form, "terminal"), _int(form, "pump", 1, 99),
                    _decimal(form, "amount", 100, 1, AMOUNT_MAX), kind)
                done = Note("till_prepaid", terminal=order["terminal"], pump=order["pump"],
                            amount=_money(order["amount"]), kind=kind,
                            order=order["order_no"])
            elif what == "change":
                order = _text(form, "order")
                amount = service.till_change(actor, order)
                done = Note("till_change", order=order, amount=_money(amount))
            else:
                raise BadInput("field_choice", field="what", choices="pay, prepay, change")
        except ValueError as e:
            return till_page(request, actor, status=status_of(e), error=e)
        return till_page(request, actor, done=done)

    async def setting(request, actor, form):
        try:
            on = _text(form, "refuse_next")
            if on not in ("on", "off"):
                raise BadInput("field_choice", field="refuse_next", choices="on, off")
            fresh(form, service.till(actor)["version"], "till's setting")
            service.set_till_refuse_next(actor, on == "on")
        except ValueError as e:
            return till_page(request, actor, status=status_of(e), error=e)
        return till_page(request, actor, done=Note("till_setting", state=on))

    return [
        Route("/till", guarded("till", till)),
        Route("/till/rows", guarded("till", rows)),
        Route("/till/change", guarded("till", change_rows)),
        Route("/till", guarded("till", act), methods=["POST"]),
        Route("/till/setting", guarded("params", setting), methods=["POST"]),
    ]
