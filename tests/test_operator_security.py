"""The operator's side of the security review: reserved city names (no city receives the mail
of admin@ or postmaster@ of the domain), a private data directory, the administrator's block of
a city that its organisers cannot lift, and the signing secret made once at start-up."""
import json
import os
import re
import stat

import pytest
import webtest
from instance import wait_for

import censor
import db
import frontend
import user

# The review's list: RFC 2142's mailbox names, the names CAs mail for domain validation, the
# mail system's own, and paths of the web UI.
RESERVED = ["info", "marketing", "sales", "support", "abuse", "noc", "security", "postmaster",
            "hostmaster", "usenet", "news", "webmaster", "www", "uucp", "ftp",
            "admin", "administrator", "root", "noreply", "no-reply", "mailer-daemon",
            "static", "bots", "settings", "login", "signup", "reset", "account", "city"]


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --- 1. reserved names -------------------------------------------------------------------------

@pytest.mark.parametrize("name", RESERVED)
def test_reserved_names_cannot_be_taken(core_for, sqlite_url, name):
    _, _, sessions = core_for(sqlite_url)
    with sessions.begin() as session, pytest.raises(user.UserError, match="reserved"):
        user.create_city(session, name, "orga@example.org", "a good password")
    with sessions.begin() as session, pytest.raises(user.UserError, match="reserved"):
        user.create_city(session, name.upper(), "orga@example.org", "a good password")


def test_the_senders_name_and_the_operators_names_are_reserved(core_for, sqlite_url):
    _, _, sessions = core_for(sqlite_url, TICKETFREI_MAIL_SENDER="Ticketfrei <Alerts@x.example>",
                              TICKETFREI_INSTANCE_RESERVED_NAMES="ops, Presse")
    for name in ("alerts", "ops", "presse"):
        with sessions.begin() as session, pytest.raises(user.UserError, match="reserved"):
            user.create_city(session, name, f"orga@{name}.example", "a good password")
    with sessions.begin() as session:
        assert user.create_city(session, "berlin", "orga@berlin.example", "a good password")


def test_admin_command_refuses_reserved_names(make_instance):
    instance = make_instance(extra='[mail]\nsender = "tf@x.example"\n')
    config = instance.config.read_text().replace(
        "[instance]\n", '[instance]\nreserved_names = ["presse"]\n')
    instance.config.write_text(config)
    for name in ("admin", "postmaster", "tf", "presse"):
        result = instance.cli("city", "create", name, "--email", f"o@{name}.example",
                              "--password-stdin", input="a good password\n", check=False)
        assert result.returncode == 1 and "reserved" in result.stderr, (name, result.stderr)
    assert instance.cli("city", "list").stdout == ""


@pytest.fixture
def web(core_for, sqlite_url, relay):
    settings, plugins, sessions = core_for(
        sqlite_url, TICKETFREI_MAIL_RELAY_HOST="127.0.0.1",
        TICKETFREI_MAIL_RELAY_PORT=str(relay.port), TICKETFREI_MAIL_RELAY_SECURITY="none",
        TICKETFREI_PLUGINS_DISABLED="")
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins),
                          extra_environ={"REMOTE_ADDR": "192.0.2.7"})
    app.sessions, app.plugins, app.relay, app.settings = sessions, plugins, relay, settings
    return app


def _csrf(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_sign_up_refuses_a_reserved_name(web):
    page = web.get("/signup")
    answer = web.post("/signup", {"city": "Admin", "email": "ca@example.org",
                                  "password": "a good password", "csrf": _csrf(page)},
                      status=400)
    assert "reserved" in answer.text and not web.relay.mails


def test_every_path_of_the_web_ui_is_a_reserved_name(web):
    first = {route.rule.strip("/").split("/")[0] for route in web.app.routes}
    first.discard("")
    assert first and first <= user.RESERVED_NAMES, first - user.RESERVED_NAMES


def test_a_version_2_city_with_a_reserved_name_works_on_the_web_without_mail(web):
    from bots.mail.service import Inbox
    with web.sessions.begin() as session:
        # Made as version 2 made it: without today's check of the name.
        admin = user._create(session, "admin", "orga@admin.example",
                             user.hash_password("a good password"))
        berlin = user.create_city(session, "berlin", "orga@berlin.example", "a good password")
    web.get("/city/admin", status=200)
    with web.sessions() as session:
        assert user.find_city(session, "admin").reserved
        accounts = web.plugins["mail"].accounts(session)
        assert [a.city_id for a in accounts] == [berlin.id]
        assert web.plugins["mail"].accounts(session, admin.id) == []
        assert user.city_settings(session, admin.user_id)["reserved_name"] is True
        assert user.city_settings(session, berlin.user_id)["reserved_name"] is False
    inbox = Inbox(web.sessions, web.settings.bots.mail.domain)
    domain = web.settings.bots.mail.domain
    assert inbox._city_id(f"admin@{domain}") is None
    assert inbox._city_id(f"Admin@{domain}") is None
    assert inbox._city_id(f"berlin@{domain}") == berlin.id


def test_city_list_shows_a_reserved_name(make_instance):
    instance = make_instance()
    instance.create_city("berlin")
    instance.sql("UPDATE cities SET city = 'postmaster' WHERE city = 'berlin'")
    assert "postmaster\tenabled\tno mail address: its name is reserved" in \
        instance.cli("city", "list").stdout
    assert json.loads(instance.cli("city", "list", "--json").stdout)[0]["reserved"] is True


# --- 4. a private data directory ---------------------------------------------------------------

def test_data_directory_and_files_are_private(make_instance):
    instance = make_instance()
    instance.create_city("berlin")
    assert mode(instance.data) == 0o700
    assert mode(instance.data / "ticketfrei.sqlite") == 0o600
    instance.start()
    wait_for(lambda: "berlin/testnet:a" in instance.running_names(), 20, what="the bots")
    for name in ("ticketfrei.sqlite", "ticketfrei.sqlite-wal", "ticketfrei.sqlite-shm",
                 "ticketfrei.lock", "ticketfrei.pid"):
        assert mode(instance.data / name) == 0o600, name
    assert "go-rwx" not in instance.log()


def test_a_data_directory_open_to_others_is_warned_about(make_instance):
    instance = make_instance()
    instance.data.mkdir(mode=0o755)
    os.chmod(instance.data, 0o755)  # whatever the umask
    result = instance.cli("city", "list")
    assert str(instance.data) in result.stderr and "chmod -R go-rwx" in result.stderr
    instance.start()
    line = next(line for line in instance.log().splitlines() if "go-rwx" in line)
    assert "WARNING" in line and "[main]" in line and str(instance.data) in line
    instance.stop()
    os.chmod(instance.data, 0o700)
    assert "go-rwx" not in instance.cli("city", "list").stderr


# --- 7. the administrator's block --------------------------------------------------------------

def test_disable_blocks_with_a_reason_and_enable_lifts_it(make_instance):
    instance = make_instance()
    instance.create_city("berlin")
    out = instance.cli("city", "disable", "berlin", "--reason", "spam\tfrom here").stdout
    assert "city berlin disabled by the administrator" in out
    assert "berlin\tdisabled\tdisabled by the administrator: spam from here" in \
        instance.cli("city", "list").stdout
    [row] = json.loads(instance.cli("city", "list", "--json").stdout)
    assert (row["enabled"], row["switched_on"], row["blocked"], row["block_reason"]) == \
        (False, True, True, "spam\tfrom here")
    # The organisers' own switch, as the settings page works it, does not lift the block.
    instance.sql('UPDATE "user" SET enabled = 1')
    assert "berlin\tdisabled" in instance.cli("city", "list").stdout
    assert "city berlin enabled" in instance.cli("city", "enable", "berlin").stdout
    assert instance.cli("city", "list").stdout == "berlin\tenabled\n"


def test_enable_does_not_overrule_the_organisers_switch(make_instance):
    instance = make_instance()
    instance.create_city("berlin")
    instance.sql('UPDATE "user" SET enabled = 0')
    instance.cli("city", "disable", "berlin")
    assert "disabled by the administrator; switched off by its organisers" in \
        instance.cli("city", "list").stdout
    out = instance.cli("city", "enable", "berlin").stdout
    assert "its organisers switched berlin off" in out
    assert instance.cli("city", "list").stdout == \
        "berlin\tdisabled\tswitched off by its organisers\n"


def test_the_organisers_switch_cannot_lift_a_block(web):
    with web.sessions.begin() as session:
        city = user.create_city(session, "berlin", "orga@berlin.example", "a good password")
        user.set_city_blocked(session, "berlin", True, "abuse reports")
    login = web.get("/login")
    web.post("/login", {"email": "orga@berlin.example", "password": "a good password",
                        "csrf": _csrf(login)}, status=303)  # organisers still log in
    page = web.get("/settings")
    web.post("/settings/enabled", {"enabled": "1", "csrf": _csrf(page)})
    web.get("/city/berlin", status=404)
    assert "berlin" not in web.get("/").text.lower()
    with web.sessions() as session:
        assert not user.find_city(session, "berlin").enabled
        assert not user.list_cities(session, enabled_only=True)
        shown = user.city_settings(session, city.user_id)
        assert (shown["blocked"], shown["block_reason"]) == (True, "abuse reports")
        assert shown["enabled"] is True  # their switch is on: the block is what holds it
        rules, why = censor.city_rules(session, city.id)
        assert rules is None and why == "city is disabled"
    with web.sessions.begin() as session:
        user.set_city_blocked(session, "berlin", False)
    web.get("/city/berlin", status=200)


def test_a_blocked_citys_bots_stop_and_come_back(make_instance):
    instance = make_instance()
    instance.create_city("berlin")
    instance.create_city("hamburg")
    instance.start()
    bots = {"berlin/testnet:a", "berlin/testnet:b"}
    wait_for(lambda: bots <= instance.running_names(), 20, what="berlin's bots")
    assert "the running instance was told" in instance.cli("city", "disable", "berlin").stdout
    wait_for(lambda: not bots & instance.running_names(), 20, what="berlin's bots to stop")
    assert "hamburg/testnet:a" in instance.running_names()
    instance.cli("city", "enable", "berlin")
    wait_for(lambda: bots <= instance.running_names(), 20, what="berlin's bots again")


# --- 15. the signing secret ----------------------------------------------------------------------

def test_main_makes_the_signing_secret_before_any_child_starts(make_instance, monkeypatch):
    import main
    instance = make_instance()
    seen = []

    class NoChildren:
        """Stands in for the supervisor: what exists when the first child would start."""

        def __init__(self, settings, plugins, sessions):
            self.sessions = sessions

        def run(self):
            with self.sessions() as session:
                seen.append(session.query(db.Secret).count())
            return 0

    monkeypatch.setattr(main, "Supervisor", NoChildren)
    monkeypatch.setattr(main.process, "setup_logging", lambda *args: None)
    for _ in range(2):
        assert main.cli(["--config", str(instance.config), "run"]) == 0
    assert seen == [1, 1]  # made once, and kept


def test_loose_permissions_names_what_others_can_read(settings_for, tmp_path):
    import main
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chmod(elsewhere, 0o755)
    database = elsewhere / "tf.sqlite"
    database.write_bytes(b"")
    os.chmod(database, 0o644)
    settings, _ = settings_for(f"sqlite:///{database}")
    [warning] = main.loose_permissions(settings)
    assert str(database) in warning and "chmod go-rwx" in warning and "0644" in warning
    os.chmod(database, 0o600)
    assert main.loose_permissions(settings) == []
    os.chmod(database, 0o644)
    os.chmod(elsewhere, 0o700)  # a directory of its own keeps the file private
    assert main.loose_permissions(settings) == []
    # With PostgreSQL the data directory holds no data.
    settings, _ = settings_for("postgresql://tf@db.example/tf")
    os.makedirs(settings.instance.data_dir, mode=0o755)
    assert main.loose_permissions(settings) == []


def test_organisers_of_a_blocked_or_reserved_city_are_told_on_their_settings_page(
        core_for, sqlite_url, relay):
    from test_web import log_in, make_web, sign_up
    web = make_web(core_for, sqlite_url, relay)
    sign_up(web)
    log_in(web)
    with web.sessions.begin() as session:
        user.set_city_blocked(session, "berlin", True, "abuse reports")
    page = web.get("/settings")
    assert "disabled by the instance's administrator: abuse reports" in page.text
    with web.sessions.begin() as session:
        user.set_city_blocked(session, "berlin", False)
        # A version 2 city whose name is reserved now (written as version 2 would have).
        session.execute(db.City.__table__.update().values(city="postmaster"))
    page = web.get("/settings")
    assert "disabled by the instance's administrator" not in page.text
    assert "is reserved on this instance" in page.text
