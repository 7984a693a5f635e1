"""A small in-memory Telegram Bot API server for tests of the Telegram bot (it speaks HTTP to PTB).

What it is for: the Telegram plugin talks to Telegram only through the real python-telegram-bot
library (PTB >= 21). This server lets its tests run that library unchanged against 127.0.0.1 with
``telegram.Bot(token, base_url=server.base_url)`` (PTB requests ``{base_url}{token}/{method}``),
with several bots (one per city and token) on one server, and lets a test act as the people who
write to the bots, look at what the bots sent, and inject faults (5xx, 429, hangs, garbage) in
front of the next requests.

What it speaks (https://core.telegram.org/bots/api; JSON shapes as Telegram sends them):

* Requests: GET or POST ``/bot<token>/<method>``; parameters in the query string, form-encoded
  (what PTB sends: strings as they are, everything else JSON-encoded per field) or as a JSON body;
  method names case-insensitive. No multipart (file uploads are not spoken).
  Answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...}``
  with ``parameters`` (``retry_after`` on 429, ``migrate_to_chat_id`` for an upgraded group).
  A malformed token or an unknown method -> 404 "Not Found"; a well-formed but unknown or revoked
  token -> 401 "Unauthorized" (PTB raises ``InvalidToken`` for both).
* ``getMe``; ``getWebhookInfo``, ``setWebhook`` (records the URL, posts nothing to it),
  ``deleteWebhook`` (``drop_pending_updates``); ``setMyCommands``/``getMyCommands``/
  ``deleteMyCommands`` (recorded per scope and language).
* ``getUpdates`` (``offset`` as Telegram confirms with it, negative too; ``limit`` 1-100, default
  100; ``timeout`` real long polling that wakes when an update arrives, fractions of a second
  accepted so tests stay fast; ``allowed_updates`` remembered like Telegram). 409 while a webhook
  is set, and 409 for the older of two getUpdates on one token.
* ``sendMessage`` (``chat_id`` as a number or ``@channelusername``; ``text`` 1-4096 UTF-16 code
  units after entities are parsed and surrounding whitespace stripped; ``parse_mode`` HTML,
  MarkdownV2 and Markdown with Telegram's error messages; ``entities``; ``link_preview_options``
  or ``disable_web_page_preview``; ``reply_parameters`` or ``reply_to_message_id``). The message
  gets the entities Telegram finds itself (bot_command, url, email, mention, hashtag).
  Flood control: more than ``messages_per_second`` (30) sends a second per bot or more than
  ``group_messages_per_minute`` (20) a minute to one group -> 429 "Too Many Requests: retry after N".
* ``getChat`` (ChatFullInfo), ``getChatMember`` (creator/administrator/member/left/kicked),
  ``getChatAdministrators`` (people only: Telegram leaves bots out), ``leaveChat``.

Users and chats work as on Telegram: a private chat's id is the user's id and it exists for a bot
only once the user has written to it; groups have negative ids, supergroups and channels -100...;
bots are admins of channels; a bot in privacy mode (the default) sees in groups only commands,
mentions of itself, replies to its messages and service messages. Every update type a bot has not
allowed is not made at all. Not spoken: inline mode, callbacks, payments, media uploads, editing or
deleting by the bot, forum topics, business connections.
"""

from __future__ import annotations

import copy
import json
import math
import re
import secrets
import socket
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from local_server import LocalServer, QuietHandler

MAX_TEXT = 4096
UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
# What a bot gets when it never said, or said [] (Telegram leaves these three out then).
DEFAULT_ALLOWED = frozenset(UPDATE_TYPES) - {"chat_member", "message_reaction", "message_reaction_count"}

CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
    "webhook first"
)
CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
_CHAT_KIND = {"group": "group chat", "supergroup": "supergroup chat", "channel": "channel chat"}
_TOKEN_RE = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{30,64}")
_PATH_RE = re.compile(r"/bot([^/]*)/([^/]+)/?")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
}
_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)


# -- records -----------------------------------------------------------------------------------------


@dataclass(eq=False)
class UserRecord:
    """A Telegram account: a person, or the user side of a bot (``is_bot``)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    is_bot: bool = False
    language_code: str | None = "de"
    deactivated: bool = False

    def to_json(self) -> dict:
        out: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        if self.language_code and not self.is_bot:
            out["language_code"] = self.language_code
        return out

    def chat_json(self) -> dict:
        out: dict[str, Any] = {"id": self.id, "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        out["type"] = "private"
        return out


@dataclass(eq=False)
class BotRecord:
    """A bot made with :meth:`TelegramServer.add_bot`; ``token`` is ``"<id>:<secret>"`` as BotFather's."""

    id: int
    username: str
    first_name: str
    token: str
    user: UserRecord
    privacy_mode: bool = True
    # Per-bot state, used by the server with its lock held.
    updates: list = field(default_factory=list, repr=False)
    next_update_id: int = 0
    poll_generation: int = 0
    allowed_updates: list | None = None
    webhook: dict | None = None
    private: dict = field(default_factory=dict, repr=False)  # user id -> {"blocked": bool}
    commands: dict = field(default_factory=dict, repr=False)
    send_times: deque = field(default_factory=deque, repr=False)


@dataclass(eq=False)
class ChatRecord:
    """A group, supergroup or channel; ``members`` maps a user id to its ChatMember fields."""

    id: int
    type: str
    title: str
    username: str | None = None
    members: dict = field(default_factory=dict, repr=False)
    migrated_to: int | None = None
    migrated_from: int | None = None
    last_bot_sender: int | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"id": self.id, "title": self.title}
        if self.username:
            out["username"] = self.username
        out["type"] = self.type
        return out


@dataclass
class LoggedRequest:
    """One request as the server saw it: ``method`` spelt as Telegram documents it, ``params`` as
    sent (form and query values are strings), ``bot`` the token's bot username (None if the token
    was not accepted), ``time`` when it arrived (``time.time()``); ``status`` None while it runs, 0
    if its connection was dropped; ``description`` the error's (or setWebhook's) description."""

    method: str
    params: dict
    bot: str | None
    time: float
    http_method: str = "POST"
    status: int | None = None
    description: str | None = None
    fault: str | None = None


@dataclass
class _Fault:
    kind: str  # "fail", "ratelimit", "hang", "garbage"
    remaining: int
    method: str | None  # lower-case method name, or None for every request
    status: int = 500
    seconds: float = 0.0
    then: str = "answer"  # for hangs: "answer" or "drop"
    process: bool = True


class _ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(code, description)
        self.code, self.description, self.parameters = code, description, parameters


class _Described:
    """A result with the ``description`` Telegram adds to some successful answers."""

    def __init__(self, result, description: str):
        self.result, self.description = result, description


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


def _forbidden(description: str) -> _ApiError:
    return _ApiError(403, f"Forbidden: {description}")


# -- parameters ---------------------------------------------------------------------------------------


def _p_str(p: dict, name: str) -> str | None:
    v = p.get(name)
    if v is None:
        return None
    return v if isinstance(v, str) else json.dumps(v)


def _p_int(p: dict, name: str, default: int | None = None) -> int | None:
    v = p.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v) if not isinstance(v, str) else int(v.strip())
    except (TypeError, ValueError):
        raise _bad(f"wrong parameter {name} specified") from None


def _p_float(p: dict, name: str, default: float = 0.0) -> float:
    v = p.get(name)
    if v is None or v == "":
        return default
    try:
        return float(v)
    except (TypeError, ValueError):
        raise _bad(f"wrong parameter {name} specified") from None


def _p_bool(p: dict, name: str) -> bool:
    v = p.get(name)
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1")
    return bool(v)


def _p_json(p: dict, name: str, kind: type):
    """A field that is a JSON array or object: decoded when it came form-encoded as a string."""
    v = p.get(name)
    if v is None or v == "":
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            raise _bad(f"can't parse {name.replace('_', ' ')} JSON object") from None
    if not isinstance(v, kind):
        raise _bad(f'field "{name}" must be of type {"Array" if kind is list else "Object"}')
    return v


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(src: str, i: int) -> int:
    return len(src[:i].encode("utf-8"))


# -- text and entities ---------------------------------------------------------------------------------
# Entities are kept as {"type", "_s", "_e", ...} with Python string indices while parsing, and turned
# into Telegram's UTF-16 ``offset``/``length`` at the end.

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ATTR_RE = re.compile(r"([^\s=>]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")
_MD2_RESERVED = "_*[]()~`>#+-=|{}.!"
_MD2_MARKERS = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
_ENTITY_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "code": "Code",
    "pre": "Pre",
}
_AUTO_ENTITIES = (
    ("bot_command", re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])")),
    ("email", re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")),
    (
        "url",
        re.compile(
            r"(?<![\w@/.])(?:https?://[^\s<>\"]+|(?:[A-Za-z0-9-]+\.)+"
            r"(?:com|org|net|de|io|eu|info|me|ru|uk|fr|at|ch|nl|it|es|be|pl|se|social|example)"
            r"(?::\d+)?(?![\w-])(?:/[^\s<>\"]*)?)(?<![.,;:!?)\]'\"])"
        ),
    ),
    ("mention", re.compile(r"(?<![\w@/])@[A-Za-z][A-Za-z0-9_]{3,31}(?![\w@])")),
    ("hashtag", re.compile(r"(?<![\w#&])#\w*[^\W\d_]\w*")),
)
_COMMAND_RE = _AUTO_ENTITIES[0][1]


def _cant_parse(message: str) -> _ApiError:
    return _bad(f"can't parse entities: {message}")


def _html_entity(m: re.Match) -> str | None:
    """The character of ``&lt;``, ``&#33;``, ``&#x21;``... (the only named ones Telegram knows are
    lt, gt, amp and quot), or None for a code point that is no character."""
    if m[3]:
        return _HTML_NAMED[m[3]]
    code = int(m[1]) if m[1] else int(m[2], 16)
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else None


def _parse_html(src: str) -> tuple[str, list]:
    out: list[str] = []
    ents: list[dict] = []
    stack: list[dict] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "&":
            m = _HTML_ENTITY_RE.match(src, i)
            ch = _html_entity(m) if m else None
            if ch is None:
                out.append("&")  # not an entity Telegram knows: kept as text
                i += 1
            else:
                out.append(ch)
                i = m.end()
            continue
        if c != "<":
            out.append(c)
            i += 1
            continue
        off = _byte_offset(src, i)
        if src.startswith("</", i):
            j = src.find(">", i)
            if j < 0:
                raise _cant_parse(f"Unclosed end tag at byte offset {off}")
            name = src[i + 2 : j].strip().lower()
            if not stack:
                raise _cant_parse(f"Unexpected end tag at byte offset {off}")
            top = stack.pop()
            if top["name"] != name:
                raise _cant_parse(
                    f'Unmatched end tag at byte offset {off}, expected "</{top["name"]}>", found "</{name}>"'
                )
            _close_html(top, len(out), stack, ents)
            i = j + 1
            continue
        # A start tag's name runs to whitespace or '>' (so "a <3 b" names the tag "3").
        j = i + 1
        while j < n and not src[j].isspace() and src[j] != ">":
            j += 1
        name = src[i + 1 : j].lower()
        if name not in _HTML_TAGS:
            raise _cant_parse(f'Unsupported start tag "{name}" at byte offset {off}')
        attrs: dict[str, str] = {}
        while True:
            while j < n and src[j].isspace():
                j += 1
            if j >= n:
                raise _cant_parse(f"Unclosed start tag at byte offset {off}")
            if src[j] == ">":
                break
            m = _HTML_ATTR_RE.match(src, j)
            value = m[2] or ""
            if value[:1] in ("'", '"'):
                value = value[1:-1]
            attrs[m[1].lower()] = _HTML_ENTITY_RE.sub(lambda e: _html_entity(e) or e[0], value)
            j = m.end()
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _cant_parse(f'Tag "span" must have class "tg-spoiler" at byte offset {off}')
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise _cant_parse(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {off}')
        stack.append({"name": name, "start": len(out), "attrs": attrs})
        i = j + 1
    if stack:
        raise _cant_parse(f'Can\'t find end tag corresponding to start tag "{stack[-1]["name"]}"')
    return "".join(out), ents


def _close_html(tag: dict, end: int, stack: list, ents: list) -> None:
    name, attrs, start = tag["name"], tag["attrs"], tag["start"]
    kind = _HTML_TAGS[name]
    if kind == "code" and stack and stack[-1]["name"] == "pre":
        cls = attrs.get("class", "")
        if cls.startswith("language-"):
            stack[-1]["language"] = cls[len("language-") :]
        return  # <pre><code class="language-x"> is one pre entity with a language
    if end <= start:
        return
    ent: dict[str, Any] = {"type": kind, "_s": start, "_e": end}
    if kind == "text_link":
        if not attrs.get("href"):
            return
        ent["url"] = attrs["href"]
    elif kind == "pre" and tag.get("language"):
        ent["language"] = tag["language"]
    elif kind == "blockquote" and "expandable" in attrs:
        ent["type"] = "expandable_blockquote"
    elif kind == "custom_emoji":
        ent["custom_emoji_id"] = attrs["emoji-id"]
    ents.append(ent)


def _md2_until(src: str, i: int, closer: str, escapable: str) -> tuple[str, int] | None:
    """Text up to the next unescaped ``closer`` (inside code, pre and link URLs only ``escapable``
    characters take a backslash); the index after the closer, or None if there is none."""
    out: list[str] = []
    n = len(src)
    while i < n:
        if src[i] == "\\" and i + 1 < n and src[i + 1] in escapable:
            out.append(src[i + 1])
            i += 2
            continue
        if src.startswith(closer, i):
            return "".join(out), i + len(closer)
        out.append(src[i])
        i += 1
    return None


def _parse_markdown_v2(src: str) -> tuple[str, list]:
    out: list[str] = []
    ents: list[dict] = []
    stack: list[dict] = []
    quote: dict | None = None
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        off = _byte_offset(src, i)
        if i == 0 or src[i - 1] == "\n":  # blockquotes are lines that start with '>'
            if c == ">" or src.startswith("**>", i):
                if quote is None:
                    quote = {"start": len(out), "expandable": c == "*"}
                i += 1 if c == ">" else 3
                continue
            if quote is not None:
                _md2_quote(quote, len(out) - 1, ents)
                quote = None
        if c == "\\":
            if i + 1 < n and 0 < ord(src[i + 1]) < 127:
                out.append(src[i + 1])
                i += 2
            else:
                out.append(c)
                i += 1
            continue
        if c == "`":
            pre = src.startswith("```", i)
            found = _md2_until(src, i + (3 if pre else 1), "```" if pre else "`", "`\\")
            if found is None:
                raise _cant_parse(f"Can't find end of {'Pre' if pre else 'Code'} entity at byte offset {off}")
            body, i = found
            ent: dict[str, Any] = {"type": "pre" if pre else "code"}
            if pre and "\n" in body:
                first, rest = body.split("\n", 1)
                if first.strip() and not any(ch.isspace() for ch in first.strip()):
                    ent["language"], body = first.strip(), rest
            if body:
                ent["_s"], ent["_e"] = len(out), len(out) + len(body)
                ents.append(ent)
                out.extend(body)
            continue
        if c == "[" or src.startswith("![", i):
            stack.append(
                {
                    "marker": "[",
                    "type": "text_link" if c == "[" else "custom_emoji",
                    "start": len(out),
                    "off": off,
                }
            )
            i += 1 if c == "[" else 2
            continue
        if c == "]" and stack and stack[-1]["marker"] == "[":
            top = stack.pop()
            if not src.startswith("(", i + 1):
                raise _cant_parse(
                    f"Can't find end of {_ENTITY_NAMES[top['type']]} entity at byte offset {top['off']}"
                )
            found = _md2_until(src, i + 2, ")", ")\\")
            if found is None:
                raise _cant_parse(f"Can't find end of a URL at byte offset {_byte_offset(src, i + 2)}")
            url, i = found
            if len(out) > top["start"]:
                ent = {"type": top["type"], "_s": top["start"], "_e": len(out)}
                if top["type"] == "text_link":
                    ent["url"] = url
                else:
                    ent["custom_emoji_id"] = url.rpartition("id=")[2]
                ents.append(ent)
            continue
        marker = None
        if c == "_":
            # "_" closes an open italic before "__" is read as underline ("___" ends both).
            italic_open = bool(stack) and stack[-1]["marker"] == "_"
            marker = "__" if src.startswith("__", i) and not italic_open else "_"
        elif c == "|" and src.startswith("||", i):
            marker = "||"
        elif c in "*~":
            marker = c
        if marker is not None:
            if any(s["marker"] == marker for s in stack):
                top = stack[-1]
                if top["marker"] != marker:
                    raise _cant_parse(
                        f"Can't find end of {_ENTITY_NAMES[top['type']]} entity at byte offset {top['off']}"
                    )
                stack.pop()
                if len(out) > top["start"]:
                    ents.append({"type": top["type"], "_s": top["start"], "_e": len(out)})
            else:
                stack.append({"marker": marker, "type": _MD2_MARKERS[marker], "start": len(out), "off": off})
            i += len(marker)
            continue
        if c in _MD2_RESERVED:
            raise _cant_parse(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        out.append(c)
        i += 1
    if stack:
        top = stack[-1]
        raise _cant_parse(
            f"Can't find end of {_ENTITY_NAMES[top['type']]} entity at byte offset {top['off']}"
        )
    if quote is not None:
        _md2_quote(quote, len(out), ents)
    return "".join(out), ents


def _md2_quote(quote: dict, end: int, ents: list) -> None:
    if end > quote["start"]:
        kind = "expandable_blockquote" if quote["expandable"] else "blockquote"
        ents.append({"type": kind, "_s": quote["start"], "_e": end})


def _parse_markdown(src: str) -> tuple[str, list]:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting; a backslash
    escapes _ * ` [ outside entities."""
    out: list[str] = []
    ents: list[dict] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            out.append(src[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            i += 1
            continue
        off = _byte_offset(src, i)
        if c == "[":
            j = src.find("]", i + 1)
            if j < 0:
                raise _cant_parse(f"Can't find end of the entity starting at byte offset {off}")
            if not src.startswith("(", j + 1):
                out.append(c)  # "[x]" without a URL is text
                i += 1
                continue
            k = src.find(")", j + 2)
            if k < 0:
                raise _cant_parse(f"Can't find end of the entity starting at byte offset {off}")
            body = src[i + 1 : j]
            if body:
                ents.append(
                    {"type": "text_link", "_s": len(out), "_e": len(out) + len(body), "url": src[j + 2 : k]}
                )
                out.extend(body)
            i = k + 1
            continue
        closer = "```" if src.startswith("```", i) else c
        j = src.find(closer, i + len(closer))
        if j < 0:
            raise _cant_parse(f"Can't find end of the entity starting at byte offset {off}")
        body = src[i + len(closer) : j]
        kind = {"*": "bold", "_": "italic", "`": "code", "```": "pre"}[closer]
        ent: dict[str, Any] = {"type": kind}
        if kind == "pre" and "\n" in body:
            first, rest = body.split("\n", 1)
            if first.strip() and " " not in first.strip():
                ent["language"], body = first.strip(), rest
        if body:
            ent["_s"], ent["_e"] = len(out), len(out) + len(body)
            ents.append(ent)
            out.extend(body)
        i = j + len(closer)
    return "".join(out), ents


def _given_entities(text: str, raw: list) -> list[dict]:
    """``entities`` a client sent (UTF-16 offsets) as internal spans."""
    index = {}  # UTF-16 offset -> Python index
    u = 0
    for k, ch in enumerate(text):
        index[u] = k
        u += 2 if ord(ch) > 0xFFFF else 1
    index[u] = len(text)
    ents = []
    for e in raw:
        if not isinstance(e, dict) or not {"type", "offset", "length"} <= e.keys():
            raise _bad("can't parse entities: entity must be an Object with type, offset and length")
        s, end = index.get(int(e["offset"])), index.get(int(e["offset"]) + int(e["length"]))
        if s is None or end is None or end <= s:
            continue
        extra = {k: v for k, v in e.items() if k not in ("offset", "length")}
        ents.append({**extra, "_s": s, "_e": end})
    return ents


def _finish(text: str, ents: list, detect: bool = True) -> tuple[str, list[dict]]:
    """Strip surrounding whitespace as Telegram does, add the entities it detects itself, and give
    the entities Telegram's UTF-16 ``offset``/``length``, sorted."""
    lead = len(text) - len(text.lstrip())
    text = text.strip()
    spans = []
    for e in ents:
        s, end = max(0, e["_s"] - lead), min(len(text), e["_e"] - lead)
        if end > s:
            spans.append({**e, "_s": s, "_e": end})
    if detect:
        taken = [
            (e["_s"], e["_e"]) for e in spans if e["type"] in ("code", "pre", "text_link", "custom_emoji")
        ]
        for kind, rx in _AUTO_ENTITIES:
            for m in rx.finditer(text):
                if all(m.end() <= s or m.start() >= end for s, end in taken):
                    spans.append({"type": kind, "_s": m.start(), "_e": m.end()})
                    taken.append((m.start(), m.end()))
    u16 = [0]
    for ch in text:
        u16.append(u16[-1] + (2 if ord(ch) > 0xFFFF else 1))
    result = []
    for e in sorted(spans, key=lambda e: (e["_s"], -e["_e"])):
        ent = {"offset": u16[e["_s"]], "length": u16[e["_e"]] - u16[e["_s"]], "type": e["type"]}
        ent.update({k: v for k, v in e.items() if k not in ("_s", "_e", "type", "offset", "length")})
        result.append(ent)
    return text, result


def _format(text: str, parse_mode: str | None, entities: list | None) -> tuple[str, list[dict]]:
    if entities is not None:
        return _finish(text, _given_entities(text, entities))
    mode = (parse_mode or "").lower()
    if mode == "":
        return _finish(text, [])
    parser = {"html": _parse_html, "markdownv2": _parse_markdown_v2, "markdown": _parse_markdown}.get(mode)
    if parser is None:
        raise _bad(f'unsupported parse_mode "{parse_mode}"')
    return _finish(*parser(text))


# -- HTTP plumbing ---------------------------------------------------------------------------------


class _Handler(QuietHandler):
    def get_environ(self):
        environ = super().get_environ()
        environ["telegram_server.socket"] = self.connection  # so a fault can drop the connection
        return environ


def _json_body(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _error_body(code: int, description: str, parameters: dict | None = None) -> dict:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def _nginx_page(status: int) -> bytes:
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


# -- the server ---------------------------------------------------------------------------------------


class TelegramServer(LocalServer):
    """A Telegram Bot API server on ``self.url`` (``http://127.0.0.1:PORT``); PTB's ``base_url`` is
    ``self.base_url`` (``.../bot``). State lives in memory behind one lock.

    Use as a context manager, or call :meth:`start` and :meth:`close`. Test controls are plain
    thread-safe methods. A bot can be passed as its :class:`BotRecord`, token or username; a user
    as its :class:`UserRecord` or a name for :meth:`user`; a chat as its :class:`ChatRecord`, id or
    ``@username``.
    """

    def __init__(self, *, messages_per_second: int = 30, group_messages_per_minute: int = 20,
                 first_user_id: int = 100_000_001):
        """``first_user_id``: ids of new users count up from it (real ones pass 2**32)."""
        self.messages_per_second = messages_per_second
        self.group_messages_per_minute = group_messages_per_minute
        super().__init__()
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)  # long polls wait on it; new updates notify it
        self.base_url = self.base_file_url = ""
        self._bots: dict[int, BotRecord] = {}
        self._tokens: dict[str, BotRecord] = {}
        self._users: dict[int, UserRecord] = {}
        self._usernames: dict[str, UserRecord | ChatRecord] = {}  # lower-case username -> record
        self._chats: dict[int, ChatRecord] = {}
        self._messages: dict[tuple, dict] = {}  # (box, message_id) -> message JSON
        self._next_message_id: dict[Any, int] = {}
        self._sent: list[tuple[int, int, dict]] = []  # (bot id, chat id, message JSON)
        self._group_sends: dict[tuple[int, int], deque] = {}
        self._faults: list[_Fault] = []
        self._log: list[LoggedRequest] = []
        self._next_user_id = first_user_id
        self._next_bot_id = 7_000_000_001
        self._next_group_id = 4_000_000_001
        self._next_channel_id = 1_001_000_000_001
        self._file_serial = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    handler_class = _Handler

    def _started(self, port: int) -> None:
        self.base_url, self.base_file_url = f"{self.url}/bot", f"{self.url}/file/bot"

    def _closing(self) -> None:
        with self._cond:
            self._cond.notify_all()  # long polls answer [] as the server goes away

    # -- bots, users, chats ---------------------------------------------------------------------------

    def add_bot(
        self, username: str, first_name: str | None = None, *, privacy_mode: bool = True
    ) -> BotRecord:
        """A bot with a fresh token ``"<id>:<35-character secret>"``. (Telegram wants bot usernames to
        end in "bot"; this server does not insist.)"""
        username = username.lstrip("@")
        with self._lock:
            if username.lower() in self._usernames:
                raise ValueError(f"username {username!r} is taken")
            bot_id = self._next_bot_id
            self._next_bot_id += 1
            user = UserRecord(
                bot_id, first_name or username, username=username, is_bot=True, language_code=None
            )
            bot = BotRecord(bot_id, username, user.first_name, self._new_token(bot_id), user, privacy_mode)
            # Update ids start somewhere large, as Telegram's do, and differ between bots.
            bot.next_update_id = 100_000_000 + (bot_id % 1000) * 1_000_000
            self._bots[bot_id] = bot
            self._tokens[bot.token] = bot
            self._users[bot_id] = user
            self._usernames[username.lower()] = user
            return bot

    def revoke(self, token: str) -> str:
        """Revoke ``token`` as BotFather's /revoke does: it answers 401 from now on, and the bot gets a
        new token (returned, and set on its record)."""
        with self._lock:
            bot = self._tokens.pop(token)
            bot.token = self._new_token(bot.id)
            self._tokens[bot.token] = bot
            self._cond.notify_all()
            return bot.token

    def user(
        self,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "de",
        is_bot: bool = False,
    ) -> UserRecord:
        """A person (or, with ``is_bot``, a bot account this server does not run). The username is
        ``first_name`` in lower case unless given ("" for none); the same username gives the same
        user again."""
        if username is None:
            username = re.sub(r"\W", "", first_name.lower())
        username = username.lstrip("@")
        with self._lock:
            known = self._usernames.get(username.lower()) if username else None
            if isinstance(known, UserRecord):
                return known
            if known is not None:
                raise ValueError(f"username {username!r} is taken by a chat")
            user = UserRecord(
                self._next_user_id, first_name, last_name, username or None, is_bot, language_code
            )
            self._next_user_id += 1
            self._users[user.id] = user
            if username:
                self._usernames[username.lower()] = user
            return user

    def channel(
        self,
        username: str | None,
        *,
        admins: tuple | list = (),
        members: tuple | list = (),
        title: str | None = None,
        owner=None,
    ) -> ChatRecord:
        """A channel (public if it has a username, id -100...). ``admins`` (bots or users) may post;
        ``members`` are subscribers; a bot among them gets "need administrator rights"."""
        username = username.lstrip("@") if username else None
        with self._lock:
            chat = self._new_chat("channel", title or username or "Channel", username)
            owner = (
                self._get_user(owner) if owner is not None else self.user(f"{chat.title} Owner", username="")
            )
            chat.members[owner.id] = {"status": "creator"}
            for who in members:
                chat.members[self._get_user(who).id] = {"status": "member"}
            for who in admins:
                chat.members[self._get_user(who).id] = self._admin_rights(chat)
            return chat

    def group(
        self,
        title: str,
        *,
        members: tuple | list = (),
        admins: tuple | list = (),
        supergroup: bool = False,
        username: str | None = None,
    ) -> ChatRecord:
        """A group (id -4...), or a supergroup (-100...). Bots among ``members`` or ``admins`` join
        quietly; use :meth:`add_to_group` to have a bot added with the updates Telegram sends."""
        with self._lock:
            chat = self._new_chat("supergroup" if supergroup else "group", title, username)
            for who in members:
                chat.members[self._get_user(who).id] = {"status": "member"}
            for who in admins:
                chat.members[self._get_user(who).id] = self._admin_rights(chat)
            return chat

    def set_member(self, chat, who, status: str = "member", **rights) -> None:
        """Set ``who``'s status in ``chat`` ("creator", "administrator", "member", "left", "kicked");
        administrators get all rights but those given as False (``can_post_messages=False``...)."""
        with self._lock:
            chat, user = self._get_chat(chat), self._get_user(who)
            member = self._admin_rights(chat) if status == "administrator" else {"status": status}
            member.update(rights)
            chat.members[user.id] = member

    def add_to_group(self, bot, group, by=None) -> dict | None:
        """``by`` (a person, default the group's first member) adds ``bot`` to ``group`` (a
        :class:`ChatRecord` or a title for a new group). The bot gets a ``my_chat_member`` update,
        and every bot in the group the ``new_chat_members`` message; returns that message's update
        for ``bot``."""
        with self._lock:
            bot = self._get_bot(bot)
            chat = self._get_chat(group) if not isinstance(group, str) else self.group(group)
            adder = self._get_user(by) if by is not None else self._first_person(chat) or self.user("Alice")
            chat.members.setdefault(adder.id, {"status": "member"})
            old = chat.members.get(bot.id, {"status": "left"})
            new = {"status": "member"}
            chat.members[bot.id] = new
            self._chat_member_update(bot, chat, adder, old, new)
            msg = self._new_message(
                None,
                chat,
                adder,
                {
                    "new_chat_participant": bot.user.to_json(),
                    "new_chat_member": bot.user.to_json(),
                    "new_chat_members": [bot.user.to_json()],
                },
            )
            mine = None
            for other in self._member_bots(chat):  # service messages reach every bot in the chat
                update = self._deliver_to_chat(other, chat, "message", msg)
                mine = update if other is bot else mine
            return mine

    def upgrade_group(self, group) -> ChatRecord:
        """Telegram upgrades ``group`` to a supergroup (new id -100...): its bots get the two service
        messages, and the old id answers 400 with ``migrate_to_chat_id`` from now on."""
        with self._lock:
            old = self._get_chat(group)
            if old.type != "group":
                raise ValueError("only basic groups are upgraded")
            new = self._new_chat("supergroup", old.title, None)
            new.members = copy.deepcopy(old.members)
            new.migrated_from, old.migrated_to = old.id, new.id
            actor = self._first_person(old) or self.user("Alice")
            old_msg = self._new_message(None, old, actor, {"migrate_to_chat_id": new.id})
            new_msg = self._new_message(None, new, actor, {"migrate_from_chat_id": old.id})
            for bot in self._member_bots(old):
                self._deliver_to_chat(bot, old, "message", old_msg)
                self._deliver_to_chat(bot, new, "message", new_msg)
            return new

    def block(self, bot, user, blocked: bool = True) -> None:
        """``user`` blocks ``bot`` (or unblocks it): sends to them get 403 "bot was blocked by the
        user"; the bot gets the ``my_chat_member`` update Telegram sends."""
        with self._lock:
            bot, user = self._get_bot(bot), self._get_user(user)
            state = bot.private.setdefault(user.id, {"blocked": False})
            if state["blocked"] != blocked:
                state["blocked"] = blocked
                old = {"status": "member"} if blocked else {"status": "kicked", "until_date": 0}
                new = {"status": "kicked", "until_date": 0} if blocked else {"status": "member"}
                self._chat_member_update(bot, user, user, old, new)

    def deactivate(self, user, deactivated: bool = True) -> None:
        """The account is deleted: sends to it get 403 "user is deactivated"."""
        with self._lock:
            self._get_user(user).deactivated = deactivated

    # -- what people do -----------------------------------------------------------------------------

    def private_message(self, bot, user, text: str, *, reply_to: int | None = None) -> dict | None:
        """``user`` writes ``text`` to ``bot`` in their private chat; returns the update (entities as
        Telegram detects them, e.g. ``bot_command`` for "/start")."""
        return self._private(bot, user, self._text_content(text), reply_to)

    def command(self, bot, user, command: str, *, chat=None) -> dict | None:
        """``user`` sends a command ("/start", "/start@BotName", "/help args") to ``bot``, in private
        or in ``chat`` (a group); the message has the ``bot_command`` entity Telegram adds."""
        if not command.startswith("/"):
            command = "/" + command
        if chat is not None:
            return self.group_message(bot, chat, user, command)
        return self.private_message(bot, user, command)

    def private_photo(self, bot, user, caption: str | None = None) -> dict | None:
        """A photo (four sizes, as Telegram sends them) with an optional caption."""
        with self._lock:
            sizes = []
            unique = self._file_ids("AgACAgIAAxkBAA", "AQAD")[1]
            for w, h in ((90, 67), (320, 240), (800, 600), (1280, 960)):
                file_id, _ = self._file_ids("AgACAgIAAxkBAA", "AQAD")
                sizes.append(
                    {
                        "file_id": file_id,
                        "file_unique_id": f"{unique}{w}",
                        "file_size": w * h // 8,
                        "width": w,
                        "height": h,
                    }
                )
            return self._private(bot, user, {"photo": sizes, **self._caption(caption)})

    def private_document(
        self,
        bot,
        user,
        file_name: str = "bericht.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
    ) -> dict | None:
        with self._lock:
            file_id, unique = self._file_ids("BQACAgIAAxkBAA", "AgAD")
            doc = {
                "file_name": file_name,
                "mime_type": mime_type,
                "file_id": file_id,
                "file_unique_id": unique,
                "file_size": 34_567,
            }
            return self._private(bot, user, {"document": doc, **self._caption(caption)})

    def private_voice(self, bot, user, duration: int = 3) -> dict | None:
        with self._lock:
            file_id, unique = self._file_ids("AwACAgIAAxkBAA", "AgAD")
            voice = {
                "duration": duration,
                "mime_type": "audio/ogg",
                "file_id": file_id,
                "file_unique_id": unique,
                "file_size": 4_000 * duration,
            }
            return self._private(bot, user, {"voice": voice})

    def private_sticker(self, bot, user, emoji: str = "\N{THUMBS UP SIGN}") -> dict | None:
        with self._lock:
            file_id, unique = self._file_ids("CAACAgIAAxkBAA", "AgAD")
            thumb_id, thumb_unique = self._file_ids("AAMCAgADGQEAA", "AQAD")
            thumb = {
                "file_id": thumb_id,
                "file_unique_id": thumb_unique,
                "file_size": 5_000,
                "width": 128,
                "height": 128,
            }
            sticker = {
                "width": 512,
                "height": 512,
                "emoji": emoji,
                "set_name": "TicketfreiTest",
                "is_animated": False,
                "is_video": False,
                "type": "regular",
                "thumbnail": thumb,
                "file_id": file_id,
                "file_unique_id": unique,
                "file_size": 20_000,
            }
            return self._private(bot, user, {"sticker": sticker})

    def private_location(
        self, bot, user, latitude: float = 52.5219, longitude: float = 13.4132
    ) -> dict | None:
        return self._private(bot, user, {"location": {"latitude": latitude, "longitude": longitude}})

    def edit_message(self, bot, user, message_id: int, text: str, *, chat=None) -> dict | None:
        """``user`` edits their message ``message_id`` (in the private chat with ``bot``, or in
        ``chat``): an ``edited_message`` update with ``edit_date`` and the new text."""
        with self._lock:
            bot, user = self._get_bot(bot), self._get_user(user)
            target = self._get_chat(chat) if chat is not None else user
            key = (self._box(bot, target), message_id)
            msg = self._messages.get(key)
            if msg is None or msg.get("from", {}).get("id") != user.id:
                raise ValueError(f"{user.first_name} has no message {message_id} there")
            for k in ("text", "entities", "caption", "caption_entities"):
                msg.pop(k, None)
            msg["edit_date"] = max(int(time.time()), msg["date"])
            msg.update(self._text_content(text))
            kind = (
                "edited_channel_post"
                if isinstance(target, ChatRecord) and target.type == "channel"
                else "edited_message"
            )
            if isinstance(target, UserRecord):
                return self._deliver(bot, kind, msg)
            return self._deliver_to_chat(bot, target, kind, msg)

    def group_message(self, bot, group_chat, user, text: str, *, reply_to: int | None = None) -> dict | None:
        """``user`` writes ``text`` in ``group_chat``. Every bot in the group that would see it gets
        it (privacy mode: commands, mentions of the bot, replies to it; admins and bots without
        privacy mode see everything); returns ``bot``'s update, None if it does not see it."""
        with self._lock:
            bot, chat, user = self._get_bot(bot), self._get_chat(group_chat), self._get_user(user)
            if chat.type == "channel":
                raise ValueError("people do not write in channels; use channel_post")
            chat.members.setdefault(user.id, {"status": "member"})
            content = self._text_content(text)
            msg = self._new_message(None, chat, user, content, reply_to)
            mine = None
            for other in self._member_bots(chat):
                if self._sees(other, chat, msg):
                    update = self._deliver_to_chat(other, chat, "message", msg)
                    if other is bot:
                        mine = update
            return mine

    def channel_post(self, bot, channel, text: str) -> dict | None:
        """The channel's owner posts ``text``; every bot admin of the channel gets a ``channel_post``;
        returns ``bot``'s update (None if it is not in the channel)."""
        with self._lock:
            bot, chat = self._get_bot(bot), self._get_chat(channel)
            msg = self._new_message(None, chat, None, self._text_content(text))
            mine = None
            for other in self._member_bots(chat):
                update = self._deliver_to_chat(other, chat, "channel_post", msg)
                if other is bot:
                    mine = update
            return mine

    def bot_message(self, bot, from_bot_user, text: str, *, chat=None) -> dict | None:
        """A message from another bot (``from.is_bot`` true) in ``chat`` (default: a new group of the
        two). Telegram hardly ever delivers these (bots do not see other bots' messages); this exists
        so a bot can be tested to ignore them, and delivers it to ``bot`` whatever its settings."""
        with self._lock:
            bot = self._get_bot(bot)
            sender = self._get_user(from_bot_user)
            if not sender.is_bot:
                raise ValueError(f"{sender.first_name} is no bot; make one with add_bot or user(is_bot=True)")
            target = (
                self._get_chat(chat)
                if chat is not None
                else self.group(f"{bot.first_name} and {sender.first_name}", members=[bot, sender])
            )
            target.members.setdefault(sender.id, {"status": "member"})
            target.members.setdefault(bot.id, {"status": "member"})
            msg = self._new_message(None, target, sender, self._text_content(text))
            return self._deliver_to_chat(bot, target, "message", msg)

    def raw_update(self, bot, kind: str, payload: dict) -> dict | None:
        """An update of ``kind`` carrying ``payload`` as it is, unchecked: what a future Bot API,
        or a broken one, might send (a message without its date, say)."""
        with self._lock:
            return self._deliver(self._get_bot(bot), kind, payload)

    # -- what tests read --------------------------------------------------------------------------------

    def sent(self, bot, chat_id=None) -> list[dict]:
        """Messages ``bot`` sent (oldest first, as sendMessage answered them), optionally only to one
        chat (an id, ``@username``, or record)."""
        with self._lock:
            bot = self._get_bot(bot)
            want = None if chat_id is None else self._chat_id_of(chat_id)
            return [copy.deepcopy(m) for b, c, m in self._sent if b == bot.id and want in (None, c)]

    def pending_updates(self, bot) -> list[dict]:
        """Updates waiting for ``bot`` (not yet confirmed by an offset)."""
        with self._lock:
            return copy.deepcopy(self._get_bot(bot).updates)

    def webhook(self, bot) -> dict | None:
        """What setWebhook recorded (url, allowed_updates, secret_token, max_connections), or None."""
        with self._lock:
            return copy.deepcopy(self._get_bot(bot).webhook)

    def requests_log(self) -> list[LoggedRequest]:
        with self._lock:
            return copy.deepcopy(self._log)

    # -- faults ------------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, method: str | None = None) -> None:
        """The next ``n`` requests (to ``method`` only, if given) get ``status`` and are not carried
        out: 500 as the Bot API's JSON "Internal Server Error", 502/503/504 as nginx's HTML page."""
        self._add_fault(_Fault("fail", n, method, status=status))

    def rate_limit_next(self, n: int = 1, retry_after: int = 5, method: str | None = None) -> None:
        """The next ``n`` requests get 429 "Too Many Requests: retry after N" and are not carried out."""
        self._add_fault(_Fault("ratelimit", n, method, status=429, seconds=retry_after))

    def hang_next(
        self,
        n: int = 1,
        seconds: float = 10,
        method: str | None = None,
        *,
        then: str = "answer",
        process: bool = True,
    ) -> None:
        """The next ``n`` requests are held ``seconds`` (or until :meth:`close`), then answered
        (``then="answer"``) or the connection is closed without an answer (``then="drop"``). With
        ``process`` the request takes effect at once (a client that timed out has sent anyway);
        without, it is lost, and an answer after the wait is nginx's 504."""
        assert then in ("answer", "drop")
        self._add_fault(_Fault("hang", n, method, seconds=seconds, then=then, process=process))

    def garbage_next(self, n: int = 1, method: str | None = None) -> None:
        """The next ``n`` requests get 200 with a body that is not JSON; nothing is done."""
        self._add_fault(_Fault("garbage", n, method))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- state helpers (call with the lock held) --------------------------------------------------

    def _add_fault(self, fault: _Fault) -> None:
        fault.method = fault.method.lower() if fault.method else None
        with self._lock:
            self._faults.append(fault)

    def _new_token(self, bot_id: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
        return f"{bot_id}:AA" + "".join(secrets.choice(alphabet) for _ in range(33))

    def _file_ids(self, prefix: str, unique_prefix: str) -> tuple[str, str]:
        self._file_serial += 1
        return (
            f"{prefix}{self._file_serial:06d}{secrets.token_urlsafe(40)}",
            f"{unique_prefix}{self._file_serial:06d}{secrets.token_urlsafe(6)}",
        )

    def _new_chat(self, kind: str, title: str, username: str | None) -> ChatRecord:
        if kind == "group":
            chat_id = -self._next_group_id
            self._next_group_id += 1
        else:
            chat_id = -self._next_channel_id
            self._next_channel_id += 1
        if username and username.lower() in self._usernames:
            raise ValueError(f"username {username!r} is taken")
        chat = ChatRecord(chat_id, kind, title, username or None)
        self._chats[chat_id] = chat
        if username:
            self._usernames[username.lower()] = chat
        return chat

    def _admin_rights(self, chat: ChatRecord) -> dict:
        rights: dict[str, Any] = {"status": "administrator", "can_be_edited": False, "is_anonymous": False}
        rights.update({r: True for r in _ADMIN_RIGHTS})
        rights["can_promote_members"] = False
        if chat.type == "channel":
            rights.update(can_post_messages=True, can_edit_messages=True)
        else:
            rights["can_pin_messages"] = True
            if chat.type == "supergroup":
                rights["can_manage_topics"] = False
        return rights

    def _get_bot(self, bot) -> BotRecord:
        with self._lock:
            if isinstance(bot, BotRecord):
                return bot
            if isinstance(bot, str) and bot in self._tokens:
                return self._tokens[bot]
            found = self._usernames.get(str(bot).lstrip("@").lower())
            if isinstance(found, UserRecord) and found.id in self._bots:
                return self._bots[found.id]
            raise KeyError(f"no bot {bot!r}")

    def _get_user(self, who) -> UserRecord:
        if isinstance(who, UserRecord):
            return who
        if isinstance(who, BotRecord):
            return who.user
        if isinstance(who, int):
            return self._users[who]
        return self.user(str(who))

    def _get_chat(self, chat) -> ChatRecord:
        if isinstance(chat, ChatRecord):
            return chat
        if isinstance(chat, str) and chat.startswith("@"):
            found = self._usernames.get(chat[1:].lower())
            if isinstance(found, ChatRecord):
                return found
        elif isinstance(chat, int) and chat in self._chats:
            return self._chats[chat]
        raise KeyError(f"no chat {chat!r}")

    def _chat_id_of(self, chat) -> int:
        if isinstance(chat, (UserRecord, ChatRecord)):
            return chat.id
        if isinstance(chat, BotRecord):
            return chat.id
        if isinstance(chat, str) and chat.startswith("@"):
            return self._usernames[chat[1:].lower()].id
        return int(chat)

    def _first_person(self, chat: ChatRecord) -> UserRecord | None:
        """The chat's creator, else its first member who is not a bot."""
        people = [self._users[uid] for uid in chat.members if not self._users[uid].is_bot]
        creators = [u for u in people if chat.members[u.id]["status"] == "creator"]
        return (creators or people or [None])[0]

    def _member_bots(self, chat: ChatRecord) -> list[BotRecord]:
        return [
            self._bots[uid]
            for uid, m in chat.members.items()
            if uid in self._bots and m["status"] in ("creator", "administrator", "member")
        ]

    def _box(self, bot: BotRecord, target) -> Any:
        """Where message ids count: each bot's private chat with a user is its own, a group's or
        channel's messages are shared by everyone in it."""
        return (bot.id, target.id) if isinstance(target, UserRecord) else target.id

    def _caption(self, caption: str | None) -> dict:
        if caption is None:
            return {}
        text, ents = _finish(caption, [])
        return {"caption": text, **({"caption_entities": ents} if ents else {})}

    def _text_content(self, text: str) -> dict:
        text, ents = _finish(text, [])
        if not text:
            raise ValueError("Telegram sends no empty messages")
        return {"text": text, **({"entities": ents} if ents else {})}

    def _new_message(
        self, bot: BotRecord | None, target, sender, content: dict, reply_to: int | None = None, box=None
    ) -> dict:
        """A message in ``target`` (a user for ``bot``'s private chat, or a chat) from ``sender`` (a
        user, or None for a channel's own post), stored under the next message id of its box."""
        box = box if box is not None else self._box(bot, target)
        mid = self._next_message_id.get(box, 1)
        self._next_message_id[box] = mid + 1
        msg: dict[str, Any] = {"message_id": mid}
        if sender is not None:
            msg["from"] = sender.to_json()
        if isinstance(target, ChatRecord) and target.type == "channel":
            msg["sender_chat"] = target.to_json()
        msg["chat"] = target.chat_json() if isinstance(target, UserRecord) else target.to_json()
        msg["date"] = int(time.time())
        if reply_to is not None:
            replied = self._messages.get((box, reply_to))
            if replied is None:
                raise ValueError(f"no message {reply_to} to reply to")
            msg["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        msg.update(content)
        self._messages[(box, mid)] = msg
        return msg

    def _private(self, bot, user, content: dict, reply_to: int | None = None) -> dict | None:
        with self._lock:
            bot, user = self._get_bot(bot), self._get_user(user)
            state = bot.private.setdefault(user.id, {"blocked": False})
            if state["blocked"]:
                self.block(bot, user, False)  # writing again is the client's "Restart bot"
            msg = self._new_message(bot, user, user, content, reply_to)
            return self._deliver(bot, "message", msg)

    def _sees(self, bot: BotRecord, chat: ChatRecord, msg: dict) -> bool:
        """Whether ``bot`` gets a person's message in a group (Telegram's privacy mode)."""
        if msg.get("from", {}).get("is_bot"):
            return False  # bots never see other bots' messages
        if not bot.privacy_mode or chat.members[bot.id]["status"] in ("administrator", "creator"):
            return True
        if msg.get("reply_to_message", {}).get("from", {}).get("id") == bot.id:
            return True
        text = msg.get("text") or msg.get("caption") or ""
        for m in _COMMAND_RE.finditer(text):
            _, at, name = m.group().partition("@")
            if at and name.lower() == bot.username.lower():
                return True
            if not at and chat.last_bot_sender in (None, bot.id):
                return True
        return re.search(rf"(?<![\w@])@{re.escape(bot.username)}(?!\w)", text, re.IGNORECASE) is not None

    def _allowed(self, bot: BotRecord) -> frozenset:
        return frozenset(bot.allowed_updates) if bot.allowed_updates else DEFAULT_ALLOWED

    def _deliver(self, bot: BotRecord, kind: str, payload: dict) -> dict | None:
        """Queue an update for ``bot``: Telegram does not make updates of types the bot has not
        allowed. Returns a copy, or None."""
        if kind not in self._allowed(bot):
            return None
        update = {"update_id": bot.next_update_id, kind: copy.deepcopy(payload)}
        bot.next_update_id += 1
        bot.updates.append(update)
        self._cond.notify_all()
        return copy.deepcopy(update)

    def _deliver_to_chat(self, bot: BotRecord, chat: ChatRecord, kind: str, payload: dict) -> dict | None:
        if chat.members.get(bot.id, {"status": "left"})["status"] in ("left", "kicked"):
            return None
        return self._deliver(bot, kind, payload)

    def _chat_member_update(self, bot: BotRecord, target, actor: UserRecord, old: dict, new: dict) -> None:
        chat_json = target.chat_json() if isinstance(target, UserRecord) else target.to_json()
        self._deliver(
            bot,
            "my_chat_member",
            {
                "chat": chat_json,
                "from": actor.to_json(),
                "date": int(time.time()),
                "old_chat_member": self._member_json(bot.user, old),
                "new_chat_member": self._member_json(bot.user, new),
            },
        )

    def _member_json(self, user: UserRecord, member: dict) -> dict:
        out = {"user": user.to_json(), "status": member["status"]}
        if member["status"] == "creator":
            out["is_anonymous"] = member.get("is_anonymous", False)
        out.update({k: v for k, v in member.items() if k not in ("status",)})
        if member["status"] == "kicked":
            out.setdefault("until_date", 0)
        return out

    # -- HTTP --------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        started = time.time()
        http_method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        params = self._read_params(environ)
        m = _PATH_RE.fullmatch(path)
        token, name = (m[1], m[2]) if m else (None, None)
        entry = LoggedRequest(
            _CANONICAL.get(name.lower(), name) if name else path, params, None, started, http_method
        )
        with self._lock:
            self._log.append(entry)
            fault = next((f for f in self._faults if f.method in (None, (name or "").lower())), None)
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                entry.fault = fault.kind
        hang = fault if fault is not None and fault.kind == "hang" else None
        if hang is not None and not hang.process:
            self._stop.wait(hang.seconds)
            if hang.then == "drop":
                return self._drop(environ, entry)
            status, ctype, out = 504, "text/html", _nginx_page(504)
        else:
            status, ctype, out = self._respond(fault, token, name, params, entry)
            if hang is not None:
                self._stop.wait(hang.seconds)
                if hang.then == "drop":
                    return self._drop(environ, entry)
        entry.status = status
        start_response(
            f"{status} {_REASONS.get(status, 'Error')}",
            [
                ("Content-Type", ctype),
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Expose-Headers", "Content-Length,Content-Type,Date,Server,Connection"),
            ],
        )
        return [out]

    @staticmethod
    def _drop(environ, entry: LoggedRequest):
        """Close the connection without an answer (the client sees the peer hang up)."""
        entry.status = 0
        sock = environ.get("telegram_server.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise ConnectionAbortedError  # wsgiref takes this for a client gone and writes nothing

    @staticmethod
    def _read_params(environ) -> dict:
        """Query string, then the body: form-encoded (PTB), JSON, as Telegram accepts them."""
        params: dict[str, Any] = dict(
            urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        )
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        ctype = environ.get("CONTENT_TYPE", "")
        if body and "json" in ctype:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict):
                params.update(data)
        elif body and "x-www-form-urlencoded" in ctype:
            params.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return params

    def _respond(self, fault, token, name, params, entry: LoggedRequest) -> tuple[int, str, bytes]:
        kind = fault.kind if fault is not None else None
        if kind == "fail":
            entry.description = _REASONS.get(fault.status, "Error")
            if fault.status == 500:
                return 500, "application/json", _json_body(_error_body(500, "Internal Server Error"))
            return fault.status, "text/html", _nginx_page(fault.status)
        if kind == "ratelimit":
            retry = math.ceil(fault.seconds)
            entry.description = f"Too Many Requests: retry after {retry}"
            return (
                429,
                "application/json",
                _json_body(_error_body(429, entry.description, {"retry_after": retry})),
            )
        if kind == "garbage":
            return 200, "text/html", b"<html><body><h1>It works!</h1><p>Telegram is ret"
        if token is None or not _TOKEN_RE.fullmatch(token):
            entry.description = "Not Found"
            return 404, "application/json", _json_body(_error_body(404, "Not Found"))
        with self._cond:
            bot = self._tokens.get(token)
            if bot is None:
                entry.description = "Unauthorized"
                return 401, "application/json", _json_body(_error_body(401, "Unauthorized"))
            entry.bot = bot.username
            handler = _METHODS.get(name.lower())
            if handler is None:
                entry.description = "Not Found"
                return 404, "application/json", _json_body(_error_body(404, "Not Found"))
            try:
                result = handler(self, bot, params)
            except _ApiError as e:
                entry.description = e.description
                return (
                    e.code,
                    "application/json",
                    _json_body(_error_body(e.code, e.description, e.parameters)),
                )
            body: dict[str, Any] = {"ok": True}
            if isinstance(result, _Described):
                body["result"], body["description"] = result.result, result.description
                entry.description = result.description
            else:
                body["result"] = result
            return 200, "application/json", _json_body(body)

    # -- methods (called with the lock held; raise _ApiError for an error answer) ----------------------

    def _m_get_me(self, bot: BotRecord, p: dict) -> dict:
        return {
            **bot.user.to_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": not bot.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_get_webhook_info(self, bot: BotRecord, p: dict) -> dict:
        info: dict[str, Any] = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if bot.webhook:
            info["url"] = bot.webhook["url"]
            info["max_connections"] = bot.webhook["max_connections"]
            info["ip_address"] = "127.0.0.1"
            if bot.allowed_updates:
                info["allowed_updates"] = list(bot.allowed_updates)
        return info

    def _m_set_webhook(self, bot: BotRecord, p: dict):
        url = (_p_str(p, "url") or "").strip()
        if not url:
            return self._m_delete_webhook(bot, p)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        if parts.port not in (None, 80, 88, 443, 8443):
            raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        allowed = _p_json(p, "allowed_updates", list)
        if allowed is not None:
            bot.allowed_updates = [str(a) for a in allowed if a in UPDATE_TYPES]
        if _p_bool(p, "drop_pending_updates"):
            bot.updates.clear()
        same = bot.webhook is not None and bot.webhook["url"] == url
        bot.webhook = {
            "url": url,
            "max_connections": _p_int(p, "max_connections", 40),
            "secret_token": _p_str(p, "secret_token"),
            "allowed_updates": allowed,
            "ip_address": _p_str(p, "ip_address"),
        }
        bot.poll_generation += 1  # a waiting getUpdates ends with the webhook conflict
        self._cond.notify_all()
        return _Described(True, "Webhook is already set" if same else "Webhook was set")

    def _m_delete_webhook(self, bot: BotRecord, p: dict):
        if _p_bool(p, "drop_pending_updates"):
            bot.updates.clear()
        had = bot.webhook is not None
        bot.webhook = None
        return _Described(True, "Webhook was deleted" if had else "Webhook is already deleted")

    def _m_get_updates(self, bot: BotRecord, p: dict) -> list:
        if bot.webhook is not None:
            raise _ApiError(409, CONFLICT_WEBHOOK)
        offset = _p_int(p, "offset", 0)
        limit = _p_int(p, "limit", 100)
        limit = 100 if limit <= 0 or limit > 100 else limit
        timeout = max(0.0, _p_float(p, "timeout", 0.0))
        allowed = _p_json(p, "allowed_updates", list)
        if allowed is not None:
            bot.allowed_updates = [str(a) for a in allowed if a in UPDATE_TYPES]
        # An update is confirmed by a getUpdates with a higher offset; a negative offset keeps only
        # the last -offset updates and forgets the rest.
        if offset > 0:
            bot.updates[:] = [u for u in bot.updates if u["update_id"] >= offset]
        elif offset < 0:
            del bot.updates[: max(0, len(bot.updates) + offset)]
        bot.poll_generation += 1
        generation = bot.poll_generation
        self._cond.notify_all()  # an older poll on this token ends with 409
        deadline = time.monotonic() + timeout
        while True:
            if self._stop.is_set():
                return []
            if bot.poll_generation != generation:
                raise _ApiError(409, CONFLICT_WEBHOOK if bot.webhook else CONFLICT_POLL)
            if bot.updates:
                return copy.deepcopy(bot.updates[:limit])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._cond.wait(remaining)

    def _resolve_chat(self, bot: BotRecord, raw):
        """The chat ``chat_id`` names, as this bot can see it: a UserRecord for a private chat (only
        once the user wrote to the bot), a ChatRecord otherwise."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise _bad("chat_id is empty")
        if isinstance(raw, str) and raw.strip().startswith("@"):
            found = self._usernames.get(raw.strip()[1:].lower())
            if isinstance(found, ChatRecord) and found.type in ("channel", "supergroup"):
                return found
            raise _bad("chat not found")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise _bad("chat not found") from None
        if chat_id in self._chats:
            chat = self._chats[chat_id]
            if chat.migrated_to is not None:
                raise _ApiError(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    {"migrate_to_chat_id": chat.migrated_to},
                )
            member = chat.members.get(bot.id, {"status": "left"})
            if chat.username is None and member["status"] == "left":
                raise _bad("chat not found")  # a private group or channel the bot is not in
            return chat
        if chat_id == bot.id:
            return bot.user
        if chat_id in self._users and chat_id in bot.private:
            return self._users[chat_id]
        raise _bad("chat not found")

    def _check_can_send(self, bot: BotRecord, target) -> None:
        if isinstance(target, UserRecord):
            if target.is_bot:
                raise _forbidden("bot can't send messages to bots")
            if target.deactivated:
                raise _forbidden("user is deactivated")
            if bot.private.get(target.id, {}).get("blocked"):
                raise _forbidden("bot was blocked by the user")
            return
        member = target.members.get(bot.id, {"status": "left"})
        where = _CHAT_KIND[target.type]
        if member["status"] == "kicked":
            raise _forbidden(f"bot was kicked from the {where}")
        if member["status"] == "left":
            raise _forbidden(f"bot is not a member of the {where}")
        if target.type == "channel" and not (
            member["status"] == "creator"
            or (member["status"] == "administrator" and member.get("can_post_messages"))
        ):
            raise _bad("need administrator rights in the channel chat")

    def _flood(self, bot: BotRecord, target) -> None:
        """Telegram's flood control, as a sliding window: retry_after is when a slot frees up."""
        now = time.monotonic()
        while bot.send_times and bot.send_times[0] <= now - 1:
            bot.send_times.popleft()
        waits = []
        if len(bot.send_times) >= self.messages_per_second:
            waits.append(bot.send_times[len(bot.send_times) - self.messages_per_second] + 1 - now)
        group = None
        if isinstance(target, ChatRecord) and target.type in ("group", "supergroup"):
            group = self._group_sends.setdefault((bot.id, target.id), deque())
            while group and group[0] <= now - 60:
                group.popleft()
            if len(group) >= self.group_messages_per_minute:
                waits.append(group[len(group) - self.group_messages_per_minute] + 60 - now)
        if waits:
            retry = max(1, math.ceil(max(waits)))
            raise _ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        bot.send_times.append(now)
        if group is not None:
            group.append(now)

    def _m_send_message(self, bot: BotRecord, p: dict) -> dict:
        target = self._resolve_chat(bot, p.get("chat_id"))
        self._check_can_send(bot, target)
        text, entities = _format(
            _p_str(p, "text") or "", _p_str(p, "parse_mode"), _p_json(p, "entities", list)
        )
        if not text:
            raise _bad("message text is empty")
        if _utf16_len(text) > MAX_TEXT:
            raise _bad("message is too long")
        box = self._box(bot, target)
        reply = _p_json(p, "reply_parameters", dict) or {}
        reply_id = _p_int(reply, "message_id") if reply else _p_int(p, "reply_to_message_id")
        without_reply = _p_bool(reply, "allow_sending_without_reply") or _p_bool(
            p, "allow_sending_without_reply"
        )
        if reply.get("chat_id") not in (None, "") and reply_id is not None:
            other = self._resolve_chat(bot, reply["chat_id"])
            if other is not target:
                raise _bad("message to be replied not found")  # replies in other chats are not spoken
        if reply_id is not None and (box, reply_id) not in self._messages:
            if not without_reply:
                raise _bad("message to be replied not found")
            reply_id = None
        self._flood(bot, target)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        preview = _p_json(p, "link_preview_options", dict)
        if preview is None and _p_bool(p, "disable_web_page_preview"):
            preview = {"is_disabled": True}
        if preview:
            content["link_preview_options"] = {k: v for k, v in preview.items() if v not in (None, False)}
        sender = None if isinstance(target, ChatRecord) and target.type == "channel" else bot.user
        msg = self._new_message(bot, target, sender, content, reply_id)
        if isinstance(target, ChatRecord):
            target.last_bot_sender = bot.id
        self._sent.append((bot.id, target.id, copy.deepcopy(msg)))
        return copy.deepcopy(msg)

    def _m_get_chat(self, bot: BotRecord, p: dict) -> dict:
        target = self._resolve_chat(bot, p.get("chat_id"))
        info: dict[str, Any]
        if isinstance(target, UserRecord):
            info = target.chat_json()
        else:
            info = target.to_json()
        info.update(
            {
                "accent_color_id": target.id % 7,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return info

    def _visible_members(self, bot: BotRecord, chat: ChatRecord) -> None:
        """Bots read a channel's members only as its admins, a group's only as a member."""
        member = chat.members.get(bot.id, {"status": "left"})["status"]
        if chat.type == "channel" and member not in ("administrator", "creator"):
            raise _bad("member list is inaccessible")
        if member in ("left", "kicked"):
            raise _forbidden(f"bot is not a member of the {_CHAT_KIND[chat.type]}")

    def _m_get_chat_member(self, bot: BotRecord, p: dict) -> dict:
        target = self._resolve_chat(bot, p.get("chat_id"))
        user_id = _p_int(p, "user_id")
        if user_id is None:
            raise _bad("user_id is empty")  # wording of Telegram's other "is empty" errors
        user = self._users.get(user_id)
        if user is None:
            raise _bad("user not found")
        if isinstance(target, UserRecord):
            if user_id not in (target.id, bot.id):
                raise _bad("user not found")
            return self._member_json(user, {"status": "member"})
        if user_id != bot.id:
            self._visible_members(bot, target)
        return self._member_json(user, target.members.get(user_id, {"status": "left"}))

    def _m_get_chat_administrators(self, bot: BotRecord, p: dict) -> list:
        target = self._resolve_chat(bot, p.get("chat_id"))
        if isinstance(target, UserRecord):
            raise _bad("there are no administrators in the private chat")
        self._visible_members(bot, target)
        return [
            self._member_json(self._users[uid], m)
            for uid, m in target.members.items()
            if m["status"] in ("creator", "administrator") and not self._users[uid].is_bot
        ]

    def _m_leave_chat(self, bot: BotRecord, p: dict) -> bool:
        target = self._resolve_chat(bot, p.get("chat_id"))
        if isinstance(target, UserRecord):
            raise _bad("chat member status can't be changed in private chats")
        old = target.members.get(bot.id, {"status": "left"})
        if old["status"] in ("left", "kicked"):
            raise _forbidden(f"bot is not a member of the {_CHAT_KIND[target.type]}")
        target.members[bot.id] = {"status": "left"}
        self._chat_member_update(bot, target, bot.user, old, {"status": "left"})
        return True

    def _m_set_my_commands(self, bot: BotRecord, p: dict) -> bool:
        commands = _p_json(p, "commands", list)
        if commands is None:
            raise _bad('parameter "commands" is required')
        for c in commands:
            ok = isinstance(c, dict) and re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", "")))
            if not ok or not 1 <= len(str(c.get("description", ""))) <= 256:
                raise _bad("BOT_COMMAND_INVALID")
        bot.commands[self._commands_key(p)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _m_get_my_commands(self, bot: BotRecord, p: dict) -> list:
        return copy.deepcopy(bot.commands.get(self._commands_key(p), []))

    def _m_delete_my_commands(self, bot: BotRecord, p: dict) -> bool:
        bot.commands.pop(self._commands_key(p), None)
        return True

    @staticmethod
    def _commands_key(p: dict) -> tuple:
        scope = _p_json(p, "scope", dict) or {"type": "default"}
        return json.dumps(scope, sort_keys=True), _p_str(p, "language_code") or ""


_METHODS = {
    "getme": TelegramServer._m_get_me,
    "getwebhookinfo": TelegramServer._m_get_webhook_info,
    "setwebhook": TelegramServer._m_set_webhook,
    "deletewebhook": TelegramServer._m_delete_webhook,
    "getupdates": TelegramServer._m_get_updates,
    "sendmessage": TelegramServer._m_send_message,
    "getchat": TelegramServer._m_get_chat,
    "getchatmember": TelegramServer._m_get_chat_member,
    "getchatadministrators": TelegramServer._m_get_chat_administrators,
    "leavechat": TelegramServer._m_leave_chat,
    "setmycommands": TelegramServer._m_set_my_commands,
    "getmycommands": TelegramServer._m_get_my_commands,
    "deletemycommands": TelegramServer._m_delete_my_commands,
}
# Spelt as Telegram documents them, for the log: _m_get_chat_member -> getChatMember.
_CANONICAL = {
    name: "".join(word if k == 0 else word.title() for k, word in enumerate(f.__name__[3:].split("_")))
    for name, f in _METHODS.items()
}
