"""The censor's rules (DESIGN.md "Censor rules") and its decisions in the database."""
import pytest

import censor
import db
import user

DEFAULT = "\n".join(censor.DEFAULT_TRIGGER_PATTERNS)


def judge(text, patterns=DEFAULT, blocklist="bastard"):
    return censor.rules_for(patterns, blocklist).judge(text)[0]


@pytest.mark.parametrize("report", ["Kontrolle in der U1", "S1 Richtung Flughafen",
                                    "2 Kontrolleure U1 Richtung Hbf", "KONTROLLE am Bahnhof",
                                    "Ｕ１ Kontrolle"])
def test_report_matching_a_default_trigger_is_accepted(report):
    assert judge(report)


def test_db_pattern_does_not_match_inside_a_word():
    assert not judge("danke für das feedback")


@pytest.mark.parametrize("report, pattern", [("Fahrkartenkontrolle am Hbf", "kontroll?e"),
                                             ("Ticketkontis im Nachtbus", "konti"),
                                             ("Straßenbahn Linie 4", "bahn")])
def test_a_pattern_matches_inside_a_compound_as_in_version_2(report, pattern):
    assert judge(report, patterns=pattern)


def test_a_pattern_with_word_boundaries_matches_whole_words_only():
    assert not judge("wau1 wau2", patterns=r"\bu\d\d?\b")
    assert judge("in der u12 richtung", patterns=r"\bu\d\d?\b")
    assert judge("danke für das feedback", patterns="db")  # version 2's list: as it did


@pytest.mark.parametrize("report", ["Bastard! Kontrolle U1", "BASTARD in der U1",
                                    "u1 b·a·s·t·a·r·d".replace("·", "") + "!"])
def test_report_with_blocked_word_is_not_relayed(report):
    assert not judge(report)


def test_blocklist_compares_words_not_substrings():
    assert judge("Kontrolle U1, bastardierte Sprache", blocklist="bastard")


def test_blocklist_entry_of_several_words_blocks_that_phrase():
    assert not judge("Kontrolle U1 du Idiot", blocklist="du idiot")
    assert judge("Kontrolle U1 idiot du", blocklist="du idiot")


def test_builtin_slurs_apply_even_with_an_empty_blocklist():
    assert not judge("Kontrolle U1 kanake", blocklist="")
    assert not judge("Kontrolle U1 KANAKE!", blocklist="somethingelse")


def test_builtin_slurs_cannot_be_removed_by_the_city():
    # Whatever a city writes in its blocklist only adds to the built-in list.
    rules = censor.rules_for(DEFAULT, "")
    assert "kanake" not in rules.blocklist.words
    assert not rules.judge("U1 Kanake")[0]


def test_report_without_trigger_is_rejected():
    assert not judge("schönes Wetter heute")


def test_invalid_pattern_is_refused_with_its_line_number():
    with pytest.raises(censor.PatternError) as caught:
        censor.check_patterns("kontrolle\n\nu\\d\n(a\nbus")
    assert caught.value.line == 4
    assert "line 4" in str(caught.value)


def test_backreference_is_refused_because_it_cannot_run_in_linear_time():
    with pytest.raises(censor.PatternError) as caught:
        censor.check_patterns(r"(a)\1")
    assert caught.value.line == 1


def test_catastrophic_pattern_runs_in_linear_time():
    # Python's re needs exponential time for this; RE2 answers at once.
    rules = censor.rules_for("(a+)+$", "")
    assert not rules.judge("a" * 50_000 + "!")[0]


def test_invalid_stored_pattern_is_skipped_and_the_others_still_work():
    assert judge("Kontrolle U1", patterns="(unclosed\nkontroll?e")


def _city(session, name):
    return user.create_city(session, name, f"orga@{name}.example", "a good password")


def test_decision_and_deliveries_are_stored_with_the_report(database_url, core_for):
    settings, plugins, sessions = core_for(database_url)
    with sessions.begin() as session:
        berlin = _city(session, "berlin")
        good = db.Report(city_id=berlin.id, network="testnet", account="a",
                         network_message_id="1", text="Kontrolle U1")
        bad = db.Report(city_id=berlin.id, network="testnet", account="a",
                        network_message_id="2", text="Bastard! U1")
        session.add_all([good, bad])
    judge_ = censor.Censor(settings, sessions, plugins)
    news = judge_.decide(good.id)
    assert [(n[1], n[2]) for n in news] == [("testnet", "b")]  # not back to account a
    assert judge_.decide(bad.id) == []
    assert judge_.decide(good.id) == []  # decided once only
    with sessions() as session:
        assert session.get(db.Report, good.id).verdict == db.ACCEPTED
        assert session.get(db.Report, bad.id).verdict == db.REJECTED
        assert session.get(db.Report, bad.id).verdict_reason == "contains a blocklisted word"
        assert session.query(db.Delivery).count() == 1


def test_old_reports_are_purged_with_their_deliveries(database_url, core_for):
    settings, plugins, sessions = core_for(database_url, TICKETFREI_REPORTS_RETENTION_DAYS="1")
    with sessions.begin() as session:
        city = _city(session, "hamburg")
        old = db.Report(city_id=city.id, network="testnet", account="a",
                        network_message_id="old", text="U1", received_at=1.0)
        new = db.Report(city_id=city.id, network="testnet", account="a",
                        network_message_id="new", text="U1")
        session.add_all([old, new])
        session.flush()
        session.add(db.Delivery(report_id=old.id, city_id=city.id, network="testnet",
                                account="b"))
    assert censor.Censor(settings, sessions, plugins).purge() == 1
    with sessions() as session:
        assert [r.network_message_id for r in session.query(db.Report)] == ["new"]
        assert session.query(db.Delivery).count() == 0
