"""The X (Twitter) bot's web UI at /bots/twitter/: a city's organisers connect an X account
through X's 3-legged OAuth 1.0a flow with the instance's app (consumer key and secret from
[bots.twitter]), and disconnect it. Uses frontend's helpers for logins, CSRF, the flow's state
(OAuth 1.0a's request token is the state: X's callback brings back nothing else) and the way
back to the settings page.

Every request to X goes through client.py with a short timeout (it holds one of the frontend's
few threads) and is made while no database transaction is open. Touches the plugin's own tables
only: twitter_request_tokens (the request token and its secret while the organiser is on X;
version 2's table), twitter_accounts (the access token and its secret; version 2's table, rows
of a reconnected account reused), twitter_handles, version 2's baseline (seen_tweets,
seen_dms: a connected account starts after its newest mention), and, through
bots.reset_watermark, the watermark of an account connected again.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import bottle
from sqlalchemy import delete, or_, select

import bots
import frontend
import user

from . import client
from .bot import TwitterBot, configured, x_user_id
from .db import TwitterAccount, TwitterHandle, TwitterRequestToken, TwitterSeenDM, TwitterSeenTweet

log = logging.getLogger(__name__)

NAME = "twitter"
CONNECTS_PER_HOUR = 20  # connect attempts of one city: each asks X for a request token
WEB_TIMEOUT = 10.0  # seconds: an organiser waits, and a frontend thread with them
# Our templates, then the site's (base.tpl): one list, as Bottle caches templates by it.
LOOKUP = [str(Path(__file__).resolve().parent), frontend.SITE_TEMPLATES]
# X's usernames are 1-15 letters, digits and _ (older ones a little longer); anything else in
# an answer is not X's, and the name goes into a link on the panel and the city page.
USERNAME = re.compile(r"[A-Za-z0-9_]{1,50}")
ACCOUNT_ID = re.compile(r"[0-9]{1,9}")  # a row id (an INTEGER column: no larger number)
TOKEN_LIMIT = 500  # characters of a token or secret X gives us (X's are about 50)

NO_KEYS = ("The instance's administrator must set X's consumer key and secret ([bots.twitter]) "
           "first.")
TOO_MANY = "Too many connection attempts: please wait an hour."
NO_ANSWER = "X did not answer; please try again in a few minutes."
NOT_UNDERSTOOD = "X's answer was not understood; please try again in a few minutes."
DENIED = "You did not allow Ticketfrei on X."
UNKNOWN = "This authorisation link was already used or is unknown: please connect again."
TAKEN = ("{handle} is connected to another city of this instance: each city needs an account "
         "of its own.")
NO_SUCH = "There is no such account of your city."


class Said(Exception):
    """A step that cannot be done; the message is for the organiser."""


def _options():
    """[bots.twitter], or Said when the instance has no X app."""
    options = TwitterBot.options
    if not configured(options):
        raise Said(NO_KEYS)
    return options


def _count(sessions, city) -> None:
    """Count one attempt that asks X; Said once the city made its share this hour."""
    with sessions.begin() as session:
        if not user.allow(session, f"twitter-connect:{city.id}", CONNECTS_PER_HOUR, 3600):
            raise Said(TOO_MANY)


def _text(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= TOKEN_LIMIT


def _authorization_url(options, callback: str):
    """(the URL on X to send the organiser to, the request token, its secret), or Said."""
    handler = client.handler(options.consumer_key, options.consumer_secret, callback,
                             options.api_url, WEB_TIMEOUT)
    try:
        url = client.call(handler, "get_authorization_url")
    except bots.CredentialsRefused as error:  # the consumer key and secret
        raise Said(f"{error}.") from None
    except (bots.TryLater, OSError):
        raise Said(NO_ANSWER) from None
    except client.Refused as error:
        if error.code == 403:  # code 415: our callback is not one of the app's
            raise Said(f"X refused to start the authorisation ({error}). The administrator "
                       f"must allow {callback} as a callback URL of the instance's X app.") from None
        raise Said(f"X refused to start the authorisation ({error}); please try again "
                   "later.") from None
    token = handler.request_token or {}
    key, secret = token.get("oauth_token"), token.get("oauth_token_secret")
    # 16 characters at least: frontend.oauth_start takes nothing shorter as a state.
    if not (isinstance(url, str) and url.startswith("https://") and _text(key)
            and len(key) >= 16 and _text(secret)):
        raise Said(NOT_UNDERSTOOD)
    return url, key, secret


def _of_user(uid: int):
    """The accounts of X user `uid` on this instance, oldest first: by the token, whose head is
    the user id, or by the handle (version 2's rows have none until their bot starts)."""
    return (select(TwitterAccount)
            .outerjoin(TwitterHandle, TwitterHandle.account_id == TwitterAccount.id)
            .where(or_(TwitterAccount.client_id.like(f"{uid}-%"),
                       TwitterHandle.x_user_id == uid))
            .order_by(TwitterAccount.id))


def _access(options, callback: str, request_token: str, request_secret: str, verifier: str):
    """The access token and secret for an authorised request token, and who they belong to:
    (token, secret, X user id, username), or Said."""
    handler = client.handler(options.consumer_key, options.consumer_secret, callback,
                             options.api_url, WEB_TIMEOUT,
                             request_token={"oauth_token": request_token,
                                            "oauth_token_secret": request_secret})
    try:
        token, secret = client.call(handler, "get_access_token", verifier)
    except bots.CredentialsRefused as error:  # an expired or used request token, a verifier
        raise Said(f"{error}.") from None
    except (bots.TryLater, OSError):
        raise Said("X did not answer: please connect again in a few minutes.") from None
    except client.Refused as error:
        raise Said(f"X refused to connect the account ({error}): please connect again.") from None
    except (TypeError, ValueError):  # not a pair
        raise Said(NOT_UNDERSTOOD) from None
    if not (_text(token) and _text(secret)):
        raise Said(NOT_UNDERSTOOD)
    api = client.make_client(options.consumer_key, options.consumer_secret, token, secret,
                             options.api_url, WEB_TIMEOUT)
    try:
        me = client.call(api, "get_me")
    except bots.CredentialsRefused:
        raise Said("X refused the account's new token: please connect again.") from None
    except (bots.TryLater, OSError, client.Refused):
        raise Said("X did not say which account authorised Ticketfrei: please connect "
                   "again.") from None
    finally:
        api.session.close()
    data = getattr(me, "data", None)
    uid, username = getattr(data, "id", None), getattr(data, "username", None)
    # The token's head is the user id (X's tokens, and bot.py's retweets rely on it).
    if not (isinstance(uid, int) and uid > 0 and uid == x_user_id(token)
            and isinstance(username, str) and USERNAME.fullmatch(username)):
        raise Said(NOT_UNDERSTOOD)
    return token, secret, uid, username


def _store(session, city, token: str, secret: str, uid: int, username: str) -> None:
    """The account, connected (again). The city's row of the same X user is reused, and its
    receiving starts after its newest mention: what came while it was disconnected is not
    relayed late. An account of another city is refused (Said)."""
    if session.scalars(_of_user(uid).where(
            TwitterAccount.user_id != city.user_id)).first() is not None:
        # Both cities' bots would read its mentions: one city's reports relayed in the other.
        raise Said(TAKEN.format(handle=f"@{username}"))
    row = session.scalars(_of_user(uid).where(
        TwitterAccount.user_id == city.user_id)).first()
    if row is None:
        row = TwitterAccount(user_id=city.user_id)
        session.add(row)
    row.client_id, row.client_secret, row.active = token, secret, 1
    session.flush()
    session.merge(TwitterHandle(account_id=row.id, x_user_id=uid, username=username))
    bots.reset_watermark(session, city.id, NAME, str(row.id))
    # Version 2's last handled ids would be the next start's baseline (bot.first_watermark):
    # the mentions since version 2 stopped would be relayed now. A connected account starts
    # after its newest mention instead.
    session.execute(delete(TwitterSeenTweet).where(TwitterSeenTweet.user_id == city.user_id))
    session.execute(delete(TwitterSeenDM).where(TwitterSeenDM.twitter_accounts_id == row.id))
    log.info("an X account of city %s was connected", city.name)


def make_app(settings, sessions, notify_main):
    app = bottle.Bottle()

    @app.post("/<name>/connect")
    def connect(name):
        """Ask X for a request token and show the link to X's authorisation page."""
        frontend.check_csrf()
        city = frontend.require_city(name)
        callback = frontend.callback_url(NAME)
        try:
            options = _options()
            _count(sessions, city)
            url, token, secret = _authorization_url(options, callback)  # no transaction open
        except Said as error:
            return frontend.back_to_settings(NAME, str(error))
        with sessions.begin() as session:
            # One flow per city at a time: an older request token is of no use any more.
            session.execute(delete(TwitterRequestToken).where(
                TwitterRequestToken.user_id == city.user_id))
            session.add(TwitterRequestToken(user_id=city.user_id, request_token=token,
                                            request_token_secret=secret))
        frontend.oauth_start(NAME, state=token)  # the callback must come to this city
        # A link, not a redirect: the page's CSP (form-action 'self') stops a form's redirect
        # to another site, and the organiser sees where they are going.
        return frontend.page("authorize", lookup=LOOKUP, url=url)

    @app.get("/callback")
    def finish():
        """X sends the organiser back: oauth_token and oauth_verifier, or denied=<token>."""
        query = bottle.request.query
        denied = query.getunicode("denied") or ""
        token = denied or query.getunicode("oauth_token") or ""
        try:
            city, _ = frontend.oauth_finish(NAME, token)
        except frontend.OAuthError as error:
            return frontend.back_to_settings(NAME, str(error))
        with sessions.begin() as session:
            # Taken once: the secret is of no use after this callback, whatever comes of it.
            row = session.scalars(select(TwitterRequestToken).where(
                TwitterRequestToken.user_id == city.user_id,
                TwitterRequestToken.request_token == token)).first()
            request_secret = row.request_token_secret if row is not None else None
            session.execute(delete(TwitterRequestToken).where(
                TwitterRequestToken.user_id == city.user_id,
                TwitterRequestToken.request_token == token))
        verifier = query.getunicode("oauth_verifier") or ""
        try:
            if denied:
                raise Said(DENIED)
            if not request_secret:  # a newer connect of the city replaced it
                raise Said(UNKNOWN)
            if not _text(verifier):
                raise Said("X sent no verifier back: please connect again.")
            options = _options()  # the administrator may have removed the keys meanwhile
            access = _access(options, frontend.callback_url(NAME), token, request_secret,
                             verifier)
            with sessions.begin() as session:
                _store(session, city, *access)
        except Said as error:
            return frontend.back_to_settings(NAME, str(error))
        notify_main()  # main starts the bot (or restarts it with the new token)
        return frontend.back_to_settings(NAME)

    @app.post("/<name>/disconnect")
    def disconnect(name):
        """The bot stops and the token is forgotten here. OAuth 1.0a's tokens cannot be revoked
        through X's API v2: the panel tells the organiser where to revoke it on X."""
        frontend.check_csrf()
        city = frontend.require_city(name)
        account_id = frontend.form("account", 20)
        with sessions.begin() as session:
            row = (session.get(TwitterAccount, int(account_id))
                   if ACCOUNT_ID.fullmatch(account_id) else None)
            if row is None or row.user_id != city.user_id:
                return frontend.back_to_settings(NAME, NO_SUCH)
            session.execute(delete(TwitterHandle).where(TwitterHandle.account_id == row.id))
            session.execute(delete(TwitterSeenDM).where(TwitterSeenDM.twitter_accounts_id == row.id))
            session.execute(delete(TwitterAccount).where(TwitterAccount.id == row.id))
        log.info("an X account of city %s was disconnected", city.name)
        notify_main()
        return frontend.back_to_settings(NAME)

    return app
