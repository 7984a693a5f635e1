"""A second small GTFS feed for the tests, written the way Munich's MVV/MVG feed writes its
names: no mode prefixes, no city in brackets ("Marienplatz", "Sendlinger Tor", "Karlsplatz
(Stachus)", "Münchner Freiheit"), places outside the city as "Town, Stop" ("Garching,
Forschungszentrum"), the airport as "Flughafen München". Used by
tests/test_stations_second_city.py, an independent labelled table in Munich's style.

Lines (route_short_name, route_type):
- U3 (subway, 1): Moosach <-> Fürstenried West, through Olympia-Einkaufszentrum, Petuelring,
  Scheidplatz, Münchner Freiheit, Giselastraße, Universität, Odeonsplatz, Marienplatz,
  Sendlinger Tor, Goetheplatz, Implerstraße.
- U6 (subway, 1): Garching, Forschungszentrum <-> Klinikum Großhadern; shares the U3's trunk
  Münchner Freiheit .. Implerstraße (one platform, one stop per station), then Harras,
  Westpark, Großhadern. A short trip Klinikum Großhadern -> Fröttmaning (football days).
- U2 (subway, 1): Feldmoching <-> Messestadt Ost, through Scheidplatz (its own platform under
  the U3's parent), Königsplatz, Hauptbahnhof, Sendlinger Tor (own platform), Kolumbusplatz,
  Silberhornstraße, Innsbrucker Ring, Messestadt West.
- U1 (subway, 1): Olympia-Einkaufszentrum <-> Mangfallplatz, through Hauptbahnhof, Sendlinger
  Tor, Kolumbusplatz (sharing the U2's platforms there).
- S8 (suburban rail, 2): Herrsching <-> Flughafen München, the trunk Pasing, Laim,
  Donnersbergerbrücke, Hackerbrücke, Hauptbahnhof, Karlsplatz (Stachus), Marienplatz, Isartor,
  Rosenheimer Platz, Ostbahnhof, Leuchtenbergring.
- 19 (tram, 0): Pasing <-> St.-Veit-Straße, through Hauptbahnhof, Karlsplatz (Stachus),
  Lenbachplatz, Theatinerstraße, Maxmonument, Max-Weber-Platz.
- 27 (tram, 0): Petuelring <-> Sendlinger Tor, through Kurfürstenplatz, Karolinenplatz,
  Karlsplatz (Stachus).
- 58 (bus, 3): Hauptbahnhof <-> Silberhornstraße, through Goetheplatz, Kolumbusplatz.
- 100 (bus, 3): Hauptbahnhof <-> Ostbahnhof, through Königsplatz, Odeonsplatz, Maxmonument.
Tram and bus stops have no parent station and are named as the station they stand at.

Aliases (ALIASES): Stachus, MüFrei, Hbf, Uni, OEZ, Airport, Rosi.
"""
from __future__ import annotations

from pathlib import Path

import gtfs

# stop_id -> (name, parent, lat, lon, location_type)
STOPS = {
    # U3 north
    "moo": ("Moosach", "", 48.1798, 11.5104, 0),
    "oez": ("Olympia-Einkaufszentrum", "", 48.1833, 11.5316, 1),
    "oez_u3": ("Olympia-Einkaufszentrum", "oez", 48.1834, 11.5318, 0),
    "oez_u1": ("Olympia-Einkaufszentrum", "oez", 48.1831, 11.5313, 0),
    "ozt": ("Olympiazentrum", "", 48.1798, 11.5548, 0),
    "pet": ("Petuelring", "", 48.1770, 11.5680, 0),
    "scp": ("Scheidplatz", "", 48.1712, 11.5730, 1),
    "scp_u3": ("Scheidplatz", "scp", 48.1713, 11.5731, 0),
    "scp_u2": ("Scheidplatz", "scp", 48.1711, 11.5729, 0),
    "bon": ("Bonner Platz", "", 48.1665, 11.5810, 0),
    # U6 north
    "gfz": ("Garching, Forschungszentrum", "", 48.2650, 11.6712, 0),
    "gho": ("Garching-Hochbrück", "", 48.2493, 11.6334, 0),
    "frt": ("Fröttmaning", "", 48.2112, 11.6162, 0),
    "kfg": ("Kieferngarten", "", 48.2023, 11.6060, 0),
    "sst": ("Studentenstadt", "", 48.1818, 11.6096, 0),
    "nfh": ("Nordfriedhof", "", 48.1714, 11.5960, 0),
    # the shared U3/U6 trunk
    "muf": ("Münchner Freiheit", "", 48.1617, 11.5862, 1),
    "muf_u": ("Münchner Freiheit", "muf", 48.1618, 11.5863, 0),
    "gis": ("Giselastraße", "", 48.1562, 11.5844, 0),
    "uni": ("Universität", "", 48.1503, 11.5808, 0),
    "ode": ("Odeonsplatz", "", 48.1426, 11.5773, 1),
    "ode_u": ("Odeonsplatz", "ode", 48.1427, 11.5774, 0),
    "mar": ("Marienplatz", "", 48.1372, 11.5755, 1),
    "mar_u": ("Marienplatz", "mar", 48.1371, 11.5754, 0),
    "mar_s": ("Marienplatz", "mar", 48.1373, 11.5757, 0),
    "mar_e": ("Marienplatz Eingang Rathaus", "mar", 48.1374, 11.5758, 2),
    "sen": ("Sendlinger Tor", "", 48.1336, 11.5668, 1),
    "sen_u36": ("Sendlinger Tor", "sen", 48.1335, 11.5667, 0),
    "sen_u12": ("Sendlinger Tor", "sen", 48.1337, 11.5670, 0),
    "goe": ("Goetheplatz", "", 48.1292, 11.5574, 0),
    "imp": ("Implerstraße", "", 48.1210, 11.5520, 0),
    # U3 south
    "tha": ("Thalkirchen (Tierpark)", "", 48.1023, 11.5461, 0),
    "aid": ("Aidenbachstraße", "", 48.0907, 11.5216, 0),
    "fue": ("Fürstenried West", "", 48.0828, 11.4939, 0),
    # U6 south
    "har": ("Harras", "", 48.1178, 11.5366, 0),
    "wpk": ("Westpark", "", 48.1198, 11.5190, 0),
    "grh": ("Großhadern", "", 48.1140, 11.4820, 0),
    "klg": ("Klinikum Großhadern", "", 48.1102, 11.4704, 0),
    # U2
    "fmo": ("Feldmoching", "", 48.2140, 11.5412, 0),
    "kpl": ("Königsplatz", "", 48.1455, 11.5650, 0),
    "hbf": ("Hauptbahnhof", "", 48.1402, 11.5600, 1),
    "hbf_u": ("Hauptbahnhof", "hbf", 48.1403, 11.5601, 0),
    "hbf_s": ("Hauptbahnhof", "hbf", 48.1401, 11.5598, 0),
    "kol": ("Kolumbusplatz", "", 48.1222, 11.5750, 0),
    "sil": ("Silberhornstraße", "", 48.1150, 11.5800, 0),
    "ibr": ("Innsbrucker Ring", "", 48.1205, 11.6180, 0),
    "mew": ("Messestadt West", "", 48.1330, 11.6900, 0),
    "meo": ("Messestadt Ost", "", 48.1355, 11.7010, 0),
    # U1 south
    "can": ("Candidplatz", "", 48.1100, 11.5740, 0),
    "man": ("Mangfallplatz", "", 48.0970, 11.5810, 0),
    # S8
    "her": ("Herrsching", "", 47.9990, 11.1720, 0),
    "pas": ("Pasing", "", 48.1497, 11.4614, 1),
    "pas_s": ("Pasing", "pas", 48.1498, 11.4615, 0),
    "lai": ("Laim", "", 48.1448, 11.5030, 0),
    "dbb": ("Donnersbergerbrücke", "", 48.1424, 11.5365, 0),
    "hkb": ("Hackerbrücke", "", 48.1418, 11.5490, 0),
    "kar": ("Karlsplatz (Stachus)", "", 48.1395, 11.5660, 1),
    "kar_s": ("Karlsplatz (Stachus)", "kar", 48.1394, 11.5661, 0),
    "isa": ("Isartor", "", 48.1340, 11.5830, 0),
    "ros": ("Rosenheimer Platz", "", 48.1290, 11.5930, 0),
    "ost": ("Ostbahnhof", "", 48.1272, 11.6050, 1),
    "ost_s": ("Ostbahnhof", "ost", 48.1273, 11.6051, 0),
    "leu": ("Leuchtenbergring", "", 48.1350, 11.6170, 0),
    "flu": ("Flughafen München", "", 48.3536, 11.7856, 0),
    # tram stops (no parent), some named as the stations they stand at
    "pas_t": ("Pasing", "", 48.1490, 11.4620, 0),
    "hbf_t": ("Hauptbahnhof", "", 48.1409, 11.5590, 0),
    "kar_t": ("Karlsplatz (Stachus)", "", 48.1390, 11.5655, 0),
    "lbp": ("Lenbachplatz", "", 48.1410, 11.5700, 0),
    "the": ("Theatinerstraße", "", 48.1410, 11.5760, 0),
    "mxm": ("Maxmonument", "", 48.1380, 11.5880, 0),
    "mwp": ("Max-Weber-Platz", "", 48.1360, 11.5990, 0),
    "svs": ("St.-Veit-Straße", "", 48.1270, 11.6330, 0),
    "pet_t": ("Petuelring", "", 48.1775, 11.5690, 0),
    "kfp": ("Kurfürstenplatz", "", 48.1590, 11.5740, 0),
    "kro": ("Karolinenplatz", "", 48.1440, 11.5680, 0),
    "sen_t": ("Sendlinger Tor", "", 48.1340, 11.5660, 0),
    # bus stops (no parent), named as the stations they stand at
    "hbf_b": ("Hauptbahnhof", "", 48.1420, 11.5605, 0),
    "goe_b": ("Goetheplatz", "", 48.1295, 11.5580, 0),
    "kol_b": ("Kolumbusplatz", "", 48.1225, 11.5755, 0),
    "sil_b": ("Silberhornstraße", "", 48.1152, 11.5805, 0),
    "kpl_b": ("Königsplatz", "", 48.1460, 11.5655, 0),
    "ode_b": ("Odeonsplatz", "", 48.1430, 11.5778, 0),
    "mxm_b": ("Maxmonument", "", 48.1382, 11.5885, 0),
    "ost_b": ("Ostbahnhof", "", 48.1268, 11.6045, 0),
}

# route_id -> (short name, long name, route_type)
ROUTES = {
    "r_u1": ("U1", "", 1),
    "r_u2": ("U2", "", 1),
    "r_u3": ("U3", "", 1),
    "r_u6": ("U6", "", 1),
    "r_s8": ("S8", "Herrsching - Flughafen München", 2),
    "r_19": ("19", "Pasing - St.-Veit-Straße", 0),
    "r_27": ("27", "Petuelring - Sendlinger Tor", 0),
    "r_58": ("58", "Hauptbahnhof - Silberhornstraße", 3),
    "r_100": ("100", "Museenlinie", 3),
}

_TRUNK = ["muf_u", "gis", "uni", "ode_u", "mar_u", "sen_u36", "goe", "imp"]
_U3 = ["moo", "oez_u3", "ozt", "pet", "scp_u3", "bon", *_TRUNK, "tha", "aid", "fue"]
_U6 = ["gfz", "gho", "frt", "kfg", "sst", "nfh", *_TRUNK, "har", "wpk", "grh", "klg"]
_U2 = ["fmo", "scp_u2", "kpl", "hbf_u", "sen_u12", "kol", "sil", "ibr", "mew", "meo"]
_U1 = ["oez_u1", "hbf_u", "sen_u12", "kol", "can", "man"]
_S8 = ["her", "pas_s", "lai", "dbb", "hkb", "hbf_s", "kar_s", "mar_s", "isa", "ros", "ost_s",
       "leu", "flu"]
_19 = ["pas_t", "hbf_t", "kar_t", "lbp", "the", "mxm", "mwp", "svs"]
_27 = ["pet_t", "kfp", "kro", "kar_t", "sen_t"]
_58 = ["hbf_b", "goe_b", "kol_b", "sil_b"]
_100 = ["hbf_b", "kpl_b", "ode_b", "mxm_b", "ost_b"]

# trip_id -> (route, direction_id, headsign, stops in order)
TRIPS = {
    "u3_s1": ("r_u3", 0, "Fürstenried West", _U3),
    "u3_s2": ("r_u3", 0, "Fürstenried West", _U3),
    "u3_n1": ("r_u3", 1, "Moosach", _U3[::-1]),
    "u3_n2": ("r_u3", 1, "Moosach", _U3[::-1]),
    "u6_s1": ("r_u6", 0, "Klinikum Großhadern", _U6),
    "u6_s2": ("r_u6", 0, "Klinikum Großhadern", _U6),
    "u6_n1": ("r_u6", 1, "Garching-Forschungszentrum", _U6[::-1]),
    "u6_n2": ("r_u6", 1, "Garching-Forschungszentrum", _U6[::-1]),
    "u6_short": ("r_u6", 1, "Fröttmaning", _U6[::-1][:len(_U6) - 2]),
    "u2_e1": ("r_u2", 0, "Messestadt Ost", _U2),
    "u2_e2": ("r_u2", 0, "Messestadt Ost", _U2),
    "u2_w1": ("r_u2", 1, "Feldmoching", _U2[::-1]),
    "u2_w2": ("r_u2", 1, "Feldmoching", _U2[::-1]),
    "u1_s1": ("r_u1", 0, "Mangfallplatz", _U1),
    "u1_n1": ("r_u1", 1, "Olympia-Einkaufszentrum", _U1[::-1]),
    "s8_e1": ("r_s8", 0, "Flughafen München", _S8),
    "s8_e2": ("r_s8", 0, "Flughafen München", _S8),
    "s8_w1": ("r_s8", 1, "Herrsching", _S8[::-1]),
    "s8_w2": ("r_s8", 1, "Herrsching", _S8[::-1]),
    "t19_e1": ("r_19", 0, "St.-Veit-Straße", _19),
    "t19_w1": ("r_19", 1, "Pasing", _19[::-1]),
    "t27_s1": ("r_27", 0, "Sendlinger Tor", _27),
    "t27_n1": ("r_27", 1, "Petuelring", _27[::-1]),
    "b58_1": ("r_58", 0, "Silberhornstraße", _58),
    "b58_2": ("r_58", 1, "Hauptbahnhof Nord", _58[::-1]),
    "b100_1": ("r_100", 0, "Ostbahnhof", _100),
    "b100_2": ("r_100", 1, "Hauptbahnhof Nord", _100[::-1]),
}

ALIASES = """\
# typed by the organisers: what Munich's riders call their stations
Stachus = Karlsplatz (Stachus)
MüFrei = Münchner Freiheit
Mü Frei = Münchner Freiheit
Hbf = Hauptbahnhof
Uni = Universität
OEZ = Olympia-Einkaufszentrum
Airport = Flughafen München
Rosi = Rosenheimer Platz
"""


def files() -> dict[str, str]:
    """The feed's members, name -> CSV text."""
    return gtfs.members(
        STOPS, ROUTES, TRIPS, hour=7,
        agencies=[["MVG", "Münchner Verkehrsgesellschaft", "https://mvg.de", "Europe/Berlin"],
                  ["DB", "DB Regio Bayern (S-Bahn München)", "https://s-bahn-muenchen.de",
                   "Europe/Berlin"]],
        agency_of=lambda rid: "DB" if rid == "r_s8" else "MVG")


def write_feed(path: Path, members: dict[str, str] | None = None) -> Path:
    """The feed as a zip at path (members replace or add files)."""
    return gtfs.write_zip(path, {**files(), **(members or {})})
