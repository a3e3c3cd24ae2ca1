"""Helpers for the unit / bureau end-to-end tests: the REAL notifier draining the outbox to the
sandbox (so live status edits and rosters arrive as in production), request templates relative
to the test clock, experts answering through the core, and audit / database probes.

Import the fixtures into a test module: `from tests.e2e.support import notifier, settings  # noqa: F401`.
"""
from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any, AsyncIterator, Callable

import pytest
from sqlalchemy import func, select

from bot.notifier import Notifier, make_bot
from bot.sandbox import SandboxServer
from core.bootstrap import Core
from core.config import Settings
from core.db.models import Account, AuditEntry, Invitation, Outbox, Panel
from core.enums import InvitationStatus, OutboxStatus
from core.services import panels
from core.services.accounts import Roles
from tests.e2e.conftest import TOKEN, ChatUser

BJ_OFFSET = timedelta(hours=8)


@pytest.fixture
def settings(db_url: str) -> Settings:
    """The e2e settings plus quick delivery (flood behaviour is tested elsewhere)."""
    return Settings(database={"url": db_url}, telegram={"token": TOKEN},  # type: ignore[arg-type]
                    delivery={"per_chat_per_second": 5.0, "backoff_base_seconds": 0.2})


@pytest.fixture
async def notifier(core: Core, sandbox: SandboxServer) -> AsyncIterator[Notifier]:
    """The production notifier, delivering the outbox to the sandbox while the test runs."""
    sandbox.limits.configure(enabled=False)
    bot = make_bot(core, base_url=sandbox.base_url, base_file_url=sandbox.base_file_url)
    await bot.initialize()
    n = Notifier(core, bot, poll_interval=0.05, chat_burst=20)
    await n.start()
    try:
        yield n
    finally:
        await n.stop()
        await bot.shutdown()


def local(core: Core, days: float, hour: int, minute: int = 0) -> str:
    """'YYYY-MM-DD HH:MM' in Beijing time, `days` after the test clock's date."""
    day = (core.clock.now() + BJ_OFFSET + timedelta(days=days)).date()
    return f"{day.isoformat()} {hour:02d}:{minute:02d}"


def template(core: Core, *, title: str = "某化工项目环境影响报告书技术评审", kind: str = "评审",
             size: str = "3", fields: str = "环境影响评价×3",
             parties: str = "新疆某某化工有限公司；某某环境科技有限公司", time_: str | None = None,
             deadline: str | None = None, place: str = "市生态环境局三楼会议室") -> str:
    start = local(core, 30, 9, 30)
    return "\n".join([
        f"事项名称：{title}",
        f"事项类型：{kind}",
        f"时间：{time_ or start + '-12:00'}",
        f"地点：{place}",
        f"专业领域：{fields}",
        f"人数：{size}",
        f"相关单位：{parties}",
        f"回复期限：{deadline or local(core, 20, 18)}",
    ])


async def until(check: Callable[[], Any], timeout: float = 8.0, interval: float = 0.02) -> Any:
    """Poll an async or sync predicate until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


async def latest_panel(core: Core) -> Panel | None:
    async with core.sessions() as s:
        return await s.scalar(select(Panel).order_by(Panel.id.desc()).limit(1))


async def panel_count(core: Core) -> int:
    async with core.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Panel)) or 0)


async def invitations(core: Core, panel_id: int, status: str | None = None) -> list[Invitation]:
    async with core.sessions() as s:
        q = select(Invitation).where(Invitation.panel_id == panel_id).order_by(Invitation.id)
        if status is not None:
            q = q.where(Invitation.status == status)
        return list((await s.scalars(q)).all())


async def roles_of_expert(core: Core, expert_id: int) -> Roles:
    async with core.sessions() as s:
        acc = await s.scalar(select(Account).where(Account.expert_id == expert_id))
        assert acc is not None
        return Roles(acc.id, expert_id, None, None, False, False, acc.language)


async def accept(core: Core, inv: Invitation) -> None:
    roles = await roles_of_expert(core, inv.expert_id)
    await panels.accept(core.uow(), roles, inv.id, unit_consent=True, no_conflict=True, confidentiality=True)


async def decline(core: Core, inv: Invitation, reason: str = "schedule") -> None:
    roles = await roles_of_expert(core, inv.expert_id)
    await panels.decline(core.uow(), roles, inv.id, reason)


async def refusals(core: Core) -> list[AuditEntry]:
    async with core.sessions() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == "security.refused")
                                     .order_by(AuditEntry.seq))).all())


async def bot_errors(core: Core) -> int:
    """Outbox rows the error handler wrote: an exception escaped a handler."""
    async with core.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "bot_error")) or 0)


async def pending_outbox(core: Core) -> int:
    async with core.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Outbox)
                                  .where(Outbox.status == OutboxStatus.PENDING.value)) or 0)


def texts(user: ChatUser) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in user.messages()]


def latest(user: ChatUser, needle: str) -> dict[str, Any]:
    """The newest bot message in the user's chat containing `needle`."""
    for m in reversed(user.messages()):
        if needle in (m.get("text") or ""):
            return m
    raise AssertionError(f"no message containing {needle!r}: {texts(user)}")


__all__ = ["InvitationStatus", "accept", "bot_errors", "decline", "invitations", "latest", "latest_panel",
           "local", "notifier", "panel_count", "pending_outbox", "refusals", "roles_of_expert", "settings",
           "template", "texts", "until"]
