"""The web plugin's tables: a city's switches for its page (the report form, the list and
feed of accepted reports), and the form's inbox, where a report waits for the city's web bot.
Nothing about who sent a report is kept here (the form's rate limit is the core's, keyed by a
digest of the client's network and purged with its window)."""
from __future__ import annotations

import time

from sqlalchemy import Boolean, Float, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base

WINDOW_HOURS = 3.0  # how far back the list and the feed go, unless the organiser says otherwise


class WebCity(Base):
    """One city's switches; no row: both off."""
    __tablename__ = "web_cities"
    city_id: Mapped[int] = mapped_column(Integer, ForeignKey("cities.id"), primary_key=True)
    form: Mapped[bool] = mapped_column(Boolean, default=False)
    feed: Mapped[bool] = mapped_column(Boolean, default=False)
    window_hours: Mapped[float] = mapped_column(Float, default=WINDOW_HOURS)


class WebInbox(Base):
    """A report sent through a city's form, until the city's web bot has stored it."""
    __tablename__ = "web_inbox"
    # Ids are message ids: never reused, also after the inbox was emptied (SQLite would start
    # again from the highest id left, 1 for an empty table, without AUTOINCREMENT).
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_id: Mapped[int] = mapped_column(Integer, index=True)
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[float] = mapped_column(Float, default=time.time)
