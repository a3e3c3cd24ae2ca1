"""Discipline (Art. 15, 16) and the flags the system raises for the bureau to decide.

- `record_sanction`: 约谈提醒 (interview_reminder) or 警告 (warning) on an Art. 15 ground (1)–(5).
- `remove`: 取消资格、移出专家库 on an Art. 16 ground (1)–(7): the status becomes `removed`, every
  pending and accepted invitation on a panel not yet held is cancelled and replacements are drawn,
  a public announcement (公告: name, work unit, ground, date) is published, the expert is told.
A decision may name the flag it answers; that flag closes with it. Every decision is audited,
and its notifications are written in the same transaction. Listing flags with their evidence
and closing one without a sanction are `core.services.flags` (re-exported here).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.db.models import Account, Announcement, Expert, Flag, Sanction
from core.db.uow import UnitOfWork
from core.enums import ExpertStatus, FlagStatus, SanctionKind
from core.errors import Conflict, DomainError, NotFound
from core.identity import check_text
from core.outbox import enqueue
from core.services import audit
from core.services.flags import FlagView, close_flag, get_flag, list_flags  # noqa: F401  (re-exported)
from core.services.oversight_access import Who, admin_actor, viewer_actor

__all__ = [
    "ART15_GROUNDS", "ART16_GROUNDS", "AnnouncementView", "FlagView", "LIGHT_KINDS", "Removed", "SanctionView",
    "Target", "check_ground", "close_flag", "decision_target", "get_flag", "list_flags", "published",
    "record_sanction", "remove", "sanctions_of",
]

NOTE_MAX = 1000
ART15_GROUNDS = range(1, 6)
ART16_GROUNDS = range(1, 8)
LIGHT_KINDS = (SanctionKind.INTERVIEW_REMINDER.value, SanctionKind.WARNING.value)


@dataclass(frozen=True)
class Removed:
    sanction_id: int
    announcement_id: int
    released_invitations: tuple[int, ...]
    closed_flags: tuple[int, ...]


@dataclass(frozen=True)
class SanctionView:
    id: int
    expert_id: int
    kind: str
    ground: int
    note: str
    flag_id: int | None
    decided_by: str
    decided_at: datetime


@dataclass(frozen=True)
class AnnouncementView:
    """A public notice (公告): public fields only (name, work unit, ground, date)."""

    id: int
    kind: str  # removal | commendation
    name: str
    work_unit: str
    ground: int | None
    date: str


async def published(uow: UnitOfWork) -> list[AnnouncementView]:
    """Every announcement, newest first, for the public site and roster outputs."""
    async with uow:
        rows = (await uow.session.scalars(select(Announcement).order_by(Announcement.published_at.desc(),
                                                                        Announcement.id.desc()))).all()
        return [AnnouncementView(a.id, a.kind, str(a.body.get("name", "")), str(a.body.get("work_unit", "")),
                                 a.body.get("ground"), str(a.body.get("date", ""))) for a in rows]


def check_ground(kind: str, ground: int) -> int:
    """Art. 15 grounds (1)–(5) for reminders and warnings, Art. 16 grounds (1)–(7) for removal."""
    if kind not in {k.value for k in SanctionKind}:
        raise DomainError("discipline.bad_kind", value=str(kind)[:24])
    allowed = ART16_GROUNDS if kind == SanctionKind.REMOVAL.value else ART15_GROUNDS
    try:
        g = int(ground)
    except (TypeError, ValueError):
        raise DomainError("discipline.bad_ground", value=str(ground)[:8], max=allowed[-1]) from None
    if g not in allowed:
        raise DomainError("discipline.bad_ground", value=str(g), max=allowed[-1])
    return g


def _note(note: str) -> str:
    text = check_text(note, NOTE_MAX)
    if not text:
        raise DomainError("discipline.note_required")
    return text


async def _expert(uow: UnitOfWork, expert_id: int) -> Expert:
    expert = await uow.session.get(Expert, expert_id, with_for_update=True)
    if expert is None:
        raise NotFound("expert.not_found", id=expert_id)
    if expert.status == ExpertStatus.REMOVED.value:
        raise Conflict("discipline.already_removed")
    return expert


async def _linked_flag(uow: UnitOfWork, flag_id: int | None, expert_id: int) -> Flag | None:
    if flag_id is None:
        return None
    flag = await uow.session.get(Flag, flag_id, with_for_update=True)
    if flag is None or flag.expert_id != expert_id:
        raise NotFound("discipline.flag_not_found", id=flag_id)
    if flag.status != FlagStatus.OPEN.value:
        raise Conflict("discipline.flag_closed", id=flag_id)
    return flag


async def _close(uow: UnitOfWork, flag: Flag, actor: str, decision: str) -> None:
    flag.status, flag.closed_at, flag.closed_by, flag.decision = FlagStatus.CLOSED.value, uow.clock.now(), actor, decision
    await uow.session.flush()
    await audit.append(uow, actor, "flag.close", "flag", flag.id, expert_id=flag.expert_id, kind=flag.kind,
                       decision=decision[:64])


async def _tell_expert(uow: UnitOfWork, expert_id: int, kind: str, params: dict[str, Any]) -> None:
    account_id = await uow.session.scalar(select(Account.id).where(Account.expert_id == expert_id))
    if account_id is not None:
        await enqueue(uow, account_id, kind, params)


def _day(uow: UnitOfWork) -> str:
    return uow.clock.now().astimezone(uow.settings.tz).date().isoformat()


@dataclass(frozen=True)
class Target:
    """An expert a decision may be taken about (for the admin's confirmation card)."""

    expert_id: int
    code: str
    name: str
    work_unit: str
    status: str


async def decision_target(uow: UnitOfWork, who: Who, expert_id: int) -> Target:
    """Check that the caller may decide and that the expert can still be decided about."""
    async with uow:
        await admin_actor(uow, who, "discipline.target")
        e = await _expert(uow, expert_id)
        return Target(e.id, e.code, e.name, e.work_unit, e.status)


async def record_sanction(
    uow: UnitOfWork, who: Who, expert_id: int, kind: str, ground: int, note: str, flag_id: int | None = None,
) -> int:
    """An interview reminder or a warning on its Art. 15 ground; returns the sanction id."""
    if kind not in LIGHT_KINDS:
        raise DomainError("discipline.bad_kind", value=str(kind)[:24])
    g = check_ground(kind, ground)
    text = _note(note)
    async with uow:
        actor = await admin_actor(uow, who, "discipline.sanction")
        await _expert(uow, expert_id)
        flag = await _linked_flag(uow, flag_id, expert_id)
        now = uow.clock.now()
        row = Sanction(expert_id=expert_id, kind=kind, ground=g, note=text, flag_id=flag_id, decided_by=actor,
                       decided_at=now)
        uow.session.add(row)
        await uow.session.flush()
        await audit.append(uow, actor, "sanction.record", "sanction", row.id, expert_id=expert_id, kind=kind,
                           ground=g, flag_id=flag_id)
        if flag is not None:
            await _close(uow, flag, actor, f"sanction:{row.id}")
        await _tell_expert(uow, expert_id, "sanction_recorded",
                           {"sanction_id": row.id, "kind": kind, "ground": g, "note": text, "date": _day(uow)})
        sanction_id = row.id
        await uow.commit()
    return sanction_id


async def remove(uow: UnitOfWork, who: Who, expert_id: int, ground: int, note: str, flag_id: int | None = None) -> Removed:
    """Removal from the roster (Art. 16) with its consequences, in one transaction."""
    from core.services.responses import release_expert

    g = check_ground(SanctionKind.REMOVAL.value, ground)
    text = _note(note)
    async with uow:
        actor = await admin_actor(uow, who, "discipline.remove")
        s = uow.session
        expert = await _expert(uow, expert_id)
        flag = await _linked_flag(uow, flag_id, expert_id)
        now = uow.clock.now()
        before = expert.status
        expert.status, expert.updated_at = ExpertStatus.REMOVED.value, now
        row = Sanction(expert_id=expert_id, kind=SanctionKind.REMOVAL.value, ground=g, note=text, flag_id=flag_id,
                       decided_by=actor, decided_at=now)
        s.add(row)
        await s.flush()
        await audit.append(uow, actor, "expert.remove", "expert", expert_id, before=before, after=expert.status,
                           sanction_id=row.id, ground=g, flag_id=flag_id)
        released = await release_expert(uow, expert_id, cause="removed", actor=actor)
        ann = Announcement(kind="removal", expert_id=expert_id, published_at=now,
                           body={"name": expert.name, "work_unit": expert.work_unit, "ground": g, "date": _day(uow)})
        s.add(ann)
        await s.flush()
        await audit.append(uow, actor, "announcement.publish", "announcement", ann.id, kind=ann.kind,
                           expert_id=expert_id)
        closed = []
        others = (await s.scalars(select(Flag).where(Flag.expert_id == expert_id, Flag.status == FlagStatus.OPEN.value)
                                  .order_by(Flag.id).with_for_update())).all()
        for f in ([flag] if flag else []) + [f for f in others if flag is None or f.id != flag.id]:
            await _close(uow, f, actor, f"removal:{row.id}")
            closed.append(f.id)
        await _tell_expert(uow, expert_id, "removal_notice",
                           {"sanction_id": row.id, "ground": g, "note": text, "date": _day(uow)})
        result = Removed(row.id, ann.id, tuple(released), tuple(closed))
        await uow.commit()
    return result


async def sanctions_of(uow: UnitOfWork, who: Who, expert_id: int) -> list[SanctionView]:
    async with uow:
        await viewer_actor(uow, who, "discipline.sanctions")
        rows = (await uow.session.scalars(select(Sanction).where(Sanction.expert_id == expert_id)
                                          .order_by(Sanction.decided_at, Sanction.id))).all()
        return [SanctionView(r.id, r.expert_id, r.kind, r.ground, r.note, r.flag_id, r.decided_by, r.decided_at)
                for r in rows]
