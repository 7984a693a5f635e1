"""End-to-end streams of reports that count every message: each report must reach every
target of its city exactly once and no target anywhere else (DESIGN.md "Processes and
queues": the database holds the truth, the queues carry the news).

Run with -s (or -rP) to see the figures each test prints.
"""
import random
import smtplib
import statistics
import threading
import time
from collections import Counter, defaultdict
from email.message import EmailMessage

from instance import kill_random, Relay, free_port, smtp_greets, wait_for

DOMAIN = "ticketfrei.test"
# Quick recovery, so that killed processes are back within a second or two.
FAST = {"backoff_initial": 0.2, "backoff_max": 2.0, "heartbeat_timeout": 4.0}


# --- counting ----------------------------------------------------------------------------

def other(account: str) -> str:
    return {"a": "b", "b": "a"}[account]


def tally(sent: dict[str, tuple[int, str]], posted: list[tuple]) -> dict:
    """Count report x target pairs on the test network.

    sent: text -> (city_id, account it was sent to); each text is sent once, and its one
    target is the city's other account. posted: instance.posted() rows.
    """
    at = defaultdict(list)
    for city_id, account, text, attempts in posted:
        at[text].append((city_id, account, attempts))
    lost, duplicated, wrong_city, wrong_account = [], [], [], []
    for text, (city_id, account) in sent.items():
        hits = [p for p in at[text] if p[:2] == (city_id, other(account))]
        if not hits:
            lost.append(text)
        elif len(hits) > 1:
            duplicated.append((text, len(hits)))
        for post in at[text]:
            if post[0] != city_id:
                wrong_city.append((text, post[:2]))
            elif post[1] != other(account):
                wrong_account.append((text, post[:2]))
    unknown = [(text, posts) for text, posts in at.items() if text not in sent]
    return dict(sent=len(sent), posts=len(posted),
                delivered=len(sent) - len(lost),
                lost=lost, duplicated=duplicated, wrong_city=wrong_city,
                wrong_account=wrong_account, unknown=unknown,
                resent=sum(1 for row in posted if row[3] > 1))


def print_tally(title: str, t: dict, **more) -> None:
    print(f"\n=== {title}")
    print(f"sent {t['sent']}, posts {t['posts']}, delivered {t['delivered']}, "
          f"lost {len(t['lost'])}, duplicated {len(t['duplicated'])}, "
          f"in a wrong city {len(t['wrong_city'])}, at a wrong account of the right city "
          f"{len(t['wrong_account'])}, unknown texts {len(t['unknown'])}, "
          f"re-sends de-duplicated by the network (attempts > 1) {t['resent']}")
    for key, value in more.items():
        print(f"{key}: {value}")
    for key in ("lost", "duplicated", "wrong_city", "wrong_account", "unknown"):
        if t[key]:
            print(f"{key} (first 5 of {len(t[key])}): {t[key][:5]}")


def assert_exactly_once(t: dict) -> None:
    assert not t["lost"], f"{len(t['lost'])} of {t['sent']} reports lost: {t['lost'][:5]}"
    assert not t["duplicated"], f"{len(t['duplicated'])} posted twice: {t['duplicated'][:5]}"
    assert not t["wrong_city"], (f"{len(t['wrong_city'])} posts in a wrong city "
                                 f"(text, (city, account)): {t['wrong_city'][:5]}")
    assert not t["wrong_account"], f"posted at a wrong account: {t['wrong_account'][:5]}"
    assert not t["unknown"], f"posts of texts nobody sent: {t['unknown'][:5]}"


def start_cities(instance, cities) -> dict[str, int]:
    ids = {city: instance.create_city(city) for city in cities}
    instance.start()
    wanted = {f"{c}/testnet:{a}" for c in cities for a in "ab"} | {"censor", "frontend"}
    wait_for(lambda: instance.running_names() >= wanted, 30, what="every bot to run")
    return ids


class Background(threading.Thread):
    """A thread whose exception fails the test instead of vanishing."""

    def __init__(self, target, name):
        super().__init__(name=name, daemon=True)
        self._target_fn, self.error = target, None

    def run(self):
        try:
            self._target_fn()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test by check()
            self.error = error

    def check(self):
        if self.error is not None:
            raise AssertionError(f"the {self.name} thread failed: {self.error!r}") from self.error


def send_rounds(instance, ids: dict, sent: dict, rounds: int, gap: float, where: str,
                stop=lambda: False) -> None:
    """One distinct report to every (city, account) each gap seconds, rounds times (or until
    stop() says so); sent maps each text to its (city_id, account)."""
    began = time.monotonic()
    for n in range(rounds):
        for city, city_id in ids.items():
            for account in "ab":
                text = f"Kontrolle {city} {where} {account} Nr {n:02d}"
                instance.send(city_id, account, text)
                sent[text] = (city_id, account)
        if stop():
            break
        time.sleep(max(0.0, began + (n + 1) * gap - time.monotonic()))


def kill_random_bots(instance, stop: threading.Event, rng: random.Random, kills: Counter,
                     interval: float = 0.6) -> None:
    """SIGKILL a random running bot every ~interval seconds (0.6 to 1.4 times it) until stop
    is set."""
    while not stop.wait(interval * rng.uniform(0.6, 1.4)):
        name = kill_random(instance, rng)
        if name:
            kills[name] += 1


# --- mail: a stream of mails to a city ---------------------------------------------------

class TimedRelay(Relay):
    """The relay, also noting when each mail arrived."""

    def __init__(self):
        super().__init__()
        self.arrived = []  # (time.time(), To, body)

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        message = self.mails[-1]
        self.arrived.append((time.time(), message["To"], text_of(message)))
        return answer


def text_of(message) -> str:
    """The decoded text parts of a mail."""
    parts = [part.get_payload(decode=True) or b"" for part in message.walk()
             if part.get_content_maintype() == "text"]
    return "\n".join(part.decode("utf-8", "replace") for part in parts)




def mail_report(port: int, city: str, sender: str, text: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, f"{city}@{DOMAIN}", ""
    message.set_content(text)
    wire = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        refused = client.sendmail(sender, [f"{city}@{DOMAIN}"], wire)
    assert refused == {}, refused


def test_stream_of_mails_each_becomes_a_report_relayed_to_every_subscriber_once(
        make_instance, database_url):
    with TimedRelay() as relay:
        smtp_port = free_port()
        instance = make_instance(disabled=(), database_url=database_url, supervisor=FAST,
                                 extra=relay.settings() + (
                                     f'[bots.mail]\ndomain = "{DOMAIN}"\n'
                                     f"listen_port = {smtp_port}\nretry_delay = 0.5\n"))
        ids = {city: instance.create_city(city) for city in ("berlin", "hamburg")}
        instance.start()
        wanted = {"service:mail"} | {f"{c}/mail:{i}" for c, i in ids.items()} | {
            f"{c}/testnet:{a}" for c in ids for a in "ab"}
        wait_for(lambda: wanted <= instance.running_names(), 30, what="the mail bots and service")
        wait_for(lambda: smtp_greets(smtp_port), 20, what="the SMTP service to greet")
        subscribers = {"berlin": [f"reader{n}@example.org" for n in range(3)],
                       "hamburg": ["hamburg-reader@example.org"]}
        for city, emails in subscribers.items():
            for email in emails:
                instance.sql("INSERT INTO mail_subscribers (city_id, email, bounces, dropped, "
                             "created_at) VALUES (:c, :e, 0, false, 0)", c=ids[city], e=email)

        # ~32 mails over ~11 s, each from another sender, each its own SMTP session.
        count, gap = 32, 0.35
        sent = {}  # token -> (text, sent at)
        began = time.monotonic()
        for n in range(count):
            token = f"M{n:03d}Z"
            text = f"Kontrolle U{n % 9 + 1} Ausgang Nord, Meldung {token}"
            sent[token] = (text, time.time())
            mail_report(smtp_port, "berlin", f"Reporter {n} <reporter{n}@example.org>", text)
            time.sleep(max(0.0, began + (n + 1) * gap - time.monotonic()))
        streamed = time.monotonic() - began

        def complete():
            reached = {(to, t) for _, to, body in relay.arrived for t in sent if t in body}
            posted = {(r[1], t) for r in instance.posted(ids["berlin"]) for t in sent
                      if t in r[2]}
            return (len(reached) >= len(sent) * len(subscribers["berlin"])
                    and len(posted) >= 2 * len(sent))

        # Done when every target has every mail, or when the instance has nothing left to do
        # (a mail dropped on the way is no longer outstanding anywhere).
        # If neither comes within a minute, the figures below show what is missing.
        deadline = time.monotonic() + 60
        while not (complete() or not any(instance.outstanding().values())
                   or time.monotonic() > deadline):
            time.sleep(0.2)
        settled, _, left = instance.settle(timeout=30, steady=2.0)  # and stragglers: duplicates
        reports = [r[0] for r in instance.sql("SELECT text FROM reports WHERE network = 'mail'")]
        arrived = list(relay.arrived)
        posted = instance.sql("SELECT city_id, account, text, posted_at FROM testnet_outbox")

    berlin = ids["berlin"]
    report_counts = Counter(t for text in reports for t in sent if t in text)
    per_subscriber = {email: Counter(t for _, to, body in arrived if to == email
                                     for t in sent if t in body)
                      for email in subscribers["berlin"]}
    per_account = {account: Counter(t for city_id, acc, text, _ in posted
                                    if (city_id, acc) == (berlin, account)
                                    for t in sent if t in text)
                   for account in "ab"}
    elsewhere = ([(to, t) for _, to, body in arrived if to not in subscribers["berlin"]
                  for t in sent if t in body]
                 + [(city_id, acc, t) for city_id, acc, text, _ in posted if city_id != berlin
                    for t in sent if t in text])
    targets = len(subscribers["berlin"]) + 2
    latencies = []
    for token, (_, at) in sent.items():
        times = ([when for when, _, body in arrived if token in body]
                 + [when for city_id, _, text, when in posted if token in text])
        if len(times) == targets:
            latencies.append(max(times) - at)

    def figures(counter):
        return (f"{sum(1 for t in sent if counter[t] == 1)} once, "
                f"{sum(1 for t in sent if counter[t] == 0)} never, "
                f"{sum(1 for t in sent if counter[t] > 1)} more than once")

    print(f"\n=== {count} mails to berlin over {streamed:.1f} s "
          f"({database_url.split(':')[0]})")
    print(f"reports: {len(reports)} stored ({figures(report_counts)})")
    for email, counter in per_subscriber.items():
        print(f"mails to {email}: {sum(counter.values())} ({figures(counter)})")
    for account, counter in per_account.items():
        print(f"posts at berlin/testnet:{account}: {sum(counter.values())} ({figures(counter)})")
    print(f"anywhere else: {len(elsewhere)} {elsewhere[:5]}")
    if latencies:
        print(f"end to end (sent until the last of its {targets} targets "
              f"had it), {len(latencies)} complete: p50 {statistics.median(latencies):.2f} s, "
              f"max {max(latencies):.2f} s")
    print(f"settled: {settled}, outstanding: {left}")

    never = [t for t in sent if report_counts[t] == 0]
    assert not never, (f"{len(never)} of {count} mails never became a report "
                       f"(reports stored: {len(reports)}): {never[:5]}")
    assert all(report_counts[t] == 1 for t in sent), report_counts
    for email, counter in per_subscriber.items():
        assert all(counter[t] == 1 for t in sent), (email, figures(counter))
    for account, counter in per_account.items():
        assert all(counter[t] == 1 for t in sent), (account, figures(counter))
    assert elsewhere == []
    assert settled, f"still outstanding: {left}"


# --- cities that share account ids, bots killed ------------------------------------------

def test_cities_sharing_account_ids_each_get_only_their_own_reports_while_bots_are_killed(
        make_instance):
    instance = make_instance(supervisor=FAST)
    cities = ("berlin", "hamburg", "koeln")
    ids = start_cities(instance, cities)
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    stop, kills = threading.Event(), Counter()
    killer = Background(lambda: kill_random_bots(instance, stop, rng, kills), "killer")

    sent = {}  # text -> (city_id, account)
    killer.start()
    began = time.monotonic()
    # Every (city, account) gets one report every half second for ~15 s, and a random bot is
    # killed every ~0.6 s: about 25 restarts, each of whose start-up sweeps must take only its
    # own city's pending deliveries.
    try:
        send_rounds(instance, ids, sent, rounds=30, gap=0.5, where="Eingang")
    finally:
        stop.set()
        killer.join(30)
    streamed = time.monotonic() - began
    killer.check()

    settled, took, left = instance.settle(timeout=60)
    time.sleep(1.0)  # a stray post from a wrong city's bot would have landed by now
    t = tally(sent, instance.posted())
    verdicts = dict(instance.sql("SELECT verdict, count(*) FROM reports GROUP BY verdict"))
    print_tally(f"3 cities sharing account ids a and b, bots killed (seed {seed})", t,
                streamed=f"{streamed:.1f} s", kills=f"{sum(kills.values())}: {dict(kills)}",
                reports=verdicts, settled=f"{settled} after {took:.1f} s, outstanding {left}")
    assert sum(kills.values()) >= 5, "the killer hardly killed anything"
    assert_exactly_once(t)
    assert settled, f"still outstanding after 60 s: {left}"
    assert verdicts == {"accepted": len(sent)}, verdicts
