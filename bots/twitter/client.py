"""Talking to X (Twitter) through tweepy, for the bot and its web UI: a tweepy.Client and a
tweepy.OAuth1UserHandler that reach the configured API host with a timeout, and tweepy's errors
turned into the run loop's (bots/README.md, "Errors"). Touches no database.

tweepy facts this relies on (4.14 to 4.17):

* tweepy hard-codes ``https://api.twitter.com``: ``BaseClient.request`` builds ``host + route``
  and ``OAuth1UserHandler._get_oauth_url`` returns ``https://api.twitter.com/oauth/<step>``. It
  has no option for another host and sets no timeout. Both send through a requests Session:
  ``Client.session`` (one for the client's life), and the handler's ``oauth``, an
  ``OAuth1Session`` made in ``__init__`` and replaced by a new one in ``get_access_token``.
  A transport adapter mounted on those sessions rewrites the address and adds the timeout; the
  handler here mounts it on every session assigned to its ``oauth``.
* OAuth 1.0a signs the URL. requests signs in ``Session.prepare_request`` (requests-oauthlib's
  ``OAuth1`` is the request's auth), before the adapter is asked to send: a rewritten request
  carries a signature over ``https://api.twitter.com/<path>?<query>``, not over the address it
  is sent to. X itself, or a proxy passing requests on to it, checks that signature as signed;
  tests/twitter_server.py verifies over ``https://api.twitter.com`` for that reason.
* With OAuth 1.0a, methods must be called with ``user_auth=True`` where tweepy's default is
  False (``get_users_mentions``, ``get_tweet``…): otherwise tweepy sends ``Bearer None`` (401).
  ``get_me``, ``create_tweet``, ``retweet`` and ``get_direct_message_events`` default to True.
  ``retweet`` takes the user id from the access token (``<user id>-…``) without a request.
* Errors: 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 429 TooManyRequests
  (since 4.15 with ``reset_time``, ``x-rate-limit-reset`` as an int; the headers are read here,
  from ``error.response``), 5xx TwitterServerError, any other
  status HTTPException; all carry ``response`` and ``api_messages`` (the ``errors[].message``
  entries, else ``detail``). A 2xx body that is not JSON raises ``requests.JSONDecodeError``,
  which is a RequestException (an OSError) too. Connection trouble raises requests' own errors.
  The handler wraps every error in ``TweepyException(inner)``: requests-oauthlib's
  ``TokenRequestDenied`` (status >= 400, with ``response``), ``ValueError`` for an answer that
  is not form-encoded, requests' errors.
* The handler keeps only ``oauth_token``/``oauth_token_secret`` of the access-token answer
  (X's ``user_id`` and ``screen_name`` are dropped): the user id is the token's part before "-",
  the handle comes from ``get_me``.
"""
from __future__ import annotations

import logging
import time

import requests
import requests.adapters
import requests.utils
import tweepy
from requests_oauthlib.oauth1_session import TokenMissing, TokenRequestDenied, VerifierMissing

from bots import CredentialsRefused, TryLater

# At DEBUG tweepy logs every answer's body: authors' ids, direct messages. Not in our log.
logging.getLogger("tweepy").setLevel(logging.WARNING)

API_URL = "https://api.twitter.com"          # what tweepy requests
X_HOSTS = ("https://api.twitter.com", "https://api.x.com")  # rewritten to the configured host
TIMEOUT = 20.0        # seconds, per connection attempt and per read
MAX_WAIT = 900.0      # seconds: a rate-limit reset further ahead is not believed
MIN_WAIT = 30.0       # seconds: a rate limit is waited for this long at least
CREDITS_WAIT = 3600.0  # seconds: 402, the app's prepaid API credits are used up
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
REFUSED_TOKEN = "X refused the account's token: connect the account again"


class Refused(Exception):
    """X refused one request for good (400, 403, 404, …): `code`, X's detail as the message,
    and `problem`, the type of X's answer (``https://api.twitter.com/2/problems/…`` or
    ``about:blank``) when it gave one."""

    def __init__(self, code: int, message: str, problem: str | None = None):
        super().__init__(message)
        self.code, self.problem = code, problem

    @property
    def duplicate(self) -> bool:
        """X refused the post because the account posted the same text lately."""
        return self.code == 403 and "duplicate content" in str(self)


def rewrite(url: str, api_url: str) -> str:
    """`url` on X's API host (api.twitter.com, api.x.com) moved to `api_url`; any other URL as
    it is."""
    base = api_url.rstrip("/")
    for host in X_HOSTS:
        if url.startswith(host) and url[len(host):len(host) + 1] in ("/", "?", ""):
            return base + url[len(host):]
    return url


class HostAdapter(requests.adapters.HTTPAdapter):
    """Sends requests for X's API host to `api_url` (scheme, host and port; a path prefix is
    kept), and gives every request without one the `timeout`. The request stays signed as it
    was prepared (see the module's docstring)."""

    def __init__(self, api_url: str = API_URL, timeout: float = TIMEOUT):
        super().__init__()
        self.api_url, self.timeout = api_url.rstrip("/"), timeout

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        url = rewrite(request.url, self.api_url)
        if url != request.url:
            request = request.copy()
            request.url = url
            if proxies:  # chosen by the session for api.twitter.com: choose again for the new host
                proxies = requests.utils.get_environ_proxies(url)
        return super().send(request, stream=stream, timeout=self.timeout if timeout is None else timeout,
                            verify=verify, cert=cert, proxies=proxies)


def mount(session: requests.Session, api_url: str = API_URL, timeout: float = TIMEOUT) -> None:
    """Every request of `session` through a HostAdapter (http:// too: a redirect gets the
    timeout as well)."""
    adapter = HostAdapter(api_url, timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def make_client(consumer_key: str, consumer_secret: str, token: str, token_secret: str,
                api_url: str = API_URL, timeout: float = TIMEOUT) -> tweepy.Client:
    """A tweepy.Client for one account (OAuth 1.0a user context) reaching `api_url`. Not
    thread-safe (its requests.Session): one for each thread."""
    client = tweepy.Client(consumer_key=consumer_key, consumer_secret=consumer_secret,
                           access_token=token, access_token_secret=token_secret,
                           wait_on_rate_limit=False)
    mount(client.session, api_url, timeout)
    return client


class Handler(tweepy.OAuth1UserHandler):
    """tweepy's OAuth1UserHandler whose every OAuth1Session (the one it makes at the start, the
    one it makes in get_access_token) goes through a HostAdapter."""

    def __init__(self, consumer_key: str, consumer_secret: str, callback: str | None,
                 api_url: str = API_URL, timeout: float = TIMEOUT):
        self._transport = (api_url, timeout)  # before super().__init__, which sets self.oauth
        super().__init__(consumer_key, consumer_secret, callback=callback)

    @property
    def oauth(self):
        return self._oauth

    @oauth.setter
    def oauth(self, session):
        mount(session, *self._transport)
        self._oauth = session


def handler(consumer_key: str, consumer_secret: str, callback: str | None, api_url: str = API_URL,
            timeout: float = TIMEOUT, request_token: dict | None = None) -> Handler:
    """The 3-legged flow: ``call(h, "get_authorization_url")`` (the URL to send the organiser to,
    on api.twitter.com; ``h.request_token`` is then ``{"oauth_token", "oauth_token_secret",
    "oauth_callback_confirmed"}``: keep it for the callback), then, in the callback, a handler
    made with that `request_token` and ``call(h, "get_access_token", verifier)`` -> (access
    token, access token secret)."""
    made = Handler(consumer_key, consumer_secret, callback, api_url, timeout)
    if request_token is not None:
        made.request_token = dict(request_token)
    return made


def call(target, method: str, *args, **kwargs):
    """target.<method>(...) (a tweepy.Client from make_client, or a Handler), with tweepy's
    errors as the run loop's: TryLater (429 until X's reset, 5xx and an answer that is not
    understood after the loop's backoff), CredentialsRefused (401: a revoked token, a suspended
    account; the consumer key or an authorisation refused in the 3-legged flow), TimeoutError
    and ConnectionError (no answer), Refused (403 and anything else X refused)."""
    try:
        return getattr(target, method)(*args, **kwargs)
    except tweepy.TooManyRequests as error:
        raise TryLater("X's rate limit is reached", delay=_wait(error.response)) from None
    except tweepy.Unauthorized:
        raise CredentialsRefused(REFUSED_TOKEN) from None
    except tweepy.TwitterServerError as error:
        raise TryLater(f"X answered {error.response.status_code}", delay=None) from None
    except tweepy.HTTPException as error:  # 400, 402, 403, 404, …
        _refused(error.response, error.api_messages)
    except requests.JSONDecodeError:  # before RequestException: it is one
        raise TryLater("X's answer was not understood", delay=None) from None
    except requests.RequestException as error:
        _no_answer(error)
    except tweepy.TweepyException as error:  # the handler wraps what went wrong, once or twice
        inner = error
        while isinstance(inner, tweepy.TweepyException) and inner.args \
                and isinstance(inner.args[0], Exception):
            inner = inner.args[0]
        _oauth_step(method, inner, error)


def _refused(response, messages=None):
    status = response.status_code
    answer = _json(response)
    detail = "; ".join(str(m) for m in messages or [] if m) or str(answer.get("detail") or "") \
        or f"X answered {status}"
    if status == 402:  # pay-per-use: the instance's credits ran out; they come back
        raise TryLater(f"X refused: {detail[:160]} (the instance's API credits)",
                       delay=CREDITS_WAIT) from None
    raise Refused(status, detail[:300], answer.get("type")) from None


def _no_answer(error: Exception):
    if isinstance(error, requests.Timeout):
        raise TimeoutError("X did not answer in time") from None
    raise ConnectionError(f"X did not answer ({type(error).__name__})") from None


def _oauth_step(method: str, inner: Exception, error: Exception):
    """An error of the 3-legged flow (wrapped by tweepy in a TweepyException)."""
    if isinstance(inner, TokenRequestDenied):
        response = inner.response
        status = response.status_code
        if status == 429:
            raise TryLater("X's rate limit is reached", delay=_wait(response)) from None
        if status >= 500:
            raise TryLater(f"X answered {status}", delay=None) from None
        if status == 401 and method == "get_authorization_url":
            raise CredentialsRefused("X refused the instance's consumer key and secret: the "
                                     "administrator must check them") from None
        if status == 401:
            raise CredentialsRefused("X refused the authorisation (it expired or was used "
                                     "already): connect the account again") from None
        answer = _json(response)
        messages = [e.get("message") for e in answer.get("errors", []) if isinstance(e, dict)]
        if not answer:
            messages = [response.text.strip()[:200]]
        _refused(response, messages)
    if isinstance(inner, VerifierMissing):
        raise Refused(400, "X sent no oauth_verifier back") from None
    if isinstance(inner, (TokenMissing, ValueError)) and not isinstance(inner, OSError):
        raise TryLater("X's answer was not understood", delay=None) from None
    if isinstance(inner, requests.RequestException):
        _no_answer(inner)
    raise error


def _json(response) -> dict:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _wait(response) -> float:
    """Seconds until the limit that ran out resets: of those X names (``x-rate-limit-*`` for the
    15-minute window, ``x-user-limit-24hour-*`` and ``x-app-limit-24hour-*`` on posts) the ones
    with nothing remaining, else the 15-minute window's; at least a second, at most MAX_WAIT; a
    minute when X says nothing."""
    headers = response.headers
    used_up, window = [], None
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        try:
            reset = float(headers[f"{prefix}-reset"])
        except (KeyError, ValueError):
            continue
        if headers.get(f"{prefix}-remaining") == "0":
            used_up.append(reset)
        elif prefix == "x-rate-limit":
            window = reset
    resets = used_up or ([window] if window is not None else [])
    if not resets:
        return 60.0
    # A reset already past (our clock ahead of X's): not again within the second.
    return min(max(MIN_WAIT, max(resets) - time.time()), MAX_WAIT)
