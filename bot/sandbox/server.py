"""`SandboxServer`: a local stand-in for the Telegram Bot API, plus a "user side" to drive it.

Bot side (what python-telegram-bot talks to)::

    server = SandboxServer()                      # SandboxServer(token="123:ABC") → other tokens get 401
    await server.start()                          # 127.0.0.1, free port
    bot = telegram.Bot(token, base_url=server.base_url, base_file_url=server.base_file_url)
    ...
    await server.stop()                           # or: async with SandboxServer() as server:

Routes: ``/bot{token}/{method}`` (GET/POST; JSON, form-urlencoded or multipart bodies),
``/file/bot{token}/{file_path}`` (downloads), ``/sandbox/…`` (JSON control API, see
`bot.sandbox.control`), ``/`` and ``/static/…`` (the playground page).

User side (Python; the same actions exist under /sandbox/ for the page and other processes)::

    user = server.users.create(1001, "Alice", language_code="zh")  # → state.User; chat id == 1001
    update_id = await server.user_send_text(1001, "/start")        # /commands carry a bot_command entity
    update_id = await server.user_send_photo(1001, png_bytes, caption="scan")
    update_id = await server.user_send_document(1001, data, file_name="cv.pdf", mime_type="application/pdf")
    query_id  = await server.user_press(1001, message_id, "yes")    # forge=True: data need not be on a button
    server.chat_messages(1001)           # → [message view dicts], edits applied
    msg = await server.wait_for_message(1001, lambda m: "Hi" in (m["text"] or ""), timeout=5)
    cur = server.cursor(); ...; await server.wait_for_message(1001, after=cur)
    ev  = await server.wait_for_event(lambda e: e["kind"] == "callback_answer", chat_id=1001)
    server.callback_answer(query_id)     # → {"text", "show_alert", "url", "cache_time"} or None
    server.block(1001); server.unblock(1001)   # also sends my_chat_member updates
    server.faults.fail("sendMessage", count=1, status=502)  # see bot.sandbox.faults
    server.limits.configure(per_chat_burst=3, per_chat_rate=1.0)  # see bot.sandbox.limits
    server.config.callback_query_max_age = 0.5
    server.stats()                       # calls, errors, 429s, deliveries, edits …
    server.commands()                    # setMyCommands lists by (scope, language)

A message view dict has: chat_id, message_id, from ("bot"|"user"), sender_id, date, text,
entities, source (as sent, with markup), parse_mode, caption, buttons (inline keyboard rows as
sent), reply_markup, reply_to_message_id, edit_date, edits, document, photo, deleted.
`wait_for_message` adds "event" ("bot_message" or "edit") and "seq" to it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable

from aiohttp import web

from .botapi import BotApi
from .faults import FaultRules
from .limits import FloodLimiter
from .params import ApiError, Params
from .state import SandboxError, StoredFile, User, World, command_entities

_log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).with_name("static")
MAX_UPLOAD = 50 * 1024 * 1024


@dataclass
class SandboxConfig:
    token: str | None = None  # when set, other tokens get 401 Unauthorized
    bot_first_name: str = "Sandbox Bot"
    bot_username: str = "sandbox_bot"
    callback_query_max_age: float = 900.0  # seconds until answerCallbackQuery says "query is too old"
    conflict_policy: str = "terminate_older"  # like Telegram; or "reject_newer"
    unknown_chat: str = "forbidden"  # sending to an unknown chat: "forbidden" (403) | "not_found" | "create"
    max_poll_timeout: float = 50.0

    def update(self, **values: Any) -> None:
        known = {f.name for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown config key {key!r}")
            if key == "conflict_policy" and value not in ("terminate_older", "reject_newer"):
                raise ValueError("conflict_policy must be terminate_older or reject_newer")
            if key == "unknown_chat" and value not in ("forbidden", "not_found", "create"):
                raise ValueError("unknown_chat must be forbidden, not_found or create")
            if key in ("callback_query_max_age", "max_poll_timeout"):
                value = float(value)
            setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["token"] = bool(self.token)  # never echo the token
        return d


class Stats:
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.errors: dict[str, dict[int, int]] = {}
        self.flood = {"total": 0, "chat": 0, "global": 0}
        self.flood_per_chat: dict[int, int] = {}
        self.delivered: dict[int, int] = {}
        self.edits: dict[int, int] = {}
        self.updates_delivered = 0

    def call(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1

    def error(self, method: str, code: int) -> None:
        per = self.errors.setdefault(method, {})
        per[code] = per.get(code, 0) + 1

    def record_flood(self, chat_id: int | None, scope: str) -> None:
        self.flood["total"] += 1
        self.flood[scope] += 1
        if chat_id is not None:
            self.flood_per_chat[chat_id] = self.flood_per_chat.get(chat_id, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "errors": {m: {str(c): n for c, n in per.items()} for m, per in self.errors.items()},
            "flood_429": {**self.flood, "per_chat": {str(k): v for k, v in self.flood_per_chat.items()}},
            "delivered": {str(k): v for k, v in self.delivered.items()},
            "delivered_total": sum(self.delivered.values()),
            "edits": {str(k): v for k, v in self.edits.items()},
            "updates_delivered": self.updates_delivered,
        }


class Users:
    """`server.users`: create and look up simulated users."""

    def __init__(self, server: "SandboxServer") -> None:
        self._server = server

    def create(
        self, user_id: int | None = None, first_name: str = "User", *, last_name: str | None = None,
        username: str | None = None, language_code: str | None = "en", started: bool = True,
    ) -> User:
        """A new user and their private chat. `started=False`: the bot may not message them
        until they send something (403 "bot can't initiate conversation")."""
        return self._server.world.create_user(
            user_id, first_name, last_name=last_name, username=username,
            language_code=language_code, started=started,
        )

    def get(self, user_id: int) -> User:
        return self._server.world.user(user_id)

    def all(self) -> list[User]:
        return list(self._server.world.users.values())

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._server.world.users


class SandboxServer:
    def __init__(
        self,
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        limits: FloodLimiter | None = None,
        **config: Any,
    ) -> None:
        self.clock = clock
        self.wall_clock = wall_clock
        self.config = SandboxConfig(token=token)
        self.config.update(**config)
        self.limits = limits or FloodLimiter(clock=clock)
        self.faults = FaultRules()
        self.stats_data = Stats()
        self.world = World(wall_clock=wall_clock)
        self.api = BotApi(self)
        self.users = Users(self)
        self.last_token: str | None = token
        self.internal_errors: list[str] = []  # unexpected exceptions in Bot API handlers (sandbox bugs)
        self.closing = False
        self._closed: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._host = "127.0.0.1"
        self._extra_routes: list[web.AbstractRouteDef] = []

    # --- lifecycle --------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        from .control import setup_control_routes

        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        setup_control_routes(app, self)
        app.add_routes(self._extra_routes)
        app.router.add_get("/", self._handle_index)
        if STATIC_DIR.is_dir():
            app.router.add_static("/static/", STATIC_DIR)
        return app

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        """Extra routes (e.g. the playground's under /sandbox/), mounted when the server starts."""
        if self._runner is not None:
            raise RuntimeError("add routes before start()")
        self._extra_routes.extend(routes)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("sandbox already started")
        self.closing = False
        self._closed = asyncio.Event()
        runner = web.AppRunner(self.build_app(), handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self._host = host
        self._port = runner.addresses[0][1]

    async def stop(self) -> None:
        self.closing = True
        if self._closed is not None:
            self._closed.set()
        self.world.update_signal.notify()
        self.world.event_signal.notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "SandboxServer":
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("sandbox not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops."""
        if seconds <= 0:
            return
        if self._closed is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(self._closed.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    # --- bot identity -------------------------------------------------------------------------
    def bot_user(self, token: str | None = None) -> dict[str, Any]:
        token = token or self.last_token or self.config.token or ""
        head = token.split(":", 1)[0]
        return {
            "id": int(head) if head.isdigit() else 1,
            "is_bot": True,
            "first_name": self.config.bot_first_name,
            "username": self.config.bot_username,
        }

    # --- HTTP handlers ------------------------------------------------------------------------
    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        name = method
        try:
            if self.config.token and token != self.config.token:
                raise ApiError(401, "Unauthorized")
            resolved = self.api.resolve(method)
            if resolved is None:
                raise ApiError(404, "Not Found")
            name, handler = resolved
            params = await Params.from_request(request)
            self.last_token = token
            self.stats_data.call(name)
            chat_id = self.api.chat_for(name, params)
            delay = self.faults.take_delay(name, chat_id)
            if delay:
                await self._sleep(delay)
            failure = self.faults.take_failure(name, chat_id)
            if failure is not None:
                raise ApiError(failure.status, failure.description)
            result = await handler(params, token)
            hold = self.faults.take_drop(name, chat_id)
            if hold is not None:
                await self._sleep(hold)
            return web.json_response({"ok": True, "result": result})
        except ApiError as exc:
            self.stats_data.error(name, exc.code)
            return web.json_response(exc.payload(), status=exc.code)
        except Exception as exc:  # a sandbox bug: answer like Telegram would, but keep a record
            _log.exception("sandbox: %s failed", name)
            self.internal_errors.append(f"{name}: {exc!r}")
            self.stats_data.error(name, 500)
            return web.json_response(ApiError(500, "Internal Server Error").payload(), status=500)

    async def _handle_download(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if self.config.token and token != self.config.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        stored = self.world.files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        self.stats_data.call("file_download")
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    async def _handle_index(self, request: web.Request) -> web.StreamResponse:
        index = STATIC_DIR / "index.html"
        if not index.is_file():
            return web.Response(text="Sandbox Bot API stand-in", content_type="text/plain")
        return web.FileResponse(index)

    # --- user side ----------------------------------------------------------------------------
    def _chat_for_user(self, user_id: int) -> Any:
        user = self.world.user(user_id)
        chat = self.world.chats[user.id]
        if self.faults.is_blocked(user.id):
            self.unblock(user.id)  # a user who writes to the bot has unblocked it
        chat.started = True
        return chat

    def _push_message(self, chat: Any, **fields: Any) -> int:
        msg = self.world.add_message(chat, outgoing=False, sender_id=chat.id, **fields)
        self.world.log("user_message", chat.id, msg.message_id, message=self.world.message_view(msg))
        return self.world.push_update("message", self.world.message_api(msg, self.bot_user()))

    def _reply_to(self, chat: Any, reply_to: int | None) -> int | None:
        if reply_to is None:
            return None
        if self.world.message(chat.id, int(reply_to)) is None:
            raise SandboxError(f"no message {reply_to} in chat {chat.id}")
        return int(reply_to)

    async def user_send_text(self, user_id: int, text: str, *, reply_to: int | None = None) -> int:
        """The user sends `text`; returns the update_id. Commands get a bot_command entity."""
        text = (text or "").strip()
        if not text:
            raise SandboxError("message text is empty")
        if len(text) > 4096:
            raise SandboxError("message is too long")
        chat = self._chat_for_user(user_id)
        return self._push_message(
            chat, text=text, entities=command_entities(text), source=text, reply_to=self._reply_to(chat, reply_to)
        )

    async def user_send_photo(
        self, user_id: int, data: bytes, *, caption: str | None = None,
        width: int | None = None, height: int | None = None, reply_to: int | None = None,
    ) -> int:
        """The user sends a photo (the update carries one PhotoSize with a downloadable file_id)."""
        if not data:
            raise SandboxError("photo is empty")
        chat = self._chat_for_user(user_id)
        stored = self.world.store_file(bytes(data), "photo", width=width, height=height)
        return self._push_message(chat, photo=stored, caption=caption or None, source=caption,
                                  reply_to=self._reply_to(chat, reply_to))

    async def user_send_document(
        self, user_id: int, data: bytes, *, file_name: str = "file.bin", mime_type: str | None = None,
        caption: str | None = None, reply_to: int | None = None,
    ) -> int:
        """The user sends a document; returns the update_id."""
        if not data:
            raise SandboxError("document is empty")
        chat = self._chat_for_user(user_id)
        if mime_type is None:
            import mimetypes

            mime_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self.world.store_file(bytes(data), "document", file_name=file_name, mime_type=mime_type)
        return self._push_message(chat, document=stored, caption=caption or None, source=caption,
                                  reply_to=self._reply_to(chat, reply_to))

    async def user_press(self, user_id: int, message_id: int, data: str, *, forge: bool = False) -> str:
        """The user presses the inline button with callback_data `data` on a bot message;
        returns the callback query id. `forge=True` skips the check that such a button exists."""
        user = self.world.user(user_id)
        msg = self.world.message(user.id, int(message_id))
        if msg is None:
            raise SandboxError(f"no message {message_id} in chat {user.id}")
        if not forge:
            if not msg.outgoing:
                raise SandboxError("only the bot's messages have buttons")
            if data not in msg.callback_data():
                raise SandboxError(f"message {message_id} has no button with callback_data {data!r}")
        if self.faults.is_blocked(user.id):
            raise SandboxError("the user has blocked the bot")
        query = self.world.new_query(user.id, user.id, msg.message_id, data, self.clock())
        self.world.log("callback_query", user.id, msg.message_id, query_id=query.id, data=data)
        self.world.push_update("callback_query", {
            "id": query.id,
            "from": user.to_api(),
            "message": self.world.message_api(msg, self.bot_user()),
            "chat_instance": self.world.chats[user.id].instance,
            "data": data,
        })
        return query.id

    def _member_update(self, user: User, old: str, new: str) -> None:
        bot = self.bot_user()
        member = lambda status: {"status": status, "user": bot, **({"until_date": 0} if status == "kicked" else {})}  # noqa: E731
        self.world.push_update("my_chat_member", {
            "chat": user.chat_api(), "from": user.to_api(), "date": int(self.wall_clock()),
            "old_chat_member": member(old), "new_chat_member": member(new),
        })

    def block(self, user_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot: the bot's sends to them answer 403 "bot was blocked by the user"."""
        user = self.world.user(user_id)
        if self.faults.is_blocked(user.id):
            return
        self.faults.block(user.id)
        self.world.log("block", user.id)
        if notify:
            self._member_update(user, "member", "kicked")

    def unblock(self, user_id: int, *, notify: bool = True) -> None:
        user = self.world.user(user_id)
        if not self.faults.is_blocked(user.id):
            return
        self.faults.unblock(user.id)
        self.world.log("unblock", user.id)
        if notify:
            self._member_update(user, "kicked", "member")

    # --- reading the world ----------------------------------------------------------------
    def chat_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        return self.world.messages_view(int(chat_id), include_deleted=include_deleted)

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        msg = self.world.message(int(chat_id), int(message_id))
        return self.world.message_view(msg) if msg else None

    def file_bytes(self, file_id: str) -> bytes:
        stored: StoredFile | None = self.world.files.get(file_id)
        if stored is None:
            raise SandboxError(f"unknown file_id {file_id}")
        return stored.data

    def cursor(self) -> int:
        """The current event sequence number; pass it as `after=` to wait for later events."""
        return self.world.seq

    def events(
        self, after: int = 0, *, chat_id: int | None = None, kinds: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.world.events_after(after, chat_id=chat_id, kinds=kinds)]

    async def wait_for_event(
        self, predicate: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 5.0, *,
        after: int | None = None, chat_id: int | None = None, kinds: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """The first event after `after` (default: now) matching; raises TimeoutError."""
        seen = self.world.seq if after is None else after
        kinds = tuple(kinds) if kinds is not None else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for event in self.world.events_after(seen, chat_id=chat_id, kinds=kinds):
                seen = event.seq
                d = event.to_dict()
                if predicate is None or predicate(d):
                    return d
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closing:
                raise TimeoutError(f"no matching sandbox event within {timeout} s")
            await self.world.event_signal.wait(remaining)

    async def wait_for_message(
        self, chat_id: int, predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 5.0, *, after: int | None = None,
    ) -> dict[str, Any]:
        """The first bot message or edit in `chat_id` after `after` (default: now) for which
        predicate(view) is true: the message view plus "event" and "seq". Raises TimeoutError."""

        def view(e: dict[str, Any]) -> dict[str, Any]:
            return {**e["message"], "event": e["kind"], "seq": e["seq"]}

        event = await self.wait_for_event(
            lambda e: predicate is None or predicate(view(e)), timeout,
            after=after, chat_id=int(chat_id), kinds=("bot_message", "edit"),
        )
        return view(event)

    def callback_answer(self, query_id: str) -> dict[str, Any] | None:
        query = self.world.queries.get(str(query_id))
        return dict(query.answer) if query and query.answer is not None else None

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        import json

        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        return list(self.api.commands.get(key, []))

    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self.world.updates)

    def stats(self) -> dict[str, Any]:
        return {**self.stats_data.to_dict(), "faults_injected": dict(self.faults.injected),
                "pending_updates": len(self.world.updates)}

    def reset_stats(self) -> None:
        self.stats_data = Stats()
        self.faults.injected = {k: 0 for k in self.faults.injected}

    def reset(self) -> None:
        """Forget everything: users, chats, files, updates, events, faults, limits, stats."""
        old = self.world
        self.world = World(wall_clock=self.wall_clock)
        self.api = BotApi(self)
        self.faults = FaultRules()
        self.limits.reset()
        self.stats_data = Stats()
        old.update_signal.notify()
        old.event_signal.notify()
