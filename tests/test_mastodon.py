"""The Mastodon bot on a real instance (main.py and its processes) against a local Mastodon
server that the bot reaches only through Mastodon.py (tests/mastodon_server.py)."""
import os
import signal
import time

import pytest

from mastodon import Mastodon

from instance import wait_for, without
from mastodon_server import MastodonServer


# The test server runs on 127.0.0.1: a private address organisers may not connect by default.
MASTODON = "[bots.mastodon]\npoll_interval = 1.0\ntimeout = 3.0\nprivate_instances = true\n"


@pytest.fixture
def mastodon():
    with MastodonServer(private_mentions_policy="filter") as server:
        yield server


def connect(instance, city_id: int, server, username: str) -> str:
    """A city's account as the web UI stores it (or version 2 did): its token and instance.
    Returns the account id the bot runs under."""
    account = server.add_account(username)
    user_id = instance.sql("SELECT user_id FROM cities WHERE id = :c", c=city_id)[0][0]
    known = instance.sql("SELECT id FROM mastodon_instances WHERE instance = :i", i=server.url)
    instance_id = known[0][0] if known else instance.sql(
        "INSERT INTO mastodon_instances (instance) VALUES (:i) RETURNING id", i=server.url)[0][0]
    account_id = instance.sql(
        "INSERT INTO mastodon_accounts (user_id, access_token, instance_id, active) "
        "VALUES (:u, :t, :i, 1) RETURNING id", u=user_id, t=account.token, i=instance_id)[0][0]
    instance.sql("INSERT INTO mastodon_handles (account_id, acct, url) VALUES (:a, :h, :u)",
                 a=account_id, h=f"@{username}@{server.domain}", u=account.url)
    return str(account_id)


def start(make_instance, mastodon, cities=("berlin",), **options):
    instance = make_instance(disabled=without("mastodon"), extra=MASTODON)
    ids = {name: instance.create_city(name) for name in cities}
    instance.start()  # makes the plugin's tables
    accounts = {name: connect(instance, ids[name], mastodon, f"tf_{name}") for name in cities}
    instance.reconcile()
    wanted = {f"{name}/mastodon:{accounts[name]}" for name in cities}
    wait_for(lambda: instance.running_names() >= wanted, 30, what="the Mastodon bots")
    wait_for(lambda: len(instance.sql("SELECT * FROM bot_watermarks WHERE network = 'mastodon'"))
             == len(cities), 30, what="the baselines")
    return instance, ids, accounts


def test_a_public_mention_is_boosted_and_reaches_the_citys_other_accounts(make_instance,
                                                                        mastodon):
    instance, ids, _ = start(make_instance, mastodon)
    mastodon.mention("tf_berlin", "Kontrolle U8 Hermannplatz", sender="erika@other.example")
    wait_for(lambda: len(instance.posted(ids["berlin"])) == 2, 30, what="the testnet posts")
    assert {row[2] for row in instance.posted()} == {"Kontrolle U8 Hermannplatz"}
    wait_for(lambda: mastodon.reblogs("tf_berlin"), 30, what="the boost")
    assert mastodon.posts("tf_berlin") == []  # boosted, not posted again
    assert "erika" not in instance.sql("SELECT text FROM reports")[0][0]


def test_a_report_from_another_network_becomes_a_status_with_its_idempotency_key(
        make_instance, mastodon):
    instance, ids, _ = start(make_instance, mastodon)
    instance.send(ids["berlin"], "a", "Kontrolle S41 Ostkreuz")
    wait_for(lambda: mastodon.posts("tf_berlin"), 30, what="the status")
    status = mastodon.posts("tf_berlin")[0]
    assert "Kontrolle S41 Ostkreuz" in status["content"] and status["visibility"] == "public"
    keys = [r.headers.get("Idempotency-Key") for r in mastodon.requests_log
            if r.method == "POST" and r.path == "/api/v1/statuses"]
    assert keys and keys[0].startswith("ticketfrei-delivery-")


def test_a_direct_message_is_republished_without_its_author(make_instance, mastodon):
    instance, ids, _ = start(make_instance, mastodon)
    mastodon.mention("tf_berlin", "2 Kontrolleure Hbf Gleis 3", visibility="direct",
                     sender="heimlich@other.example")
    wait_for(lambda: mastodon.posts("tf_berlin"), 30, what="the re-published status")
    status = mastodon.posts("tf_berlin")[0]
    assert "2 Kontrolleure Hbf Gleis 3" in status["content"]
    assert "heimlich" not in status["content"] and status["visibility"] == "public"
    assert mastodon.reblogs("tf_berlin") == []


def test_a_mention_with_a_blocked_word_goes_nowhere(make_instance, mastodon):
    instance, ids, _ = start(make_instance, mastodon)
    mastodon.mention("tf_berlin", "Kontrolle U1, du Bastard")
    wait_for(lambda: instance.sql("SELECT verdict FROM reports"), 30, what="the verdict")
    time.sleep(2)
    assert instance.sql("SELECT verdict FROM reports") == [("rejected",)]
    assert instance.posted() == [] and mastodon.reblogs("tf_berlin") == []


def test_45_mentions_at_once_are_all_handled_once(make_instance, mastodon):
    instance, ids, _ = start(make_instance, mastodon)
    texts = [f"Kontrolle U{n % 9 + 1} Halt {n}" for n in range(45)]
    for text in texts:
        mastodon.mention("tf_berlin", text)
    wait_for(lambda: len(instance.posted(ids["berlin"], "a")) == 45, 60, what="45 reports")
    assert sorted(row[2] for row in instance.posted(ids["berlin"], "a")) == sorted(texts)
    assert instance.sql("SELECT count(*) FROM reports")[0][0] == 45


def test_old_mentions_are_not_replayed_when_an_account_is_connected(make_instance, mastodon):
    instance = make_instance(disabled=without("mastodon"), extra=MASTODON)
    berlin = instance.create_city("berlin")
    instance.start()
    mastodon.add_account("tf_old")
    mastodon.mention("tf_old", "Kontrolle von letzter Woche")
    user_id = instance.sql("SELECT user_id FROM cities WHERE id = :c", c=berlin)[0][0]
    instance_id = instance.sql("INSERT INTO mastodon_instances (instance) VALUES (:i) "
                               "RETURNING id", i=mastodon.url)[0][0]
    token = [a for a in mastodon._accounts.values() if a.username == "tf_old"][0].token
    instance.sql("INSERT INTO mastodon_accounts (user_id, access_token, instance_id, active) "
                 "VALUES (:u, :t, :i, 1)", u=user_id, t=token, i=instance_id)
    instance.reconcile()
    wait_for(lambda: instance.sql("SELECT watermark FROM bot_watermarks WHERE network = "
                                  "'mastodon'"), 30, what="the baseline")
    mastodon.mention("tf_old", "Kontrolle jetzt U2")
    wait_for(lambda: instance.posted(berlin, "a"), 30, what="the new mention")
    time.sleep(2)
    assert [row[2] for row in instance.posted(berlin, "a")] == ["Kontrolle jetzt U2"]


@pytest.mark.parametrize("fault", ["500", "502", "429", "hang", "garbage", "hostile"])
def test_the_bot_survives_a_misbehaving_instance_and_loses_no_report(make_instance, mastodon,
                                                                     fault):
    instance, ids, accounts = start(make_instance, mastodon)
    name = f"berlin/mastodon:{accounts['berlin']}"
    if fault in ("500", "502"):
        mastodon.fail_next(4, status=int(fault))
    elif fault == "429":
        mastodon.rate_limit_next(2, reset_in=3)
    elif fault == "hang":
        mastodon.hang_next(2, seconds=8)  # longer than the bot's 3 s timeout
    elif fault == "garbage":
        mastodon.garbage_next(3)
    else:  # a server that sends too much, sends the bot elsewhere, or never finishes
        mastodon.huge_next(1)
        mastodon.redirect_next(1)
        mastodon.trickle_next(1, seconds=20)
    mastodon.mention("tf_berlin", "Kontrolle U5 Frankfurter Allee")
    instance.send(ids["berlin"], "a", "Kontrolle U6 Tempelhof")
    wait_for(lambda: instance.posted(ids["berlin"], "b"), 90, what="the mention relayed")
    wait_for(lambda: mastodon.posts("tf_berlin"), 90, what="the testnet report posted")
    assert instance.row(name)["state"] == "running"
    assert len(mastodon.posts("tf_berlin")) == 1


def test_a_revoked_token_marks_the_account_inactive_with_the_reason(make_instance, mastodon):
    instance, ids, accounts = start(make_instance, mastodon)
    name = f"berlin/mastodon:{accounts['berlin']}"
    token = [a for a in mastodon._accounts.values() if a.username == "tf_berlin"][0].token
    mastodon.revoke(token)
    wait_for(lambda: instance.row(name)["state"] == "inactive", 30, what="the account stopped")
    assert "reconnect" in instance.row(name)["last_error"]
    assert instance.sql("SELECT active FROM mastodon_accounts") == [(0,)]


def test_a_hanging_instance_does_not_slow_another_city(make_instance, mastodon):
    with MastodonServer() as slow:
        instance = make_instance(disabled=without("mastodon"), extra=MASTODON)
        berlin, hamburg = instance.create_city("berlin"), instance.create_city("hamburg")
        instance.start()
        connect(instance, berlin, slow, "tf_berlin")
        connect(instance, hamburg, mastodon, "tf_hamburg")
        instance.reconcile()
        wait_for(lambda: len(instance.sql("SELECT * FROM bot_watermarks WHERE network = "
                                          "'mastodon'")) == 2, 30, what="the baselines")
        slow.hang_next(1000, seconds=30)
        sent = time.monotonic()
        instance.send(hamburg, "a", "Kontrolle Bus 100 Zoo")
        wait_for(lambda: mastodon.posts("tf_hamburg"), 30, what="hamburg's status")
        took = time.monotonic() - sent
        print(f"\nhamburg's report posted {took:.2f} s after it was sent, while berlin's "
              "instance hangs")
        assert took < 15


def test_a_bot_killed_between_posting_and_marking_posts_once(make_instance, mastodon):
    instance, ids, accounts = start(make_instance, mastodon)
    name = f"berlin/mastodon:{accounts['berlin']}"
    # The instance takes the post, then answers late: the bot is killed while it waits.
    mastodon.hang_next(1, seconds=6, path="/api/v1/statuses", process=True)
    instance.send(ids["berlin"], "a", "Kontrolle U2 Alexanderplatz")
    wait_for(lambda: mastodon.posts("tf_berlin"), 30, what="the status taken")
    os.kill(instance.pid(name), signal.SIGKILL)
    wait_for(lambda: instance.sql("SELECT state FROM deliveries WHERE network = 'mastodon'")
             == [("done",)], 60, what="the delivery done after the restart")
    keys = [r.headers.get("Idempotency-Key") for r in mastodon.requests_log
            if r.method == "POST" and r.path == "/api/v1/statuses"]
    assert len(keys) >= 2 and len(set(keys)) == 1  # sent again, with the same key
    assert len(mastodon.posts("tf_berlin")) == 1


def test_a_status_mentioning_two_of_a_citys_accounts_is_one_report(make_instance, mastodon):
    """The city has an account on two instances; one status mentions both. Each instance
    knows it under its own id, with the one URI its author's server gave it."""
    instance = make_instance(disabled=without("mastodon"), extra=MASTODON)
    berlin = instance.create_city("berlin")
    instance.start()
    with MastodonServer(private_mentions_policy="filter") as other:
        first = connect(instance, berlin, mastodon, "tf_berlin")
        second = connect(instance, berlin, other, "tf_berlin2")
        instance.reconcile()
        wait_for(lambda: len(instance.sql("SELECT * FROM bot_watermarks WHERE network = "
                                          "'mastodon'")) == 2, 30, what="the baselines")
        # as Mastodon renders it: each mention links the account on its home server
        content = "<p>{} Kontrolle U8 Boddinstr {}</p>".format(*(
            f'<span class="h-card"><a href="{server.url}/@{name}" class="u-url mention">'
            f'@<span>{name}</span></a></span>'
            for server, name in ((mastodon, "tf_berlin"), (other, "tf_berlin2"))))
        uri = "https://other.example/users/erika/statuses/1"
        for server, name in ((mastodon, "tf_berlin"), (other, "tf_berlin2")):
            server.mention(name, "Kontrolle U8 Boddinstr", sender="erika@other.example",
                           html_content=content, uri=uri)
        wait_for(lambda: instance.posted(berlin, "a") and (mastodon.reblogs("tf_berlin")
                 or other.reblogs("tf_berlin2")), 30, what="the report relayed")
        time.sleep(3)  # both bots have read it by now (they poll every second)
        assert [row[2] for row in instance.posted(berlin, "a")] == ["Kontrolle U8 Boddinstr"]
        assert instance.sql("SELECT count(*) FROM reports")[0][0] == 1
        # one account boosted it, the other posted its text (it knows it under another id)
        boosted, posted = ((mastodon, other) if mastodon.reblogs("tf_berlin")
                           else (other, mastodon))
        account = {mastodon: "tf_berlin", other: "tf_berlin2"}
        assert len(boosted.reblogs(account[boosted])) == 1 and not boosted.posts(account[boosted])
        wait_for(lambda: posted.posts(account[posted]), 30, what="the other account's post")
        assert [p["content"] for p in posted.posts(account[posted])] == [
            "<p>Kontrolle U8 Boddinstr</p>"]
        assert first != second


def test_a_city_that_chose_unlisted_posts_unlisted(make_instance, mastodon):
    instance, ids, _ = start(make_instance, mastodon)
    instance.sql("INSERT INTO mastodon_cities (city_id, visibility) VALUES (:c, 'unlisted')",
                 c=ids["berlin"])
    instance.send(ids["berlin"], "a", "Kontrolle U3 Krumme Lanke")
    wait_for(lambda: mastodon.posts("tf_berlin"), 30, what="the status")
    assert mastodon.posts("tf_berlin")[0]["visibility"] == "unlisted"


def test_a_reply_relays_no_one_of_its_thread_and_a_direct_message_not_whom_it_went_to(
        make_instance, mastodon):
    instance, ids, _ = start(make_instance, mastodon)
    mastodon.add_account("erika")
    mastodon.add_account("friend")
    mastodon.mention("tf_berlin", "@erika Kontrolle immer noch da", sender="carl@other.example")
    mastodon.mention("tf_berlin", "@friend Kontrolle Hbf Gleis 3", visibility="direct")
    wait_for(lambda: len(instance.posted(ids["berlin"], "a")) == 2, 30, what="both reports")
    texts = sorted(row[2] for row in instance.posted(ids["berlin"], "a"))
    assert texts == ["Kontrolle Hbf Gleis 3", "Kontrolle immer noch da"]


def test_names_in_a_relayed_report_notify_nobody(make_instance, mastodon):
    instance, ids, _ = start(make_instance, mastodon)
    victim = mastodon.add_account("victim")
    instance.send(ids["berlin"], "a", "Kontrolle U8, sagt @victim")
    wait_for(lambda: mastodon.posts("tf_berlin"), 30, what="the status")
    assert mastodon.posts("tf_berlin")[0]["mentions"] == []
    seen = Mastodon(access_token=victim.token, api_base_url=mastodon.url).notifications()
    assert seen == []


def test_a_suspended_account_is_marked_inactive(make_instance, mastodon):
    instance, ids, accounts = start(make_instance, mastodon)
    name = f"berlin/mastodon:{accounts['berlin']}"
    mastodon.suspend("tf_berlin")
    wait_for(lambda: instance.row(name)["state"] == "inactive", 30, what="the account stopped")
    assert "reconnect" in instance.row(name)["last_error"]


def test_a_version_2_account_relays_what_came_after_version_2_stopped(make_instance, mastodon):
    instance = make_instance(disabled=without("mastodon"), extra=MASTODON)
    berlin = instance.create_city("berlin")
    instance.start()
    account = mastodon.add_account("tf_v2")
    mastodon.mention("tf_v2", "Kontrolle, von Version 2 gesehen")
    handled = Mastodon(access_token=account.token,
                       api_base_url=mastodon.url).notifications()[0].status.uri
    mastodon.mention("tf_v2", "Kontrolle während des Umzugs")
    user_id = instance.sql("SELECT user_id FROM cities WHERE id = :c", c=berlin)[0][0]
    instance.sql("INSERT INTO seen_toots (user_id, toot_uri) VALUES (:u, :t)", u=user_id,
                 t=handled)
    instance_id = instance.sql("INSERT INTO mastodon_instances (instance) VALUES (:i) "
                               "RETURNING id", i=mastodon.url + "/")[0][0]
    instance.sql("INSERT INTO mastodon_accounts (user_id, access_token, instance_id, active) "
                 "VALUES (:u, :t, :i, 1)", u=user_id, t=account.token, i=instance_id)
    instance.reconcile()
    wait_for(lambda: instance.posted(berlin, "a"), 30, what="the mention from the move")
    time.sleep(2)
    assert [row[2] for row in instance.posted(berlin, "a")] == ["Kontrolle während des Umzugs"]
