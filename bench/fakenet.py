"""A fake social network on 127.0.0.1 that bots wait on as on a real one (the benchmark's).

One asyncio HTTP/1.1 server (stdlib only, keep-alive) in a thread of the benchmark process:
it holds hundreds of long polls cheaply, and it is the clock every latency is read from.

HTTP API (JSON), what a bot sees:

    GET  /updates?account=<key>&after=<id>&timeout=<s>
         -> [{"id": int, "text": str}, ...]  the account's messages with id > after, oldest
            first; waits up to `timeout` seconds (at most 60) for one to arrive, else [].
    POST /post  {"account": key, "text": str, "key": idempotency key}
         -> {"id": int, "attempts": int}  records the post with its arrival time; a key the
            account posted before is counted (attempts), not stored twice.
    GET  /healthz -> {"ok": true}

An account key is "<city name>/<account name>". Message ids are unique over the whole network.

Control, for the driver: the methods of FakeNet below (called from any thread: inject,
posts, messages, hang, recover, polled, stats), or the same over HTTP for a server run on
its own (`python bench/fakenet.py --port 8765`): POST /control/inject {"account", "text"},
GET /control/posts, POST /control/hang {"city"}, POST /control/recover {"city"}.

A hung city's accounts answer nothing: a request for one of them (updates or post) is held
without an answer until the city recovers, and its connection is then closed unanswered; a
long poll that was waiting when the city hung is not answered either.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import concurrent.futures
import json
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from urllib.parse import parse_qs, urlsplit

MAX_LONG_POLL = 60.0
MAX_HEAD = 16 * 1024
MAX_BODY = 1024 * 1024
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           411: "Length Required", 413: "Payload Too Large"}


@dataclass
class Message:
    id: int
    account: str
    text: str
    sent_at: float


@dataclass
class Post:
    id: int
    account: str
    text: str
    key: str
    at: float          # arrival of the first post with this key (time.time())
    attempts: int = 1  # posts with this key, the first one included


def city_of(account: str) -> str:
    return account.split("/", 1)[0]


class FakeNet:
    """The network. start() runs it in a daemon thread; `url` is its base URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self.url = ""
        self._lock = threading.Lock()  # guards messages, posts, counters (any thread)
        self._messages: dict[str, list[Message]] = defaultdict(list)
        self._ids: dict[str, list[int]] = defaultdict(list)  # per account, for bisect
        self._next_id = 1
        self._posts: list[Post] = []
        self._post_index: dict[tuple[str, str], Post] = {}
        self._first_poll: dict[str, float] = {}
        self._counts = defaultdict(int)
        # loop-thread state
        self._waiters: dict[str, set[asyncio.Future]] = defaultdict(set)
        self._hung: dict[str, asyncio.Event] = {}  # city -> set when it recovers
        self._clients: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None

    # --- life ------------------------------------------------------------------------------
    def start(self) -> FakeNet:
        ready = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True,
                                        name="fakenet")
        self._thread.start()
        ready.result(timeout=10)
        return self

    def _run(self, ready: concurrent.futures.Future) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(asyncio.start_server(
                self._client, self.host, self.port, backlog=4096, limit=MAX_HEAD))
            self.port = self._server.sockets[0].getsockname()[1]
            self.url = f"http://{self.host}:{self.port}"
        except BaseException as error:  # noqa: BLE001 - handed to start()
            ready.set_exception(error)
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self) -> None:
        if self._loop is None or self._loop.is_closed():
            return

        async def shutdown():
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            await self._server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> FakeNet:
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()

    def _in_loop(self, function, *args):
        """Run function(*args) in the loop thread and return its result."""
        if threading.current_thread() is self._thread:
            return function(*args)
        done = concurrent.futures.Future()

        def call():
            try:
                done.set_result(function(*args))
            except BaseException as error:  # noqa: BLE001
                done.set_exception(error)

        self._loop.call_soon_threadsafe(call)
        return done.result(timeout=10)

    # --- control ---------------------------------------------------------------------------
    def inject(self, account: str, text: str) -> Message:
        """The public writes `text` to `account`; its sent_at is now."""
        with self._lock:
            message = Message(self._next_id, account, text, time.time())
            self._next_id += 1
            self._messages[account].append(message)
            self._ids[account].append(message.id)
        self._loop.call_soon_threadsafe(self._wake, account)
        return message

    def posts(self) -> list[Post]:
        """Everything posted so far, in arrival order (copies)."""
        with self._lock:
            return [Post(**asdict(p)) for p in self._posts]

    def messages(self) -> list[Message]:
        with self._lock:
            return sorted((m for ms in self._messages.values() for m in ms), key=lambda m: m.id)

    def hang(self, city: str) -> None:
        """The city's accounts answer nothing from now on (updates and posts)."""
        self._in_loop(self._set_hung, city)

    def recover(self, city: str) -> None:
        """The city's accounts answer again; requests held meanwhile are closed unanswered."""
        self._in_loop(self._set_recovered, city)

    def polled(self) -> dict[str, float]:
        """{account: time of its first /updates request}."""
        with self._lock:
            return dict(self._first_poll)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    # --- loop thread -----------------------------------------------------------------------
    def _set_hung(self, city: str) -> None:
        self._hung.setdefault(city, asyncio.Event())

    def _set_recovered(self, city: str) -> None:
        event = self._hung.pop(city, None)
        if event is not None:
            event.set()

    def _wake(self, account: str) -> None:
        for waiter in self._waiters.pop(account, ()):
            if not waiter.done():
                waiter.set_result(None)

    def _after(self, account: str, after: int) -> list[dict]:
        with self._lock:
            ids = self._ids.get(account)
            if not ids:
                return []
            start = bisect.bisect_right(ids, after)
            return [{"id": m.id, "text": m.text} for m in self._messages[account][start:]]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._clients.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    await self._answer(writer, 400, {"error": "bad request line"}, False)
                    return
                headers = {}
                for line in lines[1:]:
                    name, colon, value = line.partition(":")
                    if colon:
                        headers[name.strip().lower()] = value.strip()
                keep = (version.strip() == "HTTP/1.1"
                        and headers.get("connection", "").lower() != "close")
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    await self._answer(writer, 411, {"error": "send a Content-Length"}, False)
                    return
                try:
                    length = int(headers.get("content-length") or 0)
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY:
                    await self._answer(writer, 413, {"error": "bad Content-Length"}, False)
                    return
                try:
                    body = await reader.readexactly(length) if length else b""
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                answer = await self._handle(method, target, body)
                if answer is None:  # a hung account: close without an answer
                    return
                if not await self._answer(writer, *answer, keep):
                    return
                if not keep:
                    return
        except asyncio.CancelledError:
            pass
        finally:
            self._clients.discard(task)
            writer.close()

    async def _answer(self, writer, status: int, payload, keep: bool) -> bool:
        data = json.dumps(payload).encode()
        head = (f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                + ("" if keep else "Connection: close\r\n") + "\r\n")
        try:
            writer.write(head.encode() + data)
            await writer.drain()
            return True
        except ConnectionError:
            return False

    async def _hold(self, account: str) -> bool:
        """Wait while the account's city hangs; True if it hung (answer nothing)."""
        event = self._hung.get(city_of(account))
        if event is None:
            return False
        with self._lock:
            self._counts["held"] += 1
        await event.wait()
        return True

    async def _handle(self, method: str, target: str, body: bytes):
        """(status, payload) or None for no answer at all."""
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        if url.path == "/updates" and method == "GET":
            return await self._updates(query)
        if url.path == "/post" and method == "POST":
            if not isinstance(data, dict) or not isinstance(data.get("account"), str) \
                    or not isinstance(data.get("text"), str):
                return 400, {"error": "account and text are needed"}
            if await self._hold(data["account"]):
                return None
            return 200, self._post(data["account"], data["text"], str(data.get("key") or ""))
        if url.path == "/healthz":
            return 200, {"ok": True}
        if url.path.startswith("/control/"):
            return self._control(method, url.path[len("/control/"):], data)
        return 404, {"error": f"no {method} {url.path}"}

    async def _updates(self, query: dict):
        account = query.get("account", "")
        if "/" not in account:
            return 400, {"error": "account=<city>/<name> is needed"}
        try:
            after = int(query.get("after") or 0)
            wait = min(max(float(query.get("timeout") or 0), 0.0), MAX_LONG_POLL)
        except ValueError:
            return 400, {"error": "after and timeout are numbers"}
        with self._lock:
            self._first_poll.setdefault(account, time.time())
            self._counts["updates"] += 1
        if await self._hold(account):
            return None
        deadline = time.monotonic() + wait
        while True:
            found = self._after(account, after)
            left = deadline - time.monotonic()
            if found or left <= 0:
                if await self._hold(account):  # it hung while this poll waited
                    return None
                return 200, found
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[account].add(waiter)
            try:
                await asyncio.wait((waiter,), timeout=left)
            finally:
                self._waiters.get(account, set()).discard(waiter)

    def _post(self, account: str, text: str, key: str) -> dict:
        with self._lock:
            self._counts["posts"] += 1
            earlier = self._post_index.get((account, key)) if key else None
            if earlier is not None:
                earlier.attempts += 1
                return {"id": earlier.id, "attempts": earlier.attempts}
            post = Post(len(self._posts) + 1, account, text, key, time.time())
            self._posts.append(post)
            if key:
                self._post_index[(account, key)] = post
            return {"id": post.id, "attempts": 1}

    def _control(self, method: str, what: str, data):
        if what == "posts" and method == "GET":
            return 200, [asdict(p) for p in self.posts()]
        if method != "POST" or not isinstance(data, dict):
            return 405, {"error": "POST a JSON object"}
        if what == "inject":
            message = self.inject(str(data.get("account", "")), str(data.get("text", "")))
            return 200, asdict(message)
        if what in ("hang", "recover"):
            (self._set_hung if what == "hang" else self._set_recovered)(str(data.get("city", "")))
            return 200, {"ok": True}
        return 404, {"error": f"no control {what}"}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake network on its own.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    net = FakeNet(args.host, args.port).start()
    print(f"fake network on {net.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        net.stop()


if __name__ == "__main__":
    main()
