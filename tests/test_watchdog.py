"""Heartbeats that prove service: the frontend beats only when its own /healthz answers, the
SMTP service only when an SMTP round trip to itself succeeds. So a frontend or SMTP service
that stops answering (stopped, deadlocked, its event loop stuck) is killed by main and
restarted (main.py Supervisor.tick), and answers again."""
import os
import signal
import socket
import threading
import time
import urllib.request
from contextlib import contextmanager
from types import SimpleNamespace

import psutil

from instance import free_port, smtp_greets, wait_for

TIMEOUT = 3.0  # supervisor.heartbeat_timeout of these instances


def healthz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return answer.status == 200 and answer.read() == b"ok\n"
    except OSError:
        return False




@contextmanager
def stopped(pid: int):
    """SIGSTOP the process; SIGCONT it afterwards should it still exist (a failed test)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def restarted_for_no_heartbeat(instance, name: str, old_pid: int) -> dict:
    """Wait until `name` runs with a new pid and shows the missing heartbeat as its error."""
    row = wait_for(lambda: (r := instance.row(name)) and r["pid"] not in (None, old_pid)
                   and r["state"] == "running" and r, TIMEOUT + 20,
                   what=f"{name} to be restarted")
    assert row["last_error"].startswith("no heartbeat"), row
    assert row["restarts"] >= 1
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
    return row


def settled(instance, names, seconds: float) -> dict:
    """The pids of `names` after `seconds` in which none of them was restarted or failed."""
    before = {name: instance.pid(name) for name in names}
    time.sleep(seconds)
    rows = {name: instance.row(name) for name in names}
    for name, row in rows.items():
        assert row["pid"] == before[name] and row["restarts"] == 0, row
        assert row["state"] == "running" and row["last_error"] is None, row
    return before


def with_mail(make_instance, **kwargs):
    smtp_port = free_port()
    instance = make_instance(disabled=(), extra=f"[bots.mail]\nlisten_port = {smtp_port}\n",
                             **kwargs)
    instance.smtp_port = smtp_port
    return instance


def test_plain_start_kills_nothing(make_instance):
    """Frontend and SMTP service beat from their first answers: neither is killed while it
    starts, nor afterwards (with the tests' short heartbeat timeout)."""
    instance = with_mail(make_instance, supervisor={"heartbeat_timeout": TIMEOUT})
    began = time.monotonic()
    instance.start(wait=False)
    wait_for(lambda: healthz(instance.port), 30, what="/healthz to answer")
    web = time.monotonic() - began
    wait_for(lambda: smtp_greets(instance.smtp_port), 30, what="the SMTP service to greet")
    print(f"/healthz answered {web:.1f} s and SMTP {time.monotonic() - began:.1f} s "
          "after main was started")
    settled(instance, ["frontend", "service:mail", "censor"], 3 * TIMEOUT)
    assert healthz(instance.port) and smtp_greets(instance.smtp_port)
    assert "no heartbeat" not in instance.log()


def test_stopped_frontend_is_killed_and_restarted(make_instance):
    instance = make_instance(supervisor={"heartbeat_timeout": TIMEOUT}).start()
    wait_for(lambda: healthz(instance.port), 20, what="/healthz to answer")
    pid = instance.pid("frontend")
    with stopped(pid):
        began = time.monotonic()
        assert not healthz(instance.port)
        restarted_for_no_heartbeat(instance, "frontend", pid)
        wait_for(lambda: healthz(instance.port), 20, what="/healthz to answer again")
    print(f"the stopped frontend answered again {time.monotonic() - began:.1f} s after SIGSTOP "
          f"(heartbeat_timeout {TIMEOUT} s)")


HANG_PLUGIN = {
    "__init__.py": "",
    "bot.py": '''
from bots import Bot


class HangBot(Bot):
    @classmethod
    def accounts(cls, session, city_id=None):
        return []

    @classmethod
    def deactivate(cls, session, account, reason):
        pass

    @classmethod
    def forget_city(cls, session, city_id, user_id):
        pass
''',
    "webui.py": '''
import threading

import bottle

_never = threading.Event()


def make_app(settings, sessions, notify_main):
    app = bottle.Bottle()

    @app.get("/")
    def hang():
        _never.wait()  # a deadlocked page: its worker thread never comes back

    return app
''',
}


def test_frontend_whose_workers_are_all_stuck_is_restarted(make_instance, tmp_path, monkeypatch):
    """The process runs and its threads could beat, but the web server answers nobody."""
    plugins = tmp_path / "hangplugins"
    (plugins / "hang").mkdir(parents=True)
    for name, text in HANG_PLUGIN.items():
        (plugins / "hang" / name).write_text(text)
    monkeypatch.setenv("TICKETFREI_WEB_THREADS", "2")
    instance = make_instance(supervisor={"heartbeat_timeout": TIMEOUT}, plugin_dirs=[plugins])
    instance.start()
    wait_for(lambda: healthz(instance.port), 20, what="/healthz to answer")
    pid = instance.pid("frontend")
    stuck = []
    try:
        began = time.monotonic()
        for _ in range(2):  # one request for each worker thread
            conn = socket.create_connection(("127.0.0.1", instance.port), timeout=5)
            conn.sendall(f"GET /bots/hang/ HTTP/1.1\r\nHost: 127.0.0.1:{instance.port}\r\n\r\n"
                         .encode())
            stuck.append(conn)
        assert not healthz(instance.port)
        try:  # the check above may take as long as the timeout: it may be gone already
            assert psutil.Process(pid).status() != psutil.STATUS_STOPPED
        except psutil.NoSuchProcess:
            pass
        restarted_for_no_heartbeat(instance, "frontend", pid)
        wait_for(lambda: healthz(instance.port), 20, what="/healthz to answer again")
        print(f"the deadlocked frontend answered again {time.monotonic() - began:.1f} s after "
              f"its workers got stuck (heartbeat_timeout {TIMEOUT} s)")
    finally:
        for conn in stuck:
            conn.close()


def test_stopped_smtp_service_is_killed_and_restarted(make_instance):
    instance = with_mail(make_instance, supervisor={"heartbeat_timeout": TIMEOUT}).start()
    wait_for(lambda: smtp_greets(instance.smtp_port), 20, what="the SMTP service to greet")
    pid = instance.pid("service:mail")
    frontend = instance.pid("frontend")
    with stopped(pid):
        began = time.monotonic()
        assert not smtp_greets(instance.smtp_port)
        restarted_for_no_heartbeat(instance, "service:mail", pid)
        wait_for(lambda: smtp_greets(instance.smtp_port), 20, what="the SMTP service to greet again")
    print(f"the stopped SMTP service greeted again {time.monotonic() - began:.1f} s after SIGSTOP "
          f"(heartbeat_timeout {TIMEOUT} s)")
    assert instance.pid("frontend") == frontend  # nothing else was touched


class _Stop(Exception):
    pass


def test_smtp_service_beats_only_while_its_event_loop_serves(core_for, sqlite_url, monkeypatch):
    """run() in this process, its aiosmtpd event loop blocked on purpose: the other threads
    go on, but the beats stop until the loop serves again."""
    port = free_port()
    settings, _plugins, _sessions = core_for(
        sqlite_url, TICKETFREI_PLUGINS_DISABLED="", TICKETFREI_BOTS_MAIL_LISTEN_PORT=str(port),
        TICKETFREI_SUPERVISOR_HEARTBEAT_TIMEOUT=str(TIMEOUT))
    from bots.mail import service

    controllers = []

    class Recorded(service.Controller):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            controllers.append(self)

    ending = threading.Event()

    def sleep(seconds):
        if ending.is_set():
            raise _Stop
        time.sleep(seconds)

    monkeypatch.setattr(service, "Controller", Recorded)
    monkeypatch.setattr(service, "time", SimpleNamespace(time=time.time, sleep=sleep))
    ctx = SimpleNamespace(settings=settings, heartbeat=SimpleNamespace(value=0.0))

    def run():
        try:
            service.run(ctx)
        except _Stop:
            pass

    thread = threading.Thread(target=run, daemon=True)
    release = threading.Event()
    thread.start()
    try:
        wait_for(lambda: ctx.heartbeat.value > 0, 10, what="the first beat")
        controllers[0].loop.call_soon_threadsafe(release.wait, 30)  # the loop is stuck
        time.sleep(1 + TIMEOUT / 2 + 0.5)  # a check under way ends (its timeout: TIMEOUT / 2)
        last = ctx.heartbeat.value
        time.sleep(3)
        assert ctx.heartbeat.value == last, "beat while the event loop was stuck"
        assert not smtp_greets(port)
        release.set()
        wait_for(lambda: ctx.heartbeat.value > last, 10, what="a beat once the loop serves")
        assert smtp_greets(port)
    finally:
        release.set()
        ending.set()
        thread.join(10)
        if controllers:
            controllers[0].stop()
