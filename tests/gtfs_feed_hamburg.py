"""A fourth small GTFS feed for the tests, written the way HVV's feed writes Hamburg: plain
names without mode marks or city ("Hauptbahnhof", "Hauptbahnhof Süd", "Hauptbahnhof Nord",
"Jungfernstieg", "Berliner Tor", "Altona", "Norderstedt Mitte"), Geofox's qualifiers in
brackets ("Stephansplatz (Oper/CCH)", "Dammtor (Messe/CCH)", "Feldstraße (Heiligengeistfeld)",
"Baumwall (Elbphilharmonie)", "Hammerbrook (City Süd)", "Veddel (BallinStadt)", "Hamburg
Airport (Flughafen)"), bus stops of their own at the Hauptbahnhof ("Hauptbahnhof/ZOB",
"Hauptbahnhof/Steintorwall"), and the "U"/"S" marks only in bus headsigns ("U Niendorf
Markt"), as HVV's buses show them. No "Town, Stop" names: HVV writes "Norderstedt Mitte",
"Pinneberg", "Buxtehude" plainly. Used by tests/test_stations_fourth_city.py, a held-out
labelled table in Hamburg's style.

Hauptbahnhof, Hauptbahnhof Süd and Hauptbahnhof Nord are three stations, as in HVV's data (the
S-Bahn; the U1/U3; the U2/U4), not one parent.

Stops: the big stations are a parent (location_type 1) with a platform per line or pair of
lines (children take the parent's name), Jungfernstieg with an entrance (location_type 2);
smaller stations are bare stops; bus and ferry stops have no parent and are named as the
station they stand at (merged by name and distance), or have a name of their own.

Lines (route_short_name, route_type):
- U1 (1): Norderstedt Mitte -> Volksdorf, then its trips part ways: to Ohlstedt (2 trips each
  way) or to Großhansdorf (3 each way); one short trip Großhansdorf -> Ochsenzoll. Through
  Ohlsdorf, Kellinghusenstraße, Stephansplatz, Jungfernstieg, Hauptbahnhof Süd, Lübecker
  Straße, Wandsbeker Chaussee, Wandsbek Markt, Wandsbek-Gartenstadt, Farmsen.
- U2 (1): Niendorf Nord <-> Mümmelmannsberg, through Niendorf Markt, Hagenbecks Tierpark,
  Schlump, Gänsemarkt, Jungfernstieg, Hauptbahnhof Nord, Berliner Tor, Burgstraße, Horner
  Rennbahn, Billstedt; one short trip Mümmelmannsberg -> Niendorf Markt.
- U4 (1): Elbbrücken <-> Billstedt, through HafenCity Universität, Überseequartier, then the
  U2's track and platforms from Jungfernstieg to Billstedt.
- U3 (1): the line with a loop: Barmbek, Saarlandstraße, Borgweg, Kellinghusenstraße,
  Hoheluftbrücke, Schlump, Sternschanze, Feldstraße, St. Pauli, Landungsbrücken, Baumwall,
  Rathaus, Mönckebergstraße, Hauptbahnhof Süd, Berliner Tor, Lübecker Straße, Mundsburg,
  Hamburger Straße, Barmbek again, then Habichtstraße, Wandsbek-Gartenstadt (headsign
  "Wandsbek-Gartenstadt"); and the reverse (from Wandsbek-Gartenstadt round the loop back to
  Barmbek: headsign "Barmbek"). Barmbek is in every trip twice or is its end.
- S1 (109): Wedel <-> Ohlsdorf, then its trips part ways: to Poppenbüttel or to Hamburg
  Airport (Flughafen) (2 each way from/to Wedel); a short trip Poppenbüttel -> Blankenese.
  Through Blankenese, Othmarschen, Altona, Reeperbahn, Landungsbrücken, Jungfernstieg,
  Hauptbahnhof, Berliner Tor, Hasselbrook, Wandsbeker Chaussee, Barmbek.
- S3 (109): Pinneberg <-> Stade, through Elbgaustraße, Eidelstedt, Altona, Reeperbahn,
  Landungsbrücken, Jungfernstieg, Hauptbahnhof, Hammerbrook, Elbbrücken, Veddel, Wilhelmsburg,
  Harburg, Harburg Rathaus, Neugraben, Buxtehude; short trips Pinneberg -> Neugraben and
  Neugraben -> Elbgaustraße.
- S31 (109): Altona <-> Neugraben, through Holstenstraße, Sternschanze, Dammtor, Hauptbahnhof,
  then the S3's track to Neugraben; a short trip Altona -> Harburg Rathaus.
- 5 (MetroBus, 700): Burgwedel <-> Hauptbahnhof/ZOB, through Niendorf Markt, Nedderfeld,
  Siemersplatz, Hoheluftbrücke, Grindelhof, Universität/Staatsbibliothek, Dammtor; a short trip
  Hauptbahnhof/ZOB -> Niendorf Markt (headsign "U Niendorf Markt").
- 6 (MetroBus, 700): Borgweg <-> Auf dem Sande (Speicherstadt), through Winterhuder
  Marktplatz, Mühlenkamp, Hofweg, Hauptbahnhof/Steintorwall, Rathausmarkt.
- X3 (XpressBus, 702): Burgwedel <-> Hauptbahnhof/ZOB, through Niendorf Markt, Siemersplatz,
  Hoheluftbrücke, Dammtor.
- 62 (ferry, 4): Landungsbrücken <-> Finkenwerder, through Dockland (Fischereihafen),
  Neumühlen/Oevelgönne.

Aliases (ALIASES): only "Schanze" (the name every Hamburg rider uses for Sternschanze); the
table tests the recognizer on its own for "Hbf", "Jungfernstieg", "Gänsemarkt", "Stephansplatz",
"Dammtor", "Flughafen", "Uni", "Wandsbek Gartenstadt" and the rest.
"""
from __future__ import annotations

from pathlib import Path

import gtfs

# stop_id -> (name, parent, lat, lon, location_type)
STOPS = {
    # U1 north
    "nom": ("Norderstedt Mitte", "", 53.7070, 9.9915, 0),
    "gar": ("Garstedt", "", 53.6848, 9.9865, 0),
    "och": ("Ochsenzoll", "", 53.6686, 10.0075, 0),
    "lhm": ("Langenhorn Markt", "", 53.6530, 10.0160, 0),
    "fuh": ("Fuhlsbüttel", "", 53.6280, 10.0240, 0),
    "ohl": ("Ohlsdorf", "", 53.6206, 10.0314, 1),
    "ohl_u1": ("Ohlsdorf", "ohl", 53.6207, 10.0315, 0),
    "ohl_s1": ("Ohlsdorf", "ohl", 53.6205, 10.0312, 0),
    "sen": ("Sengelmannstraße", "", 53.6095, 10.0290, 0),
    "lat": ("Lattenkamp (Sporthalle)", "", 53.6020, 10.0090, 0),
    "hud": ("Hudtwalckerstraße", "", 53.5945, 10.0000, 0),
    "kel": ("Kellinghusenstraße", "", 53.5888, 9.9900, 1),
    "kel_u1": ("Kellinghusenstraße", "kel", 53.5889, 9.9901, 0),
    "kel_u3": ("Kellinghusenstraße", "kel", 53.5887, 9.9899, 0),
    "klo": ("Klosterstern", "", 53.5810, 9.9860, 0),
    "hal": ("Hallerstraße", "", 53.5730, 9.9860, 0),
    "stp": ("Stephansplatz (Oper/CCH)", "", 53.5610, 9.9890, 0),
    "jun": ("Jungfernstieg", "", 53.5525, 9.9935, 1),
    "jun_u1": ("Jungfernstieg", "jun", 53.5526, 9.9936, 0),
    "jun_u24": ("Jungfernstieg", "jun", 53.5524, 9.9933, 0),
    "jun_s": ("Jungfernstieg", "jun", 53.5523, 9.9938, 0),
    "jun_e": ("Jungfernstieg Ausgang Ballindamm", "jun", 53.5530, 9.9945, 2),
    "mes": ("Meßberg", "", 53.5480, 9.9990, 0),
    "stn": ("Steinstraße", "", 53.5500, 10.0040, 0),
    "hbs": ("Hauptbahnhof Süd", "", 53.5520, 10.0070, 1),
    "hbs_u1": ("Hauptbahnhof Süd", "hbs", 53.5521, 10.0071, 0),
    "hbs_u3": ("Hauptbahnhof Süd", "hbs", 53.5519, 10.0069, 0),
    "loh": ("Lohmühlenstraße", "", 53.5560, 10.0200, 0),
    "lue": ("Lübecker Straße", "", 53.5590, 10.0290, 1),
    "lue_u1": ("Lübecker Straße", "lue", 53.5591, 10.0291, 0),
    "lue_u3": ("Lübecker Straße", "lue", 53.5589, 10.0289, 0),
    "war": ("Wartenau", "", 53.5630, 10.0370, 0),
    "wch": ("Wandsbeker Chaussee", "", 53.5690, 10.0580, 1),
    "wch_u1": ("Wandsbeker Chaussee", "wch", 53.5691, 10.0581, 0),
    "wch_s1": ("Wandsbeker Chaussee", "wch", 53.5689, 10.0579, 0),
    "wbm": ("Wandsbek Markt", "", 53.5720, 10.0680, 0),
    "sbs": ("Straßburger Straße", "", 53.5800, 10.0730, 0),
    "wgs": ("Wandsbek-Gartenstadt", "", 53.5920, 10.0780, 1),
    "wgs_u1": ("Wandsbek-Gartenstadt", "wgs", 53.5921, 10.0781, 0),
    "wgs_u3": ("Wandsbek-Gartenstadt", "wgs", 53.5919, 10.0779, 0),
    "tra": ("Trabrennbahn", "", 53.5990, 10.0890, 0),
    "far": ("Farmsen", "", 53.6050, 10.1190, 0),
    "ber": ("Berne", "", 53.6170, 10.1340, 0),
    "vol": ("Volksdorf", "", 53.6490, 10.1640, 0),
    # U1: the branch to Ohlstedt
    "buc": ("Buckhorn", "", 53.6560, 10.1780, 0),
    "hoi": ("Hoisbüttel", "", 53.6700, 10.1710, 0),
    "ohs": ("Ohlstedt", "", 53.6910, 10.1450, 0),
    # U1: the branch to Großhansdorf
    "ahw": ("Ahrensburg West", "", 53.6650, 10.2140, 0),
    "aho": ("Ahrensburg Ost", "", 53.6600, 10.2480, 0),
    "kie": ("Kiekut", "", 53.6530, 10.2790, 0),
    "ghd": ("Großhansdorf", "", 53.6580, 10.2870, 0),
    # U2
    "nin": ("Niendorf Nord", "", 53.6400, 9.9500, 0),
    "nim": ("Niendorf Markt", "", 53.6210, 9.9530, 0),
    "hti": ("Hagenbecks Tierpark", "", 53.5930, 9.9420, 0),
    "ost": ("Osterstraße", "", 53.5760, 9.9530, 0),
    "chr": ("Christuskirche", "", 53.5690, 9.9590, 0),
    "slp": ("Schlump", "", 53.5680, 9.9700, 1),
    "slp_u2": ("Schlump", "slp", 53.5681, 9.9701, 0),
    "slp_u3": ("Schlump", "slp", 53.5679, 9.9699, 0),
    "meh": ("Messehallen", "", 53.5630, 9.9770, 0),
    "gae": ("Gänsemarkt", "", 53.5570, 9.9890, 0),
    "hbn": ("Hauptbahnhof Nord", "", 53.5540, 10.0060, 0),
    "bto": ("Berliner Tor", "", 53.5530, 10.0240, 1),
    "bto_u24": ("Berliner Tor", "bto", 53.5531, 10.0241, 0),
    "bto_u3": ("Berliner Tor", "bto", 53.5529, 10.0238, 0),
    "bto_s": ("Berliner Tor", "bto", 53.5528, 10.0243, 0),
    "bur": ("Burgstraße", "", 53.5540, 10.0360, 0),
    "hrb": ("Horner Rennbahn", "", 53.5560, 10.0820, 0),
    "leg": ("Legienstraße", "", 53.5560, 10.0960, 0),
    "bil": ("Billstedt", "", 53.5410, 10.1040, 0),
    "sta": ("Steinfurther Allee", "", 53.5280, 10.1340, 0),
    "mue": ("Mümmelmannsberg", "", 53.5270, 10.1470, 0),
    # U4
    "elb": ("Elbbrücken", "", 53.5350, 10.0240, 1),
    "elb_u4": ("Elbbrücken", "elb", 53.5351, 10.0241, 0),
    "elb_s": ("Elbbrücken", "elb", 53.5349, 10.0243, 0),
    "hcu": ("HafenCity Universität", "", 53.5410, 10.0060, 0),
    "ueb": ("Überseequartier", "", 53.5420, 9.9980, 0),
    # U3
    "bar": ("Barmbek", "", 53.5870, 10.0450, 1),
    "bar_u3": ("Barmbek", "bar", 53.5871, 10.0451, 0),
    "bar_s1": ("Barmbek", "bar", 53.5869, 10.0448, 0),
    "saa": ("Saarlandstraße", "", 53.5860, 10.0320, 0),
    "bor": ("Borgweg", "", 53.5900, 10.0150, 0),
    "hol": ("Hoheluftbrücke", "", 53.5780, 9.9740, 0),
    "stz": ("Sternschanze", "", 53.5630, 9.9650, 1),
    "stz_u3": ("Sternschanze", "stz", 53.5631, 9.9651, 0),
    "stz_s": ("Sternschanze", "stz", 53.5629, 9.9648, 0),
    "fel": ("Feldstraße (Heiligengeistfeld)", "", 53.5570, 9.9680, 0),
    "spa": ("St. Pauli", "", 53.5510, 9.9700, 0),
    "lab": ("Landungsbrücken", "", 53.5460, 9.9700, 1),
    "lab_u3": ("Landungsbrücken", "lab", 53.5461, 9.9701, 0),
    "lab_s": ("Landungsbrücken", "lab", 53.5459, 9.9703, 0),
    "bau": ("Baumwall (Elbphilharmonie)", "", 53.5440, 9.9820, 0),
    "rat": ("Rathaus", "", 53.5500, 9.9920, 0),
    "mob": ("Mönckebergstraße", "", 53.5510, 10.0000, 0),
    "mun": ("Mundsburg", "", 53.5700, 10.0270, 0),
    "hbg": ("Hamburger Straße", "", 53.5760, 10.0330, 0),
    "hab": ("Habichtstraße", "", 53.5880, 10.0610, 0),
    # S1
    "wed": ("Wedel", "", 53.5820, 9.7050, 0),
    "bla": ("Blankenese", "", 53.5650, 9.8150, 0),
    "oth": ("Othmarschen", "", 53.5580, 9.8940, 0),
    "alt": ("Altona", "", 53.5520, 9.9350, 1),
    "alt_s13": ("Altona", "alt", 53.5521, 9.9351, 0),
    "alt_s31": ("Altona", "alt", 53.5519, 9.9348, 0),
    "ree": ("Reeperbahn", "", 53.5500, 9.9560, 0),
    "hbf": ("Hauptbahnhof", "", 53.5530, 10.0060, 1),
    "hbf_s13": ("Hauptbahnhof", "hbf", 53.5531, 10.0061, 0),
    "hbf_s31": ("Hauptbahnhof", "hbf", 53.5528, 10.0064, 0),
    "has": ("Hasselbrook", "", 53.5650, 10.0550, 0),
    "pop": ("Poppenbüttel", "", 53.6590, 10.0830, 0),
    "wel": ("Wellingsbüttel", "", 53.6430, 10.0780, 0),
    "air": ("Hamburg Airport (Flughafen)", "", 53.6320, 10.0060, 0),
    # S3
    "pin": ("Pinneberg", "", 53.6570, 9.7990, 0),
    "egs": ("Elbgaustraße", "", 53.6040, 9.8930, 0),
    "eid": ("Eidelstedt", "", 53.5960, 9.9070, 0),
    "hmb": ("Hammerbrook (City Süd)", "", 53.5470, 10.0230, 0),
    "ved": ("Veddel (BallinStadt)", "", 53.5220, 10.0170, 0),
    "wil": ("Wilhelmsburg", "", 53.4980, 10.0070, 0),
    "har": ("Harburg", "", 53.4560, 9.9910, 1),
    "har_s": ("Harburg", "har", 53.4561, 9.9911, 0),
    "hra": ("Harburg Rathaus", "", 53.4610, 9.9810, 0),
    "neu": ("Neugraben", "", 53.4750, 9.8560, 0),
    "bux": ("Buxtehude", "", 53.4700, 9.6910, 0),
    "std": ("Stade", "", 53.5960, 9.4770, 0),
    # S31
    "hos": ("Holstenstraße", "", 53.5630, 9.9450, 0),
    "dam": ("Dammtor (Messe/CCH)", "", 53.5600, 9.9890, 1),
    "dam_s": ("Dammtor (Messe/CCH)", "dam", 53.5601, 9.9891, 0),
    # bus stops: no parent; named as the station they stand at, or with a name of their own
    "bwd": ("Burgwedel", "", 53.6500, 9.9250, 0),
    "nim_b": ("Niendorf Markt", "", 53.6215, 9.9540, 0),
    "ned": ("Nedderfeld", "", 53.6010, 9.9760, 0),
    "sie": ("Siemersplatz", "", 53.5900, 9.9690, 0),
    "hol_b": ("Hoheluftbrücke", "", 53.5785, 9.9745, 0),
    "gri": ("Grindelhof", "", 53.5700, 9.9810, 0),
    "uni": ("Universität/Staatsbibliothek", "", 53.5660, 9.9850, 0),
    "dam_b": ("Dammtor (Messe/CCH)", "", 53.5605, 9.9895, 0),
    "zob": ("Hauptbahnhof/ZOB", "", 53.5510, 10.0110, 0),
    "bor_b": ("Borgweg", "", 53.5905, 10.0155, 0),
    "wim": ("Winterhuder Marktplatz", "", 53.5950, 10.0030, 0),
    "mhk": ("Mühlenkamp", "", 53.5830, 10.0100, 0),
    "hof": ("Hofweg", "", 53.5720, 10.0100, 0),
    "stw": ("Hauptbahnhof/Steintorwall", "", 53.5515, 10.0050, 0),
    "rmk": ("Rathausmarkt", "", 53.5505, 9.9925, 0),
    "ads": ("Auf dem Sande (Speicherstadt)", "", 53.5440, 9.9880, 0),
    # ferry piers: no parent
    "lab_f": ("Landungsbrücken", "", 53.5450, 9.9690, 0),
    "dok": ("Dockland (Fischereihafen)", "", 53.5450, 9.9330, 0),
    "nmo": ("Neumühlen/Oevelgönne", "", 53.5440, 9.9130, 0),
    "fin": ("Finkenwerder", "", 53.5370, 9.8780, 0),
}

# route_id -> (short name, long name, route_type)
ROUTES = {
    "r_u1": ("U1", "Norderstedt Mitte - Großhansdorf/Ohlstedt", 1),
    "r_u2": ("U2", "Niendorf Nord - Mümmelmannsberg", 1),
    "r_u3": ("U3", "Barmbek - Wandsbek-Gartenstadt", 1),
    "r_u4": ("U4", "Elbbrücken - Billstedt", 1),
    "r_s1": ("S1", "Wedel - Poppenbüttel/Hamburg Airport", 109),
    "r_s3": ("S3", "Pinneberg - Stade", 109),
    "r_s31": ("S31", "Altona - Neugraben", 109),
    "r_5": ("5", "Burgwedel - Hauptbahnhof/ZOB", 700),
    "r_6": ("6", "Borgweg - Auf dem Sande", 700),
    "r_x3": ("X3", "Burgwedel - Hauptbahnhof/ZOB", 702),
    "r_62": ("62", "Landungsbrücken - Finkenwerder", 4),
}

_U1_TRUNK = ["nom", "gar", "och", "lhm", "fuh", "ohl_u1", "sen", "lat", "hud", "kel_u1", "klo",
             "hal", "stp", "jun_u1", "mes", "stn", "hbs_u1", "loh", "lue_u1", "war", "wch_u1",
             "wbm", "sbs", "wgs_u1", "tra", "far", "ber", "vol"]
_U1_OHS = [*_U1_TRUNK, "buc", "hoi", "ohs"]
_U1_GHD = [*_U1_TRUNK, "ahw", "aho", "kie", "ghd"]
_U2 = ["nin", "nim", "hti", "ost", "chr", "slp_u2", "meh", "gae", "jun_u24", "hbn", "bto_u24",
       "bur", "hrb", "leg", "bil", "sta", "mue"]
_U4 = ["elb_u4", "hcu", "ueb", "jun_u24", "hbn", "bto_u24", "bur", "hrb", "leg", "bil"]
_LOOP = ["bar_u3", "saa", "bor", "kel_u3", "hol", "slp_u3", "stz_u3", "fel", "spa", "lab_u3",
         "bau", "rat", "mob", "hbs_u3", "bto_u3", "lue_u3", "mun", "hbg", "bar_u3"]
_U3 = [*_LOOP, "hab", "wgs_u3"]
_S1_TRUNK = ["wed", "bla", "oth", "alt_s13", "ree", "lab_s", "jun_s", "hbf_s13", "bto_s", "has",
             "wch_s1", "bar_s1", "ohl_s1"]
_S1_POP = [*_S1_TRUNK, "wel", "pop"]
_S1_AIR = [*_S1_TRUNK, "air"]
_S3 = ["pin", "egs", "eid", "alt_s13", "ree", "lab_s", "jun_s", "hbf_s13", "hmb", "elb_s", "ved",
       "wil", "har_s", "hra", "neu", "bux", "std"]
_S31 = ["alt_s31", "hos", "stz_s", "dam_s", "hbf_s31", "hmb", "elb_s", "ved", "wil", "har_s",
        "hra", "neu"]
_5 = ["bwd", "nim_b", "ned", "sie", "hol_b", "gri", "uni", "dam_b", "zob"]
_6 = ["bor_b", "wim", "mhk", "hof", "stw", "rmk", "ads"]
_X3 = ["bwd", "nim_b", "sie", "hol_b", "dam_b", "zob"]
_62 = ["lab_f", "dok", "nmo", "fin"]


def _upto(stops: list[str], last: str) -> list[str]:
    return stops[:stops.index(last) + 1]


def _from(stops: list[str], first: str) -> list[str]:
    return stops[stops.index(first):]


# trip_id -> (route, direction_id, headsign, stops in order)
TRIPS = {
    "u1_o1": ("r_u1", 0, "Ohlstedt", _U1_OHS),
    "u1_o2": ("r_u1", 0, "Ohlstedt", _U1_OHS),
    "u1_g1": ("r_u1", 0, "Großhansdorf", _U1_GHD),
    "u1_g2": ("r_u1", 0, "Großhansdorf", _U1_GHD),
    "u1_g3": ("r_u1", 0, "Großhansdorf", _U1_GHD),
    "u1_n1": ("r_u1", 1, "Norderstedt Mitte", _U1_OHS[::-1]),
    "u1_n2": ("r_u1", 1, "Norderstedt Mitte", _U1_OHS[::-1]),
    "u1_n3": ("r_u1", 1, "Norderstedt Mitte", _U1_GHD[::-1]),
    "u1_n4": ("r_u1", 1, "Norderstedt Mitte", _U1_GHD[::-1]),
    "u1_n5": ("r_u1", 1, "Norderstedt Mitte", _U1_GHD[::-1]),
    "u1_short": ("r_u1", 1, "Ochsenzoll", _upto(_U1_GHD[::-1], "och")),
    "u2_e1": ("r_u2", 0, "Mümmelmannsberg", _U2),
    "u2_e2": ("r_u2", 0, "Mümmelmannsberg", _U2),
    "u2_w1": ("r_u2", 1, "Niendorf Nord", _U2[::-1]),
    "u2_w2": ("r_u2", 1, "Niendorf Nord", _U2[::-1]),
    "u2_short": ("r_u2", 1, "Niendorf Markt", _upto(_U2[::-1], "nim")),
    "u4_e1": ("r_u4", 0, "Billstedt", _U4),
    "u4_e2": ("r_u4", 0, "Billstedt", _U4),
    "u4_w1": ("r_u4", 1, "Elbbrücken", _U4[::-1]),
    "u4_w2": ("r_u4", 1, "Elbbrücken", _U4[::-1]),
    "u3_a1": ("r_u3", 0, "Wandsbek-Gartenstadt", _U3),
    "u3_a2": ("r_u3", 0, "Wandsbek-Gartenstadt", _U3),
    "u3_b1": ("r_u3", 1, "Barmbek", _U3[::-1]),
    "u3_b2": ("r_u3", 1, "Barmbek", _U3[::-1]),
    "s1_p1": ("r_s1", 0, "Poppenbüttel", _S1_POP),
    "s1_p2": ("r_s1", 0, "Poppenbüttel", _S1_POP),
    "s1_a1": ("r_s1", 0, "Hamburg Airport", _S1_AIR),
    "s1_a2": ("r_s1", 0, "Hamburg Airport", _S1_AIR),
    "s1_w1": ("r_s1", 1, "Wedel", _S1_POP[::-1]),
    "s1_w2": ("r_s1", 1, "Wedel", _S1_POP[::-1]),
    "s1_w3": ("r_s1", 1, "Wedel", _S1_AIR[::-1]),
    "s1_short": ("r_s1", 1, "Blankenese", _upto(_S1_POP[::-1], "bla")),
    "s3_s1": ("r_s3", 0, "Stade", _S3),
    "s3_s2": ("r_s3", 0, "Stade", _S3),
    "s3_short_s": ("r_s3", 0, "Neugraben", _upto(_S3, "neu")),
    "s3_n1": ("r_s3", 1, "Pinneberg", _S3[::-1]),
    "s3_n2": ("r_s3", 1, "Pinneberg", _S3[::-1]),
    "s3_short_n": ("r_s3", 1, "Elbgaustraße", _upto(_from(_S3[::-1], "neu"), "egs")),
    "s31_s1": ("r_s31", 0, "Neugraben", _S31),
    "s31_s2": ("r_s31", 0, "Neugraben", _S31),
    "s31_short": ("r_s31", 0, "Harburg Rathaus", _upto(_S31, "hra")),
    "s31_n1": ("r_s31", 1, "Altona", _S31[::-1]),
    "s31_n2": ("r_s31", 1, "Altona", _S31[::-1]),
    "b5_n1": ("r_5", 0, "Burgwedel", _5[::-1]),
    "b5_n2": ("r_5", 0, "Burgwedel", _5[::-1]),
    "b5_n3": ("r_5", 0, "Burgwedel", _5[::-1]),
    "b5_short": ("r_5", 0, "U Niendorf Markt", _upto(_5[::-1], "nim_b")),
    "b5_s1": ("r_5", 1, "Hauptbahnhof/ZOB", _5),
    "b5_s2": ("r_5", 1, "Hauptbahnhof/ZOB", _5),
    "b6_s1": ("r_6", 0, "Auf dem Sande", _6),
    "b6_n1": ("r_6", 1, "U Borgweg", _6[::-1]),
    "bx3_s1": ("r_x3", 0, "Hauptbahnhof/ZOB", _X3),
    "bx3_n1": ("r_x3", 1, "Burgwedel", _X3[::-1]),
    "f62_w1": ("r_62", 0, "Finkenwerder", _62),
    "f62_e1": ("r_62", 1, "Landungsbrücken", _62[::-1]),
}

ALIASES = """\
# typed by the organisers: what Hamburg's riders call their stations
Schanze = Sternschanze
"""


def files() -> dict[str, str]:
    """The feed's members, name -> CSV text."""
    return gtfs.members(
        STOPS, ROUTES, TRIPS, hour=5, service="Mo-Fr",
        stop_id=lambda sid: f"de:02000:{sid}",
        agencies=[["HHA", "Hamburger Hochbahn AG", "https://www.hochbahn.de", "Europe/Berlin"],
                  ["SBH", "S-Bahn Hamburg GmbH", "https://www.s-bahn-hamburg.de",
                   "Europe/Berlin"],
                  ["HADAG", "HADAG Seetouristik und Fährdienst AG", "https://www.hadag.de",
                   "Europe/Berlin"]],
        agency_of=lambda rid: ("SBH" if rid.startswith("r_s") else
                               "HADAG" if rid == "r_62" else "HHA"))


def write_feed(path: Path, members: dict[str, str] | None = None) -> Path:
    """The feed as a zip at path (members replace or add files)."""
    return gtfs.write_zip(path, {**files(), **(members or {})})
