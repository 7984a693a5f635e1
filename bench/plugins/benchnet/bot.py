"""A bot for the benchmark's fake network (bench/fakenet.py), waiting on it as on a real one.

A normal plugin, loaded through `plugins.dirs` (bench/plugins): every enabled city gets the
accounts named in `[bots.benchnet] accounts`; `[bots.benchnet] url` is the fake network's base
URL, and an account's key there is "<city name>/<account name>". Receiving long-polls
`GET /updates` (so `poll_interval` is 0: the poll itself waits), the watermark is the message
id; sending posts each report to `POST /post` with its idempotency key. The network never
refuses credentials, so nothing is kept in tables of its own.
"""
import requests

import db
import user
from bots import Account, Bot, Report, TryLater
from config import Setting


class BenchnetBot(Bot):
    poll_interval = 0.0  # the long poll waits on the network
    option_keys = {
        "url": Setting("http://127.0.0.1:8765", help="the fake network's base URL"),
        "accounts": Setting(["a", "b", "c"], "list", "accounts every enabled city has"),
        "long_poll": Setting(25.0, "float", "seconds /updates waits for news",
                             minimum=0.0, maximum=45.0),
        "timeout": Setting(10.0, "float", "seconds a post may take", minimum=1.0,
                           maximum=40.0),
    }

    def __init__(self, account, settings, sessions):
        super().__init__(account, settings, sessions)
        self.bench_key = ""
        self.bench_sending = None
        self.bench_receiving = None  # made in the receive thread, on its first call
        self.bench_failures = 0      # receive failures in a row: our own backoff

    @classmethod
    def accounts(cls, session, city_id=None):
        # One city's accounts are asked for with every report (routing): its row alone.
        cities = (user.list_cities(session) if city_id is None
                  else [c for c in [session.get(db.City, city_id)] if c is not None])
        return [Account(c.id, name, f"{c.name}/{name}") for c in cities
                for name in cls.options.accounts]

    @classmethod
    def deactivate(cls, session, account, reason):
        """Never called: the fake network refuses no credentials."""

    @classmethod
    def forget_city(cls, session, city_id, user_id):
        """Nothing kept of a city."""

    def start(self):
        with self.sessions() as session:  # its own city only: not every city's row per bot
            city = session.get(db.City, self.account.city_id)
        self.bench_key = f"{city.name}/{self.account.id}"
        self.bench_sending = requests.Session()

    def recv_messages(self, watermark):
        if self.bench_receiving is None:
            self.bench_receiving = requests.Session()
        wait = self.options.long_poll
        try:
            answer = self.bench_receiving.get(
                self.options.url + "/updates",
                params={"account": self.bench_key, "after": watermark or 0, "timeout": wait},
                timeout=(5.0, wait + 10.0))
            answer.raise_for_status()
            messages = answer.json()
        except (requests.RequestException, ValueError) as error:
            # poll_interval is 0, so the run loop's backoff (poll_interval * 2^n) would be
            # none: back off here, 0.5 s doubling up to 30 s.
            self.bench_failures += 1
            raise TryLater(f"the fake network: {type(error).__name__}",
                           delay=min(0.5 * 2 ** (self.bench_failures - 1), 30.0)) from None
        self.bench_failures = 0
        return messages

    def watermark(self, message):
        return str(message["id"])

    def message_id(self, message):
        return str(message["id"])  # unique over the whole fake network

    def read(self, message):
        return Report(text=message["text"])

    def send_messages(self, reports):
        for report in reports:
            answer = self.bench_sending.post(
                self.options.url + "/post",
                json={"account": self.bench_key, "text": report.text,
                      "key": report.idempotency_key},
                timeout=(5.0, self.options.timeout))
            answer.raise_for_status()  # an OSError: retried with the run loop's backoff
            self.mark_delivered(report)
