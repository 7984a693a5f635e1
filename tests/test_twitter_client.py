"""bots/twitter/client.py against tests/twitter_server.py: the API host setting reaches the server
for tweepy.Client and for the OAuth 1.0a handler, every request times out, and tweepy's errors
become the run loop's."""
import socket
import time
import urllib.parse

import pytest
import requests
import tweepy
from twitter_server import DUPLICATE, TwitterServer

from bots import CredentialsRefused, TryLater
from bots.twitter.client import (MAX_WAIT, REFUSED_TOKEN, Refused, call, handler, make_client,
                                 rewrite)

CALLBACK = "https://ticketfrei.example/bots/twitter/callback"


@pytest.fixture
def server():
    with TwitterServer() as s:
        yield s


@pytest.fixture
def berlin(server):
    return server.add_account("berlin")


def client_of(server, account, timeout=5.0):
    return make_client(server.consumer_key, server.consumer_secret, account.access_token,
                       account.access_token_secret, server.url, timeout)


# -- the API host and the timeout -----------------------------------------------------------------

def test_only_xs_api_hosts_are_rewritten():
    to = "http://127.0.0.1:8080"
    assert rewrite("https://api.twitter.com/2/users/me?x=1", to) == to + "/2/users/me?x=1"
    assert rewrite("https://api.x.com/oauth/request_token", to + "/") == to + "/oauth/request_token"
    assert rewrite("https://api.twitter.com/2/tweets", "https://proxy.example/x") == \
        "https://proxy.example/x/2/tweets"
    for other in ("https://api.twitter.com.evil.example/2/tweets", "https://upload.twitter.com/1.1/x",
                  "http://api.twitter.com/2/tweets"):
        assert rewrite(other, to) == other
    assert rewrite("https://api.twitter.com/2/tweets", "https://api.twitter.com") == \
        "https://api.twitter.com/2/tweets"


def test_the_client_reaches_the_configured_host_signed_for_api_twitter_com(server, berlin):
    c = client_of(server, berlin)
    assert call(c, "get_me").data.username == "berlin"
    mention = server.mention(berlin, "Kontrolle U8", author="anna")
    page = call(c, "get_users_mentions", berlin.user_id, user_auth=True, tweet_fields=["author_id"])
    assert [str(t.id) for t in page.data] == [mention]
    assert call(c, "retweet", mention).data["retweeted"] is True
    assert call(c, "create_tweet", text="Kontrolle S41").data["text"] == "Kontrolle S41"
    log = server.requests_log()
    assert [r.status for r in log] == [200, 200, 200, 201]
    assert {r.headers["Host"] for r in log} == {server.url.removeprefix("http://")}


def test_the_oauth_flow_reaches_the_configured_host_in_both_steps(server):
    server.user("hamburg")
    start = handler(server.consumer_key, server.consumer_secret, CALLBACK, server.url, 5)
    url = call(start, "get_authorization_url")
    assert url.startswith("https://api.twitter.com/oauth/authorize?oauth_token=")  # the browser goes to X
    kept = dict(start.request_token)
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(server.authorize(url, "hamburg")).query))
    assert back["oauth_token"] == kept["oauth_token"]
    finish = handler(server.consumer_key, server.consumer_secret, CALLBACK, server.url, 5, request_token=kept)
    token, secret = call(finish, "get_access_token", back["oauth_verifier"])
    user_id = token.partition("-")[0]
    assert user_id == server.user("hamburg").user_id
    c = make_client(server.consumer_key, server.consumer_secret, token, secret, server.url, 5)
    assert call(c, "get_me").data.username == "hamburg"
    assert [r.path for r in server.requests_log()] == [
        "/oauth/request_token", "/oauth/authorize", "/oauth/authorize", "/oauth/access_token",
        "/2/users/me"]


def test_a_hanging_request_ends_with_a_timeout(server, berlin):
    server.hang_next(1, seconds=5, path="/2/tweets")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not answer in time"):
        call(client_of(server, berlin, timeout=0.5), "create_tweet", text="slow")
    assert time.monotonic() - started < 2


def test_a_hanging_oauth_step_ends_with_a_timeout(server):
    server.hang_next(1, seconds=5, path="/oauth/request_token")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        call(handler(server.consumer_key, server.consumer_secret, CALLBACK, server.url, 0.5),
             "get_authorization_url")
    assert time.monotonic() - started < 2


def test_no_connection_is_a_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    c = make_client("key", "secret", "1-token", "secret", closed, 2)
    with pytest.raises(ConnectionError):
        call(c, "get_me")
    with pytest.raises(ConnectionError):
        call(handler("key", "secret", CALLBACK, closed, 2), "get_authorization_url")


# -- errors as the run loop's -----------------------------------------------------------------

def test_a_rate_limit_is_try_later_until_xs_reset(server, berlin):
    c = client_of(server, berlin)
    server.rate_limit_next(1, reset_in=120)
    with pytest.raises(TryLater) as later:
        call(c, "get_users_mentions", berlin.user_id, user_auth=True)
    assert 110 <= later.value.delay <= 121
    server.rate_limit_next(1, reset_in=86400)
    with pytest.raises(TryLater) as later:
        call(c, "get_me")
    assert later.value.delay == MAX_WAIT


def test_a_used_up_daily_post_limit_waits_for_its_own_reset(server, berlin):
    server.rate_limit_next(1, reset_in=600, path="/2/tweets", daily=True)
    with pytest.raises(TryLater) as later:
        call(client_of(server, berlin), "create_tweet", text="hello")
    assert 590 <= later.value.delay <= 601  # not the 15-minute window's reset, which has room


def test_server_errors_are_try_later_after_the_backoff(server, berlin):
    for status in (500, 503):
        server.fail_next(1, status)
        with pytest.raises(TryLater, match=str(status)) as later:
            call(client_of(server, berlin), "create_tweet", text="hello")
        assert later.value.delay is None
    server.fail_next(1, 502, path="/oauth/")
    with pytest.raises(TryLater) as later:
        call(handler(server.consumer_key, server.consumer_secret, CALLBACK, server.url, 5),
             "get_authorization_url")
    assert later.value.delay is None


def test_an_answer_that_is_not_json_is_try_later(server, berlin):
    server.garbage_next(1)
    with pytest.raises(TryLater, match="not understood") as later:
        call(client_of(server, berlin), "get_me")
    assert later.value.delay is None
    server.garbage_next(1, path="/oauth/request_token")
    with pytest.raises(TryLater, match="not understood"):
        call(handler(server.consumer_key, server.consumer_secret, CALLBACK, server.url, 5),
             "get_authorization_url")


def test_a_revoked_token_or_a_suspended_account_is_credentials_refused(server, berlin):
    hamburg = server.add_account("hamburg")
    server.revoke(berlin)
    server.suspend(hamburg)
    for account in (berlin, hamburg):
        with pytest.raises(CredentialsRefused) as refused:
            call(client_of(server, account), "get_users_mentions", account.user_id, user_auth=True)
        assert str(refused.value) == REFUSED_TOKEN


def test_a_post_x_refuses_is_refused_403_with_xs_detail(server, berlin):
    c = client_of(server, berlin)
    call(c, "create_tweet", text="Kontrolle U8")
    with pytest.raises(Refused) as duplicate:
        call(c, "create_tweet", text="Kontrolle U8")
    assert duplicate.value.code == 403 and str(duplicate.value) == DUPLICATE
    assert duplicate.value.duplicate and duplicate.value.problem == "about:blank"
    with pytest.raises(Refused, match="too long") as too_long:
        call(c, "create_tweet", text="x" * 300)
    assert too_long.value.code == 403 and not too_long.value.duplicate


def test_reading_without_the_plan_for_it_is_refused_403_client_forbidden():
    with TwitterServer(read_access=False) as server:
        berlin = server.add_account("berlin")
        with pytest.raises(Refused) as refused:
            call(client_of(server, berlin), "get_users_mentions", berlin.user_id, user_auth=True)
        assert refused.value.code == 403
        assert refused.value.problem == "https://api.twitter.com/2/problems/client-forbidden"


def test_other_refusals_keep_their_status(server, berlin):
    c = client_of(server, berlin)
    with pytest.raises(Refused, match="max_results") as bad:
        call(c, "get_users_mentions", berlin.user_id, user_auth=True, max_results=500)
    assert bad.value.code == 400
    with pytest.raises(Refused) as missing:
        call(c, "retweet", "1")
    assert missing.value.code == 404


def test_used_up_api_credits_wait_long(server, berlin):
    server.fail_next(1, 402)
    with pytest.raises(TryLater, match="credits") as later:
        call(client_of(server, berlin), "get_users_mentions", berlin.user_id, user_auth=True)
    assert later.value.delay >= 3600


def test_wrong_consumer_keys_and_dead_authorisations_are_credentials_refused(server):
    with pytest.raises(CredentialsRefused, match="consumer key"):
        call(handler(server.consumer_key, "wrong", CALLBACK, server.url, 5), "get_authorization_url")
    server.user("berlin")
    h = handler(server.consumer_key, server.consumer_secret, CALLBACK, server.url, 5)
    server.authorize(call(h, "get_authorization_url"), "berlin", approve=False)
    with pytest.raises(CredentialsRefused, match="connect the account again"):
        call(h, "get_access_token", "verifier")


def test_a_callback_the_app_does_not_allow_is_refused_with_xs_message():
    with TwitterServer(callback_urls=["https://elsewhere.example/cb"]) as server:
        with pytest.raises(Refused, match="Callback URL not approved") as refused:
            call(handler(server.consumer_key, server.consumer_secret, CALLBACK, server.url, 5),
                 "get_authorization_url")
        assert refused.value.code == 403


def test_tweepys_own_mistakes_are_not_hidden(server, berlin):
    c = make_client(server.consumer_key, server.consumer_secret, None, None, server.url, 5)
    with pytest.raises(TypeError):
        call(c, "retweet", "1")  # no access token: a bug of ours, not X's answer
    with pytest.raises(tweepy.TweepyException):
        call(handler(server.consumer_key, server.consumer_secret, CALLBACK, server.url, 5),
             "get_access_token", "verifier")  # no request token kept
    assert isinstance(requests.JSONDecodeError("x", "y", 0), OSError)  # why call() checks it first
