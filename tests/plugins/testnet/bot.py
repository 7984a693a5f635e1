"""A bot for the test network: exercises the core exactly as a real network's bot would.

Every enabled city gets the accounts named in `[bots.testnet] accounts` unless a test marked
one inactive. A test talks to the "network" through the testnet_* tables.
"""
import json
import os
import sys
import time
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bots import Account, Bot, CredentialsRefused, Report, TryLater, Undeliverable
from config import Setting
import user

from .db import TestnetAccount, TestnetInbox, TestnetOutbox


class TestnetBot(Bot):
    option_keys = {
        "accounts": Setting(["a", "b"], "list", "accounts every enabled city has"),
        "poll_interval": Setting(0.2, "float", "seconds between polls", minimum=0.01),
        "baseline": Setting(False, "bool", "a new account begins after the newest message"),
        "report_modules": Setting(False, "bool", "each bot writes the modules it has, and those "
                                                 "it imported after its fork, to the data dir"),
    }

    def start(self):
        if self.options.report_modules:
            import forkparent
            name = f"modules-{self.account.city_id}-{self.account.id}.json"
            (Path(self.settings.instance.data_dir) / name).write_text(json.dumps(dict(
                modules=sorted(sys.modules), preloaded=sorted(forkparent.PRELOADED),
                after_fork=sorted(set(sys.modules) - forkparent.PRELOADED))))

    def __init__(self, account, settings, sessions):
        super().__init__(account, settings, sessions)
        self.poll_interval = self.options.poll_interval
        self.deferred_reads: set[int] = set()

    @classmethod
    def accounts(cls, session, city_id=None):
        names = cls.options.accounts
        inactive = {(row.city_id, row.name) for row in
                    session.scalars(select(TestnetAccount).where(TestnetAccount.active.is_(False)))}
        cities = [c for c in user.list_cities(session) if city_id in (None, c.id)]
        return [Account(c.id, name, f"{c.name}-{name}@testnet") for c in cities
                for name in names if (c.id, name) not in inactive]

    @classmethod
    def deactivate(cls, session, account, reason):
        row = cls._switches(session, account.city_id, account.id, create=True)
        row.active, row.reason = False, reason

    @classmethod
    def forget_city(cls, session, city_id, user_id):
        for model in (TestnetAccount, TestnetInbox, TestnetOutbox):
            session.execute(delete(model).where(model.city_id == city_id))

    @staticmethod
    def _switches(session, city_id, name, create=False):
        row = session.scalar(select(TestnetAccount).where(TestnetAccount.city_id == city_id,
                                                          TestnetAccount.name == name))
        if row is None and create:
            row = TestnetAccount(city_id=city_id, name=name)
            session.add(row)
        return row

    def _flags(self):
        with self.sessions() as session:
            row = self._switches(session, self.account.city_id, self.account.id)
            return row or TestnetAccount(active=True, paused=False, hang=False, refuse=False, fail=False,
                                        crash=False, longpoll=0.0, recipients=0, send_delay=0.0)

    def first_watermark(self):
        if not self.options.baseline:
            return None
        with self.sessions() as session:
            newest = session.scalar(select(func.max(TestnetInbox.id)).where(
                TestnetInbox.city_id == self.account.city_id,
                TestnetInbox.account == self.account.id))
        return None if newest is None else str(newest)

    def recv_messages(self, watermark):
        flags = self._flags()
        if flags.refuse:
            raise CredentialsRefused("the test network revoked this account's token")
        while flags.hang:
            time.sleep(3600)  # a network that never answers: no heartbeat from here on
        if flags.fail:
            raise ConnectionError("the test network answers 503")
        if flags.crash:
            raise RuntimeError("a bug in the bot")
        if flags.longpoll:
            time.sleep(flags.longpoll)  # a long poll on a quiet network
        with self.sessions() as session:
            return session.scalars(select(TestnetInbox).where(
                TestnetInbox.city_id == self.account.city_id,
                TestnetInbox.account == self.account.id,
                TestnetInbox.id > int(watermark or 0)).order_by(TestnetInbox.id)).all()

    def watermark(self, row):
        return str(row.id)

    def message_id(self, row):
        return f"msg-{row.id}"

    def read(self, row):
        # Messages that make the bot fail, as a hostile message or a parser bug would.
        if "poison-read" in row.text:
            raise RuntimeError("the test network's parser fails on this message")
        if "poison-crash" in row.text:
            os._exit(70)  # the process dies in the middle of reading it
        if "poison-hang" in row.text:
            time.sleep(3600)  # reading never ends: no heartbeat from here on
        if "trylater-read" in row.text and row.id not in self.deferred_reads:
            self.deferred_reads.add(row.id)  # a lookup reading needs is down, once
            raise TryLater("the test network's lookup answers 502", delay=None)
        return Report(text=row.text)

    def send_messages(self, reports):
        flags = self._flags()
        if flags.paused:
            raise TryLater("the test network is paused", delay=0.2)
        if flags.fail:
            raise ConnectionError("the test network answers 503")
        for report in reports:
            if "poison-send" in report.text:
                raise RuntimeError("a bug in sending this report")
            if "oserror-send" in report.text:  # as requests' HTTPError for one post
                raise ConnectionError("the test network answers 400 to this report")
            if "undeliverable" in report.text.lower():
                raise Undeliverable(report, "the test network refuses this text")
            if flags.recipients:
                self._broadcast(report, flags)
            else:
                self._post(report, report.idempotency_key)
            self.mark_delivered(report)

    def _broadcast(self, report, flags):
        """One post per recipient, as Telegram sends to each subscriber; the run loop's ledger
        skips those a cut-off broadcast reached."""
        reached = self.reached(report)
        for recipient in range(flags.recipients):
            if str(recipient) in reached:
                continue
            self.beat()
            time.sleep(flags.send_delay)
            self._post(report, f"{report.idempotency_key}:{recipient}")
            self.mark_reached(report, str(recipient))

    def _post(self, report, key):
        try:
            with self.sessions.begin() as session:
                session.add(TestnetOutbox(city_id=self.account.city_id,
                                          account=self.account.id, text=report.text,
                                          idempotency_key=key, posted_at=time.time()))
        except IntegrityError:  # posted before a crash: the network de-duplicates
            with self.sessions.begin() as session:
                session.execute(update(TestnetOutbox).where(
                    TestnetOutbox.city_id == self.account.city_id,
                    TestnetOutbox.account == self.account.id,
                    TestnetOutbox.idempotency_key == key)
                    .values(attempts=TestnetOutbox.attempts + 1))
