"""Requests to servers that organisers name (a Mastodon instance, a transit feed's URL): they
may be anyone's, so a request goes only to the origin named, only to a public address unless
the operator allows private ones (checked on each connection itself, so a name that resolved to
a public address for a form may not lead elsewhere now), follows no redirect, takes an answer up
to a size, and ends within twice its timeout (a server trickling its answer a byte at a time
would otherwise hold a thread: a socket's timeout is per read).

Touches no database; core and plugins use it alike.
"""
from __future__ import annotations

import ipaddress
import socket
import threading
import weakref
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection


_EMBEDDING = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))


def is_public(text: str) -> bool:
    """Whether an address is public; an IPv6 address that carries an IPv4 one (mapped, NAT64,
    the old compatible form: "::127.0.0.1") is judged by that one."""
    address = ipaddress.ip_address(text.split("%")[0])
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped.is_global
        if any(address in net for net in _EMBEDDING) and int(address) > 0xFFFF:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF).is_global
    return address.is_global


def public_address(host: str, port: int) -> bool:
    """Whether every address the name resolves to is public (unresolvable: let the request
    fail and say so)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return True
    return all(is_public(info[4][0]) for info in infos)


class CappedSession(requests.Session):
    """A session to one origin, guarded as the module says: answers of at most `max_answer`
    bytes, held in memory (`download` writes larger ones to a file). `what` names the server
    in errors ("the instance")."""

    def __init__(self, base: str, public_only: bool, max_answer: int = 1024 * 1024,
                 what: str = "the server"):
        super().__init__()
        self.trust_env = False  # no proxy from the environment: it would connect for us
        self.origin = origin(base)
        self.public_only = public_only
        self.max_answer = max_answer
        self.what = what
        self.sockets = weakref.WeakSet()  # of this session's connections, to cut at the deadline
        for prefix in ("http://", "https://"):
            self.mount(prefix, _GuardedAdapter())

    def request(self, method, url, into=None, **kwargs):
        """As requests' request; with `into` (a binary file) the body goes there, up to
        max_answer bytes, and the answer's content is empty."""
        if origin(url) != self.origin:
            raise requests.ConnectionError(f"{self.what} named an address elsewhere")
        kwargs.update(allow_redirects=False, stream=True)
        timeout = kwargs.get("timeout") or 20.0
        timeout = max(timeout) if isinstance(timeout, tuple) else float(timeout)
        deadline = threading.Timer(2 * timeout, self._cut)
        deadline.daemon = True
        _current.session, self.cut = self, False
        deadline.start()
        try:
            answer = super().request(method, url, **kwargs)
            body, size = bytearray(), 0
            try:
                for chunk in answer.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > self.max_answer:
                        raise requests.ConnectionError(f"{self.what}'s answer is too large")
                    if into is not None:
                        into.write(chunk)
                    else:
                        body += chunk
            finally:
                answer.close()
            if self.cut:  # the answer ended because we cut it: it is not whole
                raise requests.ConnectionError("cut")
        except (requests.RequestException, OSError) as error:
            if self.cut:
                raise requests.ConnectionError(f"{self.what}'s answer took too long") from None
            raise error
        finally:
            deadline.cancel()
            _current.session = None
        answer._content, answer._content_consumed = bytes(body), True
        return answer

    def _opened(self, sock: socket.socket) -> None:
        if self.public_only:
            if not is_public(sock.getpeername()[0]):
                sock.close()
                raise ConnectionRefusedError(f"{self.what}'s address is not public (the "
                                             "operator may allow private addresses)")
        self.sockets.add(sock)

    def _cut(self) -> None:
        """At the deadline: shut this session's connections; the blocked read returns."""
        self.cut = True
        for sock in list(self.sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


_current = threading.local()  # the CappedSession making a request in this thread


class _Guarded:
    """A connection that reports its sockets to the session making the request: the raw one
    (where it landed), then the TLS one that replaces it."""

    def _new_conn(self):
        sock = super()._new_conn()
        if getattr(_current, "session", None) is not None:
            _current.session._opened(sock)
        return sock

    def connect(self):
        super().connect()
        if getattr(_current, "session", None) is not None and self.sock is not None:
            _current.session.sockets.add(self.sock)


class _HTTPConnection(_Guarded, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_Guarded, urllib3.connection.HTTPSConnection):
    pass


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _TLSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _GuardedAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}


def origin(url: str) -> tuple:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
