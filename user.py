"""Accounts and cities: passwords, city creation with its default lists, enabling, settings.

No web code here: the frontend and the admin commands both call these functions with a
session they own. Touches the core tables user, email, cities, triggerpatterns, badwords
and secret.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

import censor
import db

_hasher = PasswordHasher()

# New city names become part of URLs and mail addresses: keep them plain.
CITY_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserError(ValueError):
    """A request about accounts or cities that cannot be done; the message says why."""


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


def create_city(session, name: str, email: str, password: str) -> CityInfo:
    """A new organiser account with its city and version 2's default lists."""
    name = name.strip().lower()
    email = email.strip()
    if not CITY_NAME.match(name):
        raise UserError("a city name is 1 to 64 lower-case letters, digits and hyphens")
    if not EMAIL.match(email):
        raise UserError("that is not an e-mail address")
    if len(password) < 8:
        raise UserError("a password needs at least 8 characters")
    if find_city(session, name) is not None:
        raise UserError(f"the city {name} exists already")
    if session.scalar(select(db.Email.id).where(func.lower(db.Email.email) == email.lower())):
        raise UserError("that e-mail address cannot be used")
    user = db.User(passhash=hash_password(password), enabled=1)
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
