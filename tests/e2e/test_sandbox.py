"""The Bot API stand-in, driven by the real python-telegram-bot client over 127.0.0.1."""
from __future__ import annotations

import asyncio
import base64
import struct
import time
import zlib
from typing import AsyncIterator

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from bot.sandbox import SandboxError, SandboxServer

# PTB 22.2+ warns from inside RetryAfter about its future retry_after type; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "424242:SANDBOX-test-token"
BOT_ID = 424242


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[SandboxServer]:
    server = SandboxServer(clock=clock)
    await server.start()
    yield server
    await server.stop()
    assert server.internal_errors == []


@pytest.fixture
async def bot(sandbox: SandboxServer) -> AsyncIterator[Bot]:
    b = Bot(TOKEN, base_url=sandbox.base_url, base_file_url=sandbox.base_file_url)
    async with b:
        yield b


async def raw_call(sandbox: SandboxServer, method: str, token: str = TOKEN, **params: object) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.base_url}{token}/{method}", json=params) as resp:
            return resp.status, await resp.json()


async def test_get_me_and_unknown_method(sandbox: SandboxServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == BOT_ID and me.is_bot and me.username == "sandbox_bot"
    status, body = await raw_call(sandbox, "sendCarrierPigeon", chat_id=1)
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_fixed_token_rejects_other_tokens() -> None:
    async with SandboxServer(token=TOKEN) as server:
        async with Bot(TOKEN, base_url=server.base_url) as good:
            assert (await good.get_me()).id == BOT_ID
        status, body = await raw_call(server, "getMe", token="1:WRONG")
        assert status == 401 and body["description"] == "Unauthorized"
        with pytest.raises(InvalidToken):
            async with Bot("1:WRONG", base_url=server.base_url):
                pass  # initialize() calls getMe


async def test_application_start_button_press_edit(sandbox: SandboxServer) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes"),
                                          InlineKeyboardButton("No", callback_data="no")]])
        await update.effective_message.reply_text(
            f"Hello <b>{update.effective_user.first_name}</b>, join?", parse_mode="HTML", reply_markup=keyboard,
            do_quote=True,
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer(f"you chose {query.data}")
        await query.edit_message_text(f"Answer recorded: {query.data}")

    app = (Application.builder().token(TOKEN).base_url(sandbox.base_url)
           .base_file_url(sandbox.base_file_url).build())
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    sandbox.users.create(1001, "Alice", language_code="zh")
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        try:
            cursor = sandbox.cursor()
            await sandbox.user_send_text(1001, "/start")
            greeting = await sandbox.wait_for_message(1001, after=cursor, timeout=5)
            assert greeting["event"] == "bot_message"
            assert greeting["text"] == "Hello Alice, join?"
            assert greeting["source"] == "Hello <b>Alice</b>, join?"
            assert {"type": "bold", "offset": 6, "length": 5} in greeting["entities"]
            assert greeting["reply_to_message_id"] == 1  # reply_text quotes the /start message
            assert [b["callback_data"] for b in greeting["buttons"][0]] == ["yes", "no"]

            query_id = await sandbox.user_press(1001, greeting["message_id"], "yes")
            edit = await sandbox.wait_for_message(1001, lambda m: m["event"] == "edit", timeout=5)
            assert edit["message_id"] == greeting["message_id"]
            assert edit["text"] == "Answer recorded: yes"
            assert edit["edit_date"] is not None and edit["buttons"] == []
            assert sandbox.callback_answer(query_id)["text"] == "you chose yes"
        finally:
            await app.updater.stop()
            await app.stop()

    messages = sandbox.chat_messages(1001)
    assert [(m["from"], m["text"]) for m in messages] == [
        ("user", "/start"), ("bot", "Answer recorded: yes")]
    assert messages[1]["edits"] == 1
    assert sandbox.pending_updates() == []  # the updater confirmed everything on stop
    with pytest.raises(SandboxError):
        await sandbox.user_press(1001, greeting["message_id"], "maybe")  # not on any button
    await sandbox.user_press(1001, greeting["message_id"], "maybe", forge=True)  # tests may forge


async def test_second_poller_gets_conflict(sandbox: SandboxServer, bot: Bot) -> None:
    other = Bot(TOKEN, base_url=sandbox.base_url)
    await other.initialize()
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)  # the first long poll is now waiting on the server
    started = time.monotonic()
    assert await other.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first
    assert time.monotonic() - started < 2  # cut short, not at the end of its 5 s

    sandbox.config.conflict_policy = "reject_newer"
    first = asyncio.create_task(bot.get_updates(timeout=1))
    await asyncio.sleep(0.2)
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await other.get_updates(timeout=0)
    assert await first == ()

    await bot.set_webhook("https://example.invalid/hook")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == ()
    await other.shutdown()


async def test_long_poll_wakes_on_new_update(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.users.create(7, "Gus")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await sandbox.user_send_text(7, "hello")
    updates = await poll
    assert time.monotonic() - started < 1
    assert [u.message.text for u in updates] == ["hello"]
    assert updates[0].message.entities == ()


async def test_offset_confirmation(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.users.create(11, "Bob")
    first_id = await sandbox.user_send_text(11, "one")
    second_id = await sandbox.user_send_text(11, "/two@sandbox_bot arg")
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first_id, second_id]
    assert updates[1].message.entities[0].type == "bot_command"
    assert updates[1].message.entities[0].length == len("/two@sandbox_bot")

    # Confirming the first one: the second, unconfirmed, is delivered again, the first never.
    again = await bot.get_updates(offset=first_id + 1, timeout=0)
    assert [u.update_id for u in again] == [second_id]
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [second_id]
    assert await bot.get_updates(offset=second_id + 1, timeout=0) == ()
    third_id = await sandbox.user_send_text(11, "three")
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [third_id]
    limited = await bot.get_updates(timeout=0, limit=1)
    assert len(limited) == 1


async def test_flood_limits_per_chat_and_global(sandbox: SandboxServer, bot: Bot, clock: FakeClock) -> None:
    sandbox.users.create(21, "Burst")
    sandbox.users.create(22, "Calm")
    for i in range(3):  # the burst allowance
        await bot.send_message(21, f"msg {i}")
    with pytest.raises(RetryAfter, match="(?i)flood control exceeded"):
        await bot.send_message(21, "one too many")
    status, body = await raw_call(sandbox, "sendMessage", chat_id=21, text="still too many")
    assert status == 429
    assert body["error_code"] == 429 and body["parameters"]["retry_after"] >= 1
    assert body["description"] == f"Too Many Requests: retry after {body['parameters']['retry_after']}"

    await bot.send_message(22, "other chats still flow")
    clock.advance(1.0)
    await bot.send_message(21, "after waiting")
    stats = sandbox.stats()
    assert stats["flood_429"]["chat"] == 2 and stats["flood_429"]["per_chat"] == {"21": 2}
    assert stats["delivered"] == {"21": 4, "22": 1}
    assert [m["text"] for m in sandbox.chat_messages(21)] == ["msg 0", "msg 1", "msg 2", "after waiting"]

    # Edits count against the chat too.
    with pytest.raises(RetryAfter):
        for i in range(5):
            await bot.edit_message_text(f"edit {i}", chat_id=22, message_id=1)

    sandbox.limits.configure(global_burst=4, global_rate=30.0, per_chat_burst=3)
    for uid in range(31, 36):
        sandbox.users.create(uid, f"U{uid}")
    for uid in range(31, 35):
        await bot.send_message(uid, "broadcast")
    with pytest.raises(RetryAfter):
        await bot.send_message(35, "broadcast")
    assert sandbox.stats()["flood_429"]["global"] == 1

    sandbox.limits.configure(enabled=False)
    for _ in range(10):
        await bot.send_message(35, "no limits")


async def test_blocked_user_gets_403(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.users.create(41, "Dora")
    await bot.send_message(41, "welcome")
    sandbox.block(41)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(41, "are you there?")
    with pytest.raises(Forbidden):
        await bot.send_document(41, b"data", filename="x.txt")
    updates = await bot.get_updates(timeout=0)
    assert updates[-1].my_chat_member.new_chat_member.status == "kicked"

    sandbox.unblock(41)
    await bot.send_message(41, "welcome back")
    assert [m["text"] for m in sandbox.chat_messages(41)] == ["welcome", "welcome back"]

    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(999_999, "who are you?")
    sandbox.users.create(42, "Shy", started=False)
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(42, "hi")
    await sandbox.user_send_text(42, "hi bot")
    await bot.send_message(42, "hi human")


async def test_injected_bad_gateway_then_success(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.users.create(51, "Eve")
    sandbox.faults.fail("sendMessage", count=1, status=502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(51, "first try")
    await bot.send_message(51, "second try")
    assert [m["text"] for m in sandbox.chat_messages(51)] == ["second try"]  # the failed call did nothing
    assert sandbox.stats()["errors"]["sendMessage"] == {"502": 1}

    sandbox.faults.fail("*", count=1, status=500, chat_id=52)
    await bot.get_me()  # another chat's rule does not apply
    assert sandbox.faults.rules


async def test_slow_and_dropped_answers(sandbox: SandboxServer) -> None:
    sandbox.users.create(61, "Fay")
    impatient = Bot(TOKEN, base_url=sandbox.base_url, request=HTTPXRequest(read_timeout=0.5))
    async with impatient:
        sandbox.faults.delay("getMe", 0.3, count=1)
        started = time.monotonic()
        await impatient.get_me()
        assert time.monotonic() - started >= 0.3

        sandbox.faults.drop("sendMessage", hold=3.0)
        with pytest.raises(TimedOut):
            await impatient.send_message(61, "did it arrive?")
        # The call was performed: a retry after a timeout would duplicate the message.
        assert [m["text"] for m in sandbox.chat_messages(61)] == ["did it arrive?"]


async def test_message_not_modified(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.users.create(71, "Gil")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    msg = await bot.send_message(71, "<i>same</i>", parse_mode="HTML", reply_markup=keyboard)
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await msg.edit_text("<i>same</i>", parse_mode="HTML", reply_markup=keyboard)
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await msg.edit_reply_markup(reply_markup=keyboard)
    edited = await msg.edit_text("same", reply_markup=keyboard)  # the italics went away: modified
    assert edited.text == "same" and edited.edit_date is not None
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=71, message_id=999)
    await bot.edit_message_reply_markup(chat_id=71, message_id=msg.message_id, reply_markup=None)
    assert sandbox.chat_messages(71)[0]["buttons"] == []


async def test_callback_query_too_old(sandbox: SandboxServer, bot: Bot, clock: FakeClock) -> None:
    sandbox.config.callback_query_max_age = 10.0
    sandbox.users.create(81, "Hal")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    msg = await bot.send_message(81, "press", reply_markup=keyboard)

    fresh = await sandbox.user_press(81, msg.message_id, "go")
    assert await bot.answer_callback_query(fresh, text="ok")
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(fresh)  # answered at most once

    stale = await sandbox.user_press(81, msg.message_id, "go")
    clock.advance(11)
    with pytest.raises(BadRequest, match="(?i)query is too old and response timeout expired"):
        await bot.answer_callback_query(stale)
    with pytest.raises(BadRequest, match="(?i)query id is invalid"):
        await bot.answer_callback_query("123456789")

    updates = await bot.get_updates(timeout=0)
    query = updates[-1].callback_query
    assert query.id == stale and query.data == "go" and query.from_user.id == 81
    assert query.message.message_id == msg.message_id and query.chat_instance


async def test_document_round_trip(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.users.create(91, "Ivy")
    payload = bytes(range(256)) * 40
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Got it", callback_data="ack")]])
    sent = await bot.send_document(91, payload, filename="report.xlsx", caption="<b>Monthly</b>",
                                   parse_mode="HTML", reply_markup=keyboard)  # multipart with JSON fields
    assert sent.reply_markup == keyboard
    assert sent.document.file_name == "report.xlsx" and sent.document.file_size == len(payload)
    assert sent.caption == "Monthly"
    tg_file = await bot.get_file(sent.document.file_id)
    assert tg_file.file_path.startswith(sandbox.base_file_url)
    assert bytes(await tg_file.download_as_bytearray()) == payload
    again = await bot.send_document(91, sent.document.file_id)  # resend by file_id
    assert again.document.file_id == sent.document.file_id
    with pytest.raises(BadRequest, match="(?i)wrong file identifier"):
        await bot.send_document(91, "no-such-file-id")
    view = sandbox.chat_messages(91)[0]
    assert view["document"]["file_name"] == "report.xlsx"
    async with aiohttp.ClientSession() as http:
        async with http.get(sandbox.url + view["document"]["url"]) as resp:
            assert await resp.read() == payload


async def test_user_photo_reaches_bot_and_downloads(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.users.create(101, "Jo")
    png = tiny_png(3, 2)
    await sandbox.user_send_photo(101, png, caption="my certificate")
    await sandbox.user_send_document(101, b"%PDF-1.4 fake", file_name="cv.pdf")
    photo_update, doc_update = await bot.get_updates(timeout=0)
    size = photo_update.message.photo[-1]
    assert (size.width, size.height) == (3, 2)
    assert photo_update.message.caption == "my certificate"
    assert bytes(await (await size.get_file()).download_as_bytearray()) == png
    document = doc_update.message.document
    assert document.file_name == "cv.pdf" and document.mime_type == "application/pdf"
    assert bytes(await (await document.get_file()).download_as_bytearray()) == b"%PDF-1.4 fake"
    sent = await bot.send_photo(101, size.file_id)  # the bot can re-send the user's photo
    assert sent.photo[-1].file_id == size.file_id
    with pytest.raises(BadRequest, match="(?i)image_process_failed"):
        await bot.send_photo(101, b"not an image")


async def test_text_validation(sandbox: SandboxServer, bot: Bot) -> None:
    sandbox.users.create(111, "Kim")
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(111, "x" * 4097)
    await bot.send_message(111, "x" * 4096)
    await bot.send_message(111, "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")  # tags do not count
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(111, "   ")
    with pytest.raises(BadRequest, match="(?i)can't parse entities: unsupported start tag \"br\""):
        await bot.send_message(111, "line<br>line", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)can't find end tag"):
        await bot.send_message(111, "<b>open", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(111, "<b><i>x</b></i>", parse_mode="HTML")
    sent = await bot.send_message(111, "a &lt; b &amp; <a href=\"https://x.test\">link</a>", parse_mode="HTML")
    assert sent.text == "a < b & link" and sent.entities[0].url == "https://x.test"
    assert len(sandbox.chat_messages(111)) == 3


async def test_commands_per_scope(sandbox: SandboxServer, bot: Bot) -> None:
    from telegram import BotCommand, BotCommandScopeChat

    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    await bot.set_my_commands([BotCommand("draw", "Draw a panel")], scope=BotCommandScopeChat(5), language_code="zh")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(5), language_code="zh")] == ["draw"]
    assert await bot.get_my_commands(scope=BotCommandScopeChat(5)) == ()
    assert sandbox.commands({"type": "chat", "chat_id": 5}, "zh") == [{"command": "draw", "description": "Draw a panel"}]
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    await bot.send_chat_action(sandbox.users.create(5, "Lee").id, "typing")
    chat = await bot.get_chat(5)
    assert chat.first_name == "Lee" and chat.type == "private"


async def test_control_http_api(sandbox: SandboxServer, bot: Bot) -> None:
    async with aiohttp.ClientSession(base_url=sandbox.url) as http:
        async def call(verb: str, path: str, **kw: object) -> object:
            async with http.request(verb, "/sandbox" + path, **kw) as resp:
                body = await resp.json()
                assert resp.status == 200, body
                return body["result"]

        user = await call("POST", "/users", json={"id": 501, "first_name": "Mo", "language_code": "zh"})
        assert user == {"id": 501, "is_bot": False, "first_name": "Mo", "language_code": "zh"}
        waiter = asyncio.create_task(call("GET", "/chats/501/wait?timeout=3"))
        await asyncio.sleep(0.05)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
        sent = await bot.send_message(501, "hi from bot", reply_markup=keyboard)
        waited = await waiter
        assert waited["message"]["text"] == "hi from bot"

        update = await call("POST", "/users/501/text", json={"text": "/help"})
        press = await call("POST", "/users/501/press", json={"message_id": sent.message_id, "data": "ok"})
        png = tiny_png()
        await call("POST", "/users/501/photo", json={"data_base64": base64.b64encode(png).decode()})
        form = aiohttp.FormData()
        form.add_field("file", b"col1,col2\n", filename="list.csv", content_type="text/csv")
        await call("POST", "/users/501/document", data=form)
        updates = await bot.get_updates(timeout=0)
        assert updates[0].update_id == update["update_id"] and updates[0].message.text == "/help"
        assert updates[1].callback_query.id == press["callback_query_id"]
        assert updates[2].message.photo and updates[3].message.document.file_name == "list.csv"

        messages = await call("GET", "/chats/501/messages")
        assert [m["from"] for m in messages] == ["bot", "user", "user", "user"]
        events = await call("GET", "/events?after=0&chat_id=501&kinds=bot_message,callback_query")
        assert [e["kind"] for e in events["events"]] == ["bot_message", "callback_query"]

        await call("POST", "/faults", json={"kind": "fail", "method": "sendMessage", "status": 502})
        with pytest.raises(NetworkError):
            await bot.send_message(501, "fails once")
        await call("POST", "/users/501/block")
        with pytest.raises(Forbidden):
            await bot.send_message(501, "blocked")
        await call("DELETE", "/faults")
        await call("POST", "/limits", json={"per_chat_burst": 1})
        await bot.send_message(501, "one")
        with pytest.raises(RetryAfter):
            await bot.send_message(501, "two")
        await call("POST", "/config", json={"callback_query_max_age": 0.001})
        stats = await call("GET", "/stats")
        assert stats["flood_429"]["total"] == 1 and stats["calls"]["sendMessage"] == 5
        state = await call("GET", "/state")
        assert state["chats"][0]["last_message"]["text"] == "one"

        async with http.post("/sandbox/users/999/text", json={"text": "x"}) as resp:
            assert resp.status == 404 and (await resp.json())["ok"] is False
        async with http.get("/") as resp:
            assert resp.status == 200 and "Sandbox" in await resp.text()
