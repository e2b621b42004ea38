"""The station's back office: a web app (Starlette, Jinja2 templates, served by uvicorn in
the station's own asyncio loop beside the terminal port: `pumpside station serve
--web-port`).

It reads and changes the station only through the service layer (service.py, its
reads in reads.py), which checks the role and writes the audit record; every route
checks the role here too (a page or a form a role may not use answers 403, whatever
the menu shows).
Sessions are signed cookies (HttpOnly, SameSite=Strict) under a secret kept outside the
database, in `<db>.web-secret` (0600, made at the first start, like the station key).
Every form carries the session's CSRF token; a POST without it is refused (403).
Everything the pages need ships in this package (templates/, static/): no CDN.
A refusal or bad input (problems.Problem) is said in the operator's language (i18n.py).
The station's own pages (hotlist, parameters, metrology, alarms) are in station_pages.py.
"""
import asyncio
import csv
import io
import json
import os
import secrets
import shutil
import socket
import sqlite3
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from .. import backup, keyring
from ..masking import mask_card
from ..operators import LoginRefused, Operators
from ..problems import Invalid, Note, Problem
from ..reads import SALE_FILTERS
from ..reports import PAY_KINDS
from ..service import Actor, Refused, Service
from . import cards, pay, station_pages
from . import loyalty as loyalty_web
from . import reports as reports_web
from .i18n import LANGS, pay_word, say, translate

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "pumpside_session"
SESSION_AGE_S = 8 * 3600  # a shift
SSE_PERIOD_S = 1.0
PRICE_MAX = 10000000  # thousandths of the currency per litre (firmware prices.PRICE_MAX)
KINDS = ("FINAL", "ESCAPE", "UNLOCK")
# the pumps' states as STATUS tells them (firmware ifsf.py), said in the operator's language
IFSF_STATES = ("Idle", "Calling", "Authorised", "Started", "Fuelling", "Closed",
               "Inoperative")

# the pages and forms, by the service layer's permission each needs (service.ROLE_OF)
PAGES = (("/", "Forecourt", "read"), ("/sales", "Sales", "read"),
         ("/prices", "Prices", "read"), ("/terminals", "Terminals", "read"),
         ("/commands", "Commands", "command"), ("/cards", "Cards", "read"),
         ("/loyalty", "Loyalty", "read"), ("/fleet", "Fleet", "read"),
         ("/hotlist", "Hotlist", "read"),
         ("/parameters", "Parameters", "read"), ("/metrology", "Metrology", "read"),
         ("/alarms", "Station alarms", "read"), ("/till", "Till", "till"),
         ("/shifts", "Shifts", "read"),
         ("/reports", "Reports", "reports"), ("/alert-rules", "Alert rules", "read"),
         ("/tanks", "Tanks", "read"), ("/audit", "Audit trail", "audit"),
         ("/operators", "Operators", "operator"))


class BadInput(Invalid):
    """A form field that is missing or of the wrong type: nothing was changed."""


class Stale(Invalid):
    """A form loaded before another change to what it changes (a second tab, a
    colleague): nothing was changed (409)."""


def fresh(form, now, what):
    """Stale unless the form's `version` is `now`'s (what: the thing it changes)."""
    seen = _int(form, "version", 0, 2 ** 62)
    if seen != now:
        raise Stale("stale_form", what=what, seen=seen, now=now)


def status_of(error):
    return 409 if isinstance(error, Stale) else 400


class Forbidden(Problem, PermissionError):
    """A request the back office refuses before any role check (no session, a missing or
    stale CSRF token)."""


def secret_file(db_path):
    return str(db_path) + ".web-secret"


def load_secret(db_path):
    """The session cookies' signing secret: from `<db>.web-secret` (0600), made at the
    first start (never in the database; never logged)."""
    path = secret_file(db_path)

    def refuse(mode):
        return ValueError("%s is open to others (mode %03o): chmod 600 %s" % (path, mode, path))

    def make():
        return (secrets.token_hex(32) + "\n").encode()

    text = keyring.private_file(path, refuse, make).decode().strip()
    if len(text) < 32:
        raise ValueError("%s is too short to be the back office's secret" % path)
    return text


def _when(seconds):
    if not seconds:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _money(minor):
    minor = minor or 0
    return "%d.%02d" % (minor // 100, minor % 100)


def _litres(ml):
    ml = ml or 0
    return "%d.%03d" % (ml // 1000, ml % 1000)


def _price(thousandths):
    return "%d.%03d" % (thousandths // 1000, thousandths % 1000)


def _int(form, name, low, high):
    text = form.get(name)
    if not isinstance(text, str) or not text.strip().lstrip("-").isdigit():
        raise BadInput("field_number", field=name)
    value = int(text)
    if not low <= value <= high:
        raise BadInput("field_range", field=name, low=low, high=high)
    return value


def _moment(form, name, now):
    """A time to come from a form: empty (0: the next sale), Unix seconds, or the
    browser's date and time (datetime-local: YYYY-MM-DDTHH:MM, the station's local
    time); a time gone by is refused."""
    text = form.get(name)
    if text is None or (isinstance(text, str) and text.strip() in ("", "0")):
        return 0
    if not isinstance(text, str):
        raise BadInput("field_datetime", field=name)
    text = text.strip()
    if text.isdigit() and len(text) <= 12:
        at = int(text)
    else:
        for layout in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                       "%Y-%m-%d %H:%M:%S"):
            try:
                at = int(time.mktime(time.strptime(text, layout)))
                break
            except (ValueError, OverflowError):
                continue
        else:
            raise BadInput("field_datetime", field=name)
    if at <= now:
        raise BadInput("price_past", at=_when(at))
    return at


def _text(form, name):
    text = form.get(name)
    if not isinstance(text, str) or not text:
        raise BadInput("field_missing", field=name)
    return text


def make_app(ledger, secret, service=None):
    """The back office over `ledger` (its store's signing `secret`: load_secret)."""
    from . import fleet as fleet_pages
    from . import tanks as tank_pages
    from . import till as till_pages

    service = service or Service(ledger)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(when=_when, money=_money, litres=_litres, price=_price,
                                 mask=mask_card)

    def actor_of(request):
        name = request.session.get("operator")
        if not name:
            return None
        try:
            return service.actor(name)  # the role as the database has it now
        except Refused:
            request.session.pop("operator", None)
            return None

    def csrf_of(request):
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    def lang_of(request):
        lang = request.session.get("lang")
        return lang if lang in LANGS else "en"

    def page(request, template, actor, status=200, **context):
        lang = lang_of(request)
        for line in ("error", "done"):  # said in the operator's language
            if isinstance(context.get(line), (Exception, Note)):
                context[line] = say(lang, context[line])
        menu = [(path, label) for path, label, what in PAGES
                if actor and _may(service, actor, what)]
        return templates.TemplateResponse(request, template, dict(
            context, actor=actor, menu=menu, csrf=csrf_of(request), lang=lang,
            t=lambda text: translate(lang, text),
            kind=lambda name: pay_word(lang, name),
            say=lambda note: say(lang, note)), status_code=status)

    def forbidden(request, actor, why):
        return page(request, "error.html", actor, status=403, error=why)

    async def form_of(request):
        """The POST's form, its CSRF token checked (PermissionError: 403)."""
        form = await request.form()
        token = form.get("csrf")
        expected = request.session.get("csrf")
        if not expected or not isinstance(token, str) \
                or not secrets.compare_digest(token, expected):
            raise Forbidden("csrf")
        return form

    def guarded(what, handler):
        """A route for operators whose role may `what` (service.ROLE_OF)."""
        async def endpoint(request):
            actor = actor_of(request)
            if actor is None:
                if request.method == "POST":
                    return PlainError(403, say(lang_of(request), Forbidden("not_logged_in")))
                return RedirectResponse("/login", status_code=303)
            try:
                if request.method == "POST":
                    form = await form_of(request)
                else:
                    form = None
                service.check(actor, what)
                return await handler(request, actor, form)
            except (PermissionError, Refused) as e:
                return forbidden(request, actor, e)
        return endpoint

    # -- login -----------------------------------------------------------------------------
    logins = []  # the login checker: Operators on a connection of its own (made at need)
    one_login = asyncio.Lock()

    async def check_login(name, password):
        """The operators' check (its growing delay after wrong tries) off the station's
        loop: an argon2 verification takes ~0.1-0.2 s of CPU, which would stall the
        terminals' frames; one at a time (a flood of tries costs one thread, never the
        loop), on its own SQLite connection (WAL: the loop's keeps writing meanwhile)."""
        if not logins:
            db = sqlite3.connect(ledger.path, timeout=5, isolation_level=None,
                                 check_same_thread=False)
            logins.append(Operators(db, ledger.operators.hasher))
        async with one_login:
            operator = await asyncio.to_thread(logins[0].verify, name, password)
        return Actor(operator["name"], operator["role"])

    async def login(request):
        if request.method == "GET":
            return page(request, "login.html", None)
        try:
            form = await form_of(request)
        except PermissionError as e:
            return page(request, "login.html", None, status=403, error=e)
        name, password = form.get("name"), form.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            return page(request, "login.html", None, status=400,
                        error=Forbidden("login_needed"))
        try:
            actor = await check_login(name, password)
        except LoginRefused as e:
            return page(request, "login.html", None, status=403, error=e)
        lang = lang_of(request)
        request.session.clear()  # a new session: a new CSRF token
        request.session.update(operator=actor.name, lang=lang,
                               csrf=secrets.token_urlsafe(32))
        return RedirectResponse("/", status_code=303)

    async def logout(request):
        try:
            await form_of(request)
        except PermissionError as e:
            return PlainError(403, say(lang_of(request), e))
        lang = lang_of(request)
        request.session.clear()
        request.session["lang"] = lang  # the operator's pick stays for the next login
        return RedirectResponse("/login", status_code=303)

    async def language(request):
        try:
            form = await form_of(request)
        except PermissionError as e:
            return PlainError(403, say(lang_of(request), e))
        if form.get("lang") in LANGS:
            request.session["lang"] = form.get("lang")
        back = request.headers.get("referer", "/")
        return RedirectResponse(back if back.startswith(str(request.base_url)) else "/",
                                status_code=303)

    # -- forecourt -------------------------------------------------------------------------
    def pumps_now(actor):
        grades = service.prices(actor)["grades"]
        mapped = {}
        for terminal, _nozzle, grade in service.nozzles(actor):
            mapped.setdefault(terminal, set()).add(grade)
        out = []
        for pump in service.pumps(actor):
            grade = pump["grade"] or ", ".join(sorted(mapped.get(pump["terminal"]) or
                                                      grades)) or "-"
            out.append(dict(pump, grade=grade, nozzle=pump["nozzle"] or "-",
                            litres=_litres(pump["ml"]), money=_money(pump["amount"]),
                            seen_at=_when(pump["seen"])))
        return out

    async def forecourt(request, actor, form):
        lang = lang_of(request)
        return page(request, "forecourt.html", actor, pumps=pumps_now(actor), states={
            state: translate(lang, state) for state in IFSF_STATES})

    async def forecourt_state(request, actor, form):
        return JSONResponse({"pumps": pumps_now(actor)})

    async def forecourt_events(request, actor, form):
        async def events():
            last = None
            while not await request.is_disconnected():
                try:  # the operator as the database has it now (disabled: the end)
                    state = json.dumps({"pumps": pumps_now(service.actor(actor.name))})
                except Refused:
                    return
                if state != last:
                    last = state
                    yield "data: %s\n\n" % state
                else:
                    yield ": beat\n\n"
                await asyncio.sleep(SSE_PERIOD_S)
        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    # -- sales -----------------------------------------------------------------------------
    async def sales(request, actor, form):
        query = {k: v for k, v in request.query_params.items() if k in SALE_FILTERS}
        pumps = [t["terminal"] for t in service.terminals(actor)]
        try:
            rows = service.sales_filtered(actor, query)
        except Invalid as e:
            return page(request, "sales.html", actor, status=400, error=e, rows=[],
                        query=query, kinds=KINDS, pumps=pumps, pays=PAY_KINDS)
        if request.query_params.get("format") == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["received", "terminal", "journal", "kind", "sale", "seq",
                             "grade", "card", "ml", "amount", "pay"])
            for r in rows:
                writer.writerow([_when(r["received"]), r["terminal"], r["journal"],
                                 r["kind"], r["sale"], r["seq"], r["grade"], r["card"],
                                 r["ml"], r["amount"], r["pay"]])
            return Response(out.getvalue(), media_type="text/csv", headers={
                "Content-Disposition": 'attachment; filename="sales.csv"'})
        return page(request, "sales.html", actor, rows=rows, query=query, kinds=KINDS,
                    pumps=pumps, pays=PAY_KINDS, days=service.sales_per_day(actor, query))

    # -- prices ----------------------------------------------------------------------------
    def prices_page(request, actor, status=200, **context):
        return page(request, "prices.html", actor, status=status,
                    prices=service.prices(actor), current=service.prices(actor, due=True),
                    scheduled=service.price_schedule(actor),
                    now=_when(ledger.clock()),
                    history=list(reversed(service.price_history(actor)))[:200],
                    may_set=_may(service, actor, "price"), **context)

    async def prices(request, actor, form):
        return prices_page(request, actor)

    async def set_price(request, actor, form):
        try:
            grade = _text(form, "grade").strip()
            price = _int(form, "price", 1, PRICE_MAX)
            at = _moment(form, "at", int(ledger.clock()))
            fresh(form, service.prices(actor)["version"], "prices")
            version = service.set_price(actor, grade, price, at)
        except ValueError as e:
            return prices_page(request, actor, status=status_of(e), error=e)
        if at:
            return prices_page(request, actor, done=Note(
                "price_scheduled", grade=grade, price=_price(price), at=_when(at),
                version=version))
        return prices_page(request, actor, done=Note("price_set", grade=grade,
                                                     price=_price(price), version=version))

    # -- terminals, commands ---------------------------------------------------------------
    async def terminals(request, actor, form):
        return page(request, "terminals.html", actor, rows=service.terminals(actor))

    def commands_page(request, actor, status=200, **context):
        rows = service.commands(actor)
        return page(request, "commands.html", actor, status=status, rows=rows,
                    version=service.version_of(actor, "command"),
                    terminals=[t["terminal"] for t in service.terminals(actor)],
                    cmds=ledger.COMMANDS, **context)

    async def commands(request, actor, form):
        return commands_page(request, actor)

    async def command_rows(request, actor, form):
        """The commands' rows alone: the page polls them (static/live.js), so each
        command's state (queued, sent, done, failed) shows without a reload."""
        return page(request, "command_rows.html", actor, rows=service.commands(actor))

    async def send_command(request, actor, form):
        try:
            terminal, cmd = _text(form, "terminal"), _text(form, "cmd")
            fresh(form, service.version_of(actor, "command"), "commands")
            cid = service.command(actor, terminal, cmd)
        except ValueError as e:
            return commands_page(request, actor, status=status_of(e), error=e)
        return commands_page(request, actor, done=Note("command_queued", id=cid))

    # -- backup ----------------------------------------------------------------------------
    async def download_backup(request, actor, form):
        """A verified copy of the store, made off the loop (its own SQLite connections),
        sent as a file and audited; nothing of it stays on the station's disk."""
        folder = tempfile.mkdtemp(prefix="pumpside-backup-")
        try:
            name = "station-backup-%s.db" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            made = await asyncio.to_thread(backup.make, ledger.path,
                                           os.path.join(folder, name))
            with open(made["path"], "rb") as f:
                data = f.read()
        except backup.BackupError as e:
            service.backup_failed(str(e))
            return page(request, "error.html", actor, status=500, error=str(e))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        service.backed_up(actor, dict(made, path="download " + name))
        return Response(data, media_type="application/vnd.sqlite3", headers={
            "Content-Disposition": 'attachment; filename="%s"' % name,
            "Cache-Control": "no-store"})

    # -- audit, operators ------------------------------------------------------------------
    async def audit(request, actor, form):
        records = list(reversed(service.audit(actor)))[:500]
        return page(request, "audit.html", actor, records=records)

    def operators_page(request, actor, status=200, **context):
        from ..operators import ROLES
        return page(request, "operators.html", actor, status=status,
                    operators=service.operators(actor), roles=ROLES,
                    version=service.version_of(actor, "operator"), **context)

    async def operators(request, actor, form):
        return operators_page(request, actor)

    async def change_operator(request, actor, form):
        try:
            what = _text(form, "what")
            name = _text(form, "name")
            fresh(form, service.version_of(actor, "operator"), "operators")
            if what == "add":
                service.add_operator(actor, name, _text(form, "role"),
                                     _text(form, "password"))
            elif what == "role":
                service.set_role(actor, name, _text(form, "role"))
            elif what in ("disable", "enable"):
                service.set_disabled(actor, name, what == "disable")
            elif what == "password":
                service.set_password(actor, name, _text(form, "password"))
            else:
                raise BadInput("field_choice", field="what",
                               choices="add, role, disable, enable, password")
        except ValueError as e:
            return operators_page(request, actor, status=status_of(e), error=e)
        done = Note("operator_" + what, name=name, **({"role": form.get("role")}
                                                       if what == "role" else {}))
        return operators_page(request, actor, done=done)

    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang", language, methods=["POST"]),
        Route("/", guarded("read", forecourt)),
        Route("/forecourt.json", guarded("read", forecourt_state)),
        Route("/forecourt/events", guarded("read", forecourt_events)),
        Route("/sales", guarded("read", sales)),
        Route("/prices", guarded("read", prices)),
        Route("/prices", guarded("price", set_price), methods=["POST"]),
        Route("/terminals", guarded("read", terminals)),
        Route("/commands", guarded("command", commands)),
        Route("/commands", guarded("command", send_command), methods=["POST"]),
        Route("/commands/rows", guarded("command", command_rows)),
        Route("/audit", guarded("audit", audit)),
        Route("/operators", guarded("operator", operators)),
        Route("/backup", guarded("backup", download_backup)),
        Route("/operators", guarded("operator", change_operator), methods=["POST"]),
        *station_pages.routes(SimpleNamespace(
            service=service, ledger=ledger, page=page, guarded=guarded, may=lambda actor,
            what: _may(service, actor, what), int_field=_int, text_field=_text,
            BadInput=BadInput, fresh=fresh, status_of=status_of)),
        *reports_web.routes(ledger, service, page, guarded,
                            lambda actor, what: _may(service, actor, what), BadInput),
        *tank_pages.make_routes(ledger, service, page, guarded),  # tanks.py
        *cards.routes(service, page, guarded, _text, _int, BadInput, fresh, status_of),
        *loyalty_web.routes(SimpleNamespace(  # loyalty.py
            service=service, page=page, guarded=guarded, may=lambda actor, what: _may(
                service, actor, what), int_field=_int, text_field=_text, BadInput=BadInput)),
        *fleet_pages.routes(service, page, guarded, _text, _int, BadInput,  # fleet.py
                            lambda actor, what: _may(service, actor, what)),
        *till_pages.routes(service, page, guarded,  # till.py: the kiosk's cashier
                           lambda actor, what: _may(service, actor, what)),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    pay_routes, _desk = pay.routes(ledger, templates)  # public: the phone's, the gateway's
    routes[:0] = pay_routes
    middleware = [Middleware(SessionMiddleware, secret_key=secret,
                             session_cookie=SESSION_COOKIE, max_age=SESSION_AGE_S,
                             same_site="strict", https_only=False)]
    return SecurityHeaders(Starlette(routes=routes, middleware=middleware))


class SecurityHeaders:
    """Every answer: only this origin's scripts, styles and images, in no frame of
    another site, its type as sent, no referrer to elsewhere."""

    HEADERS = [(b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; "
                b"form-action 'self'; base-uri 'none'"),
               (b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"same-origin")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message = dict(message, headers=list(message.get("headers", [])) +
                               self.HEADERS)
            await send(message)
        await self.app(scope, receive, with_headers)


def PlainError(status, why):
    return HTMLResponse("<!doctype html><title>%d</title><p>%s</p>" % (
        status, why.replace("&", "&amp;").replace("<", "&lt;")), status_code=status)


def _may(service, actor, what):
    try:
        service.check(actor, what)
    except Refused:
        return False
    return True


class WebPortError(OSError):
    """The back office's address is taken or not this machine's: the message says what
    to do."""


class WebServer:
    """The back office under uvicorn in the running asyncio loop (the station's)."""

    def __init__(self, ledger, host="127.0.0.1", port=8080):
        self.ledger = ledger
        self.host = host
        self.port = port
        self.server = None
        self.task = None

    async def start(self):
        import uvicorn

        app = make_app(self.ledger, load_secret(self.ledger.path))
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            raise WebPortError("the back office cannot listen on %s:%d (%s): give another "
                               "--web-port (0: no back office) or --web-host"
                               % (self.host, self.port, e.strerror or e)) from None
        sock.listen(64)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, lifespan="off", log_level="warning",
                                timeout_graceful_shutdown=1, access_log=False)
        self.server = uvicorn.Server(config)
        self.task = asyncio.ensure_future(self.server.serve(sockets=[sock]))
        while not self.server.started and not self.task.done():
            await asyncio.sleep(0.01)
        if self.task.done():
            self.task.result()  # its error
        return self

    def address(self):
        return "http://%s:%d/" % (self.host, self.port)

    async def stop(self):
        if self.server is not None:
            self.server.should_exit = True
            await self.task
