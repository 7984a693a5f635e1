"""The bounds on a city's trigger list and the censor's isolation of one city's trouble
(DESIGN.md "Censor rules"): what is saved compiles exactly as the censor compiles it, a list
over the bounds is refused in milliseconds, a stored list that cannot be used sets aside that
city's reports only, and a report that cannot be judged (or stops the censor) is set aside
after db.SET_ASIDE_AFTER attempts while the reports behind it are decided.

Timings are printed (pytest -s), never asserted."""
import re
import time

import pytest
import re2
import webtest
from sqlalchemy import select, update

import censor
import db
import frontend
import user
from instance import wait_for

# The hostile list of the bug report: 840 patterns like \pL{300}, about 10 KB.
HOSTILE = "\n".join(f"\\pL{{300}}{chr(97 + i % 26)}" for i in range(840))


def timed(what, call):
    re2.purge()  # re2.compile keeps compiled expressions: time the compiling itself
    began = time.perf_counter()
    try:
        return call()
    finally:
        print(f"\n{what}: {(time.perf_counter() - began) * 1000:.1f} ms")


# --- saving checks exactly what the censor compiles ---------------------------------------------

def test_pattern_that_would_quote_the_rest_of_the_list_is_refused_with_its_line_number():
    # Valid on its own, but in the combined expression \Q quotes everything after it.
    with pytest.raises(censor.PatternError) as caught:
        censor.check_patterns("kontrolle\n\\Qfoo\nbus")
    assert caught.value.line == 2
    assert "line 2" in str(caught.value) and "\\Q quotes everything up to a \\E" in str(caught.value)
    assert censor.check_patterns("kontrolle\n\\Qfoo\\E\nbus") == ["kontrolle", "\\Qfoo\\E", "bus"]
    # Even where the combination would compile, with another meaning: the next line's \E
    # would end the quote, and line 2 would match "foo)|(?:\Qx".
    with pytest.raises(censor.PatternError) as caught:
        censor.check_patterns("kontrolle\n\\Qfoo\n\\Qx\\E")
    assert caught.value.line == 2


def test_pattern_that_only_works_inside_the_combination_is_refused():
    # "a)|(b" compiles once wrapped as the censor wraps it, but is no pattern of its own.
    with pytest.raises(censor.PatternError) as caught:
        censor.check_patterns("kontrolle\na)|(b")
    assert caught.value.line == 2


def test_saved_list_compiles_exactly_as_the_censor_compiles_it():
    patterns = censor.check_patterns("kontroll?e\n  u\\d\\d?  \n\n(?i)Bahn")
    trigger = censor.compile_trigger(patterns)
    assert trigger.pattern == censor.trigger_expression(patterns)
    rules = censor.rules_for("\n".join(patterns), "")
    assert rules.trigger.expression.pattern == trigger.pattern
    assert rules.judge("Fahrkarten? kontrolle in der U12")[0]


def test_the_840_large_patterns_are_refused_at_once():
    assert len(HOSTILE) <= user.MAX_LIST  # it passes the form's limit: the censor's bounds act
    with pytest.raises(censor.PatternError) as caught:
        timed("840 large patterns refused", lambda: censor.check_patterns(HOSTILE))
    assert caught.value.line is None
    assert "840 patterns, at most 200" in str(caught.value)


def test_as_many_large_patterns_as_allowed_are_refused_quickly_for_their_size():
    hostile = HOSTILE.splitlines()[:censor.MAX_PATTERNS]
    with pytest.raises(censor.PatternError) as caught:
        timed(f"{len(hostile)} large patterns refused",
              lambda: censor.check_patterns("\n".join(hostile)))
    assert caught.value.line is None and "too large" in str(caught.value)


def test_patterns_too_large_together_are_refused_with_a_clear_message():
    each = "\\pL{30}"  # fine alone, too large twice: they share no prefix to be factored
    assert censor.check_patterns("a" + each) == ["a" + each]
    with pytest.raises(censor.PatternError) as caught:
        censor.check_patterns(f"a{each}\nb{each}")
    assert caught.value.line is None
    assert "too large" in str(caught.value) and f"at most {censor.MAX_PROGRAM_SIZE}" in str(caught.value)


def test_overlong_pattern_is_refused_with_its_line_number():
    longest = "a" * censor.MAX_PATTERN_LENGTH
    assert censor.check_patterns(f"bus\n{longest}") == ["bus", longest]
    with pytest.raises(censor.PatternError) as caught:
        censor.check_patterns(f"bus\n{longest}a")
    assert caught.value.line == 2 and "at most 200" in str(caught.value)


def test_one_pattern_too_many_is_refused():
    patterns = [f"w{i}" for i in range(censor.MAX_PATTERNS)]
    assert censor.check_patterns("\n".join(patterns)) == patterns
    with pytest.raises(censor.PatternError):
        censor.check_patterns("\n".join(patterns + ["one more"]))


def test_list_at_the_bounds_still_works():
    # MAX_PATTERNS patterns filling MAX_PATTERNS_TEXT, the last near MAX_PROGRAM_SIZE alone.
    width = censor.MAX_PATTERNS_TEXT // censor.MAX_PATTERNS - 1
    patterns = [f"station{i:03d}" + "x" * (width - 10) for i in range(censor.MAX_PATTERNS - 1)]
    patterns.append("\\pL{32}ziel")
    text = "\n".join(patterns)
    assert len(text) <= censor.MAX_PATTERNS_TEXT
    assert timed("largest accepted list checked", lambda: censor.check_patterns(text)) == patterns
    censor.trigger_for.cache_clear()
    rules = timed("largest accepted list compiled by the censor",
                  lambda: censor.rules_for(text, "bastard"))
    size = rules.trigger.expression.programsize
    print(f"its program: {size} instructions (bound {censor.MAX_PROGRAM_SIZE})")
    assert rules.unusable is None and size > censor.MAX_PROGRAM_SIZE * 0.8
    report = "Kontrolle: station198" + "x" * (width - 10) + " Richtung Hbf"
    assert rules.judge(report)[0]
    assert not rules.judge("station19 allein")[0]
    began = time.perf_counter()
    rules.judge("wort " * 400)
    print(f"judging a 2 000-character report with it: {(time.perf_counter() - began) * 1000:.2f} ms")


def test_largest_list_of_large_patterns_that_is_accepted_compiles_quickly():
    # 200 lines that each compile large, sharing a prefix RE2 factors out: the dearest list to
    # check line by line that is still accepted.
    patterns = [f"\\pL{{38}}{i:03d}" for i in range(censor.MAX_PATTERNS)]
    text = "\n".join(patterns)
    assert timed("200 large factored patterns checked", lambda: censor.check_patterns(text))
    censor.trigger_for.cache_clear()
    rules = timed("and compiled by the censor", lambda: censor.rules_for(text, ""))
    print(f"its program: {rules.trigger.expression.programsize} instructions")
    assert rules.judge("a" * 38 + "199")[0]


def test_long_blocklist_costs_little_per_report():
    blocklist = "\n".join(f"w{i} x{i}" for i in range(1500))  # 1 500 phrases, ~14 000 characters
    rules = censor.rules_for("kontrolle", blocklist)
    began = time.perf_counter()
    assert rules.judge("Kontrolle " + "wort " * 400)[0]
    assert not rules.judge("Kontrolle " + "wort " * 400 + "w1499 x1499")[0]
    print(f"\ntwo reports against 1 500 blocked phrases: {(time.perf_counter() - began) * 1000:.2f} ms")


# --- stored lists the censor cannot use ---------------------------------------------------------

def test_stored_pattern_that_would_quote_the_rest_is_left_out_and_the_others_still_work():
    rules = censor.rules_for("\\Qfoo\nkontroll?e", "")
    assert rules.unusable is None and rules.judge("Kontrolle U1")[0]
    assert rules.trigger.skipped and "line 1" in rules.trigger.skipped[0]


@pytest.mark.parametrize("stored", [
    "a\\pL{30}\nb\\pL{30}",                          # too large together
    "\n".join(f"p{i}" for i in range(201)),          # too many
    "(unclosed\n\\Qfoo",                             # no usable line at all
    "x" * 150 + "\n" + "\n".join("y" * 150 for _ in range(70)),  # too long in all
], ids=["too-large", "too-many", "none-valid", "too-long"])
def test_unusable_stored_list_is_a_reason_not_an_error(stored):
    rules = censor.rules_for(stored, "")
    assert rules.unusable.startswith("the trigger patterns cannot be used: ")
    assert censor.rules_for(stored, "").trigger is rules.trigger  # the failure is cached too


def _city(session, name):
    return user.create_city(session, name, f"orga@{name}.example", "a good password")


def _report(session, city, text, message_id):
    report = db.Report(city_id=city.id, network="testnet", account="a",
                       network_message_id=message_id, text=text)
    session.add(report)
    session.flush()
    return report.id


def test_city_whose_stored_patterns_cannot_be_used_has_its_reports_set_aside_and_another_flows(
        database_url, core_for, caplog):
    settings, plugins, sessions = core_for(database_url)
    with sessions.begin() as session:
        berlin, hamburg = _city(session, "berlin"), _city(session, "hamburg")
        # As an upgraded database or a hand edit may hold it: never checked by check_patterns.
        session.execute(update(db.TriggerPatterns).where(
            db.TriggerPatterns.user_id == berlin.user_id).values(patterns="a\\pL{30}\nb\\pL{30}"))
        stuck = _report(session, berlin, "Kontrolle U1 Alexanderplatz", "1")
        flowing = _report(session, hamburg, "Kontrolle S1 Altona", "1")
    judge = censor.Censor(settings, sessions, plugins)
    assert judge.judge(stuck) == []
    assert [(n[1], n[2]) for n in judge.judge(flowing)] == [("testnet", "b")]
    with sessions() as session:
        report = session.get(db.Report, stuck)
        assert report.verdict == db.SET_ASIDE
        assert report.verdict_reason.startswith("the trigger patterns cannot be used: the "
                                                "patterns together are too large")
        assert session.get(db.Report, flowing).verdict == db.ACCEPTED
        assert session.scalar(select(db.Delivery.report_id)) == flowing
        shown = user.city_settings(session, berlin.user_id)
        assert shown["set_aside"] == [(report.verdict_reason, 1)]
        assert shown["pattern_problems"] == [report.verdict_reason]
        assert user.city_settings(session, hamburg.user_id)["set_aside"] == []
    assert "cannot be used" in caplog.text and "Alexanderplatz" not in caplog.text


# --- reports that cannot be judged ----------------------------------------------------------------

class Crash(BaseException):
    """Stands for the censor process dying in the middle of a report (a hard crash, the
    watchdog's kill): nothing in the censor catches it."""


@pytest.fixture
def two_reports(database_url, core_for):
    """(settings, plugins, sessions, poison, good): two undecided reports of one city."""
    settings, plugins, sessions = core_for(database_url)
    with sessions.begin() as session:
        city = _city(session, "berlin")
        poison = _report(session, city, "Kontrolle U1 poison Alexanderplatz", "1")
        good = _report(session, city, "Kontrolle U2 Jannowitzbrücke", "2")
    return settings, plugins, sessions, poison, good


def _attempts(sessions):
    with sessions() as session:
        return {row.key: row.count for row in session.scalars(select(db.WorkAttempt))}


def _verdict(sessions, report_id):
    with sessions() as session:
        report = session.get(db.Report, report_id)
        return report.verdict, report.verdict_reason


def test_report_whose_judging_raises_is_set_aside_after_its_attempts_and_the_next_is_decided(
        two_reports, monkeypatch, caplog):
    settings, plugins, sessions, poison, good = two_reports
    judge_text = censor.Rules.judge

    def failing(rules, text):
        if "poison" in text:
            raise RuntimeError(f"cannot judge {text!r}")  # a message quoting the report
        return judge_text(rules, text)

    monkeypatch.setattr(censor.Rules, "judge", failing)
    monkeypatch.setattr(censor, "RETRY_AFTER", 0.0)
    judge = censor.Censor(settings, sessions, plugins)
    assert judge.judge(poison) == []
    assert _verdict(sessions, poison) == (None, None)  # not yet: it is tried again
    assert _attempts(sessions) == {f"judge:{poison}": 1}
    assert len(judge.judge(good)) == 1  # the report behind it is decided meanwhile
    for _ in range(db.SET_ASIDE_AFTER - 1):
        assert judge.due_retries() == [poison]
        assert judge.judge(poison, suspect=True) == []
    assert judge.due_retries() == []
    verdict, reason = _verdict(sessions, poison)
    assert verdict == db.SET_ASIDE
    assert reason.startswith(f"set aside after {db.SET_ASIDE_AFTER} failed attempts: "
                             "RuntimeError in failing (test_censor_rules.py:")
    assert _verdict(sessions, good)[0] == db.ACCEPTED
    assert _attempts(sessions) == {}
    assert "RuntimeError" in caplog.text and "Alexanderplatz" not in caplog.text


def test_report_that_stops_the_censor_is_set_aside_after_its_attempts(two_reports, monkeypatch):
    settings, plugins, sessions, poison, good = two_reports
    decide, tried = censor.Censor.decide, []

    def crashing(self, report_id):
        if report_id == poison:
            tried.append(report_id)
            raise Crash()
        return decide(self, report_id)

    monkeypatch.setattr(censor.Censor, "decide", crashing)

    def start_censor():
        """What censor_process does first after a start: each undecided report is a suspect."""
        judge = censor.Censor(settings, sessions, plugins)
        return [judge.judge(report_id, suspect=True) for report_id in judge.undecided()]

    for start in range(1, db.SET_ASIDE_AFTER + 1):
        with pytest.raises(Crash):
            start_censor()
        assert _attempts(sessions) == {f"judge:{poison}": start}  # counted before it began
    news = start_censor()
    assert len(tried) == db.SET_ASIDE_AFTER  # not tried again: set aside
    assert news == [[], [(news[1][0][0], "testnet", "b", news[1][0][3])]]
    assert _verdict(sessions, poison) == (db.SET_ASIDE, f"set aside after {db.SET_ASIDE_AFTER} "
                                                        "failed attempts: the censor stopped "
                                                        "while judging it")
    assert _verdict(sessions, good)[0] == db.ACCEPTED
    assert _attempts(sessions) == {}


def test_report_in_the_inbox_again_while_it_waits_for_its_retry_is_not_judged_early(
        two_reports, monkeypatch):
    settings, plugins, sessions, poison, _good = two_reports
    monkeypatch.setattr(censor.Rules, "judge", lambda rules, text: 1 / 0)
    judge = censor.Censor(settings, sessions, plugins)
    judge.judge(poison)
    judge.judge(poison)  # e.g. a bot queued it again after its restart
    assert _attempts(sessions) == {f"judge:{poison}": 1}


# --- the organisers' page -----------------------------------------------------------------------

@pytest.fixture
def organiser(core_for, sqlite_url):
    """A logged-in organiser of berlin in the web UI, with the censor's sessions."""
    settings, plugins, sessions = core_for(sqlite_url)
    with sessions.begin() as session:
        city = _city(session, "berlin")
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins),
                          extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    app.post("/login", {"email": "orga@berlin.example", "password": "a good password",
                        "csrf": _csrf(app.get("/login"))}, status=303)
    app.city, app.sessions, app.censor = city, sessions, censor.Censor(settings, sessions, plugins)
    return app


def _csrf(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_settings_page_refuses_a_hostile_list_at_once_and_keeps_the_old_one(organiser):
    token = _csrf(organiser.get("/settings"))
    page = timed("840 large patterns refused through the web form", lambda: organiser.post(
        "/settings/patterns", {"patterns": HOSTILE, "csrf": token}, status=400))
    assert "840 patterns, at most 200" in page.text
    page = organiser.post("/settings/patterns", {"patterns": "bus\n\\Qfoo", "csrf": token},
                          status=400)
    assert "line 2" in page.text and "\\Q quotes everything" in page.text
    with organiser.sessions() as session:
        assert session.scalar(select(db.TriggerPatterns.patterns)).startswith("kontroll?e\n")


def test_settings_page_shows_what_the_censor_could_not_use_and_set_aside(organiser):
    with organiser.sessions.begin() as session:
        session.execute(update(db.TriggerPatterns).values(patterns="a\\pL{30}\nb\\pL{30}"))
        report = _report(session, organiser.city, "Kontrolle U1", "1")
    organiser.censor.judge(report)
    page = organiser.get("/settings")
    assert "The censor cannot use all of your saved list" in page.text
    assert "1 report of the last 24 hours was set aside, not relayed: the trigger patterns " \
           "cannot be used: the patterns together are too large" in page.text


def test_stored_pattern_that_does_not_compile_is_shown_and_the_rest_still_relay(organiser):
    """Version 2 stored patterns unchecked: "(zivil" (meant as the word) is left out alone."""
    with organiser.sessions.begin() as session:
        session.execute(update(db.TriggerPatterns).values(patterns="kontroll?e\n(zivil\nbahn"))
        relayed = _report(session, organiser.city, "Zivilstreife in der Straßenbahn", "1")
        refused = _report(session, organiser.city, "zwei in Zivil am Markt", "2")
    organiser.censor.judge(relayed)
    organiser.censor.judge(refused)
    assert _verdict(organiser.sessions, relayed)[0] == db.ACCEPTED
    assert _verdict(organiser.sessions, refused)[0] == db.REJECTED
    page = organiser.get("/settings")
    assert "not used: line 2: &#039;(zivil&#039; is not a valid pattern: missing )" in page.text
    assert "put a \\ before it" in page.text
    # The list can be saved with another change while the old line stays as it is …
    token = _csrf(page)
    saved = organiser.post("/settings/patterns", {"patterns": "kontroll?e\n(zivil\nbahn\ntram",
                                                  "csrf": token})
    assert "saved and in use" in saved.text and "not used: line 2" in saved.text
    # … but a new bad line is refused with its reason, and nothing changes.
    refused_page = organiser.post("/settings/patterns", {
        "patterns": "kontroll?e\n(zivil\n[u", "csrf": token}, status=400)
    assert "line 3" in refused_page.text and "missing ]" in refused_page.text
    with organiser.sessions() as session:
        assert session.scalar(select(db.TriggerPatterns.patterns)) == "kontroll?e\n(zivil\nbahn\ntram"


# --- with real processes ------------------------------------------------------------------------

def test_city_whose_stored_patterns_cannot_be_used_does_not_hold_up_another(make_instance):
    instance = make_instance()
    ids = {city: instance.create_city(city) for city in ("berlin", "hamburg")}
    instance.sql("UPDATE triggerpatterns SET patterns = :p WHERE user_id = "
                 "(SELECT user_id FROM cities WHERE city = 'berlin')",
                 p="\\Qfoo\n" + "\n".join(f"{chr(97 + i % 26)}\\pL{{30}}" for i in range(300)))
    instance.start()
    wanted = {f"{c}/testnet:{a}" for c in ids for a in "ab"}
    wait_for(lambda: instance.running_names() >= wanted, 30, what="every bot to run")
    censor_pid = instance.pid("censor")
    instance.send(ids["berlin"], "a", "Kontrolle U1 Alexanderplatz")
    instance.send(ids["hamburg"], "a", "Kontrolle S1 Altona")
    wait_for(lambda: instance.posted(ids["hamburg"], "b"), 20, what="hamburg's report")
    verdict, reason = wait_for(lambda: next(iter(instance.sql(
        "SELECT verdict, verdict_reason FROM reports WHERE city_id = :c AND verdict IS NOT NULL",
        c=ids["berlin"])), None), 20, what="berlin's report to be set aside")
    assert verdict == db.SET_ASIDE
    assert reason == "the trigger patterns cannot be used: the list has 301 patterns, at most 200 " \
                     "are allowed"
    assert instance.posted(ids["berlin"]) == []
    assert instance.pid("censor") == censor_pid  # one process all along: no crash loop
    censor_lines = [line for line in instance.log().splitlines() if "[censor]" in line]
    assert any("cannot be used" in line for line in censor_lines)
    assert not any("Alexanderplatz" in line for line in censor_lines)
