"""A bot for the test network: exercises the core exactly as a real network's bot would.

Every enabled city gets the accounts named in `[bots.testnet] accounts` unless a test marked
one inactive. A test talks to the "network" through the testnet_* tables.
"""
import os
import time

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from bots import Account, Bot, CredentialsRefused, Report, TryLater, Undeliverable
from config import Setting
import user

from .db import TestnetAccount, TestnetInbox, TestnetOutbox, TestnetSeen


class TestnetBot(Bot):
    option_keys = {
        "accounts": Setting(["a", "b"], "list", "accounts every enabled city has"),
        "poll_interval": Setting(0.2, "float", "seconds between polls", minimum=0.01),
    }

    def __init__(self, account, settings, sessions):
        super().__init__(account, settings, sessions)
        self.poll_interval = self.options.poll_interval
        self._fetched: list[int] = []

    @classmethod
    def accounts(cls, session, city_id=None):
        names = cls.options.accounts
        inactive = {(row.city_id, row.name) for row in
                    session.scalars(select(TestnetAccount).where(TestnetAccount.active == 0))}
        cities = [c for c in user.list_cities(session) if city_id in (None, c.id)]
        return [Account(c.id, name, f"{c.name}-{name}@testnet") for c in cities
                for name in names if (c.id, name) not in inactive]

    @classmethod
    def deactivate(cls, session, account, reason):
        row = cls._switches(session, account.city_id, account.id, create=True)
        row.active, row.reason = 0, reason

    @classmethod
    def forget_city(cls, session, city_id, user_id):
        for model in (TestnetAccount, TestnetInbox, TestnetSeen, TestnetOutbox):
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
            return row or TestnetAccount(active=1, paused=0, hang=0, refuse=0, fail=0, crash=0)

    def recv_messages(self):
        flags = self._flags()
        if flags.refuse:
            raise CredentialsRefused("the test network revoked this account's token")
        while flags.hang:
            time.sleep(3600)  # a network that never answers: no heartbeat from here on
        if flags.fail:
            raise ConnectionError("the test network answers 503")
        if flags.crash:
            raise RuntimeError("a bug in the bot")
        with self.sessions() as session:
            last = session.scalar(select(TestnetSeen.last_id).where(
                TestnetSeen.city_id == self.account.city_id,
                TestnetSeen.account == self.account.id)) or 0
            rows = session.scalars(select(TestnetInbox).where(
                TestnetInbox.city_id == self.account.city_id,
                TestnetInbox.account == self.account.id,
                TestnetInbox.id > last).order_by(TestnetInbox.id)).all()
        self._fetched = [row.id for row in rows]
        return rows

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
        return Report(text=row.text)

    def handled(self, session, rows):
        # The watermark moves up to the first message not handled yet: that one comes back.
        done = {row.id for row in rows}
        seen = None
        for row_id in self._fetched:
            if row_id not in done:
                break
            seen = row_id
        if seen is None:
            return
        row = session.scalar(select(TestnetSeen).where(
            TestnetSeen.city_id == self.account.city_id,
            TestnetSeen.account == self.account.id))
        if row is None:
            session.add(TestnetSeen(city_id=self.account.city_id, account=self.account.id,
                                    last_id=seen))
        else:
            row.last_id = max(row.last_id, seen)

    def send_messages(self, reports):
        flags = self._flags()
        if flags.paused:
            raise TryLater("the test network is paused", delay=0.2)
        if flags.fail:
            raise ConnectionError("the test network answers 503")
        for report in reports:
            if "poison-send" in report.text:
                raise RuntimeError("a bug in sending this report")
            if "undeliverable" in report.text.lower():
                raise Undeliverable(report, "the test network refuses this text")
            self._post(report)
            self.mark_delivered(report)

    def _post(self, report):
        try:
            with self.sessions.begin() as session:
                session.add(TestnetOutbox(city_id=self.account.city_id,
                                          account=self.account.id, text=report.text,
                                          idempotency_key=report.idempotency_key,
                                          posted_at=time.time()))
        except IntegrityError:  # posted before a crash: the network de-duplicates
            with self.sessions.begin() as session:
                session.execute(update(TestnetOutbox).where(
                    TestnetOutbox.city_id == self.account.city_id,
                    TestnetOutbox.account == self.account.id,
                    TestnetOutbox.idempotency_key == report.idempotency_key)
                    .values(attempts=TestnetOutbox.attempts + 1))
