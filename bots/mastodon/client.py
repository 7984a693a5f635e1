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

from mastodon import (Mastodon, MastodonAPIError, MastodonNetworkError, MastodonNotFoundError,
                      MastodonRatelimitError, MastodonServerError, MastodonUnauthorizedError)

from bots import CredentialsRefused, TryLater

SCOPES = ["read", "write"]  # the least that reads mentions and posts
USER_AGENT = "Ticketfrei (+https://github.com/ticketfrei)"


HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|[0-9a-fA-F:.]{2,45}")  # a name or an IP address


class AddressError(ValueError):
    """An instance address that cannot be used; the message is for the organiser."""


class Refused(Exception):
    """The instance refused one request for good (404, 422, …): `code` and its message."""

    def __init__(self, code: int | None, message: str):
        super().__init__(message)
        self.code = code


def base_url(address: str) -> str:
    """`chaos.social`, `https://chaos.social/`, `@user@chaos.social` → `https://chaos.social`.
    http:// only for the loopback (tests, a private instance on the same machine)."""
    address = (address or "").strip()
    if address.startswith("@") and address.count("@") == 2:
        address = address.rsplit("@", 1)[1]
    if "://" not in address:
        address = "https://" + address
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise AddressError("That is not an instance's address (such as chaos.social).") from None
    extra = parts.username or parts.password or parts.query or parts.fragment or parts.path.strip("/")
    if not host or not HOST.fullmatch(host) or extra or len(address) > 300:
        raise AddressError("That is not an instance's address (such as chaos.social).")
    if parts.scheme not in ("https", "http"):
        raise AddressError("An instance's address starts with https://.")
    if parts.scheme == "http" and not _loopback(host):
        raise AddressError("Only https:// instances can be connected.")
    host = host.lower()
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}{f':{port}' if port else ''}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api(base: str, timeout: float, token: str | None = None, client_id: str | None = None,
        client_secret: str | None = None) -> Mastodon:
    return Mastodon(client_id=client_id, client_secret=client_secret, access_token=token,
                    api_base_url=base, request_timeout=timeout, ratelimit_method="throw",
                    version_check_mode="none", user_agent=USER_AGENT)


def call(client: Mastodon, method: str, *args, **kwargs):
    """client.<method>(...), with Mastodon.py's errors as the run loop's: TryLater (429 until
    the announced reset; 5xx and an answer that is not JSON after the loop's backoff),
    CredentialsRefused (401, a suspended account), ConnectionError (no answer), Refused
    (anything else the instance refused)."""
    try:
        return getattr(client, method)(*args, **kwargs)
    except MastodonRatelimitError:
        reset = client.ratelimit_reset or time.time() + 60
        raise TryLater("the instance's rate limit is reached", delay=max(1.0, reset - time.time()))
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
        if code == 403 and "disabled" in (_text(error) or "").lower():
            raise CredentialsRefused("the instance disabled the account (403): "
                                     "reconnect your account") from None
        raise Refused(code, _text(error) or f"the instance answered {code}") from None


def _code(error: MastodonAPIError) -> int | None:
    return error.args[1] if len(error.args) > 1 and isinstance(error.args[1], int) else None


def _text(error: MastodonAPIError) -> str:
    text = error.args[3] if len(error.args) > 3 else ""
    return str(text or "")[:200]
