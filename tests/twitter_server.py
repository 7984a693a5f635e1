"""A small in-memory X (Twitter) API v2 + OAuth 1.0a server for tests of the X bot (it speaks HTTP
to tweepy).

What it is for: the X plugin talks to X only through the real tweepy (``tweepy.Client`` with the
instance's consumer key and secret and an account's access token and secret, i.e. OAuth 1.0a user
context; ``tweepy.OAuth1UserHandler`` for the 3-legged flow). tweepy 4.x always requests
``https://api.twitter.com/...``; the client sends those requests here through a requests transport
adapter that rewrites the address (bots/twitter/client.py). This server lets its tests run tweepy
unchanged against 127.0.0.1, with several bot accounts (one per city) on one server, lets a test
act as the people who mention or write to them, look at what the bots posted and retweeted, and
inject faults (5xx, 429, hangs, garbage) in front of the next requests.

The signature. OAuth 1.0a signs the request's URL, and requests signs (in ``prepare_request``,
through requests-oauthlib's ``OAuth1``) before the transport adapter is asked to send: what a
rewritten request carries is a signature over ``https://api.twitter.com/<path>?<query>``. So the
server verifies every signature over ``signed_base`` + the path it received (``signed_base``
defaults to ``https://api.twitter.com``; ``signed_base=None`` verifies over the URL the request
really came to, ``http://127.0.0.1:PORT``, for a client that signs what it sends).

What it speaks (shapes as X sends them; ids are strings of digits, times ISO 8601 in UTC with
milliseconds):

* OAuth 1.0a, HMAC-SHA1 only, in the ``Authorization: OAuth ...`` header (parameters in the query
  and in a form-encoded body are signed too; a JSON body is not, as in OAuth 1.0a). Checked on
  every request but the browser's ``/oauth/authorize``: the consumer key and secret (constructor
  arguments), the token and its secret, the signature, a timestamp within 5 minutes, a nonce not
  seen before. A failure is 401: ``{"errors":[{"code":32,"message":"Could not authenticate
  you."}]}`` on ``/oauth/*``, ``{"title":"Unauthorized","type":"about:blank","status":401,
  "detail":"Unauthorized"}`` on ``/2/*`` (also for a revoked token, a suspended account, and a
  ``Bearer`` header: tweepy sends ``Bearer None`` for a method called without ``user_auth=True``).
* ``POST /oauth/request_token`` (``oauth_callback``: an absolute URL or ``oob``; one not among
  ``callback_urls``, when given, is 403 code 415; ``x_auth_access_type`` read or write) ->
  ``oauth_token=…&oauth_token_secret=…&oauth_callback_confirmed=true``. Request tokens live 15
  minutes and serve once.
* ``GET /oauth/authorize?oauth_token=`` (and ``/oauth/authenticate``): a page with a form
  (account, Authorize app / Cancel) posting to ``POST /oauth/authorize``, which redirects to the
  callback with ``oauth_token`` and ``oauth_verifier``, or with ``denied=<request token>``; with
  ``oob`` the page shows the PIN. :meth:`TwitterServer.authorize` does what the browser does.
* ``POST /oauth/access_token`` (``oauth_verifier``; signed with the request token) ->
  ``oauth_token=<user id>-…&oauth_token_secret=…&user_id=…&screen_name=…``. The same pair comes
  back while it is not revoked (X's tokens do not expire); a revoked one is replaced. Wrong,
  used, expired or denied request token: 401 ``Invalid request token.``; wrong verifier: 401
  ``Error processing your OAuth request: Invalid oauth_verifier parameter``.
* ``GET /2/users/me`` (``user.fields``): ``{"data":{"id","name","username",…}}``.
* ``GET /2/users/:id/mentions``: ``since_id``, ``until_id`` (exclusive bounds), ``max_results``
  (5..100, default 10), ``pagination_token`` (``meta.next_token`` goes to older posts,
  ``meta.previous_token`` to newer), ``tweet.fields``, ``expansions``, ``user.fields``; newest
  first; only the 800 newest mentions are reachable; ``meta`` has ``result_count`` and, when
  there are posts, ``newest_id`` and ``oldest_id``; no ``data`` key when there are none.
  A post is a mention of everyone its text names with @ (its own author too: an account's
  retweet of a mention names that account). Rendered fields: ``id``, ``text``,
  ``edit_history_tweet_ids`` (always), ``author_id``, ``created_at``, ``conversation_id``,
  ``in_reply_to_user_id``, ``referenced_tweets`` (replied_to, retweeted, quoted),
  ``entities`` (``mentions`` with ``username`` and ``id``, ``urls`` with the ``https://t.co/…``
  link in the text and ``expanded_url``/``display_url``, ``hashtags``; indices in code points),
  ``display_text_range`` (a reply's auto-filled leading @handles are outside it),
  ``public_metrics``, ``possibly_sensitive``, ``reply_settings``, ``lang``; other valid fields are
  left out, invalid ones are 400. Expansions: ``author_id``, ``entities.mentions.username``,
  ``in_reply_to_user_id``, ``referenced_tweets.id``, ``referenced_tweets.id.author_id``
  (``includes.users`` / ``includes.tweets``). An unknown user: 200 with a resource-not-found
  ``errors`` entry and no data.
* ``GET /2/users/:id/tweets`` (``max_results``, ``pagination_token``, ``tweet.fields``): the
  user's own posts, newest first (what a bot reads to tell its own earlier post of a text).
* ``POST /2/tweets`` (JSON: ``text``; ``reply.in_reply_to_tweet_id`` and ``quote_tweet_id``
  accepted; other known keys ignored, unknown keys 400) -> 201 ``{"data":{"id","text",
  "edit_history_tweet_ids"}}``. URLs in the text (http(s)://, and bare domains as twitter-text
  finds them, see ``_urls``) become t.co links. Refused with 403: the same text
  as one of the account's posts of the last ``duplicate_window`` seconds ("You are not allowed to
  create a Tweet with duplicate content."); a weighted length over 280 ("Your Tweet text is too
  long. …"), counted as twitter-text v3 does (see :func:`weighted_length`); a token without write
  access ("Your client app is not configured with the appropriate oauth1 app permissions for this
  endpoint."). Empty text: 400.
* ``POST /2/users/:id/retweets`` (JSON ``tweet_id``; ``:id`` must be the token's user, else 403)
  -> ``{"data":{"retweeted":true,"rest_id":…}}``; retweeting the same post again answers the
  same and makes no second retweet; retweeting a retweet retweets its original; an unknown or
  deleted post: 404 resource-not-found. A retweet's text is ``RT @author: <text>``.
* ``GET /2/dm_events`` (``dm_event.fields``, ``event_types``, ``max_results`` 1..100 default 100,
  ``pagination_token``, ``expansions`` sender_id/participant_ids, ``user.fields``): the
  account's one-to-one conversations' MessageCreate events of the last 30 days, newest first
  (default fields ``id``, ``event_type``, ``text``; also ``sender_id``, ``dm_conversation_id``
  ``<smaller id>-<larger id>``, ``created_at``). No ``since_id`` (X has none here). A token
  without Direct Message access: 403 as for writes.
* With ``read_access=False`` (an app on a plan that may not read), the mentions and DM reads are
  403 ``client-forbidden`` (``reason`` ``client-not-enrolled``) as X's Free plan answers.
* Every authenticated ``/2/`` answer carries ``x-rate-limit-limit``/``-remaining``/``-reset``
  (Unix seconds)
  for a 15-minute window per token and endpoint (X's per-user limits: mentions 300, users/me 75,
  posts 100, retweets 50, dm_events 15); posts also ``x-user-limit-24hour-*``. Counted always,
  refused (429) only with ``enforce_rate_limit=True`` or by :meth:`TwitterServer.rate_limit_next`.
  429 body ``{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank",
  "status":429}``; 5xx the same shape with the status's title. ``x-access-level`` on user answers.

Not spoken: OAuth 2.0, bearer tokens, media, polls, likes, follows, search, streams, v1.1, group
DMs, sending DMs, deleting posts over the API, edits, long posts, start_time/end_time.
Guessed where X's documentation says nothing: 404 for retweeting a missing post, 401 (not 403)
for a suspended account, retweets among the retweeter's own mentions.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import json
import re
import secrets
import string
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime

from local_server import LocalServer

X_API = "https://api.twitter.com"
PROBLEMS = "https://api.twitter.com/2/problems/"
MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23
RATE_WINDOW = 900  # seconds: X's rate-limit window
DAY = 86400
MENTIONS_REACHABLE = 800
DM_HISTORY = 30 * DAY
TIMESTAMP_SKEW = 300
REQUEST_TOKEN_TTL = 900
TWEPOCH_MS = 1288834974657  # X's snowflake epoch

DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
TOO_LONG = ("Your Tweet text is too long. For more information on how Twitter determines text "
            "length see https://github.com/twitter/twitter-text.")
NO_PERMISSION = ("Your client app is not configured with the appropriate oauth1 app permissions "
                 "for this endpoint.")
NOT_ENROLLED = ("You currently have access to a subset of X API V2 endpoints and limited v1.1 "
                "endpoints (e.g. media post, oauth) only. If you need access to this endpoint, "
                "you may need a different access level. You can learn more here: "
                "https://developer.x.com/en/portal/product")
ACCESS_LEVELS = ("read", "read-write", "read-write-directmessages")

# Per user and 15 minutes, as X documents them; and posts per user and 24 hours.
LIMITS = {"me": 75, "mentions": 300, "tweets": 100, "retweets": 50, "dm_events": 15}
POSTS_PER_DAY = 2400

TWEET_FIELDS = {
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
    "conversation_id", "created_at", "display_text_range", "edit_controls",
    "edit_history_tweet_ids", "entities", "geo", "id", "in_reply_to_user_id", "lang",
    "media_metadata", "non_public_metrics", "note_tweet", "organic_metrics", "possibly_sensitive",
    "promoted_metrics", "public_metrics", "referenced_tweets", "reply_settings", "scopes",
    "source", "text", "withheld",
}
USER_FIELDS = {
    "affiliation", "connection_status", "created_at", "description", "entities", "id",
    "location", "most_recent_tweet_id", "name", "pinned_tweet_id", "profile_banner_url",
    "profile_image_url", "protected", "public_metrics", "receives_your_dm", "subscription_type",
    "url", "username", "verified", "verified_type", "withheld",
}
TWEET_EXPANSIONS = {
    "attachments.media_keys", "attachments.poll_ids", "author_id", "edit_history_tweet_ids",
    "entities.mentions.username", "geo.place_id", "in_reply_to_user_id", "referenced_tweets.id",
    "referenced_tweets.id.author_id",
}
DM_FIELDS = {
    "attachments", "created_at", "dm_conversation_id", "entities", "event_type", "id",
    "participant_ids", "referenced_tweets", "sender_id", "text",
}
DM_EXPANSIONS = {"attachments.media_keys", "participant_ids", "referenced_tweets.id", "sender_id"}
DM_EVENT_TYPES = {"MessageCreate", "ParticipantsJoin", "ParticipantsLeave"}
USER_EXPANSIONS = {"affiliation", "most_recent_tweet_id", "pinned_tweet_id"}
POST_KEYS = {
    "card_uri", "community_id", "direct_message_deep_link", "for_super_followers_only", "geo",
    "media", "nullcast", "poll", "quote_tweet_id", "reply", "reply_settings", "text",
    "made_with_ai", "paid_partnership", "edit_options",
}


# -- text: weighted length, URLs, mentions ------------------------------------------------------

_GTLDS = "com|net|org|info|biz|edu|gov|int|app|dev|social|online|site|xyz|berlin|hamburg"
_CCTLDS = "de|at|ch|fr|it|es|nl|be|eu|uk|us|ca|pl|se|dk|no|fi|cz|ru|jp|cn|in|br|au|io|me|co|tv|ly|to|fm"
_URL_RE = re.compile(
    r"https?://[^\s<>\"']+"
    rf"|(?<![\w@./-])(?P<domain>(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?P<tld>{_GTLDS}|{_CCTLDS}))"
    r"(?![\w-])(?P<path>/[^\s<>\"']*)?",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\""
_MENTION_RE = re.compile(r"(?<![\w@!#$%&*])@(\w{1,15})(?!\w)")
_HASHTAG_RE = re.compile(r"(?<![\w&#])#(\w*[^\W\d_]\w*)")


def _urls(text: str) -> list[tuple[int, int]]:
    """(start, end) of each URL as X finds them (an approximation of twitter-text's extractor):
    http(s):// links, and domains without one under common top-level domains, but not a bare
    ``name.<country>`` without a path (``bvg.de`` is text, ``www.bvg.de``, ``bvg.de/x`` and
    ``example.com`` are links; ``.co`` and ``.tv`` are links too); trailing punctuation left out."""
    found = []
    for m in _URL_RE.finditer(text):
        tld = (m.group("tld") or "").lower()
        if m.group("domain") and not m.group("path") and m.group("domain").count(".") == 1 \
                and tld in _CCTLDS.split("|") and tld not in ("co", "tv"):
            continue
        start, end = m.span()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        if end > start:
            found.append((start, end))
    return found


def _light(cp: int) -> bool:
    """twitter-text v3's ranges of weight 1 (the rest weigh 2)."""
    return cp <= 4351 or 8192 <= cp <= 8205 or 8208 <= cp <= 8223 or 8242 <= cp <= 8247


def _emoji_base(cp: int) -> bool:
    return (0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or 0x2300 <= cp <= 0x23FF
            or 0x2B00 <= cp <= 0x2BFF)


def _emoji_end(text: str, i: int) -> int:
    """The end of the emoji (sequence) at `i`, or 0 if none starts there: a base with its
    modifiers (variation selectors, skin tones, keycap, tags) and ZWJ-joined followers, a pair
    of regional indicators (a flag), a keycap, or any character in emoji presentation (U+FE0F)."""
    n = len(text)
    cp = ord(text[i])
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return i + 2 if i + 1 < n and 0x1F1E6 <= ord(text[i + 1]) <= 0x1F1FF else i + 1
    nxt = ord(text[i + 1]) if i + 1 < n else 0
    if text[i] in "0123456789#*" and (nxt == 0x20E3 or (nxt == 0xFE0F and i + 2 < n
                                                         and ord(text[i + 2]) == 0x20E3)):
        return i + (2 if nxt == 0x20E3 else 3)
    if not (_emoji_base(cp) or nxt == 0xFE0F):
        return 0
    j = i + 1
    while j < n:
        c = ord(text[j])
        if c in (0xFE0F, 0xFE0E, 0x20E3) or 0x1F3FB <= c <= 0x1F3FF or 0xE0020 <= c <= 0xE007F:
            j += 1
        elif c == 0x200D and j + 1 < n and (_emoji_base(ord(text[j + 1]))
                                            or 0x2640 <= ord(text[j + 1]) <= 0x2642):
            j += 2
        else:
            break
    return j


def _weigh(text: str) -> int:
    total, i = 0, 0
    while i < len(text):
        end = _emoji_end(text, i)
        if end:
            total += 2
            i = end
        else:
            total += 1 if _light(ord(text[i])) else 2
            i += 1
    return total


def weighted_length(text: str) -> int:
    """A post's length as X counts it (twitter-text v3, the 280 limit): the text in Unicode
    NFC; every URL 23; code points U+0000-U+10FF, U+2000-U+200D, U+2010-U+201F, U+2032-U+2037
    weigh 1, all others 2 (CJK, most emoji, also "…" U+2026 and "€"); an emoji sequence (skin
    tone, ZWJ family, flag, keycap, VS16) weighs 2 in all."""
    text = unicodedata.normalize("NFC", text)
    total, pos = 0, 0
    for start, end in _urls(text):
        total += _weigh(text[pos:start]) + URL_WEIGHT
        pos = end
    return total + _weigh(text[pos:])


# -- OAuth 1.0a -----------------------------------------------------------------------------------

def _pe(value: str) -> str:
    """RFC 3986 percent-encoding, as OAuth 1.0a wants it (unreserved: A-Z a-z 0-9 - . _ ~)."""
    return urllib.parse.quote(value, safe="~")


def oauth_signature(method: str, url: str, params: list, consumer_secret: str,
                    token_secret: str = "") -> str:
    """The HMAC-SHA1 signature (base64) of a request: `url` without query (scheme and host in
    lower case, no default port), `params` every (name, value) of the query, a form-encoded
    body and the oauth_* header parameters but oauth_signature, decoded."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.port and (parts.scheme, parts.port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{parts.port}"
    base_url = f"{parts.scheme.lower()}://{host}{parts.path or '/'}"
    normal = "&".join(f"{k}={v}" for k, v in sorted((_pe(k), _pe(v)) for k, v in params))
    base = "&".join((method.upper(), _pe(base_url), _pe(normal)))
    key = f"{_pe(consumer_secret)}&{_pe(token_secret)}"
    return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()


def _oauth_header(value: str) -> dict | None:
    if not value.startswith("OAuth "):
        return None
    return {k: urllib.parse.unquote(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', value[6:])}


# -- state --------------------------------------------------------------------------------------

@dataclass(eq=False)
class User:
    """A user of the server. An account made by :meth:`TwitterServer.add_account` carries its
    access token and secret (for the server's default consumer)."""

    user_id: str
    username: str
    name: str
    created_at: float
    suspended: bool = False
    access_token: str | None = None
    access_token_secret: str | None = None


@dataclass(eq=False)
class _Token:
    token: str
    secret: str
    consumer_key: str
    user: User
    access_level: str
    revoked: bool = False


@dataclass(eq=False)
class _RequestToken:
    token: str
    secret: str
    consumer_key: str
    callback: str
    access_level: str
    created_at: float
    verifier: str | None = None
    user: User | None = None


@dataclass(eq=False)
class _Tweet:
    id: int
    author: User
    text: str
    created_at: float
    mentions: list = field(default_factory=list)  # (start, end, User)
    urls: list = field(default_factory=list)  # (start, end, t.co link, expanded URL)
    hashtags: list = field(default_factory=list)  # (start, end, tag)
    in_reply_to: _Tweet | None = None
    quoted: _Tweet | None = None
    retweet_of: _Tweet | None = None
    conversation_id: int = 0
    display_start: int = 0
    deleted: bool = False
    source_text: str = ""  # the text as posted (NFC, stripped): what duplicates are compared on

    @property
    def mentioned(self) -> list[User]:
        return list(dict.fromkeys(u for _, _, u in self.mentions))


@dataclass(eq=False)
class _DmEvent:
    id: int
    sender: User
    recipient: User
    text: str
    created_at: float

    @property
    def conversation_id(self) -> str:
        a, b = sorted((int(self.sender.user_id), int(self.recipient.user_id)))
        return f"{a}-{b}"


@dataclass
class LoggedRequest:
    """One request as the server saw it: ``headers`` keys in Title-Case (``Host`` is where it
    arrived), ``query`` and ``params`` (the query and a JSON or form body) as dicts, ``oauth`` the
    Authorization header's oauth_* parameters (oauth_signature left out), ``user`` the username
    of the token once the request was authenticated."""

    method: str
    path: str
    query: dict
    params: dict
    headers: dict
    oauth: dict
    user: str | None = None
    status: int | None = None
    fault: str | None = None


@dataclass
class _Fault:
    kind: str  # "fail", "ratelimit", "hang", "garbage"
    remaining: int
    path: str | None
    status: int = 500
    seconds: float = 0.0
    process: bool = True
    daily: bool = False


class _HttpError(Exception):
    def __init__(self, status: int, body, headers: dict | None = None):
        super().__init__(status, body)
        self.status, self.body, self.headers = status, body, headers or {}


_REASONS = {
    200: "OK", 201: "Created", 302: "Found", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _problem(status: int, detail: str | None = None, title: str | None = None,
             type_: str = "about:blank", **extra) -> _HttpError:
    title = title or _REASONS.get(status, "Error")
    return _HttpError(status, {**extra, "title": title, "detail": detail or title, "type": type_,
                               "status": status})


def _invalid(message: str, parameter: str | None = None, value=None) -> _HttpError:
    error = {"message": message}
    if parameter is not None:
        error["parameters"] = {parameter: [str(value)]}
    return _HttpError(400, {"errors": [error], "title": "Invalid Request",
                            "detail": "One or more parameters to your request was invalid.",
                            "type": PROBLEMS + "invalid-request"})


def _could_not_authenticate() -> _HttpError:
    return _HttpError(401, {"errors": [{"code": 32, "message": "Could not authenticate you."}]})


def _display_url(url: str) -> str:
    shown = re.sub(r"^https?://(www\.)?", "", url)
    return shown if len(shown) <= 26 else shown[:26] + "…"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"


def _token_for(direction: str, boundary: int) -> str:
    return base64.b32hexencode(f"{direction}{boundary}".encode()).decode().rstrip("=").lower()


def _read_token(token: str) -> tuple[str, int] | None:
    try:
        raw = base64.b32hexdecode(token.upper() + "=" * (-len(token) % 8)).decode()
        if raw[:1] in ("n", "p") and raw[1:].isdigit():
            return raw[0], int(raw[1:])
    except (ValueError, UnicodeDecodeError):
        pass
    return None


def _random(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


class _Request:
    def __init__(self, method, path, query, params, headers, body_json):
        self.method, self.path, self.query, self.params = method, path, query, params
        self.headers, self.json = headers, body_json
        self.query_pairs: list = []
        self.form_pairs: list = []
        self.extra: dict = {}  # answer headers


class TwitterServer(LocalServer):
    """An X API server on ``self.url`` (``http://127.0.0.1:PORT``), state in memory behind a lock.

    Use as a context manager, or call :meth:`start` and :meth:`close`. Test controls are plain
    thread-safe methods; users can be passed as the :class:`User` or as the username.
    """

    def __init__(self, *, consumer_key: str = "tf-consumer-key",
                 consumer_secret: str = "tf-consumer-secret",
                 signed_base: str | None = X_API, callback_urls: list | None = None,
                 access_level: str = "read-write-directmessages", read_access: bool = True,
                 duplicate_window: float = DAY, enforce_rate_limit: bool = False):
        super().__init__()
        assert access_level in ACCESS_LEVELS
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.signed_base = signed_base
        self.callback_urls = callback_urls
        self.access_level = access_level
        self.read_access = read_access
        self.duplicate_window = duplicate_window
        self.enforce_rate_limit = enforce_rate_limit
        self._lock = threading.RLock()
        self._last_snowflake = 0
        self._consumers = {consumer_key: consumer_secret}
        self._users: dict[str, User] = {}  # username (lower case) -> user
        self._tokens: dict[str, _Token] = {}
        self._request_tokens: dict[str, _RequestToken] = {}
        self._nonces: dict[tuple, float] = {}
        self._tweets: dict[int, _Tweet] = {}
        self._dms: list[_DmEvent] = []
        self._rate: dict[tuple, list] = {}  # (token, endpoint, window) -> [start, count]
        self._faults: list[_Fault] = []
        self._log: list[LoggedRequest] = []

    # -- test controls ------------------------------------------------------------------------

    def user(self, username: str, name: str | None = None) -> User:
        """The user ``username`` (made if new): an author of mentions, a sender of DMs."""
        with self._lock:
            found = self._users.get(username.lower())
            if found is None:
                found = User(str(self._snowflake()), username, name or username.title(), time.time())
                self._users[username.lower()] = found
            return found

    def add_account(self, username: str, access_level: str | None = None) -> User:
        """A user that authorised the default consumer: the record carries ``user_id``,
        ``access_token`` (``<user_id>-…``, as X's) and ``access_token_secret``."""
        with self._lock:
            user = self.user(username)
            token = self._issue(self.consumer_key, user, access_level or self.access_level)
            user.access_token, user.access_token_secret = token.token, token.secret
            return user

    def mention(self, account, text: str, author: str = "someone", in_reply_to: str | None = None,
                urls: tuple = ()) -> str:
        """A post by ``author`` naming ``account``; returns its id. URLs in ``text`` and those of
        ``urls`` (appended) become t.co links. ``@account`` goes in front of ``text`` unless the
        text names it already; a reply (``in_reply_to``, a post's id) starts with the @handles X
        fills in (the replied post's author and the handles it named, not the author's own), and
        ``display_text_range`` starts after them."""
        with self._lock:
            bot, writer = self._get_user(account), self.user(author)
            body = " ".join([text, *urls]).strip()
            names = {m.lower() for m in _MENTION_RE.findall(body)}
            prefix = []
            parent = self._tweets[int(in_reply_to)] if in_reply_to else None
            if parent is not None:
                for u in [parent.author, *parent.mentioned]:
                    if u is not writer and f"@{u.username}" not in prefix:
                        prefix.append(f"@{u.username}")
            if bot.username.lower() not in names and f"@{bot.username}" not in prefix:
                body = f"@{bot.username} {body}"
            lead = " ".join(prefix) + " " if prefix else ""
            tweet = self._new_tweet(writer, lead + body, in_reply_to=parent)
            tweet.display_start = len(lead)
            return str(tweet.id)

    def dm(self, account, text: str, sender: str = "someone") -> str:
        """A Direct Message from ``sender`` to ``account``; returns the event's id."""
        with self._lock:
            event = _DmEvent(self._snowflake(), self.user(sender), self._get_user(account), text,
                             time.time())
            self._dms.append(event)
            return str(event.id)

    def post(self, account, text: str) -> str:
        """A post by ``account`` made elsewhere (its app, its web page); returns its id."""
        with self._lock:
            return str(self._new_tweet(self._get_user(account), text).id)

    def delete(self, tweet_id: str) -> None:
        """The post is deleted: gone from timelines, not retweetable."""
        with self._lock:
            self._tweets[int(tweet_id)].deleted = True

    def posts(self, account) -> list[dict]:
        """Posts ``account`` made (no retweets), oldest first, with every field rendered."""
        with self._lock:
            user = self._get_user(account)
            return [self._tweet_json(t, TWEET_FIELDS) for t in self._sorted()
                    if t.author is user and t.retweet_of is None and not t.deleted]

    def retweets(self, account) -> list[str]:
        """The ids of the posts ``account`` retweeted, in the order it did."""
        with self._lock:
            user = self._get_user(account)
            return [str(t.retweet_of.id) for t in self._sorted()
                    if t.author is user and t.retweet_of is not None and not t.deleted]

    def tweet(self, tweet_id: str) -> dict:
        """One post with every field rendered."""
        with self._lock:
            return self._tweet_json(self._tweets[int(tweet_id)], TWEET_FIELDS)

    def revoke(self, account) -> None:
        """The user revoked the app: every token of ``account`` is refused (401)."""
        with self._lock:
            user = self._get_user(account)
            for token in self._tokens.values():
                if token.user is user:
                    token.revoked = True

    def suspend(self, account, suspended: bool = True) -> None:
        """X suspended ``account``: its requests are refused (401) until unsuspended."""
        with self._lock:
            self._get_user(account).suspended = suspended

    def fail_next(self, n: int = 1, status: int = 503, path: str | None = None) -> None:
        """The next ``n`` requests (under ``path``, else any) get ``status`` with X's JSON error
        shape; nothing is done."""
        self._add_fault(_Fault("fail", n, path, status=status))

    def rate_limit_next(self, n: int = 1, reset_in: float = 60, path: str | None = None,
                        daily: bool = False) -> None:
        """The next ``n`` requests get 429 with ``x-rate-limit-remaining: 0`` and
        ``x-rate-limit-reset`` ``reset_in`` seconds ahead; with ``daily``, the 24-hour user limit
        is what ran out (``x-user-limit-24hour-remaining: 0`` and its reset ``reset_in`` ahead,
        the 15-minute headers with room left)."""
        self._add_fault(_Fault("ratelimit", n, path, status=429, seconds=reset_in, daily=daily))

    def hang_next(self, n: int = 1, seconds: float = 10, path: str | None = None,
                  process: bool = True) -> None:
        """The next ``n`` requests are answered only after ``seconds``. With ``process`` the
        request takes effect at once (a client that timed out has posted anyway); without, it is
        dropped and answered 504 after the wait, as X's edge does."""
        self._add_fault(_Fault("hang", n, path, seconds=seconds, process=process))

    def garbage_next(self, n: int = 1, path: str | None = None) -> None:
        """The next ``n`` requests get 200 with a body that is not JSON; nothing is done."""
        self._add_fault(_Fault("garbage", n, path))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def requests_log(self) -> list[LoggedRequest]:
        with self._lock:
            return copy.deepcopy(self._log)

    def authorize(self, auth_url: str, user, approve: bool = True) -> str:
        """Open ``auth_url`` (tweepy's, on api.twitter.com: only its query is read) in ``user``'s
        browser and click "Authorize app" or "Cancel"; returns where the browser is sent: the
        callback with ``oauth_token`` and ``oauth_verifier``, or with ``denied``; for an ``oob``
        callback, the PIN shown."""
        username = self._get_user(user).username
        query = urllib.parse.urlsplit(auth_url).query
        token = dict(urllib.parse.parse_qsl(query)).get("oauth_token", "")
        status, _, _ = _fetch(f"{self.url}/oauth/authorize?{query}")
        assert status == 200, status
        form = {"oauth_token": token, "username": username}
        form["allow" if approve else "cancel"] = "1"
        status, location, page = _fetch(f"{self.url}/oauth/authorize",
                                        urllib.parse.urlencode(form).encode())
        if status == 200:  # oob: the page shows the PIN (None when denied)
            pin = re.search(r'<code id="oauth_pin">(\w+)</code>', page)
            return pin.group(1) if pin else None
        assert status == 302, (status, page)
        return location

    # -- state helpers (call with the lock held) ---------------------------------------------

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _snowflake(self) -> int:
        now = (int(time.time() * 1000) - TWEPOCH_MS) << 22
        self._last_snowflake = max(self._last_snowflake + 1, now)
        return self._last_snowflake

    def _get_user(self, user) -> User:
        with self._lock:
            return user if isinstance(user, User) else self._users[user.lower()]

    def _by_id(self, user_id: str) -> User | None:
        return next((u for u in self._users.values() if u.user_id == user_id), None)

    def _sorted(self) -> list[_Tweet]:
        return sorted(self._tweets.values(), key=lambda t: t.id)

    def _issue(self, consumer_key: str, user: User, access_level: str) -> _Token:
        """X's access token for (consumer, user): the same while not revoked."""
        for token in self._tokens.values():
            if token.consumer_key == consumer_key and token.user is user and not token.revoked:
                token.access_level = access_level
                return token
        token = _Token(f"{user.user_id}-{_random(40)}", _random(45), consumer_key, user,
                       access_level)
        self._tokens[token.token] = token
        return token

    def _entities(self, tweet: _Tweet, wrap_urls: bool = True) -> None:
        """URLs to t.co links (indices in the new text), then @mentions of known users and
        hashtags."""
        text = tweet.text
        if wrap_urls:
            out, pos, urls = [], 0, []
            for start, end in _urls(text):
                out.append(text[pos:start])
                at = sum(map(len, out))
                link = "https://t.co/" + _random(10)
                expanded = text[start:end]
                if not re.match(r"https?://", expanded, re.I):
                    expanded = "http://" + expanded
                urls.append((at, at + len(link), link, expanded))
                out.append(link)
                pos = end
            out.append(text[pos:])
            tweet.text, tweet.urls = "".join(out), urls
        for m in _MENTION_RE.finditer(tweet.text):
            user = self._users.get(m.group(1).lower())
            if user is not None:
                tweet.mentions.append((m.start(), m.end(), user))
        tweet.hashtags = [(m.start(), m.end(), m.group(1)) for m in _HASHTAG_RE.finditer(tweet.text)]

    def _new_tweet(self, author: User, text: str, in_reply_to: _Tweet | None = None,
                   quoted: _Tweet | None = None) -> _Tweet:
        tweet = _Tweet(self._snowflake(), author, unicodedata.normalize("NFC", text), time.time(),
                       in_reply_to=in_reply_to, quoted=quoted)
        tweet.conversation_id = in_reply_to.conversation_id if in_reply_to else tweet.id
        tweet.source_text = tweet.text.strip()
        self._entities(tweet)
        self._tweets[tweet.id] = tweet
        return tweet

    def _new_retweet(self, user: User, original: _Tweet) -> _Tweet:
        prefix = f"RT @{original.author.username}: "
        tweet = _Tweet(self._snowflake(), user, prefix + original.text, time.time(),
                       retweet_of=original)
        tweet.conversation_id = tweet.id
        self._entities(tweet, wrap_urls=False)
        tweet.urls = [(s + len(prefix), e + len(prefix), link, expanded)
                      for s, e, link, expanded in original.urls]
        self._tweets[tweet.id] = tweet
        return tweet

    # -- JSON renderers -----------------------------------------------------------------------

    def _user_json(self, user: User, fields: set) -> dict:
        data = {"id": user.user_id, "name": user.name, "username": user.username}
        optional = {
            "created_at": _iso(user.created_at), "description": "", "protected": False,
            "verified": False, "profile_image_url": f"{self.url}/profile_images/{user.user_id}.png",
            "public_metrics": {"followers_count": 0, "following_count": 0,
                               "tweet_count": sum(t.author is user for t in self._tweets.values()),
                               "listed_count": 0, "like_count": 0},
        }
        data.update({k: v for k, v in optional.items() if k in fields})
        return data

    def _tweet_json(self, t: _Tweet, fields: set) -> dict:
        data = {"id": str(t.id), "text": t.text, "edit_history_tweet_ids": [str(t.id)]}
        refs = [("replied_to", t.in_reply_to), ("quoted", t.quoted), ("retweeted", t.retweet_of)]
        entities = {}
        if t.mentions:
            entities["mentions"] = [{"start": s, "end": e, "username": u.username, "id": u.user_id}
                                    for s, e, u in t.mentions]
        if t.urls:
            entities["urls"] = [{"start": s, "end": e, "url": link, "expanded_url": expanded,
                                 "display_url": _display_url(expanded)}
                                for s, e, link, expanded in t.urls]
        if t.hashtags:
            entities["hashtags"] = [{"start": s, "end": e, "tag": tag} for s, e, tag in t.hashtags]
        optional = {
            "author_id": t.author.user_id,
            "created_at": _iso(t.created_at),
            "conversation_id": str(t.conversation_id),
            "display_text_range": [t.display_start, len(t.text)],
            "lang": "und",
            "possibly_sensitive": False,
            "reply_settings": "everyone",
            "public_metrics": {
                "retweet_count": sum(x.retweet_of is t for x in self._tweets.values()),
                "reply_count": sum(x.in_reply_to is t for x in self._tweets.values()),
                "like_count": 0, "quote_count": sum(x.quoted is t for x in self._tweets.values()),
                "bookmark_count": 0, "impression_count": 0},
        }
        if t.in_reply_to is not None:
            optional["in_reply_to_user_id"] = t.in_reply_to.author.user_id
        if any(ref for _, ref in refs):
            optional["referenced_tweets"] = [{"type": kind, "id": str(ref.id)}
                                             for kind, ref in refs if ref is not None]
        if entities:
            optional["entities"] = entities
        data.update({k: v for k, v in optional.items() if k in fields})
        return data

    def _dm_json(self, e: _DmEvent, fields: set) -> dict:
        data = {"id": str(e.id), "event_type": "MessageCreate", "text": e.text}
        optional = {"sender_id": e.sender.user_id, "dm_conversation_id": e.conversation_id,
                    "created_at": _iso(e.created_at)}
        data.update({k: v for k, v in optional.items() if k in fields})
        return data

    # -- HTTP ---------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "/") or "/"
        query_pairs = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        ctype = environ.get("CONTENT_TYPE", "")
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers.update({k.replace("_", "-").title(): environ[k]
                        for k in ("CONTENT_TYPE", "CONTENT_LENGTH") if environ.get(k)})
        form_pairs, body_json, bad_json = [], None, False
        if "application/x-www-form-urlencoded" in ctype:
            form_pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        elif body:
            try:
                body_json = json.loads(body)
            except ValueError:
                bad_json = True
        oauth = _oauth_header(headers.get("Authorization", "")) or {}
        entry = LoggedRequest(method, path.rstrip("/") or "/", dict(query_pairs),
                              {**dict(query_pairs), **dict(form_pairs),
                               **(body_json if isinstance(body_json, dict) else {})},
                              headers, {k: v for k, v in oauth.items() if k != "oauth_signature"})
        with self._lock:
            self._log.append(entry)
            fault = next((f for f in self._faults if f.path is None or path.startswith(f.path)), None)
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                entry.fault = fault.kind
        request = _Request(method, path, dict(query_pairs), entry.params, headers, body_json)
        request.query_pairs, request.form_pairs = query_pairs, form_pairs
        kind = fault.kind if fault is not None else None
        if kind == "hang" and not fault.process:
            self._stop.wait(fault.seconds)
            status, ctype, out, extra = 504, "text/html", b"<html><h1>504 Gateway Time-out</h1></html>", {}
        elif kind == "fail":
            status, ctype, out, extra = self._json(_problem(fault.status))
        elif kind == "garbage":
            status, ctype, out, extra = 200, "application/json;charset=utf-8", b'{"data": <html>Ov', {}
        elif kind == "ratelimit":
            status, ctype, out, extra = self._json(_problem(429))
            extra = self._rate_headers_fault(path, fault)
        elif bad_json:
            status, ctype, out, extra = self._json(_invalid("Request body is not valid JSON."))
        else:
            status, ctype, out, extra = self._respond(request, entry)
        if kind == "hang" and fault.process:
            self._stop.wait(fault.seconds)
        entry.status = status
        start_response(f"{status} {_REASONS.get(status, 'Error')}",
                       [("Content-Type", ctype), ("Cache-Control", "no-cache, no-store, max-age=0"),
                        *extra.items()])
        return [out]

    @staticmethod
    def _json(error: _HttpError) -> tuple:
        return (error.status, "application/json; charset=utf-8",
                json.dumps(error.body, separators=(",", ":")).encode(), dict(error.headers))

    def _rate_headers_fault(self, path: str, fault: _Fault) -> dict:
        now = int(time.time())
        if fault.daily:
            return {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "99",
                    "x-rate-limit-reset": str(now + RATE_WINDOW),
                    "x-user-limit-24hour-limit": str(POSTS_PER_DAY),
                    "x-user-limit-24hour-remaining": "0",
                    "x-user-limit-24hour-reset": str(int(now + fault.seconds))}
        return {"x-rate-limit-limit": "15", "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(int(now + fault.seconds))}

    def _respond(self, request: _Request, entry: LoggedRequest) -> tuple:
        try:
            with self._lock:
                for route_method, pattern, name in _ROUTES:
                    m = re.fullmatch(pattern, request.path)
                    if m and route_method == request.method:
                        result = getattr(self, name)(request, entry, *m.groups())
                        break
                else:
                    raise _HttpError(404, {"errors": [{"message": "Sorry, that page does not exist",
                                                       "code": 34}]})
            status = request.extra.pop("status", 200)
        except _HttpError as error:
            status, result = error.status, error.body
            request.extra.update(error.headers)
        extra = request.extra
        if isinstance(result, bytes):  # OAuth's form-encoded answers, HTML pages, plain text
            ctype = extra.pop("content-type", "text/html; charset=utf-8")
            return status, ctype, result, extra
        if isinstance(result, str):
            return status, "text/plain; charset=utf-8", result.encode(), extra
        return (status, "application/json; charset=utf-8",
                json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode(), extra)

    # -- OAuth 1.0a ---------------------------------------------------------------------------

    def _verify(self, request: _Request, token_secret_of, v2: bool) -> tuple[dict, object]:
        """Checks the request's OAuth 1.0a signature; returns (oauth parameters, the token's
        record from `token_secret_of(token) -> (record, secret)`)."""
        refuse = (lambda: _problem(401)) if v2 else _could_not_authenticate
        params = _oauth_header(request.headers.get("Authorization", ""))
        if not params:
            raise refuse()
        needed = ("oauth_consumer_key", "oauth_signature", "oauth_signature_method",
                  "oauth_timestamp", "oauth_nonce")
        if any(not params.get(k) for k in needed) or params["oauth_signature_method"] != "HMAC-SHA1" \
                or params.get("oauth_version", "1.0") != "1.0":
            raise refuse()
        consumer_secret = self._consumers.get(params["oauth_consumer_key"])
        if consumer_secret is None:
            raise refuse()
        record, token_secret = None, ""
        if "oauth_token" in params:
            record, token_secret = token_secret_of(params["oauth_token"])
            if record is None:
                raise refuse()
        try:
            skew = abs(time.time() - int(params["oauth_timestamp"]))
        except ValueError:
            raise refuse() from None
        if skew > TIMESTAMP_SKEW:
            raise refuse()
        signed = [(k, v) for k, v in params.items() if k not in ("oauth_signature", "realm")]
        signed += request.query_pairs + request.form_pairs
        base = self.signed_base or f"http://{request.headers.get('Host', '')}"
        expected = oauth_signature(request.method, base.rstrip("/") + request.path, signed,
                                   consumer_secret, token_secret)
        if not hmac.compare_digest(expected, params["oauth_signature"]):
            raise refuse()
        now = time.time()
        self._nonces = {k: t for k, t in self._nonces.items() if t > now - 2 * TIMESTAMP_SKEW}
        key = (params["oauth_consumer_key"], params.get("oauth_token"), params["oauth_nonce"],
               params["oauth_timestamp"])
        if key in self._nonces:
            raise refuse()
        self._nonces[key] = now
        return params, record

    def _access(self, token: str):
        record = self._tokens.get(token)
        return (record, record.secret) if record is not None else (None, "")

    def _user_context(self, request: _Request, entry: LoggedRequest, endpoint: str,
                      needs: str = "read") -> _Token:
        """Authenticates a /2/ request: its token, rate-limit headers counted."""
        params, token = self._verify(request, self._access, v2=True)
        if token is None or token.revoked or token.user.suspended \
                or token.consumer_key != params["oauth_consumer_key"]:
            raise _problem(401)
        entry.user = token.user.username
        request.extra["x-access-level"] = token.access_level
        headers, over = self._count(token.token, endpoint)
        request.extra.update(headers)
        if over and self.enforce_rate_limit:
            raise _problem(429)  # with the headers: they are in request.extra
        allowed = {"read": ACCESS_LEVELS, "write": ACCESS_LEVELS[1:], "dm": ACCESS_LEVELS[2:]}
        if token.access_level not in allowed[needs]:
            raise _problem(403, NO_PERMISSION, "Forbidden", PROBLEMS + "oauth1-permissions")
        return token

    def _count(self, token: str, endpoint: str) -> tuple[dict, bool]:
        now = time.time()
        start = now - now % RATE_WINDOW
        slot = self._rate.setdefault((token, endpoint), [start, 0])
        if slot[0] != start:
            slot[:] = [start, 0]
        slot[1] += 1
        limit = LIMITS[endpoint]
        headers = {"x-rate-limit-limit": str(limit),
                   "x-rate-limit-remaining": str(max(0, limit - slot[1])),
                   "x-rate-limit-reset": str(int(start + RATE_WINDOW))}
        over = slot[1] > limit
        if endpoint == "tweets":
            day = self._rate.setdefault((token, "day"), [now, 0])
            if day[0] + DAY <= now:
                day[:] = [now, 0]
            day[1] += 1
            headers.update({"x-user-limit-24hour-limit": str(POSTS_PER_DAY),
                            "x-user-limit-24hour-remaining": str(max(0, POSTS_PER_DAY - day[1])),
                            "x-user-limit-24hour-reset": str(int(day[0] + DAY))})
            over = over or day[1] > POSTS_PER_DAY
        return headers, over

    def _post_request_token(self, request, entry):
        params, _ = self._verify(request, lambda token: (None, ""), v2=False)
        callback = params.get("oauth_callback", "")
        if callback != "oob" and not re.match(r"[a-zA-Z][\w+.-]*://", callback):
            raise _could_not_authenticate()
        if callback != "oob" and self.callback_urls is not None and callback not in self.callback_urls:
            raise _HttpError(403, {"errors": [{"code": 415, "message": (
                "Callback URL not approved for this client application. Approved callback URLs "
                "can be adjusted in your application settings")}]})
        level = {"read": "read", "write": "read-write"}.get(
            dict(request.query_pairs).get("x_auth_access_type", ""), self.access_level)
        token = _RequestToken(_random(27), _random(32), params["oauth_consumer_key"], callback,
                              level, time.time())
        self._request_tokens[token.token] = token
        return urllib.parse.urlencode({"oauth_token": token.token, "oauth_token_secret": token.secret,
                                       "oauth_callback_confirmed": "true"}).encode()

    def _live_request_token(self, token: str) -> _RequestToken | None:
        record = self._request_tokens.get(token)
        if record is None or record.created_at + REQUEST_TOKEN_TTL < time.time():
            return None
        return record

    def _get_authorize(self, request, entry):
        record = self._live_request_token(request.query.get("oauth_token", ""))
        if record is None or record.verifier is not None:
            raise _HttpError(400, b"<html><body><h1>Whoa there!</h1><p>The request token for this "
                                  b"page is invalid. It may have already been used, or expired "
                                  b"because it is too old.</p></body></html>")
        return (
            "<!DOCTYPE html><html><head><title>Authorize an application</title></head><body>"
            "<h1>Authorize the app to use your account?</h1>"
            '<form method="post" action="/oauth/authorize">'
            f'<input type="hidden" name="oauth_token" value="{html.escape(record.token)}">'
            '<label>Username <input name="username"></label>'
            '<input type="submit" name="allow" value="Authorize app">'
            '<input type="submit" name="cancel" value="Cancel"></form></body></html>'
        ).encode()

    def _post_authorize(self, request, entry):
        p = request.params
        record = self._live_request_token(p.get("oauth_token", ""))
        if record is None or record.verifier is not None:
            raise _HttpError(400, b"<html><body><h1>Whoa there!</h1></body></html>")
        if "allow" not in p:
            del self._request_tokens[record.token]
            if record.callback == "oob":
                return b"<html><body><p>You have not authorized the app.</p></body></html>"
            raise self._redirect(record.callback, {"denied": record.token})
        user = self._users.get(p.get("username", "").lower())
        if user is None:
            raise _HttpError(400, b"<html><body><p>Unknown account.</p></body></html>")
        if user.suspended:
            raise _HttpError(403, b"<html><body><p>Your account is suspended.</p></body></html>")
        record.user, record.verifier = user, _random(32)
        if record.callback == "oob":
            return (f'<html><body><p>Enter this PIN to complete the authorization process: '
                    f'<code id="oauth_pin">{record.verifier}</code></p></body></html>').encode()
        raise self._redirect(record.callback, {"oauth_token": record.token,
                                               "oauth_verifier": record.verifier})

    @staticmethod
    def _redirect(callback: str, params: dict) -> _HttpError:
        location = callback + ("&" if "?" in callback else "?") + urllib.parse.urlencode(params)
        return _HttpError(302, b"", {"Location": location})

    def _post_access_token(self, request, entry):
        def request_token(token):
            record = self._live_request_token(token)
            return (record, record.secret) if record is not None else (None, "")

        header = _oauth_header(request.headers.get("Authorization", "")) or {}
        if "oauth_token" in header and request_token(header["oauth_token"])[0] is None:
            raise _HttpError(401, "Invalid request token.")
        params, record = self._verify(request, request_token, v2=False)
        if record is None or record.user is None or record.consumer_key != params["oauth_consumer_key"]:
            raise _HttpError(401, "Invalid request token.")
        verifier = params.get("oauth_verifier") or dict(request.form_pairs + request.query_pairs).get(
            "oauth_verifier", "")
        if not hmac.compare_digest(verifier, record.verifier or ""):
            raise _HttpError(401, "Error processing your OAuth request: Invalid oauth_verifier parameter")
        del self._request_tokens[record.token]
        token = self._issue(record.consumer_key, record.user, record.access_level)
        entry.user = record.user.username
        return urllib.parse.urlencode({"oauth_token": token.token, "oauth_token_secret": token.secret,
                                       "user_id": token.user.user_id,
                                       "screen_name": token.user.username}).encode()

    # -- API v2 -------------------------------------------------------------------------------

    @staticmethod
    def _fields(request: _Request, name: str, allowed: set) -> set:
        value = request.query.get(name)
        if value is None and name == "tweet.fields":
            value = request.query.get("post.fields")
        if value is None:
            return set()
        given = value.split(",")
        for item in given:
            if item not in allowed:
                raise _invalid(f"The `{name}` query parameter value [{item}] is not one of "
                               f"[{','.join(sorted(allowed))}]", name, item)
        return set(given)

    @staticmethod
    def _number(request: _Request, name: str, low: int, high: int, default: int) -> int:
        value = request.query.get(name)
        if value is None:
            return default
        if not value.isdigit() or not low <= int(value) <= high:
            raise _invalid(f"The `{name}` query parameter value [{value}] is not between {low} "
                           f"and {high}", name, value)
        return int(value)

    @staticmethod
    def _id(request: _Request, name: str) -> int | None:
        value = request.query.get(name)
        if value is None:
            return None
        if not re.fullmatch(r"[0-9]{1,19}", value):
            raise _invalid(f"The `{name}` query parameter value [{value}] does not match "
                           "^[0-9]{1,19}$", name, value)
        return int(value)

    def _page(self, request: _Request, items: list, size: int) -> tuple[list, dict]:
        """Items newest first (by .id) paged by X's tokens: next goes older, previous newer."""
        token = request.query.get("pagination_token")
        if token is not None:
            cursor = _read_token(token)
            if cursor is None:
                raise _invalid(f"The `pagination_token` query parameter value [{token}] is not valid",
                               "pagination_token", token)
            direction, boundary = cursor
            if direction == "n":
                page = [x for x in items if x.id < boundary][:size]
            else:
                page = [x for x in items if x.id > boundary][-size:]
        else:
            page = items[:size]
        meta = {"result_count": len(page)}
        if page:
            if any(x.id < page[-1].id for x in items):
                meta["next_token"] = _token_for("n", page[-1].id)
            if token is not None:
                meta["previous_token"] = _token_for("p", page[0].id)
        return page, meta

    def _includes_users(self, users: list[User], fields: set) -> list[dict]:
        return [self._user_json(u, fields) for u in dict.fromkeys(users)]

    def _get_me(self, request, entry):
        token = self._user_context(request, entry, "me")
        fields = self._fields(request, "user.fields", USER_FIELDS)
        self._fields(request, "expansions", USER_EXPANSIONS)
        self._fields(request, "tweet.fields", TWEET_FIELDS)
        return {"data": self._user_json(token.user, fields)}

    def _reading(self):
        if not self.read_access:
            raise _problem(403, NOT_ENROLLED, "Client Forbidden", PROBLEMS + "client-forbidden",
                           client_id="1", registration_url="https://developer.x.com/en/portal/product",
                           required_enrollment="Appropriate Level of API Access",
                           reason="client-not-enrolled")

    def _get_mentions(self, request, entry, user_id):
        self._user_context(request, entry, "mentions")
        self._reading()
        fields = self._fields(request, "tweet.fields", TWEET_FIELDS)
        user_fields = self._fields(request, "user.fields", USER_FIELDS)
        expansions = self._fields(request, "expansions", TWEET_EXPANSIONS)
        size = self._number(request, "max_results", 5, 100, 10)
        since, until = self._id(request, "since_id"), self._id(request, "until_id")
        user = self._by_id(user_id)
        if user is None:
            return {"errors": [{"value": user_id, "detail": f"Could not find user with id: [{user_id}].",
                                "title": "Not Found Error", "resource_type": "user", "parameter": "id",
                                "resource_id": user_id, "type": PROBLEMS + "resource-not-found"}]}
        mentions = [t for t in reversed(self._sorted()) if not t.deleted and user in t.mentioned]
        mentions = [t for t in mentions[:MENTIONS_REACHABLE]
                    if (since is None or t.id > since) and (until is None or t.id < until)]
        page, meta = self._page(request, mentions, size)
        if page:
            meta = {"newest_id": str(page[0].id), "oldest_id": str(page[-1].id), **meta}
        answer = {}
        if page:
            answer["data"] = [self._tweet_json(t, fields) for t in page]
            includes = self._tweet_includes(page, expansions, fields, user_fields)
            if includes:
                answer["includes"] = includes
        answer["meta"] = meta
        return answer

    def _get_user_tweets(self, request, entry, user_id):
        """A user's own posts, newest first (the timeline; retweets included as X does)."""
        self._user_context(request, entry, "tweets")
        self._reading()
        fields = self._fields(request, "tweet.fields", TWEET_FIELDS)
        size = self._number(request, "max_results", 5, 100, 10)
        user = self._by_id(user_id)
        if user is None:
            raise _problem(404, f"Could not find user with id: [{user_id}].", "Not Found Error")
        tweets = [t for t in reversed(self._sorted()) if not t.deleted and t.author is user]
        page, meta = self._page(request, tweets, size)
        if page:
            meta = {"newest_id": str(page[0].id), "oldest_id": str(page[-1].id), **meta}
            return {"data": [self._tweet_json(t, fields) for t in page], "meta": meta}
        return {"meta": meta}

    def _tweet_includes(self, page, expansions, fields, user_fields) -> dict:
        users, tweets = [], []
        for t in page:
            refs = [r for r in (t.in_reply_to, t.quoted, t.retweet_of) if r is not None]
            if "author_id" in expansions:
                users.append(t.author)
            if "entities.mentions.username" in expansions:
                users += [u for _, _, u in t.mentions]
            if "in_reply_to_user_id" in expansions and t.in_reply_to is not None:
                users.append(t.in_reply_to.author)
            if "referenced_tweets.id" in expansions:
                tweets += [r for r in refs if not r.deleted]
            if "referenced_tweets.id.author_id" in expansions:
                users += [r.author for r in refs if not r.deleted]
        includes = {}
        if users:
            includes["users"] = self._includes_users(users, user_fields)
        if tweets:
            includes["tweets"] = [self._tweet_json(r, fields) for r in dict.fromkeys(tweets)]
        return includes

    def _post_tweets(self, request, entry):
        token = self._user_context(request, entry, "tweets", needs="write")
        body = request.json
        if not isinstance(body, dict):
            raise _invalid("Request body is not valid JSON.")
        for key in body:
            if key not in POST_KEYS:
                raise _invalid(f"$.{key}: is not defined in the schema and the schema does not "
                               "allow additional properties")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            if not body.get("media"):
                raise _invalid("$.text: must be at least 1 characters long" if isinstance(text, str)
                               else "$.text: is missing but it is required")
            text = text or ""
        parent = quoted = None
        reply = body.get("reply") or {}
        if reply:
            parent = self._tweets.get(int(str(reply.get("in_reply_to_tweet_id", "0")) or 0))
            if parent is None or parent.deleted:
                raise _problem(403, "You attempted to reply to a Tweet that is deleted or not "
                                    "visible to you.", "Forbidden")
        if body.get("quote_tweet_id"):
            quoted = self._tweets.get(int(body["quote_tweet_id"]))
            if quoted is None or quoted.deleted:
                raise _problem(403, "You attempted to quote a Tweet that is deleted or not "
                                    "visible to you.", "Forbidden")
        if weighted_length(text) > MAX_WEIGHTED_LENGTH:
            raise _problem(403, TOO_LONG, "Forbidden")
        since = time.time() - self.duplicate_window
        normal = unicodedata.normalize("NFC", text).strip()
        for t in self._tweets.values():
            if t.author is token.user and t.retweet_of is None and not t.deleted \
                    and t.created_at >= since and t.source_text == normal:
                raise _problem(403, DUPLICATE, "Forbidden")
        tweet = self._new_tweet(token.user, text, in_reply_to=parent, quoted=quoted)
        request.extra["status"] = 201
        return {"data": {"id": str(tweet.id), "text": tweet.text,
                         "edit_history_tweet_ids": [str(tweet.id)]}}

    def _post_retweets(self, request, entry, user_id):
        token = self._user_context(request, entry, "retweets", needs="write")
        if user_id != token.user.user_id:
            raise _problem(403, "You are not permitted to perform this action.", "Forbidden")
        body = request.json
        tweet_id = body.get("tweet_id") if isinstance(body, dict) else None
        if not isinstance(tweet_id, str) or not re.fullmatch(r"[0-9]{1,19}", tweet_id):
            raise _invalid("$.tweet_id: is missing but it is required" if tweet_id is None
                           else "$.tweet_id: does not match the regex pattern ^[0-9]{1,19}$")
        original = self._tweets.get(int(tweet_id))
        if original is not None and original.retweet_of is not None:
            original = original.retweet_of
        if original is None or original.deleted:
            raise _problem(404, f"Could not find tweet with tweet_id: [{tweet_id}].", "Not Found Error",
                           PROBLEMS + "resource-not-found")
        mine = next((t for t in self._tweets.values() if t.author is token.user
                     and t.retweet_of is original and not t.deleted), None)
        if mine is None:
            mine = self._new_retweet(token.user, original)
        return {"data": {"retweeted": True, "rest_id": str(mine.id)}}

    def _get_dm_events(self, request, entry):
        token = self._user_context(request, entry, "dm_events", needs="dm")
        self._reading()
        fields = self._fields(request, "dm_event.fields", DM_FIELDS)
        expansions = self._fields(request, "expansions", DM_EXPANSIONS)
        user_fields = self._fields(request, "user.fields", USER_FIELDS)
        self._fields(request, "tweet.fields", TWEET_FIELDS)
        types = self._fields(request, "event_types", DM_EVENT_TYPES) or DM_EVENT_TYPES
        size = self._number(request, "max_results", 1, 100, 100)
        since = time.time() - DM_HISTORY
        me = token.user
        events = [e for e in sorted(self._dms, key=lambda e: e.id, reverse=True)
                  if me in (e.sender, e.recipient) and e.created_at >= since
                  and "MessageCreate" in types]
        page, meta = self._page(request, events, size)
        answer = {}
        if page:
            answer["data"] = [self._dm_json(e, fields) for e in page]
            if "sender_id" in expansions or "participant_ids" in expansions:
                answer["includes"] = {"users": self._includes_users([e.sender for e in page],
                                                                    user_fields)}
        answer["meta"] = meta
        return answer


_ROUTES = [
    ("POST", r"/oauth/request_token", "_post_request_token"),
    ("GET", r"/oauth/(?:authorize|authenticate)", "_get_authorize"),
    ("POST", r"/oauth/authorize", "_post_authorize"),
    ("POST", r"/oauth/access_token", "_post_access_token"),
    ("GET", r"/2/users/me", "_get_me"),
    ("GET", r"/2/users/(\d{1,19})/mentions", "_get_mentions"),
    ("GET", r"/2/users/(\d{1,19})/tweets", "_get_user_tweets"),
    ("POST", r"/2/tweets", "_post_tweets"),
    ("POST", r"/2/users/(\d{1,19})/retweets", "_post_retweets"),
    ("GET", r"/2/dm_events", "_get_dm_events"),
]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def _fetch(url: str, data: bytes | None = None) -> tuple[int, str | None, str]:
    """(status, Location, body) of one request, not following redirects."""
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, data, timeout=10) as r:
            return r.status, None, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location"), e.read().decode(errors="replace")
