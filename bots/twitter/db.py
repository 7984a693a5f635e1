"""Tables of the X (Twitter) bot. Version 2's tables are used as they are
(ref/ticketfrei2-schema.md): `twitter_accounts` (a city's OAuth 1.0a access token in
`client_id` and its secret in `client_secret`, by the city's user_id), `twitter_request_tokens`
(the request token of a connection under way), and `seen_tweets` / `seen_dms` (what version 2
handled last: the baseline). Version 3 adds the account's X user id and @handle."""
from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base


class TwitterAccount(Base):
    """A city's X account (version 2's table; `active` 0/1 as version 2 wrote it)."""
    __tablename__ = "twitter_accounts"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    client_id: Mapped[str | None] = mapped_column(Text)      # the access token
    client_secret: Mapped[str | None] = mapped_column(Text)  # the access token's secret
    active: Mapped[int | None] = mapped_column(Integer, default=1)


class TwitterRequestToken(Base):
    """OAuth 1.0a's request token while an organiser is on X authorising us (version 2's)."""
    __tablename__ = "twitter_request_tokens"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    request_token: Mapped[str | None] = mapped_column(Text)
    request_token_secret: Mapped[str | None] = mapped_column(Text)


class TwitterSeenTweet(Base):
    """Version 2's highest handled mention per city (several rows possible)."""
    __tablename__ = "seen_tweets"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    tweet_id: Mapped[int | None] = mapped_column(Integer)


class TwitterSeenDM(Base):
    """Version 2's last handled direct message per account."""
    __tablename__ = "seen_dms"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    twitter_accounts_id: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(Text)


class TwitterHandle(Base):
    """Who the account is on X: its user id (retweets and mentions need it) and @handle."""
    __tablename__ = "twitter_handles"
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    x_user_id: Mapped[int] = mapped_column(BigInteger)
    username: Mapped[str] = mapped_column(String(64))
