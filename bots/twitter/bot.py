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

import html
import logging
import time
from dataclasses import dataclass

from sqlalchemy import delete, func, select

import db
from bots import Account, Bot, CredentialsRefused, Refused, Report, TryLater, Undeliverable
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
    """A mention or a direct message as received, and the watermark after it ("mark": only a
    baseline, nothing to relay)."""
    kind: str          # "tweet", "dm" or "mark"
    id: str
    text: str
    author_id: int
    in_reply_to: int | None
    repost: bool
    created: float | None
    cursor: str


def cursors(watermark: str | None) -> tuple[str, str]:
    """The watermark "<last mention id>/<last direct message id>": "-" none yet, "?" no
    baseline yet (that kind was not read so far)."""
    mention, _, message = (watermark or "?/?").partition("/")
    return mention or "?", message or "?"


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
        "max_age": Setting(30, "int", "minutes after which a mention or message read late (the "
                           "bot was down or waiting) is too old to relay", minimum=1),
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
            self.user_id = row.user_id
            self.username = handle.username if handle is not None else ""
            tokens = (row.client_id, row.client_secret)
        self.me = x_user_id(tokens[0])  # no request: the token says who the account is
        # One client each for the receive thread and the main thread (a requests session is
        # not made for two threads).
        self.receiving, self.sending = self._client(tokens), self._client(tokens)
        # One receive must end well inside the heartbeat (it holds it while it runs).
        self.receive_budget = self.settings.supervisor.heartbeat_timeout / 2

    def _client(self, tokens):
        made = client.make_client(self.options.consumer_key, self.options.consumer_secret,
                                  *tokens, self.options.api_url, self.options.timeout)
        made.tokens = tokens
        return made

    # --- the token --------------------------------------------------------------------------
    def _stored_tokens(self):
        with self.sessions() as session:
            row = session.get(TwitterAccount, int(self.account.id))
            return (row.client_id, row.client_secret) if row is not None else (None, None)

    def _current(self, name: str):
        """This thread's client ("receiving", "sending"), made anew when the organisers
        connected the same X account again (a new token after they changed its permissions);
        another account, or none, is not this process's: main stops it meanwhile."""
        current = getattr(self, name)
        tokens = self._stored_tokens()
        if tokens == current.tokens:
            return current
        if x_user_id(tokens[0]) != self.me:
            raise TryLater("the city's X account was disconnected or replaced", delay=5.0)
        fresh = self._client(tokens)
        setattr(self, name, fresh)
        log.info("the account's new token is used from now on")
        return fresh

    def _call(self, name: str, method: str, *args, **kwargs):
        """client.call on this thread's client; a token X refuses ends the account only if it
        is still the stored one (else a new one was connected meanwhile)."""
        api = self._current(name)
        try:
            return client.call(api, method, *args, **kwargs)
        except CredentialsRefused:
            if self._stored_tokens() != api.tokens:
                raise TryLater("the account's token was replaced", delay=1.0) from None
            raise

    # --- receiving -------------------------------------------------------------------------
    def reading(self) -> bool:
        return bool(self.options.read_mentions or self.options.read_direct_messages)

    def first_watermark(self):
        """After the version 2 ones where there are; else "?": each part's baseline is set at
        the first read that uses it (reads switched on later do not replay old mentions)."""
        with self.sessions() as session:
            seen_tweet = session.scalar(select(func.max(TwitterSeenTweet.tweet_id)).where(
                TwitterSeenTweet.user_id == self.user_id))
            seen_dm = session.scalar(select(TwitterSeenDM.message_id).where(
                TwitterSeenDM.twitter_accounts_id == int(self.account.id))
                .order_by(TwitterSeenDM.id.desc()))
        return f"{seen_tweet or '?'}/{seen_dm or '?'}"

    def recv_messages(self, watermark):
        """Mentions after the watermark, then direct messages after it, each oldest first; a
        part without its baseline yet gets it (a marker message, nothing to relay)."""
        if not self.reading():
            return []
        try:
            return self._receive(watermark)
        except client.Refused as error:  # a plan without reads, a token without DM access
            raise TryLater(f"X refuses reading ({error.code}: {error}); if the instance's X "
                           "plan does not include reading, set read_mentions = false (and "
                           "read_direct_messages)", delay=900.0) from None

    def _receive(self, watermark):
        began = time.monotonic()
        mention, message = cursors(watermark)
        if not self.username:  # version 2 kept no handle: learnt once, while reading anyway
            self._learn_handle()
        found = []
        if self.options.read_mentions and mention == "?":
            newest = self._call("receiving", "get_users_mentions", self.me, max_results=5,
                                user_auth=True)
            mention = (newest.meta or {}).get("newest_id") or "-"
            found.append(Incoming("mark", mention, "", 0, None, False, None, ""))
        elif self.options.read_mentions:
            for tweet in self._mentions(None if mention in ("-", "?") else mention, began):
                mention = str(tweet.id)
                found.append(Incoming("tweet", str(tweet.id), tweet.text or "",
                                      int(tweet.author_id or 0),
                                      _int(tweet.in_reply_to_user_id), _repost(tweet),
                                      _epoch(tweet.created_at), ""))
        for item in found:
            item.cursor = f"{item.id if item.kind == 'tweet' else mention}/{message}"
        if self.options.read_direct_messages and message == "?":
            newest = self._call("receiving", "get_direct_message_events", max_results=1,
                                event_types="MessageCreate")
            message = str(newest.data[0].id) if newest.data else "-"
            found.append(Incoming("mark", message, "", 0, None, False, None,
                                  f"{mention}/{message}"))
        elif self.options.read_direct_messages:
            for event in self._messages(None if message in ("-", "?") else message, began):
                found.append(Incoming("dm", str(event.id), event.text or "",
                                      int(event.sender_id or 0), None, False,
                                      _epoch(event.created_at), f"{mention}/{event.id}"))
        return found

    def _learn_handle(self) -> None:
        me = self._call("receiving", "get_me").data
        self.username = me.username
        with self.sessions.begin() as session:
            session.merge(TwitterHandle(account_id=int(self.account.id), x_user_id=self.me,
                                        username=me.username))

    def _in_time(self, began: float) -> None:
        """Pages are read newest first: a receive cut short would skip the older ones, so one
        that takes too long is given up whole (and tried again)."""
        if time.monotonic() - began > self.receive_budget:
            raise TryLater("X answered too slowly to read every page", delay=None)

    def _mentions(self, since: str | None, began: float) -> list:
        """Every mention after `since` (X gives the newest page first), oldest first."""
        tweets, token = [], None
        for _ in range(MENTION_PAGES):
            self._in_time(began)
            page = self._call("receiving", "get_users_mentions", self.me, since_id=since,
                              max_results=100, pagination_token=token,
                              tweet_fields=TWEET_FIELDS, user_auth=True)
            tweets += page.data or []
            token = (page.meta or {}).get("next_token")
            if not token:
                break
        return sorted(tweets, key=lambda t: int(t.id))

    def _messages(self, since: str | None, began: float) -> list:
        """Direct messages to the account after `since` (no since_id on X: newest pages until
        the last one handled), oldest first."""
        events, token = [], None
        for _ in range(DM_PAGES):
            self._in_time(began)
            page = self._call("receiving", "get_direct_message_events",
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
        if item.kind == "mark":
            return None  # a baseline: nothing to relay
        if item.author_id == self.me:
            return Refused("a post of the city's own account")
        if item.repost:
            return Refused("a repost of a post that mentions the account")
        if (item.kind == "tweet" and item.in_reply_to not in (None, self.me) and self.username
                and not text.addressed_in_body(item.text, self.username)):
            # X puts the handles of everyone in a thread in front of a reply: the account is
            # only part of the thread, the post is not addressed to it. (A reply to one of the
            # account's own posts is: riders answer a warning with "still there".)
            return Refused("a reply in a thread the account is part of, not addressed to it")
        age = time.time() - item.created if item.created else 0
        if age > self.options.max_age * 60:
            return Refused(f"too old to relay (written {int(age // 60)} minutes before it was "
                           "read)")
        return Report(text=text.report_text(item.text))

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
            self._call("sending", "retweet", tweet_id)
        except client.Refused as error:
            if error.code == 404:  # deleted by its author meanwhile: their choice
                log.info("report %s: the mention is gone, not reposted", report.id)
                return
            self._post(report)  # the author blocked the account, …: its text instead

    def _post(self, report: Report) -> None:
        """A new post. X refuses the same text twice: after an earlier attempt of this
        delivery (a crash between post and mark) that is our own post, when it is among the
        account's last ones (or cannot be read); else the text goes out with a variation."""
        wanted = text.fit(report.text)
        tried_before = "post" in self.reached(report)
        self.mark_reached(report, "post")  # before the request: a crash after it is known
        for attempt in range(3):
            self.beat()
            body = wanted if attempt == 0 else text.variation(report.text, attempt)
            try:
                self._call("sending", "create_tweet", text=body)
                return
            except client.Refused as error:
                if account_refused(error):
                    raise CredentialsRefused(f"X refuses the account's posts ({error.code}: "
                                             f"{error}): connect the account again, allowing "
                                             "Ticketfrei to post") from None
                if not error.duplicate:
                    raise Undeliverable(report, f"X refuses this post ({error.code}): "
                                                f"{error}") from None
                if attempt == 0 and tried_before and self._posted_lately(wanted):
                    log.info("report %s was posted already (X refused it again)", report.id)
                    return
        raise Undeliverable(report, "X refuses this post as a duplicate")

    def _posted_lately(self, body: str) -> bool:
        """Whether one of the account's last posts has this text (links as X shortened them
        are left out of the comparison). Where mentions may not be read, it is taken as ours."""
        if not self.options.read_mentions:
            return True
        try:
            page = self._call("sending", "get_users_tweets", self.me, max_results=10,
                              user_auth=True)
        except (client.Refused, TryLater, OSError) as error:
            log.info("the account's last posts could not be read: %s", type(error).__name__)
            return True  # most likely ours: an earlier attempt of this very delivery
        return any(_plain(t.text) == _plain(body) for t in page.data or [])


def account_refused(error: client.Refused) -> bool:
    """A 403 about the account, not the post: an app authorised without the right to post,
    a suspended or locked account."""
    detail = str(error).lower()
    return (error.code == 403 and ((error.problem or "").endswith("oauth1-permissions")
                                   or "suspended" in detail or "locked" in detail))


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _epoch(value) -> float | None:
    try:
        return value.timestamp() if value is not None else None
    except (AttributeError, ValueError, OSError):
        return None


def _repost(tweet) -> bool:
    return any(getattr(r, "type", None) == "retweeted" or (isinstance(r, dict) and
               r.get("type") == "retweeted") for r in tweet.referenced_tweets or [])


def _plain(body: str) -> str:
    """A post's text for comparing: X escapes &, < and > in it and shortens its links."""
    return " ".join(text.URL.sub("", html.unescape(body or "")).split())
