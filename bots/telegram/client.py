"""Talking to the Telegram Bot API through python-telegram-bot (PTB), for the bot and its web
UI: a blocking client over PTB's asyncio Bot, and PTB's errors turned into the run loop's
(bots/README.md, "Errors"). Touches no database.

PTB facts this relies on (22.x): every method is a coroutine, so a Client owns an event loop
and is used by one thread only (the bot process has two: receiving and sending); a method
works without `Bot.initialize()`; `get_updates` adds its long-poll `timeout` to the read
timeout by itself; `base_url` is the part before the token (`https://api.telegram.org/bot`);
401 and 404 raise InvalidToken, 403 Forbidden, 400 BadRequest, 409 Conflict, 429 RetryAfter,
a timeout TimedOut, anything else (5xx, no connection) NetworkError, and a body that is
not JSON a plain TelegramError.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os

# PTB 22 turns RetryAfter.retry_after (and other durations) into timedeltas with this, and
# warns on every 429 without it; seconds() reads either.
os.environ.setdefault("PTB_TIMEDELTA", "1")
# At DEBUG, PTB logs every update it fetched (names, user ids, texts) and every request; on a
# broken answer, its body. None of it belongs in the log.
logging.getLogger("telegram").setLevel(logging.WARNING)
logging.getLogger("telegram.request").setLevel(logging.CRITICAL)

import telegram  # noqa: E402  (after PTB_TIMEDELTA)
from telegram.error import (BadRequest, ChatMigrated, Conflict, Forbidden, InvalidToken,  # noqa: E402
                            NetworkError, RetryAfter, TelegramError, TimedOut)
from telegram.request import HTTPXRequest  # noqa: E402

from bots import CredentialsRefused, TryLater

MAX_WAIT = 3600.0  # seconds: a flood wait further ahead is not believed


class Refused(Exception):
    """Telegram refused one request for good (400, 403): `code` and Telegram's description."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class Client:
    """A PTB Bot with an event loop of its own, for one thread."""

    def __init__(self, token: str, base_url: str, timeout: float):
        self.token, self.timeout = token, timeout
        self.loop = asyncio.new_event_loop()
        # One connection for each client: a thread makes one request at a time.
        request = HTTPXRequest(connection_pool_size=1, read_timeout=timeout,
                               write_timeout=timeout, connect_timeout=timeout,
                               pool_timeout=timeout)
        updates = HTTPXRequest(connection_pool_size=1, read_timeout=timeout,
                               write_timeout=timeout, connect_timeout=timeout,
                               pool_timeout=timeout)
        self.bot = telegram.Bot(token, base_url=base_url, request=request,
                                get_updates_request=updates)

    def updates(self, offset: int | None, wait: int, allowed: list[str]):
        """getUpdates as Telegram's JSON (a list of dicts), unparsed: the bot parses each
        update on its own. The method's name in lower case (Telegram's names are not case
        sensitive) is what PTB's do_api_request takes without a warning."""
        arguments = {"timeout": wait, "limit": 100, "allowed_updates": allowed}
        if offset is not None:
            arguments["offset"] = offset
        return self.call("do_api_request", "getupdates", api_kwargs=arguments,
                         read_timeout=wait + self.timeout)

    def call(self, method: str, *args, **kwargs):
        """bot.<method>(...), waited for, with PTB's errors as the run loop's: TryLater (flood
        limit, 5xx, a webhook in the way), CredentialsRefused (401: a revoked token, a
        deleted bot), OSError (timeouts, no connection), Refused (400, 403)."""
        try:
            return self.loop.run_until_complete(getattr(self.bot, method)(*args, **kwargs))
        except RetryAfter as error:
            raise TryLater("Telegram's flood limit is reached",
                           delay=min(max(1.0, seconds(error.retry_after)), MAX_WAIT)) from None
        except InvalidToken:
            raise CredentialsRefused("Telegram refused the bot's token (401): connect the bot "
                                     "again with its token from @BotFather") from None
        except Forbidden as error:
            raise Refused(403, error.message) from None
        except BadRequest as error:
            raise Refused(400, error.message) from None
        except Conflict as error:  # a webhook, or another program polling this bot
            raise TryLater(f"Telegram: {error.message}", delay=5.0) from None
        except TimedOut:
            raise TimeoutError("Telegram did not answer in time") from None
        except NetworkError as error:
            if error.message.startswith("httpx."):  # no connection, refused, reset
                raise ConnectionError(f"Telegram did not answer ({error.message[:80]})") from None
            raise TryLater(f"Telegram answered: {error.message[:80]}", delay=None) from None
        except ChatMigrated:
            raise Refused(400, "the group became a supergroup") from None
        except TelegramError:  # 200 with a body that is not JSON: a broken proxy
            raise TryLater("Telegram's answer was not understood", delay=None) from None

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.bot.shutdown())
        except Exception:  # closing is best effort: the process is going
            pass
        self.loop.close()


def seconds(value) -> float:
    """RetryAfter.retry_after is an int or a timedelta, depending on PTB's version and settings."""
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
