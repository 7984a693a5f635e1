"""The mail bot with the real service running: mails in over SMTP (aiosmtpd), reports out to
subscribers through a real relay (aiosmtpd) and to the city's other bots (the test network)."""
import os
import re
import signal
import smtplib
import time
from email.message import EmailMessage
from http.cookiejar import CookieJar
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, build_opener

import pytest

from instance import Relay, free_port, smtp_greets, wait_for

DOMAIN = "ticketfrei.test"


class PickyRelay(Relay):
    """A relay that refuses bounce* addresses for good and later* ones twice for now."""

    def __init__(self):
        super().__init__()
        self.refused_for_now = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bounce"):
            return "550 5.1.1 No such user"
        if address.startswith("later") and self.refused_for_now < 2:
            self.refused_for_now += 1
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def start_with_mail(make_instance, picky_relay, database_url=None):
    smtp_port = free_port()
    instance = make_instance(disabled=(), database_url=database_url, extra=picky_relay.settings() + (
        f'[bots.mail]\ndomain = "{DOMAIN}"\nlisten_port = {smtp_port}\nretry_delay = 0.5\n'
        # The mail bots never look on their own during a test: every mail a test sees relayed
        # came by the SMTP service's news (process.receive_now), as in a large instance.
        'poll_interval = 3600\n'))
    instance.smtp_port, instance.relay = smtp_port, picky_relay
    instance.ids = {city: instance.create_city(city) for city in ("berlin", "hamburg")}
    instance.start()
    wanted = {"service:mail"} | {f"{c}/mail:{i}" for c, i in instance.ids.items()} | {
        f"{c}/testnet:{a}" for c in instance.ids for a in "ab"}
    wait_for(lambda: wanted <= instance.running_names(), 30, what="the mail bots and service")
    wait_for(lambda: smtp_greets(smtp_port), 20, what="the SMTP service to greet")
    return instance




def mail(text, to=f"berlin@{DOMAIN}", sender="Erika Reporter <erika@example.org>", subject="",
         **extra) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    if text is not None:
        message.set_content(text, **extra)
    return message


def send(instance, message, to=None, sender="erika@example.org"):
    wire = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))  # SMTP speaks CRLF
    with smtplib.SMTP("127.0.0.1", instance.smtp_port, timeout=10) as client:
        return client.sendmail(sender, [to or message["To"]], wire)


def subscribe(instance, city, *emails):
    for email in emails:
        instance.sql("INSERT INTO mail_subscribers (city_id, email, bounces, dropped, created_at)"
                     " VALUES (:c, :e, 0, false, 0)", c=instance.ids[city], e=email)


def received(relay, to=None):
    return [m for m in relay.mails if to is None or m["To"] == to]


class Browser:
    """A visitor of the running web UI: keeps cookies, sends forms with their CSRF token."""

    def __init__(self, instance):
        self.base = f"http://127.0.0.1:{instance.port}"
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()))

    def get(self, path):
        with self.opener.open(self.base + path, timeout=20) as response:
            return response.read().decode()

    def submit(self, path, page, **fields):
        """POST to path with the fields and the CSRF token and hidden token of `page`."""
        for name in ("csrf", "token"):
            found = re.search(rf'name="{name}" value="([^"]+)"', page)
            if found and name not in fields:
                fields[name] = found.group(1)
        with self.opener.open(self.base + path, urlencode(fields).encode(), timeout=20) as response:
            return response.read().decode()


def link(relay, path):
    body = relay.mails[-1].get_payload(decode=True).decode()
    return re.search(rf"https?://[^/\s]+({re.escape(path)}\?token=\S+)", body).group(1)


# --- relaying --------------------------------------------------------------------------------

def test_mail_to_the_city_reaches_its_subscribers_and_other_bots_without_its_sender(
        city_with_mail):
    instance, relay = city_with_mail, city_with_mail.relay
    berlin, hamburg = instance.ids["berlin"], instance.ids["hamburg"]
    subscribe(instance, "berlin", "ada@example.org", "Bob@Example.org")
    subscribe(instance, "hamburg", "hamburg-reader@example.org")
    assert send(instance, mail("Kontrolle U1 Alexanderplatz, 2 Leute in Zivil")) == {}
    wait_for(lambda: len(received(relay)) == 2, 20, what="two mails at the relay")
    wait_for(lambda: len(instance.posted(berlin)) == 2, 20, what="both test network bots")
    # sent to each address as it was given (only its domain is case-insensitive)
    assert {m["To"] for m in relay.mails} == {"ada@example.org", "Bob@Example.org"}
    for message in relay.mails:
        assert message["From"] == f"Ticketfrei Berlin <berlin@{DOMAIN}>"
        assert message["Message-ID"] and message["Date"]
        assert message["List-Unsubscribe"].startswith("<http")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "Kontrolle U1 Alexanderplatz" in message.get_payload(decode=True).decode()
        assert "erika" not in message.as_string().lower()
    assert [row[2] for row in instance.posted(berlin)] == [
        "Kontrolle U1 Alexanderplatz, 2 Leute in Zivil"] * 2
    assert instance.posted(hamburg) == [] and received(relay, "hamburg-reader@example.org") == []
    # The stored mail, with the sender's address, is gone; the log never named the sender.
    assert instance.sql("SELECT count(*) FROM mail_inbox")[0][0] == 0
    assert "erika" not in instance.log().lower()


def test_report_from_another_network_reaches_the_subscribers(city_with_mail):
    instance = city_with_mail
    subscribe(instance, "berlin", "ada@example.org")
    instance.send(instance.ids["berlin"], "a", "Kontrolle Tram M4")
    wait_for(lambda: received(instance.relay, "ada@example.org"), 20, what="the mail")
    assert "Kontrolle Tram M4" in instance.relay.mails[0]["Subject"]


@pytest.mark.parametrize("to", ["atlantis@ticketfrei.test", "berlin@example.org", "berlin",
                                "postmaster@ticketfrei.test"])
def test_mail_to_an_unknown_address_is_refused_with_550(city_with_mail, to):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(city_with_mail, mail("Kontrolle U1"), to=to)
    assert list(refused.value.recipients.values())[0][0] == 550


def test_mail_to_a_city_with_its_list_off_is_refused(city_with_mail):
    hamburg = city_with_mail.ids["hamburg"]
    wait_for(lambda: city_with_mail.sql("SELECT 1 FROM mail_cities WHERE city_id = :c", c=hamburg),
             20, what="hamburg's mail bot to have started")
    city_with_mail.sql("UPDATE mail_cities SET enabled = false WHERE city_id = :c", c=hamburg)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(city_with_mail, mail("Kontrolle U1", to=f"hamburg@{DOMAIN}"))


def test_mail_over_the_size_limit_is_refused_with_552(city_with_mail):
    message = mail("Kontrolle U1 mit Foto")
    message.add_attachment(os.urandom(5 * 1024 * 1024), maintype="application",
                           subtype="octet-stream", filename="photo.jpg")
    with pytest.raises(smtplib.SMTPResponseException) as refused:
        send(city_with_mail, message)
    assert refused.value.smtp_code == 552
    assert city_with_mail.sql("SELECT count(*) FROM mail_inbox")[0][0] == 0


def raw_mails():
    html = mail("<p>Kontrolle <b>Bus 100</b></p>", subtype="html")
    latin = mail("Kontrolleure am Südkreuz", charset="iso-8859-1", cte="quoted-printable")
    b64 = mail("Kontrolle in der S-Bahn nach Köpenick", charset="utf-8", cte="base64")
    empty = mail(None, subject="Kontrolle U2 Gleisdreieck")
    headers8 = ("From: J\u00fcrgen <j@example.org>\r\nSubject: Kontrolle U9 S\u00fcd\r\n\r\n"
                ).encode()
    broken = (b"From: a@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: "
              b'multipart/mixed; boundary="XYZ"\r\n\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\n'
              b"Kontrolle Tram 12\r\n--NOPE--\r\n")
    bare = b"From: a@example.org\r\n\r\nKontrolle U4\r\n"  # no Date, To or Subject
    loop = mail("Kontrolle U1 (our own mail)", sender=f"Ticketfrei <berlin@{DOMAIN}>")
    return [(html.as_bytes(), "Kontrolle Bus 100"), (latin.as_bytes(), "Kontrolleure am Südkreuz"),
            (b64.as_bytes(), "Kontrolle in der S-Bahn nach Köpenick"),
            (empty.as_bytes(), "Kontrolle U2 Gleisdreieck"), (headers8, "Kontrolle U9 Süd"),
            (broken, "Kontrolle Tram 12"), (bare, "Kontrolle U4"), (loop.as_bytes(), None)]


def test_odd_mails_are_read_or_ignored_without_crashing_anything(city_with_mail):
    instance = city_with_mail
    cases = raw_mails()
    with smtplib.SMTP("127.0.0.1", instance.smtp_port, timeout=10) as client:
        for raw, _ in cases:
            wire = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            assert client.sendmail("x@example.org", [f"berlin@{DOMAIN}"], wire) == {}
    expected = sorted(text for _, text in cases if text)
    wait_for(lambda: instance.sql("SELECT count(*) FROM mail_inbox")[0][0] == 0, 30,
             what="every mail to be handled")
    reports = instance.sql("SELECT text, verdict_reason FROM reports")
    assert sorted(text for text, _ in reports if text) == expected
    # Our own mail is not relayed (it would loop), but it is recorded, with the reason.
    assert [reason for text, reason in reports if not text] == ["a mail from the city's own address"]
    row = instance.row(f"berlin/mail:{instance.ids['berlin']}")
    assert row["state"] == "running" and row["restarts"] == 0
    assert instance.row("service:mail")["restarts"] == 0


def test_mail_stored_while_its_bot_is_down_is_relayed_once_after_the_restart(city_with_mail):
    instance = city_with_mail
    subscribe(instance, "berlin", "ada@example.org")
    name = f"berlin/mail:{instance.ids['berlin']}"
    pid = instance.pid(name)
    os.kill(pid, signal.SIGSTOP)  # stored by the service, not yet read by the bot
    send(instance, mail("Kontrolle U7 Rathaus Neukölln"))
    assert instance.sql("SELECT count(*) FROM mail_inbox")[0][0] == 1
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: len(instance.posted(instance.ids["berlin"])) == 2, 30,
             what="the report at both other bots")
    time.sleep(1.5)
    assert [row[3] for row in instance.posted()] == [1, 1]
    wait_for(lambda: received(instance.relay, "ada@example.org"), 20, what="the subscriber's mail")
    time.sleep(1.5)
    assert len(received(instance.relay, "ada@example.org")) == 1
    assert instance.row(name)["restarts"] == 1


# --- subscribers -----------------------------------------------------------------------------

def test_subscribe_confirm_receive_and_unsubscribe_by_link_and_one_click(city_with_mail):
    instance, relay = city_with_mail, city_with_mail.relay
    visitor = Browser(instance)
    page = visitor.get("/city/berlin")
    assert f"berlin@{DOMAIN}" in page
    answer = visitor.submit("/bots/mail/berlin/subscribe", page, email="reader@example.org")
    assert "Check your mail" in answer
    assert instance.sql("SELECT count(*) FROM mail_subscribers")[0][0] == 0  # double opt-in
    confirm_link = link(relay, "/bots/mail/confirm")
    assert "Subscribed" in visitor.submit("/bots/mail/confirm", visitor.get(confirm_link))

    instance.send(instance.ids["berlin"], "a", "Kontrolle U2 Potsdamer Platz")
    wait_for(lambda: received(relay, "reader@example.org")[1:], 20, what="the report by mail")
    unsubscribe = link(relay, "/bots/mail/unsubscribe")
    page = Browser(instance).get(unsubscribe)  # another browser: the link is enough
    assert "Unsubscribed" in Browser(instance).submit("/bots/mail/unsubscribe", page)
    assert instance.sql("SELECT count(*) FROM mail_subscribers")[0][0] == 0

    # subscribe again, then leave with the one-click POST a mail program sends (RFC 8058)
    visitor.submit("/bots/mail/confirm", visitor.get(confirm_link))
    assert instance.sql("SELECT count(*) FROM mail_subscribers")[0][0] == 1
    one_click = Browser(instance)
    with one_click.opener.open(one_click.base + unsubscribe,
                               b"List-Unsubscribe=One-Click", timeout=20) as response:
        assert response.status == 200
    assert instance.sql("SELECT count(*) FROM mail_subscribers")[0][0] == 0


def test_subscribe_and_unsubscribe_by_mail(city_with_mail):
    instance, relay = city_with_mail, city_with_mail.relay
    send(instance, mail("", subject="subscribe", sender="Leser <leser@example.org>"),
         sender="leser@example.org")
    wait_for(lambda: received(relay, "leser@example.org"), 20, what="the confirmation mail")
    visitor = Browser(instance)
    visitor.submit("/bots/mail/confirm", visitor.get(link(relay, "/bots/mail/confirm")))
    assert instance.sql("SELECT email FROM mail_subscribers") == [("leser@example.org",)]
    assert instance.sql("SELECT count(*) FROM reports")[0][0] == 0  # a command, not a report
    # A sender can be forged: unsubscribing by mail mails the subscriber the link to leave.
    send(instance, mail("", subject="unsubscribe", sender="leser@example.org"),
         sender="leser@example.org")
    wait_for(lambda: len(received(relay, "leser@example.org")) == 2, 20,
             what="the unsubscribe link")
    assert instance.sql("SELECT count(*) FROM mail_subscribers")[0][0] == 1
    page = visitor.get(link(relay, "/bots/mail/unsubscribe"))
    assert "Unsubscribed" in visitor.submit("/bots/mail/unsubscribe", page)
    assert instance.sql("SELECT count(*) FROM mail_subscribers")[0][0] == 0


def test_bouncing_address_is_dropped_and_shown_and_a_busy_relay_is_retried(city_with_mail):
    instance, relay = city_with_mail, city_with_mail.relay
    subscribe(instance, "berlin", "bounce@example.org", "later@example.org", "ada@example.org")
    for n in range(3):
        instance.send(instance.ids["berlin"], "a", f"Kontrolle U{n + 1}")
    wait_for(lambda: len(received(relay, "ada@example.org")) == 3, 30, what="three reports")
    wait_for(lambda: len(received(relay, "later@example.org")) == 3, 30,
             what="the address the relay refused for now")
    assert instance.sql("SELECT dropped, bounces FROM mail_subscribers WHERE email = "
                        "'bounce@example.org'") == [(1, 3)]
    assert received(relay, "bounce@example.org") == []
    assert relay.refused_for_now == 2
    subjects = [m["Subject"] for m in received(relay, "ada@example.org")]
    assert len(set(subjects)) == 3  # nobody got a report twice
    wait_for(lambda: instance.sql("SELECT count(*) FROM deliveries WHERE network = 'mail' AND "
                                  "state = 'done'")[0][0] == 3, 20, what="deliveries done")
    organiser = Browser(instance)
    organiser.submit("/login", organiser.get("/login"), email="orga@berlin.example",
                     password="a good password")
    panel = organiser.get("/settings")
    assert "bounce@example.org" in panel and "2 subscriber(s)" in panel


def test_smtp_service_offers_starttls_when_a_certificate_is_configured(make_instance, tmp_path):
    import ssl
    import subprocess
    cert, key = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    instance = make_instance(disabled=(), extra=(
        f'[bots.mail]\ndomain = "{DOMAIN}"\nlisten_port = {port}\n'
        f'tls_cert = "{cert}"\ntls_key = "{key}"\n'))
    instance.create_city("berlin")
    instance.start()
    wait_for(lambda: smtp_greets(port), 20, what="the SMTP service to greet")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=ssl.create_default_context(cafile=str(cert)))
        assert client.sendmail("x@example.org", [f"berlin@{DOMAIN}"],
                               mail("Kontrolle U1").as_bytes()) == {}
    wait_for(lambda: instance.sql("SELECT count(*) FROM reports")[0][0] == 1, 20,
             what="the report from the encrypted mail")


def test_version_2_subscribers_are_taken_over_once(make_instance, picky_relay):
    from test_v2_database import make_v2_database
    smtp_port = free_port()
    instance = make_instance(disabled=(), extra=picky_relay.settings() + (
        f'[bots.mail]\ndomain = "{DOMAIN}"\nlisten_port = {smtp_port}\n'))
    instance.data.mkdir(parents=True)
    make_v2_database(instance.data / "ticketfrei.sqlite")
    instance.sql("INSERT INTO mailinglist (user_id, email) VALUES (1, 'old@example.org'), "
                 "(1, 'OLD@example.org'), (1, 'not an address'), (2, 'other@example.org')")
    instance.start()
    wait_for(lambda: instance.sql("SELECT email FROM mail_subscribers") == [("old@example.org",)],
             30, what="the version 2 subscriber to be taken over")
    instance.send(1, "a", "Kontrolle U1 Plärrer")
    wait_for(lambda: received(picky_relay, "old@example.org"), 20, what="the report by mail")
    # Unsubscribed in version 3, not brought back by the next start.
    instance.sql("DELETE FROM mail_subscribers")
    instance.stop()
    instance.start()
    wait_for(lambda: "Nürnberg/mail:1" in instance.running_names(), 20, what="the mail bot")
    time.sleep(2)
    assert instance.sql("SELECT count(*) FROM mail_subscribers")[0][0] == 0
    assert instance.sql("SELECT count(*) FROM mailinglist")[0][0] == 4  # version 2's table as it was


def test_bounces_and_auto_replies_to_the_city_are_not_relayed(city_with_mail):
    instance = city_with_mail
    vacation = mail("Ich bin im Urlaub.\n> Kontrolle U1 Alexanderplatz", subject="Re: Kontrolle")
    vacation["Auto-Submitted"] = "auto-replied"
    send(instance, vacation)
    bounce = mail("Kontrolle U1 Alexanderplatz could not be delivered",
                  sender="MAILER-DAEMON@example.org")
    send(instance, bounce, sender="")  # null envelope sender: a bounce
    send(instance, mail("Kontrolle U2 Gleisdreieck"))
    wait_for(lambda: instance.sql("SELECT count(*) FROM reports")[0][0] == 2, 20,
             what="the real report and the auto-reply's refusal")
    time.sleep(2)
    assert sorted(instance.sql("SELECT text, verdict, verdict_reason FROM reports")) == [
        ("", "rejected", "an automatic mail (a bounce or an auto-reply)"),
        ("Kontrolle U2 Gleisdreieck", "accepted", "matches a trigger pattern")]
    assert instance.sql("SELECT count(*) FROM mail_inbox")[0][0] == 0


def test_mail_relays_on_postgresql_too(make_instance, picky_relay, postgres_url):
    instance = start_with_mail(make_instance, picky_relay, database_url=postgres_url)
    subscribe(instance, "berlin", "ada@example.org")
    message = mail("Kontrolle U1 Alexanderplatz")
    message.add_attachment(os.urandom(100_000), maintype="image", subtype="jpeg",
                           filename="photo.jpg")
    send(instance, message)
    wait_for(lambda: received(picky_relay, "ada@example.org"), 20, what="the mail")
    wait_for(lambda: len(instance.posted(instance.ids["berlin"])) == 2, 20, what="other bots")
    assert instance.sql("SELECT count(*) FROM mail_inbox")[0][0] == 0
