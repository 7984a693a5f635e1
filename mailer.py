"""The instance's own outgoing mail: through the configured SMTP relay, or into the log.

Used for sign-up confirmations and password resets (and by the mail bot for reports). Reads the
`[mail]` settings; touches no database.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

log = logging.getLogger(__name__)

# Headers such as List-Unsubscribe hold long URLs that must stay on one line: the default
# 78 characters would fold them into encoded words no mail program reads as a link.
SMTP_POLICY = policy.SMTP.clone(max_line_length=998)


class MailError(Exception):
    """The relay did not take the mail. `permanent`: the recipient was refused for good (5xx);
    otherwise the relay or the network failed, and the same mail may work later."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def _is_permanent(error: Exception) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    # A refused login or sender is this instance's problem, not the recipient's.
    if isinstance(error, (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused)):
        return False
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


def message(settings, to: str, subject: str, body: str, sender: str | None = None,
            headers: dict | None = None) -> EmailMessage:
    mail = EmailMessage(policy=SMTP_POLICY)
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
        raise MailError(str(error), permanent=_is_permanent(error)) from error
