"""A small GTFS feed made for the tests, written the way transit authorities write theirs
(names as Berlin's VBB feed spells them: "U Hermannplatz (Berlin)", "S+U Hermannstr. (Berlin)").

Lines (route_short_name, route_type):
- U8 (subway, 1): Wittenau <-> Hermannstraße, through Alexanderplatz, Heinrich-Heine-Straße,
  Kottbusser Tor, Schönleinstraße, Hermannplatz; a short trip Wittenau -> Hermannplatz too.
- U7 (subway, 1): Rathaus Spandau <-> Rudow; crosses the U8 at Hermannplatz (both platforms
  are children of one parent station).
- S41 (suburban rail, 2): a ring (every trip begins and ends at Ostkreuz), through
  Hermannstraße and Neukölln; its stops at Hermannstraße share the U8's parent station.
- M10 (tram, 0): Hauptbahnhof <-> Warschauer Straße.
- 100 (bus, 3): Zoologischer Garten <-> Alexanderplatz (stops without parent stations, named as
  the rail stations are: merged with them by name and distance).

Aliases (ALIASES): Kotti, Hermi, Zoo, Alex.
"""
from __future__ import annotations

from pathlib import Path

import gtfs

# stop_id -> (name, parent, lat, lon, location_type)
STOPS = {
    "wit": ("S+U Wittenau (Berlin)", "", 52.596, 13.335, 0),
    "osl": ("U Osloer Str. (Berlin)", "", 52.557, 13.373, 0),
    "alx": ("S+U Alexanderplatz Bhf (Berlin)", "", 52.5219, 13.4132, 1),
    "alx_u8": ("S+U Alexanderplatz Bhf (Berlin)", "alx", 52.5217, 13.4130, 0),
    "jan": ("S+U Jannowitzbrücke (Berlin)", "", 52.515, 13.418, 0),
    "hhs": ("U Heinrich-Heine-Str. (Berlin)", "", 52.510, 13.416, 0),
    "mor": ("U Moritzplatz (Berlin)", "", 52.503, 13.410, 0),
    "kot": ("U Kottbusser Tor (Berlin)", "", 52.499, 13.418, 0),
    "sch": ("U Schönleinstr. (Berlin)", "", 52.493, 13.422, 0),
    "hpl": ("U Hermannplatz (Berlin)", "", 52.4868, 13.4247, 1),
    "hpl_u8": ("U Hermannplatz (Berlin) [U8]", "hpl", 52.4867, 13.4246, 0),
    "hpl_u7": ("U Hermannplatz (Berlin) [U7]", "hpl", 52.4869, 13.4249, 0),
    "bod": ("U Boddinstr. (Berlin)", "", 52.480, 13.425, 0),
    "hst": ("S+U Hermannstr. (Berlin)", "", 52.4673, 13.4316, 1),
    "hst_u8": ("S+U Hermannstr. (Berlin) [U8]", "hst", 52.4672, 13.4315, 0),
    "hst_s": ("S+U Hermannstr. (Berlin) [S]", "hst", 52.4674, 13.4318, 0),
    "rsp": ("U Rathaus Spandau (Berlin)", "", 52.535, 13.200, 0),
    "meh": ("U Mehringdamm (Berlin)", "", 52.4937, 13.3882, 0),
    "sue": ("U Südstern (Berlin)", "", 52.4893, 13.4077, 0),
    "rne": ("U Rathaus Neukölln (Berlin)", "", 52.4811, 13.4350, 0),
    "neu": ("S+U Neukölln (Berlin)", "", 52.4695, 13.4421, 1),
    "neu_u7": ("S+U Neukölln (Berlin) [U7]", "neu", 52.4694, 13.4420, 0),
    "neu_s": ("S+U Neukölln (Berlin) [S]", "neu", 52.4696, 13.4423, 0),
    "rud": ("U Rudow (Berlin)", "", 52.4158, 13.4962, 0),
    "okr": ("S Ostkreuz Bhf (Berlin)", "", 52.5030, 13.4690, 0),
    "tpk": ("S Treptower Park (Berlin)", "", 52.4933, 13.4616, 0),
    "snn": ("S Sonnenallee (Berlin)", "", 52.4728, 13.4555, 0),
    "hbf": ("S+U Berlin Hauptbahnhof", "", 52.5251, 13.3694, 0),
    "ebw": ("U Eberswalder Str. (Berlin)", "", 52.5413, 13.4120, 0),
    "was": ("S+U Warschauer Str. (Berlin)", "", 52.5059, 13.4494, 0),
    "zoo": ("S+U Zoologischer Garten Bhf (Berlin)", "", 52.5067, 13.3327, 0),
    "bbt": ("S+U Brandenburger Tor (Berlin)", "", 52.5163, 13.3811, 0),
    # the bus stops: no parent, named like the stations they stand at
    "zoo_bus": ("S+U Zoologischer Garten Bhf (Berlin)", "", 52.5069, 13.3330, 0),
    "alx_bus": ("S+U Alexanderplatz Bhf (Berlin)", "", 52.5222, 13.4140, 0),
    # an entrance: not a place to be checked at
    "hpl_e": ("U Hermannplatz (Berlin) Eingang Karl-Marx-Str.", "hpl", 52.4866, 13.4245, 2),
}

# route_id -> (short name, long name, route_type)
ROUTES = {
    "r_u8": ("U8", "", 1),
    "r_u7": ("U7", "", 1),
    "r_s41": ("S41", "Ringbahn", 2),
    "r_m10": ("M10", "", 0),
    "r_100": ("100", "", 3),
}

_U8 = ["wit", "osl", "alx_u8", "jan", "hhs", "mor", "kot", "sch", "hpl_u8", "bod", "hst_u8"]
_U7 = ["rsp", "meh", "sue", "hpl_u7", "rne", "neu_u7", "rud"]
_S41 = ["okr", "tpk", "snn", "neu_s", "hst_s", "okr"]  # a ring, drawn short
_M10 = ["hbf", "ebw", "was"]
_100 = ["zoo_bus", "bbt", "alx_bus"]

# trip_id -> (route, direction_id, headsign, stops in order)
TRIPS = {
    "u8_s1": ("r_u8", 0, "S+U Hermannstr.", _U8),
    "u8_s2": ("r_u8", 0, "S+U Hermannstr.", _U8),
    "u8_n1": ("r_u8", 1, "S+U Wittenau", _U8[::-1]),
    "u8_n2": ("r_u8", 1, "S+U Wittenau", _U8[::-1]),
    "u8_short": ("r_u8", 0, "U Hermannplatz", _U8[:9]),
    "u7_e1": ("r_u7", 0, "U Rudow", _U7),
    "u7_e2": ("r_u7", 0, "U Rudow", _U7),
    "u7_w1": ("r_u7", 1, "U Rathaus Spandau", _U7[::-1]),
    "s41_1": ("r_s41", 0, "Ring S41 ⟳", _S41),
    "s41_2": ("r_s41", 0, "Ring S41 ⟳", _S41),
    "m10_1": ("r_m10", 0, "S+U Warschauer Str.", _M10),
    "m10_2": ("r_m10", 1, "S+U Hauptbahnhof", _M10[::-1]),
    "b100_1": ("r_100", 0, "S+U Alexanderplatz", _100),
    "b100_2": ("r_100", 1, "S+U Zoologischer Garten", _100[::-1]),
}

ALIASES = """\
# typed by the organisers
Kotti = Kottbusser Tor
Hermi = Hermannplatz
Zoo = Zoologischer Garten
Alex = Alexanderplatz
"""


def files() -> dict[str, str]:
    """The feed's members, name -> CSV text."""
    contents = gtfs.members(STOPS, ROUTES, TRIPS,
                            agencies=[["BVG", "BVG", "https://bvg.de", "Europe/Berlin"]],
                            agency_of=lambda rid: "BVG")
    contents["stops.txt"] = "\ufeff" + contents["stops.txt"]  # a byte order mark, as some feeds
    return contents


def write_feed(path: Path, members: dict[str, str] | None = None) -> Path:
    """The feed as a zip at path (members replace or add files)."""
    return gtfs.write_zip(path, {**files(), **(members or {})})
