"""Connecting a city's Mastodon account through the web UI (WebTest), against a local Mastodon
server reached through Mastodon.py: the OAuth authorization-code flow with a state bound to the
city, a pasted token, disconnecting, and a clear message for each way it can fail."""
import html
import re
from urllib.parse import urlsplit

import pytest
import webtest
from sqlalchemy import select

import frontend
from bots.mastodon.db import MastodonAccount, MastodonHandle
from mastodon_server import MastodonServer
from test_web import csrf, sign_up


@pytest.fixture
def mastodon():
    with MastodonServer() as server:
        yield server


@pytest.fixture
def web(core_for, database_url, relay):
    """berlin's organiser, logged in, on an app with the Mastodon plugin."""
    settings, plugins, sessions = core_for(
        database_url, TICKETFREI_BOTS_MASTODON_PRIVATE_INSTANCES="true",
        TICKETFREI_MAIL_RELAY_HOST="127.0.0.1",
        TICKETFREI_MAIL_RELAY_PORT=str(relay.port), TICKETFREI_MAIL_RELAY_SECURITY="none")
    told = []
    browser = webtest.TestApp(frontend.make_app(settings, sessions, plugins,
                                                notify_main=lambda: told.append(1)),
                              extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    browser.relay, browser.sessions, browser.told = relay, sessions, told
    sign_up(browser)
    return browser


def post_panel(web, action, status=None, **fields):
    page = web.get("/settings")
    return web.post(f"/bots/mastodon/berlin/{action}", {**fields, "csrf": csrf(page)},
                    status=status)


def to_instance(web, instance):
    """The organiser's "Connect" on the panel: the page with the link to the instance."""
    page = post_panel(web, "connect", status=200, instance=instance)
    return html.unescape(re.search(r'<a class="button" href="([^"]+)"', page.text).group(1))


def callback(web, location, status=None):
    """The browser coming back from the instance to our callback."""
    parts = urlsplit(location)
    return web.get(f"{parts.path}?{parts.query}", status=status)


def accounts(web):
    with web.sessions() as session:
        return [(row.active, handle) for row, handle in session.execute(
            select(MastodonAccount, MastodonHandle.acct).join(
                MastodonHandle, MastodonHandle.account_id == MastodonAccount.id))]


def test_an_organiser_connects_an_account_through_the_instances_authorisation(web, mastodon):
    mastodon.add_account("tf_berlin")
    link = to_instance(web, mastodon.url)
    assert link.startswith(mastodon.url + "/oauth/authorize")
    back = mastodon.authorize(link, "tf_berlin")
    done = callback(web, back, status=303)
    assert done.location.endswith("/settings#network-mastodon")
    assert accounts(web) == [(1, f"@tf_berlin@{mastodon.domain}")]
    assert web.told  # main starts the bot at once
    assert f"@tf_berlin@{mastodon.domain}" in web.get("/settings").text
    app = mastodon.apps()[-1]
    assert set(app["scopes"]) == {"read", "write"}


def test_a_second_connection_reuses_the_registered_app(web, mastodon):
    mastodon.add_account("tf_berlin")
    for _ in range(2):
        link = to_instance(web, mastodon.url)
        callback(web, mastodon.authorize(link, "tf_berlin"), status=303)
    assert [a["name"] for a in mastodon.apps()].count("Ticketfrei") == 1
    assert len(accounts(web)) == 1  # the same account, connected again


def test_a_refused_authorisation_is_said_on_the_panel(web, mastodon):
    mastodon.add_account("tf_berlin")
    link = to_instance(web, mastodon.url)
    page = callback(web, mastodon.authorize(link, "tf_berlin", approve=False),
                    status=400)
    assert "did not authorise" in page.text and accounts(web) == []


def test_the_callback_of_another_citys_flow_is_refused(web, mastodon, core_for):
    mastodon.add_account("tf_berlin")
    link = to_instance(web, mastodon.url)
    back = mastodon.authorize(link, "tf_berlin")
    web.reset()
    sign_up(web, city="hamburg", email="orga@hamburg.example")
    page = callback(web, back, status=400)
    assert "another city" in page.text and accounts(web) == []


@pytest.mark.parametrize("address, said", [
    ("not an address at all", "not an instance's address"),
    ("http://social.example", "Only https://"),
    ("https://social.example/path", "not an instance's address"),
])
def test_a_wrong_address_is_said_on_the_panel(web, address, said):
    page = post_panel(web, "connect", status=400, instance=address)
    assert said in html.unescape(page.text)


def test_an_instance_that_is_down_is_said_on_the_panel(web):
    page = post_panel(web, "connect", status=400, instance="http://127.0.0.1:9")
    assert "did not answer" in page.text


def test_a_pasted_token_connects_and_a_wrong_one_is_refused(web, mastodon):
    account = mastodon.add_account("tf_berlin")
    page = post_panel(web, "token", status=400, instance=mastodon.url, token="wrong")
    assert "did not accept the token" in page.text
    post_panel(web, "token", status=303, instance=mastodon.url, token=account.token)
    assert accounts(web) == [(1, f"@tf_berlin@{mastodon.domain}")]


def test_disconnecting_revokes_the_token_and_forgets_the_account(web, mastodon):
    mastodon.add_account("tf_berlin")
    link = to_instance(web, mastodon.url)
    callback(web, mastodon.authorize(link, "tf_berlin"), status=303)
    with web.sessions() as session:
        row = session.scalars(select(MastodonAccount)).one()
    post_panel(web, "disconnect", status=303, account=str(row.id))
    assert accounts(web) == []
    assert any(r.path == "/oauth/revoke" for r in mastodon.requests_log)


def test_deleting_the_city_revokes_its_token(web, mastodon):
    mastodon.add_account("tf_berlin")
    callback(web, mastodon.authorize(to_instance(web, mastodon.url), "tf_berlin"), status=303)
    page = web.get("/account")
    web.post("/account/delete", {"password": "a good password", "confirm": "yes",
                                 "csrf": csrf(page)})
    assert accounts(web) == []
    revoked = [r for r in mastodon.requests_log if r.path == "/oauth/revoke"]
    assert len(revoked) == 1 and revoked[0].status == 200


def test_an_account_another_city_connected_is_refused(web, mastodon, core_for):
    """Both cities' bots would read its mentions: one city's reports relayed in the other."""
    account = mastodon.add_account("tf_shared")
    post_panel(web, "token", status=303, instance=mastodon.url, token=account.token)
    web.reset()
    sign_up(web, city="hamburg", email="orga@hamburg.example")
    page = web.get("/settings")
    refused = web.post("/bots/mastodon/hamburg/token", {"instance": mastodon.url,
                                                         "token": account.token,
                                                         "csrf": csrf(page)}, status=400)
    assert "connected to another city" in refused.text
    assert accounts(web) == [(1, f"@tf_shared@{mastodon.domain}")]


def test_another_citys_account_cannot_be_disconnected(web, mastodon):
    mastodon.add_account("tf_berlin")
    link = to_instance(web, mastodon.url)
    callback(web, mastodon.authorize(link, "tf_berlin"), status=303)
    with web.sessions() as session:
        row_id = session.scalars(select(MastodonAccount.id)).one()
    web.reset()
    sign_up(web, city="hamburg", email="orga@hamburg.example")
    page = web.get("/settings")
    web.post("/bots/mastodon/hamburg/disconnect", {"account": str(row_id), "csrf": csrf(page)},
             status=400)
    assert len(accounts(web)) == 1


def test_the_city_page_says_how_to_report_on_mastodon(web, mastodon):
    mastodon.add_account("tf_berlin")
    link = to_instance(web, mastodon.url)
    callback(web, mastodon.authorize(link, "tf_berlin"), status=303)
    page = web.get("/city/berlin")
    assert f"@tf_berlin@{mastodon.domain}" in page.text and "direct message" in page.text


def test_the_city_chooses_unlisted_posts(web, mastodon):
    post_panel(web, "visibility", status=303, visibility="unlisted")
    assert 'value="unlisted" selected' in web.get("/settings").text
    post_panel(web, "visibility", status=400, visibility="direct")


def test_an_address_on_this_machine_or_its_networks_is_refused_by_default(core_for, sqlite_url,
                                                                         relay):
    """Else the connect form would reach the frontend's own port or a cloud's metadata."""
    settings, plugins, sessions = core_for(
        sqlite_url, TICKETFREI_MAIL_RELAY_HOST="127.0.0.1",
        TICKETFREI_MAIL_RELAY_PORT=str(relay.port), TICKETFREI_MAIL_RELAY_SECURITY="none")
    web = webtest.TestApp(frontend.make_app(settings, sessions, plugins),
                          extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    web.relay = relay
    sign_up(web)
    for address in ("http://127.0.0.1:8080", "https://10.1.2.3", "https://169.254.169.254"):
        page = post_panel(web, "connect", status=400, instance=address)
        assert "not a public instance" in page.text


def test_requests_go_only_to_the_instance_named():
    """Its OAuth metadata may name a token endpoint elsewhere (an internal address)."""
    from bots.mastodon import client
    session = client.session("https://social.example")
    for elsewhere in ("https://169.254.169.254/latest", "http://social.example/x",
                      "https://social.example:8443/x", "https://other.example/oauth/token"):
        with pytest.raises(OSError, match="elsewhere"):
            session.get(elsewhere, timeout=1)
