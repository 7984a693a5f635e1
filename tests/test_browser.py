"""A person's path through the running service in a real browser (Debian's chromium driven by
Playwright): sign up, follow the mailed link, log in, change the trigger list, open the public
page. Screenshots at phone and desktop widths go to test-output/browser/."""
import os
import shutil
from pathlib import Path

import pytest

from instance import ROOT, wait_for, without

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "test-output" / "browser"


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def log_in(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", "a good password")
    page.click("button:has-text('Log in')")


def test_organiser_signs_up_changes_triggers_and_the_running_censor_follows(
        browser, make_instance, relay):
    instance = make_instance(disabled=("mail",), extra=relay.settings())  # every network's panel
    instance.start()
    base = f"http://127.0.0.1:{instance.port}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    page.goto(base + "/")
    page.click("text=Sign up")
    page.fill("#city", "leipzig")
    page.fill("#email", "orga@leipzig.example")
    page.fill("#password", "a good password")
    page.click("button:has-text('Sign up')")
    page.wait_for_selector("text=Check your mail")

    page.goto(base + relay.link("/signup/confirm"))  # the link from the captured mail
    page.click("button:has-text('Create my city')")
    page.wait_for_selector("h1:has-text('Leipzig')")
    page.click("button:has-text('Log out')")
    page.click("text=Log in")
    page.fill("#email", "orga@leipzig.example")
    page.fill("#password", "a good password")
    page.click("button:has-text('Log in')")
    page.wait_for_selector("#patterns-text")

    city = instance.city_id("leipzig")
    wait_for(lambda: {"leipzig/testnet:a", "leipzig/testnet:b"} <= instance.running_names(), 20,
             what="the new city's bots")
    censor_pid = instance.pid("censor")
    instance.send(city, "a", "Zugbegleitung am Kiosk")  # no default pattern matches
    wait_for(lambda: instance.sql("SELECT verdict FROM reports") == [("rejected",)], 20,
             what="the first verdict")

    page.fill("#patterns-text", "zugbegleitung\nkontrolleur")
    page.click("button:has-text('Save the trigger patterns')")
    page.wait_for_selector("text=The trigger patterns are saved")
    page.fill("#markdown", "# Ticketfrei Leipzig\n\nSchreibt uns, wenn ihr **Kontrolleure** seht.")
    page.click("button:has-text('Save the text')")
    page.wait_for_selector("text=The page text is saved")
    page.screenshot(path=str(SHOTS / "settings-desktop.png"), full_page=True)

    instance.send(city, "a", "Zugbegleitung am Kiosk, zweite Tür")
    instance.send(city, "a", "Kontrolle in der U1")  # the old list's pattern is gone
    wait_for(lambda: instance.posted(city, "b"), 20, what="the report the new list lets through")
    wait_for(lambda: instance.sql("SELECT count(*) FROM reports WHERE verdict IS NOT NULL")[0][0]
             == 3, 20, what="all three verdicts")
    assert [row[2] for row in instance.posted()] == ["Zugbegleitung am Kiosk, zweite Tür"]
    assert instance.pid("censor") == censor_pid  # no restart was needed

    page.goto(base + "/city/leipzig")
    assert page.locator("h1").all_inner_texts() == ["Ticketfrei Leipzig"]
    page.screenshot(path=str(SHOTS / "city-desktop.png"), full_page=True)
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.goto(base + "/city/leipzig")
    phone.screenshot(path=str(SHOTS / "city-phone.png"), full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    phone.goto(base + "/login")
    phone.screenshot(path=str(SHOTS / "login-phone.png"), full_page=True)


def test_organiser_connects_a_mastodon_account_in_the_browser(browser, make_instance):
    from mastodon_server import MastodonServer
    with MastodonServer() as mastodon:
        mastodon.add_account("tf_leipzig")
        instance = make_instance(disabled=without("mastodon"),
                                 extra="[bots.mastodon]\npoll_interval = 1.0\n"
                                       "private_instances = true\n")
        instance.cli("city", "create", "leipzig", "--email", "orga@leipzig.example",
                     "--password-stdin", input="a good password\n")
        instance.start()
        base = f"http://127.0.0.1:{instance.port}"
        page = browser.new_page(viewport={"width": 390, "height": 844})
        log_in(page, base, "orga@leipzig.example")
        page.fill("#mastodon-instance", mastodon.url)
        page.click("button:has-text('Connect an account')")
        page.click("text=Continue to")  # a link: the site's CSP stops a form's redirect
        page.wait_for_selector("text=Authorize")  # the instance's own page
        page.select_option("select[name=account]", "tf_leipzig")
        page.click("button:has-text('Authorize')")
        page.wait_for_selector(f"text=@tf_leipzig@{mastodon.domain}")
        assert page.url.endswith("/settings#network-mastodon")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "mastodon-connected-phone.png"), full_page=True)
        wait_for(lambda: any(n.startswith("leipzig/mastodon:") for n in instance.running_names()),
                 20, what="the Mastodon bot")
        mastodon.mention("tf_leipzig", "Kontrolle S1 Hauptbahnhof")
        wait_for(lambda: instance.posted(instance.city_id("leipzig"), "a"), 30,
                 what="the mention relayed")


def test_a_report_sent_through_the_city_page_appears_in_its_list_without_a_reload(
        browser, make_instance):
    from test_mail import Browser
    instance = make_instance(disabled=without("web"),
                             extra="[bots.web]\nrefresh_seconds = 1\n")
    instance.create_city("berlin")
    instance.start()
    organiser = Browser(instance)
    organiser.submit("/login", organiser.get("/login"), email="orga@berlin.example",
                     password="a good password")
    for switch in ("form", "feed"):
        organiser.submit("/bots/web/berlin/settings", organiser.get("/settings"), **{switch: "1"})
    wait_for(lambda: "berlin/web:page" in instance.running_names(), 30, what="the web bot")
    city = f"http://127.0.0.1:{instance.port}/city/berlin"
    SHOTS.mkdir(parents=True, exist_ok=True)

    watcher = browser.new_page(viewport={"width": 390, "height": 844})
    watcher.goto(city)
    watcher.wait_for_selector("#recent >> text=None yet")
    watcher.evaluate("window.notReloaded = true")
    rider = browser.new_page(viewport={"width": 390, "height": 844})
    rider.goto(city)
    rider.fill("#report-text", "Kontrolle U8 Hermannplatz Richtung Wittenau")
    rider.click("button:has-text('Send the report')")
    rider.wait_for_selector("text=is being relayed")
    watcher.wait_for_selector("#recent >> text=Kontrolle U8 Hermannplatz Richtung Wittenau",
                              timeout=30_000)
    assert watcher.evaluate("window.notReloaded === true")  # the list came without a reload
    watcher.screenshot(path=str(SHOTS / "city-page-list-phone.png"), full_page=True)

    # Without JavaScript the form works and a reload shows the list complete.
    context = browser.new_context(java_script_enabled=False)
    plain = context.new_page()
    plain.goto(city)
    plain.fill("#report-text", "Kontrolle S41 Ostkreuz")
    plain.click("button:has-text('Send the report')")
    plain.wait_for_selector("text=is being relayed")
    wait_for(lambda: len(instance.sql("SELECT id FROM reports WHERE verdict = 'accepted'")) == 2,
             30, what="the second report accepted")
    plain.goto(city)
    texts = plain.locator("#recent .report-text").all_inner_texts()
    assert texts == ["Kontrolle S41 Ostkreuz", "Kontrolle U8 Hermannplatz Richtung Wittenau"]
    context.close()


def test_organiser_uploads_a_large_transit_feed_in_pieces_and_tries_a_report(
        browser, make_instance, tmp_path):
    """The web server takes no request body over 256 KiB; static/upload.js sends the feed in
    pieces (here a feed of 700 KB: four of them)."""
    import zipfile

    from gtfs_feed import write_feed
    feed = write_feed(tmp_path / "vbb.zip")
    with zipfile.ZipFile(feed, "a", zipfile.ZIP_STORED) as padded:  # incompressible: stays big
        padded.writestr("shapes.bin", os.urandom(700_000))
    assert feed.stat().st_size > 3 * 192 * 1024
    instance = make_instance(disabled=without())
    instance.create_city("berlin")
    instance.start()
    base = f"http://127.0.0.1:{instance.port}"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, base, "orga@berlin.example")
    page.set_input_files("#transit-feed", str(feed))
    page.click("button:has-text('Import the feed')")
    page.wait_for_selector("text=The transit data is imported: 25 stations, 5 lines.",
                           timeout=60_000)
    assert "vbb.zip" in page.inner_text("#transit-summary")
    page.fill("#transit-text", "2x Hellblau U8 Hermannplatz Richtung Wittenau")
    page.click("button:has-text('Show what is recognised')")
    page.wait_for_selector("#transit-result")
    assert "U8 Hermannplatz → Wittenau: 2x Hellblau" in page.inner_text("#transit-result")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "transit-panel-desktop.png"), full_page=True)
    assert not list(instance.data.glob("transit-upload-*"))  # the assembled file is gone
