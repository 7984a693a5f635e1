"""Tables of the mail bot: which cities have their list on, mails as received, subscribers.
Which subscriber a delivery reached is the core's ledger (db.DeliveryRecipient)."""
import time

from sqlalchemy import (Boolean, Float, Integer, LargeBinary, String, Text, UniqueConstraint, false,
                        func, true)
from sqlalchemy import select
from sqlalchemy.orm import Mapped, mapped_column

from db import Base


class MailCity(Base):
    """A city's mailing list switch; no row means on."""
    __tablename__ = "mail_cities"
    city_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Version 2's list taken over (server defaults: rows written by plain SQL work too).
    v2_imported: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class V2MailingList(Base):
    """Version 2's confirmed subscribers (ref/ticketfrei2-schema.md), read once per city."""
    __tablename__ = "mailinglist"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    email: Mapped[str | None] = mapped_column(Text)


class MailInbox(Base):
    """A mail as the SMTP service accepted it, until its city's bot turned it into a report.
    It holds the sender's address, so the bot deletes it as soon as it is handled."""
    __tablename__ = "mail_inbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_id: Mapped[int] = mapped_column(Integer, index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[float] = mapped_column(Float, default=time.time)


class MailSubscriber(Base):
    __tablename__ = "mail_subscribers"
    __table_args__ = (UniqueConstraint("city_id", "email"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_id: Mapped[int] = mapped_column(Integer, index=True)
    email: Mapped[str] = mapped_column(String(254))
    bounces: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[bool] = mapped_column(Boolean, default=False)  # bounced for good: not mailed
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float, default=time.time)


def subscribers_with(session, city_id: int, email: str) -> list[MailSubscriber]:
    """A city's subscribers with this address. Addresses are stored as given (a mail server
    may tell `Erika@` from `erika@`) and compared case-insensitively, as a person typing an
    address expects; in Python, since SQLite's lower() leaves non-ASCII letters alone
    ("Ärger@" and "ärger@" are one address). Two rows for one address could only come from
    two confirmations of it in other capitals at the same moment; both are then found here."""
    return [row for row in session.scalars(select(MailSubscriber).where(
        MailSubscriber.city_id == city_id, func.length(MailSubscriber.email) == len(email)))
        if row.email.lower() == email.lower()]
