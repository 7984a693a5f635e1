"""Relay latency and memory of a real Ticketfrei instance: N cities x M bots of the test network.

    python bench/relay.py                      # 1, 50 and 200 cities with 3 bots each
    python bench/relay.py --cities 10 --bots 3 --reports 100

Starts the real supervisor (main.py run) with the test plugin of tests/plugins, sends reports
into random bots at a steady rate, waits until every other bot of each report's city posted it,
and prints figures. Nothing here is asserted: these machines are shared and noisy.

- relay (end to end): the report written to the test network -> posted by the last other bot
  of its city; includes the test network's polling interval (--poll).
- relay (core): the report stored by the receiving bot -> posted by the last other bot;
  censor, routing and sending, without the network's polling.
- PSS: proportional set size, which shares the pages a process has in common with others
  (the code the fork server preloaded) among them.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import db  # noqa: E402
import user  # noqa: E402
from instance import Instance, wait_for  # noqa: E402


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def pss_mib(pid):
    try:
        return psutil.Process(pid).memory_full_info().pss / 2 ** 20
    except (psutil.Error, AttributeError):
        return float("nan")


def create_cities(instance, count):
    instance.data.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(instance.database_url)
    db.create_schema(engine)
    sessions = db.make_sessions(engine)
    with sessions.begin() as session:
        for n in range(count):
            user.create_city(session, f"city{n:03d}", f"orga{n}@bench.example", "bench password")
    engine.dispose()


def run(cities, bots, reports, rate, poll, workdir):
    accounts = [chr(ord("a") + i) for i in range(bots)]
    instance = Instance(Path(workdir) / f"bench-{cities}x{bots}", accounts=accounts,
                        poll_interval=poll, log_level="WARNING",
                        supervisor={"heartbeat_timeout": 300, "reconcile_interval": 600})
    create_cities(instance, cities)
    began = time.monotonic()
    instance.start(wait=False)
    try:
        wanted = cities * bots + 2
        wait_for(lambda: len(instance.running_names()) >= wanted, 600, interval=1,
                 what=f"{wanted} processes")
        started = time.monotonic() - began
        rows = instance.status()
        bot_pids = [r["pid"] for r in rows if r["kind"] == "bot"]
        sample = random.sample(bot_pids, min(20, len(bot_pids)))
        bot_pss = [pss_mib(pid) for pid in sample]
        other = {r["name"]: pss_mib(r["pid"]) for r in rows if r["kind"] != "bot"}
        main_pss = pss_mib(instance.proc.pid)
        total = main_pss + sum(pss_mib(p.pid) for p in psutil.Process(instance.proc.pid)
                               .children(recursive=True))
        city_ids = [r[0] for r in instance.sql("SELECT id FROM cities")]
        for n in range(reports):
            instance.send(random.choice(city_ids), random.choice(accounts),
                          f"Kontrolle U{n % 9 + 1} Richtung Hbf ({n})")
            time.sleep(1 / rate)
        expected = reports * (bots - 1)
        wait_for(lambda: instance.sql("SELECT count(*) FROM testnet_outbox")[0][0] >= expected,
                 300, interval=0.5, what=f"{expected} posts")
        timings = instance.sql(
            "SELECT i.sent_at, r.received_at, max(o.posted_at) FROM testnet_inbox i "
            "JOIN reports r ON r.network_message_id = 'msg-' || i.id AND r.city_id = i.city_id "
            "JOIN deliveries d ON d.report_id = r.id "
            "JOIN testnet_outbox o ON o.idempotency_key LIKE 'ticketfrei-delivery-' || d.id || '-%' "
            "GROUP BY i.id, i.sent_at, r.received_at")
        e2e = [(posted - sent) * 1000 for sent, _, posted in timings]
        core = [(posted - stored) * 1000 for _, stored, posted in timings]
        stop = instance.stop(timeout=30)
    finally:
        instance.close()
    return dict(cities=cities, bots=bots, processes=cities * bots + 2, start_s=started,
                reports=len(timings), e2e_p50=statistics.median(e2e), e2e_p99=percentile(e2e, .99),
                core_p50=statistics.median(core), core_p99=percentile(core, .99),
                bot_pss=statistics.median(bot_pss), censor_pss=other.get("censor"),
                frontend_pss=other.get("frontend"), main_pss=main_pss, total_pss=total,
                stop_s=stop)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cities", type=int, nargs="*", default=[1, 50, 200])
    parser.add_argument("--bots", type=int, default=3)
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="reports per second")
    parser.add_argument("--poll", type=float, default=0.5,
                        help="the test network's polling interval in seconds")
    args = parser.parse_args()
    print(f"# {args.reports} reports at {args.rate}/s; test network polled every {args.poll} s; "
          f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB")
    header = ("cities", "bots", "procs", "start s", "e2e p50 ms", "e2e p99 ms", "core p50 ms",
              "core p99 ms", "bot PSS MiB", "censor MiB", "frontend MiB", "main MiB",
              "total PSS MiB", "stop s")
    print(" | ".join(header))
    with tempfile.TemporaryDirectory(prefix="ticketfrei-bench-") as workdir:
        for cities in args.cities:
            r = run(cities, args.bots, args.reports, args.rate, args.poll, workdir)
            print(" | ".join([str(r["cities"]), str(r["bots"]), str(r["processes"]),
                              f"{r['start_s']:.1f}", f"{r['e2e_p50']:.0f}", f"{r['e2e_p99']:.0f}",
                              f"{r['core_p50']:.0f}", f"{r['core_p99']:.0f}",
                              f"{r['bot_pss']:.1f}", f"{r['censor_pss']:.1f}",
                              f"{r['frontend_pss']:.1f}", f"{r['main_pss']:.1f}",
                              f"{r['total_pss']:.0f}", f"{r['stop_s']:.1f}"]), flush=True)


if __name__ == "__main__":
    main()
