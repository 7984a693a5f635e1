"""Baseline (b): Kibicara's shape, on the benchmark's fake network.

One process, one asyncio event loop, one task per city account: each task long-polls
`GET /updates` (`--long-poll` seconds) and posts every message it got to the other accounts of
its city (`POST /post`, one after the other), then polls again. Kibicara, Ticketfrei's
asyncio successor, runs its bots so. Each task has an httpx.AsyncClient of its own, as each
of Kibicara's bots has its network library's session: one client shared by hundreds of
long-polling tasks spends seconds of CPU in its connection pool (httpcore matches every
waiting request against every connection: 19 s of CPU for a burst of 400 polls measured
here), and its default limit of 100 connections would queue the long polls.

No censor and no database: every message is relayed, nothing survives a restart. It measures
the shape's latency and isolation only.

    python bench/baselines/kibicara.py --url http://127.0.0.1:8765 --cities city000,city001 \
        --accounts a,b,c
"""
import argparse
import asyncio
import ssl
import sys

import httpx


async def account(url: str, tls: ssl.SSLContext, city: str, name: str, names: list[str],
                  long_poll: float, timeout: float) -> None:
    async with httpx.AsyncClient(base_url=url, verify=tls) as client:
        await relay(client, city, name, names, long_poll, timeout)


async def relay(client: httpx.AsyncClient, city: str, name: str, names: list[str],
                long_poll: float, timeout: float) -> None:
    key = f"{city}/{name}"
    after = 0
    failures = 0
    while True:
        try:
            answer = await client.get("/updates",
                                      params={"account": key, "after": after,
                                              "timeout": long_poll},
                                      timeout=httpx.Timeout(long_poll + timeout, connect=5.0))
            answer.raise_for_status()
            messages = answer.json()
            failures = 0
        except (httpx.HTTPError, ValueError) as error:
            print(f"{key}: {type(error).__name__}", file=sys.stderr, flush=True)
            failures += 1
            await asyncio.sleep(min(0.5 * 2 ** (failures - 1), 30.0))
            continue
        for message in messages:
            after = max(after, message["id"])
            for other in names:
                if other == name:
                    continue
                target = f"{city}/{other}"
                try:
                    answer = await client.post("/post", json={
                        "account": target, "text": message["text"],
                        "key": f"kibicara-{message['id']}-{target}"}, timeout=timeout)
                    answer.raise_for_status()
                except httpx.HTTPError as error:  # no outbox: lost
                    print(f"{target}: {type(error).__name__}", file=sys.stderr, flush=True)


async def run(args) -> None:
    cities = [c for c in args.cities.split(",") if c]
    names = [a for a in args.accounts.split(",") if a]
    tls = ssl.create_default_context()  # one for all clients: each would load the CAs again
    await asyncio.gather(*(account(args.url, tls, city, name, names, args.long_poll,
                                   args.timeout) for city in cities for name in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the fake network's base URL")
    parser.add_argument("--cities", required=True, help="city names, comma-separated")
    parser.add_argument("--accounts", required=True, help="account names every city has")
    parser.add_argument("--long-poll", type=float, default=25.0,
                        help="seconds /updates waits for news (default 25)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds a post may take, and beyond the long poll (default 10)")
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
