"""The Bot API methods the sandbox implements, answering in Telegram's JSON shapes and errors.

`BotApi.call(method, params, token)` runs one method (validation → limits → effect) and returns
the `result`, or raises `ApiError`. Fault injection (delays, 5xx, held answers) is applied by the
server around this call; blocks and flood limits are applied here, after validation, so a
rejected request does not use up a send token — like Telegram.
"""
from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from .formatting import (
    MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, EntityParseError, UnsupportedParseMode, format_text,
)
from .limits import LIMITED_METHODS
from .params import ApiError, Params, bad_request
from .state import Chat, Message, StoredFile

if TYPE_CHECKING:
    from .server import SandboxServer

FORBIDDEN_BLOCKED = "Forbidden: bot was blocked by the user"
FORBIDDEN_INITIATE = "Forbidden: bot can't initiate conversation with a user"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
CONFLICT_TERMINATED = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
MAX_DOWNLOAD = 20 * 1024 * 1024
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_BUTTON_ACTIONS = (
    "callback_data", "url", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)


@dataclass
class _Poll:
    terminated: bool = False


class BotApi:
    def __init__(self, server: "SandboxServer") -> None:
        self.server = server
        self.world = server.world
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.bot_settings: dict[str, Any] = {}
        self._polls: dict[str, _Poll] = {}
        self.methods: dict[str, Callable[[Params, str], Awaitable[Any]]] = {}
        for name in dir(self):
            if name.startswith("m_"):
                self.methods[name[2:].lower()] = getattr(self, name)

    # --- plumbing -------------------------------------------------------------------------
    def resolve(self, method: str) -> tuple[str, Callable[[Params, str], Awaitable[Any]]] | None:
        handler = self.methods.get(method.lower())
        if handler is None:
            return None
        return handler.__name__[2:], handler

    def chat_for(self, method: str, p: Params) -> int | None:
        """The chat a call concerns (for fault rules and limits), if any."""
        if method == "answerCallbackQuery":
            query = self.world.queries.get(str(p.raw("callback_query_id")))
            return query.chat_id if query else None
        try:
            return p.int("chat_id")
        except ApiError:
            return None

    def bot(self, token: str) -> dict[str, Any]:
        return self.server.bot_user(token)

    def admit(self, method: str, chat_id: int | None) -> None:
        """Flood limits: raise 429 when this send would go over them."""
        if method not in LIMITED_METHODS:
            return
        verdict = self.server.limits.check(chat_id)
        if verdict is None:
            return
        retry_after, scope = verdict
        self.server.stats_data.record_flood(chat_id, scope)
        raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})

    def target_chat(self, p: Params, method: str) -> Chat:
        raw = p.raw("chat_id")
        if raw in (None, ""):
            raise bad_request("chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        chat = self.world.chat(chat_id)
        if chat is None:
            policy = self.server.config.unknown_chat
            if policy == "create" and chat_id > 0:
                self.world.create_user(chat_id, f"User {chat_id}")
                chat = self.world.chat(chat_id)
                assert chat is not None
            elif policy == "not_found":
                raise bad_request("chat not found")
            else:
                raise ApiError(403, FORBIDDEN_INITIATE)
        if self.server.faults.is_blocked(chat.id):
            self.server.faults.injected["blocked"] += 1
            raise ApiError(403, FORBIDDEN_BLOCKED)
        if not chat.started and method != "getChat":
            raise ApiError(403, FORBIDDEN_INITIATE)
        return chat

    def format(self, text: str | None, parse_mode: str | None, entities: Any) -> tuple[str, list[dict[str, Any]]]:
        try:
            return format_text(text, parse_mode, entities if isinstance(entities, list) else None)
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
        except UnsupportedParseMode:
            raise bad_request("unsupported parse_mode") from None

    def text_of(self, p: Params) -> tuple[str, str, list[dict[str, Any]]]:
        source = p.str("text")
        if source is None or not source.strip():
            raise bad_request("message text is empty")
        plain, entities = self.format(source, p.str("parse_mode"), p.json("entities"))
        if not plain:
            raise bad_request("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return source, plain, entities

    def caption_of(self, p: Params) -> tuple[str | None, list[dict[str, Any]]]:
        source = p.str("caption")
        if source is None:
            return None, []
        plain, entities = self.format(source, p.str("parse_mode"), p.json("caption_entities"))
        if len(plain) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        return (plain or None), entities

    def markup(self, p: Params) -> dict[str, Any] | None:
        markup = p.json("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("can't parse inline keyboard markup JSON object")
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                        raise bad_request("can't parse inline keyboard button: Field \"text\" must be of type String")
                    if not any(k in button for k in _BUTTON_ACTIONS):
                        raise bad_request(
                            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                        )
                    data = button.get("callback_data")
                    if data is not None and (not isinstance(data, str) or not 1 <= len(data.encode()) <= 64):
                        raise bad_request("BUTTON_DATA_INVALID")
        return markup

    def reply_to(self, p: Params, chat: Chat) -> int | None:
        params = p.json("reply_parameters")
        target = None
        allow_missing = p.bool("allow_sending_without_reply")
        if isinstance(params, dict):
            target = params.get("message_id")
            allow_missing = bool(params.get("allow_sending_without_reply", allow_missing))
        elif p.has("reply_to_message_id"):
            target = p.int("reply_to_message_id")
        if target is None:
            return None
        if self.world.message(chat.id, int(target)) is None:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return int(target)

    def own_message(self, p: Params, chat: Chat, missing: str) -> Message:
        if p.has("inline_message_id"):
            raise bad_request("inline messages are not supported by the sandbox")
        message_id = p.int("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        msg = self.world.message(chat.id, message_id)
        if msg is None:
            raise bad_request(missing)
        if not msg.outgoing:
            raise bad_request("message can't be edited")
        return msg

    def delivered(self, msg: Message, token: str) -> dict[str, Any]:
        self.server.stats_data.delivered[msg.chat_id] = self.server.stats_data.delivered.get(msg.chat_id, 0) + 1
        self.world.log("bot_message", msg.chat_id, msg.message_id, message=self.world.message_view(msg))
        return self.world.message_api(msg, self.bot(token))

    def edited(self, msg: Message, token: str, *, content: bool) -> dict[str, Any]:
        if content:
            msg.edit_date = int(self.world.wall_clock())
        msg.edits += 1
        self.server.stats_data.edits[msg.chat_id] = self.server.stats_data.edits.get(msg.chat_id, 0) + 1
        self.world.log("edit", msg.chat_id, msg.message_id, message=self.world.message_view(msg))
        return self.world.message_api(msg, self.bot(token))

    # --- identity, webhook, updates -----------------------------------------------------
    async def m_getMe(self, p: Params, token: str) -> Any:
        return {
            **self.bot(token),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def m_logOut(self, p: Params, token: str) -> Any:
        return True

    async def m_close(self, p: Params, token: str) -> Any:
        return True

    async def m_setWebhook(self, p: Params, token: str) -> Any:
        url = p.str("url", "") or ""
        if not url:
            self.webhooks.pop(token, None)
            return True
        if not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhooks[token] = {"url": url, "secret_token": p.str("secret_token"),
                                "allowed_updates": p.json("allowed_updates")}
        if p.bool("drop_pending_updates"):
            self.world.updates.clear()
        return True

    async def m_deleteWebhook(self, p: Params, token: str) -> Any:
        self.webhooks.pop(token, None)
        if p.bool("drop_pending_updates"):
            self.world.updates.clear()
        return True

    async def m_getWebhookInfo(self, p: Params, token: str) -> Any:
        hook = self.webhooks.get(token)
        info: dict[str, Any] = {
            "url": hook["url"] if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.world.updates),
        }
        if hook and hook.get("allowed_updates"):
            info["allowed_updates"] = hook["allowed_updates"]
        return info

    async def m_getUpdates(self, p: Params, token: str) -> Any:
        if token in self.webhooks:
            raise ApiError(409, CONFLICT_WEBHOOK)
        offset = p.int("offset")
        limit = min(max(p.int("limit", 100) or 100, 1), 100)
        timeout = min(max(p.float("timeout", 0.0) or 0.0, 0.0), self.server.config.max_poll_timeout)
        current = self._polls.get(token)
        if current is not None:
            if self.server.config.conflict_policy == "reject_newer":
                raise ApiError(409, CONFLICT_TERMINATED)
            current.terminated = True
            self.world.update_signal.notify()
        poll = self._polls[token] = _Poll()
        try:
            if offset is not None:
                self.world.confirm(offset)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                if poll.terminated:
                    raise ApiError(409, CONFLICT_TERMINATED)
                updates = self.world.pending(limit)
                remaining = deadline - loop.time()
                if updates or remaining <= 0 or self.server.closing:
                    break
                await self.world.update_signal.wait(remaining)
            self.server.stats_data.updates_delivered += len(updates)
            return updates
        finally:
            if self._polls.get(token) is poll:
                del self._polls[token]

    # --- messages -------------------------------------------------------------------------
    async def m_sendMessage(self, p: Params, token: str) -> Any:
        chat = self.target_chat(p, "sendMessage")
        source, plain, entities = self.text_of(p)
        markup = self.markup(p)
        reply_to = self.reply_to(p, chat)
        self.admit("sendMessage", chat.id)
        msg = self.world.add_message(
            chat, outgoing=True, sender_id=self.bot(token)["id"], text=plain, entities=entities,
            source=source, parse_mode=p.str("parse_mode"), reply_markup=markup, reply_to=reply_to,
        )
        return self.delivered(msg, token)

    async def m_editMessageText(self, p: Params, token: str) -> Any:
        chat = self.target_chat(p, "editMessageText")
        msg = self.own_message(p, chat, "message to edit not found")
        if msg.text is None:
            raise bad_request("there is no text in the message to edit")
        source, plain, entities = self.text_of(p)
        markup = self.markup(p)
        new_keyboard = (markup or {}).get("inline_keyboard") or []
        if plain == msg.text and entities == msg.entities and new_keyboard == msg.inline_keyboard:
            raise bad_request(NOT_MODIFIED)
        self.admit("editMessageText", chat.id)
        msg.text, msg.entities, msg.source = plain, entities, source
        msg.parse_mode = p.str("parse_mode")
        msg.reply_markup = markup
        return self.edited(msg, token, content=True)

    async def m_editMessageCaption(self, p: Params, token: str) -> Any:
        chat = self.target_chat(p, "editMessageCaption")
        msg = self.own_message(p, chat, "message to edit not found")
        if msg.text is not None:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self.caption_of(p)
        markup = self.markup(p)
        new_keyboard = (markup or {}).get("inline_keyboard") or []
        if caption == msg.caption and entities == msg.caption_entities and new_keyboard == msg.inline_keyboard:
            raise bad_request(NOT_MODIFIED)
        self.admit("editMessageCaption", chat.id)
        msg.caption, msg.caption_entities, msg.source = caption, entities, p.str("caption")
        msg.reply_markup = markup
        return self.edited(msg, token, content=True)

    async def m_editMessageReplyMarkup(self, p: Params, token: str) -> Any:
        chat = self.target_chat(p, "editMessageReplyMarkup")
        msg = self.own_message(p, chat, "message to edit not found")
        markup = self.markup(p)
        new_keyboard = (markup or {}).get("inline_keyboard") or []
        if new_keyboard == msg.inline_keyboard:
            raise bad_request(NOT_MODIFIED)
        self.admit("editMessageReplyMarkup", chat.id)
        msg.reply_markup = markup
        return self.edited(msg, token, content=False)

    async def m_deleteMessage(self, p: Params, token: str) -> Any:
        chat = self.target_chat(p, "deleteMessage")
        message_id = p.int("message_id", required=True)
        msg = self.world.message(chat.id, message_id)  # type: ignore[arg-type]
        if msg is None:
            raise bad_request("message to delete not found")
        msg.deleted = True
        self.world.log("delete", chat.id, msg.message_id)
        return True

    async def m_answerCallbackQuery(self, p: Params, token: str) -> Any:
        query_id = p.str("callback_query_id", required=True)
        query = self.world.queries.get(query_id or "")
        if query is None or query.answered:
            raise bad_request(QUERY_TOO_OLD)
        if self.server.clock() - query.created > self.server.config.callback_query_max_age:
            raise bad_request(QUERY_TOO_OLD)
        text = p.str("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answered = True
        query.answer = {"text": text, "show_alert": p.bool("show_alert"), "url": p.str("url"),
                        "cache_time": p.int("cache_time", 0)}
        self.world.log("callback_answer", query.chat_id, query.message_id, query_id=query.id, **query.answer)
        return True

    async def m_sendChatAction(self, p: Params, token: str) -> Any:
        chat = self.target_chat(p, "sendChatAction")
        action = p.str("action")
        if not action:
            raise bad_request("action is empty")
        self.world.log("chat_action", chat.id, action=action)
        return True

    async def m_getChat(self, p: Params, token: str) -> Any:
        try:
            chat_id = p.int("chat_id", required=True)
        except ApiError:
            raise bad_request("chat not found") from None
        chat = self.world.chat(chat_id)  # type: ignore[arg-type]
        if chat is None:
            raise bad_request("chat not found")
        return {**chat.user.chat_api(), "accent_color_id": 0, "max_reaction_count": 11}

    # --- files ----------------------------------------------------------------------------
    def _file_param(self, p: Params, name: str, kind: str) -> StoredFile:
        upload = p.file(name)
        if upload is not None:
            if not upload.data:
                raise bad_request("file must be non-empty")
            stored = self.world.store_file(
                upload.data, kind, file_name=upload.filename,
                mime_type=upload.content_type if kind == "document" else None,
            )
            if kind == "photo" and not stored.width:
                raise bad_request("IMAGE_PROCESS_FAILED")
            return stored
        ref = p.str(name)
        if not ref:
            raise bad_request(f"there is no {name} in the request")
        stored = self.world.files.get(ref)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request("type of file mismatch")
        return stored

    async def _send_file(self, p: Params, token: str, method: str, kind: str) -> Any:
        chat = self.target_chat(p, method)
        caption, caption_entities = self.caption_of(p)
        markup = self.markup(p)
        reply_to = self.reply_to(p, chat)
        stored = self._file_param(p, kind, kind)
        self.admit(method, chat.id)
        msg = self.world.add_message(
            chat, outgoing=True, sender_id=self.bot(token)["id"], caption=caption,
            caption_entities=caption_entities, source=p.str("caption"), parse_mode=p.str("parse_mode"),
            reply_markup=markup, reply_to=reply_to, **{kind: stored},
        )
        return self.delivered(msg, token)

    async def m_sendDocument(self, p: Params, token: str) -> Any:
        return await self._send_file(p, token, "sendDocument", "document")

    async def m_sendPhoto(self, p: Params, token: str) -> Any:
        return await self._send_file(p, token, "sendPhoto", "photo")

    async def m_getFile(self, p: Params, token: str) -> Any:
        file_id = p.str("file_id", required=True)
        stored = self.world.files.get(file_id or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return stored.file_api()

    # --- commands and bot settings --------------------------------------------------------
    def _commands_key(self, p: Params) -> tuple[str, str]:
        scope = p.json("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise bad_request("can't parse BotCommandScope JSON object")
        return json.dumps(scope, sort_keys=True), p.str("language_code", "") or ""

    async def m_setMyCommands(self, p: Params, token: str) -> Any:
        commands = p.json("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("too many commands specified")
        clean = []
        for c in commands:
            if not isinstance(c, dict) or not _COMMAND_RE.match(str(c.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            desc = c.get("description")
            if not isinstance(desc, str) or not 1 <= len(desc) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": c["command"], "description": desc})
        key = self._commands_key(p)
        if clean:
            self.commands[key] = clean
        else:
            self.commands.pop(key, None)
        return True

    async def m_getMyCommands(self, p: Params, token: str) -> Any:
        return self.commands.get(self._commands_key(p), [])

    async def m_deleteMyCommands(self, p: Params, token: str) -> Any:
        self.commands.pop(self._commands_key(p), None)
        return True

    def _setting(self, name: str, p: Params, field: str) -> bool:
        self.bot_settings[(name, p.str("language_code", "") or "")] = p.str(field, "") or ""
        return True

    def _get_setting(self, name: str, p: Params) -> str:
        return self.bot_settings.get((name, p.str("language_code", "") or ""), "")

    async def m_setMyDescription(self, p: Params, token: str) -> Any:
        return self._setting("description", p, "description")

    async def m_getMyDescription(self, p: Params, token: str) -> Any:
        return {"description": self._get_setting("description", p)}

    async def m_setMyShortDescription(self, p: Params, token: str) -> Any:
        return self._setting("short_description", p, "short_description")

    async def m_getMyShortDescription(self, p: Params, token: str) -> Any:
        return {"short_description": self._get_setting("short_description", p)}

    async def m_setMyName(self, p: Params, token: str) -> Any:
        return self._setting("name", p, "name")

    async def m_getMyName(self, p: Params, token: str) -> Any:
        return {"name": self._get_setting("name", p) or self.server.config.bot_first_name}

    async def m_setChatMenuButton(self, p: Params, token: str) -> Any:
        self.bot_settings[("menu_button", str(p.raw("chat_id") or ""))] = p.json("menu_button") or {"type": "default"}
        return True

    async def m_getChatMenuButton(self, p: Params, token: str) -> Any:
        return self.bot_settings.get(("menu_button", str(p.raw("chat_id") or "")), {"type": "default"})
