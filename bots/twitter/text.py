"""Text for X: a mention as a report (the thread's handles, @mentions and t.co links taken out),
and a report cut to X's 280 weighted characters. Pure functions; touches nothing.

X counts text as twitter-text's configuration v3 does: a character in the ranges below (Latin,
Greek, Cyrillic, Hebrew, Arabic, …, general punctuation) weighs 1, any other (CJK, emoji) 2, and
every URL 23 whatever its length (X shortens it to a t.co link). An emoji sequence counts as
its code points here, a little more than X does: a cut post is never too long.
"""
from __future__ import annotations

import re

MAX_WEIGHT = 280
URL_WEIGHT = 23
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
# Links as X finds them: with a scheme, or a bare domain ("bvg.de/…"); counted 23 each (a
# word such as "Hbf.Gleis" taken for one only makes a cut post shorter).
URL = re.compile(r"(?:https?://\S+|\b(?:[\w-]+\.)+[a-z]{2,}(?:/\S*)?)", re.IGNORECASE)
TCO = re.compile(r"https?://t\.co/\w+", re.IGNORECASE)
MENTION = re.compile(r"(?<![\w@＠])[@＠]\w{1,15}\b")  # X takes the full-width ＠ too
LEADING_MENTIONS = re.compile(rf"^(?:\s*{MENTION.pattern})+[\s:,]*")


def _char_weight(char: str) -> int:
    code = ord(char)
    return 1 if any(low <= code <= high for low, high in _LIGHT) else 2


def weighted_length(text: str) -> int:
    """X's length of `text`: URLs 23, heavy characters 2, the others 1."""
    total, last = 0, 0
    for url in URL.finditer(text):
        total += sum(map(_char_weight, text[last:url.start()])) + URL_WEIGHT
        last = url.end()
    return total + sum(map(_char_weight, text[last:]))


def fit(text: str, limit: int = MAX_WEIGHT) -> str:
    """`text` cut to `limit` weighted characters at a word boundary, with "…"; a URL is kept
    whole or left out, never cut."""
    text = text.strip()
    if weighted_length(text) <= limit:
        return text
    words, kept = re.split(r"(\s+)", text), ""
    for word in words:
        if weighted_length((kept + word).rstrip() + "…") > limit:
            break
        kept += word
    kept = kept.rstrip()
    if not kept:  # one word longer than the limit: cut inside it
        for char in text:
            if weighted_length(kept + char + "…") > limit:
                break
            kept += char
    return kept + "…"


def report_text(text: str) -> str:
    """A mention's text as a report: the run of handles a reply starts with (the thread's
    people), every other @mention and the t.co links (a photo's link among them) taken out."""
    text = LEADING_MENTIONS.sub("", text or "")
    text = TCO.sub("", text)
    text = MENTION.sub("", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def addressed_in_body(text: str, own_username: str) -> bool:
    """Whether the text names the account after the run of handles a reply starts with: a
    reply in a thread the account is part of carries its handle only in that run."""
    body = LEADING_MENTIONS.sub("", text or "")
    return re.search(rf"(?<![\w@＠])[@＠]{re.escape(own_username)}\b", body,
                     re.IGNORECASE) is not None


def variation(text: str, attempt: int) -> str:
    """The same report once more, told apart from an identical earlier post (X refuses exact
    duplicates): a marker at the end, cut to fit."""
    marker = " " + "·" * attempt
    return fit(text, MAX_WEIGHT - weighted_length(marker)) + marker
