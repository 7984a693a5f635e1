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
import time
from urllib.parse import urlsplit

import requests

from mastodon import (Mastodon, MastodonAPIError, MastodonNetworkError, MastodonNotFoundError,
                      MastodonRatelimitError, MastodonServerError, MastodonUnauthorizedError)

import guarded
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
    if not private and not guarded.public_address(host, port or 443):
        raise AddressError("That address is not a public instance on the internet.")
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}{f':{port}' if port else ''}"


def plain_http(base: str) -> bool:
    """Whether Mastodon.py must allow http:// for this base URL (loopback only: base_url)."""
    return base.startswith("http://")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def session(base: str, private: bool | None = None) -> requests.Session:
    """A session to the instance at `base`; to private addresses only if `private` (by default
    the operator's choice, `[bots.mastodon] private_instances`)."""
    if private is None:
        from .bot import MastodonBot  # not at the top: bot imports this module
        private = bool(MastodonBot.options and MastodonBot.options.private_instances)
    return guarded.CappedSession(base, public_only=not private, max_answer=MAX_ANSWER,
                                  what="the instance")


def api(base: str, timeout: float, token: str | None = None, client_id: str | None = None,
        client_secret: str | None = None, private: bool | None = None) -> Mastodon:
    return Mastodon(client_id=client_id, client_secret=client_secret, access_token=token,
                    api_base_url=base, request_timeout=timeout, ratelimit_method="throw",
                    version_check_mode="none", user_agent=USER_AGENT,
                    session=session(base, private))


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
