"""The mail bot's web UI at /bots/mail/: subscribing (double opt-in), unsubscribing (a link
that keeps working, and RFC 8058 one-click), and the organisers' panel (list on or off, the
mail page text). Uses frontend's helpers for logins, CSRF and pages.

The subscribe form makes us mail any address: it is limited per address (bot.mail_allowed,
shared with the commands by mail) and per client (SUBSCRIBES_PER_CLIENT an hour). Subscribing
needs the city's list to be on; unsubscribing works at any time. Pages that carry a link's
token are never cached.

make_v2_app serves version 2's public paths under /city/mail/: its subscribe page (a redirect to
the city page's form) and the confirm and unsubscribe links of the mails it sent, whose tokens
are JWTs signed with the key in version 2's `secret` table (kept, and ours too). A version 2
confirmation link leads to a new confirmation mail of ours: its token was also the unsubscribe
token of every list mail, and never expires."""
import logging
from pathlib import Path
from urllib.parse import quote

import bottle
import jwt
from sqlalchemy import select

import db
import frontend
import mailer
import user

from .bot import MailBot, client_allowed, mail_allowed, send_confirmation, unsubscribe_token
from .db import MailCity, MailSubscriber, subscribers_with

log = logging.getLogger(__name__)
HERE = str(Path(__file__).resolve().parent)

SUBSCRIBES_PER_CLIENT = 10  # subscribe form posts an hour from one client address (IPv6: /64)


def _message(title, text, status=200):
    bottle.response.status = status
    return frontend.page("message", title=title, text=text)



def _has_list(session, city: db.City) -> bool:
    """Whether the city has a mailing list, as its page decides (the form is shown while the
    mail bot has an account there): only then can one subscribe."""
    return bool(MailBot.accounts(session, city.id))


def _open_list(session, city_id: int) -> db.City | None:
    """The city of a confirmation link if its page is shown and it has a mailing list."""
    city = session.get(db.City, city_id)
    city = city and user.city_page(session, city.name)
    return city if city is not None and _has_list(session, city) else None


def _no_list():
    return _message("Not subscribed", "This city has no mailing list.", 404)


def _read(token: str, purpose: str) -> tuple[int, str]:
    """(city id, address) of a link's token; a 400 page, as for link_token(), if it is bad."""
    try:
        subject = user.read_token(frontend.signing_secret(), token, purpose)
    except user.TokenError as error:
        bottle.abort(400, f"This link does not work: {error}.")
    city_id, _, email = subject.partition(":")
    return int(city_id), email


def make_app(settings, sessions, notify_main):
    app = bottle.Bottle()

    @app.post("/<name>/subscribe")
    def subscribe(name):
        frontend.check_csrf()
        email = frontend.form("email", 300).strip()
        if not user.EMAIL.match(email) or len(email) > user.MAX_EMAIL:
            return _message("Not subscribed", "That is not an e-mail address.", 400)
        with sessions.begin() as session:
            city = user.city_page(session, name)
            if city is None:
                return _message("Not subscribed", "There is no such city here.", 404)
            if not _has_list(session, city):
                return _no_list()
            secret = user.instance_secret(session)
            # Counted in a transaction of their own: no lock is held while the relay talks.
            client = user.client_network(bottle.request.environ.get("REMOTE_ADDR") or "unknown")
            allowed = (client_allowed(session, secret, client, SUBSCRIBES_PER_CLIENT)
                       and mail_allowed(session, secret, email))
        if not allowed:
            # The same page for every address: it tells nothing about subscriptions.
            bottle.response.set_header("Retry-After", "3600")
            return _message("Not subscribed", "Too many subscriptions were asked for from "
                            "here or for this address. Please try again in an hour.", 429)
        try:
            send_confirmation(settings, secret, city, email)
        except mailer.MailError:
            return _message("Not subscribed", "We could not send the confirmation mail. "
                            "Please try again later.", 503)
        return _message("Check your mail", "We sent you a mail: follow its link to receive "
                        "the reports.")

    @app.get("/confirm")
    def confirm_form():
        frontend.no_store()
        token = frontend.link_token("mail-subscribe")
        city_id, _ = _read(token, "mail-subscribe")
        with sessions() as session:
            if _open_list(session, city_id) is None:
                return _no_list()
        return frontend.page("confirm_action", action="/bots/mail/confirm", token=token,
                             title="Subscribe", button="Yes, send me the reports")

    @app.post("/confirm")
    def confirm():
        frontend.no_store()
        frontend.check_csrf()
        city_id, email = _read(frontend.form("token", 2000), "mail-subscribe")
        with sessions.begin() as session:
            if _open_list(session, city_id) is None:
                return _no_list()
            rows = subscribers_with(session, city_id, email)
            if not rows:
                session.add(MailSubscriber(city_id=city_id, email=email))
            for row in rows:  # subscribing again gives a dropped address another chance
                row.dropped, row.bounces = False, 0
        log.info("a subscriber confirmed")
        return _message("Subscribed", "You will receive the city's reports by mail. Every mail "
                        "has a link to unsubscribe.")

    @app.get("/unsubscribe")
    def unsubscribe_form():
        frontend.no_store()
        return frontend.page("confirm_action", action="/bots/mail/unsubscribe",
                             token=frontend.link_token("mail-unsubscribe"), title="Unsubscribe",
                             button="Unsubscribe")

    @app.post("/unsubscribe")
    def unsubscribe():
        frontend.no_store()
        # The token is the permission: RFC 8058 one-click POSTs carry no CSRF field, and a
        # forged request could do nothing the link's owner would not want.
        token = bottle.request.query.getunicode("token") or frontend.form("token", 2000)
        city_id, email = _read(token, "mail-unsubscribe")
        with sessions.begin() as session:
            for row in subscribers_with(session, city_id, email):
                session.delete(row)
        return _message("Unsubscribed", "You will get no more mail from this list.")

    @app.post("/<name>/settings")
    def panel(name):
        frontend.check_csrf()
        city = frontend.require_city(name)
        with sessions.begin() as session:
            row = session.get(MailCity, city.id) or MailCity(city_id=city.id, enabled=True,
                                                             v2_imported=False)
            session.add(row)
            if "enabled" in bottle.request.forms:
                row.enabled = bottle.request.forms.get("enabled") == "1"
            if "mail_md" in bottle.request.forms:
                user.save_texts(session, city.user_id, mail_md=frontend.form("mail_md"))
        notify_main()
        return frontend.back_to_settings("mail")

    return app


# --- version 2's links -----------------------------------------------------------------------

def _read_v2(sessions, token: str) -> tuple[int, str]:
    """(city id, address) of a version 2 link's token: an HS256 JWT {"email", "city"} (city
    as version 2 named it) signed with a key of the `secret` table; a 400 page otherwise. A
    token of ours cannot pass for one: ours have two parts, a JWT three."""
    with sessions() as session:
        keys = session.scalars(select(db.Secret.secret).order_by(db.Secret.id.desc())).all()
        for key in keys:
            try:
                claims = jwt.decode(token, bytes(key), algorithms=["HS256"],
                                    options={"require": ["email", "city"]})
                break
            except jwt.InvalidTokenError:
                continue
        else:
            bottle.abort(400, "This link does not work: this link is not valid.")
        email, name = claims["email"], claims["city"]
        city = user.find_city(session, name) if isinstance(name, str) else None
    if (not isinstance(email, str) or len(email.strip()) > user.MAX_EMAIL
            or not user.EMAIL.match(email.strip()) or city is None):
        bottle.abort(400, "This link does not work: this link is not valid.")
    return city.id, email.strip()


def make_v2_app(settings, sessions, notify_main):
    """Version 2's public paths of the mailing list, mounted at /city/mail/. Its links confirm
    and unsubscribe through our own pages: a GET only shows the button (mail scanners open
    links), and the button posts a token of ours to the routes above."""
    app = bottle.Bottle()

    @app.get("/<name>")
    def subscribe_page(name):
        with sessions() as session:
            city = user.city_page(session, name)
        if city is None:
            bottle.response.status = 404
            return frontend.page("unknown_city", name=name)
        # A relative Location: bottle.redirect() would build it from X-Forwarded-Host.
        raise bottle.HTTPResponse(status=302, Location=f"/city/{quote(city.name)}#subscribe")

    @app.get("/confirm/<token>")
    def confirm(token):
        # Version 2 put the same token, which never expires, in its confirmation links and in
        # the unsubscribe link of every list mail: taking it as a confirmation would let any
        # old or forwarded list mail subscribe its address again for good. It asks for a
        # confirmation mail of ours instead (the subscribe form's limits apply).
        frontend.no_store()
        city_id, email = _read_v2(sessions, token)
        with sessions() as session:
            city = _open_list(session, city_id)
            if city is None:
                return _no_list()
        return frontend.page("resubscribe", lookup=[HERE, frontend.SITE_TEMPLATES],
                             city=city, email=email)

    @app.get("/unsubscribe/<token>")
    def unsubscribe(token):
        frontend.no_store()
        city_id, email = _read_v2(sessions, token)
        return frontend.page("confirm_action", action="/bots/mail/unsubscribe",
                             token=unsubscribe_token(frontend.signing_secret(), city_id, email),
                             title="Unsubscribe", button="Unsubscribe")

    return app
