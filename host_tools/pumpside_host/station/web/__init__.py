"""The station's back office: a web app (Starlette, Jinja2 templates, served by uvicorn in
the station's own asyncio loop beside the terminal port: `pumpside station serve
--web-port`).

It reads the ledger and changes the station only through the service layer
(service.py), which checks the role and writes the audit record; every route checks the
role here too (a page or a form a role may not use answers 403, whatever the menu shows).
Sessions are signed cookies (HttpOnly, SameSite=Strict) under a secret kept outside the
database, in `<db>.web-secret` (0600, made at the first start, like the station key).
Every form carries the session's CSRF token; a POST without it is refused (403).
Everything the pages need ships in this package (templates/, static/): no CDN.
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

from .. import backup
from ..masking import mask_card
from ..operators import LoginRefused, Operators
from ..service import Actor, Refused, Service
from . import pay
from .i18n import LANGS, translate

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "pumpside_session"
SESSION_AGE_S = 8 * 3600  # a shift
SSE_PERIOD_S = 1.0
PRICE_MAX = 10000000  # thousandths of the currency per litre (firmware prices.PRICE_MAX)
KINDS = ("FINAL", "ESCAPE", "UNLOCK")

# the pages and forms, by the service layer's permission each needs (service.ROLE_OF)
PAGES = (("/", "Forecourt", "read"), ("/sales", "Sales", "read"),
         ("/prices", "Prices", "read"), ("/terminals", "Terminals", "read"),
         ("/commands", "Commands", "command"), ("/audit", "Audit trail", "audit"),
         ("/operators", "Operators", "operator"))


class BadInput(ValueError):
    """A form field that is missing or of the wrong type: nothing was changed."""


def secret_file(db_path):
    return str(db_path) + ".web-secret"


def load_secret(db_path):
    """The session cookies' signing secret: from `<db>.web-secret` (0600), made at the
    first start (never in the database; never logged)."""
    path = secret_file(db_path)
    try:
        with open(path) as f:
            mode = os.fstat(f.fileno()).st_mode & 0o777
            if mode & 0o077:
                raise ValueError("%s is open to others (mode %03o): chmod 600 %s"
                                 % (path, mode, path))
            text = f.read().strip()
            if len(text) < 32:
                raise ValueError("%s is too short to be the back office's secret" % path)
            return text
    except FileNotFoundError:
        pass
    text = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
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
        raise BadInput("%s must be a whole number" % name)
    value = int(text)
    if not low <= value <= high:
        raise BadInput("%s must be from %d to %d" % (name, low, high))
    return value


def _text(form, name):
    text = form.get(name)
    if not isinstance(text, str) or not text:
        raise BadInput("%s is missing" % name)
    return text


def make_app(ledger, secret, service=None):
    """The back office over `ledger` (its store's signing `secret`: load_secret)."""
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
        menu = [(path, label) for path, label, what in PAGES
                if actor and _may(service, actor, what)]
        return templates.TemplateResponse(request, template, dict(
            context, actor=actor, menu=menu, csrf=csrf_of(request), lang=lang,
            t=lambda text: translate(lang, text)), status_code=status)

    def forbidden(request, actor, why):
        return page(request, "error.html", actor, status=403, error=why)

    async def form_of(request):
        """The POST's form, its CSRF token checked (PermissionError: 403)."""
        form = await request.form()
        token = form.get("csrf")
        expected = request.session.get("csrf")
        if not expected or not isinstance(token, str) \
                or not secrets.compare_digest(token, expected):
            raise PermissionError("the form's CSRF token is missing or stale: reload the "
                                  "page and try again")
        return form

    def guarded(what, handler):
        """A route for operators whose role may `what` (service.ROLE_OF)."""
        async def endpoint(request):
            actor = actor_of(request)
            if actor is None:
                if request.method == "POST":
                    return PlainError(403, "not logged in")
                return RedirectResponse("/login", status_code=303)
            try:
                if request.method == "POST":
                    form = await form_of(request)
                else:
                    form = None
                service.check(actor, what)
                return await handler(request, actor, form)
            except (PermissionError, Refused) as e:
                return forbidden(request, actor, str(e))
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
            return page(request, "login.html", None, status=403, error=str(e))
        name, password = form.get("name"), form.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            return page(request, "login.html", None, status=400,
                        error="name and password are needed")
        try:
            actor = await check_login(name, password)
        except LoginRefused as e:
            return page(request, "login.html", None, status=403, error=str(e))
        lang = lang_of(request)
        request.session.clear()  # a new session: a new CSRF token
        request.session.update(operator=actor.name, lang=lang,
                               csrf=secrets.token_urlsafe(32))
        return RedirectResponse("/", status_code=303)

    async def logout(request):
        try:
            await form_of(request)
        except PermissionError as e:
            return PlainError(403, str(e))
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def language(request):
        try:
            form = await form_of(request)
        except PermissionError as e:
            return PlainError(403, str(e))
        if form.get("lang") in LANGS:
            request.session["lang"] = form.get("lang")
        back = request.headers.get("referer", "/")
        return RedirectResponse(back if back.startswith(str(request.base_url)) else "/",
                                status_code=303)

    # -- forecourt -------------------------------------------------------------------------
    def pumps_now():
        grades = ledger.prices()["grades"]
        mapped = {}
        for terminal, _nozzle, grade in ledger.params.nozzles():
            mapped.setdefault(terminal, set()).add(grade)
        out = []
        for pump in ledger.pumps():
            grade = pump["grade"] or ", ".join(sorted(mapped.get(pump["terminal"]) or
                                                      grades)) or "-"
            out.append(dict(pump, grade=grade, nozzle=pump["nozzle"] or "-",
                            litres=_litres(pump["ml"]), money=_money(pump["amount"]),
                            seen_at=_when(pump["seen"])))
        return out

    async def forecourt(request, actor, form):
        return page(request, "forecourt.html", actor, pumps=pumps_now())

    async def forecourt_state(request, actor, form):
        return JSONResponse({"pumps": pumps_now()})

    async def forecourt_events(request, actor, form):
        async def events():
            last = None
            while not await request.is_disconnected():
                state = json.dumps({"pumps": pumps_now()})
                if state != last:
                    last = state
                    yield "data: %s\n\n" % state
                else:
                    yield ": beat\n\n"
                await asyncio.sleep(SSE_PERIOD_S)
        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    # -- sales -----------------------------------------------------------------------------
    def sales_where(query):
        """The WHERE clause and its arguments of a sales filter (BadInput: a bad date)."""
        where, args = [], []
        for name, column in (("pump", "terminal"), ("kind", "kind")):
            if query.get(name):
                where.append("%s = ?" % column)
                args.append(query[name])
        if query.get("grade"):
            where.append("json_extract(record, '$.grade') = ?")
            args.append(query["grade"])
        card = query.get("card", "")
        if card:  # the whole number, or its last 4 digits: never a probe of the hidden middle
            if not card.isdigit() or len(card) not in (4, 16):
                raise BadInput("card: a 16-digit card number or its last 4 digits")
            where.append("asn = ?" if len(card) == 16 else "substr(asn, -4) = ?")
            args.append(card)
        for name, op, extra in (("from", ">=", 0), ("to", "<", 86400)):
            if query.get(name):
                try:
                    day = time.mktime(time.strptime(query[name], "%Y-%m-%d"))
                except ValueError:
                    raise BadInput("%s must be a date YYYY-MM-DD" % name) from None
                where.append("received %s ?" % op)
                args.append(int(day) + extra)
        return (" WHERE " + " AND ".join(where)) if where else "", args

    def sales_of(query, actor):
        where, args = sales_where(query)
        sql = ("SELECT terminal, kind, sale, seq, asn, ml, amount, received, journal, "
               "json_extract(record, '$.grade') FROM sales" + where +
               " ORDER BY received DESC, terminal, seq DESC LIMIT 1000")
        full = actor.role == "administrator"
        return [{"terminal": t, "kind": k, "sale": s, "seq": q,
                 "card": (a or "-") if full else mask_card(a), "ml": ml, "amount": am,
                 "received": r, "journal": j, "grade": g or ""}
                for t, k, s, q, a, ml, am, r, j, g in ledger.db.execute(sql, args)]

    async def sales(request, actor, form):
        query = {k: v for k, v in request.query_params.items()
                 if k in ("pump", "kind", "grade", "card", "from", "to")}
        try:
            rows = sales_of(query, actor)
        except BadInput as e:
            return page(request, "sales.html", actor, status=400, error=str(e), rows=[],
                        query=query, kinds=KINDS, pumps=ledger.terminals())
        if request.query_params.get("format") == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["received", "terminal", "journal", "kind", "sale", "seq",
                             "grade", "card", "ml", "amount"])
            for r in rows:
                writer.writerow([_when(r["received"]), r["terminal"], r["journal"],
                                 r["kind"], r["sale"], r["seq"], r["grade"], r["card"],
                                 r["ml"], r["amount"]])
            return Response(out.getvalue(), media_type="text/csv", headers={
                "Content-Disposition": 'attachment; filename="sales.csv"'})
        return page(request, "sales.html", actor, rows=rows, query=query, kinds=KINDS,
                    pumps=ledger.terminals(), days=sales_per_day(query))

    def sales_per_day(query):
        """Litres and amount per day of every sale the filter takes (the chart)."""
        where, args = sales_where(query)
        return [{"day": day, "litres": round((ml or 0) / 1000, 3),
                 "amount": round((amount or 0) / 100, 2)}
                for day, ml, amount in ledger.db.execute(
                    "SELECT date(received, 'unixepoch', 'localtime') AS day, SUM(ml), "
                    "SUM(amount) FROM sales" + where + " GROUP BY day ORDER BY day", args)]

    # -- prices ----------------------------------------------------------------------------
    def prices_page(request, actor, status=200, **context):
        return page(request, "prices.html", actor, status=status, prices=ledger.prices(),
                    history=list(reversed(ledger.price_history()))[:200],
                    may_set=_may(service, actor, "price"), **context)

    async def prices(request, actor, form):
        return prices_page(request, actor)

    async def set_price(request, actor, form):
        try:
            grade = _text(form, "grade").strip()
            price = _int(form, "price", 1, PRICE_MAX)
            at = _int(form, "at", 0, 2 ** 40) if form.get("at") else 0
            seen = _int(form, "version", 0, 2 ** 62)
        except ValueError as e:
            return prices_page(request, actor, status=400, error=str(e))
        now = ledger.prices()["version"]
        if seen != now:  # a form from before another change (a second tab, a colleague)
            return prices_page(request, actor, status=409, error=(
                "the prices changed since this form was loaded (version %d, now %d): "
                "nothing was set; check them and set again" % (seen, now)))
        try:
            version = service.set_price(actor, grade, price, at)
        except ValueError as e:
            return prices_page(request, actor, status=400, error=str(e))
        return prices_page(request, actor, done="price of %s set to %s (version %d)" % (
            grade, _price(price), version))

    # -- terminals, commands ---------------------------------------------------------------
    async def terminals(request, actor, form):
        pumps = {p["terminal"]: p for p in ledger.pumps()}
        rows = [dict(pumps.get(t) or {"terminal": t}, terminal=t) for t in ledger.terminals()]
        return page(request, "terminals.html", actor, rows=rows)

    def commands_page(request, actor, status=200, **context):
        rows = ledger.db.execute("SELECT id, terminal, cmd, created, done, ok, why FROM "
                                 "commands ORDER BY created DESC, id DESC LIMIT 100")
        return page(request, "commands.html", actor, status=status,
                    rows=[dict(zip(("id", "terminal", "cmd", "created", "done", "ok",
                                    "why"), row)) for row in rows],
                    terminals=ledger.terminals(), cmds=ledger.COMMANDS, **context)

    async def commands(request, actor, form):
        return commands_page(request, actor)

    async def send_command(request, actor, form):
        try:
            cid = service.command(actor, _text(form, "terminal"), _text(form, "cmd"))
        except ValueError as e:
            return commands_page(request, actor, status=400, error=str(e))
        return commands_page(request, actor, done="command %d queued" % cid)

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
                    operators=service.operators(actor), roles=ROLES, **context)

    async def operators(request, actor, form):
        return operators_page(request, actor)

    async def change_operator(request, actor, form):
        try:
            what = _text(form, "what")
            name = _text(form, "name")
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
                raise BadInput("unknown change %r" % what)
        except ValueError as e:
            return operators_page(request, actor, status=400, error=str(e))
        return operators_page(request, actor, done="%s: %s done" % (name, what))

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
        Route("/audit", guarded("audit", audit)),
        Route("/operators", guarded("operator", operators)),
        Route("/backup", guarded("backup", download_backup)),
        Route("/operators", guarded("operator", change_operator), methods=["POST"]),
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
