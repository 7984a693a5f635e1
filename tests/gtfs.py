"""Writing the tests' GTFS feeds (tests/gtfs_feed*.py): their tables as a feed's CSV members
and the zip, as transit authorities write them; and scoring a labelled table of report texts
(tests/test_stations_*labelled*, *_city.py) the same way for every city."""
from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from pathlib import Path

FIELDS = ("station", "line", "direction")


def csv_text(rows: list[list]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def members(stops: dict, routes: dict, trips: dict, agencies: list[list], agency_of,
            stop_id=lambda sid: sid, service: str = "daily", hour: int = 8) -> dict[str, str]:
    """The feed's members, name -> CSV text, from the tables of a tests/gtfs_feed*.py:
    stops {id: (name, parent, lat, lon, location_type)}, routes {id: (short, long, type)},
    trips {id: (route, direction_id, headsign, [stop ids])}; agencies as agency.txt's rows
    (id, name, url, timezone), agency_of(route id) -> agency id."""
    stop_rows = [["stop_id", "stop_name", "stop_lat", "stop_lon", "location_type",
                  "parent_station"]]
    stop_rows += [[stop_id(sid), name, lat, lon, kind, stop_id(parent) if parent else ""]
                  for sid, (name, parent, lat, lon, kind) in stops.items()]
    route_rows = [["route_id", "agency_id", "route_short_name", "route_long_name",
                   "route_type"]]
    route_rows += [[rid, agency_of(rid), short, long, kind]
                   for rid, (short, long, kind) in routes.items()]
    trip_rows = [["route_id", "service_id", "trip_id", "trip_headsign", "direction_id"]]
    trip_rows += [[route, service, tid, headsign, direction]
                  for tid, (route, direction, headsign, _stops) in trips.items()]
    times = [["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"]]
    for tid, (_route, _direction, _headsign, stops_of_trip) in trips.items():
        for n, stop in enumerate(stops_of_trip):
            at = f"{hour:02d}:{n:02d}:00"
            times.append([tid, at, at, stop_id(stop), n + 1])
    return {
        "agency.txt": csv_text([["agency_id", "agency_name", "agency_url", "agency_timezone"],
                                *agencies]),
        "stops.txt": csv_text(stop_rows),
        "routes.txt": csv_text(route_rows),
        "trips.txt": csv_text(trip_rows),
        "stop_times.txt": csv_text(times),
    }


def write_zip(path: Path, contents: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as feed:
        for name, text in contents.items():
            feed.writestr(name, text)
    return path


def score(title: str, rows: list[tuple], answers: list[dict]) -> tuple[float, str]:
    """(share fully right, report) of the answers to labelled rows (text, station, line,
    direction, tags): per field, fully right, and every wrong row with what was expected."""
    right, wrong = Counter(), []
    for row, answer in zip(rows, answers, strict=True):
        expected = dict(zip(FIELDS, row[1:4]))
        got = {field: answer.get(field) for field in FIELDS}
        for field in FIELDS:
            right[field] += expected[field] == got[field]
        if expected == got:
            right["all"] += 1
        else:
            wrong.append((row, expected, got))
    total = len(rows)
    report = [f"{title}: {total} rows"]
    report += [f"  {field:<10} {right[field]:3d}/{total} = {right[field] / total:.1%}"
               for field in (*FIELDS, "all")]
    report.append(f"wrong rows: {len(wrong)}")
    for row, expected, got in wrong:
        report.append(f"  {row[0]!r} [{row[4]}]")
        for field in FIELDS:
            mark = "  " if expected[field] == got[field] else "!!"
            report.append(f"    {mark} {field:<9} expected {expected[field]!r}, "
                          f"got {got[field]!r}")
    return right["all"] / total, "\n".join(report)


def annotate_through_command(instance, city: str, feed, tmp_path: Path,
                             texts: list[str]) -> tuple[str, list[dict]]:
    """Import a feed module's feed and aliases for a new city of a (not running) instance with
    `ticketfrei stations import`, then read the texts with `stations annotate`: (what the
    import said, one answer per text)."""
    import json
    instance.create_city(city)
    aliases = tmp_path / "aliases.txt"
    aliases.write_text(feed.ALIASES, encoding="utf-8")
    imported = instance.cli("stations", "import", city, str(feed.write_feed(tmp_path / "f.zip")),
                            "--aliases", str(aliases))
    assert "alias not used" not in imported.stderr, imported.stderr
    result = instance.cli("stations", "annotate", city, input="\n".join(texts) + "\n")
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(answers) == len(texts), result.stdout + result.stderr
    return imported.stdout.strip(), answers


def check_table(rows: list[tuple], feed, at_least: int) -> None:
    """A labelled table is what it says: enough rows, each text once and on one line, labels
    naming the feed's stations (stops without a parent) and lines, and its tags kept ("left":
    a station only; "nostation": none)."""
    assert len(rows) >= at_least
    texts = [row[0] for row in rows]
    assert len(set(texts)) == len(texts), "a text twice"
    assert all("\n" not in text for text in texts)
    names = {name for name, parent, _lat, _lon, kind in feed.STOPS.values()
             if not parent and kind in (0, 1)}
    lines = {short for short, _long, _kind in feed.ROUTES.values()}
    for text, station, line, direction, tags in rows:
        assert station is None or station in names, text
        assert direction is None or direction in names, text
        assert line is None or line in lines, text
        if "left" in tags.split():
            assert station is not None and line is None and direction is None, text
        if "nostation" in tags.split():
            assert station is None, text
