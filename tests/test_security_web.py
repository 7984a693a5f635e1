"""The web UI's answers to a security review, each finding shown on the WSGI app (or on
waitress) as it was reproduced: answers whose time told which addresses have an account,
lockouts that never ended, lost counts under parallel requests, mail floods, password guessing
from a stolen session, mails without Auto-Submitted, token pages in caches, bodies of any
size, and parallel first requests that made two signing secrets."""
import asyncio
import io
import socket
import statistics
import threading
import time
from types import SimpleNamespace

import pytest
import webtest
from sqlalchemy import func, select
from webtest.http import StopableWSGIServer

import db
import frontend
import mailer
import user
from instance import Relay, free_port, wait_for
from test_web import csrf, log_in, make_web, post, sign_up

PASSWORD = "a good password"


@pytest.fixture
def web(core_for, database_url, relay):
    return make_web(core_for, database_url, relay)


def browser(app, client: str) -> webtest.TestApp:
    """A browser of its own (cookies) at a client address of its own."""
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": client})


def ask(app, url: str, fields: dict, client: str, page_url: str):
    """Submit a form from a fresh browser at `client`; any status is an answer."""
    visitor = browser(app, client)
    return visitor.post(url, {**fields, "csrf": csrf(visitor.get(page_url))}, status="*")


def sent(app, to: str | None = None) -> list:
    """The mails the relay got (to `to`), once the outbox has sent what it queued."""
    frontend.site.outbox.join()
    return [m for m in app.relay.mails if to is None or m["To"] == to]


def add_account(sessions, city: str, email: str) -> None:
    with sessions.begin() as session:
        user.create_city(session, city, email, PASSWORD)


def failures(sessions, key: str) -> int | None:
    with sessions() as session:
        row = session.get(db.LoginFailure, key)
        return None if row is None else row.failures


def set_failures(sessions, key: str, count: int, ago: float = 0.0) -> None:
    with sessions.begin() as session:
        row = session.get(db.LoginFailure, key) or db.LoginFailure(key=key)
        row.failures, row.last_at = count, time.time() - ago
        session.add(row)


# --- 2: no answer tells, by its time, whether an address has an account ------------------------

def timed_signup(app, email: str, city: str, client: str) -> float:
    visitor = browser(app, client)
    token = csrf(visitor.get("/signup"))
    start = time.perf_counter()
    page = visitor.post("/signup", {"city": city, "email": email, "password": PASSWORD,
                                    "csrf": token})
    took = time.perf_counter() - start
    assert "Check your mail" in page.text
    return took


@pytest.mark.usefixtures("real_password_hashes")
def test_signup_takes_as_long_for_an_address_with_an_account_as_for_a_new_one(web):
    for n in range(5):
        add_account(web.sessions, f"known{n}", f"known{n}@example.org")
    timed_signup(web.app, "warm@example.org", "warm-up", "198.51.100.200")
    known, new = [], []
    for n in range(5):  # alternating, so that a slow moment of the machine hits both
        known.append(timed_signup(web.app, f"known{n}@example.org", f"other{n}",
                                  f"198.51.100.{n}"))
        new.append(timed_signup(web.app, f"new{n}@example.org", f"new{n}", f"198.51.100.{50 + n}"))
    known_ms, new_ms = statistics.median(known) * 1000, statistics.median(new) * 1000
    print(f"\nsign-up answer, median of 5: address with an account {known_ms:.0f} ms, "
          f"new address {new_ms:.0f} ms")
    assert abs(known_ms - new_ms) < 0.5 * max(known_ms, new_ms)
    assert len(sent(web)) == 11  # a link or a notice for each


class SlowRelay(Relay):
    """A relay that takes `delay` seconds to accept each mail."""

    delay = 3.0

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def test_reset_answers_without_waiting_for_the_relay(core_for, sqlite_url):
    with SlowRelay() as relay:
        settings, plugins, sessions = core_for(
            sqlite_url, TICKETFREI_MAIL_RELAY_HOST="127.0.0.1",
            TICKETFREI_MAIL_RELAY_PORT=str(relay.port), TICKETFREI_MAIL_RELAY_SECURITY="none")
        app = webtest.TestApp(frontend.make_app(settings, sessions, plugins))
        add_account(sessions, "berlin", "orga@berlin.example")
        token = csrf(app.get("/reset"))
        start = time.perf_counter()
        page = app.post("/reset", {"email": "orga@berlin.example", "csrf": token})
        took = time.perf_counter() - start
        print(f"\n/reset for an account, relay taking {relay.delay:.0f} s: answered in "
              f"{took * 1000:.0f} ms")
        assert "If this address has an account" in page.text and took < 1.0
        frontend.site.outbox.join()
        assert [m["To"] for m in relay.mails] == ["orga@berlin.example"]


class RefusingOnceRelay(Relay):
    """A relay that refuses the first mail for now (451), then takes every mail."""

    refused = False

    async def handle_DATA(self, server, session, envelope):
        if not self.refused:
            self.refused = True
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


def test_outbox_tries_a_mail_again_that_the_relay_refused_for_now():
    with RefusingOnceRelay() as relay:
        settings = SimpleNamespace(
            instance=SimpleNamespace(name="Ticketfrei"),
            mail=SimpleNamespace(sender="ticketfrei@example.org", relay_host="127.0.0.1",
                                 relay_port=relay.port, relay_security="none", relay_user="",
                                 relay_password="", relay_ca_file=""))
        outbox = mailer.Outbox(settings, retry_delays=(0.1,))
        assert outbox.put(mailer.message(settings, "orga@example.org", "Hallo", "Text"))
        outbox.join()
        assert relay.refused and [m["Subject"] for m in relay.mails] == ["Hallo"]


# --- 5: failure counts decay, and nobody can keep an owner out ---------------------------------

def test_failure_counts_halve_with_each_quiet_hour(web):
    add_account(web.sessions, "berlin", "orga@berlin.example")
    set_failures(web.sessions, "email:orga@berlin.example", 40, ago=2 * 3600 + 60)
    log_in(web, password="wrong password", status=400)
    assert failures(web.sessions, "email:orga@berlin.example") == 40 // 4 + 1


def test_the_owner_gets_in_while_someone_keeps_failing_on_the_account_from_elsewhere(web):
    add_account(web.sessions, "berlin", "orga@berlin.example")
    attacker = browser(web.app, "203.0.113.66")
    # One wrong try every quarter of an hour for days: both counts at their top, and the last
    # failure a moment ago.
    set_failures(web.sessions, "email:orga@berlin.example", user.MAX_FAILURES)
    set_failures(web.sessions, "addr:203.0.113.66", user.MAX_FAILURES)
    log_in(attacker, status=429)
    # A client without failures of its own gets one try a minute at the account...
    log_in(browser(web.app, "192.0.2.40"), password="a guess", status=400)
    owner = browser(web.app, "192.0.2.50")
    assert "try again in 1 minute" in log_in(owner, status=429).text
    with web.sessions.begin() as session:  # ... the minute passes
        for row in session.scalars(select(db.RateLimit)):
            row.window_start -= user.SLOW_LANE + 1
    log_in(owner)
    assert failures(web.sessions, "email:orga@berlin.example") is None  # the count is cleared
    log_in(attacker, status=429)  # the attacker's own count still holds it back


def test_a_password_reset_clears_the_accounts_failure_count(web):
    add_account(web.sessions, "berlin", "orga@berlin.example")
    set_failures(web.sessions, "email:orga@berlin.example", user.MAX_FAILURES)
    post(web, "/reset", {"email": "orga@berlin.example"}, page_url="/reset")
    form_page = web.get(web.relay.link("/reset/confirm"))
    web.post("/reset/confirm", {"token": form_page.form["token"].value, "csrf": csrf(form_page),
                                "password": "a new password"}, status=303)
    assert failures(web.sessions, "email:orga@berlin.example") is None
    log_in(browser(web.app, "192.0.2.77"), password="a new password")


# --- 6: parallel attempts each count -------------------------------------------------------------

def test_parallel_wrong_passwords_each_count_before_the_password_is_checked(web):
    add_account(web.sessions, "berlin", "orga@berlin.example")
    browsers = [browser(web.app, "203.0.113.9") for _ in range(8)]
    tokens = [csrf(b.get("/login")) for b in browsers]
    start, statuses = threading.Barrier(len(browsers)), [None] * len(browsers)

    def attempt(n):
        start.wait()
        statuses[n] = browsers[n].post("/login", {"email": "orga@berlin.example",
                                                  "password": "a guess", "csrf": tokens[n]},
                                       status="*").status_int

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checked = statuses.count(400)
    counted = failures(web.sessions, "email:orga@berlin.example")
    print(f"\n8 parallel wrong passwords: {checked} checked, {counted} counted, "
          f"{statuses.count(429)} throttled")
    assert set(statuses) <= {400, 429}
    assert checked == user.FREE_FAILURES and counted == checked
    assert failures(web.sessions, "addr:203.0.113.9") == checked


# --- 8: mail anyone can make us send is limited -------------------------------------------------

def test_mails_to_one_address_are_limited_whether_or_not_it_has_an_account(web):
    add_account(web.sessions, "berlin", "orga@berlin.example")
    answers = {}
    for address in ("orga@berlin.example", "nobody@example.org"):
        answers[address] = [
            ask(web.app, "/signup", {"city": f"city{n}", "email": address, "password": PASSWORD},
                f"198.51.100.{n}", "/signup") for n in range(5)] + [
            ask(web.app, "/reset", {"email": address}, f"198.51.100.{10 + n}", "/reset")
            for n in range(5)]
        assert len(sent(web, to=address)) == user.ACCOUNT_MAILS_TO[0][0]
    known, unknown = answers.values()
    assert [a.status_int for a in known] == [a.status_int for a in unknown] == \
        [200] * user.ACCOUNT_MAILS_TO[0][0] + [429] * 7
    refused = known[-1]
    assert "too many mails" in refused.text.lower() and refused.headers["Retry-After"]
    assert refused.text == unknown[-1].text


def test_one_client_can_ask_for_a_few_mails_only(web):
    statuses = [ask(web.app, "/signup", {"city": f"city{n}", "email": f"orga{n}@example.org",
                                         "password": PASSWORD}, "203.0.113.7", "/signup").status_int
                for n in range(10)]
    allowed = user.ACCOUNT_MAILS_FROM[0][0]
    assert statuses == [200] * allowed + [429] * (10 - allowed)
    assert ask(web.app, "/reset", {"email": "a@example.org"}, "203.0.113.7", "/reset"
               ).status_int == 429
    assert len(sent(web)) == allowed
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(db.PendingSignup)) == allowed
    # A client of IPv6 is its /64: a new address in it is no new client.
    v6 = [ask(web.app, "/reset", {"email": f"x{n}@example.org"}, f"2001:db8:1:2::{n}",
              "/reset").status_int for n in range(allowed + 1)]
    assert v6 == [200] * allowed + [429]


def test_expired_signups_spent_limits_and_decayed_counts_are_purged(web):
    now = time.time()
    with web.sessions.begin() as session:
        for name, age in (("old", user.SIGNUP_TTL + 60), ("fresh", 60)):
            session.add(db.PendingSignup(email=f"{name}@example.org", city=name, passhash="x",
                                         nonce="n", created_at=now - age))
        session.add(db.RateLimit(key="old", count=3, window_start=now - user.RATE_WINDOW_MAX - 60))
        session.add(db.RateLimit(key="fresh", count=3, window_start=now - 60))
        session.add(db.LoginFailure(key="email:old", failures=user.MAX_FAILURES,
                                    last_at=now - 6 * user.FAILURES_DECAY - 60))
        session.add(db.LoginFailure(key="addr:none", failures=0, last_at=now))
        session.add(db.LoginFailure(key="email:fresh", failures=3, last_at=now - 60))
    with web.sessions.begin() as session:
        user.purge_expired(session)
    with web.sessions() as session:
        assert [r.city for r in session.scalars(select(db.PendingSignup))] == ["fresh"]
        assert [r.key for r in session.scalars(select(db.RateLimit))] == ["fresh"]
        assert [r.key for r in session.scalars(select(db.LoginFailure))] == ["email:fresh"]


def test_the_frontend_purges_now_and_then(web):
    with web.sessions.begin() as session:
        session.add(db.PendingSignup(email="old@example.org", city="old", passhash="x", nonce="n",
                                     created_at=time.time() - user.SIGNUP_TTL - 60))
    stop = threading.Event()
    purging = threading.Thread(target=frontend.purge_now_and_then,
                               args=(web.sessions, 0.05, stop))  # every PURGE_INTERVAL in fact
    purging.start()

    def purged():
        with web.sessions() as session:
            return session.scalar(select(func.count()).select_from(db.PendingSignup)) == 0

    try:
        wait_for(purged, 10, what="the expired sign-up to be purged")
    finally:
        stop.set()
        purging.join()


def test_parallel_first_uses_of_a_rate_limit_cannot_pass_it(web):
    start, results = threading.Barrier(8), []

    def use():
        start.wait()
        with web.sessions.begin() as session:
            results.append(user.allow(session, "test:parallel", 3, 60))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True] * 3


# --- 9: a stolen session is no faster way to guess the password --------------------------------

@pytest.mark.parametrize("url, fields", [
    ("/account/password", lambda password: {"old": password, "new": "another password"}),
    ("/account/delete", lambda password: {"password": password, "confirm": "yes"}),
])
def test_password_checks_of_a_logged_in_organiser_are_throttled_like_logins(web, url, fields):
    sign_up(web)
    token = csrf(web.get("/account"))
    statuses = [web.post(url, {**fields(f"guess {n}"), "csrf": token}, status="*").status_int
                for n in range(10)]
    assert statuses == [400] * user.FREE_FAILURES + [429] * (10 - user.FREE_FAILURES)
    right = web.post(url, {**fields(PASSWORD), "csrf": token}, status=429)
    assert "too many failed" in right.text and right.headers["Retry-After"]
    with web.sessions() as session:
        account = session.scalars(select(db.User)).one()
        assert user.verify_password(account.passhash, PASSWORD)  # nothing changed
    with web.sessions.begin() as session:  # the waiting time passes
        for row in session.scalars(select(db.LoginFailure)):
            row.last_at -= user.MAX_LOGIN_WAIT + 1
    web.post(url, {**fields(PASSWORD), "csrf": token}, status=200)
    assert failures(web.sessions, "email:orga@berlin.example") is None


# --- 12: the instance's own mails are automatic ------------------------------------------------

def test_every_mail_of_the_instance_says_it_is_auto_generated(web):
    settings = frontend.site.settings
    plain = mailer.message(settings, "a@example.org", "Hallo", "Text")
    listed = mailer.message(settings, "a@example.org", "Hallo", "Text",
                            headers={"Auto-Submitted": "auto-generated", "Precedence": "list"})
    other = mailer.message(settings, "a@example.org", "Hallo", "Text",
                           headers={"auto-submitted": "auto-replied"})
    assert plain.get_all("Auto-Submitted") == listed.get_all("Auto-Submitted") == \
        ["auto-generated"]
    assert other.get_all("Auto-Submitted") == ["auto-replied"]
    sign_up(web)
    assert sent(web)[-1].get_all("Auto-Submitted") == ["auto-generated"]


# --- 13: pages with tokens stay out of caches ---------------------------------------------------

def test_pages_reached_by_a_token_link_are_not_stored(web):
    add_account(web.sessions, "hamburg", "orga@hamburg.example")
    post(web, "/signup", {"city": "berlin", "email": "orga@berlin.example", "password": PASSWORD},
         page_url="/signup")
    signup_link = web.relay.link("/signup/confirm")
    post(web, "/reset", {"email": "orga@hamburg.example"}, page_url="/reset")
    for url in (signup_link, web.relay.link("/reset/confirm"),
                "/reset/confirm?token=forged.AAAA", "/signup", "/login", "/reset"):
        response = web.get(url, status="*")
        assert response.headers.get("Cache-Control") == "no-store", url


# --- 14: bodies no larger than the largest form --------------------------------------------------

class Untouchable(io.RawIOBase):
    """A request body that must not be read."""

    def readinto(self, buffer):
        raise AssertionError("the body was read")


def test_a_body_larger_than_any_form_is_refused_before_it_is_read(web):
    request = webtest.TestRequest.blank("/signup", method="POST")
    request.environ.update({"CONTENT_TYPE": "multipart/form-data; boundary=x",
                            "CONTENT_LENGTH": str(3 * 1024 * 1024),
                            "wsgi.input": Untouchable(), "REMOTE_ADDR": "192.0.2.1"})
    response = request.get_response(web.app)
    assert response.status_int == 413 and "too large" in response.text


def test_a_3_mb_page_text_sent_as_multipart_is_refused_and_the_text_kept(web):
    sign_up(web)
    token = csrf(web.get("/settings"))
    web.post("/settings/texts", {"markdown": "# Berlin", "action": "save", "csrf": token})
    web.post("/settings/texts", {"markdown": "x" * 3_000_000, "action": "save", "csrf": token},
             content_type="multipart/form-data", status=413)
    with web.sessions() as session:
        assert session.scalars(select(db.City)).one().markdown == "# Berlin"


def test_a_file_sent_where_text_is_expected_is_refused(web):
    sign_up(web)
    token = csrf(web.get("/settings"))
    web.post("/settings/texts", {"markdown": "# Berlin", "action": "save", "csrf": token})
    page = web.post("/settings/texts", {"action": "save", "csrf": token},
                    upload_files=[("markdown", "page.md", b"# Hallo")], status=400)
    assert "must be text, not a file" in page.text
    with web.sessions() as session:
        assert session.scalars(select(db.City)).one().markdown == "# Berlin"


def test_waitress_refuses_a_large_body_before_it_is_sent(core_for, sqlite_url):
    settings, plugins, sessions = core_for(sqlite_url)
    options = frontend.waitress_options(settings)
    options.pop("_quiet")  # an argument of waitress.serve only
    options.update(host="127.0.0.1", port=free_port())
    # webtest's waitress server, which can be stopped, with the frontend's options
    server = StopableWSGIServer.create(frontend.make_app(settings, sessions, plugins), **options)
    try:
        assert server.wait()
        with socket.create_connection(("127.0.0.1", options["port"]), timeout=5) as client:
            client.sendall(b"POST /signup HTTP/1.1\r\nHost: localhost\r\n"
                           b"Content-Type: application/x-www-form-urlencoded\r\n"
                           b"Content-Length: 3000000\r\n\r\n")  # and not a byte of the body
            answer = client.recv(200)
        assert answer.startswith(b"HTTP/1.1 413")
    finally:
        server.shutdown()


# --- 15: one signing secret, made before the first request -------------------------------------

def test_parallel_first_requests_to_a_fresh_instance_agree_on_the_secret(core_for,
                                                                          database_url):
    settings, plugins, sessions = core_for(database_url)
    app = frontend.make_app(settings, sessions, plugins)
    start, statuses = threading.Barrier(8), []

    def first_visit(n):
        visitor = browser(app, f"198.51.100.{n}")
        start.wait()
        token = csrf(visitor.get("/login"))
        statuses.append(visitor.post("/login", {"email": f"x{n}@example.org",
                                                "password": "x", "csrf": token},
                                     status="*").status_int)

    threads = [threading.Thread(target=first_visit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [400] * 8
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(db.Secret)) == 1


def test_parallel_first_calls_make_one_instance_secret(core_for, database_url):
    _, _, sessions = core_for(database_url)
    start, made = threading.Barrier(8), []

    def first_call():
        start.wait()
        with sessions.begin() as session:
            made.append(user.instance_secret(session))

    threads = [threading.Thread(target=first_call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 8 and len(set(made)) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(db.Secret)) == 1


def test_a_version_2_secret_is_kept(core_for, sqlite_url):
    _, _, sessions = core_for(sqlite_url)
    with sessions.begin() as session:
        session.add(db.Secret(id=7, secret=b"version 2's secret"))
    with sessions.begin() as session:
        assert user.ensure_instance_secret(session) == b"version 2's secret"
        assert user.instance_secret(session) == b"version 2's secret"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(db.Secret)) == 1
