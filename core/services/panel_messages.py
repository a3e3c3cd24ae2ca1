"""Where a panel's live status message sits in the unit's chat, so adapters can edit it in place.

Channel-agnostic: a chat id and a message id, nothing Telegram-specific. Only the requesting
unit's contact (or an admin) may point a panel at a message.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from core.db.models import Account, Category, DirectedSelection, Panel, UsingUnit
from core.db.uow import UnitOfWork
from core.errors import Forbidden, NotFound
from core.services.accounts import Roles
from core.services.seating import latest_draw, seats_of, status_params


@dataclass(frozen=True)
class StatusMessage:
    panel_id: int
    chat_id: int
    message_id: int
    account_id: int | None  # the account whose chat holds it (None if no account uses that chat)


async def set_status_message(uow: UnitOfWork, roles: Roles, panel_id: int, chat_id: int, message_id: int) -> None:
    """Remember the message to edit for this panel's status (the latest one wins)."""
    async with uow:
        panel = await uow.session.get(Panel, panel_id, with_for_update=True)
        if panel is None:
            raise NotFound("panel.not_found", id=panel_id)
        if not (roles.is_admin or (roles.unit_id is not None and roles.unit_id == panel.unit_id)):
            raise Forbidden("panel.not_yours")
        panel.status_chat_id, panel.status_message_id = chat_id, message_id
        await uow.commit()


async def status_message(uow: UnitOfWork, panel_id: int) -> StatusMessage | None:
    """The stored status message of a panel, if any."""
    async with uow:
        row = (await uow.session.execute(
            select(Panel.status_chat_id, Panel.status_message_id).where(Panel.id == panel_id))).first()
        if row is None or row[0] is None or row[1] is None:
            return None
        acc = await uow.session.scalar(select(Account.id).where(Account.telegram_id == row[0]))
    return StatusMessage(panel_id, int(row[0]), int(row[1]), acc)


async def clear_status_message(uow: UnitOfWork, panel_id: int, chat_id: int, message_id: int) -> bool:
    """Forget message `message_id` in `chat_id` (deleted in the chat, or superseded by a newer
    copy) — only if the panel still points at it: a message the handler stored meanwhile stays."""
    async with uow:
        res = await uow.session.execute(
            update(Panel).where(Panel.id == panel_id, Panel.status_chat_id == chat_id,
                                Panel.status_message_id == message_id)
            .values(status_chat_id=None, status_message_id=None).execution_options(synchronize_session=False))
        await uow.commit()
    return bool(res.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PanelBrief:
    """What a notification about a panel shows besides its own params: the matter and fresh
    counts (never names). For rendering messages already addressed by the core."""

    id: int
    title: str
    matter_type: str
    location: str
    starts_at: datetime
    ends_at: datetime
    response_deadline: datetime
    status: str
    unit_name: str
    fields: tuple[tuple[str, int | None], ...]
    counts: dict[str, Any]
    status_chat_id: int | None
    status_message_id: int | None


async def panel_brief(uow: UnitOfWork, panel_id: int) -> PanelBrief | None:
    async with uow:
        s = uow.session
        panel = await s.get(Panel, panel_id)
        if panel is None:
            return None
        unit = await s.scalar(select(UsingUnit.name).where(UsingUnit.id == panel.unit_id))
        cats = dict((await s.execute(select(Category.id, Category.code))).all())
        seats = await seats_of(uow, panel, await latest_draw(uow, panel.id))
        return PanelBrief(
            id=panel.id, title=panel.title, matter_type=panel.matter_type, location=panel.location,
            starts_at=panel.starts_at, ends_at=panel.ends_at, response_deadline=panel.response_deadline,
            status=panel.status, unit_name=unit or "",
            fields=tuple((cats.get(f.category_id, str(f.category_id)), f.quota) for f in panel.fields),
            counts=status_params(panel, seats), status_chat_id=panel.status_chat_id,
            status_message_id=panel.status_message_id,
        )


@dataclass(frozen=True)
class DirectedBrief:
    """A directed-selection application as the bureau decides it: the written reason, the seats
    and the panel's shortfall."""

    id: int
    panel_id: int
    title: str
    seats: int
    reason: str
    status: str
    short_detail: dict[str, Any] | None


async def directed_brief(uow: UnitOfWork, directed_id: int) -> DirectedBrief | None:
    async with uow:
        row = (await uow.session.execute(
            select(DirectedSelection, Panel.title, Panel.short_detail).join(Panel, Panel.id == DirectedSelection.panel_id)
            .where(DirectedSelection.id == directed_id))).first()
        if row is None:
            return None
        d, title, short = row
        return DirectedBrief(d.id, d.panel_id, title, d.seats, d.reason, d.status, short)
