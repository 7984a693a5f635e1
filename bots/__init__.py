"""The bot plugin API: Report, Account, the base Bot with its run loop, the errors a bot
raises, and discovery of plugins. See bots/README.md for how to add a network.

A plugin is a directory bots/<name>/ (or <extra dir>/<name>/, named in `plugins.dirs`) with a
bot.py holding one subclass of Bot. The core knows networks only through this module.
The run loop touches the core tables reports and deliveries, and the plugin's own tables
through the plugin's methods.
"""
from __future__ import annotations

import importlib
import inspect
import logging
import os
import queue
import random
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from sqlalchemy import delete, select, update

import db
import process
from config import Setting

log = logging.getLogger(__name__)

PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9]*$")


@dataclass
class Report:
    """A report as bots see it. Never holds who sent it."""
    text: str  # for a delivery: the text to relay (the recognised place first, if any)
    network_message_id: str = ""   # the network's id of the message it came in as
    id: int | None = None          # reports.id once stored
    city_id: int | None = None
    network: str | None = None     # where it came in (set by the run loop)
    account_id: str | None = None  # the id of the account it came in on
    delivery_id: int | None = None  # set when handed to send_messages
    # Stable per delivery and never used by another one (ids of purged rows can come back):
    # give it to networks that de-duplicate posts (Mastodon's Idempotency-Key).
    idempotency_key: str = ""


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
    """The network is unavailable or rate-limits us: retry after `delay` seconds (None: after
    the run loop's backoff, doubling with each failure in a row, as for an OSError)."""

    def __init__(self, message: str = "try later", delay: float | None = 60.0):
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
    options: ClassVar = None                        # their values, set by load() in every process
    poll_interval: ClassVar[float] = 10.0           # seconds between recv_messages calls
    # Whether a report that came in on an account is also sent out by that same account:
    # true where intake and broadcast are one channel (a mailing list's subscribers).
    broadcasts_own_reports: ClassVar[bool] = False

    def __init__(self, account: Account, settings, sessions):
        self.account = account
        self.settings = settings  # the instance's settings (all sections)
        self.sessions = sessions
        self._marked: set[int] = set()

    # --- what a plugin implements: its accounts (classmethods, any process) ----------------
    @classmethod
    def accounts(cls, session, city_id: int | None = None) -> list[Account]:
        """The active accounts of this network (of one city if city_id is given). Disabled
        cities may be among them: the core leaves them out."""
        raise NotImplementedError

    @classmethod
    def deactivate(cls, session, account: Account, reason: str) -> None:
        """Mark the account inactive in the plugin's tables (its credentials were refused)."""
        raise NotImplementedError

    @classmethod
    def forget_city(cls, session, city_id: int, user_id: int) -> None:
        """The city is being deleted: delete everything this plugin keeps of it (accounts,
        subscribers, tokens). version 2's tables refer to the city by user_id."""
        raise NotImplementedError

    @classmethod
    def panel(cls, session, city) -> dict:
        """The values settings.tpl shows for this city (besides city, status, error, csrf),
        read here so that the template only renders."""
        return {}

    @classmethod
    def city_part(cls, session, city) -> dict:
        """The values city.tpl shows on the public city page (besides city, accounts, csrf),
        read here so that the template only renders."""
        return {}

    # --- what a plugin implements: its bot process ------------------------------------------
    def start(self) -> None:
        """Once in the bot process, before the first poll: one-off work (taking over version 2
        data). Network trouble here (OSError, TryLater) ends the process; main restarts it."""

    def first_watermark(self) -> str | None:
        """Called while this account has no watermark stored (its first start): the watermark
        to begin from, e.g. the id of the newest mention, so that old mentions are not
        replayed; None to begin with everything recv_messages(None) returns. Runs in the
        receive thread, like recv_messages."""
        return None

    def recv_messages(self, watermark: str | None) -> list:
        """The messages after `watermark` (the last one stored, None at first), oldest first:
        network calls only. It runs in the bot's receive thread and may wait on the network
        (a long poll) while the main thread sends; it is never called again before the
        messages it returned are read and stored. Each message is anything read() understands
        (a Report is read as itself)."""
        return []

    def watermark(self, message) -> str | None:
        """Where the next recv_messages() starts once this message is handled (its id, or
        Telegram's update_id). The run loop stores the watermark of the last message of an
        unbroken run of handled ones, in the transaction that stores their reports. None (the
        default): this plugin keeps no watermark (a local inbox it empties in handled())."""
        return None

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
        """In the transaction that stores these messages' reports and refusals: drop them from
        a local inbox (the watermark needs nothing here). `messages` are all those finished
        in this poll so far; a message that failed for now is not among them."""

    def send_messages(self, reports: list[Report]) -> None:
        """Post the reports in order. Call mark_delivered(report) as soon as the network
        accepted one; returning normally means every report was accepted."""
        raise NotImplementedError

    # --- what the run loop offers ------------------------------------------------------
    def beat(self) -> None:
        """Tell main this bot is alive: call it in long work (one mail per subscriber of a long
        list), or main takes the bot for hung after supervisor.heartbeat_timeout."""
        self._beat()

    def _beat(self, waiting: float = 0.0) -> None:
        if getattr(self, "_ctx", None) is not None:
            # While the receive thread waits on the network, the bot is only as alive as that
            # call is young: a receive that never returns is a hang, as before the thread.
            busy = self._receiver.busy_since if getattr(self, "_receiver", None) else None
            process.beat(self._ctx, busy, waiting)

    def mark_delivered(self, report: Report) -> None:
        with self.sessions.begin() as session:
            session.execute(update(db.Delivery)
                            .where(db.Delivery.id == report.delivery_id,
                                   db.Delivery.state == db.PENDING)
                            .values(state=db.DONE, done_at=time.time(),
                                    attempts=db.Delivery.attempts + 1))
            db.forget_delivery(session, report.delivery_id, self._send_key(report))
        self._marked.add(report.delivery_id)

    def reached(self, report: Report) -> set[str]:
        """The recipients this delivery reached already (a broadcast cut off by a crash or an
        error is resumed): skip them."""
        with self.sessions() as session:
            return set(session.scalars(select(db.DeliveryRecipient.recipient).where(
                db.DeliveryRecipient.delivery_id == report.delivery_id)))

    def mark_reached(self, report: Report, recipient: str) -> None:
        """Record at once, in a transaction of its own, that the network accepted this
        delivery for one recipient (an id of yours, never an address): a retry of the
        delivery, after any crash, skips it."""
        with self.sessions.begin() as session:
            pending = session.scalar(select(db.Delivery.id).where(
                db.Delivery.id == report.delivery_id, db.Delivery.state == db.PENDING))
            if pending is not None:  # else it was purged, or its city deleted, meanwhile
                session.merge(db.DeliveryRecipient(delivery_id=report.delivery_id,
                                                   recipient=str(recipient)))

    def run(self, ctx: process.Context) -> None:
        """Receive from the network, hand new reports to the censor, send what main routes
        here. Plugins do not override it (start() is for one-off work)."""
        self._ctx = ctx
        self._retry_at: dict[int, float] = {}
        self._read_retry_at: dict[str, float] = {}
        self._recv_failures = 0
        self._send_failures = 0           # sending failures of this account in a row
        self._culprits: set[int] = set()  # deliveries that failed on their own: own backoff
        self._last_news: dict[str, float] = {}
        self._trouble: dict[str, str] = {}  # receive/send: the transient error status shows
        self._errors = 0                  # errors noted so far: did this piece of work add one?
        self._done_keys: dict[str, None] = {}  # messages handled by this run (commands too)
        # Until the first poll and the first sweep are done, work one message and one
        # delivery at a time, counting each attempt before it is made: if the last run died
        # on one of them (a crash, a hang the watchdog killed), this run counts it, and after
        # db.SET_ASIDE_AFTER runs it is set aside instead of killing the bot forever.
        self._careful_read = self._careful_send = True
        self.start()
        self._watermark, self._first_start = self._stored_watermark()
        self._waiting_until = 0.0  # while the main thread waits for news: until when
        self._receiver = _Receiver(self._fetch, self._receiving_on)
        self._receive_began = time.monotonic()
        self._receiver.start(self._watermark)
        self._requeue_undecided()
        self._deliver(None)
        self._careful_send = False
        next_poll = 0.0
        # spread: bots started together must not all look at once
        next_sweep = time.monotonic() + SWEEP_INTERVAL * random.uniform(0.5, 1.0)
        asked = False  # receive_now news came: receive once more as soon as possible
        while True:
            self.beat()
            result = self._receiver.take()
            if result is not None:
                next_poll = time.monotonic() + self._received(*result)
                self._receiver.repeat_after = self._repeat_after()
            now = time.monotonic()
            if self._receiver.idle and (now >= next_poll or asked):
                asked = False
                self._receive_began = now
                self._receiver.start(self._watermark)
            wake = min([next_sweep, *self._retry_at.values(),
                        *([next_poll] if self._receiver.idle else [])])
            # An idle bot sleeps until there is something to do (news, the receive thread's
            # answer, a retry, a poll, the sweep), not to beat: the beat covers the wait, and
            # a receive under way still counts from its start. Hundreds of idle bots then
            # cost next to nothing.
            wait = max(0.0, wake - time.monotonic())
            self._waiting_until = time.monotonic() + wait
            self._beat(waiting=wait)
            ids = process.receive(ctx.inbox, wait, wake=self._receiver.fileno)
            self._waiting_until = 0.0
            self.beat()  # the work that follows must beat for itself
            now = time.monotonic()
            if process.RECEIVE in ids:
                ids, asked = [i for i in ids if i != process.RECEIVE], True
            if process.SWEEP in ids:  # main had to drop news: the database has it
                ids, next_sweep = [i for i in ids if i != process.SWEEP], now
            due = [i for i, at in self._retry_at.items() if at <= now]
            if ids or due:
                self._deliver(set(ids) | set(due))
            if now >= next_sweep:
                # Safety net: news normally arrives through the inbox.
                self._deliver(None)
                next_sweep = now + SWEEP_INTERVAL

    # --- receiving ---------------------------------------------------------------------
    def _stored_watermark(self) -> tuple[str | None, bool]:
        """(the stored watermark, whether first_watermark() must still set the baseline)."""
        with self.sessions() as session:
            row = session.get(db.BotWatermark, (self.account.city_id, self.name, self.account.id))
        return (row.watermark, False) if row is not None else (None, True)

    def _fetch(self, watermark: str | None):
        """In the receive thread: the baseline on the first start, else the new messages."""
        if self._first_start:
            return _Baseline(self.first_watermark())
        return self.recv_messages(watermark)

    def _received(self, messages, error: BaseException | None) -> float:
        """What the receive thread brought: store it; returns the seconds until the next call."""
        if isinstance(error, TryLater) and error.delay is not None:
            self._note_error(f"receiving: {error}")
            return error.delay
        if isinstance(error, (OSError, TryLater)):  # network trouble (requests' errors too)
            self._recv_failures += 1
            self._note_error(f"receiving: {process.describe_error(error)}")
            return min(self.poll_interval * 2 ** self._recv_failures, 300.0)
        if error is not None:
            raise error  # CredentialsRefused, or a bug: the process ends (see bot_process)
        self._recv_failures = 0
        if isinstance(messages, _Baseline):
            self._set_baseline(messages.watermark)
            return 0.0
        errors = self._errors
        stored = self._intake(list(messages)) if messages else []
        self._careful_read = False  # this run read what the network had without dying on it
        for report_id in stored:
            process.report_stored(self._ctx, report_id)
        if stored:
            log.info("stored %d new report(s): %s", len(stored), ", ".join(map(str, stored)))
            self._news("report")
        if self._errors == errors:
            self._recovered("receive")
        return min([self.poll_interval, *self._retries_due(messages)])

    def _retries_due(self, messages) -> list[float]:
        """Seconds until each message that failed for now is due again: at its own time, not
        at the next poll (a bot told of news by receive_now may poll seldom); at once if its
        time passed while this batch was read. One that was due before this receive began and
        did not come back is forgotten (gone from the network), or it would be polled for
        without end."""
        now = time.monotonic()
        seen = {self.message_id(message) for message in messages} if messages else set()
        for key, at in list(self._read_retry_at.items()):
            if at <= self._receive_began and key not in seen:
                del self._read_retry_at[key]
        return [max(0.0, at - now) for at in self._read_retry_at.values()]

    def _repeat_after(self) -> float | None:
        """Whether the receive thread may follow an empty answer with the next call itself,
        without waking this thread (which would only start that call): for a bot that long-
        polls (a poll_interval of a second at most), while nothing waits on a receive's result
        here (a message to retry, an error to take back, the first careful read). The seconds
        to pause first, or None."""
        if (self.poll_interval > 1.0 or self._read_retry_at or "receive" in self._trouble
                or self._careful_read or self._first_start):
            return None
        return self.poll_interval

    def _receiving_on(self) -> None:
        """In the receive thread, as it follows an empty answer with the next call: while the
        main thread waits for news, that call's start is the bot's beat (when the main thread
        works, it beats for itself, and a hang there must not be hidden)."""
        if time.monotonic() < self._waiting_until:
            process.beat(self._ctx, self._receiver.busy_since)

    def _set_baseline(self, watermark: str | None) -> None:
        """Stored even when None ("from the beginning"): a later start must not set a new
        baseline over messages that arrived in between."""
        with self.sessions.begin() as session:
            self._save_watermark(session, watermark)
        if watermark is not None:
            log.info("first start: begins after the network's newest message (%s)", watermark)
        self._watermark, self._first_start = watermark, False

    def _save_watermark(self, session, watermark: str | None) -> None:
        key = (self.account.city_id, self.name, self.account.id)
        row = session.get(db.BotWatermark, key)
        if row is None:
            row = db.BotWatermark(city_id=key[0], network=key[1], account=key[2])
            session.add(row)
        row.watermark = None if watermark is None else str(watermark)
        row.updated_at = time.time()

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
            if key in self._done_keys:  # behind a message that failed for now: back again
                finished.append(message)
                continue
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
            if self._careful_read:  # store each at once: a crash later in this poll spares it
                stored += self._store(done, finished, messages)
                done = []
        return stored + self._store(done, finished, messages)

    def _read_one(self, message, key: str):
        attempt = self._attempt_key(key)
        if self._careful_read:
            db.count_attempt(self.sessions, attempt)
        try:
            result = self.read(message)
            self._read_retry_at.pop(key, None)
            return result
        except Unreadable as error:
            return Refused(f"could not be read: {error}", key, set_aside=True)
        except TryLater as error:
            if self._careful_read:
                db.count_attempt(self.sessions, attempt, add=-1)  # not the message's fault
            # delay None: the network's trouble announces no end; the poll backoff's first step
            delay = error.delay if error.delay is not None else max(2 * self.poll_interval, 5.0)
            self._read_retry_at[key] = time.monotonic() + delay
            self._note_error(f"receiving: {error}")
            return _NOT_YET
        except CredentialsRefused:
            raise
        except Exception as error:  # a bug or a hostile message: retry a few times, then set aside
            reason = process.describe_error(error)
            log.warning("message %s could not be read: %s", key, reason, exc_info=True)
            count = db.count_attempt(self.sessions, attempt, reason,
                                     add=0 if self._careful_read else 1)
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

    def _next_watermark(self, messages: list, finished: list) -> str | None:
        """The watermark after the last message of the unbroken run of finished ones: a
        message that failed for now stops it, so that it comes back."""
        finished_ids = {id(message) for message in finished}
        mark = None
        for message in messages:
            if id(message) not in finished_ids:
                break
            mark = self.watermark(message) or mark
        return mark

    def _store(self, done: list[tuple], finished: list, messages: list) -> list[int]:
        """Store the read messages' reports and refusals, the new watermark, and let the plugin
        record every message finished in this poll so far as handled, in one transaction,
        before anything is queued. Returns the new reports' ids."""
        mark = self._next_watermark(messages, finished)
        if not done and mark in (None, self._watermark):
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
            if mark is not None and mark != self._watermark:
                self._save_watermark(session, mark)
            self.handled(session, list(finished))
        if mark is not None:
            self._watermark = mark
        for _message, key, _result in done:
            self._done_keys[key] = None
        while len(self._done_keys) > 10_000:  # only the latest polls' can come back
            del self._done_keys[next(iter(self._done_keys))]
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

    # --- sending -----------------------------------------------------------------------
    def _deliver(self, ids: set[int] | None) -> None:
        """Send the pending deliveries among ids (all of this account's if None)."""
        query = (select(db.Delivery.id, db.Delivery.created_at, db.Report, db.ReportPlace.prefix)
                 .join(db.Report, db.Report.id == db.Delivery.report_id)
                 .outerjoin(db.ReportPlace, db.ReportPlace.report_id == db.Report.id)
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
        # The relayed text: the place recognised from the city's transit data first, if any
        # ("U8 Hermannplatz → Wittenau: ", see stations.py).
        reports = [Report(text=(prefix or "") + row.text,
                          network_message_id=row.network_message_id,
                          id=row.id, city_id=row.city_id, network=row.network,
                          account_id=row.account, delivery_id=delivery_id,
                          idempotency_key=f"ticketfrei-delivery-{delivery_id}-"
                                          f"{int((created_at or 0) * 1000)}")
                   for delivery_id, created_at, row, prefix in rows
                   if ids is not None or self._retry_at.get(delivery_id, 0) <= now]
        if not reports:
            return
        if self._careful_send:
            for report in reports:  # one at a time, each attempt counted first (see run)
                self.beat()
                self._send_batch([report])
        else:
            self._send_batch(reports)

    def _send_batch(self, reports: list[Report]) -> None:
        self._marked = set()
        careful = self._careful_send
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
            text = process.describe_error(error)
            if isinstance(error, OSError) and (self._marked or not self._send_failures):
                # The network worked a moment ago (reports of this batch, or the last send,
                # went through): the error is the first unsent report's own (an HTTP error
                # answer raised as an OSError). It waits and, after NETWORK_SET_ASIDE_AFTER
                # such failures, is set aside; the reports behind it go at once. The next
                # failure counts as the network's.
                self._send_failures += 1
                self._failed(reports, text, careful, NETWORK_SET_ASIDE_AFTER)
            else:
                if careful:  # the network's fault, not this delivery's
                    db.count_attempt(self.sessions, self._send_key(reports[0]), add=-1)
                delay = error.delay if isinstance(error, TryLater) else None
                self._send_failures += 1
                self._postpone(reports, f"sending: {text}", delay)
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
        self._culprits.difference_update(delivered)
        if delivered:
            if self._send_failures:  # the network is back: what waited for it goes now
                self._send_failures = 0
                now = time.monotonic()
                self._retry_at = {i: at if i in self._culprits else now
                                  for i, at in self._retry_at.items()}
            log.info("delivered %d report(s): %s", len(delivered),
                     ", ".join(str(r.id) for r in reports if r.delivery_id in self._marked))
            self._news("delivery")
            if self._errors == errors:
                self._recovered("send")

    def _failed(self, reports: list[Report], reason: str, counted: bool,
                limit: int = db.SET_ASIDE_AFTER) -> None:
        """send_messages raised something that is not the network's. Reports go out in order
        and are marked as they go, so the first unmarked one failed: it is retried (after a
        backoff by its failures) and after `limit` failures given up; the ones behind it are
        tried again at once."""
        log.warning("sending failed: %s", reason, exc_info=True)
        left = [r for r in reports if r.delivery_id not in self._marked]
        if not left:
            return
        culprit, behind = left[0], left[1:]
        count = db.count_attempt(self.sessions, self._send_key(culprit), reason,
                                 add=0 if counted else 1)
        if count >= limit:
            self._give_up(culprit, f"set aside after {count} failed attempts: {reason}")
        else:
            self._culprits.add(culprit.delivery_id)
            self._postpone([culprit], f"sending: {reason}", min(2.0 * 2 ** count, 300))
        for report in behind:
            self._retry_at[report.delivery_id] = time.monotonic()

    def _postpone(self, reports: list[Report], error: str | None, delay: float | None) -> None:
        """Keep unsent reports pending; retry after `delay`, or after a backoff that doubles
        with each failure of this account's sending in a row (5 s up to 5 min; a delivery
        that waited out a long outage goes as soon as the network is back)."""
        left = [r for r in reports if r.delivery_id not in self._marked]
        if not left:
            return
        if error:
            self._note_error(error, kind="send")
        wait = delay if delay is not None else min(5 * 2 ** max(self._send_failures - 1, 0), 300)
        with self.sessions.begin() as session:
            for report in left:
                session.execute(update(db.Delivery).where(db.Delivery.id == report.delivery_id)
                                .values(attempts=db.Delivery.attempts + 1,
                                        last_error=error or db.Delivery.last_error))
                self._retry_at[report.delivery_id] = time.monotonic() + wait

    def _give_up(self, report: Report, reason: str) -> None:
        log.warning("report %s cannot be sent by this account: %s", report.id, reason)
        with self.sessions.begin() as session:
            session.execute(update(db.Delivery).where(db.Delivery.id == report.delivery_id)
                            .values(state=db.FAILED, last_error=reason,
                                    attempts=db.Delivery.attempts + 1))
            db.forget_delivery(session, report.delivery_id, self._send_key(report))
        self._marked.add(report.delivery_id)  # handled: neither retried nor counted as sent
        self._retry_at.pop(report.delivery_id, None)
        self._culprits.discard(report.delivery_id)

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


# Seconds between a bot's own looks for deliveries routed to it: a safety net only (news of
# each delivery comes through its inbox, a start looks anyway, and main sends SWEEP when it had
# to drop news), and with hundreds of bots a look a minute each was most of an idle instance's
# load.
SWEEP_INTERVAL = 300.0

_NOT_YET = object()  # read() said: not now; the message stays unhandled and comes back
# Failures of one delivery, raised as OSError while the network worked for others, before it
# is set aside: more than for a bug (db.SET_ASIDE_AFTER), as a flaky network can look alike.
NETWORK_SET_ASIDE_AFTER = 10


@dataclass
class _Baseline:
    """What the receive thread brings back from first_watermark()."""
    watermark: str | None


class _Receiver:
    """Runs one call at a time (recv_messages) in a daemon thread, so that the bot's main
    thread sends while the network keeps the call waiting. The result waits in `take()`;
    `fileno` becomes readable when it is there. An empty answer is followed by the next call
    in this thread when the main thread allows it (`repeat_after`, the pause first; `on_repeat`
    runs before that call): an idle long-polling bot then wakes its main thread for nothing.
    Nothing else crosses threads: reading, storing and sending all happen in the main thread."""

    def __init__(self, call, on_repeat=lambda: None):
        self._call, self._on_repeat = call, on_repeat
        self.repeat_after: float | None = None  # set by the main thread
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._result: tuple | None = None
        self._pending = False  # a call was started and its result not taken yet
        # monotonic start of the call while it runs (not while its result waits: the main
        # thread may be busy sending for long, beating as it goes)
        self.busy_since: float | None = None
        self._wake_reader, self._wake_writer = os.pipe()
        self.fileno = self._wake_reader
        threading.Thread(target=self._serve, daemon=True, name="receive").start()

    @property
    def idle(self) -> bool:
        return not self._pending

    def start(self, argument) -> None:
        self._pending = True
        self.busy_since = time.monotonic()
        self._requests.put(argument)

    def take(self) -> tuple | None:
        """(result, None) or (None, the exception) of the finished call, once; else None."""
        result = self._result
        if result is None:
            return None
        os.read(self._wake_reader, 1)
        self._result, self._pending = None, False
        return result

    def _serve(self) -> None:
        while True:
            argument = self._requests.get()
            while True:
                try:
                    result = (self._call(argument), None)
                except BaseException as error:  # handed to the main thread, which decides
                    result = (None, error)
                pause = self.repeat_after
                if pause is None or not _empty_answer(result):
                    break
                if pause:
                    time.sleep(pause)
                self.busy_since = time.monotonic()
                self._on_repeat()
            self.busy_since = None
            self._result = result
            os.write(self._wake_writer, b"x")


def _empty_answer(result: tuple) -> bool:
    messages, error = result
    return error is None and isinstance(messages, (list, tuple)) and not messages


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


# Methods of the contract a plugin may override, and whether the core calls it on the class.
_CONTRACT = {"accounts": True, "deactivate": True, "forget_city": True, "panel": True,
             "city_part": True,
             "__init__": False, "start": False, "first_watermark": False,
             "recv_messages": False, "watermark": False, "message_id": False, "read": False,
             "handled": False, "send_messages": False}
# What every plugin defines, even one without accounts: the core calls them regardless.
_REQUIRED = ("accounts", "deactivate", "forget_city")


_LOOP_STATE = ("_ctx", "_retry_at", "_read_retry_at", "_recv_failures", "_send_failures",
               "_culprits", "_last_news", "_trouble", "_errors", "_done_keys", "_careful_read",
               "_careful_send", "_watermark", "_first_start", "_receiver", "_marked",
               "_waiting_until")


def _loop_names() -> set[str]:
    """The run loop's private methods and the attributes it sets on a bot."""
    own = {n for n in vars(Bot) if n.startswith("_") and not n.startswith("__")}
    return own | set(_LOOP_STATE)


def _called_as(cls: type, method: str) -> inspect.Signature | None:
    """The parameters `method` takes as the core calls it (without cls or self); None when
    Python cannot tell (a C function, attrgetter): such a method is taken on trust."""
    raw = inspect.getattr_static(cls, method)
    try:
        if isinstance(raw, (classmethod, staticmethod)):
            return inspect.signature(getattr(cls, method))
        signature = inspect.signature(raw)
    except (TypeError, ValueError):
        return None
    parameters = list(signature.parameters.values())
    if parameters and parameters[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                             inspect.Parameter.POSITIONAL_OR_KEYWORD):
        parameters = parameters[1:]  # self: a plain function is bound to the instance
    return signature.replace(parameters=parameters)


def _check_contract(name: str, cls: type[Bot]) -> None:
    """A method of the contract overridden with other parameters fails only when the core
    calls it, perhaps weeks later: refuse it at start, naming the plugin and the method."""
    for method, on_class in _CONTRACT.items():
        own = inspect.getattr_static(cls, method)
        if own is inspect.getattr_static(Bot, method):
            continue
        if on_class and not isinstance(own, (classmethod, staticmethod)):
            raise PluginError(f"plugin {name}: {method} must be a classmethod: the core calls "
                              "it on the class (bots/README.md)")
        signature, wanted = _called_as(cls, method), _called_as(Bot, method)
        if signature is None:
            continue
        required = [p for p, v in wanted.parameters.items() if v.default is v.empty]
        try:  # called as the core calls it: with the required parameters, and with all
            signature.bind(*required)
            signature.bind(*wanted.parameters)
        except TypeError:
            raise PluginError(f"plugin {name}: {method}{signature} must take {wanted} "
                              "(bots/README.md)") from None
    # The run loop keeps its state on the bot: a plugin's own name that is the same would
    # silently replace it (a method `_baseline` once did).
    clash = sorted(n for n in vars(cls) if n in _loop_names())
    if clash:
        raise PluginError(f"plugin {name}: {', '.join(clash)} is the run loop's name; "
                          "name yours otherwise (bots/README.md)")
    missing = [m for m in _REQUIRED
               if inspect.getattr_static(cls, m) is inspect.getattr_static(Bot, m)]
    if missing:
        raise PluginError(f"plugin {name}: its Bot class must define {', '.join(missing)} "
                          "(bots/README.md)")


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
    # A plugin may keep a base class of its own in bot.py: the bot is the one no other extends.
    classes = [c for c in classes if not any(o is not c and issubclass(o, c) for o in classes)]
    if len(classes) != 1:
        raise PluginError(f"plugin {name}: bot.py must define exactly one Bot subclass "
                          "that no other class of it extends")
    cls = classes[0]
    _check_contract(name, cls)
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


def reset_watermark(session, city_id: int, network: str, account_id: str) -> None:
    """Forget where an account's receiving stands: its next start sets a new baseline
    (first_watermark), so that what arrived while it was disconnected is not relayed late.
    For a plugin's connect route, when an account is connected again."""
    session.execute(delete(db.BotWatermark).where(db.BotWatermark.city_id == city_id,
                                                  db.BotWatermark.network == network,
                                                  db.BotWatermark.account == account_id))


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
