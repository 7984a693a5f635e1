"""The public pages of the minimal frontend, through the WSGI app (the full web UI is its own
issue): landing page, city page, unknown city, headers, a bot's web UI mounted."""
from html.parser import HTMLParser

import pytest
import webtest

import db
import frontend
import user


@pytest.fixture
def site(core_for, sqlite_url):
    settings, plugins, sessions = core_for(sqlite_url)
    app = webtest.TestApp(frontend.with_errors_logged(frontend.make_app(settings, sessions, plugins)))
    return app, sessions


def add_city(sessions, name, markdown="", enabled=True):
    with sessions.begin() as session:
        city = user.create_city(session, name, f"orga@{name}.example", "a good password")
        session.get(db.City, city.id).markdown = markdown
        if not enabled:
            user.set_city_enabled(session, name, False)


def test_landing_page_lists_enabled_cities(site):
    app, sessions = site
    add_city(sessions, "berlin")
    add_city(sessions, "hamburg", enabled=False)
    page = app.get("/")
    assert 'href="/city/berlin"' in page.text and "hamburg" not in page.text.lower()


def test_city_page_shows_the_organisers_markdown(site):
    app, sessions = site
    add_city(sessions, "berlin", "# Ticketfrei Berlin\n\nSchreibt *uns*.")
    page = app.get("/city/berlin")
    assert "<h1>Ticketfrei Berlin</h1>" in page.text and "<em>uns</em>" in page.text


class Elements(HTMLParser):
    """The elements and attributes a browser would see in a page."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.attributes = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)


def test_markdown_cannot_bring_script_to_a_visitor(site):
    app, sessions = site
    add_city(sessions, "berlin", '<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n'
                                 '<img src=x onerror=alert(1)>\n\n[ok](https://example.org)')
    page = Elements(app.get("/city/berlin").text)
    assert "script" not in page.tags and "img" not in page.tags
    assert not [name for name, _ in page.attributes if name.startswith("on")]
    links = [value for name, value in page.attributes if name == "href"]
    assert "https://example.org" in links
    assert not [link for link in links if link.strip().lower().startswith("javascript")]


def test_unknown_city_gets_a_404_page(site):
    app, _ = site
    page = app.get("/city/atlantis", status=404)
    assert "There is no city" in page.text and "atlantis" in page.text


def test_disabled_city_is_not_served(site):
    app, sessions = site
    add_city(sessions, "hamburg", enabled=False)
    app.get("/city/hamburg", status=404)


def test_pages_carry_security_headers(site):
    app, _ = site
    headers = app.get("/").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"


def test_a_bots_web_ui_is_mounted_under_its_name(site):
    app, _ = site
    assert app.get("/bots/testnet/").text == "testnet web UI\n"


def test_a_failing_request_is_logged_on_one_line(caplog):
    import bottle
    import logging

    import process

    broken = bottle.Bottle()

    @broken.get("/")
    def fail():
        raise RuntimeError("boom")

    webtest.TestApp(frontend.with_errors_logged(broken)).get("/", status=500)
    record = next(r for r in caplog.records if "RuntimeError: boom" in r.getMessage())
    line = process._OneLine(process.LOG_FORMAT).format(
        logging.makeLogRecord({**record.__dict__, "procname": "frontend"}))
    assert "\n" not in line and "Traceback" in line and "[frontend]" in line
