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

import itertools
import logging
import threading
import time

import telegram
from sqlalchemy import and_, delete, func, select

import db
from bots import Account, Bot, CredentialsRefused, Refused, Report, TryLater, Undeliverable
from config import Setting

from . import client
from .db import (TelegramAccount, TelegramBotInfo, TelegramOrigin, TelegramSeen, TelegramSubscriber,
                 V2TelegramSubscriber)

log = logging.getLogger(__name__)


MAX_TEXT = 4096           # Telegram's limit, in UTF-16 code units
ORIGINS_KEPT = 3600.0     # seconds: a report's chat is forgotten by then, answered or not
SHORT_WAIT = 1            # seconds of long poll while a sender waits for their answer
SLEEP_AT_MOST = 10.0      # seconds of a flood wait slept through in the middle of a broadcast
ANSWER_WAIT = 1.0         # seconds an answer may wait for the flood limit, else it is not sent
REFUSAL_EVERY = 60.0      # seconds: one refusal's answer ("only text") per chat at most
ANSWERS_PER_POLL = 20     # senders told their verdict in one receive call (the heartbeat)
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
        "max_age": Setting(30, "int", "minutes after which a message that reaches the bot late "
                           "(it was down) is too old to relay", minimum=1),
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
        forget_origins(session, int(account.id))  # no sender is answered any more

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
        account_id = int(self.account.id)
        with self.sessions.begin() as session:
            row = session.get(TelegramAccount, account_id)
            city = session.scalar(select(db.City).where(db.City.user_id == row.user_id))
            token, self.user_id, self.city = row.apikey, row.user_id, city.name.capitalize()
            self.bot_id = bot_id_of(token)
            if session.scalar(select(TelegramAccount.id).where(
                    TelegramAccount.user_id != row.user_id, TelegramAccount.active != 0,
                    TelegramAccount.apikey.like(f"{self.bot_id}:%"),
                    TelegramAccount.id < row.id)) is not None:
                # Two programs polling one bot take its updates in turns: one city's reports
                # would be relayed in the other (a version 2 database may hold such a pair).
                raise CredentialsRefused("this bot is connected to another city too: make a "
                                         "bot of its own for this city with @BotFather")
            info = session.get(TelegramBotInfo, account_id)
            if info is None:
                info = TelegramBotInfo(account_id=account_id, v2_imported=False)
                session.add(info)
            if not info.v2_imported:
                self._take_over_v2(session, row)
                info.v2_imported = True
            self.username = info.username or ""
            forget_origins(session, account_id, older_than=ORIGINS_KEPT)
        # One client each for the receive thread and the main thread (each has its own loop).
        self.receiving = client.Client(token, self.options.api_url, self.options.timeout)
        self.sending = client.Client(token, self.options.api_url, self.options.timeout)
        self.pace = Pace(self.options.messages_per_second)  # both threads' sends
        # A long poll must end, with its request's timeout, well inside the heartbeat.
        heartbeat = self.settings.supervisor.heartbeat_timeout
        self.long_poll = int(max(0, min(self.options.long_poll,
                                        heartbeat - self.options.timeout - 10)))
        self.webhook_removed = False
        self.waiting_senders = False  # someone waits for their answer: poll briefly
        self.origins: dict[str, int] = {}  # reports read, their chats, until handled()
        self.answered: dict[int, float] = {}  # chat -> when it last got a refusal's answer
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

    # --- the token --------------------------------------------------------------------------
    def _stored_token(self) -> str:
        with self.sessions() as session:
            row = session.get(TelegramAccount, int(self.account.id))
            return (row.apikey or "") if row is not None else ""

    def _current(self, name: str) -> client.Client:
        """This thread's client ("receiving" or "sending"), made anew when the organisers
        pasted a new token of the same bot; another bot, or none, is another account (the web
        UI gives it a row of its own): main stops this process meanwhile."""
        current = getattr(self, name)
        token = self._stored_token()
        if token == current.token:
            return current
        if bot_id_of(token) != self.bot_id:
            raise TryLater("the city's bot was disconnected or replaced", delay=5.0)
        current.close()
        fresh = client.Client(token, self.options.api_url, self.options.timeout)
        setattr(self, name, fresh)
        log.info("the bot's new token is used from now on")
        return fresh

    def checked(self, name: str, work, *args, **kwargs):
        """work(*args); a token Telegram refuses ends the account only if it is still the
        stored one: else the organisers pasted a new one meanwhile, used at the next call."""
        try:
            return work(*args, **kwargs)
        except CredentialsRefused:
            if self._stored_token() != getattr(self, name).token:
                raise TryLater("the bot's token was replaced", delay=1.0) from None
            raise

    # --- receiving -------------------------------------------------------------------------
    def first_watermark(self):
        """Version 2's bot begins after the last update version 2 handled; a new bot takes
        what waits for it (Telegram keeps updates a day: a message sent while the bot was
        being connected is someone's /start or report; reports too old are refused in read)."""
        api = self._current("receiving")
        me = self.checked("receiving", api.call, "get_me")
        self.username = me.username or ""
        with self.sessions.begin() as session:
            info = session.get(TelegramBotInfo, int(self.account.id))
            info.bot_id, info.username = me.id, me.username
        self._remove_webhook(api)
        with self.sessions() as session:
            seen = session.scalar(select(TelegramSeen.tg_id).where(
                TelegramSeen.user_id == self.user_id).order_by(TelegramSeen.tg_id.desc()))
        return str(seen) if seen else None

    def _remove_webhook(self, api: client.Client) -> None:
        """getUpdates refuses to work while a webhook is set (version 2's, another program's)."""
        self.checked("receiving", api.call, "delete_webhook")
        self.webhook_removed = True

    def recv_messages(self, watermark):
        """Updates after the watermark, as Telegram's JSON: parsed one by one in read(), so
        that one the library cannot parse only affects itself."""
        api = self._current("receiving")
        if not self.webhook_removed:
            self._remove_webhook(api)
        self._answer_senders()
        wait = SHORT_WAIT if self.waiting_senders else self.long_poll
        try:
            updates = self.checked("receiving", api.updates,
                                   int(watermark) + 1 if watermark else None, wait, UPDATES)
        except TryLater as error:
            if "webhook" in str(error) or "terminated by other" in str(error):
                self.webhook_removed = False  # a Conflict: someone set a webhook again
            raise
        if not isinstance(updates, list):
            raise TryLater("Telegram's answer was not a list of updates", delay=None)
        # An update without its id cannot be confirmed, nor read: what follows it waits too.
        return list(itertools.takewhile(
            lambda u: isinstance(u, dict) and isinstance(u.get("update_id"), int), updates))

    def watermark(self, update):
        return str(update["update_id"])

    def message_id(self, update):
        """Unique for the bot: its update id, and the message's id (an update id picked at
        random after a quiet week is not taken for an old message). Never the chat: in a
        private chat that is the sender's user id, and reports keep this id."""
        message = update.get("message") or update.get("edited_message")
        number = message.get("message_id") if isinstance(message, dict) else None
        return f"{self.bot_id}:{update['update_id']}:{number if number is not None else '-'}"

    def read(self, raw):
        update = telegram.Update.de_json(raw, self.sending.bot)
        if update.my_chat_member is not None:
            return self._membership(update.my_chat_member)
        if update.edited_message is not None:
            return Refused("an edited message (only new messages are reports)")
        message = update.message
        if message is None:
            return Refused("an update that is no message")
        if message.chat.type != "private":
            self._leave(message.chat.id)
            return Refused("a message in a group chat (the bot leaves groups)")
        if message.from_user is None or message.from_user.is_bot:
            return Refused("a message of a bot")
        if message.text is None:
            kind = next((k for k in NOT_TEXT if getattr(message, k, None)), None)
            if kind is None:
                return Refused("a service message (no text)")
            self._answer(message.chat.id, ONLY_TEXT, refusal=True)
            return Refused(f"not text ({kind}): only text is relayed")
        if any(entity.type == "bot_command" and entity.offset == 0
               for entity in message.entities or ()):
            return self._command(message)
        age = time.time() - message.date.timestamp()
        if age > self.options.max_age * 60:
            return Refused(f"too old to relay (sent {int(age // 60)} minutes before it was "
                           "received)")
        self.origins[self.message_id(raw)] = message.chat.id
        return Report(text=message.text)

    def _membership(self, change):
        """The bot added to a group: say so once and leave; a channel: the city's (made its
        administrator to post reports there); a subscriber who blocked the bot: gone."""
        chat, status = change.chat, change.new_chat_member.status
        if chat.type == "private":
            if status in ("kicked", "left"):
                self._unsubscribe(chat.id)
            return None
        if status in ("member", "administrator") and chat.type in ("group", "supergroup"):
            self._leave(chat.id)
            return Refused(f"the bot was added to a {chat.type} (it left)")
        return None

    def _leave(self, chat_id: int) -> None:
        """Say why, once (joining brings a service message and a membership update), and
        leave, every time."""
        if chat_id not in self.left:
            self.left.add(chat_id)
            self._answer(chat_id, GROUPS.format(city=self.city, bot=self.username))
        try:
            self.checked("sending", self._current("sending").call, "leave_chat", chat_id)
        except (client.Refused, TryLater, OSError) as error:
            log.info("the bot could not leave a group (%s)", type(error).__name__)

    def _answer(self, chat_id: int, text: str, refusal: bool = False) -> bool:
        """An answer, best effort: never in the way of the reports behind it. Within the flood
        limit (none while Telegram asks to wait), a refusal at most once a minute per chat (a
        flood of photos gets one answer). True if Telegram took it."""
        now = time.monotonic()
        if refusal and now - self.answered.get(chat_id, -REFUSAL_EVERY) < REFUSAL_EVERY:
            return False
        if refusal:
            if len(self.answered) > 1000:
                self.answered = {c: t for c, t in self.answered.items()
                                 if now - t < REFUSAL_EVERY}
            self.answered[chat_id] = now
        if self.pace.wait() > ANSWER_WAIT:
            log.info("an answer was not sent: Telegram asked to wait")
            return False
        time.sleep(self.pace.take())
        name = "receiving" if threading.current_thread() is not threading.main_thread() \
            else "sending"
        try:
            self.checked(name, self._current(name).call, "send_message", chat_id, text)
            return True
        except TryLater as error:
            self.pace.hold(error.delay if error.delay is not None else 5.0)
        except (client.Refused, OSError) as error:
            log.info("an answer was not taken (%s)", getattr(error, "code", type(error).__name__))
        return False

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
            self._answer(chat, WELCOME.format(city=self.city))
        elif name == "stop":
            self._unsubscribe(chat)
            self._answer(chat, BYE.format(city=self.city))
        elif name == "help":
            self._answer(chat, HELP.format(city=self.city), refusal=True)
        else:
            self._answer(chat, UNKNOWN_COMMAND, refusal=True)
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
                                             chat_id=chat, answered=False, broadcast=False,
                                             received_at=time.time()))
                self.waiting_senders = True

    def _answer_senders(self) -> None:
        """Tell the senders whose reports the censor decided whether they are relayed (never
        why not: the rules stay the city's); a few each call, best effort."""
        account_id = int(self.account.id)
        with self.sessions.begin() as session:
            forget_origins(session, account_id, older_than=ORIGINS_KEPT)
            waiting = session.execute(
                select(TelegramOrigin.key, TelegramOrigin.chat_id, db.Report.verdict)
                .outerjoin(db.Report, and_(db.Report.city_id == self.account.city_id,
                                           db.Report.network == self.name,
                                           db.Report.network_message_id == TelegramOrigin.key))
                .where(TelegramOrigin.account_id == account_id,
                       TelegramOrigin.answered.is_(False))
                .order_by(TelegramOrigin.received_at)).all()
        self.waiting_senders = bool(waiting)
        for key, chat, verdict in [w for w in waiting if w.verdict is not None][:ANSWERS_PER_POLL]:
            if not self._answer(chat, RELAYED if verdict == db.ACCEPTED else NOT_RELAYED) \
                    and self.pace.wait() > ANSWER_WAIT:
                return  # Telegram asks to wait: the others are answered later
            with self.sessions.begin() as session:
                origin = session.get(TelegramOrigin, (account_id, key))
                if origin is None:
                    continue
                if verdict == db.ACCEPTED and not origin.broadcast:
                    origin.answered = True  # kept until the broadcast skipped its chat
                else:
                    session.delete(origin)

    # --- sending ---------------------------------------------------------------------------
    def send_messages(self, reports):
        for report in reports:
            self._broadcast(report)
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
        text, reached, refused = fit(report.text), self.reached(report), []
        sent_any = bool(reached)
        for subscriber_id, chat in subscribers:
            if str(subscriber_id) in reached or chat == sender:
                continue
            error = self._send(chat, text)
            if error is None:
                sent_any = True
            elif gone(error):
                self._unsubscribe(chat)  # blocked the bot, deleted their account
            else:
                refused.append(str(error))
                if not sent_any and len(refused) >= 3 and len(set(refused)) == 1:
                    # The first three refuse it alike: it is the report, not them.
                    raise Undeliverable(report, f"Telegram refuses this report: {refused[0]}")
            self.mark_reached(report, str(subscriber_id))
        if channel is not None and "channel" not in reached:
            if self._send(channel, text) is not None:
                log.warning("the city's channel refused a report: is the bot still an "
                            "administrator allowed to post there?")
            self.mark_reached(report, "channel")
        if origin is not None:  # forgotten once the sender was answered too
            with self.sessions.begin() as session:
                origin = session.get(TelegramOrigin, (account_id, report.network_message_id))
                if origin is not None and origin.answered:
                    session.delete(origin)
                elif origin is not None:
                    origin.broadcast = True

    def _send(self, chat: int, text: str) -> client.Refused | None:
        """One message of a broadcast, within the flood limit; a short flood wait is slept
        through, a long one ends the batch until then. Telegram's refusal of this chat or
        this text is returned (None: sent)."""
        while True:
            self.beat()  # a long list outlasts the heartbeat
            wait = self.pace.take()
            if wait > SLEEP_AT_MOST:
                raise TryLater("Telegram's flood limit is reached", delay=wait)
            time.sleep(wait)
            try:
                self.checked("sending", self._current("sending").call, "send_message", chat,
                             text, disable_web_page_preview=True)
                return None
            except TryLater as error:
                if error.delay is None:
                    raise
                self.pace.hold(error.delay)
            except OSError as error:  # Telegram unreachable: not this report's fault
                raise TryLater(f"Telegram did not answer ({type(error).__name__})",
                               delay=None) from None
            except client.Refused as error:
                log.info("a recipient refused a report (%s: %s)", error.code, error)
                return error


class Pace:
    """Telegram's flood limit for one bot, shared by its two threads: sends spaced evenly,
    and none while Telegram asked to wait."""

    def __init__(self, per_second: float):
        self.lock = threading.Lock()
        self.gap = 1.0 / per_second
        self.next = 0.0

    def wait(self) -> float:
        """The seconds the next send would wait, without booking it."""
        with self.lock:
            return max(0.0, self.next - time.monotonic())

    def take(self) -> float:
        """Book the next send: the seconds to wait before it."""
        with self.lock:
            now = time.monotonic()
            at = max(self.next, now)
            self.next = at + self.gap
            return at - now

    def hold(self, seconds: float) -> None:
        with self.lock:
            self.next = max(self.next, time.monotonic() + seconds)


def forget_origins(session, account_id: int, older_than: float | None = None) -> None:
    """Drop the chats reports of this account came from (all, or those older than that)."""
    query = delete(TelegramOrigin).where(TelegramOrigin.account_id == account_id)
    if older_than is not None:
        query = query.where(TelegramOrigin.received_at < time.time() - older_than)
    session.execute(query)
