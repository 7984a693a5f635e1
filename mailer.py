"""The instance's own outgoing mail: through the configured SMTP relay, or into the log.

`send` hands one mail to the relay and says how it went (the mail bot, which must know, uses it
for reports and confirmations); an `Outbox` sends from a thread of its own (the web frontend's
sign-up and reset mails: no answer waits on the relay). Reads the `[mail]` settings; touches
no database.
"""
from __future__ import annotations

import logging
import queue
import smtplib
import ssl
import threading
import time
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import process

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
    """A mail of the instance. Every one is `Auto-Submitted: auto-generated` (RFC 3834): no
    person wrote it, so vacation responders and other robots must not answer it. `headers`
    add to or replace the standard ones (each name once, whatever its case)."""
    mail = EmailMessage(policy=SMTP_POLICY)
    mail["From"] = sender or f"{settings.instance.name} <{settings.mail.sender}>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=settings.mail.sender.rpartition("@")[2] or None)
    mail["Auto-Submitted"] = "auto-generated"
    for name, value in (headers or {}).items():
        del mail[name]  # assigning a header adds one more; a mail has each once
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
        # The relay's answer names the recipient: the log never names an address.
        log.warning("the mail relay did not take a mail: %s", process.describe_error(error))
        raise MailError(str(error), permanent=_is_permanent(error)) from error


class Outbox:
    """Mail sent by a thread of its own, one after another, so that no web answer waits on the
    relay, and none takes longer because a mail went out (which would tell who has an account).

    A mail the relay refuses for now is tried again after each of `retry_delays` seconds, then
    logged and dropped; at most `size` mails wait, more are logged and dropped. The thread
    starts with the first mail; what still waits when the process ends is lost (the visitor
    may ask again)."""

    def __init__(self, settings, size: int = 1000, retry_delays=(10.0, 60.0)):
        self.settings = settings
        self.retry_delays = tuple(retry_delays)
        self._queue: queue.Queue[EmailMessage] = queue.Queue(size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, mail: EmailMessage) -> bool:
        """Queue a mail; False (logged) when the outbox is full."""
        self._start()
        try:
            self._queue.put_nowait(mail)
        except queue.Full:
            log.warning("the outbox is full; a mail was dropped: %s", mail["Subject"])
            return False
        return True

    def join(self) -> None:
        """Wait until every queued mail was sent or given up (for tests)."""
        self._queue.join()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="outbox")
                self._thread.start()

    def _run(self) -> None:
        while True:
            mail = self._queue.get()
            try:
                self._deliver(mail)
            except Exception:  # the thread must live on for the next mail
                log.exception("sending a mail failed unexpectedly")
            finally:
                self._queue.task_done()

    def _deliver(self, mail: EmailMessage) -> None:
        for delay in (*self.retry_delays, None):
            try:
                send(self.settings, mail)
                return
            except MailError as error:
                if error.permanent or delay is None:
                    log.warning("a mail was given up (%s): %s", mail["Subject"], error)
                    return
            time.sleep(delay)
