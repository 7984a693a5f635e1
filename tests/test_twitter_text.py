"""X's counting and cutting, and a mention's text as a report (bots/twitter/text.py)."""
from bots.twitter.text import (addressed_in_body, fit, report_text, variation,
                               weighted_length)


def test_urls_count_23_and_heavy_characters_two():
    assert weighted_length("Kontrolle") == 9
    assert weighted_length("https://example.org/a/very/long/path/indeed/and/more") == 23
    assert weighted_length("検札") == 4
    assert weighted_length("🚇") == 2


def test_a_long_report_is_cut_at_a_word_within_280():
    text = "Kontrolle U8 Hermannplatz Richtung Wittenau " * 20
    cut = fit(text)
    assert weighted_length(cut) <= 280 and cut.endswith("…")
    assert text.startswith(cut[:-1]) and text[len(cut) - 1] == " "


def test_a_report_in_japanese_is_cut_by_weight():
    cut = fit("検札" * 200)
    assert weighted_length(cut) <= 280 and len(cut) == 140


def test_a_url_is_never_cut_in_half():
    url = "https://example.org/" + "x" * 50
    for words in range(20, 30):  # the cut falls before, at and after the URL
        cut = fit("Kontrolle " * words + url + " Hermannplatz " * 5)
        assert url in cut or "https://" not in cut


def test_a_reply_relays_neither_its_thread_nor_other_handles_nor_tco_links():
    text = "@ticketfrei_b @erika Kontrolle U8 Hermannplatz, frag @carl https://t.co/AbC123"
    assert report_text(text) == "Kontrolle U8 Hermannplatz, frag"


def test_a_thread_reply_only_carries_the_handle_in_its_leading_run():
    assert not addressed_in_body("@erika @ticketfrei_b stimmt, danke", "ticketfrei_b")
    assert addressed_in_body("@erika guck mal @ticketfrei_b Kontrolle U1", "ticketfrei_b")


def test_a_variation_differs_and_still_fits():
    text = "Kontrolle " * 40
    varied = variation(text, 1)
    assert varied != fit(text) and weighted_length(varied) <= 280
