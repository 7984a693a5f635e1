"""Chaos: a stream of reports while bots, the censor and main itself are SIGKILLed at random.
Killing any process at any moment must lose no report and post none twice or in a wrong city
(DESIGN.md "Processes and queues"). Run with -s (or -rP) to see the figures.
"""
import random
import threading
import time
from collections import Counter

from instance import kill_random, wait_for
from test_streams import (FAST, Background, assert_exactly_once, print_tally, send_rounds,
                          start_cities, tally)

LEAKED = "leaked semaphore"


def chaos(instance, stop: threading.Event, rng: random.Random, kills: Counter, notes: dict,
          bot_every=1.0, censor_every=5.0, main_every=10.0) -> None:
    """Until stop is set: SIGKILL a random bot every ~bot_every s, the censor every
    ~censor_every s and main every ~main_every s; after main, wait until its processes are
    gone and start it again."""
    began = time.monotonic()
    next_censor = began + censor_every * rng.uniform(0.6, 1.4)
    next_main = began + main_every
    while not stop.wait(bot_every * rng.uniform(0.6, 1.4)):
        now = time.monotonic()
        if now >= next_main:
            next_main = now + main_every
            old = instance.kill_main()
            kills["main"] += 1
            notes.setdefault("children gone after main was killed (s)", []).append(
                round(instance.wait_gone(old, timeout=20), 2))
            restarting = time.monotonic()
            instance.restart_after_kill(old)
            notes.setdefault("main running again after (s)", []).append(
                round(time.monotonic() - restarting, 2))
            continue
        kind = "censor" if now >= next_censor else "bot"
        if kind == "censor":
            next_censor = now + censor_every * rng.uniform(0.6, 1.4)
        if kill_random(instance, rng, (kind,)):
            kills[kind] += 1


def test_random_kills_of_bots_censor_and_main_lose_nothing_and_duplicate_nothing(make_instance):
    instance = make_instance(supervisor=FAST)
    cities = ("berlin", "hamburg", "koeln")
    ids = start_cities(instance, cities)
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    stop, kills, notes = threading.Event(), Counter(), {}
    monkey = Background(lambda: chaos(instance, stop, rng, kills, notes), "chaos")

    sent = {}  # text -> (city_id, account)
    monkey.start()
    began = time.monotonic()
    try:  # one report to every (city, account) each 0.75 s: ~36 s
        send_rounds(instance, ids, sent, rounds=48, gap=0.75, where="Steig",
                    stop=lambda: monkey.error is not None)
    finally:
        stop.set()
        monkey.join(60)
    streamed = time.monotonic() - began
    monkey.check()
    assert not monkey.is_alive(), "the chaos thread did not finish"
    assert instance.proc.poll() is None, "main is not running after the chaos"

    settled, took, left = instance.settle(timeout=60)
    time.sleep(1.0)  # a stray post would have landed by now
    t = tally(sent, instance.posted())
    verdicts = dict(instance.sql("SELECT verdict, count(*) FROM reports GROUP BY verdict"))
    leaks = [line for line in instance.log().splitlines() if LEAKED in line]
    print_tally(f"chaos in 3 cities (seed {seed})", t, streamed=f"{streamed:.1f} s",
                kills=f"{sum(kills.values())}: {dict(kills)}", **notes, reports=verdicts,
                settled=f"{settled} after {took:.1f} s, outstanding {left}",
                **{"resource tracker warnings": leaks[:3]})
    assert kills["main"] >= 2 and kills["censor"] >= 2 and kills["bot"] >= 10, dict(kills)
    assert_exactly_once(t)
    assert settled, f"still outstanding after 60 s: {left}"
    assert verdicts == {"accepted": len(sent)}, verdicts


def test_killing_main_leaks_no_semaphores(make_instance):
    instance = make_instance(supervisor=FAST)
    ids = start_cities(instance, ("berlin", "hamburg"))
    instance.send(ids["berlin"], "a", "Kontrolle U1 Alexanderplatz")
    wait_for(lambda: instance.posted(ids["berlin"], "b"), 20, what="the report at berlin/b")
    old = instance.kill_main()
    took = instance.wait_gone(old, timeout=20)  # the resource tracker too: it has had its say
    log = instance.log()
    leaks = [line for line in log.splitlines() if LEAKED in line]
    print(f"\nevery process gone {took:.1f} s after main was killed; resource tracker: "
          f"{leaks or 'nothing leaked'}")
    assert not leaks, leaks
