"""The Mastodon bot of one city account: mentions of the account (public, unlisted, private and
direct) become reports; accepted reports are posted as statuses, and a public or unlisted
mention this account received is boosted instead (its author chose to be public).

Talks to the instance only through Mastodon.py (client.py). Touches its own tables
(db.py: version 2's mastodon_accounts and mastodon_instances, and version 3's handles and city
choices). A report never names who sent the mention: the text is the status's text without
the mention of this account, and no log line names an author.
"""
from __future__ import annotations

import hashlib
import logging
import re
import time

from mastodon import MastodonError
from sqlalchemy import delete, event, select

import db
from bots import Account, Bot, Refused, Report, TryLater, Undeliverable
from config import Setting

from . import client, text
from .db import (MastodonAccount, MastodonCity, MastodonHandle, MastodonInstance, MastodonMention,
                 MastodonSeenToot)

log = logging.getLogger(__name__)

PAGE = 40          # mentions per request (Mastodon's default page)
PAGES_PER_POLL = 5  # the rest waits for the next poll: one poll never takes long
VISIBILITIES = ("public", "unlisted")
MENTIONS_KEPT = 7 * 86400  # seconds a received mention's local id is kept for its boost


def account_rows(session, city_id: int | None = None, active_only: bool = True):
    """(account row, city id, base URL, handle) of connected accounts."""
    query = (select(MastodonAccount, db.City.id, MastodonInstance.instance, MastodonHandle.acct)
             .join(db.City, db.City.user_id == MastodonAccount.user_id)
             .join(MastodonInstance, MastodonInstance.id == MastodonAccount.instance_id)
             .outerjoin(MastodonHandle, MastodonHandle.account_id == MastodonAccount.id)
             .order_by(MastodonAccount.id))
    if active_only:
        query = query.where(MastodonAccount.active != 0)
    if city_id is not None:
        query = query.where(db.City.id == city_id)
    return [(row, city, instance_base(instance), handle)
            for row, city, instance, handle in session.execute(query)]


def instance_base(instance: str | None) -> str:
    """The base URL of a mastodon_instances row: version 2 kept the address as typed."""
    try:  # the operator's database: its instances are not checked for being public
        return client.base_url(instance or "", private=True)
    except client.AddressError:
        return "https://" + (instance or "").strip().split("://", 1)[-1].strip("/")


def revoke(instance, token: str | None, timeout: float) -> None:
    """Revoke the token where we can (an app of ours made it); the account is forgotten anyway."""
    if instance is None or not token or not instance.client_secret:
        return
    base = instance_base(instance.instance)
    try:
        client.api(base, timeout, token, instance.client_id, instance.client_secret
                   ).revoke_access_token(allow_http=client.plain_http(base))
    except (MastodonError, OSError, ValueError) as error:
        log.info("the instance did not revoke the token: %s", type(error).__name__)


def status_key(status) -> str:
    """The key a mention's report is stored under: the status's URI, which names it on every
    instance (a status that mentions two accounts of a city is one report); hashed when it is
    too long for the column (a remote server chooses it)."""
    uri = str(status.get("uri") or "")
    if uri and len(uri) <= 200:
        return uri
    return "sha256:" + hashlib.sha256(uri.encode("utf-8", "replace")).hexdigest()


def _id_order(notification) -> tuple:
    """Mastodon's ids are numbers in text, GoToSocial's ULIDs: both sort by length, then text."""
    return len(str(notification.id)), str(notification.id)


# A mention in a text: "@user" or "@user@instance" (not an e-mail address's @).
MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_](?:[\w.-]*\w)?(?:@[\w.-]+\w)?")
LEADING_MENTIONS = re.compile(rf"^(?:\s*{MENTION.pattern})+[\s:,]*")


def without_authors(body: str, visibility: str) -> str:
    """A mention's text as a report: the run of mentions a reply starts with (the thread's
    people) goes, and in a private or direct message every mention (whom else it was sent to)."""
    body = LEADING_MENTIONS.sub("", body)
    if visibility in ("private", "direct"):
        body = MENTION.sub("", body)
    return re.sub(r"[ \t]{2,}", " ", body).strip()


def unmentioned(report_text: str) -> str:
    """Text to post: "@name" written so that Mastodon links and notifies nobody (a report
    must not ping people, nor another city's account and so loop back as a report)."""
    return MENTION.sub(lambda m: "@\u200b" + m.group(0)[1:], report_text)


def visibility(session, city_id: int) -> str:
    row = session.get(MastodonCity, city_id)
    return row.visibility if row is not None and row.visibility in VISIBILITIES else "public"


class MastodonBot(Bot):
    broadcasts_own_reports = True  # a mention this account received is boosted by it
    option_keys = {
        "poll_interval": Setting(10.0, "float", "seconds between two looks at an account's "
                                 "mentions (Mastodon allows 300 requests in 5 minutes)",
                                 minimum=1.0),
        "timeout": Setting(20.0, "float", "seconds a request to an instance may take",
                           minimum=1.0, maximum=50.0),
        "app_name": Setting("Ticketfrei", help="the app's name organisers see on their instance"),
        "private_instances": Setting(False, "bool", "organisers may connect instances on this "
                                     "machine or its private networks (tests, an instance of "
                                     "your own); off, a connect form cannot reach them"),
    }

    def __init__(self, account, settings, sessions):
        super().__init__(account, settings, sessions)
        self.poll_interval = self.options.poll_interval

    # --- accounts --------------------------------------------------------------------------
    @classmethod
    def accounts(cls, session, city_id=None):
        return [Account(city, str(row.id), handle or base.split("://", 1)[-1])
                for row, city, base, handle in account_rows(session, city_id)]

    @classmethod
    def deactivate(cls, session, account, reason):
        row = session.get(MastodonAccount, int(account.id))
        if row is not None:
            row.active = 0

    @classmethod
    def forget_city(cls, session, city_id, user_id):
        tokens = [(session.get(MastodonInstance, row.instance_id), row.access_token)
                  for row in session.scalars(select(MastodonAccount).where(
                      MastodonAccount.user_id == user_id))]
        if tokens:  # once the city is gone for good, and with no transaction open meanwhile
            event.listen(session, "after_commit",
                         lambda _: [revoke(*pair, cls.options.timeout) for pair in tokens],
                         once=True)
        ids = select(MastodonAccount.id).where(MastodonAccount.user_id == user_id)
        for model in (MastodonHandle, MastodonMention):
            session.execute(delete(model).where(model.account_id.in_(ids)))
        for model in (MastodonAccount, MastodonSeenToot):
            session.execute(delete(model).where(model.user_id == user_id))
        session.execute(delete(MastodonCity).where(MastodonCity.city_id == city_id))

    @classmethod
    def panel(cls, session, city):
        rows = account_rows(session, city.id, active_only=False)
        return dict(connected=[dict(id=str(row.id), handle=handle or base, base=base,
                                    active=bool(row.active)) for row, _, base, handle in rows],
                    visibility=visibility(session, city.id))

    # --- the bot process ---------------------------------------------------------------------
    def start(self):
        with self.sessions() as session:
            row = session.get(MastodonAccount, int(self.account.id))
            instance = session.get(MastodonInstance, row.instance_id)
            handle = session.get(MastodonHandle, row.id)
            self.base = instance_base(instance.instance)
            self.host = self.base.split("://", 1)[-1]
            token, self.user_id = row.access_token, row.user_id
            self.own = {h for h in (handle and handle.acct, handle and handle.url) if h}
            # The city's other accounts: a status mentioning two of them is relayed by one
            # (status_key), and the other's mention is not part of the report either.
            self.city_accounts = {h.lstrip("@") for acct, url in session.execute(
                select(MastodonHandle.acct, MastodonHandle.url).join(
                    MastodonAccount, MastodonAccount.id == MastodonHandle.account_id).where(
                    MastodonAccount.user_id == row.user_id)) for h in (acct, url) if h}
        # One client each for the receive thread and the main thread: a requests session is
        # not made for two threads.
        self.receiving = client.api(self.base, self.options.timeout, token)
        self.sending = client.api(self.base, self.options.timeout, token)
        self.max_characters = None

    def first_watermark(self):
        try:
            self._learn_handle()
            self._accept_private_mentions()
            return self._start_after()
        except client.Refused as error:
            raise TryLater(f"the instance refused the mentions ({error.code}): {error}",
                           delay=None) from None

    def _start_after(self) -> str:
        """After the newest mention, so that old ones are not replayed; "0" for an account
        with none yet (its first mention, even one sent while we are down, is relayed). A
        version 2 account begins after the newest mention version 2 handled (`seen_toots`),
        looking back at most PAGES_PER_POLL pages: what came while it was stopped is relayed."""
        page = client.call(self.receiving, "notifications", types=["mention"], limit=PAGE)
        if not page:
            return "0"
        newest = str(max(page, key=_id_order).id)
        with self.sessions() as session:
            seen = set(session.scalars(select(MastodonSeenToot.toot_uri).where(
                MastodonSeenToot.user_id == self.user_id)))
        for _ in range(PAGES_PER_POLL if seen else 0):
            for notification in sorted(page, key=_id_order, reverse=True):
                if notification.status is not None and notification.status.uri in seen:
                    return str(notification.id)
            page = client.call(self.receiving, "notifications", types=["mention"], limit=PAGE,
                               max_id=str(min(page, key=_id_order).id))
            if not page:
                break
        return newest

    def _learn_handle(self) -> None:
        """Who this account is: its mentions are taken out of reports, and its @user@instance
        is shown (version 2 kept no handle: its accounts learn it here)."""
        me = client.call(self.receiving, "account_verify_credentials")
        self.own |= {me.acct, me.url, f"{me.acct}@{self.host}"}
        with self.sessions.begin() as session:
            session.merge(MastodonHandle(account_id=int(self.account.id),
                                         acct=f"@{me.username}@{self.host}", url=me.url))

    def _accept_private_mentions(self) -> None:
        """Mastodon 4.3 holds back direct mentions from accounts we do not follow (the
        notification policy "filter"): reports by direct message are what a city wants."""
        try:
            client.call(self.receiving, "update_notifications_policy",
                        for_private_mentions="accept")
        except (client.Refused, OSError) as error:  # older instances have no policy
            log.info("the instance keeps its notification policy: %s", error)

    def recv_messages(self, watermark):
        """Mentions after the watermark, oldest first: `min_id` pages forward from it."""
        try:
            if not self.own:
                self._learn_handle()
            found, cursor = [], watermark or "0"
            for _ in range(PAGES_PER_POLL):
                page = sorted(client.call(self.receiving, "notifications", types=["mention"],
                                          min_id=cursor, limit=PAGE), key=_id_order)
                if not page:
                    break
                found += [n for n in page if n.type == "mention" and n.status is not None]
                cursor = str(page[-1].id)
                if len(page) < PAGE:
                    break
            return found
        except client.Refused as error:  # the instance refuses the list for now: not a bug
            raise TryLater(f"the instance refused the mentions ({error.code}): {error}",
                           delay=None) from None

    def watermark(self, notification):
        return str(notification.id)

    def message_id(self, notification):
        # Status ids are the instance's own: qualified, for a city with two instances.
        return f"{self.host}/{notification.status.id}"

    def read(self, notification):
        status = notification.status
        if status.account.acct in self.own or status.account.url in self.own:
            return Refused("a post of the city's own account")
        body = without_authors(text.plain_text(status.content or "",
                                               self.own | self.city_accounts),
                               status.visibility)
        warning = (status.spoiler_text or "").strip()
        return Report(text=f"{warning}\n\n{body}".strip() if warning else body,
                      network_message_id=status_key(status))

    def handled(self, session, notifications):
        """Where each mention is on this instance, in the transaction storing its report: the
        boost needs the local id, the report only has the status's URI."""
        now = time.time()
        session.execute(delete(MastodonMention).where(
            MastodonMention.account_id == int(self.account.id),
            MastodonMention.received_at < now - MENTIONS_KEPT))
        for notification in notifications:
            session.merge(MastodonMention(account_id=int(self.account.id),
                                          key=status_key(notification.status),
                                          status_id=str(notification.status.id)[:100],
                                          received_at=now))

    def send_messages(self, reports):
        with self.sessions() as session:  # once a batch: the city's choice of visibility
            city_visibility = visibility(session, self.account.city_id)
        for report in reports:
            self.beat()
            if report.network == self.name and report.account_id == self.account.id:
                self._boost_or_post(report, city_visibility)
            else:
                self._post(report, city_visibility)
            self.mark_delivered(report)

    def _boost_or_post(self, report: Report, city_visibility: str) -> None:
        """A mention this account received: boosted if its author made it public or unlisted,
        else (private, direct) re-published as a status of the city, without its author."""
        with self.sessions() as session:
            status_id = session.scalar(select(MastodonMention.status_id).where(
                MastodonMention.account_id == int(self.account.id),
                MastodonMention.key == report.network_message_id))
        if status_id is None:  # received more than a week ago: its text is posted
            self._post(report, city_visibility)
            return
        try:
            status = client.call(self.sending, "status", status_id)
        except client.Refused:  # deleted by its author meanwhile: nothing to boost
            log.info("report %s: the mention is gone, not boosted", report.id)
            return
        # Boosted only as the censor saw it: public or unlisted, not edited since, no media
        # (a photo may show faces) and no poll; else its text is posted.
        if (status.visibility in VISIBILITIES and not status.get("edited_at")
                and not status.get("media_attachments") and not status.get("poll")):
            try:
                client.call(self.sending, "status_reblog", status_id,
                            visibility=city_visibility)
                return
            except client.Refused as error:  # the author blocked the account, …
                log.info("report %s could not be boosted (%s): posted instead", report.id,
                         error.code)
        self._post(report, city_visibility)

    def _post(self, report: Report, city_visibility: str) -> None:
        limit = self._max_characters()
        try:
            client.call(self.sending, "status_post", text.fit(unmentioned(report.text), limit),
                        visibility=city_visibility, idempotency_key=report.idempotency_key)
        except client.Refused as error:
            raise Undeliverable(report, f"the instance refuses this post ({error.code}): "
                                        f"{error}") from None

    def _max_characters(self) -> int:
        """The instance's limit for a status (500 on mastodon.social; others allow more)."""
        if self.max_characters is None:
            try:
                info = client.call(self.sending, "instance_v2")
                self.max_characters = int(info.configuration.statuses.max_characters)
            except (client.Refused, AttributeError, TypeError, ValueError):
                self.max_characters = 500  # an instance without v2: Mastodon's default
        return self.max_characters
