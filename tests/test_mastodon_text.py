"""bots/mastodon/text.py: a status's HTML as plain text (in the shapes Mastodon 4.x renders, per
its app/lib/text_formatter.rb and spec/lib/text_formatter_spec.rb, and hostile ones), and text
counted and cut as Mastodon's StatusLengthValidator counts it."""
import random
import time

import pytest

from bots.mastodon.text import MAX_HTML_CHARS, counted_length, fit, plain_text

OWN = {"https://social.example/@bot", "bot@social.example"}


def mention(username, host="social.example", shown=None):
    """A mention as Mastodon renders it: only the username shows, unless it is ambiguous."""
    return (f'<span class="h-card" translate="no"><a href="https://{host}/@{username}" '
            f'class="u-url mention">@<span>{shown or username}</span></a></span>')


def hashtag(tag):
    return (f'<a href="https://social.example/tags/{tag}" class="mention hashtag" rel="tag">'
            f'#<span>{tag}</span></a>')


def link(url):
    """A link as Mastodon renders it: the scheme (and "www.") hidden, 30 characters shown, the
    rest hidden, the shown part marked "ellipsis" when something follows it."""
    prefix = url[:url.index("//") + 2]
    if url[len(prefix):].startswith("www."):
        prefix += "www."
    rest = url[len(prefix):]
    shown, hidden = rest[:30], rest[30:]
    shown_class = "ellipsis" if hidden else ""
    return (f'<a href="{url}" target="_blank" rel="nofollow noopener noreferrer" translate="no">'
            f'<span class="invisible">{prefix}</span><span class="{shown_class}">{shown}</span>'
            f'<span class="invisible">{hidden}</span></a>')


def quickly(function, *args, seconds=2.0):
    started = time.perf_counter()
    result = function(*args)
    assert time.perf_counter() - started < seconds
    return result


# --- plain_text: Mastodon's shapes -----------------------------------------------------------------

def test_paragraphs_are_separated_by_a_blank_line():
    html = "<p>Kontrolle U8 Hermannplatz</p><p>Zwei Leute, blaue Westen</p>"
    assert plain_text(html, OWN) == "Kontrolle U8 Hermannplatz\n\nZwei Leute, blaue Westen"


def test_line_breaks_become_newlines():
    # Mastodon writes single line feeds as "<br />" and leaves no "\n" in the HTML.
    html = "<p>U1 Richtung Warschauer<br />steigen am Kotti ein<br />gleich weg</p>"
    assert plain_text(html, OWN) == "U1 Richtung Warschauer\nsteigen am Kotti ein\ngleich weg"


def test_entities_are_decoded():
    html = "<p>&lt;3 &amp; &quot;Danke&quot; &#39;euch&#39; &#x1F68B; caf&eacute;</p>"
    assert plain_text(html, OWN) == "<3 & \"Danke\" 'euch' 🚋 café"


def test_shortened_link_becomes_its_full_url():
    url = "https://www.bvg.de/de/verbindungen/stoerungsmeldungen/u8-hermannplatz"
    assert link(url).count("invisible") == 2 and 'class="ellipsis"' in link(url)
    assert plain_text(f"<p>Siehe {link(url)} hier</p>", OWN) == f"Siehe {url} hier"


def test_short_link_becomes_its_url():
    assert plain_text(f"<p>{link('http://google.com')}</p>", OWN) == "http://google.com"


def test_link_with_unicode_path_becomes_its_url():
    url = "https://ja.wikipedia.org/wiki/日本"
    assert plain_text(f"<p>{link(url)}</p>", OWN) == url


def test_link_with_an_ampersand_in_its_query_becomes_its_url():
    html = ('<p><a href="https://www.ruby-toolbox.com/search?utf8=%E2%9C%93&amp;q=autolink" target="_blank" '
            'rel="nofollow noopener noreferrer"><span class="invisible">https://www.</span><span '
            'class="ellipsis">ruby-toolbox.com/search?utf8=%E</span><span class="invisible">2%9C%93&amp;'
            'q=autolink</span></a></p>')
    assert plain_text(html, OWN) == "https://www.ruby-toolbox.com/search?utf8=%E2%9C%93&q=autolink"


def test_hashtag_keeps_its_text():
    html = f"<p>Kontrolle {hashtag('U8')} {hashtag('hashtagタグ')}</p>"
    assert plain_text(html, OWN) == "Kontrolle #U8 #hashtagタグ"


def test_link_with_words_keeps_its_words():
    html = '<p><a href="https://example.org/fahrplan">der Fahrplan</a> gilt</p>'
    assert plain_text(html, OWN) == "der Fahrplan gilt"


def test_link_text_claiming_another_url_gives_the_url_it_opens():
    html = '<p><a href="https://evil.example/login">https://bank.example/login</a></p>'
    assert plain_text(html, OWN) == "https://evil.example/login"


def test_link_shortened_by_another_server_gives_its_full_url():
    html = '<p><a href="https://example.com/long/path/to/page">example.com/long/pa…</a></p>'
    assert plain_text(html, OWN) == "https://example.com/long/path/to/page"


def test_javascript_link_keeps_its_text_only():
    assert plain_text('<p><a href="javascript:alert(1)">klick</a></p>', OWN) == "klick"


def test_mention_of_the_bot_is_removed_and_others_are_kept():
    html = f"<p>{mention('bot')} Kontrolle S41, sagt {mention('alice', 'other.example')}</p>"
    assert plain_text(html, OWN) == "Kontrolle S41, sagt @alice"


@pytest.mark.parametrize("html, expected", [
    (f"<p>{mention('bot')} Kontrolle am Ostkreuz</p>", "Kontrolle am Ostkreuz"),
    (f"<p>Kontrolle {mention('bot')} am Ostkreuz</p>", "Kontrolle am Ostkreuz"),
    (f"<p>Kontrolle am Ostkreuz {mention('bot')}</p>", "Kontrolle am Ostkreuz"),
    (f"<p>Kontrolle am Ostkreuz</p><p>{mention('bot')}</p>", "Kontrolle am Ostkreuz"),
], ids=["start", "middle", "end", "own-paragraph"])
def test_mention_of_the_bot_is_removed_wherever_it_stands(html, expected):
    assert plain_text(html, OWN) == expected


def test_reply_with_several_mentions_keeps_only_the_others():
    # Replying, clients put every participant first; Mastodon shows "@user@host" only where two
    # mentioned accounts share a username.
    html = (f"<p>{mention('bot')} {mention('alice', 'other.example')} "
            f"{mention('carol', 'third.example', shown='carol@third.example')} "
            f"{mention('carol', 'social.example', shown='carol@social.example')} "
            "Kontrolle in der Ringbahn</p>")
    assert plain_text(html, OWN) == ("@alice @carol@third.example @carol@social.example "
                                     "Kontrolle in der Ringbahn")


def test_punctuation_stuck_to_the_removed_mention_goes_with_it():
    assert plain_text(f"<p>{mention('bot')}: Kontrolle U2</p>", OWN) == "Kontrolle U2"
    assert plain_text(f"<p>Danke {mention('bot')}, bis bald</p>", OWN) == "Danke bis bald"


@pytest.mark.parametrize("own", [
    {"https://social.example/@bot"},
    {"bot@social.example"},
    {"@bot@social.example"},
    {"bot"},
    {"https://social.example/users/bot"},
    {"HTTPS://Social.Example/@Bot/"},
])
def test_bot_is_recognised_by_its_url_or_its_acct(own):
    assert plain_text(f"<p>{mention('bot')} Kontrolle</p>", own) == "Kontrolle"


def test_namesake_on_another_server_is_not_the_bot():
    html = f"<p>{mention('bot', 'other.example')} Kontrolle</p>"
    assert plain_text(html, OWN) == "@bot Kontrolle"
    shown_with_host = mention("bot", "other.example", shown="bot@other.example")
    assert plain_text(f"<p>{shown_with_host} Kontrolle</p>", OWN) == "@bot@other.example Kontrolle"


def test_without_own_accounts_every_mention_is_kept():
    assert plain_text(f"<p>{mention('bot')} Kontrolle</p>", set()) == "@bot Kontrolle"


def test_unlinked_mention_text_is_kept():
    # Mastodon leaves a mention it could not resolve as plain "@name" text.
    assert plain_text("<p>@bot Kontrolle</p>", OWN) == "@bot Kontrolle"


def test_whitespace_is_tidied():
    html = "<p>  Kontrolle \n  am\t\tHbf&nbsp; </p>\n\n<p></p><p> </p><p>S1<br /><br /><br /><br />weg</p>"
    assert plain_text(html, OWN) == "Kontrolle am Hbf\n\nS1\n\nweg"


def test_quote_post_fallback_line_is_kept():
    url = "https://social.example/@alice/113456789012345678"
    html = f'<p class="quote-inline">RE: {link(url)}</p><p>stimmt</p>'
    assert plain_text(html, OWN) == f"RE: {url}\n\nstimmt"


def test_rich_text_of_other_servers_reads_naturally():
    html = ("<p><strong>Achtung</strong> <em>jetzt</em></p><blockquote><p>zitiert</p></blockquote>"
            "<ul><li>U6</li><li>U7</li></ul><pre><code>zeile 1\nzeile 2</code></pre>")
    assert plain_text(html, OWN) == "Achtung jetzt\n\nzitiert\n\nU6\nU7\n\nzeile 1\nzeile 2"


def test_text_hidden_as_invisible_outside_links_is_not_relayed():
    assert plain_text('<p>sichtbar<span class="invisible"> versteckt</span></p>', OWN) == "sichtbar"


# --- plain_text: hostile input ------------------------------------------------------------------

def test_script_and_style_contents_are_dropped():
    html = ("<p>vorher</p><script>alert('x')</script><SCRIPT type=text/javascript>steal()</SCRIPT >"
            "<style>p { color: red }</style><p>nachher</p><script>never closed")
    assert plain_text(html, OWN) == "vorher\n\nnachher"


def test_unclosed_tags_still_give_their_text():
    html = '<p>Kontrolle <a href="https://example.com/x"><span>Hbf <b>jetzt'
    assert quickly(plain_text, html, OWN) == "Kontrolle Hbf jetzt"


def test_broken_markup_shows_as_text_rather_than_vanishing():
    assert plain_text("<p>a < b, c <= d, 1 <2 & x</p>", OWN) == "a < b, c <= d, 1 <2 & x"


def test_ten_thousand_nested_spans_return_quickly():
    html = "<p>" + "<span>" * 10_000 + "tief" + "</span>" * 10_000 + "</p>"
    assert quickly(plain_text, html, OWN) == "tief"


def test_thousands_of_unclosed_links_return_quickly():
    assert quickly(plain_text, '<a href="https://x.example/">' * 3_000 + "weg", OWN).endswith("weg")


def test_five_megabyte_input_is_cut_and_returns_quickly():
    html = "<p>" + "Kontrolle " * 500_000 + "</p>"
    text = quickly(plain_text, html, OWN)
    assert text.startswith("Kontrolle Kontrolle") and len(text) <= MAX_HTML_CHARS


def test_input_is_cut_at_100000_characters():
    html = "<p>" + "a" * (MAX_HTML_CHARS - 3) + "</p><p>after the cut</p>"
    assert plain_text(html, OWN) == "a" * (MAX_HTML_CHARS - 3)


def test_tag_cut_in_half_by_the_cut_is_not_text():
    head = "<p>" + "a" * (MAX_HTML_CHARS - 20)
    assert plain_text(head + ' <a href="https://example.com/">x</a>', OWN) == "a" * (MAX_HTML_CHARS - 20)


def test_nul_and_control_characters_are_removed():
    html = "<p>Kon\x00trolle\x1b[31m U\x008\x07</p><scr\x00ipt>x</script>"
    assert plain_text(html, OWN) == "Kontrolle[31m U8"


@pytest.mark.parametrize("html", [
    # Shapes on which Python 3.11's html.parser alone takes minutes (quadratic time).
    "<a " * 33_000,
    "<a b='" * 16_000,
    '<a href="x' * 10_000,
    "<x" * 50_000,
    "<!--" * 25_000,
    "</" * 50_000,
    "<?" * 50_000,
    "<![CDATA[" * 11_000,
    "<a " + "b=c/" * 25_000,
    "<a b" + "=" * 100_000,
    "&#" * 50_000,
    "<p>" * 33_000,
    '<span class="invisible">' * 4_000 + "x",
], ids=["open-a", "open-quote", "open-href", "open-x", "comments", "end-tag-starts", "pi", "cdata",
        "attributes", "equals", "charrefs", "paragraphs", "invisible"])
def test_malformed_markup_returns_quickly(html):
    assert isinstance(quickly(plain_text, html, OWN), str)


@pytest.mark.parametrize("html", [
    "", "<", ">", "&", "&#", "&#xffffffff;", "&#0;", "&#xd800;", "<!", "<!-", "<![", "</", "</>", "<?",
    "<a", "<a href=", '<a href="', "<a href=x>", "<span class>", "<br/>", "</br>", "<p/>", "<a/>",
    "\ud800", "\x00" * 10, "<p>" + "\u202e" + "x</p>", "<<<>>>", "<a href='javascript:x'>",
    '<a href="http://[::1">x</a>', '<a href="https://[zz]/@bot" class="mention">@bot</a>',
])
def test_odd_input_never_raises(html):
    assert isinstance(plain_text(html, OWN), str)


@pytest.mark.parametrize("html, own", [
    (None, OWN), (b"<p>x</p>", OWN), ("<p>x</p>", None), ("<p>x</p>", {None, 3}), ("<p>x</p>", 5),
])
def test_wrong_types_give_text_or_nothing_but_never_raise(html, own):
    assert plain_text(html, own) in ("", "x")


# --- counted_length --------------------------------------------------------------------------------

def test_url_counts_as_23_characters_whatever_its_length():
    # Mastodon's own spec: 476 + a space + a 45-character URL is 500.
    assert counted_length("a" * 476 + " http://" + "b" * 30 + ".com/example") == 500
    assert counted_length("https://example.com/" + "x" * 200) == 23
    assert counted_length("http://a.de") == 23


def test_url_stuck_to_a_word_counts_in_full():
    # Mastodon's spec: not autolinked, so not shortened.
    text = "a" * 476 + "http://" + "b" * 30 + ".com/example"
    assert counted_length(text) == len(text)


def test_overly_long_url_counts_in_full():
    text = "http://example.com/valid?" + "#foo?" * 1000
    assert counted_length(text) == len(text)


def test_mention_counts_only_its_username():
    assert counted_length("a" * 475 + " @alice@" + "b" * 30 + ".com") == 482
    assert counted_length("@alice hi") == 9


@pytest.mark.parametrize("text, expected", [
    ("https://example.com/a.", 24),  # a trailing full stop is not the URL's
    ("(http://google.com/)", 25),
    ("http://www.google.com!", 24),
    ("https://en.wikipedia.org/wiki/Diaspora_(software)", 23),
    ("https://example.com/\u3000abc123", 30),  # a full-width space ends the URL
    ("example.com/without/scheme", 26),  # Mastodon counts only URLs with a scheme
    ("http://localhost:3000/kontrolle", 31),  # no dot in the domain: not a URL
    ("mail@example.com", 16),  # an address, not a mention
    ("@josé", 5),
])
def test_counted_length_follows_mastodons_entity_rules(text, expected):
    assert counted_length(text) == expected


def test_emoji_and_cjk_count_by_code_point():
    assert counted_length("東京駅で検札") == 6
    assert counted_length("🚋🚋") == 2
    assert counted_length("👨‍👩‍👧") == 5  # Mastodon counts 1: code points are the upper bound


# --- fit -------------------------------------------------------------------------------------------

def test_text_that_fits_is_returned_unchanged():
    assert fit("Kontrolle U8", 500) == "Kontrolle U8"
    text = "  spaces kept as given  "
    assert fit(text, 500) == text


def test_limit_exactly_met_is_not_cut():
    text = "a" * 20 + " " + "b" * 9
    assert counted_length(text) == 30
    assert fit(text, 30) == text
    assert fit(text, 29) == "a" * 20 + "…"


def test_long_text_is_cut_at_a_word_boundary_with_an_ellipsis():
    text = "Kontrolle am Hermannplatz, zwei Personen in Zivil, steigen in die U8 Richtung Wittenau"
    cut = fit(text, 40)
    assert cut == "Kontrolle am Hermannplatz, zwei…"
    assert counted_length(cut) <= 40


def test_url_longer_than_the_limit_counts_as_23_and_is_kept():
    url = "https://www.bvg.de/de/verbindungen/stoerungsmeldungen/" + "x" * 100
    text = f"Infos: {url}"
    assert counted_length(text) == 30
    assert fit(text, 30) == text


def test_url_is_never_cut_in_half():
    url = "https://example.com/" + "pfad/" * 20
    text = f"Kontrolle Hbf {url} weiter"
    cut = fit(text, 30)
    assert cut == "Kontrolle Hbf…"
    assert fit(text, 40) == f"Kontrolle Hbf {url} …"  # whole, and "…" kept out of the link


def test_mention_is_never_cut():
    text = "Danke @alice@other.example für den Hinweis"
    assert fit(text, 12) == "Danke…"
    assert fit(text, 14) == "Danke @alice@other.example…"


def test_emoji_and_cjk_are_cut_between_characters():
    assert fit("🚋" * 20, 10) == "🚋" * 9 + "…"
    assert fit("東京駅で検札中です。渋谷駅でも検札中です。", 12) == "東京駅で検札中です。渋…"


def test_emoji_sequences_are_not_split():
    family = "👨‍👩‍👧"  # five code points
    cut = fit(family * 4, 10)
    assert cut == family + "…"
    flags = "🇩🇪" * 10
    assert fit(flags, 10) == "🇩🇪" * 4 + "…"


def test_limit_below_10_is_raised_to_10():
    text = "eins zwei drei vier"
    assert fit(text, 3) == fit(text, 10) == "eins zwei…"
    assert fit(text, -5) == "eins zwei…"


def test_fit_keeps_every_result_within_the_limit():
    rng = random.Random(20240601)
    pieces = ["Kontrolle", "U8", "Hbf", "🚋", "東京駅", "👨‍👩‍👧", "@alice", "@bob@other.example",
              "https://example.com/" + "p" * 40, "http://a.de", "https://x.de/a.", "#tag", "mail@x.de",
              "\n\n", "—", "Straßenbahn"]
    for _ in range(2_000):
        words = [rng.choice(pieces) for _ in range(rng.randint(1, 40))]
        separator = rng.choice([" ", "  ", ""])
        text = separator.join(words)
        limit = rng.randint(0, 120)
        cut = fit(text, limit)
        assert counted_length(cut) <= max(limit, 10), (text, limit, cut)
        if cut != text:
            assert cut.endswith("…")
            head = cut[:-1].rstrip()
            assert text.startswith(head)
            for url in ("https://example.com/" + "p" * 40, "http://a.de"):
                if separator and url[:12] in head:
                    assert url in head  # a URL is kept whole or not at all


def test_fit_of_a_huge_text_returns_quickly():
    text = "Kontrolle https://example.com/x @alice@other.example " * 100_000
    assert counted_length(quickly(fit, text, 500)) <= 500
