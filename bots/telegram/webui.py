"""The Telegram bot's web UI at /bots/telegram/: a city's organisers connect their bot (the token
@BotFather gave them, checked with getMe), replace its token, name the channel it posts every
report to, and disconnect it. Uses frontend's helpers for logins, CSRF, form fields and the way
back to the settings page.

Every request to Telegram goes through client.Client with a short timeout (it holds one of the
frontend's few threads) and is made while no database transaction is open. Touches the
plugin's own tables only: telegram_accounts (one row per city: version 2's, reused; another bot
gets a new row, which makes it another account), telegram_bots, telegram_origins (forgotten on
disconnecting), and, when another bot replaces the city's bot, the old bot's telegram_chats and
seen_telegrams rows.
"""
from __future__ import annotations

import logging
import re

import bottle
from sqlalchemy import delete, select

import bots
import frontend
import user

from . import client
from .bot import TelegramBot, bot_id_of, forget_origins
from .db import TelegramAccount, TelegramBotInfo, TelegramOrigin, TelegramSeen, TelegramSubscriber

log = logging.getLogger(__name__)

NAME = "telegram"
CONNECTS_PER_HOUR = 20  # token and channel attempts of one city: each asks Telegram
WEB_TIMEOUT = 10.0  # seconds: an organiser waits, and a frontend thread with them
TOKEN = re.compile(r"\d{5,20}:[A-Za-z0-9_-]{30,80}")
USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,63}")  # Telegram's (5-32), loosely: a link part
# What the channel field takes: "@name", "t.me/name" (with or without https://), an id.
CHANNEL_NAME = re.compile(r"(?:@|(?:https?://)?(?:www\.)?(?:t|telegram)\.me/)"
                          r"([A-Za-z][A-Za-z0-9_]{3,31})/?")
CHANNEL_ID = re.compile(r"-100\d{6,16}")

NOT_A_TOKEN = "That is not a bot token from @BotFather (it looks like 123456789:AAH…)."
REFUSED = "Telegram did not accept that token: copy it again from @BotFather (/token)."
NO_ANSWER = "Telegram did not answer; try again in a minute."
TOO_MANY = "Too many attempts: please wait an hour."
TAKEN = ("That bot is connected to another city of this instance: make a bot of your own "
         "with @BotFather (/newbot).")
NOT_CONNECTED = "Connect your city's bot first."
UNKNOWN_CHANNEL = "Telegram knows no such channel (is it public, or did you give its id?)"
A_GROUP = "That is a group, not a channel: give a channel's @name."
NOT_ADMIN = "Make @{bot} an administrator of the channel who may post messages, then save again."
TOKEN_GONE = ("Telegram no longer accepts the bot's token: paste its new token from @BotFather "
              "(/token) above.")


class Said(Exception):
    """A request that cannot be done; the message is for the organiser."""


def _ask(token: str, method: str, *args, **kwargs):
    """One request to Telegram with the bot's token, on a client of its own (a Client owns an
    event loop: it is not shared between the frontend's threads). The run loop's errors pass
    through: CredentialsRefused, client.Refused, TryLater, OSError."""
    api = client.Client(token, TelegramBot.options.api_url, WEB_TIMEOUT)
    try:
        return api.call(method, *args, **kwargs)
    finally:
        api.close()


def _count(sessions, city) -> None:
    """Count one attempt that asks Telegram; Said once the city made its share this hour."""
    with sessions.begin() as session:
        if not user.allow(session, f"telegram-connect:{city.id}", CONNECTS_PER_HOUR, 3600):
            raise Said(TOO_MANY)


def _city_row(session, city):
    """The city's one telegram_accounts row (version 2's too, disconnected or not), or None."""
    return session.scalars(select(TelegramAccount).where(
        TelegramAccount.user_id == city.user_id).order_by(TelegramAccount.id)).first()


def _bot_of(token: str):
    """Telegram's getMe for a pasted token: (bot id, username), or Said."""
    try:
        me = _ask(token, "get_me")
    except (bots.CredentialsRefused, client.Refused):
        raise Said(REFUSED) from None
    except (bots.TryLater, OSError):
        raise Said(NO_ANSWER) from None
    username = getattr(me, "username", None)
    if not (isinstance(me.id, int) and me.id == bot_id_of(token) and isinstance(username, str)
            and USERNAME.fullmatch(username)):
        raise Said(NO_ANSWER)  # not what Telegram answers: a broken proxy in between
    return me.id, username


def _store_token(session, city, token: str, bot_id: int, username: str) -> None:
    """The city's row holds the token (one row per city). The same bot keeps its subscribers
    and channel; another bot starts afresh: its chats, update ids and channel are another's."""
    if session.scalar(select(TelegramAccount.id).where(
            TelegramAccount.user_id != city.user_id,
            TelegramAccount.apikey.like(f"{bot_id}:%"))) is not None:
        # One bot polled by two cities: Telegram answers one of them 409, each in turn.
        raise Said(TAKEN)
    row = _city_row(session, city)
    info = session.get(TelegramBotInfo, row.id) if row is not None else None
    stored = row is not None and ((info.bot_id if info is not None else None)
                                  or bot_id_of(row.apikey))
    if stored and stored != bot_id:
        # Another bot is another account (a row of its own: main stops the old bot's process
        # and starts this one afresh); the old bot's chats, update ids and channel go with it,
        # and version 2's last update id and subscribers were the old bot's too.
        for model in (TelegramSubscriber, TelegramOrigin, TelegramBotInfo):
            session.execute(delete(model).where(model.account_id == row.id))
        session.execute(delete(TelegramSeen).where(TelegramSeen.user_id == city.user_id))
        session.delete(row)
        row, info = None, TelegramBotInfo(v2_imported=True)
        log.info("city %s connected another Telegram bot: the old one's subscribers are gone",
                 city.name)
    if row is None:
        row = TelegramAccount(user_id=city.user_id)
        session.add(row)
        session.flush()
    if info is None:
        # A new row, or version 2's: its subscribers are taken over at the bot's start
        # (version 2 kept no bot id; if its bot was another, sends to its chats fail and drop them).
        info = TelegramBotInfo(v2_imported=False)
    if info.account_id is None:
        info.account_id = row.id
        session.add(info)
    info.bot_id, info.username = bot_id, username
    row.apikey, row.active = token, 1


def _channel_asked(field: str):
    """The channel field as getChat takes it ("@name" or an id), None to remove the channel;
    Said for what is neither."""
    field = field.strip()
    if not field:
        return None
    named = CHANNEL_NAME.fullmatch(field)
    if named:
        return "@" + named.group(1)
    if CHANNEL_ID.fullmatch(field):
        return int(field)
    raise Said(f"\"{field[:80]}\" is not a channel: give its @name, its t.me link or its id "
               "(-100…).")


def _channel_checked(token: str, bot_id: int, username: str, asked):
    """(chat id, name to show) of a channel the bot may post to, or Said."""
    try:
        chat = _ask(token, "get_chat", asked)
        if chat.type != "channel":
            raise Said(UNKNOWN_CHANNEL if chat.type == "private" else A_GROUP)
        try:
            member = _ask(token, "get_chat_member", chat.id, bot_id)
        except client.Refused:  # a channel that hides its members from non-admins
            raise Said(NOT_ADMIN.format(bot=username)) from None
    except bots.CredentialsRefused:
        raise Said(TOKEN_GONE) from None
    except client.Refused:
        raise Said(UNKNOWN_CHANNEL) from None
    except (bots.TryLater, OSError):
        raise Said(NO_ANSWER) from None
    if not (member.status == "creator" or (member.status == "administrator"
                                           and getattr(member, "can_post_messages", False))):
        raise Said(NOT_ADMIN.format(bot=username))
    # Only a username is shown as "@name" (and linked): a title is the channel owner's text,
    # and one written "@official_channel" must not pass for a link.
    name = f"@{chat.username}" if chat.username else (chat.title or str(chat.id)).lstrip("@ ")
    return chat.id, name[:300]


def make_app(settings, sessions, notify_main):
    app = bottle.Bottle()

    @app.post("/<name>/token")
    def connect(name):
        """Connect the city's bot, or give it a new token (after /revoke at @BotFather)."""
        frontend.check_csrf()
        city = frontend.require_city(name)
        token = frontend.form("token", 200).strip()
        try:
            _count(sessions, city)
            if not TOKEN.fullmatch(token):
                raise Said(NOT_A_TOKEN)
            bot_id, username = _bot_of(token)  # no transaction open while Telegram answers
            with sessions.begin() as session:
                _store_token(session, city, token, bot_id, username)
        except Said as error:
            return frontend.back_to_settings(NAME, str(error))
        notify_main()  # main starts the bot; a running one notices the new token itself
        return frontend.back_to_settings(NAME)

    @app.post("/<name>/channel")
    def channel(name):
        """The channel every report is posted to too; an empty field removes it."""
        frontend.check_csrf()
        city = frontend.require_city(name)
        field = frontend.form("channel", 300)
        try:
            asked = _channel_asked(field)
            with sessions() as session:
                row = _city_row(session, city)
                info = session.get(TelegramBotInfo, row.id) if row is not None else None
                if row is None or not row.apikey or info is None:
                    raise Said(NOT_CONNECTED)
                token, account_id = row.apikey, row.id
                bot_id = info.bot_id or bot_id_of(token)
                username = info.username or "your bot"
            found = None
            if asked is not None:
                _count(sessions, city)
                found = _channel_checked(token, bot_id, username, asked)
        except Said as error:
            return frontend.back_to_settings(NAME, str(error))
        with sessions.begin() as session:
            info = session.get(TelegramBotInfo, account_id)
            if info is None:  # disconnected and forgotten meanwhile
                return frontend.back_to_settings(NAME, NOT_CONNECTED)
            info.channel_id, info.channel_name = found if found else (None, None)
        return frontend.back_to_settings(NAME)  # the bot reads the channel at each broadcast

    @app.post("/<name>/disconnect")
    def disconnect(name):
        """The bot stops; its subscribers and channel are kept, for the same bot connected
        again (another bot drops them: _store_token)."""
        frontend.check_csrf()
        city = frontend.require_city(name)
        with sessions.begin() as session:
            row = _city_row(session, city)
            if row is None or not row.apikey:
                return frontend.back_to_settings(NAME, "No Telegram bot of your city is "
                                                       "connected.")
            row.apikey, row.active = "", 0
            forget_origins(session, row.id)  # no sender is answered any more
        log.info("the Telegram bot of city %s was disconnected", city.name)
        notify_main()
        return frontend.back_to_settings(NAME)

    return app
