"""A received mail as the mail bot needs it: its sender (for commands only, never for reports),
whether it is a command, and its text with quotes, signatures, PGP armour and attachments left
out. Works on bytes; touches nothing else."""
from __future__ import annotations

import html
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses

import nh3

_QUOTE_HEADER = re.compile(r"^(On .+ wrote:|Am .+ schrieb .+:|-{2,} ?Original Message ?-{2,}|"
                           r"-{2,} ?Ursprüngliche Nachricht ?-{2,})\s*$", re.IGNORECASE)
_PGP_SIGNATURE = re.compile(r"-----BEGIN PGP SIGNATURE-----.*?-----END PGP SIGNATURE-----",
                            re.DOTALL)
_PGP_HEADER = re.compile(r"-----BEGIN PGP SIGNED MESSAGE-----\n(?:Hash: [^\n]*\n)?\n?")
# A MIME boundary delimiter left in the text by a mail whose boundaries do not match.
_BOUNDARY_LINE = re.compile(r"^--[0-9A-Za-z'()+_,./:=?-]{1,70}(--)?$")
_BLOCK_END = re.compile(r"<\s*(br|/p|/div|/li|/h\d|/tr)\b[^>]*>", re.IGNORECASE)


def parse(raw: bytes) -> EmailMessage:
    """The mail; broken MIME is parsed as far as it goes (defects, no exceptions)."""
    return BytesParser(policy=policy.default).parsebytes(raw)


def _header(mail: EmailMessage, name: str) -> str:
    try:
        return str(mail.get(name, "") or "")
    except (ValueError, TypeError, IndexError):  # a header too broken to read
        return ""


def sender(mail: EmailMessage) -> str | None:
    addresses = [address for _, address in getaddresses([_header(mail, "From")]) if "@" in address]
    return addresses[0].strip().lower() if addresses else None


def subject(mail: EmailMessage) -> str:
    return " ".join(_header(mail, "Subject").split())


def is_automatic(mail: EmailMessage) -> bool:
    """Bounces, auto-replies and list mail: they quote our own mails, and relaying them
    would loop (RFC 3834's Auto-Submitted, RFC 3462's multipart/report, Precedence)."""
    auto = _header(mail, "Auto-Submitted").strip().lower()
    precedence = _header(mail, "Precedence").strip().lower()
    return ((auto != "" and not auto.startswith("no")) or precedence in ("bulk", "junk", "list")
            or mail.get_content_type() == "multipart/report")


def command(mail: EmailMessage) -> str | None:
    word = subject(mail).lower()
    return word if word in ("subscribe", "unsubscribe") else None


def _decoded(part) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError, ValueError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def html_to_text(markup: str) -> str:
    markup = _BLOCK_END.sub("\n", markup)
    return html.unescape(nh3.clean(markup, tags=set()))


def body(mail: EmailMessage) -> str:
    """The text a person wrote: text/plain, else HTML turned into text; no attachments."""
    plain = markup = None
    for part in mail.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = _decoded(part)
        elif kind == "text/html" and markup is None:
            markup = _decoded(part)
    if plain is not None:
        return clean(plain)
    return clean(html_to_text(markup)) if markup is not None else ""


def clean(text: str) -> str:
    text = text.replace("\r\n", "\n")
    text = _PGP_SIGNATURE.sub("", _PGP_HEADER.sub("", text))
    kept = []
    for line in text.split("\n"):
        if line.rstrip() == "--" or _QUOTE_HEADER.match(line.strip()):
            break  # a signature or a quoted reply follows
        if line.lstrip().startswith(">") or _BOUNDARY_LINE.match(line.strip()):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def report_text(mail: EmailMessage) -> str:
    """The report in a mail: its body, or its subject when the body is empty."""
    return body(mail) or subject(mail)
