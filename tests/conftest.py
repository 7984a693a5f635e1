"""Fixtures: databases (SQLite, and a throwaway PostgreSQL server the tests start themselves)
and running instances."""
from __future__ import annotations

import glob
import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from instance import Instance, Relay, TEST_PLUGINS, free_port  # noqa: E402


def _find_pg_ctl() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return found[-1] if found else shutil.which("pg_ctl")


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of our own for the whole run (pytest-postgresql's executor).

    PostgreSQL refuses to run as root, and CI runs as root: then pg_ctl runs as the
    `postgres` user (Debian's package creates it) through a small wrapper.
    """
    from pytest_postgresql.executors import PostgreSQLExecutor

    pg_ctl = _find_pg_ctl()
    if pg_ctl is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
        pytest.skip("PostgreSQL is not installed: apt-get install postgresql")
    base = Path(tempfile.mkdtemp(prefix="ticketfrei-pg-"))
    executable = pg_ctl
    if os.geteuid() == 0:
        import pwd
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        wrapper = base / "pg_ctl"
        wrapper.write_text(f'#!/bin/sh\nexec runuser -u postgres -- "{pg_ctl}" "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC | stat.S_IXOTH | stat.S_IROTH)
        executable = str(wrapper)
    port = free_port()
    executor = PostgreSQLExecutor(
        executable=executable, host="127.0.0.1", port=port, datadir=str(base / "data"),
        unixsocketdir=str(base), logfile=str(base / "postgresql.log"),
        startparams="-w", dbname="ticketfrei", user="postgres", timeout=120)
    executor.start()
    try:
        yield executor
    finally:
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)


_counter = iter(range(10**6))


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the test server."""
    name = f"test_{os.getpid()}_{next(_counter)}"
    admin = f"host=127.0.0.1 port={postgres_server.port} user=postgres dbname=postgres"
    for attempt in range(60):  # pg_ctl -w may return before the server takes connections
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            break
        except psycopg.OperationalError:
            if attempt == 59:
                raise
            time.sleep(0.5)
    yield f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def relay():
    """A running SMTP relay that keeps every mail it is handed."""
    with Relay() as relay:
        yield relay


@pytest.fixture
def picky_relay():
    """A relay that refuses bounce* addresses for good and later* ones twice for now."""
    from test_mail import PickyRelay
    with PickyRelay() as relay:
        yield relay


@pytest.fixture
def city_with_mail(make_instance, picky_relay):
    """A running instance with berlin and hamburg, their mail bots and the SMTP service."""
    from test_mail import start_with_mail
    return start_with_mail(make_instance, picky_relay)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/ticketfrei.sqlite"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ticketfrei.sqlite"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def make_instance(tmp_path):
    """Instances (real main.py processes) that are stopped, or killed, after the test."""
    made = []

    def make(name="instance", **kwargs) -> Instance:
        instance = Instance(tmp_path / name, **kwargs)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.close()


@pytest.fixture
def settings_for(tmp_path):
    """Settings objects as main builds them, for tests that call core modules directly."""
    import main

    def build(database_url: str, **env):
        environ = {"TICKETFREI_INSTANCE_DATA_DIR": str(tmp_path / "data"),
                   "TICKETFREI_DATABASE_URL": database_url,
                   "TICKETFREI_PLUGINS_DIRS": str(TEST_PLUGINS),
                   "TICKETFREI_PLUGINS_DISABLED": "mail", **env}
        old = dict(os.environ)
        os.environ.update(environ)
        try:
            return main.load_settings(None)
        finally:
            os.environ.clear()
            os.environ.update(old)

    return build


@pytest.fixture
def core_for(settings_for):
    """(settings, plugins, sessions) on a database with the schema made: the core's modules
    called directly, without processes."""
    import db
    made = []

    def build(database_url: str, **env):
        settings, plugins = settings_for(database_url, **env)
        sessions = db.open_sessions(settings, create=True)
        made.append(sessions)
        return settings, plugins, sessions

    yield build
    for sessions in made:
        sessions.kw["bind"].dispose()


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes():
    """argon2id with the least work in the test process: each hash and check costs ~1 ms
    instead of ~100 ms (thousands are made: every test city's organiser, every login). The
    same code path and format; instances started by the tests (their own processes) keep the
    real cost, verify these hashes as any other and store new ones at the real cost."""
    import argon2
    import user
    real = user._hasher
    user._hasher = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    user._hasher = real


@pytest.fixture
def real_password_hashes():
    """The real argon2id cost, for tests that compare answer times: the answers are made
    equal by it (a sign-up for a known address hashes as much as one for a new address)."""
    import argon2
    import user
    cheap = user._hasher
    user._hasher = argon2.PasswordHasher()
    yield
    user._hasher = cheap
