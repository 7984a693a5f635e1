"""What every process main supervises shares: its context, logging, heartbeat and lifeline.

main builds a Context for each child and passes it at start (queue handles can only be given
to a process when it starts). The child calls `enter(ctx)` first thing. This module touches
no database and knows nothing of any network.
"""
from __future__ import annotations

import fcntl
import functools
import logging
import multiprocessing.connection
import os
import queue
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

# Exit status of a bot whose credentials the network refused: main must not restart it.
EXIT_INACTIVE = 3

LOG_FORMAT = "%(asctime)s %(levelname)s [%(procname)s] %(name)s: %(message)s"


@dataclass
class Context:
    name: str                    # "berlin/mastodon:3", "censor", "frontend", "service:mail"
    kind: str                    # bot, censor, frontend, service
    settings: SimpleNamespace
    heartbeat: Any               # multiprocessing.Value('d'): time.monotonic() of the last beat
    lifeline: Any                # Connection whose far end only main holds: EOF when main dies
    to_main: Any                 # this process's own pipe to main (no other process writes it)
    inbox: Any = None            # Inbox: main -> bot: delivery ids; main -> censor: report ids

    bot: dict = field(default_factory=dict)  # for bots: network, account, city_id, city


class Inbox:
    """The news main sends one process, read like a queue. It is a pipe with one writer (main)
    and one reader, new for every start, not a multiprocessing.Queue: a reader killed inside
    Queue.get() leaves the queue's lock taken for good, and a queue's semaphores leak when
    main is killed. main never blocks on it: news that does not fit is dropped, and the
    reader's periodic look into the database finds that work (the database holds the truth)."""

    def __init__(self, reader):
        self._reader = reader

    def get(self, timeout: float | None = None):
        try:
            if self._reader.poll(timeout):
                return self._reader.recv()
        except (EOFError, OSError):
            time.sleep(timeout or 0)  # main is gone; the lifeline ends this process
        raise queue.Empty

    def fileno(self) -> int:
        return self._reader.fileno()

    def get_nowait(self):
        return self.get(0)

    def close(self) -> None:
        self._reader.close()


# News main sends after it had to drop some: "look into the database now".
SWEEP = "sweep"
# News for a bot: "there are messages for you now" (receive_now); it receives at once instead
# of at its next poll.
RECEIVE = "receive"


def inbox_pipe(mp_context):
    """(Inbox for the child, main's non-blocking write end)."""
    reader, writer = mp_context.Pipe(duplex=False)
    os.set_blocking(writer.fileno(), False)
    try:  # room for a burst: 1 MiB, the most an unprivileged process may ask for by default
        fcntl.fcntl(writer.fileno(), fcntl.F_SETPIPE_SZ, 1024 * 1024)
    except (OSError, AttributeError):
        pass
    return Inbox(reader), writer


def post(writer, message) -> bool:
    """main: put news in a child's inbox without ever waiting. Each message is far below
    PIPE_BUF, so a non-blocking write is all or nothing. False if it was dropped."""
    try:
        writer.send(message)
        return True
    except (BlockingIOError, BrokenPipeError, OSError, ValueError):
        return False


def receive(inbox: Inbox, timeout: float, most: int = 10_000, wake: int | None = None) -> list:
    """Wait up to timeout for news, then take whatever else is there already. A readable
    `wake` file descriptor (a bot's receive thread is done) ends the wait early."""
    items = []
    if wake is not None:
        ready = multiprocessing.connection.wait([inbox.fileno(), wake], timeout)
        if inbox.fileno() not in ready:
            return items
        timeout = 0
    try:
        items.append(inbox.get(timeout=timeout))
        while len(items) < most:
            items.append(inbox.get_nowait())
    except queue.Empty:
        pass
    return items


# An e-mail address in an error text (a relay's answer names the recipient): status and logs
# show errors to organisers, and must not name anybody.
_ADDRESS = re.compile(r"[^\s<>@\"',;:()\[\]]{1,64}@[^\s<>@\"',;:()\[\]]{1,255}")


# A URL's path and query (tokens travel there: Telegram's /bot<token>/, ?access_token=) and
# what requests calls "url: /path?query"; and a Telegram bot token anywhere.
_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s?#'\"<>]+)[^\s'\"<>)]*")
_URL_PATH = re.compile(r"(\burl: )[^\s'\"<>)]+")
_BOT_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")


def redact(text: str) -> str:
    """Text for logs and status: no e-mail address, no URL path or query, no bot token."""
    text = _URL.sub(r"\1/…", text)
    text = _URL_PATH.sub(r"\1…", text)
    text = _BOT_TOKEN.sub("<token>", text)
    return _ADDRESS.sub("<address>", text)


def describe_error(error: BaseException) -> str:
    """An error as status and logs show it: its kind and the first line of its message, short,
    with addresses taken out (SQL parameters never appear: engines hide them)."""
    lines = str(error).strip().splitlines()
    text = redact(lines[0][:300]) if lines else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class _OneLine(logging.Formatter):
    """A record, traceback included, on a single line (log collectors split on newlines), and
    redacted: a library's error in a traceback names URLs with tokens, or an address."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record).replace("\n", " | "))


class _ProcessName(logging.Filter):
    def __init__(self, name: str):
        super().__init__()
        self.procname = name

    def filter(self, record: logging.LogRecord) -> bool:
        record.procname = self.procname
        return True


def setup_logging(name: str, level: str = "INFO") -> None:
    """One line per record on stdout, naming the process (city and bot)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_OneLine(LOG_FORMAT))
    handler.addFilter(_ProcessName(name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Request lines of libraries would name addresses, a network's ids of a reporter's post, or
    # (httpx, under python-telegram-bot) a bot token in the URL: keep them out of the log,
    # whatever level the operator chose.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    for library in ("urllib3", "httpx", "httpcore", "requests_oauthlib", "oauthlib"):
        logging.getLogger(library).setLevel(logging.WARNING)


def enter(ctx: Context) -> None:
    """Make this process a well-behaved child: logging, signals, beat, and die with main."""
    setup_logging(ctx.name, ctx.settings.instance.log_level)
    # Ctrl-C in a terminal reaches the whole process group; main decides how children stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM keeps its default action, ending the process at once: every transaction is
    # atomic and all work is resumed from the database, so stopping is as safe as SIGKILL,
    # and a Python handler would wait for C code (SQLite's busy wait: up to 30 s) to return.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_watch_lifeline, args=(ctx.lifeline,), daemon=True,
                     name="lifeline").start()
    beat(ctx)


def _watch_lifeline(lifeline) -> None:
    try:
        while True:
            lifeline.recv()
    except (EOFError, OSError):
        pass
    # main is gone: ask the main thread to stop, and make sure the process ends.
    logging.getLogger(__name__).warning("main process is gone, exiting")
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
    os._exit(1)


def beat(ctx: Context, busy_since: float | None = None, waiting: float = 0.0) -> None:
    """This process is alive. `busy_since`: the start of work under way in another thread
    (a bot's network call), which must come back in time too: the beat is no newer.
    `waiting`: the seconds the process is about to spend waiting for news, which cannot hang;
    the beat counts from their end, so that an idle process need not wake only to beat (it
    beats again as soon as it wakes)."""
    now = time.monotonic() + waiting
    ctx.heartbeat.value = now if busy_since is None else min(now, busy_since)


_send_lock = threading.Lock()


def _send(ctx: Context, message: tuple) -> None:
    # Messages are far below PIPE_BUF, so each is one atomic write: a process killed while
    # sending cannot leave half a message in its pipe.
    try:
        with _send_lock:
            ctx.to_main.send(message)
    except (OSError, ValueError):
        pass  # main is gone; the lifeline ends this process


def tell_main(ctx: Context, event: str, **data) -> None:
    """Status news for main: 'report', 'delivery', 'error' (with text), 'recovered' (from the
    error with that text) or 'inactive'."""
    if "text" in data:
        data["text"] = redact(str(data["text"])[:2000])[:500]
    _send(ctx, ("event", event, time.time(), data))


def report_stored(ctx: Context, report_id: int) -> None:
    """A bot stored a new report: main hands it to the censor."""
    _send(ctx, ("report", report_id))


def deliveries_stored(ctx: Context, news: list[tuple]) -> None:
    """The censor stored deliveries, (city_id, network, account, delivery_id) each: main
    hands each to its bot."""
    _send(ctx, ("news", news))


def receive_now(ctx: Context, city_id: int, network: str, account_id: str) -> None:
    """Messages for a bot arrived through one of our own processes (the SMTP service stored
    a mail): main tells that bot to receive now, so that it need not poll a local table."""
    _send(ctx, ("receive", city_id, network, account_id))


def database_changed(ctx: Context) -> None:
    """The frontend changed cities or accounts: main reconciles now."""
    _send(ctx, ("reconcile",))


def child_main(entry):
    """Decorate a child's entry point: enter(ctx) first, and a crash is logged and told to
    main (as the process's last error) before the process exits with status 1."""
    @functools.wraps(entry)
    def wrapper(ctx: Context) -> None:
        enter(ctx)
        try:
            entry(ctx)
        except SystemExit:
            raise
        except BaseException as error:
            logging.getLogger(entry.__module__).exception("stopped by an error")
            tell_main(ctx, "error", text=describe_error(error))
            sys.exit(1)
    return wrapper
