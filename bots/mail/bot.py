"""The mail bot of one city: turns mails the SMTP service stored into reports, answers the
subscribe and unsubscribe commands, and mails every accepted report to the city's confirmed
subscribers through the instance's relay (mailer.py).

Reports never carry the sender: a stored mail is deleted in the transaction that stores its
report, and no log line names an address a report came from.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from email.utils import formatdate
from urllib.parse import quote

from sqlalchemy import delete, func, select

import db
import mailer
import user
from bots import Account, Bot, Refused, Report, TryLater
from config import Setting

from . import parse
from .db import MailCity, MailInbox, MailSubscriber, V2MailingList, subscribers_with

log = logging.getLogger(__name__)

SUBSCRIBE_TTL = 7 * 24 * 3600


def address(city: str, domain: str) -> str:
    return f"{city.lower()}@{domain}"


def subscribe_token(secret: bytes, city_id: int, email: str) -> str:
    return user.make_token(secret, "mail-subscribe", f"{city_id}:{email}", SUBSCRIBE_TTL)


def unsubscribe_token(secret: bytes, city_id: int, email: str) -> str:
    # Never expires: an unsubscribe link in an old mail must keep working.
    return user.make_token(secret, "mail-unsubscribe", f"{city_id}:{email}", None)


# The trace header the SMTP service puts on top of every mail it stores: its id names the mail
# for good (ids of deleted mail_inbox rows may be used again).
_TRACE = re.compile(rb"^Received: by [^ ]+ \(Ticketfrei\) id ([0-9a-f]{32});")


def trace_header(domain: str) -> bytes:
    """The first line of a stored mail, as an MTA adds one: `... id <unique id>; <date>`."""
    return (f"Received: by {domain} (Ticketfrei) id {uuid.uuid4().hex}; "
            f"{formatdate(usegmt=True)}\r\n").encode("ascii")


def mail_id(row) -> str:
    """The report id of a stored mail: unique for good, the same each time the mail is read."""
    found = _TRACE.match(row.raw[:200])
    if found:
        return "mail-" + found.group(1).decode("ascii")
    return f"mail-{row.id}-{row.received_at!r}"  # stored before the trace header existed


def mail_enabled(session, city_id: int) -> bool:
    row = session.get(MailCity, city_id)
    return row is None or bool(row.enabled)


# Mail that anyone can make the instance send to any address (a confirmation asked for on the
# city page or by mail, an unsubscribe link asked for by mail): at most MAILS_PER_ADDRESS an
# hour to one address, all kinds and all cities together.
MAILS_PER_ADDRESS = 3
MAIL_WINDOW = 3600.0


def mail_allowed(session, secret: bytes, email: str) -> bool:
    """Count one list mail asked for to `email`; False once the address had its share this
    hour (the caller commits)."""
    return user.allow(session, "mail-list:to:" + user.limit_digest(secret, email.lower()),
                      MAILS_PER_ADDRESS, MAIL_WINDOW)


def client_allowed(session, secret: bytes, client: str, limit: int) -> bool:
    """Count one request of a web client (its address or network) that makes us send mail."""
    return user.allow(session, "mail-list:from:" + user.limit_digest(secret, client), limit,
                      MAIL_WINDOW)


def send_confirmation(settings, secret: bytes, city: db.City, email: str,
                      headers: dict | None = None) -> None:
    """The double opt-in mail: subscribing needs a click on its link."""
    token = subscribe_token(secret, city.id, email)
    link = f"{settings.web.base_url}/bots/mail/confirm?token={quote(token)}"
    mailer.send(settings, mailer.message(
        settings, email, f"Confirm your subscription to Ticketfrei {city.name.capitalize()}",
        f"Someone, perhaps you, asked to receive the reports of Ticketfrei "
        f"{city.name.capitalize()} by mail. Follow this link to confirm:\n\n{link}\n\n"
        "If you did not ask for this, ignore this mail.\n",
        sender=_from(settings, city.name), headers=headers))


def unsubscribe_link(settings, secret: bytes, city_id: int, email: str) -> str:
    return (f"{settings.web.base_url}/bots/mail/unsubscribe?token="
            + quote(unsubscribe_token(secret, city_id, email)))


def send_unsubscribe_link(settings, secret: bytes, city: db.City, email: str) -> None:
    """The answer to `unsubscribe` by mail, to a subscribed address only: the sender of a
    mail can be forged, so leaving takes a click on the link, as in every list mail."""
    link = unsubscribe_link(settings, secret, city.id, email)
    mailer.send(settings, mailer.message(
        settings, email, f"Unsubscribe from Ticketfrei {city.name.capitalize()}",
        f"Someone, perhaps you, asked to stop receiving the reports of Ticketfrei "
        f"{city.name.capitalize()} by mail. Follow this link to unsubscribe:\n\n{link}\n\n"
        "If you did not ask for this, ignore this mail: you stay subscribed.\n",
        sender=_from(settings, city.name),
        headers={"Auto-Submitted": "auto-replied", "List-Unsubscribe": f"<{link}>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}))


def _from(settings, city: str) -> str:
    return f"Ticketfrei {city.capitalize()} <{address(city, MailBot.options.domain)}>"


class MailBot(Bot):

    broadcasts_own_reports = True  # a mail to the city goes to the city's subscribers too
    option_keys = {
        "domain": Setting("localhost", help="a city's address is <city>@<domain>"),
        "listen_host": Setting("127.0.0.1", help="address the SMTP service listens on"),
        "listen_port": Setting(2525, "int", "port the SMTP service listens on", minimum=1,
                               maximum=65535),
        "max_size": Setting(1024 * 1024, "int", "larger mails are refused (552)", minimum=1024),
        "tls_cert": Setting("", help="certificate file: offer STARTTLS"),
        "tls_key": Setting("", help="key file of tls_cert"),
        "max_bounces": Setting(3, "int", "permanent failures before an address is dropped",
                               minimum=1),
        "retry_delay": Setting(60.0, "float", "seconds before mail the relay refused for now "
                                              "is tried again", minimum=0.1),
        # The inbox is a local table the SMTP service fills; it tells this bot of each stored
        # mail (process.receive_now), so looking is only the safety net (news dropped by a
        # full pipe): hundreds of idle cities do not query the database every second.
        "poll_interval": Setting(30.0, "float", "seconds between two looks into the stored "
                                               "mail when no news came", minimum=0.1),
    }

    def __init__(self, account, settings, sessions):
        super().__init__(account, settings, sessions)
        self.poll_interval = self.options.poll_interval
        self._city = None
        self._later: dict[int, float] = {}  # stored mails to read again only at that time
        self._counted: set[int] = set()  # stored commands already counted by mail_allowed

    # --- accounts ------------------------------------------------------------------------
    @classmethod
    def accounts(cls, session, city_id=None):
        off = set(session.scalars(select(MailCity.city_id).where(MailCity.enabled.is_(False))))
        return [Account(c.id, str(c.id), address(c.name, cls.options.domain))
                for c in user.list_cities(session)
                if city_id in (None, c.id) and c.id not in off and not c.reserved]

    @classmethod
    def deactivate(cls, session, account, reason):
        row = session.get(MailCity, account.city_id) or MailCity(city_id=account.city_id,
                                                                 v2_imported=False)
        row.enabled = False
        session.add(row)

    @classmethod
    def forget_city(cls, session, city_id, user_id):
        for model in (MailSubscriber, MailInbox, MailCity):
            session.execute(delete(model).where(model.city_id == city_id))

    @classmethod
    def panel(cls, session, city):
        active, dropped = subscriber_counts(session, city.id)
        return dict(on=mail_enabled(session, city.id), active=active, dropped=dropped,
                    list_address=address(city.name, cls.options.domain))

    def start(self):
        """Version 2's confirmed subscribers become ours, once: a later unsubscribe sticks."""
        with self.sessions.begin() as session:
            switch = session.get(MailCity, self.account.city_id)
            if switch is None:
                switch = MailCity(city_id=self.account.city_id, enabled=True, v2_imported=False)
                session.add(switch)
            if switch.v2_imported:
                return
            city = session.get(db.City, self.account.city_id)
            known = {email.lower() for email in session.scalars(select(MailSubscriber.email)
                                                                 .where(MailSubscriber.city_id == city.id))}
            taken = 0
            for email in session.scalars(select(V2MailingList.email).where(
                    V2MailingList.user_id == city.user_id)):
                email = (email or "").strip()
                if user.EMAIL.match(email) and email.lower() not in known:
                    session.add(MailSubscriber(city_id=city.id, email=email))
                    known.add(email.lower())
                    taken += 1
            switch.v2_imported = True
        if taken:
            log.info("took over %d subscriber(s) of version 2's mailing list", taken)

    # --- receiving -----------------------------------------------------------------------
    # Each stored mail is read on its own (Bot.read): one that cannot be read, or whose
    # confirmation the relay does not take for now, holds up no other.
    def recv_messages(self, watermark):
        now = time.monotonic()
        later = [row_id for row_id, at in self._later.items() if at > now]
        with self.sessions() as session:
            self._city = session.get(db.City, self.account.city_id)
            # A few at a time: a stored mail may be up to max_size.
            return session.scalars(select(MailInbox).where(
                MailInbox.city_id == self.account.city_id, MailInbox.id.not_in(later))
                .order_by(MailInbox.id).limit(10)).all()

    def message_id(self, row):
        return mail_id(row)

    def read(self, row):
        mail = parse.parse(row.raw)
        sender = parse.sender(mail)
        own = address(self._city.name, self.options.domain)
        if sender is not None and sender.lower() == own.lower():
            return Refused("a mail from the city's own address")  # relaying it would loop
        if parse.is_automatic(mail):
            return Refused("an automatic mail (a bounce or an auto-reply)")
        action = parse.command(mail)
        if action:
            self._command(row, action, sender)
            return None
        return Report(text=parse.report_text(mail))

    def _command(self, row, action: str, sender: str | None) -> None:
        """subscribe: a confirmation link to the sender. unsubscribe: the unsubscribe link to
        the sender if it is subscribed, else nothing (the sender may be forged: neither
        answer nor log line tells whether an address is subscribed). Either counts against
        the address's mails per hour (mail_allowed), subscribed or not; over it, the command
        is dropped."""
        if sender is None or len(sender) > user.MAX_EMAIL or not user.EMAIL.match(sender):
            log.info("a command by mail (%s) without a usable sender was dropped", action)
            return
        with self.sessions.begin() as session:
            secret = user.instance_secret(session)
            # Counted once per stored mail, not again when the relay failed for now.
            if row.id not in self._counted:
                if not mail_allowed(session, secret, sender):
                    log.info("a command by mail (%s) was dropped: its address reached its "
                             "limit of %d list mails an hour", action, MAILS_PER_ADDRESS)
                    return
                self._counted.add(row.id)
            answered = action == "subscribe" or subscribers_with(session, self._city.id, sender)
        if not answered:
            log.info("an unsubscribe command by mail was handled")
            return
        try:
            if action == "unsubscribe":
                send_unsubscribe_link(self.settings, secret, self._city, sender)
            else:
                send_confirmation(self.settings, secret, self._city, sender,
                                  headers={"Auto-Submitted": "auto-replied"})
        except mailer.MailError as error:
            if not error.permanent:
                # Only this mail waits; the relay's answer would name the address.
                self._later[row.id] = time.monotonic() + self.options.retry_delay
                raise TryLater(f"the relay did not take the answer to a command by mail "
                               f"({action}) for now", self.options.retry_delay) from None
            log.info("the relay refused the answer to a command by mail (%s) for good",
                     action)
            return
        if action == "unsubscribe":
            log.info("an unsubscribe command by mail was handled")
        else:
            log.info("a subscription by mail is waiting for its confirmation")

    def handled(self, session, rows):
        # The handled mails go, with their senders' addresses, together with their reports.
        session.execute(delete(MailInbox).where(MailInbox.id.in_([row.id for row in rows])))
        for row in rows:
            self._later.pop(row.id, None)
            self._counted.discard(row.id)

    # --- sending -------------------------------------------------------------------------
    def send_messages(self, reports):
        for report in reports:
            self._send_report(report)
            self.mark_delivered(report)

    def _send_report(self, report: Report) -> None:
        with self.sessions.begin() as session:
            city = session.get(db.City, self.account.city_id)
            secret = user.instance_secret(session)
            subscribers = session.scalars(select(MailSubscriber).where(
                MailSubscriber.city_id == city.id, MailSubscriber.dropped.is_(False))).all()
        reached = self.reached(report)  # a broadcast cut off before: not those again
        subscribers = [s for s in subscribers if str(s.id) not in reached]
        for subscriber in subscribers:
            self.beat()  # a long list takes longer than the heartbeat timeout
            mail = self._mail(city, report, subscriber, secret)
            try:
                mailer.send(self.settings, mail)
            except mailer.MailError as error:
                if not error.permanent:
                    raise TryLater(f"the mail relay failed: {error}",
                                   self.options.retry_delay) from error
                self._bounced(subscriber.id, str(error))
            self.mark_reached(report, str(subscriber.id))

    def _mail(self, city, report: Report, subscriber, secret):
        base = self.settings.web.base_url
        unsubscribe = unsubscribe_link(self.settings, secret, city.id, subscriber.email)
        first_line = report.text.strip().splitlines()[0] if report.text.strip() else "report"
        mail = mailer.message(
            self.settings, subscriber.email,
            f"Ticketfrei {city.name.capitalize()}: {first_line[:70]}",
            f"{report.text}\n\n-- \nTicketfrei {city.name.capitalize()}: {base}/city/{city.name}\n"
            f"Unsubscribe: {unsubscribe}\n",
            sender=_from(self.settings, city.name),
            headers={"List-Id": f"Ticketfrei {city.name} <{city.name}.{self.options.domain}>",
                     "List-Unsubscribe": f"<{unsubscribe}>",
                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                     "Auto-Submitted": "auto-generated", "Precedence": "list"})
        # The same Message-ID on a retry lets mail programs drop a duplicate.
        del mail["Message-ID"]
        mail["Message-ID"] = f"<{report.idempotency_key}.{subscriber.id}@{self.options.domain}>"
        return mail

    def _bounced(self, subscriber_id: int, error: str) -> None:
        with self.sessions.begin() as session:
            row = session.get(MailSubscriber, subscriber_id)
            row.bounces += 1
            row.last_error = error[:500]
            if row.bounces >= self.options.max_bounces:
                row.dropped = True
                log.warning("a subscriber address bounced %d times and is dropped", row.bounces)


def subscriber_counts(session, city_id: int) -> tuple[int, list[MailSubscriber]]:
    """(confirmed subscribers being mailed, dropped ones) for the organisers' panel."""
    active = session.scalar(select(func.count()).select_from(MailSubscriber).where(
        MailSubscriber.city_id == city_id, MailSubscriber.dropped.is_(False)))
    dropped = list(session.scalars(select(MailSubscriber).where(
        MailSubscriber.city_id == city_id, MailSubscriber.dropped.is_(True))))
    return active, dropped
