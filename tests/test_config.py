"""Settings: embedded defaults, a TOML file, environment variables; a bad one stops start-up."""
import os
import subprocess
import sys

import pytest

import config
from instance import MAIN, TEST_PLUGINS


def run(*args, env=None, cwd=None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TICKETFREI_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, str(MAIN), *args], capture_output=True, text=True,
                          env=environ, cwd=cwd, timeout=60)


def test_embedded_defaults_match_the_design(tmp_path):
    settings = config.load(None, environ={})
    assert (settings.web.host, settings.web.port) == ("127.0.0.1", 8080)
    assert settings.web.base_url == "http://127.0.0.1:8080"
    assert settings.instance.data_dir == os.path.abspath("./data")
    assert settings.database.url == "sqlite:///" + os.path.abspath("./data/ticketfrei.sqlite")
    assert settings.mail.relay_host == ""  # outgoing mail goes to the log


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[web]\nport = 9000\nhost = "0.0.0.0"\n[plugins]\ndirs = ["/x"]\n')
    settings = config.load(str(path), environ={"TICKETFREI_WEB_PORT": "9100",
                                               "TICKETFREI_PLUGINS_DIRS": "/a, /b"})
    assert settings.web.port == 9100 and settings.web.host == "0.0.0.0"
    assert settings.plugins.dirs == ["/a", "/b"]


def test_config_file_can_be_named_by_the_environment(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text("[web]\nport = 9001\n")
    assert config.load(None, environ={"TICKETFREI_CONFIG": str(path)}).web.port == 9001


@pytest.mark.parametrize("env, message", [
    ({"TICKETFREI_WEB_PORT": "eighty"}, "bad setting web.port (from TICKETFREI_WEB_PORT)"),
    ({"TICKETFREI_WEB_PORT": "70000"}, "web.port"),
    ({"TICKETFREI_MAIL_RELAY_SECURITY": "ssl"}, "mail.relay_security"),
    ({"TICKETFREI_WEB_BASE_URL": "ftp://x"}, "web.base_url"),
    ({"TICKETFREI_DATABASE_URL": "mysql://x/y"}, "database.url"),
    ({"TICKETFREI_WEB_PROT": "1"}, "TICKETFREI_WEB_PROT"),
    ({"TICKETFREI_BOTS_TESTNET_POLL_INTERVAL": "soon",
      "TICKETFREI_PLUGINS_DIRS": str(TEST_PLUGINS)}, "bots.testnet.poll_interval"),
    ({"TICKETFREI_BOTS_NOSUCHBOT_KEY": "1"}, "TICKETFREI_BOTS_NOSUCHBOT_KEY"),
    ({"TICKETFREI_PLUGINS_DIRS": "/no/such/dir"}, "plugins.dirs"),
])
def test_bad_setting_stops_start_up_naming_it(tmp_path, env, message):
    result = run("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "data").exists()  # nothing started


@pytest.mark.parametrize("text, message", [
    ("[web]\nport = 'x'\n", "web.port"),
    ("[web]\nprot = 1\n", "unknown setting web.prot"),
    ("[webb]\nport = 1\n", "unknown section [webb]"),
    ("[web\nport = 1\n", "not valid TOML"),
    ("[bots.nosuchbot]\nkey = 1\n", "unknown section [bots.nosuchbot]"),
])
def test_bad_config_file_stops_start_up_naming_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = run("--config", str(path), "check-config", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


def test_missing_config_file_is_a_clear_error(tmp_path):
    result = run("--config", str(tmp_path / "nope.toml"), "check-config")
    assert result.returncode == 2 and "cannot read the configuration file" in result.stderr


def test_check_config_prints_effective_settings_with_secrets_masked(tmp_path):
    result = run("check-config", env={
        "TICKETFREI_MAIL_RELAY_PASSWORD": "hunter2",
        "TICKETFREI_DATABASE_URL": "postgresql://tf:s3cret@db.example/tf",
        "TICKETFREI_WEB_PORT": "8181"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout and "s3cret" not in result.stdout
    assert 'relay_password = "***"' in result.stdout
    assert 'url = "postgresql://tf:***@db.example/tf"' in result.stdout
    assert "port = 8181" in result.stdout


def test_check_config_masks_a_password_given_as_a_query_parameter(tmp_path):
    result = run("check-config", env={
        "TICKETFREI_DATABASE_URL": "postgresql://tf@db.example/tf?sslmode=require&password=s3cret"},
        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout
    assert 'url = "postgresql://tf@db.example/tf?sslmode=require&password=***"' in result.stdout


@pytest.mark.parametrize("url, hidden, shown", [
    ("postgresql://tf:s3cret@db.example/tf", ["s3cret"], "postgresql://tf:***@db.example/tf"),
    ("postgresql://tf@db/tf?password=s3cret", ["s3cret"], "postgresql://tf@db/tf?password=***"),
    ("postgresql://tf@db/tf?PassWord=s3cret", ["s3cret"], "postgresql://tf@db/tf?PassWord=***"),
    ("postgresql://tf:one@db/tf?sslmode=verify-full&sslpassword=two&password=three",
     ["one", "two", "three"],
     "postgresql://tf:***@db/tf?sslmode=verify-full&sslpassword=***&password=***"),
    ("postgresql://tf@db/tf?password=one&password=two", ["one", "two"],
     "postgresql://tf@db/tf?password=***&password=***"),
    # As SQLAlchemy reads it, the password runs up to the @: it may hold / ? and #.
    ("postgresql://tf:s3/cr?e#t@db.example/tf", ["s3", "cr", "e#t"],
     "postgresql://tf:***@db.example/tf"),
    ("postgresql://tf:p%40ss@db.example:5433/tf", ["p%40ss", "p@ss"],
     "postgresql://tf:***@db.example:5433/tf"),
    ("postgresql://:s3cret@db/tf", ["s3cret"], "postgresql://:***@db/tf"),
    # Not a URL SQLAlchemy reads (it cannot connect with it either): nothing but the scheme.
    ("postgresql://tf:s3cret@h1:5432,h2:5432/tf", ["s3cret", "h1"], "postgresql://***"),
    ("sqlite:////var/lib/ticketfrei/db.sqlite?timeout=5", [],
     "sqlite:////var/lib/ticketfrei/db.sqlite?timeout=5"),
])
def test_every_form_of_a_database_password_is_masked(url, hidden, shown):
    masked = config.mask_url(url)
    assert masked.startswith(shown)
    for text in hidden:
        assert text not in masked
