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
import queue
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
    account: str | None = None
    delivery_id: int | None = None  # set when handed to send_messages

    @property
    def idempotency_key(self) -> str:
        """Stable per delivery: give it to networks that de-duplicate posts (Mastodon)."""
        return f"ticketfrei-delivery-{self.delivery_id}"


@dataclass(frozen=True)
class Account:
    """One connected account of a city on one network."""
    city_id: int
    account: str      # the plugin's id for it, unique within the plugin
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


class PluginError(Exception):
    """A plugin directory is broken; the message names it."""


class Bot:
    """Base class of every bot. One instance runs in one process for one (city, account)."""

    name: ClassVar[str] = ""                        # set by discovery: the directory name
    settings: ClassVar[dict[str, Setting]] = {}     # instance-wide keys, [bots.<name>]
    poll_interval: ClassVar[float] = 10.0           # seconds between recv_messages calls
    options: ClassVar = None                        # this plugin's settings, set by load()
    # Whether a report that came in on an account is also sent out by that same account:
    # true where intake and broadcast are one channel (a mailing list's subscribers).
    broadcasts_own_reports: ClassVar[bool] = False

    def __init__(self, account: Account, settings, sessions):
        self.account = account
        self.config = settings
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

    def recv_messages(self) -> list[Report]:
        """New reports from the network since the last call. Remember what was seen in
        memory; save_seen() stores it in the same transaction as the reports."""
        return []

    def save_seen(self, session) -> None:
        """Store the "seen" watermark of the last recv_messages() call."""

    def send_messages(self, reports: list[Report]) -> None:
        """Post the reports in order. Call mark_delivered(report) as soon as the network
        accepted one; returning normally means every report was accepted."""
        raise NotImplementedError

    # --- what the run loop offers ------------------------------------------------------
    def mark_delivered(self, report: Report) -> None:
        with self.sessions.begin() as session:
            session.execute(update(db.Delivery)
                            .where(db.Delivery.id == report.delivery_id,
                                   db.Delivery.state == db.PENDING)
                            .values(state=db.DONE, done_at=time.time(),
                                    attempts=db.Delivery.attempts + 1))
        self._marked.add(report.delivery_id)

    def run(self, ctx: process.Context) -> None:
        """Poll the network, hand new reports to the censor, send what main routes here."""
        self._ctx = ctx
        self._retry_at: dict[int, float] = {}
        self._recv_failures = 0
        self._last_news: dict[str, float] = {}
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
            due = [i for i, at in self._retry_at.items() if at <= now]
            if ids or due:
                self._deliver(set(ids) | set(due))
            if now >= next_sweep:
                # Safety net only: news normally arrives through the inbox.
                self._deliver(None)
                next_sweep = now + 60

    # --- the loop's parts --------------------------------------------------------------
    def _poll(self) -> float:
        """One recv_messages() call; returns the seconds until the next one."""
        try:
            reports = self.recv_messages()
        except TryLater as error:
            self._note_error(f"receiving: {error}")
            return error.delay
        except OSError as error:  # network trouble, including requests' exceptions
            self._recv_failures += 1
            self._note_error(f"receiving: {error}")
            return min(self.poll_interval * 2 ** self._recv_failures, 300.0)
        self._recv_failures = 0
        stored = self._store(reports)
        for report_id in stored:
            process.report_stored(self._ctx, report_id)
        if stored:
            log.info("stored %d new report(s): %s", len(stored), ", ".join(map(str, stored)))
            self._news("report")
        return self.poll_interval

    def _store(self, reports: list[Report]) -> list[int]:
        """Store new reports and the watermark in one transaction, before anything is queued."""
        max_length = self.config.reports.max_length
        stored = []
        with self.sessions.begin() as session:
            for report in reports:
                duplicate = session.scalar(select(db.Report.id).where(
                    db.Report.city_id == self.account.city_id,
                    db.Report.network == self.name,
                    db.Report.network_message_id == str(report.network_message_id)))
                if duplicate is not None:
                    continue
                row = db.Report(city_id=self.account.city_id, network=self.name,
                                account=self.account.account,
                                network_message_id=str(report.network_message_id),
                                text=report.text[:max_length], received_at=time.time())
                session.add(row)
                session.flush()
                report.id = row.id
                stored.append(row.id)
            self.save_seen(session)
        return stored

    def _requeue_undecided(self) -> None:
        """Reports stored before a crash but perhaps never queued: the censor skips decided ones."""
        with self.sessions() as session:
            ids = session.scalars(select(db.Report.id).where(
                db.Report.verdict.is_(None), db.Report.network == self.name,
                db.Report.account == self.account.account,
                db.Report.city_id == self.account.city_id)).all()
        for report_id in ids:
            process.report_stored(self._ctx, report_id)

    def _wait_for_news(self, timeout: float) -> list[int]:
        ids = []
        try:
            ids.append(self._ctx.inbox.get(timeout=timeout))
            while True:
                ids.append(self._ctx.inbox.get_nowait())
        except queue.Empty:
            pass
        return ids

    def _deliver(self, ids: set[int] | None) -> None:
        """Send the pending deliveries among ids (all of this account's if None)."""
        query = (select(db.Delivery.id, db.Report)
                 .join(db.Report, db.Report.id == db.Delivery.report_id)
                 .where(db.Delivery.network == self.name,
                        db.Delivery.account == self.account.account,
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
                          account=row.account, delivery_id=delivery_id)
                   for delivery_id, row in rows
                   if ids is not None or self._retry_at.get(delivery_id, 0) <= now]
        if not reports:
            return
        self._marked = set()
        try:
            self.send_messages(reports)
        except (TryLater, OSError) as error:
            delay = error.delay if isinstance(error, TryLater) else None
            self._postpone(reports, f"sending: {error}", delay)
        except Undeliverable as error:
            self._give_up(error.report, str(error))
            self._postpone([r for r in reports if r is not error.report], None, 0.0)
        except CredentialsRefused:
            raise
        except Exception as error:  # a plugin bug must not lose the report: retry later
            log.exception("send_messages failed")
            self._postpone(reports, f"sending: {type(error).__name__}: {error}", None)
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

    def _postpone(self, reports: list[Report], error: str | None, delay: float | None) -> None:
        """Keep unsent reports pending; retry after delay (or a backoff by attempts)."""
        left = [r for r in reports if r.delivery_id not in self._marked]
        if not left:
            return
        if error:
            self._note_error(error)
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
        self._marked.add(report.delivery_id)  # handled: neither retried nor counted as sent
        self._retry_at.pop(report.delivery_id, None)

    def _note_error(self, text: str) -> None:
        log.warning("%s", text)
        process.tell_main(self._ctx, "error", text=text)

    def _news(self, event: str) -> None:
        # At most one status event a second per kind: main only shows the latest time.
        now = time.monotonic()
        if now - self._last_news.get(event, 0) >= 1.0:
            self._last_news[event] = now
            process.tell_main(self._ctx, event)


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
    return {name: cls.settings for name, cls in plugins.items()}


def city_accounts(plugins: dict[str, type[Bot]], session, city_id: int) -> list[tuple[str, Account]]:
    """Every active account of one city, over all networks: the censor's delivery targets."""
    targets = []
    for name, cls in plugins.items():
        try:
            targets.extend((name, account) for account in cls.accounts(session, city_id))
        except Exception:
            log.exception("plugin %s could not list its accounts", name)
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
