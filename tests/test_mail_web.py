"""The mail bot's web UI through the WSGI app: the organisers' panel and the public part."""
import webtest

import db
import frontend
from bots.mail.db import MailCity, MailSubscriber
from test_web import csrf, sign_up


def test_organisers_turn_the_list_off_and_edit_its_text_and_only_for_their_city(core_for,
                                                                                sqlite_url, relay):
    settings, plugins, sessions = core_for(
        sqlite_url, TICKETFREI_PLUGINS_DISABLED="", TICKETFREI_BOTS_MAIL_DOMAIN="tf.example",
        TICKETFREI_MAIL_RELAY_HOST="127.0.0.1", TICKETFREI_MAIL_RELAY_PORT=str(relay.port),
        TICKETFREI_MAIL_RELAY_SECURITY="none")
    told = []
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins,
                                            notify_main=lambda: told.append(1)))
    app.relay = relay
    sign_up(app, city="hamburg", email="orga@hamburg.example")
    app.reset()
    sign_up(app)  # berlin, logged in
    panel = app.get("/settings")
    assert "berlin@tf.example" in panel.text and "0 subscriber(s)" in panel.text
    token = csrf(panel)
    app.post("/bots/mail/berlin/settings", {"mail_md": "Abonniert *uns*!", "csrf": token},
             status=303)
    city_page = app.get("/city/berlin").text
    assert "Abonniert <em>uns</em>!" in city_page and "berlin@tf.example" in city_page
    app.post("/bots/mail/berlin/settings", {"enabled": "0", "csrf": token}, status=303)
    with sessions() as session:
        berlin = session.query(db.City).filter_by(name="berlin").one()
        assert session.get(MailCity, berlin.id).enabled == 0
    assert "The list is <strong>off</strong>" in app.get("/settings").text
    assert "berlin@tf.example" not in app.get("/city/berlin").text  # no mail part when off
    assert told
    app.post("/bots/mail/hamburg/settings", {"enabled": "0", "csrf": token}, status=403)
    app.post("/bots/mail/berlin/settings", {"enabled": "1"}, status=403)  # no CSRF token


def test_subscribing_with_a_bad_address_is_refused_and_stores_nothing(core_for, sqlite_url,
                                                                      relay):
    settings, plugins, sessions = core_for(
        sqlite_url, TICKETFREI_PLUGINS_DISABLED="", TICKETFREI_MAIL_RELAY_HOST="127.0.0.1",
        TICKETFREI_MAIL_RELAY_PORT=str(relay.port), TICKETFREI_MAIL_RELAY_SECURITY="none")
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins))
    app.relay = relay
    sign_up(app)
    app.reset()
    page = app.get("/city/berlin")
    for bad in ["not-an-address", "a@b", "x" * 400 + "@example.org"]:
        app.post("/bots/mail/berlin/subscribe", {"email": bad, "csrf": csrf(page)},
                 status=[400, 413])
    app.post("/bots/mail/atlantis/subscribe", {"email": "a@example.org", "csrf": csrf(page)},
             status=404)
    forged = "/bots/mail/confirm?token=eyJwIjoibWFpbC1zdWJzY3JpYmUifQ.AAAA"
    assert "not valid" in app.get(forged, status=400).text
    posted = app.post("/bots/mail/confirm", {"token": "eyJwIjoibWFpbC1zdWJzY3JpYmUifQ.AAAA",
                                             "csrf": csrf(page)}, status=400)
    assert "This link does not work" in posted.text
    assert "not valid" in app.post("/bots/mail/unsubscribe?token=forged.AAAA",
                                   b"List-Unsubscribe=One-Click", status=400).text
    with sessions() as session:
        assert session.query(MailSubscriber).count() == 0
    assert len(relay.mails) == 1  # only the sign-up's
