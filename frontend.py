"""The web frontend: a Bottle app served by waitress in the frontend process.

Public pages (landing page with the list of cities, one page per city) and the mount point of
every bot's own web UI (bots/<name>/webui.py, at /bots/<name>/). It reads cities through
user.py and tells main when it changed the database; it speaks HTTP and nothing else.
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
from pathlib import Path

import bottle
import nh3
import waitress
from markdown_it import MarkdownIt

import bots
import db
import process
import user

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


def render_markdown(text: str | None) -> str:
    """Organisers' Markdown as HTML that cannot carry script to a visitor."""
    return nh3.clean(_markdown.render(text or ""), url_schemes={"http", "https", "mailto"})


def make_app(settings, sessions, plugins, notify_main=lambda: None) -> bottle.Bottle:
    app = bottle.Bottle()
    lookup = [str(HERE / "templates")]

    def page(template: str, **values) -> str:
        return bottle.template(template, template_lookup=lookup,
                               instance=settings.instance.name, **values)

    @app.get("/")
    def landing():
        with sessions() as session:
            cities = user.list_cities(session, enabled_only=True)
        return page("index", cities=cities)

    @app.get("/city/<name>")
    def city(name):
        with sessions() as session:
            row = user.city_page(session, name)
        if row is None:
            bottle.response.status = 404
            return page("unknown_city", name=name)
        return page("city", city=row, text=render_markdown(row.markdown))

    @app.get("/healthz")
    def health():
        return "ok\n"

    @app.get("/static/<path:path>")
    def static(path):
        return bottle.static_file(path, root=str(HERE / "static"))

    @app.hook("after_request")
    def security_headers():
        headers = bottle.response.headers
        headers.setdefault("Content-Security-Policy",
                           "default-src 'self'; script-src 'self'; frame-ancestors 'none'")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")

    for name in plugins:
        if bots.has_module(name, "webui.py"):
            webui = importlib.import_module(f"bots.{name}.webui")
            app.mount(f"/bots/{name}/", webui.make_app(settings, sessions, notify_main))
    return app


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


@process.child_main
def frontend_process(ctx: process.Context) -> None:
    """Entry point of the frontend process (started by main)."""
    settings = ctx.settings
    plugins = bots.load(settings)
    app = make_app(settings, db.open_sessions(settings), plugins,
                   notify_main=lambda: process.database_changed(ctx))
    log.info("web UI on http://%s:%s/", settings.web.host, settings.web.port)
    # waitress runs the app in worker threads; beat from a thread of our own.
    def beat_forever():
        while True:
            process.beat(ctx)
            time.sleep(1)

    threading.Thread(target=beat_forever, daemon=True, name="heartbeat").start()
    waitress.serve(with_errors_logged(app), host=settings.web.host, port=settings.web.port,
                   threads=settings.web.threads, ident="Ticketfrei", _quiet=True)
