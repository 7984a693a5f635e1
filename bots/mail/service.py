"""The instance's SMTP server (aiosmtpd), one process for all cities.

It accepts a recipient only when it is <city>@<domain> of a city whose mailing list is on
(550 for anything else: no open relay), refuses mails over the size limit (552), and answers
250 only once the mail is stored in mail_inbox, so an accepted mail is never lost. The city's
mail bot takes it from there. Touches cities (read) and mail_inbox (write).

Each RCPT costs a database look-up and each accepted recipient a stored copy of the mail: a
message takes at most MAX_RECIPIENTS recipients, a connection at most MAX_RCPT_PER_SESSION RCPT
commands (accepted or not); beyond, RCPT is answered 452 (RFC 5321, 4.5.3.1.10), and a client
sends the recipients left over in another transaction or connection.
"""
from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import time

from aiosmtpd.controller import Controller

import config
import db
import process
import user

from .bot import MailBot, mail_enabled, trace_header
from .db import MailInbox

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 10
MAX_RCPT_PER_SESSION = 20
TOO_MANY = "452 4.5.3 Too many recipients"


class Inbox:
    """aiosmtpd handler: recipients are cities; DATA is stored before it is acknowledged."""

    def __init__(self, sessions, domain: str, stored=lambda city_ids: None):
        self.sessions = sessions
        self.domain = domain.lower()
        self.stored = stored  # told the cities of each stored mail, after it is committed

    def _city_id(self, recipient: str) -> int | None:
        local, _, domain = recipient.lower().rpartition("@")
        if domain != self.domain or not local:
            return None
        with self.sessions() as session:
            city = user.find_city(session, local)
            if (city is None or not city.enabled or city.reserved
                    or not mail_enabled(session, city.id)):
                return None
            return city.id

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        session.ticketfrei_rcpts = getattr(session, "ticketfrei_rcpts", 0) + 1
        if (session.ticketfrei_rcpts > MAX_RCPT_PER_SESSION
                or len(envelope.rcpt_tos) >= MAX_RECIPIENTS):
            return TOO_MANY
        loop = asyncio.get_running_loop()
        try:
            city_id = await loop.run_in_executor(None, self._city_id, address)
        except Exception:
            log.exception("could not look the recipient up")
            return "451 4.3.0 Please try again later"
        if city_id is None:
            return "550 5.1.1 No such city here"
        envelope.rcpt_tos.append(address)
        envelope.city_ids = getattr(envelope, "city_ids", []) + [city_id]
        return "250 OK"

    def _store(self, city_ids: list[int], raw: bytes) -> None:
        with self.sessions.begin() as session:
            for city_id in dict.fromkeys(city_ids):
                # Each stored copy gets an id of its own: its report's id (bot.mail_id).
                session.add(MailInbox(city_id=city_id, raw=trace_header(self.domain) + raw,
                                      received_at=time.time()))
        self.stored(list(dict.fromkeys(city_ids)))

    async def handle_DATA(self, server, session, envelope):
        if envelope.mail_from in ("", "<>"):
            # A bounce (null sender, RFC 5321): it is about a mail we sent, never a report.
            log.info("a bounce (null sender) was discarded")
            return "250 OK: bounce discarded"
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, self._store, getattr(envelope, "city_ids", []), raw)
        except Exception:
            log.exception("could not store a mail")
            return "451 4.3.0 Please try again later"
        log.info("stored a mail for %d city(s)", len(set(getattr(envelope, "city_ids", []))))
        return "250 OK: stored"


def run(ctx: process.Context) -> None:
    options = MailBot.options  # set by bots.load() in service_process
    # aiosmtpd logs every command, envelope sender included: reporters must not be named.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    tls = None
    if options.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(options.tls_cert, options.tls_key or None)
    def stored(city_ids):  # each city's mail bot receives now instead of polling its table
        for city_id in city_ids:
            process.receive_now(ctx, city_id, "mail", str(city_id))

    controller = Controller(Inbox(db.open_sessions(ctx.settings), options.domain, stored),
                            hostname=options.listen_host, port=options.listen_port,
                            data_size_limit=options.max_size, tls_context=tls,
                            ident="Ticketfrei", server_hostname=options.domain)
    controller.start()
    # "for the domain": "*@domain" would read as an address, which the log redacts
    log.info("SMTP on %s:%s for the domain %s", options.listen_host, options.listen_port,
             options.domain)
    # The heartbeat proves the listener answers: an SMTP round trip to ourselves (banner 220,
    # NOOP 250, QUIT) every quarter of the heartbeat timeout; a beat only when it all came. A
    # stuck event loop or a dead controller thread then stops the beats, and main restarts
    # this process. A check waits up to half the heartbeat timeout (a slow answer still
    # counts). aiosmtpd's log (mail.log) is silenced, so the checks are not logged.
    own = config.own_address(options.listen_host)
    check_timeout = max(1.0, ctx.settings.supervisor.heartbeat_timeout / 2)
    check_every = max(1.0, ctx.settings.supervisor.heartbeat_timeout / 4)
    while True:
        try:
            # local_hostname: smtplib would otherwise look our FQDN up in the DNS each time.
            with smtplib.SMTP(own, options.listen_port, local_hostname="localhost",
                              timeout=check_timeout) as client:
                answered = client.noop()[0] == 250
            if answered:  # QUIT went through as well
                process.beat(ctx)
        except (OSError, smtplib.SMTPException):
            pass
        time.sleep(check_every)
