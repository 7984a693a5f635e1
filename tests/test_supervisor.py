"""The supervisor with real processes: main.py runs, the tests send reports through the test
network and kill processes to watch them come back (DESIGN.md "Processes and queues")."""
import os
import signal
import socket
import time

import psutil
import pytest

from instance import wait_for

CITIES = ("berlin", "hamburg", "koeln")
BOTS = {f"{city}/testnet:{account}" for city in CITIES for account in "ab"}


def start_with_cities(instance, cities=CITIES):
    ids = {city: instance.create_city(city) for city in cities}
    instance.start()
    wanted = {f"{c}/testnet:{a}" for c in cities for a in "ab"} | {"censor", "frontend"}
    wait_for(lambda: instance.running_names() >= wanted, 30, what="every bot to run")
    return ids


def test_three_cities_with_two_bots_each_run_six_bot_processes_plus_censor_and_frontend(
        make_instance):
    instance = make_instance()
    start_with_cities(instance)
    assert instance.running_names() == BOTS | {"censor", "frontend"}
    children = instance.children()
    assert len(children) == 8, [" ".join(p.cmdline()) for p in children]
    pids = {row["pid"] for row in instance.status()}
    assert {p.pid for p in children} == pids


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_report_reaches_the_other_bot_of_its_city_and_no_bot_of_another_city(
        make_instance, backend, request):
    instance = make_instance(database_url=backend_url(backend, request))
    ids = start_with_cities(instance)
    instance.send(ids["berlin"], "a", "2 Kontrolleure U1 Richtung Hbf")
    wait_for(lambda: instance.posted(ids["berlin"], "b"), 20, what="the report at berlin/b")
    time.sleep(1)  # anything wrongly routed would have arrived by now
    assert instance.posted() == [(ids["berlin"], "b", "2 Kontrolleure U1 Richtung Hbf", 1)]


def test_blocked_report_reaches_nobody(make_instance):
    instance = make_instance()
    ids = start_with_cities(instance, ["berlin"])
    instance.send(ids["berlin"], "a", "Bastard! Kontrolle U1")
    instance.send(ids["berlin"], "a", "Kontrolle U2 Alex")
    wait_for(lambda: instance.posted(), 20, what="the good report")
    time.sleep(1)
    assert [row[2] for row in instance.posted()] == ["Kontrolle U2 Alex"]
    verdicts = dict(instance.sql("SELECT text, verdict FROM reports"))
    assert verdicts == {"Bastard! Kontrolle U1": "rejected", "Kontrolle U2 Alex": "accepted"}


def backend_url(backend, request):
    return request.getfixturevalue("postgres_url") if backend == "postgresql" else None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killed_bot_comes_back_and_makes_every_pending_delivery_exactly_once(
        make_instance, backend, request):
    instance = make_instance(database_url=backend_url(backend, request))
    ids = start_with_cities(instance, ["berlin"])
    berlin = ids["berlin"]
    instance.switch(berlin, "b", paused=1)  # the network of b answers "try later"
    texts = [f"Kontrolle U{n} Richtung Hbf" for n in range(1, 11)]
    for text in texts:
        instance.send(berlin, "a", text)
    wait_for(lambda: instance.sql("SELECT count(*) FROM deliveries WHERE state = 'pending'")
             [0][0] == 10, 20, what="ten pending deliveries")
    old_pid = instance.pid("berlin/testnet:b")
    os.kill(old_pid, signal.SIGKILL)
    instance.switch(berlin, "b", paused=0)
    wait_for(lambda: (instance.row("berlin/testnet:b") or {}).get("pid") not in (None, old_pid)
             and instance.row("berlin/testnet:b")["state"] == "running", 10,
             what="berlin/testnet:b to be back")
    wait_for(lambda: len(instance.posted(berlin, "b")) == 10, 20, what="all ten delivered")
    time.sleep(1)
    posted = instance.posted(berlin, "b")
    assert sorted(row[2] for row in posted) == sorted(texts)
    assert all(row[3] == 1 for row in posted), "a delivery was attempted twice"
    assert instance.sql("SELECT count(*) FROM deliveries WHERE state = 'done'")[0][0] == 10
    assert instance.row("berlin/testnet:b")["restarts"] == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killing_the_censor_in_a_stream_of_reports_loses_none(make_instance, backend, request):
    instance = make_instance(database_url=backend_url(backend, request))
    ids = start_with_cities(instance, ["berlin"])
    berlin = ids["berlin"]
    texts = [f"Kontrolle Tram {n}" for n in range(40)]
    censor_pid = instance.pid("censor")
    for n, text in enumerate(texts):
        instance.send(berlin, "a", text)
        if n == 15:
            os.kill(censor_pid, signal.SIGKILL)
        time.sleep(0.03)
    wait_for(lambda: len(instance.posted(berlin, "b")) == 40, 40, what="all forty delivered")
    assert sorted(row[2] for row in instance.posted(berlin, "b")) == sorted(texts)
    assert instance.pid("censor") != censor_pid
    assert instance.sql("SELECT count(*) FROM reports WHERE verdict IS NULL")[0][0] == 0


def test_bot_that_stops_heartbeating_is_killed_and_restarted(make_instance):
    instance = make_instance(supervisor={"heartbeat_timeout": 2.0})
    ids = start_with_cities(instance, ["berlin"])
    berlin = ids["berlin"]
    old_pid = instance.pid("berlin/testnet:a")
    instance.switch(berlin, "a", hang=1)
    row = wait_for(lambda: (r := instance.row("berlin/testnet:a")) and r["restarts"] >= 1 and r,
                   20, what="a restart after the missing heartbeat")
    assert "no heartbeat" in row["last_error"]
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
    instance.switch(berlin, "a", hang=0)
    wait_for(lambda: "berlin/testnet:a" in instance.running_names(), 20, what="a to run again")
    instance.send(berlin, "a", "Kontrolle S1")
    wait_for(lambda: instance.posted(berlin, "b"), 20, what="a report through the restarted bot")


def test_bot_whose_credentials_are_refused_is_marked_inactive_and_left_stopped(make_instance):
    instance = make_instance()
    ids = start_with_cities(instance, ["berlin"])
    berlin = ids["berlin"]
    instance.switch(berlin, "a", refuse=1)
    row = wait_for(lambda: (r := instance.row("berlin/testnet:a")) and r["state"] == "inactive"
                   and r, 20, what="the account to be inactive")
    assert "revoked" in row["last_error"]
    assert instance.sql("SELECT active, reason FROM testnet_accounts WHERE name = 'a'") == [
        (0, "the test network revoked this account's token")]
    time.sleep(3)  # several backoff periods: it must not have been restarted
    row = instance.row("berlin/testnet:a")
    assert row["state"] == "inactive" and row["restarts"] == 0 and row["pid"] is None
    assert "berlin/testnet:b" in instance.running_names()


def test_city_created_while_running_starts_its_bots_and_restarts_nothing_else(make_instance):
    instance = make_instance()
    start_with_cities(instance, ["berlin"])
    before = {row["name"]: row["pid"] for row in instance.status()}
    began = time.monotonic()
    instance.create_city("leipzig")  # the admin command tells main (SIGHUP)
    wait_for(lambda: {"leipzig/testnet:a", "leipzig/testnet:b"} <= instance.running_names(), 10,
             what="leipzig's bots")
    print(f"leipzig's bots ran {time.monotonic() - began:.1f} s after the command was started")
    after = {row["name"]: row["pid"] for row in instance.status()}
    assert {name: after[name] for name in before} == before


def test_disabled_city_has_its_bots_stopped(make_instance):
    instance = make_instance()
    start_with_cities(instance, ["berlin", "hamburg"])
    pid = instance.pid("hamburg/testnet:a")
    instance.cli("city", "disable", "hamburg")
    wait_for(lambda: instance.row("hamburg/testnet:a") is None, 10, what="hamburg's bots to go")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert {"berlin/testnet:a", "berlin/testnet:b"} <= instance.running_names()
    instance.cli("city", "enable", "hamburg")
    wait_for(lambda: "hamburg/testnet:a" in instance.running_names(), 10, what="hamburg back")


def test_sigterm_to_main_stops_every_process_within_ten_seconds(make_instance):
    instance = make_instance()
    start_with_cities(instance)
    tree = psutil.Process(instance.proc.pid).children(recursive=True)
    assert len(tree) >= 8
    took = instance.stop(timeout=15)
    gone, alive = psutil.wait_procs(tree, timeout=max(0.1, 10 - took))
    assert not alive, [p.cmdline() for p in alive]
    assert took < 10
    assert instance.proc.returncode == 0
    assert all(row["state"] == "stopped" for row in instance.status())


def test_children_exit_when_main_is_killed(make_instance):
    instance = make_instance()
    start_with_cities(instance, ["berlin"])
    tree = psutil.Process(instance.proc.pid).children(recursive=True)
    instance.proc.kill()
    instance.proc.wait(5)
    gone, alive = psutil.wait_procs(tree, timeout=15)
    assert not alive, [p.cmdline() for p in alive]


def test_failing_network_is_retried_without_losing_a_report_or_restarting(make_instance):
    instance = make_instance()
    ids = start_with_cities(instance, ["berlin"])
    berlin = ids["berlin"]
    instance.switch(berlin, "b", fail=1)  # b's network refuses connections, receiving and sending
    instance.send(berlin, "a", "Kontrolle U8 Hermannplatz")
    wait_for(lambda: "503" in ((instance.row("berlin/testnet:b") or {}).get("last_error") or ""),
             20, what="the error to be shown")
    assert instance.sql("SELECT state FROM deliveries") == [("pending",)]
    instance.switch(berlin, "b", fail=0)
    wait_for(lambda: instance.posted(berlin, "b"), 60, what="the delivery after the network healed")
    assert instance.row("berlin/testnet:b")["restarts"] == 0


def test_catastrophic_pattern_in_one_city_does_not_hold_up_another(make_instance):
    instance = make_instance()
    ids = start_with_cities(instance, ["berlin", "hamburg"])
    instance.sql("UPDATE triggerpatterns SET patterns = :p WHERE user_id = "
                 "(SELECT user_id FROM cities WHERE city = 'berlin')", p="(a+)+$\n(x+x+)+y")
    for _ in range(5):
        instance.send(ids["berlin"], "a", "a" * 1900 + "!")
        instance.send(ids["berlin"], "a", "x" * 1900)
    instance.send(ids["hamburg"], "a", "Kontrolle S1 Altona")
    # With backtracking regular expressions this would take longer than the universe's age.
    wait_for(lambda: instance.posted(ids["hamburg"], "b"), 20, what="hamburg's report")
    wait_for(lambda: instance.sql("SELECT count(*) FROM reports WHERE verdict IS NULL")[0][0] == 0,
             20, what="berlin's reports to be decided")


def test_plugin_service_runs_once_and_is_restarted_when_killed(make_instance):
    from instance import TEST_PLUGINS, free_port
    instance = make_instance(plugin_dirs=[TEST_PLUGINS.parent / "plugins_service"])
    port = free_port()
    instance.data.mkdir(parents=True)
    (instance.data / "listener.port").write_text(str(port))
    instance.start()

    def greeting():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                return conn.recv(100)
        except OSError:
            return None

    assert wait_for(greeting, 20, what="the service to listen") == b"ticketfrei\n"
    pid = instance.pid("service:listener")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: (instance.row("service:listener") or {}).get("pid") not in (None, pid), 20,
             what="the service to be restarted")
    assert wait_for(greeting, 20, what="the service to listen again") == b"ticketfrei\n"
    assert [r["name"] for r in instance.status()].count("service:listener") == 1


def test_report_the_network_refuses_for_good_is_marked_failed_and_blocks_nothing(make_instance):
    instance = make_instance()
    ids = start_with_cities(instance, ["berlin"])
    berlin = ids["berlin"]
    instance.send(berlin, "a", "Kontrolle U1 undeliverable")
    instance.send(berlin, "a", "Kontrolle U2 Alex")
    wait_for(lambda: instance.posted(berlin, "b"), 20, what="the good report")
    wait_for(lambda: instance.sql("SELECT state, last_error FROM deliveries ORDER BY id") == [
        ("failed", "the test network refuses this text"), ("done", None)], 20,
        what="the refused delivery to be marked failed")
    assert [row[2] for row in instance.posted()] == ["Kontrolle U2 Alex"]


def test_bot_that_keeps_crashing_is_restarted_with_growing_delays(make_instance):
    instance = make_instance(supervisor={"backoff_initial": 0.5, "backoff_max": 60})
    ids = start_with_cities(instance, ["berlin"])
    instance.switch(ids["berlin"], "a", crash=1)
    row = wait_for(lambda: (r := instance.row("berlin/testnet:a")) and r["restarts"] >= 3 and r,
                   30, what="three restarts")
    assert row["last_error"] == "RuntimeError: a bug in the bot"
    restarts = [line for line in instance.log().splitlines()
                if "berlin/testnet:a exited with status 1; restarting in" in line]
    delays = [float(line.rsplit(" in ", 1)[1].split()[0]) for line in restarts]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0][:len(delays[:4])] and len(delays) >= 3
    assert "berlin/testnet:b" in instance.running_names()  # the rest of the city is untouched
