"""The Telegram bot of one city: private messages to the city's bot become reports (/start,
/stop and /help are commands), and every accepted report goes to the bot's subscribers and to
the city's channel, if it has one.

Talks to Telegram only through python-telegram-bot (client.py). Touches its own tables
(db.py: version 2's telegram_accounts, seen_telegrams and telegram_subscribers, and version
3's bot names, subscribers and report origins) and reads the verdicts of its own reports (to
tell a sender whether their report is relayed). A report never names who sent it: the text
is the message's text; the chat it came from is kept apart (telegram_origins) only until the
sender was answered and the report broadcast, and no log line names a chat.
"""
from __future__ import annotations

import logging
import time

from sqlalchemy import and_, delete, func, select

import db
from bots import Account, Bot, CredentialsRefused, Refused, Report, TryLater
from config import Setting

from . import client
from .db import (TelegramAccount, TelegramBotInfo, TelegramOrigin, TelegramSeen, TelegramSubscriber,
                 V2TelegramSubscriber)

log = logging.getLogger(__name__)


class TokenReplaced(Exception):
    """The organisers pasted a new token: this process ends, main starts the bot again."""

MAX_TEXT = 4096           # Telegram's limit, in UTF-16 code units
ORIGINS_KEPT = 3600.0     # seconds: a report's chat is forgotten by then, answered or not
SHORT_WAIT = 1            # seconds of long poll while a sender waits for their answer
SLEEP_AT_MOST = 10.0      # seconds of a flood wait slept through in the middle of a broadcast
# Updates asked for (Telegram remembers the last list a bot asked for: always say it).
UPDATES = ["message", "edited_message", "my_chat_member"]
NOT_TEXT = ("photo", "video", "animation", "document", "audio", "voice", "video_note",
            "sticker", "location", "venue", "contact", "poll", "dice", "story")

WELCOME = ("You are subscribed to Ticketfrei {city}: every report of ticket inspectors in "
           "{city}'s public transport comes to you here.\n\nSeen inspectors yourself? Write "
           "what, where and which direction, as text; it is relayed without your name.\n\n"
           "/stop ends the subscription, /help explains.")
HELP = ("This is Ticketfrei {city}. Riders warn each other about ticket inspectors in "
        "{city}'s public transport.\n\nWrite what you saw, where and in which direction, as "
        "text: it is relayed on all of Ticketfrei {city}'s channels, without your name. "
        "Photos, files, voice messages and locations are not relayed (people in photos could "
        "be recognised).\n\n/start: get every report here\n/stop: no more reports")
BYE = "You will get no more reports from Ticketfrei {city}. /start subscribes you again."
ONLY_TEXT = ("Only text is relayed: please describe what you saw in words (people in photos "
             "could be recognised). Nothing was relayed.")
RELAYED = "Thank you: your report is relayed."
NOT_RELAYED = ("Your message was not relayed: it does not look like a report of ticket "
               "inspectors here.")
GROUPS = ("Ticketfrei {city} works in private chats only: write to @{bot} directly. "
          "Leaving this group.")
UNKNOWN_COMMAND = ("I do not know that command, and it was not relayed. Write your report as "
                   "text without a leading /. /help explains what I do.")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut to `limit` UTF-16 code units (as Telegram counts), at a word if one ends
    near the cut, with "…"."""
    if utf16_length(text) <= limit:
        return text
    units, end = 0, 0
    for end, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit - 1:
            break
    cut = text[:end]
    space = cut.rfind(" ")
    if space > len(cut) * 4 // 5:
        cut = cut[:space]
    return cut.rstrip() + "…"


def account_rows(session, city_id: int | None = None, active_only: bool = True):
    """(account row, city, bot info or None) of bots: connected and active ones, or with
    `active_only` false every one, disconnected ones (no token) too."""
    query = (select(TelegramAccount, db.City, TelegramBotInfo)
             .join(db.City, db.City.user_id == TelegramAccount.user_id)
             .outerjoin(TelegramBotInfo, TelegramBotInfo.account_id == TelegramAccount.id)
             .order_by(TelegramAccount.id))
    if active_only:
        query = query.where(TelegramAccount.active != 0, TelegramAccount.apikey.is_not(None),
                            TelegramAccount.apikey != "")
    if city_id is not None:
        query = query.where(db.City.id == city_id)
    return session.execute(query).all()


def label(info) -> str:
    return f"@{info.username}" if info is not None and info.username else "Telegram bot"


def gone(error: client.Refused) -> bool:
    """A chat the bot can never write to again: it blocked the bot, or is gone ("Forbidden: bot
    was blocked by the user", "user is deactivated", "Chat not found")."""
    return error.code == 403 or "chat not found" in str(error).lower()


def bot_id_of(token: str) -> int:
    """A token is "<bot id>:<secret>": the bot's id is the token's first part."""
    head = (token or "").split(":", 1)[0]
    return int(head) if head.isdigit() else 0


class TelegramBot(Bot):
    broadcasts_own_reports = True  # a report sent to the bot goes to its subscribers too
    poll_interval = 0.2  # getUpdates waits for news itself (long polling)
    option_keys = {
        "api_url": Setting("https://api.telegram.org/bot", help="the Bot API's URL before the "
                           "token (a self-hosted Bot API server, tests)"),
        "long_poll": Setting(25, "int", "seconds getUpdates waits for news (Telegram's long "
                             "polling)", minimum=0, maximum=40),
        "timeout": Setting(15.0, "float", "seconds any other request to Telegram may take",
                           minimum=1.0, maximum=15.0),
        "messages_per_second": Setting(25.0, "float", "messages a bot sends a second at most "
                                       "(Telegram allows about 30)", minimum=0.1,
                                       maximum=30.0),
    }

    # --- accounts --------------------------------------------------------------------------
    @classmethod
    def accounts(cls, session, city_id=None):
        return [Account(city.id, str(row.id), label(info))
                for row, city, info in account_rows(session, city_id)]

    @classmethod
    def deactivate(cls, session, account, reason):
        row = session.get(TelegramAccount, int(account.id))
        if row is not None:
            row.active = 0

    @classmethod
    def forget_city(cls, session, city_id, user_id):
        ids = select(TelegramAccount.id).where(TelegramAccount.user_id == user_id)
        for model in (TelegramSubscriber, TelegramOrigin, TelegramBotInfo):
            session.execute(delete(model).where(model.account_id.in_(ids)))
        for model in (TelegramAccount, TelegramSeen, V2TelegramSubscriber):
            session.execute(delete(model).where(model.user_id == user_id))

    @classmethod
    def panel(cls, session, city):
        bots = []
        for row, _, info in account_rows(session, city.id, active_only=False):
            count = session.scalar(select(func.count()).select_from(TelegramSubscriber).where(
                TelegramSubscriber.account_id == row.id))
            bots.append(dict(id=str(row.id), handle=label(info), active=bool(row.active),
                             connected=bool(row.apikey),
                             username=info.username if info else None,
                             channel=info.channel_name if info else None, subscribers=count))
        return dict(bots=bots)

    # --- the bot process ---------------------------------------------------------------------
    def start(self):
        with self.sessions.begin() as session:
            row = session.get(TelegramAccount, int(self.account.id))
            city = session.scalar(select(db.City).where(db.City.user_id == row.user_id))
            token, self.user_id, self.city = row.apikey, row.user_id, city.name.capitalize()
            info = session.get(TelegramBotInfo, row.id)
            if info is None:
                info = TelegramBotInfo(account_id=row.id, v2_imported=False)
                session.add(info)
            if not info.v2_imported:
                self._take_over_v2(session, row)
                info.v2_imported = True
            self.username = info.username or ""
        self.token, self.bot_id = token, bot_id_of(token)
        # One client each for the receive thread and the main thread (each has its own loop).
        self.receiving = client.Client(token, self.options.api_url, self.options.timeout)
        self.sending = client.Client(token, self.options.api_url, self.options.timeout)
        self.webhook_removed = False
        self.waiting_senders = False  # someone waits for their answer: poll briefly
        self.origins: dict[str, int] = {}  # reports read, their chats, until handled()
        self.next_send = 0.0
        self.left: set[int] = set()  # groups left by this process

    def _take_over_v2(self, session, row) -> None:
        """Version 2's subscribers become this bot's, once: a later /stop sticks."""
        known = set(session.scalars(select(TelegramSubscriber.chat_id).where(
            TelegramSubscriber.account_id == row.id)))
        taken = 0
        for chat_id in session.scalars(select(V2TelegramSubscriber.subscriber_id).where(
                V2TelegramSubscriber.user_id == row.user_id)):
            if isinstance(chat_id, int) and chat_id not in known:
                session.add(TelegramSubscriber(account_id=row.id, chat_id=chat_id))
                known.add(chat_id)
                taken += 1
        if taken:
            log.info("took over %d subscriber(s) of version 2's bot", taken)

    def first_watermark(self):
        return self.checked(self._baseline)

    def _baseline(self):
        """Version 2's bot begins after the last update version 2 handled; a new bot takes
        what waits for it (Telegram keeps updates a day: a message sent while the bot was
        being connected is someone's /start or report)."""
        self._learn_name()
        self._remove_webhook()
        with self.sessions() as session:
            seen = session.scalar(select(TelegramSeen.tg_id).where(
                TelegramSeen.user_id == self.user_id).order_by(TelegramSeen.tg_id.desc()))
        return str(seen) if seen else None

    def _learn_name(self) -> None:
        me = self.receiving.call("get_me")
        self.username = me.username or ""
        with self.sessions.begin() as session:
            info = session.get(TelegramBotInfo, int(self.account.id))
            info.bot_id, info.username = me.id, me.username

    def _remove_webhook(self) -> None:
        """getUpdates refuses to work while a webhook is set (version 2's, another program's)."""
        self.receiving.call("delete_webhook")
        self.webhook_removed = True

    def token_replaced(self) -> bool:
        """Whether the organisers pasted another token since this process started: this
        process then ends and main starts the bot again with it."""
        with self.sessions() as session:
            row = session.get(TelegramAccount, int(self.account.id))
            return row is None or row.apikey != self.token

    def checked(self, work, *args):
        """work(*args); a token Telegram refuses is the account's end only if it is still the
        stored one (else a new one was pasted meanwhile, and is not to be marked inactive)."""
        try:
            return work(*args)
        except CredentialsRefused:
            if self.token_replaced():
                raise TokenReplaced("the bot's token was replaced: starting again with the "
                                    "new one") from None
            raise

    def recv_messages(self, watermark):
        if self.token_replaced():
            raise TokenReplaced("the bot's token was replaced: starting again with the new one")
        return self.checked(self._receive, watermark)

    def _receive(self, watermark):
        if not self.webhook_removed:
            self._remove_webhook()
        self._answer_senders()
        offset = int(watermark) + 1 if watermark else None
        wait = SHORT_WAIT if self.waiting_senders else self.options.long_poll
        try:
            return list(self.receiving.call("get_updates", offset=offset, limit=100,
                                            timeout=wait, allowed_updates=UPDATES))
        except TryLater:
            self.webhook_removed = False  # a Conflict: someone set a webhook again
            raise

    def watermark(self, update):
        return str(update.update_id)

    def message_id(self, update):
        """Message ids are per chat: qualified by the bot (a city may connect another bot)
        and the chat. An edit keeps its message's id: it gets its own."""
        message = update.message or update.edited_message
        if message is None:
            return f"{self.bot_id}:update:{update.update_id}"
        edit = f":edit:{update.update_id}" if update.edited_message else ""
        return f"{self.bot_id}:{message.chat.id}:{message.message_id}{edit}"

    def read(self, update):
        if update.my_chat_member is not None:
            return self._membership(update.my_chat_member)
        if update.edited_message is not None:
            return Refused("an edited message (only new messages are reports)")
        message = update.message
        if message is None:
            return Refused("an update that is no message")
        if message.from_user is None or message.from_user.is_bot:
            return Refused("a message of a bot")
        if message.chat.type != "private":
            self._leave(message.chat.id)
            return Refused("a message in a group chat (the bot leaves groups)")
        if message.text is None:
            kind = next((k for k in NOT_TEXT if getattr(message, k, None)), "no text")
            self._say(message.chat.id, ONLY_TEXT)
            return Refused(f"not text ({kind}): only text is relayed")
        if any(entity.type == "bot_command" and entity.offset == 0
               for entity in message.entities or ()):
            return self._command(message)
        self.origins[self.message_id(update)] = message.chat.id
        return Report(text=message.text)

    def _membership(self, change):
        """The bot added to a group or a channel it does not post to: say so once and leave;
        a subscriber who blocked the bot: no longer a subscriber."""
        chat, status = change.chat, change.new_chat_member.status
        if chat.type == "private":
            if status in ("kicked", "left"):
                self._unsubscribe(chat.id)
            return None
        if status in ("member", "administrator") and chat.type in ("group", "supergroup"):
            self._leave(chat.id)
            return Refused(f"the bot was added to a {chat.type} (it left)")
        return None  # a channel: made its administrator to post the city's reports there

    def _leave(self, chat_id: int) -> None:
        """Say once why, and leave (joining brings both a service message and a membership
        update: one answer)."""
        if chat_id in self.left:
            return
        try:
            self.sending.call("send_message", chat_id, GROUPS.format(city=self.city,
                                                                     bot=self.username))
        except client.Refused:
            pass  # not allowed to write there: leaving is what counts
        try:
            self.sending.call("leave_chat", chat_id)
        except client.Refused:
            pass  # left already
        self.left.add(chat_id)

    def _say(self, chat_id: int, text: str) -> None:
        """An answer to a private chat; a sender who blocked the bot meanwhile gets none."""
        try:
            self.sending.call("send_message", chat_id, text)
        except client.Refused as error:
            log.info("an answer was not taken (%s)", error.code)

    def _command(self, message):
        """/start, /stop, /help: done, nothing to record (None). Another command: answered,
        and recorded as refused (it may have been meant as a report)."""
        word = message.text.split(maxsplit=1)[0].lower()
        name, _, addressed = word[1:].partition("@")
        if addressed and self.username and addressed != self.username.lower():
            name = ""  # another bot's command
        chat = message.chat.id
        if name == "start":
            self._subscribe(chat)
            self._say(chat, WELCOME.format(city=self.city))
        elif name == "stop":
            self._unsubscribe(chat)
            self._say(chat, BYE.format(city=self.city))
        elif name == "help":
            self._say(chat, HELP.format(city=self.city))
        else:
            self._say(chat, UNKNOWN_COMMAND)
            return Refused("an unknown command (a report is text without a leading /)")
        return None

    def _subscribe(self, chat_id: int) -> None:
        with self.sessions.begin() as session:  # subscribing twice is subscribing
            if session.scalar(select(TelegramSubscriber.id).where(
                    TelegramSubscriber.account_id == int(self.account.id),
                    TelegramSubscriber.chat_id == chat_id)) is None:
                session.add(TelegramSubscriber(account_id=int(self.account.id), chat_id=chat_id))

    def _unsubscribe(self, chat_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(TelegramSubscriber).where(
                TelegramSubscriber.account_id == int(self.account.id),
                TelegramSubscriber.chat_id == chat_id))

    def handled(self, session, updates):
        """The chats of the reports just stored, in their transaction: each sender is told
        the verdict, and gets no copy of their own report."""
        for update in updates:
            key = self.message_id(update)
            chat = self.origins.pop(key, None)
            if chat is not None:
                session.merge(TelegramOrigin(account_id=int(self.account.id), key=key,
                                             chat_id=chat, answered=False,
                                             received_at=time.time()))
                self.waiting_senders = True

    def _answer_senders(self) -> None:
        """Tell each sender whose report the censor decided whether it is relayed (never
        why not: the rules stay the city's)."""
        account_id = int(self.account.id)
        with self.sessions.begin() as session:
            session.execute(delete(TelegramOrigin).where(
                TelegramOrigin.account_id == account_id,
                TelegramOrigin.received_at < time.time() - ORIGINS_KEPT))
            waiting = session.execute(
                select(TelegramOrigin.key, TelegramOrigin.chat_id, db.Report.verdict)
                .outerjoin(db.Report, and_(db.Report.city_id == self.account.city_id,
                                           db.Report.network == self.name,
                                           db.Report.network_message_id == TelegramOrigin.key))
                .where(TelegramOrigin.account_id == account_id,
                       TelegramOrigin.answered.is_(False))).all()
        undecided = False
        for key, chat, verdict in waiting:
            if verdict is None:
                undecided = True
                continue
            try:
                self.receiving.call("send_message", chat,
                                    RELAYED if verdict == db.ACCEPTED else NOT_RELAYED)
            except client.Refused as error:
                log.info("a sender could not be answered (%s)", error.code)
            with self.sessions.begin() as session:
                origin = session.get(TelegramOrigin, (account_id, key))
                if origin is None:
                    continue
                if verdict == db.ACCEPTED and not origin.broadcast:
                    origin.answered = True  # kept until the broadcast skipped its chat
                else:
                    session.delete(origin)
        self.waiting_senders = undecided

    # --- sending ---------------------------------------------------------------------------
    def send_messages(self, reports):
        for report in reports:
            self.checked(self._broadcast, report)
            self.mark_delivered(report)

    def _broadcast(self, report: Report) -> None:
        """To every subscriber (not the report's own sender), then the channel; resumed after
        a crash where it stopped (the core's ledger of recipients reached)."""
        account_id = int(self.account.id)
        own = report.network == self.name and report.account_id == self.account.id
        with self.sessions() as session:
            origin = session.get(TelegramOrigin, (account_id, report.network_message_id)) \
                if own else None
            sender = origin.chat_id if origin is not None else None
            subscribers = session.execute(select(TelegramSubscriber.id, TelegramSubscriber.chat_id)
                                          .where(TelegramSubscriber.account_id == account_id)
                                          .order_by(TelegramSubscriber.id)).all()
            info = session.get(TelegramBotInfo, account_id)
            channel = info.channel_id if info is not None else None
        text = fit(report.text)
        reached = self.reached(report)
        for subscriber_id, chat in subscribers:
            if str(subscriber_id) in reached or chat == sender:
                continue
            if not self._send(chat, text):
                self._unsubscribe(chat)  # blocked the bot, deleted their account
            self.mark_reached(report, str(subscriber_id))
        if channel is not None and "channel" not in reached:
            if not self._send(channel, text):
                self._note_channel()
            self.mark_reached(report, "channel")
        if origin is not None:  # forgotten once the sender was answered too
            with self.sessions.begin() as session:
                origin = session.get(TelegramOrigin, (account_id, report.network_message_id))
                if origin is not None and origin.answered:
                    session.delete(origin)
                elif origin is not None:
                    origin.broadcast = True

    def _send(self, chat: int, text: str) -> bool:
        """One message, within the flood limit; a short flood wait is slept through. False if
        the chat is gone for good (blocked, deleted, not allowed); another refusal is logged
        and not retried."""
        while True:
            self.beat()  # a long list outlasts the heartbeat
            pause = self.next_send - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self.next_send = max(self.next_send, time.monotonic()) \
                + 1.0 / self.options.messages_per_second
            try:
                self.sending.call("send_message", chat, text, disable_web_page_preview=True)
                return True
            except TryLater as error:
                if error.delay is None or error.delay > SLEEP_AT_MOST:
                    raise
                self.next_send = time.monotonic() + error.delay
            except OSError as error:  # Telegram unreachable: not this report's fault
                raise TryLater(f"Telegram did not answer ({type(error).__name__})",
                               delay=None) from None
            except client.Refused as error:
                log.info("a recipient refused a report (%s: %s)", error.code, error)
                return not gone(error)

    def _note_channel(self) -> None:
        log.warning("the city's channel refused a report: is the bot still an administrator "
                    "allowed to post there?")
