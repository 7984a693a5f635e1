"""A city's transit data (stations.py): a GTFS feed imported with bounded memory and its bad
forms refused with a reason; the censor stores where an accepted report says the inspectors
are, and the relayed text begins with it; the organisers' panel imports (upload or URL), takes
aliases, switches the prefix and lets them try a text; a running instance relays with the
prefix and its city page lists it. The labelled table of texts is tests/test_stations_labelled.py."""
from __future__ import annotations

import http.server
import io
import json
import random
import re
import tempfile
import threading
import zipfile
from pathlib import Path

import pytest
import webtest
from sqlalchemy import select, update

import censor
import db
import frontend
import stations
import user
from gtfs_feed import ALIASES, files, write_feed
from instance import wait_for, without


def _city(session, name="berlin"):
    return user.create_city(session, name, f"orga@{name}.example", "a good password")


def _berlin(core_for, url, tmp_path):
    settings, plugins, sessions = core_for(url)
    with sessions.begin() as session:
        city = _city(session)
        stations.import_feed(session, city.id, write_feed(tmp_path / "feed.zip"), ALIASES)
    return settings, plugins, sessions, city


@pytest.fixture
def berlin(core_for, sqlite_url, tmp_path):
    """(settings, plugins, sessions, city) with the test feed imported for berlin."""
    return _berlin(core_for, sqlite_url, tmp_path)


@pytest.fixture
def berlin_on_both(core_for, database_url, tmp_path):
    """berlin, once on SQLite and once on PostgreSQL."""
    return _berlin(core_for, database_url, tmp_path)


def _annotator(sessions, city_id):
    with sessions() as session:
        return stations.Annotator.load(session, city_id)


# --- import --------------------------------------------------------------------------------

def test_import_merges_platforms_bus_stops_and_parents_into_stations(berlin):
    _settings, _plugins, sessions, city = berlin
    annotator = _annotator(sessions, city.id)
    names = annotator.stations
    # one Hermannplatz for both platforms and the entrance, one Alexanderplatz for the U8's
    # platform and the bus stop of the same name 70 m away
    assert names.count("U Hermannplatz (Berlin)") == 1
    assert names.count("S+U Alexanderplatz Bhf (Berlin)") == 1
    hermannplatz = names.index("U Hermannplatz (Berlin)")
    alexanderplatz = names.index("S+U Alexanderplatz Bhf (Berlin)")
    line_names = {n: name for n, (name, _kind) in enumerate(annotator.lines)}
    assert {line_names[n] for n in annotator.served[hermannplatz]} == {"U7", "U8"}
    assert {line_names[n] for n in annotator.served[alexanderplatz]} == {"U8", "100"}
    with sessions() as session:
        summary = stations.summary_of(session, city.id)
    assert (summary["stations"], summary["lines"], summary["stops"], summary["trips"]) == (
        25, 5, 35, 14)
    assert summary["patterns"] == 10  # U8 both ways and the short trip, U7 both ways, ...


def test_same_name_far_apart_stays_two_stations(core_for, sqlite_url, tmp_path):
    settings, plugins, sessions = core_for(sqlite_url)
    far = files()["stops.txt"] + '"far","U Rudow (Berlin)",52.9,13.9,0,\r\n'
    extra_trip = files()["stop_times.txt"] + "b100_1,09:00:00,09:00:00,far,4\r\n"
    feed = write_feed(tmp_path / "feed.zip", {"stops.txt": far, "stop_times.txt": extra_trip})
    with sessions.begin() as session:
        city = _city(session)
        stations.import_feed(session, city.id, feed)
    assert _annotator(sessions, city.id).stations.count("U Rudow (Berlin)") == 2


def test_stop_times_not_grouped_by_trip_give_the_same_stations_and_patterns(
        core_for, sqlite_url, tmp_path):
    settings, plugins, sessions = core_for(sqlite_url)
    header, *rows = files()["stop_times.txt"].splitlines(keepends=True)
    random.Random(7).shuffle(rows)
    grouped = stations.read_feed(write_feed(tmp_path / "grouped.zip"))
    shuffled = stations.read_feed(write_feed(tmp_path / "shuffled.zip",
                                             {"stop_times.txt": header + "".join(rows)}))
    assert shuffled.stations == grouped.stations
    assert sorted(shuffled.patterns) == sorted(grouped.patterns)


@pytest.mark.parametrize("members, reason", [
    (None, "not a zip file"),
    ({"stops.txt": None}, "the feed has no stops.txt"),
    ({"trips.txt": "route_id,service_id\r\nr_u8,daily\r\n"}, "trips.txt has no column trip_id"),
    ({"stop_times.txt": "trip_id,stop_id,stop_sequence\r\n"}, "no trips with stops"),
    ({"stop_times.txt": "trip_id,stop_id,stop_sequence\r\nu8_s1,nowhere,1\r\nu8_s1,x,2\r\n"},
     "no trips with stops"),
])
def test_a_bad_feed_is_refused_with_its_reason_and_the_old_data_kept(berlin, tmp_path, members,
                                                                      reason):
    _settings, _plugins, sessions, city = berlin
    bad = tmp_path / "bad.zip"
    if members is None:
        bad.write_bytes(b"PK\x03\x04 this is not a zip")
    else:
        contents = {**files(), **members}
        with zipfile.ZipFile(bad, "w") as feed:
            for name, text in contents.items():
                if text is not None:
                    feed.writestr(name, text)
    with pytest.raises(stations.FeedError, match=reason):
        with sessions.begin() as session:
            stations.import_feed(session, city.id, bad)
    assert len(_annotator(sessions, city.id).stations) == 25


def test_feed_in_a_folder_with_latin1_bytes_is_read(core_for, sqlite_url, tmp_path):
    """Some authorities zip a folder; a stray non-UTF-8 byte must not stop the import."""
    settings, plugins, sessions = core_for(sqlite_url)
    path = tmp_path / "folder.zip"
    with zipfile.ZipFile(path, "w") as feed:
        for name, text in files().items():
            data = text.encode("utf-8")
            if name == "stops.txt":
                data = data.replace("Südstern".encode(), b"S\xfcdstern")
            feed.writestr(f"gtfs/{name}", data)
    with sessions.begin() as session:
        city = _city(session)
        summary = stations.import_feed(session, city.id, path)
    assert summary["stations"] == 25


# --- aliases, prefix, recognition edge cases ---------------------------------------------

def test_alias_of_an_unknown_station_is_kept_and_said_and_the_others_work(berlin):
    _settings, _plugins, sessions, city = berlin
    with sessions.begin() as session:
        problems = stations.save_aliases(session, city.id, ALIASES + "Plumps = Nirgendwo\n")
    assert problems == ["Plumps = Nirgendwo: no such station in the transit data"]
    assert _annotator(sessions, city.id).annotate("kontis kotti")["station"] == (
        "U Kottbusser Tor (Berlin)")


@pytest.mark.parametrize("text", ["Kotti Kottbusser Tor", "= Kottbusser Tor", "Kotti =",
                                  "x" * 190 + " = " + "y" * 20])
def test_malformed_alias_line_is_refused_with_its_number(berlin, text):
    _settings, _plugins, sessions, city = berlin
    with pytest.raises(ValueError, match="line 2"):
        with sessions.begin() as session:
            stations.save_aliases(session, city.id, "Hermi = Hermannplatz\n" + text)


def test_prefix_names_line_station_and_direction_in_short():
    place = stations.Place("U Hermannplatz (Berlin)", "U8", "S+U Wittenau (Berlin)")
    assert place.prefix() == "U8 Hermannplatz → Wittenau: "
    assert stations.Place("S+U Alexanderplatz Bhf (Berlin)").prefix() == "Alexanderplatz: "
    assert stations.Place(None, None, None).prefix() == ""


@pytest.mark.parametrize("text", ["", " ", "→→→", "U" * 5000, "🚇" * 300, "\x00\u202e U8",
                                  "Richtung", "nach nach nach", "1 2 3 4 5 6 7 8 9 10"])
def test_odd_texts_are_read_without_error(berlin, text):
    _settings, _plugins, sessions, city = berlin
    place = _annotator(sessions, city.id).annotate(text)
    assert set(place) == {"station", "line", "direction"}


# --- the censor ----------------------------------------------------------------------------

def _decide(settings, plugins, sessions, city, text, message_id="m1") -> db.Report:
    with sessions.begin() as session:
        report = db.Report(city_id=city.id, network="testnet", account="a",
                           network_message_id=message_id, text=text)
        session.add(report)
        session.flush()
        report_id = report.id
    censor.Censor(settings, sessions, plugins).judge(report_id)
    return report_id


def _place(sessions, report_id):
    with sessions() as session:
        row = session.get(db.ReportPlace, report_id)
        return row and (row.station, row.line, row.direction, row.prefix)


def test_accepted_report_is_stored_with_its_place_and_prefix(berlin_on_both):
    settings, plugins, sessions, city = berlin_on_both
    report_id = _decide(settings, plugins, sessions, city,
                        "2x Hellblau U8 Hermannplatz Richtung Wittenau am Bahnsteig")
    assert _place(sessions, report_id) == (
        "U Hermannplatz (Berlin)", "U8", "S+U Wittenau (Berlin)", "U8 Hermannplatz → Wittenau: ")
    # the prefix switched off: the place is stored, the text relayed as written
    with sessions.begin() as session:
        stations.save_prefix(session, city.id, False)
    report_id = _decide(settings, plugins, sessions, city, "Kontrolle bus 100 zoo", "m2")
    assert _place(sessions, report_id) == (
        "S+U Zoologischer Garten Bhf (Berlin)", "100", None, "")
    # a new import replaces the data and keeps the city's switch and aliases
    with tempfile.TemporaryDirectory() as tmp, sessions.begin() as session:
        stations.import_feed(session, city.id, write_feed(Path(tmp) / "again.zip"))
    annotator = _annotator(sessions, city.id)
    assert len(annotator.stations) == 25 and len(annotator.aliases) == 4
    with sessions() as session:
        assert not stations.prefix_on(session, city.id)


def test_rejected_report_gets_no_place(berlin):
    settings, plugins, sessions, city = berlin
    report_id = _decide(settings, plugins, sessions, city, "schönes Wetter am Hermannplatz")
    with sessions() as session:
        assert session.get(db.Report, report_id).verdict == db.REJECTED
    assert _place(sessions, report_id) is None


def test_broken_transit_data_relays_the_report_as_written(berlin, caplog):
    """A row of the transit data that cannot be read (written by hand, half a migration)
    costs the prefix, never the report."""
    settings, plugins, sessions, city = berlin
    with sessions.begin() as session:
        session.execute(update(db.TransitPattern).where(db.TransitPattern.number == 0)
                        .values(stations="12 not-a-number"))
        session.execute(update(db.TransitCity).values(version=1.0))  # changed: load again
    report_id = _decide(settings, plugins, sessions, city, "Kontrolle U8 Hermannplatz")
    with sessions() as session:
        assert session.get(db.Report, report_id).verdict == db.ACCEPTED
        assert session.scalar(select(db.Delivery.id).where(db.Delivery.report_id == report_id))
    assert _place(sessions, report_id) is None
    assert "no place recognised" in caplog.text


def test_city_without_transit_data_relays_without_a_place(core_for, sqlite_url):
    settings, plugins, sessions = core_for(sqlite_url)
    with sessions.begin() as session:
        city = _city(session)
    report_id = _decide(settings, plugins, sessions, city, "Kontrolle U8 Hermannplatz")
    assert _place(sessions, report_id) is None


# --- the organisers' panel -----------------------------------------------------------------

def _csrf(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


@pytest.fixture
def organiser(core_for, sqlite_url):
    settings, plugins, sessions = core_for(sqlite_url, TICKETFREI_STATIONS_MAX_UPLOAD_MB="1",
                                           TICKETFREI_STATIONS_PRIVATE_URLS="true")
    with sessions.begin() as session:
        city = _city(session)
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins),
                          extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    app.post("/login", {"email": "orga@berlin.example", "password": "a good password",
                        "csrf": _csrf(app.get("/login"))}, status=303)
    app.city, app.sessions, app.settings = city, sessions, settings
    return app


def _upload(organiser, data: bytes, status=200):
    token = _csrf(organiser.get("/settings"))
    return organiser.post("/settings/transit/upload", {"csrf": token},
                          upload_files=[("feed", "vbb.zip", data)], status=status)


def test_organiser_uploads_a_feed_sees_its_summary_and_tries_a_text(organiser, tmp_path):
    assert "No transit data yet." in organiser.get("/settings").text
    page = _upload(organiser, write_feed(tmp_path / "feed.zip").read_bytes())
    assert "The transit data is imported: 25 stations, 5 lines." in page.text
    assert re.search(r"from vbb.zip:\s+25 stations, 5 lines", page.text)
    token = _csrf(page)
    page = organiser.post("/settings/transit/aliases", {"csrf": token, "aliases": ALIASES})
    assert "The aliases are saved and in use." in page.text and "4 aliases" in page.text
    page = organiser.post("/settings/transit/try",
                          {"csrf": token, "text": "U8 Kotti nach Hermannstr <b>"})
    result = page.html.find(id="transit-result").text
    assert "U Kottbusser Tor (Berlin)" in result and "S+U Hermannstr. (Berlin)" in result
    assert "U8 Kottbusser Tor → Hermannstr.: U8 Kotti nach Hermannstr <b>" in result
    assert "<b>" not in str(page.html.find(id="transit-result")).replace("&lt;b&gt;", "")


def test_upload_that_is_no_feed_is_refused_and_the_data_kept(organiser, tmp_path):
    _upload(organiser, write_feed(tmp_path / "feed.zip").read_bytes())
    page = _upload(organiser, b"<html>not a feed</html>", status=400)
    assert "The transit data was not imported: not a zip file" in page.text
    assert "25 stations" in page.text


def test_upload_over_the_limit_is_refused_before_it_is_read(organiser):
    page = _upload(organiser, b"0" * (1024 * 1024 + 10), status=413)
    assert "too large" in page.text
    # and the other forms still take no more than they did
    token = _csrf(organiser.get("/settings"))
    organiser.post("/settings/transit/aliases", {"csrf": token, "aliases": "x" * 300_000},
                   status=413)


def test_panel_forms_need_the_csrf_token_and_a_login(organiser, tmp_path):
    organiser.post("/settings/transit/upload", {"csrf": "wrong"},
                   upload_files=[("feed", "f.zip", b"x")], status=403)
    stranger = webtest.TestApp(organiser.app)
    stranger.post("/settings/transit/try", {"text": "U8"}, status=403)


def test_bad_aliases_are_refused_with_the_line_and_kept_in_the_form(organiser, tmp_path):
    _upload(organiser, write_feed(tmp_path / "feed.zip").read_bytes())
    page = organiser.post("/settings/transit/aliases",
                          {"csrf": _csrf(organiser.get("/settings")),
                           "aliases": "Hermi = Hermannplatz\nKotti Kottbusser Tor"}, status=400)
    assert "line 2" in page.text and "Kotti Kottbusser Tor</textarea>" in page.text


class _FeedServer:
    """Serves the test feed over HTTP on 127.0.0.1 (and a redirect, and a 404)."""

    def __init__(self, body: bytes):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", "/feed.zip")
                    self.end_headers()
                    return
                found = self.path == "/feed.zip"
                self.send_response(200 if found else 404)
                self.send_header("Content-Length", str(len(body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed_server(tmp_path):
    server = _FeedServer(write_feed(tmp_path / "served.zip").read_bytes())
    yield server
    server.close()


def test_feed_fetched_from_its_url(organiser, feed_server):
    token = _csrf(organiser.get("/settings"))
    page = organiser.post("/settings/transit/url", {"csrf": token,
                                                    "url": f"{feed_server.url}/feed.zip"})
    assert "The transit data is imported: 25 stations" in page.text
    for path, said in (("/missing.zip", "answered 404"), ("/moved", "answered 302")):
        page = organiser.post("/settings/transit/url",
                              {"csrf": token, "url": feed_server.url + path}, status=400)
        assert said in page.text
    page = organiser.post("/settings/transit/url", {"csrf": token, "url": "file:///etc/passwd"},
                          status=400)
    assert "https://" in page.text


def test_feed_url_at_a_private_address_is_refused_unless_the_operator_allows_it(
        core_for, sqlite_url, feed_server):
    settings, plugins, sessions = core_for(sqlite_url)
    with sessions.begin() as session:
        _city(session)
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins),
                          extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    app.post("/login", {"email": "orga@berlin.example", "password": "a good password",
                        "csrf": _csrf(app.get("/login"))}, status=303)
    page = app.post("/settings/transit/url", {"csrf": _csrf(app.get("/settings")),
                                              "url": f"{feed_server.url}/feed.zip"}, status=400)
    assert "not at a public address" in page.text
    assert "No transit data yet." in page.text


# --- a running instance --------------------------------------------------------------------

def test_running_instance_relays_with_the_place_first_and_lists_it(make_instance, tmp_path):
    instance = make_instance(disabled=without("web"))
    berlin = instance.create_city("berlin")
    aliases = tmp_path / "aliases.txt"
    aliases.write_text(ALIASES)
    done = instance.cli("stations", "import", "berlin", str(write_feed(tmp_path / "feed.zip")),
                        "--aliases", str(aliases))
    assert "berlin: 25 stations, 5 lines" in done.stdout
    instance.sql("INSERT INTO web_cities (city_id, form, feed, window_hours) "
                 "VALUES (:c, 1, 1, 3)", c=berlin)
    instance.start()
    instance.send(berlin, "a", "2x Kontis U 8 kotti richtung hermannstr")
    instance.send(berlin, "a", "Kontrolle ohne Ort")
    wait_for(lambda: len(instance.posted(berlin, "b")) == 2, 30, what="both relayed")
    assert [text for _c, _a, text, _n in instance.posted(berlin, "b")] == [
        "U8 Kottbusser Tor → Hermannstr.: 2x Kontis U 8 kotti richtung hermannstr",
        "Kontrolle ohne Ort"]
    from test_mail import Browser
    page = Browser(instance).get("/city/berlin")
    assert '<strong class="report-place">U8 Kottbusser Tor → Hermannstr.:</strong>' in page
    feed = Browser(instance).get("/city/berlin/feed.atom")
    assert "U8 Kottbusser Tor → Hermannstr.: 2x Kontis" in feed
    answers = instance.cli("stations", "annotate", "berlin",
                           input="kotti\nU7 Richtung Rudow\n").stdout.splitlines()
    assert [json.loads(line) for line in answers] == [
        {"station": "U Kottbusser Tor (Berlin)", "line": "U8", "direction": None},
        {"station": None, "line": "U7", "direction": "U Rudow (Berlin)"}]


def test_annotate_for_a_city_without_data_says_so(make_instance):
    instance = make_instance()
    instance.create_city("berlin")
    result = instance.cli("stations", "annotate", "berlin", input="kotti\n", check=False)
    assert result.returncode == 1 and "has no transit data" in result.stderr
    result = instance.cli("stations", "annotate", "hamburg", input="", check=False)
    assert result.returncode == 1 and "no city 'hamburg'" in result.stderr


def test_deleting_a_city_deletes_its_transit_data(berlin):
    settings, plugins, sessions, city = berlin
    _decide(settings, plugins, sessions, city, "Kontrolle U8 Hermannplatz")
    with sessions.begin() as session:
        attempt = user.account_attempt(session, city.user_id, "192.0.2.1")
    with sessions.begin() as session:
        user.delete_account(session, city.user_id, "a good password", plugins, attempt)
    with sessions() as session:
        for model in (db.TransitCity, db.TransitStation, db.TransitLine, db.TransitPattern,
                      db.ReportPlace):
            assert session.scalars(select(model)).all() == []


def test_io_import_reads_from_an_open_file(core_for, sqlite_url, tmp_path):
    settings, plugins, sessions = core_for(sqlite_url)
    data = io.BytesIO(write_feed(tmp_path / "feed.zip").read_bytes())
    with sessions.begin() as session:
        city = _city(session)
        assert stations.import_feed(session, city.id, data, source="upload")["stations"] == 25




@pytest.mark.parametrize("limit, value, reason", [
    ("MAX_UNCOMPRESSED", 1000, "larger than 0 GB unpacked"),
    ("MAX_ROWS", {"stops.txt": 10}, "stops.txt has more than 10 rows"),
    ("MAX_HELD_STOP_TIMES", 10, "not grouped by trip and has more than 10 rows"),
])
def test_a_feed_beyond_the_bounds_is_refused_before_it_fills_memory(berlin, tmp_path,
                                                                     monkeypatch, limit, value,
                                                                     reason):
    """A zip bomb, a country's feed: the bounds are checked as the feed is read (here made
    small, so that a small feed passes them)."""
    _settings, _plugins, sessions, city = berlin
    monkeypatch.setattr(stations, limit, value)
    header, *rows = files()["stop_times.txt"].splitlines(keepends=True)
    random.Random(3).shuffle(rows)
    feed = write_feed(tmp_path / "big.zip", {"stop_times.txt": header + "".join(rows)})
    with pytest.raises(stations.FeedError, match=reason):
        with sessions.begin() as session:
            stations.import_feed(session, city.id, feed)
    assert len(_annotator(sessions, city.id).stations) == 25


def test_censor_keeps_a_bounded_number_of_cities_ready_and_loads_others_again(
        core_for, sqlite_url, tmp_path, monkeypatch):
    settings, plugins, sessions = core_for(sqlite_url)
    monkeypatch.setattr(stations, "CACHED_CITIES", 1)
    feed = write_feed(tmp_path / "feed.zip")
    with sessions.begin() as session:
        cities = [_city(session, name) for name in ("berlin", "potsdam")]
        for city in cities:
            stations.import_feed(session, city.id, feed, ALIASES)
    for _round in range(2):
        for city in cities:
            with sessions() as session:
                place = stations.annotator_for(session, city.id).annotate("kotti")
            assert place["station"] == "U Kottbusser Tor (Berlin)"
            assert len(stations._CACHE) == 1


def _pieces(organiser, data: bytes, size: int, token: str, total: int | None = None,
            status=204):
    for offset in range(0, max(len(data), 1), size):
        organiser.post("/settings/transit/chunk",
                       {"csrf": token, "offset": str(offset),
                        "total": str(len(data) if total is None else total)},
                       upload_files=[("chunk", "chunk", data[offset:offset + size])],
                       status=status)


def test_feed_uploaded_in_pieces_is_assembled_imported_and_removed(organiser, tmp_path):
    """As static/upload.js sends it (tests/test_browser.py runs the script itself)."""
    data = write_feed(tmp_path / "feed.zip").read_bytes()
    token = _csrf(organiser.get("/settings"))
    _pieces(organiser, b"an earlier upload, given up", 10, token)  # begun anew at offset 0
    _pieces(organiser, data, 1000, token)
    page = organiser.post("/settings/transit/upload",
                          {"csrf": token, "uploaded": "1", "name": "vbb.zip"})
    assert "The transit data is imported: 25 stations" in page.text and "vbb.zip" in page.text
    assert not list(Path(organiser.settings.instance.data_dir).glob("transit-upload-*"))
    page = organiser.post("/settings/transit/upload", {"csrf": token, "uploaded": "1"},
                          status=400)
    assert "No upload arrived" in page.text


def test_pieces_out_of_order_or_over_the_limit_are_refused(organiser, tmp_path):
    token = _csrf(organiser.get("/settings"))
    _pieces(organiser, b"x" * 10, 10, token)
    organiser.post("/settings/transit/chunk", {"csrf": token, "offset": "50", "total": "60"},
                   upload_files=[("chunk", "chunk", b"y" * 10)], status=409)
    organiser.post("/settings/transit/chunk", {"csrf": token, "offset": "10", "total": "12"},
                   upload_files=[("chunk", "chunk", b"y" * 10)], status=400)
    page = organiser.post("/settings/transit/chunk",  # the organiser's limit here: 1 MB
                          {"csrf": token, "offset": "0", "total": str(2 * 1024 * 1024)},
                          upload_files=[("chunk", "chunk", b"y")], status=413)
    assert "give its address" in page.text
    organiser.post("/settings/transit/chunk", {"csrf": "forged", "offset": "0", "total": "1"},
                   upload_files=[("chunk", "chunk", b"y")], status=403)
    organiser.post("/settings/transit/chunk", {"csrf": token, "offset": "x", "total": "1"},
                   upload_files=[("chunk", "chunk", b"y")], status=400)


def test_import_from_the_web_runs_in_a_process_whose_memory_is_limited(core_for, sqlite_url,
                                                                        tmp_path):
    """A feed within every bound that still needs much memory (here 500 000 stops of long
    names: 4 MB zipped) ends the import's own process, with a reason, not the frontend."""
    settings, plugins, sessions = core_for(sqlite_url, TICKETFREI_STATIONS_IMPORT_MEMORY_MB="256")
    with sessions.begin() as session:
        city = _city(session)
        stations.import_feed(session, city.id, write_feed(tmp_path / "feed.zip"))
    hog = tmp_path / "hog.zip"
    with zipfile.ZipFile(hog, "w", zipfile.ZIP_DEFLATED) as feed:
        for name, text in files().items():
            if name != "stops.txt":
                feed.writestr(name, text)
        with feed.open("stops.txt", "w") as out:
            out.write(b"stop_id,stop_name,stop_lat,stop_lon\n")
            for n in range(499_000):
                out.write(b"s%d,Stop %d %s,52.%d,13.%d\n" % (n, n, b"x" * 190, n % 1000, n // 1000))
    with pytest.raises(stations.FeedError, match="more memory than this instance gives an import"):
        stations.import_in_child(settings, city.id, hog, "hog.zip")
    assert len(_annotator(sessions, city.id).stations) == 25  # the old data stays
    summary = stations.import_in_child(settings, city.id, write_feed(tmp_path / "again.zip"),
                                       "again.zip")
    assert summary["stations"] == 25


@pytest.mark.parametrize("member, text, reason", [
    ("stop_times.txt", "trip_id,stop_id,stop_sequence\r\nu8_s1,wit,\u00b2\r\n", "no trips"),
    ("stop_times.txt", "trip_id,stop_id,stop_sequence\r\nu8_s1,wit,1099511627776\r\n",
     "no trips"),
    ("stop_times.txt", "trip_id,stop_id,stop_sequence\r\n"
     + "".join(f"u8_s1,wit,{n}\r\n" for n in range(1001)), "more than 1000 stops"),
])
def test_odd_stop_times_are_refused_or_skipped_with_a_reason(berlin, tmp_path, member, text,
                                                             reason):
    _settings, _plugins, sessions, city = berlin
    with pytest.raises(stations.FeedError, match=reason):
        with sessions.begin() as session:
            stations.import_feed(session, city.id, write_feed(tmp_path / "odd.zip",
                                                              {member: text}))


def test_names_from_a_feed_lose_control_and_bidi_characters(core_for, sqlite_url, tmp_path):
    settings, plugins, sessions = core_for(sqlite_url)
    stops = files()["stops.txt"].replace("U Rudow (Berlin)", '"U Ru\u202edow\nX (Berlin)"')
    routes = files()["routes.txt"].replace("r_u7,BVG,U7,", "r_u7,BVG,U\u20667,")
    with sessions.begin() as session:
        city = _city(session)
        stations.import_feed(session, city.id, write_feed(tmp_path / "f.zip", {
            "stops.txt": stops, "routes.txt": routes, "agency.txt": files()["agency.txt"]}))
    annotator = _annotator(sessions, city.id)
    assert "U Rudow X (Berlin)" in annotator.stations
    assert all("\u2066" not in name and "\n" not in name for name, _kind in annotator.lines)


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2a00:1450::1", True), ("64:ff9b::808:808", True),
    ("127.0.0.1", False), ("::1", False), ("10.1.2.3", False), ("169.254.169.254", False),
    ("::ffff:10.0.0.1", False), ("::127.0.0.1", False), ("64:ff9b::7f00:1", False),
    ("fe80::1%eth0", False),
])
def test_an_address_carrying_a_private_ipv4_one_is_not_public(address, public):
    """guarded.py judges IPv6 addresses that embed an IPv4 one (mapped, NAT64, the old
    compatible form) by that one: Python's is_global alone calls "::127.0.0.1" global."""
    import guarded
    assert guarded.is_public(address) is public


def test_the_town_a_feed_writes_before_its_stops_is_left_out_whatever_the_city_is_called(
        core_for, sqlite_url, tmp_path):
    settings, plugins, sessions = core_for(sqlite_url)
    stops = files()["stops.txt"]
    for name in ("U Hermannplatz (Berlin)", "S+U Berlin Hauptbahnhof", "U Kottbusser Tor",
                 "S+U Wittenau", "U Boddinstr.", "U Rudow", "U Südstern"):
        stops = stops.replace(name, "Frankfurt (Main) " + name.split(" ", 1)[1].replace(
            "Berlin ", ""), 1)
    with sessions.begin() as session:
        city = _city(session, "ffm")
        stations.import_feed(session, city.id, write_feed(tmp_path / "f.zip",
                                                          {"stops.txt": stops}))
    annotator = _annotator(sessions, city.id)
    assert annotator.annotate("Kontrolle Hbf")["station"] == "Frankfurt (Main) Hauptbahnhof"
    assert annotator.annotate("kontis hermannplatz richtung wittenau") == {
        "station": "Frankfurt (Main) Hermannplatz (Berlin)", "line": "U8",
        "direction": "Frankfurt (Main) Wittenau (Berlin)"}


@pytest.mark.parametrize("text", ["Kontis stiegen am Kotti aus", "die steigen jetzt Kotti aus",
                                  "U8 Kotti ausgestiegen", "U8 Kotti sind raus"])
def test_inspectors_who_left_keep_the_station_and_lose_line_and_direction(berlin, text):
    _settings, _plugins, sessions, city = berlin
    assert _annotator(sessions, city.id).annotate(text) == {
        "station": "U Kottbusser Tor (Berlin)", "line": None, "direction": None}


def test_stream_into_cities_with_and_without_transit_data_survives_kills(make_instance,
                                                                         tmp_path):
    """As an operator runs it: reports over many seconds into three cities (two with transit
    data, one without), the censor and a posting bot killed in the middle; each report is
    relayed once, in its own city, with its place where the city has transit data."""
    import os
    import signal
    import time

    instance = make_instance(disabled=without())
    cities = {name: instance.create_city(name) for name in ("berlin", "potsdam", "hamburg")}
    feed = write_feed(tmp_path / "feed.zip")
    for name in ("berlin", "potsdam"):
        instance.cli("stations", "import", name, str(feed))
    instance.start()
    sent = {name: [] for name in cities}
    for n in range(20):
        for name, city_id in cities.items():
            text = f"Kontrolle U8 Kottbusser Tor Richtung Hermannstr {name} {n}"
            instance.send(city_id, "a", text)
            sent[name].append(text)
        if n == 7:
            os.kill(instance.pid("censor"), signal.SIGKILL)
        if n == 12:
            os.kill(instance.pid("berlin/testnet:b"), signal.SIGKILL)
        time.sleep(0.4)
    settled, took, left = instance.settle(timeout=90)
    assert settled, left
    for name, city_id in cities.items():
        posted = [text for _c, _a, text, _n in instance.posted(city_id, "b")]
        prefix = "U8 Kottbusser Tor → Hermannstr.: " if name != "hamburg" else ""
        assert sorted(posted) == sorted(prefix + text for text in sent[name]), name
    assert instance.sql("SELECT count(*) FROM reports WHERE verdict != 'accepted'") == [(0,)]
    assert instance.row("censor")["restarts"] >= 1
    assert instance.row("berlin/testnet:b")["restarts"] >= 1


def test_an_import_refused_for_the_hourly_limit_keeps_the_uploaded_pieces(organiser, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(frontend, "TRANSIT_IMPORTS", 1)
    data = write_feed(tmp_path / "feed.zip").read_bytes()
    token = _csrf(organiser.get("/settings"))
    _pieces(organiser, data, 1000, token)
    finish = {"csrf": token, "uploaded": "1", "name": "vbb.zip"}
    organiser.post("/settings/transit/upload", finish)
    _pieces(organiser, data, 1000, token)
    page = organiser.post("/settings/transit/upload", finish, status=429)
    assert "at most 1 imports an hour" in page.text
    assert list(Path(organiser.settings.instance.data_dir).glob("transit-upload-*"))


def test_alias_saves_are_limited_per_hour(organiser, tmp_path, monkeypatch):
    monkeypatch.setattr(frontend, "TRANSIT_ALIAS_SAVES", 1)
    _upload(organiser, write_feed(tmp_path / "feed.zip").read_bytes())
    token = _csrf(organiser.get("/settings"))
    organiser.post("/settings/transit/aliases", {"csrf": token, "aliases": ALIASES})
    page = organiser.post("/settings/transit/aliases", {"csrf": token, "aliases": ALIASES},
                          status=429)
    assert "At most 1 saves of the aliases an hour." in page.text


def test_deleting_the_account_removes_a_half_sent_upload(organiser):
    token = _csrf(organiser.get("/settings"))
    _pieces(organiser, b"half of a feed", 100, token, total=1000)
    uploads = Path(organiser.settings.instance.data_dir)
    assert list(uploads.glob("transit-upload-*"))
    page = organiser.post("/account/delete", {"csrf": _csrf(organiser.get("/account")),
                                              "confirm": "yes", "password": "a good password"})
    assert "are deleted" in page.text
    assert not list(uploads.glob("transit-upload-*"))
