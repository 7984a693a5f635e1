"""What the mail bot reads out of a mail, for every kind of mail people and programs send, and
for hostile ones (built by hostile_mail.py)."""
import time
from contextlib import contextmanager
from email.message import EmailMessage, Message

import pytest

import hostile_mail as hostile
from bots import Unreadable
from bots.mail import parse


def mail(body=None, subject="", sender="Reporter <reporter@example.org>", **extra) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "berlin@ticketfrei.test"
    message["Subject"] = subject
    if body is not None:
        message.set_content(body, **extra)
    return message.as_bytes()


def text_of(raw: bytes) -> str:
    return parse.report_text(parse.parse(raw))


def test_plain_text_is_the_report():
    assert text_of(mail("Kontrolle U1 Alexanderplatz")) == "Kontrolle U1 Alexanderplatz"


def test_mail_without_body_reports_its_subject():
    assert text_of(mail(None, subject="Kontrolle S41 Ringbahn")) == "Kontrolle S41 Ringbahn"


def test_html_only_mail_is_turned_into_text():
    raw = mail("<html><body><p>Kontrolle <b>U8</b></p><p>Hermannplatz &amp; Boddinstr.</p>"
               "<script>alert(1)</script></body></html>", subtype="html")
    assert text_of(raw) == "Kontrolle U8\nHermannplatz & Boddinstr."


@pytest.mark.parametrize("charset, encoding", [("utf-8", "base64"), ("utf-8", "quoted-printable"),
                                                ("iso-8859-1", "quoted-printable"),
                                                ("windows-1252", "base64"),
                                                ("iso-8859-15", "8bit")])
def test_charsets_and_transfer_encodings_are_decoded(charset, encoding):
    raw = mail("Kontrolleure am Südkreuz, Größe 2 €" if charset != "iso-8859-1" else
               "Kontrolleure am Südkreuz, Größe 2", charset=charset, cte=encoding)
    assert text_of(raw).startswith("Kontrolleure am Südkreuz, Größe 2")


def test_unknown_charset_does_not_crash():
    raw = (b"From: a@example.org\r\nSubject: x\r\nContent-Type: text/plain; charset=x-nonsense\r\n"
           b"\r\nKontrolle U2\r\n")
    assert text_of(raw) == "Kontrolle U2"


def test_eight_bit_headers_are_read():
    raw = ("From: J\u00fcrgen <j@example.org>\r\nSubject: Kontrolle S\u00fcdkreuz\r\n\r\n"
           ).encode("utf-8")
    assert text_of(raw) == "Kontrolle Südkreuz"
    assert parse.sender(parse.parse(raw)) == "j@example.org"


def test_quoted_reply_and_signature_are_left_out():
    body = ("Kontrolle U6 Tempelhof\n\n-- \nMax Mustermann\nTel 0123\n")
    assert text_of(mail(body)) == "Kontrolle U6 Tempelhof"
    reply = "Jetzt U7 Hermannplatz\n\nAm 1.1.2026 um 10:00 schrieb Ticketfrei:\n> Kontrolle U6\n"
    assert text_of(mail(reply)) == "Jetzt U7 Hermannplatz"
    assert text_of(mail("> quoted line\nKontrolle U9")) == "Kontrolle U9"


def test_inline_pgp_signature_is_left_out():
    body = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nKontrolle U5 Frankfurter Allee\n"
            "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n")
    assert text_of(mail(body)) == "Kontrolle U5 Frankfurter Allee"


def test_attachments_and_pgp_mime_signatures_are_left_out():
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["Subject"] = "x"
    message.set_content("Kontrolle Tram M10")
    message.add_attachment(b"\x89PNG" + b"0" * 1000, maintype="image", subtype="png",
                           filename="photo.png")
    message.add_attachment("-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----",
                           subtype="pgp-signature", filename="signature.asc")
    assert text_of(message.as_bytes()) == "Kontrolle Tram M10"


def test_broken_mime_boundaries_do_not_crash():
    raw = (b"From: a@example.org\r\nSubject: Kontrolle Bus 100\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n--XYZ\r\n'
           b"Content-Type: text/plain\r\n\r\nKontrolle Bus 100 Zoo\r\n--WRONG--\r\n")
    assert text_of(raw) == "Kontrolle Bus 100 Zoo"


def test_mail_without_date_or_to_is_read():
    raw = b"From: a@example.org\r\nSubject: hi\r\n\r\nKontrolle U3\r\n"
    assert text_of(raw) == "Kontrolle U3"


def test_subscribe_and_unsubscribe_subjects_are_commands():
    assert parse.command(parse.parse(mail("", subject=" Subscribe "))) == "subscribe"
    assert parse.command(parse.parse(mail("", subject="UNSUBSCRIBE"))) == "unsubscribe"
    assert parse.command(parse.parse(mail("", subject="subscribe to U1?"))) is None


def test_broken_from_header_gives_no_sender():
    raw = b"From: <<<@@@>>>\r\nSubject: x\r\n\r\nKontrolle\r\n"
    assert parse.sender(parse.parse(raw)) is None


@pytest.mark.parametrize("headers", [{"Auto-Submitted": "auto-replied"},
                                     {"Auto-Submitted": "auto-generated"},
                                     {"Precedence": "bulk"}, {"Precedence": "list"}])
def test_auto_replies_and_list_mail_are_automatic(headers):
    message = EmailMessage()
    message["From"] = "someone@example.org"
    for name, value in headers.items():
        message[name] = value
    message.set_content("I am on holiday. > Kontrolle U1")
    assert parse.is_automatic(parse.parse(message.as_bytes()))


def test_delivery_status_notification_is_automatic_and_a_person_is_not():
    raw = (b"From: MAILER-DAEMON@example.org\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
           b"--B\r\nContent-Type: text/plain\r\n\r\nKontrolle U1 could not be delivered\r\n--B--\r\n")
    assert parse.is_automatic(parse.parse(raw))
    assert not parse.is_automatic(parse.parse(mail("Kontrolle U1")))
    person = parse.parse(mail("Kontrolle U1").replace(b"Subject:", b"Auto-Submitted: no\r\nSubject:"))
    assert not parse.is_automatic(person)


# --- Hostile mail: every one is read in bounded time or refused as Unreadable -----------------
# Each prints how long it took (pytest -s shows it); no test asserts a time: machines are shared.

@contextmanager
def timed(what: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        print(f"{what} took {time.perf_counter() - start:.3f} s")


def read(raw: bytes) -> str:
    """Everything the mail bot reads of a mail; its report text."""
    message = parse.parse(raw)
    parse.sender(message), parse.is_automatic(message), parse.command(message)
    return parse.report_text(message)


def refused(what: str, raw: bytes) -> str:
    """The reason given for refusing raw: short, naming no address and no text of the mail."""
    with timed(what), pytest.raises(Unreadable) as refusal:
        read(raw)
    reason = str(refusal.value)
    assert reason and len(reason) < 100
    assert "example.org" not in reason and "Kontrolle" not in reason
    return reason


def test_mail_nested_1000_levels_deep_is_unreadable_not_a_crash():
    assert "nested" in refused("1000 nested multiparts", hostile.nested_multipart(1000))


def test_message_rfc822_nested_1000_levels_deep_is_unreadable_without_any_boundary():
    assert "nested" in refused("1000 nested message/rfc822", hostile.nested_message(1000))
    assert "nested" in refused("30000 nested message/rfc822 (1 MB)", hostile.nested_message(30_000))


def test_mail_nested_as_deep_as_allowed_is_read_and_one_level_more_is_not():
    with timed(f"{parse.MAX_DEPTH} nested multiparts"):
        assert read(hostile.nested_multipart(parse.MAX_DEPTH)) == hostile.READABLE
    assert "nested" in refused(f"{parse.MAX_DEPTH + 1} nested multiparts",
                               hostile.nested_multipart(parse.MAX_DEPTH + 1))


def test_mail_of_too_many_parts_is_unreadable():
    assert "parts" in refused("1000 parts", hostile.many_parts(1000))
    with timed(f"{parse.MAX_PARTS - 1} parts"):
        assert read(hostile.many_parts(parse.MAX_PARTS - 1)) == hostile.READABLE


def test_mail_of_too_many_lines_is_unreadable():
    # The stdlib's parser checks each line against each open level's boundary.
    assert "lines" in refused("450000 lines 15 levels deep", hostile.line_flood(450_000, 15))


def test_mail_at_the_depth_and_line_limits_at_once_is_read():
    # The stdlib parser's worst case that parse() lets through: every line checked at every level.
    shell = hostile.nested_multipart(parse.MAX_DEPTH, "")
    raw = hostile.nested_multipart(parse.MAX_DEPTH, f"{hostile.READABLE}\n" + "\n" * (
        parse.MAX_LINES - shell.count(b"\n") - 1))
    with timed(f"{parse.MAX_DEPTH} levels, {parse.MAX_LINES} lines"):
        assert read(raw) == hostile.READABLE


def test_part_with_many_headers_and_parts_of_its_own_is_unreadable():
    raw = hostile.many_parts(3).replace(b"MIME-Version: 1.0\r\n", b"MIME-Version: 1.0\r\n"
                                        + b"X-Filler: x\r\n" * parse.MAX_HEADERS)
    assert "header" in refused(f"{parse.MAX_HEADERS} headers and parts", raw)


def test_recursion_anywhere_in_reading_is_unreadable_not_a_crash():
    message = Message()  # made by hand, deeper than parse() would ever let a mail be
    deepest = message
    for _ in range(5000):
        child = Message()
        deepest.attach(child)
        deepest = child
    with pytest.raises(Unreadable):
        parse.report_text(message)


def test_nul_bytes_and_other_control_characters_are_removed():
    with timed("NUL and control characters"):
        message = parse.parse(hostile.with_nul_bytes())
        text = parse.report_text(message)
    assert text == "Kontrolle U1 Alexanderplatz [31mrot[0m\nzwei\tLeute"
    assert parse.subject(message) == "Kontrolle U1"


def test_lone_surrogates_and_undecodable_bytes_are_replaced():
    assert parse.clean("Kontrolle \udcff U1\x00") == "Kontrolle ? U1"
    raw = b"From: a@example.org\r\nSubject: Kontrolle \xff\xfe U2\r\n\r\n"
    assert parse.report_text(parse.parse(raw)).encode("utf-8")  # no lone surrogates
    assert parse.report_text(parse.parse(raw)).startswith("Kontrolle ")


def test_invalid_charset_and_broken_base64_give_the_text():
    with timed("invalid charset, broken base64"):
        assert read(hostile.invalid_charset()) == hostile.READABLE


def test_broken_quoted_printable_gives_best_effort_text():
    with timed("broken quoted-printable"):
        assert read(hostile.broken_quoted_printable()).startswith(hostile.READABLE)


def test_punycode_charset_is_read_as_utf8_not_decoded_in_quadratic_time():
    with timed("900 KB in charset punycode"):
        text = read(hostile.punycode_charset())
    assert text.startswith(hostile.READABLE + "\n-bbb") and len(text) <= parse.MAX_TEXT


def test_pgp_signature_begin_lines_without_end_are_dropped():
    with timed("969 KB of BEGIN PGP SIGNATURE lines"):
        assert read(hostile.pgp_armour_flood(969 * 1024)) == hostile.READABLE


def test_pgp_signature_begin_end_pairs_are_dropped():
    with timed("1 MB of BEGIN/END PGP SIGNATURE pairs"):
        assert read(hostile.pgp_armour_flood(1000 * 1024, pairs=True)) == hostile.READABLE


def test_clean_cuts_hostile_text_before_it_works_on_it():
    text = "Kontrolle\n" + "-----BEGIN PGP SIGNATURE-----\n" * 40_000
    with timed("clean() on 1.2 MB of PGP armour"):
        assert parse.clean(text) == "Kontrolle"
    with timed("clean() on a 1 MB line"):
        assert len(parse.clean("Kontrolle " + "x" * 1_000_000)) == parse.MAX_TEXT


def test_unclosed_br_flood_in_html_is_dropped():
    with timed("1 MB of <br without >"):
        assert read(hostile.unclosed_br_flood()) == hostile.READABLE
    with timed("html_to_text() on 1 MB of <br"):
        assert parse.html_to_text("Kontrolle <br" + "<br" * 330_000) == "Kontrolle "


def test_long_quoted_printable_am_schrieb_line_is_cut_not_matched_slowly():
    with timed("600 KB quoted-printable 'Am … schrieb' line"):
        text = read(hostile.long_quoted_printable_schrieb(600 * 1024))
    # No colon at its end: no quote header, so it stays, cut to the text limit.
    assert text.startswith(hostile.READABLE + "\nAm 1.1.2026 schrieb schrieb")
    assert len(text) <= parse.MAX_TEXT


def test_very_long_line_is_cut_to_the_text_limit():
    with timed("1 MB single line"):
        text = read(hostile.very_long_line())
    assert text.startswith(hostile.READABLE + " xxx") and len(text) == parse.MAX_TEXT


def test_very_long_subject_is_cut():
    with timed("1 MB subject of encoded words"):
        text = read(hostile.long_subject())
    assert text.startswith(hostile.READABLE + " Kontrolle ü") and len(text) <= parse.MAX_HEADER


def test_deeply_nested_html_gives_its_text():
    with timed("90000 nested <div> after the text"):
        assert read(hostile.deeply_nested_html(90_000)) == hostile.READABLE
    with timed("text inside 10000 nested <div>"):
        assert read(hostile.text_in_nested_html(10_000)) == hostile.READABLE


def test_headers_the_stdlib_cannot_parse_give_no_sender_not_a_crash():
    with timed("From of 5000 nested comments"):
        message = parse.parse(hostile.nested_comments_header(5000))
        assert parse.sender(message) is None
        assert parse.report_text(message) == hostile.READABLE
    with timed("From of group syntax (AttributeError in the stdlib)"):
        message = parse.parse(hostile.group_syntax_from())
        assert parse.sender(message) is None
        assert parse.report_text(message) == hostile.READABLE


def test_mail_larger_than_parse_reads_is_read_from_its_start():
    with timed("3 MB attachment after the text"):
        assert read(hostile.text_then_large_attachment(3 * hostile.MB)) == hostile.READABLE


def test_html_comments_scripts_and_styles_are_dropped():
    markup = ('<html><head><style>p { color: red }</style><!--[if mso]><b>x</b><![endif]-->'
              '</head><body><p>Kontrolle <a href="x">U8</a></p><script>var a = "</p>";</script>'
              "<p>a &lt; b<br/>c</p><!-- unclosed")
    assert parse.html_to_text(markup) == "Kontrolle U8\na < b\nc\n"


def test_dash_escaped_lines_of_signed_text_are_unescaped():
    body = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nKontrolle U5\n- -- \nMax\n"
            "-----BEGIN PGP SIGNATURE-----\n\niQEz\n-----END PGP SIGNATURE-----\n")
    assert text_of(mail(body)) == "Kontrolle U5"


def test_quote_headers_still_cut_what_follows():
    for header in ("On Mon, 1 Jan 2026 at 10:00, Ticketfrei <berlin@ticketfrei.test> wrote:",
                   "Am Mo., 1. Jan. 2026 um 10:00 Uhr schrieb Ticketfrei <b@t.test>:",
                   "-----Original Message-----", "----- Ursprüngliche Nachricht -----"):
        assert text_of(mail(f"Kontrolle U7\n\n{header}\nKontrolle U6\n")) == "Kontrolle U7"
