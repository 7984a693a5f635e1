"""What the local test servers of the networks share (tests/mastodon_server.py,
tests/telegram_server.py): a threading WSGI server on 127.0.0.1 on a port of its own, started
and closed with the test, quiet in the test's output. A subclass is the WSGI application
(`__call__`) and keeps its state; this only serves it."""
from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from typing import Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a request held by a hang or a long poll never keeps close() waiting

    def handle_error(self, request, client_address):  # a client that timed out and left
        pass


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class LocalServer:
    """Serves `self` on `self.url` (`http://127.0.0.1:PORT`) from a daemon thread. Use as a
    context manager, or call start() and close(). `_stop` is set while closing: a held request
    waits on it."""

    handler_class = QuietHandler

    def __init__(self):
        self._stop = threading.Event()
        self._httpd = None
        self._thread = None
        self.url = ""

    def start(self) -> Self:
        self._stop.clear()
        self._httpd = make_server("127.0.0.1", 0, self, server_class=ThreadingWSGIServer,
                                  handler_class=self.handler_class)
        port = self._httpd.server_port
        self.url = f"http://127.0.0.1:{port}"
        self._started(port)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"{type(self).__name__}-{port}", daemon=True)
        self._thread.start()
        return self

    def _started(self, port: int) -> None:
        """The port is known: addresses that name it can be set."""

    def _closing(self) -> None:
        """Wake what waits besides `_stop` (long polls)."""

    def close(self) -> None:
        self._stop.set()
        self._closing()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
