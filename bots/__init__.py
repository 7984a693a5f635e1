"""The bot plugin API: Report, Account, the base Bot with its run loop, the errors a bot
raises, and discovery of plugins. See bots/README.md for how to add a network.

A plugin is a directory bots/<name>/ (or <extra dir>/<name>/, named in `plugins.dirs`) with a
bot.py holding one subclass of Bot. The core knows networks only through this module.
The run loop touches the core tables reports and deliveries, and the plugin's own tables
through the plugin's methods.
"""
from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from sqlalchemy import select, update

import db
import process
from config import Setting

log = logging.getLogger(__name__)

PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9]*$")


@dataclass
class Report:
    """A report as bots see it. Never holds who sent it."""
    text: str
    network_message_id: str = ""   # the network's id of the message it came in as
    id: int | None = None          # reports.id once stored
    city_id: int | None = None
    network: str | None = None     # where it came in (set by the run loop)
    account_id: str | None = None  # the id of the account it came in on
    delivery_id: int | None = None  # set when handed to send_messages

    @property
    def idempotency_key(self) -> str:
        """Stable per delivery: give it to networks that de-duplicate posts (Mastodon)."""
        return f"ticketfrei-delivery-{self.delivery_id}"


@dataclass(frozen=True)
class Account:
    """One connected account of a city on one network."""
    city_id: int
    id: str           # the plugin's id for it, unique within the plugin for one city
    label: str = ""   # shown to organisers, e.g. "@ticketfrei@chaos.social"


class BotError(Exception):
    """Base of the errors a bot raises to tell the supervisor what happened."""


class CredentialsRefused(BotError):
    """The network refused the account's credentials: it is marked inactive, not restarted."""


class TryLater(BotError):
    """The network is unavailable or rate-limits us: retry after `delay` seconds."""

    def __init__(self, message: str = "try later", delay: float = 60.0):
        super().__init__(message)
        self.delay = delay


class Undeliverable(BotError):
    """This report can never be sent by this account (e.g. the network refuses its text)."""

    def __init__(self, report: Report, message: str):
        super().__init__(message)
        self.report = report


class Unreadable(BotError):
    """Raised by read(): this one message can never be read (broken or hostile input). It is set
    aside at once, stored with this reason; the messages behind it flow on."""


class PluginError(Exception):
    """A plugin directory is broken; the message names it."""


@dataclass
class Refused:
    """What read() returns for a message that is not a report: it is stored as refused, with
    this reason (shown to organisers, logged), and never reaches the censor."""
    reason: str
    network_message_id: str = ""
    set_aside: bool = False  # True: it could not be handled (verdict set-aside), not refused


class Bot:
    """Base class of every bot. One instance runs in one process for one (city, account)."""

    name: ClassVar[str] = ""                        # set by discovery: the directory name
    option_keys: ClassVar[dict[str, Setting]] = {}  # the keys of [bots.<name>]
    poll_interval: ClassVar[float] = 10.0           # seconds between recv_messages calls
    options: ClassVar = None                        # this plugin's settings, set by load()
    # Whether a report that came in on an account is also sent out by that same account:
    # true where intake and broadcast are one channel (a mailing list's subscribers).
    broadcasts_own_reports: ClassVar[bool] = False

    def __init__(self, account: Account, settings, sessions):
        self.account = account
        self.settings = settings  # the instance's settings (all sections)
        self.sessions = sessions
        self._marked: set[int] = set()

    # --- what a plugin implements ------------------------------------------------------
    @classmethod
    def accounts(cls, session, city_id: int | None = None) -> list[Account]:
        """The active accounts of this network (of one city if city_id is given)."""
        raise NotImplementedError

    @classmethod
    def deactivate(cls, session, account: Account, reason: str) -> None:
        """Mark the account inactive in the plugin's tables (its credentials were refused)."""
        raise NotImplementedError

    @classmethod
    def forget_city(cls, session, city_id: int, user_id: int) -> None:
        """The city's account is being deleted: delete everything this plugin keeps of it
        (accounts, subscribers, watermarks). version 2 tables refer to the city by user_id."""

    def recv_messages(self) -> list:
        """The messages that arrived since the last call: network calls only. Each is anything
        read() understands (a Report is read as itself)."""
        return []

    def message_id(self, message) -> str:
        """The network's id of a message: stable while the message is not handled, never
        reused for another message of this city and network (it de-duplicates)."""
        return str(message.network_message_id)

    def read(self, message) -> Report | Refused | None:
        """Turn one message into a Report, a Refused (not a report, with the reason), or None
        (handled, nothing to record: e.g. a subscribe command). Raise Unreadable for a message
        that can never be read, TryLater to read it again later; any other exception counts as
        one failed attempt, and after db.SET_ASIDE_AFTER the message is set aside."""
        return message

    def handled(self, session, messages: list) -> None:
        """Record that these messages are finished (stored as reports or refusals), in the
        transaction that stores them: advance a watermark, delete them from a local inbox.
        `messages` are all those finished in this poll so far (in a careful poll, one at a time,
        a message may be among them again). A message that failed for now is not among them;
        it comes back in a later recv_messages() if the watermark stays before it
        (de-duplication by message id makes a message that comes back after it was stored
        harmless)."""
        self.save_seen(session)

    def save_seen(self, session) -> None:
        """Older plugins: store the "seen" watermark of the last recv_messages() call."""

    def send_messages(self, reports: list[Report]) -> None:
        """Post the reports in order. Call mark_delivered(report) as soon as the network
        accepted one; returning normally means every report was accepted."""
        raise NotImplementedError

    # --- what the run loop offers ------------------------------------------------------
    def beat(self) -> None:
        """Tell main this bot is alive: call it in long work (one mail per subscriber of a long
        list), or main takes the bot for hung after supervisor.heartbeat_timeout."""
        if getattr(self, "_ctx", None) is not None:
            process.beat(self._ctx)

    def mark_delivered(self, report: Report) -> None:
        with self.sessions.begin() as session:
            session.execute(update(db.Delivery)
                            .where(db.Delivery.id == report.delivery_id,
                                   db.Delivery.state == db.PENDING)
                            .values(state=db.DONE, done_at=time.time(),
                                    attempts=db.Delivery.attempts + 1))
            db.forget_attempts(session, [self._send_key(report)])
        self._marked.add(report.delivery_id)

    def run(self, ctx: process.Context) -> None:
        """Poll the network, hand new reports to the censor, send what main routes here."""
        self._ctx = ctx
        self._retry_at: dict[int, float] = {}
        self._read_retry_at: dict[str, float] = {}
        self._recv_failures = 0
        self._last_news: dict[str, float] = {}
        self._trouble: dict[str, str] = {}  # receive/send: the transient error status shows
        self._errors = 0                  # errors noted so far: did this piece of work add one?
        # Until the first poll and the first sweep are done, work one message and one
        # delivery at a time, counting each attempt before it is made: if the last run died
        # on one of them (a crash, a hang the watchdog killed), this run counts it, and after
        # db.SET_ASIDE_AFTER runs it is set aside instead of killing the bot forever.
        self._careful = True
        self._requeue_undecided()
        self._deliver(None)
        next_poll = 0.0
        next_sweep = time.monotonic() + 60
        while True:
            process.beat(ctx)
            now = time.monotonic()
            if now >= next_poll:
                next_poll = now + self._poll()
            wake = min([next_poll, next_sweep, *self._retry_at.values()])
            ids = self._wait_for_news(max(0.0, min(wake - time.monotonic(), 1.0)))
            now = time.monotonic()
            if process.SWEEP in ids:  # main had to drop news: the database has it
                ids, next_sweep = [i for i in ids if i != process.SWEEP], now
            due = [i for i, at in self._retry_at.items() if at <= now]
            if ids or due:
                self._deliver(set(ids) | set(due))
            if now >= next_sweep:
                # Safety net: news normally arrives through the inbox.
                self._deliver(None)
                next_sweep = now + 60

    # --- receiving ---------------------------------------------------------------------
    def _poll(self) -> float:
        """One recv_messages() call; returns the seconds until the next one."""
        try:
            messages = self.recv_messages()
        except TryLater as error:
            self._note_error(f"receiving: {error}")
            return error.delay
        except OSError as error:  # network trouble, including requests' exceptions
            self._recv_failures += 1
            self._note_error(f"receiving: {process.describe_error(error)}")
            return min(self.poll_interval * 2 ** self._recv_failures, 300.0)
        self._recv_failures = 0
        errors = self._errors
        stored = self._intake(messages) if messages else []
        self._careful = False  # this run read what the network had without dying on it
        for report_id in stored:
            process.report_stored(self._ctx, report_id)
        if stored:
            log.info("stored %d new report(s): %s", len(stored), ", ".join(map(str, stored)))
            self._news("report")
        if self._errors == errors:
            self._recovered("receive")
        return self.poll_interval

    def _attempt_key(self, message_id: str) -> str:
        return f"read:{self.account.city_id}:{self.name}:{self.account.id}:{message_id}"

    @staticmethod
    def _send_key(report: Report) -> str:
        return f"send:{report.delivery_id}"

    def _intake(self, messages: list) -> list[int]:
        """Read each message on its own, so that one that cannot be read only affects itself;
        store what was read. Returns the ids of new reports for the censor."""
        keyed = [(message, self.message_id(message)) for message in messages]
        with self.sessions() as session:
            earlier = db.attempts(session, [self._attempt_key(key) for _, key in keyed])
        done, finished, stored = [], [], []
        for message, key in keyed:
            self.beat()
            row = earlier.get(self._attempt_key(key))
            if self._read_retry_at.get(key, 0.0) > time.monotonic():
                continue
            if row is not None and row.count >= db.SET_ASIDE_AFTER:
                result = self._set_aside(key, row.count, row.last_error)
            else:
                result = self._read_one(message, key)
                if result is _NOT_YET:
                    continue
            done.append((message, key, result))
            finished.append(message)
            if self._careful:  # store each at once: a crash later in this poll spares it
                stored += self._store(done, finished)
                done = []
        return stored + self._store(done, finished)

    def _read_one(self, message, key: str):
        attempt = self._attempt_key(key)
        if self._careful:
            db.count_attempt(self.sessions, attempt)
        try:
            result = self.read(message)
            self._read_retry_at.pop(key, None)
            return result
        except Unreadable as error:
            return Refused(f"could not be read: {error}", key, set_aside=True)
        except TryLater as error:
            if self._careful:
                db.count_attempt(self.sessions, attempt, add=-1)  # not the message's fault
            self._read_retry_at[key] = time.monotonic() + error.delay
            self._note_error(f"receiving: {error}")
            return _NOT_YET
        except CredentialsRefused:
            raise
        except Exception as error:  # a bug or a hostile message: retry a few times, then set aside
            reason = process.describe_error(error)
            log.warning("message %s could not be read: %s", key, reason, exc_info=True)
            count = db.count_attempt(self.sessions, attempt, reason, add=0 if self._careful else 1)
            if count >= db.SET_ASIDE_AFTER:
                return self._set_aside(key, count, reason)
            self._read_retry_at[key] = time.monotonic() + 2.0 * count
            return _NOT_YET

    def _set_aside(self, key: str, count: int, reason: str | None) -> Refused:
        reason = reason or "its process stopped while reading it"
        self._read_retry_at.pop(key, None)
        self._note_error(f"a message was set aside after {count} failed attempts: {reason}",
                         transient=False)
        return Refused(f"set aside after {count} failed attempts: {reason}", key, set_aside=True)

    def _store(self, done: list[tuple], finished: list) -> list[int]:
        """Store the read messages' reports and refusals, and let the plugin record every message
        finished in this poll so far as handled (a watermark moves past all of them), in one
        transaction, before anything is queued. Returns the new reports' ids."""
        if not done:
            return []
        max_length = self.settings.reports.max_length
        stored = []
        with self.sessions.begin() as session:
            for _message, key, result in done:
                if result is None:
                    continue  # handled by the plugin itself (a command)
                message_id = str(result.network_message_id or key)
                earlier = session.scalar(select(db.Report.id).where(
                    db.Report.city_id == self.account.city_id,
                    db.Report.network == self.name,
                    db.Report.network_message_id == message_id))
                if earlier is not None:
                    log.info("message %s is report %d already; not stored again", message_id,
                             earlier)
                    continue
                row = db.Report(city_id=self.account.city_id, network=self.name,
                                account=self.account.id, network_message_id=message_id,
                                text="", received_at=time.time())
                text = db.clean_text(result.text).strip() if isinstance(result, Report) else ""
                if isinstance(result, Refused) or not text:
                    reason = result.reason if isinstance(result, Refused) else "it has no text"
                    row.verdict = db.SET_ASIDE if getattr(result, "set_aside", False) else db.REJECTED
                    row.verdict_reason, row.decided_at = reason, time.time()
                    log.info("message %s refused: %s", message_id, reason)
                else:
                    row.text = text[:max_length]
                session.add(row)
                session.flush()
                if row.verdict is None:
                    if isinstance(result, Report):
                        result.id = row.id
                    stored.append(row.id)
            db.forget_attempts(session, [self._attempt_key(key) for _, key, _ in done])
            self.handled(session, list(finished))
        return stored

    def _requeue_undecided(self) -> None:
        """Reports stored before a crash but perhaps never queued: the censor skips decided ones."""
        with self.sessions() as session:
            ids = session.scalars(select(db.Report.id).where(
                db.Report.verdict.is_(None), db.Report.network == self.name,
                db.Report.account == self.account.id,
                db.Report.city_id == self.account.city_id)).all()
        for report_id in ids:
            process.report_stored(self._ctx, report_id)

    def _wait_for_news(self, timeout: float) -> list[int]:
        return process.receive(self._ctx.inbox, timeout)

    # --- sending -----------------------------------------------------------------------
    def _deliver(self, ids: set[int] | None) -> None:
        """Send the pending deliveries among ids (all of this account's if None)."""
        query = (select(db.Delivery.id, db.Report)
                 .join(db.Report, db.Report.id == db.Delivery.report_id)
                 .where(db.Delivery.city_id == self.account.city_id,
                        db.Delivery.network == self.name,
                        db.Delivery.account == self.account.id,
                        db.Delivery.state == db.PENDING)
                 .order_by(db.Delivery.id))
        if ids is not None:
            query = query.where(db.Delivery.id.in_(ids))
            for delivery_id in ids:  # due now; _postpone schedules again what fails
                self._retry_at.pop(delivery_id, None)
        with self.sessions() as session:
            rows = session.execute(query).all()
        now = time.monotonic()
        reports = [Report(text=row.text, network_message_id=row.network_message_id,
                          id=row.id, city_id=row.city_id, network=row.network,
                          account_id=row.account, delivery_id=delivery_id)
                   for delivery_id, row in rows
                   if ids is not None or self._retry_at.get(delivery_id, 0) <= now]
        if not reports:
            return
        if self._careful:
            for report in reports:  # one at a time, each attempt counted first (see run)
                self.beat()
                self._send_batch([report])
        else:
            self._send_batch(reports)

    def _send_batch(self, reports: list[Report]) -> None:
        self._marked = set()
        careful = self._careful
        errors = self._errors
        if careful:
            count = db.count_attempt(self.sessions, self._send_key(reports[0]))
            if count > db.SET_ASIDE_AFTER:
                self._give_up(reports[0], f"set aside after {count - 1} failed attempts: "
                                          "its process stopped while sending it")
                return
        try:
            self.send_messages(reports)
        except (TryLater, OSError) as error:
            if careful:  # the network's fault, not this delivery's
                db.count_attempt(self.sessions, self._send_key(reports[0]), add=-1)
            delay = error.delay if isinstance(error, TryLater) else None
            self._postpone(reports, f"sending: {process.describe_error(error)}", delay)
        except Undeliverable as error:
            self._give_up(error.report, str(error))
            self._postpone([r for r in reports if r is not error.report], None, 0.0)
        except CredentialsRefused:
            raise
        except Exception as error:  # a plugin bug must not lose the report, nor hold others up
            self._failed(reports, process.describe_error(error), careful)
        else:
            for report in reports:
                if report.delivery_id not in self._marked:
                    self.mark_delivered(report)
        delivered = [r.delivery_id for r in reports if r.delivery_id in self._marked]
        for delivery_id in delivered:
            self._retry_at.pop(delivery_id, None)
        if delivered:
            log.info("delivered %d report(s): %s", len(delivered),
                     ", ".join(str(r.id) for r in reports if r.delivery_id in self._marked))
            self._news("delivery")
            if self._errors == errors:
                self._recovered("send")

    def _failed(self, reports: list[Report], reason: str, counted: bool) -> None:
        """send_messages raised something unexpected. Reports go out in order and are marked as
        they go, so the first unmarked one failed: it is retried a few times and then given up;
        the ones behind it are tried again at once."""
        log.warning("sending failed: %s", reason, exc_info=True)
        left = [r for r in reports if r.delivery_id not in self._marked]
        if not left:
            return
        culprit, behind = left[0], left[1:]
        count = db.count_attempt(self.sessions, self._send_key(culprit), reason,
                                 add=0 if counted else 1)
        if count >= db.SET_ASIDE_AFTER:
            self._give_up(culprit, f"set aside after {count} failed attempts: {reason}")
        else:
            self._postpone([culprit], f"sending: {reason}", 2.0 * count)
        for report in behind:
            self._retry_at[report.delivery_id] = time.monotonic()

    def _postpone(self, reports: list[Report], error: str | None, delay: float | None) -> None:
        """Keep unsent reports pending; retry after delay (or a backoff by attempts)."""
        left = [r for r in reports if r.delivery_id not in self._marked]
        if not left:
            return
        if error:
            self._note_error(error, kind="send")
        with self.sessions.begin() as session:
            for report in left:
                attempts = session.scalar(
                    update(db.Delivery).where(db.Delivery.id == report.delivery_id)
                    .values(attempts=db.Delivery.attempts + 1,
                            last_error=error or db.Delivery.last_error)
                    .returning(db.Delivery.attempts))
                wait = delay if delay is not None else min(5 * 2 ** (attempts or 1), 3600)
                self._retry_at[report.delivery_id] = time.monotonic() + wait

    def _give_up(self, report: Report, reason: str) -> None:
        log.warning("report %s cannot be sent by this account: %s", report.id, reason)
        with self.sessions.begin() as session:
            session.execute(update(db.Delivery).where(db.Delivery.id == report.delivery_id)
                            .values(state=db.FAILED, last_error=reason,
                                    attempts=db.Delivery.attempts + 1))
            db.forget_attempts(session, [self._send_key(report)])
        self._marked.add(report.delivery_id)  # handled: neither retried nor counted as sent
        self._retry_at.pop(report.delivery_id, None)

    # --- status ------------------------------------------------------------------------
    def _note_error(self, text: str, transient: bool = True, kind: str = "receive") -> None:
        """Log an error and show it in status. A transient one (the network failed receiving or
        sending) is taken back once that kind of work goes through again; a lasting one (a
        message set aside) stays until the next error."""
        log.warning("%s", text)
        self._errors += 1
        if transient:
            self._trouble[kind] = text
        else:
            self._trouble.clear()
        process.tell_main(self._ctx, "error", text=text)

    def _recovered(self, kind: str) -> None:
        """That kind of work went through without an error: status stops showing its error."""
        text = self._trouble.pop(kind, None)
        if text is not None:
            process.tell_main(self._ctx, "recovered", text=text)

    def _news(self, event: str) -> None:
        # At most one status event a second per kind: main only shows the latest time.
        now = time.monotonic()
        if now - self._last_news.get(event, 0) >= 1.0:
            self._last_news[event] = now
            process.tell_main(self._ctx, event)


_NOT_YET = object()  # read() said: not now; the message stays unhandled and comes back


# --- Discovery -------------------------------------------------------------------------------

BUILTIN_DIR = Path(__file__).resolve().parent
_loaded: dict[str, type[Bot]] = {}


def plugin_dirs(extra_dirs=()) -> list[Path]:
    return [BUILTIN_DIR, *(Path(d).resolve() for d in extra_dirs)]


def discover(extra_dirs=(), disabled=()) -> dict[str, type[Bot]]:
    """Find and import every plugin: {name: Bot subclass}. Idempotent."""
    found: dict[str, Path] = {}
    for directory in plugin_dirs(extra_dirs):
        if not directory.is_dir():
            raise PluginError(f"plugin directory {directory} does not exist")
        if str(directory) not in __path__:
            __path__.append(str(directory))  # so `bots.<name>` imports from extra dirs too
        for sub in sorted(directory.iterdir()):
            if not (sub / "bot.py").is_file() or sub.name.startswith(("_", ".")):
                continue
            if not PLUGIN_NAME.match(sub.name):
                raise PluginError(f"plugin {sub}: its name must be lower-case letters and digits")
            if sub.name in found and found[sub.name] != sub:
                raise PluginError(f"plugin {sub.name} exists twice: {found[sub.name]} and {sub}")
            found[sub.name] = sub
    plugins = {}
    for name in sorted(found):
        if name in disabled:
            continue
        plugins[name] = _load(name, found[name])
    return plugins


def load(settings) -> dict[str, type[Bot]]:
    """The plugins of this instance, each class given its `[bots.<name>]` settings."""
    plugins = discover(settings.plugins.dirs, settings.plugins.disabled)
    for name, cls in plugins.items():
        cls.options = getattr(settings.bots, name, None)
    return plugins


def _load(name: str, path: Path) -> type[Bot]:
    if name in _loaded:
        return _loaded[name]
    try:
        if (path / "db.py").is_file():
            importlib.import_module(f"bots.{name}.db")
        module = importlib.import_module(f"bots.{name}.bot")
    except Exception as error:
        raise PluginError(f"plugin {name} ({path}) does not import: {error}") from error
    classes = [value for value in vars(module).values()
               if isinstance(value, type) and issubclass(value, Bot) and value is not Bot
               and value.__module__ == module.__name__]
    if len(classes) != 1:
        raise PluginError(f"plugin {name}: bot.py must define exactly one Bot subclass")
    cls = classes[0]
    cls.name = name
    _loaded[name] = cls
    return cls


def has_module(name: str, module: str) -> bool:
    """Whether plugin `name` has bots/<name>/<module>.py (webui, service, city.tpl...)."""
    package = sys.modules.get(f"bots.{name}")
    if package is None:
        return False
    return any(os.path.isfile(os.path.join(p, module)) for p in package.__path__)


def plugin_settings(plugins: dict[str, type[Bot]]) -> dict[str, dict[str, Setting]]:
    return {name: cls.option_keys for name, cls in plugins.items()}


def city_accounts(plugins: dict[str, type[Bot]], session, city_id: int) -> list[tuple[str, Account]]:
    """Every active account of one city, over all networks: the censor's delivery targets."""
    targets = []
    for name, cls in plugins.items():
        try:
            with session.begin_nested():  # PostgreSQL: an error must not abort the transaction
                targets.extend((name, account) for account in cls.accounts(session, city_id))
        except Exception as error:
            log.exception("plugin %s could not list its accounts", name)
            raise TryLater(f"plugin {name} could not list its accounts: "
                           f"{process.describe_error(error)}", delay=10.0) from error
    return targets


# --- The processes -------------------------------------------------------------------------

@process.child_main
def service_process(ctx: process.Context) -> None:
    """Entry point of a plugin's instance-wide service: run(ctx) of bots/<name>/service.py."""
    load(ctx.settings)  # extra plugin directories become importable
    importlib.import_module(f"bots.{ctx.bot['network']}.service").run(ctx)


@process.child_main
def bot_process(ctx: process.Context) -> None:
    """Entry point of one bot process (started by main)."""
    settings = ctx.settings
    plugins = load(settings)
    cls = plugins[ctx.bot["network"]]
    sessions = db.open_sessions(settings)
    account = Account(ctx.bot["city_id"], ctx.bot["account"], ctx.bot.get("label", ""))
    bot = cls(account, settings, sessions)
    try:
        bot.run(ctx)
    except CredentialsRefused as error:
        reason = str(error) or "the network refused the account's credentials"
        log.error("credentials refused, marking the account inactive: %s", reason)
        with sessions.begin() as session:
            cls.deactivate(session, account, reason)
        process.tell_main(ctx, "inactive", text=reason)
        sys.exit(process.EXIT_INACTIVE)
