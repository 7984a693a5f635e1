"""The state of a bot's OAuth connect flow (frontend.oauth_start / oauth_finish), through the
WSGI app on SQLite and PostgreSQL: it counts for the city whose organiser started the flow,
for that plugin, once, and only for a while; only its hash is stored."""
import hashlib
import threading

import bottle
import pytest
import webtest
from sqlalchemy import select, update

import db
import frontend
import user
from test_web import csrf, make_web, sign_up

DATA = {"instance": "https://social.example", "secret": "kept for the callback"}


def add_oauth_routes(app) -> None:
    """What a plugin's web UI does: /connect starts a flow, /callback finishes it and shows
    the organiser why not if it cannot."""
    @app.post("/oauth-test/<plugin>/connect")
    def connect(plugin):
        query = bottle.request.forms
        try:
            return frontend.oauth_start(plugin, DATA, state=query.getunicode("state"),
                                        ttl=float(query.get("ttl") or frontend.OAUTH_TTL))
        except ValueError as error:
            bottle.response.status = 400
            return str(error)

    @app.get("/oauth-test/<plugin>/callback")
    def callback(plugin):
        try:
            state = bottle.request.query.getunicode("state") or ""
            city, data = frontend.oauth_finish(plugin, state)
        except frontend.OAuthError as error:
            bottle.response.status = 400
            return str(error)
        return f"connected {city.name} {data['instance']} {data['secret']}"


@pytest.fixture
def web(core_for, database_url, relay):
    """A browser logged in as berlin's organiser."""
    browser = make_web(core_for, database_url, relay)
    add_oauth_routes(browser.app)
    sign_up(browser)
    return browser


@pytest.fixture
def hamburg(web):
    """A second browser, logged in as hamburg's organiser; `web` stays berlin's."""
    berlin_cookie = web.cookies[frontend.COOKIE]
    web.reset()
    sign_up(web, city="hamburg", email="orga@hamburg.example")
    other = webtest.TestApp(web.app, extra_environ={"REMOTE_ADDR": "192.0.2.7"})
    other.set_cookie(frontend.COOKIE, web.cookies[frontend.COOKIE])
    web.reset()
    web.set_cookie(frontend.COOKIE, berlin_cookie)
    return other


def start(browser, plugin="mastodon", status=200, **form) -> str:
    """The organiser's connect button: a form of the site, with its CSRF token."""
    token = csrf(browser.get("/login"))
    return browser.post(f"/oauth-test/{plugin}/connect", {**form, "csrf": token},
                        status=status).text


def finish(browser, state, plugin="mastodon", status=200):
    return browser.get(f"/oauth-test/{plugin}/callback", params={"state": state}, status=status)


def states(web) -> list[db.OAuthState]:
    with web.sessions() as session:
        return list(session.scalars(select(db.OAuthState)))


# --- the flow that works ---------------------------------------------------------------------

def test_a_state_finishes_once_for_its_city_and_returns_its_data(web):
    state = start(web)
    assert len(state) >= 40
    assert finish(web, state).text == \
        "connected berlin https://social.example kept for the callback"
    assert states(web) == []


def test_oauth1_request_token_serves_as_the_state(web):
    token = "Z6eEdO8MOmk394WozF5oKyuAv855l4Mlqo7hhlSLik"
    assert start(web, plugin="twitter", state=token) == token
    assert "connected berlin" in finish(web, token, plugin="twitter").text


@pytest.mark.parametrize("state", ["short", "x" * 501])
def test_a_given_state_too_short_or_too_long_is_refused(web, state):
    assert "16 to 500 characters" in start(web, state=state, status=400) and states(web) == []


def test_callback_url_is_under_the_plugins_web_ui(web):
    base = frontend.site.settings.web.base_url
    assert frontend.callback_url("mastodon") == f"{base}/bots/mastodon/callback"
    assert frontend.callback_url("twitter", "done") == f"{base}/bots/twitter/done"


# --- refused states --------------------------------------------------------------------------

def test_a_replayed_state_is_refused(web):
    state = start(web)
    finish(web, state)
    again = finish(web, state, status=400)
    assert again.text == ("This authorisation link was already used or is unknown: "
                          "please connect again.")


def test_another_citys_state_is_refused_and_that_city_can_still_finish_it(web, hamburg):
    state = start(hamburg)
    refused = finish(web, state, status=400)
    assert "started for another city's settings" in refused.text
    assert finish(hamburg, state).text.startswith("connected hamburg ")


def test_an_expired_state_is_refused_and_deleted(web):
    state = start(web)
    with web.sessions.begin() as session:
        session.execute(update(db.OAuthState).values(expires_at=0))
    assert "expired" in finish(web, state, status=400).text
    assert states(web) == []
    assert "already used or is unknown" in finish(web, state, status=400).text


def test_a_state_with_a_negative_ttl_is_expired_at_once(web):
    state = start(web, ttl="-1")
    assert "expired" in finish(web, state, status=400).text


@pytest.mark.parametrize("garbage", ["", "garbage", "x" * 5000, "\u00e4\u20ac", "' OR 1=1 --"])
def test_an_unknown_or_garbage_state_is_refused(web, garbage):
    start(web)
    assert "already used or is unknown" in finish(web, garbage, status=400).text
    assert len(states(web)) == 1  # the flow under way is untouched


def test_another_plugins_state_is_refused_and_stays_for_its_plugin(web):
    state = start(web, plugin="mastodon")
    assert "already used or is unknown" in finish(web, state, plugin="twitter", status=400).text
    assert "connected berlin" in finish(web, state, plugin="mastodon").text


def test_starting_or_finishing_without_a_login_redirects_to_login(web):
    state = start(web)
    stranger = webtest.TestApp(web.app)
    assert stranger.post("/oauth-test/mastodon/connect", {"csrf": csrf(stranger.get("/login"))},
                         status=303).location.endswith("/login")
    assert finish(stranger, state, status=303).location.endswith("/login")
    assert len(states(web)) == 1  # still there for its organiser
    assert "connected berlin" in finish(web, state).text


# --- storage ---------------------------------------------------------------------------------

def test_only_the_hash_of_the_state_is_stored(web):
    state = start(web)
    [row] = states(web)
    assert row.key == hashlib.sha256(state.encode()).hexdigest()
    assert state not in (row.key, row.plugin, row.data)
    assert row.plugin == "mastodon" and "https://social.example" in row.data
    assert row.expires_at - row.created_at == pytest.approx(frontend.OAUTH_TTL)


def test_purge_expired_removes_expired_states_only(web):
    live, old = start(web), start(web)
    with web.sessions.begin() as session:
        session.execute(update(db.OAuthState).where(
            db.OAuthState.key == hashlib.sha256(old.encode()).hexdigest()).values(expires_at=1))
    with web.sessions.begin() as session:
        user.purge_expired(session)
    [row] = states(web)
    assert row.key == hashlib.sha256(live.encode()).hexdigest()
    assert "connected berlin" in finish(web, live).text


# --- races -----------------------------------------------------------------------------------

def test_parallel_callbacks_with_one_state_finish_only_once(web):
    state = start(web)
    cookie = f"{frontend.COOKIE}={web.cookies[frontend.COOKIE]}"
    tries = 6
    barrier, answers = threading.Barrier(tries), []

    def callback():
        browser = webtest.TestApp(web.app)  # one per thread: TestApp keeps cookies
        barrier.wait()
        answers.append(browser.get("/oauth-test/mastodon/callback", params={"state": state},
                                   headers={"Cookie": cookie}, expect_errors=True))

    threads = [threading.Thread(target=callback) for _ in range(tries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(a.status_int for a in answers) == [200] + [400] * (tries - 1)
    assert all("already used or is unknown" in a.text for a in answers if a.status_int == 400)
    assert states(web) == []


def test_a_flow_is_only_started_by_a_form_of_the_site(web):
    """Another site's link or form cannot start a flow for the logged-in organiser's city
    towards a server of its choice."""
    web.post("/oauth-test/mastodon/connect", {}, status=403)
    web.post("/oauth-test/mastodon/connect", {"csrf": "forged"}, status=403)
    assert states(web) == []
