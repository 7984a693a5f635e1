"""The Mastodon bot's web UI at /bots/mastodon/: connecting a city's account (the instance's
OAuth authorization-code flow, or an access token pasted from the instance's Development
settings), disconnecting it, and the city's post visibility. Uses frontend's helpers for
logins, CSRF, the OAuth state and the way back to the settings page.

Every request to an instance is made with a short timeout: it holds one of the frontend's
few threads. Touches mastodon_instances, mastodon_apps, mastodon_accounts, mastodon_handles,
mastodon_cities, mastodon_mentions.
"""
import logging
from pathlib import Path

import bottle
from mastodon import Mastodon, MastodonError
from sqlalchemy import delete, select

import bots
import frontend
import user

from . import client
from .bot import MastodonBot, revoke
from .db import (MastodonAccount, MastodonApp, MastodonCity, MastodonHandle, MastodonInstance,
                 MastodonMention)

log = logging.getLogger(__name__)

NAME = "mastodon"
CONNECTS_PER_HOUR = 20  # connect and token attempts of one city: each asks an instance
# Our templates, then the site's (base.tpl): one list, as Bottle caches templates by it.
LOOKUP = [str(Path(__file__).resolve().parent), frontend.SITE_TEMPLATES]
WEB_TIMEOUT = 10.0  # seconds: an organiser waits, and a frontend thread with them


def _app_for(session, base: str, redirect_uri: str):
    """The app of this instance registered for our callback, registered now if there is none.
    Version 2's registrations have another callback and are not used for connecting."""
    row = session.scalar(select(MastodonInstance).join(
        MastodonApp, MastodonApp.instance_id == MastodonInstance.id).where(
        MastodonInstance.instance == base, MastodonApp.redirect_uri == redirect_uri))
    if row is not None:
        return row
    try:
        client_id, client_secret = Mastodon.create_app(
            MastodonBot.options.app_name, scopes=client.SCOPES, redirect_uris=redirect_uri,
            api_base_url=base, request_timeout=WEB_TIMEOUT, user_agent=client.USER_AGENT,
            session=client.session(base))
        if not (isinstance(client_id, str) and isinstance(client_secret, str)
                and 0 < len(client_id) <= 200 and 0 < len(client_secret) <= 200):
            raise TypeError("no app credentials")
    except MastodonError as error:
        if isinstance(error, OSError):
            raise client.AddressError(f"{base} did not answer: is the address right, and is "
                                      "the instance up?") from None
        raise client.AddressError(f"{base} does not look like a Mastodon instance (it did "
                                  "not register our app).") from None
    except (KeyError, TypeError, ValueError):  # an answer without client_id: not Mastodon
        raise client.AddressError(f"{base} does not look like a Mastodon instance (it did "
                                  "not register our app).") from None
    row = MastodonInstance(instance=base, client_id=client_id, client_secret=client_secret)
    session.add(row)
    session.flush()
    session.add(MastodonApp(instance_id=row.id, redirect_uri=redirect_uri))
    return row


def _instance_row(session, base: str):
    """A mastodon_instances row for an account connected by a pasted token (no app of ours)."""
    row = session.scalar(select(MastodonInstance).where(MastodonInstance.instance == base)
                         .order_by(MastodonInstance.id))
    if row is None:
        row = MastodonInstance(instance=base)
        session.add(row)
        session.flush()
    return row


def _verified(base: str, token: str):
    """The account a token belongs to; client errors as text for the organiser."""
    try:
        me = client.call(client.api(base, WEB_TIMEOUT, token), "account_verify_credentials")
    except bots.CredentialsRefused:
        raise client.AddressError("The instance did not accept the token.") from None
    except (bots.TryLater, OSError, client.Refused) as error:
        raise client.AddressError(f"{base} could not be asked who the account is: "
                                  f"{error}") from None
    username, url = (me.get("username"), me.get("url")) if isinstance(me, dict) else (None, None)
    if not (isinstance(username, str) and 0 < len(username) <= 100 and isinstance(url, str)
            and len(url) <= 500):
        raise client.AddressError(f"{base} did not answer as a Mastodon instance does.")
    return me


def _address(session, city) -> str:
    """The instance address of the organiser's form, or AddressError; each attempt counted."""
    if not user.allow(session, f"mastodon-connect:{city.id}", CONNECTS_PER_HOUR, 3600):
        raise client.AddressError("Too many connection attempts: please wait an hour.")
    return client.base_url(frontend.form("instance", 300), MastodonBot.options.private_instances)


def _store(session, city, instance_id: int, token: str, me, base: str) -> None:
    """The account, connected (again): a reconnected account starts after its newest mention,
    so that mentions from while it was disconnected are not relayed hours late. An account
    of another city is refused (AddressError)."""
    handle = f"@{me.username}@{base.split('://', 1)[1]}"[:300]
    if session.scalar(select(MastodonAccount.id).join(
            MastodonHandle, MastodonHandle.account_id == MastodonAccount.id).where(
            MastodonAccount.user_id != city.user_id, MastodonHandle.acct == handle)) is not None:
        # Both cities' bots would read its mentions: one city's reports relayed in the other.
        raise client.AddressError(f"{handle} is connected to another city of this instance: "
                                  "each city needs an account of its own.")
    row = session.scalar(select(MastodonAccount).join(
        MastodonHandle, MastodonHandle.account_id == MastodonAccount.id).where(
        MastodonAccount.user_id == city.user_id, MastodonHandle.acct == handle))
    if row is None:
        row = MastodonAccount(user_id=city.user_id)
        session.add(row)
    row.access_token, row.instance_id, row.active = token, instance_id, 1
    session.flush()
    session.merge(MastodonHandle(account_id=row.id, acct=handle, url=me.url))
    bots.reset_watermark(session, city.id, NAME, str(row.id))
    log.info("a Mastodon account of city %s was connected", city.name)


def make_app(settings, sessions, notify_main):
    app = bottle.Bottle()
    callback = frontend.callback_url(NAME)

    @app.post("/<name>/connect")
    def connect(name):
        frontend.check_csrf()
        city = frontend.require_city(name)
        try:
            with sessions.begin() as session:
                base = _address(session, city)
            with sessions.begin() as session:
                row = _app_for(session, base, callback)
                instance_id, client_id, secret = row.id, row.client_id, row.client_secret
            state = frontend.oauth_start(NAME, {"instance_id": instance_id, "base": base})
            url = client.api(base, WEB_TIMEOUT, client_id=client_id,
                             client_secret=secret).auth_request_url(
                client_id=client_id, redirect_uris=callback, scopes=client.SCOPES, state=state,
                allow_http=client.plain_http(base))
        except client.AddressError as error:
            return frontend.back_to_settings(NAME, str(error))
        except (MastodonError, OSError, ValueError, TypeError):  # its OAuth metadata
            return frontend.back_to_settings(NAME, f"{base} did not answer as a Mastodon "
                                                   "instance does. Please try again later.")
        # A link, not a redirect: the page's CSP (form-action 'self') stops a form's redirect
        # to another site, and the organiser sees where they are going.
        return frontend.page("authorize", lookup=LOOKUP, url=url, host=base.split("://", 1)[1])

    @app.get("/callback")
    def finish():
        query = bottle.request.query
        try:
            city, data = frontend.oauth_finish(NAME, query.getunicode("state") or "")
        except frontend.OAuthError as error:
            return frontend.back_to_settings(NAME, str(error))
        if query.get("error") or not query.get("code"):
            return frontend.back_to_settings(NAME, "The instance did not authorise Ticketfrei "
                                                   "(you or it refused): nothing was connected.")
        base = data["base"]
        try:
            with sessions() as session:
                row = session.get(MastodonInstance, data["instance_id"])
                api = client.api(base, WEB_TIMEOUT, client_id=row.client_id,
                                 client_secret=row.client_secret)
            token = api.log_in(code=query.getunicode("code"), redirect_uri=callback,
                               scopes=client.SCOPES, allow_http=client.plain_http(base))
            me = _verified(base, token)
        except client.AddressError as error:
            return frontend.back_to_settings(NAME, str(error))
        except (MastodonError, OSError) as error:
            log.warning("connecting a Mastodon account failed: %s", type(error).__name__)
            return frontend.back_to_settings(NAME, "The instance did not give us the account's "
                                                   "token. Please connect again.")
        try:
            with sessions.begin() as session:
                _store(session, city, data["instance_id"], token, me, base)
        except client.AddressError as error:
            return frontend.back_to_settings(NAME, str(error))
        notify_main()
        return frontend.back_to_settings(NAME)

    @app.post("/<name>/token")
    def paste_token(name):
        frontend.check_csrf()
        city = frontend.require_city(name)
        token = frontend.form("token", 500).strip()
        try:
            with sessions.begin() as session:
                base = _address(session, city)
            if not token:
                raise client.AddressError("Paste the access token of an application made "
                                          "under Preferences → Development on your instance.")
            me = _verified(base, token)
        except client.AddressError as error:
            return frontend.back_to_settings(NAME, str(error))
        try:
            with sessions.begin() as session:
                _store(session, city, _instance_row(session, base).id, token, me, base)
        except client.AddressError as error:
            return frontend.back_to_settings(NAME, str(error))
        notify_main()
        return frontend.back_to_settings(NAME)

    @app.post("/<name>/disconnect")
    def disconnect(name):
        frontend.check_csrf()
        city = frontend.require_city(name)
        account_id = frontend.form("account", 20)
        with sessions() as session:
            row = session.get(MastodonAccount, int(account_id)) if account_id.isdigit() else None
            if row is None or row.user_id != city.user_id:
                return frontend.back_to_settings(NAME, "There is no such account of your city.")
            instance = session.get(MastodonInstance, row.instance_id)
        revoke(instance, row.access_token, WEB_TIMEOUT)  # no transaction open meanwhile
        with sessions.begin() as session:
            for model in (MastodonHandle, MastodonMention):
                session.execute(delete(model).where(model.account_id == row.id))
            session.execute(delete(MastodonAccount).where(MastodonAccount.id == row.id))
        notify_main()
        return frontend.back_to_settings(NAME)

    @app.post("/<name>/visibility")
    def set_visibility(name):
        frontend.check_csrf()
        city = frontend.require_city(name)
        chosen = frontend.form("visibility", 20)
        if chosen not in ("public", "unlisted"):
            return frontend.back_to_settings(NAME, "Posts are public or unlisted.")
        with sessions.begin() as session:
            session.merge(MastodonCity(city_id=city.id, visibility=chosen))
        return frontend.back_to_settings(NAME)

    return app
