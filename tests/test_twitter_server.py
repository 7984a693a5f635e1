"""Tests of tests/twitter_server.py, driven through the real tweepy as the bot will be.

tweepy always requests https://api.twitter.com; `ToServer` below sends its requests to the test
server instead (bots/twitter/client.py does the same for the bot, with more care), so that these
tests depend on the server and tweepy only.
"""
import time
import urllib.parse

import pytest
import requests
import requests.adapters
import tweepy
from requests_oauthlib import OAuth1, OAuth1Session
from twitter_server import DUPLICATE, TOO_LONG, X_API, TwitterServer, oauth_signature, weighted_length

CALLBACK = "https://ticketfrei.example/bots/twitter/callback"


class ToServer(requests.adapters.HTTPAdapter):
    def __init__(self, url):
        super().__init__()
        self.url = url

    def send(self, request, **kwargs):
        request.url = request.url.replace(X_API, self.url, 1)
        kwargs["timeout"] = kwargs.get("timeout") or 5
        return super().send(request, **kwargs)


class Handler(tweepy.OAuth1UserHandler):
    """tweepy's handler, every OAuth1Session of it sent to the server."""

    def __init__(self, server, *args, **kwargs):
        self.server_url = server.url
        super().__init__(*args, **kwargs)

    @property
    def oauth(self):
        return self._oauth

    @oauth.setter
    def oauth(self, session):
        session.mount("https://", ToServer(self.server_url))
        self._oauth = session


def client(server, account, consumer_secret=None, token_secret=None):
    c = tweepy.Client(consumer_key=server.consumer_key,
                      consumer_secret=consumer_secret or server.consumer_secret,
                      access_token=account.access_token,
                      access_token_secret=token_secret or account.access_token_secret)
    c.session.mount("https://", ToServer(server.url))
    return c


@pytest.fixture
def server():
    with TwitterServer() as s:
        yield s


def query(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


# -- OAuth 1.0a -----------------------------------------------------------------------------------

def test_the_signature_check_agrees_with_xs_documented_example():
    params = [("status", "Hello Ladies + Gentlemen, a signed OAuth request!"),
              ("include_entities", "true"), ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
              ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
              ("oauth_signature_method", "HMAC-SHA1"), ("oauth_timestamp", "1318622958"),
              ("oauth_token", "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"),
              ("oauth_version", "1.0")]
    assert oauth_signature("POST", "https://api.x.com/1.1/statuses/update.json", params,
                           "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
                           "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE") == "Ls93hJiZbQ3akF3HF3x1Bz8/zU4="


def test_three_legged_flow_gives_a_token_that_works(server):
    server.user("berlin")
    h = Handler(server, server.consumer_key, server.consumer_secret, callback=CALLBACK)
    url = h.get_authorization_url()
    assert url.startswith(X_API + "/oauth/authorize?oauth_token=")
    assert h.request_token["oauth_callback_confirmed"] == "true"
    location = server.authorize(url, "berlin")
    assert location.startswith(CALLBACK + "?")
    back = query(location)
    assert back["oauth_token"] == h.request_token["oauth_token"]

    # The callback is another web request: a new handler with the kept request token.
    h2 = Handler(server, server.consumer_key, server.consumer_secret, callback=CALLBACK)
    h2.request_token = h.request_token
    token, secret = h2.get_access_token(back["oauth_verifier"])
    berlin = server.user("berlin")
    assert token.startswith(berlin.user_id + "-")
    me = tweepy.Client(consumer_key=server.consumer_key, consumer_secret=server.consumer_secret,
                       access_token=token, access_token_secret=secret)
    me.session.mount("https://", ToServer(server.url))
    assert me.get_me().data.username == "berlin"

    request_token, access_token = (r for r in server.requests_log() if r.path.startswith("/oauth/")
                                   and r.method == "POST" and "token" in r.path)
    assert request_token.oauth["oauth_callback"] == CALLBACK
    assert access_token.oauth["oauth_verifier"] == back["oauth_verifier"] and access_token.user == "berlin"
    # A request token serves once.
    with pytest.raises(tweepy.TweepyException, match="401"):
        h2.get_access_token(back["oauth_verifier"])


def test_access_token_answer_names_the_user_as_x_does(server):
    server.user("hamburg")
    session = OAuth1Session(server.consumer_key, client_secret=server.consumer_secret, callback_uri="oob")
    session.mount("https://", ToServer(server.url))
    session.fetch_request_token(X_API + "/oauth/request_token")
    pin = server.authorize(session.authorization_url(X_API + "/oauth/authorize"), "hamburg")
    answer = session.fetch_access_token(X_API + "/oauth/access_token", verifier=pin)
    assert answer["screen_name"] == "hamburg" and answer["user_id"] == server.user("hamburg").user_id


def test_a_denied_authorization_returns_denied_and_kills_the_request_token(server):
    server.user("berlin")
    h = Handler(server, server.consumer_key, server.consumer_secret, callback=CALLBACK)
    location = server.authorize(h.get_authorization_url(), "berlin", approve=False)
    assert query(location) == {"denied": h.request_token["oauth_token"]}
    with pytest.raises(tweepy.TweepyException, match="Invalid request token"):
        h.get_access_token("whatever")


def test_a_wrong_verifier_is_refused(server):
    server.user("berlin")
    h = Handler(server, server.consumer_key, server.consumer_secret, callback=CALLBACK)
    server.authorize(h.get_authorization_url(), "berlin")
    with pytest.raises(tweepy.TweepyException, match="Invalid oauth_verifier"):
        h.get_access_token("not-the-verifier")


def test_authorizing_again_gives_the_same_token_until_it_is_revoked(server):
    berlin = server.add_account("berlin")

    def connect():
        h = Handler(server, server.consumer_key, server.consumer_secret, callback=CALLBACK)
        back = query(server.authorize(h.get_authorization_url(), berlin))
        return h.get_access_token(back["oauth_verifier"])

    assert connect() == (berlin.access_token, berlin.access_token_secret)
    server.revoke(berlin)
    token, _ = connect()
    assert token != berlin.access_token and token.startswith(berlin.user_id + "-")


def test_a_callback_not_approved_for_the_app_is_refused():
    with TwitterServer(callback_urls=[CALLBACK]) as server:
        h = Handler(server, server.consumer_key, server.consumer_secret, callback="https://evil.example/")
        with pytest.raises(tweepy.TweepyException, match="415"):
            h.get_authorization_url()
        assert Handler(server, server.consumer_key, server.consumer_secret,
                       callback=CALLBACK).get_authorization_url()


def test_a_bad_signature_or_unknown_consumer_is_refused(server):
    berlin = server.add_account("berlin")
    for c in (client(server, berlin, consumer_secret="wrong"), client(server, berlin, token_secret="wrong")):
        with pytest.raises(tweepy.Unauthorized) as refused:
            c.get_me()
        assert refused.value.response.json() == {"title": "Unauthorized", "type": "about:blank",
                                                 "status": 401, "detail": "Unauthorized"}
    stranger = tweepy.Client(consumer_key="someone-else", consumer_secret=server.consumer_secret,
                             access_token=berlin.access_token, access_token_secret=berlin.access_token_secret)
    stranger.session.mount("https://", ToServer(server.url))
    with pytest.raises(tweepy.Unauthorized):
        stranger.get_me()
    h = Handler(server, server.consumer_key, "wrong", callback=CALLBACK)
    with pytest.raises(tweepy.TweepyException, match="Could not authenticate you"):
        h.get_authorization_url()
    assert all(r.status == 401 for r in server.requests_log())


def test_the_signature_covers_api_twitter_com_not_the_address_the_request_came_to(server):
    """requests signs before the transport adapter rewrites: what arrives is signed over
    https://api.twitter.com/... although it came to 127.0.0.1."""
    berlin = server.add_account("berlin")
    assert client(server, berlin).get_me().data.username == "berlin"
    assert server.requests_log()[-1].headers["Host"] == server.url.removeprefix("http://")
    auth = OAuth1(server.consumer_key, server.consumer_secret, berlin.access_token,
                  berlin.access_token_secret)
    assert requests.get(server.url + "/2/users/me", auth=auth, timeout=5).status_code == 401
    with TwitterServer(signed_base=None) as own:
        hamburg = own.add_account("hamburg")
        auth = OAuth1(own.consumer_key, own.consumer_secret, hamburg.access_token,
                      hamburg.access_token_secret)
        answer = requests.get(own.url + "/2/users/me", auth=auth, timeout=5)
        assert answer.json()["data"]["username"] == "hamburg"


def test_a_replayed_nonce_and_a_stale_timestamp_are_refused(server):
    berlin = server.add_account("berlin")
    session = requests.Session()
    session.mount("https://", ToServer(server.url))

    def get(**signing):
        auth = OAuth1(server.consumer_key, server.consumer_secret, berlin.access_token,
                      berlin.access_token_secret, **signing)
        return session.get(X_API + "/2/users/me", auth=auth).status_code

    now = str(int(time.time()))
    assert get(nonce="n0nce", timestamp=now) == 200
    assert get(nonce="n0nce", timestamp=now) == 401
    assert get(nonce="other", timestamp=str(int(time.time()) - 3600)) == 401


def test_a_method_called_without_user_auth_sends_a_bearer_token_and_is_refused(server):
    berlin = server.add_account("berlin")
    with pytest.raises(tweepy.Unauthorized):
        client(server, berlin).get_users_mentions(berlin.user_id)  # tweepy's default: user_auth=False
    assert server.requests_log()[-1].headers["Authorization"] == "Bearer None"


def test_revoked_and_suspended_accounts_get_401(server):
    berlin, hamburg = server.add_account("berlin"), server.add_account("hamburg")
    server.revoke(berlin)
    server.suspend(hamburg)
    for account in (berlin, hamburg):
        with pytest.raises(tweepy.Unauthorized):
            client(server, account).create_tweet(text="hello")
    server.suspend(hamburg, False)
    assert client(server, hamburg).create_tweet(text="hello").data["text"] == "hello"
    assert server.posts(berlin) == []


# -- reading mentions ---------------------------------------------------------------------------

def test_mentions_come_newest_first_with_fields_entities_and_includes(server):
    berlin = server.add_account("berlin")
    first = server.mention(berlin, "U8 Hermannplatz", author="anna")
    second = server.mention(berlin, "Kontrolle Ringbahn @nobody_known #s41", author="ben",
                            urls=["example.org/plan?x=1"])
    page = client(server, berlin).get_users_mentions(
        berlin.user_id, user_auth=True, max_results=5,
        tweet_fields=["author_id", "created_at", "conversation_id", "entities", "referenced_tweets"],
        expansions=["author_id"], user_fields=["created_at"])
    assert [t.id for t in page.data] == [int(second), int(first)]
    assert page.meta == {"newest_id": second, "oldest_id": first, "result_count": 2}
    tweet = page.data[0]
    assert tweet.text.startswith("@berlin Kontrolle Ringbahn @nobody_known #s41 https://t.co/")
    assert tweet.author_id == int(server.user("ben").user_id) and tweet.conversation_id == tweet.id
    assert tweet.created_at.tzinfo is not None and tweet.referenced_tweets is None
    (mention,) = tweet.entities["mentions"]  # only known users are linked
    assert mention == {"start": 0, "end": 7, "username": "berlin", "id": berlin.user_id}
    (url,) = tweet.entities["urls"]
    assert url["expanded_url"] == "http://example.org/plan?x=1"
    assert url["display_url"] == "example.org/plan?x=1"
    assert tweet.text[url["start"]:url["end"]] == url["url"] and len(url["url"]) == 23
    assert tweet.entities["hashtags"] == [{"start": 41, "end": 45, "tag": "s41"}]
    assert {u.username for u in page.includes["users"]} == {"anna", "ben"}
    assert page.includes["users"][0].created_at is not None
    # Without fields: id, text and the edit history only.
    plain = client(server, berlin).get_users_mentions(berlin.user_id, user_auth=True)
    assert set(plain.data[0].data) == {"id", "text", "edit_history_tweet_ids"}


def test_mentions_page_with_next_token_and_since_id(server):
    berlin = server.add_account("berlin")
    ids = [server.mention(berlin, f"Meldung {i}", author=f"user{i}") for i in range(12)]
    c = client(server, berlin)
    seen, token = [], None
    while True:
        page = c.get_users_mentions(berlin.user_id, user_auth=True, max_results=5, pagination_token=token)
        seen += [str(t.id) for t in page.data]
        token = page.meta.get("next_token")
        if token is None:
            break
    assert seen == ids[::-1]
    since = c.get_users_mentions(berlin.user_id, user_auth=True, since_id=ids[8], max_results=5)
    assert [str(t.id) for t in since.data] == ids[:8:-1] and "next_token" not in since.meta
    # tweepy's Paginator walks the same pages; since_id holds on every page.
    paged = tweepy.Paginator(c.get_users_mentions, berlin.user_id, user_auth=True, max_results=5,
                             since_id=ids[3]).flatten()
    assert [str(t.id) for t in paged] == ids[:3:-1]
    newer = c.get_users_mentions(berlin.user_id, user_auth=True, since_id=ids[-1])
    assert newer.data is None and newer.meta == {"result_count": 0}
    older = c.get_users_mentions(berlin.user_id, user_auth=True, until_id=ids[2], max_results=5)
    assert [str(t.id) for t in older.data] == [ids[1], ids[0]]


def test_previous_token_goes_back_to_newer_mentions(server):
    berlin = server.add_account("berlin")
    ids = [server.mention(berlin, f"Meldung {i}") for i in range(7)]
    c = client(server, berlin)
    second = c.get_users_mentions(berlin.user_id, user_auth=True, max_results=5,
                                  pagination_token=c.get_users_mentions(
                                      berlin.user_id, user_auth=True, max_results=5).meta["next_token"])
    assert [str(t.id) for t in second.data] == [ids[1], ids[0]]
    back = c.get_users_mentions(berlin.user_id, user_auth=True, max_results=5,
                                pagination_token=second.meta["previous_token"])
    assert [str(t.id) for t in back.data] == ids[:1:-1]


def test_invalid_parameters_are_xs_invalid_request(server):
    berlin = server.add_account("berlin")
    c = client(server, berlin)
    with pytest.raises(tweepy.BadRequest,
                       match=r"max_results` query parameter value \[3\] is not between 5 and 100"):
        c.get_users_mentions(berlin.user_id, user_auth=True, max_results=3)
    with pytest.raises(tweepy.BadRequest) as bad:
        c.get_users_mentions(berlin.user_id, user_auth=True, tweet_fields=["author"])
    assert bad.value.response.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    with pytest.raises(tweepy.BadRequest):
        c.get_users_mentions(berlin.user_id, user_auth=True, pagination_token="nonsense!")


def test_mentions_of_an_unknown_user_are_a_partial_error(server):
    berlin = server.add_account("berlin")
    answer = client(server, berlin).get_users_mentions("12345", user_auth=True)
    assert answer.data is None and answer.errors[0]["title"] == "Not Found Error"


def test_a_reply_in_a_thread_starts_with_the_handles_x_fills_in(server):
    berlin = server.add_account("berlin")
    root = server.mention(berlin, "Kontrolleure in der U7", author="anna")
    reply = server.mention(berlin, "danke!", author="ben", in_reply_to=root)
    page = client(server, berlin).get_users_mentions(
        berlin.user_id, user_auth=True,
        tweet_fields=["in_reply_to_user_id", "referenced_tweets", "conversation_id", "display_text_range"])
    tweet = next(t for t in page.data if str(t.id) == reply)
    assert tweet.text == "@anna @berlin danke!"
    assert tweet.data["display_text_range"] == [len("@anna @berlin "), len(tweet.text)]
    assert tweet.in_reply_to_user_id == int(server.user("anna").user_id)
    assert tweet.referenced_tweets[0].type == "replied_to" and str(tweet.referenced_tweets[0].id) == root
    assert str(tweet.conversation_id) == root


def test_reading_is_refused_for_an_app_without_read_access():
    with TwitterServer(read_access=False) as server:
        berlin = server.add_account("berlin")
        c = client(server, berlin)
        with pytest.raises(tweepy.Forbidden) as refused:
            c.get_users_mentions(berlin.user_id, user_auth=True)
        assert refused.value.response.json()["reason"] == "client-not-enrolled"
        assert c.create_tweet(text="posting works").data


# -- posting and retweeting ---------------------------------------------------------------------

def test_a_post_is_created_and_the_same_text_again_is_refused_as_a_duplicate(server):
    berlin = server.add_account("berlin")
    c = client(server, berlin)
    answer = c.create_tweet(text="Kontrolle U8 Hermannplatz")
    assert set(answer.data) == {"id", "text", "edit_history_tweet_ids"}
    assert server.requests_log()[-1].status == 201
    with pytest.raises(tweepy.Forbidden) as refused:
        c.create_tweet(text="Kontrolle U8 Hermannplatz")
    assert refused.value.api_messages == [DUPLICATE]
    assert refused.value.response.json() == {"title": "Forbidden", "detail": DUPLICATE,
                                             "type": "about:blank", "status": 403}
    assert c.create_tweet(text="Kontrolle U8 Hermannplatz (2)").data
    assert [p["text"] for p in server.posts(berlin)] == ["Kontrolle U8 Hermannplatz",
                                                         "Kontrolle U8 Hermannplatz (2)"]
    # Another account may post the same text; an old post is no duplicate any more.
    hamburg = server.add_account("hamburg")
    assert client(server, hamburg).create_tweet(text="Kontrolle U8 Hermannplatz").data
    server.duplicate_window = 0
    assert c.create_tweet(text="Kontrolle U8 Hermannplatz").data


def test_a_posted_url_becomes_a_t_co_link(server):
    berlin = server.add_account("berlin")
    text = client(server, berlin).create_tweet(text="Plan: https://example.org/a/very/long/path").data["text"]
    assert text.startswith("Plan: https://t.co/") and len(text) == len("Plan: ") + 23
    (url,) = server.posts(berlin)[0]["entities"]["urls"]
    assert url["expanded_url"] == "https://example.org/a/very/long/path"


def test_weighted_length_counts_as_x_does():
    assert weighted_length("a" * 280) == 280
    assert weighted_length("https://example.org/" + "x" * 100) == 23
    assert weighted_length("siehe www.bvg.de!") == len("siehe ") + 23 + 1
    for link in ("bvg.de/fahrinfo", "example.com", "t.co"):
        assert weighted_length(link) == 23
    assert weighted_length("siehe bvg.de!") == len("siehe bvg.de!")  # name.<country>: no link
    assert weighted_length("日本語") == 6 and weighted_length("…") == 2 and weighted_length("—") == 1
    assert weighted_length("👍") == 2 and weighted_length("👍🏽") == 2 and weighted_length("👨‍👩‍👧‍👦") == 2
    assert weighted_length("🇩🇪") == 2 and weighted_length("❤️") == 2 and weighted_length("1️⃣") == 2
    assert weighted_length("e\u0301") == 1  # NFC: é


def test_a_post_over_280_weighted_characters_is_refused(server):
    berlin = server.add_account("berlin")
    c = client(server, berlin)
    assert c.create_tweet(text="x" * 278 + "日").data  # 280
    with pytest.raises(tweepy.Forbidden) as refused:
        c.create_tweet(text="y" * 279 + "日")  # 281
    assert refused.value.api_messages == [TOO_LONG]
    assert c.create_tweet(text="z" * 250 + " https://example.org/" + "p" * 80).data  # 251 + 23


def test_an_empty_post_and_unknown_keys_are_invalid(server):
    berlin = server.add_account("berlin")
    with pytest.raises(tweepy.BadRequest):
        client(server, berlin).create_tweet(text="  ")
    with pytest.raises(tweepy.BadRequest, match="is not defined in the schema"):
        client(server, berlin).request("POST", "/2/tweets", json={"text": "hi", "colour": "red"},
                                       user_auth=True)


def test_a_read_only_token_cannot_post(server):
    reader = server.add_account("reader", access_level="read")
    with pytest.raises(tweepy.Forbidden, match="oauth1 app permissions"):
        client(server, reader).create_tweet(text="hello")


def test_a_retweet_is_made_once_and_a_missing_post_is_not_found(server):
    berlin = server.add_account("berlin")
    mention = server.mention(berlin, "Kontrolle S-Bahn", author="anna")
    c = client(server, berlin)
    assert c.retweet(mention).data["retweeted"] is True
    assert c.retweet(mention).data["retweeted"] is True
    assert server.retweets(berlin) == [mention]
    assert server.posts(berlin) == []
    # The retweet names anna and berlin: it is among berlin's own mentions, by berlin.
    page = c.get_users_mentions(berlin.user_id, user_auth=True,
                                tweet_fields=["author_id", "referenced_tweets"])
    own = page.data[0]
    assert own.author_id == int(berlin.user_id) and own.text == "RT @anna: @berlin Kontrolle S-Bahn"
    assert own.referenced_tweets[0].type == "retweeted"
    # Retweeting the retweet is retweeting the original.
    assert c.retweet(own.id).data["rest_id"] == str(own.id)
    gone = server.mention(berlin, "gleich weg")
    server.delete(gone)
    for missing in (gone, "1"):
        with pytest.raises(tweepy.NotFound):
            c.retweet(missing)
    with pytest.raises(tweepy.Forbidden):
        c.request("POST", f"/2/users/{server.user('anna').user_id}/retweets",
                  json={"tweet_id": mention}, user_auth=True)


# -- direct messages ----------------------------------------------------------------------------

def test_direct_messages_come_newest_first_with_pages(server):
    berlin = server.add_account("berlin")
    ids = [server.dm(berlin, f"Kontrolle {i}", sender="anna") for i in range(3)]
    server.dm(server.add_account("hamburg"), "nicht für berlin", sender="anna")
    c = client(server, berlin)
    page = c.get_direct_message_events(max_results=2, event_types="MessageCreate",
                                       dm_event_fields=["sender_id", "dm_conversation_id", "created_at"],
                                       expansions=["sender_id"])
    assert [str(e.id) for e in page.data] == [ids[2], ids[1]]
    event = page.data[0]
    anna = server.user("anna")
    assert event.text == "Kontrolle 2" and event.sender_id == int(anna.user_id)
    low, high = sorted((int(anna.user_id), int(berlin.user_id)))
    assert event.dm_conversation_id == f"{low}-{high}" and event.created_at is not None
    assert page.includes["users"][0].username == "anna"
    rest = c.get_direct_message_events(max_results=2, pagination_token=page.meta["next_token"])
    assert [str(e.id) for e in rest.data] == [ids[0]] and "next_token" not in rest.meta
    assert set(rest.data[0].data) == {"id", "event_type", "text"}


def test_direct_messages_need_a_token_with_dm_access(server):
    writer = server.add_account("writer", access_level="read-write")
    with pytest.raises(tweepy.Forbidden):
        client(server, writer).get_direct_message_events()


# -- rate limits and faults ---------------------------------------------------------------------

def test_every_answer_carries_xs_rate_limit_headers(server):
    berlin = server.add_account("berlin")
    c = client(server, berlin)
    c.get_me()
    answer = c.get_me(user_auth=True)
    assert answer.data.username == "berlin"
    headers = c.request("GET", "/2/users/me", user_auth=True).headers
    assert headers["x-rate-limit-limit"] == "75" and headers["x-rate-limit-remaining"] == "72"
    assert 0 < int(headers["x-rate-limit-reset"]) - time.time() <= 900
    assert headers["x-access-level"] == "read-write-directmessages"


def test_a_rate_limit_is_429_with_the_reset(server):
    berlin = server.add_account("berlin")
    c = client(server, berlin)
    server.rate_limit_next(1, reset_in=120, path="/2/users/")
    with pytest.raises(tweepy.TooManyRequests) as limited:
        c.get_users_mentions(berlin.user_id, user_auth=True)
    headers = limited.value.response.headers  # tweepy >= 4.15 also gives it as .reset_time
    assert 115 <= int(headers["x-rate-limit-reset"]) - time.time() <= 121
    assert headers["x-rate-limit-remaining"] == "0"
    assert limited.value.response.json()["title"] == "Too Many Requests"
    assert c.get_users_mentions(berlin.user_id, user_auth=True).meta == {"result_count": 0}
    server.rate_limit_next(1, reset_in=7200, path="/2/tweets", daily=True)
    with pytest.raises(tweepy.TooManyRequests) as daily:
        c.create_tweet(text="hello")
    headers = daily.value.response.headers
    assert headers["x-user-limit-24hour-remaining"] == "0"
    assert int(headers["x-user-limit-24hour-reset"]) - time.time() > 7000
    assert server.posts(berlin) == []


def test_the_rate_limit_is_enforced_when_asked():
    with TwitterServer(enforce_rate_limit=True) as server:
        berlin = server.add_account("berlin")
        c = client(server, berlin)
        for _ in range(15):
            c.get_direct_message_events()
        with pytest.raises(tweepy.TooManyRequests) as limited:
            c.get_direct_message_events()
        assert limited.value.response.headers["x-rate-limit-remaining"] == "0"
        assert limited.value.response.json() == {"title": "Too Many Requests", "type": "about:blank",
                                                 "detail": "Too Many Requests", "status": 429}


def test_server_errors_are_5xx_and_only_on_the_path_asked(server):
    berlin = server.add_account("berlin")
    c = client(server, berlin)
    server.fail_next(1, 503, path="/2/tweets")
    assert c.get_me().data
    with pytest.raises(tweepy.TwitterServerError) as failed:
        c.create_tweet(text="hello")
    assert failed.value.response.status_code == 503 and server.posts(berlin) == []
    server.fail_next(2, 500)
    for _ in range(2):
        with pytest.raises(tweepy.TwitterServerError):
            c.get_me()
    assert c.create_tweet(text="hello").data


def test_a_hang_delays_the_answer_and_the_post_is_made_anyway(server):
    berlin = server.add_account("berlin")
    server.hang_next(1, seconds=0.5, path="/2/tweets")
    started = time.monotonic()
    assert client(server, berlin).create_tweet(text="slow").data
    assert time.monotonic() - started >= 0.5
    server.hang_next(1, seconds=0.3, path="/2/tweets", process=False)
    with pytest.raises(tweepy.TwitterServerError):
        client(server, berlin).create_tweet(text="dropped")
    assert [p["text"] for p in server.posts(berlin)] == ["slow"]


def test_garbage_is_not_json(server):
    berlin = server.add_account("berlin")
    server.garbage_next(1)
    with pytest.raises(requests.JSONDecodeError):
        client(server, berlin).get_me()
    assert server.requests_log()[-1].fault == "garbage"
