"""Plugins' parts of the web pages (bots/README.md "webui.py, settings.tpl, city.tpl"): each is
rendered on its own, from its panel() values; a plugin that fails there costs only its own
part; a panel's POST goes back to the settings page at that panel."""
import logging

import webtest

import frontend
from test_web import csrf, log_in, sign_up


def settings_of_a_city(core_for, database_url, relay):
    """berlin's organiser, logged in, on an app with the mail plugin and the test network."""
    settings, plugins, sessions = core_for(
        database_url, TICKETFREI_PLUGINS_DISABLED="", TICKETFREI_MAIL_RELAY_HOST="127.0.0.1",
        TICKETFREI_MAIL_RELAY_PORT=str(relay.port), TICKETFREI_MAIL_RELAY_SECURITY="none")
    web = webtest.TestApp(frontend.make_app(settings, sessions, plugins),
                          extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    web.relay, web.plugins = relay, plugins
    sign_up(web)
    return web


def test_a_panel_raising_an_error_leaves_the_rest_of_the_settings_page_working(
        core_for, database_url, relay, monkeypatch, caplog):
    web = settings_of_a_city(core_for, database_url, relay)

    def broken_panel(cls, session, city):
        raise RuntimeError("a bug in the test network's panel")

    monkeypatch.setattr(web.plugins["testnet"], "panel", classmethod(broken_panel))
    with caplog.at_level(logging.ERROR):
        page = web.get("/settings", status=200)
    assert "This part could not be shown: the testnet plugin failed" in page.text
    assert "Mailing list" in page.text            # another plugin's panel
    assert "Trigger patterns" in page.text        # the core's sections
    assert 'id="network-testnet"' in page.text
    failed = [r for r in caplog.records if "plugin testnet" in r.getMessage()]
    assert failed and "a bug in the test network's panel" in failed[0].exc_text


def test_a_template_that_fails_costs_only_its_own_part(core_for, database_url, relay,
                                                       monkeypatch, tmp_path):
    web = settings_of_a_city(core_for, database_url, relay)
    (tmp_path / "settings.tpl").write_text("<p>{{a_name_nobody_gave}}</p>\n")
    monkeypatch.setitem(frontend.site.plugin_lookup, "testnet", [str(tmp_path)])
    page = web.get("/settings", status=200)
    assert "the testnet plugin failed" in page.text
    assert "Mailing list" in page.text


def test_a_panel_gets_its_values_from_the_plugin_and_its_own_status_rows(
        core_for, database_url, relay):
    web = settings_of_a_city(core_for, database_url, relay)
    page = web.get("/settings")
    assert "berlin@localhost" in page.text  # MailBot.panel(): the list's address
    assert "subscriber(s)" in page.text


def test_a_panel_post_goes_back_to_its_panel_and_an_error_is_shown_in_it(
        core_for, database_url, relay):
    web = settings_of_a_city(core_for, database_url, relay)
    page = web.get("/settings")
    answer = web.post("/bots/mail/berlin/settings", {"enabled": "0", "csrf": csrf(page)},
                      status=303)
    assert answer.location.endswith("/settings#network-mail")
    assert "The list is <strong>off</strong>" in web.get("/settings").text
    app = web.app

    # A panel route that refuses what it was given: back_to_settings with an error.
    @app.post("/panel-test/<name>/refuse")
    def refuse(name):
        frontend.check_csrf()
        frontend.require_city(name)
        return frontend.back_to_settings("mail", "That address is not a Mastodon server.")

    refused = web.post("/panel-test/berlin/refuse", {"csrf": csrf(page)}, status=400)
    section = refused.text.split('id="network-mail"', 1)[1].split("</section>", 1)[0]
    assert "That address is not a Mastodon server." in section
    assert "Trigger patterns" in refused.text


def test_a_panel_post_of_another_city_is_refused(core_for, database_url, relay):
    web = settings_of_a_city(core_for, database_url, relay)
    page = web.get("/settings")
    web.post("/bots/mail/hamburg/settings", {"enabled": "0", "csrf": csrf(page)}, status=403)
    web.post("/logout", {"csrf": csrf(page)})
    web.post("/bots/mail/berlin/settings", {"enabled": "0", "csrf": csrf(web.get("/login"))},
             status=303).location.endswith("/login")
    log_in(web)
    assert "The list is <strong>on</strong>" in web.get("/settings").text


def test_a_panel_using_a_name_the_page_gives_is_refused_with_a_note(core_for, database_url, relay,
                                                                     monkeypatch, caplog):
    web = settings_of_a_city(core_for, database_url, relay)
    monkeypatch.setattr(web.plugins["testnet"], "panel",
                        classmethod(lambda cls, session, city: {"instance": "social.example"}))
    with caplog.at_level(logging.ERROR):
        page = web.get("/settings", status=200)
    assert "the testnet plugin failed" in page.text and "Mailing list" in page.text
    assert any("panel() returned names the page gives: instance" in (r.exc_text or "")
               for r in caplog.records)


def test_a_city_part_using_a_name_the_page_gives_is_refused_with_a_note(
        core_for, database_url, relay, monkeypatch, caplog):
    web = settings_of_a_city(core_for, database_url, relay)
    assert "Get every report by mail" in web.get("/city/berlin").text
    monkeypatch.setattr(web.plugins["mail"], "city_part",
                        classmethod(lambda cls, session, city: {"accounts": []}))
    with caplog.at_level(logging.ERROR):
        page = web.get("/city/berlin", status=200)
    assert "the mail plugin failed" in page.text and "Get every report by mail" not in page.text
    assert any("city_part() returned names the page gives: accounts" in (r.exc_text or "")
               for r in caplog.records)


def test_a_panel_that_aborts_costs_only_its_own_part(core_for, database_url, relay, monkeypatch):
    web = settings_of_a_city(core_for, database_url, relay)

    def aborting(cls, session, city):
        frontend.bottle.abort(403, "not for you")

    monkeypatch.setattr(web.plugins["testnet"], "panel", classmethod(aborting))
    page = web.get("/settings", status=200)
    assert "the testnet plugin failed" in page.text and "Trigger patterns" in page.text
