"""Tests of tests/mastodon_server.py, driven through the real Mastodon.py as the bot will be."""
import time
import urllib.parse

import pytest
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonBadGatewayError,
    MastodonIllegalArgumentError,
    MastodonInternalServerError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonServiceUnavailableError,
    MastodonUnauthorizedError,
)
from mastodon_server import MastodonServer

CALLBACK = "https://ticketfrei.example/settings/mastodon/callback"


@pytest.fixture
def server():
    with MastodonServer() as s:
        yield s


def api(server, token, **kwargs):
    kwargs.setdefault("ratelimit_method", "throw")
    kwargs.setdefault("request_timeout", 5)
    return Mastodon(access_token=token, api_base_url=server.url, **kwargs)


# -- OAuth ----------------------------------------------------------------------------------------

def test_app_registration_and_authorization_code_flow(server):
    berlin = server.add_account("berlin")
    client_id, client_secret = Mastodon.create_app(
        "Ticketfrei", scopes=["read", "write"], redirect_uris=CALLBACK, api_base_url=server.url)
    app = next(r for r in server.requests_log if r.path == "/api/v1/apps")
    assert app.params["scopes"] == "read write" and app.params["redirect_uris"] == CALLBACK

    m = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.url)
    # Mastodon 4.3 publishes its OAuth endpoints; Mastodon.py refuses their http:// URLs unless told.
    with pytest.raises(MastodonIllegalArgumentError):
        m.auth_request_url(redirect_uris=CALLBACK, scopes=["read", "write"], state="s3cret")
    url = m.auth_request_url(redirect_uris=CALLBACK, scopes=["read", "write"], state="s3cret",
                             allow_http=True)
    location = server.authorize(url, berlin)
    assert location.startswith(CALLBACK + "?")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert query["state"] == "s3cret"

    token = m.log_in(code=query["code"], redirect_uri=CALLBACK, scopes=["read", "write"], allow_http=True)
    assert api(server, token).account_verify_credentials().username == "berlin"
    # A code is good for one token only; a wrong redirect_uri is refused as well.
    with pytest.raises(MastodonIllegalArgumentError, match="invalid_grant"):
        m.log_in(code=query["code"], redirect_uri=CALLBACK, scopes=["read", "write"], allow_http=True)
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(server.authorize(url, berlin)).query))["code"]
    with pytest.raises(MastodonIllegalArgumentError):
        m.log_in(code=code, redirect_uri="https://evil.example/", scopes=["read", "write"], allow_http=True)
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(server.authorize(url, berlin)).query))["code"]
    wrong = Mastodon(client_id=client_id, client_secret="wrong", api_base_url=server.url)
    with pytest.raises(MastodonIllegalArgumentError, match="invalid_client"):
        wrong.log_in(code=code, redirect_uri=CALLBACK, scopes=["read", "write"], allow_http=True)
    app = server.apps()[-1]
    assert app["scopes"] == ["read", "write"] and app["redirect_uris"] == [CALLBACK]

    # The token's owner can revoke it through the app's credentials.
    m.access_token = token
    m.revoke_access_token(allow_http=True)
    with pytest.raises(MastodonUnauthorizedError):
        api(server, token).account_verify_credentials()


def test_deny_and_bad_authorization_requests(server):
    server.add_account("hamburg")
    client_id, client_secret = Mastodon.create_app("T", scopes=["read"], redirect_uris=CALLBACK,
                                                   api_base_url=server.url)
    m = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.url)
    url = m.auth_request_url(redirect_uris=CALLBACK, scopes=["read"], state="st", allow_http=True)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(server.authorize(url, "hamburg", False)).query))
    assert query["error"] == "access_denied" and query["state"] == "st" and "code" not in query
    # More scopes than the app registered: Doorkeeper sends the browser back with invalid_scope.
    url = m.auth_request_url(redirect_uris=CALLBACK, scopes=["read", "write"], state="st", allow_http=True)
    assert "error=invalid_scope" in server.authorize(url, "hamburg")
    # A redirect_uri the app did not register is not redirected to at all.
    url = m.auth_request_url(redirect_uris="https://evil.example/", scopes=["read"], allow_http=True)
    with pytest.raises(AssertionError, match="400"):
        server.authorize(url, "hamburg")


def test_oob_flow_and_server_without_oauth_metadata():
    with MastodonServer(oauth_metadata=False) as server:  # like Mastodon before 4.3
        server.add_account("leipzig")
        client_id, client_secret = Mastodon.create_app("T", api_base_url=server.url)  # oob, 4 scopes
        m = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.url)
        url = m.auth_request_url()  # no allow_http needed here
        assert "&state=None&lang=None" in url  # Mastodon.py sends unset state and lang as "None"
        location = server.authorize(url, "leipzig")
        assert location.startswith(server.url + "/oauth/authorize/native?code=")
        token = m.log_in(code=dict(urllib.parse.parse_qsl(location.partition("?")[2]))["code"])
        assert api(server, token).me().acct == "leipzig"


# -- accounts, instance, auth errors ---------------------------------------------------------------

def test_verify_credentials_and_instance(server):
    acc = server.add_account("berlin", token="tok-berlin")
    m = api(server, "tok-berlin", version_check_mode="created")  # reads /api/v1/instance at once
    assert m.retrieve_mastodon_version() == "4.3.8"
    assert m.mastodon_api_version == 2
    me = m.account_verify_credentials()
    assert (me.id, me.username, me.acct, me.url) == (acc.id, "berlin", "berlin", f"{server.url}/@berlin")
    assert isinstance(me.id, str) and me.created_at.tzinfo is not None
    assert me.source.privacy == "public"
    assert m.instance_v2().configuration.statuses.max_characters == 500
    server.set_max_characters(50)
    assert m.instance_v1().configuration.statuses.max_characters == 50
    with pytest.raises(MastodonAPIError, match="character limit of 50"):
        m.status_post("x" * 51)
    assert m.status_post("https://example.org/" + "a" * 60 + " " + "ä" * 26).id  # a URL counts 23


def test_revoked_unknown_and_suspended_tokens(server):
    acc = server.add_account("berlin")
    with pytest.raises(MastodonUnauthorizedError) as e:
        api(server, "nope").account_verify_credentials()
    assert e.value.args[1:] == (401, "Unauthorized", "The access token is invalid")
    with pytest.raises(MastodonUnauthorizedError) as e:
        api(server, "nope").notifications()
    assert e.value.args[1:] == (401, "Unauthorized", None)  # Mastodon.py loses the text on list endpoints
    server.suspend(acc)
    with pytest.raises(MastodonAPIError) as e:
        api(server, acc.token).account_verify_credentials()
    assert not isinstance(e.value, MastodonUnauthorizedError)
    assert e.value.args[1:] == (403, "Forbidden", "Your login is currently disabled")
    server.suspend(acc, False)
    reader = server.add_account("reader", scopes=("read",))
    with pytest.raises(MastodonAPIError, match="outside the authorized scopes"):
        api(server, reader.token).status_post("x")
    server.revoke(acc.token)
    with pytest.raises(MastodonUnauthorizedError, match="The access token was revoked"):
        api(server, acc.token).account_verify_credentials()


def test_rate_limit_headers(server):
    acc = server.add_account("berlin")
    m = api(server, acc.token)
    m.account_verify_credentials()
    m.account_verify_credentials()
    assert m.ratelimit_limit == 300 and m.ratelimit_remaining == 298
    assert time.time() < m.ratelimit_reset <= time.time() + 301
    with MastodonServer(rate_limit=2, enforce_rate_limit=True) as small:
        acc = small.add_account("x")
        m = api(small, acc.token)
        m.me(), m.me()
        with pytest.raises(MastodonRatelimitError):
            m.me()


# -- notifications ---------------------------------------------------------------------------------

def test_mention_shape(server):
    bot = server.add_account("bot")
    nid = server.mention(bot, "Kontrolle U8 #hermannplatz https://example.org/x", visibility="unlisted")
    n = api(server, bot.token).notifications(types=["mention"])[0]
    assert (n.id, n.type, n.account.acct) == (nid, "mention", "someone@other.example")
    assert n.status.visibility == "unlisted" and n.status.reblog is None
    assert n.status.account.url == "https://other.example/@someone"
    assert [(x.acct, x.username, x.id) for x in n.status.mentions] == [("bot", "bot", bot.id)]
    assert n.status.content.startswith(
        f'<p><span class="h-card" translate="no"><a href="{server.url}/@bot" class="u-url mention">'
        '@<span>bot</span></a></span> Kontrolle U8 <a href=')
    assert [t.name for t in n.status.tags] == ["hermannplatz"]


def test_45_mentions_paged_without_loss_or_repeats(server):
    bot = server.add_account("bot")
    ids = [server.mention(bot, f"Kontrolle {i}", visibility=("public", "unlisted", "private")[i % 3],
                          sender=f"user{i % 4}@other.example") for i in range(45)]
    assert ids == [str(i) for i in range(1, 46)]  # sequential ids: compare them as numbers
    m = api(server, bot.token)

    first = m.notifications(types=["mention"])
    assert [n.id for n in first] == ids[::-1][:40]  # default limit 40, newest first
    everything = m.fetch_remaining(first)
    assert [n.id for n in everything] == ids[::-1]
    link = next(r for r in server.requests_log if r.query.get("max_id") == "6")
    assert link.query["types"] == ["mention"]  # the next link keeps types[]

    # since_id: the *newest* `limit` after the cursor (a gap if more came in).
    assert [n.id for n in m.notifications(types=["mention"], since_id=ids[9], limit=5)] == ids[::-1][:5]
    # min_id: the *oldest* `limit` after the cursor, still sorted newest first; page forward with prev.
    seen, cursor = [], ids[9]
    page = m.notifications(types=["mention"], min_id=cursor, limit=7)
    while page:
        assert [int(n.id) for n in page] == sorted((int(n.id) for n in page), reverse=True)
        seen += reversed([n.id for n in page])
        page = m.fetch_previous(page)
    assert seen == ids[10:]
    # Beware: fetch_remaining follows `next` (older), and Mastodon.py drops since_id from it.
    assert len(m.fetch_remaining(m.notifications(since_id=ids[40], limit=2))) == 45
    assert m.notifications(since_id=ids[-1]) == []
    assert len(m.notifications(limit=200)) == 45 and len(m.notifications(limit=3)) == 3


def test_direct_mentions_are_filtered_by_default_policy(server):
    bot = server.add_account("bot")
    m = api(server, bot.token)
    server.mention(bot, "public one")
    hidden = server.mention(bot, "direct one", visibility="direct")
    assert [n.status.visibility for n in m.notifications()] == ["public"]
    assert m.notifications_policy().for_private_mentions == "filter"
    assert m.notifications_policy().summary.pending_notifications_count == 1
    m.update_notifications_policy(for_private_mentions="accept")
    shown = server.mention(bot, "another direct", visibility="direct")
    assert [n.id for n in m.notifications()] == [shown, "1"]
    assert hidden not in [n.id for n in m.notifications()]


def test_accounts_are_separate(server):
    berlin, hamburg = server.add_account("berlin"), server.add_account("hamburg")
    server.mention(berlin, "U8")
    server.mention(hamburg, "S1", sender="x@y.example")
    notifications = api(server, berlin.token).notifications()
    assert [n.status.account.acct for n in notifications] == ["someone@other.example"]
    assert [n.account.acct for n in api(server, hamburg.token).notifications()] == ["x@y.example"]
    api(server, berlin.token).status_post("Berlin")
    assert [s["content"] for s in server.posts(berlin)] == ["<p>Berlin</p>"] and server.posts(hamburg) == []


# -- statuses ---------------------------------------------------------------------------------------

def test_idempotent_status_posting(server):
    bot, other = server.add_account("bot"), server.add_account("other")
    m = api(server, bot.token)
    a = m.status_post("Kontrolle U8", visibility="unlisted", idempotency_key="report-17")
    b = m.status_post("Kontrolle U8 (again)", idempotency_key="report-17")
    assert a.id == b.id and b.content == "<p>Kontrolle U8</p>" and b.visibility == "unlisted"
    assert [r.headers.get("Idempotency-Key") for r in server.requests_log if r.path == "/api/v1/statuses"] \
        == ["report-17", "report-17"]
    assert api(server, other.token).status_post("x", idempotency_key="report-17").id != a.id  # per account
    assert len(server.posts(bot)) == 1

    # The post went through but the answer came too late: retrying with the same key posts nothing new.
    server.hang_next(1, seconds=2)
    slow = api(server, bot.token, request_timeout=0.5)
    with pytest.raises(MastodonNetworkError):
        slow.status_post("Kontrolle S41", idempotency_key="report-18")
    assert m.status_post("Kontrolle S41", idempotency_key="report-18").content == "<p>Kontrolle S41</p>"
    assert [s["content"] for s in server.posts(bot)] == ["<p>Kontrolle U8</p>", "<p>Kontrolle S41</p>"]


def test_reply_keeps_visibility_and_mentions_sender(server):
    bot = server.add_account("bot")
    m = api(server, bot.token)
    server.mention(bot, "Kontrolle U8?", visibility="private")
    mention = m.notifications()[0].status
    assert m.status(mention.id).id == mention.id
    reply = m.status_reply(mention, "Danke, weitergeleitet.", spoiler_text="Kontrolle")
    assert reply.in_reply_to_id == mention.id and reply.visibility == "private"
    assert reply.spoiler_text == "Kontrolle"
    assert [x.acct for x in reply.mentions] == ["someone@other.example"]
    assert '@<span>someone</span></a></span> Danke, weitergeleitet.</p>' in reply.content
    with pytest.raises(MastodonNotFoundError):
        m.status_post("x", in_reply_to_id="12345")
    with pytest.raises(MastodonNotFoundError):
        m.status("12345")


def test_reblog_is_idempotent(server):
    bot = server.add_account("bot")
    m = api(server, bot.token)
    server.mention(bot, "Kontrolle U8")
    server.mention(bot, "private", visibility="private")
    private, public = (n.status for n in m.notifications())
    first = m.status_reblog(public.id)
    again = m.status_reblog(public)
    assert first.id == again.id != public.id
    assert first.reblog.id == public.id and first.reblogged and first.reblog.reblogs_count == 1
    assert [r["reblog"]["id"] for r in server.reblogs(bot)] == [public.id]
    assert m.status(public.id).reblogged
    with pytest.raises(MastodonAPIError, match="This action is not allowed"):
        m.status_reblog(private.id)
    with pytest.raises(MastodonNotFoundError):
        m.status_reblog("12345")


# -- faults -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("status, exception", [(500, MastodonInternalServerError),
                                               (502, MastodonBadGatewayError),
                                               (503, MastodonServiceUnavailableError)])
def test_server_errors(server, status, exception):
    bot = server.add_account("bot")
    m = api(server, bot.token)
    server.fail_next(2, status=status)
    for _ in range(2):
        with pytest.raises(exception) as e:
            m.notifications()
        assert isinstance(e.value, MastodonServerError) and e.value.args[1] == status
    assert m.notifications() == []
    assert [r.fault for r in server.requests_log] == ["fail", "fail", None]


def test_fault_path_filter_and_garbage(server):
    bot = server.add_account("bot")
    m = api(server, bot.token)
    server.fail_next(1, status=503, path="/api/v1/statuses")
    assert m.notifications() == []
    with pytest.raises(MastodonServiceUnavailableError):
        m.status_post("x")
    server.garbage_next(1)
    with pytest.raises(MastodonAPIError, match="Could not parse response as JSON") as e:
        m.notifications()
    assert not isinstance(e.value, MastodonServerError)
    assert server.posts(bot) == []


def test_hang_times_out(server):
    bot = server.add_account("bot")
    server.hang_next(1, seconds=3, process=False)
    started = time.monotonic()
    with pytest.raises(MastodonNetworkError, match="timed out"):
        api(server, bot.token, request_timeout=0.3).status_post("lost")
    assert time.monotonic() - started < 2
    assert server.posts(bot) == []  # close() ends the hanging request; nothing was posted


def test_rate_limited_throw_and_wait(server):
    bot = server.add_account("bot")
    m = api(server, bot.token)
    server.rate_limit_next(1, reset_in=120)
    with pytest.raises(MastodonRatelimitError):
        m.notifications()
    assert 100 < m.ratelimit_reset - time.time() < 122  # epoch seconds on the local clock
    assert m.ratelimit_remaining == 0
    assert m.notifications() == []

    waiting = api(server, bot.token, ratelimit_method="wait")  # Mastodon.py's default: sleeps, retries
    server.rate_limit_next(1, reset_in=1)
    started = time.monotonic()
    assert waiting.notifications() == []
    assert 0.5 < time.monotonic() - started < 4
    assert [r.status for r in server.requests_log[-2:]] == [429, 200]
