"""Accounts and cities: passwords, sign-up, login, sessions, signed tokens, city settings.

No web code here: the frontend and the admin commands call these functions with a database
session they own, and the frontend turns UserError into a page. Touches the core tables (user,
email, cities, triggerpatterns, badwords, secret, web_sessions, pending_signups,
login_failures, reports, deliveries, process_status) and, when an account is deleted, asks each
plugin to forget the city.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update

import censor
import db

_hasher = PasswordHasher()

# New city names become part of URLs and mail addresses: keep them plain.
CITY_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# Limits on what a form may send: a hostile field is refused, not stored.
MAX_PASSWORD, MAX_EMAIL, MAX_TEXT, MAX_LIST = 1024, 254, 20_000, 10_000

SIGNUP_TTL = 24 * 3600          # a sign-up link works for a day, once
RESET_TTL = 3600                # a password reset link for an hour, once
SESSION_IDLE = 30 * 24 * 3600   # a login ends after 30 days without a visit
FREE_FAILURES = 5               # failed logins before each further one costs waiting time
MAX_LOGIN_WAIT = 15 * 60


class UserError(ValueError):
    """A request about accounts or cities that cannot be done; the message says why."""


class TokenError(UserError):
    """A link's token is forged, expired, used or for something else."""


class Throttled(UserError):
    """Too many failed logins: try again in `wait` seconds."""

    def __init__(self, wait: float):
        minutes = max(1, round(wait / 60))
        super().__init__(f"too many failed logins; try again in {minutes} minute(s)")
        self.wait = wait


@dataclass(frozen=True)
class CityInfo:
    id: int
    name: str
    user_id: int
    enabled: bool


# --- passwords -------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(passhash: str, password: str) -> bool:
    """Check argon2 hashes and version 2's scrypt ones (`$s1$0e0801$salt$key`)."""
    if passhash.startswith("$s1$"):
        return _verify_v2_scrypt(passhash, password)
    try:
        return _hasher.verify(passhash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(passhash: str) -> bool:
    return passhash.startswith("$s1$") or _hasher.check_needs_rehash(passhash)


def _verify_v2_scrypt(passhash: str, password: str) -> bool:
    try:
        _, _, params, salt, key = passhash.split("$")
        n, r, p = 2 ** int(params[0:2], 16), int(params[2:4], 16), int(params[4:6], 16)
        salt_bytes, key_bytes = base64.b64decode(salt), base64.b64decode(key)
        derived = hashlib.scrypt(password.encode(), salt=salt_bytes, n=n, r=r, p=p,
                                 dklen=len(key_bytes), maxmem=2 ** 26)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived, key_bytes)


# --- cities ----------------------------------------------------------------------------------

def _info(city: db.City, enabled) -> CityInfo:
    return CityInfo(city.id, city.city, city.user_id, enabled != 0)


def _check_new_city(session, name: str, email: str, password: str) -> tuple[str, str]:
    name, email = name.strip().lower(), email.strip()
    if not CITY_NAME.match(name):
        raise UserError("a city name is 1 to 64 lower-case letters, digits and hyphens")
    if len(email) > MAX_EMAIL or not EMAIL.match(email):
        raise UserError("that is not an e-mail address")
    if len(password) < 8 or len(password) > MAX_PASSWORD:
        raise UserError("a password needs 8 to 1024 characters")
    if find_city(session, name) is not None:
        raise UserError(f"the city {name} is on this instance already")
    return name, email


def _email_taken(session, email: str) -> bool:
    return session.scalar(select(db.Email.id).where(
        func.lower(db.Email.email) == email.lower())) is not None


def create_city(session, name: str, email: str, password: str) -> CityInfo:
    """A new organiser account with its city and version 2's default lists."""
    name, email = _check_new_city(session, name, email, password)
    if _email_taken(session, email):
        raise UserError("that e-mail address cannot be used")
    return _create(session, name, email, hash_password(password))


def _create(session, name: str, email: str, passhash: str) -> CityInfo:
    user = db.User(passhash=passhash, enabled=1)
    session.add(user)
    session.flush()
    session.add(db.Email(user_id=user.id, email=email))
    session.add(db.TriggerPatterns(user_id=user.id,
                                   patterns="\n".join(censor.DEFAULT_TRIGGER_PATTERNS)))
    session.add(db.BadWords(user_id=user.id, words="\n".join(censor.DEFAULT_BLOCKLIST)))
    city = db.City(user_id=user.id, city=name, markdown="", mail_md="", masto_link="",
                   twit_link="")
    session.add(city)
    session.flush()
    return _info(city, 1)


def _cities_query():
    return (select(db.City, db.User.enabled)
            .outerjoin(db.User, db.User.id == db.City.user_id)
            .order_by(db.City.city))


def find_city(session, name: str) -> CityInfo | None:
    """A city by name, case-insensitively (version 2 names may have capitals)."""
    row = session.execute(_cities_query().where(func.lower(db.City.city) == name.lower())).first()
    return _info(*row) if row else None


def list_cities(session, enabled_only: bool = False) -> list[CityInfo]:
    cities = [_info(*row) for row in session.execute(_cities_query())]
    return [c for c in cities if c.enabled or not enabled_only]


def set_city_enabled(session, name: str, enabled: bool) -> CityInfo:
    city = find_city(session, name)
    if city is None:
        raise UserError(f"there is no city {name}")
    user = session.get(db.User, city.user_id)
    if user is None:
        raise UserError(f"the city {name} has no organiser account")
    user.enabled = 1 if enabled else 0
    return CityInfo(city.id, city.name, city.user_id, enabled)


def city_page(session, name: str) -> db.City | None:
    """The city row for its public page, if the city exists and is enabled."""
    info = find_city(session, name)
    if info is None or not info.enabled:
        return None
    return session.get(db.City, info.id)


def instance_secret(session) -> bytes:
    """The instance's signing secret (version 2's `secret` table), made once."""
    secret = session.scalar(select(db.Secret.secret).order_by(db.Secret.id).limit(1))
    if secret is None:
        secret = os.urandom(32)
        session.add(db.Secret(secret=secret))
        session.flush()
    return secret


# --- rate limits -------------------------------------------------------------------------------

def allow(session, key: str, limit: int, per: float) -> bool:
    """Count one more use of `key`; False (and not counted) once `limit` uses were made in the
    current window of `per` seconds. The count is one atomic UPDATE, so parallel requests
    cannot slip past it (the caller commits the session)."""
    now = time.time()
    counted = session.execute(
        update(db.RateLimit).where(db.RateLimit.key == key,
                                   db.RateLimit.window_start > now - per,
                                   db.RateLimit.count < limit)
        .values(count=db.RateLimit.count + 1)).rowcount
    if counted:
        return True
    row = session.get(db.RateLimit, key)
    if row is not None and row.window_start > now - per:
        return False  # the window is full
    if row is None:
        session.add(db.RateLimit(key=key, count=1, window_start=now))
    else:
        row.count, row.window_start = 1, now
    session.flush()
    return True


# --- signed tokens for mailed links ------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: bytes, purpose: str, subject: str, ttl: float | None) -> str:
    """A signed token bound to its purpose and subject; ttl None never expires (unsubscribe)."""
    payload = {"p": purpose, "s": subject, "e": int(time.time() + ttl) if ttl else None}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(secret, f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def read_token(secret: bytes, token: str, purpose: str) -> str:
    """The subject of a valid token for this purpose; TokenError otherwise."""
    try:
        body, signature = token.split(".")
        expected = hmac.new(secret, f"{purpose}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            raise ValueError("bad signature")
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError, AttributeError):
        raise TokenError("this link is not valid") from None
    if payload.get("p") != purpose:
        raise TokenError("this link is not valid")
    if payload.get("e") is not None and payload["e"] < time.time():
        raise TokenError("this link has expired")
    return payload["s"]


# --- sign-up -------------------------------------------------------------------------------------

def start_signup(session, secret: bytes, email: str, password: str, city: str) -> str | None:
    """Remember a sign-up and return the token for its confirmation link, or None when the
    address has an account already (the caller mails that address a notice instead, and
    answers the visitor exactly as in the other case)."""
    city, email = _check_new_city(session, city, email, password)
    if _email_taken(session, email):
        return None
    pending = db.PendingSignup(email=email, city=city, passhash=hash_password(password),
                               nonce=secrets.token_urlsafe(16), created_at=time.time())
    session.add(pending)
    session.flush()
    session.execute(delete(db.PendingSignup).where(
        db.PendingSignup.created_at < time.time() - SIGNUP_TTL))
    return make_token(secret, "signup", f"{pending.id}:{pending.nonce}", SIGNUP_TTL)


def confirm_signup(session, secret: bytes, token: str) -> CityInfo:
    """Create the account and city of a confirmed sign-up; the link then stops working."""
    pending_id, _, nonce = read_token(secret, token, "signup").partition(":")
    pending = session.get(db.PendingSignup, int(pending_id)) if pending_id.isdigit() else None
    if pending is None or not hmac.compare_digest(pending.nonce, nonce):
        raise TokenError("this link was used already")
    session.delete(pending)
    if find_city(session, pending.city) is not None:
        raise UserError(f"the city {pending.city} was taken in the meantime; please sign up again")
    if _email_taken(session, pending.email):
        raise TokenError("this link was used already")
    return _create(session, pending.city, pending.email, pending.passhash)


# --- login and sessions --------------------------------------------------------------------------

_DUMMY_HASH = None


def _throttle_wait(row) -> float:
    if row is None or row.failures < FREE_FAILURES:
        return 0.0
    wait = min(2 ** (row.failures - FREE_FAILURES), MAX_LOGIN_WAIT)
    return max(0.0, row.last_at + wait - time.time())


def login(session, email: str, password: str, address: str) -> int | None:
    """The user id for a right e-mail and password, None for a wrong one (commit the session:
    failures are counted per e-mail address and per client address, known or not, and slow
    further attempts down). Throttled when the waiting time has not passed."""
    global _DUMMY_HASH
    email = email.strip().lower()[:MAX_EMAIL]
    keys = [f"email:{email}", f"addr:{address}"]
    rows = {key: session.get(db.LoginFailure, key) for key in keys}
    wait = max(_throttle_wait(row) for row in rows.values())
    if wait > 0:
        raise Throttled(wait)
    row = session.execute(select(db.User).join(db.Email, db.Email.user_id == db.User.id)
                          .where(func.lower(db.Email.email) == email)).scalars().first()
    if row is None:
        # Spend the same time as for a real account: timing must not tell which exist.
        _DUMMY_HASH = _DUMMY_HASH or hash_password(secrets.token_hex(8))
        verify_password(_DUMMY_HASH, password[:MAX_PASSWORD])
    elif verify_password(row.passhash, password[:MAX_PASSWORD]):
        if rows[keys[0]] is not None:
            session.delete(rows[keys[0]])
        if needs_rehash(row.passhash):
            row.passhash = hash_password(password)
        return row.id
    for key, failure in rows.items():
        if failure is None:
            session.add(db.LoginFailure(key=key, failures=1, last_at=time.time()))
        else:
            failure.failures += 1
            failure.last_at = time.time()
    return None


def _session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session, user_id: int) -> str:
    """A new login: returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(db.WebSession(id=_session_key(token), user_id=user_id,
                              csrf=secrets.token_urlsafe(32), created_at=time.time(),
                              last_seen=time.time()))
    return token


def find_session(session, token: str | None) -> db.WebSession | None:
    """The live session of a cookie's token, or None."""
    if not token or len(token) > 100:
        return None
    row = session.get(db.WebSession, _session_key(token))
    if row is None:
        return None
    if row.last_seen < time.time() - SESSION_IDLE or session.get(db.User, row.user_id) is None:
        session.delete(row)
        return None
    if row.last_seen < time.time() - 300:
        row.last_seen = time.time()
    return row


def close_session(session, token: str | None) -> None:
    if token:
        session.execute(delete(db.WebSession).where(db.WebSession.id == _session_key(token)))


def close_other_sessions(session, user_id: int, keep: str | None = None) -> None:
    query = delete(db.WebSession).where(db.WebSession.user_id == user_id)
    if keep:
        query = query.where(db.WebSession.id != _session_key(keep))
    session.execute(query)


# --- passwords: reset and change -----------------------------------------------------------------

def _fingerprint(passhash: str) -> str:
    # Binds a reset link to the password it replaces: once changed, the link is dead.
    return hashlib.sha256(passhash.encode()).hexdigest()[:16]


def start_reset(session, secret: bytes, email: str) -> str | None:
    """A reset token for the account of this address, or None if there is none (the caller
    answers the same either way)."""
    email = email.strip().lower()[:MAX_EMAIL]
    row = session.execute(select(db.User).join(db.Email, db.Email.user_id == db.User.id)
                          .where(func.lower(db.Email.email) == email)).scalars().first()
    if row is None:
        return None
    return make_token(secret, "reset", f"{row.id}:{_fingerprint(row.passhash)}", RESET_TTL)


def finish_reset(session, secret: bytes, token: str, password: str) -> int:
    user_id, _, fingerprint = read_token(secret, token, "reset").partition(":")
    row = session.get(db.User, int(user_id)) if user_id.isdigit() else None
    if row is None or not hmac.compare_digest(_fingerprint(row.passhash), fingerprint):
        raise TokenError("this link was used already")
    _set_password(session, row, password)
    close_other_sessions(session, row.id)
    return row.id


def change_password(session, user_id: int, old: str, new: str, keep_session: str) -> None:
    row = session.get(db.User, user_id)
    if not verify_password(row.passhash, old[:MAX_PASSWORD]):
        raise UserError("the current password is wrong")
    _set_password(session, row, new)
    close_other_sessions(session, user_id, keep=keep_session)


def _set_password(session, row: db.User, password: str) -> None:
    if len(password) < 8 or len(password) > MAX_PASSWORD:
        raise UserError("a password needs 8 to 1024 characters")
    row.passhash = hash_password(password)


# --- the organisers' city -----------------------------------------------------------------------

def city_of(session, user_id: int) -> db.City:
    city = session.scalar(select(db.City).where(db.City.user_id == user_id)
                          .order_by(db.City.id).limit(1))
    if city is None:
        raise UserError("this account has no city")
    return city


def _list_row(session, model, user_id: int):
    row = session.scalar(select(model).where(model.user_id == user_id).order_by(model.id).limit(1))
    if row is None:
        row = model(user_id=user_id)
        session.add(row)
    return row


def city_settings(session, user_id: int) -> dict:
    """What the settings page shows of a city: its lists, and what the censor could not use of
    them or set aside."""
    city = city_of(session, user_id)
    patterns = _list_row(session, db.TriggerPatterns, user_id).patterns or ""
    return dict(city=city, enabled=session.get(db.User, user_id).enabled != 0,
                patterns=patterns, pattern_problems=censor.pattern_problems(patterns),
                set_aside=set_aside_reports(session, city.id),
                blocklist=_list_row(session, db.BadWords, user_id).words or "")


def set_aside_reports(session, city_id: int, hours: int = 24) -> list[tuple[str, int]]:
    """(reason, count) for the city's reports of the last hours that were set aside, not
    relayed, the most frequent reason first."""
    count = func.count(db.Report.id)
    rows = session.execute(
        select(db.Report.verdict_reason, count)
        .where(db.Report.city_id == city_id, db.Report.verdict == db.SET_ASIDE,
               db.Report.received_at >= time.time() - hours * 3600)
        .group_by(db.Report.verdict_reason).order_by(count.desc()).limit(5))
    return [(reason or "no reason recorded", n) for reason, n in rows]


def save_texts(session, user_id: int, markdown: str | None = None,
               mail_md: str | None = None) -> None:
    """The city page's text and the mailing list's text (None: leave as it is)."""
    if len(markdown or "") > MAX_TEXT or len(mail_md or "") > MAX_TEXT:
        raise UserError(f"a page text may have at most {MAX_TEXT} characters")
    city = city_of(session, user_id)
    if markdown is not None:
        city.markdown = markdown
    if mail_md is not None:
        city.mail_md = mail_md


def save_patterns(session, user_id: int, text: str) -> None:
    """Store a trigger list; a bad pattern, or a list over the censor's bounds, raises
    censor.PatternError and nothing changes."""
    if len(text) > MAX_LIST:
        raise UserError(f"a list may have at most {MAX_LIST} characters")
    patterns = censor.check_patterns(text)
    _list_row(session, db.TriggerPatterns, user_id).patterns = "\n".join(patterns)


def save_blocklist(session, user_id: int, text: str) -> None:
    if len(text) > MAX_LIST:
        raise UserError(f"a list may have at most {MAX_LIST} characters")
    words = [line.strip() for line in text.splitlines() if line.strip()]
    _list_row(session, db.BadWords, user_id).words = "\n".join(words)


def bot_status(session, city_id: int) -> list[db.ProcessStatus]:
    return list(session.scalars(select(db.ProcessStatus).where(
        db.ProcessStatus.city_id == city_id).order_by(db.ProcessStatus.name)))


def delete_account(session, user_id: int, password: str, plugins) -> str:
    """Delete an account with its city and everything of it; returns the city's name."""
    row = session.get(db.User, user_id)
    if not verify_password(row.passhash, password[:MAX_PASSWORD]):
        raise UserError("the password is wrong")
    city = city_of(session, user_id)
    for cls in plugins.values():
        cls.forget_city(session, city.id, user_id)
    reports = select(db.Report.id).where(db.Report.city_id == city.id)
    session.execute(delete(db.Delivery).where(db.Delivery.report_id.in_(reports)))
    session.execute(delete(db.Report).where(db.Report.city_id == city.id))
    session.execute(delete(db.ProcessStatus).where(db.ProcessStatus.city_id == city.id))
    for model in (db.TriggerPatterns, db.BadWords, db.Email, db.City, db.WebSession):
        session.execute(delete(model).where(model.user_id == user_id))
    session.delete(row)
    return city.city
