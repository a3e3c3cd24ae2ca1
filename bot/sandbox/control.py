"""The sandbox's JSON control API under /sandbox/ — the "user side" for the playground page
and for out-of-process tests and benchmarks.

Every answer is {"ok": true, "result": …} or {"ok": false, "description": …} (400/404).
Bodies may be JSON or form data; uploads take multipart (field "file") or JSON "data_base64".

    GET    /sandbox/state                         bot, config, limits, faults, users, chats, cursor
    POST   /sandbox/reset                         forget everything
    GET    /sandbox/users                         users
    POST   /sandbox/users                         {id?, first_name, last_name?, username?, language_code?, started?}
    POST   /sandbox/users/{id}/text               {text, reply_to?}             → {update_id}
    POST   /sandbox/users/{id}/photo              file | data_base64, caption?   → {update_id}
    POST   /sandbox/users/{id}/document           file | data_base64, file_name?, mime_type?, caption? → {update_id}
    POST   /sandbox/users/{id}/press              {message_id, data, forge?}     → {callback_query_id}
    POST   /sandbox/users/{id}/block | /unblock
    GET    /sandbox/chats                         chats with message counts and the last message
    GET    /sandbox/chats/{id}/messages           ?include_deleted=1 → message views
    GET    /sandbox/chats/{id}/wait               ?after=SEQ&timeout=S → next bot message/edit (null on timeout)
    GET    /sandbox/events                        ?after=SEQ&chat_id=&kinds=a,b&timeout=S → {events, cursor} (long poll)
    GET    /sandbox/callbacks/{query_id}          the query and the bot's answer
    GET    /sandbox/files/{file_id}               the file's bytes
    GET    /sandbox/commands                      every stored setMyCommands list
    GET    /sandbox/updates                       pending (unconfirmed) updates
    GET|POST /sandbox/limits                      {enabled, per_chat_rate, per_chat_burst, global_rate, global_burst}
    GET    /sandbox/faults                        blocked chats, rules, injected counts
    POST   /sandbox/faults                        {kind: fail|delay|drop, method?, count?, status?, description?,
                                                   seconds?, hold?, chat_id?} → rule
    DELETE /sandbox/faults                        ?kind=fail|delay|drop|blocked (default: all)
    DELETE /sandbox/faults/{rule_id}
    GET|POST /sandbox/config                      {callback_query_max_age, conflict_policy, unknown_chat, …}
    GET    /sandbox/stats;  POST /sandbox/stats/reset
"""
from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from .state import SandboxError

if TYPE_CHECKING:
    from .server import SandboxServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _fail(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "description": description}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    if request.method not in ("POST", "PUT", "PATCH") or not request.can_read_body:
        return dict(request.query)
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            raise SandboxError("body is not valid JSON") from None
        if not isinstance(data, dict):
            raise SandboxError("body must be a JSON object")
        return {**request.query, **data}
    form = await request.post()
    out: dict[str, Any] = dict(request.query)
    for key, value in form.items():
        if isinstance(value, web.FileField):
            out[key] = {"filename": value.filename, "content_type": value.content_type, "data": value.file.read()}
        else:
            out[key] = value
    return out


def _int(body: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = body.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SandboxError(f"{key} must be an integer") from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes", "on")


def _upload(body: dict[str, Any]) -> tuple[bytes, str | None, str | None]:
    file = body.get("file")
    if isinstance(file, dict):
        return file["data"], file.get("filename"), file.get("content_type")
    encoded = body.get("data_base64")
    if not encoded:
        raise SandboxError("send the file as multipart field 'file' or as 'data_base64'")
    try:
        return base64.b64decode(encoded, validate=True), None, None
    except (binascii.Error, ValueError):
        raise SandboxError("data_base64 is not valid base64") from None


def setup_control_routes(app: web.Application, server: "SandboxServer") -> None:
    def route(method: str, path: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            async def wrapped(request: web.Request) -> web.StreamResponse:
                try:
                    return await fn(request)
                except SandboxError as exc:
                    status = 404 if str(exc).startswith("unknown") else 400
                    return _fail(status, str(exc))
                except (ValueError, TypeError) as exc:
                    return _fail(400, str(exc))

            app.router.add_route(method, "/sandbox" + path, wrapped)
            return fn

        return register

    def user_id(request: web.Request) -> int:
        try:
            return int(request.match_info["user_id"])
        except ValueError:
            raise SandboxError(f"unknown user {request.match_info['user_id']}") from None

    def chat_summary(chat_id: int) -> dict[str, Any]:
        chat = server.world.chats[chat_id]
        visible = [m for m in chat.messages.values() if not m.deleted]
        return {
            "id": chat.id,
            "user": chat.user.to_api(),
            "started": chat.started,
            "blocked": server.faults.is_blocked(chat.id),
            "message_count": len(visible),
            "last_message": server.world.message_view(visible[-1]) if visible else None,
        }

    @route("GET", "/state")
    async def state(request: web.Request) -> web.Response:
        return _ok({
            "bot": server.bot_user(),
            "config": server.config.to_dict(),
            "limits": server.limits.settings(),
            "faults": server.faults.to_dict(),
            "users": [u.to_api() for u in server.users.all()],
            "chats": [chat_summary(cid) for cid in server.world.chats],
            "pending_updates": len(server.world.updates),
            "cursor": server.cursor(),
        })

    @route("POST", "/reset")
    async def reset(request: web.Request) -> web.Response:
        server.reset()
        return _ok(True)

    @route("GET", "/users")
    async def users(request: web.Request) -> web.Response:
        return _ok([u.to_api() for u in server.users.all()])

    @route("POST", "/users")
    async def create_user(request: web.Request) -> web.Response:
        body = await _body(request)
        user = server.users.create(
            _int(body, "id"), str(body.get("first_name") or "User"),
            last_name=body.get("last_name") or None, username=body.get("username") or None,
            language_code=body.get("language_code", "en") or None,
            started=_bool(body.get("started", True)),
        )
        return _ok(user.to_api())

    @route("POST", "/users/{user_id}/text")
    async def send_text(request: web.Request) -> web.Response:
        body = await _body(request)
        update_id = await server.user_send_text(user_id(request), str(body.get("text") or ""),
                                                reply_to=_int(body, "reply_to"))
        return _ok({"update_id": update_id})

    @route("POST", "/users/{user_id}/photo")
    async def send_photo(request: web.Request) -> web.Response:
        body = await _body(request)
        data, _, _ = _upload(body)
        update_id = await server.user_send_photo(
            user_id(request), data, caption=body.get("caption") or None,
            width=_int(body, "width"), height=_int(body, "height"), reply_to=_int(body, "reply_to"),
        )
        return _ok({"update_id": update_id})

    @route("POST", "/users/{user_id}/document")
    async def send_document(request: web.Request) -> web.Response:
        body = await _body(request)
        data, filename, ctype = _upload(body)
        update_id = await server.user_send_document(
            user_id(request), data, file_name=str(body.get("file_name") or filename or "file.bin"),
            mime_type=body.get("mime_type") or (ctype if ctype != "application/octet-stream" else None),
            caption=body.get("caption") or None, reply_to=_int(body, "reply_to"),
        )
        return _ok({"update_id": update_id})

    @route("POST", "/users/{user_id}/press")
    async def press(request: web.Request) -> web.Response:
        body = await _body(request)
        message_id = _int(body, "message_id")
        if message_id is None:
            raise SandboxError("message_id is required")
        query_id = await server.user_press(user_id(request), message_id, str(body.get("data", "")),
                                           forge=_bool(body.get("forge", False)))
        return _ok({"callback_query_id": query_id})

    @route("POST", "/users/{user_id}/block")
    async def block(request: web.Request) -> web.Response:
        server.block(user_id(request))
        return _ok(True)

    @route("POST", "/users/{user_id}/unblock")
    async def unblock(request: web.Request) -> web.Response:
        server.unblock(user_id(request))
        return _ok(True)

    @route("GET", "/chats")
    async def chats(request: web.Request) -> web.Response:
        return _ok([chat_summary(cid) for cid in server.world.chats])

    def chat_id_of(request: web.Request) -> int:
        try:
            cid = int(request.match_info["chat_id"])
        except ValueError:
            raise SandboxError(f"unknown chat {request.match_info['chat_id']}") from None
        if cid not in server.world.chats:
            raise SandboxError(f"unknown chat {cid}")
        return cid

    @route("GET", "/chats/{chat_id}/messages")
    async def messages(request: web.Request) -> web.Response:
        include = _bool(request.query.get("include_deleted", "0"))
        return _ok(server.chat_messages(chat_id_of(request), include_deleted=include))

    def timeout_of(request: web.Request, default: float = 5.0) -> float:
        try:
            return min(max(float(request.query.get("timeout", default)), 0.0), 120.0)
        except ValueError:
            raise SandboxError("timeout must be a number") from None

    @route("GET", "/chats/{chat_id}/wait")
    async def wait(request: web.Request) -> web.Response:
        cid = chat_id_of(request)
        after = _int(dict(request.query), "after")
        try:
            message = await server.wait_for_message(cid, timeout=timeout_of(request), after=after)
        except TimeoutError:
            return _ok({"message": None, "cursor": server.cursor()})
        return _ok({"message": message, "cursor": message["seq"]})

    @route("GET", "/events")
    async def events(request: web.Request) -> web.Response:
        query = dict(request.query)
        after = _int(query, "after", 0) or 0
        chat_id = _int(query, "chat_id")
        kinds = [k for k in query.get("kinds", "").split(",") if k] or None
        found = server.events(after, chat_id=chat_id, kinds=kinds)
        if not found:
            try:
                await server.wait_for_event(timeout=timeout_of(request, 0.0), after=after,
                                            chat_id=chat_id, kinds=kinds)
            except TimeoutError:
                pass
            found = server.events(after, chat_id=chat_id, kinds=kinds)
        cursor = found[-1]["seq"] if found else max(after, 0)
        return _ok({"events": found, "cursor": cursor if found else server.cursor()})

    @route("GET", "/callbacks/{query_id}")
    async def callback(request: web.Request) -> web.Response:
        query = server.world.queries.get(request.match_info["query_id"])
        if query is None:
            raise SandboxError(f"unknown callback query {request.match_info['query_id']}")
        return _ok({"id": query.id, "user_id": query.user_id, "chat_id": query.chat_id,
                    "message_id": query.message_id, "data": query.data,
                    "answered": query.answered, "answer": query.answer})

    @route("GET", "/files/{file_id}")
    async def file(request: web.Request) -> web.Response:
        stored = server.world.files.get(request.match_info["file_id"])
        if stored is None:
            raise SandboxError(f"unknown file {request.match_info['file_id']}")
        headers = {}
        if stored.file_name:
            headers["Content-Disposition"] = f'inline; filename="{stored.file_name}"'
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream",
                            headers=headers)

    @route("GET", "/commands")
    async def commands(request: web.Request) -> web.Response:
        import json

        return _ok([{"scope": json.loads(scope), "language_code": lang, "commands": cmds}
                    for (scope, lang), cmds in server.api.commands.items()])

    @route("GET", "/updates")
    async def updates(request: web.Request) -> web.Response:
        return _ok(server.pending_updates())

    @route("GET", "/limits")
    async def get_limits(request: web.Request) -> web.Response:
        return _ok(server.limits.settings())

    @route("POST", "/limits")
    async def set_limits(request: web.Request) -> web.Response:
        body = await _body(request)
        if "enabled" in body:
            body["enabled"] = _bool(body["enabled"])
        server.limits.configure(**body)
        return _ok(server.limits.settings())

    @route("GET", "/faults")
    async def get_faults(request: web.Request) -> web.Response:
        return _ok(server.faults.to_dict())

    @route("POST", "/faults")
    async def add_fault(request: web.Request) -> web.Response:
        body = await _body(request)
        kind = body.get("kind")
        method = str(body.get("method") or "*")
        chat_id = _int(body, "chat_id")
        count = None if str(body.get("count", "")).lower() in ("none", "null") else _int(body, "count")
        if kind == "fail":
            rule = server.faults.fail(method, count=count if "count" in body else 1,
                                      status=_int(body, "status", 502) or 502,
                                      description=body.get("description") or None, chat_id=chat_id)
        elif kind == "delay":
            rule = server.faults.delay(method, float(body.get("seconds", 1.0)), count=count, chat_id=chat_id)
        elif kind == "drop":
            rule = server.faults.drop(method, count=count if "count" in body else 1,
                                      hold=float(body.get("hold", body.get("seconds", 30.0))), chat_id=chat_id)
        else:
            raise SandboxError("kind must be fail, delay or drop")
        return _ok(rule.to_dict())

    @route("DELETE", "/faults")
    async def clear_faults(request: web.Request) -> web.Response:
        kind = request.query.get("kind") or None
        if kind not in (None, "fail", "delay", "drop", "blocked"):
            raise SandboxError("kind must be fail, delay, drop or blocked")
        if kind in (None, "blocked"):
            for chat_id in list(server.faults.blocked):
                if chat_id in server.users:
                    server.unblock(chat_id)
        server.faults.clear(kind)
        return _ok(server.faults.to_dict())

    @route("DELETE", "/faults/{rule_id}")
    async def remove_fault(request: web.Request) -> web.Response:
        rule_id = _int(dict(request.match_info), "rule_id")
        if rule_id is None or not server.faults.remove(rule_id):
            raise SandboxError(f"unknown fault rule {request.match_info['rule_id']}")
        return _ok(True)

    @route("GET", "/config")
    async def get_config(request: web.Request) -> web.Response:
        return _ok(server.config.to_dict())

    @route("POST", "/config")
    async def set_config(request: web.Request) -> web.Response:
        body = await _body(request)
        body.pop("token", None)  # the token is fixed at start
        server.config.update(**body)
        return _ok(server.config.to_dict())

    @route("GET", "/stats")
    async def stats(request: web.Request) -> web.Response:
        return _ok(server.stats())

    @route("POST", "/stats/reset")
    async def reset_stats(request: web.Request) -> web.Response:
        server.reset_stats()
        return _ok(True)
