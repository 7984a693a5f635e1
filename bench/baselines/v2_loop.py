"""Baseline (a): Ticketfrei version 2's shape, on the benchmark's fake network.

One process, one loop: for each city in turn, for each of its accounts in turn, one short
`GET /updates` (timeout 0: no long poll) and, for every message it brought, one `POST /post`
to each other account of the city; then the next account, the next city, and after the last
city a pause, and round again. Version 2's backend.py did exactly this with the real networks
(`for user in db.active_users: for bot in bots: bot.crawl(user) ... bot2.post(user, status)`,
then `time.sleep(60)  # twitter rate limit`); the pause here is `--pause` (1 s by default, so
that the figures show the shape rather than that minute). A request that hangs holds up the
whole loop until the client's timeout (`--timeout`; version 2's Mastodon.py waited 300 s).

No censor and no database: every message is relayed, nothing survives a restart. It measures
the shape's latency and isolation only.

    python bench/baselines/v2_loop.py --url http://127.0.0.1:8765 --cities city000,city001 \
        --accounts a,b,c
"""
import argparse
import sys
import time

import requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the fake network's base URL")
    parser.add_argument("--cities", required=True, help="city names, comma-separated")
    parser.add_argument("--accounts", required=True, help="account names every city has")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds a request may take (default 10)")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds between two rounds (default 1; version 2: 60)")
    args = parser.parse_args()
    cities = [c for c in args.cities.split(",") if c]
    names = [a for a in args.accounts.split(",") if a]
    after = {f"{c}/{a}": 0 for c in cities for a in names}
    client = requests.Session()
    relayed = 0
    while True:
        for city in cities:
            for name in names:
                key = f"{city}/{name}"
                try:
                    answer = client.get(args.url + "/updates",
                                        params={"account": key, "after": after[key],
                                                "timeout": 0}, timeout=args.timeout)
                    answer.raise_for_status()
                    messages = answer.json()
                except (requests.RequestException, ValueError) as error:
                    print(f"{key}: {type(error).__name__}", file=sys.stderr, flush=True)
                    continue
                for message in messages:
                    after[key] = max(after[key], message["id"])
                    for other in names:
                        if other == name:
                            continue
                        target = f"{city}/{other}"
                        try:
                            client.post(args.url + "/post",
                                        json={"account": target, "text": message["text"],
                                              "key": f"v2-{message['id']}-{target}"},
                                        timeout=args.timeout).raise_for_status()
                            relayed += 1
                        except requests.RequestException as error:  # version 2 lost it too
                            print(f"{target}: {type(error).__name__}", file=sys.stderr,
                                  flush=True)
        time.sleep(args.pause)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
