"""Connecting a city's Telegram bot through the web UI (WebTest), against the local Telegram Bot
API server (tests/telegram_server.py) reached through the real python-telegram-bot: the token
from @BotFather checked with getMe, the channel checked with getChat and getChatMember,
disconnecting, another bot replacing the city's, and a clear message for each way it fails."""
import html

import pytest
import webtest
from sqlalchemy import select

import db
import frontend
from bots.telegram.db import (TelegramAccount, TelegramBotInfo, TelegramOrigin, TelegramSeen,
                              TelegramSubscriber)
from telegram_server import TelegramServer
from test_web import csrf, sign_up

NOWHERE = "http://127.0.0.1:9/bot"  # nothing listens there: Telegram is down


@pytest.fixture
def telegram():
    with TelegramServer() as server:
        yield server


def browser(core_for, database_url, relay, api_url):
    """berlin's organiser, logged in, on an app with the Telegram plugin talking to api_url."""
    settings, plugins, sessions = core_for(
        database_url, TICKETFREI_BOTS_TELEGRAM_API_URL=api_url,
        TICKETFREI_MAIL_RELAY_HOST="127.0.0.1", TICKETFREI_MAIL_RELAY_PORT=str(relay.port),
        TICKETFREI_MAIL_RELAY_SECURITY="none")
    told = []
    app = webtest.TestApp(frontend.make_app(settings, sessions, plugins,
                                            notify_main=lambda: told.append(1)),
                          extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    app.relay, app.sessions, app.told = relay, sessions, told
    sign_up(app)
    told.clear()  # the new city
    return app


@pytest.fixture
def web(core_for, sqlite_url, relay, telegram):
    return browser(core_for, sqlite_url, relay, telegram.base_url)


def post_panel(web, action, status=None, city="berlin", **fields):
    page = web.get("/settings")
    return web.post(f"/bots/telegram/{city}/{action}", {**fields, "csrf": csrf(page)},
                    status=status)


def connect(web, token, status=303, city="berlin"):
    return post_panel(web, "token", status=status, city=city, token=token)


def said(page) -> str:
    return html.unescape(page.text)


def rows(web):
    """(apikey, active, bot id, username, channel name) of every telegram_accounts row."""
    with web.sessions() as session:
        return [(row.apikey, row.active, info.bot_id if info else None,
                 info.username if info else None, info.channel_name if info else None)
                for row, info in session.execute(
                    select(TelegramAccount, TelegramBotInfo).outerjoin(
                        TelegramBotInfo, TelegramBotInfo.account_id == TelegramAccount.id)
                    .order_by(TelegramAccount.id))]


def berlin(web):
    with web.sessions() as session:
        return session.scalar(select(db.City).where(db.City.name == "berlin"))


def account_id(web) -> int:
    with web.sessions() as session:
        return session.scalars(select(TelegramAccount.id)).one()


def subscribe(web, *chats):
    with web.sessions.begin() as session:
        for chat in chats:
            session.add(TelegramSubscriber(account_id=account_id(web), chat_id=chat))


def subscribers(web):
    with web.sessions() as session:
        return sorted(session.scalars(select(TelegramSubscriber.chat_id)))


def asked(telegram, method):
    return [r for r in telegram.requests_log() if r.method == method]


# --- connecting ------------------------------------------------------------------------------

@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_good_token_connects_the_bot_and_both_pages_name_it(core_for, relay, telegram, request,
                                                              database):
    url = request.getfixturevalue("sqlite_url" if database == "sqlite" else "postgres_url")
    web = browser(core_for, url, relay, telegram.base_url)
    bot = telegram.add_bot("tf_berlin_bot")
    done = connect(web, bot.token)
    assert done.location.endswith("/settings#network-telegram")
    assert rows(web) == [(bot.token, 1, bot.id, "tf_berlin_bot", None)]
    assert web.told  # main starts the bot at once
    assert len(asked(telegram, "getMe")) == 1
    panel = web.get("/settings").text
    assert '<a href="https://t.me/tf_berlin_bot">@tf_berlin_bot</a>' in panel
    assert "0 people get every report" in panel and bot.token not in panel
    public = web.get("/city/berlin").text
    assert '<a href="https://t.me/tf_berlin_bot">@tf_berlin_bot</a>' in public
    assert "/start" in public and bot.token not in public


def test_a_new_city_gets_a_bot_row_that_takes_over_version_2s_subscribers(web, telegram):
    bot = telegram.add_bot("tf_berlin_bot")
    connect(web, bot.token)
    with web.sessions() as session:
        info = session.scalars(select(TelegramBotInfo)).one()
    assert info.v2_imported is False  # the bot's start takes version 2's chats over


def test_version_2s_disconnected_row_is_reused(web, telegram):
    with web.sessions.begin() as session:
        session.add(TelegramAccount(user_id=berlin(web).user_id, apikey="", active=0))
    before = account_id(web)
    bot = telegram.add_bot("tf_berlin_bot")
    connect(web, bot.token)
    assert account_id(web) == before  # one row per city, still
    assert rows(web) == [(bot.token, 1, bot.id, "tf_berlin_bot", None)]


def test_a_token_of_the_wrong_shape_is_refused_without_asking_telegram(web, telegram):
    for token in ("hello", "123456789:short", "bot123456789:" + "A" * 35,
                  "123456789 " + "A" * 35, "1234:" + "A" * 35, "123456789:" + "A" * 30 + "<b>"):
        page = connect(web, token, status=400)
        assert ("That is not a bot token from @BotFather (it looks like 123456789:AAH…)"
                in said(page))
    assert rows(web) == [] and asked(telegram, "getMe") == [] and not web.told


def test_a_token_telegram_refuses_is_said(web, telegram):
    bot = telegram.add_bot("tf_berlin_bot")
    old = bot.token
    telegram.revoke(old)
    for token in (old, "123456789:" + "A" * 35):
        page = connect(web, token, status=400)
        assert ("Telegram did not accept that token: copy it again from @BotFather (/token)"
                in said(page))
    assert rows(web) == [] and not web.told


def test_telegram_down_is_said(core_for, sqlite_url, relay):
    web = browser(core_for, sqlite_url, relay, NOWHERE)
    page = connect(web, "123456789:" + "A" * 35, status=400)
    assert "Telegram did not answer; try again in a minute." in said(page)
    assert rows(web) == []


def test_a_failing_telegram_is_said(web, telegram):
    bot = telegram.add_bot("tf_berlin_bot")
    telegram.fail_next(1, status=502, method="getMe")
    page = connect(web, bot.token, status=400)
    assert "Telegram did not answer" in said(page) and rows(web) == []


def test_the_21st_attempt_in_an_hour_is_refused(web, telegram):
    bot = telegram.add_bot("tf_berlin_bot")
    page = web.get("/settings")
    for _ in range(20):
        web.post("/bots/telegram/berlin/token", {"token": "wrong", "csrf": csrf(page)},
                 status=400)
    page = connect(web, bot.token, status=400)
    assert "Too many attempts" in said(page)
    assert rows(web) == [] and asked(telegram, "getMe") == []


# --- the channel ------------------------------------------------------------------------------

@pytest.fixture
def connected(web, telegram):
    """berlin's bot @tf_berlin_bot, connected."""
    bot = telegram.add_bot("tf_berlin_bot")
    connect(web, bot.token)
    return bot


def test_a_channel_where_the_bot_is_admin_is_saved(web, telegram, connected):
    channel = telegram.channel("kontrollen_berlin", admins=[connected])
    for given in ("@kontrollen_berlin", "https://t.me/kontrollen_berlin",
                  " t.me/kontrollen_berlin/"):
        post_panel(web, "channel", status=303, channel=given)
        with web.sessions() as session:
            info = session.scalars(select(TelegramBotInfo)).one()
        assert (info.channel_id, info.channel_name) == (channel.id, "@kontrollen_berlin")
        panel = web.get("/settings").text
        assert '<a href="https://t.me/kontrollen_berlin">@kontrollen_berlin</a>' in panel
        post_panel(web, "channel", status=303, channel="")  # empty: no channel
        assert rows(web)[0][4] is None


def test_a_private_channel_is_given_by_its_id_and_shown_by_its_title(web, telegram, connected):
    channel = telegram.channel(None, admins=[connected], title="Kontrollen <Berlin>")
    post_panel(web, "channel", status=303, channel=str(channel.id))
    assert rows(web)[0][4] == "Kontrollen <Berlin>"
    assert "Kontrollen &lt;Berlin&gt;" in web.get("/settings").text


def test_a_channel_the_bot_may_not_post_to_is_refused(web, telegram, connected):
    telegram.channel("just_member", members=[connected])
    poster = telegram.channel("no_posting")
    telegram.set_member(poster, connected, "administrator", can_post_messages=False)
    telegram.channel("without_bot")
    for name in ("@just_member", "@no_posting", "@without_bot"):
        page = post_panel(web, "channel", status=400, channel=name)
        assert ("Make @tf_berlin_bot an administrator of the channel who may post messages, "
                "then save again.") in said(page)
    assert rows(web)[0][4] is None


def test_a_group_is_not_a_channel(web, telegram, connected):
    telegram.group("Berlin chat", supergroup=True, username="berlin_chat", admins=[connected])
    page = post_panel(web, "channel", status=400, channel="@berlin_chat")
    assert "That is a group, not a channel: give a channel's @name." in said(page)


def test_an_unknown_channel_is_said(web, telegram, connected):
    telegram.user("Alice", username="alice_person")
    for given in ("@nobody_knows_it", "-1001234567890", "@alice_person"):
        page = post_panel(web, "channel", status=400, channel=given)
        assert ("Telegram knows no such channel (is it public, or did you give its id?)"
                in said(page))


def test_a_channel_needs_a_connected_bot(web, telegram):
    telegram.channel("kontrollen_berlin")
    page = post_panel(web, "channel", status=400, channel="@kontrollen_berlin")
    assert "Connect your city's bot first." in said(page)


def test_html_in_the_channel_field_is_shown_escaped(web, connected):
    page = post_panel(web, "channel", status=400, channel='<script>alert(1)</script>')
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "is not a channel" in said(page)


def test_over_long_fields_are_refused(web, connected):
    post_panel(web, "token", status=413, token="1" * 201)
    post_panel(web, "channel", status=413, channel="@" + "a" * 300)
    assert rows(web)[0][0] == connected.token


# --- disconnecting and reconnecting -------------------------------------------------------------

def test_disconnecting_clears_the_token_and_keeps_the_subscribers(web, telegram, connected):
    subscribe(web, 100_000_001, 100_000_002)
    web.told.clear()
    post_panel(web, "disconnect", status=303)
    assert rows(web) == [("", 0, connected.id, "tf_berlin_bot", None)]
    assert subscribers(web) == [100_000_001, 100_000_002]
    assert web.told  # main stops the bot
    panel = web.get("/settings").text
    assert "Connect the bot" in panel and "2 subscribers are kept" in panel
    assert web.get("/city/berlin").text.count("t.me/tf_berlin_bot") == 0
    post_panel(web, "disconnect", status=400)  # nothing left to disconnect


def test_reconnecting_the_same_bot_keeps_its_subscribers_and_channel(web, telegram, connected):
    channel = telegram.channel("kontrollen_berlin", admins=[connected])
    post_panel(web, "channel", status=303, channel="@kontrollen_berlin")
    subscribe(web, 100_000_001)
    with web.sessions.begin() as session:
        session.add(db.BotWatermark(city_id=berlin(web).id, network="telegram",
                                    account=str(account_id(web)), watermark="100000005"))
    post_panel(web, "disconnect", status=303)
    new = telegram.revoke(connected.token)  # /revoke at @BotFather: the same bot, a new token
    connect(web, new)
    assert rows(web) == [(new, 1, connected.id, "tf_berlin_bot", "@kontrollen_berlin")]
    assert subscribers(web) == [100_000_001]
    with web.sessions() as session:
        assert session.scalars(select(TelegramBotInfo.channel_id)).one() == channel.id
        assert session.scalars(select(db.BotWatermark.watermark)).all() == ["100000005"]
    assert "1 person gets every report" in web.get("/settings").text


def test_another_bot_is_another_account_without_the_old_ones_subscribers(web, telegram,
                                                                          connected):
    telegram.channel("kontrollen_berlin", admins=[connected])
    post_panel(web, "channel", status=303, channel="@kontrollen_berlin")
    subscribe(web, 100_000_001)
    city = berlin(web)
    with web.sessions.begin() as session:
        account = str(account_id(web))
        session.add(db.BotWatermark(city_id=city.id, network="telegram", account=account,
                                    watermark="100000005"))
        session.add(TelegramOrigin(account_id=int(account), key="x", chat_id=100_000_001))
        session.add(TelegramSeen(user_id=city.user_id, tg_id=100000004))
    other = telegram.add_bot("tf_berlin2_bot")
    connect(web, other.token)  # a replacement of a running bot: no disconnect before
    assert rows(web) == [(other.token, 1, other.id, "tf_berlin2_bot", None)]
    assert subscribers(web) == []
    # a new account: main stops the old bot's process, and the new one has no watermark yet
    assert str(account_id(web)) != account
    with web.sessions() as session:
        assert [w.account for w in session.scalars(select(db.BotWatermark))] == [account]
        assert session.scalars(select(TelegramOrigin)).all() == []
        assert session.scalars(select(TelegramSeen)).all() == []
        assert session.scalars(select(TelegramBotInfo.v2_imported)).one() is True
    assert "@tf_berlin2_bot" in web.get("/city/berlin").text


def test_an_inactive_bot_shows_why_and_asks_for_a_new_token(web, telegram, connected):
    city = berlin(web)
    with web.sessions.begin() as session:
        session.get(TelegramAccount, account_id(web)).active = 0
        session.add(db.ProcessStatus(
            name=f"berlin/telegram:{account_id(web)}", kind="bot", city_id=city.id,
            network="telegram", account=str(account_id(web)), state="inactive",
            last_error="Telegram refused the bot's token (401)"))
    panel = said(web.get("/settings"))
    assert "Telegram refused the bot's token (401)" in panel
    assert "Paste the bot's new token from @BotFather" in panel
    assert "Replace the token" in panel
    telegram.revoke(connected.token)
    telegram.channel("kontrollen_berlin", admins=[connected])
    page = post_panel(web, "channel", status=400, channel="@kontrollen_berlin")
    assert "Telegram no longer accepts the bot's token" in said(page)


# --- other cities and forged requests ------------------------------------------------------------

def test_another_city_cannot_touch_this_citys_bot(web, telegram, connected):
    web.reset()
    sign_up(web, city="hamburg", email="orga@hamburg.example")
    other = telegram.add_bot("tf_hamburg_bot")
    for action, fields in (("token", {"token": other.token}), ("disconnect", {}),
                           ("channel", {"channel": ""})):
        post_panel(web, action, status=403, **fields)
    page = connect(web, connected.token, status=400, city="hamburg")  # berlin's token
    assert "connected to another city" in said(page)
    post_panel(web, "disconnect", status=400, city="hamburg")
    assert rows(web) == [(connected.token, 1, connected.id, "tf_berlin_bot", None)]


def test_a_form_without_the_csrf_field_is_refused(web, telegram, connected):
    web.post("/bots/telegram/berlin/disconnect", {}, status=403)
    web.post("/bots/telegram/berlin/token", {"token": connected.token, "csrf": "forged"},
             status=403)
    assert rows(web)[0][0] == connected.token
