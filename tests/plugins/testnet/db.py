"""Tables of the test network: its accounts' switches, the public's messages, what it posted."""
from sqlalchemy import Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db import Base


class TestnetAccount(Base):
    """Switches a test flips on one account; no row means an active, well-behaved account."""
    __tablename__ = "testnet_accounts"
    __table_args__ = (UniqueConstraint("city_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # the network answers "try later"
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # receiving blocks forever
    hang: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # credentials refused
    refuse: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # connections fail (like a 503)
    fail: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # the bot hits a bug on receiving
    crash: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # seconds each receive waits, as a long poll on a quiet network does
    longpoll: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # a broadcast account: each report goes to this many recipients, one post each
    recipients: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # seconds each post takes
    send_delay: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    reason: Mapped[str | None] = mapped_column(Text)


class TestnetInbox(Base):
    """Messages the public sent to an account."""
    __tablename__ = "testnet_inbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_id: Mapped[int] = mapped_column(Integer)
    account: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[float] = mapped_column(default=0.0)


class TestnetOutbox(Base):
    """What the network published; like Mastodon it posts one idempotency key only once (a
    broadcast's key names the recipient too) and counts the attempts."""
    __tablename__ = "testnet_outbox"
    __table_args__ = (UniqueConstraint("account", "city_id", "idempotency_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_id: Mapped[int] = mapped_column(Integer)
    account: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    posted_at: Mapped[float] = mapped_column(default=0.0)
