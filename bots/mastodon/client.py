"""Talking to a Mastodon instance through Mastodon.py, for the bot and its web UI: an instance's
address as typed made a base URL, a client with our timeouts, and Mastodon.py's errors turned
into the run loop's (bots/README.md, "Errors"). Touches no database.

Mastodon.py facts this relies on: with ratelimit_method="throw" a 429 raises
MastodonRatelimitError and the reset is in `api.ratelimit_reset` (local Unix time); a timeout
or a refused connection raises MastodonNetworkError (an OSError); a body that is not JSON
raises a plain MastodonAPIError; version_check_mode="none" makes no request on construction
(any other mode loops on an instance that answers 5xx).
"""
from __future__ import annotations

import ipaddress
import re
import socket
import time
from urllib.parse import urlsplit

import requests

from mastodon import (Mastodon, MastodonAPIError, MastodonNetworkError, MastodonNotFoundError,
                      MastodonRatelimitError, MastodonServerError, MastodonUnauthorizedError)

from bots import CredentialsRefused, TryLater

SCOPES = ["read", "write"]  # the least that reads mentions and posts
USER_AGENT = "Ticketfrei (+https://github.com/ticketfrei)"
MAX_ANSWER = 1024 * 1024   # bytes: Mastodon's answers are far smaller
MAX_WAIT = 900.0           # seconds: a rate-limit reset further ahead is not believed


HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|[0-9a-fA-F:.]{2,45}")  # a name or an IP address


class AddressError(ValueError):
    """An instance address that cannot be used; the message is for the organiser."""


class Refused(Exception):
    """The instance refused one request for good (404, 422, …): `code` and its message."""

    def __init__(self, code: int | None, message: str):
        super().__init__(message)
        self.code = code


def base_url(address: str, private: bool = False) -> str:
    """`chaos.social`, `https://chaos.social/`, `@user@chaos.social` → `https://chaos.social`.
    http:// only for the loopback. With `private` false (an organiser's form), the name must
    resolve to public addresses only: no instance on this machine or its networks (the
    frontend's own port, a cloud's metadata service), unless the operator allows them
    (`[bots.mastodon] private_instances`)."""
    address = (address or "").strip()
    if address.startswith("@") and address.count("@") == 2:
        address = address.rsplit("@", 1)[1]
    if "://" not in address:
        address = "https://" + address
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
        if host and not host.isascii() and ":" not in host:
            host = host.encode("idna").decode("ascii")  # münchen.social
    except (ValueError, UnicodeError):
        raise AddressError("That is not an instance's address (such as chaos.social).") from None
    extra = parts.username or parts.password or parts.query or parts.fragment or parts.path.strip("/")
    if not host or not HOST.fullmatch(host) or extra or len(address) > 300:
        raise AddressError("That is not an instance's address (such as chaos.social).")
    if parts.scheme not in ("https", "http"):
        raise AddressError("An instance's address starts with https://.")
    if parts.scheme == "http" and not _loopback(host):
        raise AddressError("Only https:// instances can be connected.")
    host = host.lower()
    if not private and not _public(host, port or 443):
        raise AddressError("That address is not a public instance on the internet.")
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}{f':{port}' if port else ''}"


def _public(host: str, port: int) -> bool:
    """Whether every address the name resolves to is public (unresolvable: let the request
    fail and say so)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return True
    return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_global for info in infos)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CappedSession(requests.Session):
    """Requests to an instance that an organiser named (it may be anyone's server): only to
    that instance (its OAuth metadata may name endpoints elsewhere, an internal address), no
    redirects, answers of at most MAX_ANSWER bytes, each read within the timeout and the whole
    answer within twice it."""

    def __init__(self, base: str):
        super().__init__()
        self.origin = _origin(base)

    def request(self, method, url, **kwargs):
        if _origin(url) != self.origin:
            raise requests.ConnectionError("the instance named an address elsewhere")
        kwargs.update(allow_redirects=False, stream=True)
        timeout = kwargs.get("timeout") or 20.0
        answer = super().request(method, url, **kwargs)
        deadline, body = time.monotonic() + 2 * float(timeout), bytearray()
        try:
            for chunk in answer.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_ANSWER or time.monotonic() > deadline:
                    raise requests.ConnectionError("the instance's answer is too large or slow")
        finally:
            answer.close()
        answer._content, answer._content_consumed = bytes(body), True
        return answer


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def session(base: str) -> requests.Session:
    return CappedSession(base)


def api(base: str, timeout: float, token: str | None = None, client_id: str | None = None,
        client_secret: str | None = None) -> Mastodon:
    return Mastodon(client_id=client_id, client_secret=client_secret, access_token=token,
                    api_base_url=base, request_timeout=timeout, ratelimit_method="throw",
                    version_check_mode="none", user_agent=USER_AGENT, session=session(base))


# Calls about the whole account: a 403 there means the account may not do it at all (suspended,
# a token without the scope), not that one status is refused.
ACCOUNT_WIDE = {"notifications", "account_verify_credentials", "status_post", "instance_v2"}


def call(client: Mastodon, method: str, *args, **kwargs):
    """client.<method>(...), with Mastodon.py's errors as the run loop's: TryLater (429 until
    the announced reset; 5xx and an answer that is not JSON after the loop's backoff),
    CredentialsRefused (401, a suspended account), ConnectionError (no answer), Refused
    (anything else the instance refused)."""
    try:
        return getattr(client, method)(*args, **kwargs)
    except MastodonRatelimitError:
        reset = client.ratelimit_reset or time.time() + 60
        raise TryLater("the instance's rate limit is reached",
                       delay=min(max(1.0, reset - time.time()), MAX_WAIT))
    except MastodonUnauthorizedError:
        raise CredentialsRefused("the instance refused the account's token (401): "
                                 "reconnect your account") from None
    except MastodonNetworkError as error:
        raise ConnectionError(f"the instance did not answer ({type(error).__name__})") from None
    except MastodonServerError as error:
        raise TryLater(f"the instance answered {_code(error)}", delay=None) from None
    except MastodonNotFoundError as error:
        raise Refused(404, _text(error) or "not found") from None
    except MastodonAPIError as error:
        code = _code(error)
        if code is None:  # 200 with a body that is not JSON: a broken proxy, a maintenance page
            raise TryLater("the instance's answer was not Mastodon's", delay=None) from None
        if code == 403 and (method in ACCOUNT_WIDE or "disabled" in _text(error).lower()):
            raise CredentialsRefused(f"the instance refused the account ({method}, 403: "
                                     f"{_text(error) or 'forbidden'}): reconnect your account "
                                     "(with the scopes read and write)") from None
        raise Refused(code, _text(error) or f"the instance answered {code}") from None


def _code(error: MastodonAPIError) -> int | None:
    return error.args[1] if len(error.args) > 1 and isinstance(error.args[1], int) else None


def _text(error: MastodonAPIError) -> str:
    text = error.args[3] if len(error.args) > 3 else ""
    return str(text or "")[:200]
