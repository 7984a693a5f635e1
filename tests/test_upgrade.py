"""The way back to version 2 stays open: `ticketfrei backup` takes a consistent copy while the
instance runs, and version 2's password hashes are kept until `ticketfrei upgrade --finish`."""
import base64
import hashlib
import hmac
import sqlite3
import threading
import time

import webtest

import frontend
import main
from instance import wait_for
from test_v2_database import make_v2_database
from test_web import csrf


def v2_checks(passhash: str, password: str) -> bool:
    """Version 2's check (pylibscrypt's scrypt_mcf_check) of a `$s1$` hash, written apart from
    ours: this is what version 2 does when it logs an organiser in."""
    if not passhash.startswith("$s1$"):
        return False  # version 2 answers other hashes with an error (a 500)
    _, _, params, salt, key = passhash.split("$")
    key = base64.b64decode(key)
    derived = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt),
                             n=2 ** int(params[:2], 16), r=int(params[2:4], 16),
                             p=int(params[4:6], 16), dklen=len(key))
    return hmac.compare_digest(derived, key)


def stored_hash(path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute('SELECT passhash FROM "user" WHERE id = 1').fetchone()[0]


def log_in(app, password):
    return app.post("/login", {"email": "orga@nbg.example", "password": password,
                               "csrf": csrf(app.get("/login"))}, status=303)


def test_version_2_hash_is_kept_until_the_upgrade_is_made_final(core_for, tmp_path, monkeypatch,
                                                                capsys):
    path = tmp_path / "ticketfrei.sqlite"
    make_v2_database(path, password="v2 password")
    settings, plugins, sessions = core_for(f"sqlite:///{path}")
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins),
                          extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    log_in(app, "v2 password")
    assert v2_checks(stored_hash(path), "v2 password")  # version 2 still logs this one in
    # A password changed before the upgrade is final is stored so that version 2 reads it.
    page = app.get("/account")
    assert "password is changed" in app.post("/account/password", {
        "old": "v2 password", "new": "a new password", "csrf": csrf(page)}).text
    assert v2_checks(stored_hash(path), "a new password")

    monkeypatch.setenv("TICKETFREI_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("TICKETFREI_INSTANCE_DATA_DIR", str(tmp_path / "data"))
    assert main.cli(["upgrade"]) == 0
    told = capsys.readouterr().out
    assert "with a version 2 password hash: 1" in told and "is not final" in told
    assert main.cli(["upgrade", "--finish"]) == 0
    told = capsys.readouterr().out
    assert "version 2 cannot read" in told and "is final" in told
    app.reset()
    log_in(app, "a new password")
    assert stored_hash(path).startswith("$argon2id$")
    assert not v2_checks(stored_hash(path), "a new password")
    assert main.cli(["upgrade", "--finish"]) == 0
    assert "was made final before" in capsys.readouterr().out


def test_backup_of_a_version_2_database_changes_nothing_in_it(tmp_path, monkeypatch, capsys):
    path = tmp_path / "v2.sqlite"
    schema = make_v2_database(path)
    before = path.read_bytes()
    monkeypatch.setenv("TICKETFREI_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("TICKETFREI_INSTANCE_DATA_DIR", str(tmp_path / "data"))
    assert main.cli(["backup", str(tmp_path)]) == 0  # a directory: named by the time
    assert "1 cities" in capsys.readouterr().out
    assert path.read_bytes() == before and not (tmp_path / "data").exists()
    copy, = tmp_path.glob("ticketfrei-*.sqlite")
    with sqlite3.connect(copy) as conn:
        assert dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")) \
            == schema
    assert copy.stat().st_mode & 0o077 == 0  # it holds password hashes and the secret
    assert main.cli(["backup", str(copy)]) == 1  # an existing file is kept …
    assert "--force" in capsys.readouterr().err
    assert main.cli(["backup", str(copy), "--force"]) == 0  # … unless told
    assert main.cli(["backup", str(path), "--force"]) == 1  # never onto the database itself
    assert "is the database itself" in capsys.readouterr().err
    monkeypatch.setenv("TICKETFREI_DATABASE_URL", "postgresql://ticketfrei@localhost/tf")
    assert main.cli(["backup", str(tmp_path)]) == 2
    assert "pg_dump" in capsys.readouterr().err


def test_backup_while_reports_stream_in_is_consistent_and_opens(make_instance):
    instance = make_instance()
    cities = [instance.create_city(name) for name in ("berlin", "hamburg")]
    instance.start()
    wait_for(lambda: len(instance.running_names()) >= 4, 30, what="the bots")
    sent, stop = [], threading.Event()

    def stream():
        n = 0
        while not stop.is_set():
            text = f"Kontrolle U{n % 9 + 1} Nummer {n}"
            instance.send(cities[n % 2], "a", text)
            sent.append(text)
            n += 1
            time.sleep(0.03)

    sender = threading.Thread(target=stream)
    sender.start()
    try:
        wait_for(lambda: len(instance.posted()) >= 20, 30, what="reports relayed")
        copy = instance.dir / "backup.sqlite"
        told = instance.cli("backup", str(copy)).stdout
        time.sleep(1)
    finally:
        stop.set()
        sender.join()
    assert "the copy checks out" in told
    wait_for(lambda: len(instance.posted()) == len(sent), 60, what="every report relayed")
    live = {text for _, _, text, _ in instance.posted()}
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        reports = dict(conn.execute("SELECT id, text FROM reports"))
        # One moment of the database: every delivery's report is in the copy with it.
        orphans = conn.execute("SELECT count(*) FROM deliveries WHERE report_id NOT IN "
                               "(SELECT id FROM reports)").fetchone()[0]
    assert 0 < len(reports) < len(sent) and orphans == 0
    assert set(reports.values()) <= live
    print(f"\nbackup during a stream: {len(reports)} of {len(sent)} reports in the copy")


def test_upgrade_status_reads_a_version_2_database_without_changing_it(tmp_path, monkeypatch,
                                                                       capsys):
    path = tmp_path / "v2.sqlite"
    make_v2_database(path)
    before = path.read_bytes()
    monkeypatch.setenv("TICKETFREI_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("TICKETFREI_INSTANCE_DATA_DIR", str(tmp_path / "data"))
    assert main.cli(["upgrade"]) == 0
    told = capsys.readouterr().out
    assert "version 3 has not opened this database yet" in told and "hash: 1" in told
    assert path.read_bytes() == before and not (tmp_path / "data").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v2.sqlite"]  # no -wal, no -shm


def test_backup_never_writes_onto_the_database_behind_a_symlink(tmp_path, monkeypatch, capsys):
    real = tmp_path / "real.sqlite"
    make_v2_database(real)
    (tmp_path / "ticketfrei.sqlite").symlink_to(real)
    monkeypatch.setenv("TICKETFREI_DATABASE_URL", f"sqlite:///{tmp_path}/ticketfrei.sqlite")
    for target in ("real.sqlite-wal", "real.sqlite", "real.sqlite-shm"):
        assert main.cli(["backup", str(tmp_path / target), "--force"]) == 1
        assert "is the database itself" in capsys.readouterr().err
    assert main.cli(["backup", str(tmp_path / "nowhere" / "copy.sqlite")]) == 1
    assert "cannot write the copy into" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*partial"))
