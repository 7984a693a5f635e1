"""The bot run loop with real processes (bots/README.md "How a report travels"): receiving in
a thread of its own while sending, the watermark stored with the reports, the first start's
baseline, and the per-recipient ledger of broadcasts under SIGKILL."""
import os
import signal
import time

import pytest

from instance import wait_for


def start_city(instance, name="berlin"):
    city = instance.create_city(name)
    instance.start()
    wanted = {f"{name}/testnet:a", f"{name}/testnet:b", "censor", "frontend"}
    wait_for(lambda: instance.running_names() >= wanted, 30, what="the city's bots")
    return city


def relay(instance, city, texts, posted_in_all):
    """Send texts to the city's account a; wait until b posted `posted_in_all` in all."""
    for text in texts:
        instance.send(city, "a", text)
    wait_for(lambda: len(instance.posted(city, "b")) == posted_in_all, 20,
             what=f"{posted_in_all} posts at b")


def test_a_bot_waiting_in_a_30_s_long_poll_still_sends_a_routed_report_at_once(make_instance):
    # A heartbeat timeout above the long poll, as in production (60 s, Telegram polls 30 s).
    instance = make_instance(supervisor={"heartbeat_timeout": 60.0})
    berlin = start_city(instance)
    instance.switch(berlin, "b", longpoll=30.0)
    # b's receive thread is now in a 30 s wait (at the latest after its next poll starts).
    time.sleep(1.0)
    instance.send(berlin, "a", "Kontrolle U8 Hermannplatz")
    stored = wait_for(lambda: instance.sql(
        "SELECT decided_at FROM reports WHERE verdict = 'accepted'"), 20,
        what="the accepted report")[0][0]
    wait_for(lambda: instance.posted(berlin, "b"), 25, what="b to send it")
    posted_at = instance.sql("SELECT posted_at FROM testnet_outbox")[0][0]
    print(f"\nrouted report sent by a long-polling bot {posted_at - stored:.2f} s after the "
          "censor accepted it (the long poll lasts 30 s)")
    assert posted_at - stored < 10  # generous: about a second when the machine is calm
    assert instance.row("berlin/testnet:b")["restarts"] == 0


def test_a_receive_that_never_returns_is_a_hang_and_the_bot_is_restarted(make_instance):
    instance = make_instance()
    berlin = start_city(instance)
    before = instance.pid("berlin/testnet:a")
    instance.switch(berlin, "a", hang=1)
    wait_for(lambda: "no heartbeat" in (instance.row("berlin/testnet:a")["last_error"] or ""),
             30, what="the watchdog to notice the hung receive")
    instance.switch(berlin, "a", hang=0)
    wait_for(lambda: instance.row("berlin/testnet:a")["state"] == "running"
             and instance.row("berlin/testnet:a")["pid"] != before, 30,
             what="the bot to come back")
    instance.send(berlin, "a", "Kontrolle S41 Ostkreuz")
    wait_for(lambda: instance.posted(berlin, "b"), 20, what="the report after the restart")


def test_the_watermark_is_stored_with_the_reports_and_survives_a_restart(make_instance):
    instance = make_instance()
    berlin = start_city(instance)
    relay(instance, berlin, [f"Kontrolle U{n + 1}" for n in range(5)], 5)
    newest = instance.sql("SELECT max(id) FROM testnet_inbox")[0][0]
    assert instance.sql("SELECT watermark FROM bot_watermarks WHERE city_id = :c AND "
                        "network = 'testnet' AND account = 'a'", c=berlin) == [(str(newest),)]
    os.kill(instance.pid("berlin/testnet:a"), signal.SIGKILL)
    wait_for(lambda: instance.row("berlin/testnet:a")["restarts"] >= 1
             and instance.row("berlin/testnet:a")["state"] == "running", 30,
             what="a to come back")
    relay(instance, berlin, ["Kontrolle U9"], 6)
    time.sleep(1)
    texts = [row[2] for row in instance.posted(berlin, "b")]
    assert sorted(texts) == sorted([f"Kontrolle U{n}" for n in range(1, 6)] + ["Kontrolle U9"])
    assert instance.sql("SELECT count(*) FROM reports")[0][0] == 6  # none read twice


def test_the_first_start_begins_after_the_networks_newest_message(make_instance):
    # first_watermark(): old mentions of a newly connected account are not replayed.
    instance = make_instance(extra="baseline = true\n")
    berlin = instance.create_city("berlin")
    for n in range(3):
        instance.send(berlin, "a", f"Kontrolle von gestern {n}")
    instance.start()
    wait_for(lambda: instance.sql("SELECT watermark FROM bot_watermarks WHERE account = 'a'"),
             30, what="the baseline")
    instance.send(berlin, "a", "Kontrolle jetzt U2")
    wait_for(lambda: instance.posted(berlin, "b"), 20, what="the new report")
    time.sleep(1)
    assert [row[2] for row in instance.posted(berlin, "b")] == ["Kontrolle jetzt U2"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_broadcast_killed_in_the_middle_reaches_every_recipient_once(
        make_instance, backend, request):
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    instance = make_instance(database_url=url)
    berlin = start_city(instance)
    recipients, reports = 40, 3
    instance.switch(berlin, "b", recipients=recipients, send_delay=0.03)
    for n in range(reports):
        instance.send(berlin, "a", f"Kontrolle U{n + 1} Alexanderplatz")
    kills = 0
    for threshold in (15, 60, 100):  # three kills, in the first, second and third report
        wait_for(lambda: len(instance.posted(berlin, "b")) >= threshold, 60,
                 what=f"{threshold} posts of the broadcast")
        os.kill(instance.pid("berlin/testnet:b"), signal.SIGKILL)
        kills += 1
        wait_for(lambda: instance.row("berlin/testnet:b")["state"] == "running"
                 and instance.row("berlin/testnet:b")["restarts"] >= kills, 30,
                 what="b to come back")
    wait_for(lambda: len(instance.posted(berlin, "b")) == recipients * reports, 90,
             what="every recipient of every report")
    keys = instance.sql("SELECT idempotency_key, attempts FROM testnet_outbox WHERE account = 'b'")
    assert len({key for key, _ in keys}) == recipients * reports  # nobody skipped
    repeated = [key for key, attempts in keys if attempts > 1]
    print(f"\n{kills} SIGKILLs in mid-broadcast: {len(keys)} posts, "
          f"{len(repeated)} recipient(s) asked twice (the one in flight at a kill)")
    # Only the recipient being sent at the moment of a kill can be asked again, and the
    # network's idempotency key de-duplicates it: nobody got a report twice.
    assert len(repeated) <= kills
    assert instance.sql("SELECT count(*) FROM deliveries WHERE state = 'done'")[0][0] == reports
    assert instance.sql("SELECT count(*) FROM delivery_recipients")[0][0] == 0


def test_a_new_account_without_messages_keeps_what_arrives_while_the_instance_is_down(
        make_instance):
    # The baseline of an account with no message yet is "from the beginning", and it is
    # stored: the next start must not set a new baseline over what came in meanwhile.
    instance = make_instance(extra="baseline = true\n")
    berlin = start_city(instance)
    wait_for(lambda: instance.sql("SELECT count(*) FROM bot_watermarks WHERE account = 'a'")
             == [(1,)], 30, what="the baseline row")
    instance.stop()
    instance.send(berlin, "a", "Kontrolle U7 Rathaus Spandau")
    instance.start()
    wait_for(lambda: instance.posted(berlin, "b"), 30, what="the message sent while down")


def test_reports_behind_one_whose_post_fails_with_a_network_error_are_not_held_up(make_instance):
    instance = make_instance()
    berlin = start_city(instance)
    instance.send(berlin, "a", "Kontrolle U1 oserror-send")  # b's network refuses this one
    wait_for(lambda: "answers 400" in (instance.row("berlin/testnet:b")["last_error"] or ""),
             20, what="b's failure")
    began = time.monotonic()
    for n in range(2, 7):
        instance.send(berlin, "a", f"Kontrolle U{n}")
        time.sleep(0.5)
    wait_for(lambda: len(instance.posted(berlin, "b")) == 5, 30, what="the reports behind it")
    print(f"\nfive reports behind a failing one posted within {time.monotonic() - began:.1f} s")
    pending = instance.sql("SELECT attempts FROM deliveries WHERE state = 'pending'")
    assert len(pending) == 1 and pending[0][0] >= 1  # kept, retried on its own backoff


def test_reports_posted_after_every_report_was_purged_all_arrive(make_instance):
    # Ids of purged rows must not make a new delivery look like an old one to a network
    # that de-duplicates by idempotency key.
    instance = make_instance()
    berlin = start_city(instance)
    relay(instance, berlin, [f"Kontrolle U{n + 1}" for n in range(3)], 3)
    instance.stop()
    instance.sql("UPDATE reports SET received_at = received_at - 400 * 86400")
    instance.start()
    wait_for(lambda: instance.sql("SELECT count(*) FROM reports") == [(0,)], 30,
             what="the purge")
    relay(instance, berlin, [f"Kontrolle S{n + 1}" for n in range(3)], 6)


def test_a_broadcast_longer_than_the_heartbeat_timeout_is_not_taken_for_a_hang(make_instance):
    # 150 recipients × 0.05 s: 7.5 s of sending, with receives started and finished meanwhile
    # (the heartbeat timeout is 4 s).
    instance = make_instance()
    berlin = start_city(instance)
    instance.switch(berlin, "b", recipients=150, send_delay=0.05)
    instance.send(berlin, "a", "Kontrolle M10 Warschauer Straße")
    wait_for(lambda: len(instance.posted(berlin, "b")) == 150, 60, what="every recipient")
    assert instance.row("berlin/testnet:b")["restarts"] == 0
    assert instance.sql("SELECT state FROM deliveries") == [("done",)]


def test_an_idle_long_polling_bot_is_not_taken_for_hung_and_still_receives(make_instance):
    # Empty long polls are followed by the next in the receive thread alone (the main thread
    # sleeps until there is work): their starts must keep the bot's beat alive for many
    # heartbeat timeouts (4 s here), and a message on the quiet network still gets through.
    instance = make_instance()
    berlin = start_city(instance)
    instance.switch(berlin, "a", longpoll=1.0)
    time.sleep(10)  # 2.5 heartbeat timeouts
    assert instance.row("berlin/testnet:a")["restarts"] == 0
    assert "no heartbeat" not in instance.log()
    instance.send(berlin, "a", "Kontrolle U7 Neukölln")
    wait_for(lambda: instance.posted(berlin, "b"), 20, what="the report from the quiet network")


def test_a_send_that_hangs_is_found_while_the_receive_thread_polls_on(make_instance):
    # b's network answers its long polls (empty) as usual while one of its sends never ends:
    # the receive thread's beats must not hide the hung main thread from the watchdog.
    instance = make_instance()
    berlin = start_city(instance)
    instance.switch(berlin, "b", longpoll=1.0, recipients=1, send_delay=3600)
    before = instance.pid("berlin/testnet:b")
    instance.send(berlin, "a", "Kontrolle S8 Bornholmer Straße")
    wait_for(lambda: "no heartbeat" in (instance.row("berlin/testnet:b")["last_error"] or ""),
             30, what="the watchdog to notice the hung send")
    instance.switch(berlin, "b", send_delay=0)
    wait_for(lambda: instance.posted(berlin, "b"), 30, what="the report after the restart")
    assert instance.pid("berlin/testnet:b") != before
