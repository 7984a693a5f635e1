"""The organisers' web UI through the WSGI app: sign-up by mail, login, logout, password reset
and change, account deletion, city settings; and the failure paths (DESIGN.md "Web")."""
import re
import time

import pytest
import webtest

import db
import frontend
import user
from instance import free_port


@pytest.fixture
def web(core_for, database_url, relay):
    return make_web(core_for, database_url, relay)


def make_web(core_for, database_url, relay) -> webtest.TestApp:
    """A browser on a new app whose mail goes to relay; it knows the app's sessions, relay,
    plugins and what main was told."""
    settings, plugins, sessions = core_for(
        database_url, TICKETFREI_MAIL_RELAY_HOST="127.0.0.1",
        TICKETFREI_MAIL_RELAY_PORT=str(relay.port), TICKETFREI_MAIL_RELAY_SECURITY="none")
    told = []
    app = frontend.make_app(settings, sessions, plugins, notify_main=lambda: told.append(1))
    browser = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    browser.sessions, browser.told, browser.relay, browser.plugins = sessions, told, relay, plugins
    return browser


def csrf(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def post(app, url, fields, status=None, page_url="/login"):
    """Submit a form as a browser would: with the CSRF token of a page of this site; and wait
    until the mail it queued (if any) was handed to the relay."""
    response = app.post(url, {**fields, "csrf": csrf(app.get(page_url))}, status=status)
    frontend.site.outbox.join()
    return response


def sign_up(app, city="berlin", email="orga@berlin.example", password="a good password"):
    post(app, "/signup", {"city": city, "email": email, "password": password}, page_url="/signup")
    confirm = app.get(app.relay.link("/signup/confirm"))
    return app.post("/signup/confirm", {"token": confirm.form["token"].value, "csrf": csrf(confirm)})


def log_in(app, email="orga@berlin.example", password="a good password", status=303):
    return post(app, "/login", {"email": email, "password": password}, status=status,
                page_url="/login")


# --- sign-up ---------------------------------------------------------------------------------

def test_signup_mails_a_link_that_creates_the_city_and_logs_in(web):
    page = post(web, "/signup", {"city": "berlin", "email": "orga@berlin.example",
                                 "password": "a good password"}, page_url="/signup")
    assert "Check your mail" in page.text
    assert web.relay.mails[-1]["To"] == "orga@berlin.example"
    with web.sessions() as session:
        assert user.find_city(session, "berlin") is None  # nothing before the link is used
    confirm = web.get(web.relay.link("/signup/confirm"))
    done = web.post("/signup/confirm", {"token": confirm.form["token"].value, "csrf": csrf(confirm)})
    assert done.status_int == 303 and done.location.endswith("/settings")
    settings = done.follow()
    assert "Berlin" in settings.text and "kontroll?e" in settings.text  # version 2's defaults
    assert web.told, "main was not told about the new city"


def test_signup_link_works_only_once(web):
    sign_up(web)
    web.reset()
    confirm = web.get(web.relay.link("/signup/confirm"))
    again = web.post("/signup/confirm", {"token": confirm.form["token"].value,
                                         "csrf": csrf(confirm)}, status=400)
    assert "used already" in again.text


def test_expired_or_forged_signup_link_is_refused(web):
    post(web, "/signup", {"city": "berlin", "email": "orga@berlin.example",
                          "password": "a good password"}, page_url="/signup")
    with web.sessions.begin() as session:
        pending = session.query(db.PendingSignup).one()
        expired = user.make_token(user.instance_secret(session), "signup",
                                  f"{pending.id}:{pending.nonce}", ttl=-10)
    assert "expired" in web.get(f"/signup/confirm?token={expired}", status=400).text
    forged = web.relay.link("/signup/confirm")[:-3] + "abc"
    assert "not valid" in web.get(forged, status=400).text
    # A reset token is no sign-up token, even when correctly signed.
    with web.sessions.begin() as session:
        other = user.make_token(user.instance_secret(session), "reset",
                                f"{pending.id}:{pending.nonce}", ttl=60)
    web.get(f"/signup/confirm?token={other}", status=400)


def test_taken_city_name_is_refused(web):
    sign_up(web)
    web.reset()
    page = post(web, "/signup", {"city": "berlin", "email": "other@example.org",
                                 "password": "a good password"}, status=400, page_url="/signup")
    assert "is on this instance already" in page.text


def test_signup_with_a_known_address_answers_the_same_and_mails_a_notice(web):
    sign_up(web)
    web.reset()
    page = post(web, "/signup", {"city": "hamburg", "email": "orga@berlin.example",
                                 "password": "a good password"}, page_url="/signup")
    assert "Check your mail" in page.text  # the visitor learns nothing
    notice = web.relay.mails[-1].get_payload(decode=True).decode()
    assert "has an account already" in notice and "/signup/confirm" not in notice


@pytest.mark.parametrize("fields, message", [
    ({"city": "Ber lin", "email": "a@b.example", "password": "a good password"}, "city name"),
    ({"city": "berlin", "email": "not-an-address", "password": "a good password"}, "e-mail"),
    ({"city": "berlin", "email": "a@b.example", "password": "short"}, "8 to 1024"),
    ({"city": "<script>", "email": "a@b.example", "password": "a good password"}, "city name"),
])
def test_bad_signup_is_refused_with_a_clear_error(web, fields, message):
    page = post(web, "/signup", fields, status=400, page_url="/signup")
    assert message in page.text and "<script>" not in page.text.split("<main>")[1]


def test_signup_when_the_relay_is_down_answers_at_once_and_logs_the_failure(core_for, sqlite_url,
                                                                          caplog):
    settings, plugins, sessions = core_for(
        sqlite_url, TICKETFREI_MAIL_RELAY_HOST="127.0.0.1",
        TICKETFREI_MAIL_RELAY_PORT=str(free_port()), TICKETFREI_MAIL_RELAY_SECURITY="none")
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins))
    frontend.site.outbox.retry_delays = (0.1,)
    page = post(app, "/signup", {"city": "berlin", "email": "orga@berlin.example",
                                 "password": "a good password"}, page_url="/signup")
    assert "Check your mail" in page.text  # the answer cannot wait on the relay
    assert any("a mail was given up" in r.getMessage() for r in caplog.records)


# --- login, logout, throttling ---------------------------------------------------------------

def test_login_with_wrong_password_and_unknown_address_get_the_same_answer(web):
    sign_up(web)
    web.reset()
    wrong = log_in(web, password="wrong password", status=400)
    unknown = log_in(web, email="nobody@example.org", status=400)
    assert "wrong e-mail address or password" in wrong.text
    assert wrong.text.replace("orga@berlin.example", "X") == \
        unknown.text.replace("nobody@example.org", "X").replace(csrf(unknown), csrf(wrong))


def test_logout_really_ends_the_session(web):
    sign_up(web)
    cookie = web.cookies[frontend.COOKIE]
    page = web.get("/settings")
    web.post("/logout", {"csrf": csrf(page)}, status=303)
    web.set_cookie(frontend.COOKIE, cookie)  # a stolen copy of the cookie
    assert web.get("/settings", status=303).location.endswith("/login")


def test_repeated_failed_logins_are_slowed_down_per_account(web):
    sign_up(web)
    web.reset()
    for _ in range(user.FREE_FAILURES):
        log_in(web, password="guess", status=400)
    page = log_in(web, status=429)  # even the right password must wait now
    assert "too many failed logins" in page.text and page.headers["Retry-After"]
    with web.sessions.begin() as session:  # the waiting time passes
        for row in session.query(db.LoginFailure):
            row.last_at = time.time() - 3600
    log_in(web)


def test_repeated_failed_logins_are_slowed_down_per_address(web):
    for n in range(user.FREE_FAILURES):
        log_in(web, email=f"guess{n}@example.org", password="guess", status=400)
    assert "too many failed logins" in log_in(web, email="new@example.org", status=429).text
    other = webtest.TestApp(web.app, extra_environ={"REMOTE_ADDR": "192.0.2.99"})
    token = csrf(other.get("/login"))
    other.post("/login", {"email": "new@example.org", "password": "x", "csrf": token}, status=400)


# --- password reset and change ---------------------------------------------------------------

def test_password_reset_by_mail_works_once(web):
    sign_up(web)
    web.reset()
    page = post(web, "/reset", {"email": "orga@berlin.example"}, page_url="/reset")
    assert "If this address has an account" in page.text
    form_page = web.get(web.relay.link("/reset/confirm"))
    web.post("/reset/confirm", {"token": form_page.form["token"].value, "csrf": csrf(form_page),
                                "password": "a new password"}, status=303)
    web.reset()
    log_in(web, password="a good password", status=400)
    log_in(web, password="a new password")
    web.reset()
    form_page = web.get(web.relay.link("/reset/confirm"))  # the same link again
    again = web.post("/reset/confirm", {"token": form_page.form["token"].value,
                                        "csrf": csrf(form_page), "password": "third password"},
                     status=400)
    assert "used already" in again.text


def test_password_reset_for_an_unknown_address_answers_the_same_and_mails_nobody(web):
    page = post(web, "/reset", {"email": "nobody@example.org"}, page_url="/reset")
    assert "If this address has an account" in page.text and web.relay.mails == []


def test_password_change_needs_the_current_password_and_ends_other_sessions(web):
    sign_up(web)
    other = webtest.TestApp(web.app, extra_environ={"REMOTE_ADDR": "192.0.2.7"})
    log_in(other)
    page = web.get("/account")
    wrong = web.post("/account/password", {"old": "wrong", "new": "another password",
                                           "csrf": csrf(page)}, status=400)
    assert "current password is wrong" in wrong.text
    done = web.post("/account/password", {"old": "a good password", "new": "another password",
                                          "csrf": csrf(page)})
    assert "password is changed" in done.text
    web.get("/settings", status=200)  # this login goes on
    other.get("/settings", status=303)  # the other one ended


# --- deleting an account ---------------------------------------------------------------------

def test_account_is_deleted_with_its_city_and_all_data_after_confirmation(web):
    sign_up(web)
    with web.sessions.begin() as session:
        city = session.query(db.City).one()
        report = db.Report(city_id=city.id, network="testnet", account="a",
                           network_message_id="1", text="Kontrolle U1")
        session.add(report)
        session.flush()
        session.add(db.Delivery(report_id=report.id, city_id=city.id, network="testnet",
                                account="b"))
    page = web.get("/account")
    unconfirmed = web.post("/account/delete", {"password": "a good password",
                                               "csrf": csrf(page)}, status=400)
    assert "confirm" in unconfirmed.text
    web.post("/account/delete", {"password": "wrong", "confirm": "yes", "csrf": csrf(page)},
             status=400)
    done = web.post("/account/delete", {"password": "a good password", "confirm": "yes",
                                        "csrf": csrf(page)})
    assert "are deleted" in done.text
    with web.sessions() as session:
        for model in (db.User, db.Email, db.City, db.TriggerPatterns, db.BadWords, db.Report,
                      db.Delivery, db.WebSession):
            assert session.query(model).count() == 0, model.__tablename__
    web.get("/city/berlin", status=404)
    log_in(web, status=400)


# --- forms and access ------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/signup", "/login", "/reset", "/logout", "/settings/patterns",
                                 "/settings/texts", "/settings/enabled", "/account/password",
                                 "/account/delete", "/signup/confirm"])
def test_form_without_a_valid_csrf_token_is_refused(web, url):
    sign_up(web)
    web.post(url, {"email": "x@example.org", "patterns": "u1"}, status=403)
    web.post(url, {"email": "x@example.org", "patterns": "u1", "csrf": "forged"}, status=403)


def test_another_sites_form_cannot_use_a_visitors_token(web):
    # A token is bound to its visitor: one from another browser does not work here.
    stranger = webtest.TestApp(web.app)
    token = csrf(stranger.get("/login"))
    web.get("/login")
    web.post("/login", {"email": "a@b.example", "password": "x", "csrf": token}, status=403)


def test_settings_need_a_login(web):
    assert web.get("/settings", status=303).location.endswith("/login")
    assert web.get("/account", status=303).location.endswith("/login")


def test_another_citys_settings_are_forbidden(web):
    sign_up(web)
    web.reset()
    sign_up(web, city="hamburg", email="orga@hamburg.example")
    token = csrf(web.get("/settings"))
    web.post("/bots/testnet/berlin/disconnect", {"csrf": token}, status=403)
    assert web.post("/bots/testnet/hamburg/disconnect", {"csrf": token}).text == \
        "disconnected hamburg\n"


def test_overlong_field_is_refused_and_nothing_is_stored(web):
    sign_up(web)
    token = csrf(web.get("/settings"))
    web.post("/settings/texts", {"markdown": "x" * 50_000, "mail_md": "", "action": "save",
                                 "csrf": token}, status=413)
    with web.sessions() as session:
        assert session.query(db.City).one().markdown == ""


# --- the city's settings ---------------------------------------------------------------------

def test_bad_pattern_is_refused_with_its_line_number_and_the_old_list_kept(web):
    sign_up(web)
    token = csrf(web.get("/settings"))
    page = web.post("/settings/patterns", {"patterns": "kontrolle\nu\\d\n(a\nbus",
                                           "csrf": token}, status=400)
    assert "line 3" in page.text and "(a" in page.text  # the typed list is shown again
    with web.sessions() as session:
        assert session.query(db.TriggerPatterns).one().patterns.startswith("kontroll?e\nkonti")
    web.post("/settings/patterns", {"patterns": "kontrolle\n\n  tram  \n", "csrf": token})
    with web.sessions() as session:
        assert session.query(db.TriggerPatterns).one().patterns == "kontrolle\ntram"


def test_blocklist_is_saved(web):
    sign_up(web)
    token = csrf(web.get("/settings"))
    web.post("/settings/blocklist", {"blocklist": "bastard\nidiot\n", "csrf": token})
    with web.sessions() as session:
        assert session.query(db.BadWords).one().words == "bastard\nidiot"


def test_markdown_preview_shows_the_rendering_without_saving(web):
    sign_up(web)
    token = csrf(web.get("/settings"))
    page = web.post("/settings/texts", {"markdown": "# Hallo *Berlin*\n<script>x</script>",
                                        "mail_md": "", "action": "preview", "csrf": token})
    assert "<h1>Hallo <em>Berlin</em></h1>" in page.text and "<script>x" not in page.text
    with web.sessions() as session:
        assert session.query(db.City).one().markdown == ""
    web.post("/settings/texts", {"markdown": "# Hallo *Berlin*", "mail_md": "Abo",
                                 "action": "save", "csrf": token})
    assert "<h1>Hallo <em>Berlin</em></h1>" in web.get("/city/berlin").text


def test_disabling_the_city_hides_its_page_and_tells_main(web):
    sign_up(web)
    told = len(web.told)
    token = csrf(web.get("/settings"))
    web.post("/settings/enabled", {"enabled": "0", "csrf": token})
    web.get("/city/berlin", status=404)
    assert len(web.told) == told + 1
    web.post("/settings/enabled", {"enabled": "1", "csrf": token})
    web.get("/city/berlin", status=200)


def test_status_panel_shows_the_citys_bots(web):
    sign_up(web)
    with web.sessions.begin() as session:
        city = session.query(db.City).one()
        session.add(db.ProcessStatus(name="berlin/testnet:a", kind="bot", city_id=city.id,
                                     network="testnet", account="a", state="backoff",
                                     restarts=2, last_error="the network answers 503",
                                     last_report_at=time.time()))
    page = web.get("/settings")
    assert "restarting" in page.text and "the network answers 503" in page.text
    assert "Test network" in page.text  # the plugin's own panel


def test_public_page_shows_each_connected_networks_part(web):
    sign_up(web)
    page = web.get("/city/berlin")
    assert "On the test network" in page.text and "berlin-a@testnet" in page.text


def test_unknown_city_page_points_to_signup(web):
    assert 'href="/signup"' in web.get("/city/atlantis", status=404).text


# --- cookies ---------------------------------------------------------------------------------

def test_session_cookie_is_httponly_and_samesite(web):
    response = sign_up(web)
    cookie = next(h for n, h in response.headerlist
                  if n == "Set-Cookie" and h.startswith(frontend.COOKIE))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" not in cookie


def test_session_cookie_is_secure_behind_https(core_for, sqlite_url, relay):
    settings, plugins, sessions = core_for(
        sqlite_url, TICKETFREI_WEB_BASE_URL="https://ticketfrei.example",
        TICKETFREI_MAIL_RELAY_HOST="127.0.0.1", TICKETFREI_MAIL_RELAY_PORT=str(relay.port),
        TICKETFREI_MAIL_RELAY_SECURITY="none")
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins),
                          extra_environ={"wsgi.url_scheme": "https"})
    app.relay = relay
    response = sign_up(app)
    cookie = next(h for n, h in response.headerlist
                  if n == "Set-Cookie" and h.startswith(frontend.COOKIE))
    assert "Secure" in cookie
    assert "https://ticketfrei.example/signup/confirm?token=" in \
        relay.mails[0].get_payload(decode=True).decode()


def test_without_a_relay_the_mail_is_written_to_the_log_and_its_link_works(core_for, sqlite_url,
                                                                            caplog):
    settings, plugins, sessions = core_for(sqlite_url)
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins))
    with caplog.at_level("INFO", logger="mailer"):
        post(app, "/signup", {"city": "berlin", "email": "orga@berlin.example",
                              "password": "a good password"}, page_url="/signup")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "mailer")
    assert "no mail relay configured; mail to orga@berlin.example" in logged
    link = re.search(r"http://[^/\s]+(/signup/confirm\?token=\S+)", logged).group(1)
    confirm = app.get(link)
    app.post("/signup/confirm", {"token": confirm.form["token"].value, "csrf": csrf(confirm)},
             status=303)


def test_behind_a_trusted_proxy_failed_logins_count_per_forwarded_client(make_instance,
                                                                          monkeypatch):
    import urllib.error
    import urllib.parse
    import urllib.request
    from http.cookiejar import CookieJar

    monkeypatch.setenv("TICKETFREI_WEB_TRUSTED_PROXY", "*")
    instance = make_instance()
    instance.start()
    base = f"http://127.0.0.1:{instance.port}"

    def attempt(client, n):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        token = csrf_text(opener.open(base + "/login", timeout=10).read().decode())
        form = urllib.parse.urlencode({"csrf": token, "email": f"guess{n}@example.org",
                                       "password": "guess"}).encode()
        request = urllib.request.Request(base + "/login", form,
                                         headers={"X-Forwarded-For": client})
        try:
            return opener.open(request, timeout=10).status
        except urllib.error.HTTPError as error:
            return error.code

    assert [attempt("203.0.113.5", n) for n in range(user.FREE_FAILURES)] == [400] * 5
    assert attempt("203.0.113.5", 99) == 429
    assert attempt("203.0.113.6", 99) == 400


def csrf_text(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)
