"""A labelled table of reports as riders write them (Telegram, Mastodon, mail), and how well
stations.py finds the station, the line and the direction in them, on the test feed
(tests/gtfs_feed.py).

The labels were written by hand from the feed and these rules, not copied from the recognizer:
- station: where the inspectors are (the merged station's name as in the feed: a stop with a
  parent station takes the parent's stop_name), or None.
- line: the line written, if the feed has it. A written line that does not serve the station:
  the station is trusted, and the line becomes the one line of the same route_type serving it if
  there is exactly one, else None. No line written: filled in only when the station is served by
  exactly one line that is not a bus (buses count only when the text says Bus/Linie and a bus
  number), or when a direction is written and exactly one line serves both the station and the
  direction's station; else None. Inspectors who left ("ausgestiegen", "sind raus", "got off"):
  the station is kept, line and direction are None.
- direction: the terminus the train runs to. A written terminus is itself; a station further
  along gives the terminus of that line's trips passing the reported station and then it (the
  named station itself when it ends such a trip: the short U8 trip ends at Hermannplatz). With no
  reported station only a written terminus counts. On the S41 ring (every trip begins and ends
  at Ostkreuz) the direction is the named station itself. None if not written or not understood.

Run with -s (or -rA) to see the scores and the rows the recognizer gets wrong.
"""
from __future__ import annotations

import json
from collections import Counter

import pytest

import gtfs
import gtfs_feed
from gtfs import FIELDS

# The stations as the recognizer names them (the feed's merged names).
WIT = "S+U Wittenau (Berlin)"
OSL = "U Osloer Str. (Berlin)"
ALX = "S+U Alexanderplatz Bhf (Berlin)"
JAN = "S+U Jannowitzbrücke (Berlin)"
HHS = "U Heinrich-Heine-Str. (Berlin)"
MOR = "U Moritzplatz (Berlin)"
KOT = "U Kottbusser Tor (Berlin)"
SCH = "U Schönleinstr. (Berlin)"
HPL = "U Hermannplatz (Berlin)"
BOD = "U Boddinstr. (Berlin)"
HST = "S+U Hermannstr. (Berlin)"
RSP = "U Rathaus Spandau (Berlin)"
MEH = "U Mehringdamm (Berlin)"
SUE = "U Südstern (Berlin)"
RNE = "U Rathaus Neukölln (Berlin)"
NEU = "S+U Neukölln (Berlin)"
RUD = "U Rudow (Berlin)"
OKR = "S Ostkreuz Bhf (Berlin)"
TPK = "S Treptower Park (Berlin)"
SNN = "S Sonnenallee (Berlin)"
HBF = "S+U Berlin Hauptbahnhof"
EBW = "U Eberswalder Str. (Berlin)"
WAS = "S+U Warschauer Str. (Berlin)"
ZOO = "S+U Zoologischer Garten Bhf (Berlin)"
BBT = "S+U Brandenburger Tor (Berlin)"

# Tags (the 5th element, space-separated): what a row tests.
#   alias       the station (or direction) named only by an alias (Kotti, Hermi, Zoo, Alex)
#   typo        misspelt, spaces missing, umlauts as ae/oe/ue or dropped, ß as ss
#   abbrev      str, str., pl, bhf, hbf, Ri.
#   terminus    direction written as the terminus
#   via         direction written as a station further along the line
#   short       direction Hermannplatz: the end of the short U8 trip
#   ring        S41, whose trips begin and end at Ostkreuz
#   pick        no line written; the direction picks the one line serving both stations
#   ambiguous   a station several lines serve, no line written, no direction: line None
#   oneline     no line written, the station served by one line (not a bus)
#   bus         the bus 100, or a station only it serves
#   wrongline   a line written that does not serve the station
#   left        the inspectors got off
#   nostation   no station in the text
#   english     written in English
#   count       counts or descriptions (2x, zwei blauwesten, in Zivil, am Bahnsteig, im Zug)
#   emoji       emojis in the text
#   unknown     a direction the feed does not have
LABELLED = [
    # --- the brief's examples
    ("2x Hellblau U8 Hermannplatz Richtung Wittenau am Bahnsteig", HPL, "U8", WIT,
     "terminus count"),
    ("kontis s41 ostkreuz", OKR, "S41", None, "ring"),
    ("Heinrich Heine str zwei blauwesten", HHS, "U8", None, "oneline abbrev count"),
    ("Kontrolle Hermannplatz", HPL, None, None, "ambiguous"),
    # --- U8
    ("U 8 Kotti Ri. Hermannstr", KOT, "U8", HST, "alias terminus abbrev"),
    ("Kotti U-8 2 Kontis am Bahnsteig", KOT, "U8", None, "alias count"),
    ("heinrichheinestr 3 kontis in zivil", HHS, "U8", None, "typo oneline count"),
    ("U-8 Heinrich-Heine-Straße Richtung Wittenau", HHS, "U8", WIT, "terminus"),
    ("Schonleinstr 2x blau", SCH, "U8", None, "typo abbrev oneline count"),
    ("U8 Schoenleinstrasse richtung alex", SCH, "U8", WIT, "typo via alias"),
    ("die zwei blauwesten sind Schönleinstraße ausgestiegen", SCH, None, None, "left count"),
    ("Kotbusser Tor 2x blau", KOT, "U8", None, "typo oneline count"),
    ("kotti richtung hermi", KOT, "U8", HPL, "alias short oneline"),
    ("U8 Kotti -> Boddinstr", KOT, "U8", HST, "alias via abbrev"),
    ("U8 Moritzplatz Richtung Hermannplatz", MOR, "U8", HPL, "short"),
    ("moritzpl. U8 kontrolle", MOR, "U8", None, "abbrev"),
    ("U8 Moritzplatz Richtung Gesundbrunnen", MOR, "U8", None, "unknown"),
    ("Jannowitzbruecke Kontrolle", JAN, "U8", None, "typo oneline"),
    ("jannowitzbrücke u8 richtung hermannstr", JAN, "U8", HST, "terminus abbrev"),
    ("Osloer Str kontrolle richtung wittenau", OSL, "U8", WIT, "oneline terminus abbrev"),
    ("U8 Wittenau 2 kontis", WIT, "U8", None, "count"),
    ("Alex U8 Kontrolle", ALX, "U8", None, "alias"),
    ("Alex 4 Kontis", ALX, "U8", None, "alias oneline bus count"),
    ("U8 Alexanderplatz nach Kottbusser Tor", ALX, "U8", HST, "via"),
    ("Alexanderplatz Bhf U 8 Ri Hermannstr", ALX, "U8", HST, "terminus abbrev"),
    ("Boddinstraße nach Hermannstraße", BOD, "U8", HST, "oneline terminus"),
    ("Boddinstr 2 kontis seit 10 min", BOD, "U8", None, "oneline abbrev count"),
    ("Hermannpl U8 kontis", HPL, "U8", None, "abbrev"),
    ("🚨 U8 Hermi 👮👮 Ri. Wittenau", HPL, "U8", WIT, "alias terminus emoji abbrev"),
    ("hermannplatz u8 richtung hermannstraße", HPL, "U8", HST, "terminus"),
    ("S+U Hermannstr. U8 Richtung Kotti", HST, "U8", WIT, "via alias"),
    ("Hermannstr Richtung Hermannplatz", HST, "U8", WIT, "pick via abbrev"),
    ("Hermannplatz nach Kotti", HPL, "U8", WIT, "pick via alias"),
    ("2 ticket inspectors at Kotti U8 towards Hermannstrasse", KOT, "U8", HST,
     "alias terminus english typo count"),
    # --- U7
    ("hermannplatz u7 richtung rudow", HPL, "U7", RUD, "terminus"),
    ("Kontrolle U7 Hermannplatz -> Mehringdamm", HPL, "U7", RSP, "via"),
    ("Hermannplatz Richtung Neukölln", HPL, "U7", RUD, "pick via"),
    ("Hermi Richtung Rathaus Spandau", HPL, "U7", RSP, "pick terminus alias"),
    ("Suedstern Kontrolle im Zug", SUE, "U7", None, "typo oneline count"),
    ("U7 Südstern nach Neukölln", SUE, "U7", RUD, "via"),
    ("mehringdamm u7 -> rathaus spandau", MEH, "U7", RSP, "terminus"),
    ("Controllers on the U7 at Mehringdamm direction Rudow", MEH, "U7", RUD,
     "terminus english"),
    ("Kontis Rathaus Neukoelln", RNE, "U7", None, "typo oneline"),
    ("kontis am rathausneukölln", RNE, "U7", None, "typo oneline"),
    ("Rudow kontrolle am ausgang", RUD, "U7", None, "oneline"),
    ("rathaus spandau 2 kontrolleure u7", RSP, "U7", None, "count"),
    ("Neukölln 2 Kontrolleure", NEU, None, None, "ambiguous count"),
    ("neukölln richtung rudow 2x hellblau", NEU, "U7", RUD, "pick terminus count"),
    # --- S41, the ring
    ("Neukölln Richtung Hermannstr", NEU, "S41", HST, "pick ring abbrev"),
    ("S41 Neukölln Ri. Treptower Park", NEU, "S41", TPK, "ring abbrev"),
    ("s 41 treptower park richtung neukölln", TPK, "S41", NEU, "ring"),
    ("Kontrolle Treptower Park", TPK, "S41", None, "ring oneline"),
    ("hermannstrasse s41 → ostkreuz", HST, "S41", OKR, "ring typo"),
    ("Hermannstr kontrolle", HST, None, None, "ambiguous abbrev"),
    ("Sonnenallee s41 richtung ostkreuz", SNN, "S41", OKR, "ring"),
    ("👀 Ringbahn Sonnenallee 2 Kontis", SNN, "S41", None, "ring oneline emoji count"),
    ("Ostkreuz bhf s41 blauwesten", OKR, "S41", None, "ring abbrev count"),
    # --- M10, the tram
    ("Tram M10 Eberswalder Richtung Warschauer", EBW, "M10", WAS, "terminus"),
    ("M10 eberswalder str nach hbf", EBW, "M10", HBF, "terminus abbrev"),
    ("Warschauer Strasse Kontrolle an der Tram", WAS, "M10", None, "typo oneline"),
    ("ticket control at Warschauer Str tram M10 towards Hauptbahnhof", WAS, "M10", HBF,
     "terminus english abbrev"),
    ("Hauptbahnhof M10 3 Kontis", HBF, "M10", None, "count"),
    ("hbf kontrolle", HBF, "M10", None, "abbrev oneline"),
    # --- bus 100 and the stations only it serves
    ("Zoo Kontrolle am Ausgang", ZOO, None, None, "alias bus"),
    ("Bhf Zoo Bus 100 kontrolle", ZOO, "100", None, "alias bus abbrev"),
    ("Linie 100 Brandenburger Tor nach Zoo", BBT, "100", ZOO, "bus terminus alias"),
    ("Bus 100 am Alex Richtung Zoologischer Garten", ALX, "100", ZOO, "bus alias terminus"),
    ("brandenburger tor 2 kontis", BBT, None, None, "bus count"),
    # --- a line written that does not serve the station: the station is trusted
    ("U7 Kotti kontrolle", KOT, "U8", None, "wrongline alias"),
    ("U8 Rudow 2 Kontis", RUD, "U7", None, "wrongline count"),
    ("U7 Hermannstraße", HST, "U8", None, "wrongline"),
    ("u8 neukölln 3 kontis", NEU, "U7", None, "wrongline count"),
    ("S41 Kotti Kontrolle", KOT, None, None, "wrongline alias"),
    ("M10 Hermannplatz", HPL, None, None, "wrongline"),
    ("U8 Zoo", ZOO, None, None, "wrongline alias bus"),
    ("S41 Warschauer kontis", WAS, None, None, "wrongline"),
    ("U7 Alex Richtung Wittenau", ALX, "U8", WIT, "wrongline alias terminus"),
    # --- the inspectors left
    ("Kontis Hermannplatz ausgestiegen", HPL, None, None, "left"),
    ("U8 Kontrolleure sind am Kotti raus", KOT, None, None, "left alias"),
    ("ausgestiegen bei Boddinstr", BOD, None, None, "left abbrev"),
    ("inspectors got off at Alexanderplatz", ALX, None, None, "left english"),
    ("U7 Richtung Rudow: Kontis am Südstern ausgestiegen", SUE, None, None, "left terminus"),
    ("Mehringdamm 2 Kontis sind raus", MEH, None, None, "left count"),
    # --- no station
    ("U8 Richtung Wittenau Kontrolle im Zug", None, "U8", WIT, "nostation terminus count"),
    ("U7 Richtung Neukölln kontis", None, "U7", None, "nostation via"),
    ("Tram M10 -> Warschauer", None, "M10", WAS, "nostation terminus"),
    ("Linie 100 Richtung Zoo", None, "100", ZOO, "nostation bus alias terminus"),
    ("Bus 100 Kontrolle, 2 Leute in Zivil", None, "100", None, "nostation bus count"),
    ("2x hellblau in der u8", None, "U8", None, "nostation count"),
    ("Kontis Richtung Wittenau", None, None, WIT, "nostation terminus"),
    ("Kontrolle!! passt auf 🚨", None, None, None, "nostation emoji"),
    ("Kontis überall heute, Vorsicht", None, None, None, "nostation"),
    ("3 Kontis in Zivil in der Tram", None, None, None, "nostation count"),
]



@pytest.fixture
def berlin(core_for, sqlite_url, tmp_path):
    """(annotator, sqlite_url): the test feed imported for a city berlin, and its annotator.
    (core_for is function-scoped; the one test that runs the table builds it once.)"""
    import stations
    import user
    _settings, _plugins, sessions = core_for(sqlite_url)
    feed = gtfs_feed.write_feed(tmp_path / "feed.zip")
    with sessions.begin() as session:
        city = user.create_city(session, "berlin", "orga@berlin.example", "a good password")
        stations.import_feed(session, city.id, feed, gtfs_feed.ALIASES)
    with sessions.begin() as session:
        annotator = stations.Annotator.load(session, city.id)
    return annotator, sqlite_url


def _answer(annotator, text: str) -> dict:
    got = annotator.annotate(text)
    return {field: got.get(field) for field in FIELDS}


def test_labelled_table_is_large_and_covers_every_case():
    assert len(LABELLED) >= 70
    texts = [row[0] for row in LABELLED]
    assert len(set(texts)) == len(texts), "a text twice"
    assert all("\n" not in text for text in texts)  # the command reads one text a line
    tags = Counter(tag for row in LABELLED for tag in row[4].split())
    known = {"alias", "typo", "abbrev", "terminus", "via", "short", "ring", "pick", "ambiguous",
             "oneline", "bus", "wrongline", "left", "nostation", "english", "count", "emoji",
             "unknown"}
    assert set(tags) <= known, set(tags) - known
    for tag, least in {"alias": 10, "typo": 8, "abbrev": 10, "terminus": 15, "via": 8,
                       "short": 2, "ring": 8, "pick": 5, "ambiguous": 3, "oneline": 10,
                       "bus": 6, "wrongline": 8, "left": 5, "nostation": 8, "english": 4,
                       "count": 12, "emoji": 3, "unknown": 1}.items():
        assert tags[tag] >= least, (tag, tags[tag])
    gtfs.check_table(LABELLED, gtfs_feed, at_least=70)
    # every alias, every kind of line and every way of writing a line and a direction occurs
    lowered = " ".join(texts).lower()
    for word in ("kotti", "hermi", "zoo", "alex ", "u 8", "u8", "u-8", "s41", "s 41",
                 "tram m10", "bus 100", "linie 100", "richtung", "ri.", " nach ", "->", "→",
                 "towards", "direction", "ausgestiegen", "sind raus", "got off", "str.",
                 "pl.", "bhf", "hbf", "ss", "oe", "ue"):
        assert word in lowered, word
    print(f"{len(LABELLED)} labelled rows; tags: {dict(sorted(tags.items()))}")


def test_recognition_scores_on_the_labelled_table(berlin):
    annotator, _url = berlin
    share, report = gtfs.score("labelled table (Berlin style)", LABELLED,
                               [annotator.annotate(row[0]) for row in LABELLED])
    print(report)
    assert share >= 0.95, report


def test_annotate_command_gives_the_same_answers_as_the_module(berlin, make_instance):
    annotator, url = berlin
    instance = make_instance("instance", database_url=url)
    texts = [row[0] for row in LABELLED]
    result = instance.cli("stations", "annotate", "berlin", input="\n".join(texts) + "\n")
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(answers) == len(texts), result.stdout + result.stderr
    for text, answer in zip(texts, answers):
        assert set(FIELDS) <= set(answer), (text, answer)
        assert {field: answer[field] for field in FIELDS} == _answer(annotator, text), text
