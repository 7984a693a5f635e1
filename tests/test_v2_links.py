"""Version 2's mailed links and its subscribe page keep working on a version 2 database: tokens
made as version 2 made them (an HS256 JWT from PyJWT 1, signed with the `secret` table's key)."""
import base64
import hashlib
import hmac
import json
import os
import sqlite3

import webtest

import db
import frontend
from bots.mail.db import MailSubscriber
from test_v2_database import make_v2_database
from test_web import csrf


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def v2_token(secret: bytes, email: str, city: str) -> str:
    """db.mail_subscription_token of version 2: jwt.encode({'email': …, 'city': …}, secret)."""
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps({"email": email, "city": city}, separators=(",", ":")).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def v2_app(core_for, tmp_path, relay=None, city=None):
    path = tmp_path / "ticketfrei.sqlite"
    make_v2_database(path)
    with sqlite3.connect(path) as conn:
        secret = conn.execute("SELECT secret FROM secret ORDER BY id DESC LIMIT 1").fetchone()[0]
        if city:
            conn.execute("UPDATE cities SET city = ?", (city,))
    mail = {} if relay is None else dict(
        TICKETFREI_MAIL_RELAY_HOST="127.0.0.1", TICKETFREI_MAIL_RELAY_PORT=str(relay.port),
        TICKETFREI_MAIL_RELAY_SECURITY="none")
    settings, plugins, sessions = core_for(f"sqlite:///{path}", TICKETFREI_PLUGINS_DISABLED="",
                                           **mail)
    wsgi_app = frontend.make_app(settings, sessions, plugins)
    # Bottle rewrites PATH_INFO in the environ it is given (as text); a server hands each
    # request its own environ, WebTest reads its copy afterwards to resolve a redirect.
    app = webtest.TestApp(lambda environ, start: wsgi_app(dict(environ), start))
    return app, sessions, secret


def subscribers(sessions) -> list[str]:
    with sessions() as session:
        return sorted(row.email for row in session.query(MailSubscriber))


def follow(app, link):
    """Open a mailed link and press its page's button, as a reader does."""
    page = app.get(link)
    return app.post(page.form.action, {"token": page.form["token"].value, "csrf": csrf(page)})


def test_version_2_subscribe_page_leads_to_the_city_pages_form(core_for, tmp_path):
    app, _, _ = v2_app(core_for, tmp_path)
    answer = app.get("/city/mail/N%C3%BCrnberg", status=302)
    assert answer.location.endswith("/city/N%C3%BCrnberg#subscribe")
    assert 'id="subscribe"' in answer.follow().text
    assert app.get("/city/mail/n%C3%BCrnberg", status=302)  # any case, as city pages
    assert "no city" in app.get("/city/mail/atlantis", status=404).text.lower()


def test_version_2_confirm_link_asks_for_a_new_confirmation_and_keeps_the_address_as_given(
        core_for, tmp_path, relay):
    """Version 2's confirm token was also the unsubscribe token of every list mail, and never
    expires: it leads to a confirmation mail of ours, not to a subscription."""
    app, sessions, secret = v2_app(core_for, tmp_path, relay)
    page = app.get("/city/mail/confirm/" + v2_token(secret, "Erika@Example.org", "Nürnberg"))
    assert page.headers["Cache-Control"] == "no-store" and subscribers(sessions) == []
    asked = page.form.submit()
    assert "Check your mail" in asked.text and subscribers(sessions) == []
    frontend.site.outbox.join()
    assert relay.mails[-1]["To"] == "Erika@Example.org"
    follow(app, relay.link("/bots/mail/confirm"))
    assert subscribers(sessions) == ["Erika@Example.org"]
    # the same address in other capitals is the same subscriber
    app.get("/city/mail/confirm/" + v2_token(secret, "erika@example.org", "Nürnberg")
            ).form.submit()
    frontend.site.outbox.join()
    follow(app, relay.link("/bots/mail/confirm"))
    assert subscribers(sessions) == ["Erika@Example.org"]


def test_version_2_city_with_a_capital_umlaut_keeps_its_links(core_for, tmp_path):
    app, sessions, secret = v2_app(core_for, tmp_path, city="Überlingen")
    with sessions.begin() as session:
        session.add(MailSubscriber(city_id=1, email="Ärger@example.org"))
    assert app.get("/city/mail/%C3%9Cberlingen", status=302).location.endswith(
        "/city/%C3%9Cberlingen#subscribe")
    assert "Überlingen" in app.get("/city/%C3%9Cberlingen").text
    # SQLite's lower() leaves Ä alone: the address is still one subscriber
    follow(app, "/city/mail/unsubscribe/" + v2_token(secret, "ärger@example.org", "Überlingen"))
    assert subscribers(sessions) == []


def test_version_2_unsubscribe_link_removes_the_subscriber_in_any_case(core_for, tmp_path):
    app, sessions, secret = v2_app(core_for, tmp_path)
    with sessions.begin() as session:
        session.add(MailSubscriber(city_id=1, email="Erika@Example.org"))
        session.add(MailSubscriber(city_id=1, email="max@example.org"))
    # version 2 mailed the address as stored; a link with other capitals is the same person
    link = "/city/mail/unsubscribe/" + v2_token(secret, "erika@example.ORG", "Nürnberg")
    assert "Unsubscribed" in follow(app, link).text
    assert subscribers(sessions) == ["max@example.org"]


def test_forged_or_foreign_version_2_tokens_are_refused(core_for, tmp_path):
    app, sessions, secret = v2_app(core_for, tmp_path)
    with sessions.begin() as session:
        session.add(MailSubscriber(city_id=1, email="max@example.org"))
    other_instance = os.urandom(32)
    header, payload, _ = v2_token(secret, "max@example.org", "Nürnberg").split(".")
    forged_payload = _b64(json.dumps({"email": "max@example.org", "city": "Nürnberg",
                                      "x": 1}).encode())
    bad = [v2_token(other_instance, "max@example.org", "Nürnberg"),  # another instance's
           f"{header}.{forged_payload}.{v2_token(secret, 'a@b.example', 'Nürnberg')[-43:]}",
           v2_token(secret, "max@example.org", "Atlantis"),  # no such city
           v2_token(secret, "not an address", "Nürnberg"),
           v2_token(secret, "x" * 300 + "@example.org", "Nürnberg"),  # longer than any address
           f"{header}.{payload}",  # no signature
           # an unsigned token ("alg": "none") is never taken
           _b64(b'{"typ":"JWT","alg":"none"}') + f".{payload}.",
           "garbage"]
    for token in bad:
        for kind in ("unsubscribe", "confirm"):
            answer = app.get(f"/city/mail/{kind}/{token}", status=400)
            assert "This link does not work" in answer.text
    # our own unsubscribe link's token is not a version 2 one either
    ours = app.get("/city/mail/unsubscribe/" + v2_token(secret, "max@example.org", "Nürnberg"))
    app.get("/city/mail/unsubscribe/" + ours.form["token"].value, status=400)
    assert subscribers(sessions) == ["max@example.org"]


def test_version_2_mail_text_heading_is_not_a_second_page_title(core_for, tmp_path):
    app, sessions, _ = v2_app(core_for, tmp_path)
    with sessions.begin() as session:
        session.get(db.City, 1).mail_md = "# Mailingliste\n\n## Abonnieren\n\nSchreibt uns!"
    page = app.get("/city/N%C3%BCrnberg").text
    assert page.count("<h1") == 1 and "<h1>Ticketfrei Nürnberg</h1>" in page
    assert "<h3>Mailingliste</h3>" in page and "<h4>Abonnieren</h4>" in page
