"""The instance's own outgoing mail: through the configured SMTP relay, or into the log.

Used for sign-up confirmations and password resets (and by the mail bot for reports). Reads the
`[mail]` settings; touches no database.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

log = logging.getLogger(__name__)


class MailError(Exception):
    """The relay could not take the mail; nothing was sent."""


def message(settings, to: str, subject: str, body: str, sender: str | None = None,
            headers: dict | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender or f"{settings.instance.name} <{settings.mail.sender}>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=settings.mail.sender.rpartition("@")[2] or None)
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    return mail


def send(settings, mail: EmailMessage) -> None:
    """Hand one mail to the relay, or log it when none is configured (the README demo)."""
    relay = settings.mail
    if not relay.relay_host:
        log.info("no mail relay configured; mail to %s: %s\n%s", mail["To"], mail["Subject"],
                 mail.get_content())
        return
    try:
        context = ssl.create_default_context(cafile=relay.relay_ca_file or None)
        if relay.relay_security == "tls":
            client = smtplib.SMTP_SSL(relay.relay_host, relay.relay_port, timeout=30,
                                      context=context)
        else:
            client = smtplib.SMTP(relay.relay_host, relay.relay_port, timeout=30)
        with client:
            if relay.relay_security == "starttls":
                client.starttls(context=context)
            if relay.relay_user:
                client.login(relay.relay_user, relay.relay_password)
            client.send_message(mail)
    except (OSError, smtplib.SMTPException) as error:
        log.warning("the mail relay did not take a mail: %s", error)
        raise MailError(str(error)) from error
