"""Hostile mails through the real SMTP service and the city's mail bot: each ends as a report
or as a refusal with its reason, quickly, and the good mail sent right behind it is relayed
promptly (issue: reports lost or stalled). Prints how long each hostile mail took."""
import smtplib
import time

import pytest

import hostile_mail
from instance import Relay, free_port, wait_for

DOMAIN = "localhost"  # hostile_mail writes To: berlin@localhost

CASES = {
    "1000 nested multiparts": hostile_mail.nested_multipart,
    "1000 nested message/rfc822": hostile_mail.nested_message,
    "NUL and control characters": hostile_mail.with_nul_bytes,
    "invalid charset, broken base64": hostile_mail.invalid_charset,
    "broken quoted-printable": hostile_mail.broken_quoted_printable,
    "~1 MB of PGP armour lines": hostile_mail.pgp_armour_flood,
    "~1 MB of <br without >": hostile_mail.unclosed_br_flood,
    "long quoted-printable Am … schrieb line": hostile_mail.long_quoted_printable_schrieb,
    "deeply nested HTML": hostile_mail.deeply_nested_html,
    "From of 5000 nested comments": hostile_mail.nested_comments_header,
    "From with group syntax": hostile_mail.group_syntax_from,
    "punycode charset": hostile_mail.punycode_charset,
}


@pytest.fixture(params=["sqlite", "postgresql"])
def mail_instance(request, make_instance):
    database_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    relay = Relay().__enter__()
    request.addfinalizer(lambda: relay.__exit__())
    port = free_port()
    instance = make_instance(disabled=(), database_url=database_url, extra=relay.settings() + (
        f'[bots.mail]\ndomain = "{DOMAIN}"\nlisten_port = {port}\nmax_size = {2 * 1024 * 1024}\n'))
    instance.smtp_port = port
    instance.city = instance.create_city("berlin")
    instance.start()
    wanted = {"service:mail", f"berlin/mail:{instance.city}", "berlin/testnet:b"}
    wait_for(lambda: wanted <= instance.running_names(), 30, what="the mail bot and service")
    return instance


def fold(raw: bytes, width: int = 900) -> bytes:
    """Long lines cut into SMTP's 1000-byte lines (RFC 5321), so that a hostile body reaches
    the bot instead of being refused by the SMTP service (which the last test shows)."""
    lines = raw.split(b"\r\n")
    return b"\r\n".join(b"\r\n".join(line[i:i + width] for i in range(0, len(line), width))
                         if len(line) > width else line for line in lines)


def deliver(instance, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", instance.smtp_port, timeout=30) as client:
        client.sendmail("reporter@example.org", [f"berlin@{DOMAIN}"], raw)


def test_each_hostile_mail_ends_quickly_and_the_mail_behind_it_is_relayed(mail_instance):
    instance = mail_instance
    figures = []
    for number, (case, build) in enumerate(CASES.items()):
        good = f"Kontrolle U{number} nach dem Fall {number}"
        began = time.monotonic()
        deliver(instance, fold(build()))
        deliver(instance, hostile_mail.plain(good))
        wait_for(lambda: any(row[2] == good for row in instance.posted(instance.city, "b")), 30,
                 what=f"the good mail behind '{case}' to be relayed")
        figures.append((case, time.monotonic() - began))
    wait_for(lambda: instance.sql("SELECT count(*) FROM mail_inbox")[0][0] == 0, 30,
             what="every mail to be handled")
    for case, seconds in figures:
        print(f"{case}: it and the good mail behind it handled in {seconds:.2f} s")
    rows = instance.sql("SELECT text, verdict, verdict_reason FROM reports ORDER BY id")
    # Every mail ended as a report or as a refusal with its reason: nothing vanished.
    assert len(rows) == 2 * len(CASES)
    for text, verdict, reason in rows:
        assert verdict in ("accepted", "rejected", "set-aside") and reason
        assert "\x00" not in text
    set_aside = [reason for _, verdict, reason in rows if verdict == "set-aside"]
    assert any("nested" in reason for reason in set_aside), set_aside
    assert instance.row(f"berlin/mail:{instance.city}")["restarts"] == 0
    assert instance.row("service:mail")["restarts"] == 0
    # Each accepted report posted once (several hostile mails carry the same readable text).
    posted = sorted(row[2] for row in instance.posted(instance.city, "b"))
    assert posted == sorted(text for text, verdict, _ in rows if verdict == "accepted")


def test_mail_with_an_overlong_line_is_refused_by_the_smtp_service_with_a_clear_answer(
        mail_instance):
    with pytest.raises(smtplib.SMTPDataError) as refused:
        deliver(mail_instance, hostile_mail.very_long_line())
    print(f"refused: {refused.value.smtp_code} {refused.value.smtp_error!r}")
    assert refused.value.smtp_code in (500, 552)
