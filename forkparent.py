"""The fork parent: the one process every child of main (bots, censor, frontend, services) is
forked from.

main starts it as a fresh interpreter, so that none of main's threads, locks or database
connections come along. It imports once what bots need (the core and every plugin's bot and db
modules with their network libraries), configures the mappers and then freezes its objects
(gc.freeze): a child's garbage collector never writes to them, so their pages stay shared
copy-on-write among all children instead of being copied into each (measured: a bot's own
memory falls from ~20 MiB to ~9). The web stack is not imported here: only the frontend needs
it, and imports it itself. A child is forked straight from this warm parent and calls its entry
point: nothing is unpickled or re-run (multiprocessing's fork server re-runs main.py in every
child and ignores '__main__' in its preload list).

It touches no database and knows nothing of any network: what to import comes from main.
Between main and here: a SOCK_SEQPACKET socket (one pickled message per packet; a start carries
the child's pipe ends by SCM_RIGHTS), a shared memory file of heartbeat slots (a child's
`ctx.heartbeat` is its slot, written without a system call), and the lifeline pipe, whose EOF
ends this process and every child when main dies.
"""
from __future__ import annotations

import ctypes
import gc
import importlib
import logging
import mmap
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import types
from multiprocessing.connection import Connection
from pathlib import Path

log = logging.getLogger(__name__)

SLOTS = 1 << 16          # heartbeat slots: one per child main may have at a time
MAX_PACKET = 1 << 16
# The modules present when the children were forked (set in the fork parent before it forks):
# a child can tell what it imported itself.
PRELOADED: frozenset[str] = frozenset()


class ForkParentGone(Exception):
    pass


# --- main's side -------------------------------------------------------------------------------

class ForkedProcess:
    """A child forked by the fork parent, as main sees it: the parts of multiprocessing.Process
    that main uses. Its exit status comes from the fork parent (it is the child's parent)."""

    def __init__(self, name: str, pid: int):
        self.name, self.pid = name, pid
        self.exitcode: int | None = None
        self._ended = threading.Event()

    def _exited(self, code: int | None) -> None:
        self.exitcode = code
        self._ended.set()

    def is_alive(self) -> bool:
        return not self._ended.is_set()

    def join(self, timeout: float | None = None) -> None:
        self._ended.wait(timeout)

    def terminate(self) -> None:
        if self.is_alive():
            _kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.is_alive():
            _kill(self.pid)


def heartbeat_slot(buffer, slot: int):
    """A child's heartbeat (`.value`, a double) in the shared memory: main reads it, the
    child writes it."""
    return ctypes.c_double.from_buffer(buffer, slot * 8)


class Heartbeats:
    """Shared memory with one double per slot: main reads, each child writes its own."""

    def __init__(self):
        self.fd = os.memfd_create("ticketfrei-heartbeats", 0)  # no close-on-exec: handed on
        os.ftruncate(self.fd, SLOTS * 8)
        self.map = mmap.mmap(self.fd, SLOTS * 8)
        self._free = list(range(SLOTS - 1, -1, -1))

    def take(self):
        """(slot, its value object with `.value`) for a new child."""
        if not self._free:
            raise RuntimeError(f"more than {SLOTS} supervised processes")
        slot = self._free.pop()
        value = heartbeat_slot(self.map, slot)
        value.value = 0.0
        return slot, value

    def give_back(self, slot: int) -> None:
        self._free.append(slot)


class ForkParent:
    """main's handle on the fork parent: start() forks a child there."""

    def __init__(self, settings, preload: list[str], heartbeats: Heartbeats, lifeline_fd: int,
                 on_exit=lambda: None):
        self.settings, self.preload = settings, preload
        self.on_exit = on_exit  # called (in a thread of its own) when a child ended
        self.heartbeats, self.lifeline_fd = heartbeats, lifeline_fd
        self._lock = threading.Lock()       # one start at a time
        self._replies: dict = {}            # token: pid; ("exit", pid): exit status
        self._waiting: set[int] = set()     # tokens of starts still waited for
        self._reply = threading.Condition()
        self._children: dict[int, ForkedProcess] = {}
        self._tokens = iter(range(1, 1 << 62))
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None

    def open(self, timeout: float = 120.0) -> None:
        """Start the fork parent and wait until it imported everything (an import that fails
        stops start-up with its error: a missing library must not be found by each child)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        theirs.set_inheritable(True)
        here = str(Path(__file__).resolve().parent)
        code = (f"import sys; sys.path.insert(0, {here!r}); import forkparent; "
                f"forkparent.serve({theirs.fileno()}, {self.heartbeats.fd}, {self.lifeline_fd})")
        self.proc = subprocess.Popen([sys.executable, "-c", code],
                                     pass_fds=(theirs.fileno(), self.heartbeats.fd,
                                               self.lifeline_fd))
        theirs.close()
        self.sock = ours
        ours.sendall(pickle.dumps(("setup", dict(
            sys_path=sys.path, preload=self.preload, settings=self.settings))))
        ours.settimeout(timeout)
        try:
            message = pickle.loads(ours.recv(MAX_PACKET) or pickle.dumps(("gone",)))
        except (OSError, socket.timeout) as error:
            raise ForkParentGone(f"the fork parent did not start: {error}") from None
        finally:
            ours.settimeout(None)
        if message[0] != "ready":
            self.proc.kill()
            raise ForkParentGone(message[1] if len(message) > 1 else "the fork parent died")
        log.info("fork parent ready: %d modules imported, %d objects made immortal",
                 message[1], message[2])
        threading.Thread(target=self._read, daemon=True, name="fork parent").start()

    def start(self, name: str, target: str, fields: dict, slot: int, fds: list[int],
              timeout: float = 30.0) -> ForkedProcess:
        """Fork a child that runs `target` ("module:function") with a Context of `fields` and
        the pipe ends `fds` (to_main, then the inbox if any); main closes its copies after."""
        with self._lock:
            token = next(self._tokens)
            payload = pickle.dumps(("start", token, target, fields, slot))
            with self._reply:
                self._waiting.add(token)
            try:
                socket.send_fds(self.sock, [payload], fds)
            except OSError as error:
                with self._reply:
                    self._waiting.discard(token)
                raise ForkParentGone(f"the fork parent is gone: {error}") from None
            with self._reply:
                answered = self._reply.wait_for(lambda: token in self._replies or self.gone,
                                                timeout)
                # Given up on: a child forked after this would run unsupervised next to the
                # one main starts instead (two processes for one account); _read kills it.
                self._waiting.discard(token)
                if not answered:
                    raise ForkParentGone("the fork parent did not answer")
                if token not in self._replies:
                    raise ForkParentGone("the fork parent is gone")
                pid = self._replies.pop(token)
                proc = ForkedProcess(name, pid)
                self._children[pid] = proc
                # an exit that came before this reply was read
                early = self._replies.pop(("exit", pid), None)
            if early is not None:
                self._children.pop(pid, None)
                proc._exited(early)
            return proc

    @property
    def gone(self) -> bool:
        return self.proc is None or self.proc.poll() is not None or self.sock is None

    def _read(self) -> None:
        sock = self.sock
        while True:
            try:
                data = sock.recv(MAX_PACKET)
            except OSError:
                data = b""
            if not data:
                break
            message = pickle.loads(data)
            with self._reply:
                if message[0] == "started" and message[1] not in self._waiting:
                    _kill(message[2])  # its start was given up (timeout): nobody supervises it
                elif message[0] == "started":
                    self._replies[message[1]] = message[2]
                elif message[0] == "exit":
                    proc = self._children.pop(message[1], None)
                    if proc is not None:
                        proc._exited(message[2])
                    else:
                        self._replies[("exit", message[1])] = message[2]
                self._reply.notify_all()
            if message[0] == "exit":
                self.on_exit()
        # The fork parent died: its children are nobody's now. End them (main would start
        # their accounts again: two processes must never serve one account) and say so.
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        with self._reply:
            orphans, self._children = list(self._children.values()), {}
            self._reply.notify_all()
        for proc in orphans:
            proc.kill()
            proc._exited(None)
        self.on_exit()

    def close(self, timeout: float = 5.0) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _kill(pid: int, number: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


# --- the fork parent's side --------------------------------------------------------------------

def serve(sock_fd: int, heartbeats_fd: int, lifeline_fd: int) -> None:
    """The fork parent's main: set up, report ready, then fork on request until main is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; main decides
    sock = socket.socket(fileno=sock_fd)
    _, setup = pickle.loads(sock.recv(MAX_PACKET))
    sys.path[:] = setup["sys_path"]
    settings = setup["settings"]
    try:
        _preload(setup["preload"], settings)
    except BaseException as error:  # told to main, which stops with it
        sock.sendall(pickle.dumps(("failed", f"the fork parent could not import: "
                                             f"{type(error).__name__}: {error}")))
        sys.exit(1)
    heartbeats = mmap.mmap(heartbeats_fd, SLOTS * 8)
    global PRELOADED
    PRELOADED = frozenset(sys.modules)
    gc.collect()
    immortal = immortalize() if settings.supervisor.immortal_objects else 0
    gc.freeze()
    sock.sendall(pickle.dumps(("ready", len(PRELOADED), immortal)))
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that the wakeup fd is written
    while True:
        ready, _, _ = select.select([sock, wake_r, lifeline_fd], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            _reap(sock)
        if lifeline_fd in ready:
            return  # main is gone (EOF); the children see it on their own lifeline
        if sock in ready:
            try:
                data, fds, _flags, _addr = socket.recv_fds(sock, MAX_PACKET, 4)
            except OSError:
                return
            if not data:
                return  # main closed the socket: it is stopping
            _, token, target, fields, slot = pickle.loads(data)
            pid = os.fork()
            if pid == 0:
                os.close(wake_r)
                os.close(wake_w)
                _child(sock, target, fields, settings, heartbeats, slot, fds, lifeline_fd)
            for fd in fds:
                os.close(fd)
            sock.sendall(pickle.dumps(("started", token, pid)))


def _preload(modules: list[str], settings) -> None:
    import bots
    for name in modules:
        importlib.import_module(name)
    bots.load(settings)  # every enabled plugin's bot (and db) module, extra directories too
    from sqlalchemy.orm import configure_mappers
    configure_mappers()
    _warm(settings)


def _warm(settings) -> None:
    """Run a query on every mapped table once on an engine the children then use (emptied of
    connections): what SQLAlchemy builds and caches at a first use (the dialect's set-up, each
    mapper's and table's compiled parts) is made here, shared by every child, instead of in
    each."""
    import db
    from sqlalchemy import select
    url, busy_timeout = settings.database.url, settings.database.busy_timeout
    try:
        engine = db.make_engine(url, busy_timeout)
        try:
            with db.make_sessions(engine, settings)() as session:
                for mapper in db.Base.registry.mappers:
                    session.execute(select(mapper.class_).limit(0)).all()
        finally:
            engine.dispose()  # no connection stays open across a fork
        db.keep_for_children(engine, url, busy_timeout)
    except Exception as error:  # the database is down: the children do it themselves
        print(f"fork parent: could not warm up on the database: {type(error).__name__}",
              file=sys.stderr)


def immortalize() -> int:
    """Make every object reachable from the garbage collector's lists immortal (CPython 3.12
    and 3.13, PEP 683): the interpreter then never writes their reference counts, so a child
    that merely uses an object (calls a function, reads a column's name) leaves its page
    shared instead of copying it. Measured on 3.13: a bot's own memory falls from ~16 MiB to
    ~8. Returns how many objects were made immortal (0 where it does not apply).

    Only in this process, which has no threads, right before gc.freeze(). The cost: these
    objects are never freed, here or in a child, which is what a fork parent's objects are
    for anyway. An immortal object keeps working in every other respect (a C extension built
    for an older Python that increments the count only makes it mortal again, with a count
    that never falls to zero). The value is read from None, immortal by the interpreter
    itself; other versions (3.11 has no immortal objects; 3.14 changed the scheme) and
    free-threaded builds are left alone."""
    if (sys.implementation.name != "cpython" or sys.version_info[:2] not in ((3, 12), (3, 13))
            or sysconfig.get_config_var("Py_GIL_DISABLED")):
        return 0
    immortal = ctypes.c_ssize_t.from_address(id(None)).value
    if ctypes.c_int32(immortal).value >= 0:  # not this interpreter's immortal scheme
        return 0
    seen: set[int] = set()
    todo = gc.get_objects()
    made = 0
    while todo:
        obj = todo.pop()
        address = id(obj)
        if address in seen:
            continue
        seen.add(address)
        count = ctypes.c_ssize_t.from_address(address)
        if ctypes.c_int32(count.value).value >= 0:  # not immortal yet
            count.value = immortal
            made += 1
        if isinstance(obj, types.CodeType):
            # Code objects are not tracked by the collector and report no referents; a call
            # takes a reference to its code object, so they matter most.
            todo.extend((*obj.co_consts, *obj.co_names, *obj.co_varnames, *obj.co_freevars,
                         *obj.co_cellvars, obj.co_filename, obj.co_name, obj.co_qualname))
        else:
            todo.extend(gc.get_referents(obj))
    return made


def _reap(sock) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        try:
            sock.sendall(pickle.dumps(("exit", pid, os.waitstatus_to_exitcode(status))))
        except OSError:
            return


def _child(sock, target, fields, settings, heartbeats, slot, fds, lifeline_fd) -> None:
    """In the forked child: become the process main asked for, run it, exit."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        import process
        module, _, function = target.partition(":")
        inbox = process.Inbox(Connection(fds[1], writable=False)) if len(fds) > 1 else None
        ctx = process.Context(settings=settings,
                              heartbeat=heartbeat_slot(heartbeats, slot),
                              lifeline=Connection(lifeline_fd, writable=False),
                              to_main=Connection(fds[0], readable=False), inbox=inbox, **fields)
        getattr(importlib.import_module(module), function)(ctx)
        code = 0
    except SystemExit as error:
        code = error.code if isinstance(error.code, int) else (0 if error.code is None else 1)
    except BaseException:
        logging.getLogger(__name__).exception("a child of the fork parent failed")
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)

