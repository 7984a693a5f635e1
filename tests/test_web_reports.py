"""The city's own page as a channel (bots/web) on a running instance: a report through the
page's form travels the pipeline like any other and reaches the city's other accounts; the
rider is told whether it is relayed; a filled honeypot is dropped; one client's reports are
limited; the form is there only while the organisers switched it on."""
import re
from urllib.error import HTTPError

import pytest

from instance import wait_for, without
from test_mail import Browser


def answer(browser, path, page, **fields) -> tuple[int, str]:
    """(status, page) of a form post, error answers too."""
    try:
        return 200, browser.submit(path, page, **fields)
    except HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def berlin(make_instance):
    """A running instance whose city berlin has switched its report form on."""
    instance = make_instance(disabled=without("web"),
                             extra="[bots.web]\nreports_per_client = 3\n")
    instance.berlin = instance.create_city("berlin")
    instance.start()
    organiser = Browser(instance)
    organiser.submit("/login", organiser.get("/login"), email="orga@berlin.example",
                     password="a good password")
    panel = organiser.submit("/bots/web/berlin/settings", organiser.get("/settings"), form="1")
    assert "Turn the report form off" in panel
    wait_for(lambda: "berlin/web:page" in instance.running_names(), 30, what="the web bot")
    return instance


def report(instance, text, **fields) -> tuple[int, str]:
    rider = Browser(instance)
    page = rider.get("/city/berlin")
    return answer(rider, "/bots/web/berlin/report", page, text=text, website="", **fields)


def test_report_through_the_form_reaches_the_citys_other_accounts(berlin):
    status, page = report(berlin, "Kontrolle U8 Hermannplatz Richtung Wittenau")
    assert status == 200 and "is being relayed" in page
    wait_for(lambda: len(berlin.posted(berlin.berlin)) == 2, 30, what="both test accounts")
    assert {r[1] for r in berlin.posted(berlin.berlin)} == {"a", "b"}
    assert berlin.sql("SELECT network, account, verdict FROM reports") == [
        ("web", "page", "accepted")]
    assert berlin.sql("SELECT count(*) FROM web_inbox") == [(0,)]  # the bot emptied it


def test_report_matching_no_trigger_pattern_is_answered_recorded_and_not_relayed(berlin):
    status, page = report(berlin, "Schönes Wetter heute")
    assert status == 200 and "was not relayed" in page
    wait_for(lambda: berlin.sql("SELECT verdict FROM reports") == [("rejected",)], 30,
             what="the refusal recorded")
    assert berlin.posted(berlin.berlin) == []


def test_form_reports_one_after_another_each_arrive(berlin):
    # The inbox is emptied after each: its ids (the reports' message ids) must not start
    # again, or the second report would be taken for the first coming back.
    for n in (1, 2, 3):
        assert report(berlin, f"Kontrolle S{n} Yorckstraße")[0] == 200
        wait_for(lambda: len(berlin.posted(berlin.berlin, "a")) == n, 30, what=f"report {n}")
    assert [r[2] for r in berlin.posted(berlin.berlin, "a")] == [
        f"Kontrolle S{n} Yorckstraße" for n in (1, 2, 3)]


def test_filled_honeypot_is_answered_like_a_report_and_dropped(berlin):
    rider = Browser(berlin)
    page = rider.get("/city/berlin")
    status, answered = answer(rider, "/bots/web/berlin/report", page,
                              text="Kontrolle U1 Kottbusser Tor", website="http://spam.example")
    assert status == 200 and "is being relayed" in answered
    assert report(berlin, "Kontrolle U2 Gleisdreieck")[0] == 200
    wait_for(lambda: len(berlin.posted(berlin.berlin, "a")) == 1, 30, what="the real report")
    assert [r[2] for r in berlin.posted(berlin.berlin)] == ["Kontrolle U2 Gleisdreieck"] * 2
    assert "honeypot field filled was dropped" in berlin.log()


def test_too_many_reports_from_one_client_are_refused_with_a_readable_page(berlin):
    for n in range(3):
        assert report(berlin, f"Kontrolle U{n + 5}")[0] == 200
    status, page = report(berlin, "Kontrolle U9 Osloer Straße")
    assert status == 429 and "wait a few minutes" in page
    wait_for(lambda: len(berlin.posted(berlin.berlin, "a")) == 3, 30, what="the three allowed")
    # nothing about the rider is kept with the reports, and the limit's key is a digest
    assert "127.0.0.1" not in str(berlin.sql("SELECT * FROM reports"))
    assert "127.0.0.1" not in str(berlin.sql("SELECT * FROM rate_limits"))


def test_form_is_shown_and_taken_only_while_switched_on(berlin):
    assert 'action="/bots/web/berlin/report"' in Browser(berlin).get("/city/berlin")
    organiser = Browser(berlin)
    organiser.submit("/login", organiser.get("/login"), email="orga@berlin.example",
                     password="a good password")
    organiser.submit("/bots/web/berlin/settings", organiser.get("/settings"), form="0")
    rider = Browser(berlin)
    page = rider.get("/city/berlin")
    assert "/bots/web/berlin/report" not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    status, _ = answer(rider, "/bots/web/berlin/report", page, text="Kontrolle U3",
                       **({} if csrf else {"csrf": "x"}))
    assert status in (403, 404)


def test_list_window_outside_its_bounds_is_refused_in_the_panel(berlin):
    organiser = Browser(berlin)
    organiser.submit("/login", organiser.get("/login"), email="orga@berlin.example",
                     password="a good password")
    for bad in ("0", "49", "nan", "inf", "drei"):
        status, page = answer(organiser, "/bots/web/berlin/settings", organiser.get("/settings"),
                              window_hours=bad)
        assert status == 400 and "between 0.5 and 48 hours" in page, bad


# --- the list and the feed -------------------------------------------------------------------

@pytest.fixture
def berlin_listed(berlin):
    """berlin with its list and feed switched on too."""
    organiser = Browser(berlin)
    organiser.submit("/login", organiser.get("/login"), email="orga@berlin.example",
                     password="a good password")
    panel = organiser.submit("/bots/web/berlin/settings", organiser.get("/settings"), feed="1")
    assert "Turn the list and feed off" in panel
    return berlin


def feed(instance):
    import feedparser
    rider = Browser(instance)
    with rider.opener.open(rider.base + "/city/berlin/feed.atom", timeout=20) as response:
        assert response.headers["Content-Type"].startswith("application/atom+xml")
        return feedparser.parse(response.read())


def test_accepted_reports_from_every_network_are_listed_and_in_the_feed_refused_ones_nowhere(
        berlin_listed):
    instance = berlin_listed
    instance.send(instance.berlin, "a", "Kontrolle S41 Ostkreuz")   # the test network
    wait_for(lambda: instance.posted(instance.berlin, "b"), 30, what="the test network's report")
    report(instance, "Kontrolle U8 Hermannplatz <script>alert(1)</script>")  # the form
    report(instance, "Schönes Wetter heute")                          # refused
    wait_for(lambda: len(instance.sql("SELECT verdict FROM reports WHERE verdict IS NOT NULL"))
             == 3, 30, what="all three judged")
    page = Browser(instance).get("/city/berlin")
    listed = re.findall(r'<span class="report-text">(.*?)</span>\s*<small>(.*?)</small>', page)
    assert [text for text, _ in listed] == [
        "Kontrolle U8 Hermannplatz &lt;script&gt;alert(1)&lt;/script&gt;",
        "Kontrolle S41 Ostkreuz"]                                      # newest first
    assert [meta for _, meta in listed] == ["just now · via this page", "just now · via Testnet"]
    assert "Schönes Wetter" not in page and "127.0.0.1" not in page

    parsed = feed(instance)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.feed.title == "Ticketfrei Berlin"
    assert [e.title for e in parsed.entries] == [
        "Kontrolle U8 Hermannplatz <script>alert(1)</script>", "Kontrolle S41 Ostkreuz"]
    assert all(e.id.startswith("http") and "#report-" in e.id for e in parsed.entries)
    assert [e.id for e in feed(instance).entries] == [e.id for e in parsed.entries]  # stable


def test_list_and_feed_are_gone_while_switched_off(berlin):
    assert 'id="recent"' not in Browser(berlin).get("/city/berlin")
    try:
        Browser(berlin).get("/city/berlin/feed.atom")
        raise AssertionError("a feed while it is off")
    except HTTPError as error:
        assert error.code == 404
    try:
        Browser(berlin).get("/city/berlin/other.atom")
        raise AssertionError("a file nobody serves")
    except HTTPError as error:
        assert error.code == 404
