"""Text of the Mastodon bot: a status's HTML as plain text to relay, and text cut to what
Mastodon accepts in a status.

- plain_text(): a status's `content` (HTML as Mastodon 4.x renders it, or as other servers send
  it) to plain text: paragraphs, line breaks, full link URLs, hashtags, other people's mentions;
  the bot's own mention removed.
- counted_length(): a text's length as Mastodon's StatusLengthValidator counts it.
- fit(): a text cut at a word boundary, with "…", so that Mastodon accepts it.

Strings in, strings out: nothing here talks to a server, reads settings or logs. The text
plain_text() returns is plain text, not HTML: whoever shows it on a web page escapes it.
"""
from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from urllib.parse import urlsplit

# Longer content is cut before parsing: Mastodon's own limit is 500 characters, and the cut
# bounds the time every later step takes, whatever a server sends.
MAX_HTML_CHARS = 100_000

# Mastodon counts every link it autolinks as this many characters, whatever its length.
URL_COST = 23
# Longer URLs are not autolinked, so Mastodon counts them in full (twitter-text's limit).
MAX_URL_CHARS = 4096
ELLIPSIS = "…"
MIN_LIMIT = 10

# --- plain_text ------------------------------------------------------------------------------

# Python 3.11's html.parser needs quadratic time on some malformed markup (an unclosed "<a " or
# "<!--" repeated: every "<" is scanned to the end of the input again). So the parser is only
# ever given tags this pattern accepts: complete, no "<" inside, quotes closed. No part of the
# pattern can match "<", so trying it costs at most the distance to the next "<", and its
# alternatives never overlap (no backtracking blow-up). Any other "<" is given as "&lt;".
_TAG_RE = re.compile(r"""
    <(?P<close>/?)(?P<name>[A-Za-z][A-Za-z0-9:-]*)
    (?:
        (?:[ \t\n\r\f]+|(?<=["']))                 # attributes apart, or right after a quote
        [^ \t\n\r\f"'<>/=]+                         # attribute name
        (?:[ \t\n\r\f]*=[ \t\n\r\f]*
           (?:"[^"<>]*"|'[^'<>]*'|[^ \t\n\r\f"'<>`]+))?
    )*
    [ \t\n\r\f]*/?>
""", re.VERBOSE)

# Elements whose content is never text to relay. Dropped with their content before parsing,
# so the parser never enters its script/style mode either.
_DROPPED = ("script", "style", "template", "title", "head")
_DROPPED_END = {name: re.compile(rf"</{name}(?=[ \t\n\r\f/>])", re.IGNORECASE) for name in _DROPPED}

_PARAGRAPH_TAGS = frozenset({
    "p", "div", "blockquote", "pre", "ul", "ol", "dl", "table", "hr", "h1", "h2", "h3", "h4",
    "h5", "h6", "section", "article", "header", "footer", "aside", "figure", "figcaption",
    "details", "summary", "address", "main", "nav"})
_LINE_TAGS = frozenset({"li", "dt", "dd", "tr"})  # a line of their own: a newline before each
_CELL_TAGS = frozenset({"td", "th"})
_VOID_TAGS = frozenset({"br", "hr", "img", "wbr", "input", "meta", "link", "area", "col", "embed",
                        "source", "track", "param", "base"})

_WHITESPACE = re.compile(r"\s+")
_PRE_NEWLINES = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_SPACES_BUT_NEWLINE = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")
# Control characters have no place in a relayed report (NUL, escape sequences, C1 controls).
_CONTROLS = dict.fromkeys([*range(0x00, 0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0)])
_CONTROLS[0x09] = " "

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://|(?:mailto|xmpp|magnet|tel|geo):", re.IGNORECASE)
_WEB_URL = re.compile(r"https?://\S+\Z", re.IGNORECASE)
# Profile paths: /@user (Mastodon, Misskey), /@user@host (a remote account on Mastodon),
# /users/user (the ActivityPub id; Pleroma and Akkoma as well).
_PROFILE_PATH = re.compile(r"/(?:@|users/)([^/@]+)(?:@([^/]+))?/?\Z")


def plain_text(content_html: str, own_accounts: set[str]) -> str:
    """A status's `content` as plain text for relaying.

    `<p>` paragraphs are separated by a blank line, `<br>` is a newline, entities are decoded,
    a link is its full URL (a link whose text is not a URL, a hashtag, keeps its text), a
    mention of the bot's own account is removed together with punctuation stuck to it
    ("@bot: Kontrolle" gives "Kontrolle"), other mentions stay as their "@user" text. Scripts,
    styles and text hidden by Mastodon's "invisible" class outside links are dropped.

    `own_accounts` holds the bot's account URLs (https://social.example/@bot) and/or its accts
    (bot, bot@social.example). Giving a URL or a full acct lets a mention of a namesake on
    another server ("@bot", as Mastodon shows it, linking to https://other.example/@bot) be
    told apart; with only "bot", every "@bot" counts as the bot.

    Never raises; content above MAX_HTML_CHARS characters is cut first; time is linear.
    """
    if not isinstance(content_html, str) or not content_html:
        return ""
    html = content_html[:MAX_HTML_CHARS]
    if len(content_html) > MAX_HTML_CHARS:
        lt = html.rfind("<")
        if lt >= 0 and ">" not in html[lt:]:
            html = html[:lt]  # a tag cut in half by the cut is not text
    try:
        own = _OwnAccounts(own_accounts)
    except Exception:  # not an iterable of strings: no mention is removed
        own = _OwnAccounts(())
    collector = _TextCollector(own)
    try:
        collector.feed(_clean_markup(html.replace("\x00", "")))
        collector.close()
    except Exception:  # a parser bug on hostile input: relay what was read so far, never fail
        pass
    try:
        collector.end_link()
        return _tidy("".join(collector.out))
    except Exception:
        return ""


def _clean_markup(html: str) -> str:
    """The markup with nothing html.parser could spend quadratic time on: only complete tags
    (see _TAG_RE), every other "<" as "&lt;"; comments, declarations, processing instructions
    and the _DROPPED elements removed. Each step moves forward, so the loop is linear."""
    out: list[str] = []
    pos, n = 0, len(html)
    while pos < n:
        lt = html.find("<", pos)
        if lt < 0:
            out.append(html[pos:])
            break
        out.append(html[pos:lt])
        if html.startswith("<!--", lt):
            end = html.find("-->", lt + 2)  # from lt + 2: "<!-->" is an empty comment
            if end < 0:
                break  # an unclosed comment hides the rest, as in a browser
            pos = end + 3
            continue
        if html.startswith(("<!", "<?"), lt):
            end = html.find(">", lt)
            if end < 0:
                break
            pos = end + 1
            continue
        tag = _TAG_RE.match(html, lt)
        if tag is None:
            out.append("&lt;")
            pos = lt + 1
            continue
        name = tag["name"].lower()
        if name in _DROPPED_END and not tag["close"]:
            end_tag = _DROPPED_END[name].search(html, tag.end())
            end = html.find(">", end_tag.end()) if end_tag else -1
            if end < 0:
                break  # never closed: the rest is script (or style) too
            pos = end + 1
            continue
        out.append(tag[0])
        pos = tag.end()
    return "".join(out)


class _OwnAccounts:
    """Tells whether a mention link is the bot's own account."""

    def __init__(self, own_accounts):
        self.urls: set[str] = set()
        self.pairs: set[tuple[str, str]] = set()  # (username, host)
        self.bare: set[str] = set()  # usernames given without a host
        self.hosts: set[str] = set()
        # A lone string is one account, not a set of one-letter names.
        entries = [own_accounts] if isinstance(own_accounts, str) else list(own_accounts or ())
        for entry in entries:
            if not isinstance(entry, str):
                continue
            value = entry.strip().lower()
            if value.startswith(("http://", "https://")):
                url = value.rstrip("/")
                self.urls.add(url)
                user, host = _profile(url)
                if host:
                    self.hosts.add(host)
                if user and host:
                    self.pairs.add((user, host))
            elif value.lstrip("@"):
                user, _, host = value.lstrip("@").partition("@")
                if host:
                    self.pairs.add((user, host))
                    self.hosts.add(host)
                else:
                    self.bare.add(user)
        self.users = self.bare | {user for user, _ in self.pairs}

    def __bool__(self) -> bool:
        return bool(self.urls or self.users)

    def match(self, href: str, text: str) -> bool:
        href = href.strip().lower().rstrip("/")
        href_user, href_host = _profile(href) if href else ("", "")
        if href and (href in self.urls or (href_user, href_host) in self.pairs):
            return True
        # Mastodon shows a mention as "@user", adding "@host" only when two mentioned accounts
        # share the username: the text alone does not say which server the account is on.
        user, _, host = text.strip().lower().lstrip("@").partition("@")
        if not user or _WHITESPACE.search(user):
            return False
        if host:
            return (user, host) in self.pairs or (
                user in self.bare and (not self.hosts or host in self.hosts))
        if user not in self.users:
            return False
        return not href_host or not self.hosts or href_host in self.hosts


def _profile(url: str) -> tuple[str, str]:
    """(username, host) of a profile URL such as https://social.example/@bot, else host only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # e.g. a malformed IPv6 host
        return "", ""
    found = _PROFILE_PATH.search(parts.path)
    if not found:
        return "", host
    return found[1], (found[2] or host)


class _Link:
    __slots__ = ("href", "classes", "parts", "hidden", "span_mark")

    def __init__(self, href: str, classes: set[str], hidden: bool, span_mark: int):
        self.href = href
        self.classes = classes
        self.parts: list[str] = []
        self.hidden = hidden
        self.span_mark = span_mark


class _TextCollector(HTMLParser):
    """Collects text pieces; "\\n" and "\\n\\n" mark line and paragraph breaks, _tidy() the rest.
    State is a few counters and a stack of open spans: no recursion, whatever the nesting."""

    def __init__(self, own: _OwnAccounts):
        super().__init__(convert_charrefs=True)
        self.own = own
        self.out: list[str] = []
        self.link: _Link | None = None
        # Number of enclosing invisible spans at each open <span>: Mastodon hides text with
        # class "invisible" (the scheme and the tail of a shortened link; other servers' posts
        # keep the class too, and what readers do not see is not relayed).
        self.spans: list[int] = []
        self.pre = 0
        self.after_own_mention = False

    def _invisible(self) -> int:
        return self.spans[-1] if self.spans else 0

    def _break(self, mark: str) -> None:
        self.after_own_mention = False
        if self.link is not None:
            self.link.parts.append(" ")
        else:
            self.out.append(mark)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.end_link()  # links do not nest: a new <a> ends the open one, as in browsers
            values = dict(attrs)
            self.link = _Link((values.get("href") or "").strip(), _classes(values),
                              self._invisible() > 0, len(self.spans))
        elif tag == "span":
            self.spans.append(self._invisible() + ("invisible" in _classes(dict(attrs))))
        elif tag == "br":
            self._break("\n")
        elif tag in _PARAGRAPH_TAGS:
            self.pre += tag == "pre"
            self._break("\n\n")
        elif tag in _LINE_TAGS:
            self._break("\n")
        elif tag in _CELL_TAGS:
            self._break(" ")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag == "a":
            self.end_link()
        elif tag == "span":
            if self.spans and (self.link is None or len(self.spans) > self.link.span_mark):
                self.spans.pop()
        elif tag == "br":  # "</br>" is a line break to browsers too
            self._break("\n")
        elif tag in _PARAGRAPH_TAGS:
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            self._break("\n\n")
        elif tag in _CELL_TAGS:
            self._break(" ")

    def handle_data(self, data):
        if self.link is not None:
            self.link.parts.append(data)
            return
        if self._invisible():
            return
        if self.pre:
            data = _PRE_NEWLINES.sub("\n", data)
        else:
            data = _WHITESPACE.sub(" ", data)
        if self.after_own_mention and data[:1] in (",", ":", ";"):
            data = data[1:]  # "@bot: Kontrolle" - the colon belonged to the removed mention
        if data:
            self.after_own_mention = False
            self.out.append(data)

    def end_link(self) -> None:
        """Writes out the open link, if any, as the text it stands for."""
        link, self.link = self.link, None
        if link is None:
            return
        del self.spans[link.span_mark:]  # spans left open inside the link end with it
        if link.hidden:
            return
        text = _WHITESPACE.sub(" ", "".join(link.parts)).strip()
        href = link.href
        web_href = bool(_WEB_URL.match(href))
        hashtag = "hashtag" in link.classes or text.startswith(("#", "＃"))
        if not hashtag and ("mention" in link.classes or text.startswith(("@", "＠"))):
            if self.own and self.own.match(href, text):
                self.after_own_mention = True
                return
            self.out.append(text)
        elif not hashtag and text and _is_url_text(text, href):
            # Mastodon writes a link as spans of its URL, some hidden ("https://", the tail
            # after 30 characters): their text together is the URL. The href is what the link
            # really opens, so it is what a reader gets (also when the text claims another URL).
            self.out.append(href if web_href else text)
        elif not text and web_href:
            self.out.append(href)
        else:
            self.out.append(text)
        self.after_own_mention = False


def _classes(attrs: dict) -> set[str]:
    return set((attrs.get("class") or "").split())


def _is_url_text(text: str, href: str) -> bool:
    """Whether a link's text is (a shortened form of) a URL rather than words."""
    if _WHITESPACE.search(text):
        return False
    if _SCHEME.match(text):
        return True
    # Other servers show "example.com/lo…": the href without its scheme starts with it.
    bare = text.rstrip("…").rstrip(".")
    target = href.split("://", 1)[-1].lower()
    return bool(bare) and "." in bare and (target.startswith(bare.lower())
                                           or target.startswith("www." + bare.lower()))


def _tidy(text: str) -> str:
    text = text.translate(_CONTROLS)
    text = _SPACES_BUT_NEWLINE.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


# --- counted_length and fit --------------------------------------------------------------------
# Mastodon's StatusLengthValidator counts the text after replacing every URL it autolinks with
# 23 characters and every mention "@user@domain" with "@user"; it finds both with twitter-text's
# extractor as configured by Mastodon (config/initializers/twitter_regex.rb, Account::MENTION_RE).
# The patterns below follow those rules. Where they cannot be exact they count more, never less:
# a text counted here as fitting is accepted.

# A URL: one of the schemes Mastodon autolinks (not only http/https), not right after an ASCII
# letter or digit, "@", "$" or "#" ("abchttp://x.de" is not a link), a domain whose last label
# is a name, an optional port, path and query. Trailing punctuation is trimmed afterwards
# (_url_end), as twitter-text ends a path or query only on certain characters.
# Characters twitter-text takes as letters in a query (its UCHARS), a little wider.
_UCHARS = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0010fffd"
_URL_RE = re.compile(r"""
    (?<![A-Za-z0-9@＠$#＃\ufeff\ufffe\uffff])
    (?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://
    (?P<domain>(?:[^\W_](?:[\w-]*[^\W_])?\.)+(?:xn--[a-z0-9-]+|[^\W\d_]{2,}))
    (?![0-9a-z@+-])
    (?::[0-9]+)?
    (?P<path>/(?:[^\s<>()?]|\([^\s<>()?]*\))*)?
    (?P<query>\?(?:(?=\S)[a-z0-9!?*'();:&=+$/%\#\[\]\-_.,~|@^""" + _UCHARS + r"""])*)?
""", re.IGNORECASE | re.VERBOSE)
_PATH_BAD_END = frozenset("!*\"'「」<>;:=,.$%[]~&|@")
_QUERY_GOOD_END = re.compile(r"[a-z0-9_&=#/\-" + _UCHARS + "]", re.IGNORECASE)

# A mention: Account::MENTION_RE. Counted as "@user", whatever the domain.
_MENTION_RE = re.compile(r"(?<![=/\w])@(?P<user>[a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@[\w.-]+\w+)?",
                         re.IGNORECASE)
# twitter-text drops a mention followed by "@", a Latin accented letter or "://".
_MENTION_BAD_NEXT = re.compile(
    "[@＠\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b"
    "\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff]|://")


def _url_end(match: re.Match) -> int:
    """Where the URL found by _URL_RE really ends, after twitter-text's ending rules."""
    path, query = match["path"], match["query"]
    if path:
        cut = len(path)
        while cut > 1 and path[cut - 1] in _PATH_BAD_END:
            cut -= 1
        if cut < len(path):  # the trimmed characters are not the URL's, nor is the query
            return match.start("path") + cut
    if query:
        cut = len(query)
        while cut > 1 and not _QUERY_GOOD_END.match(query[cut - 1]):
            cut -= 1
        return match.start("query") + (cut if cut > 1 else 0)
    return match.end()


def _domain_fits(domain: str, url_chars: int) -> bool:
    """twitter-text's is_valid_domain: the domain converts to ASCII (IDNA; labels of at most 63
    characters) and the URL, with that domain, has at most MAX_URL_CHARS characters."""
    try:
        ascii_chars = len(domain.encode("idna"))
    except (UnicodeError, ValueError):
        return False
    return url_chars + max(0, ascii_chars - len(domain)) <= MAX_URL_CHARS


def _entities(text: str) -> list[tuple[int, int, int, bool]]:
    """URLs and mentions as (start, end, counted length, is a URL), in order, not overlapping."""
    found: list[tuple[int, int, int, bool]] = []
    if "://" in text:
        for match in _URL_RE.finditer(text):
            end = _url_end(match)
            if _domain_fits(match["domain"], end - match.start()):
                found.append((match.start(), end, URL_COST, True))
    if "@" in text:
        for match in _MENTION_RE.finditer(text):
            if not _MENTION_BAD_NEXT.match(text, match.end()):
                found.append((match.start(), match.end(), 1 + len(match["user"]), False))
    found.sort()
    entities: list[tuple[int, int, int, bool]] = []
    for entity in found:  # of overlapping ones the earlier wins, as in twitter-text
        if not entities or entity[0] >= entities[-1][1]:
            entities.append(entity)
    return entities


def _counted(text: str, entities: list[tuple[int, int, int, bool]]) -> int:
    return len(text) + sum(cost - (end - start) for start, end, cost, _ in entities)


def counted_length(text: str) -> int:
    """The length of `text` as Mastodon counts it: every autolinked URL as 23 characters, a
    mention "@user@domain" as "@user", the rest by Unicode code points. Mastodon counts
    grapheme clusters ("👨‍👩‍👧" is one); code points are never fewer, so this is a safe upper bound.
    (Mastodon adds the content warning's length to the limit too.)"""
    return _counted(text, _entities(text))


def fit(text: str, limit: int) -> str:
    """`text` if Mastodon counts it as at most `limit` characters, else cut at a word boundary
    with "…" added (and counted) so that it is. A URL or a mention is kept whole or dropped,
    never cut; a single word longer than the limit (or CJK text without spaces) is cut between
    characters, never inside an emoji sequence. `limit` below 10 is taken as 10."""
    limit = max(MIN_LIMIT, limit)
    entities = _entities(text)
    if _counted(text, entities) <= limit:
        return text
    budget = limit - len(ELLIPSIS)
    # One pass almost always fits; the result is counted again because the cut can change how
    # its end is read (the space before "…" after a URL). Each retry asks for less.
    for _ in range(8):
        result = _cut(text, entities, budget)
        over = counted_length(result) - limit
        if over <= 0:
            return result
        budget -= over
        if budget < 0:
            break
    return ELLIPSIS


def _cut(text: str, entities: list[tuple[int, int, int, bool]], budget: int) -> str:
    """The longest start of `text` counting at most `budget`, ended at a word boundary, + "…"."""
    pos, cost, index, n = 0, 0, 0, len(text)
    word_end = 0  # where the last whole word seen ends (a space follows it)
    seen_word = False
    while pos < n:
        if index < len(entities) and entities[index][0] == pos:
            step_end, step_cost = entities[index][1], entities[index][2]
            index += 1
        else:
            step_end, step_cost = pos + 1, 1
        if cost + step_cost > budget:
            break
        if text[pos].isspace():
            if seen_word:
                word_end = pos
        else:
            seen_word = True
        cost += step_cost
        pos = step_end
    if seen_word and pos < n and text[pos].isspace():
        word_end = pos
    cut = word_end if word_end else _cluster_start(text, pos)
    head = text[:cut].rstrip()
    # "…" right after a URL would be read as part of it (it is a valid path character).
    ends_in_url = any(is_url and end == len(head) for _, end, _, is_url in entities)
    return head + (" " if ends_in_url else "") + ELLIPSIS


def _cluster_start(text: str, cut: int) -> int:
    """`cut`, moved back so that it does not split a character from its combining marks or an
    emoji sequence (ZWJ sequences, skin tones, variation selectors, flags)."""
    while 0 < cut < len(text) and (_extends(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1
    if 0 < cut < len(text) and _regional(text[cut]) and _regional(text[cut - 1]):
        run = cut
        while run > 0 and _regional(text[run - 1]):
            run -= 1
        if (cut - run) % 2:  # an odd number before: the cut would split a flag's pair
            cut -= 1
    return cut


def _extends(char: str) -> bool:
    return (unicodedata.category(char) in ("Mn", "Mc", "Me") or char == "\u200d"
            or "\ufe00" <= char <= "\ufe0f" or "\U0001f3fb" <= char <= "\U0001f3ff"
            or "\U000e0020" <= char <= "\U000e007f")


def _regional(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"
