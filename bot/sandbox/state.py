"""The sandbox's in-memory world: users, private chats, messages, files, pending updates, events.

Everything here is synchronous and runs on the server's event loop; waiters use `Notifier`
(a "something changed" signal) and re-check their condition, so there is no lost wake-up.

* `User` – a simulated person (private chat id == user id).
* `Chat` – the private chat of a user with the bot: messages keyed by message_id (ids are per
  chat and shared by both sides, like Telegram), `started` (has the user talked to the bot).
* `Message` – one message with its *current* content (edits applied) plus `edit_date`.
  `to_api()` is the Bot API Message object; `to_view()` is the JSON the playground/tests read.
* `StoredFile` – bytes behind a file_id (uploads from either side), downloadable by file_path.
* `Event` – an append-only log entry ("user_message", "bot_message", "edit", "delete",
  "callback_query", "callback_answer", "chat_action", "block", "unblock") with a growing `seq`
  cursor; `World.events_after(seq)` and `World.event_signal` let anyone wait for changes.
* Pending updates – Bot API Update dicts with increasing update_id, removed when confirmed by
  a getUpdates offset.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

BOT_COMMAND_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@")


class SandboxError(ValueError):
    """A user-side action that Telegram's client would not allow (unknown message, forged data…)."""


class Notifier:
    """A level-free "changed" signal: `await wait(timeout)` returns after the next `notify()`."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, timeout: float) -> bool:
        """True if notified, False on timeout."""
        if timeout <= 0:
            return False
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False


@dataclass
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False

    def to_api(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value:
                d[key] = value
        return d

    def chat_api(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            d["last_name"] = self.last_name
        if self.username:
            d["username"] = self.username
        return d


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    kind: str  # "document" | "photo"
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    file_path: str = ""

    @property
    def size(self) -> int:
        return len(self.data)

    def document_api(self) -> dict[str, Any]:
        d: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": self.size}
        if self.file_name:
            d["file_name"] = self.file_name
        if self.mime_type:
            d["mime_type"] = self.mime_type
        return d

    def photo_api(self) -> list[dict[str, Any]]:
        return [{
            "file_id": self.file_id, "file_unique_id": self.file_unique_id,
            "width": self.width, "height": self.height, "file_size": self.size,
        }]

    def file_api(self) -> dict[str, Any]:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                "file_size": self.size, "file_path": self.file_path}

    def view(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id, "file_name": self.file_name, "mime_type": self.mime_type,
            "file_size": self.size, "width": self.width, "height": self.height,
            "url": f"/sandbox/files/{self.file_id}",
        }


@dataclass
class Message:
    chat_id: int
    message_id: int
    outgoing: bool  # True = sent by the bot
    sender_id: int  # the user id for incoming messages, the bot id for outgoing ones
    date: int
    text: str | None = None  # plain text (entities removed)
    entities: list[dict[str, Any]] = field(default_factory=list)
    source: str | None = None  # text or caption as sent (with markup)
    parse_mode: str | None = None
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    reply_to: int | None = None
    edit_date: int | None = None
    document: StoredFile | None = None
    photo: StoredFile | None = None
    deleted: bool = False
    edits: int = 0

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        if self.reply_markup and isinstance(self.reply_markup.get("inline_keyboard"), list):
            return self.reply_markup["inline_keyboard"]
        return []

    def callback_data(self) -> list[str]:
        return [b["callback_data"] for row in self.inline_keyboard for b in row
                if isinstance(b, dict) and "callback_data" in b]


@dataclass
class Event:
    seq: int
    kind: str
    chat_id: int | None
    time: float
    message_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "chat_id": self.chat_id, "time": self.time,
                "message_id": self.message_id, **self.data}


@dataclass
class CallbackQuery:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created: float  # monotonic
    answered: bool = False
    answer: dict[str, Any] | None = None


@dataclass
class Chat:
    user: User
    started: bool = True
    messages: dict[int, Message] = field(default_factory=dict)
    next_message_id: int = 1

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def instance(self) -> str:
        return str(int.from_bytes(hashlib.sha256(f"chat{self.id}".encode()).digest()[:7], "big"))


def _sniff_image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG/GIF/JPEG, or (0, 0)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            length = int.from_bytes(data[i + 2:i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
            i += 2 + length
    return 0, 0


class World:
    def __init__(self, *, wall_clock: Callable[[], float] = time.time, max_events: int = 100_000) -> None:
        self.wall_clock = wall_clock
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.updates: deque[dict[str, Any]] = deque()
        self.next_update_id = secrets.randbelow(10_000) * 1000 + 1
        self.events: deque[Event] = deque(maxlen=max_events)
        self.seq = 0
        self.queries: dict[str, CallbackQuery] = {}
        self.update_signal = Notifier()
        self.event_signal = Notifier()
        self._file_counter = itertools.count(1)
        self._user_ids = itertools.count(100_001)
        self._query_ids = itertools.count(secrets.randbelow(10**9) * 10**6 + 1)

    # --- users & chats ------------------------------------------------------------------
    def create_user(
        self, user_id: int | None = None, first_name: str = "User", *, last_name: str | None = None,
        username: str | None = None, language_code: str | None = "en", started: bool = True,
    ) -> User:
        if user_id is None:
            user_id = next(self._user_ids)
            while user_id in self.users:
                user_id = next(self._user_ids)
        user_id = int(user_id)
        if user_id <= 0:
            raise SandboxError("user id must be positive")
        if user_id in self.users:
            raise SandboxError(f"user {user_id} already exists")
        user = User(user_id, first_name, last_name, username, language_code)
        self.users[user_id] = user
        self.chats[user_id] = Chat(user, started=started)
        return user

    def user(self, user_id: int) -> User:
        try:
            return self.users[int(user_id)]
        except (KeyError, ValueError, TypeError):
            raise SandboxError(f"unknown user {user_id}") from None

    def chat(self, chat_id: int) -> Chat | None:
        return self.chats.get(chat_id)

    # --- messages -----------------------------------------------------------------------
    def add_message(self, chat: Chat, *, outgoing: bool, sender_id: int, **fields: Any) -> Message:
        msg = Message(chat.id, chat.next_message_id, outgoing, sender_id, int(self.wall_clock()), **fields)
        chat.next_message_id += 1
        chat.messages[msg.message_id] = msg
        return msg

    def message(self, chat_id: int, message_id: int) -> Message | None:
        chat = self.chats.get(chat_id)
        if chat is None:
            return None
        msg = chat.messages.get(message_id)
        return None if msg is None or msg.deleted else msg

    def message_api(self, msg: Message, bot: dict[str, Any], *, nested: bool = True) -> dict[str, Any]:
        """The Bot API Message object for `msg` (bot = the getMe user dict)."""
        chat = self.chats[msg.chat_id]
        d: dict[str, Any] = {
            "message_id": msg.message_id,
            "from": bot if msg.outgoing else chat.user.to_api(),
            "chat": chat.user.chat_api(),
            "date": msg.date,
        }
        if msg.edit_date is not None:
            d["edit_date"] = msg.edit_date
        if nested and msg.reply_to is not None:
            replied = chat.messages.get(msg.reply_to)
            if replied is not None and not replied.deleted:
                d["reply_to_message"] = self.message_api(replied, bot, nested=False)
        if msg.text is not None:
            d["text"] = msg.text
            if msg.entities:
                d["entities"] = msg.entities
        if msg.document is not None:
            d["document"] = msg.document.document_api()
        if msg.photo is not None:
            d["photo"] = msg.photo.photo_api()
        if msg.caption is not None:
            d["caption"] = msg.caption
            if msg.caption_entities:
                d["caption_entities"] = msg.caption_entities
        if msg.inline_keyboard:
            d["reply_markup"] = {"inline_keyboard": msg.inline_keyboard}
        return d

    def message_view(self, msg: Message) -> dict[str, Any]:
        """What the playground and tests read: current content, buttons, files."""
        return {
            "chat_id": msg.chat_id,
            "message_id": msg.message_id,
            "from": "bot" if msg.outgoing else "user",
            "sender_id": msg.sender_id,
            "date": msg.date,
            "text": msg.text,
            "entities": msg.entities,
            "source": msg.source,
            "parse_mode": msg.parse_mode,
            "caption": msg.caption,
            "caption_entities": msg.caption_entities,
            "buttons": msg.inline_keyboard,
            "reply_markup": msg.reply_markup,
            "reply_to_message_id": msg.reply_to,
            "edit_date": msg.edit_date,
            "edits": msg.edits,
            "document": msg.document.view() if msg.document else None,
            "photo": msg.photo.view() if msg.photo else None,
            "deleted": msg.deleted,
        }

    def messages_view(self, chat_id: int, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise SandboxError(f"unknown chat {chat_id}")
        return [self.message_view(m) for m in chat.messages.values() if include_deleted or not m.deleted]

    # --- files --------------------------------------------------------------------------
    def store_file(
        self, data: bytes, kind: str, *, file_name: str | None = None, mime_type: str | None = None,
        width: int | None = None, height: int | None = None,
    ) -> StoredFile:
        n = next(self._file_counter)
        unique = hashlib.sha256(data).hexdigest()[:16]
        file_id = f"SBX{kind[0].upper()}{n:06d}{secrets.token_hex(8)}"
        if kind == "photo":
            w, h = _sniff_image_size(data)
            width = width if width is not None else w
            height = height if height is not None else h
            ext = "jpg"
            if mime_type is None:
                mime_type = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
        else:
            ext = (file_name.rsplit(".", 1)[1] if file_name and "." in file_name else "bin")[:10]
        folder = "photos" if kind == "photo" else "documents"
        stored = StoredFile(
            file_id, f"U{unique}", data, kind, file_name, mime_type, width or 0, height or 0,
            f"{folder}/file_{n}.{ext}",
        )
        self.files[file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    # --- updates ------------------------------------------------------------------------
    def push_update(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = self.next_update_id
        self.next_update_id += 1
        self.updates.append({"update_id": update_id, kind: payload})
        self.update_signal.notify()
        return update_id

    def confirm(self, offset: int) -> None:
        """getUpdates offset semantics: forget updates with update_id < offset; a negative
        offset keeps only the last -offset updates."""
        if offset < 0:
            keep = -offset
            while len(self.updates) > keep:
                self.updates.popleft()
            return
        while self.updates and self.updates[0]["update_id"] < offset:
            self.updates.popleft()

    def pending(self, limit: int) -> list[dict[str, Any]]:
        return list(itertools.islice(self.updates, limit))

    # --- events -------------------------------------------------------------------------
    def log(self, kind: str, chat_id: int | None, message_id: int | None = None, **data: Any) -> Event:
        self.seq += 1
        event = Event(self.seq, kind, chat_id, self.wall_clock(), message_id, data)
        self.events.append(event)
        self.event_signal.notify()
        return event

    def events_after(
        self, seq: int, *, chat_id: int | None = None, kinds: Iterable[str] | None = None
    ) -> list[Event]:
        wanted = set(kinds) if kinds is not None else None
        out: list[Event] = []
        for event in reversed(self.events):
            if event.seq <= seq:
                break
            if chat_id is not None and event.chat_id != chat_id:
                continue
            if wanted is not None and event.kind not in wanted:
                continue
            out.append(event)
        out.reverse()
        return out

    # --- callback queries -----------------------------------------------------------------
    def new_query(self, user_id: int, chat_id: int, message_id: int, data: str, created: float) -> CallbackQuery:
        query = CallbackQuery(str(next(self._query_ids)), user_id, chat_id, message_id, data, created)
        self.queries[query.id] = query
        return query


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram attaches to a text starting with /command[@bot]."""
    if not text.startswith("/"):
        return []
    length = 1
    while length < len(text) and text[length] in BOT_COMMAND_CHARS:
        length += 1
    if length == 1:
        return []
    return [{"type": "bot_command", "offset": 0, "length": length}]
