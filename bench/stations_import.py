"""The import of a city's GTFS feed (`ticketfrei stations import`): its peak memory and its time
on a large synthetic feed, next to the issue's target ("Import of a 150 MB synthetic feed stays
under 200 MB of memory").

    python bench/stations_import.py                          # one 150 MB feed
    python bench/stations_import.py --megabytes 20,150 --json out.json   # how it scales
    python bench/stations_import.py --shuffled               # stop_times not grouped by trip
    python bench/stations_import.py --megabytes 5 --generate-only --check --keep /tmp/feeds
    python bench/stations_import.py --feed /tmp/feeds/gtfs-150mb-sorted.zip   # reuse a feed

Per feed size (`--megabytes`, comma-separated; MB are 10^6 bytes) it writes a synthetic feed,
streamed to a zip on disk (the feed is never held in memory): agency.txt, calendar.txt,
routes.txt (400 routes: U1..U9 and S-Bahn lines, trams M1.. and 12.., buses 100..; route_type
1, 2, 0, 3), stops.txt (8 000 rows: stations with their platforms and a few entrances, and
stand-alone stops; names as "U Musterstraße 123 (Stadt)", "S+U Bahnhof 17 (Stadt)", some with
a comma, which CSV quotes), trips.txt (headsigns, direction_id 0/1, services of calendar.txt)
and stop_times.txt, 20 to 40 stops a trip, as many trips as make the members' uncompressed
sizes add up to the size asked. Its rows are sorted by trip_id and stop_sequence as real feeds
write them; with --shuffled they are not grouped by trip: the file is written in rounds, the
first stop of every trip (in a random order of the trips), then the second of every trip, and
so on, so that every trip stays open from the file's beginning to its end. The seed is fixed
(--seed): the same arguments give the same feed.

Then, in a temporary directory, an instance's settings (its data directory; the network
plugins disabled, so that the figures are the import's, not those of the plugins' imports:
--with-networks keeps them) and a city made by `main.py city create bench --password-stdin`,
and the import runs as a child process: `main.py --config CFG stations import bench FEED`.
Measured: wall and CPU seconds; peak RSS, the kernel's (ru_maxrss of the child, from wait4;
also RUSAGE_CHILDREN after it, the largest child so far) and as sampled with psutil every 50 ms
(--interval), with peak USS and PSS (memory_full_info); when the peak came (as a share of the
run); the rows each table of the database gained; the import's last line of output. As a floor,
the peak RSS of a command that loads the same settings and opens the database (`city list`).

Nothing is asserted and no figure fails the run (the tests never look at times or memory:
these machines are shared and noisy); "under 200 MB" (200 * 10^6 bytes of peak RSS) is
printed as yes or no. Generated files go in a temporary directory (TMPDIR), or in --keep DIR.
"""
from __future__ import annotations

import argparse
import array
import csv
import io
import json
import os
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "main.py"
NETWORKS = ("mail", "mastodon", "telegram", "twitter", "web")  # as tests/instance.py
MB = 10 ** 6
MIB = 2 ** 20
TARGET_BYTES = 200 * MB  # the target for a 150 MB feed
CITY = "bench"
PASSWORD = "a bench password for the stations import"
CRLF = "\r\n"  # as most transit authorities write their feeds


# --- the synthetic feed ----------------------------------------------------------------------

STEMS = ("Musterstraße", "Hauptstraße", "Bahnhofstraße", "Schloßallee", "Lindenallee",
         "Görlitzer Straße", "Müllerstraße", "Am Markt", "Kirchplatz", "Friedrichstraße",
         "Weißenseer Weg", "Kottbusser Damm", "Rathaus", "Sonnenallee", "Karl-Marx-Straße",
         "Allee der Kosmonauten", "Straße des 17. Juni", "Platz der Luftbrücke", "Jüdenstraße",
         "Schönhauser Allee", "Mühlendamm", "Grüner Weg", "Alt-Mariendorf", "Zur Börse")
SERVICES = (("wk", "1111100"), ("sa", "0000010"), ("so", "0000001"), ("wk_s", "1111100"),
            ("fr_n", "0000110"))


class Feed:
    """The feed's stops, routes and stop patterns, and its plan of trips (small: the rows of
    stop_times are made from the plan while they are written)."""

    def __init__(self, seed: int, stops: int = 8000, routes: int = 400):
        self.rng = random.Random(seed)
        self.times = [f"{m // 60:02d}:{m % 60:02d}:00" for m in range(32 * 60)]
        self.make_stops(stops)
        self.make_routes(routes)
        self.make_patterns()
        # the plan: per trip its pattern, its start (minutes after midnight) and its service
        self.trip_pattern = array.array("H")
        self.trip_start = array.array("H")
        self.trip_service = array.array("B")

    # stops: (stop_id, name, lat, lon, location_type, parent_station)
    def make_stops(self, count: int) -> None:
        rng = self.rng
        self.stops = []
        self.platforms = []  # stop_ids of platforms: where trains stop
        self.streets = []  # stop_ids of stand-alone stops: where buses and trams stop
        self.name_of = {}
        stations = count * 15 // 100
        for n in range(stations):
            stem = rng.choice(STEMS)
            name = rng.choice((f"S+U Bahnhof {n} (Stadt)", f"U {stem} {n} (Stadt)",
                               f"S {stem} {n} (Stadt)", f"S+U {stem} {n} Bhf (Stadt)",
                               f"Stadt, {stem} {n}"))
            lat, lon = 52.35 + rng.random() * 0.3, 13.1 + rng.random() * 0.6
            sid = f"de:11000:900{n:06d}"
            self.stops.append((sid, name, f"{lat:.6f}", f"{lon:.6f}", 1, ""))
            self.name_of[sid] = name
            for k in range(rng.randint(2, 4)):
                child = f"{sid}::{k + 1}"
                self.stops.append((child, name, f"{lat + rng.uniform(-3e-4, 3e-4):.6f}",
                                   f"{lon + rng.uniform(-3e-4, 3e-4):.6f}", 0, sid))
                self.platforms.append(child)
                self.name_of[child] = name
            if rng.random() < 0.15:
                self.stops.append((f"{sid}::E", f"{name} Eingang {stem}", f"{lat:.6f}",
                                   f"{lon:.6f}", 2, sid))
        n = 0
        while len(self.stops) < count:
            stem = rng.choice(STEMS)
            name = (f"{stem} {rng.randint(1, 250)}" if rng.random() < 0.8 else
                    f"{stem}/{rng.choice(STEMS)}")
            sid = f"de:11001:{n:06d}"
            self.stops.append((sid, name, f"{52.35 + rng.random() * 0.3:.6f}",
                               f"{13.1 + rng.random() * 0.6:.6f}", 0, ""))
            self.streets.append(sid)
            self.name_of[sid] = name
            n += 1

    # routes: (route_id, short_name, long_name, route_type)
    def make_routes(self, count: int) -> None:
        names = [(f"U{n}", 1) for n in range(1, 10)]
        names += [(f"S{n}", 2) for n in (1, 2, 25, 26, 3, 41, 42, 45, 46, 47, 5, 7, 75, 8, 85, 9)]
        names += [(f"M{n}", 0) for n in range(1, 18)]
        names += [(str(n), 0) for n in range(12, 69, 3)]
        bus = 100
        while len(names) < count:
            names.append((str(bus), 3))
            bus += 1 if bus < 400 else 7
        self.routes = [(f"r{n:04d}", short, "Ringbahn" if short in ("S41", "S42") else "", kind)
                       for n, (short, kind) in enumerate(names[:count])]

    # patterns: (route index, direction_id, headsign, [stop_id, ...])
    def make_patterns(self) -> None:
        rng = self.rng
        self.patterns = []
        for r, (_rid, _short, _long, kind) in enumerate(self.routes):
            length = rng.randint(20, 40)
            if kind in (1, 2):
                line = rng.sample(self.platforms, length)
            else:
                pool = self.streets if rng.random() < 0.8 else self.platforms
                line = rng.sample(pool, length)
            variants = [line]
            if rng.random() < 0.5:  # a short working
                variants.append(line[:max(20, length * 3 // 4)])
            for stops in variants:
                for direction, ordered in ((0, stops), (1, stops[::-1])):
                    headsign = self.name_of[ordered[-1]].removesuffix(" (Stadt)")
                    self.patterns.append((r, direction, headsign, ordered))
        # per pattern: the minutes from the trip's start at each stop, and the exact UTF-8
        # size of its rows in trips.txt and stop_times.txt without the trip's own values
        self.offsets, self.trip_bytes, self.stop_time_bytes = [], [], []
        for r, direction, headsign, stops in self.patterns:
            at, offsets = 0, []
            for _ in stops:
                offsets.append(at)
                at += rng.randint(1, 3)
            self.offsets.append(offsets)
            self.trip_bytes.append(csv_bytes([[self.routes[r][0], "", "", headsign, direction]]))
            self.stop_time_bytes.append(csv_bytes(self.stop_time_rows("", 0, stops, offsets)))

    def stop_time_rows(self, trip_id, start, stops, offsets):
        last = len(stops) - 1
        times = self.times
        return [[trip_id, times[start + o], times[start + o], stop, seq + 1,
                 1 if seq == last else 0, 1 if seq == 0 else 0]
                for seq, (stop, o) in enumerate(zip(stops, offsets))]

    @staticmethod
    def trip_id(n: int) -> str:
        return str(2_100_000_000 + n)

    def plan(self, budget: int) -> int:
        """Trips until the rows of trips.txt and stop_times.txt take `budget` bytes; returns
        their bytes."""
        rng, used, n = self.rng, 0, 0
        services = [len(s) for s, _days in SERVICES]
        while used < budget:
            p = rng.randrange(len(self.patterns))
            service = rng.randrange(len(SERVICES))
            self.trip_pattern.append(p)
            self.trip_start.append(rng.randrange(4 * 60, 25 * 60))
            self.trip_service.append(service)
            id_bytes = len(self.trip_id(n))
            used += (self.trip_bytes[p] + id_bytes + services[service] +
                     self.stop_time_bytes[p] + id_bytes * len(self.patterns[p][3]))
            n += 1
        return used

    def stop_time_count(self) -> int:
        return sum(len(self.patterns[p][3]) for p in self.trip_pattern)


def csv_bytes(rows) -> int:
    out = io.StringIO()
    csv.writer(out, lineterminator=CRLF).writerows(rows)
    return len(out.getvalue().encode())


def write_member(feed_zip: zipfile.ZipFile, name: str, header, rows, big=False) -> int:
    """A member written in chunks through csv.writer; `rows` yields lists of rows. Returns its
    uncompressed size."""
    with (feed_zip.open(name, "w", force_zip64=big) as raw,
          io.TextIOWrapper(raw, encoding="utf-8", newline="") as text):
        writer = csv.writer(text, lineterminator=CRLF)
        writer.writerow(header)
        for chunk in rows:
            writer.writerows(chunk)
    return feed_zip.getinfo(name).file_size


def generate(path: Path, megabytes: float, shuffled: bool, seed: int) -> dict:
    """Writes the feed to path; returns what it holds."""
    began = time.monotonic()
    target = int(megabytes * MB)
    feed = Feed(seed)
    sizes = {}
    stop_times_header = ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence",
                         "pickup_type", "drop_off_type"]
    trips_header = ["route_id", "service_id", "trip_id", "trip_headsign", "direction_id"]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        sizes["agency.txt"] = write_member(
            out, "agency.txt", ["agency_id", "agency_name", "agency_url", "agency_timezone"],
            [[["STADT", "Stadtverkehr Bench", "https://example.org", "Europe/Berlin"]]])
        sizes["calendar.txt"] = write_member(
            out, "calendar.txt", ["service_id", "monday", "tuesday", "wednesday", "thursday",
                                  "friday", "saturday", "sunday", "start_date", "end_date"],
            [[[sid, *days, "20250101", "20251231"] for sid, days in SERVICES]])
        sizes["routes.txt"] = write_member(
            out, "routes.txt", ["route_id", "agency_id", "route_short_name", "route_long_name",
                                "route_type"],
            [[[rid, "STADT", short, long, kind] for rid, short, long, kind in feed.routes]])
        sizes["stops.txt"] = write_member(
            out, "stops.txt", ["stop_id", "stop_name", "stop_lat", "stop_lon", "location_type",
                               "parent_station"], [feed.stops])
        headers = csv_bytes([trips_header]) + csv_bytes([stop_times_header])
        budget = target - sum(sizes.values()) - headers
        planned = feed.plan(budget) + headers
        trips = len(feed.trip_pattern)
        routes = feed.routes
        sizes["trips.txt"] = write_member(out, "trips.txt", trips_header, (
            [[routes[feed.patterns[p][0]][0], SERVICES[s][0], feed.trip_id(n),
              feed.patterns[p][2], feed.patterns[p][1]]
             for n, p, s in zip(range(start, start + 5000),
                                feed.trip_pattern[start:start + 5000],
                                feed.trip_service[start:start + 5000])]
            for start in range(0, trips, 5000)))
        chunks = shuffled_rows(feed, seed) if shuffled else sorted_rows(feed)
        sizes["stop_times.txt"] = write_member(out, "stop_times.txt", stop_times_header, chunks,
                                               big=True)
    total = sum(sizes.values())
    if total != planned + sum(sizes[n] for n in ("agency.txt", "calendar.txt", "routes.txt",
                                                  "stops.txt")):
        print(f"# note: the feed's members take {total} bytes, {planned} were planned for "
              "trips and stop_times with the others", file=sys.stderr)
    return {"feed_zip_bytes": path.stat().st_size, "feed_bytes": total, "member_bytes": sizes,
            "stops": len(feed.stops), "routes": len(feed.routes), "trips": trips,
            "stop_times": feed.stop_time_count(), "shuffled": shuffled,
            "generate_s": time.monotonic() - began}


def sorted_rows(feed: Feed, trips_a_chunk: int = 500):
    """stop_times in chunks of rows, by trip_id and stop_sequence."""
    chunk = []
    for n, (p, start) in enumerate(zip(feed.trip_pattern, feed.trip_start)):
        chunk += feed.stop_time_rows(feed.trip_id(n), start, feed.patterns[p][3], feed.offsets[p])
        if n % trips_a_chunk == trips_a_chunk - 1:
            yield chunk
            chunk = []
    yield chunk


def shuffled_rows(feed: Feed, seed: int, rows_a_chunk: int = 20000):
    """stop_times in rounds: the k-th stop of every trip (trips in a random order), k = 1, 2..."""
    order = list(range(len(feed.trip_pattern)))
    random.Random(seed + 1).shuffle(order)
    longest = max(len(stops) for _r, _d, _h, stops in feed.patterns)
    times, chunk = feed.times, []
    for seq in range(longest):
        for n in order:
            p = feed.trip_pattern[n]
            stops = feed.patterns[p][3]
            if seq < len(stops):
                at = times[feed.trip_start[n] + feed.offsets[p][seq]]
                chunk.append([feed.trip_id(n), at, at, stops[seq], seq + 1,
                              1 if seq == len(stops) - 1 else 0, 1 if seq == 0 else 0])
                if len(chunk) >= rows_a_chunk:
                    yield chunk
                    chunk = []
    yield chunk


def read_member(feed_zip: zipfile.ZipFile, name: str):
    raw = feed_zip.open(name)
    return csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))


def describe_feed(path: Path, check: bool = False) -> dict:
    """What a feed on disk holds (stop_times read as a stream); with check, whether its files
    agree with each other. Raises ValueError on a disagreement."""
    with zipfile.ZipFile(path) as feed_zip:
        sizes = {info.filename: info.file_size for info in feed_zip.infolist()}
        facts = {"feed_zip_bytes": path.stat().st_size, "feed_bytes": sum(sizes.values()),
                 "member_bytes": sizes}
        stops, trips, routes, problems = {}, {}, set(), []
        if check:
            routes = {row["route_id"] for row in read_member(feed_zip, "routes.txt")}
            for row in read_member(feed_zip, "stops.txt"):
                stops[row["stop_id"]] = (row.get("location_type") or "0",
                                         row.get("parent_station") or "")
            for sid, (_kind, parent) in stops.items():
                if parent and stops.get(parent, ("",))[0] != "1":
                    problems.append(f"stop {sid}: its parent {parent} is not a station")
            for row in read_member(feed_zip, "trips.txt"):
                if row["route_id"] not in routes:
                    problems.append(f"trip {row['trip_id']}: no route {row['route_id']}")
                trips[row["trip_id"]] = 0
            facts.update(stops=len(stops), routes=len(routes), trips=len(trips))
        rows, grouped, seen, last, previous_seq = 0, True, set(), None, 0
        for row in read_member(feed_zip, "stop_times.txt"):
            rows += 1
            trip, seq = row["trip_id"], int(row["stop_sequence"])
            if trip != last:
                if trip in seen:
                    grouped = False
                if grouped:
                    seen.add(trip)
                last, previous_seq = trip, 0
            elif seq <= previous_seq:
                grouped = False
            previous_seq = seq
            if check:
                if row["stop_id"] not in stops:
                    problems.append(f"stop_times row {rows}: no stop {row['stop_id']}")
                elif stops[row["stop_id"]][0] != "0":
                    problems.append(f"stop_times row {rows}: {row['stop_id']} is no stop")
                if trip not in trips:
                    problems.append(f"stop_times row {rows}: no trip {trip}")
                else:
                    trips[trip] += 1
            if len(problems) > 20:
                break
        if check:
            problems += [f"trip {t}: no stop_times" for t, n in trips.items() if n < 2][:20]
        if problems:
            raise ValueError(f"{path}: " + "; ".join(problems[:20]))
        facts.update(stop_times=rows, shuffled=not grouped)
        return facts


# --- the instance and the measured command ---------------------------------------------------

def make_instance(directory: Path, with_networks: bool) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    settings = directory / "ticketfrei.toml"
    text = (f"[instance]\ndata_dir = {json.dumps(str(directory / 'data'))}\n"
            'log_level = "WARNING"\n')
    if not with_networks:
        text += f"[plugins]\ndisabled = {json.dumps(list(NETWORKS))}\n"
    settings.write_text(text)
    result = subprocess.run([sys.executable, str(MAIN), "--config", str(settings), "city",
                             "create", CITY, "--email", "bench@example.org", "--password-stdin"],
                            input=PASSWORD + "\n", capture_output=True, text=True, cwd=directory,
                            timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"city create failed ({result.returncode}):\n"
                           f"{result.stdout}{result.stderr}")
    return settings


def table_rows(database: Path) -> dict:
    """{table: rows} of a SQLite database, read-only."""
    if not database.is_file():
        return {}
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        names = [n for (n,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: connection.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]
                for n in names}
    finally:
        connection.close()


def measure(command, cwd: Path, interval: float, timeout: float) -> dict:
    """Runs command, sampling its memory every `interval` s; its figures and output."""
    out_path, err_path = cwd / "stdout.txt", cwd / "stderr.txt"
    samples = []  # (seconds, rss, uss, pss)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        began = time.monotonic()
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=cwd)
    watched = psutil.Process(proc.pid)
    killed = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            took = time.monotonic() - began
            break
        try:
            info = watched.memory_full_info()
            samples.append((time.monotonic() - began, info.rss, info.uss,
                            getattr(info, "pss", None)))
        except (psutil.Error, OSError):
            pass
        if not killed and time.monotonic() - began > timeout:
            proc.kill()
            killed = True
        time.sleep(interval)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")

    def peak(index):
        values = [s[index] for s in samples if s[index] is not None]
        return max(values) / MIB if values else None

    at_peak = max(samples, key=lambda s: s[1])[0] if samples else None
    return {"returncode": proc.returncode, "killed": killed, "seconds": took,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
            "children_max_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "sampled_rss_mib": peak(1), "sampled_uss_mib": peak(2), "sampled_pss_mib": peak(3),
            "peak_at": at_peak / took if at_peak is not None and took else None,
            "samples": len(samples), "stdout": stdout, "stderr": stderr,
            "rss_series": [(round(t, 2), round(rss / MIB, 1)) for t, rss, _u, _p in
                           samples[::max(1, len(samples) // 200)]]}


def import_help() -> str | None:
    """None if `stations import` is there, else why not."""
    result = subprocess.run([sys.executable, str(MAIN), "stations", "import", "--help"],
                            capture_output=True, text=True, cwd=tempfile.gettempdir(),
                            timeout=120, check=False)
    if result.returncode == 0:
        return None
    return (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]


def run_one(args, megabytes, workdir: Path, note) -> dict:
    result = {"megabytes": megabytes, "shuffled": args.shuffled, "errors": []}
    if args.feed:
        feed = Path(args.feed).resolve()
        note(f"reading {feed}")
        result.update(describe_feed(feed, check=args.check))
        result["megabytes"] = result["feed_bytes"] / MB
    else:
        where = Path(args.keep).resolve() if args.keep else workdir
        where.mkdir(parents=True, exist_ok=True)
        feed = where / (f"gtfs-{megabytes:g}mb-{'shuffled' if args.shuffled else 'sorted'}-"
                        f"seed{args.seed}.zip")
        note(f"writing a {megabytes:g} MB feed to {feed}")
        result.update(generate(feed, megabytes, args.shuffled, args.seed))
        note(f"{result['feed_bytes'] / MB:.1f} MB in {result['feed_zip_bytes'] / MB:.1f} MB of "
             f"zip, {result['stop_times']} stop_times, written in {result['generate_s']:.1f} s")
        if args.check:
            began = time.monotonic()
            facts = describe_feed(feed, check=True)
            if facts["stop_times"] != result["stop_times"] or facts["shuffled"] != args.shuffled:
                raise ValueError(f"{feed}: {facts['stop_times']} stop_times rows read back, "
                                 f"{result['stop_times']} written; shuffled read back "
                                 f"{facts['shuffled']}")
            if result["feed_bytes"] < megabytes * MB:
                raise ValueError(f"{feed}: {result['feed_bytes']} bytes, "
                                 f"{megabytes * MB:.0f} asked")
            note(f"checked: every stop_times row's stop and trip exist, every trip's route, "
                 f"every parent station ({time.monotonic() - began:.1f} s)")
    result["feed"] = str(feed)
    if args.generate_only:
        return result
    try:
        instance = workdir / f"instance-{megabytes:g}"
        settings = make_instance(instance, args.with_networks)
        database = instance / "data" / "ticketfrei.sqlite"
        floor = measure([sys.executable, str(MAIN), "--config", str(settings), "city", "list"],
                        instance, args.interval, 300)
        result["floor_rss_mib"] = floor["peak_rss_mib"]
        before = table_rows(database)
        size_before = database.stat().st_size if database.is_file() else 0
        note(f"stations import {CITY} {feed.name}")
        run = measure([sys.executable, str(MAIN), "--config", str(settings), "stations",
                       "import", CITY, str(feed)], instance, args.interval, args.timeout)
        after = table_rows(database)
        result["database_rows_added"] = {t: n - before.get(t, 0) for t, n in after.items()
                                         if n != before.get(t, 0)}
        result["database_growth_mib"] = ((database.stat().st_size - size_before) / MIB
                                         if database.is_file() else None)
        lines = [line for line in run.pop("stdout").splitlines() if line.strip()]
        errors = run.pop("stderr")
        result.update(run, summary=lines[-1] if lines else "")
        result["under_target"] = run["peak_rss_mib"] * MIB < TARGET_BYTES
        if run["returncode"] != 0:
            result["errors"].append(f"the import exited with {run['returncode']}"
                                    f"{' (killed after --timeout)' if run['killed'] else ''}: "
                                    + (errors.strip()[-2000:] or "no output"))
        elif errors.strip():
            result["import_stderr"] = errors.strip()[-2000:]
    finally:
        if not args.keep and not args.feed and feed.exists():
            feed.unlink()
    return result


# --- output ----------------------------------------------------------------------------------

def fmt(value, digits=1):
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_results(runs) -> None:
    header = ("feed MB", "zip MB", "stop_times", "order", "peak RSS MiB",
              "sampled RSS / USS / PSS MiB", "peak at", "floor MiB", "import s", "CPU s", "< 200 MB")
    print(" | ".join(header))
    for r in runs:
        print(" | ".join((
            fmt(r.get("feed_bytes", 0) / MB), fmt(r.get("feed_zip_bytes", 0) / MB),
            fmt(r.get("stop_times")), "shuffled" if r.get("shuffled") else "sorted",
            fmt(r.get("peak_rss_mib")),
            " / ".join(fmt(r.get(k)) for k in ("sampled_rss_mib", "sampled_uss_mib",
                                               "sampled_pss_mib")),
            f"{r['peak_at']:.0%}" if r.get("peak_at") is not None else "n/a",
            fmt(r.get("floor_rss_mib")), fmt(r.get("seconds")), fmt(r.get("cpu_s")),
            fmt(r.get("under_target")))))
    for r in runs:
        name = f"{r.get('feed_bytes', 0) / MB:.0f} MB"
        if r.get("summary"):
            print(f"# {name}, the import said: {r['summary']}")
        if r.get("database_rows_added"):
            print(f"# {name}, rows added: " + ", ".join(
                f"{t} {n}" for t, n in sorted(r["database_rows_added"].items())) +
                f"; the database grew by {fmt(r.get('database_growth_mib'))} MiB")
        if r.get("import_stderr"):
            print(f"# {name}, the import's stderr: {r['import_stderr'][-500:]}")
        for error in r.get("errors", ()):
            print(f"# {name}: {error}")


def megabyte_list(value: str) -> list[float]:
    sizes = [float(part) for part in value.split(",") if part.strip()]
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError("--megabytes takes positive numbers")
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=megabyte_list, default=[150.0],
                        help="uncompressed feed sizes, MB (10^6 bytes), comma-separated "
                             "(default 150)")
    parser.add_argument("--shuffled", action="store_true",
                        help="stop_times not grouped by trip (default: sorted by trip_id and "
                             "stop_sequence)")
    parser.add_argument("--feed", metavar="PATH", help="import this feed instead of generating")
    parser.add_argument("--keep", metavar="DIR", help="write the generated feeds here, and keep "
                                                      "them")
    parser.add_argument("--check", action="store_true",
                        help="read the feed back and check that its files agree (not measured)")
    parser.add_argument("--generate-only", action="store_true",
                        help="write (and --check) the feeds, import nothing")
    parser.add_argument("--with-networks", action="store_true",
                        help="leave the network plugins enabled, as on a real instance")
    parser.add_argument("--interval", type=float, default=0.05,
                        help="seconds between memory samples (default 0.05)")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds the import may take before it is killed (default 3600)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="PATH", help="write all figures as JSON")
    args = parser.parse_args(argv)
    if args.feed and (args.keep or args.shuffled):
        parser.error("--feed imports a feed as it is: not with --keep or --shuffled")
    if args.feed:
        args.megabytes = [0.0]

    machine = {"cores": psutil.cpu_count(), "memory_gib": psutil.virtual_memory().total / 2 ** 30,
               "python": platform.python_version(), "platform": platform.platform()}
    print(f"# GTFS import: {machine['cores']} cores, {machine['memory_gib']:.0f} GiB, Python "
          f"{machine['python']} ({sys.executable}); target: peak RSS under "
          f"{TARGET_BYTES / MB:.0f} MB ({TARGET_BYTES / MIB:.1f} MiB)", flush=True)
    if not args.generate_only:
        missing = import_help()
        if missing:
            print(f"# `main.py stations import` is not there: {' '.join(missing)}",
                  file=sys.stderr)
            return 2

    def note(text):
        print(f"# {text}", file=sys.stderr, flush=True)

    runs = []
    with tempfile.TemporaryDirectory(prefix="ticketfrei-stations-bench-") as workdir:
        for megabytes in args.megabytes:
            runs.append(run_one(args, megabytes, Path(workdir), note))
    if args.generate_only:
        for r in runs:
            print(f"{r['feed']}: {r['feed_bytes'] / MB:.1f} MB in {r['feed_zip_bytes'] / MB:.1f} "
                  f"MB of zip; {fmt(r.get('stops'))} stops, {fmt(r.get('routes'))} routes, "
                  f"{fmt(r.get('trips'))} trips, {r['stop_times']} stop_times "
                  f"({'shuffled' if r['shuffled'] else 'sorted'}); "
                  f"written in {fmt(r.get('generate_s'))} s")
    else:
        print_results(runs)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": machine, "settings": {k: v for k, v in vars(args).items()
                                              if k != "json"}, "runs": runs}, indent=2))
        print(f"# figures written to {args.json}")
    return 1 if any(r.get("errors") for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
