"""Errors shown in status and logs: short, naming nobody, never carrying a report's text."""
import pytest
from sqlalchemy.exc import IntegrityError

import db
import process


def test_database_error_shown_carries_no_report_text(sqlite_url):
    sessions = db.make_sessions(db.make_engine(sqlite_url))
    db.create_schema(sessions.kw["bind"])
    row = dict(city_id=1, network="testnet", account="a", network_message_id="m1",
               text="Kontrolle U1, sagt Erika Mustermann")
    with sessions.begin() as session:
        session.add(db.Report(**row))
    with pytest.raises(IntegrityError) as caught:
        with sessions.begin() as session:
            session.add(db.Report(**row))
    shown = process.describe_error(caught.value)
    assert shown.startswith("IntegrityError: ") and "UNIQUE constraint failed" in shown
    assert "Erika" not in str(caught.value) and "Erika" not in shown
    assert "\n" not in shown


def test_addresses_in_an_error_are_replaced():
    error = OSError("550 5.1.1 <erika.mustermann@example.org>: Recipient address rejected")
    assert process.describe_error(error) == (
        "OSError: 550 5.1.1 <<address>>: Recipient address rejected")


def test_text_told_to_main_is_redacted_and_cut():
    sent = []

    class Pipe:
        def send(self, message):
            sent.append(message)

    ctx = process.Context(name="berlin/mail:1", kind="bot", settings=None, heartbeat=None,
                          lifeline=None, to_main=Pipe())
    process.tell_main(ctx, "error", text="relay said: no such user bob@example.org " + "x" * 900)
    text = sent[0][3]["text"]
    assert "bob@example.org" not in text and "<address>" in text and len(text) <= 500


def test_tokens_in_urls_of_a_network_error_are_not_shown():
    """Telegram puts the bot token in the URL's path, others in its query; requests names the
    URL in its errors."""
    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
    errors = [
        OSError("HTTPSConnectionPool(host='api.telegram.org', port=443): Max retries exceeded "
                f"with url: /bot{token}/getUpdates?offset=3 (Caused by ConnectTimeoutError())"),
        OSError(f"404 Client Error: Not Found for url: https://api.telegram.org/bot{token}/getMe"),
        OSError("401 for https://social.example/api/v1/notifications?access_token=s3cr3t"),
    ]
    for error in errors:
        shown = process.describe_error(error)
        assert token not in shown and "s3cr3t" not in shown and "AAHdq" not in shown, shown


def test_log_lines_are_redacted_tracebacks_included(capsys):
    root = process.logging.getLogger()
    handlers, level = root.handlers[:], root.level
    process.setup_logging("berlin/telegram:1")
    try:
        raise OSError("Max retries exceeded with url: /bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1/x")
    except OSError:
        process.logging.getLogger("a-plugin").exception("receiving failed for erika@example.org")
    finally:
        root.handlers[:], root.level = handlers, level
    line = capsys.readouterr().out
    assert "AAHdq" not in line and "erika@example.org" not in line and "\n" not in line.strip()


def test_library_request_lines_stay_out_of_the_log_even_at_debug(capsys):
    """urllib3 names the path of each request (a reporter's status id), httpx the whole URL
    (a Telegram bot token in it)."""
    root = process.logging.getLogger()
    handlers, level = root.handlers[:], root.level
    process.setup_logging("berlin/mastodon:1", "DEBUG")
    try:
        process.logging.getLogger("urllib3.connectionpool").debug(
            '%s://%s:%s "%s %s %s" %s %s', "https", "social.example", 443, "POST",
            "/api/v1/statuses/109876543/reblog", "HTTP/1.1", 200, 10)
        process.logging.getLogger("httpx").info(
            'HTTP Request: POST https://api.telegram.org/bot1:AAA/getUpdates "HTTP/1.1 200 OK"')
        import bots.telegram.client  # noqa: F401  (quiets python-telegram-bot's loggers)
        process.logging.getLogger("telegram.Bot").debug(
            "Call to Bot API endpoint getUpdates finished with return value "
            "[{'from': {'id': 100000001, 'first_name': 'Erika'}}]")
        process.logging.getLogger("a-plugin").debug("a line of our own")
    finally:
        root.handlers[:], root.level = handlers, level
    out = capsys.readouterr().out
    assert "109876543" not in out and "getUpdates" not in out and "Erika" not in out
    assert "a line of our own" in out
