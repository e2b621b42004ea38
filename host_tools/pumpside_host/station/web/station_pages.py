"""The back office's station pages: the hotlist, the terminals' parameters and nozzle
map, the metrology (each pump's totalizers and event log) and the station's alarms.

Each page reads through the service layer (reads.py) and each form changes through it
(role checked, audited); the routes are guarded as the rest of the app's (make_app's
`guarded`: the role, the session, the CSRF token). Bad input is said back as a
problems.Problem (in the operator's language) and changes nothing.
"""
from starlette.routing import Route

from pumpside import config
from pumpside.downloads import REFUSED_PARAMS

from ..masking import mask_card
from ..problems import Invalid, Note

HOTLIST_PAGE = 200  # cards a hotlist page shows (a station may list tens of thousands)


def settable():
    """The parameters the station may set: name, type ("integer"/"text"), default and
    the firmware's range (config.py's table, less REFUSED_PARAMS and the secrets)."""
    return [{"name": name, "type": "integer" if kind is int else "text",
             "default": default, "min": low, "max": high}
            for name, (kind, default, low, high) in config.fields()
            if name not in REFUSED_PARAMS and name not in config.SECRETS]


def routes(app):
    """The routes, given make_app's parts: service, page, guarded, may, int_field,
    text_field."""
    service, page = app.service, app.page

    # -- hotlist ---------------------------------------------------------------------------
    def hotlist_page(request, actor, status=200, **context):
        skip = request.query_params.get("skip", "0")
        try:
            if not skip.isdigit():
                raise app.BadInput("field_number", field="skip")
            listed = service.hotlist_cards(actor, int(skip), HOTLIST_PAGE)
        except Invalid as e:
            skip, status = "0", 400
            listed = service.hotlist_cards(actor, 0, HOTLIST_PAGE)
            context.setdefault("error", e)
        skip = int(skip)
        return page(request, "hotlist.html", actor, status=status, listed=listed,
                    skip=skip, more=skip + len(listed["cards"]) < listed["count"],
                    page_size=HOTLIST_PAGE,
                    may_change=app.may(actor, "hotlist"),
                    full=actor.role == "administrator", **context)

    async def hotlist(request, actor, form):
        return hotlist_page(request, actor)

    async def change_hotlist(request, actor, form):
        try:
            what = app.text_field(form, "what")
            if what not in ("add", "remove"):
                raise app.BadInput("field_choice", field="what", choices="add, remove")
            asn = app.text_field(form, "asn").strip()
            app.fresh(form, service.hotlist_cards(actor, 0, 0)["version"], "hotlist")
            version = service.hotlist(actor, asn, what == "add")
        except ValueError as e:
            return hotlist_page(request, actor, status=app.status_of(e), error=e)
        return hotlist_page(request, actor, done=Note(
            "hotlist_" + what, card=mask_card(asn), version=version))

    # -- parameters and the nozzle map -----------------------------------------------------
    def params_page(request, actor, status=200, **context):
        return page(request, "parameters.html", actor, status=status,
                    params=service.params(actor), fields=settable(),
                    nozzles=service.nozzles(actor),
                    price_version=service.prices(actor)["version"],
                    terminals=[t["terminal"] for t in service.terminals(actor)],
                    grades=sorted(service.prices(actor)["grades"]),
                    may_set=app.may(actor, "params"), may_map=app.may(actor, "nozzle"),
                    **context)

    async def parameters(request, actor, form):
        return params_page(request, actor)

    async def set_parameter(request, actor, form):
        try:
            name = app.text_field(form, "name")
            spec = config.field(name)
            if name in REFUSED_PARAMS or name in config.SECRETS:
                raise Invalid("param_refused", name=name)
            if spec is None:
                raise Invalid("param_unknown", name=name)
            text = form.get("value")
            if not isinstance(text, str):
                raise app.BadInput("field_missing", field="value")
            value = app.int_field(form, "value", -2 ** 62, 2 ** 62) if spec[0] is int \
                else text
            app.fresh(form, service.params(actor)["version"], "parameters")
            version = service.set_params(actor, {name: value})
        except ValueError as e:
            return params_page(request, actor, status=app.status_of(e), error=e)
        return params_page(request, actor, done=Note("param_set", name=name, value=value,
                                                     version=version))

    async def map_nozzle(request, actor, form):
        try:
            terminal = app.text_field(form, "terminal")
            nozzle = app.int_field(form, "nozzle", 1, 99)
            grade = app.text_field(form, "grade").strip()
            # the map goes with the price table: a form from before a change of it is stale
            app.fresh(form, service.prices(actor)["version"], "nozzle map")
            version = service.set_nozzle(actor, terminal, nozzle, grade)
        except ValueError as e:
            return params_page(request, actor, status=app.status_of(e), error=e)
        return params_page(request, actor, done=Note(
            "nozzle_mapped", terminal=terminal, nozzle=nozzle, grade=grade, version=version))

    # -- metrology -------------------------------------------------------------------------
    async def metrology(request, actor, form):
        terminals = [t["terminal"] for t in service.terminals(actor)]
        pump = request.query_params.get("pump") or (terminals[0] if terminals else "")
        context = {}
        try:
            history = service.totals(actor, pump, history=True) if pump else []
            events = service.events(actor, pump) if pump else []
        except Invalid as e:
            history, events, context = [], [], {"error": e}
        return page(request, "metrology.html", actor, status=400 if context else 200,
                    pump=pump, terminals=terminals, totals=service.totals(actor),
                    history=history, events=list(reversed(events))[:500], **context)

    # -- station alarms --------------------------------------------------------------------
    def alarms_page(request, actor, status=200, **context):
        return page(request, "alarms.html", actor, status=status,
                    alarms=list(reversed(service.alarms(actor)))[:500],
                    may_ack=app.may(actor, "alarm"), **context)

    async def alarms(request, actor, form):
        return alarms_page(request, actor)

    async def alarm_rows(request, actor, form):
        """The alarms' rows alone: the page polls them (static/live.js)."""
        return page(request, "alarm_rows.html", actor,
                    alarms=list(reversed(service.alarms(actor)))[:500],
                    may_ack=app.may(actor, "alarm"))

    async def ack_alarm(request, actor, form):
        try:
            alarm_id = app.int_field(form, "id", 1, 2 ** 62)
            service.ack_alarm(actor, alarm_id)
        except ValueError as e:
            return alarms_page(request, actor, status=400, error=e)
        return alarms_page(request, actor, done=Note("alarm_ack", id=alarm_id))

    guarded = app.guarded
    return [
        Route("/hotlist", guarded("read", hotlist)),
        Route("/hotlist", guarded("hotlist", change_hotlist), methods=["POST"]),
        Route("/parameters", guarded("read", parameters)),
        Route("/parameters", guarded("params", set_parameter), methods=["POST"]),
        Route("/nozzles", guarded("nozzle", map_nozzle), methods=["POST"]),
        Route("/metrology", guarded("read", metrology)),
        Route("/alarms", guarded("read", alarms)),
        Route("/alarms/rows", guarded("read", alarm_rows)),
        Route("/alarms", guarded("alarm", ack_alarm), methods=["POST"]),
    ]
