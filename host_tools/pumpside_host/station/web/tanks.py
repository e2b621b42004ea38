"""The back office's tanks page (/tanks): levels as the gauge last read them, readings,
deliveries, the daily reconciliation and its monthly trend (Chart.js, vendored), and the
forms of the tanks' set-up, delivery notes and dips (manager, administrator: through the
service layer, audited). Reading it needs "read"; the reconciliation part "reports"."""
import time

from starlette.responses import JSONResponse
from starlette.routing import Route

from ..days import day_of
from ..problems import Note
from ..service import Refused
from . import BadInput, _int, _text, fresh, status_of


def _decimal(form, name, scale, low, high):
    """A decimal field (litres, degrees) as whole units of 1/scale."""
    from decimal import Decimal, InvalidOperation

    text = _text(form, name).strip()
    try:
        value = Decimal(text) * scale
    except InvalidOperation:
        raise BadInput("field_decimal", field=name) from None
    if value != value.to_integral_value():
        raise BadInput("field_decimals", field=name)
    value = int(value)
    if not low <= value <= high:
        raise BadInput("field_bounds", field=name)
    return value


def routes(ledger, service, page):
    """The routes of the tanks page; `page`: make_app's page(request, template, actor,
    status, **context). make_app wraps each handler in its role guard."""
    tanks = ledger.tanks

    def may(actor, what):
        try:
            service.check(actor, what)
        except Refused:
            return False
        return True

    def tanks_page(request, actor, status=200, **message):
        chosen = request.query_params.get("tank", "")
        all_tanks = tanks.all()
        for tank in all_tanks:
            r = tank["reading"]
            tank["percent"] = r["volume_ml"] * 100 // tank["capacity_ml"] if r else None
        number = int(chosen) if chosen.isdigit() else (all_tanks[0]["number"]
                                                      if all_tanks else None)
        month = request.query_params.get("month") or day_of(int(time.time()))[:7]
        reports = may(actor, "reports")
        may_change = may(actor, "tanks")
        return page(request, "tanks.html", actor, status=status, tanks=all_tanks,
                    number=number, month=month, may_change=may_change,
                    version=service.version_of(actor, "tanks") if may_change else None,
                    reports=reports,
                    readings=tanks.readings(number, limit=20)[::-1] if number else [],
                    deliveries=tanks.deliveries()[-30:][::-1],
                    days=tanks.days(number, month) if number and reports else [],
                    **message)

    async def show(request, actor, form):
        return tanks_page(request, actor)

    async def change(request, actor, form):
        what = form.get("what")
        try:
            number = _int(form, "tank", 1, 99)
            if what in ("tank", "feed"):  # a form from before a change of the tanks: stale
                fresh(form, service.version_of(actor, "tanks"), "tanks")
            if what == "tank":
                service.set_tank(actor, number, _text(form, "grade"),
                                 _int(form, "capacity", 1, 10**7),
                                 _int(form, "low", 0, 10**7), _int(form, "suction", 0, 10**7))
                done = Note("tank_saved", tank=number)
            elif what == "feed":
                service.feed_tank(actor, number, _text(form, "terminal"),
                                  _int(form, "nozzle", 1, 99))
                done = Note("tank_feeds", tank=number, terminal=form.get("terminal"),
                            nozzle=form.get("nozzle"))
            elif what == "delivery":
                delivery = service.delivery_note(
                    actor, number, _text(form, "supplier"),
                    _decimal(form, "ordered", 1000, 1, 10**9),
                    _decimal(form, "delivered", 1000, 1, 10**9),
                    _decimal(form, "temp", 10, -500, 800))
                flag = tanks.delivery(delivery)["flag"]
                done = Note("delivery_flagged", id=delivery, flag=flag) if flag else \
                    Note("delivery_recorded", id=delivery)
            elif what == "dip":
                ml = service.dip(actor, number, _int(form, "height", 0, 100000))
                done = Note("dip_recorded", tank=number, ml=ml)
            else:
                raise BadInput("unknown_change", what=repr(what))
        except ValueError as e:
            return tanks_page(request, actor, status=status_of(e), error=e)
        return tanks_page(request, actor, done=done)

    async def chart(request, actor, form):
        """A tank's readings (last 7 days) and, for "reports", its month's days."""
        text = request.query_params.get("tank", "")
        if not text.isdigit() or tanks.tank(int(text)) is None:
            return JSONResponse({"error": "no such tank"}, status_code=404)
        number = int(text)
        since = int(time.time()) - 7 * 86400
        month = request.query_params.get("month") or day_of(int(time.time()))[:7]
        return JSONResponse({
            "readings": [{"at": r["at"], "litres": r["volume_ml"] / 1000}
                         for r in tanks.readings(number, since, 2000)],
            "days": [{"day": d["day"], "variance": d["variance_ml"] / 1000,
                      "month": d["month_ml"] / 1000,
                      "limit": (130000 + d["month_sales_ml"] // 100) / 1000}
                     for d in tanks.days(number, month)] if may(actor, "reports") else []})

    return [("/tanks", "read", show, ["GET"]), ("/tanks", "tanks", change, ["POST"]),
            ("/tanks.json", "read", chart, ["GET"])]


def make_routes(ledger, service, page, guarded):
    """Starlette routes of routes(), each behind make_app's guard."""
    return [Route(path, guarded(what, handler), methods=methods)
            for path, what, handler, methods in routes(ledger, service, page)]
