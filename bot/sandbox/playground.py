"""The playground page's own routes, beside the sandbox's control API (bot.sandbox.control).

    GET  /sandbox/info                 bot name, time zone, default language, playground flag
    GET  /sandbox/personas             who the page can be: from the demo database (role, name,
                                       unit, Telegram user id, language) plus one "new user";
                                       each gets a sandbox user (and chat) if it has none yet
    GET  /sandbox/menu/{user_id}       the bot's command menu as that user's client shows it
                                       (chat scope, then all private chats, then default; each
                                       with the user's language first)
    GET  /sandbox/clock                {now, local, offset_seconds, timezone}
    POST /sandbox/clock                {advance_hours | advance_days | to_date} → the clock, and the
                                       scheduler tick that ran at once: {clock, tick}

The sandbox's clock only moves forward (reminder marks and deadlines assume time does).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web

from core import demo
from core.bootstrap import Core
from core.clock import OffsetClock
from core.i18n import t

from .server import SandboxServer
from .state import SandboxError

log = logging.getLogger(__name__)
MAX_HOURS = 24 * 3650
TickFn = Callable[[], Awaitable[dict[str, Any]]]


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _fail(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "description": description}, status=status)


class ClockStore:
    """The sandbox clock's offset, kept in a small JSON file so a restart keeps the demo's time."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> timedelta:
        if self.path is None or not self.path.is_file():
            return timedelta()
        try:
            return timedelta(seconds=float(json.loads(self.path.read_text("utf-8"))["offset_seconds"]))
        except (ValueError, KeyError, TypeError, OSError):
            log.warning("ignoring an unreadable sandbox clock file %s", self.path)
            return timedelta()

    def save(self, clock: OffsetClock) -> None:
        if self.path is not None:
            self.path.write_text(json.dumps({"offset_seconds": clock.offset.total_seconds()}), "utf-8")


class Playground:
    """What the page needs beyond the Bot API stand-in: personas, menus and the clock."""

    def __init__(self, core: Core, clock: OffsetClock, server: SandboxServer, *,
                 tick: TickFn | None = None, store: ClockStore | None = None) -> None:
        self.core, self.clock, self.server = core, clock, server
        self.tick = tick
        self.store = store or ClockStore(None)

    # --- personas ---------------------------------------------------------------------------
    async def personas(self) -> list[dict[str, Any]]:
        out = []
        for p in await demo.personas(self.core):
            if p.telegram_id not in self.server.users:
                self.server.users.create(p.telegram_id, p.name or t("sandbox.new_user", p.language), language_code=p.language,
                                         started=bool(p.roles))
            out.append(asdict(p))
        return out

    def menu(self, user_id: int) -> list[dict[str, Any]]:
        user = self.server.users.get(user_id)
        langs = [user.language_code or "", ""] if user.language_code else [""]
        for scope in ({"type": "chat", "chat_id": user_id}, {"type": "all_private_chats"}, {"type": "default"}):
            for lang in langs:
                found = self.server.commands(scope, lang)
                if found:
                    return found
        return []

    # --- clock --------------------------------------------------------------------------------
    def clock_state(self) -> dict[str, Any]:
        now = self.clock.now()
        tz = self.core.settings.tz
        return {"now": now.isoformat(), "local": now.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "offset_seconds": round(self.clock.offset.total_seconds()), "timezone": self.core.settings.timezone}

    def target(self, body: dict[str, Any]) -> datetime:
        """Where the clock should go; raises ValueError with a plain reason."""
        now = self.clock.now()
        if body.get("advance_hours") not in (None, ""):
            hours = float(body["advance_hours"])
            if not 0 < hours <= MAX_HOURS:
                raise ValueError("advance_hours must be between 0 and 87600")
            return now + timedelta(hours=hours)
        if body.get("advance_days") not in (None, ""):
            days = float(body["advance_days"])
            if not 0 < days <= MAX_HOURS / 24:
                raise ValueError("advance_days must be between 0 and 3650")
            return now + timedelta(days=days)
        raw = str(body.get("to_date") or "").strip()
        if not raw:
            raise ValueError("send advance_hours, advance_days or to_date")
        tz = self.core.settings.tz
        try:
            when = datetime.fromisoformat(raw) if ("T" in raw or " " in raw) else \
                datetime.combine(datetime.fromisoformat(raw).date(), time(9, 0))
        except ValueError:
            raise ValueError("to_date must look like 2026-12-03 or 2026-12-03T14:30") from None
        when = when.replace(tzinfo=tz) if when.tzinfo is None else when
        if when <= now:
            raise ValueError("the sandbox clock only moves forward")
        if when - now > timedelta(hours=MAX_HOURS):
            raise ValueError("at most ten years ahead")
        return when.astimezone(timezone.utc)

    async def move(self, body: dict[str, Any]) -> dict[str, Any]:
        self.clock.set(self.target(body))
        self.store.save(self.clock)
        log.info("sandbox clock moved to %s", self.clock_state()["local"])
        report = await self.tick() if self.tick is not None else {}
        return {"clock": self.clock_state(), "tick": report}

    # --- routes -------------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        async def info(request: web.Request) -> web.Response:
            s = self.core.settings
            return _ok({"bot": self.server.bot_user(), "timezone": s.timezone,
                        "default_language": s.default_language, "playground": True})

        async def personas(request: web.Request) -> web.Response:
            return _ok(await self.personas())

        async def menu(request: web.Request) -> web.Response:
            try:
                return _ok(self.menu(int(request.match_info["user_id"])))
            except (ValueError, SandboxError):
                return _fail(404, f"unknown user {request.match_info['user_id']}")

        async def get_clock(request: web.Request) -> web.Response:
            return _ok(self.clock_state())

        async def post_clock(request: web.Request) -> web.Response:
            body: dict[str, Any] = dict(request.query)
            if request.can_read_body:
                try:
                    data = await request.json() if request.content_type == "application/json" else dict(await request.post())
                except ValueError:
                    return _fail(400, "body is not valid JSON")
                if not isinstance(data, dict):
                    return _fail(400, "body must be a JSON object")
                body.update(data)
            try:
                return _ok(await self.move(body))
            except (ValueError, TypeError) as exc:
                return _fail(400, str(exc))

        return [
            web.get("/sandbox/info", info),
            web.get("/sandbox/personas", personas),
            web.get("/sandbox/menu/{user_id}", menu),
            web.get("/sandbox/clock", get_clock),
            web.post("/sandbox/clock", post_clock),
        ]

    def mount(self) -> None:
        self.server.add_routes(self.routes())
