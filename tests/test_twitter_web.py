"""Connecting a city's X account through the web UI (WebTest), against the local X server
(tests/twitter_server.py) reached through the real tweepy: X's 3-legged OAuth 1.0a flow with
the instance's consumer key, the request token bound to the city, disconnecting, the same
account connected again, and a clear message for each way it can fail."""
import html
import re
from urllib.parse import urlencode, urlsplit

import pytest
import webtest
from sqlalchemy import select

import db
import frontend
from bots.twitter.db import (TwitterAccount, TwitterHandle, TwitterRequestToken, TwitterSeenDM,
                             TwitterSeenTweet)
from test_web import csrf, log_in, sign_up
from twitter_server import TwitterServer

KEY, SECRET = "tf-consumer-key", "tf-consumer-secret"
NOWHERE = "http://127.0.0.1:9"  # nothing listens there: X is down


@pytest.fixture
def x():
    with TwitterServer(consumer_key=KEY, consumer_secret=SECRET) as server:
        yield server


def browser(core_for, database_url, relay, api_url, key=KEY, secret=SECRET, **env):
    """berlin's organiser, logged in, on an app with the X plugin talking to api_url (no
    consumer key configured for key=None)."""
    keys = {} if key is None else {"TICKETFREI_BOTS_TWITTER_CONSUMER_KEY": key,
                                   "TICKETFREI_BOTS_TWITTER_CONSUMER_SECRET": secret}
    settings, plugins, sessions = core_for(
        database_url, TICKETFREI_BOTS_TWITTER_API_URL=api_url, **keys,
        TICKETFREI_MAIL_RELAY_HOST="127.0.0.1", TICKETFREI_MAIL_RELAY_PORT=str(relay.port),
        TICKETFREI_MAIL_RELAY_SECURITY="none", **env)
    told = []
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins,
                                            notify_main=lambda: told.append(1)),
                          extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    app.relay, app.sessions, app.told = relay, sessions, told
    sign_up(app)
    told.clear()  # the new city
    return app


def allow_callback(x):
    """The instance's X app lists our callback (X refuses a request token for any other)."""
    x.callback_urls = [frontend.callback_url("twitter")]


@pytest.fixture
def web(core_for, sqlite_url, relay, x):
    app = browser(core_for, sqlite_url, relay, x.url)
    allow_callback(x)
    return app


def post_panel(web, action, status=None, city="berlin", **fields):
    page = web.get("/settings")
    return web.post(f"/bots/twitter/{city}/{action}", {**fields, "csrf": csrf(page)},
                    status=status)


def to_x(web, city="berlin"):
    """The organiser's "Connect" on the panel: the page with the link to X."""
    page = post_panel(web, "connect", status=200, city=city)
    return html.unescape(re.search(r'<a class="button" href="([^"]+)"', page.text).group(1))


def callback(web, location, status=None):
    """The browser coming back from X to our callback."""
    parts = urlsplit(location)
    return web.get(f"{parts.path}?{parts.query}", status=status)


def connect(web, x, username, status=303):
    return callback(web, x.authorize(to_x(web), username), status=status)


def said(page) -> str:
    return html.unescape(page.text)


def panel(web) -> str:
    """The X panel of the settings page (as HTML)."""
    page = web.get("/settings").text
    return re.search(r'<section[^>]*id="network-twitter">(.*?)</section>', page, re.S).group(1)


def rows(web):
    """(token, secret, active, username, X user id) of every twitter_accounts row."""
    with web.sessions() as session:
        return [(row.client_id, row.client_secret, row.active,
                 handle.username if handle else None, handle.x_user_id if handle else None)
                for row, handle in session.execute(
                    select(TwitterAccount, TwitterHandle).outerjoin(
                        TwitterHandle, TwitterHandle.account_id == TwitterAccount.id)
                    .order_by(TwitterAccount.id))]


def account_ids(web):
    with web.sessions() as session:
        return session.scalars(select(TwitterAccount.id).order_by(TwitterAccount.id)).all()


def request_tokens(web):
    with web.sessions() as session:
        return session.scalars(select(TwitterRequestToken)).all()


def city(web, name="berlin"):
    with web.sessions() as session:
        return session.scalar(select(db.City).where(db.City.name == name))


def asked(x, path):
    return [r for r in x.requests_log() if r.path == path]


def as_hamburg(web):
    web.reset()
    sign_up(web, city="hamburg", email="orga@hamburg.example")


# --- connecting ------------------------------------------------------------------------------

@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_an_organiser_connects_an_account_through_xs_authorisation(core_for, relay, x, request,
                                                                  database):
    url = request.getfixturevalue("sqlite_url" if database == "sqlite" else "postgres_url")
    web = browser(core_for, url, relay, x.url)
    allow_callback(x)
    account = x.add_account("tf_berlin")
    link = to_x(web)
    assert link.startswith("https://api.twitter.com/oauth/authorize?oauth_token=")
    [kept] = request_tokens(web)  # the request token, for the way back
    assert kept.user_id == city(web).user_id and kept.request_token in link
    back = x.authorize(link, "tf_berlin")
    done = callback(web, back, status=303)
    assert done.location.endswith("/settings#network-twitter")
    token, secret = rows(web)[0][:2]
    assert rows(web) == [(token, secret, 1, "tf_berlin", int(account.user_id))]
    assert token.startswith(f"{account.user_id}-")
    assert request_tokens(web) == []  # used once
    assert web.told  # main starts the bot at once
    [me] = asked(x, "/2/users/me")
    assert me.user == "tf_berlin" and me.status == 200
    shown = panel(web)
    assert '<a href="https://x.com/tf_berlin">@tf_berlin</a>' in shown
    assert "Disconnect @tf_berlin" in shown and "Connected apps" in shown
    assert token not in shown and secret not in shown
    public = web.get("/city/berlin").text
    assert '<a href="https://x.com/tf_berlin">@tf_berlin</a>' in public and "Mention" in public
    assert token not in public


def test_the_link_page_goes_to_x_and_back_to_the_settings(web, x):
    page = post_panel(web, "connect", status=200)
    assert "Connect your X account" in page.text and "sends you back" in page.text
    assert 'href="/settings#network-twitter"' in page.text
    assert "no-store" in page.headers.get("Cache-Control", "")


def test_a_refusal_on_x_is_said_and_connects_nothing(web, x):
    x.add_account("tf_berlin")
    link = to_x(web)
    page = callback(web, x.authorize(link, "tf_berlin", approve=False), status=400)
    assert "You did not allow Ticketfrei on X." in said(page)
    assert rows(web) == [] and request_tokens(web) == [] and not web.told
    assert asked(x, "/oauth/access_token") == []


def test_the_callback_of_another_citys_flow_is_refused(web, x):
    x.add_account("tf_berlin")
    back = x.authorize(to_x(web), "tf_berlin")
    as_hamburg(web)
    page = callback(web, back, status=400)
    assert "started for another city's settings" in said(page)
    assert rows(web) == [] and asked(x, "/oauth/access_token") == []
    # berlin's flow was left alone: its own organiser still finishes it
    web.reset()
    log_in(web)
    callback(web, back, status=303)
    assert [r[3] for r in rows(web)] == ["tf_berlin"]


def test_a_replayed_or_unknown_token_is_refused(web, x):
    x.add_account("tf_berlin")
    back = x.authorize(to_x(web), "tf_berlin")
    callback(web, back, status=303)
    web.told.clear()
    page = callback(web, back, status=400)  # the same way back again
    assert "already used or is unknown" in said(page)
    for query in ({"oauth_token": "A" * 27, "oauth_verifier": "B" * 32},
                  {"denied": "C" * 27}, {}):
        page = web.get("/bots/twitter/callback?" + urlencode(query), status=400)
        assert "already used or is unknown" in said(page)
    assert len(rows(web)) == 1 and not web.told


def test_a_request_token_a_newer_connect_replaced_is_refused(web, x):
    x.add_account("tf_berlin")
    first = to_x(web)
    second = to_x(web)
    assert len(request_tokens(web)) == 1  # one flow per city at a time
    page = callback(web, x.authorize(first, "tf_berlin"), status=400)
    assert "already used or is unknown" in said(page) and rows(web) == []
    callback(web, x.authorize(second, "tf_berlin"), status=303)
    assert [r[3] for r in rows(web)] == ["tf_berlin"]


def test_a_wrong_verifier_is_said(web, x):
    x.add_account("tf_berlin")
    back = x.authorize(to_x(web), "tf_berlin")
    forged = re.sub(r"oauth_verifier=\w+", "oauth_verifier=wrong", back)
    page = callback(web, forged, status=400)
    assert "connect the account again" in said(page) and rows(web) == []


def test_the_city_page_offers_only_what_the_instance_reads(core_for, sqlite_url, relay, x):
    web = browser(core_for, sqlite_url, relay, x.url, TICKETFREI_BOTS_TWITTER_READ_MENTIONS="false",
                  TICKETFREI_BOTS_TWITTER_READ_DIRECT_MESSAGES="true")
    allow_callback(x)
    x.add_account("tf_berlin")
    connect(web, x, "tf_berlin")
    public = said(web.get("/city/berlin"))
    assert "direct message" in public and "Mention" not in public
    assert "Follow @tf_berlin for every report" in re.sub(r"<[^>]+>", "", public)


# --- when X or the instance's app fails ----------------------------------------------------------

def test_x_down_is_said(core_for, sqlite_url, relay):
    web = browser(core_for, sqlite_url, relay, NOWHERE)
    page = post_panel(web, "connect", status=400)
    assert "X did not answer; please try again in a few minutes." in said(page)
    assert request_tokens(web) == []


def test_a_failing_x_is_said_on_connecting_and_on_the_way_back(web, x):
    x.add_account("tf_berlin")
    x.fail_next(1, status=503, path="/oauth/request_token")
    page = post_panel(web, "connect", status=400)
    assert "X did not answer" in said(page) and request_tokens(web) == []
    back = x.authorize(to_x(web), "tf_berlin")
    x.fail_next(1, status=502, path="/oauth/access_token")
    page = callback(web, back, status=400)
    assert "X did not answer: please connect again" in said(page)
    assert rows(web) == [] and request_tokens(web) == []
    back = x.authorize(to_x(web), "tf_berlin")
    x.fail_next(1, status=503, path="/2/users/me")
    page = callback(web, back, status=400)
    assert "X did not say which account" in said(page) and rows(web) == []
    connect(web, x, "tf_berlin")  # X works again: connecting again works
    assert [r[3] for r in rows(web)] == ["tf_berlin"]


def test_wrong_consumer_keys_are_said(core_for, sqlite_url, relay, x):
    web = browser(core_for, sqlite_url, relay, x.url, secret="not-the-secret")
    page = post_panel(web, "connect", status=400)
    assert ("X refused the instance's consumer key and secret: the administrator must check "
            "them") in said(page)
    assert request_tokens(web) == []


def test_a_callback_url_the_app_does_not_list_is_said(web, x):
    x.callback_urls = ["https://elsewhere.example/callback"]
    page = post_panel(web, "connect", status=400)
    assert "Callback URL not approved" in said(page)
    assert frontend.callback_url("twitter") in said(page)


def test_without_consumer_keys_the_panel_says_so_and_offers_no_button(core_for, sqlite_url,
                                                                      relay, x):
    web = browser(core_for, sqlite_url, relay, x.url, key=None)
    shown = html.unescape(panel(web))
    assert "the instance's administrator must set X's consumer key and secret" in shown
    assert "<button" not in shown and "<form" not in shown
    page = post_panel(web, "connect", status=400)
    assert ("The instance's administrator must set X's consumer key and secret ([bots.twitter]) "
            "first.") in said(page)
    assert x.requests_log() == [] and request_tokens(web) == []


# --- disconnecting and connecting again ----------------------------------------------------------

def test_disconnecting_forgets_the_account_and_says_where_to_revoke_it(web, x):
    x.add_account("tf_berlin")
    connect(web, x, "tf_berlin")
    web.told.clear()
    assert "Settings → Security → Connected apps" in html.unescape(panel(web))
    post_panel(web, "disconnect", status=303, account=str(account_ids(web)[0]))
    assert rows(web) == []
    with web.sessions() as session:
        assert session.scalars(select(TwitterHandle)).all() == []
    assert web.told  # main stops the bot
    shown = panel(web)
    assert "No X account is connected" in shown and "Connect an X account" in shown
    assert "x.com/tf_berlin" not in web.get("/city/berlin").text
    post_panel(web, "disconnect", status=400, account=str(account_ids(web) or 1))


def test_another_citys_account_cannot_be_disconnected(web, x):
    x.add_account("tf_berlin")
    connect(web, x, "tf_berlin")
    [berlins] = account_ids(web)
    as_hamburg(web)
    page = post_panel(web, "disconnect", status=400, city="hamburg", account=str(berlins))
    assert "There is no such account of your city." in said(page)
    post_panel(web, "disconnect", status=403, city="berlin", account=str(berlins))
    post_panel(web, "connect", status=403, city="berlin")
    assert len(rows(web)) == 1


def test_an_account_another_city_connected_is_refused(web, x):
    """Both cities' bots would read its mentions: one city's reports relayed in the other."""
    x.add_account("tf_shared")
    connect(web, x, "tf_shared")
    as_hamburg(web)
    web.told.clear()
    page = callback(web, x.authorize(to_x(web, "hamburg"), "tf_shared"), status=400)
    assert ("@tf_shared is connected to another city of this instance: each city needs an "
            "account of its own.") in said(page)
    assert [r[3] for r in rows(web)] == ["tf_shared"] and not web.told
    with web.sessions() as session:
        assert session.scalars(select(TwitterAccount.user_id)).one() == city(web).user_id


def test_connecting_the_same_account_again_updates_its_row_and_resets_the_watermark(web, x):
    x.add_account("tf_berlin")
    connect(web, x, "tf_berlin")
    [row_id] = account_ids(web)
    berlin = city(web)
    x.revoke("tf_berlin")  # the bot's token refused: it was stopped
    with web.sessions.begin() as session:
        session.get(TwitterAccount, row_id).active = 0
        session.add(db.BotWatermark(city_id=berlin.id, network="twitter", account=str(row_id),
                                    watermark="1800000000000000000/-"))
        session.add(db.ProcessStatus(
            name=f"berlin/twitter:{row_id}", kind="bot", city_id=berlin.id, network="twitter",
            account=str(row_id), state="inactive",
            last_error="X refused the account's token: connect the account again"))
    shown = html.unescape(panel(web))
    assert "stopped: X refused the account's token: connect the account again." in shown
    assert "Connect it again below" in shown
    old_token = rows(web)[0][0]
    web.told.clear()
    connect(web, x, "tf_berlin")
    assert account_ids(web) == [row_id]  # the same account: no second row
    token, secret, active, username, _ = rows(web)[0]
    assert token != old_token and active == 1 and username == "tf_berlin"
    with web.sessions() as session:
        assert session.scalars(select(db.BotWatermark).where(
            db.BotWatermark.network == "twitter")).all() == []
    assert web.told


def test_version_2s_row_without_a_handle_is_taken_over(web, x):
    account = x.add_account("tf_berlin")
    with web.sessions.begin() as session:
        session.add(TwitterAccount(user_id=city(web).user_id, client_id=account.access_token,
                                   client_secret=account.access_token_secret, active=1))
    [row_id] = account_ids(web)
    with web.sessions.begin() as session:  # where version 2 stopped reading, long ago
        session.add(TwitterSeenTweet(user_id=city(web).user_id, tweet_id=1500000000000000000))
        session.add(TwitterSeenDM(user_id=city(web).user_id, twitter_accounts_id=row_id,
                                  message_id="1500000000000000001"))
    assert "X account" in panel(web)
    connect(web, x, "tf_berlin")
    assert account_ids(web) == [row_id]
    assert rows(web) == [(account.access_token, account.access_token_secret, 1, "tf_berlin",
                          int(account.user_id))]
    with web.sessions() as session:  # connected now: it starts after its newest mention
        assert session.scalars(select(TwitterSeenTweet)).all() == []
        assert session.scalars(select(TwitterSeenDM)).all() == []


def test_another_account_of_the_city_is_an_account_of_its_own(web, x):
    for name in ("tf_berlin", "tf_berlin_2"):
        x.add_account(name)
        connect(web, x, name)
    assert [r[3] for r in rows(web)] == ["tf_berlin", "tf_berlin_2"]
    shown = panel(web)
    assert "@tf_berlin</a>" in shown and "@tf_berlin_2</a>" in shown


# --- forged and hostile requests -----------------------------------------------------------------

def test_hostile_fields_are_refused_and_shown_escaped(web, x):
    x.add_account("tf_berlin")
    connect(web, x, "tf_berlin")
    for account in ("<script>x</script>", "-1", "1 OR 1=1", "99999999999", "²", ""):
        page = post_panel(web, "disconnect", status=400, account=account)
        assert "There is no such account of your city." in said(page)
        assert "<script>alert" not in page.text
    post_panel(web, "disconnect", status=413, account="1" * 21)
    hostile = {"oauth_token": "<script>alert(1)</script>" * 20, "oauth_verifier": "<b>"}
    page = web.get("/bots/twitter/callback?" + urlencode(hostile), status=400)
    assert "<script>alert" not in page.text and "already used or is unknown" in said(page)
    page = web.get("/bots/twitter/callback?oauth_token=%FF%FE&denied=%00", status=400)
    assert "already used or is unknown" in said(page)
    web.post("/bots/twitter/berlin/connect", {}, status=403)  # no CSRF field
    web.post("/bots/twitter/berlin/disconnect", {"account": str(account_ids(web)[0]),
                                                 "csrf": "forged"}, status=403)
    assert len(rows(web)) == 1


def test_a_flow_needs_a_login(web, x):
    x.add_account("tf_berlin")
    back = x.authorize(to_x(web), "tf_berlin")
    web.reset()
    page = callback(web, back)
    assert page.status_int in (302, 303) and "/login" in page.location
    assert rows(web) == []


def test_the_21st_attempt_in_an_hour_is_refused(web, x):
    for _ in range(20):
        post_panel(web, "connect", status=200)
    before = len(asked(x, "/oauth/request_token"))
    page = post_panel(web, "connect", status=400)
    assert "Too many connection attempts: please wait an hour." in said(page)
    assert len(asked(x, "/oauth/request_token")) == before
