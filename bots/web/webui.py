"""The web plugin's web UI at /bots/web/: the report form's target and the organisers' panel
(form on or off, list and feed on or off, how many hours they show). Uses frontend's helpers.

A form report is judged at once with the city's rules (censor.city_rules), so that the rider
learns whether it is relayed ("not relayed: it matched none of the city's trigger patterns",
nothing more about the rules), and stored in the inbox for the city's web bot, which puts it
through the pipeline like any report (so a refused one is recorded with its reason too). Limits:
REPORTS_WINDOW seconds per client network (the core's rate limit rows, keyed by a digest and
purged with their window: nothing about the rider stays longer, nothing goes with the report).
A filled honeypot field (invisible to people, filled by form-filling robots) is answered like
an accepted report and dropped, with a log line that names nobody.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from urllib.parse import quote
from xml.sax.saxutils import escape

import bottle

import censor
import frontend
import user

from .bot import ACCOUNT, WebBot, recent, switches
from .db import WebInbox

log = logging.getLogger(__name__)
REPORTS_WINDOW = 600.0   # seconds over which bots.web.reports_per_client counts
HONEYPOT = "website"     # the field people leave empty
MAX_WINDOW_HOURS = 48.0


def _message(title: str, text: str, status: int = 200) -> str:
    bottle.response.status = status
    return frontend.page("message", title=title, text=text)


def _accepted(name: str) -> str:
    return _message("Thank you", f"Your report is being relayed to everyone who follows "
                                 f"Ticketfrei {name.capitalize()}.")


def make_app(settings, sessions, notify_main):
    app = bottle.Bottle()
    max_length = settings.reports.max_length

    @app.post("/<name>/report")
    def report(name):
        frontend.check_csrf()
        text = frontend.form("text", 4 * max_length).strip()
        with sessions() as session:
            city = user.city_page(session, name)
            if city is None or not switches(session, city.id).form:
                return _message("Not sent", "This city takes no reports through its page.", 404)
            city_id, city_name = city.id, city.name
        if frontend.form(HONEYPOT, 1000).strip():
            log.info("a form report with the honeypot field filled was dropped")
            return _accepted(city_name)
        if not text:
            return _message("Not sent", "The report was empty.", 400)
        with sessions.begin() as session:
            client = user.client_network(bottle.request.environ.get("REMOTE_ADDR") or "unknown")
            key = f"web-report:{user.limit_digest(user.instance_secret(session), client)}"
            if not user.allow(session, key, WebBot.options.reports_per_client, REPORTS_WINDOW):
                bottle.response.set_header("Retry-After", str(int(REPORTS_WINDOW)))
                return _message("Please wait", "You sent several reports just now: please "
                                "wait a few minutes before the next.", 429)
            session.add(WebInbox(city_id=city_id, text=text))
            rules, _why = censor.city_rules(session, city_id)
        frontend.receive_now(city_id, "web", ACCOUNT)
        accepted = rules is not None and rules.unusable is None and rules.judge(text)[0]
        if accepted:
            return _accepted(city_name)
        return _message("Not relayed", "Your report was not relayed: it matched none of the "
                                       "words and patterns this city relays.")

    @app.post("/<name>/settings")
    def panel(name):
        frontend.check_csrf()
        city = frontend.require_city(name)
        forms = bottle.request.forms
        window = None
        if "window_hours" in forms:
            try:
                window = float(frontend.form("window_hours", 20))
            except ValueError:
                window = -1.0
            if not 0.5 <= window <= MAX_WINDOW_HOURS:  # also refuses nan and inf
                return frontend.back_to_settings(
                    "web", f"The list shows between 0.5 and {MAX_WINDOW_HOURS:g} hours.")
        with sessions.begin() as session:
            row = switches(session, city.id)
            session.add(row)  # the defaults when the city had no row: stored now
            for flag in ("form", "feed"):
                if flag in forms:
                    setattr(row, flag, forms.get(flag) == "1")
            if window is not None:
                row.window_hours = window
        notify_main()
        return frontend.back_to_settings("web")

    return app


def make_city_files(settings, sessions):
    """Files under a city's page: its Atom feed, /city/<name>/feed.atom."""
    def feed(name):
        with sessions() as session:
            city = user.city_page(session, name)
            web = city is not None and switches(session, city.id)
            if not web or not web.feed:
                return _message("No feed", "This city has no feed of its reports.", 404)
            listed = recent(session, city.id, web.window_hours)
            city_name = city.name
        bottle.response.content_type = "application/atom+xml; charset=utf-8"
        return atom(settings.web.base_url, city_name, listed)

    return {"feed.atom": feed}


def _time(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")


def _headed(listed) -> str:
    """The report's text as relayed: its place first, if one was recognised."""
    return f"{listed.place}: {listed.text}" if listed.place else listed.text


def atom(base_url: str, city_name: str, listed) -> str:
    """An Atom feed (RFC 4287) of the listed reports; an entry's id is its report's, stable
    across requests. The feed's time is its newest entry's (or 1970 while it has none), so that
    an unchanged feed reads the same."""
    page = f"{base_url}/city/{quote(city_name)}"
    title = escape(f"Ticketfrei {city_name.capitalize()}")
    entries = "".join(
        f"<entry><id>{escape(page)}#report-{r.id}</id>"
        f"<title>{escape(_headed(r)[:80])}</title>"
        f"<updated>{_time(r.at)}</updated>"
        f'<link rel="alternate" href="{escape(page)}#report-{r.id}"/>'
        f'<content type="text">{escape(_headed(r))} (via {escape(r.source)})</content></entry>'
        for r in listed)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>{escape(page)}/feed.atom</id><title>{title}</title>"
            f"<updated>{_time(listed[0].at if listed else 0)}</updated>"
            f"<author><name>{title}</name></author>"
            f'<link rel="self" href="{escape(page)}/feed.atom"/>'
            f'<link rel="alternate" href="{escape(page)}"/>'
            f"{entries}</feed>\n")
