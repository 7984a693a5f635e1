"""The city's own page as a channel (bots/web): a report form in, the list and the Atom feed of
accepted reports out.

A city has one web account ("page") while its organisers switched the form or the list on.
The form (webui.py, in the frontend process) stores a report in `web_inbox` and has main tell
this bot to receive; the bot reads the inbox like any network and empties it (`handled`), so
a form report travels the pipeline as every other report does. Sending needs nothing: the page
lists the accepted reports itself (read from the core's `reports`, never written), so a
delivery to this account is done at once. Touches its own tables, and reads `cities` and
`reports`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, or_, select

import db
from bots import Account, Bot, Report
from config import Setting

from .db import WINDOW_HOURS, WebCity, WebInbox

ACCOUNT = "page"  # the one account of a city


class WebBot(Bot):
    # The form tells the bot through main (frontend.receive_now); looking into the inbox is
    # only the safety net for news that was dropped.
    poll_interval = 30.0
    option_keys = {
        "reports_per_client": Setting(5, "int", "form reports one client may send in 10 minutes",
                                      minimum=1, maximum=1000),
        "refresh_seconds": Setting(30.0, "float", "how often the page's list refreshes itself "
                                   "(with JavaScript)", minimum=1.0, maximum=3600.0),
    }

    @classmethod
    def accounts(cls, session, city_id=None):
        query = (select(WebCity.city_id).join(db.City, db.City.id == WebCity.city_id)
                 .where(or_(WebCity.form.is_(True), WebCity.feed.is_(True))))
        if city_id is not None:
            query = query.where(WebCity.city_id == city_id)
        return [Account(city, ACCOUNT, "the city's page") for city in session.scalars(query)]

    @classmethod
    def deactivate(cls, session, account, reason):
        """Never called: no network refuses the city's own page."""

    @classmethod
    def forget_city(cls, session, city_id, user_id):
        session.execute(delete(WebInbox).where(WebInbox.city_id == city_id))
        session.execute(delete(WebCity).where(WebCity.city_id == city_id))

    @classmethod
    def panel(cls, session, city):
        return {"web": switches(session, city.id)}

    @classmethod
    def city_part(cls, session, city):
        web = switches(session, city.id)
        return {"web": web, "refresh": cls.options.refresh_seconds,
                "recent": recent(session, city.id, web.window_hours) if web.feed else []}

    def recv_messages(self, watermark):
        with self.sessions() as session:
            return [tuple(row) for row in session.execute(
                select(WebInbox.id, WebInbox.text)
                .where(WebInbox.city_id == self.account.city_id,
                       WebInbox.id > int(watermark or 0))
                .order_by(WebInbox.id).limit(100))]

    def watermark(self, message):
        return str(message[0])

    def message_id(self, message):
        return str(message[0])  # the inbox's id: unique per instance, never reused

    def read(self, message):
        return Report(text=message[1])

    def handled(self, session, messages):
        session.execute(delete(WebInbox).where(WebInbox.id.in_([m[0] for m in messages])))

    def send_messages(self, reports):
        """Nothing to send: the page and the feed list the city's accepted reports."""


def switches(session, city_id: int) -> WebCity:
    """The city's row, or the defaults (both off) when it has none."""
    row = session.get(WebCity, city_id)
    return row if row is not None else WebCity(city_id=city_id, form=False, feed=False,
                                               window_hours=WINDOW_HOURS)


MOST_LISTED = 100  # reports on the page and in the feed at most


@dataclass(frozen=True)
class Listed:
    """An accepted report as the page and the feed show it: never who sent it."""
    id: int
    text: str
    network: str
    at: float
    place: str = ""  # the place recognised, as relayed posts begin ("U8 Hermannplatz → Wittenau")

    @property
    def source(self) -> str:
        return "this page" if self.network == "web" else self.network.capitalize()

    def age(self, now: float | None = None) -> str:
        minutes = int(max(0.0, (now or time.time()) - self.at) // 60)
        if minutes < 1:
            return "just now"
        if minutes < 60:
            return f"{minutes} min ago"
        return f"{minutes // 60} h {minutes % 60:02d} min ago"


def recent(session, city_id: int, hours: float) -> list[Listed]:
    """The city's accepted reports of the last `hours`, newest first."""
    since = time.time() - hours * 3600
    rows = session.execute(
        select(db.Report.id, db.Report.text, db.Report.network, db.Report.received_at,
               db.ReportPlace.prefix)
        .outerjoin(db.ReportPlace, db.ReportPlace.report_id == db.Report.id)
        .where(db.Report.city_id == city_id, db.Report.verdict == db.ACCEPTED,
               db.Report.received_at >= since)
        .order_by(db.Report.received_at.desc(), db.Report.id.desc()).limit(MOST_LISTED))
    return [Listed(*row[:4], place=(row[4] or "").removesuffix(": ")) for row in rows]
