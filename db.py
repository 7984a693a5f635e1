"""The database: SQLAlchemy engine and sessions, the core models, schema creation.

The Ticketfrei 2 tables keep their names and columns so that a version 2 database opens in
place; version 3 only adds tables (reports, deliveries, process_status), and a bot's tables
(declared in bots/<name>/db.py on the same Base) carry the bot's name as prefix.
Every process makes its own engine after it starts: an engine never crosses a fork.
"""
from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

from sqlalchemy import (Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint, create_engine, delete, event, select)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

# Delivery states; a delivery is "done" only once the network accepted it.
PENDING, DONE, FAILED = "pending", "done", "failed"
# Verdicts stored with each report: the censor's accepted or rejected (by the city's rules, or
# refused by its bot, e.g. an automatic mail), or set aside: a message that could not be read, or
# a report that could not be judged, after SET_ASIDE_AFTER attempts. The reason is stored with it.
ACCEPTED, REJECTED, SET_ASIDE = "accepted", "rejected", "set-aside"
# Attempts at one piece of work (reading one message, judging one report, sending one delivery
# with an unexpected error) before it is set aside so that the work behind it flows on.
SET_ASIDE_AFTER = 3


class Base(DeclarativeBase):
    pass


def _v2_table_args(*constraints):
    # Version 2 created every table with AUTOINCREMENT; keep that for new databases.
    return (*constraints, {"sqlite_autoincrement": True})


# --- Version 2 tables (ref/ticketfrei2-schema.md) -------------------------------------------

class User(Base):
    """An organiser account; in version 2 one account is one city."""
    __tablename__ = "user"
    __table_args__ = _v2_table_args()
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    passhash: Mapped[str] = mapped_column(Text)
    enabled: Mapped[int] = mapped_column(Integer, default=1)


class Email(Base):
    __tablename__ = "email"
    __table_args__ = _v2_table_args()
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("user.id"))
    email: Mapped[str] = mapped_column(Text)


class TriggerPatterns(Base):
    __tablename__ = "triggerpatterns"
    __table_args__ = _v2_table_args()
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("user.id"))
    patterns: Mapped[str] = mapped_column(Text)


class BadWords(Base):
    __tablename__ = "badwords"
    __table_args__ = _v2_table_args()
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("user.id"))
    words: Mapped[str] = mapped_column(Text)


class City(Base):
    __tablename__ = "cities"
    __table_args__ = _v2_table_args(UniqueConstraint("user_id", "city"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("user.id"))
    # version 2 named the column "city"; the attribute is `name`, as everywhere in version 3
    name: Mapped[str] = mapped_column("city", Text)
    markdown: Mapped[str | None] = mapped_column(Text, default="")
    mail_md: Mapped[str | None] = mapped_column(Text, default="")
    masto_link: Mapped[str | None] = mapped_column(Text, default="")
    twit_link: Mapped[str | None] = mapped_column(Text, default="")


class Secret(Base):
    __tablename__ = "secret"
    __table_args__ = _v2_table_args()
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)


# --- Version 3 tables ------------------------------------------------------------------------

class Report(Base):
    """A report as it came in: text and origin, never who sent it."""
    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("city_id", "network", "network_message_id"),
        Index("ix_reports_undecided", "verdict", "id"),
        Index("ix_reports_received", "received_at"),
        # SQLite: ids of purged rows never come back (new databases; older ones' ids are
        # not relied on being unique for good: see Report.idempotency_key in bots).
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_id: Mapped[int] = mapped_column(Integer, ForeignKey("cities.id"))
    network: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(255))
    network_message_id: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[float] = mapped_column(Float, default=time.time)
    verdict: Mapped[str | None] = mapped_column(String(16))
    verdict_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[float | None] = mapped_column(Float)


class Delivery(Base):
    """One accepted report to be sent by one bot account of the report's city."""
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("report_id", "network", "account"),
        Index("ix_deliveries_todo", "city_id", "network", "account", "state"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(Integer, ForeignKey("reports.id"))
    city_id: Mapped[int] = mapped_column(Integer)
    network: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float, default=time.time)
    done_at: Mapped[float | None] = mapped_column(Float)


class WorkAttempt(Base):
    """One piece of work that failed, or was under way when its process died: counts attempts
    across restarts so that a message or report that kills its process is set aside.
    `key` names the work, e.g. "read:<city>:<network>:<account>:<message>" or "judge:<report>"."""
    __tablename__ = "work_attempts"
    key: Mapped[str] = mapped_column(String(600), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float, default=time.time)


class BotWatermark(Base):
    """Where one account's next receive starts (the plugin's watermark: a message id, an
    offset), stored by the run loop in the transaction that stores the reports before it."""
    __tablename__ = "bot_watermarks"
    city_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(255), primary_key=True)
    watermark: Mapped[str | None] = mapped_column(Text)  # None: from the beginning
    updated_at: Mapped[float] = mapped_column(Float, default=time.time)


class DeliveryRecipient(Base):
    """A recipient a broadcast delivery reached (a subscriber: the plugin's id, never an
    address), so that a broadcast resumed after a crash or an error skips it. Dropped when the
    delivery is done or failed."""
    __tablename__ = "delivery_recipients"
    delivery_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(255), primary_key=True)


class RateLimit(Base):
    """How often something that costs (a mail sent, a password checked) was asked for under one
    key (e.g. "signup-mail:to:<address>", "signup-mail:from:<client>") in the current window."""
    __tablename__ = "rate_limits"
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[float] = mapped_column(Float, default=time.time)


class CityBlock(Base):
    """A city the instance's administrator disabled (`ticketfrei city disable`): only the
    administrator lifts it; the organisers' own switch (version 2's user.enabled) cannot."""
    __tablename__ = "city_blocks"
    city_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text)
    blocked_at: Mapped[float] = mapped_column(Float, default=time.time)


class ProcessStatus(Base):
    """What main knows of one supervised process, for `status` and the organisers' page."""
    __tablename__ = "process_status"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # bot, censor, frontend, service
    city_id: Mapped[int | None] = mapped_column(Integer)
    network: Mapped[str | None] = mapped_column(String(64))
    account: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # starting, running, backoff, inactive, stopped
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_report_at: Mapped[float | None] = mapped_column(Float)
    last_delivery_at: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float, default=time.time)


class WebSession(Base):
    """A logged-in browser. The cookie holds a random token; only its SHA-256 is stored."""
    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, default=time.time)
    last_seen: Mapped[float] = mapped_column(Float, default=time.time)


class PendingSignup(Base):
    """A sign-up waiting for its e-mail confirmation; its link works once."""
    __tablename__ = "pending_signups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(Text)
    city: Mapped[str] = mapped_column(Text)
    passhash: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, default=time.time)


class LoginFailure(Base):
    """Failed logins per e-mail address and per client address, to slow guessing down."""
    __tablename__ = "login_failures"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[float] = mapped_column(Float, default=time.time)


class InstanceFlag(Base):
    """A decision the operator made for the whole instance, e.g. that the upgrade from version
    2 is final (user.finish_upgrade)."""
    __tablename__ = "instance_flags"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    set_at: Mapped[float] = mapped_column(Float, default=time.time)


class OAuthState(Base):
    """A bot's OAuth connect flow under way (frontend.oauth_start): binds the `state` sent to
    the network to the organiser's city and the plugin, until the callback takes it (once) or
    it expires. `key` is the state's SHA-256; the state itself is never stored. `data` (JSON)
    is what the plugin needs at the callback, e.g. the instance address or a request token's
    secret."""
    __tablename__ = "oauth_states"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    plugin: Mapped[str] = mapped_column(String(64))
    city_id: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float, default=time.time)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


# --- Transit data (stations.py) -----------------------------------------------------------------

class TransitCity(Base):
    """A city's transit data: where its last GTFS import came from and what it held, the
    organisers' aliases and whether relayed reports get the recognised place as a prefix.
    `version` changes with every import or alias edit (the censor reloads on it)."""
    __tablename__ = "transit_cities"
    city_id: Mapped[int] = mapped_column(Integer, ForeignKey("cities.id"), primary_key=True)
    source: Mapped[str] = mapped_column(Text, default="")
    imported_at: Mapped[float | None] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text, default="{}")  # JSON: stations, lines, ...
    aliases: Mapped[str] = mapped_column(Text, default="")
    prefix: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[float] = mapped_column(Float, default=time.time)


class TransitStation(Base):
    """A station: stops merged by parent station, or by name within walking distance."""
    __tablename__ = "transit_stations"
    city_id: Mapped[int] = mapped_column(Integer, ForeignKey("cities.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)


class TransitLine(Base):
    """A line: the feed's routes of one short name (route_type: GTFS's, the most common)."""
    __tablename__ = "transit_lines"
    city_id: Mapped[int] = mapped_column(Integer, ForeignKey("cities.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    route_type: Mapped[int] = mapped_column(Integer)


class TransitPattern(Base):
    """One sequence of stations a line's trips run (`stations`: station numbers, space
    separated, in order), how many trips run it and their most common headsign."""
    __tablename__ = "transit_patterns"
    city_id: Mapped[int] = mapped_column(Integer, ForeignKey("cities.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    line: Mapped[int] = mapped_column(Integer)
    stations: Mapped[str] = mapped_column(Text)
    trips: Mapped[int] = mapped_column(Integer)
    headsign: Mapped[str] = mapped_column(Text, default="")


class ReportPlace(Base):
    """Where an accepted report says the inspectors are, as recognised from the city's transit
    data (names as in the feed), and the prefix its relayed text begins with ("" if none)."""
    __tablename__ = "report_places"
    report_id: Mapped[int] = mapped_column(Integer, ForeignKey("reports.id"), primary_key=True)
    station: Mapped[str | None] = mapped_column(Text)
    line: Mapped[str | None] = mapped_column(Text)
    direction: Mapped[str | None] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(Text, default="")


# --- Attempts -------------------------------------------------------------------------------

def attempts(session, keys) -> dict[str, WorkAttempt]:
    """The recorded attempts among keys (normally none: a table of trouble only)."""
    keys = list(keys)
    if not keys:
        return {}
    return {row.key: row for row in session.scalars(
        select(WorkAttempt).where(WorkAttempt.key.in_(keys)))}


def count_attempt(sessions, key: str, error: str | None = None, add: int = 1) -> int:
    """Record one more attempt at `key` (or `add` more: -1 takes back an attempt that failed
    through no fault of the work, 0 only records the error) in a transaction of its own, so
    that it counts even if the process dies in the attempt; returns the count."""
    with sessions.begin() as session:
        row = session.get(WorkAttempt, key)
        if row is None:
            row = WorkAttempt(key=key, count=0)
            session.add(row)
        row.count = max(0, row.count + add)
        if error is not None:
            row.last_error = error
        row.updated_at = time.time()
        if row.count == 0 and row.last_error is None:
            session.delete(row)  # an attempt taken back: nothing to remember
            return 0
        return row.count


def forget_attempts(session, keys) -> None:
    """The work is done (or set aside): drop its record, in the transaction that finishes it."""
    keys = list(keys)
    if keys:
        session.execute(delete(WorkAttempt).where(WorkAttempt.key.in_(keys)))


def forget_delivery(session, delivery_id: int, attempt_key: str) -> None:
    """A delivery is done or failed: drop its attempts and its recipients."""
    forget_attempts(session, [attempt_key])
    session.execute(delete(DeliveryRecipient).where(DeliveryRecipient.delivery_id == delivery_id))


def clean_text(text: str) -> str:
    """Text as every database takes it: no NUL or other control characters but tab and newline
    (PostgreSQL refuses NUL), no lone surrogates (left by undecodable bytes); and no bidi
    embeddings, overrides or isolates, which make a relayed report read otherwise than it is
    (text shown backwards, a station name turned around)."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text.translate(_CONTROL)


_CONTROL = {c: None for c in [*range(0, 9), 11, 12, *range(14, 32), 127,
                              *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


# --- Engine and sessions ---------------------------------------------------------------------

def make_engine(url: str, busy_timeout: float = 30.0, wal: bool = True) -> Engine:
    """An engine for this process. SQLite gets WAL and a busy timeout: many processes write.
    wal=False leaves the journal mode as it is (a command that only reads)."""
    if url.startswith("sqlite"):
        # hide_parameters: an error's text (logged, shown in status) never carries report text.
        engine = create_engine(url, connect_args={"timeout": busy_timeout}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3 is what we install
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                         hide_parameters=True)


def make_sessions(engine: Engine, settings=None) -> sessionmaker:
    """Sessions on engine. Each carries the process's settings in `session.info["settings"]`
    (None when not given), for the logic that depends on them wherever it is called from,
    e.g. which names no city may take (user.reserved_names)."""
    return sessionmaker(engine, expire_on_commit=False, info={"settings": settings})


# An engine the fork parent made, warmed and emptied of connections before it forked this
# process (forkparent._warm): its dialect and caches are shared pages, so a child uses it
# rather than building its own. The pid tells a child from the fork parent itself.
_inherited: tuple[int, str, float, Engine] | None = None


def keep_for_children(engine: Engine, url: str, busy_timeout: float) -> None:
    """The fork parent: children forked from now on use `engine` (no connection may be open)."""
    global _inherited
    _inherited = (os.getpid(), url, busy_timeout, engine)


def open_sessions(settings, create: bool = False) -> sessionmaker:
    """This process's sessions on the configured database; create=True makes missing tables."""
    url, busy_timeout = settings.database.url, settings.database.busy_timeout
    if _inherited is not None and _inherited[0] != os.getpid() and _inherited[1:3] == (
            url, busy_timeout):
        engine = _inherited[3]
        engine.dispose(close=False)  # a pool of its own: never a connection of the parent's
    else:
        engine = make_engine(url, busy_timeout)
    if create:
        create_schema(engine)
    return make_sessions(engine, settings)


def create_schema(engine: Engine) -> None:
    """Create the tables that are missing (core and every imported bot's); alter none."""
    for attempt in range(5):
        try:
            Base.metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            # Another process (main, an admin command) created a table between our check
            # and our CREATE; the next pass sees it.
            if attempt == 4:
                raise
            time.sleep(0.1 * (attempt + 1))


# --- Backup ------------------------------------------------------------------------------------

class BackupError(Exception):
    pass


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL; None for another database or an in-memory one."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def backup_sqlite(url: str, target: Path, busy_timeout: float = 30.0,
                  force: bool = False) -> dict:
    """A consistent copy of a SQLite database, also while it is in use: SQLite's online backup
    API in one step, i.e. one read transaction, which in WAL mode holds up no writer. It is
    written next to `target` and moved there once complete and checked, so a failed backup
    leaves no half file; the copy is in rollback-journal mode (one file, as version 2 had
    it). `target` may be a directory: the copy is named there by the time. The source is
    opened as it is (not through make_engine): backing up a version 2 database before the
    upgrade changes nothing in it. Returns what the copy holds."""
    source = sqlite_path(url)
    if source is None:
        raise BackupError("the database is not a SQLite file")
    if not source.is_file():
        raise BackupError(f"there is no database at {source}")
    if target.is_dir():
        target = target / time.strftime("ticketfrei-%Y%m%d-%H%M%S.sqlite")
    real = source.resolve()  # SQLite's -wal and -shm sit next to the file a symlink names
    own = {real, *(real.with_name(real.name + end) for end in ("-wal", "-shm", "-journal"))}
    if target.resolve() in own or (target.exists() and os.path.samefile(target, real)):
        raise BackupError(f"{target} is the database itself")
    if target.exists() and not force:
        raise BackupError(f"{target} exists (--force replaces it)")
    try:
        # Made anew and ours alone (O_EXCL, 0600), whoever else may write the directory.
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                        dir=target.parent)
    except OSError as error:
        raise BackupError(f"cannot write the copy into {target.parent}: "
                          f"{error.strerror}") from None
    os.close(handle)
    partial = Path(name)
    try:
        # closing(): a sqlite3 connection's own context manager commits, it does not close
        with closing(sqlite3.connect(source, timeout=busy_timeout)) as src, \
                closing(sqlite3.connect(partial)) as copy:
            src.backup(copy)  # pages=-1: all in one step
            copy.execute("PRAGMA journal_mode=DELETE")
            check = copy.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copy does not check out: {check}")
            figures = dict(path=str(target), size=partial.stat().st_size,
                           **{table: _count(copy, table) for table in ("cities", "reports")})
        os.replace(partial, target)
    except sqlite3.Error as error:
        raise BackupError(f"the backup of {source} to {target} failed: {error}") from None
    except OSError as error:
        raise BackupError(f"the copy could not be put at {target}: {error.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)
    return figures


def _count(connection, table: str) -> int | None:
    try:
        return connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    except sqlite3.OperationalError:  # not there (a version 2 database has no reports)
        return None
