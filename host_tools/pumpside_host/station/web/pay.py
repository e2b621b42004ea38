"""Phone payment's web side: the customer's pay page and the gateway's notify endpoint
(public: no login, no CSRF token; the pay page answers only with a token the pump showed,
the notify endpoint only to a notification the gateway signed).

  GET  /pay/<terminal>/<pump>?t=<token>   the mobile pay page (the pump's QR code names it):
                                          an amount, litres, or "fill up to" an amount
  POST /pay/<terminal>/<pump>             makes the order at the gateway and sends the phone
                                          there to pay
  GET  /paid/<order>                      where the gateway sends the phone back: the order
  POST /pay/notify                        the gateway's signed notifications: 200
                                          {"code": "SUCCESS"} once applied (or already);
                                          a bad signature or an unknown order: 4xx, nothing
                                          changed, a station alarm raised; signed but
                                          contradicting the order: acknowledged, nothing
                                          changed, alarmed

Payment work (the gateway's HTTP calls, the order ledger) runs on the station's payment
desk (payments/desk.py: one worker thread with its own connection to the store, shared
with the link that sends AUTHORIZE), never on the station's loop; the loop sweeps the
orders every desk.SWEEP_S (expiry, refunds owed, FINALs not yet settled).
"""
import json
import logging
import time

from starlette.responses import JSONResponse
from starlette.routing import Route

from pumpside.meter import amount_for_ml

from ..payments import config, tokens
from ..payments.desk import desk_of
from ..payments.gateway import BadNotification, GatewayError
from ..payments.orders import OrderError, TokenUsed
from ..payments.service import PumpBusy, UnknownOrder

log = logging.getLogger("pumpside.station")
PUMP_MAX = 99
ALARM = "payment notification refused"  # alarms' `what`, of the alert rules (alerts.py)
CONTRADICTION = "payment notification contradicts the order"
ALARM_RULE = ALARM.replace(" ", "_")
CONTRADICTION_RULE = CONTRADICTION.replace(" ", "_")
PRESET_LABELS = (("amount", "Amount 金额"), ("litres", "Litres 升数"),
                 ("fill", "Fill up to 加满 (at most)"))


def token_ok(ledger, terminal, pump, token, now=None):
    """The pump's one-time token (its QR code's `t`): made with the terminal's pay key,
    for this pump, fresh (payments/tokens.py). Taken once: new_order refuses a token an
    order was made with (TokenUsed)."""
    key = ledger.key_of(terminal)
    return key is not None and tokens.valid(key, terminal, pump, token,
                                            time.time() if now is None else now)


def _minor(text, places, name):
    """A decimal the customer typed ("200", "10.5") in units of 10**-places (ValueError)."""
    text = (text or "").strip()
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > places \
            or len(whole) > 7:
        raise ValueError("%s: a number with at most %d decimals" % (name, places))
    return int(whole) * 10 ** places + int((frac + "0" * places)[:places])


# the routes no operator uses: the customer's phone (its pump's token) and the gateway
# (its signature); no session, no CSRF token (tests/host/test_pay_web.py tests them)
PUBLIC_POSTS = ("/pay/notify", "/pay/{terminal}/{pump}")


def routes(ledger, templates):
    """The pay page and notify endpoint's routes (web/__init__.py adds them)."""
    settings = config.load(ledger.path)
    desk = desk_of(ledger)

    def page(request, template, status=200, **context):
        return templates.TemplateResponse(request, template, context, status_code=status)

    def pump_of(request):
        terminal = request.path_params["terminal"]
        pump = request.path_params["pump"]
        if terminal not in ledger.terminals() or not pump.isdigit() \
                or not 1 <= int(pump) <= PUMP_MAX:
            return None
        return terminal, int(pump)

    def cap_price(terminal):
        """The price a litres order is charged at: the dearest grade the pump sells (its
        nozzle map, else every grade), so the cap covers whichever nozzle is lifted."""
        grades = ledger.prices()["grades"]
        mapped = set(ledger.params.nozzles(terminal).values()) & set(grades)
        prices = [grades[g] for g in (mapped or grades)]
        return max(prices) if prices else None

    async def pay_page(request):
        where = pump_of(request)
        if where is None:
            return page(request, "pay_error.html", 404, error="No such pump 没有这个油机")
        token = request.query_params.get("t", "") if request.method == "GET" else \
            (await request.form()).get("t", "")
        if not token_ok(ledger, where[0], where[1], token):
            return page(request, "pay_error.html", 403, error="Scan the code on the pump "
                        "again 请重新扫描油机上的二维码")
        if desk.gateway() is None:
            return page(request, "pay_error.html", 503, error="Phone payment is not set up "
                        "at this station 本站未开通手机支付")
        context = dict(terminal=where[0], pump=where[1], token=token, presets=PRESET_LABELS,
                       price=cap_price(where[0]))
        if request.method == "GET":
            return page(request, "pay.html", **context)
        form = await request.form()
        preset = form.get("preset")
        try:
            if preset in ("amount", "fill"):
                amount, cap_ml = _minor(form.get("value"), 2, "amount"), None
            elif preset == "litres":
                if context["price"] is None:
                    raise ValueError("no price is set: pay an amount")
                cap_ml = _minor(form.get("value"), 3, "litres")
                amount = amount_for_ml(cap_ml, context["price"])
            else:
                raise ValueError("choose an amount, litres or fill up")
            if not 1 <= amount <= settings["amount_max"]:
                raise ValueError("an order is 0.01 to %d.%02d" % divmod(
                    settings["amount_max"], 100))
            order = await desk.call("new_order", where[0], where[1], preset, amount, cap_ml,
                                    None, token)
        except PumpBusy as e:
            return page(request, "pay.html", 409, error=str(e), **context)
        except TokenUsed as e:
            return page(request, "pay_error.html", 403, error=str(e) + " 二维码已使用 "
                        "请重新扫描")
        except (ValueError, OrderError) as e:
            return page(request, "pay.html", 400, error=str(e), **context)
        except GatewayError as e:
            log.warning("pay page: the gateway: %s", e)
            return page(request, "pay.html", 502, error="The payment service does not "
                        "answer: try again 支付服务暂不可用", **context)
        # a page, not a redirect: the back office's CSP (form-action 'self') stops a form's
        # redirect to another origin; the phone follows the refresh (or the link)
        return page(request, "pay_go.html", order=order)

    async def paid_page(request):
        order_no = request.path_params["order"]
        order = await desk.call("order", order_no)
        if order is None or order["source"] != "gateway":
            return page(request, "pay_error.html", 404, error="No such order 没有这个订单")
        return page(request, "paid.html", order=order)

    async def terminal_named(body):
        """The terminal of the order a notification names, if the station has it (only
        to file the alarm under it), else "-"."""
        try:
            order_no = json.loads(body)["resource"]["out_trade_no"]
        except (ValueError, KeyError, TypeError):
            return "-"
        order = await desk.call("order", str(order_no))
        return order["terminal"] if order else "-"

    async def notify(request):
        body = await request.body()
        if desk.gateway() is None:
            return JSONResponse({"code": "FAIL", "message": "no gateway set"}, 503)
        try:
            order_no, changed = await desk.call("notify", dict(request.headers), body)
        except BadNotification as e:  # not the gateway's, or not our order: refused
            ledger.alerts.raise_(ALARM_RULE, await terminal_named(body), str(e), what=ALARM)
            return JSONResponse({"code": "FAIL", "message": str(e)},
                                404 if isinstance(e, UnknownOrder) else 401)
        except OrderError as e:
            # the gateway's own word, contradicting the order (another amount paid, a
            # refund the station never asked for): nothing changes, an operator looks;
            # acknowledged, since the gateway repeating it would not change it
            ledger.alerts.raise_(CONTRADICTION_RULE, await terminal_named(body), str(e),
                                 what=CONTRADICTION)
            return JSONResponse({"code": "SUCCESS", "message": "recorded for an operator"})
        log.info("payment notification: order %s%s", order_no, "" if changed else
                 " (already known)")
        return JSONResponse({"code": "SUCCESS", "message": "OK"})

    return [Route(PUBLIC_POSTS[0], notify, methods=["POST"]),
            Route(PUBLIC_POSTS[1], pay_page, methods=["GET", "POST"]),
            Route("/paid/{order}", paid_page)], desk
