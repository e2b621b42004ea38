"""The back office's reports, shifts and alert rules (service.py does the checks and the
audit; station/reports.py, shifts.py and alerts.py the work):

  /reports          a day, month, year or range of days: charts and tables; ?format=csv
                    the CSV (reports.to_csv), ?print=1 a printable page (no menu)
  /shifts           the shifts closed; POST closes the shift now open
  /shifts/{id}      a closed shift's printable report
  /alert-rules      the alert rules (manager: switch on, tune) and the webhook's URL
"""
import time

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import reports as rp
from ..alerts import RULES
from ..problems import Invalid, Note
from ..service import _no_query


def routes(ledger, service, page, guarded, may, BadInput):
    """The routes of these pages (make_app's helpers: page, guarded, may and BadInput)."""

    def query_of(request):
        q = request.query_params
        kind = q.get("kind") or "day"
        value = q.get("value") or ""
        if not value:  # today, this month, this year by default
            value = time.strftime({"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y",
                                   "range": "%Y-%m-%d"}.get(kind, "%Y-%m-%d"))
        to = q.get("to") or (value if kind == "range" else None)
        return {"kind": kind, "value": value, "to": to or ""}

    async def report(request, actor, form):
        query = query_of(request)
        try:
            rep = service.report(actor, query["kind"], query["value"], query["to"] or None)
        except ValueError as e:
            return page(request, "reports.html", actor, status=400, error=e,
                        query=query, rep=None, kinds=rp.KINDS)
        if request.query_params.get("format") == "csv":
            return Response(rp.to_csv(rep), media_type="text/csv", headers={
                "Content-Disposition": 'attachment; filename="report-%s.csv"'
                % rep["label"].replace(".", "-")})
        template = "report_print.html" if request.query_params.get("print") else \
            "reports.html"
        return page(request, template, actor, query=query, rep=rep, kinds=rp.KINDS,
                    chart={"grade": rep["grade"], "hour": rep["hour"], "day": rep["day"],
                           "pay": rep["pay"]})

    def shifts_page(request, actor, status=200, **context):
        return page(request, "shifts.html", actor, status=status,
                    shifts=service.shifts(actor), may_close=may(actor, "shift"), **context)

    async def shifts(request, actor, form):
        return shifts_page(request, actor)

    async def close_shift(request, actor, form):
        shift = service.close_shift(actor)  # then its page (a reload closes nothing)
        return RedirectResponse("/shifts/%d?closed=1" % shift["id"], status_code=303)

    async def shift(request, actor, form):
        try:
            shift_id = int(request.path_params["id"])
        except ValueError:
            shift_id = -1
        shift = service.shift_report(actor, shift_id)
        if shift is None:
            return shifts_page(request, actor, status=404, error=Invalid(
                "no_shift", id=request.path_params["id"]))
        return page(request, "shift.html", actor, shift=shift, done=Note(
            "shift_closed", id=shift["id"]) if request.query_params.get("closed") else None)

    def rules_page(request, actor, status=200, **context):
        return page(request, "alert_rules.html", actor, status=status,
                    rules=service.alert_rules(actor), may_set=may(actor, "alerts"),
                    webhook=_no_query(ledger.alerts.webhook_url()), **context)

    async def rules(request, actor, form):
        return rules_page(request, actor)

    async def set_rule(request, actor, form):
        try:
            if form.get("what") == "webhook":
                url = (form.get("url") or "").strip()
                service.set_webhook(actor, url)
                return rules_page(request, actor, done=Note(
                    "webhook_set", url=_no_query(url)) if url else Note("webhook_removed"))
            rule = form.get("rule")
            if rule not in RULES:
                raise BadInput("alert_rule", rule=repr(rule))
            params = {}
            for name in RULES[rule][2]:
                text = form.get(name)
                if text is None or text == "":
                    continue
                if not isinstance(text, str) or not text.strip().isdigit():
                    raise BadInput("field_number", field=name)
                params[name] = int(text)
            new = service.set_alert_rule(actor, rule, form.get("enabled") == "1", params)
        except ValueError as e:
            return rules_page(request, actor, status=400, error=e)
        return rules_page(request, actor, done=Note(
            "alert_rule_set", rule=rule, state="on" if new["enabled"] else "off"))

    return [
        Route("/reports", guarded("reports", report)),
        Route("/shifts", guarded("read", shifts)),
        Route("/shifts", guarded("shift", close_shift), methods=["POST"]),
        Route("/shifts/{id}", guarded("read", shift)),
        Route("/alert-rules", guarded("read", rules)),
        Route("/alert-rules", guarded("alerts", set_rule), methods=["POST"]),
    ]
