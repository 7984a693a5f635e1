"""The censor: decides which reports are relayed, and fans accepted ones out as deliveries.

Rules (DESIGN.md "Censor rules"): a report needs one trigger pattern matching at the start of
a word and no blocklisted word. Patterns run on RE2, whose matching time is linear in the text,
so no pattern, however pathological, can stall the censor for other cities.

The censor process reads reports, cities and their rules; it writes verdicts and deliveries.
It asks each plugin for a city's accounts (the delivery targets) and tells main which
deliveries to route; it never talks to a network.
"""
from __future__ import annotations

import functools
import logging
import queue
import re
import time
import unicodedata
from dataclasses import dataclass

import re2
from sqlalchemy import delete, select

import bots
import db
import process

log = logging.getLogger(__name__)

# Version 2's lists for a new city (ref/ticketfrei2-schema.md).
DEFAULT_TRIGGER_PATTERNS = (
    "kontroll?e", "konti", "db", "vgn", "vag", "zivil", "sicherheit", "uniform", "station",
    "bus", "bahn", "tram", "linie", "nuernberg", "nürnberg", r"s\d", r"u\d\d?",
)
DEFAULT_BLOCKLIST = ("bastard",)

# Always applied, whatever a city's blocklist says: an organiser cannot remove these.
BUILTIN_BLOCKLIST = frozenset({
    "nigger", "nigga", "neger", "kanake", "kanaken", "kanacke", "zigeuner", "zigeunerin",
    "schlitzauge", "schlitzaugen", "bimbo", "kaffer", "fidschi", "musel", "muselmann",
    "kameltreiber", "negerin", "judensau", "itzig", "faggot", "fag", "schwuchtel",
    "tranny", "transe", "spast", "spasti", "mongo", "kike", "chink", "gook", "spic",
    "wetback", "raghead", "towelhead", "untermensch", "untermenschen",
})

# A report's words: letters and digits after Unicode normalisation; punctuation falls away.
_WORD = re.compile(r"\w+")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported to its author, not to stderr
# A trigger must match at the start of a word: after the text's start or a non-word character.
_WORD_START = r"(?:^|[^\pL\pN_])"


class PatternError(ValueError):
    """A trigger pattern that cannot be used; `line` is its 1-based line number."""

    def __init__(self, line: int, pattern: str, reason: str):
        super().__init__(f"line {line}: {pattern!r} is not a valid pattern: {reason}")
        self.line = line


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def words_of(text: str) -> list[str]:
    return _WORD.findall(normalise(text).casefold())


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _compile(pattern: str):
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(str(reason)) from None


def check_patterns(text: str) -> list[str]:
    """The patterns of a trigger list, one per line; PatternError for the first bad line."""
    patterns = []
    for number, pattern in _lines(text):
        try:
            _compile(pattern)
        except ValueError as error:
            raise PatternError(number, pattern, str(error)) from None
        patterns.append(pattern)
    return patterns


@dataclass(frozen=True)
class Rules:
    """One city's compiled trigger patterns and blocklist."""
    trigger: object                      # one RE2 alternation of all patterns, or None
    blocked_words: frozenset[str]
    blocked_phrases: tuple[tuple[str, ...], ...]

    def judge(self, text: str) -> tuple[bool, str]:
        """(accepted, why) for one report text."""
        words = words_of(text)
        blocked = (self.blocked_words | BUILTIN_BLOCKLIST).intersection(words)
        if blocked:
            return False, "contains a blocklisted word"
        for phrase in self.blocked_phrases:
            if any(tuple(words[i:i + len(phrase)]) == phrase for i in range(len(words))):
                return False, "contains a blocklisted phrase"
        if self.trigger is None or not self.trigger.search(normalise(text)):
            return False, "matches no trigger pattern"
        return True, "matches a trigger pattern"


@functools.lru_cache(maxsize=2048)
def rules_for(patterns_text: str, blocklist_text: str) -> Rules:
    """Compile a city's lists; cached by their text, so an edit takes effect on the next report."""
    usable = []
    for number, pattern in _lines(patterns_text):
        try:
            _compile(pattern)
            usable.append(pattern)
        except ValueError as error:
            # Stored before version 3 checked patterns (or valid only for Python's re).
            log.warning("ignoring trigger pattern on line %d: %s", number, error)
    trigger = None
    if usable:
        trigger = _compile("(?i)" + _WORD_START + "(?:" + "|".join(f"(?:{p})" for p in usable) + ")")
    single, phrases = set(), []
    for _number, entry in _lines(blocklist_text):
        entry_words = tuple(words_of(entry))
        if len(entry_words) == 1:
            single.add(entry_words[0])
        elif entry_words:
            phrases.append(entry_words)
    return Rules(trigger, frozenset(single), tuple(phrases))


class Censor:
    """Decides stored reports and creates their deliveries, one transaction per report."""

    def __init__(self, settings, sessions, plugins):
        self.settings = settings
        self.sessions = sessions
        self.plugins = plugins

    def city_rules(self, session, city_id: int) -> tuple[Rules | None, str]:
        row = session.execute(
            select(db.City, db.User.enabled)
            .outerjoin(db.User, db.User.id == db.City.user_id)
            .where(db.City.id == city_id)).first()
        if row is None:
            return None, "unknown city"
        city, enabled = row
        if enabled == 0:
            return None, "city is disabled"
        patterns = session.scalar(select(db.TriggerPatterns.patterns)
                                  .where(db.TriggerPatterns.user_id == city.user_id)
                                  .order_by(db.TriggerPatterns.id).limit(1))
        words = session.scalar(select(db.BadWords.words)
                               .where(db.BadWords.user_id == city.user_id)
                               .order_by(db.BadWords.id).limit(1))
        return rules_for(patterns or "", words or ""), ""

    def decide(self, report_id: int) -> list[tuple]:
        """Store the verdict and deliveries of one report; return the news for main."""
        with self.sessions.begin() as session:
            report = session.get(db.Report, report_id)
            if report is None or report.verdict is not None:
                return []  # purged, or decided before a restart
            rules, why_not = self.city_rules(session, report.city_id)
            accepted, reason = rules.judge(report.text) if rules else (False, why_not)
            report.verdict = db.ACCEPTED if accepted else db.REJECTED
            report.verdict_reason = reason
            report.decided_at = time.time()
            deliveries = []
            if accepted:
                for network, account in bots.city_accounts(self.plugins, session, report.city_id):
                    if ((network, account.account) == (report.network, report.account)
                            and not self.plugins[network].broadcasts_own_reports):
                        continue  # not back to where it came from
                    delivery = db.Delivery(report_id=report.id, city_id=report.city_id,
                                           network=network, account=account.account,
                                           created_at=time.time())
                    session.add(delivery)
                    deliveries.append(delivery)
                session.flush()
            news = [(d.city_id, d.network, d.account, d.id) for d in deliveries]
        log.info("report %d %s: %s; %d deliveries", report_id, report.verdict, reason, len(news))
        return news

    def undecided(self) -> list[int]:
        with self.sessions() as session:
            return list(session.scalars(select(db.Report.id)
                                        .where(db.Report.verdict.is_(None))
                                        .order_by(db.Report.id)))

    def pending_news(self) -> list[tuple]:
        with self.sessions() as session:
            rows = session.execute(select(db.Delivery.city_id, db.Delivery.network,
                                          db.Delivery.account, db.Delivery.id)
                                   .where(db.Delivery.state == db.PENDING)).all()
        return [tuple(row) for row in rows]

    def purge(self) -> int:
        """Delete reports (and their deliveries) older than the retention."""
        cutoff = time.time() - self.settings.reports.retention_days * 86400
        old = select(db.Report.id).where(db.Report.received_at < cutoff)
        with self.sessions.begin() as session:
            session.execute(delete(db.Delivery).where(db.Delivery.report_id.in_(old)))
            count = session.execute(delete(db.Report).where(db.Report.received_at < cutoff)).rowcount
        if count:
            log.info("purged %d report(s) older than %s days", count,
                     self.settings.reports.retention_days)
        return count


@process.child_main
def censor_process(ctx: process.Context) -> None:
    """Entry point of the censor process (started by main)."""
    settings = ctx.settings
    plugins = bots.load(settings)
    censor = Censor(settings, db.open_sessions(settings), plugins)
    # Unfinished work first: undecided reports, and news main may have missed.
    backlog = censor.undecided()
    news = censor.pending_news()
    if news:
        process.deliveries_stored(ctx, news)
    log.info("censor ready: %d undecided report(s), %d pending deliveries", len(backlog), len(news))
    next_purge = time.monotonic()
    while True:
        process.beat(ctx)
        if time.monotonic() >= next_purge:
            censor.purge()
            next_purge = time.monotonic() + 3600
        ids, backlog = backlog, []
        if not ids:
            try:
                ids.append(ctx.inbox.get(timeout=1.0))
                while len(ids) < 200:
                    ids.append(ctx.inbox.get_nowait())
            except queue.Empty:
                pass
        for report_id in ids:
            news = censor.decide(report_id)
            if news:
                process.deliveries_stored(ctx, news)
            process.beat(ctx)
