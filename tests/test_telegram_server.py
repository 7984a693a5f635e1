"""Tests of tests/telegram_server.py, driven through the real python-telegram-bot as the bot will be.

PTB is asynchronous; each test runs one scenario with ``asyncio.run`` (a ``telegram.Bot``'s
connection pool belongs to the event loop it first ran in, so a Bot is not shared between runs).
"""

import asyncio
import datetime
import threading
import time
import warnings

import pytest
import telegram
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram_server import CONFLICT_POLL, CONFLICT_WEBHOOK, TelegramServer


@pytest.fixture
def server():
    with TelegramServer() as s:
        yield s


def run(coro):
    return asyncio.run(coro)


def client(server, bot, **kwargs) -> telegram.Bot:
    return telegram.Bot(bot.token, base_url=server.base_url, **kwargs)


def retry_after_seconds(exc: RetryAfter) -> float:
    """``RetryAfter.retry_after`` is an int that warns it will become a timedelta (PTB 22.2+)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, datetime.timedelta) else value


def later(seconds: float, action) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


# -- tokens and the bot itself --------------------------------------------------------------------------


def test_get_me_answers_the_bot_the_token_belongs_to(server):
    berlin = server.add_bot("ticketfrei_berlin_bot", "Ticketfrei Berlin")
    server.add_bot("ticketfrei_hamburg_bot")
    assert berlin.token.startswith(f"{berlin.id}:") and len(berlin.token.split(":")[1]) == 35

    async def scenario():
        async with client(server, berlin) as api:  # initialize() calls getMe
            assert api.bot.username == "ticketfrei_berlin_bot" and api.bot.is_bot
            me = await api.get_me()
            assert (me.id, me.first_name, me.can_read_all_group_messages) == (
                berlin.id, "Ticketfrei Berlin", False)
            with pytest.raises(EndPointNotFound):
                await api.do_api_request("noSuchMethod")
            assert (await api.do_api_request("GETME"))["username"] == "ticketfrei_berlin_bot"

    run(scenario())
    log = server.requests_log()
    assert [r.method for r in log] == ["getMe", "getMe", "noSuchMethod", "getMe"]
    assert {r.bot for r in log} == {"ticketfrei_berlin_bot"} and log[2].status == 404


def test_wrong_malformed_and_revoked_tokens_are_invalid_tokens(server):
    berlin = server.add_bot("berlin_bot")

    async def scenario(token):
        async with telegram.Bot(token, base_url=server.base_url):
            pass

    for token in (f"{berlin.id + 99}:AA{'x' * 33}", "not-a-token"):
        with pytest.raises(InvalidToken):
            run(scenario(token))
    old = berlin.token
    new = server.revoke(old)
    with pytest.raises(InvalidToken):
        run(scenario(old))
    run(scenario(new))
    assert [r.status for r in server.requests_log()] == [401, 404, 401, 200]


# -- getUpdates ----------------------------------------------------------------------------------------


def test_delete_webhook_then_get_updates(server):
    berlin = server.add_bot("berlin_bot")
    alice = server.user("Alice")
    server.private_message(berlin, alice, "before")

    async def scenario():
        async with client(server, berlin) as api:
            assert await api.delete_webhook()
            (update,) = await api.get_updates()
            assert update.message.text == "before" and update.message.chat.id == alice.id
            assert await api.delete_webhook(drop_pending_updates=True)
            assert await api.get_updates() == ()

    run(scenario())


def test_set_webhook_makes_get_updates_conflict(server):
    berlin = server.add_bot("berlin_bot")
    server.private_message(berlin, "Alice", "hello")

    async def scenario():
        async with client(server, berlin) as api:
            with pytest.raises(BadRequest, match="(?i)an HTTPS URL must be provided"):
                await api.set_webhook("http://ticketfrei.example/hook")
            assert await api.set_webhook("https://ticketfrei.example/hook", allowed_updates=["message"])
            info = await api.get_webhook_info()
            assert (info.url, info.pending_update_count, info.allowed_updates) == (
                "https://ticketfrei.example/hook", 1, ("message",))
            with pytest.raises(Conflict) as err:
                await api.get_updates()
            assert err.value.message == CONFLICT_WEBHOOK
            assert await api.delete_webhook()
            assert (await api.get_webhook_info()).url == ""
            assert len(await api.get_updates()) == 1

    run(scenario())
    assert server.webhook(berlin) is None


def test_long_poll_wakes_up_when_a_message_arrives_and_returns_nothing_after_its_timeout(server):
    berlin = server.add_bot("berlin_bot")

    async def scenario():
        async with client(server, berlin) as api:
            started = time.monotonic()
            assert await api.get_updates(timeout=0.3) == ()
            assert 0.25 < time.monotonic() - started < 1.5
            timer = later(0.2, lambda: server.private_message(berlin, "Alice", "Kontrolle U8 Hermannplatz"))
            started = time.monotonic()
            (update,) = await api.get_updates(timeout=10)
            assert time.monotonic() - started < 1.5
            assert update.message.text == "Kontrolle U8 Hermannplatz"
            timer.join()

    run(scenario())


def test_an_offset_confirms_updates_and_a_negative_one_keeps_the_last(server):
    berlin = server.add_bot("berlin_bot")
    for n in range(4):
        server.private_message(berlin, "Alice", f"report {n}")

    async def scenario():
        async with client(server, berlin) as api:
            updates = await api.get_updates()
            ids = [u.update_id for u in updates]
            assert ids == list(range(ids[0], ids[0] + 4))
            assert [u.update_id for u in await api.get_updates()] == ids  # not confirmed yet
            confirmed = await api.get_updates(offset=ids[1] + 1)
            assert [u.message.text for u in confirmed] == ["report 2", "report 3"]
            assert len(server.pending_updates(berlin)) == 2
            assert [u.message.text for u in await api.get_updates(offset=-1)] == ["report 3"]
            assert [u["update_id"] for u in server.pending_updates(berlin)] == [ids[3]]
            assert await api.get_updates(offset=ids[3] + 1) == ()
            assert len(await api.get_updates(limit=1)) == 0

    run(scenario())


def test_150_pending_updates_come_in_two_batches(server):
    berlin = server.add_bot("berlin_bot")
    for n in range(150):
        server.private_message(berlin, "Alice", f"report {n}")

    async def scenario():
        async with client(server, berlin) as api:
            first = await api.get_updates()
            second = await api.get_updates(offset=first[-1].update_id + 1)
            assert (len(first), len(second)) == (100, 50)
            assert second[-1].message.text == "report 149"
            assert await api.get_updates(offset=second[-1].update_id + 1) == ()

    run(scenario())


def test_a_second_get_updates_on_the_same_token_ends_the_first_with_conflict(server):
    berlin = server.add_bot("berlin_bot")

    async def scenario():
        async with client(server, berlin) as first, client(server, berlin) as second:
            waiting = asyncio.create_task(first.get_updates(timeout=5))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            assert await second.get_updates() == ()
            with pytest.raises(Conflict) as err:
                await waiting
            assert time.monotonic() - started < 1
            assert err.value.message == CONFLICT_POLL

    run(scenario())


def test_allowed_updates_are_remembered_and_other_updates_are_not_made(server):
    berlin = server.add_bot("berlin_bot")
    alice = server.user("Alice")

    async def scenario():
        async with client(server, berlin) as api:
            assert await api.get_updates(allowed_updates=["message"]) == ()
            first = server.private_message(berlin, alice, "first")
            assert server.edit_message(berlin, alice, first["message"]["message_id"], "edited") is None
            server.block(berlin, alice)
            assert [u.message.text for u in await api.get_updates()] == ["first"]
            assert await api.get_updates(offset=-1, allowed_updates=[]) != ()  # [] means the default set
            server.block(berlin, alice, False)
            (update,) = await api.get_updates(offset=first["update_id"] + 1)
            assert update.my_chat_member.new_chat_member.status == "member"

    run(scenario())


def test_close_ends_a_waiting_long_poll_promptly():
    server = TelegramServer().start()
    berlin = server.add_bot("berlin_bot")

    async def scenario():
        async with client(server, berlin) as api:
            waiting = asyncio.create_task(api.get_updates(timeout=30))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            await asyncio.to_thread(server.close)
            assert await waiting == ()
            assert time.monotonic() - started < 2

    run(scenario())


# -- sendMessage ---------------------------------------------------------------------------------------


def test_send_message_to_a_user_and_a_channel_is_recorded(server):
    berlin = server.add_bot("berlin_bot")
    alice = server.user("Alice")
    channel = server.channel("@ticketfrei_berlin", admins=[berlin], members=[alice])
    server.command(berlin, alice, "/start")

    async def scenario():
        async with client(server, berlin) as api:
            to_alice = await api.send_message(alice.id, "Danke, deine Meldung ist angekommen.")
            assert to_alice.from_user.id == berlin.id and to_alice.chat.type == "private"
            post = await api.send_message(
                "@ticketfrei_berlin", "<b>Kontrolle</b> U8 &amp; S41", parse_mode="HTML")
            assert post.chat.id == channel.id and post.sender_chat.id == channel.id and post.from_user is None
            assert post.text == "Kontrolle U8 & S41"
            assert post.entities[0].to_dict() == {"offset": 0, "length": 9, "type": "bold"}
            again = await api.send_message(channel.id, "2", reply_parameters=telegram.ReplyParameters(
                post.message_id), disable_web_page_preview=True)
            assert again.reply_to_message.message_id == post.message_id
            assert again.message_id == post.message_id + 1  # a channel's message ids count for all
            assert again.link_preview_options.is_disabled

    run(scenario())
    assert [m["text"] for m in server.sent(berlin, alice.id)] == ["Danke, deine Meldung ist angekommen."]
    assert [m["text"] for m in server.sent(berlin, "@ticketfrei_berlin")] == ["Kontrolle U8 & S41", "2"]
    assert len(server.sent(berlin)) == 3
    send = next(r for r in server.requests_log() if r.method == "sendMessage")
    assert send.params == {"chat_id": str(alice.id), "text": "Danke, deine Meldung ist angekommen."}


def test_sends_to_a_blocked_or_deleted_user_are_forbidden(server):
    berlin = server.add_bot("berlin_bot")
    alice, bob = server.user("Alice"), server.user("Bob")
    server.private_message(berlin, alice, "hi")
    server.private_message(berlin, bob, "hi")
    server.block(berlin, alice)
    server.deactivate(bob)

    async def scenario():
        async with client(server, berlin) as api:
            with pytest.raises(Forbidden) as err:
                await api.send_message(alice.id, "hello")
            assert err.value.message == "Forbidden: bot was blocked by the user"
            with pytest.raises(Forbidden, match="user is deactivated"):
                await api.send_message(bob.id, "hello")

    run(scenario())
    assert server.sent(berlin) == []


def test_unknown_chats_are_bad_requests(server):
    berlin = server.add_bot("berlin_bot")
    stranger = server.user("Stranger")  # never wrote to the bot

    async def scenario():
        async with client(server, berlin) as api:
            for chat_id in (stranger.id, 12345, "@nosuchchannel", "@stranger"):
                with pytest.raises(BadRequest) as err:
                    await api.send_message(chat_id, "hello")
                assert err.value.message == "Chat not found"  # PTB drops "Bad Request: " and capitalizes
            with pytest.raises(BadRequest, match="Chat not found"):
                await api.get_chat("@nosuchchannel")

    run(scenario())


def test_text_length_counts_utf16_code_units_after_parsing(server):
    berlin = server.add_bot("berlin_bot")
    alice = server.user("Alice")
    server.private_message(berlin, alice, "hi")

    async def scenario():
        async with client(server, berlin) as api:
            assert len((await api.send_message(alice.id, "\N{GRINNING FACE}" * 2048)).text) == 2048
            with pytest.raises(BadRequest, match="Message is too long"):
                await api.send_message(alice.id, "\N{GRINNING FACE}" * 2049)
            await api.send_message(alice.id, "<b>" + "ä" * 4096 + "</b>", parse_mode="HTML")
            with pytest.raises(BadRequest, match="Message is too long"):
                await api.send_message(alice.id, "x" * 4097)
            with pytest.raises(BadRequest, match="Message text is empty"):
                await api.send_message(alice.id, " \n ")
            with pytest.raises(BadRequest, match="Message text is empty"):
                await api.send_message(alice.id, "<i></i>", parse_mode="HTML")

    run(scenario())


def test_parse_modes_give_entities_and_telegrams_errors(server):
    berlin = server.add_bot("berlin_bot")
    alice = server.user("Alice")
    server.private_message(berlin, alice, "hi")

    async def scenario():
        async with client(server, berlin) as api:
            m = await api.send_message(alice.id, r"*U8* _Hermannstr\._ [mehr](https://ticketfrei.example)",
                                       parse_mode="MarkdownV2")
            assert m.text == "U8 Hermannstr. mehr"
            assert [(e.type, e.offset, e.length) for e in m.entities] == [
                ("bold", 0, 2), ("italic", 3, 11), ("text_link", 15, 4)]
            assert m.entities[2].url == "https://ticketfrei.example"
            with pytest.raises(BadRequest, match=r"Can't parse entities: character '\.' is reserved"):
                await api.send_message(alice.id, "U8 Hermannstr.", parse_mode="MarkdownV2")
            with pytest.raises(BadRequest, match="can't find end of the entity starting at byte offset 3"):
                await api.send_message(alice.id, "U8 *Kontrolle", parse_mode="Markdown")
            with pytest.raises(BadRequest, match='unsupported start tag "3" at byte offset 2'):
                await api.send_message(alice.id, "a <3 b", parse_mode="HTML")
            m = await api.send_message(alice.id, "Siehe https://ticketfrei.example/berlin und #ticketfrei")
            assert [e.type for e in m.entities] == ["url", "hashtag"]

    run(scenario())


# PTB 22.2+ warns about RetryAfter's int retry_after as it makes one.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_flood_control_answers_retry_after(server):
    berlin = server.add_bot("berlin_bot")
    alice = server.user("Alice")
    group = server.group("Ticketfrei Berlin", members=[alice, berlin])
    server.private_message(berlin, alice, "hi")
    server.messages_per_second = 3

    async def scenario():
        async with client(server, berlin) as api:
            for n in range(3):
                await api.send_message(alice.id, f"{n}")
            with pytest.raises(RetryAfter) as err:
                await api.send_message(alice.id, "one too many")
            assert retry_after_seconds(err.value) == 1
            await asyncio.sleep(1.05)
            server.messages_per_second = 30
            for n in range(20):
                await api.send_message(group.id, f"{n}")
            with pytest.raises(RetryAfter) as err:
                await api.send_message(group.id, "21st this minute")
            assert 58 <= retry_after_seconds(err.value) <= 60
            await api.send_message(alice.id, "other chats are fine")

    run(scenario())
    assert len(server.sent(berlin, group)) == 20
    flood = [r for r in server.requests_log() if r.status == 429]
    assert flood[0].description == "Too Many Requests: retry after 1"


def test_a_group_upgraded_to_a_supergroup_answers_chat_migrated(server):
    berlin = server.add_bot("berlin_bot")
    group = server.group("Ticketfrei", members=["Alice", berlin])
    supergroup = server.upgrade_group(group)
    assert str(supergroup.id).startswith("-100")

    async def scenario():
        async with client(server, berlin) as api:
            with pytest.raises(ChatMigrated) as err:
                await api.send_message(group.id, "hello")
            assert err.value.new_chat_id == supergroup.id
            await api.send_message(err.value.new_chat_id, "hello")
            updates = await api.get_updates()
            assert [u.message.migrate_to_chat_id for u in updates][:1] == [supergroup.id]
            assert updates[1].message.migrate_from_chat_id == group.id

    run(scenario())


# -- faults --------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_server_errors_are_network_errors_and_rate_limits_retry_after(server):
    berlin = server.add_bot("berlin_bot")
    server.private_message(berlin, "Alice", "hi")

    async def scenario():
        async with client(server, berlin) as api:
            server.fail_next(1, status=500)
            with pytest.raises(NetworkError, match="Internal Server Error"):
                await api.get_updates()
            server.fail_next(1, status=502, method="getUpdates")
            await api.get_me()  # the fault waits for its method
            with pytest.raises(NetworkError, match=r"Bad Gateway \(502\)"):
                await api.get_updates()
            server.rate_limit_next(1, retry_after=7)
            with pytest.raises(RetryAfter) as err:
                await api.get_updates()
            assert retry_after_seconds(err.value) == 7
            assert len(await api.get_updates()) == 1

    run(scenario())
    assert [r.fault for r in server.requests_log()[-5:]] == ["fail", None, "fail", "ratelimit", None]


def test_garbage_is_an_invalid_server_response(server):
    berlin = server.add_bot("berlin_bot")

    async def scenario():
        async with client(server, berlin) as api:
            server.garbage_next(1)
            with pytest.raises(TelegramError, match="Invalid server response") as err:
                await api.get_me()
            assert not isinstance(err.value, NetworkError)  # a bot must catch TelegramError for this
            server.garbage_next(2)
            server.clear_faults()
            await api.get_me()

    run(scenario())


def test_a_hang_and_a_short_client_timeout_is_timed_out_though_the_message_went_out(server):
    berlin = server.add_bot("berlin_bot")
    alice = server.user("Alice")
    server.private_message(berlin, alice, "hi")

    async def scenario():
        async with client(server, berlin) as api:
            server.hang_next(1, seconds=3, method="sendMessage")
            started = time.monotonic()
            with pytest.raises(TimedOut):
                await api.send_message(alice.id, "sent anyway", read_timeout=0.3)
            assert time.monotonic() - started < 1
            await api.get_me()  # a held request blocks nothing else
            server.hang_next(1, seconds=0.1, method="sendMessage", then="drop", process=False)
            with pytest.raises(NetworkError):
                await api.send_message(alice.id, "lost")

    run(scenario())
    assert [m["text"] for m in server.sent(berlin)] == ["sent anyway"]


# -- chats and members -----------------------------------------------------------------------------------


def test_get_chat_member_of_an_admin_bot_in_a_channel(server):
    berlin, hamburg = server.add_bot("berlin_bot"), server.add_bot("hamburg_bot")
    alice = server.user("Alice")
    channel = server.channel(
        "@ticketfrei_berlin", admins=[berlin], members=[alice, hamburg], title="Ticketfrei")

    async def scenario():
        async with client(server, berlin) as api:
            me = await api.get_chat_member("@ticketfrei_berlin", berlin.id)
            assert isinstance(me, telegram.ChatMemberAdministrator)
            assert me.can_post_messages and me.user.id == berlin.id
            member = await api.get_chat_member(channel.id, alice.id)
            assert member.status == "member"
            chat = await api.get_chat("@ticketfrei_berlin")
            assert (chat.id, chat.type, chat.title, chat.username) == (
                channel.id, "channel", "Ticketfrei", "ticketfrei_berlin")
            admins = await api.get_chat_administrators(channel.id)
            assert [a.status for a in admins] == ["creator"]  # Telegram lists no bots
        async with client(server, hamburg) as api:
            me = await api.get_chat_member(channel.id, hamburg.id)
            assert me.status == "member"
            with pytest.raises(BadRequest, match="Need administrator rights in the channel chat"):
                await api.send_message("@ticketfrei_berlin", "hello")
            with pytest.raises(BadRequest, match="Member list is inaccessible"):
                await api.get_chat_member(channel.id, alice.id)
            assert await api.leave_chat(channel.id)
            with pytest.raises(Forbidden, match="bot is not a member of the channel chat"):
                await api.send_message("@ticketfrei_berlin", "hello")

    run(scenario())


def test_updates_parse_into_ptb_objects(server):
    berlin = server.add_bot("berlin_bot", "Ticketfrei Berlin")
    other = server.add_bot("other_bot")
    alice = server.user("Alice", last_name="Example")

    async def scenario():
        async with client(server, berlin) as api:
            first = server.private_message(berlin, alice, "U8 Hermannplatz")
            server.edit_message(berlin, alice, first["message"]["message_id"], "U8 Boddinstr.")
            server.private_photo(berlin, alice, caption="Kontrolle am Alex")
            server.command(berlin, alice, "/start@berlin_bot")
            group = server.group("Ticketfrei Neukölln", members=[alice])
            server.add_to_group(berlin, group, by=alice)
            assert server.group_message(berlin, group, alice, "no command, no mention") is None
            server.group_message(berlin, group, alice, "@berlin_bot Kontrolle S41")
            server.bot_message(berlin, other, "beep")
            updates = await api.get_updates()

            message, edited, photo, command = updates[0].message, updates[1], updates[2], updates[3]
            assert message.from_user.last_name == "Example" and message.chat.type == "private"
            assert edited.edited_message.text == "U8 Boddinstr." and edited.edited_message.edit_date
            assert edited.edited_message.message_id == message.message_id and edited.message is None
            assert photo.message.caption == "Kontrolle am Alex" and photo.message.photo[-1].width == 1280
            assert command.message.entities[0].type == "bot_command"
            assert command.message.entities[0].length == len("/start@berlin_bot")
            joined, added, group_msg, from_bot = updates[4], updates[5], updates[6], updates[7]
            assert joined.my_chat_member.new_chat_member.status == "member"
            assert added.message.new_chat_members[0].id == berlin.id
            assert group_msg.message.chat.type == "group" and group_msg.message.chat.id == group.id
            assert group_msg.message.entities[0].type == "mention"
            assert from_bot.message.from_user.is_bot and from_bot.message.from_user.username == "other_bot"
            assert len(updates) == 8

    run(scenario())


def test_several_bots_get_only_their_own_updates(server):
    berlin, hamburg = server.add_bot("berlin_bot"), server.add_bot("hamburg_bot")
    alice = server.user("Alice")
    server.private_message(berlin, alice, "für Berlin")
    server.private_message(hamburg, alice, "für Hamburg")

    async def scenario():
        async with client(server, berlin) as b, client(server, hamburg) as h:
            assert [u.message.text for u in await b.get_updates()] == ["für Berlin"]
            assert [u.message.text for u in await h.get_updates()] == ["für Hamburg"]
            await h.send_message(alice.id, "moin")

    run(scenario())
    assert server.sent(berlin) == [] and [m["text"] for m in server.sent(hamburg)] == ["moin"]
