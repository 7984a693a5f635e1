"""One bad message, report or delivery only ever affects itself: the messages behind it flow
on, other cities are untouched, and the bad one is set aside with its reason (issue: reports
lost or stalled). Real processes; the test network's poison messages make a bot fail."""
import time

import pytest

from instance import wait_for

import db


def start(make_instance, cities=("berlin",), **kwargs):
    instance = make_instance(supervisor={"backoff_initial": 0.2, "backoff_max": 2.0,
                                         "heartbeat_timeout": 3.0}, **kwargs)
    ids = {city: instance.create_city(city) for city in cities}
    instance.start()
    wanted = {f"{c}/testnet:{a}" for c in cities for a in "ab"}
    wait_for(lambda: instance.running_names() >= wanted, 30, what="every bot to run")
    return instance, ids


def reports(instance):
    return {text: (verdict, reason) for text, verdict, reason in
            instance.sql("SELECT text, verdict, verdict_reason FROM reports")}


def set_aside(instance, network_message_id):
    rows = instance.sql("SELECT verdict, verdict_reason FROM reports "
                        "WHERE network_message_id = :m", m=network_message_id)
    return rows and rows[0][0] == db.SET_ASIDE and rows[0]


@pytest.mark.parametrize("poison", ["poison-read", "poison-crash", "poison-hang"])
def test_message_the_bot_cannot_read_is_set_aside_and_the_ones_behind_it_flow_on(
        make_instance, poison):
    instance, ids = start(make_instance, ("berlin", "hamburg"))
    berlin, hamburg = ids["berlin"], ids["hamburg"]
    began = time.monotonic()
    bad = instance.send(berlin, "a", f"Kontrolle U1 {poison}")
    instance.send(berlin, "a", "Kontrolle U2 Alex")
    instance.send(hamburg, "a", "Kontrolle S1 Altona")
    wait_for(lambda: instance.posted(hamburg, "b"), 20, what="hamburg's report")
    wait_for(lambda: instance.posted(berlin, "b"), 60, what="the report behind the poison")
    relayed = time.monotonic() - began
    row = wait_for(lambda: set_aside(instance, f"msg-{bad}"), 60, what="the poison to be set aside")
    print(f"{poison}: the report behind it relayed after {relayed:.1f} s, "
          f"the poison set aside after {time.monotonic() - began:.1f} s")
    assert "set aside after 3 failed attempts" in row[1]
    assert [r[2] for r in instance.posted(berlin, "b")] == ["Kontrolle U2 Alex"]
    if poison == "poison-read":
        assert "RuntimeError: the test network's parser fails on this message" in row[1]
        # One bad message is not a reason to restart the bot.
        assert instance.row("berlin/testnet:a")["restarts"] == 0
    wait_for(lambda: "set aside" in (instance.row("berlin/testnet:a")["last_error"] or ""), 10,
             what="the set-aside message in status")
    assert instance.sql("SELECT count(*) FROM work_attempts")[0][0] == 0


def test_delivery_that_always_raises_is_set_aside_and_blocks_no_other(make_instance):
    instance, ids = start(make_instance)
    berlin = ids["berlin"]
    began = time.monotonic()
    instance.send(berlin, "a", "Kontrolle U1 poison-send")
    instance.send(berlin, "a", "Kontrolle U2 Alex")
    wait_for(lambda: instance.posted(berlin, "b"), 20, what="the good report")
    print(f"the report behind the failing delivery was relayed after "
          f"{time.monotonic() - began:.1f} s")
    failed = wait_for(lambda: instance.sql("SELECT last_error FROM deliveries "
                                           "WHERE state = 'failed'"), 60,
                      what="the failing delivery to be set aside")
    assert failed[0][0].startswith("set aside after 3 failed attempts: RuntimeError")
    assert [r[2] for r in instance.posted(berlin, "b")] == ["Kontrolle U2 Alex"]
    assert instance.row("berlin/testnet:b")["restarts"] == 0


def test_report_without_text_is_recorded_as_refused(make_instance):
    instance, ids = start(make_instance)
    instance.send(ids["berlin"], "a", "\x00\x01  \x7f")
    # and a bidi override, which would show "Kontrolle U3" backwards where it is relayed
    instance.send(ids["berlin"], "a", "\u202eKontrolle\x00 U3\u202c")
    wait_for(lambda: len(instance.sql("SELECT id FROM reports WHERE verdict IS NOT NULL")) == 2,
             20, what="both decided")
    assert reports(instance) == {"": ("rejected", "it has no text"),
                                 "Kontrolle U3": ("accepted", "matches a trigger pattern")}


def test_a_message_whose_reading_must_wait_for_the_network_is_read_later(make_instance):
    """TryLater(delay=None) from read(): the network's trouble announces no end."""
    instance, ids = start(make_instance)
    instance.send(ids["berlin"], "a", "Kontrolle U5 trylater-read")
    instance.send(ids["berlin"], "a", "Kontrolle U6 behind it")
    wait_for(lambda: len(instance.posted(ids["berlin"], "b")) == 2, 30, what="both relayed")
    assert instance.row("berlin/testnet:a")["restarts"] == 0


def test_error_shown_in_status_goes_once_the_network_works_again(make_instance):
    instance, ids = start(make_instance)
    berlin = ids["berlin"]
    instance.switch(berlin, "b", fail=1)
    wait_for(lambda: "503" in (instance.row("berlin/testnet:b")["last_error"] or ""), 20,
             what="the error in status")
    instance.switch(berlin, "b", fail=0)
    wait_for(lambda: instance.row("berlin/testnet:b")["last_error"] is None, 60,
             what="the error to go from status")


class SlowRelay:
    """A relay that takes its time over each mail, as a busy one does."""

    def __init__(self, seconds):
        from instance import Relay
        self.relay, self.seconds = Relay(), seconds
        self.relay.handle_DATA = self.handle_DATA
        self.mails = []

    async def handle_DATA(self, server, session, envelope):
        import asyncio
        await asyncio.sleep(self.seconds)
        self.mails.append(envelope.rcpt_tos[0])
        return "250 OK"


def test_broadcast_longer_than_the_heartbeat_timeout_is_not_taken_for_a_hang(make_instance):
    from instance import free_port
    slow = SlowRelay(0.25)
    with slow.relay:
        instance = make_instance(
            disabled=(), supervisor={"heartbeat_timeout": 3.0, "backoff_initial": 0.2},
            extra=slow.relay.settings() + f"[bots.mail]\nlisten_port = {free_port()}\n")
        city = instance.create_city("berlin")
        instance.start()
        name = f"berlin/mail:{city}"
        wait_for(lambda: {name, "berlin/testnet:b"} <= instance.running_names(), 30,
                 what="the mail bot")
        for n in range(30):  # 30 × 0.25 s: more than twice the heartbeat timeout
            instance.sql("INSERT INTO mail_subscribers (city_id, email, bounces, dropped, "
                         "created_at) VALUES (:c, :e, 0, false, 0)", c=city, e=f"s{n}@example.org")
        instance.send(city, "a", "Kontrolle U8 Hermannplatz")
        wait_for(lambda: len(slow.mails) >= 30, 60, what="every subscriber's mail")
        time.sleep(1)
        assert sorted(slow.mails) == sorted(f"s{n}@example.org" for n in range(30))
        assert instance.row(name)["restarts"] == 0
        assert "no heartbeat" not in instance.log()


def test_plugin_that_cannot_list_its_accounts_holds_reports_back_instead_of_losing_them(
        make_instance):
    from instance import free_port
    instance, ids = start(make_instance, disabled=(),
                          extra=f"[bots.mail]\nlisten_port = {free_port()}\n")
    berlin = ids["berlin"]
    # The mail plugin's table breaks (as a botched upgrade would leave it): the censor cannot
    # tell whether berlin has a mailing list to deliver to.
    instance.sql("ALTER TABLE mail_cities RENAME TO mail_cities_gone")
    instance.send(berlin, "a", "Kontrolle U6 Tempelhof")
    wait_for(lambda: "plugin mail could not list its accounts" in instance.log(), 20,
             what="the censor to notice")
    assert instance.sql("SELECT verdict FROM reports") == [(None,)]  # waits, undecided
    instance.sql("ALTER TABLE mail_cities_gone RENAME TO mail_cities")
    wait_for(lambda: instance.posted(berlin, "b"), 60, what="the report once the plugin works")
    assert instance.sql("SELECT count(*) FROM work_attempts")[0][0] == 0
