"""The back office's fleet desk page (/fleet): the fleet companies and their master
accounts, one company's vehicle cards (numbers masked) with what each holds, waits for and
may still buy this month, and the desk's acts (a manager's or an administrator's): add a
company, record money it paid in, allocate (分配) to a vehicle card or take back what the
card has not got yet, set a card's limits; the month's statement, as CSV too
(?format=csv). Issuing a vehicle card needs the card in the desk's reader:
`pumpside station fleet-card-issue`. Every act goes through the service layer (role and
audit)."""
import time

from starlette.responses import Response
from starlette.routing import Route

from ..fleet import LIMIT_MAX, LIMITS, METHODS, MODES, FleetError, month_of, statement_csv
from ..problems import Note

AMOUNT_MAX = 100_000_000
WHAT_ZH = {"company": "添加单位", "deposit": "单位充值", "allocate": "分配", "takeback": "回收",
           "limits": "设置限额"}


def routes(service, page, guarded, text, number, BadInput, may):  # noqa: N803
    """The /fleet routes; `page`, `guarded`, `text`, `number` and `may` are the app's
    helpers (web/__init__.py), BadInput its bad-form error."""

    def company_of(value):
        value = (value or "").strip()
        return int(value) if value.isdigit() else None

    def fleet_page(request, actor, company_id=None, status=200, **context):
        month = request.query_params.get("month", "").strip() or month_of(int(time.time()))
        account = statement = None
        if company_id is not None:
            try:
                account = service.fleet_account(actor, company_id)
                if may(actor, "reports"):
                    statement = service.fleet_statement(actor, company_id, month)
            except FleetError as e:
                context.setdefault("error", str(e))
                status = 404 if status == 200 else status
        return page(request, "fleet.html", actor, status=status,
                    companies=service.fleet_companies(actor), account=account,
                    statement=statement, month=month, modes=MODES, methods=METHODS,
                    limits=LIMITS, may_change=may(actor, "fleet"), **context)

    async def fleet(request, actor, form):
        company_id = company_of(request.query_params.get("company"))
        if request.query_params.get("format") == "csv" and company_id is not None:
            month = request.query_params.get("month", "").strip()
            try:
                rows = service.fleet_statement(actor, company_id, month)
            except FleetError as e:
                return fleet_page(request, actor, company_id, status=400, error=str(e))
            return Response(statement_csv(rows), media_type="text/csv", headers={
                "Content-Disposition": 'attachment; filename="fleet-%d-%s.csv"'
                % (company_id, month)})
        return fleet_page(request, actor, company_id)

    async def act(request, actor, form):
        company_id = company_of(form.get("company"))
        try:
            what = text(form, "what")
            if what == "company":
                company_id = service.fleet_company_add(
                    actor, text(form, "name"), form.get("contact", ""), text(form, "mode"),
                    number(form, "credit_limit", 0, AMOUNT_MAX))
            elif company_id is None:
                raise BadInput("field_missing", field="company")
            elif what == "deposit":
                service.fleet_deposit(actor, company_id, number(form, "amount", 1, AMOUNT_MAX),
                                      text(form, "method"))
            elif what == "allocate":
                service.fleet_allocate(actor, text(form, "card"),
                                       number(form, "amount", 1, AMOUNT_MAX))
            elif what == "takeback":
                service.fleet_takeback(actor, text(form, "card"),
                                       number(form, "amount", 1, AMOUNT_MAX))
            elif what == "limits":
                limits = {name: number(form, name, 0, LIMIT_MAX) if form.get(name) else 0
                          for name in LIMITS}
                service.fleet_card_limits(actor, text(form, "card"), form.get("grades", ""),
                                          form.get("window", ""), **limits)
            else:
                raise BadInput("unknown_change", what=repr(what))
        except ValueError as e:  # FleetError, DeskError, BadInput: nothing changed
            return fleet_page(request, actor, company_id, status=400, error=e)
        return fleet_page(request, actor, company_id,
                          done=Note("fleet_done", what=WHAT_ZH.get(what, what)
                                    if request.session.get("lang") == "zh" else what))

    return [Route("/fleet", guarded("read", fleet)),
            Route("/fleet", guarded("fleet", act), methods=["POST"])]
