"""A received mail as the mail bot needs it: its sender (for commands only, never for reports),
whether it is a command, and its text with quotes, signatures, PGP armour and attachments left
out. Works on the bytes it is given; touches nothing else (db only lends clean_text).

Mails are untrusted input: reading one takes bounded time, at most linear in its size, or the
mail is refused with bots.Unreadable (a short reason, naming no address and no text of it).
- parse() reads at most the first MAX_MAIL bytes: the SMTP service takes 1 MiB unless
  configured otherwise, and what lies beyond is mostly attachments.
- The stdlib's parser checks every line against the boundary of every open multipart level,
  and looks a part's parent's headers up for every part. So parse() refuses a mail of more
  than MAX_LINES lines before parsing, and, as the parser attaches each part, one nested more
  than MAX_DEPTH levels deep (multipart or message/rfc822: counting boundary= parameters would
  miss the latter), of more than MAX_PARTS parts, or with a part of more than MAX_HEADERS
  header fields that has parts of its own. Real mails nest some 7 levels at most (a forwarded
  signed mail with alternatives and inline images). A RecursionError while reading, or any
  exception from the stdlib's parser, makes a mail Unreadable too; a header too broken to read
  reads as empty, text in an unknown charset or a broken encoding as well as it can.
- The MIME structure is read with the compat32 policy, which keeps headers as strings. The
  stdlib's header parser, slow and superlinear on long hostile headers, only ever sees the
  headers this module reads, cut to MAX_HEADER characters (an RFC 5322 line's length).
- A part's decoded text is cut to MAX_TEXT characters (4 * MAX_TEXT bytes before decoding),
  far above a report's length (2000 characters by default), before any work on the text. It is
  then handled line by line or with RE2, whose matching time is linear: no backtracking
  regular expression ever runs on mail text. NUL and other control characters and lone
  surrogates are removed (db.clean_text), so every database takes the text.
"""
from __future__ import annotations

import codecs
import functools
import html
from email import errors, policy
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from email.utils import getaddresses

import re2

import db
from bots import Unreadable

MAX_MAIL = 2 * 1024 * 1024
MAX_LINES = 64 * 1024
MAX_DEPTH = 16
MAX_PARTS = 128
MAX_HEADERS = 1000
MAX_HEADER = 1000
MAX_TEXT = 64 * 1024

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def _re2(pattern: str | bytes):
    return re2.compile(pattern, _RE2_OPTIONS)


_QUOTE_HEADER = _re2(r"(?i)(?:On .+ wrote:|Am .+ schrieb .+:|-{2,} ?Original Message ?-{2,}|"
                     r"-{2,} ?Ursprüngliche Nachricht ?-{2,})\s*")
# A MIME boundary delimiter left in the text by a mail whose boundaries do not match.
_BOUNDARY_LINE = _re2(r"--[0-9A-Za-z'()+_,./:=?-]{1,70}(?:--)?")
# What an HTML tokenizer drops: comments, script and style with their content, and tags (group 1
# names an element's tag, "/p" for a closing one). Each runs to the text's end when unclosed,
# as in HTML5, so "<br<br<br…" is one match. On bytes: RE2's wrapper maps no offsets then.
_HTML_DROPPED = _re2(rb"(?is)<!--.*?(?:-->|\z)"
                     rb"|<script\b.*?(?:</script\b[^>]*(?:>|\z)|\z)"
                     rb"|<style\b.*?(?:</style\b[^>]*(?:>|\z)|\z)"
                     rb"|<(?:(/?[a-z][^\s/>]*)|[!?/])[^>]*(?:>|\z)")
_BLOCK_ENDS = frozenset({b"br", b"/p", b"/div", b"/li", b"/tr", b"/h1", b"/h2", b"/h3", b"/h4",
                         b"/h5", b"/h6"})

_PGP_SIGNED = "-----BEGIN PGP SIGNED MESSAGE-----"
_PGP_SIGNATURE = "-----BEGIN PGP SIGNATURE-----"
_PGP_END = "-----END PGP SIGNATURE-----"

# Python codecs that are no mail charsets: punycode decodes in quadratic time, the escape codecs
# would turn text into other text. A part in one of them is read as UTF-8.
_NOT_CHARSETS = frozenset({"punycode", "idna", "undefined", "unicode-escape",
                           "raw-unicode-escape"})


# --- Parsing ---------------------------------------------------------------------------------

class _Part(Message):
    """A compat32 message that checks the mail's shape as the parser attaches each part, so
    that a hostile structure stops the parser before its work grows."""

    def __init__(self, policy=None):
        super().__init__(policy or _POLICY)
        self._depth = 0
        self._parts = [1]  # shared by all parts of one mail

    def attach(self, payload):
        if isinstance(payload, _Part):
            payload._depth, payload._parts = self._depth + 1, self._parts
            self._parts[0] += 1
            if payload._depth > MAX_DEPTH:
                raise Unreadable(f"nested more than {MAX_DEPTH} levels deep")
            if self._parts[0] > MAX_PARTS:
                raise Unreadable(f"more than {MAX_PARTS} parts")
            if len(self) > MAX_HEADERS:  # the parser reads this part's headers for each child
                raise Unreadable(f"a part with more than {MAX_HEADERS} header fields has parts")
        super().attach(payload)


class _Policy(Compat32):
    """compat32 (headers as the strings they are, never parsed) with every header value cut."""

    def header_fetch_parse(self, name, value):
        return value[:MAX_HEADER] if isinstance(value, str) else value


_POLICY = _Policy(message_factory=_Part)


def parse(raw: bytes) -> Message:
    """The mail, a compat32 Message: read it with this module's functions. Broken MIME is
    parsed as far as it goes; Unreadable for a mail whose shape would make reading it slow, or
    that the stdlib's parser fails on."""
    raw = bytes(raw[:MAX_MAIL])
    # The parser takes CR, LF and CRLF each as a line break.
    lines = raw.count(b"\n") + raw.count(b"\r") - raw.count(b"\r\n")
    if lines > MAX_LINES:
        raise Unreadable(f"more than {MAX_LINES} lines")
    try:
        return BytesParser(policy=_POLICY).parsebytes(raw)
    except Unreadable:
        raise
    except RecursionError:
        raise Unreadable("nested too deeply to read") from None
    except Exception as error:  # the parser reports defects; anything raised is a broken mail
        raise Unreadable(f"the mail parser failed ({type(error).__name__})") from None


def _reading(function):
    """A mail nested too deeply for the email package (RecursionError, e.g. in walk(); parse()
    never makes one) or that it cannot read is Unreadable, not a crash."""

    @functools.wraps(function)
    def guarded(mail, *args, **kwargs):
        try:
            return function(mail, *args, **kwargs)
        except RecursionError:
            raise Unreadable("nested too deeply to read") from None
        except errors.MessageError as error:
            raise Unreadable(f"the mail could not be read ({type(error).__name__})") from None

    return guarded


# --- Headers ---------------------------------------------------------------------------------

def _header(mail: Message, name: str) -> str:
    """A header's text, encoded words and 8-bit bytes decoded; "" if it is too broken to read."""
    try:
        value = mail.get(name)
        if value is None:
            return ""
        if not hasattr(value, "name"):  # not yet parsed (a message parse() made): cut it first
            value = str(value)[:MAX_HEADER]
        return str(policy.default.header_fetch_parse(name, value))
    except Exception:  # the stdlib's header parser has crashed on odd headers (AttributeError)
        return ""


@_reading
def sender(mail: Message) -> str | None:
    addresses = [address for _, address in getaddresses([_header(mail, "From")]) if "@" in address]
    return db.clean_text(addresses[0].strip()) if addresses else None


@_reading
def subject(mail: Message) -> str:
    return " ".join(db.clean_text(_header(mail, "Subject")).split())


@_reading
def is_automatic(mail: Message) -> bool:
    """Bounces, auto-replies and list mail: they quote our own mails, and relaying them
    would loop (RFC 3834's Auto-Submitted, RFC 3462's multipart/report, Precedence)."""
    auto = _header(mail, "Auto-Submitted").strip().lower()
    precedence = _header(mail, "Precedence").strip().lower()
    return ((auto != "" and not auto.startswith("no")) or precedence in ("bulk", "junk", "list")
            or mail.get_content_type() == "multipart/report")


@_reading
def command(mail: Message) -> str | None:
    word = subject(mail).lower()
    return word if word in ("subscribe", "unsubscribe") else None


# --- Text ------------------------------------------------------------------------------------

def _codec(part: Message) -> str:
    """The Python codec of a part's charset; UTF-8 (ASCII's superset) when it names none that
    decodes mail text."""
    try:
        name = codecs.lookup(part.get_content_charset() or "utf-8").name
    except (LookupError, UnicodeError, ValueError, TypeError):
        return "utf-8"
    return "utf-8" if name in _NOT_CHARSETS else name


def _decoded(part: Message) -> str:
    """A text part's text, at most MAX_TEXT characters; what cannot be decoded is replaced."""
    try:
        payload = part.get_payload(decode=True)  # broken base64 or quoted-printable: best effort
    except (ValueError, TypeError, LookupError, UnicodeError):
        payload = None
    payload = payload[:4 * MAX_TEXT] if isinstance(payload, bytes) else b""
    try:
        text = payload.decode(_codec(part), "replace")
    except (LookupError, UnicodeError, ValueError, TypeError):  # e.g. a bytes-to-bytes codec
        text = payload.decode("utf-8", "replace")
    return text[:MAX_TEXT]


def _block_end_or_nothing(match) -> bytes:
    name = match.group(1)
    return b"\n" if name and name.lower() in _BLOCK_ENDS else b""


def html_to_text(markup: str) -> str:
    """The text of HTML: tags, comments, scripts and styles dropped, a line break for a line
    break or a block's end, character references resolved."""
    markup = db.clean_text(markup[:MAX_TEXT]).encode()  # no lone surrogates: valid UTF-8
    # Matches start at "<" and end at ">" or the end: the bytes left are whole characters.
    return html.unescape(_HTML_DROPPED.sub(_block_end_or_nothing, markup).decode())


@_reading
def body(mail: Message) -> str:
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


def _lines(text: str) -> list[str]:
    text = db.clean_text(text[:MAX_TEXT])  # no NUL or other control characters, no surrogates
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _without_pgp_armour(lines):
    """Clear-signed text (RFC 4880, 7) without its armour: the BEGIN line with its Hash
    headers and the blank line after them, the dash escapes, the signature block. A signature
    block that never ends runs to the end of the text."""
    signed = headers = in_signature = False
    for line in lines:
        marker = line.strip()
        if in_signature:
            in_signature = marker != _PGP_END
        elif marker == _PGP_SIGNED:
            signed = headers = True
        elif headers and marker.startswith("Hash:"):
            pass
        elif marker == _PGP_SIGNATURE:
            signed = headers = False
            in_signature = True
        elif headers and not marker:
            headers = False
        else:
            headers = False
            yield line[2:] if signed and line.startswith("- ") else line


def clean(text: str) -> str:
    """The text without quoted lines, without what follows a signature's "-- " or a reply's
    "On … wrote:", and without PGP armour and stray MIME boundaries; no control characters."""
    kept = []
    for line in _without_pgp_armour(_lines(text)):
        # RE2 only for lines that can match: its wrapper costs microseconds a call.
        stripped = line.strip()
        if line.rstrip() == "--" or (stripped.endswith((":", "-"))
                                     and _QUOTE_HEADER.fullmatch(stripped)):
            break  # a signature or a quoted reply follows
        if stripped.startswith(">") or (stripped.startswith("--")
                                        and _BOUNDARY_LINE.fullmatch(stripped)):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


@_reading
def report_text(mail: Message) -> str:
    """The report in a mail: its body, or its subject when the body is empty."""
    return body(mail) or subject(mail)
