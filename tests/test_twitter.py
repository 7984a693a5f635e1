"""The X bot on a real instance (main.py and its processes) against a local X API server that
checks every request's OAuth 1.0a signature, reached only through tweepy (tests/twitter_server.py).
The API host is the bot's `api_url` setting."""
import os
import signal
import time

import pytest

from instance import wait_for, without
from twitter_server import TwitterServer

KEY, SECRET = "tf-consumer-key", "tf-consumer-secret"


def settings(server, **options) -> str:
    values = {"consumer_key": f'"{KEY}"', "consumer_secret": f'"{SECRET}"',
              "api_url": f'"{server.url}"', "poll_interval": "1.0", "timeout": "3.0",
              **{k: str(v).lower() for k, v in options.items()}}
    return "[bots.twitter]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())


@pytest.fixture
def x():
    with TwitterServer(consumer_key=KEY, consumer_secret=SECRET) as server:
        yield server


def connect(instance, city_id: int, server, username: str, known=False, handle=True):
    """A city's X account as the web UI stores it (with its handle), or version 2 did (without;
    the account `known` to the server already). Returns the user record and the account id the
    bot runs under."""
    user = server.user(username) if known else server.add_account(username)
    user_id = instance.sql("SELECT user_id FROM cities WHERE id = :c", c=city_id)[0][0]
    account_id = instance.sql(
        "INSERT INTO twitter_accounts (user_id, client_id, client_secret, active) "
        "VALUES (:u, :t, :s, 1) RETURNING id", u=user_id, t=user.access_token,
        s=user.access_token_secret)[0][0]
    if handle:
        instance.sql("INSERT INTO twitter_handles (account_id, x_user_id, username) "
                     "VALUES (:a, :x, :n)", a=account_id, x=int(user.user_id), n=username)
    return user, str(account_id)


def start(make_instance, x, baseline=True, **options):
    instance = make_instance(disabled=without("twitter"), extra=settings(x, **options))
    berlin = instance.create_city("berlin")
    instance.start()  # makes the plugin's tables
    user, account = connect(instance, berlin, x, "tf_berlin")
    instance.reconcile()
    wait_for(lambda: f"berlin/twitter:{account}" in instance.running_names(), 30,
             what="the X bot")
    if baseline:
        wait_for(lambda: baselined(instance, dms=options.get("read_direct_messages")), 30,
                 what="the baseline")
    return instance, berlin, user, account


def baselined(instance, dms=False) -> bool:
    """The watermark "<mention>/<message>" has its baselines ("?": not yet)."""
    rows = instance.sql("SELECT watermark FROM bot_watermarks WHERE network = 'twitter'")
    mark = rows[0][0] if rows else None
    return bool(mark) and not mark.startswith("?") and not (dms and mark.endswith("?"))


def test_a_mention_is_reposted_and_reaches_the_citys_other_accounts(make_instance, x):
    instance, berlin, user, _ = start(make_instance, x)
    x.user("erika")
    tweet = x.mention("tf_berlin", "Kontrolle U8 Hermannplatz @carl",
                      author="erika", urls=("https://example.org/karte",))
    wait_for(lambda: instance.posted(berlin, "a"), 30, what="the report relayed")
    assert [r[2] for r in instance.posted(berlin, "a")] == ["Kontrolle U8 Hermannplatz"]
    wait_for(lambda: x.retweets("tf_berlin"), 30, what="the repost")
    assert x.retweets("tf_berlin") == [tweet] and x.posts("tf_berlin") == []
    assert "erika" not in instance.sql("SELECT text FROM reports")[0][0]


def test_a_report_from_another_network_is_posted_cut_to_280(make_instance, x):
    instance, berlin, _, _ = start(make_instance, x)
    instance.send(berlin, "a", "Kontrolle S41 Ostkreuz " + "Bahnsteig A " * 40)
    wait_for(lambda: x.posts("tf_berlin"), 30, what="the post")
    (post,) = x.posts("tf_berlin")
    assert post["text"].startswith("Kontrolle S41 Ostkreuz") and post["text"].endswith("…")


def test_a_direct_message_becomes_a_post_without_its_author(make_instance, x):
    instance, berlin, _, _ = start(make_instance, x, read_direct_messages=True)
    x.user("erika")
    x.dm("tf_berlin", "2 Kontrolleure Hbf Gleis 3, blaue Westen", sender="erika")
    wait_for(lambda: x.posts("tf_berlin"), 30, what="the post")
    assert [p["text"] for p in x.posts("tf_berlin")] == ["2 Kontrolleure Hbf Gleis 3, blaue Westen"]
    assert x.retweets("tf_berlin") == []


def test_old_mentions_are_not_replayed_and_none_is_handled_twice_across_a_restart(
        make_instance, x):
    instance = make_instance(disabled=without("twitter"), extra=settings(x))
    berlin = instance.create_city("berlin")
    instance.start()
    x.add_account("tf_berlin")
    x.mention("tf_berlin", "Kontrolle U1 von gestern")  # before the account was connected
    _, account = connect(instance, berlin, x, "tf_berlin", known=True, handle=False)
    instance.reconcile()
    name = f"berlin/twitter:{account}"
    wait_for(lambda: baselined(instance), 30, what="the baseline")
    x.mention("tf_berlin", "Kontrolle U2 Alexanderplatz")
    wait_for(lambda: instance.posted(berlin, "a"), 30, what="the new mention")
    os.kill(instance.pid(name), signal.SIGKILL)
    wait_for(lambda: name in instance.running_names() and instance.row(name)["restarts"] >= 1,
             30, what="the bot back")
    x.mention("tf_berlin", "Kontrolle U3 Thielplatz")
    wait_for(lambda: len(instance.posted(berlin, "a")) == 2, 30, what="the next mention")
    time.sleep(2)
    assert [r[2] for r in instance.posted(berlin, "a")] == ["Kontrolle U2 Alexanderplatz",
                                                           "Kontrolle U3 Thielplatz"]


@pytest.mark.parametrize("fault", ["429", "503"])
def test_the_bot_survives_x_misbehaving_and_loses_no_report(make_instance, x, fault):
    instance, berlin, _, account = start(make_instance, x)
    if fault == "429":
        x.rate_limit_next(2, reset_in=2)
    else:
        x.fail_next(3, status=503)
    x.mention("tf_berlin", "Kontrolle U5 Frankfurter Allee")
    instance.send(berlin, "a", "Kontrolle U6 Tempelhof")
    wait_for(lambda: instance.posted(berlin, "a"), 60, what="the mention relayed")
    wait_for(lambda: x.posts("tf_berlin"), 60, what="the report posted")
    assert [p["text"] for p in x.posts("tf_berlin")] == ["Kontrolle U6 Tempelhof"]
    assert instance.row(f"berlin/twitter:{account}")["state"] == "running"


def test_a_revoked_token_marks_the_account_inactive(make_instance, x):
    instance, berlin, _, account = start(make_instance, x)
    x.revoke("tf_berlin")
    name = f"berlin/twitter:{account}"
    wait_for(lambda: (instance.row(name) or {}).get("state") == "inactive", 30,
             what="the account marked inactive")
    assert "connect the account again" in instance.row(name)["last_error"]


def test_a_post_resent_after_x_took_it_unanswered_is_not_posted_twice(make_instance, x):
    """X takes the post and the answer never comes (a timeout, a kill before the mark): the
    resend is refused as a duplicate of our own post, which is the delivery done."""
    instance, berlin, _, _ = start(make_instance, x)
    x.hang_next(1, seconds=8, path="/2/tweets", process=True)  # longer than the 3 s timeout
    instance.send(berlin, "a", "Kontrolle U7 Rathaus Neukölln & Hermannstr")
    wait_for(lambda: instance.sql("SELECT state FROM deliveries WHERE network = 'twitter'")
             == [("done",)], 60, what="the delivery done")
    assert [p["text"] for p in x.posts("tf_berlin")] == [
        "Kontrolle U7 Rathaus Neukölln & Hermannstr"]


def test_a_new_report_with_the_text_of_an_earlier_post_goes_out_with_a_variation(
        make_instance, x):
    instance, berlin, _, _ = start(make_instance, x)
    x.post("tf_berlin", "Kontrolle M10 Warschauer")  # a report of an hour ago
    instance.send(berlin, "a", "Kontrolle M10 Warschauer")
    wait_for(lambda: len(x.posts("tf_berlin")) == 2, 30, what="the varied post")
    assert x.posts("tf_berlin")[-1]["text"] == "Kontrolle M10 Warschauer ·"


def test_without_reading_the_bot_makes_no_read_request_at_all(make_instance, x):
    instance, berlin, _, _ = start(make_instance, x, baseline=False, read_mentions=False)
    x.mention("tf_berlin", "Kontrolle U4 Nollendorfplatz")
    instance.send(berlin, "a", "Kontrolle U4 Innsbrucker Platz")
    wait_for(lambda: x.posts("tf_berlin"), 30, what="the post")
    time.sleep(3)  # three polls' time
    assert instance.sql("SELECT count(*) FROM reports WHERE network = 'twitter'") == [(0,)]
    assert {r.method for r in x.requests_log()} == {"POST"}


def test_a_version_2_account_begins_after_the_last_mention_version_2_handled(make_instance, x):
    instance = make_instance(disabled=without("twitter"), extra=settings(x))
    berlin = instance.create_city("berlin")
    instance.start()
    x.add_account("tf_berlin")
    handled = x.mention("tf_berlin", "Kontrolle (version 2 relayed this)")
    x.mention("tf_berlin", "Kontrolle U9 Osloer Str")  # while version 2 was stopped
    user_id = instance.sql("SELECT user_id FROM cities WHERE id = :c", c=berlin)[0][0]
    instance.sql("INSERT INTO seen_tweets (user_id, tweet_id) VALUES (:u, :t)", u=user_id,
                 t=int(handled))
    connect(instance, berlin, x, "tf_berlin", known=True, handle=False)
    instance.reconcile()
    wait_for(lambda: instance.posted(berlin, "a"), 30, what="the mention after version 2")
    time.sleep(2)
    assert [r[2] for r in instance.posted(berlin, "a")] == ["Kontrolle U9 Osloer Str"]


def test_a_plan_without_reads_is_said_and_posting_goes_on(make_instance):
    """X's Free plan: reading mentions is refused (403); the bot says what to set, and posts."""
    with TwitterServer(consumer_key=KEY, consumer_secret=SECRET, read_access=False) as x:
        instance, berlin, _, account = start(make_instance, x, baseline=False)
        name = f"berlin/twitter:{account}"
        wait_for(lambda: "read_mentions = false" in (instance.row(name)["last_error"] or ""),
                 30, what="the advice in the status")
        instance.send(berlin, "a", "Kontrolle U3 Krumme Lanke")
        wait_for(lambda: x.posts("tf_berlin"), 30, what="the post")
        assert instance.row(name)["restarts"] == 0
