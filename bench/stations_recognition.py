"""How long recognising a report's station, line and direction takes (stations.Annotator) at
a city of N stations, next to the issue's target (< 5 ms per report at 700 stations).

    python bench/stations_recognition.py                    # 700 stations
    python bench/stations_recognition.py --stations 700,3000,10000 --reports 2000 --json out.json

Per station count it makes a synthetic feed in memory (names as German feeds write them:
"U Lindenstr. (Stadt)", "S+U Birkenplatz", "Rathaus Eichen"; lines U1.., S1.., trams M1..,
buses 100.., 15-35 stations each, both directions), imports it into a SQLite database in a
temporary directory with stations.import_feed, loads the Annotator, and times `annotate` on
`--reports` texts written the ways riders write (typos, "str"/"pl", lower case, a line
written "U 5", "Richtung", an alias-less nickname that matches nothing, texts with no place).
Prints the load time and p50/p99/max per report; the accuracy on these generated texts is
printed as a plausibility check only (tests/test_stations_labelled.py is the labelled table).
Nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FIRST = ["Linden", "Birken", "Eichen", "Kastanien", "Berg", "Wald", "See", "Park", "Markt",
         "Kirch", "Schloss", "Mühlen", "Garten", "Brunnen", "Hermann", "Heinrich-Heine",
         "Karl-Marx", "Frankfurter", "Kottbusser", "Schönlein", "Boddin", "Leine", "Rosen",
         "Tulpen", "Ahorn", "Buchen", "Falken", "Adler", "Hafen", "Kaiser", "König", "Bismarck",
         "Goethe", "Schiller", "Lessing", "Mozart", "Beethoven", "Humboldt", "Luisen", "Sophien",
         "Wilhelm", "Friedrich", "Ostend", "Westend", "Nord", "Süd", "Alt", "Neu", "Ober", "Unter"]
LAST = ["str.", "straße", "platz", "allee", "weg", "damm", "ufer", "tor", "brücke", "ring",
        "markt", "park", "hof", "berg", "feld"]


def names(count: int, rng: random.Random) -> list[str]:
    seen, out = set(), []
    while len(out) < count:
        base = rng.choice(FIRST) + rng.choice(LAST)
        if len(out) > 600:  # FIRST x LAST runs out: double names, as "Kaiser-Friedrich-Str."
            base = f"{rng.choice(FIRST)}-{base}"
        kind = rng.random()
        if kind < 0.1:
            base = f"Rathaus {rng.choice(FIRST)}"
        name = (rng.choice(["U ", "S+U ", "S ", "", ""]) + base
                + rng.choice([" (Stadt)", "", ""]))
        if base.lower() not in seen:
            seen.add(base.lower())
            out.append(name)
    return out


def feed(count: int, rng: random.Random, path: Path) -> tuple[Path, list, list]:
    import csv
    import io
    import zipfile
    stops = names(count, rng)
    lines = ([(f"U{n}", 1) for n in range(1, 10)] + [(f"S{n}", 2) for n in range(1, 10)]
             + [(f"M{n}", 0) for n in range(1, 13)] + [(str(100 + n), 3)
                                                       for n in range(max(10, count // 20))])
    routes = []
    for name, kind in lines:
        routes.append((name, kind, rng.sample(range(count), rng.randint(15, min(35, count)))))

    def table(header, rows):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue()

    trips, times = [], []
    for n, (name, _kind, path_of) in enumerate(routes):
        for direction, order in ((0, path_of), (1, path_of[::-1])):
            trip = f"t{n}_{direction}"
            trips.append((f"r{n}", "daily", trip, stops[order[-1]], direction))
            times += [(trip, "08:00:00", "08:00:00", f"s{s}", i + 1) for i, s in enumerate(order)]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("stops.txt", table(["stop_id", "stop_name", "stop_lat", "stop_lon"],
                                      [(f"s{n}", name, 52 + n / 1000, 13) for n, name
                                       in enumerate(stops)]))
        z.writestr("routes.txt", table(["route_id", "route_short_name", "route_type"],
                                       [(f"r{n}", name, kind) for n, (name, kind, _p)
                                        in enumerate(routes)]))
        z.writestr("trips.txt", table(["route_id", "service_id", "trip_id", "trip_headsign",
                                       "direction_id"], trips))
        z.writestr("stop_times.txt", table(["trip_id", "arrival_time", "departure_time",
                                            "stop_id", "stop_sequence"], times))
    return path, stops, routes


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 7 or rng.random() < 0.5:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1:]


def texts(stops, routes, count: int, rng: random.Random) -> list[tuple[str, str]]:
    from stations import display_name
    out = []
    for _ in range(count):
        name, _kind, path_of = rng.choice(routes)
        here = rng.choice(path_of)
        station = display_name(stops[here])
        written = typo(station.replace("straße", "str").replace("platz", "pl")
                       if rng.random() < 0.3 else station, rng)
        if rng.random() < 0.3:
            written = written.lower()
        line = name if rng.random() < 0.7 else ""
        if line and rng.random() < 0.2:
            line = f"{line[0]} {line[1:]}"
        towards = ""
        if rng.random() < 0.4:
            towards = f" Richtung {display_name(stops[path_of[-1]])}"
        filler = rng.choice(["2x Kontis", "Kontrolle", "3 blauwesten", "zivis", "Achtung"])
        shape = rng.random()
        if shape < 0.1:
            out.append((f"{filler} im Zug, bin gleich raus", ""))
        else:
            out.append((f"{filler} {line} {written}{towards} am Bahnsteig".replace("  ", " "),
                        stops[here]))
    return out


def run(count: int, reports: int, seed: int) -> dict:
    import db
    import stations
    from sqlalchemy.orm import sessionmaker
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        path, stops, routes = feed(count, rng, Path(tmp) / "feed.zip")
        engine = db.make_engine(f"sqlite:///{tmp}/bench.sqlite")
        db.create_schema(engine)
        sessions = sessionmaker(engine)
        with sessions.begin() as session:
            session.add(db.User(id=1, passhash="-"))
            session.add(db.City(id=1, user_id=1, name="stadt"))
            session.flush()
            started = time.perf_counter()
            stations.import_feed(session, 1, path)
            imported = time.perf_counter() - started
        with sessions() as session:
            started = time.perf_counter()
            annotator = stations.Annotator.load(session, 1)
            loaded = time.perf_counter() - started
        engine.dispose()
    sample = texts(stops, routes, reports, rng)
    took, right = [], 0
    for text, station in sample:
        started = time.perf_counter()
        place = annotator.annotate(text)
        took.append((time.perf_counter() - started) * 1000)
        right += (place["station"] or "") == station
    took.sort()
    return {"stations": count, "reports": reports, "import_s": round(imported, 3),
            "load_s": round(loaded, 3),
            "p50_ms": round(statistics.median(took), 3),
            "p99_ms": round(took[int(len(took) * 0.99) - 1], 3), "max_ms": round(took[-1], 3),
            "station_right": round(right / len(sample), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", default="700", help="comma-separated station counts")
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    results = []
    print(f"{'stations':>8} {'import s':>9} {'load s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'station right':>13}")
    for count in (int(n) for n in args.stations.split(",")):
        r = run(count, args.reports, args.seed)
        results.append(r)
        print(f"{r['stations']:>8} {r['import_s']:>9} {r['load_s']:>7} {r['p50_ms']:>7} "
              f"{r['p99_ms']:>7} {r['max_ms']:>7} {r['station_right']:>13}")
        print(f"         under 5 ms per report (p99): {'yes' if r['p99_ms'] < 5 else 'no'}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
