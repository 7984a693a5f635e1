"""Hostile mails, as raw bytes, for tests of how the mail bot reads untrusted input.

Each builder returns one complete mail (From, To: berlin@localhost, Subject) as an SMTP client
could hand it over. Where a mail has a readable part, its text contains "Kontrolle", so that it
would pass a city's trigger; READABLE names what a careful reader gets out of it.
A size argument counts bytes, roughly; the SMTP service refuses mails over 1 MB by default.
"""
from __future__ import annotations

import base64
import binascii

MB = 1024 * 1024
READABLE = "Kontrolle U1 Alexanderplatz"


def headers(subject: str = "Kontrolle", content_type: str = "text/plain; charset=utf-8",
            encoding: str = "8bit", extra: str = "") -> bytes:
    return (f"From: Reporter <reporter@example.org>\r\nTo: berlin@localhost\r\n"
            f"Subject: {subject}\r\nMIME-Version: 1.0\r\n{extra}"
            f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
            ).encode("ascii")


def plain(text: str, **kwargs) -> bytes:
    """A text/plain mail whose body is text, sent as it is (8bit, CRLF)."""
    return headers(**kwargs) + text.replace("\n", "\r\n").encode("utf-8")


def nested_multipart(depth: int = 1000, text: str = READABLE) -> bytes:
    """multipart/mixed inside multipart/mixed, depth levels, around one text part: the
    stdlib's parser nests a generator per level (RecursionError near 1000 levels)."""
    inner = b"".join(b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i - 1, i)
                     for i in range(1, depth))
    closing = b"".join(b"\r\n--b%d--" % i for i in reversed(range(depth)))
    return (headers(content_type='multipart/mixed; boundary="b0"') + inner
            + f"--b{depth - 1}\r\nContent-Type: text/plain\r\n\r\n{text}".encode()
            + closing + b"\r\n")


def nested_message(depth: int = 1000) -> bytes:
    """message/rfc822 inside message/rfc822, depth levels: deep nesting without any
    boundary= parameter, 32 bytes a level."""
    return (headers(content_type="message/rfc822")
            + b"Content-Type: message/rfc822\r\n\r\n" * (depth - 1)
            + f"Content-Type: text/plain\r\n\r\n{READABLE}\r\n".encode())


def many_parts(count: int = 50_000) -> bytes:
    """One flat multipart/mixed of count tiny text parts (no nesting), the first readable."""
    parts = [f"--p\r\n\r\n{READABLE}\r\n".encode()] + [b"--p\r\n\r\nx\r\n"] * (count - 1)
    return headers(content_type='multipart/mixed; boundary="p"') + b"".join(parts) + b"--p--\r\n"


def with_nul_bytes() -> bytes:
    """NUL and other control characters (bell, escape, delete, form feed) in subject and text:
    PostgreSQL refuses NUL in text."""
    return plain(f"\x00{READABLE}\x00\x07 \x1b[31mrot\x1b[0m\x7f\x0c\nzwei\tLeute\x00\n",
                 subject="Kontrolle\x00 U1")


def invalid_charset() -> bytes:
    """A charset nobody knows, in a base64 body that is itself broken (bad padding, junk)."""
    text = base64.b64encode(f"{READABLE}\n".encode()).decode()
    return headers(content_type='text/plain; charset="x-no-such-charset\\"; ="',
                   encoding="base64") + f"{text[:-2]}!!*\r\n".encode()


def broken_quoted_printable() -> bytes:
    """Quoted-printable with broken escapes and bytes that are no UTF-8, in a known charset."""
    return headers(encoding="quoted-printable") + (
        f"{READABLE} =ZZ=C3=\r\n=FF=FE=\r\n".encode())


def pgp_armour_flood(size: int = 969 * 1024, pairs: bool = False) -> bytes:
    """The readable text, then size bytes of PGP signature armour lines: BEGIN lines that
    never end (pairs=False) or BEGIN/END pairs (pairs=True)."""
    line = "-----BEGIN PGP SIGNATURE-----\n"
    if pairs:
        line += "-----END PGP SIGNATURE-----\n"
    return plain(f"{READABLE}\n" + line * (size // len(line)))


def unclosed_br_flood(size: int = MB - 4096) -> bytes:
    """An HTML part: the readable text, then `<br` repeated without `>` for size bytes."""
    markup = f"<html><body><p>{READABLE}</p>" + "<br" * (size // 3)
    return plain(markup, content_type="text/html; charset=utf-8")


def long_quoted_printable_schrieb(size: int = 600 * 1024) -> bytes:
    """The readable text, then one logical line "Am … schrieb … schrieb …" of size bytes with
    no colon at its end, sent as quoted-printable with soft line breaks: one line once decoded,
    the worst case for a backtracking "Am .+ schrieb .+:" pattern."""
    line = "Am 1.1.2026 " + "schrieb " * (size // 8)
    encoded = binascii.b2a_qp(f"{READABLE}\n{line}\n".encode()).replace(b"\n", b"\r\n")
    return headers(encoding="quoted-printable") + encoded


def very_long_line(size: int = MB - 4096) -> bytes:
    """The readable text and size more bytes on one line, without any line break."""
    return plain(f"{READABLE} " + "x" * size)


def long_subject(size: int = MB - 4096) -> bytes:
    """An empty body and a subject of size bytes: the readable text, then encoded words."""
    words = " =?utf-8?q?Kontrolle_=C3=BC?=" * (size // 29)
    return plain("", subject=f"{READABLE}{words}")


def nested_comments_header(depth: int = 5000) -> bytes:
    """A From header of depth nested comments (parentheses): the stdlib's header parser
    recurses once per level."""
    return plain(f"{READABLE}\n").replace(
        b"From: Reporter <reporter@example.org>",
        b"From: " + b"(" * depth + b"x" + b")" * depth + b" <reporter@example.org>")


def deeply_nested_html(depth: int = 90_000) -> bytes:
    """An HTML part: the readable text, then depth nested <div> elements (an HTML parser's work
    for each tag grows with the depth: html5ever, under nh3, takes minutes)."""
    markup = f"<p>{READABLE}</p>" + "<div>" * depth + "</div>" * depth
    return plain(markup, content_type="text/html; charset=utf-8")


def text_in_nested_html(depth: int = 10_000) -> bytes:
    """An HTML part with the readable text inside depth nested <div> elements."""
    markup = "<div>" * depth + READABLE + "</div>" * depth
    return plain(markup, content_type="text/html; charset=utf-8")


def line_flood(lines: int = 450_000, depth: int = 15) -> bytes:
    """The readable text, then lines empty lines, in a text part depth multipart levels deep:
    the stdlib's parser checks each line against the boundary of every open level."""
    return nested_multipart(depth, f"{READABLE}\r\n" + "\r\n" * lines)


def punycode_charset(size: int = 900 * 1024) -> bytes:
    """A text part in charset "punycode", a Python codec whose decoder takes quadratic time:
    the readable text, a line break, then "-" and size letters."""
    return (headers(content_type="text/plain; charset=punycode")
            + f"{READABLE}\r\n-".encode() + b"b" * size)


def group_syntax_from() -> bytes:
    """A From header of repeated group syntax, on which the stdlib's header parser raises
    AttributeError."""
    return plain(f"{READABLE}\n").replace(b"From: Reporter <reporter@example.org>",
                                        b"From: " + b"g: a@example.org;" * 20)


def text_then_large_attachment(size: int = 3 * MB) -> bytes:
    """The readable text, then an attachment of size bytes (base64): larger than parse reads."""
    data = base64.encodebytes(b"\x89PNG" + b"\0" * (size * 3 // 4)).replace(b"\n", b"\r\n")
    return (headers(content_type='multipart/mixed; boundary="p"')
            + f"--p\r\nContent-Type: text/plain\r\n\r\n{READABLE}\r\n".encode()
            + b"--p\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
            + b"Content-Disposition: attachment; filename=photo.png\r\n\r\n" + data + b"--p--\r\n")
