"""The X (Twitter) bot of one city account: mentions of the account (and direct messages, where
the instance pays for them) become reports; accepted reports are posted, and a mention this
account received is reposted instead.

Reading on X costs money per post read: the instance decides (`read_mentions`,
`read_direct_messages`); with both off the bot only posts and makes no read request at all.
Talks to X only through tweepy (client.py). Touches its own tables (db.py: version 2's
twitter_accounts, seen_tweets, seen_dms, and version 3's handles). A report never names who
sent it: mentions and links are taken out of its text, and no log line names an author.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, select

import db
from bots import Account, Bot, Refused, Report, TryLater, Undeliverable
from config import Setting

from . import client, text
from .db import TwitterAccount, TwitterHandle, TwitterRequestToken, TwitterSeenDM, TwitterSeenTweet

log = logging.getLogger(__name__)

MENTION_PAGES = 8   # 100 each: X serves the 800 newest mentions at most
DM_PAGES = 3        # 100 direct messages each, newest first, until the last one handled
TWEET_FIELDS = ["author_id", "in_reply_to_user_id", "referenced_tweets", "entities",
                "created_at"]
DM_FIELDS = ["sender_id", "text", "created_at", "dm_conversation_id"]


def configured(options) -> bool:
    """Whether the instance has X's consumer key and secret: without them nothing can run."""
    return bool(options and options.consumer_key and options.consumer_secret)


def x_user_id(token: str | None) -> int:
    """An OAuth 1.0a access token of X is "<user id>-<secret part>"."""
    head = (token or "").split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def account_rows(session, city_id: int | None = None, active_only: bool = True):
    """(account row, city, handle row or None) of connected accounts."""
    query = (select(TwitterAccount, db.City, TwitterHandle)
             .join(db.City, db.City.user_id == TwitterAccount.user_id)
             .outerjoin(TwitterHandle, TwitterHandle.account_id == TwitterAccount.id)
             .where(TwitterAccount.client_id.is_not(None), TwitterAccount.client_id != "")
             .order_by(TwitterAccount.id))
    if active_only:
        query = query.where(TwitterAccount.active != 0)
    if city_id is not None:
        query = query.where(db.City.id == city_id)
    return session.execute(query).all()


def label(handle) -> str:
    return f"@{handle.username}" if handle is not None and handle.username else "X account"


@dataclass
class Incoming:
    """A mention or a direct message as received, and the watermark after it."""
    kind: str          # "tweet" or "dm"
    id: str
    text: str
    author_id: int
    in_reply_to: int | None
    repost: bool
    cursor: str


def cursors(watermark: str | None) -> tuple[str | None, str | None]:
    """The watermark "<last mention id>/<last direct message id>" ("-": none yet)."""
    mention, _, message = (watermark or "-/-").partition("/")
    return (None if mention in ("", "-") else mention), (None if message in ("", "-") else message)


class TwitterBot(Bot):
    broadcasts_own_reports = True  # a mention this account received is reposted by it
    option_keys = {
        "consumer_key": Setting("", help="the instance's X app: its API key (consumer key)"),
        "consumer_secret": Setting("", help="the instance's X app: its API key secret",
                                   secret=True),
        "api_url": Setting(client.API_URL, help="X's API host (tests, a proxy)"),
        "read_mentions": Setting(True, "bool", "read the accounts' mentions (X bills every "
                                 "post read); off, the bots only post"),
        "read_direct_messages": Setting(False, "bool", "read the accounts' direct messages "
                                        "(needs a paid access level)"),
        "poll_interval": Setting(120.0, "float", "seconds between two reads of an account's "
                                 "mentions (each read of a post is billed)", minimum=1.0),
        "timeout": Setting(20.0, "float", "seconds a request to X may take", minimum=1.0,
                           maximum=50.0),
    }

    def __init__(self, account, settings, sessions):
        super().__init__(account, settings, sessions)
        self.poll_interval = self.options.poll_interval

    # --- accounts --------------------------------------------------------------------------
    @classmethod
    def accounts(cls, session, city_id=None):
        if not configured(cls.options):
            return []  # no app of the instance: no account can do anything
        return [Account(city.id, str(row.id), label(handle))
                for row, city, handle in account_rows(session, city_id)]

    @classmethod
    def deactivate(cls, session, account, reason):
        row = session.get(TwitterAccount, int(account.id))
        if row is not None:
            row.active = 0

    @classmethod
    def forget_city(cls, session, city_id, user_id):
        ids = select(TwitterAccount.id).where(TwitterAccount.user_id == user_id)
        session.execute(delete(TwitterHandle).where(TwitterHandle.account_id.in_(ids)))
        for model in (TwitterAccount, TwitterRequestToken, TwitterSeenTweet, TwitterSeenDM):
            session.execute(delete(model).where(model.user_id == user_id))

    @classmethod
    def panel(cls, session, city):
        return dict(configured=configured(cls.options),
                    connected=[dict(id=str(row.id), handle=label(handle),
                                    username=handle.username if handle else None,
                                    active=bool(row.active))
                               for row, _, handle in account_rows(session, city.id,
                                                                  active_only=False)])

    # --- the bot process ---------------------------------------------------------------------
    def start(self):
        with self.sessions() as session:
            row = session.get(TwitterAccount, int(self.account.id))
            handle = session.get(TwitterHandle, row.id)
            token, secret, self.user_id = row.client_id, row.client_secret, row.user_id
            self.username = handle.username if handle is not None else ""
        self.me = x_user_id(token)  # no request: the token says who the account is
        options = self.options
        # One client each for the receive thread and the main thread (a requests session is
        # not made for two threads).
        self.receiving, self.sending = (
            client.make_client(options.consumer_key, options.consumer_secret, token, secret,
                               options.api_url, options.timeout) for _ in range(2))

    def reading(self) -> bool:
        return bool(self.options.read_mentions or self.options.read_direct_messages)

    def first_watermark(self):
        """After the newest mention and direct message, so that old ones are not replayed;
        a version 2 account after the last ones version 2 handled. Reading nothing: no request."""
        if not self.reading():
            return None
        if not self.username:  # version 2 kept no handle: learnt once, while reading anyway
            me = client.call(self.receiving, "get_me").data
            self.username = me.username
            with self.sessions.begin() as session:
                session.merge(TwitterHandle(account_id=int(self.account.id), x_user_id=self.me,
                                            username=me.username))
        with self.sessions() as session:
            seen_tweet = session.scalar(select(func.max(TwitterSeenTweet.tweet_id)).where(
                TwitterSeenTweet.user_id == self.user_id))
            seen_dm = session.scalar(select(TwitterSeenDM.message_id).where(
                TwitterSeenDM.twitter_accounts_id == int(self.account.id))
                .order_by(TwitterSeenDM.id.desc()))
        mention = str(seen_tweet) if seen_tweet else None
        message = seen_dm or None
        if self.options.read_mentions and mention is None:
            newest = client.call(self.receiving, "get_users_mentions", self.me, max_results=5,
                                 user_auth=True)
            mention = (newest.meta or {}).get("newest_id")
        if self.options.read_direct_messages and message is None:
            newest = client.call(self.receiving, "get_direct_message_events", max_results=1,
                                 event_types="MessageCreate")
            message = str(newest.data[0].id) if newest.data else None
        return f"{mention or '-'}/{message or '-'}"

    def recv_messages(self, watermark):
        """Mentions after the watermark, then direct messages after it, each oldest first."""
        if not self.reading():
            return []
        mention, message = cursors(watermark)
        found = []
        if self.options.read_mentions:
            for tweet in self._mentions(mention):
                mention = str(tweet.id)
                found.append(Incoming("tweet", str(tweet.id), tweet.text or "",
                                      int(tweet.author_id or 0), _int(tweet.in_reply_to_user_id),
                                      _repost(tweet), ""))
        for item in found:
            item.cursor = f"{item.id}/{message or '-'}"
        if self.options.read_direct_messages:
            for event in self._messages(message):
                found.append(Incoming("dm", str(event.id), event.text or "",
                                      int(event.sender_id or 0), None, False,
                                      f"{mention or '-'}/{event.id}"))
        return found

    def _mentions(self, since: str | None) -> list:
        """Every mention after `since` (X gives the newest page first), oldest first."""
        tweets, token = [], None
        for _ in range(MENTION_PAGES):
            page = client.call(self.receiving, "get_users_mentions", self.me, since_id=since,
                               max_results=100, pagination_token=token,
                               tweet_fields=TWEET_FIELDS, user_auth=True)
            tweets += page.data or []
            token = (page.meta or {}).get("next_token")
            if not token:
                break
        return sorted(tweets, key=lambda t: int(t.id))

    def _messages(self, since: str | None) -> list:
        """Direct messages to the account after `since` (no since_id on X: newest pages until
        the last one handled), oldest first."""
        events, token = [], None
        for _ in range(DM_PAGES):
            page = client.call(self.receiving, "get_direct_message_events",
                               event_types="MessageCreate", max_results=100,
                               pagination_token=token, dm_event_fields=DM_FIELDS)
            batch = page.data or []
            events += [e for e in batch if since is None or int(e.id) > int(since)]
            token = (page.meta or {}).get("next_token")
            if not token or since is None or any(int(e.id) <= int(since) for e in batch):
                break
        return sorted((e for e in events if int(e.sender_id or 0) != self.me),
                      key=lambda e: int(e.id))

    def watermark(self, item):
        return item.cursor

    def message_id(self, item):
        return f"{item.kind}:{item.id}"  # X's ids are unique on all of X

    def read(self, item):
        if item.author_id == self.me:
            return Refused("a post of the city's own account")
        if item.repost:
            return Refused("a repost of a post that mentions the account")
        if (item.kind == "tweet" and item.in_reply_to not in (None, self.me) and self.username
                and not text.addressed_in_body(item.text, self.username)):
            # X puts the handles of everyone in a thread in front of a reply: the account is
            # only part of the thread, the post is not addressed to it.
            return Refused("a reply in a thread the account is part of, not addressed to it")
        return Report(text=text.report_text(item.text, self.username))

    # --- sending ---------------------------------------------------------------------------
    def send_messages(self, reports):
        for report in reports:
            self.beat()
            own = report.network == self.name and report.account_id == self.account.id
            if own and report.network_message_id.startswith("tweet:"):
                self._repost(report)
            else:
                self._post(report)
            self.mark_delivered(report)

    def _repost(self, report: Report) -> None:
        """A mention this account received: reposted (its author made it public on X)."""
        tweet_id = report.network_message_id.split(":", 1)[1]
        try:
            client.call(self.sending, "retweet", tweet_id)
        except client.Refused as error:
            if error.code == 404:  # deleted by its author meanwhile: their choice
                log.info("report %s: the mention is gone, not reposted", report.id)
                return
            self._post(report)  # the author blocked the account, …: its text instead

    def _post(self, report: Report) -> None:
        """A new post; X refuses the same text twice: if our own last posts carry it, it is
        sent (a resend after a crash), else it goes out with a small variation."""
        wanted = text.fit(report.text)
        for attempt in range(3):
            body = wanted if attempt == 0 else text.variation(report.text, attempt)
            try:
                client.call(self.sending, "create_tweet", text=body)
                return
            except client.Refused as error:
                if not error.duplicate:
                    raise Undeliverable(report, f"X refuses this post ({error.code}): "
                                                f"{error}") from None
                if attempt == 0 and self._posted_lately(wanted):
                    log.info("report %s was posted already (X refused it again)", report.id)
                    return
        raise Undeliverable(report, "X refuses this post as a duplicate")

    def _posted_lately(self, body: str) -> bool:
        """Whether one of the account's last posts has this text (links as X shortened them
        are left out of the comparison). Without reads allowed, a duplicate is taken as ours."""
        if not self.reading():
            return True
        try:
            page = client.call(self.sending, "get_users_tweets", self.me, max_results=10,
                               user_auth=True)
        except (client.Refused, TryLater, OSError) as error:
            log.info("the account's last posts could not be read: %s", type(error).__name__)
            return False
        return any(_plain(t.text) == _plain(body) for t in page.data or [])


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _repost(tweet) -> bool:
    return any(getattr(r, "type", None) == "retweeted" or (isinstance(r, dict) and
               r.get("type") == "retweeted") for r in tweet.referenced_tweets or [])


def _plain(body: str) -> str:
    return " ".join(text.URL.sub("", body or "").split())
