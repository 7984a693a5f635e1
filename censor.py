"""The censor: decides which reports are relayed, and fans accepted ones out as deliveries.

Rules (DESIGN.md "Censor rules"): a report needs one trigger pattern matching at the start of
a word and no blocklisted word. Patterns run on RE2, whose matching time is linear in the text,
so no pattern, however pathological, can stall the censor for other cities. A city's trigger
list is bounded in count, length and compiled size, and saving it runs exactly the compilation
the censor runs; a stored list that cannot be used anyway (version 2's, or one written into the
database by hand) sets aside that city's reports only, with a reason its organisers can read.

The censor process reads reports, cities and their rules; it writes verdicts, deliveries and
its attempts at judging (work_attempts). It asks each plugin for a city's accounts (the delivery
targets) and tells main which deliveries to route; it never talks to a network. A report it
cannot judge, or one that stops the process, is retried and then set aside, so that the reports
behind it flow on.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import time
import traceback
import unicodedata
from dataclasses import dataclass

import re2
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

import bots
import db
import process
import stations

log = logging.getLogger(__name__)

# The lists of a new city (ref/ticketfrei2-schema.md has version 2's).
# Version 2's, with \b where a short token would hit inside common words ("feedback").
DEFAULT_TRIGGER_PATTERNS = (
    "kontroll?e", "konti", r"\bdb\b", "vgn", "vag", "zivil", "sicherheit", "uniform",
    "station", "bus", "bahn", "tram", "linie", "nuernberg", "nürnberg", r"\bs\d", r"\bu\d\d?\b",
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

# Bounds on one city's trigger list, checked when it is saved and again when the censor loads
# it. For scale: version 2's default list has 17 patterns, 110 characters, 1 447 instructions.
MAX_PATTERNS = 200
MAX_PATTERN_LENGTH = 200          # characters in one pattern
MAX_PATTERNS_TEXT = 10_000        # characters in the whole list, as the settings form takes it
MAX_PROGRAM_SIZE = 50_000         # RE2 instructions of the list's one combined expression

# Seconds before a report that could not be judged is tried again, and between looks for
# undecided reports whose news main had to drop (a full inbox).
RETRY_AFTER = 10.0
SWEEP_EVERY = 60.0

# A report's words: letters and digits after Unicode normalisation; punctuation falls away.
_WORD = re.compile(r"\w+")
# RE2's memory for compiling a list. Past it, compiling stops with "pattern too large", so even
# a hostile list is refused in milliseconds. Every program within MAX_PROGRAM_SIZE fits (the
# smallest program refused for memory measured about 55 000 instructions), and what the program
# leaves of it is the matcher's cache: enough for 0.3 ms per 2 000-character report at the bound.
_TRIGGER_MAX_MEM = 1 << 20
# RE2 parses a whole pattern before it compiles it: with this little memory a large pattern stops
# at "pattern too large" just after its syntax passed, so checking one line's syntax costs about
# its parsing only (at most half a millisecond measured; \pL is the dearest to parse).
_SYNTAX_MAX_MEM = 16 << 10
_TOO_LARGE = "pattern too large"  # how RE2's error for a program over its memory begins


def _re2_options(max_mem: int):
    options = re2.Options()
    options.log_errors = False    # a refused pattern is reported to its author, not to stderr
    options.never_capture = True  # the censor only asks whether a trigger matches
    options.max_mem = max_mem
    return options


_TRIGGER_OPTIONS = _re2_options(_TRIGGER_MAX_MEM)
_SYNTAX_OPTIONS = _re2_options(_SYNTAX_MAX_MEM)


class PatternError(ValueError):
    """A trigger list that cannot be used. `line` is the 1-based line number of the pattern at
    fault, or None when the list as a whole is (too many patterns, too large together)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line

    @classmethod
    def at(cls, line: int, pattern: str, reason: str) -> PatternError:
        shown = pattern if len(pattern) <= 60 else pattern[:60] + "…"
        return cls(f"line {line}: {shown!r} is not a valid pattern: {reason}", line)


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def words_of(text: str) -> list[str]:
    return _WORD.findall(normalise(text).casefold())


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


# --- Trigger patterns --------------------------------------------------------------------------

def _compile(expression: str, options):
    """A compiled RE2 expression; ValueError with RE2's reason if it cannot be compiled."""
    try:
        return re2.compile(expression, options)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(str(reason)) from None


def _what(reason: str) -> str:
    # RE2 names the fault, then quotes the expression from it: ours, with its wrapping, would
    # only confuse the organiser who wrote one line of it.
    return reason.split(": ", 1)[0]


def trigger_expression(patterns: list[str]) -> str:
    """The one expression the censor compiles for a city's patterns: any of them, in any case,
    anywhere in the text, as version 2 matched them (German compounds: "Fahrkartenkontrolle"
    is a warning); a pattern that wants whole words says so with \b."""
    return "(?i)(?:" + "|".join(f"(?:{p})" for p in patterns) + ")"


def _syntax_error(expression: str) -> str | None:
    """RE2's objection to an expression's syntax, or None (its size is judged with the list)."""
    try:
        _compile(expression, _SYNTAX_OPTIONS)
    except ValueError as error:
        return None if str(error).startswith(_TOO_LARGE) else str(error)
    return None


# RE2's reasons where the organiser most likely meant the character itself: "(zivil", "*bahn".
_LITERAL_HINT_FOR = ("missing )", "missing ]", "unexpected )", "no argument for repetition")


def check_pattern(line: int, pattern: str) -> None:
    """PatternError if one line cannot be a trigger pattern: too long, not valid RE2 on its own,
    or not closed within its line as the combined expression needs (`\\Qfoo` would quote the
    rest of the list)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError.at(line, pattern, f"it has {len(pattern)} characters, "
                                             f"at most {MAX_PATTERN_LENGTH} are allowed")
    reason = _syntax_error(pattern)
    if reason:
        if reason.startswith(_LITERAL_HINT_FOR):
            reason += "; to find the character itself, put a \\ before it"
        raise PatternError.at(line, pattern, reason)
    reason = _syntax_error(f"(?:{pattern})")
    if reason:
        hint = "; \\Q quotes everything up to a \\E" if "\\Q" in pattern else ""
        raise PatternError.at(line, pattern, f"it does not end within its line "
                                             f"({_what(reason)}){hint}")


def _check_list_size(patterns: list[str]) -> None:
    if len(patterns) > MAX_PATTERNS:
        raise PatternError(f"the list has {len(patterns)} patterns, "
                           f"at most {MAX_PATTERNS} are allowed")
    length = len("\n".join(patterns))
    if length > MAX_PATTERNS_TEXT:
        raise PatternError(f"the list has {length} characters, "
                           f"at most {MAX_PATTERNS_TEXT} are allowed")


def _too_large(size) -> PatternError:
    return PatternError(
        f"the patterns together are too large: compiled they make {size} instructions, at most "
        f"{MAX_PROGRAM_SIZE} are allowed (long repetitions such as {{300}} and Unicode classes "
        f"such as \\pL make a pattern large)")


def compile_trigger(patterns: list[str]):
    """The compiled trigger of a list of checked patterns (None for an empty list), exactly as
    the censor uses it; PatternError if the list is over its bounds or cannot be combined."""
    _check_list_size(patterns)
    if not patterns:
        return None
    try:
        trigger = _compile(trigger_expression(patterns), _TRIGGER_OPTIONS)
    except ValueError as error:
        if str(error).startswith(_TOO_LARGE):
            raise _too_large(f"more than {MAX_PROGRAM_SIZE}") from None
        raise PatternError("the patterns cannot be combined into one expression: "
                           f"{_what(str(error))}") from None
    if trigger.programsize > MAX_PROGRAM_SIZE:
        raise _too_large(trigger.programsize)
    return trigger


def _check_lines(numbered: list[tuple[int, str]]) -> tuple[list[str], list[tuple[str, PatternError]]]:
    """The patterns of numbered lines that can be trigger patterns, and each one that cannot
    with its error, in their order."""
    usable, bad = [], []
    for line, pattern in numbered:
        try:
            check_pattern(line, pattern)
            usable.append(pattern)
        except PatternError as error:
            bad.append((pattern, error))
    return usable, bad


def _compile_usable(usable: list[str], count: int):
    """compile_trigger() of the usable patterns of a list of `count`; PatternError if none is."""
    if count and not usable:
        raise PatternError(f"none of its {count} patterns is valid")
    return compile_trigger(usable)


def check_patterns(text: str, stored: str = "") -> list[str]:
    """The patterns of a trigger list, one per line, as they are to be stored; PatternError for
    the first bad line, or for the list as a whole, checked exactly as the censor compiles it.
    A bad line that is in the `stored` list already (version 2 did not check its patterns) may
    stay: the censor leaves it out as before, and the organisers can save their other changes
    without first learning regular expressions."""
    numbered = _lines(text)
    patterns = [pattern for _line, pattern in numbered]
    _check_list_size(patterns)  # before any compiling: an oversized list costs nothing
    kept = {pattern for _line, pattern in _lines(stored)}
    usable, bad = _check_lines(numbered)
    for pattern, error in bad:
        if pattern not in kept:
            raise error
    _compile_usable(usable, len(patterns))
    return patterns


@dataclass(frozen=True)
class Trigger:
    """A city's stored trigger list as the censor uses it."""
    expression: object | None         # the compiled trigger; None: no pattern, or unusable
    unusable: str | None = None       # why the list cannot be used (its reports are set aside)
    skipped: tuple[str, ...] = ()     # single stored lines left out, each with its reason

    @property
    def problems(self) -> list[str]:
        return [*self.skipped, *([self.unusable] if self.unusable else [])]


@functools.lru_cache(maxsize=128)  # a compiled list takes at most _TRIGGER_MAX_MEM
def trigger_for(patterns_text: str) -> Trigger:
    """A stored trigger list, compiled once: cached by its text, so an edit takes effect on the
    next report, and a list that cannot be used is not compiled again for every report."""
    numbered = _lines(patterns_text)
    skipped = []
    try:
        _check_list_size([pattern for _line, pattern in numbered])
        usable, bad = _check_lines(numbered)
        for _pattern, error in bad:
            # Stored before version 3 checked patterns (or valid only for Python's re): one
            # bad line costs the city that line, not its reports.
            log.warning("ignoring a stored trigger pattern: %s", error)
            skipped.append(f"not used: {error}")
        return Trigger(_compile_usable(usable, len(numbered)), skipped=tuple(skipped))
    except PatternError as error:
        reason = f"the trigger patterns cannot be used: {error}"
        log.warning("%s", reason)
        return Trigger(None, unusable=reason, skipped=tuple(skipped))


def pattern_problems(patterns_text: str) -> list[str]:
    """What the censor cannot use of a stored trigger list, for the city's organisers."""
    return trigger_for(patterns_text).problems


# --- Blocklist and rules ------------------------------------------------------------------------

@dataclass(frozen=True)
class Blocklist:
    """A city's blocklist: single words, and phrases of several words, as words_of gives them."""
    words: frozenset[str]
    phrases: frozenset[tuple[str, ...]]
    phrase_lengths: tuple[int, ...]   # the phrases' distinct lengths in words

    def blocks(self, words: list[str]) -> str | None:
        """Why a report of these words is not relayed, or None."""
        if not BUILTIN_BLOCKLIST.isdisjoint(words) or not self.words.isdisjoint(words):
            return "contains a blocklisted word"
        # One pass per phrase length, not per phrase: a long list costs no more per report.
        for length in self.phrase_lengths:
            runs = (tuple(words[i:i + length]) for i in range(len(words) - length + 1))
            if not self.phrases.isdisjoint(runs):
                return "contains a blocklisted phrase"
        return None


@functools.lru_cache(maxsize=128)
def blocklist_for(blocklist_text: str) -> Blocklist:
    single, phrases = set(), set()
    for _line, entry in _lines(blocklist_text):
        entry_words = tuple(words_of(entry))
        if len(entry_words) == 1:
            single.add(entry_words[0])
        elif entry_words:
            phrases.add(entry_words)
    return Blocklist(frozenset(single), frozenset(phrases),
                     tuple(sorted({len(phrase) for phrase in phrases})))


@dataclass(frozen=True)
class Rules:
    """One city's compiled trigger patterns and blocklist."""
    trigger: Trigger
    blocklist: Blocklist

    @property
    def unusable(self) -> str | None:
        return self.trigger.unusable

    def judge(self, text: str) -> tuple[bool, str]:
        """(accepted, why) for one report text; for rules that are not `unusable`."""
        words = words_of(text)
        blocked = self.blocklist.blocks(words)
        if blocked:
            return False, blocked
        expression = self.trigger.expression
        if expression is None or not expression.search(normalise(text)):
            return False, "matches no trigger pattern"
        return True, "matches a trigger pattern"


def rules_for(patterns_text: str, blocklist_text: str) -> Rules:
    """A city's rules from its stored lists; each list is compiled once (see trigger_for)."""
    return Rules(trigger_for(patterns_text), blocklist_for(blocklist_text))


def city_rules(session, city_id: int) -> tuple[Rules | None, str]:
    """A city's rules, or None and why there are none (unknown or disabled city). The censor
    judges with them; a form that answers at once (bots/web) too."""
    row = session.execute(
        select(db.City, db.User.enabled)
        .outerjoin(db.User, db.User.id == db.City.user_id)
        .where(db.City.id == city_id)).first()
    if row is None:
        return None, "unknown city"
    city, enabled = row
    if enabled == 0 or session.get(db.CityBlock, city_id) is not None:
        return None, "city is disabled"
    patterns = session.scalar(select(db.TriggerPatterns.patterns)
                              .where(db.TriggerPatterns.user_id == city.user_id)
                              .order_by(db.TriggerPatterns.id).limit(1))
    words = session.scalar(select(db.BadWords.words)
                           .where(db.BadWords.user_id == city.user_id)
                           .order_by(db.BadWords.id).limit(1))
    return rules_for(patterns or "", words or ""), ""


# --- Judging reports ----------------------------------------------------------------------------

def judge_key(report_id: int) -> str:
    """The name of the work of judging one report in work_attempts."""
    return f"judge:{report_id}"


def describe_failure(error: Exception) -> str:
    """An error in judging a report, for the log, the attempts table and the organisers, never
    with report text: a database error's first line (engines hide SQL parameters; PostgreSQL's
    DETAIL, which may quote a row, comes on a later line), and of any other error only its kind
    and where it was raised, since its message may quote the text being judged."""
    if isinstance(error, SQLAlchemyError):
        return process.describe_error(error)
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return type(error).__name__
    where = frames[-1]
    return f"{type(error).__name__} in {where.name} ({os.path.basename(where.filename)}:" \
           f"{where.lineno})"


def _could_not_judge(attempts: int, error: str | None) -> str:
    # Worded as the bots word a message they could not read.
    return f"set aside after {attempts} failed attempts: " \
           f"{error or 'the censor stopped while judging it'}"


class Censor:
    """Decides stored reports and creates their deliveries, one transaction per report."""

    def __init__(self, settings, sessions, plugins):
        self.settings = settings
        self.sessions = sessions
        self.plugins = plugins
        self.retry_at: dict[int, float] = {}  # report id -> when to judge it again (monotonic)

    @staticmethod
    def verdict(rules: Rules | None, why_not: str, text: str) -> tuple[str, str]:
        """(verdict, reason) for one report under its city's rules."""
        if rules is None:
            return db.REJECTED, why_not
        if rules.unusable:
            return db.SET_ASIDE, rules.unusable
        accepted, reason = rules.judge(text)
        return (db.ACCEPTED if accepted else db.REJECTED), reason

    def decide(self, report_id: int) -> list[tuple]:
        """Store the verdict and deliveries of one report, and forget the attempts at it, in one
        transaction; return the news for main."""
        with self.sessions.begin() as session:
            # Reads and rules first, writes last: on SQLite the first write takes the database's
            # write lock, which every other process then waits for.
            report = session.get(db.Report, report_id)
            if report is None or report.verdict is not None:
                db.forget_attempts(session, [judge_key(report_id)])
                return []  # purged, or decided before a restart
            rules, why_not = city_rules(session, report.city_id)
            verdict, reason = self.verdict(rules, why_not, report.text)
            place, targets = None, []
            if verdict == db.ACCEPTED:
                place = self.place(session, report)
                # Raises TryLater if a plugin cannot list its accounts now: deciding without
                # them would lose that network's deliveries for good.
                targets = bots.city_accounts(self.plugins, session, report.city_id)
            report.verdict, report.verdict_reason, report.decided_at = verdict, reason, time.time()
            if place is not None:
                session.add(place)
            deliveries = []
            for network, account in targets:
                if ((network, account.id) == (report.network, report.account)
                        and not self.plugins[network].broadcasts_own_reports):
                    continue  # not back to where it came from
                delivery = db.Delivery(report_id=report.id, city_id=report.city_id,
                                       network=network, account=account.id,
                                       created_at=time.time())
                session.add(delivery)
                deliveries.append(delivery)
            db.forget_attempts(session, [judge_key(report_id)])
            session.flush()
            news = [(d.city_id, d.network, d.account, d.id) for d in deliveries]
        level = logging.WARNING if report.verdict == db.SET_ASIDE else logging.INFO
        log.log(level, "report %d of city %d %s: %s; %d deliveries", report_id, report.city_id,
                report.verdict, reason, len(news))
        return news

    @staticmethod
    def place(session, report: db.Report) -> db.ReportPlace | None:
        """Where the report says the inspectors are, from its city's transit data (None
        without data). A text the recognizer fails on is relayed as it is: a place is a help
        to riders, never a condition for relaying."""
        try:
            annotator = stations.annotator_for(session, report.city_id)
            if annotator is None:
                return None
            place = annotator.place(report.text)
            prefix = place.prefix() if stations.prefix_on(session, report.city_id) else ""
        except SQLAlchemyError:
            raise  # the database, not the place: the report is tried again
        except Exception as error:  # noqa: BLE001 - a recognizer bug must not hold the report
            log.error("report %d of city %d: no place recognised: %s", report.id,
                      report.city_id, describe_failure(error))
            return None
        return db.ReportPlace(report_id=report.id, station=place.station, line=place.line,
                              direction=place.direction, prefix=prefix)

    def judge(self, report_id: int, suspect: bool = False) -> list[tuple]:
        """Decide one report, bounding the harm it can do; return the news for main.

        A suspect (left undecided when a censor stopped, or due for a retry) has its attempt
        counted before it begins, so that a report which stops the process is set aside once it
        has had db.SET_ASIDE_AFTER attempts. An error while judging is counted and the report
        tried again after RETRY_AFTER (see due_retries), or set aside at the limit."""
        if not suspect and report_id in self.retry_at:
            return []  # it failed before and waits for its retry
        if suspect and not self._start_attempt(report_id):
            return []
        try:
            return self.decide(report_id)
        except bots.TryLater as error:  # not the report's fault: no attempt counted
            log.warning("report %d waits: %s", report_id, error)
            if suspect:
                db.count_attempt(self.sessions, judge_key(report_id), add=-1)
            self.retry_at[report_id] = time.monotonic() + error.delay
            return []
        except Exception as error:
            failure = describe_failure(error)
            stack = "".join(traceback.format_tb(error.__traceback__))  # code, not data
        # Outside the except block: an error here does not carry the first one as its context.
        self._failed(report_id, failure, stack, counted=suspect)
        return []

    def _start_attempt(self, report_id: int) -> bool:
        key = judge_key(report_id)
        count = db.count_attempt(self.sessions, key)  # this attempt included
        if count <= db.SET_ASIDE_AFTER:
            return True
        with self.sessions() as session:
            earlier = session.get(db.WorkAttempt, key)
        self.set_aside(report_id, _could_not_judge(count - 1, earlier and earlier.last_error))
        return False

    def _failed(self, report_id: int, failure: str, stack: str, counted: bool) -> None:
        # An attempt counted before it began only needs its error recorded.
        count = db.count_attempt(self.sessions, judge_key(report_id), failure,
                                 add=0 if counted else 1)
        log.warning("report %d could not be judged (attempt %d of %d): %s\n%s", report_id,
                    count, db.SET_ASIDE_AFTER, failure, stack.rstrip())
        if count >= db.SET_ASIDE_AFTER:
            self.set_aside(report_id, _could_not_judge(count, failure))
        else:
            self.retry_at[report_id] = time.monotonic() + RETRY_AFTER

    def due_retries(self) -> list[int]:
        """The reports whose retry is due, oldest first; each is a suspect now."""
        now = time.monotonic()
        due = sorted(report_id for report_id, at in self.retry_at.items() if at <= now)
        for report_id in due:
            del self.retry_at[report_id]
        return due

    def set_aside(self, report_id: int, reason: str) -> None:
        """Store a report as set aside, with the reason, so that the reports behind it flow."""
        self.retry_at.pop(report_id, None)
        with self.sessions.begin() as session:
            db.forget_attempts(session, [judge_key(report_id)])
            report = session.get(db.Report, report_id)
            if report is None or report.verdict is not None:
                return
            report.verdict, report.verdict_reason = db.SET_ASIDE, reason
            report.decided_at = time.time()
        log.warning("report %d of city %d set aside: %s", report_id, report.city_id, reason)

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
            gone = select(db.Delivery.id).where(db.Delivery.report_id.in_(old))
            session.execute(delete(db.DeliveryRecipient).where(
                db.DeliveryRecipient.delivery_id.in_(gone)))
            session.execute(delete(db.Delivery).where(db.Delivery.report_id.in_(old)))
            session.execute(delete(db.ReportPlace).where(db.ReportPlace.report_id.in_(old)))
            session.execute(delete(db.DeliveryRecipient).where(  # left by a deleted city
                db.DeliveryRecipient.delivery_id.not_in(select(db.Delivery.id))))
            count = session.execute(delete(db.Report).where(db.Report.received_at < cutoff)).rowcount
            # Attempts at reports that went before they were decided.
            # Attempts at work that went away unfinished (a message deleted from its network,
            # a delivery of a deleted city): nothing will ever finish them.
            session.execute(delete(db.WorkAttempt).where(db.WorkAttempt.updated_at < cutoff))
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
    # Unfinished work first: undecided reports (suspects: one of them may have stopped the last
    # censor), and news main may have missed.
    suspects = censor.undecided()
    news = censor.pending_news()
    if news:
        process.deliveries_stored(ctx, news)
    log.info("censor ready: %d undecided report(s), %d pending deliveries", len(suspects),
             len(news))
    next_purge = time.monotonic()
    next_sweep = time.monotonic() + SWEEP_EVERY
    while True:
        process.beat(ctx)
        now = time.monotonic()
        if now >= next_purge:
            censor.purge()
            next_purge = now + 3600
        suspects += censor.due_retries()
        if suspects:
            work, suspects = [(report_id, True) for report_id in suspects], []
        elif now >= next_sweep:
            # Safety net only: news of a report comes through the inbox, unless main had to
            # drop it (a full inbox).
            work = [(report_id, False) for report_id in censor.undecided()]
            next_sweep = now + SWEEP_EVERY
        else:
            ids = process.receive(ctx.inbox, 1.0, 200)
            if process.SWEEP in ids:  # main had to drop news: look into the database next
                next_sweep = now
            work = [(report_id, False) for report_id in ids if report_id != process.SWEEP]
        for report_id, suspect in work:
            news = censor.judge(report_id, suspect)
            if news:
                process.deliveries_stored(ctx, news)
            process.beat(ctx)
