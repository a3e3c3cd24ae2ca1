"""Flags for the bureau (Art. 15, 16): what the system noticed, with its evidence; an admin closes
each with a decision note. Reading and closing are admin-only; refusals and closures are audited."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from core.db.models import Expert, Flag
from core.db.models.people import expert_code
from core.db.uow import UnitOfWork
from core.enums import FlagStatus
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.identity import check_text
from core.services import audit
from core.services.accounts import Roles

DECISION_MAX = 1000
LIST_LIMIT = 50


@dataclass(frozen=True)
class FlagView:
    id: int
    kind: str
    status: str
    expert_id: int | None
    expert_code: str | None
    expert_name: str
    evidence: dict[str, Any]
    created_at: datetime
    closed_at: datetime | None
    closed_by: str
    decision: str


async def _guard(uow: UnitOfWork, roles: Roles, flag_id: int | None, attempted: str) -> None:
    if roles.is_admin:
        return
    await audit.append(uow, roles.actor, "security.refused", "flag", flag_id, attempted=attempted)
    await uow.commit()
    raise Forbidden("role.admin_required")


def _view(flag: Flag, name: str | None) -> FlagView:
    return FlagView(
        id=flag.id, kind=flag.kind, status=flag.status, expert_id=flag.expert_id,
        expert_code=expert_code(flag.expert_id) if flag.expert_id is not None else None,
        expert_name=name or "", evidence=dict(flag.evidence or {}), created_at=flag.created_at,
        closed_at=flag.closed_at, closed_by=flag.closed_by, decision=flag.decision,
    )


async def list_flags(uow: UnitOfWork, roles: Roles, *, open_only: bool = True, limit: int = LIST_LIMIT) -> list[FlagView]:
    """Open flags (or all), oldest first, with the expert's name for the bureau's eyes."""
    async with uow:
        await _guard(uow, roles, None, "flag.list")
        stmt = (select(Flag, Expert.name).outerjoin(Expert, Expert.id == Flag.expert_id)
                .order_by(Flag.id).limit(max(1, min(limit, 500))))
        if open_only:
            stmt = stmt.where(Flag.status == FlagStatus.OPEN.value)
        rows = (await uow.session.execute(stmt)).all()
        return [_view(f, n) for f, n in rows]


async def get_flag(uow: UnitOfWork, roles: Roles, flag_id: int) -> FlagView:
    async with uow:
        await _guard(uow, roles, flag_id, "flag.view")
        row = (await uow.session.execute(
            select(Flag, Expert.name).outerjoin(Expert, Expert.id == Flag.expert_id).where(Flag.id == flag_id))).first()
        if row is None:
            raise NotFound("flag.not_found", id=flag_id)
        return _view(row[0], row[1])


async def close_flag(uow: UnitOfWork, roles: Roles, flag_id: int, decision: str) -> FlagView:
    """Close an open flag with the bureau's decision note (a conditional UPDATE: closes once)."""
    decision = check_text(decision or "", DECISION_MAX)
    async with uow:
        await _guard(uow, roles, flag_id, "flag.close")
        if not decision:
            raise DomainError("flag.decision_required")
        s = uow.session
        flag = await s.get(Flag, flag_id)
        if flag is None:
            raise NotFound("flag.not_found", id=flag_id)
        now = uow.clock.now()
        res = await s.execute(
            update(Flag).where(Flag.id == flag_id, Flag.status == FlagStatus.OPEN.value)
            .values(status=FlagStatus.CLOSED.value, closed_at=now, closed_by=roles.actor, decision=decision)
            .execution_options(synchronize_session=False))
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("flag.already_closed", id=flag_id)
        await audit.append(uow, roles.actor, "flag.close", "flag", flag_id, expert_id=flag.expert_id, kind=flag.kind)
        await s.refresh(flag)
        name = await s.scalar(select(Expert.name).where(Expert.id == flag.expert_id)) if flag.expert_id else None
        view = _view(flag, name)
        await uow.commit()
    return view
