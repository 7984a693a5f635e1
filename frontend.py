"""The web frontend: a Bottle app served by waitress in the frontend process.

Pages for the public (landing page, one page per city) and for organisers (sign-up, login,
password reset, city settings, account), and the mount point of every bot's own web UI
(bots/<name>/webui.py at /bots/<name>/), which uses this module's helpers:
current_login(), require_city(), check_csrf(), page(), form(), link_token(), no_store(),
signing_secret(), and for a network's OAuth connect flow oauth_start(), oauth_finish(),
callback_url() and OAuthError. The logic lives in user.py; this module speaks HTTP, sends
its mail through a queue (mailer.Outbox), and tells main when the database changed so the
running processes follow.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import http.client
import importlib
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, urlsplit

import bottle
import nh3
import waitress
from markdown_it import MarkdownIt
from sqlalchemy import delete, select

import bots
import censor
import config
import db
import mailer
import process
import stations
import user

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "tf_session"      # a login: random token, HttpOnly, SameSite=Lax
ANON_COOKIE = "tf_anon"    # anchors the CSRF token of visitors who are not logged in
# The largest form is a page text of user.MAX_TEXT characters: up to 4 UTF-8 bytes each, sent
# as %XX, 240,000 bytes. A larger body is refused (413) before it is read, by waitress and by
# the app, and every body the app reads is kept in memory (bottle spools larger ones to disk).
MAX_BODY = 256 * 1024
PURGE_INTERVAL = 600       # seconds between purges of expired sign-ups, limits and counts
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})
# The site's templates (base.tpl: a plugin's full page rebases on it, with a lookup list of
# [its own directory, SITE_TEMPLATES]). Bottle caches templates by the identity of the lookup
# list: keep one list per directory.
SITE_TEMPLATES = str(HERE / "templates")
_LOOKUP = [SITE_TEMPLATES]
# One template lookup list per plugin directory, for the life of the process: bottle caches a
# compiled template under the id() of its lookup list, so a list freed (an app made again, as
# tests do) and another made at the same address would be served the first one's templates.
_PLUGIN_LOOKUPS: dict[str, list[str]] = {}


def _plugin_lookup(name: str) -> list[str]:
    directory = str(Path(importlib.import_module(f"bots.{name}").__path__[0]))
    return _PLUGIN_LOOKUPS.setdefault(directory, [directory])
# This process's app, for bot web UIs too: settings, sessions, plugins, notify_main, outbox.
site = SimpleNamespace()


def render_markdown(text: str | None, top: int = 1) -> str:
    """Organisers' Markdown as HTML that cannot carry script to a visitor. Its headings start
    at level `top`: a text inside a section under an <h2> gets top=3, so that its "# …" does
    not make a second <h1> on the page (version 2's mail texts begin with one)."""
    env = {}
    tokens = _markdown.parse(text or "", env)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + top - 1)}"
    html = _markdown.renderer.render(tokens, _markdown.options, env)
    return nh3.clean(html, url_schemes={"http", "https", "mailto"})


# --- helpers for this app and for the bots' web UIs ------------------------------------------

def signing_secret() -> bytes:
    """The instance's key for signed tokens (mailed links, CSRF tokens of visitors)."""
    if getattr(site, "secret", None) is None:
        with site.sessions.begin() as session:
            site.secret = user.instance_secret(session)
    return site.secret


def current_login():
    """The logged-in session of this request (a db.WebSession), or None."""
    environ = bottle.request.environ
    if "ticketfrei.login" not in environ:
        with site.sessions.begin() as session:
            environ["ticketfrei.login"] = user.find_session(session, bottle.request.get_cookie(COOKIE))
    return environ["ticketfrei.login"]


def require_login():
    login = current_login()
    if login is None:
        bottle.redirect("/login", 303)
    return login


def require_city(name: str | None = None):
    """The logged-in organiser's city (a db.City); 403 if `name` is another city."""
    login = require_login()
    with site.sessions() as session:
        city = user.city_of(session, login.user_id)
    if name is not None and name.lower() != city.name.lower():
        bottle.abort(403, "These are not your city's settings.")
    return city


def _anon_anchor(create: bool) -> str | None:
    anchor = bottle.request.get_cookie(ANON_COOKIE)
    if (not anchor or len(anchor) > 100) and create:
        anchor = secrets.token_urlsafe(24)
        bottle.response.set_cookie(ANON_COOKIE, anchor, httponly=True, samesite="lax",
                                   secure=site.secure, path="/")
        bottle.request.cookies[ANON_COOKIE] = anchor
    return anchor


def csrf_token() -> str:
    """The token every state-changing form carries in its hidden field `csrf`."""
    login = current_login()
    if login is not None:
        return login.csrf
    anchor = _anon_anchor(create=True)
    return hmac.new(signing_secret(), f"csrf:{anchor}".encode(), hashlib.sha256).hexdigest()


def check_csrf() -> None:
    """Abort with 403 unless the form carries this visitor's CSRF token."""
    sent = bottle.request.forms.get("csrf") or ""
    login = current_login()
    if login is not None:
        expected = login.csrf
    else:
        anchor = _anon_anchor(create=False)
        expected = anchor and hmac.new(signing_secret(), f"csrf:{anchor}".encode(),
                                       hashlib.sha256).hexdigest()
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        bottle.abort(403, "This form has expired or did not come from this site. "
                          "Please go back, reload the page and try again.")


def no_store() -> None:
    """Keep this answer out of every cache (the browser's history, proxies): for pages that
    show a token, a mailed link's or a form's."""
    bottle.response.set_header("Cache-Control", "no-store")


def page(template: str, lookup=None, **values) -> str:
    """A page in the site's layout. Every page carries the visitor's own CSRF token (the
    logout form, the page's forms), so none may be cached."""
    no_store()
    return bottle.template(template, template_lookup=lookup or _LOOKUP,
                           instance=site.settings.instance.name, login=current_login(),
                           csrf=csrf_token(), **values)


def form(name: str, limit: int = user.MAX_TEXT) -> str:
    """A form field as text; an over-long one is refused rather than cut or stored, and so is
    a file sent where text is expected (it would read as an empty field)."""
    if name in bottle.request.files:
        bottle.abort(400, f"The field {name} must be text, not a file.")
    value = bottle.request.forms.getunicode(name) or ""
    if len(value) > limit:
        bottle.abort(413, f"The field {name} is too long.")
    return value


def link_token(purpose: str) -> str:
    """The token of a mailed link (its `token` query) if it is valid for purpose; a page
    saying why not (400) otherwise. The answer is kept out of caches (no_store)."""
    no_store()
    token = bottle.request.query.getunicode("token") or ""
    try:
        user.read_token(signing_secret(), token, purpose)
    except user.TokenError as error:
        bottle.abort(400, f"This link does not work: {error}.")
    return token


def back_to_settings(plugin: str, error: str | None = None):
    """The end of a plugin panel's POST route: back to the settings page at the plugin's panel
    (a 303 redirect), or with `error`, that page with the error shown in the panel (400)."""
    if error is None:
        bottle.redirect(f"/settings#network-{plugin}", 303)
    return settings_page(400, panel_errors={plugin: error})


def settings_page(status: int = 200, panel_errors: dict | None = None, **shown) -> str:
    """The logged-in organiser's settings page: the core's sections, then each plugin's panel
    (`shown` overrides the core's values: a message, an error, a form's text)."""
    login = require_login()
    with site.sessions.begin() as session:
        current = user.city_settings(session, login.user_id)
        rows = user.bot_status(session, current["city"].id)
    city = current["city"]
    values = dict(current, markdown=city.markdown or "", preview=None, message=None, error=None,
                  status=rows, labels=_account_labels(city.id),
                  base_url=site.settings.web.base_url,
                  upload_mb=site.settings.stations.max_upload_mb)
    values.update(shown)
    errors = dict(panel_errors or {})
    for name in list(errors):  # a plugin without a panel: its error goes on top
        if not bots.has_module(name, "settings.tpl"):
            values["error"] = errors.pop(name)
    values["parts"] = [(name, plugin_part(name, "settings", functools.partial(
        _plugin_values, cls, "panel", PANEL_NAMES, city,
        status=[r for r in rows if r.network == name], error=errors.get(name))))
        for name, cls in site.plugins.items() if bots.has_module(name, "settings.tpl")]
    bottle.response.status = status
    return page("settings", **values)


def _account_labels(city_id: int) -> dict[tuple[str, str], str]:
    """{(network, account id): label} of the city's active accounts, for the status table
    (inactive ones show their id)."""
    labels = {}
    for name, cls in site.plugins.items():
        try:
            with site.sessions() as session:
                labels.update(((name, a.id), a.label) for a in cls.accounts(session, city_id))
        except Exception:  # the table shows ids then; the plugin's panel says more
            log.exception("plugin %s could not list its accounts", name)
    return labels


# Names a plugin's templates get from the page: panel() and city_part() must not return them.
PANEL_NAMES = {"city", "status", "error", "csrf", "login", "instance"}
CITY_PART_NAMES = {"city", "accounts", "csrf", "login", "instance"}


def _plugin_values(cls, method: str, page_names: set[str], city, **given) -> dict:
    """What a plugin's panel() or city_part() returns for city, with the page's own values."""
    with site.sessions() as session:
        values = getattr(cls, method)(session, city)
    taken = page_names & set(values)
    if taken:
        raise ValueError(f"{method}() returned names the page gives: {', '.join(sorted(taken))}")
    return dict(values, city=city, **given)


def receive_now(city_id: int, network: str, account_id: str) -> None:
    """A web UI stored messages for a bot (a report sent through a form): main tells that bot
    to receive now, as process.receive_now does for a service."""
    site.receive_now(city_id, network, account_id)


def plugin_part(name: str, template: str, values) -> str:
    """A plugin's part of a page (settings.tpl, city.tpl) on its own: if `values()` or the
    template fails, a short note takes its place (the error is logged with the plugin's
    name) and the rest of the page works."""
    try:
        return page(template, lookup=site.plugin_lookup[name], **values())
    except Exception:  # bottle's abort() and redirect() too: the page is not the plugin's
        log.exception("plugin %s: its %s.tpl could not be shown", name, template)
        return (f'<p class="error plugin-failed">This part could not be shown: the {name} '
                "plugin failed. The error is logged.</p>")


def _address() -> str:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client wants it to be (waitress
    # rewrites REMOTE_ADDR from it when web.trusted_proxy is set).
    return bottle.request.environ.get("REMOTE_ADDR") or "unknown"


def _log_in(session, user_id: int) -> None:
    token = user.open_session(session, user_id)
    bottle.response.set_cookie(COOKIE, token, httponly=True, samesite="lax",
                               secure=site.secure, path="/", max_age=user.SESSION_IDLE)


def _mail(to: str, subject: str, body: str) -> None:
    # Sent by the outbox's thread: the answer neither waits on the relay nor tells by its
    # time whether a mail went out.
    site.outbox.put(mailer.message(site.settings, to, subject, body))


def _link(path: str, token: str) -> str:
    return f"{site.settings.web.base_url}{path}?token={quote(token)}"


def _count_attempt(attempt: user.Attempt) -> None:
    """Count a password check before it is made, in a transaction of its own (committed, so
    parallel checks see each other's counts); user.Throttled while it must wait."""
    with site.sessions.begin() as session:
        user.count_attempt(session, attempt)


def _too_many(error: user.Throttled | user.TooManyMails, template: str, **values) -> str:
    """The 429 page of a request refused for now: the form again, with the reason."""
    bottle.response.status = 429
    bottle.response.set_header("Retry-After", str(int(error.wait) + 1))
    if template == "message":
        return page("message", title="Please wait", text=f"{str(error).capitalize()}.")
    return page(template, error=str(error), **values)


# --- OAuth connect flows ---------------------------------------------------------------------
# A bot's web UI sends the organiser to the network with a `state` (oauth_start) and checks
# the one its callback brings (oauth_finish): the answer counts only for the city whose
# organiser started the flow, only once, and only for a while.

OAUTH_TTL = 15 * 60  # seconds an organiser has to authorise at the network


class OAuthError(Exception):
    """A callback that cannot finish; its message is for the organiser (the plugin's panel)."""


def _state_key(state: str) -> str:
    # Only the hash is stored: whoever reads the table (a backup) cannot finish a flow.
    # surrogatepass: any text a callback brings hashes, and distinct texts differently.
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


def oauth_start(plugin: str, data: dict | None = None, state: str | None = None,
                ttl: float = OAUTH_TTL) -> str:
    """Start a connect flow of `plugin` for the logged-in organiser's city (a redirect to
    /login without a login) and return the state to send to the network. `data` (JSON) comes
    back from oauth_finish. OAuth 1.0a gives its request token as `state`: its callback
    brings back nothing else."""
    check_csrf()  # only a form of ours starts a flow, never another site's link
    city = require_city()
    if state is None:
        state = secrets.token_urlsafe(32)
    elif not 16 <= len(state) <= 500:
        raise ValueError("an OAuth state must have 16 to 500 characters")
    now = time.time()
    with site.sessions.begin() as session:
        session.add(db.OAuthState(key=_state_key(state), plugin=plugin, city_id=city.id,
                                  data=json.dumps(data or {}), created_at=now,
                                  expires_at=now + ttl))
    return state


def oauth_finish(plugin: str, state: str) -> tuple[db.City, dict]:
    """Take the flow of `plugin` that `state` started, for the logged-in organiser's city (a
    redirect to /login without a login): (the city, the flow's data). OAuthError if the state
    is unknown, used already, expired, or another city's."""
    city = require_city()
    key = _state_key(state)
    with site.sessions.begin() as session:
        # One DELETE takes the flow: of two callbacks racing with one state only one gets the
        # row back (PostgreSQL makes the second wait on the row, SQLite has one writer).
        taken = session.execute(
            delete(db.OAuthState).where(db.OAuthState.key == key, db.OAuthState.plugin == plugin,
                                        db.OAuthState.city_id == city.id)
            .returning(db.OAuthState.data, db.OAuthState.expires_at)
            .execution_options(synchronize_session=False)).first()
        # Another city's flow stays: its own organiser may still finish it.
        elsewhere = taken is None and session.scalar(
            select(db.OAuthState.key).where(db.OAuthState.key == key,
                                            db.OAuthState.plugin == plugin)) is not None
    # Raised after the commit: an expired flow stays deleted.
    if elsewhere:
        raise OAuthError("This authorisation was started for another city's settings: log in "
                         "as that city's organiser to finish it, or connect again here.")
    if taken is None:
        raise OAuthError("This authorisation link was already used or is unknown: "
                         "please connect again.")
    if taken.expires_at <= time.time():
        raise OAuthError("This authorisation took too long and expired: please connect again.")
    return city, json.loads(taken.data)


def callback_url(plugin: str, path: str = "callback") -> str:
    """The address the network sends the organiser back to, in the plugin's web UI."""
    return f"{site.settings.web.base_url}/bots/{plugin}/{path}"


# --- the app ---------------------------------------------------------------------------------

def make_app(settings, sessions, plugins, notify_main=lambda: None,
             receive_now=lambda city_id, network, account_id: None) -> bottle.Bottle:
    site.__dict__.update(settings=settings, sessions=sessions, plugins=plugins,
                          notify_main=notify_main, receive_now=receive_now,
                          outbox=mailer.Outbox(settings),
                          secure=settings.web.base_url.startswith("https://"))
    # The secret exists before the first request: parallel first requests must not each
    # make one and sign their tokens with it.
    with sessions.begin() as session:
        site.secret = user.ensure_instance_secret(session)
    bottle.BaseRequest.MEMFILE_MAX = MAX_BODY
    site.plugin_lookup = {name: _plugin_lookup(name) for name in plugins}
    app = bottle.Bottle()
    _public_routes(app, sessions, plugins)
    city_files: dict = {}  # filled below, from the plugins' web UIs
    _city_file_routes(app, city_files)
    _signup_routes(app, settings, sessions, notify_main)
    _login_routes(app, settings, sessions)
    _settings_routes(app, settings, sessions, notify_main)
    _transit_routes(app, settings, sessions)
    _account_routes(app, sessions, plugins, notify_main)
    _errors_and_headers(app)
    for name in plugins:
        if bots.has_module(name, "webui.py"):
            webui = importlib.import_module(f"bots.{name}.webui")
            app.mount(f"/bots/{name}/", webui.make_app(settings, sessions, notify_main))
            if hasattr(webui, "make_city_files"):
                city_files.update(webui.make_city_files(settings, sessions))
            if hasattr(webui, "make_v2_app"):
                app.mount(f"/city/{name}/", webui.make_v2_app(settings, sessions, notify_main))
    return app


def _public_routes(app, sessions, plugins) -> None:
    @app.get("/")
    def landing():
        with sessions() as session:
            cities = user.list_cities(session, enabled_only=True)
        return page("index", cities=cities)

    @app.get("/city/<name>")
    def city(name):
        with sessions() as session:
            row = user.city_page(session, name)
            accounts = {n: cls.accounts(session, row.id) for n, cls in plugins.items()} if row else {}
        if row is None:
            bottle.response.status = 404
            return page("unknown_city", name=name)
        # Each connected network's part: how to report there, how to follow.
        parts = [(n, plugin_part(n, "city", lambda n=n: _plugin_values(
                     plugins[n], "city_part", CITY_PART_NAMES, row, accounts=accounts[n])))
                 for n in plugins if accounts.get(n) and bots.has_module(n, "city.tpl")]
        own_heading = (row.markdown or "").lstrip().startswith("#")
        return page("city", city=row, text=render_markdown(row.markdown), parts=parts,
                    own_heading=own_heading)

    @app.get("/healthz")
    def health():
        return "ok\n"

    @app.get("/static/<path:path>")
    def static(path):
        return bottle.static_file(path, root=str(HERE / "static"))


def _city_file_routes(app, city_files: dict) -> None:
    """/city/<name>/<file> for the files plugins serve under a city's page (make_city_files:
    the web plugin's feed.atom). Only names with a dot: version 2's paths under /city/<plugin>/
    (/city/mail/<city>) never have one."""
    @app.get("/city/<name>/<file:re:[a-z0-9-]+[.][a-z0-9]+>")
    def city_file(name, file):
        handler = city_files.get(file)
        if handler is None:
            raise bottle.HTTPError(404, "Not found")
        return handler(name)


def _signup_routes(app, settings, sessions, notify_main) -> None:
    @app.get("/signup")
    def signup_form():
        return page("signup", error=None, email="", city="")

    @app.post("/signup")
    def signup():
        check_csrf()
        email, city_name = form("email", 300), form("city", 100)
        password = form("password", user.MAX_PASSWORD)
        try:
            # The limits count in a transaction of their own: argon2 must not run while it
            # holds their locks.
            with sessions.begin() as session:
                user.check_signup(session, city_name, email, password)
                user.allow_account_mail(session, signing_secret(), _address(), email)
            with sessions.begin() as session:
                token = user.start_signup(session, signing_secret(), email, password, city_name)
        except user.TooManyMails as error:
            return _too_many(error, "message")
        except user.UserError as error:
            bottle.response.status = 400
            return page("signup", error=str(error), email=email, city=city_name)
        if token is None:
            _mail(email.strip(), "Your Ticketfrei account",
                  f"Someone, perhaps you, tried to sign up on {settings.web.base_url} with this "
                  "address. It has an account already: log in, or reset your password at "
                  f"{settings.web.base_url}/reset\n")
        else:
            _mail(email.strip(), f"Confirm your city {city_name.strip().lower()} on Ticketfrei",
                  "Follow this link within a day to create your city on Ticketfrei:\n\n"
                  f"{_link('/signup/confirm', token)}\n\n"
                  "If you did not sign up, ignore this mail.\n")
        return page("message", title="Check your mail",
                    text=f"We sent a mail to {email.strip()}. Follow the link in it to create "
                         "your city.")

    @app.get("/signup/confirm")
    def signup_confirm_form():
        return page("confirm_action", action="/signup/confirm", token=link_token("signup"),
                    title="Create your city", button="Create my city")

    @app.post("/signup/confirm")
    def signup_confirm():
        check_csrf()
        try:
            with sessions.begin() as session:
                city = user.confirm_signup(session, signing_secret(), form("token", 2000))
                _log_in(session, city.user_id)
        except user.UserError as error:
            bottle.response.status = 400
            return page("message", title="This link does not work", text=str(error))
        log.info("city %s created", city.name)
        notify_main()
        bottle.redirect("/settings", 303)


def _login_routes(app, settings, sessions) -> None:
    @app.get("/login")
    def login_form():
        return page("login", error=None, email="")

    @app.post("/login")
    def login():
        check_csrf()
        email, password = form("email", 300), form("password", user.MAX_PASSWORD)
        attempt = user.login_attempt(email, _address())
        try:
            _count_attempt(attempt)
        except user.Throttled as error:
            return _too_many(error, "login", email=email)
        with sessions.begin() as session:
            user_id = user.login(session, email, password, attempt)
            if user_id is not None:
                _log_in(session, user_id)
        if user_id is None:
            bottle.response.status = 400
            return page("login", error="wrong e-mail address or password", email=email)
        bottle.redirect("/settings", 303)

    @app.post("/logout")
    def logout():
        check_csrf()
        with sessions.begin() as session:
            user.close_session(session, bottle.request.get_cookie(COOKIE))
        bottle.response.delete_cookie(COOKIE, path="/")
        bottle.redirect("/", 303)

    @app.get("/reset")
    def reset_form():
        return page("reset", error=None)

    @app.post("/reset")
    def reset():
        check_csrf()
        email = form("email", 300).strip()
        try:
            with sessions.begin() as session:
                user.allow_account_mail(session, signing_secret(), _address(), email)
                token = user.start_reset(session, signing_secret(), email)
        except user.TooManyMails as error:
            return _too_many(error, "message")
        if token is not None:
            _mail(email, "Reset your Ticketfrei password",
                  "Follow this link within an hour to choose a new password:\n\n"
                  f"{_link('/reset/confirm', token)}\n\n"
                  "If you did not ask for this, ignore this mail.\n")
        return page("message", title="Check your mail",
                    text="If this address has an account, we sent it a link to choose a new "
                         "password.")

    @app.get("/reset/confirm")
    def reset_confirm_form():
        return page("new_password", token=link_token("reset"), error=None)

    @app.post("/reset/confirm")
    def reset_confirm():
        check_csrf()
        token = form("token", 2000)
        try:
            with sessions.begin() as session:
                user_id = user.finish_reset(session, signing_secret(), token,
                                            form("password", user.MAX_PASSWORD))
                _log_in(session, user_id)
        except user.TokenError as error:
            bottle.response.status = 400
            return page("message", title="This link does not work", text=str(error))
        except user.UserError as error:
            bottle.response.status = 400
            return page("new_password", token=token, error=str(error))
        bottle.redirect("/settings", 303)


def _settings_routes(app, settings, sessions, notify_main) -> None:
    @app.get("/settings")
    def settings_view():
        return settings_page()

    @app.post("/settings/texts")
    def settings_texts():
        check_csrf()
        login = require_login()
        markdown = form("markdown")
        if bottle.request.forms.get("action") == "preview":
            return settings_page(markdown=markdown, preview=render_markdown(markdown))
        with sessions.begin() as session:
            user.save_texts(session, login.user_id, markdown=markdown)
        return settings_page(message="The page text is saved.")

    @app.post("/settings/patterns")
    def settings_patterns():
        check_csrf()
        login = require_login()
        text = form("patterns", user.MAX_LIST)
        try:
            with sessions.begin() as session:
                user.save_patterns(session, login.user_id, text)
        except (censor.PatternError, user.UserError) as error:
            return settings_page(400, patterns=text,
                                 error=f"The trigger patterns were not saved: {error}")
        notify_main()
        return settings_page(message="The trigger patterns are saved and in use.")

    @app.post("/settings/blocklist")
    def settings_blocklist():
        check_csrf()
        login = require_login()
        with sessions.begin() as session:
            user.save_blocklist(session, login.user_id, form("blocklist", user.MAX_LIST))
        notify_main()
        return settings_page(message="The blocklist is saved and in use.")

    @app.post("/settings/enabled")
    def settings_enabled():
        check_csrf()
        login = require_login()
        enabled = bottle.request.forms.get("enabled") == "1"
        with sessions.begin() as session:
            city = user.city_of(session, login.user_id)
            user.set_city_enabled(session, city.name, enabled)
        notify_main()
        return settings_page(message="The city is on." if enabled else
                             "The city is off: its bots stop and its page is hidden.")


TRANSIT_IMPORTS = 10      # feed imports per city and hour (each one reads a whole feed)
TRANSIT_ALIAS_SAVES = 60  # alias saves per city and hour
_importing = threading.Lock()  # one import at a time in this process: bounded memory


def _upload_path(settings, city_id: int) -> Path:
    """Where a city's feed is assembled from the pieces static/upload.js sends (no request
    body may exceed MAX_BODY: waitress would buffer large ones for anybody)."""
    data = Path(settings.instance.data_dir)
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    return data / f"transit-upload-{city_id}.zip"


@contextlib.contextmanager
def _importing_for(sessions, city_id: int):
    """One import (its download included) at a time in this process, so that transit work
    holds at most one of waitress's threads, and TRANSIT_IMPORTS per city and hour, counted
    before anything is fetched; ImportBusy otherwise."""
    if not _importing.acquire(blocking=False):
        raise stations.ImportBusy("another feed is being imported: try again in a minute")
    try:
        with sessions.begin() as session:
            if not user.allow(session, f"transit-import:{city_id}", TRANSIT_IMPORTS, 3600):
                raise stations.ImportBusy(f"at most {TRANSIT_IMPORTS} imports an hour")
        yield
    finally:
        _importing.release()


def _imported(summary: dict) -> str:
    return (f"The transit data is imported: {summary['stations']} stations, "
            f"{summary['lines']} lines.")


def _scratch_file(settings):
    """A file for a feed on its way in: in the data directory (the container's volume) when
    it is there, /tmp may be small; gone when closed."""
    import tempfile
    data = settings.instance.data_dir
    return tempfile.NamedTemporaryFile(dir=data if os.path.isdir(data) else None,
                                       prefix="transit-", suffix=".zip")


def _fetch_feed(settings, url: str, into) -> None:
    """Download a feed's URL into a file, guarded (guarded.py) and size-limited."""
    import guarded  # only here: the rest of the frontend makes no outgoing requests
    import requests
    if not url.lower().startswith(("https://", "http://")) or len(url) > 2000:
        raise stations.FeedError("give the feed's address as https://…")
    options = settings.stations
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise stations.FeedError("give the feed's address as https://…") from None
    # Before any connection, so that the answer tells nothing of private ports (the check on
    # the connection itself stays: a name may resolve elsewhere a moment later).
    if not options.private_urls and not guarded.public_address(parts.hostname or "", port):
        raise stations.FeedError("the feed's server is not at a public address")
    session = guarded.CappedSession(url, public_only=not options.private_urls,
                                    max_answer=options.max_download_mb * 1024 * 1024,
                                    what="the feed's server")
    try:
        answer = session.request("GET", url, into=into, timeout=options.download_timeout / 2,
                                 headers={"User-Agent": "Ticketfrei"})
    except (requests.RequestException, OSError) as error:
        raise stations.FeedError(f"the feed could not be fetched: {error}") from None
    finally:
        session.close()
    if answer.status_code != 200:
        raise stations.FeedError(f"the feed's server answered {answer.status_code}")


def _transit_routes(app, settings, sessions) -> None:
    def city_id() -> int:
        with sessions() as session:
            return user.city_of(session, require_login().user_id).id

    def done(message=None, error=None, status=200, **shown):
        return settings_page(status, message=message, error=error, **shown)

    def not_imported(error: stations.FeedError, **shown):
        status = 429 if isinstance(error, stations.ImportBusy) else 400
        return done(error=f"The transit data was not imported: {error}", status=status, **shown)

    @app.post("/settings/transit/chunk")
    def transit_chunk():
        """One piece of an upload (static/upload.js): appended at `offset`, which must be
        where the pieces so far end (0 begins anew); `total`, the file's size, within the
        operator's limit."""
        check_csrf()
        target = _upload_path(settings, city_id())
        limit = settings.stations.max_upload_mb * 1024 * 1024
        try:
            offset, total = int(form("offset", 20)), int(form("total", 20))
        except ValueError:
            bottle.abort(400, "offset and total must be numbers")
        piece = bottle.request.files.get("chunk")
        if piece is None:
            bottle.abort(400, "a piece of the file is missing")
        if not 0 <= total <= limit:
            bottle.abort(413, f"The feed is larger than this instance takes "
                              f"({settings.stations.max_upload_mb} MB): give its address.")
        size = target.stat().st_size if target.exists() else 0
        if offset and offset != size:
            bottle.abort(409, "The pieces came out of order: upload the feed again.")
        data = piece.file.read(MAX_BODY)
        if offset + len(data) > total:
            bottle.abort(400, "The pieces are larger than the file.")
        if offset == 0:  # uploads given up more than a day ago, any city's
            for stale in target.parent.glob("transit-upload-*.zip"):
                if stale.stat().st_mtime < time.time() - 86400:
                    stale.unlink(missing_ok=True)
        with open(target, "wb" if offset == 0 else "ab") as out:
            out.write(data)
        bottle.response.status = 204
        return ""

    @app.post("/settings/transit/upload")
    def transit_upload():
        """The feed as one file (a small one, without JavaScript), or, with uploaded=1, the
        one its pieces made."""
        check_csrf()
        target = city_id()
        if bottle.request.forms.get("uploaded") == "1":
            assembled = _upload_path(settings, target)
            if not assembled.exists():
                return done(error="No upload arrived: choose the feed again.", status=400)
            try:
                with _importing_for(sessions, target):
                    summary = stations.import_in_child(settings, target, assembled,
                                                       form("name", 200))
            except stations.ImportBusy as error:  # the pieces stay for the next try
                return not_imported(error)
            except stations.FeedError as error:
                assembled.unlink(missing_ok=True)
                return not_imported(error)
            assembled.unlink(missing_ok=True)
            return done(_imported(summary))
        upload = bottle.request.files.get("feed")
        if upload is None or not upload.raw_filename:
            return done(error="Choose a GTFS zip file to upload.", status=400)
        try:
            with _importing_for(sessions, target), _scratch_file(settings) as copy:
                upload.save(copy)
                copy.flush()
                summary = stations.import_in_child(settings, target, copy.name,
                                                   upload.raw_filename[:200])
        except stations.FeedError as error:
            return not_imported(error)
        return done(_imported(summary))

    @app.post("/settings/transit/url")
    def transit_url():
        check_csrf()
        url = form("url", 2000).strip()
        target = city_id()
        try:
            with _importing_for(sessions, target), _scratch_file(settings) as into:
                _fetch_feed(settings, url, into)
                into.flush()
                summary = stations.import_in_child(settings, target, into.name, url)
        except stations.FeedError as error:
            return not_imported(error, transit_url=url)
        return done(_imported(summary))

    @app.post("/settings/transit/aliases")
    def transit_aliases():
        check_csrf()
        text = form("aliases", stations.MAX_ALIASES * stations.MAX_ALIAS_LINE)
        target = city_id()
        with sessions.begin() as session:  # each save makes the censor load the city again
            if not user.allow(session, f"transit-aliases:{target}", TRANSIT_ALIAS_SAVES, 3600):
                return done(error=f"At most {TRANSIT_ALIAS_SAVES} saves of the aliases an hour.",
                            status=429, aliases=text)
        try:
            with sessions.begin() as session:
                problems = stations.save_aliases(session, target, text)
        except ValueError as error:
            return done(error=f"The aliases were not saved: {error}", status=400,
                        aliases=text)
        if problems:
            return done(error="The aliases are saved; some are not used: " + "; ".join(problems))
        return done("The aliases are saved and in use.")

    @app.post("/settings/transit/prefix")
    def transit_prefix():
        check_csrf()
        on = bottle.request.forms.get("prefix") == "1"
        with sessions.begin() as session:
            stations.save_prefix(session, city_id(), on)
        return done("Relayed reports begin with the place recognised." if on else
                    "Relayed reports are passed on as they were written.")

    @app.post("/settings/transit/try")
    def transit_try():
        check_csrf()
        text = form("text", stations.MAX_TEXT)
        with sessions() as session:
            annotator = stations.annotator_for(session, city_id())
        if annotator is None:
            return done(error="Import your city's transit data first.", status=400)
        return done(tried=text, place=annotator.place(text))


def _account_routes(app, sessions, plugins, notify_main) -> None:
    def account_attempt(login) -> user.Attempt:
        with sessions() as session:
            return user.account_attempt(session, login.user_id, _address())

    def account_page(status: int = 200, error=None, message=None):
        bottle.response.status = status
        return page("account", error=error, message=message)

    @app.get("/account")
    def account():
        require_login()
        return account_page()

    @app.post("/account/password")
    def account_password():
        check_csrf()
        login = require_login()
        old, new = form("old", user.MAX_PASSWORD), form("new", user.MAX_PASSWORD)
        try:
            user.check_new_password(new)  # before counting: a short new one is no guess
            attempt = account_attempt(login)
            _count_attempt(attempt)
            with sessions.begin() as session:
                user.change_password(session, login.user_id, old, new,
                                     bottle.request.get_cookie(COOKIE), attempt)
        except user.Throttled as error:
            return _too_many(error, "account", message=None)
        except user.UserError as error:
            return account_page(400, error=str(error))
        return account_page(message="Your password is changed; other logins of this account "
                                    "have ended.")

    @app.post("/account/delete")
    def account_delete():
        check_csrf()
        login = require_login()
        if bottle.request.forms.get("confirm") != "yes":
            return account_page(400, error="Tick the box to confirm the deletion.")
        password = form("password", user.MAX_PASSWORD)
        try:
            attempt = account_attempt(login)
            _count_attempt(attempt)
            with sessions.begin() as session:
                city_id = user.city_of(session, login.user_id).id
                name = user.delete_account(session, login.user_id, password, plugins, attempt)
        except user.Throttled as error:
            return _too_many(error, "account", message=None)
        except user.UserError as error:
            return account_page(400, error=str(error))
        log.info("city %s and its account deleted", name)
        _upload_path(site.settings, city_id).unlink(missing_ok=True)  # a transit feed half sent
        notify_main()
        bottle.response.delete_cookie(COOKIE, path="/")
        bottle.request.environ["ticketfrei.login"] = None
        return page("message", title="Deleted",
                    text=f"Your account, the city {name} and all its data are deleted.")


def _errors_and_headers(app) -> None:
    @app.hook("before_request")
    def refuse_large_bodies():
        # Before a byte of the body is read. waitress refuses these itself (and limits chunked
        # bodies, which announce no length); this holds under any server, and for tests.
        if bottle.request.content_length > MAX_BODY:
            bottle.abort(413, "This request is too large.")

    @app.error(400)
    def bad_request(error):
        return _error_page("Bad request", error.body)

    @app.error(403)
    def forbidden(error):
        return _error_page("Forbidden", error.body)

    @app.error(404)
    def not_found(error):
        return _error_page("Not found", "There is no such page.")

    @app.error(413)
    def too_long(error):
        return _error_page("Too long", error.body)

    @app.hook("after_request")
    def security_headers():
        headers = bottle.response.headers
        headers.setdefault("Content-Security-Policy",
                           "default-src 'self'; script-src 'self'; frame-ancestors 'none'; "
                           "form-action 'self'; base-uri 'none'")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if current_login() is not None or bottle.request.method == "POST":
            headers.setdefault("Cache-Control", "no-store")


def _error_page(title: str, text: str) -> str:
    try:
        return page("message", title=title, text=text)
    except Exception:  # the error page must not fail itself
        return f"<!doctype html><title>{title}</title><h1>{title}</h1>"


class _ErrorsToLog:
    """wsgi.errors that writes to the log: Bottle prints a failing request's traceback there,
    and the log keeps one line per record."""

    def write(self, text: str) -> None:
        if text.strip():
            log.error("%s", text.strip())

    def writelines(self, lines) -> None:
        self.write("".join(lines))

    def flush(self) -> None:
        pass


def with_errors_logged(app):
    errors = _ErrorsToLog()

    def wsgi(environ, start_response):
        environ["wsgi.errors"] = errors
        return app(environ, start_response)

    return wsgi


def waitress_options(settings) -> dict:
    """How the frontend process runs waitress."""
    # waitress answers 413 to a body of max_request_body_size bytes or more as soon as it
    # read the headers (or, chunked, once that much came), and buffers smaller ones in
    # memory (inbuf_overflow, 512 KiB, is larger).
    options = dict(host=settings.web.host, port=settings.web.port, threads=settings.web.threads,
                   ident="Ticketfrei", _quiet=True, max_request_body_size=MAX_BODY + 1)
    if settings.web.trusted_proxy:
        # waitress then sets REMOTE_ADDR (login throttling, rate limits) and the scheme from
        # the proxy's headers, and drops those headers from anyone else.
        options.update(trusted_proxy=settings.web.trusted_proxy, trusted_proxy_count=1,
                       trusted_proxy_headers="x-forwarded-for x-forwarded-proto",
                       clear_untrusted_proxy_headers=True)
    return options


def purge_now_and_then(sessions, interval: float = PURGE_INTERVAL,
                       stop: threading.Event | None = None) -> None:
    """Delete expired sign-ups, rate limit windows and failure counts every `interval`
    seconds, until `stop` is set (a thread of the frontend process)."""
    stop = stop or threading.Event()
    while True:
        try:
            with sessions.begin() as session:
                user.purge_expired(session)
        except Exception:  # the next round may work; the frontend serves on
            log.exception("purging expired rows failed")
        if stop.wait(interval):
            return


@process.child_main
def frontend_process(ctx: process.Context) -> None:
    """Entry point of the frontend process (started by main)."""
    settings = ctx.settings
    plugins = bots.load(settings)
    sessions = db.open_sessions(settings)
    # make_app makes the instance's secret if main has not: before waitress serves.
    app = make_app(settings, sessions, plugins, notify_main=lambda: process.database_changed(ctx),
                   receive_now=lambda *bot: process.receive_now(ctx, *bot))
    log.info("web UI on http://%s:%s/", settings.web.host, settings.web.port)

    # The heartbeat proves the server serves: a thread asks this server's own /healthz over
    # HTTP and beats only when the answer came. Until waitress listens (serve() below blocks)
    # the checks fail; main gives a new process a full heartbeat_timeout to get going. A
    # check waits up to half that timeout: a slow server that answers (every worker busy for a
    # while) keeps beating, and a lost request is still retried in time.
    own = config.own_address(settings.web.host)
    check_timeout = max(1.0, settings.supervisor.heartbeat_timeout / 2)

    def serving() -> bool:
        # http.client logs nothing, and waitress logs no request lines.
        conn = http.client.HTTPConnection(own, settings.web.port, timeout=check_timeout)
        try:
            conn.request("GET", "/healthz", headers={"Connection": "close"})
            response = conn.getresponse()
            return response.status == 200 and response.read() == b"ok\n"
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def beat_while_serving():
        logged = False
        while True:
            try:
                if serving():
                    process.beat(ctx)
            except Exception:  # the watchdog must not die; a missed beat is all it may cause
                if not logged:
                    log.exception("the health check failed unexpectedly")
                    logged = True
            time.sleep(1)

    threading.Thread(target=beat_while_serving, daemon=True, name="heartbeat").start()
    # Made before the first login of an unknown address needs it, which would take longer (and
    # so tell), but not on the way to serving.
    threading.Thread(target=user.dummy_hash, daemon=True, name="dummy-hash").start()
    threading.Thread(target=purge_now_and_then, args=(sessions,), daemon=True,
                     name="purge").start()
    waitress.serve(with_errors_logged(app), **waitress_options(settings))
