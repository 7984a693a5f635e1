"""Tables of the Mastodon bot. Version 2's tables are used as they are (ref/ticketfrei2-schema.md):
`mastodon_instances` (one app registration per instance) and `mastodon_accounts` (a city's
account: its token, by the city's user_id). Version 3 adds what version 2 did not keep: the
callback an app was registered for, each account's handle, a city's post visibility, and the
local id of each mention received (to boost it)."""
from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base


class MastodonInstance(Base):
    """An app registered on an instance (version 2's table). `instance` is the base URL for
    rows version 3 made, the address as typed for version 2's."""
    __tablename__ = "mastodon_instances"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(Text)
    client_secret: Mapped[str | None] = mapped_column(Text)


class MastodonAccount(Base):
    """A city's connected account (version 2's table; `active` 0/1 as version 2 wrote it)."""
    __tablename__ = "mastodon_accounts"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    access_token: Mapped[str | None] = mapped_column(Text)
    instance_id: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[int | None] = mapped_column(Integer, default=1)


class MastodonSeenToot(Base):
    """Version 2's handled mentions; version 3 only deletes them with their city."""
    __tablename__ = "seen_toots"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    toot_uri: Mapped[str | None] = mapped_column(Text)


class MastodonApp(Base):
    """The callback URL an app of mastodon_instances was registered with by version 3: only
    such an app can send an organiser back to this instance (version 2's were not)."""
    __tablename__ = "mastodon_apps"
    instance_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    redirect_uri: Mapped[str] = mapped_column(Text)


class MastodonHandle(Base):
    """An account's `@user@instance`, read when it was connected (version 2 kept none)."""
    __tablename__ = "mastodon_handles"
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    acct: Mapped[str] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(Text)


class MastodonCity(Base):
    """A city's choice for its posts: public (the default) or unlisted."""
    __tablename__ = "mastodon_cities"
    city_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visibility: Mapped[str] = mapped_column(String(16), default="public")


class MastodonMention(Base):
    """A mention an account received: its status's local id there, by the key its report is
    stored under (the status's URI, the same on every instance, so that a status mentioning
    two of a city's accounts is one report). Kept a week: a report is boosted long before."""
    __tablename__ = "mastodon_mentions"
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    status_id: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[float] = mapped_column(Float, index=True)
