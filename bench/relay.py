"""The benchmark of Ticketfrei: a real instance relaying reports on a fake network that its
bots wait on as on a real one, and two baselines of other shapes on that same network.

    python bench/relay.py                                     # 1, 10, 50 and 200 cities
    python bench/relay.py --cities 1,10 --bots 3 --reports 200 --rate 20 --baselines \
        --json out.json --plot out.png

Per city count, Ticketfrei's run starts the fake network (bench/fakenet.py, in a thread of this
process) and a real instance (`main.py run`) with N cities x B accounts of the benchnet plugin
(bench/plugins/benchnet; the test network and the real networks are disabled), and measures:

- processes (those main supervises: bots, censor, frontend) and the seconds from the start of
  main until every bot waits in its first long poll on the fake network;
- idle CPU: the CPU time of main and all its descendants over a window (`--idle`, 30 s) that
  begins one long poll (`--long-poll`) after all started, before any report, as % of one core;
- latency of `--reports` reports sent at `--rate` into random accounts: "e2e" from the
  message's arrival on the fake network to the post of the last other account of its city
  (both on the fake network's clock), "core" from the report stored by the receiving bot
  (`reports.received_at`) to that post; p50 and p99 of each;
- memory: PSS and USS of a bot (median of a sample of up to 20), the censor, the frontend,
  main and the fork parent (the parent of the bot processes), and the PSS
  of main and all its descendants; PSS shares the pages common to several processes among
  them, USS is what the process alone holds;
- a busy-cities run (more than 5 cities): the same reports into the first 5 cities only, whose
  processes stay warm; its core p99 against the normal run's, where most reports wake
  processes that have not run for seconds, is what cold processes cost;
- a hung-network run (2 cities or more): the first city's accounts answer nothing while the
  same number of reports flows into the other cities; their latency against the normal run;
- stop: seconds from SIGTERM to main until it is gone.

With --baselines the same cities, accounts and reports go through two other shapes on the same
fake network (bench/baselines): version 2's single loop (v2_loop.py) and Kibicara's asyncio
tasks (kibicara.py). They have no censor and no database: they measure the shape's latency
and isolation only. A figure that could not be measured is "n/a" (null in --json). Nothing is
asserted: these machines are shared and noisy.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(BENCH)]

from fakenet import FakeNet  # noqa: E402
from instance import NETWORKS, Instance, wait_for  # noqa: E402

PLUGINS = BENCH / "plugins"
BASELINES = {"v2_loop": BENCH / "baselines" / "v2_loop.py",
             "kibicara": BENCH / "baselines" / "kibicara.py"}
# The core's defaults: bots long-poll for 25 s, which the test instance's 4 s would not allow.
SUPERVISOR = {"heartbeat_timeout": 60, "backoff_initial": 1, "backoff_max": 300,
              "stable_after": 60, "reconcile_interval": 30, "stop_timeout": 7}
# Every figure of a run, null in --json where it could not be measured.
FIGURES = ("start_s", "processes", "idle_cpu_pct", "reports", "relayed", "e2e_p50", "e2e_p99",
           "hung_relayed", "hung_e2e_p50", "hung_e2e_p99", "hung_e2e_p99_ratio", "total_pss",
           "stop_s")
TICKETFREI_FIGURES = ("create_cities_s", "processes_total", "core_p50", "core_p99",
                      "hung_core_p50", "hung_core_p99", "hung_core_p99_ratio",
                      "busy_core_p50", "busy_core_p99",
                      *(f"{who}_{kind}" for who in ("bot", "censor", "frontend", "main",
                                                    "fork_parent") for kind in ("pss", "uss")))

def settle(args) -> None:
    """Before the idle window: one long poll's time after all started, so that what every bot
    does once after its start (its first poll coming back, its baseline stored, its first look
    for deliveries) is over and the window sees the instance as it idles for hours."""
    if args.idle:
        time.sleep(max(2.0, args.long_poll))


BUSY_CITIES = 5  # the load of the "busy" run goes into this many cities only
MIB = 2 ** 20


# --- figures ---------------------------------------------------------------------------------

def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def memory(pid):
    """(PSS, USS) of a process in MiB, (None, None) if it cannot be read."""
    try:
        info = psutil.Process(pid).memory_full_info()
        return getattr(info, "pss", None) and info.pss / MIB, info.uss / MIB
    except (psutil.Error, AttributeError, OSError):
        return None, None


def tree(pid):
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def cpu_seconds(pid):
    """{(pid, create_time): user + system CPU seconds} of a process and its descendants."""
    seconds = {}
    for proc in tree(pid):
        try:
            times = proc.cpu_times()
            seconds[(proc.pid, proc.create_time())] = times.user + times.system
        except psutil.Error:
            pass
    return seconds


def idle_cpu(pid, window):
    """CPU of pid's process tree over `window` seconds, as % of one core."""
    if window <= 0:
        return None
    before = cpu_seconds(pid)
    began = time.monotonic()
    time.sleep(window)
    after = cpu_seconds(pid)
    took = time.monotonic() - began
    if not after:
        return None
    used = sum(value - before.get(key, 0.0) for key, value in after.items())
    return 100.0 * used / took


def describe(error):
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"


# --- the load --------------------------------------------------------------------------------

class Load:
    """Reports into the fake network and what came out of it."""

    def __init__(self, net, cities, accounts, rng):
        self.net, self.cities, self.accounts, self.rng = net, cities, accounts, rng

    def keys(self, cities=None):
        return [f"{c}/{a}" for c in (cities or self.cities) for a in self.accounts]

    def send(self, count, rate, cities, tag):
        """count reports at a steady rate into random accounts of `cities`."""
        sent = []
        began = time.monotonic()
        for n in range(count):
            pause = began + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            key = f"{self.rng.choice(cities)}/{self.rng.choice(self.accounts)}"
            sent.append(self.net.inject(key, f"Kontrolle U{n % 9 + 1} Richtung Hbf ({tag}{n})"))
        return sent

    def wait(self, sent, timeout):
        """Wait until every other account of each report's city posted it, at most timeout s.
        Returns {message id: time of the last of those posts} of the complete ones."""
        deadline = time.monotonic() + timeout
        while True:
            done = self.complete(sent)
            if len(done) == len(sent) or time.monotonic() > deadline:
                return done
            time.sleep(0.2)

    def complete(self, sent):
        by_text = {}
        for post in self.net.posts():
            by_text.setdefault(post.text, {})[post.account] = post.at
        done = {}
        for message in sent:
            city, own = message.account.split("/", 1)
            targets = [f"{city}/{a}" for a in self.accounts if a != own]
            posted = by_text.get(message.text, {})
            if all(t in posted for t in targets):
                done[message.id] = max((posted[t] for t in targets), default=message.sent_at)
        return done


def latencies(sent, done, stored=None):
    """e2e (and core, with stored = {message id: received_at}) latencies in ms."""
    e2e = [(done[m.id] - m.sent_at) * 1000 for m in sent if m.id in done]
    core = []
    if stored is not None:
        core = [(done[m.id] - stored[m.id]) * 1000 for m in sent
                if m.id in done and m.id in stored]
    return e2e, core


def summary(prefix, e2e, core=None):
    figures = {f"{prefix}e2e_p50": median(e2e), f"{prefix}e2e_p99": percentile(e2e, .99)}
    if core is not None:
        figures.update({f"{prefix}core_p50": median(core), f"{prefix}core_p99": percentile(core, .99)})
    return figures


def ratio(hung, normal):
    return hung / normal if hung is not None and normal else None


# --- Ticketfrei --------------------------------------------------------------------------------

class BenchInstance(Instance):
    """tests/instance.py's real instance, configured for the benchnet plugin alone."""

    def __init__(self, directory, url, accounts, long_poll):
        super().__init__(directory, accounts=accounts, supervisor=SUPERVISOR,
                         log_level="WARNING")
        self.config.write_text(
            f'[instance]\ndata_dir = "{self.data}"\nlog_level = "WARNING"\n'
            f'[database]\nurl = "{self.database_url}"\n'
            f'[web]\nport = {self.port}\n'
            f'[plugins]\ndirs = {json.dumps([str(PLUGINS)])}\n'
            f'disabled = {json.dumps([*NETWORKS, "testnet"])}\n'
            "[supervisor]\n" + "".join(f"{k} = {v}\n" for k, v in SUPERVISOR.items()) +
            f'[bots.benchnet]\nurl = "{url}"\naccounts = {json.dumps(list(accounts))}\n'
            f"long_poll = {long_poll}\n")

    def create_cities(self, names):
        """As `ticketfrei city create` makes them, directly in the database."""
        import config
        import db
        import user
        umask = os.umask(0o077)
        try:
            os.makedirs(self.data, mode=0o700, exist_ok=True)
            settings = config.load(str(self.config))
            engine = db.make_engine(settings.database.url, settings.database.busy_timeout)
            try:
                db.create_schema(engine)
                with db.make_sessions(engine, settings).begin() as session:
                    for name in names:
                        user.create_city(session, name, f"orga@{name}.example", "bench password")
            finally:
                engine.dispose()
        finally:
            os.umask(umask)

    def running(self):
        """[(name, kind, pid)] of the supervised processes main says are running."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"main exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
        return [tuple(r) for r in self.sql(
            "SELECT name, kind, pid FROM process_status WHERE state = 'running'")]

    def stored(self):
        """{fake network message id: reports.received_at} of the benchnet reports."""
        return {int(mid): at for mid, at in self.sql(
            "SELECT network_message_id, received_at FROM reports WHERE network = 'benchnet'")}


def run_ticketfrei(cities, args, workdir, note):
    names = [f"city{n:03d}" for n in range(cities)]
    accounts = [chr(ord("a") + i) for i in range(args.bots)]
    result = {"system": "ticketfrei", "cities": cities, "bots": args.bots, "errors": [],
              **dict.fromkeys(FIGURES + TICKETFREI_FIGURES)}
    net = FakeNet().start()
    instance = BenchInstance(Path(workdir) / f"ticketfrei-{cities}x{args.bots}", net.url,
                             accounts, args.long_poll)
    load = Load(net, names, accounts, random.Random(args.seed))
    try:
        began = time.monotonic()
        instance.create_cities(names)
        result["create_cities_s"] = time.monotonic() - began
        note(f"{cities} cities created in {result['create_cities_s']:.1f} s; starting main")
        began = time.time()
        instance.start(wait=False)
        wanted = cities * args.bots + 2
        keys = set(load.keys())
        wait_for(lambda: keys <= set(net.polled()) and len(instance.running()) >= wanted,
                 args.start_timeout, interval=0.5,
                 what=f"{len(keys)} bots polling and {wanted} processes running")
        result["start_s"] = max(net.polled()[k] for k in keys) - began
        running = instance.running()
        result["processes"] = len(running)
        result["processes_total"] = len(tree(instance.proc.pid))
        note(f"all {result['processes']} processes run after {result['start_s']:.1f} s; "
             f"idle window {args.idle:g} s")
        settle(args)
        result["idle_cpu_pct"] = idle_cpu(instance.proc.pid, args.idle)

        note(f"{args.reports} reports at {args.rate:g}/s")
        sent = load.send(args.reports, args.rate, names, "n")
        done = load.wait(sent, args.wait)
        e2e, core = latencies(sent, done, instance.stored())
        result.update(reports=len(sent), relayed=len(done), **summary("", e2e, core))

        bot_pids = [pid for _, kind, pid in running if kind == "bot"]
        sample = random.Random(args.seed).sample(bot_pids, min(20, len(bot_pids)))
        bot_memory = [memory(pid) for pid in sample]
        result["bot_pss"] = median([m[0] for m in bot_memory])
        result["bot_uss"] = median([m[1] for m in bot_memory])
        for name, kind, pid in running:
            if kind in ("censor", "frontend"):
                result[f"{kind}_pss"], result[f"{kind}_uss"] = memory(pid)
        result["main_pss"], result["main_uss"] = memory(instance.proc.pid)
        try:
            parent = psutil.Process(bot_pids[0]).ppid() if bot_pids else None
        except psutil.Error:
            parent = None
        result["fork_parent_pss"], result["fork_parent_uss"] = (
            memory(parent) if parent else (None, None))
        # a process that ended in between (none should) is left out
        totals = [pss for pss, _ in map(memory, (p.pid for p in tree(instance.proc.pid)))
                  if pss is not None]
        result["total_pss"] = sum(totals) if totals else None

        if cities > BUSY_CITIES:
            busy(result, load, names, args, note, instance.stored)
        if cities >= 2:
            hung(result, net, load, names, args, note, instance.stored)
        note("stopping (SIGTERM to main)")
        try:
            result["stop_s"] = instance.stop(timeout=60)
        except subprocess.TimeoutExpired:
            result["errors"].append("main did not stop within 60 s")
    except Exception as error:  # noqa: BLE001 - the figures so far are still printed
        result["errors"].append(describe(error))
        traceback.print_exc()
    finally:
        instance.close()
        net.stop()
    return result


def busy(result, load, names, args, note, stored):
    """The same load into the first few cities only: their processes stay warm, while with
    reports into random cities of many most reports wake processes that have not run for
    seconds. The difference to the normal run is what cold processes cost."""
    note(f"{args.reports} reports into {BUSY_CITIES} of the {len(names)} cities only")
    sent = load.send(args.reports, args.rate, names[:BUSY_CITIES], "w")
    done = load.wait(sent, args.wait)
    _e2e, core = latencies(sent, done, stored())
    result["busy_core_p50"], result["busy_core_p99"] = median(core), percentile(core, .99)


def hung(result, net, load, names, args, note, stored=None):
    """The first city's accounts hang while reports flow into the others."""
    note(f"hung network: {names[0]} answers nothing; {args.reports} reports into the "
         f"other {len(names) - 1} cities")
    net.hang(names[0])
    try:
        sent = load.send(args.reports, args.rate, names[1:], "h")
        done = load.wait(sent, args.wait)
    finally:
        net.recover(names[0])
    e2e, core = latencies(sent, done, stored() if stored else None)
    result["hung_relayed"] = len(done)
    result.update(summary("hung_", e2e, core if stored else None))
    result["hung_e2e_p99_ratio"] = ratio(result["hung_e2e_p99"], result.get("e2e_p99"))
    if stored:
        result["hung_core_p99_ratio"] = ratio(result["hung_core_p99"], result.get("core_p99"))


# --- the baselines --------------------------------------------------------------------------

def run_baseline(system, cities, args, workdir, note):
    names = [f"city{n:03d}" for n in range(cities)]
    accounts = [chr(ord("a") + i) for i in range(args.bots)]
    result = {"system": system, "cities": cities, "bots": args.bots, "errors": [],
              **dict.fromkeys(FIGURES), "total_uss": None}
    net = FakeNet().start()
    load = Load(net, names, accounts, random.Random(args.seed))
    log_path = Path(workdir) / f"{system}-{cities}x{args.bots}.log"
    command = [sys.executable, str(BASELINES[system]), "--url", net.url,
               "--cities", ",".join(names), "--accounts", ",".join(accounts)]
    if system == "v2_loop":
        command += ["--pause", str(args.v2_pause), "--timeout", str(args.v2_timeout)]
    else:
        command += ["--long-poll", str(args.long_poll)]
    proc = None
    try:
        with open(log_path, "ab") as log:
            began = time.time()
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

        def started():
            if proc.poll() is not None:
                raise RuntimeError(f"{system} exited with {proc.returncode}: "
                                   f"{log_path.read_text(errors='replace')[-2000:]}")
            return set(load.keys()) <= set(net.polled())

        wait_for(started, args.start_timeout, interval=0.2, what=f"{system} to poll")
        result["start_s"] = max(net.polled().values()) - began
        result["processes"] = 1
        note(f"{system} polls all {len(load.keys())} accounts after {result['start_s']:.1f} s; "
             f"idle window {args.idle:g} s")
        settle(args)
        result["idle_cpu_pct"] = idle_cpu(proc.pid, args.idle)
        note(f"{args.reports} reports at {args.rate:g}/s")
        sent = load.send(args.reports, args.rate, names, "n")
        done = load.wait(sent, args.wait)
        e2e, _ = latencies(sent, done)
        result.update(reports=len(sent), relayed=len(done), **summary("", e2e))
        result["total_pss"], result["total_uss"] = memory(proc.pid)
        if cities >= 2:
            hung(result, net, load, names, args, note)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        result["stop_s"] = time.monotonic() - began
    except Exception as error:  # noqa: BLE001
        result["errors"].append(describe(error))
        traceback.print_exc()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        net.stop()
    return result


# --- output ----------------------------------------------------------------------------------

def fmt(value, digits=0):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pair(a, b, digits=1):
    return f"{fmt(a, digits)} / {fmt(b, digits)}"


MARKDOWN = False  # --markdown: tables as the README shows them


def table(title, header, rows):
    print(f"\n## {title}")
    if MARKDOWN:
        print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(row))


def print_tables(runs, baselines):
    ours = [r for r in runs if r["system"] == "ticketfrei"]
    table("Ticketfrei: start, idle CPU, latency (ms), stop",
          ("cities", "bots", "procs", "start s", "idle CPU %", "e2e p50", "e2e p99",
           "core p50", "core p99", f"core p99, {BUSY_CITIES} cities busy",
           "hung: others' core p99", "x normal", "stop s"),
          [[str(r["cities"]), str(r["bots"]), fmt(r.get("processes")), fmt(r.get("start_s"), 1),
            fmt(r.get("idle_cpu_pct"), 1), fmt(r.get("e2e_p50")), fmt(r.get("e2e_p99")),
            fmt(r.get("core_p50")), fmt(r.get("core_p99")), fmt(r.get("busy_core_p99")),
            fmt(r.get("hung_core_p99")),
            fmt(r.get("hung_core_p99_ratio"), 2), fmt(r.get("stop_s"), 1)] for r in ours])
    table("Ticketfrei: memory, PSS / USS in MiB",
          ("cities", "bots", "bot", "censor", "frontend", "main", "fork parent",
           "PSS of everything"),
          [[str(r["cities"]), str(r["bots"]), pair(r.get("bot_pss"), r.get("bot_uss")),
            pair(r.get("censor_pss"), r.get("censor_uss")),
            pair(r.get("frontend_pss"), r.get("frontend_uss")),
            pair(r.get("main_pss"), r.get("main_uss")),
            pair(r.get("fork_parent_pss"), r.get("fork_parent_uss")),
            fmt(r.get("total_pss"))] for r in ours])
    if baselines:
        table("The same fake network, other shapes (baselines: no censor, no database; "
              "they measure latency and isolation only)",
              ("system", "cities", "bots", "procs", "start s", "idle CPU %", "e2e p50 ms",
               "e2e p99 ms", "hung: others' e2e p99 ms", "x normal", "PSS MiB"),
              [[r["system"], str(r["cities"]), str(r["bots"]), fmt(r.get("processes")),
                fmt(r.get("start_s"), 1), fmt(r.get("idle_cpu_pct"), 1), fmt(r.get("e2e_p50")),
                fmt(r.get("e2e_p99")), fmt(r.get("hung_e2e_p99")),
                fmt(r.get("hung_e2e_p99_ratio"), 2), fmt(r.get("total_pss"))]
               for r in sorted(runs, key=lambda r: (r["cities"], r["system"] != "ticketfrei",
                                                    r["system"]))])
    for r in runs:
        for error in r.get("errors", ()):
            print(f"# {r['system']} with {r['cities']} cities: {error}")
        if r.get("reports") is not None and r.get("relayed") != r.get("reports"):
            print(f"# {r['system']} with {r['cities']} cities: {r.get('relayed')} of "
                  f"{r['reports']} reports reached all other accounts in time")


def plot(runs, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"# --plot {path}: n/a, matplotlib is not installed "
              "(pip install -e '.[bench]')")
        return
    from matplotlib.ticker import ScalarFormatter
    figure, (latency, memory_axis) = plt.subplots(1, 2, figsize=(13, 6.5))
    systems = sorted({r["system"] for r in runs}, key=lambda s: s != "ticketfrei")
    colours = {}

    def series(axis, system, key, label, style, colour_of):
        points = sorted((r["cities"], r[key]) for r in runs
                        if r["system"] == system and r.get(key) is not None)
        if points:
            colour = colours.setdefault(colour_of, f"C{len(colours)}")
            axis.plot(*zip(*points), style, label=label, color=colour)

    for system in systems:
        series(latency, system, "e2e_p50", f"{system} e2e p50", "o-", system)
        series(latency, system, "e2e_p99", f"{system} e2e p99", "o--", system)
        series(latency, system, "hung_e2e_p99", f"{system} e2e p99, one city hung", "x:",
               system)
    series(latency, "ticketfrei", "core_p50", "ticketfrei core p50", "s-", "core")
    series(latency, "ticketfrei", "core_p99", "ticketfrei core p99", "s--", "core")
    latency.set(xscale="log", yscale="log", xlabel="cities", ylabel="ms",
                title="relay latency (e2e: network to network; core: stored to posted)")
    series(memory_axis, "ticketfrei", "bot_pss", "ticketfrei: PSS of a bot", "o-", "bot")
    for system in systems:
        series(memory_axis, system, "total_pss", f"{system}: PSS of everything", "s--", system)
    memory_axis.set(xscale="log", yscale="log", xlabel="cities", ylabel="MiB",
                    title="memory (PSS)")
    for axis in (latency, memory_axis):
        axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.set_xticks(sorted({r["cities"] for r in runs}))
        axis.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.13),
                    ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    print(f"# plot written to {path}")


# --- main ------------------------------------------------------------------------------------

def city_counts(values):
    counts = [int(part) for value in values for part in value.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("--cities takes positive numbers")
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", nargs="+", default=["1,10,50,200"],
                        help="city counts, comma-separated (default 1,10,50,200)")
    parser.add_argument("--bots", type=int, default=3, help="accounts per city (default 3)")
    parser.add_argument("--reports", type=int, default=200,
                        help="reports per run, and again in the hung-network run (default 200)")
    parser.add_argument("--rate", type=float, default=20.0, help="reports per second (20)")
    parser.add_argument("--baselines", action="store_true",
                        help="also run version 2's loop and Kibicara's shape")
    parser.add_argument("--json", metavar="PATH", help="write all figures as JSON")
    parser.add_argument("--plot", metavar="PATH", help="draw latency and memory (PNG)")
    parser.add_argument("--idle", type=float, default=30.0,
                        help="seconds of the idle CPU window, which begins one long poll after "
                             "all started (default 30; 0: not measured)")
    parser.add_argument("--long-poll", type=float, default=25.0,
                        help="seconds a long poll waits on the fake network (default 25)")
    parser.add_argument("--wait", type=float, default=180.0,
                        help="seconds to wait for the last posts of a run (default 180)")
    parser.add_argument("--start-timeout", type=float, default=900.0,
                        help="seconds to wait for all processes to run (default 900)")
    parser.add_argument("--v2-pause", type=float, default=1.0,
                        help="version 2's loop: seconds between rounds (default 1; v2 slept 60)")
    parser.add_argument("--v2-timeout", type=float, default=10.0,
                        help="version 2's loop: seconds a request may take (default 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--from-json", metavar="PATH",
                        help="run nothing: print the tables (and --plot) of a --json file")
    parser.add_argument("--markdown", action="store_true", help="print the tables in Markdown")
    args = parser.parse_args(argv)
    global MARKDOWN
    MARKDOWN = args.markdown
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        print_tables(saved["runs"], any(r["system"] != "ticketfrei" for r in saved["runs"]))
        if args.plot:
            plot(saved["runs"], args.plot)
        return 0
    try:
        args.cities = city_counts(args.cities)
    except (ValueError, argparse.ArgumentTypeError) as error:
        parser.error(str(error))
    if args.bots < 2 or args.reports < 1 or args.rate <= 0:
        parser.error("--bots takes 2 or more, --reports 1 or more, --rate more than 0")
    try:  # the fake network holds two connections per bot
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 1 << 20), hard))
    except (ValueError, OSError):
        pass

    machine = {"cores": psutil.cpu_count(), "memory_gib": psutil.virtual_memory().total / 2 ** 30,
               "python": platform.python_version(), "platform": platform.platform()}
    print(f"# {args.reports} reports at {args.rate:g}/s into random accounts, {args.bots} "
          f"accounts a city, long polls of {args.long_poll:g} s on the fake network; "
          f"{machine['cores']} cores, {machine['memory_gib']:.0f} GiB, Python "
          f"{machine['python']}", flush=True)

    def note(system, cities):
        return lambda text: print(f"# [{system} {cities}] {text}", file=sys.stderr, flush=True)

    runs = []
    with tempfile.TemporaryDirectory(prefix="ticketfrei-bench-") as workdir:
        for cities in args.cities:
            runs.append(run_ticketfrei(cities, args, workdir, note("ticketfrei", cities)))
            if args.baselines:
                for system in BASELINES:
                    runs.append(run_baseline(system, cities, args, workdir, note(system, cities)))
    print_tables(runs, args.baselines)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": machine, "settings": {k: v for k, v in vars(args).items()
                                              if k not in ("json", "plot", "from_json")},
             "runs": runs}, indent=2))
        print(f"# figures written to {args.json}")
    if args.plot:
        plot(runs, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
