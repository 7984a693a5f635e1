"""What the mail bot reads out of a mail, for every kind of mail people and programs send."""
from email.message import EmailMessage

import pytest

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
