"""The supervisor and the command line.

`ticketfrei run` (the default) starts and watches every process: the frontend, the censor, one
process per (enabled city, active bot account) and one per plugin service. main creates every
queue and routes the censor's delivery news to the bots (a queue can only be handed to a
process when it starts, and bot processes come and go). It reconciles what runs with the
database on a control message, on SIGHUP (the admin commands send it) and periodically, and
records each process's state in process_status.

The other commands are for administrators: check-config, status, and city create/list/
enable/disable. main reads cities and the plugins' account lists; it writes process_status.
"""
from __future__ import annotations

import argparse
import fcntl
import getpass
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import secrets
import selectors
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sqlalchemy.exc import SQLAlchemyError

import bots
import censor
import config
import db
import forkparent
import frontend
import process
import stations
import user

log = logging.getLogger("main")

STATUS_COLUMNS = ("name", "city", "network", "account", "pid", "state", "restarts",
                  "last_error", "last_activity")


# --- settings --------------------------------------------------------------------------------

def load_settings(path: str | None):
    """Core settings, then plugin discovery, then the plugins' own sections."""
    core = config.load(path)
    try:
        plugins = bots.discover(core.plugins.dirs, core.plugins.disabled)
    except bots.PluginError as error:
        raise config.ConfigError(f"bad setting plugins.dirs: {error}") from None
    settings = config.load(path, bot_settings=bots.plugin_settings(plugins))
    return settings, bots.load(settings)


# The data (the signing secret, password hashes, subscribers' addresses) is for this user
# alone: every file and directory the instance makes is 0600 or 0700 (cli sets the umask).
PRIVATE_UMASK = 0o077


def open_database(settings):
    os.makedirs(settings.instance.data_dir, mode=0o700, exist_ok=True)
    for warning in loose_permissions(settings):
        log.warning("%s", warning)
    return db.open_sessions(settings, create=True)


def loose_permissions(settings) -> list[str]:
    """Warnings about a SQLite database other local users can read: its data directory open to
    its group or to everyone (made by an older version, or by hand), or, for a database kept
    elsewhere, its files; each names the path and the command that closes it. (With
    PostgreSQL the data directory holds only the lock and pid files.)"""
    url = settings.database.url
    if not url.startswith("sqlite"):
        return []
    from sqlalchemy.engine import make_url
    database = make_url(url).database
    if not database or database == ":memory:":
        return []
    database = os.path.abspath(database)
    directory = os.path.dirname(database)
    if directory == settings.instance.data_dir:
        paths = [(directory, "the data directory")]
    elif _mode(directory) & 0o011:  # others can reach the files (a directory of its own: 0700)
        paths = [(database + suffix, "the SQLite database file") for suffix in ("", "-wal", "-shm")]
    else:
        return []
    found = []
    for path, what in paths:
        mode = _mode(path)
        if mode & 0o077:
            fix = "chmod -R go-rwx" if os.path.isdir(path) else "chmod go-rwx"
            found.append(f"{what} {path} is open to other users of this machine (mode "
                         f"{mode:04o}), who can read the signing secret, password hashes "
                         f"and subscribers' addresses: run `{fix} {shlex.quote(path)}`")
    return found


def _mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0  # missing: made private when it is made


# --- the supervisor --------------------------------------------------------------------------

@dataclass
class Child:
    key: tuple
    name: str
    kind: str
    target: Callable
    heartbeat: Any                # .value: monotonic time of the child's last beat
    slot: int = -1                # its heartbeat slot in the shared memory (forkparent)
    bot: dict = field(default_factory=dict)
    watch_heartbeat: bool = True
    process: Any = None
    inbox: Any = None             # main's write end of the child's Inbox (process.post)
    state: str = "starting"
    wanted: bool = True
    restarts: int = 0
    failures: int = 0
    next_start: float = 0.0
    started_at: float = 0.0
    killed_by_main: bool = False
    exit_error: str | None = None  # how its last run ended, shown until it runs stable again
    overflow: bool = False         # news was dropped: tell it to look into the database
    error_this_run: bool = False
    last_error: str | None = None
    last_report_at: float | None = None
    last_delivery_at: float | None = None
    flushed: dict | None = None  # the status row as last written


# Signals by which somebody else ends a process; a crash of our own code is an exit status or
# a signal such as SIGSEGV or SIGABRT.
KILLED_FROM_OUTSIDE = {signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                       signal.SIGQUIT}


def describe_exit(code: int | None) -> str:
    if code is None:
        return "vanished"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class Supervisor:
    def __init__(self, settings, plugins, sessions):
        self.settings = settings
        self.plugins = plugins
        self.sessions = sessions
        # Status rows are written from the supervising thread: a busy SQLite (another process
        # holding the write lock) must delay them by at most a moment, never supervision.
        self.status_sessions = db.make_sessions(db.make_engine(settings.database.url, 1.0))
        # Only main holds the write end: children see EOF on theirs when main dies.
        self.lifeline, self._lifeline_keep = multiprocessing.Pipe(duplex=False)
        self.poke = threading.Event()
        self.heartbeats = forkparent.Heartbeats()
        self.forks = self._new_fork_parent()
        self._fork_parent_retry = 0.0
        # Wakes the listener when a child's pipe is added.
        self._wake_listener, self._poke_listener = multiprocessing.Pipe(duplex=False)
        self.children: dict[tuple, Child] = {}
        self.by_name: dict[str, Child] = {}
        self.pipes: dict[Any, Child] = {}  # main's end of each child's pipe
        self.forget: set[str] = set()
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.wake = threading.Event()   # reconcile now (SIGHUP, the frontend's news)
        # self.poke wakes the main loop: a child ended, news to reconcile, stopping. Between
        # these it sleeps up to a second (or until the next restart is due): an idle main with
        # hundreds of children costs next to nothing.

    def _preload(self) -> list[str]:
        """What the fork parent imports besides every enabled plugin's bot and db modules
        (forkparent): what a bot needs, and not the web stack, which only the frontend uses."""
        modules = ["config", "db", "process", "bots", "user", "censor",
                   "sqlalchemy.dialects.sqlite.pysqlite"]
        if not self.settings.database.url.startswith("sqlite"):
            modules += ["psycopg", "sqlalchemy.dialects.postgresql.psycopg"]
        return modules

    # --- what should run -------------------------------------------------------------------
    def desired(self) -> tuple[dict[tuple, dict], set[str]]:
        want = {("censor",): dict(name="censor", kind="censor", target=censor.censor_process),
                ("frontend",): dict(name="frontend", kind="frontend",
                                    target=frontend.frontend_process)}
        for name in self.plugins:
            if bots.has_module(name, "service.py"):
                want[("service", name)] = dict(name=f"service:{name}", kind="service",
                                               target=bots.service_process, bot=dict(network=name))
        broken = set()
        with self.sessions() as session:
            cities = {c.id: c for c in user.list_cities(session, enabled_only=True)}
            for name, cls in self.plugins.items():
                try:
                    accounts = cls.accounts(session)
                except Exception:
                    log.exception("plugin %s could not list its accounts; leaving its bots be", name)
                    broken.add(name)
                    continue
                for account in accounts:
                    city = cities.get(account.city_id)
                    if city is None:
                        continue
                    want[("bot", city.id, name, account.id)] = dict(
                        name=f"{city.name}/{name}:{account.id}", kind="bot",
                        target=bots.bot_process,
                        bot=dict(city_id=city.id, city=city.name, network=name,
                                 account=account.id, label=account.label))
        return want, broken

    def reconcile(self) -> None:
        try:
            want, broken = self.desired()
        except Exception:
            log.exception("reconcile failed; trying again later")
            return
        with self.lock:
            for key, spec in want.items():
                child = self.children.get(key)
                if child is None:
                    slot, heartbeat = self.heartbeats.take()
                    child = Child(key=key, heartbeat=heartbeat, slot=slot, **spec)
                    self.children[key] = child
                    self.by_name[child.name] = child
                    self.forget.discard(child.name)
                    if child.kind == "bot":
                        log.info("starting %s", child.name)
                elif not child.wanted:  # stopped a moment ago, wanted again
                    child.wanted = True
                    if child.process is None:
                        child.state, child.next_start = "starting", 0.0
                elif child.state == "inactive":
                    log.info("%s is active again", child.name)
                    child.state, child.failures, child.next_start = "starting", 0, 0.0
                    child.last_error = None  # the refusal is history once it was reconnected
            for key, child in self.children.items():
                if key not in want and child.wanted and not (key[0] == "bot" and key[2] in broken):
                    log.info("stopping %s: no longer wanted", child.name)
                    child.wanted = False
                    if child.process is not None and child.process.is_alive():
                        child.killed_by_main = True
                        child.process.terminate()

    # --- process life ----------------------------------------------------------------------
    def start(self, child: Child) -> None:
        inbox = writer = None
        if child.kind in ("bot", "censor"):
            inbox, writer = process.inbox_pipe(multiprocessing)
        from_child, to_main = multiprocessing.Pipe(duplex=False)
        child.heartbeat.value = time.monotonic()  # a full timeout to get going
        fds = [to_main.fileno()] + ([inbox.fileno()] if inbox is not None else [])
        with self.lock:
            # The new inbox is in place before the process reads its unfinished work from
            # the database: news is either in that read or in the new inbox.
            self._drop_inbox(child)
            child.inbox = writer
            self.pipes[from_child] = child
        try:
            proc = self.forks.start(child.name, f"{child.target.__module__}:{child.target.__name__}",
                                    dict(name=child.name, kind=child.kind, bot=child.bot),
                                    child.slot, fds)
        finally:
            to_main.close()  # the child's copy is the only one left: EOF when it dies
            if inbox is not None:
                inbox.close()  # likewise: main only writes
        self._poke_listener.send(b"")
        child.process = proc
        child.started_at = time.monotonic()
        child.state = "running"
        child.killed_by_main = False
        child.overflow = False
        child.error_this_run = False

    def _drop_inbox(self, child: Child) -> None:
        if child.inbox is not None:
            child.inbox.close()
            child.inbox = None

    def exited(self, child: Child) -> None:
        proc = child.process
        code = proc.exitcode  # None: its fork parent died, which killed it (forkparent)
        child.process = None
        with self.lock:
            self._drop_inbox(child)
        if not child.wanted or self.stopping.is_set():
            child.state = "stopped"
            return
        if code == process.EXIT_INACTIVE:
            child.state = "inactive"
            log.warning("%s: credentials refused, not restarting", child.name)
            return
        now = time.monotonic()
        if now - child.started_at >= self.settings.supervisor.stable_after:
            child.failures = 0
        sup = self.settings.supervisor
        if code is not None and -code in KILLED_FROM_OUTSIDE and not child.killed_by_main:
            # Killed by somebody else (an operator, the OOM killer, a test): not a crash loop
            # of ours, so back at once, yet never faster than backoff_initial.
            delay = sup.backoff_initial
        else:
            child.failures += 1
            delay = min(sup.backoff_max, sup.backoff_initial * 2 ** (child.failures - 1))
        child.state = "backoff"
        child.next_start = now + delay
        if not child.error_this_run:
            child.last_error = child.exit_error = describe_exit(code)
        log.warning("%s %s; restarting in %.1f s", child.name, describe_exit(code), delay)

    def tick(self) -> bool:
        """Reap, watch and (re)start children; True if a child started or ended."""
        now = time.monotonic()
        timeout = self.settings.supervisor.heartbeat_timeout
        changed = False
        for key, child in list(self.children.items()):
            proc = child.process
            if proc is not None and not proc.is_alive():
                self.exited(child)
                changed = True
            elif proc is not None:
                if (child.exit_error is not None and child.last_error == child.exit_error
                        and now - child.started_at >= self.settings.supervisor.stable_after):
                    child.last_error = child.exit_error = None  # up and stable again
                if child.overflow and child.inbox is not None:
                    child.overflow = not process.post(child.inbox, process.SWEEP)
                if child.watch_heartbeat and now - child.heartbeat.value > timeout:
                    child.last_error = f"no heartbeat for {now - child.heartbeat.value:.0f} s"
                    child.exit_error = child.last_error  # shown until it runs stable again
                    child.error_this_run = True
                    log.warning("%s: %s, killing it", child.name, child.last_error)
                    child.killed_by_main = True
                    proc.kill()
            elif child.wanted and child.state in ("starting", "backoff") and now >= child.next_start:
                if not self._fork_parent_up(now):
                    continue
                if child.state == "backoff":
                    child.restarts += 1
                try:
                    self.start(child)
                    changed = True
                except forkparent.ForkParentGone as error:
                    log.error("could not start %s: %s", child.name, error)
                    self._drop_pipes(child)
                    continue
            if child.process is None and not child.wanted:
                with self.lock:
                    self.heartbeats.give_back(child.slot)
                    del self.children[key]
                    self.by_name.pop(child.name, None)
                    if child.state != "inactive":
                        self.forget.add(child.name)
        return changed

    def _fork_parent_up(self, now: float) -> bool:
        """Whether children can be started; a fork parent that died is started again (its
        children were ended with it: forkparent.ForkParent._read)."""
        if not self.forks.gone:
            return True
        if now < self._fork_parent_retry:
            return False
        self._fork_parent_retry = now + self.settings.supervisor.backoff_max
        log.error("the fork parent is gone; starting it again")
        self.forks = self._new_fork_parent()
        try:
            self.forks.open()
        except forkparent.ForkParentGone as error:
            log.error("%s", error)
            return False
        return True

    def _new_fork_parent(self) -> forkparent.ForkParent:
        return forkparent.ForkParent(self.settings, self._preload(), self.heartbeats,
                                     self.lifeline.fileno(), on_exit=self.poke.set)

    def _drop_pipes(self, child: Child) -> None:
        with self.lock:
            for pipe, owner in list(self.pipes.items()):
                if owner is child:
                    del self.pipes[pipe]
                    pipe.close()
            self._drop_inbox(child)
        child.state, child.next_start = "backoff", time.monotonic() + 1.0

    # --- the thread that reads every child's pipe --------------------------------------------
    def listen(self) -> None:
        """Read every child's pipe. One epoll set kept across calls (a fresh wait over
        hundreds of pipes costs about a millisecond per message), brought up to date when the
        set of pipes changed: the gone ones taken out before new ones are added, as a new pipe
        may have the number of a closed one."""
        selector = selectors.DefaultSelector()
        selector.register(self._wake_listener.fileno(), selectors.EVENT_READ, None)
        registered: dict[Any, int] = {}
        while not self.stopping.is_set():
            with self.lock:
                current = set(self.pipes)
            for pipe in [p for p in registered if p not in current]:
                try:
                    selector.unregister(registered.pop(pipe))
                except (KeyError, ValueError, OSError):
                    pass
            for pipe in current - registered.keys():
                try:
                    fd = pipe.fileno()
                    selector.register(fd, selectors.EVENT_READ, pipe)
                except (OSError, ValueError, KeyError):
                    continue
                registered[pipe] = fd
            for key, _events in selector.select(2.0):
                pipe = key.data
                if pipe is None:
                    self._wake_listener.recv()
                    continue
                try:
                    message = pipe.recv()
                except (EOFError, OSError):
                    with self.lock:
                        self.pipes.pop(pipe, None)
                    try:
                        selector.unregister(registered.pop(pipe))
                    except (KeyError, ValueError, OSError):
                        pass
                    pipe.close()
                    continue
                with self.lock:
                    self.dispatch(self.pipes.get(pipe), message)

    def dispatch(self, child: Child | None, message: tuple) -> None:
        kind = message[0]
        # News that cannot be posted (the process is down, or its inbox is full) is dropped:
        # the censor and the bots find their work in the database when they start and in
        # their periodic look.
        if kind == "report":
            censor_ = self.children.get(("censor",))
            if censor_ is not None and censor_.inbox is not None:
                censor_.overflow |= not process.post(censor_.inbox, message[1])
        elif kind == "news":
            for city_id, network, account, delivery_id in message[1]:
                bot = self.children.get(("bot", city_id, network, account))
                if bot is not None and bot.inbox is not None:
                    bot.overflow |= not process.post(bot.inbox, delivery_id)
        elif kind == "receive":
            bot = self.children.get(("bot", *message[1:4]))
            if bot is not None and bot.inbox is not None:
                process.post(bot.inbox, process.RECEIVE)  # if dropped: its poll finds them
        elif kind == "reconcile":
            self.wake.set()
            self.poke.set()
        elif kind == "event" and child is not None:
            _, event, when, data = message
            if event == "report":
                child.last_report_at = when
            elif event == "delivery":
                child.last_delivery_at = when
            elif event in ("error", "inactive"):
                child.last_error = data.get("text")
                child.error_this_run = True
            elif event == "recovered" and child.last_error == data.get("text"):
                child.last_error = None

    # --- status ----------------------------------------------------------------------------
    def flush_status(self) -> None:
        """Write the status rows that changed since the last flush."""
        changed = []
        with self.lock:
            for c in self.children.values():
                row = dict(name=c.name, kind=c.kind, city_id=c.bot.get("city_id"),
                           network=c.bot.get("network"), account=c.bot.get("account"),
                           pid=c.process.pid if c.process is not None else None,
                           state=c.state, restarts=c.restarts, last_error=c.last_error,
                           last_report_at=c.last_report_at, last_delivery_at=c.last_delivery_at)
                if row != c.flushed:
                    changed.append((c, row))
            forget, self.forget = self.forget, set()
        if not changed and not forget:
            return
        try:
            with self.status_sessions.begin() as session:
                for name in forget:
                    row = session.get(db.ProcessStatus, name)
                    if row is not None:
                        session.delete(row)
                for _child, row in changed:
                    session.merge(db.ProcessStatus(**row, updated_at=time.time()))
        except Exception as error:  # tried again in a second
            log.warning("could not write the process status: %s", process.describe_error(error))
            with self.lock:
                self.forget |= forget
            return
        for child, row in changed:
            child.flushed = row

    # --- the main loop ---------------------------------------------------------------------
    def run(self) -> int:
        def stop(*_):
            self.stopping.set()
            self.poke.set()

        def reconcile(*_):
            self.wake.set()
            self.poke.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reconcile)
        with self.sessions.begin() as session:
            # Rows of a previous run are stale, but an inactive account keeps its reason.
            for row in session.query(db.ProcessStatus):
                if row.state != "inactive":
                    session.delete(row)
        log.info("Ticketfrei starting: %d plugin(s): %s", len(self.plugins),
                 ", ".join(self.plugins) or "none")
        try:
            self.forks.open()
        except forkparent.ForkParentGone as error:
            log.error("%s", error)
            return 1
        threading.Thread(target=self.listen, daemon=True, name="listen").start()
        next_reconcile = 0.0
        next_flush = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            if self.wake.is_set() or now >= next_reconcile:
                self.wake.clear()
                self.reconcile()
                next_reconcile = now + self.settings.supervisor.reconcile_interval
            changed = self.tick()
            if changed or now >= next_flush:  # a start or an exit is shown at once
                self.flush_status()
                next_flush = now + 1.0
            held = self._fork_parent_retry if self.forks.gone else 0.0
            due = [max(c.next_start, held) for c in self.children.values()
                   if c.wanted and c.process is None and c.state in ("starting", "backoff")]
            timeout = min([1.0, *(at - time.monotonic() for at in due)])
            self.poke.wait(max(0.02, timeout))
            self.poke.clear()
        self.shutdown()
        return 0

    def shutdown(self) -> None:
        log.info("stopping every process")
        procs = [c.process for c in self.children.values() if c.process is not None]
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + self.settings.supervisor.stop_timeout
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in procs:
            if proc.is_alive():
                log.warning("%s did not stop in time, killing it", proc.name)
                proc.kill()
                proc.join(1)
        for child in self.children.values():
            child.process = None
            if child.state != "inactive":
                child.state = "stopped"
        self.flush_status()
        for child in self.children.values():
            self._drop_inbox(child)
        self.forks.close()
        log.info("stopped")


# --- the running instance's lock and pid file ------------------------------------------------

def _lock_path(settings) -> Path:
    return Path(settings.instance.data_dir) / "ticketfrei.lock"


def _pid_path(settings) -> Path:
    return Path(settings.instance.data_dir) / "ticketfrei.pid"


def take_instance_lock(settings):
    """Held while main runs: two supervisors on one data directory would post twice."""
    handle = open(_lock_path(settings), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    _private(handle.fileno())
    fd = os.open(_pid_path(settings), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w") as pid_file:
        _private(pid_file.fileno())  # made by an older version: 0644
        pid_file.write(f"{os.getpid()}\n")
    return handle


def _private(fd: int) -> None:
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        pass  # not ours (made by another user): loose_permissions() warns about the directory


def notify_running_instance(settings) -> bool:
    """SIGHUP to a running main so that it reconciles now. False if none runs."""
    if not _lock_path(settings).exists():
        return False
    with open(_lock_path(settings), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False  # nobody holds it: no instance runs
        except BlockingIOError:
            pass
    try:
        os.kill(int(_pid_path(settings).read_text().strip()), signal.SIGHUP)
        return True
    except (OSError, ValueError):
        return False


# --- commands --------------------------------------------------------------------------------

def cmd_run(args, settings, plugins) -> int:
    process.setup_logging("main", settings.instance.log_level)
    sessions = open_database(settings)
    lock = take_instance_lock(settings)
    if lock is None:
        print(f"ticketfrei: another instance runs on {settings.instance.data_dir}", file=sys.stderr)
        return 1
    try:
        # The signing secret is made here, once: after the schema exists and before any child
        # starts, so that no two processes sign with secrets of their own.
        with sessions.begin() as session:
            user.ensure_instance_secret(session)
            kept = 0 if user.upgrade_finished(session) else user.v2_password_count(session)
            if kept:
                log.info("%d organiser account(s) keep version 2 password hashes, so that "
                         "version 2 can still log them in, until `ticketfrei upgrade --finish`",
                         kept)
        return Supervisor(settings, plugins, sessions).run()
    finally:
        _pid_path(settings).unlink(missing_ok=True)
        lock.close()


def cmd_check_config(args, settings, plugins) -> int:
    for section, values in config.effective(settings).items():
        print(f"[{section}]")
        for key, value in values.items():
            print(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        print()
    return 0


def _status_rows(sessions) -> list[dict]:
    with sessions() as session:
        names = {c.id: c.name for c in user.list_cities(session)}
        rows = session.query(db.ProcessStatus).order_by(db.ProcessStatus.kind,
                                                        db.ProcessStatus.name).all()
    result = []
    for row in rows:
        activity = max(filter(None, [row.last_report_at, row.last_delivery_at]), default=None)
        result.append(dict(name=row.name, kind=row.kind, city=names.get(row.city_id),
                           network=row.network, account=row.account, pid=row.pid,
                           state=row.state, restarts=row.restarts, last_error=row.last_error,
                           last_activity=activity, last_report_at=row.last_report_at,
                           last_delivery_at=row.last_delivery_at, updated_at=row.updated_at))
    return result


def _when(epoch) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def _print_table(rows: list[dict], columns) -> None:
    cells = [[str(c) for c in columns]]
    for row in rows:
        cells.append(["-" if row.get(c) is None else
                      _when(row[c]) if c.startswith("last_activity") else str(row[c])
                      for c in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


def cmd_status(args, settings, plugins) -> int:
    rows = _status_rows(open_database(settings))
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("nothing is running (is `ticketfrei run` started?)")
    else:
        _print_table(rows, STATUS_COLUMNS)
    return 0


def _city_notes(city: user.CityInfo) -> list[str]:
    notes = []
    if city.blocked:
        notes.append("disabled by the administrator"
                     + (f": {city.block_reason}" if city.block_reason else ""))
    if not city.switched_on:
        notes.append("switched off by its organisers")
    if city.reserved:
        notes.append("no mail address: its name is reserved")
    return notes


def cmd_city(args, settings, plugins) -> int:
    sessions = open_database(settings)
    try:
        with sessions.begin() as session:
            if args.action == "list":
                cities = user.list_cities(session)
                if args.json:
                    print(json.dumps([dict(id=c.id, name=c.name, enabled=c.enabled,
                                           switched_on=c.switched_on, blocked=c.blocked,
                                           block_reason=c.block_reason, reserved=c.reserved)
                                      for c in cities], indent=2))
                else:
                    for c in cities:
                        # Tabs and newlines of a reason would break the columns.
                        notes = " ".join("; ".join(_city_notes(c)).split())
                        line = f"{c.name}\t{'enabled' if c.enabled else 'disabled'}"
                        print(f"{line}\t{notes}" if notes else line)
                return 0
            if args.action == "create":
                password, generated = _password(args)
                city = user.create_city(session, args.name, args.email, password)
                print(f"created city {city.name} with organiser {args.email}")
                if generated:
                    print(f"password: {password}")
            elif args.action == "disable":
                city = user.set_city_blocked(session, args.name, True, args.reason)
                print(f"city {city.name} disabled by the administrator; only "
                      f"`ticketfrei city enable {city.name}` enables it again")
            else:
                before = user.find_city(session, args.name)
                city = user.set_city_blocked(session, args.name, False)
                if before is not None and not before.blocked:
                    print(f"city {city.name} was not disabled by the administrator")
                else:
                    print(f"city {city.name} enabled")
                if not city.switched_on:
                    print(f"note: its organisers switched {city.name} off; it stays off until "
                          "they switch it on on their settings page")
    except user.UserError as error:
        print(f"ticketfrei: {error}", file=sys.stderr)
        return 1
    if notify_running_instance(settings):
        print("the running instance was told")
    return 0


def cmd_stations(args, settings, plugins) -> int:
    """`stations import CITY FEED.zip [--aliases FILE]`, `stations annotate CITY`."""
    sessions = open_database(settings)
    with sessions() as session:
        city = user.find_city(session, args.city)
    if city is None:
        print(f"ticketfrei: there is no city {args.city!r}", file=sys.stderr)
        return 1
    if args.action == "annotate":
        with sessions() as session:
            annotator = stations.annotator_for(session, city.id)
        if annotator is None:
            print(f"ticketfrei: {city.name} has no transit data: import a feed first "
                  "(ticketfrei stations import)", file=sys.stderr)
            return 1
        for line in sys.stdin:
            print(json.dumps(annotator.annotate(line.rstrip("\n")), ensure_ascii=False),
                  flush=True)
        return 0
    aliases = None
    try:
        if args.aliases:
            aliases = Path(args.aliases).read_text(encoding="utf-8")
        with sessions.begin() as session:
            summary = stations.import_feed(session, city.id, args.feed, aliases)
        with sessions() as session:
            problems = stations.Annotator.load(session, city.id).alias_problems
    except (OSError, UnicodeError, ValueError) as error:  # FeedError is a ValueError
        print(f"ticketfrei: {error}", file=sys.stderr)
        return 1
    print(f"{city.name}: {summary['stations']} stations, {summary['lines']} lines, "
          f"{summary['patterns']} patterns, {summary['aliases']} aliases "
          f"(from {summary['stops']} stops and {summary['trips']} trips)")
    for problem in problems:
        print(f"alias not used: {problem}", file=sys.stderr)
    return 0


def cmd_backup(args, settings, plugins) -> int:
    url = settings.database.url
    path = db.sqlite_path(url)
    if url.startswith("sqlite") and path is None:
        print("ticketfrei: the database is in memory: there is nothing to back up",
              file=sys.stderr)
        return 2
    if path is None:
        print("ticketfrei: the database is not a SQLite file: back up PostgreSQL with its own "
              "tool, which takes a consistent copy while the instance runs, e.g.\n"
              "  pg_dump --format=custom --file=ticketfrei.dump DATABASE\n"
              "and restore it with pg_restore --dbname=DATABASE ticketfrei.dump",
              file=sys.stderr)
        return 2
    try:
        copy = db.backup_sqlite(url, Path(args.path), settings.database.busy_timeout,
                                force=args.force)
    except db.BackupError as error:
        print(f"ticketfrei: {error}", file=sys.stderr)
        return 1
    held = ", ".join(f"{copy[t]} {t}" for t in ("cities", "reports") if copy[t] is not None)
    print(f"backed up {path} to {copy['path']} ({copy['size'] / 2 ** 20:.1f} MiB"
          f"{': ' + held if held else ''}); the copy checks out")
    return 0


UPGRADE_PENDING = """\
The upgrade from version 2 is not final. Until it is, version 2's password hashes (scrypt)
stay as they are, and a password changed in version 3 is stored in version 2's format: going
back to version 2 (README, "Upgrading from version 2") keeps the logins of the organisers
version 2 knew (a city made in version 3 has an argon2id hash, which version 2 cannot read).
`ticketfrei upgrade --finish` makes it final: from then on a login with a version 2 hash
stores it as argon2id (that organiser can no longer log in to version 2). Nothing else
changes: version 2's tables and columns stay as they are."""

UPGRADE_FINISHING = """\
Making the upgrade from version 2 final: from now on a login with a version 2 password hash
stores it as argon2id, which version 2 cannot read; that organiser can no longer log in to
version 2. Version 2's tables and columns stay as they are."""


def cmd_upgrade(args, settings, plugins) -> int:
    if not args.finish:
        return _upgrade_status(settings)
    sessions = open_database(settings)
    with sessions.begin() as session:
        finished, count = user.upgrade_finished(session), user.v2_password_count(session)
        if not finished:
            print(UPGRADE_FINISHING)
            user.finish_upgrade(session)
    print(f"organiser accounts with a version 2 password hash: {count}")
    print("the upgrade from version 2 was made final before" if finished
          else "the upgrade from version 2 is final")
    return 0


def _upgrade_status(settings) -> int:
    """Where the upgrade stands, read without writing anything (this may run before the
    backup, on a version 2 database version 3 has not opened yet)."""
    path = db.sqlite_path(settings.database.url)
    if path is not None and not path.is_file():
        print(f"ticketfrei: there is no database at {path}", file=sys.stderr)
        return 1
    engine = db.make_engine(settings.database.url, settings.database.busy_timeout, wal=False)
    try:
        with db.make_sessions(engine, settings)() as session:
            count = user.v2_password_count(session)
            try:
                finished = user.upgrade_finished(session)
            except SQLAlchemyError:  # no instance_flags yet: version 3 has not opened it
                finished = None
    except SQLAlchemyError as error:
        print(f"ticketfrei: cannot read the database: {process.describe_error(error)}",
              file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"organiser accounts with a version 2 password hash: {count}")
    if finished:
        print("the upgrade from version 2 is final: logins store argon2id hashes")
    elif finished is None:
        print("version 3 has not opened this database yet")
        print(UPGRADE_PENDING)
    elif count:
        print(UPGRADE_PENDING)
    else:
        print("no organiser account has a version 2 password hash: there is nothing to finish")
    return 0


def _password(args) -> tuple[str, bool]:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        password = getpass.getpass("organiser password (empty: generate one): ")
        if password:
            return password, False
    return secrets.token_urlsafe(12), True


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ticketfrei", description=__doc__.split("\n\n")[0])
    top.add_argument("--config", metavar="PATH",
                     help=f"TOML settings file (default: ${config.ENV_CONFIG_FILE} or none)")
    commands = top.add_subparsers(dest="command")
    commands.add_parser("run", help="run the instance (the default)")
    commands.add_parser("check-config", help="print the effective settings, secrets masked")
    status = commands.add_parser("status", help="list every supervised process")
    status.add_argument("--json", action="store_true")
    city = commands.add_parser("city", help="create, list, enable or disable cities")
    actions = city.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a city with its organiser account")
    create.add_argument("name")
    create.add_argument("--email", required=True)
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input")
    listing = actions.add_parser("list")
    listing.add_argument("--json", action="store_true")
    enable = actions.add_parser("enable", help="lift the administrator's block of a city")
    enable.add_argument("name")
    disable = actions.add_parser("disable", help="block a city: its bots stop, its page is "
                                                 "gone; its organisers cannot lift it")
    disable.add_argument("name")
    disable.add_argument("--reason", metavar="TEXT",
                         help="shown to the city's organisers and in `city list`")
    backup = commands.add_parser("backup", help="a consistent copy of the SQLite database, also "
                                                 "while the instance runs")
    backup.add_argument("path", help="the copy's file, or a directory to name it in by the time")
    backup.add_argument("--force", action="store_true", help="replace an existing file")
    upgrade = commands.add_parser("upgrade", help="the upgrade from version 2: where it stands, "
                                                  "and what --finish does")
    upgrade.add_argument("--finish", action="store_true",
                         help="make the upgrade final: logins store argon2id hashes")
    transit = commands.add_parser("stations", help="a city's transit data (GTFS): import a "
                                                   "feed, recognise stations in reports")
    actions = transit.add_subparsers(dest="action", required=True)
    feed = actions.add_parser("import", help="store a GTFS zip as the city's transit data")
    feed.add_argument("city")
    feed.add_argument("feed", metavar="FEED.zip")
    feed.add_argument("--aliases", metavar="FILE",
                      help="aliases, one per line: Kotti = Kottbusser Tor")
    annotate = actions.add_parser("annotate", help="read report texts (one per line) on "
                                                   "standard input, print what is recognised "
                                                   "as JSON lines")
    annotate.add_argument("city")
    return top


COMMANDS = {None: cmd_run, "run": cmd_run, "check-config": cmd_check_config,
            "status": cmd_status, "city": cmd_city, "backup": cmd_backup,
            "upgrade": cmd_upgrade, "stations": cmd_stations}


def cli(argv: list[str] | None = None) -> int:
    # Before anything touches the data: the database (and its -wal and -shm files), the data
    # directory, the lock and pid files are made for this user alone; the children inherit it.
    umask = os.umask(PRIVATE_UMASK)
    try:
        args = parser().parse_args(argv)
        try:
            settings, plugins = load_settings(args.config)
        except config.ConfigError as error:
            print(f"ticketfrei: {error}", file=sys.stderr)
            return 2
        return COMMANDS[args.command](args, settings, plugins)
    finally:
        os.umask(umask)


if __name__ == "__main__":
    sys.exit(cli())
