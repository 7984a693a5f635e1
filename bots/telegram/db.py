"""Tables of the Telegram bot. Version 2's tables are used as they are
(ref/ticketfrei2-schema.md): `telegram_accounts` (a city's bot token, by the city's user_id;
empty when disconnected), `seen_telegrams` (the last update version 2 handled: the baseline)
and `telegram_subscribers` (version 2's chats, taken over once). Version 3 adds the bot's
name and channel, its own list of subscribers, and, for a few seconds per report, the chat a
report came from (to answer it and not to send it back there)."""
import time

from sqlalchemy import BigInteger, Boolean, Float, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from db import Base


class TelegramAccount(Base):
    """A city's bot (version 2's table; `active` 0/1 as version 2 wrote it, `apikey` the token
    from @BotFather, empty once disconnected)."""
    __tablename__ = "telegram_accounts"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    apikey: Mapped[str | None] = mapped_column(Text)
    active: Mapped[int | None] = mapped_column(Integer, default=1)


class TelegramSeen(Base):
    """Version 2's last handled update per city: where a taken-over bot begins."""
    __tablename__ = "seen_telegrams"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    tg_id: Mapped[int | None] = mapped_column(Integer)


class V2TelegramSubscriber(Base):
    """Version 2's subscribed chats, read once per account."""
    __tablename__ = "telegram_subscribers"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    subscriber_id: Mapped[int | None] = mapped_column(Integer)


class TelegramBotInfo(Base):
    """What version 2 did not keep about a bot: its @username (from getMe), the channel it
    posts every report to, and whether version 2's subscribers were taken over."""
    __tablename__ = "telegram_bots"
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int | None] = mapped_column(BigInteger)  # Telegram's id of the bot
    username: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_name: Mapped[str | None] = mapped_column(String(300))  # "@name" or its title
    v2_imported: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class TelegramSubscriber(Base):
    """A private chat that sent /start to a city's bot. The chat id is all we keep of them."""
    __tablename__ = "telegram_chats"
    __table_args__ = (UniqueConstraint("account_id", "chat_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float, default=time.time)


class TelegramOrigin(Base):
    """The chat a report came from, kept only until the sender was told whether it is relayed
    and the report was broadcast (not back to them): seconds, an hour at most."""
    __tablename__ = "telegram_origins"
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # the report's message id
    chat_id: Mapped[int] = mapped_column(BigInteger)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)   # told the verdict
    broadcast: Mapped[bool] = mapped_column(Boolean, default=False)  # sent, not to this chat
    received_at: Mapped[float] = mapped_column(Float, default=time.time, index=True)
