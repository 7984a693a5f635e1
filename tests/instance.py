"""A real Ticketfrei instance for tests and benchmarks: `main.py run` in a subprocess.

It runs with the test network plugin (tests/plugins/testnet) loaded as an extra plugin
directory; a test sends reports by writing to the test network's inbox table and reads what
the bots posted from its outbox table.
"""
from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
from email import message_from_bytes
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "main.py"
TEST_PLUGINS = Path(__file__).resolve().parent / "plugins"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The networks an instance has besides the test network. A test's instance runs only those the
# test needs (`without("telegram")`): each costs every process of the instance its library's
# imports (python-telegram-bot, tweepy, Mastodon.py: a third of an instance's start).
NETWORKS = ("mail", "mastodon", "telegram", "twitter", "web")


def without(*needed: str) -> tuple[str, ...]:
    """The `disabled` setting for an instance that runs the networks `needed`."""
    return tuple(name for name in NETWORKS if name not in needed)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def smtp_greets(port: int) -> bool:
    """The SMTP server on port sends its 220 banner and answers NOOP."""
    client = smtplib.SMTP(local_hostname="localhost", timeout=5)
    try:
        code, _ = client.connect("127.0.0.1", port)
        return code == 220 and client.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False
    finally:
        client.close()


def kill_random(instance, rng, kinds=("bot",)) -> str | None:
    """SIGKILL one running process of these kinds, chosen by rng; its name (None if none ran)."""
    running = sorted(instance.supervised_pids(kinds=kinds).items())
    if not running:
        return None
    name, pid = rng.choice(running)
    try:
        os.kill(pid, signal.SIGKILL)
        return name
    except ProcessLookupError:
        return None


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll until predicate() is truthy; return its value or fail naming what we waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Relay:
    """A real SMTP server (aiosmtpd) standing in for the instance's mail relay."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.mails = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(message_from_bytes(envelope.content))
        return "250 OK"

    def __enter__(self) -> "Relay":
        self.controller.start()
        return self

    def __exit__(self, *_) -> None:
        self.controller.stop()

    def link(self, path: str, timeout: float = 10.0) -> str:
        """The path and query of the link to `path` in the newest mail, waiting a little for
        such a mail: the web UI sends its mail from a queue, after it answered."""
        pattern = re.compile(rf"https?://[^/\s]+({re.escape(path)}\?token=\S+)")

        def found():
            return self.mails and pattern.search(self.mails[-1].get_payload(decode=True).decode())

        return wait_for(found, timeout, what=f"a mail with a link to {path}").group(1)

    def settings(self) -> str:
        """The TOML that sends an instance's mail here."""
        return f'[mail]\nrelay_host = "127.0.0.1"\nrelay_port = {self.port}\nrelay_security = "none"\n'


class Instance:
    def __init__(self, directory: Path, database_url: str | None = None,
                 accounts=("a", "b"), supervisor: dict | None = None, extra: str = "",
                 poll_interval: float = 0.1, log_level: str = "INFO", plugin_dirs=(),
                 disabled=NETWORKS):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data = self.dir / "data"
        self.port = free_port()
        self.config = self.dir / "ticketfrei.toml"
        self.log_path = self.dir / "ticketfrei.log"
        self.database_url = database_url or f"sqlite:///{self.data}/ticketfrei.sqlite"
        timing = {"heartbeat_timeout": 4.0, "backoff_initial": 0.5, "backoff_max": 4.0,
                  "reconcile_interval": 30.0, "stop_timeout": 5.0, **(supervisor or {})}
        self.config.write_text(
            f'[instance]\ndata_dir = "{self.data}"\nlog_level = "{log_level}"\n'
            f'[database]\nurl = "{self.database_url}"\n'
            f'[web]\nport = {self.port}\n'
            f'[plugins]\ndirs = {json.dumps([str(TEST_PLUGINS), *map(str, plugin_dirs)])}\n'
            f'disabled = {json.dumps(list(disabled))}\n'
            "[supervisor]\n" + "".join(f"{k} = {v}\n" for k, v in timing.items()) +
            f"[bots.testnet]\naccounts = {json.dumps(list(accounts))}\n"
            f"poll_interval = {poll_interval}\n"
            + extra)
        self.proc: subprocess.Popen | None = None
        self._engine = None

    # --- commands --------------------------------------------------------------------------
    def cli(self, *args: str, input: str | None = None, check: bool = True):
        result = subprocess.run([sys.executable, str(MAIN), "--config", str(self.config), *args],
                                input=input, capture_output=True, text=True, timeout=120,
                                cwd=self.dir)
        if check and result.returncode != 0:
            raise AssertionError(f"ticketfrei {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}{result.stderr}")
        return result

    def create_city(self, name: str) -> int:
        """A city with its organiser (orga@<name>.example, "a good password"), made as
        `ticketfrei city create` makes it (tests/test_commands.py runs that command), in this
        process: a command's start costs a second or two, and most tests make cities."""
        import bots
        import config
        import db
        import user
        umask = os.umask(0o077)  # as the command's: the database is the instance user's alone
        try:
            os.makedirs(self.data, mode=0o700, exist_ok=True)
            settings = config.load(str(self.config))
            bots.load(settings)  # the plugins' tables too, as main makes them (testnet_inbox)
            engine = db.make_engine(settings.database.url, settings.database.busy_timeout)
            try:
                db.create_schema(engine)
                with db.make_sessions(engine, settings).begin() as session:
                    user.create_city(session, name, f"orga@{name}.example", "a good password")
            finally:
                engine.dispose()
        finally:
            os.umask(umask)
        if self.proc is not None and self.proc.poll() is None:
            self.reconcile()  # as the command does: a running main starts the city's bots
        return self.city_id(name)

    def city_id(self, name: str) -> int:
        return self.sql("SELECT id FROM cities WHERE city = :c", c=name)[0][0]

    def status(self) -> list[dict]:
        return json.loads(self.cli("status", "--json").stdout)

    def row(self, name: str) -> dict | None:
        return next((r for r in self.status() if r["name"] == name), None)

    # --- the supervisor process ------------------------------------------------------------
    def start(self, wait: bool = True) -> "Instance":
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, str(MAIN), "--config", str(self.config),
                                      "run"], stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.dir, start_new_session=True)
        if wait:
            wait_for(lambda: self.running_names() >= {"censor", "frontend"}, 30,
                     what="censor and frontend to run")
            # "running" is said before the web server binds its port (a loaded machine)
            wait_for(lambda: listening(self.port), 30, what="the web UI to listen")
        return self

    def reconcile(self) -> None:
        """Make main look at the database now (as the admin commands do): new accounts run."""
        os.kill(self.proc.pid, signal.SIGHUP)

    def running_names(self) -> set[str]:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"main exited with {self.proc.returncode}:\n{self.log()}")
        try:
            return {r["name"] for r in self.status()
                    if r["state"] == "running" and r["pid"] and psutil.pid_exists(r["pid"])}
        except AssertionError:
            return set()

    def pid(self, name: str) -> int:
        return wait_for(lambda: (self.row(name) or {}).get("pid"), 20, what=f"{name} to run")

    def children(self) -> list[psutil.Process]:
        """Every process main supervises (not the fork parent)."""
        main = psutil.Process(self.proc.pid)
        # They are forked by the fork parent (forkparent.py), so they are its children.
        servers = [p for p in main.children() if "forkparent" in " ".join(p.cmdline())]
        return [child for server in servers for child in server.children()]

    def stop(self, timeout: float = 15.0) -> float:
        """SIGTERM to main; returns how long everything took to be gone."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        return time.monotonic() - began

    def kill_everything(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- the database and the test network -------------------------------------------------
    def engine(self):
        if self._engine is None:
            url = self.database_url.replace("postgresql://", "postgresql+psycopg://")
            self._engine = create_engine(url, connect_args={"timeout": 30} if url.startswith(
                "sqlite") else {})
        return self._engine

    def sql(self, query: str, **params):
        with self.engine().begin() as conn:
            result = conn.execute(text(query), params)
            return result.fetchall() if result.returns_rows else result.rowcount

    def send(self, city_id: int, account: str, report: str) -> int:
        """The public writes to one account of a city on the test network."""
        with self.engine().begin() as conn:
            return conn.execute(text(
                "INSERT INTO testnet_inbox (city_id, account, text, sent_at) "
                "VALUES (:c, :a, :t, :now) RETURNING id"),
                dict(c=city_id, a=account, t=report, now=time.time())).scalar()

    def posted(self, city_id: int | None = None, account: str | None = None) -> list[tuple]:
        """(city_id, account, text, attempts) of everything the test network published."""
        rows = self.sql("SELECT city_id, account, text, attempts FROM testnet_outbox ORDER BY id")
        return [r for r in rows if city_id in (None, r[0]) and account in (None, r[1])]

    def switch(self, city_id: int, account: str, **flags) -> None:
        """Flip an account's behaviour on the test network: paused, hang, refuse, fail, crash,
        active (on or off); longpoll, send_delay (seconds), recipients (a number)."""
        if not self.sql("SELECT id FROM testnet_accounts WHERE city_id = :c AND name = :a",
                        c=city_id, a=account):
            self.sql("INSERT INTO testnet_accounts (city_id, name) VALUES (:c, :a)",
                     c=city_id, a=account)
        for flag, value in flags.items():
            self.sql(f"UPDATE testnet_accounts SET {flag} = :v WHERE city_id = :c AND name = :a",
                     v=value if flag in ("longpoll", "send_delay", "recipients") else bool(value),
                     c=city_id, a=account)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.kill_everything()
            if self._engine is not None:
                self._engine.dispose()

    # --- chaos: main killed and started again, and what is left to do ---------------------
    def processes(self) -> list[psutil.Process]:
        """Every live process of this instance: main's process tree, and any process that
        left it but still runs in the instance's directory (supervised processes keep main's
        working directory; one that outlived main was re-parented). Zombies are gone."""
        found: dict[int, psutil.Process] = {}
        if self.proc is not None and self.proc.poll() is None:
            try:
                main = psutil.Process(self.proc.pid)
                found = {p.pid: p for p in [main, *main.children(recursive=True)]}
            except psutil.NoSuchProcess:
                pass
        here = str(self.dir.resolve())
        for proc in psutil.process_iter(["cwd"]):
            if proc.info.get("cwd") == here and proc.pid != os.getpid():
                found.setdefault(proc.pid, proc)
        return [p for p in found.values() if _alive(p)]

    def supervised_pids(self, kinds=("bot", "censor", "service", "frontend")) -> dict[str, int]:
        """{name: pid} of the supervised processes main says are running (process_status, as
        `status` shows it) whose pid really is one of this instance's live processes, so that
        a stale row can never name an unrelated process."""
        mine = {p.pid for p in self.processes()}
        rows = self.sql("SELECT name, kind, pid FROM process_status WHERE state = 'running'")
        return {name: pid for name, kind, pid in rows if kind in kinds and pid in mine}

    def kill_main(self) -> list[psutil.Process]:
        """SIGKILL to main alone (not its process group): its children must notice and exit
        on their own. Returns the processes of that run (see restart_after_kill)."""
        tree = self.processes()
        self.proc.kill()
        self.proc.wait(10)
        return tree

    def wait_gone(self, processes, timeout: float = 20.0) -> float:
        """Wait until every one of processes has exited; returns how long that took."""
        began = time.monotonic()
        deadline = began + timeout
        while True:
            alive = [p for p in processes if _alive(p)]
            if not alive:
                return time.monotonic() - began
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(alive)} process(es) of the killed main still run after {timeout} s: "
                    + "; ".join(f"{p.pid} {_cmdline(p)}" for p in alive))
            time.sleep(0.05)

    def restart_after_kill(self, processes=None, timeout: float = 20.0,
                           wait: bool = True) -> float:
        """After main died (kill_main()): wait until every process of the old run is gone,
        then start main again. Returns how long the old processes took to go."""
        if self.proc is not None and self.proc.poll() is None:
            raise AssertionError("main is still running")
        took = self.wait_gone(processes if processes is not None else self.processes(), timeout)
        if getattr(self, "_log", None) is not None:
            self._log.close()
        self.start(wait=wait)
        return took

    def outstanding(self) -> dict[str, int]:
        """Work the instance has not finished: messages on the test network (and mails in the
        mail inbox) not yet stored as reports, undecided reports, pending deliveries. Read
        upstream first, so a piece of work moving on between two reads is still counted."""
        from sqlalchemy import inspect
        left = {"unread": self.sql(
            "SELECT count(*) FROM testnet_inbox i WHERE i.id > COALESCE((SELECT "
            "CAST(w.watermark AS INTEGER) FROM bot_watermarks w WHERE w.city_id = i.city_id "
            "AND w.network = 'testnet' AND w.account = i.account), 0)")[0][0]}
        if inspect(self.engine()).has_table("mail_inbox"):
            left["mails"] = self.sql("SELECT count(*) FROM mail_inbox")[0][0]
        left["undecided"] = self.sql("SELECT count(*) FROM reports WHERE verdict IS NULL")[0][0]
        left["pending"] = self.sql(
            "SELECT count(*) FROM deliveries WHERE state = 'pending'")[0][0]
        return left

    def settle(self, timeout: float = 60.0, steady: float = 1.0) -> tuple[bool, float, dict]:
        """Wait for quiescence: nothing outstanding in two looks `steady` seconds apart.
        Returns (settled, seconds taken, what was outstanding at the last look); it does not
        fail, so that a test can print its figures before it asserts."""
        began = time.monotonic()
        quiet_since = None
        while True:
            left = self.outstanding()
            now = time.monotonic()
            if any(left.values()):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= steady:
                return True, quiet_since - began, left
            if now - began > timeout:
                return False, now - began, left
            time.sleep(0.2)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:120]
    except psutil.Error:
        return "?"
