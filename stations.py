"""Stations, lines and directions: a city's transit data (GTFS) and what a report's text says
about where the inspectors are.

Two halves:
- **Import** (`import_feed`): reads a GTFS zip member by member, row by row (stop_times.txt,
  the big one, is never held whole: a trip's stops are kept until the next trip begins), and
  stores per city its stations (stops merged by parent station, or by name within walking
  distance), its lines (routes of one short name) and the sequences of stations the lines'
  trips run (patterns), with how many trips run each and their headsign. Bounds on every
  table refuse a hostile or mistaken feed with a reason; `import_in_child` runs an import in a
  process of its own with limited memory and CPU (the web UI's way).
- **Recognition** (`Annotator`): deterministic rules over the text's words, folded the same way
  as the stations' names (case, ß/ss, umlauts, "str"/"pl"/"bhf"/"hbf"), with fuzzy matching by
  edit distance (rapidfuzz) for typos: the station, the line ("U 8", "s41", "Tram M10",
  "Bus 100"), the direction (after "Richtung", "nach", "->", "→"; a terminus or any station
  further along the line, mapped to the terminus) and "ausgestiegen" (the inspectors left).

Touches only the transit_* tables (db.py) and the files it is given; no network.
The censor calls the Annotator for each accepted report; the web UI and `ticketfrei stations`
call both halves.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import subprocess
import sys
import time
import unicodedata
import zipfile
from array import array
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import process as fuzzy_process
from rapidfuzz.distance import Indel, Levenshtein
from sqlalchemy import delete, insert, select

import db

log = logging.getLogger(__name__)

# GTFS route_type: 0 tram, 1 subway, 2 rail, 3 bus, ... (extended types 100-1700: their
# hundreds say the kind: 7xx bus, 9xx tram, 4xx urban rail, 1xx/3xx rail).
BUS = 3
_EXTENDED = {1: 2, 2: 2, 3: 2, 4: 1, 7: 3, 8: 3, 9: 0, 10: 0}

MERGE_DISTANCE_M = 1000   # stops of one name closer than this are one station
MAX_ALIASES = 500
MAX_ALIAS_LINE = 200
MAX_TEXT = 2000           # characters of a report the recognizer reads
# and of them, the words (folding can make many of one character: NFKC's "\ufdfa" is three)
# and the fuzzy look-ups: a place is named within the first words, and a hostile text must cost
# milliseconds, not seconds (the censor judges every city's reports one after the other).
MAX_WORDS = 150
MAX_FUZZY = 150
# What one feed may hold, so that a hostile or mistaken feed (a zip bomb, a country's feed)
# is refused with its reason instead of filling the frontend's memory or holding it for long.
# For scale: Berlin-Brandenburg's feed has ~42 000 stops, ~1 300 routes, ~270 000 trips and
# ~6 million stop_times (~280 MB uncompressed).
MAX_UNCOMPRESSED = 3 * 1024 ** 3   # bytes of stops, routes, trips and stop_times together
MAX_ROWS = {"stops.txt": 500_000, "routes.txt": 50_000, "trips.txt": 1_000_000}
MAX_HELD_STOP_TIMES = 10_000_000   # rows held at once when stop_times is not grouped by trip
MAX_NAME = 200                     # characters of a station's or line's name kept
MAX_STATIONS = 50_000              # stations after merging (the censor holds them per city)
PREFIX_PART = 60                   # characters of a name in a relayed report's prefix
MAX_TRIP_STOPS = 1_000             # stops of one trip
MAX_PATTERNS = 100_000             # distinct sequences of stations

# Words that never begin or end a place's name in a report (a fuzzy match of "kontrolle"
# with some "Kontrollweg" would put every report there).
STOPWORDS = frozenset("""
    a am an auf aus bei beim bis da das dem den der des die dir ein eine einem einen einer es
    fuer gerade gleich hier hin im in ist jetzt mit nach noch nur oder richtung sind steht
    stehen um und von vor vom zu zum zur zw zwischen
    the at on in to from towards direction near and or is are of off by with
    kontrolle kontrollen kontrolleur kontrolleure kontrolleurin kontis konti kontrolletti
    ticket tickets fahrkarte fahrkarten ticketkontrolle fahrkartenkontrolle
    zivil uniform blau blauwesten hellblau westen leute typen personen frauen maenner mann frau
    bahnsteig gleis zug bahn ubahn sbahn bus tram strassenbahn linie line eingang ausgang
    stiegen steigen ausgestiegen raus rein achtung vorsicht warnung heute morgen abend
    inspectors inspector control check checks people
    x zwei drei vier fuenf two three four five
    unter ueber hinter neben gegen ohne grosse kleine alte neue hohe lange
    kerle jungs zivis zivile zivilen uniformierte uniformierten kontrolleurinnen securities
    sicherheit sicherheitsleute bvg mvg vbb mvv hvv kvb
    schwarzkappler kontrollore kontrollor kontrollorin kontrollorinnen sheriffs
    """.split())
# Articles after which a bare number is a line ("in der 19 Richtung Pasing"), unless a word
# like "Kontis" follows ("die 2 Kontis").
_ARTICLES = frozenset({"der", "die", "den"})

# Words after which the next place is the direction of travel ("->", "→" become "richtung").
DIRECTION_WORDS = frozenset({"richtung", "ri", "rtg", "richt", "nach", "towards", "toward",
                             "direction", "dir", "to", "bound", "gen"})
# Filler between a direction word and its place: "Richtung S+U Wittenau", "nach dem Zoo".
_FILLER = frozenset({"s", "u", "bahnhof", "der", "dem", "den", "die", "zum", "zur", "the"})
# Inspectors who left: keep the station, no line or direction.
LEFT = re.compile(r"\b(aus ?gestiegen|ausgestiegn|ausgstieg(?:e)?n|aussteigen|raus|"
                  r"(?:stiegen|steigen|stieg|steigt)(?: \w+){0,4} aus|"  # "stiegen am Kotti aus"
                  r"sind weg|got off|get off|getting off|got out|left the train|exited)\b")
# Words naming a kind of vehicle: route_types they mean.
MODE_WORDS = {"bus": {3}, "busse": {3}, "metrobus": {3}, "tram": {0}, "strab": {0}, "bim": {0},
              "faehre": {4}, "ferry": {4}, "schiff": {4},
              "strassenbahn": {0}, "metrotram": {0}, "ubahn": {1}, "sbahn": {2}}
# Words before a line's name where a bare number is a line ("Bus 100", "Linie 4").
LINE_WORDS = frozenset({"bus", "tram", "linie", "line", "nr", "strab", "strassenbahn",
                        "metrobus", "metrotram", "nummer", "bim", "faehre", "ferry"})
# Words after a line's name where a number or a letter is a line ("D-Wagen", "71er Bim").
LINE_AFTER = frozenset({"wagen", "bim", "tram", "bus", "linie", "er"})
# Number words for a line ("Zweier Bim", "der Einser").
_NUMBER_WORDS = {"einser": "1", "zweier": "2", "dreier": "3", "vierer": "4", "fuenfer": "5",
                 "sechser": "6", "siebener": "7", "neuner": "9", "zehner": "10"}


class FeedError(ValueError):
    """The feed cannot be read; the message says why, for the organiser."""


# --- Folding text and names alike ---------------------------------------------------------

_ARROWS = re.compile(r"->|=>|→|⇒|➡|⟶|>>|➔|⮕")
_TOKEN = re.compile(r"[^\W_]+")
_BRACKETS = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
_RAIL = re.compile(r"\b([su])[\s-]?bahn\b")


def _expand(token: str) -> list[str]:
    """A word with its abbreviations written out ("str" -> "strasse", "ubhf" -> "u bahnhof")."""
    if token in ("str", "strs"):
        return ["strasse"]
    if token in ("pl", "plz"):
        return ["platz"]
    if token in ("bhf", "bf", "bhnf"):
        return ["bahnhof"]
    if token in ("hbf", "hbhf"):
        return ["hauptbahnhof"]
    if token in ("ubhf", "sbhf"):
        return [token[0], "bahnhof"]
    if len(token) > 4 and token.endswith("str"):
        return [token[:-3] + "strasse"]
    if len(token) > 6 and token.endswith("strase"):
        return [token[:-6] + "strasse"]
    if len(token) > 5 and token.endswith("pl"):
        return [token[:-2] + "platz"]
    if len(token) > 5 and token.endswith("hbf"):
        return [token[:-3], "hauptbahnhof"]
    if len(token) > 5 and token.endswith("bhf"):  # "Ostbhf", "Hauptbhf"
        return [token[:-3], "bahnhof"]
    if len(token) > 4 and token.endswith("bf"):   # "Ostbf"
        return [token[:-2], "bahnhof"]
    if token == "br" or (len(token) > 5 and token.endswith("br")):  # "Donnersbergerbr."
        return [token[:-2] + "bruecke"]
    return [token]


def fold(text: str) -> list[str]:
    """The words of a text or a name, folded: lower case, ß as ss, umlauts as ae/oe/ue, other
    accents dropped, abbreviations written out; arrows become "richtung"."""
    text = _ARROWS.sub(" richtung ", unicodedata.normalize("NFKC", text).casefold())
    text = _RAIL.sub(r"\1bahn", text)  # "S-Bahn", "U Bahn": one word, as "sbahn"
    text = unicodedata.normalize("NFKD", text.translate(_UMLAUTS))
    text = "".join(c for c in text if not unicodedata.combining(c))
    words = []
    for token in _TOKEN.findall(text):
        # "u8" stays a word; "2x" too. Letters glued to digits otherwise stay as written.
        words.extend(_expand(token))
    return words



def display_name(name: str) -> str:
    """A station's name for a relayed post: without the feed's mode marks and qualifiers
    ("S+U Alexanderplatz Bhf (Berlin)" -> "Alexanderplatz")."""
    short = _BRACKETS.sub(" ", name)
    short = re.sub(r"^\s*(?:S\+U|U\+S|S|U|S-Bhf\.?|U-Bhf\.?|S-Bahnhof|U-Bahnhof)\s+", "", short)
    short = re.sub(r"\s+(?:Bhf\.?|Bahnhof)\s*$", "", short)
    short = " ".join(short.split())
    return short or name


_SHORT = (("strasse", "str"), ("platz", "pl"), ("gasse", "g"))
_MODES = frozenset({"s", "u", "ubahn", "sbahn", "bus", "tram"})
# What is left of "Bahnhofstraße" or "Schulplatz" without its last word names no place.
_NOT_ALONE = frozenset({"bahnhof", "hauptbahnhof", "schule", "kirche", "schloss", "markt",
                        "rathaus", "friedhof", "hafen", "kirchen", "haupt"})


def _without_modes(words: list[str]) -> list[str]:
    """Words without mode marks at either end ("S+U Hermannstr.", "Stephansplatz U")."""
    while len(words) > 1 and words[0] in _MODES:
        words = words[1:]
    while len(words) > 1 and words[-1] in _MODES:
        words = words[:-1]
    return words


def _without_city(words: list[str], city_words: list[str]) -> list[list[str]]:
    """The words without the city's name in front, then also behind (each step a variant)."""
    n, found = len(city_words), []
    if n and len(words) > n and words[:n] == city_words:
        words = words[n:]
        found.append(words)
    if n and len(words) > n and words[-n:] == city_words:
        words = words[:-n]
        found.append(words)
    return found


def name_keys(name: str, city: str = "") -> set[str]:
    """The folded, space-free forms under which a station's name is recognised: as written,
    without its mode marks ("S+U", "U" at either end), qualifiers ("(Berlin)", "[U8]"), the
    city's name in front or behind, a trailing "Bhf", the part after "Town, ", and a trailing
    word "Straße" or "Platz" where enough is left ("Osloer", "Rosenthaler")."""
    bare = _BRACKETS.sub(" ", name)
    variants = [fold(name), fold(bare)]
    if "," in bare:
        variants += [fold(part) for part in bare.split(",")[1:]]
    city_words = fold(city) if city else []
    more = []
    for words in variants:
        words = _without_modes(words)
        more.append(words)
        without_city = _without_city(words, city_words)
        more += without_city
        words = without_city[-1] if without_city else words
        if len(words) > 1 and words[-1] == "bahnhof":
            more.append(words[:-1])
        rest = "".join(words[:-1])
        if (len(words) > 1 and words[-1] in ("strasse", "platz") and len(rest) >= 6
                and rest not in _NOT_ALONE):
            more.append(words[:-1])
    keys = {"".join(words) for words in variants + more}
    # As riders abbreviate: a typo in "Westendsr." is one edit from "westendstr", not from
    # "westendstrasse" (their text's "str" is written out before an exact lookup).
    keys |= {key[:-len(long)] + short for key in keys for long, short in _SHORT
             if key.endswith(long) and len(key) > len(long) + 3}
    return {key for key in keys if len(key) >= 3 and key not in STOPWORDS}


# Words that name no place alone, as the first or last word of a longer name.
_GENERIC = frozenset({"strasse", "platz", "allee", "weg", "damm", "ufer", "tor", "ring",
                      "bruecke", "bahnhof", "hauptbahnhof", "ost", "west", "nord", "sued",
                      "mitte", "zentrum", "center", "station", "haltestelle", "stadt", "alt",
                      "neu", "rathaus", "kirche", "schule", "markt", "park", "friedhof", "platz",
                      "chaussee", "landstrasse", "str", "am", "an", "der", "die", "das", "im"})


def partial_keys(name: str, city: str = "") -> set[str]:
    """Parts of a name riders write alone ("Sendlinger" for "Sendlinger Tor", "Garching" for
    "Garching, Forschungszentrum", "Tierpark" for "Thalkirchen (Tierpark)"): the first and the
    last word of a longer name, the town before a comma, a parenthesis' words. Weaker than a
    name: the Annotator uses one only where no station has it as a name, and not at all where
    more than PARTIAL_AT_MOST stations share it ("(Berlin)")."""
    city_words = set(fold(city)) if city else set()
    parts = [fold(inside) for inside in re.findall(r"\(([^)]*)\)", name)]
    bare = _BRACKETS.sub(" ", name)
    if "," in bare:
        parts.append(fold(bare.split(",", 1)[0]))
    words = [w for w in fold(bare.replace(",", " ")) if w not in _MODES]
    if len(words) > 1:
        parts += [[words[0]], [words[-1]]]
    if "/" in bare:  # "Oper/Karlsplatz", "Hauptbahnhof/ZOB"
        parts += [fold(part) for part in bare.split("/")]
    # Capitals are an abbreviation riders use as it is ("ZOB", "OEZ"), however short.
    acronyms = {word.casefold() for word in re.findall(r"\b[A-ZÄÖÜ]{3,}\b", bare)}
    keys = set()
    for part in parts:
        key = "".join(part)
        if ((len(key) >= 5 or (len(key) >= 4 and "/" in bare) or key in acronyms)
                and key not in _GENERIC and key not in STOPWORDS
                and key not in _NOT_ALONE and not set(part) & city_words):
            keys.add(key)
    return keys


PARTIAL_AT_MOST = 3


def _towns(names: list[str]) -> list[str]:
    """Words that begin a tenth or more of the stations' names (at least 5): the town a feed
    writes before its stops ("Frankfurt (Main) Hauptbahnhof", "Wien Mitte"), left out as the
    city's own name is, whatever the city is called on this instance."""
    first = Counter()
    for name in names:
        words = [w for w in fold(_BRACKETS.sub(" ", name)) if w not in _MODES]
        if len(words) > 1:
            first[words[0]] += 1
    return [word for word, count in first.items()
            if count >= max(5, len(names) // 10) and word not in STOPWORDS]


def line_key(name: str) -> str:
    return "".join(fold(name))


def kind_of(route_type: int) -> int:
    """GTFS's basic route_type for an extended one (700 -> 3, bus)."""
    if route_type >= 100:
        return _EXTENDED.get(route_type // 100, route_type)
    return route_type


# --- Import ------------------------------------------------------------------------------

def _rows(feed: zipfile.ZipFile, member: str, wanted: tuple[str, ...],
          required: tuple[str, ...]):
    """The member's rows as tuples of the wanted columns ("" where a column is missing), one
    at a time."""
    names = {info.filename.rsplit("/", 1)[-1]: info.filename for info in feed.infolist()}
    if member not in names:
        raise FeedError(f"the feed has no {member}")
    with feed.open(names[member]) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace",
                                             newline=""))
        header = [column.strip() for column in next(reader, [])]
        missing = [column for column in required if column not in header]
        if missing:
            raise FeedError(f"{member} has no column {', '.join(missing)}")
        index = [header.index(column) if column in header else None for column in wanted]
        width = len(header)
        limit = MAX_ROWS.get(member)
        for count, row in enumerate(reader):
            if limit is not None and count >= limit:
                raise FeedError(f"{member} has more than {limit} rows: more than a city's "
                                "transit data (import the feed of your city's transit "
                                "authority, not a region's or a country's)")
            if len(row) < width:
                row = row + [""] * (width - len(row))
            yield tuple(row[i].strip() if i is not None else "" for i in index)


def _clean_name(name: str) -> str:
    """A name from the feed as it may go into relayed posts and pages: no control or bidi
    characters (db.clean_text), one line, at most MAX_NAME characters."""
    return " ".join(db.clean_text(name).split())[:MAX_NAME]


def _sequence(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def _distance_m(a: tuple, b: tuple) -> float:
    if None in (a[0], a[1], b[0], b[1]):
        return 0.0
    dy = (a[0] - b[0]) * 111_320
    dx = (a[1] - b[1]) * 111_320 * math.cos(math.radians(a[0]))
    return math.hypot(dx, dy)


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def place_key(name: str, city: str = "") -> str:
    """What two stops' names must share to be one station when they stand close together:
    the name without qualifiers, mode marks at either end, the city's name at either end and a
    trailing "Bahnhof" ("S+U Hermannstr. (Berlin)" and "U Hermannstr.", "Wien Handelskai
    Bahnhof" and "Handelskai")."""
    words = _without_modes(fold(_BRACKETS.sub(" ", name)))
    without_city = _without_city(words, fold(city) if city else [])
    words = without_city[-1] if without_city else words
    if len(words) > 1 and words[-1] == "bahnhof":
        words = words[:-1]
    return "".join(words) or name


def _stations(feed: zipfile.ZipFile, city: str = "") -> tuple[dict[str, int], list[str]]:
    """stop_id -> station number, and the stations' names."""
    stops = {}
    for stop_id, name, parent, kind, lat, lon in _rows(
            feed, "stops.txt", ("stop_id", "stop_name", "parent_station", "location_type",
                                "stop_lat", "stop_lon"), ("stop_id",)):
        stops[stop_id] = (_clean_name(name), parent, kind, _float(lat), _float(lon))

    roots: dict[str, str] = {}

    def root(stop_id: str) -> str:
        """The top of a stop's parents (a cycle ends where it closes); each chain is walked
        once: every stop on it learns its root."""
        chain, seen = [], set()
        while stop_id not in roots and stops[stop_id][1] in stops and stop_id not in seen:
            seen.add(stop_id)
            chain.append(stop_id)
            stop_id = stops[stop_id][1]
        top = roots.get(stop_id, stop_id)
        for stop in chain + [stop_id]:
            roots[stop] = top
        return top

    for stop_id in stops:
        root(stop_id)
    # Stations of one name within walking distance are one (a bus stop named as the station
    # it stands at, a feed without parent stations); looked for in the grid cells around a
    # stop (about 1 km each), so that a feed of many stops of one name costs no more.
    clusters: dict[tuple, list[list]] = defaultdict(list)  # (key, cell) -> [[coords, number]]

    def cell(lat, lon) -> tuple[int, int]:
        return (0, 0) if lat is None or lon is None else (int(lat // 0.01), int(lon // 0.015))

    station_of_root: dict[str, int] = {}
    names: list[str] = []
    # The name to show: a station proper's (location_type 1), else the plainest.
    def plain_first(r):
        name = stops[r][0]
        return (stops[r][2] != "1", "(" in name or "[" in name, len(name), name, r)

    for root_id in sorted(set(roots.values()), key=plain_first):
        name, _parent, _kind, lat, lon = stops[root_id]
        if not name:
            continue
        key = place_key(name, city)
        y, x = cell(lat, lon)
        near = [c for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                for c in clusters.get((key, y + dy, x + dx), ())]
        for coords, number in near:
            if _distance_m(coords, (lat, lon)) <= MERGE_DISTANCE_M:
                station_of_root[root_id] = number
                break
        else:
            if len(names) >= MAX_STATIONS:
                raise FeedError(f"the feed has more than {MAX_STATIONS} stations: more than a "
                                "city's transit data")
            station_of_root[root_id] = len(names)
            clusters[key, y, x].append([(lat, lon), len(names)])
            names.append(name)
    return ({stop_id: station_of_root[r] for stop_id, r in roots.items() if r in station_of_root},
            names)


def _lines(feed: zipfile.ZipFile) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """route_id -> line number, and the lines (name, route_type)."""
    numbers: dict[str, int] = {}
    kinds: list[Counter] = []
    line_names: list[str] = []
    by_route = {}
    for route_id, short, long_name, kind in _rows(
            feed, "routes.txt", ("route_id", "route_short_name", "route_long_name",
                                 "route_type"), ("route_id",)):
        name = _clean_name(short or long_name)
        if not name:
            continue
        key = line_key(name)
        if key not in numbers:
            numbers[key] = len(line_names)
            line_names.append(name)
            kinds.append(Counter())
        if kind.isascii() and kind.isdigit() and len(kind) <= 4:
            kinds[numbers[key]][kind_of(int(kind))] += 1
        by_route[route_id] = numbers[key]
    lines = [(name, kinds[n].most_common(1)[0][0] if kinds[n] else BUS)
             for n, name in enumerate(line_names)]
    return by_route, lines


class _Unsorted(Exception):
    """stop_times.txt does not list each trip's stops together."""


def _trip_stations(feed: zipfile.ZipFile, station_of: dict[str, int], known, grouped: bool):
    """(trip_id, station numbers in order) per trip in stop_times.txt. With `grouped`, a trip
    ends where the next begins (as feeds write it), so only one trip is held; a trip seen again
    raises _Unsorted. Otherwise every trip is held (as packed integers) until the end."""
    rows = _rows(feed, "stop_times.txt", ("trip_id", "stop_id", "stop_sequence"),
                 ("trip_id", "stop_id", "stop_sequence"))
    skipped = 0

    def too_long(trip_id: str):
        return FeedError(f"stop_times.txt: trip {trip_id[:40]!r} has more than "
                         f"{MAX_TRIP_STOPS} stops")

    def ordered(packed) -> list[int]:
        stations = [value & 0xFFFFFFFF for value in sorted(packed)]
        return [s for n, s in enumerate(stations) if n == 0 or s != stations[n - 1]]

    if grouped:
        done: set[str] = set()
        current, packed = None, array("q")
        for trip_id, stop_id, sequence in rows:
            if trip_id not in known:  # only trips of trips.txt are held or remembered
                skipped += 1
                continue
            if trip_id != current:
                if current is not None:
                    done.add(current)
                    yield current, ordered(packed)
                if trip_id in done:
                    raise _Unsorted(trip_id)
                current, packed = trip_id, array("q")
            station, order = station_of.get(stop_id), _sequence(sequence)
            if station is None or order is None:
                skipped += 1
                continue
            if len(packed) >= MAX_TRIP_STOPS:
                raise too_long(trip_id)
            packed.append((order << 32) | station)
        if current is not None:
            yield current, ordered(packed)
    else:
        trips: dict[str, array] = {}
        for held, (trip_id, stop_id, sequence) in enumerate(rows):
            if held >= MAX_HELD_STOP_TIMES:
                raise FeedError(f"stop_times.txt is not grouped by trip and has more than "
                                f"{MAX_HELD_STOP_TIMES} rows: sort it by trip_id")
            station, order = station_of.get(stop_id), _sequence(sequence)
            if station is None or order is None or trip_id not in known:
                skipped += 1
                continue
            packed = trips.setdefault(trip_id, array("q"))
            if len(packed) >= MAX_TRIP_STOPS:
                raise too_long(trip_id)
            packed.append((order << 32) | station)
        for trip_id in list(trips):
            yield trip_id, ordered(trips.pop(trip_id))
    if skipped:
        log.info("stop_times.txt: %d rows without a known stop or a sequence skipped", skipped)


@dataclass
class Feed:
    stations: list[str]
    lines: list[tuple[str, int]]
    patterns: list[tuple[int, tuple[int, ...], int, str]]  # line, stations, trips, headsign
    stops: int = 0
    trips: int = 0


def read_feed(path, city: str = "") -> Feed:
    """Everything Ticketfrei keeps of a GTFS zip, read with bounded memory (see module doc)."""
    try:
        feed = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise FeedError(f"not a zip file: {error}") from None
    with feed:
        needed = [info for info in feed.infolist() if info.filename.rsplit("/", 1)[-1]
                  in ("stops.txt", "routes.txt", "trips.txt", "stop_times.txt")]
        # zipfile decompresses a member no further than the size its entry gives
        if sum(info.file_size for info in needed) > MAX_UNCOMPRESSED:
            raise FeedError(f"the feed is larger than {MAX_UNCOMPRESSED >> 30} GB unpacked: "
                            "more than a city's transit data")
        try:
            station_of, names = _stations(feed, city)
            line_of_route, lines = _lines(feed)
            headsigns: dict[str, int] = {}
            trips = {}
            for route_id, trip_id, headsign in _rows(
                    feed, "trips.txt", ("route_id", "trip_id", "trip_headsign"),
                    ("route_id", "trip_id")):
                if route_id in line_of_route:
                    trips[trip_id] = (line_of_route[route_id],
                                      headsigns.setdefault(headsign, len(headsigns)))
            signs = list(headsigns)
            del headsigns
            for grouped in (True, False):
                counts: dict[tuple, Counter] = {}
                try:
                    for trip_id, stations in _trip_stations(feed, station_of, trips, grouped):
                        trip = trips.get(trip_id)
                        if trip is None or len(stations) < 2:
                            continue
                        pattern = counts.get((trip[0], tuple(stations)))
                        if pattern is None:
                            if len(counts) >= MAX_PATTERNS:
                                raise FeedError(f"the feed's trips run more than {MAX_PATTERNS}"
                                                " different sequences of stations")
                            pattern = counts[trip[0], tuple(stations)] = Counter()
                        pattern[trip[1]] += 1
                    break
                except _Unsorted:
                    log.info("stop_times.txt is not grouped by trip: reading it again, "
                             "holding every trip")
        except (zipfile.BadZipFile, OSError, EOFError, csv.Error, UnicodeError, ValueError,
                OverflowError) as error:
            if isinstance(error, FeedError):
                raise
            raise FeedError(f"the feed cannot be read: {error}") from None
    patterns = [(line, stations, sum(c.values()), signs[c.most_common(1)[0][0]])
                for (line, stations), c in counts.items()]
    if not patterns:
        raise FeedError("the feed has no trips with stops of its stations")
    return Feed(names, lines, patterns, stops=len(station_of), trips=len(trips))


def parse_aliases(text: str) -> list[tuple[int, str, str]]:
    """(line number, alias, station name as typed) per line "Kotti = Kottbusser Tor"; raises
    ValueError naming the first bad line."""
    lines = text.splitlines()
    if len(lines) > MAX_ALIASES:
        raise ValueError(f"at most {MAX_ALIASES} aliases")
    aliases = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        alias, sep, target = line.partition("=")
        if not sep or not alias.strip() or not target.strip() or len(line) > MAX_ALIAS_LINE:
            raise ValueError(f"line {number}: write an alias as 'Kotti = Kottbusser Tor'")
        aliases.append((number, alias.strip(), target.strip()))
    return aliases


def _transit_row(session, city_id: int) -> db.TransitCity:
    row = session.get(db.TransitCity, city_id)
    if row is None:
        row = db.TransitCity(city_id=city_id, summary="{}", aliases="", prefix=1,
                             version=time.time())
        session.add(row)
    return row


def store_feed(session, city_id: int, feed: Feed, source: str) -> dict:
    """Replace the city's transit data with the feed's; return the summary."""
    for model in (db.TransitPattern, db.TransitLine, db.TransitStation):
        session.execute(delete(model).where(model.city_id == city_id))
    session.execute(insert(db.TransitStation), [
        {"city_id": city_id, "number": n, "name": name} for n, name in enumerate(feed.stations)])
    session.execute(insert(db.TransitLine), [
        {"city_id": city_id, "number": n, "name": name, "route_type": kind}
        for n, (name, kind) in enumerate(feed.lines)])
    session.execute(insert(db.TransitPattern), [
        {"city_id": city_id, "number": n, "line": line, "trips": trips, "headsign": sign,
         "stations": " ".join(map(str, stations))}
        for n, (line, stations, trips, sign) in enumerate(feed.patterns)])
    row = _transit_row(session, city_id)
    served = {s for _line, stations, _trips, _sign in feed.patterns for s in stations}
    used_lines = {line for line, *_rest in feed.patterns}
    summary = {"stations": len(served), "lines": len(used_lines), "patterns": len(feed.patterns),
               "stops": feed.stops, "trips": feed.trips}
    row.source, row.imported_at, row.version = source[:500], time.time(), time.time()
    row.summary = json.dumps(summary)
    return summary


def import_feed(session, city_id: int, path, aliases: str | None = None,
                source: str = "") -> dict:
    """Read a GTFS zip and store it as the city's transit data (and the aliases, if given);
    the summary: stations, lines, patterns, stops, trips, aliases."""
    city = session.scalar(select(db.City.name).where(db.City.id == city_id)) or ""
    feed = read_feed(path, city)
    summary = store_feed(session, city_id, feed, source or str(path).rsplit("/", 1)[-1])
    if aliases is not None:
        save_aliases(session, city_id, aliases)
    summary["aliases"] = len(parse_aliases(_transit_row(session, city_id).aliases or ""))
    log.info("city %d: transit data imported: %s", city_id, summary)
    return summary


class ImportBusy(FeedError):
    """Another import runs, or the city had its share of imports: the feed is fine."""


def import_in_child(settings, city_id: int, path, source: str) -> dict:
    """import_feed in a Python process of its own, whose address space and CPU time are
    limited (`[stations] import_memory_mb`, `import_seconds`): a feed that would need more
    (a zip bomb within the bounds, a feed built to be slow) ends that process, not the
    instance's web frontend, and leaves its memory to nobody. The web UI imports so; the
    command imports in its own process anyway."""
    options = settings.stations
    here = str(Path(__file__).resolve().parent)
    request = json.dumps({"url": settings.database.url,
                          "busy_timeout": settings.database.busy_timeout,
                          "city_id": city_id, "path": str(path), "source": source,
                          "memory_mb": options.import_memory_mb,
                          "seconds": int(options.import_seconds)})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (here, os.environ.get("PYTHONPATH")) if p)}
    try:
        done = subprocess.run([sys.executable, "-c", "import stations; stations.child_import()"],
                              input=request, capture_output=True, text=True, env=env,
                              timeout=options.import_seconds + 30)
    except subprocess.TimeoutExpired:
        raise FeedError(f"the import took longer than {options.import_seconds:g} s") from None
    lines = done.stdout.strip().splitlines()
    answer = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if "summary" in answer:
        return answer["summary"]
    if "error" in answer:
        raise FeedError(answer["error"])
    log.error("city %d: the import process ended with %s: %s", city_id, done.returncode,
              done.stderr.strip().splitlines()[-1:] or "")
    raise FeedError("the import stopped: the feed needs more memory or time than this "
                    "instance gives an import")


def child_import() -> None:
    """The import process's side (import_in_child): a request as JSON on standard input, the
    summary or the error as JSON on standard output."""
    import resource
    request = json.load(sys.stdin)
    memory = request["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (request["seconds"], request["seconds"] + 5))
    engine = db.make_engine(request["url"], request["busy_timeout"])
    try:
        with db.make_sessions(engine).begin() as session:
            summary = import_feed(session, request["city_id"], request["path"],
                                  source=request["source"])
        answer = {"summary": summary}
    except FeedError as error:
        answer = {"error": str(error)}
    except MemoryError:
        answer = {"error": "the feed needs more memory than this instance gives an import "
                           f"({request['memory_mb']} MB)"}
    finally:
        engine.dispose()
    print(json.dumps(answer), flush=True)


def save_aliases(session, city_id: int, text: str) -> list[str]:
    """Store the organisers' aliases; returns the problems (aliases whose station is not in
    the transit data), which are kept but unused. Raises ValueError for a malformed line."""
    parse_aliases(text)
    row = _transit_row(session, city_id)
    row.aliases = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    row.version = time.time()
    session.flush()
    return Annotator.load(session, city_id).alias_problems


def save_prefix(session, city_id: int, on: bool) -> None:
    _transit_row(session, city_id).prefix = 1 if on else 0


def forget_city(session, city_id: int) -> None:
    for model in (db.TransitPattern, db.TransitLine, db.TransitStation, db.TransitCity):
        session.execute(delete(model).where(model.city_id == city_id))


def summary_of(session, city_id: int) -> dict | None:
    """What the panel shows: the last import's summary, its source and time, the aliases."""
    row = session.get(db.TransitCity, city_id)
    if row is None:
        return None
    return {**json.loads(row.summary or "{}"), "source": row.source,
            "imported_at": row.imported_at, "aliases_text": row.aliases or "",
            "prefix": bool(row.prefix)}


# --- Recognition -------------------------------------------------------------------------

_GLUED = re.compile(r"([a-z]{4,})([a-z]{1,2}\d{1,3})")  # a station and a line run together

@dataclass
class Place:
    station: str | None = None
    line: str | None = None
    direction: str | None = None

    def as_dict(self) -> dict:
        return {"station": self.station, "line": self.line, "direction": self.direction}

    def prefix(self) -> str:
        """"U8 Hermannplatz → Wittenau: ", or the parts of it that are known ("" if none)."""
        head = " ".join(part[:PREFIX_PART] for part in (
            self.line, self.station and display_name(self.station)) if part)
        if self.direction:
            head = f"{head} → {display_name(self.direction)[:PREFIX_PART]}".strip()
        return f"{head}: " if head else ""


@dataclass
class _Match:
    start: int          # first word
    end: int            # after the last word
    stations: frozenset
    cost: int           # edits

    length: int = 0     # letters of the text it covers
    near: int = 0       # edits by insertion and deletion only (a letter left out or doubled)
    text: str = ""      # the words it covers, folded and joined

    @property
    def score(self) -> tuple:
        # The longer match first ("Schillr-Beethovenweg" is not "Beethovenweg"), an edit
        # costing two letters; of equal ones, the one a letter left out explains.
        return (self.length - 2 * self.cost, -self.near)


def _allowed_edits(length: int) -> int:
    if length < 5:
        return 0
    if length < 9:
        return 1
    if length < 15:
        return 2
    return 3


@dataclass
class Annotator:
    """A city's transit data, ready to read reports with. Build with `load`."""
    stations: list[str]
    lines: list[tuple[str, int]]
    patterns: list[tuple[int, tuple[int, ...], int]]
    keys: dict[str, set[int]]
    aliases: list[tuple[str, str]] = field(default_factory=list)
    alias_problems: list[str] = field(default_factory=list)
    version: float = 0.0
    partials: dict[str, set[int]] = field(default_factory=dict)

    def __post_init__(self):
        self.served: dict[int, set[int]] = defaultdict(set)   # station -> lines
        for line, stations, _trips in self.patterns:
            for station in stations:
                self.served[station].add(line)
        self.line_keys = {line_key(name): n for n, (name, _kind) in enumerate(self.lines)}
        self.by_length: dict[int, list[str]] = defaultdict(list)
        for key in self.keys:
            self.by_length[len(key)].append(key)
        self.longest = max(self.by_length, default=0)
        self._near: dict[tuple[int, str], list[str]] = {}

    @classmethod
    def load(cls, session, city_id: int, city_name: str | None = None) -> Annotator:
        row = session.get(db.TransitCity, city_id)
        if city_name is None:
            city_name = session.scalar(select(db.City.name).where(db.City.id == city_id)) or ""
        stations = [name for (name,) in session.execute(
            select(db.TransitStation.name).where(db.TransitStation.city_id == city_id)
            .order_by(db.TransitStation.number))]
        lines = [(name, kind) for name, kind in session.execute(
            select(db.TransitLine.name, db.TransitLine.route_type)
            .where(db.TransitLine.city_id == city_id).order_by(db.TransitLine.number))]
        patterns, headsigns = [], []
        for line, text, trips, headsign in session.execute(
                select(db.TransitPattern.line, db.TransitPattern.stations,
                       db.TransitPattern.trips, db.TransitPattern.headsign)
                .where(db.TransitPattern.city_id == city_id)
                .order_by(db.TransitPattern.number)):
            stations_of = tuple(int(s) for s in text.split())
            patterns.append((line, stations_of, trips))
            headsigns.append((headsign, stations_of[-1]))
        keys: dict[str, set[int]] = defaultdict(set)
        towns = [city_name, *_towns(stations)]
        for number, name in enumerate(stations):
            for town in towns:
                for key in name_keys(name, town):
                    keys[key].add(number)
        annotator = cls(stations, lines, patterns, keys,
                        version=row.version if row is not None else 0.0)
        # A headsign names its trips' last station ("Rudow" for "U Rudow (Berlin)"), and a
        # part of a name its station, unless the key is another station's name.
        named = set(keys)
        for headsign, last in headsigns:
            for key in name_keys(headsign, city_name) - named:
                if not key.isdigit():
                    keys[key].add(last)
        partial: dict[str, set[int]] = defaultdict(set)
        for number, name in enumerate(stations):
            for key in partial_keys(name, city_name):
                partial[key].add(number)
        for key, found in partial.items():
            # Parts that are another station's name still name a terminus of a line that
            # does not serve that station ("49er Richtung Hütteldorf": "Hütteldorf,
            # Bujattigasse"), but only there.
            if key in named:
                annotator.partials[key] = found
            elif len(found) <= PARTIAL_AT_MOST:
                keys[key] |= found
                annotator.partials[key] = found
        problems = []
        for _number, alias, target in parse_aliases(row.aliases if row is not None else ""):
            found = annotator._find_name(target)
            if found is None:
                problems.append(f"{alias} = {target}: no such station in the transit data")
                continue
            annotator.aliases.append((alias, stations[found]))
            for key in name_keys(alias):
                keys[key] = {found}
        annotator.alias_problems = problems
        annotator.__post_init__()
        return annotator

    # -- finding names --------------------------------------------------------------------
    def _near_keys(self, length: int, first: str) -> list[str]:
        """The keys a text of this length and first letter may be a typo of: riders rarely
        mistype a name's first letter, and comparing with only those keys makes a look-up at
        a city of 10 000 stations some microseconds instead of a quarter millisecond."""
        if (length, first) not in self._near:
            edits = _allowed_edits(length)
            self._near[length, first] = [
                key for size in range(length - edits, length + edits + 1)
                for key in self.by_length.get(size, ()) if key[0] == first]
        return self._near[length, first]

    def _lookup(self, compact: str) -> tuple[set[int], int, int] | None:
        """The stations a folded, space-free text names, the edits it took, and of those the
        edits by insertion and deletion alone (Indel: "seebeg" is nearer "seeberg" than
        "seeweg", though one edit from each)."""
        if compact in self.keys:
            return self.keys[compact], 0, 0
        edits = _allowed_edits(len(compact))
        if not edits or compact.isdigit():
            return None
        best = fuzzy_process.extract(compact, self._near_keys(len(compact), compact[0]),
                                     scorer=Levenshtein.distance, score_cutoff=edits, limit=8)
        if not best:
            return None
        ranked = sorted((distance, Indel.distance(compact, key), key)
                        for key, distance, _index in best)
        cost, near, _key = ranked[0]
        found = set()
        for distance, indel, key in ranked:
            if (distance, indel) == (cost, near):
                found |= self.keys[key]
        return found, cost, near

    def _find_name(self, text: str) -> int | None:
        """The one station a name (an alias's target) stands for."""
        words = fold(text)
        for compact in ("".join(words), "".join(w for w in words if w not in ("s", "u"))):
            hit = self._lookup(compact)
            if hit and len(hit[0]) == 1:
                return next(iter(hit[0]))
            if hit:  # several of one name: the one most lines serve
                return max(hit[0], key=lambda s: (len(self.served[s]), -s))
        return None

    def _matches(self, words: list[str], taken: set[int]) -> list[_Match]:
        found, fuzzy = [], MAX_FUZZY
        for start in range(len(words)):
            if start in taken:
                continue
            for end in range(start + 1, min(start + 5, len(words)) + 1):
                if end - 1 in taken:
                    break
                window = words[start:end]
                compact = "".join(window)
                if compact in self.keys:
                    found.append(_Match(start, end, frozenset(self.keys[compact]), 0,
                                        len(compact), 0, compact))
                    continue
                if (window[0] in STOPWORDS or window[-1] in STOPWORDS
                        or window[0].isdigit() or window[-1].isdigit()
                        or len(compact) > self.longest + 3 or fuzzy <= 0):
                    continue
                fuzzy -= 1
                hit = self._lookup(compact)
                if hit:
                    found.append(_Match(start, end, frozenset(hit[0]), hit[1], len(compact),
                                        hit[2], compact))
        return found

    def _line_words(self, words: list[str]) -> tuple[list[tuple[int, int]], set[int], set[int]]:
        """Lines written in the text ((line, word index)), the words they took, and the
        route_types that words like "Bus" or "Tram" name."""
        lines, taken, modes = [], set(), set()
        for n, word in enumerate(words):
            if word in MODE_WORDS:
                modes |= MODE_WORDS[word]
            if n in taken:
                continue
            before = words[n - 1] if n else ""
            after = words[n + 1] if n + 1 < len(words) else ""
            # "U 8", "S 41", "13 A": a letter or two and a number written apart
            if after and (word + after in self.line_keys) and (
                    (word.isalpha() and len(word) <= 2 and after.isdigit())
                    or (word.isdigit() and after.isalpha() and len(after) <= 2)):
                lines.append((self.line_keys[word + after], n))
                taken |= {n, n + 1}
                continue
            # "19er" (Bavarian, Austrian: line 19), "Zweier"
            key = _NUMBER_WORDS.get(word, word)
            if len(key) > 2 and key.endswith("er") and key[:-2].isdigit():
                key = key[:-2]
            if key not in self.line_keys:
                continue
            mixed = not key.isdigit() and not key.isalpha()
            if (mixed  # letters and digits stand alone ("u8", "m10", "13a")
                    or key != word  # "19er"
                    or before in LINE_WORDS or after in LINE_AFTER  # "Bus 100", "D-Wagen"
                    or (key.isdigit() and before in _ARTICLES  # "in der 19 Richtung ..."
                        and (after in DIRECTION_WORDS or after not in STOPWORDS))):
                lines.append((self.line_keys[key], n))
                taken.add(n)
                if before in LINE_WORDS:
                    taken.add(n - 1)
                if after in LINE_AFTER:
                    taken.add(n + 1)
        return lines, taken, modes

    # -- the rules ------------------------------------------------------------------------
    def annotate(self, text: str) -> dict:
        return self.place(text).as_dict()

    def _unglue(self, words: list[str]) -> list[str]:
        """"jungfernstiegu1" as "jungfernstieg u1"; "m5" as the bus 5 where there is no M5
        (Hamburg's MetroBus lines have plain numbers in the feed)."""
        out = []
        for word in words:
            glued = _GLUED.fullmatch(word)
            if glued and glued.group(2) in self.line_keys and glued.group(1) not in STOPWORDS:
                out += [glued.group(1), glued.group(2)]
            elif (word not in self.line_keys and word[:1] == "m" and word[1:].isdigit()
                  and word[1:] in self.line_keys and self.lines[self.line_keys[word[1:]]][1] == BUS):
                out.append(word[1:])
                out.insert(len(out) - 1, "bus")
            else:
                out.append(word)
        return out

    def place(self, text: str) -> Place:
        words = self._unglue(fold(text[:MAX_TEXT])[:MAX_WORDS])
        written, taken, modes = self._line_words(words)
        matches = self._matches(words, taken)
        direction_match = None
        used: set[int] = set()
        for n, word in enumerate(words):
            if word not in DIRECTION_WORDS:
                continue
            start = n + 1
            while start < len(words) and words[start] in _FILLER:
                start += 1
            here = [m for m in matches if m.start == start]
            if here:
                direction_match = max(here, key=lambda m: (m.score, -m.end))
                used = set(range(n, direction_match.end))
                break
        station_matches = [m for m in matches
                           if not used.intersection(range(m.start, m.end))]
        station_match = None
        if station_matches:
            station_match = max(station_matches, key=lambda m: (m.score, -m.start))
        left = bool(LEFT.search(" ".join(words)))
        return self._decide(station_match, direction_match, [line for line, _n in written],
                            modes, left)

    def _decide(self, station_match, direction_match, written, modes, left) -> Place:
        lines_written = list(dict.fromkeys(written))
        station = None
        if station_match is not None:
            station = self._pick(station_match.stations, lines_written)
            if lines_written and not self.served[station] & set(lines_written):
                # "Hbf U1": the U1 stops at "Hauptbahnhof Süd", which the name begins
                longer = self._longer(station_match.text, set(lines_written))
                station = longer if longer is not None else station
        line = None
        if station is not None:
            line = self._line_at(station, lines_written)
        elif len(lines_written) == 1:
            line = lines_written[0]
        direction = None
        if direction_match is not None and not left:
            direction, line = self._direction(station, line, lines_written,
                                              direction_match.stations, modes)
            weaker = self.partials.get(direction_match.text, set()) - direction_match.stations
            if direction is None and weaker:
                direction, line = self._direction(station, line, lines_written,
                                                  frozenset(weaker), modes)
            on = {line} if line is not None else set(lines_written)
            longer = self._longer(direction_match.text, on) if on else None
            if direction is None and longer is not None:
                direction, line = self._direction(station, line, lines_written,
                                                  frozenset({longer}), modes)
        if station is not None and line is None and not lines_written and direction is None:
            line = self._only_line(station, modes)
        if left:
            line, direction = None, None
        return Place(station=self.stations[station] if station is not None else None,
                     line=self.lines[line][0] if line is not None else None,
                     direction=self.stations[direction] if direction is not None else None)

    def _longer(self, text: str, lines: set[int]) -> int | None:
        """The one station the lines serve whose name begins with the text written
        ("hauptbahnhof" -> "Hauptbahnhof Süd", "Hauptbahnhof/ZOB"), if there is one."""
        if len(text) < 3:
            return None
        found = {s for key, numbers in self.keys.items() if key.startswith(text)
                 for s in numbers if self.served[s] & lines}
        return found.pop() if len(found) == 1 else None

    def _pick(self, stations: frozenset, lines_written: list[int]) -> int:
        """One of several stations a name fits: one a written line serves, else the one most
        lines serve."""
        return max(stations, key=lambda s: (bool(self.served[s].intersection(lines_written)),
                                            len(self.served[s]), -s))

    def _line_at(self, station: int, lines_written: list[int]) -> int | None:
        """The written line if it serves the station (of several, "U3/U6", none: the rider
        does not know which); else the one line of its kind there."""
        serving = [line for line in lines_written if line in self.served[station]]
        if serving:
            return serving[0] if len(serving) == 1 else None
        if lines_written:
            kind = self.lines[lines_written[0]][1]
            same = [line for line in self.served[station] if self.lines[line][1] == kind]
            return same[0] if len(same) == 1 else None
        return None

    def _only_line(self, station: int, modes: set[int]) -> int | None:
        """No line written: the station's one line (buses only if the text says bus)."""
        served = self.served[station]
        if modes:
            candidates = [line for line in served if self.lines[line][1] in modes]
        else:
            candidates = [line for line in served if self.lines[line][1] != BUS]
        return candidates[0] if len(candidates) == 1 else None

    def _direction(self, station, line, lines_written, targets, modes):
        """(terminus, line) for a direction naming `targets` (a station's candidates)."""
        def termini(on_lines):
            found = {}  # terminus -> [line, trips, stations passed after the target]
            for pattern_line, stations, trips in self.patterns:
                if pattern_line not in on_lines:
                    continue
                ring = stations[0] == stations[-1]
                for target in targets:
                    if target not in stations:
                        continue
                    if station is None:
                        if ring:
                            terminus = target
                        elif stations[-1] == target:
                            terminus = target
                        else:
                            continue
                    else:
                        if station not in stations:
                            continue
                        here = stations.index(station)
                        if target not in stations[here + 1:] and not (ring and target != station):
                            continue
                        terminus = target if ring or stations[-1] == target else stations[-1]
                    entry = found.setdefault(terminus, [pattern_line, 0, set()])
                    entry[1] += trips
                    # the stations these trips pass after the target
                    entry[2].update(stations[stations.index(target) + 1:-1])
            return found

        if line is not None:
            on = {line}
        elif lines_written:
            on = set(lines_written)
        else:
            on = set(range(len(self.lines)))
            if modes:
                on = {n for n in on if self.lines[n][1] in modes}
        found = termini(on)
        if not found:
            return None, line
        lines_there = {found[t][0] for t in found}
        if line is None and len(found) > 1 and len(lines_there) > 1:
            return None, line  # lines part ways there, and the text does not say which
        # The named station itself when it ends such trips; else the terminus of the trips
        # that go furthest: a short trip ends on their way. Trips that part ways after the
        # named station (branches: "U1 Richtung Volksdorf") say no terminus.
        named = [t for t in found if t in targets]
        if named:
            terminus = named[0]
        else:
            furthest = [t for t in found
                        if not any(t in found[u][2] for u in found if u != t)]
            if len(furthest) != 1:
                return None, line
            terminus = furthest[0]
        if line is None and len(lines_there) == 1 and (station is not None or lines_written):
            line = found[terminus][0]  # the one line there ("U4/U6 ... Richtung Floridsdorf")
        return terminus, line


# --- Where the censor and the web UI ask ------------------------------------------------

# Annotators of the cities last asked for, up to CACHED_STATIONS stations in all (a city of
# 10 000 stations takes about 15 MB) and CACHED_CITIES cities: the censor serves every city of
# the instance, and a city asked for again after it dropped out is loaded again (half a
# second at 10 000 stations).
CACHED_CITIES = 32
CACHED_STATIONS = 200_000
_CACHE: OrderedDict[int, Annotator] = OrderedDict()


def annotator_for(session, city_id: int) -> Annotator | None:
    """The city's Annotator, loaded again when its transit data changed; None without data."""
    row = session.get(db.TransitCity, city_id)  # prefix_on's too: one query a report
    if row is None or row.imported_at is None:
        _CACHE.pop(city_id, None)
        return None
    cached = _CACHE.get(city_id)
    if cached is None or cached.version != row.version:
        cached = _CACHE[city_id] = Annotator.load(session, city_id)
    _CACHE.move_to_end(city_id)
    while len(_CACHE) > 1 and (len(_CACHE) > CACHED_CITIES or sum(
            len(a.stations) for a in _CACHE.values()) > CACHED_STATIONS):
        _CACHE.popitem(last=False)
    return cached


def prefix_on(session, city_id: int) -> bool:
    row = session.get(db.TransitCity, city_id)
    return row is not None and bool(row.prefix)
