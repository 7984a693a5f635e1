"""Accounts and cities: passwords, sign-up, login, sessions, signed tokens, city settings.

No web code here: the frontend and the admin commands call these functions with a database
session they own, and the frontend turns UserError into a page. Touches the core tables (user,
email, cities, triggerpatterns, badwords, secret, web_sessions, pending_signups,
login_failures, rate_limits, reports, deliveries, process_status) and, when an account is
deleted, asks each plugin to forget the city. Rate limits (`allow`) and the throttling of
password checks live here too: who may ask for a mail or a password check how often.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from email.utils import parseaddr

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

import censor
import db
import stations

_hasher = PasswordHasher()

# New city names become part of URLs and mail addresses: keep them plain.
CITY_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# Limits on what a form may send: a hostile field is refused, not stored.
MAX_PASSWORD, MAX_EMAIL, MAX_TEXT, MAX_LIST = 1024, 254, 20_000, 10_000

SIGNUP_TTL = 24 * 3600          # a sign-up link works for a day, once
RESET_TTL = 3600                # a password reset link for an hour, once
SESSION_IDLE = 30 * 24 * 3600   # a login ends after 30 days without a visit

# Password checks (logins, and a logged-in organiser's password change or account deletion)
# are counted as failures per account (its e-mail address, known or not) and per client
# network. After FREE_FAILURES, each further check waits 1, 2, 4 ... seconds after the last
# failure, up to MAX_LOGIN_WAIT. An hour without a failure halves a count (FAILURES_DECAY),
# and counts stop at MAX_FAILURES (the wait is at its longest long before), so every count is
# 0 after 6 quiet hours. While an account waits, a client whose own count is below
# FREE_FAILURES still gets one check a minute (SLOW_LANE): whoever keeps failing on an
# account from elsewhere cannot lock its owner out.
FREE_FAILURES = 5
MAX_LOGIN_WAIT = 15 * 60
FAILURES_DECAY = 3600
MAX_FAILURES = 63
SLOW_LANE = 60

# Mail anyone can make the instance send (a sign-up's link or notice, a password reset link):
# (limit, seconds) per recipient address and per client network. A request counts whether a
# mail goes out or not (a reset for an address without account sends none), so the answers
# cannot tell which addresses have an account.
ACCOUNT_MAILS_TO = ((3, 3600), (10, 24 * 3600))
ACCOUNT_MAILS_FROM = ((5, 3600),)
RATE_WINDOW_MAX = 24 * 3600     # no rate limit window is longer: older rows are purged


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


class TooManyMails(UserError):
    """This address, or this client, asked for as many mails as it may for now."""

    def __init__(self, wait: float = 3600):
        super().__init__("too many mails were asked for, to this address or from your network; "
                         "please try again in an hour")
        self.wait = wait


@dataclass(frozen=True)
class CityInfo:
    id: int
    name: str
    user_id: int
    enabled: bool                   # on: switched on by its organisers and not blocked
    switched_on: bool = True        # the organisers' own switch (version 2's user.enabled)
    blocked: bool = False           # disabled by the administrator (db.CityBlock)
    block_reason: str | None = None
    reserved: bool = False          # a reserved name (a version 2 city): no mail address


# --- passwords -------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(passhash: str, password: str) -> bool:
    """Check argon2 hashes and version 2's scrypt ones (`$s1$0e0801$salt$key`)."""
    if is_v2_hash(passhash):
        return _verify_v2_scrypt(passhash, password)
    try:
        return _hasher.verify(passhash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(passhash: str, upgrade_finished: bool) -> bool:
    """Whether a login should store a new hash of the password. Version 2's scrypt hashes are
    kept until the operator said the upgrade is final: version 2 cannot read ours, and
    going back to it must not lock organisers out."""
    if is_v2_hash(passhash):
        return upgrade_finished
    return _hasher.check_needs_rehash(passhash)


def is_v2_hash(passhash: str) -> bool:
    return passhash.startswith("$s1$")


def hash_password_v2(password: str) -> str:
    """A hash as version 2 made it (pylibscrypt's scrypt_mcf: N=2^14, r=8, p=1, 16 bytes of
    salt, 64 of key), for a password changed before the upgrade is final."""
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=64)
    return f"$s1$0e0801${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


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

# Names no city may take. A city's name is the local part of its mail address
# (<city>@<mail domain>, often the site's own domain) and part of its page's path: a city
# "admin" would receive a certificate authority's domain-validation mail for the domain.
RFC_2142_NAMES = frozenset({
    "info", "marketing", "sales", "support", "abuse", "noc", "security", "postmaster",
    "hostmaster", "usenet", "news", "webmaster", "www", "uucp", "ftp"})
# The addresses a CA may mail to validate a domain (CA/Browser Forum BR 3.2.2.4.4).
CA_VALIDATION_NAMES = frozenset({"admin", "administrator", "hostmaster", "postmaster",
                                 "webmaster"})
MAIL_SYSTEM_NAMES = frozenset({"root", "noreply", "no-reply", "mailer-daemon", "nobody",
                               "mail"})
# The web UI's own paths (frontend.py, and the bots' web UIs under /bots/<name>/).
WEB_UI_NAMES = frozenset({"city", "static", "bots", "settings", "login", "logout", "signup",
                          "reset", "account", "healthz", "confirm", "subscribe",
                          "unsubscribe"})
RESERVED_NAMES = RFC_2142_NAMES | CA_VALIDATION_NAMES | MAIL_SYSTEM_NAMES | WEB_UI_NAMES


def reserved_names(settings=None) -> frozenset[str]:
    """Every name no city may take on this instance: RESERVED_NAMES, the local part of
    mail.sender and the administrator's instance.reserved_names."""
    if settings is None:
        return RESERVED_NAMES
    return _reserved_names(settings.mail.sender, tuple(settings.instance.reserved_names))


@functools.lru_cache(maxsize=16)
def _reserved_names(sender: str, extra: tuple[str, ...]) -> frozenset[str]:
    local = parseaddr(sender)[1].rpartition("@")[0].strip().lower()
    names = RESERVED_NAMES | {name.strip().lower() for name in extra if name.strip()}
    return names | {local} if local else names


def _reserved(session) -> frozenset[str]:
    # The sessions of db.open_sessions carry the process's settings.
    return reserved_names(session.info.get("settings"))


def name_reserved(session, name: str) -> bool:
    """Whether no city may take `name` (nor receive mail under it) on this instance."""
    return name.strip().lower() in _reserved(session)


def _info(city: db.City, enabled, block: db.CityBlock | None = None,
          reserved: frozenset[str] = frozenset()) -> CityInfo:
    switched_on = enabled != 0
    return CityInfo(city.id, city.name, city.user_id, switched_on and block is None,
                    switched_on=switched_on, blocked=block is not None,
                    block_reason=block.reason if block is not None else None,
                    reserved=city.name.lower() in reserved)


def _check_new_city(session, name: str, email: str, password: str) -> tuple[str, str]:
    name, email = name.strip().lower(), email.strip()
    if not CITY_NAME.match(name):
        raise UserError("a city name is 1 to 64 lower-case letters, digits and hyphens")
    if name in _reserved(session):
        raise UserError(f"the name {name} is reserved on this instance (for its own mail "
                        "addresses or pages); please choose another")
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
    city = db.City(user_id=user.id, name=name, markdown="", mail_md="", masto_link="",
                   twit_link="")
    session.add(city)
    session.flush()
    return _info(city, 1)


def _cities_query():
    return (select(db.City, db.User.enabled, db.CityBlock)
            .outerjoin(db.User, db.User.id == db.City.user_id)
            .outerjoin(db.CityBlock, db.CityBlock.city_id == db.City.id)
            .order_by(db.City.name))


def find_city(session, name: str) -> CityInfo | None:
    """A city by name, case-insensitively (version 2 names may have capitals)."""
    # The database's lower() on both sides: SQLite's only lowers ASCII, and a version 2 name
    # such as "Überlingen" must match itself.
    row = session.execute(_cities_query().where(
        func.lower(db.City.name) == func.lower(name))).first()
    return _info(*row, reserved=_reserved(session)) if row else None


def list_cities(session, enabled_only: bool = False) -> list[CityInfo]:
    reserved = _reserved(session)
    cities = [_info(*row, reserved=reserved) for row in session.execute(_cities_query())]
    return [c for c in cities if c.enabled or not enabled_only]


def set_city_enabled(session, name: str, enabled: bool) -> CityInfo:
    """The organisers' own switch (version 2's user.enabled). It cannot lift the
    administrator's block: a blocked city stays off (set_city_blocked)."""
    city = find_city(session, name)
    if city is None:
        raise UserError(f"there is no city {name}")
    user = session.get(db.User, city.user_id)
    if user is None:
        raise UserError(f"the city {name} has no organiser account")
    user.enabled = 1 if enabled else 0
    session.flush()
    return find_city(session, city.name)


def set_city_blocked(session, name: str, blocked: bool, reason: str | None = None) -> CityInfo:
    """The administrator's block (`ticketfrei city disable|enable`): a blocked city is off
    whatever its organisers' switch says (its bots stop, its public page is gone), and only
    this lifts it. Blocking a blocked city again replaces the reason."""
    city = find_city(session, name)
    if city is None:
        raise UserError(f"there is no city {name}")
    row = session.get(db.CityBlock, city.id)
    if blocked:
        if row is None:
            row = db.CityBlock(city_id=city.id)
            session.add(row)
        row.reason = (reason or "").strip()[:MAX_TEXT] or None
        row.blocked_at = time.time()
    elif row is not None:
        session.delete(row)
    session.flush()
    return find_city(session, city.name)


def city_page(session, name: str) -> db.City | None:
    """The city row for its public page, if the city exists and is enabled."""
    info = find_city(session, name)
    if info is None or not info.enabled:
        return None
    return session.get(db.City, info.id)


# --- rows made once and counted under a key --------------------------------------------------

def _insert_if_missing(session, model, **values) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a parallel transaction inserting the same key makes
    this one wait for it and then do nothing, instead of raising IntegrityError."""
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[
        session.get_bind().dialect.name]
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


def _locked(session, model, key: str, **defaults):
    """The row of `key` (made with `defaults` if missing), locked until the transaction ends:
    SQLite's write lock comes with the INSERT, PostgreSQL's row lock with FOR UPDATE. Parallel
    requests on one key so count one after another, each seeing the others' counts."""
    _insert_if_missing(session, model, key=key, **defaults)
    return session.scalars(select(model).where(model.key == key).with_for_update()
                           .execution_options(populate_existing=True)).one()


def ensure_instance_secret(session) -> bytes:
    """Make the instance's signing secret unless there is one (version 2's `secret` table), and
    return it. Safe in parallel, from threads and processes: it is only ever inserted as row
    1, so a second insert does nothing and everyone reads the same secret. main calls it at
    start-up, the frontend before it serves."""
    if session.scalar(select(db.Secret.id).limit(1)) is None:
        _insert_if_missing(session, db.Secret, id=1, secret=os.urandom(32))
    return session.scalar(select(db.Secret.secret).order_by(db.Secret.id).limit(1))


def instance_secret(session) -> bytes:
    """The instance's signing secret; made (once, see ensure_instance_secret) if missing."""
    secret = session.scalar(select(db.Secret.secret).order_by(db.Secret.id).limit(1))
    return secret if secret is not None else ensure_instance_secret(session)


# --- rate limits -------------------------------------------------------------------------------

def allow(session, key: str, limit: int, per: float) -> bool:
    """Count one more use of `key`; False (and not counted) once `limit` uses were made in the
    current window of `per` seconds (at most RATE_WINDOW_MAX: older rows are purged). The row
    is locked while it is counted, so parallel requests cannot slip past the limit, also not
    the first ones of a key (the caller commits the session)."""
    now = time.time()
    row = _locked(session, db.RateLimit, key, count=0, window_start=now)
    if row.window_start <= now - per:
        row.count, row.window_start = 0, now
    if row.count >= limit:
        return False
    row.count += 1
    session.flush()
    return True


def client_network(address: str) -> str:
    """What a limit counts as one client: its IPv4 address, or its IPv6 /64 (one home or phone
    gets a whole /64 and may take any address in it)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def limit_digest(secret: bytes, text: str) -> str:
    """What a rate limit key holds of an address or a client: a keyed hash, so that
    rate_limits, which keeps its rows for a while, names nobody."""
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[:32]


def allow_account_mail(session, secret: bytes, client: str, email: str) -> None:
    """Count one request that may mail `email` (a sign-up, a password reset), whether a mail
    goes out or not; TooManyMails when the recipient or the client had its share (ACCOUNT_MAILS_TO,
    ACCOUNT_MAILS_FROM). The caller commits, or rolls back on TooManyMails: then nothing
    counts."""
    keys = [(f"account-mail:from:{limit_digest(secret, client_network(client))}", ACCOUNT_MAILS_FROM),
            (f"account-mail:to:{limit_digest(secret, email.strip().lower())}", ACCOUNT_MAILS_TO)]
    for key, limits in keys:
        for limit, per in limits:
            if not allow(session, f"{key}:{per:g}", limit, per):
                raise TooManyMails()


def purge_expired(session, now: float | None = None) -> None:
    """Delete what ran out: sign-ups whose link expired, rate limit rows past the longest
    window, failure counts that decayed to nothing, logins idle too long, OAuth connect flows
    past their expiry. The frontend process calls it now and then."""
    now = time.time() if now is None else now
    session.execute(delete(db.PendingSignup).where(db.PendingSignup.created_at < now - SIGNUP_TTL))
    session.execute(delete(db.RateLimit).where(db.RateLimit.window_start < now - RATE_WINDOW_MAX))
    decayed = now - FAILURES_DECAY * MAX_FAILURES.bit_length()
    session.execute(delete(db.LoginFailure).where(or_(db.LoginFailure.failures <= 0,
                                                      db.LoginFailure.last_at < decayed)))
    session.execute(delete(db.WebSession).where(db.WebSession.last_seen < now - SESSION_IDLE))
    session.execute(delete(db.OAuthState).where(db.OAuthState.expires_at < now))


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

def check_signup(session, city: str, email: str, password: str) -> tuple[str, str]:
    """The (city, e-mail address) of a sign-up as stored; UserError if it cannot be one."""
    return _check_new_city(session, city, email, password)


def start_signup(session, secret: bytes, email: str, password: str, city: str) -> str | None:
    """Remember a sign-up and return the token for its confirmation link, or None when the
    address has an account already (the caller mails that address a notice instead, and
    answers the visitor exactly as in the other case)."""
    # Hashed in both cases, and first: the time of the answer must not tell whether the
    # address has an account, and no transaction is open while argon2 works.
    passhash = hash_password(password[:MAX_PASSWORD])
    city, email = _check_new_city(session, city, email, password)
    if _email_taken(session, email):
        return None
    pending = db.PendingSignup(email=email, city=city, passhash=passhash,
                               nonce=secrets.token_urlsafe(16), created_at=time.time())
    session.add(pending)
    session.flush()
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

@dataclass(frozen=True)
class Attempt:
    """The failure counts (keys of login_failures) one password check counts on."""
    account: str    # "email:<address>", whether the address has an account or not
    client: str     # "addr:<client network>"


def _login_email(email: str) -> str:
    return email.strip().lower()[:MAX_EMAIL]


def login_attempt(email: str, address: str) -> Attempt:
    return Attempt(f"email:{_login_email(email)}", f"addr:{client_network(address)}")


def account_attempt(session, user_id: int, address: str) -> Attempt:
    """A logged-in organiser's password check (password change, account deletion) counts on
    the account's login count: a stolen session is no faster way to guess the password."""
    email = session.scalar(select(db.Email.email).where(db.Email.user_id == user_id)
                           .order_by(db.Email.id).limit(1))
    return login_attempt(email or f"user {user_id}", address)


def _decayed(failures: int, last_at: float, now: float) -> int:
    quiet_hours = int(max(0.0, now - last_at) // FAILURES_DECAY)
    return failures >> min(quiet_hours, 63)


def _wait(failures: int, last_at: float, now: float) -> float:
    if failures < FREE_FAILURES:
        return 0.0
    wait = min(2 ** min(failures - FREE_FAILURES, 20), MAX_LOGIN_WAIT)
    return max(0.0, last_at + wait - now)


def count_attempt(session, attempt: Attempt) -> None:
    """Count a password check as failed before it is made; Throttled (and nothing counted)
    while the client or the account must wait. Commit before checking the password: parallel
    checks then each see the counts of the others, and a right password takes its count back
    (login, change_password, delete_account)."""
    now = time.time()
    rows = {key: _locked(session, db.LoginFailure, key, failures=0, last_at=now)
            for key in sorted({attempt.account, attempt.client})}  # one lock order for all
    counts = {key: _decayed(row.failures, row.last_at, now) for key, row in rows.items()}
    client_wait = _wait(counts[attempt.client], rows[attempt.client].last_at, now)
    account_wait = _wait(counts[attempt.account], rows[attempt.account].last_at, now)
    if client_wait > 0:
        raise Throttled(client_wait)
    if account_wait > 0:
        if counts[attempt.client] >= FREE_FAILURES:
            raise Throttled(account_wait)
        if not allow(session, f"login-slow-lane:{attempt.account}", 1, SLOW_LANE):
            raise Throttled(min(account_wait, SLOW_LANE))
    for key, row in rows.items():
        row.failures, row.last_at = min(counts[key] + 1, MAX_FAILURES), now
    session.flush()


def _passed(session, attempt: Attempt) -> None:
    """The password was right: the account's count is cleared, and the client gets back the
    failure counted in advance."""
    session.execute(delete(db.LoginFailure).where(db.LoginFailure.key == attempt.account))
    session.execute(update(db.LoginFailure)
                    .where(db.LoginFailure.key == attempt.client, db.LoginFailure.failures > 0)
                    .values(failures=db.LoginFailure.failures - 1))


@functools.lru_cache(maxsize=1)
def dummy_hash() -> dict[bool, str]:
    """Hashes of a random password to check against where there is none to check: one of
    each kind, version 2's (True) and ours (False)."""
    password = secrets.token_hex(8)
    return {True: hash_password_v2(password), False: hash_password(password)}


def check_login_password(passhash: str | None, password: str) -> bool:
    """Whether `password` is the one of `passhash` (None: there is no such account), in a
    time that tells nothing: every check runs one argon2 and one scrypt verification, the
    kind the account does not have against a dummy hash (a version 2 hash alone would answer
    three times faster, telling which addresses have an account from version 2)."""
    dummies = dummy_hash()
    if passhash is None:
        verify_password(dummies[True], password)
        verify_password(dummies[False], password)
        return False
    verify_password(dummies[not is_v2_hash(passhash)], password)
    return verify_password(passhash, password)


def _account(session, email: str) -> db.User | None:
    return session.execute(select(db.User).join(db.Email, db.Email.user_id == db.User.id)
                           .where(func.lower(db.Email.email) == _login_email(email))
                           ).scalars().first()


def login(session, email: str, password: str, attempt: Attempt) -> int | None:
    """The user id for a right e-mail and password, None for a wrong one. The attempt was
    counted before (count_attempt, committed); a right password takes the count back."""
    password = password[:MAX_PASSWORD]
    row = _account(session, email)
    if not check_login_password(row.passhash if row is not None else None, password):
        return None
    rehashed = (hash_password(password)
                if needs_rehash(row.passhash, upgrade_finished(session)) else None)
    _passed(session, attempt)
    if rehashed:
        row.passhash = rehashed
    return row.id


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
    row = _account(session, email)
    if row is None:
        return None
    return make_token(secret, "reset", f"{row.id}:{_fingerprint(row.passhash)}", RESET_TTL)


def finish_reset(session, secret: bytes, token: str, password: str) -> int:
    """Set the new password of a reset link's account. Its failed logins are forgotten: who
    can read its mail is its owner, whoever kept failing on it."""
    user_id, _, fingerprint = read_token(secret, token, "reset").partition(":")
    row = session.get(db.User, int(user_id)) if user_id.isdigit() else None
    if row is None or not hmac.compare_digest(_fingerprint(row.passhash), fingerprint):
        raise TokenError("this link was used already")
    _set_password(session, row, password)
    close_other_sessions(session, row.id)
    emails = session.scalars(select(db.Email.email).where(db.Email.user_id == row.id))
    session.execute(delete(db.LoginFailure).where(
        db.LoginFailure.key.in_([f"email:{_login_email(e)}" for e in emails])))
    return row.id


def check_new_password(password: str) -> None:
    if len(password) < 8 or len(password) > MAX_PASSWORD:
        raise UserError("a password needs 8 to 1024 characters")


def change_password(session, user_id: int, old: str, new: str, keep_session: str,
                    attempt: Attempt) -> None:
    """Replace the password if `old` is it (the attempt was counted before: count_attempt),
    and end the account's other logins."""
    check_new_password(new)
    row = session.get(db.User, user_id)
    if not verify_password(row.passhash, old[:MAX_PASSWORD]):
        raise UserError("the current password is wrong")
    _set_password(session, row, new)  # argon2 before the first write: no lock held meanwhile
    _passed(session, attempt)
    close_other_sessions(session, user_id, keep=keep_session)


def _set_password(session, row: db.User, password: str) -> None:
    check_new_password(password)
    if is_v2_hash(row.passhash or "") and not upgrade_finished(session):
        row.passhash = hash_password_v2(password)  # version 2 can still log this account in
    else:
        row.passhash = hash_password(password)


# --- the upgrade from version 2 ---------------------------------------------------------------

UPGRADE_FINISHED = "v2-upgrade-finished"


def upgrade_finished(session) -> bool:
    return session.get(db.InstanceFlag, UPGRADE_FINISHED) is not None


def v2_password_count(session) -> int:
    """Organiser accounts whose password hash is still version 2's."""
    return session.scalar(select(func.count(db.User.id)).where(db.User.passhash.like("$s1$%")))


def finish_upgrade(session) -> bool:
    """Say the upgrade from version 2 is final: from now on a login stores its password's
    hash as argon2id. False if it was said before."""
    if upgrade_finished(session):
        return False
    session.add(db.InstanceFlag(name=UPGRADE_FINISHED))
    return True


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
    block = session.get(db.CityBlock, city.id)
    # enabled: the organisers' own switch; blocked: the administrator's block, which their
    # switch does not lift (the city is off while it lasts); reserved_name: a version 2 city
    # whose name is reserved has no mail address until the administrator renames it.
    return dict(city=city, enabled=session.get(db.User, user_id).enabled != 0,
                blocked=block is not None, block_reason=block.reason if block else None,
                blocked_at=block.blocked_at if block else None,
                reserved_name=city.name.lower() in _reserved(session),
                patterns=patterns, pattern_problems=censor.pattern_problems(patterns),
                set_aside=set_aside_reports(session, city.id),
                blocklist=_list_row(session, db.BadWords, user_id).words or "",
                transit=stations.summary_of(session, city.id))


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
    """Store a trigger list; a new bad pattern, or a list over the censor's bounds, raises
    censor.PatternError and nothing changes (a bad one stored before may stay, unused)."""
    if len(text) > MAX_LIST:
        raise UserError(f"a list may have at most {MAX_LIST} characters")
    row = _list_row(session, db.TriggerPatterns, user_id)
    row.patterns = "\n".join(censor.check_patterns(text, stored=row.patterns or ""))


def save_blocklist(session, user_id: int, text: str) -> None:
    if len(text) > MAX_LIST:
        raise UserError(f"a list may have at most {MAX_LIST} characters")
    words = [line.strip() for line in text.splitlines() if line.strip()]
    _list_row(session, db.BadWords, user_id).words = "\n".join(words)


def bot_status(session, city_id: int) -> list[db.ProcessStatus]:
    return list(session.scalars(select(db.ProcessStatus).where(
        db.ProcessStatus.city_id == city_id).order_by(db.ProcessStatus.name)))


def delete_account(session, user_id: int, password: str, plugins, attempt: Attempt) -> str:
    """Delete an account with its city and everything of it; returns the city's name. The
    password check was counted before (count_attempt)."""
    row = session.get(db.User, user_id)
    if not verify_password(row.passhash, password[:MAX_PASSWORD]):
        raise UserError("the password is wrong")
    _passed(session, attempt)
    city = city_of(session, user_id)
    for cls in plugins.values():
        cls.forget_city(session, city.id, user_id)
    reports = select(db.Report.id).where(db.Report.city_id == city.id)
    deliveries = select(db.Delivery.id).where(db.Delivery.report_id.in_(reports))
    session.execute(delete(db.DeliveryRecipient).where(
        db.DeliveryRecipient.delivery_id.in_(deliveries)))
    session.execute(delete(db.BotWatermark).where(db.BotWatermark.city_id == city.id))
    session.execute(delete(db.Delivery).where(db.Delivery.report_id.in_(reports)))
    session.execute(delete(db.ReportPlace).where(db.ReportPlace.report_id.in_(reports)))
    session.execute(delete(db.Report).where(db.Report.city_id == city.id))
    session.execute(delete(db.ProcessStatus).where(db.ProcessStatus.city_id == city.id))
    stations.forget_city(session, city.id)
    for model in (db.TriggerPatterns, db.BadWords, db.Email, db.City, db.WebSession):
        session.execute(delete(model).where(model.user_id == user_id))
    session.delete(row)
    return city.name
