"""The mail bot's answers to a security review: unsubscribing by mail needs the link mailed to
the subscriber, everything that makes us send mail is limited (per recipient address, shared
by the form and the commands by mail, and per web client), subscribing needs the city's list
to be on, pages with a link's token are not cached, and the SMTP service takes a bounded
number of recipients."""
import re
import smtplib
import urllib.error

import pytest
import webtest
from instance import wait_for
from sqlalchemy import select
from test_mail import DOMAIN, Browser, link, mail, received, send, subscribe
from test_web import csrf, sign_up

import db
import frontend
import user
from bots.mail.bot import subscribe_token, unsubscribe_token
from bots.mail.db import MailCity, MailSubscriber

# --- the web UI, through the WSGI app --------------------------------------------------------

@pytest.fixture
def web(core_for, sqlite_url, relay):
    """The frontend with the mail plugin; cities berlin and hamburg, nobody logged in."""
    settings, plugins, sessions = core_for(
        sqlite_url, TICKETFREI_PLUGINS_DISABLED="", TICKETFREI_BOTS_MAIL_DOMAIN="tf.example",
        TICKETFREI_MAIL_RELAY_HOST="127.0.0.1", TICKETFREI_MAIL_RELAY_PORT=str(relay.port),
        TICKETFREI_MAIL_RELAY_SECURITY="none")
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins),
                          extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    app.relay, app.sessions = relay, sessions
    sign_up(app, city="hamburg", email="orga@hamburg.example")
    app.reset()
    sign_up(app)
    app.reset()
    app.signup_mails = len(relay.mails)
    return app


def ask(app, email, city="berlin", client="192.0.2.1", status=None):
    page = app.get(f"/city/{city}", extra_environ={"REMOTE_ADDR": client})
    return app.post(f"/bots/mail/{city}/subscribe", {"email": email, "csrf": csrf(page)},
                    extra_environ={"REMOTE_ADDR": client}, status=status)


def mailed(app, to=None):
    return [m for m in app.relay.mails[app.signup_mails:] if to is None or m["To"] == to]


def city_id(app, name):
    with app.sessions() as session:
        return session.scalar(select(db.City.id).where(db.City.name == name))


def without_csrf(text):
    return re.sub(r'value="[^"]*"', "", text)


def test_the_form_mails_an_address_3_times_an_hour_and_its_429_tells_nothing(web):
    with web.sessions.begin() as session:
        session.add(MailSubscriber(city_id=city_id(web, "berlin"), email="sub@example.org"))
    # All cities together, and the form's clients do not matter.
    ask(web, "ada@example.org", client="192.0.2.10", status=200)
    ask(web, "ADA@example.org", city="hamburg", client="192.0.2.11", status=200)
    ask(web, "ada@example.org", client="192.0.2.12", status=200)
    refused = ask(web, "ada@example.org", client="192.0.2.13", status=429)
    assert "try again in an hour" in refused.text and refused.headers["Retry-After"] == "3600"
    # sent as typed; one address whatever its capitals
    assert sorted(m["To"] for m in mailed(web)) == ["ADA@example.org"] + ["ada@example.org"] * 2
    # The page is the same for a subscribed address and for one that is not.
    for n in range(3):
        ask(web, "sub@example.org", client=f"192.0.2.{20 + n}", status=200)
    assert without_csrf(ask(web, "sub@example.org", client="192.0.2.30", status=429).text) \
        == without_csrf(refused.text)
    ask(web, "bob@example.org", client="192.0.2.13", status=200)  # other addresses go on
    assert len(mailed(web)) == 7


def test_the_form_takes_10_requests_an_hour_from_one_client(web):
    for n in range(10):
        ask(web, f"reader{n}@example.org", client="198.51.100.7", status=200)
    refused = ask(web, "reader10@example.org", client="198.51.100.7", status=429)
    assert "try again in an hour" in refused.text
    assert len(mailed(web)) == 10 and not mailed(web, "reader10@example.org")
    ask(web, "reader10@example.org", client="198.51.100.8", status=200)
    # An IPv6 client has its /64 in full: one limit for all of it.
    for n in range(10):
        ask(web, f"six{n}@example.org", client=f"2001:db8:1:2::{n + 1:x}", status=200)
    ask(web, "six10@example.org", client="2001:db8:1:2:ffff::1", status=429)
    ask(web, "six10@example.org", client="2001:db8:1:3::1", status=200)


def test_subscribing_needs_the_list_on_but_unsubscribing_does_not(web):
    berlin = city_id(web, "berlin")
    ask(web, "ada@example.org", status=200)
    confirm_link = web.relay.link("/bots/mail/confirm")
    with web.sessions.begin() as session:
        session.add(MailCity(city_id=berlin, enabled=False, v2_imported=True))
        session.add(MailSubscriber(city_id=berlin, email="old@example.org"))
    assert "/bots/mail/berlin/subscribe" not in web.get("/city/berlin").text  # hidden ...
    page = web.get("/login")  # a page with this visitor's CSRF token
    refused = web.post("/bots/mail/berlin/subscribe",  # ... and the route refuses
                       {"email": "bob@example.org", "csrf": csrf(page)}, status=404)
    assert "no mailing list" in refused.text
    assert "no mailing list" in web.get(confirm_link, status=404).text
    token = confirm_link.partition("token=")[2]
    assert "no mailing list" in web.post("/bots/mail/confirm", {"token": token,
                                                                 "csrf": csrf(page)},
                                         status=404).text
    with web.sessions() as session:
        assert session.scalars(select(MailSubscriber.email)).all() == ["old@example.org"]
        secret = user.instance_secret(session)
    assert len(mailed(web)) == 1
    web.post(f"/bots/mail/unsubscribe?token={unsubscribe_token(secret, berlin, 'old@example.org')}",
             b"List-Unsubscribe=One-Click", status=200)
    with web.sessions.begin() as session:
        assert session.query(MailSubscriber).count() == 0
        session.get(MailCity, berlin).enabled = 1
    web.post("/bots/mail/confirm", {"token": token, "csrf": csrf(web.get(confirm_link))},
             status=200)  # the same link works once the list is on again


def test_a_confirmation_for_a_deleted_or_unknown_city_stores_nothing(web):
    with web.sessions() as session:
        secret = user.instance_secret(session)
    page = web.get("/city/berlin")
    token = subscribe_token(secret, 9999, "ada@example.org")
    web.get(f"/bots/mail/confirm?token={token}", status=404)
    web.post("/bots/mail/confirm", {"token": token, "csrf": csrf(page)}, status=404)
    with web.sessions() as session:
        assert session.query(MailSubscriber).count() == 0


def test_pages_and_answers_with_a_links_token_are_never_cached(web):
    berlin = city_id(web, "berlin")
    ask(web, "ada@example.org", status=200)
    confirm = web.get(web.relay.link("/bots/mail/confirm"))
    assert confirm.headers["Cache-Control"] == "no-store"
    answer = web.post("/bots/mail/confirm", {"token": confirm.form["token"].value,
                                             "csrf": csrf(confirm)})
    assert answer.headers["Cache-Control"] == "no-store"
    with web.sessions() as session:
        token = unsubscribe_token(user.instance_secret(session), berlin, "ada@example.org")
    leave = web.get(f"/bots/mail/unsubscribe?token={token}")
    assert leave.headers["Cache-Control"] == "no-store"
    one_click = web.post(f"/bots/mail/unsubscribe?token={token}", b"List-Unsubscribe=One-Click")
    assert one_click.headers["Cache-Control"] == "no-store"


# --- commands by mail and the SMTP service, on a running instance ------------------------------

def inbox_empty(instance):
    return instance.sql("SELECT count(*) FROM mail_inbox")[0][0] == 0


def test_a_forged_unsubscribe_only_mails_the_link_to_the_subscriber(city_with_mail):
    instance, relay = city_with_mail, city_with_mail.relay
    subscribe(instance, "berlin", "ada@example.org")
    # Anyone can write "From: ada": the subscriber stays and is mailed the link.
    send(instance, mail("", subject="unsubscribe", sender="Ada <ada@example.org>"),
         sender="mallory@example.net")
    wait_for(lambda: received(relay, "ada@example.org"), 20, what="the unsubscribe link")
    assert instance.sql("SELECT email FROM mail_subscribers") == [("ada@example.org",)]
    answer = received(relay, "ada@example.org")[0]
    assert answer["From"] == f"Ticketfrei Berlin <berlin@{DOMAIN}>"
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["List-Unsubscribe"] == f"<http://127.0.0.1:{instance.port}" \
        f"{link(relay, '/bots/mail/unsubscribe')}>"
    # An address that is not subscribed is mailed nothing (and the sender never hears back).
    send(instance, mail("", subject="unsubscribe", sender="nobody@example.org"),
         sender="nobody@example.org")
    wait_for(lambda: inbox_empty(instance), 20, what="the command to be handled")
    assert len(relay.mails) == 1 and instance.sql("SELECT count(*) FROM reports")[0][0] == 0
    # The link does it.
    leave = Browser(instance)
    page = leave.get(link(relay, "/bots/mail/unsubscribe"))
    assert "Unsubscribed" in leave.submit("/bots/mail/unsubscribe", page)
    assert instance.sql("SELECT count(*) FROM mail_subscribers")[0][0] == 0
    assert "ada@" not in instance.log() and "nobody@" not in instance.log()


def test_commands_by_mail_are_limited_per_address_together_with_the_form(city_with_mail):
    instance, relay = city_with_mail, city_with_mail.relay
    # later@ is refused for now twice by the relay: a retry is not counted again.
    subscribe(instance, "berlin", "later@example.org")
    for command in ("subscribe", "unsubscribe", "subscribe", "unsubscribe"):
        send(instance, mail("", subject=command, sender="later@example.org"),
             sender="later@example.org")
    wait_for(lambda: inbox_empty(instance), 30, what="the commands to be handled")
    answers = received(relay, "later@example.org")
    assert relay.refused_for_now == 2
    assert sorted(m["Subject"].split()[0] for m in answers) == ["Confirm", "Confirm",
                                                                 "Unsubscribe"]
    assert "a command by mail (unsubscribe) was dropped: its address reached its limit" \
        in instance.log()
    assert instance.sql("SELECT count(*) FROM reports")[0][0] == 0  # handled, no report
    # Unsubscribing an address that is not subscribed counts the same: the form's 429 does
    # not tell which addresses are subscribed.
    for _ in range(3):
        send(instance, mail("", subject="unsubscribe", sender="nobody@example.org"),
             sender="nobody@example.org")
    wait_for(lambda: inbox_empty(instance), 20, what="the commands to be handled")
    assert received(relay, "nobody@example.org") == []
    refusals = []
    for email in ("later@example.org", "nobody@example.org"):
        visitor = Browser(instance)
        with pytest.raises(urllib.error.HTTPError) as refused:
            visitor.submit("/bots/mail/berlin/subscribe", visitor.get("/city/berlin"),
                           email=email)
        assert refused.value.code == 429
        refusals.append(without_csrf(refused.value.read().decode()))
    assert refusals[0] == refusals[1] and "try again in an hour" in refusals[0]
    visitor = Browser(instance)
    assert "Check your mail" in visitor.submit("/bots/mail/berlin/subscribe",
                                               visitor.get("/city/berlin"),
                                               email="fresh@example.org")
    log = instance.log()
    assert "later@" not in log and "nobody@" not in log and "fresh@" not in log


def test_smtp_takes_10_recipients_a_message_and_20_rcpt_a_connection(city_with_mail):
    instance = city_with_mail
    to = f"berlin@{DOMAIN}"
    with smtplib.SMTP("127.0.0.1", instance.smtp_port, timeout=10) as client:
        client.ehlo()
        client.mail("erika@example.org")
        codes = [client.rcpt(to)[0] for _ in range(12)]
        assert codes == [250] * 10 + [452] * 2
        assert client.rcpt(to)[1].startswith(b"4.5.3 Too many recipients")
        assert client.data(mail("Kontrolle U1").as_bytes())[0] == 250
        client.mail("erika@example.org")
        # 13 RCPT so far: 7 more, then every RCPT of this connection is refused for now.
        codes = [client.rcpt(to)[0] for _ in range(8)]
        assert codes == [250] * 7 + [452]
        client.rset()
    wait_for(lambda: instance.sql("SELECT count(*) FROM reports")[0][0] == 1, 20,
             what="the one mail (stored once) as a report")
    assert inbox_empty(instance)
    with smtplib.SMTP("127.0.0.1", instance.smtp_port, timeout=10) as client:  # a new one
        assert client.sendmail("erika@example.org", [to], mail("Kontrolle U2").as_bytes()) == {}


def test_a_relay_refusing_an_address_for_now_is_logged_without_it(settings_for, sqlite_url,
                                                                  picky_relay, caplog):
    import mailer
    settings, _ = settings_for(sqlite_url, TICKETFREI_MAIL_RELAY_HOST="127.0.0.1",
                            TICKETFREI_MAIL_RELAY_PORT=str(picky_relay.port),
                            TICKETFREI_MAIL_RELAY_SECURITY="none")
    with pytest.raises(mailer.MailError):
        mailer.send(settings, mailer.message(settings, "later@example.org", "x", "y"))
    assert "later@" not in caplog.text
