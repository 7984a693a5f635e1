"""A small in-memory Mastodon server for tests of the Mastodon bot (it speaks HTTP to Mastodon.py).

What it is for: the Mastodon plugin talks to Mastodon only through the real Mastodon.py library.
This server lets its tests run that library unchanged against 127.0.0.1, with several bot accounts
(one per city and token) on one server, and lets a test make mentions, look at what the bots
posted and reblogged, and inject faults (5xx, 429, hangs, garbage, answers too large, redirects
elsewhere, answers trickled a byte at a time) in front of the next requests.

What it speaks (JSON shapes as Mastodon 4.3 sends them; ids are strings, times ISO 8601 in UTC):

* ``POST /api/v1/apps``; ``GET/POST /oauth/authorize`` (an HTML page with Authorize/Deny buttons;
  :meth:`MastodonServer.authorize` clicks one), ``POST /oauth/token`` (``authorization_code``,
  no other grant), ``POST /oauth/revoke``, ``GET /.well-known/oauth-authorization-server``
  (4.3 serves it, and Mastodon.py then wants ``allow_http=True`` for an ``http://`` server).
* ``GET /api/v1/instance`` and ``/api/v2/instance`` (version 4.3.x, ``api_versions.mastodon`` 2,
  ``configuration.statuses.max_characters``), ``GET /api/v1/accounts/verify_credentials``.
* ``GET /api/v1/notifications`` (``types[]``, ``exclude_types[]``, ``account_id``, ``max_id``,
  ``since_id``, ``min_id``, ``limit`` default 40 max 80, ``include_filtered``; a ``Link`` header
  with ``next``/``prev`` as Mastodon writes it), ``POST /api/v1/notifications/:id/dismiss``,
  ``GET/PATCH /api/v2/notifications/policy``.
  As in 4.3, a ``direct`` mention from an account the bot does not follow is *filtered* by
  default (``for_private_mentions: filter``): it is hidden from the list unless the policy is set
  to ``accept`` or ``include_filtered=true`` is passed.
* ``POST /api/v1/statuses`` (``status``, ``visibility``, ``in_reply_to_id``, ``spoiler_text``;
  text length counted the Mastodon way; ``Idempotency-Key`` kept an hour per account),
  ``GET /api/v1/statuses/:id``, ``POST /api/v1/statuses/:id/reblog`` (idempotent).
* Bearer tokens: unknown -> 401 "The access token is invalid", revoked -> 401 "The access token
  was revoked", missing scope -> 403, suspended account -> 403 "Your login is currently disabled".
  ``X-RateLimit-Limit/-Remaining/-Reset`` on every answer (300 per 5 minutes, counted per token).

Not spoken: media, polls, scheduled posts, streaming, timelines, follows, edits, deletes.

Several instances: start one ``MastodonServer`` per instance; each has its own port and state.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import re
import secrets
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime

from local_server import LocalServer

OOB = "urn:ietf:wg:oauth:2.0:oob"
SCOPES = {"read", "write", "follow", "push", "profile"} | {
    f"{rw}:{what}"
    for rw in ("read", "write")
    for what in (
        "accounts",
        "blocks",
        "bookmarks",
        "favourites",
        "filters",
        "follows",
        "lists",
        "mutes",
        "notifications",
        "search",
        "statuses",
        "conversations",
        "media",
        "reports",
    )
}
NOTIFICATION_TYPES = [
    "mention",
    "status",
    "reblog",
    "follow",
    "follow_request",
    "favourite",
    "poll",
    "update",
    "admin.sign_up",
    "admin.report",
    "severed_relationships",
    "moderation_warning",
]
VISIBILITIES = ("public", "unlisted", "private", "direct")
ERR_INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)
ERR_INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication "
    "included, or unsupported authentication method."
)
RATE_PERIOD = 300
IDEMPOTENCY_TTL = 3600


def _iso(t: float, digits: int = 3) -> str:
    """UTC ISO 8601 as Rails writes it: milliseconds in JSON, microseconds in the rate-limit header."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[: 20 + digits] + "Z"


def _int(value, default=None):
    """Ruby's lenient ``to_i`` for ids and limits: leading digits or ``default``."""
    m = re.match(r"\s*(\d+)", str(value)) if value is not None else None
    return int(m.group(1)) if m else default


def _countable_length(text: str) -> int:
    """Length as Mastodon counts it: URLs are 23, ``@user@domain`` is ``@user``, graphemes not code points
    (approximated: combining marks, variation selectors, skin tones and ZWJ sequences add nothing)."""
    text = _URL_RE.sub("x" * 23, text)
    text = re.sub(r"(?<![\w/])@(\w+)@[\w.\-]+\w", r"@\1", text)
    n, joined, flag_open = 0, False, False
    for ch in text:
        o = ord(ch)
        if o == 0x200D:
            joined = True
            continue
        if (
            joined
            or unicodedata.category(ch) in ("Mn", "Me")
            or 0xFE00 <= o <= 0xFE0F
            or 0x1F3FB <= o <= 0x1F3FF
            or 0xE0020 <= o <= 0xE007F
        ):
            joined = False
            continue
        if 0x1F1E6 <= o <= 0x1F1FF:  # regional indicators: two make one flag
            flag_open = not flag_open
            if not flag_open:
                continue
        else:
            flag_open = False
        n += 1
    return n


_URL_RE = re.compile(r"https?://[^\s<>\"']*[^\s<>\"'.,;:!?)\]]")
_TOKEN_RE = re.compile(
    r"(?P<url>https?://[^\s<>\"']*[^\s<>\"'.,;:!?)\]])"
    r"|(?<![\w/@])@(?P<user>\w+)(?:@(?P<domain>[\w.\-]+\w(?::\d+)?))?"
    r"|(?<![\w#/&])#(?P<tag>\w*[^\W\d_]\w*)"
)


@dataclass(eq=False)
class Account:
    """An account: local (``domain`` None) with a ``token``, or remote (a mention's sender)."""

    id: str
    username: str
    domain: str | None
    base_url: str
    created_at: float
    token: str | None = None
    suspended: bool = False
    policy: dict = field(default_factory=dict)

    @property
    def acct(self) -> str:
        return self.username if self.domain is None else f"{self.username}@{self.domain}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/@{self.username}"

    @property
    def uri(self) -> str:
        return f"{self.base_url}/users/{self.username}"


@dataclass(eq=False)
class _App:
    id: str
    name: str
    website: str | None
    client_id: str
    client_secret: str
    scopes: list
    redirect_uris: list


@dataclass(eq=False)
class _Token:
    token: str
    app: _App
    account: Account | None
    scopes: list
    created_at: float
    revoked: bool = False


@dataclass(eq=False)
class _Status:
    id: int
    account: Account
    text: str
    content: str
    visibility: str
    created_at: float
    spoiler_text: str = ""
    in_reply_to: _Status | None = None
    mentions: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    reblog: _Status | None = None
    application: str | None = None
    uri: str | None = None  # a remote status's, as its home server named it


@dataclass(eq=False)
class _Notification:
    id: int
    recipient: Account
    type: str
    sender: Account
    status: _Status | None
    created_at: float
    filtered: bool = False


@dataclass
class LoggedRequest:
    """One request as the server saw it: ``path`` without a trailing slash, ``headers`` keys in
    Title-Case, ``query`` and ``params`` (query and body) with ``x[]`` keys as lists under ``x``."""

    method: str
    path: str
    query: dict
    params: dict
    headers: dict
    status: int | None = None
    fault: str | None = None


@dataclass
class _Fault:
    kind: str  # "fail", "ratelimit", "hang", "garbage", "huge", "redirect", "trickle"
    remaining: int
    path: str
    status: int = 500
    seconds: float = 0.0
    process: bool = True
    location: str = ""


class _HttpError(Exception):
    def __init__(self, status: int, body, headers=None):
        super().__init__(status, body)
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, message: str, **extra) -> _HttpError:
    return _HttpError(status, {"error": message, **extra})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def _fetch(url: str, data: bytes | None = None) -> tuple[int, str | None]:
    """(status, Location) of one request, not following redirects."""
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, data, timeout=10) as r:
            return r.status, None
    except urllib.error.HTTPError as e:
        if e.code in (301, 302, 303):
            return e.code, e.headers["Location"]
        raise AssertionError(f"{url}: {e.code} {e.read()[:200]!r}") from None


class MastodonServer(LocalServer):
    """A Mastodon server on ``self.url`` (``http://127.0.0.1:PORT``), state in memory behind a lock.

    Use as a context manager, or call :meth:`start` and :meth:`close`. Test controls are plain
    thread-safe methods; accounts can be passed as the :class:`Account` or as the username.
    """

    def __init__(
        self,
        *,
        version: str = "4.3.8",
        max_characters: int = 500,
        rate_limit: int = 300,
        enforce_rate_limit: bool = False,
        oauth_metadata: bool = True,
        private_mentions_policy: str = "filter",
        title: str = "Mastodon",
    ):
        self.version, self.max_characters, self.title = version, max_characters, title
        self.rate_limit, self.enforce_rate_limit = rate_limit, enforce_rate_limit
        self.oauth_metadata, self.private_mentions_policy = oauth_metadata, private_mentions_policy
        super().__init__()
        self._lock = threading.RLock()
        self.domain = ""
        self._last_snowflake = 0
        self._next_serial = 1
        self._accounts: dict[str, Account] = {}  # acct -> account, local and remote
        self._apps: dict[str, _App] = {}  # client_id -> app
        self._tokens: dict[str, _Token] = {}
        self._codes: dict[str, dict] = {}
        self._statuses: dict[int, _Status] = {}
        self._notifications: list[_Notification] = []
        self._idempotency: dict[tuple, tuple] = {}  # (account id, key) -> (status, expiry)
        self._rate: dict[str, list] = {}  # token or ip -> [window start, count]
        self._faults: list[_Fault] = []
        self._log: list[LoggedRequest] = []
        self._default_app = self._new_app(
            "Mastodon test server", ["read", "write", "follow", "push"], [OOB], None
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    def _started(self, port: int) -> None:
        self.domain = f"127.0.0.1:{port}"

    # -- test controls -----------------------------------------------------------------------------

    def add_account(
        self, username: str, token: str | None = None, scopes: tuple = ("read", "write", "follow", "push")
    ) -> Account:
        """A local account with an access token (given or random) of the built-in app."""
        with self._lock:
            if username in self._accounts or token in self._tokens:
                raise ValueError(f"account {username!r} or its token exists")
            acc = self._account(username, None)
            acc.token = token or secrets.token_urlsafe(32)
            self._tokens[acc.token] = _Token(acc.token, self._default_app, acc, list(scopes), time.time())
            return acc

    def mention(
        self,
        account,
        text: str,
        visibility: str = "public",
        sender: str = "someone@other.example",
        *,
        spoiler_text: str = "",
        in_reply_to: str | None = None,
        html_content: str | None = None,
        uri: str | None = None,
    ) -> str | None:
        """A status by ``sender`` mentioning ``account``; returns the new notification's id.

        ``@account`` is put in front of ``text`` unless the text mentions it already; ``html_content``
        replaces the generated HTML; ``uri`` is the status's URI (the same status federated to two
        servers has a local id on each and one URI). Returns None if the account's policy drops the
        notification.
        """
        assert visibility in VISIBILITIES
        with self._lock:
            bot = self._get_account(account)
            user, _, domain = sender.lstrip("@").partition("@")
            who = self._accounts.get(sender.lstrip("@")) or self._account(user, domain or None)
            if not re.search(rf"(?<![\w/@])@{re.escape(bot.username)}\b", text):
                text = f"@{bot.username} {text}"
            status = self._new_status(
                who, text, visibility, spoiler_text, self._statuses.get(_int(in_reply_to, -1))
            )
            if html_content is not None:
                status.content = html_content
            status.uri = uri
            if bot not in status.mentions:
                status.mentions.insert(0, bot)
            return self._notify(bot, status)

    def posts(self, account) -> list[dict]:
        """Statuses ``account`` created (no reblogs), oldest first, as the API renders them."""
        with self._lock:
            acc = self._get_account(account)
            return [
                self._status_json(s, acc)
                for s in sorted(self._statuses.values(), key=lambda s: s.id)
                if s.account is acc and s.reblog is None
            ]

    def reblogs(self, account) -> list[dict]:
        """Reblogs ``account`` made, oldest first (each has the original under ``reblog``)."""
        with self._lock:
            acc = self._get_account(account)
            return [
                self._status_json(s, acc)
                for s in sorted(self._statuses.values(), key=lambda s: s.id)
                if s.account is acc and s.reblog is not None
            ]

    def apps(self) -> list[dict]:
        """Registered apps: name, client_id, scopes and redirect_uris as recorded."""
        with self._lock:
            return [
                {
                    "name": a.name,
                    "client_id": a.client_id,
                    "scopes": list(a.scopes),
                    "redirect_uris": list(a.redirect_uris),
                }
                for a in self._apps.values()
            ]

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens[token].revoked = True

    def suspend(self, account, suspended: bool = True) -> None:
        with self._lock:
            self._get_account(account).suspended = suspended

    def set_max_characters(self, n: int) -> None:
        with self._lock:
            self.max_characters = n

    def fail_next(self, n: int = 1, status: int = 500, path: str = "/api/") -> None:
        """The next ``n`` requests under ``path`` get ``status`` (an HTML error page); nothing is done."""
        self._add_fault(_Fault("fail", n, path, status=status))

    def rate_limit_next(self, n: int = 1, reset_in: float = 60, path: str = "/api/") -> None:
        """The next ``n`` requests under ``path`` get 429 with ``X-RateLimit-Reset`` ``reset_in`` s ahead."""
        self._add_fault(_Fault("ratelimit", n, path, status=429, seconds=reset_in))

    def hang_next(self, n: int = 1, seconds: float = 10, path: str = "/api/", process: bool = True) -> None:
        """The next ``n`` requests under ``path`` answer only after ``seconds``. With ``process`` the
        request takes effect at once (a client timing out has posted anyway); without, it is dropped
        and answered 504 after the wait, as a proxy would."""
        self._add_fault(_Fault("hang", n, path, seconds=seconds, process=process))

    def garbage_next(self, n: int = 1, path: str = "/api/") -> None:
        """The next ``n`` requests under ``path`` get 200 with a body that is not JSON; nothing is done."""
        self._add_fault(_Fault("garbage", n, path))

    def huge_next(self, n: int = 1, size: int = 3 * 1024 * 1024, path: str = "/api/") -> None:
        """The next ``n`` requests under ``path`` get 200 with a JSON array of ``size`` bytes (a
        hostile or broken server); nothing is done."""
        self._add_fault(_Fault("huge", n, path, status=size))

    def redirect_next(self, n: int = 1, location: str = "http://169.254.169.254/",
                      path: str = "/api/") -> None:
        """The next ``n`` requests under ``path`` are redirected (302) to ``location``."""
        self._add_fault(_Fault("redirect", n, path, status=302, location=location))

    def trickle_next(self, n: int = 1, seconds: float = 30, path: str = "/api/") -> None:
        """The next ``n`` requests under ``path`` are answered a byte every 0.2 s for ``seconds``
        (each read is quick, the answer never ends in time); nothing is done."""
        self._add_fault(_Fault("trickle", n, path, seconds=seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def requests_log(self) -> list[LoggedRequest]:
        with self._lock:
            return copy.deepcopy(self._log)

    def authorize(self, auth_url: str, account, approve: bool = True) -> str:
        """Open ``auth_url`` (from ``auth_request_url``) in ``account``'s browser and click Authorize or
        Deny; returns where the browser is sent (``redirect_uri?code=…&state=…`` or ``?error=…``)."""
        username = self._get_account(account).username
        query = urllib.parse.urlsplit(auth_url).query
        status, location = _fetch(f"{self.url}/oauth/authorize?{query}")
        if status != 200:
            return location  # Doorkeeper redirects bad scopes and response types at once
        form = {
            **dict(urllib.parse.parse_qsl(query, keep_blank_values=True)),
            "account": username,
            "decision": "approve" if approve else "deny",
        }
        status, location = _fetch(f"{self.url}/oauth/authorize", urllib.parse.urlencode(form).encode())
        assert status == 302, status
        return location

    # -- state helpers (call with the lock held) --------------------------------------------------

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _snowflake(self) -> int:
        self._last_snowflake = max(self._last_snowflake + 1, int(time.time() * 1000) << 16)
        return self._last_snowflake

    def _account(self, username: str, domain: str | None) -> Account:
        base = self.url if domain is None else f"https://{domain}"
        acc = Account(
            str(self._snowflake()),
            username,
            domain,
            base,
            time.time(),
            policy={
                "for_not_following": "accept",
                "for_not_followers": "accept",
                "for_new_accounts": "accept",
                "for_limited_accounts": "filter",
                "for_private_mentions": self.private_mentions_policy,
            },
        )
        self._accounts[acc.acct] = acc
        return acc

    def _get_account(self, account) -> Account:
        with self._lock:
            return account if isinstance(account, Account) else self._accounts[account]

    def _new_app(self, name, scopes, redirect_uris, website) -> _App:
        app = _App(
            str(len(self._apps) + 1),
            name,
            website,
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            scopes,
            redirect_uris,
        )
        self._apps[app.client_id] = app
        return app

    def _format(self, text: str, mentions: list, tags: list) -> str:
        """Plain text to Mastodon's HTML: paragraphs, ``<br />``, links, mentions and hashtags."""

        def token(m):
            if m.group("url"):
                url = m.group("url")
                prefix = re.match(r"https?://(?:www\.)?", url).group(0)
                rest = url[len(prefix) :]
                return (
                    f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener noreferrer" '
                    f'translate="no"><span class="invisible">{html.escape(prefix)}</span><span class="'
                    f'{"ellipsis" if len(rest) > 30 else ""}">{html.escape(rest[:30])}</span><span '
                    f'class="invisible">{html.escape(rest[30:])}</span></a>'
                )
            if m.group("tag"):
                tags.append(m.group("tag").lower())
                return (
                    f'<a href="{self.url}/tags/{m.group("tag").lower()}" class="mention hashtag" '
                    f'rel="tag">#<span>{html.escape(m.group("tag"))}</span></a>'
                )
            domain = m.group("domain")
            acc = self._accounts.get(
                m.group("user") if domain in (None, self.domain) else f"{m.group('user')}@{domain}"
            )
            if acc is None:
                return html.escape(m.group(0))
            if acc not in mentions:
                mentions.append(acc)
            return (
                f'<span class="h-card" translate="no"><a href="{acc.url}" class="u-url mention">'
                f"@<span>{html.escape(acc.username)}</span></a></span>"
            )

        def inline(part):
            out, pos = [], 0
            for m in _TOKEN_RE.finditer(part):
                out += [html.escape(part[pos : m.start()], quote=False), token(m)]
                pos = m.end()
            out.append(html.escape(part[pos:], quote=False))
            return "".join(out).replace("\n", "<br />")

        return "".join(f"<p>{inline(p)}</p>" for p in re.split(r"\n\s*\n", text.strip()))

    def _new_status(self, account, text, visibility, spoiler_text="", in_reply_to=None, application=None):
        mentions, tags = [], []
        content = self._format(text, mentions, tags)
        status = _Status(
            self._snowflake(),
            account,
            text,
            content,
            visibility,
            time.time(),
            spoiler_text,
            in_reply_to,
            mentions,
            list(dict.fromkeys(tags)),
            None,
            application,
        )
        self._statuses[status.id] = status
        return status

    def _notify(self, recipient: Account, status: _Status) -> str | None:
        """Mastodon 4.3's private-mention policy: a ``direct`` mention that is no reply to a direct
        status of the recipient mentioning the sender is filtered (or dropped, or accepted)."""
        filtered = False
        if status.visibility == "direct":
            parent = status.in_reply_to
            in_response = (
                parent is not None and parent.account is recipient and status.account in parent.mentions
            )
            action = "accept" if in_response else recipient.policy["for_private_mentions"]
            if action == "drop":
                return None
            filtered = action == "filter"
        note = _Notification(
            self._next_serial, recipient, "mention", status.account, status, time.time(), filtered
        )
        self._next_serial += 1
        self._notifications.append(note)
        return str(note.id)

    def _visible(self, status: _Status, viewer: Account | None) -> bool:
        return status.visibility in ("public", "unlisted") or (
            viewer is not None and (status.account is viewer or viewer in status.mentions)
        )

    # -- JSON renderers ----------------------------------------------------------------------------

    def _account_json(self, acc: Account, credentials: bool = False) -> dict:
        own = [s for s in self._statuses.values() if s.account is acc]
        last = max((s.created_at for s in own), default=None)
        missing = f"{self.url}/avatars/original/missing.png"
        data = {
            "id": acc.id,
            "username": acc.username,
            "acct": acc.acct,
            "display_name": "",
            "locked": False,
            "bot": False,
            "discoverable": None,
            "indexable": False,
            "group": False,
            "created_at": _iso(acc.created_at // 86400 * 86400),
            "note": "",
            "url": acc.url,
            "uri": acc.uri,
            "avatar": missing,
            "avatar_static": missing,
            "header": missing.replace("avatars", "headers"),
            "header_static": missing.replace("avatars", "headers"),
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": len(own),
            "last_status_at": None if last is None else _iso(last)[:10],
            "hide_collections": None,
            "noindex": False,
            "emojis": [],
            "roles": [],
            "fields": [],
        }
        if credentials:
            data["source"] = {
                "privacy": "public",
                "sensitive": False,
                "language": None,
                "note": "",
                "fields": [],
                "follow_requests_count": 0,
                "hide_collections": None,
                "discoverable": None,
                "indexable": False,
                "attribution_domains": [],
            }
            data["role"] = {
                "id": "-99",
                "name": "",
                "permissions": "65536",
                "color": "",
                "highlighted": False,
            }
        return data

    def _status_json(self, s: _Status, viewer: Account | None) -> dict:
        base = f"{s.account.base_url}/users/{s.account.username}/statuses/{s.id}"
        data = {
            "id": str(s.id),
            "created_at": _iso(s.created_at),
            "in_reply_to_id": s.in_reply_to and str(s.in_reply_to.id),
            "in_reply_to_account_id": s.in_reply_to and s.in_reply_to.account.id,
            "sensitive": False,
            "spoiler_text": s.spoiler_text,
            "visibility": s.visibility,
            "language": None if s.reblog else "de",
            "uri": s.uri or base + ("/activity" if s.reblog else ""),
            "url": base + "/activity" if s.reblog else f"{s.account.url}/{s.id}",
            "replies_count": sum(1 for x in self._statuses.values() if x.in_reply_to is s),
            "reblogs_count": sum(1 for x in self._statuses.values() if x.reblog is s),
            "favourites_count": 0,
            "edited_at": None,
            "content": "" if s.reblog else s.content,
            "reblog": s.reblog and self._status_json(s.reblog, viewer),
            "account": self._account_json(s.account),
            "media_attachments": [],
            "mentions": [
                {"id": m.id, "username": m.username, "url": m.url, "acct": m.acct} for m in s.mentions
            ],
            "tags": [{"name": t, "url": f"{self.url}/tags/{t}"} for t in s.tags],
            "emojis": [],
            "card": None,
            "poll": None,
        }
        if s.application:
            data["application"] = {"name": s.application, "website": None}
        if viewer is not None:
            data.update(
                favourited=False,
                muted=False,
                bookmarked=False,
                reblogged=any(
                    x.reblog is (s.reblog or s) and x.account is viewer for x in self._statuses.values()
                ),
            )
            if s.account is viewer and not s.reblog:
                data["pinned"] = False
            data["filtered"] = []
        return data

    def _notification_json(self, n: _Notification) -> dict:
        return {
            "id": str(n.id),
            "type": n.type,
            "created_at": _iso(n.created_at),
            "group_key": f"ungrouped-{n.id}",
            "account": self._account_json(n.sender),
            "status": n.status and self._status_json(n.status, n.recipient),
        }

    def _instance_json(self, v2: bool) -> dict:
        config = {
            "accounts": {"max_featured_tags": 10},
            "media_attachments": {"supported_mime_types": []},
            "statuses": {
                "max_characters": self.max_characters,
                "max_media_attachments": 4,
                "characters_reserved_per_url": 23,
            },
            "polls": {
                "max_options": 4,
                "max_characters_per_option": 50,
                "min_expiration": 300,
                "max_expiration": 2629746,
            },
        }
        users = sum(1 for a in self._accounts.values() if a.domain is None)
        if not v2:
            return {
                "uri": self.domain,
                "title": self.title,
                "short_description": "",
                "description": "",
                "email": "",
                "version": self.version,
                "urls": {"streaming_api": f"ws://{self.domain}"},
                "stats": {"user_count": users, "status_count": len(self._statuses), "domain_count": 1},
                "thumbnail": None,
                "languages": ["de"],
                "registrations": False,
                "approval_required": False,
                "invites_enabled": False,
                "configuration": config,
                "contact_account": None,
                "rules": [],
            }
        return {
            "domain": self.domain,
            "title": self.title,
            "version": self.version,
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "",
            "usage": {"users": {"active_month": users}},
            "thumbnail": {"url": ""},
            "icon": [],
            "languages": ["de"],
            "configuration": {
                **config,
                "urls": {"streaming": f"ws://{self.domain}", "status": None},
                "vapid": {"public_key": ""},
                "translation": {"enabled": False},
            },
            "registrations": {"enabled": False, "approval_required": False, "message": None, "url": None},
            "api_versions": {"mastodon": 2},
            "contact": {"email": "", "account": None},
            "rules": [],
        }

    # -- HTTP --------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/").rstrip("/") or "/"
        query = self._parse_params(environ.get("QUERY_STRING", ""))
        params = dict(query)
        body = environ["wsgi.input"].read(_int(environ.get("CONTENT_LENGTH"), 0))
        if "json" in environ.get("CONTENT_TYPE", ""):
            params.update(json.loads(body or b"{}"))
        elif body:
            params.update(self._parse_params(body.decode()))
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers.update(
            {
                k.replace("_", "-").title(): environ[k]
                for k in ("CONTENT_TYPE", "CONTENT_LENGTH")
                if environ.get(k)
            }
        )
        entry = LoggedRequest(method, path, query, params, headers)
        auth = headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else None
        with self._lock:
            self._log.append(entry)
            fault = next((f for f in self._faults if path.startswith(f.path)), None)
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                entry.fault = fault.kind
            rate, over = self._count_rate(token or environ.get("REMOTE_ADDR", "?"))
        if fault is not None and fault.kind in ("huge", "redirect", "trickle"):
            return self._hostile(fault, entry, start_response)
        if fault is not None and fault.kind == "hang" and not fault.process:
            self._stop.wait(fault.seconds)
            status, ctype, out, extra = 504, "text/html", b"<html><h1>504 Gateway Time-out</h1></html>", {}
        else:
            status, ctype, out, extra = self._respond(fault, over, method, path, params, headers, token, rate)
            if fault is not None and fault.kind == "hang":
                self._stop.wait(fault.seconds)
        entry.status = status
        start_response(
            f"{status} {_REASONS.get(status, 'Error')}",
            [
                ("Content-Type", ctype),
                ("Cache-Control", "private, no-store"),
                ("Vary", "Authorization, Origin"),
                *rate.items(),
                *extra.items(),
            ],
        )
        return [out]

    def _hostile(self, fault: _Fault, entry: LoggedRequest, start_response):
        if fault.kind == "redirect":
            entry.status = 302
            start_response("302 Found", [("Location", fault.location), ("Content-Length", "0")])
            return [b""]
        entry.status = 200
        start_response("200 OK", [("Content-Type", "application/json; charset=utf-8")])
        if fault.kind == "huge":
            return self._huge(fault.status)
        return self._trickle(fault.seconds)

    @staticmethod
    def _huge(size: int):
        yield b"["
        chunk = b'{"id":"1"},' * 6500  # about 64 KiB
        for _ in range(size // len(chunk) + 1):
            yield chunk
        yield b'{"id":"1"}]'

    def _trickle(self, seconds: float):
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self._stop.is_set():
            yield b" "
            self._stop.wait(0.2)
        yield b"[]"

    @staticmethod
    def _parse_params(qs: str) -> dict:
        params: dict = {}
        for k, v in urllib.parse.parse_qsl(qs, keep_blank_values=True):
            if k.endswith("[]"):
                params.setdefault(k[:-2], []).append(v)
            else:
                params[k] = v
        return params

    def _count_rate(self, key: str) -> tuple[dict, bool]:
        """Mastodon's headers: a limit per 5-minute window, its reset at the window's end."""
        now = time.time()
        slot = self._rate.setdefault(key, [now - now % RATE_PERIOD, 0])
        if slot[0] != now - now % RATE_PERIOD:
            slot[:] = [now - now % RATE_PERIOD, 0]
        slot[1] += 1
        return (
            {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(max(0, self.rate_limit - slot[1])),
                "X-RateLimit-Reset": _iso(slot[0] + RATE_PERIOD, 6),
            },
            slot[1] > self.rate_limit,
        )

    def _respond(self, fault, over, method, path, params, headers, token, rate):
        kind = fault.kind if fault is not None else None
        if kind == "fail":
            return (
                fault.status,
                "text/html; charset=utf-8",
                (
                    f"<html><body><h1>{fault.status}</h1><p>We're sorry, but something went wrong "
                    f"on our end.</p></body></html>"
                ).encode(),
                {},
            )
        if kind == "garbage":
            return 200, "application/json; charset=utf-8", b'{"id": "1", "content": <html>Bad Gat', {}
        if kind == "ratelimit" or (over and self.enforce_rate_limit):
            rate["X-RateLimit-Remaining"] = "0"
            if kind == "ratelimit":
                rate["X-RateLimit-Reset"] = _iso(time.time() + fault.seconds, 6)
            return 429, "application/json; charset=utf-8", b'{"error":"Too many requests"}', {}
        extra: dict = {}
        try:
            with self._lock:
                for route_method, pattern, name in _ROUTES:
                    m = re.fullmatch(pattern, path)
                    if m and route_method == method:
                        result = getattr(self, name)(params, headers, token, extra, *m.groups())
                        break
                else:
                    raise _error(404, "Not Found")
            status = 200
        except _HttpError as e:
            status, result, extra = e.status, e.body, {**extra, **e.headers}
        if isinstance(result, str):
            return status, "text/html; charset=utf-8", result.encode(), extra
        return (
            status,
            "application/json; charset=utf-8",
            json.dumps(result, separators=(",", ":")).encode(),
            extra,
        )

    def _auth(self, token, *scopes, require_user=True, optional=False) -> Account | None:
        """Doorkeeper's checks, then Mastodon's ``require_user!``."""
        if token is None and optional:
            return None
        tok = self._tokens.get(token or "")
        if tok is None or tok.revoked:
            raise _error(401, "The access token was revoked" if tok else "The access token is invalid")
        if scopes and not set(scopes) & set(tok.scopes):
            raise _error(403, "This action is outside the authorized scopes")
        if require_user and tok.account.suspended:
            raise _error(403, "Your login is currently disabled")
        return tok.account

    # -- OAuth and apps ----------------------------------------------------------------------------

    def _post_apps(self, p, h, token, extra):
        name = (p.get("client_name") or "").strip()
        uris = p.get("redirect_uris") or ""
        uris = uris if isinstance(uris, list) else [u for u in re.split(r"\s+", uris) if u]
        scopes = (p.get("scopes") or "read").split()
        if not name:
            raise _error(422, "Validation failed: Application name can't be blank")
        if not uris:
            raise _error(422, "Validation failed: Redirect URI can't be blank")
        if any(u != OOB and not re.match(r"[a-zA-Z][\w+.-]*://", u) for u in uris):
            raise _error(422, "Validation failed: Redirect URI must be an absolute URI.")
        if not set(scopes) <= SCOPES:
            raise _error(422, "Validation failed: Scopes doesn't match configured on the server.")
        app = self._new_app(name, scopes, uris, p.get("website"))
        return {
            "id": app.id,
            "name": app.name,
            "website": app.website,
            "scopes": app.scopes,
            "redirect_uris": app.redirect_uris,
            "vapid_key": "",
            "redirect_uri": "\n".join(uris),
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "client_secret_expires_at": 0,
        }

    def _check_authorize(self, p) -> tuple:
        app = self._apps.get(p.get("client_id", ""))
        if app is None:
            raise _HttpError(401, "<html><body><h1>invalid_client</h1></body></html>")
        redirect = p.get("redirect_uri", "")
        if redirect not in app.redirect_uris:
            raise _HttpError(400, "<html><body><h1>invalid_redirect_uri</h1></body></html>")
        scopes = (p.get("scope") or "read").split()
        error = None
        if p.get("response_type") != "code":
            error = "unsupported_response_type"
        elif not set(scopes) <= set(app.scopes):
            error = "invalid_scope"
        if error:
            self._redirect(redirect, {"error": error, "state": p.get("state")})
        return app, redirect, scopes

    def _redirect(self, redirect: str, params: dict):
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        if redirect == OOB:
            location = f"{self.url}/oauth/authorize/native?{query}"
        else:
            location = redirect + ("&" if "?" in redirect else "?") + query
        raise _HttpError(302, "", {"Location": location})

    def _get_authorize(self, p, h, token, extra):
        app, _, scopes = self._check_authorize(p)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(str(v))}">'
            for k, v in p.items()
            if k in ("client_id", "redirect_uri", "scope", "state", "response_type")
        )
        options = "".join(
            f'<option value="{html.escape(a.username)}">@{html.escape(a.username)}</option>'
            for a in self._accounts.values()
            if a.domain is None
        )
        return (
            f"<!DOCTYPE html><html><head><title>Authorize {html.escape(app.name)}</title></head><body>"
            f"<h1>{html.escape(app.name)} wants access to your account</h1>"
            f"<p>Scopes: {html.escape(' '.join(scopes))}</p>"
            f'<form method="post" action="/oauth/authorize">{hidden}'
            f'<label>Account <select name="account">{options}</select></label>'
            f'<button type="submit" name="decision" value="approve">Authorize</button>'
            f'<button type="submit" name="decision" value="deny">Deny</button></form></body></html>'
        )

    def _post_authorize(self, p, h, token, extra):
        app, redirect, scopes = self._check_authorize(p)
        if p.get("decision") != "approve":
            self._redirect(
                redirect,
                {
                    "error": "access_denied",
                    "error_description": ("The resource owner or authorization server denied the request."),
                    "state": p.get("state"),
                },
            )
        acc = self._accounts.get(p.get("account", ""))
        if acc is None or acc.domain is not None:
            raise _HttpError(400, "<html><body><h1>unknown account</h1></body></html>")
        code = secrets.token_urlsafe(32)
        self._codes[code] = {
            "app": app,
            "account": acc,
            "scopes": scopes,
            "redirect_uri": redirect,
            "expires": time.time() + 600,
        }
        self._redirect(redirect, {"code": code, "state": p.get("state")})

    def _get_authorize_native(self, p, h, token, extra):
        return (
            f'<html><body><p>Copy this authorization code:</p><input class="oauth-code" readonly '
            f'value="{html.escape(p.get("code", ""))}"></body></html>'
        )

    def _client(self, p, h) -> _App:
        client_id, secret = p.get("client_id"), p.get("client_secret")
        basic = h.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        app = self._apps.get(client_id or "")
        if app is None or not secrets.compare_digest(app.client_secret, secret or ""):
            raise _error(401, "invalid_client", error_description=ERR_INVALID_CLIENT)
        return app

    def _post_token(self, p, h, token, extra):
        if p.get("grant_type") != "authorization_code":
            raise _error(
                400,
                "unsupported_grant_type",
                error_description=(
                    "The authorization grant type is not supported by the authorization server."
                ),
            )
        app = self._client(p, h)
        code = self._codes.pop(p.get("code") or "", None)  # good for one try only
        if (
            code is None
            or code["app"] is not app
            or code["redirect_uri"] != p.get("redirect_uri")
            or code["expires"] < time.time()
        ):
            raise _error(400, "invalid_grant", error_description=ERR_INVALID_GRANT)
        tok = _Token(secrets.token_urlsafe(32), app, code["account"], code["scopes"], time.time())
        self._tokens[tok.token] = tok
        return {
            "access_token": tok.token,
            "token_type": "Bearer",
            "scope": " ".join(tok.scopes),
            "created_at": int(tok.created_at),
        }

    def _post_revoke(self, p, h, token, extra):
        app = self._client(p, h)
        tok = self._tokens.get(p.get("token") or "")
        if tok is not None:
            if tok.app is not app:
                raise _error(
                    403,
                    "unauthorized_client",
                    error_description="You are not authorized to revoke this token",
                )
            tok.revoked = True
        return {}

    def _get_oauth_metadata(self, p, h, token, extra):
        if not self.oauth_metadata:
            raise _error(404, "Not Found")
        return {
            "issuer": f"{self.url}/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": f"{self.url}/oauth/authorize",
            "token_endpoint": f"{self.url}/oauth/token",
            "app_registration_endpoint": f"{self.url}/api/v1/apps",
            "revocation_endpoint": f"{self.url}/oauth/revoke",
            "scopes_supported": sorted(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "password", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    # -- API ---------------------------------------------------------------------------------------

    def _get_instance_v1(self, p, h, token, extra):
        return self._instance_json(False)

    def _get_instance_v2(self, p, h, token, extra):
        return self._instance_json(True)

    def _get_verify_credentials(self, p, h, token, extra):
        acc = self._auth(token, "profile", "read", "read:accounts")
        return self._account_json(acc, credentials=True)

    def _get_notifications(self, p, h, token, extra):
        acc = self._auth(token, "read", "read:notifications")
        asked, excluded = (
            [p[k]] if isinstance(p.get(k), str) else p.get(k) or [] for k in ("types", "exclude_types")
        )
        types = set(asked or NOTIFICATION_TYPES) & set(NOTIFICATION_TYPES) - set(excluded)
        include_filtered = str(p.get("include_filtered")).lower() in ("1", "true", "t", "on")
        items = [
            n
            for n in self._notifications
            if n.recipient is acc
            and n.type in types
            and (include_filtered or not n.filtered)
            and (p.get("account_id") is None or n.sender.id == p.get("account_id"))
        ]
        limit = min(abs(_int(p.get("limit"), 40)), 80)
        max_id, since_id, min_id = (_int(p.get(k)) for k in ("max_id", "since_id", "min_id"))
        if min_id is not None:  # the oldest ones after the cursor, answered newest first
            page = [n for n in items if n.id > min_id and (max_id is None or n.id < max_id)][:limit][::-1]
        else:  # the newest ones, down to since_id
            page = [
                n
                for n in reversed(items)
                if (max_id is None or n.id < max_id) and (since_id is None or n.id > since_id)
            ][:limit]
        if page:
            kept = {
                k: p[k]
                for k in ("account_id", "exclude_types", "include_filtered", "limit", "types")
                if k in p
            }

            def link(**cursor):
                q = sorted({**kept, **cursor}.items())
                return f"{self.url}/api/v1/notifications?" + urllib.parse.urlencode(
                    [(f"{k}[]", x) for k, v in q if isinstance(v, list) for x in v]
                    + [(k, v) for k, v in q if not isinstance(v, list)]
                )

            extra["Link"] = (
                f'<{link(max_id=page[-1].id)}>; rel="next", <{link(min_id=page[0].id)}>; rel="prev"'
            )
        return [self._notification_json(n) for n in page]

    def _post_dismiss(self, p, h, token, extra, nid):
        acc = self._auth(token, "write", "write:notifications")
        note = next((n for n in self._notifications if n.id == int(nid) and n.recipient is acc), None)
        if note is None:
            raise _error(404, "Record not found")
        self._notifications.remove(note)
        return {}

    def _get_policy(self, p, h, token, extra):
        acc = self._auth(token, "read", "read:notifications")
        pending = [n for n in self._notifications if n.recipient is acc and n.filtered]
        return {
            **acc.policy,
            "summary": {
                "pending_requests_count": len({n.sender.id for n in pending}),
                "pending_notifications_count": len(pending),
            },
        }

    def _patch_policy(self, p, h, token, extra):
        acc = self._auth(token, "write", "write:notifications")
        for key in acc.policy:
            if p.get(key) in ("accept", "filter", "drop"):
                acc.policy[key] = p[key]
        return self._get_policy(p, h, token, extra)

    def _find_status(self, sid, viewer) -> _Status:
        status = self._statuses.get(int(sid))
        if status is None or not self._visible(status, viewer):
            raise _error(404, "Record not found")
        return status

    def _get_status(self, p, h, token, extra, sid):
        viewer = self._auth(token, "read", "read:statuses", require_user=False, optional=True)
        return self._status_json(self._find_status(sid, viewer), viewer)

    def _post_status(self, p, h, token, extra):
        acc = self._auth(token, "write", "write:statuses")
        parent = None
        if p.get("in_reply_to_id"):
            parent = self._statuses.get(_int(p["in_reply_to_id"], -1))
            if parent is None or not self._visible(parent, acc):
                raise _error(404, "The post you are trying to reply to does not appear to exist.")
        key = h.get("Idempotency-Key")
        now = time.time()
        if key and (acc.id, key) in self._idempotency and self._idempotency[acc.id, key][1] > now:
            return self._status_json(self._idempotency[acc.id, key][0], acc)
        text, spoiler = p.get("status") or "", p.get("spoiler_text") or ""
        visibility = p.get("visibility") or "public"
        if visibility not in VISIBILITIES:
            raise _error(422, f"'{visibility}' is not a valid visibility")
        if not text.strip():
            raise _error(422, "Validation failed: Text can't be blank")
        if _countable_length(text) + _countable_length(spoiler) > self.max_characters:
            raise _error(422, f"Validation failed: Text character limit of {self.max_characters} exceeded")
        status = self._new_status(acc, text, visibility, spoiler, parent, self._tokens[token].app.name)
        for other in status.mentions:
            if other.domain is None and other is not acc:
                self._notify(other, status)
        if key:
            self._idempotency[acc.id, key] = (status, now + IDEMPOTENCY_TTL)
        return self._status_json(status, acc)

    def _post_reblog(self, p, h, token, extra, sid):
        acc = self._auth(token, "write", "write:statuses")
        original = self._find_status(sid, acc)
        original = original.reblog or original
        if original.visibility == "direct" or (
            original.visibility == "private" and original.account is not acc
        ):
            raise _error(403, "This action is not allowed")
        for s in self._statuses.values():
            if s.account is acc and s.reblog is original:
                return self._status_json(s, acc)
        visibility = (
            original.visibility
            if original.visibility in ("private", "direct")
            else (p.get("visibility") if p.get("visibility") in VISIBILITIES else "public")
        )
        reblog = _Status(
            self._snowflake(),
            acc,
            "",
            "",
            visibility,
            time.time(),
            reblog=original,
            application=self._tokens[token].app.name,
        )
        self._statuses[reblog.id] = reblog
        return self._status_json(reblog, acc)


_REASONS = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_ROUTES = [
    ("POST", r"/api/v1/apps", "_post_apps"),
    ("GET", r"/oauth/authorize", "_get_authorize"),
    ("POST", r"/oauth/authorize", "_post_authorize"),
    ("GET", r"/oauth/authorize/native", "_get_authorize_native"),
    ("POST", r"/oauth/token", "_post_token"),
    ("POST", r"/oauth/revoke", "_post_revoke"),
    ("GET", r"/\.well-known/oauth-authorization-server", "_get_oauth_metadata"),
    ("GET", r"/api/v1/instance", "_get_instance_v1"),
    ("GET", r"/api/v2/instance", "_get_instance_v2"),
    ("GET", r"/api/v1/accounts/verify_credentials", "_get_verify_credentials"),
    ("GET", r"/api/v1/notifications", "_get_notifications"),
    ("POST", r"/api/v1/notifications/(\d+)/dismiss", "_post_dismiss"),
    ("GET", r"/api/v2/notifications/policy", "_get_policy"),
    ("PATCH", r"/api/v2/notifications/policy", "_patch_policy"),
    ("POST", r"/api/v1/statuses", "_post_status"),
    ("GET", r"/api/v1/statuses/(\d+)", "_get_status"),
    ("POST", r"/api/v1/statuses/(\d+)/reblog", "_post_reblog"),
]
