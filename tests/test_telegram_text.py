"""Reports cut to Telegram's limit of 4096 characters, counted as Telegram counts them (UTF-16
code units: an emoji outside the Basic Multilingual Plane counts twice)."""
from bots.telegram.bot import MAX_TEXT, fit, utf16_length


def test_a_report_within_the_limit_is_sent_as_it_is():
    text = "Kontrolle U8 Hermannplatz " * 100
    assert fit(text) == text


def test_a_long_report_is_cut_at_a_word_with_an_ellipsis():
    text = "Kontrolle U8 Hermannplatz Richtung Wittenau " * 200
    cut = fit(text)
    body = cut.removesuffix("…")
    assert utf16_length(cut) <= MAX_TEXT and cut.endswith("…")
    assert text.startswith(body) and text[len(body)] == " "  # a whole word is the last


def test_emoji_count_twice():
    text = "🚇" * 3000  # 6000 code units
    cut = fit(text)
    assert utf16_length(cut) <= MAX_TEXT
    assert cut == "🚇" * 2047 + "…"


def test_a_word_longer_than_the_cut_is_cut_inside():
    text = "x" * 5000
    assert fit(text) == "x" * (MAX_TEXT - 1) + "…"
