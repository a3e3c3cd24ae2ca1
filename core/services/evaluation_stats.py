"""Per-expert evaluation aggregates, commendation and review candidates, commendations (Art. 14 ¶2).

Aggregates count complete evaluations only. Attendance rate = (present + late) / evaluations.
A commendation candidate is active, has at least `rules.commendation_min_evaluations`
evaluations and every mean (业务水平, 工作态度, 质量规范) at least `rules.commendation_min_mean`,
and has not been commended since their latest evaluation. A review candidate has an open
poor-evaluation flag or is on a poor streak now (`evaluation_streak`).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from core.db.models import Account, Announcement, Commendation, Evaluation, Expert, Flag, Panel
from core.db.models.people import expert_code
from core.db.uow import UnitOfWork
from core.enums import Attendance, ExpertStatus, FlagKind, FlagStatus
from core.errors import Conflict, NotFound
from core.identity import check_text
from core.outbox import enqueue
from core.services import audit
from core.services.evaluation_streak import Rated, mean_of, poor_streak
from core.services.oversight_access import Who, admin_actor, viewer_actor

NOTE_MAX = 1000
LAST_SERVICES = 5


@dataclass(frozen=True)
class ServiceLine:
    panel_id: int
    title: str
    starts_at: datetime
    professional: int | None
    attitude: int | None
    quality: int | None
    attendance: str | None


@dataclass(frozen=True)
class Aggregate:
    expert_id: int
    code: str
    name: str
    work_unit: str
    status: str
    count: int
    professional: float | None
    attitude: float | None
    quality: float | None
    present: int
    late: int
    absent: int
    commendations: int = 0
    last_services: tuple[ServiceLine, ...] = ()
    open_flags: tuple[int, ...] = ()

    @property
    def overall(self) -> float | None:
        if not self.count:
            return None
        return round(((self.professional or 0) + (self.attitude or 0) + (self.quality or 0)) / 3, 2)

    @property
    def attendance_rate(self) -> float | None:
        return round((self.present + self.late) / self.count, 4) if self.count else None


@dataclass(frozen=True)
class CommendationCandidate:
    aggregate: Aggregate
    last_commended_at: datetime | None


@dataclass(frozen=True)
class ReviewCandidate:
    aggregate: Aggregate
    flag_id: int | None          # the open poor-evaluation flag, if any
    streak_means: tuple[float, ...]  # newest first; empty when only the flag is open


def _f(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


async def _aggregate_rows(uow: UnitOfWork, expert_ids: list[int] | None = None) -> dict[int, Aggregate]:
    E = Evaluation
    q = (select(E.expert_id, Expert.name, Expert.work_unit, Expert.status, func.count(E.id),
                func.avg(E.professional), func.avg(E.attitude), func.avg(E.quality),
                func.sum(case((E.attendance == Attendance.PRESENT.value, 1), else_=0)),
                func.sum(case((E.attendance == Attendance.LATE.value, 1), else_=0)),
                func.sum(case((E.attendance == Attendance.ABSENT.value, 1), else_=0)))
         .join(Expert, Expert.id == E.expert_id).where(E.completed_at.is_not(None))
         .group_by(E.expert_id, Expert.id, Expert.name, Expert.work_unit, Expert.status))
    if expert_ids is not None:
        q = q.where(E.expert_id.in_(expert_ids))
    out = {}
    for eid, name, unit, status, n, p, a, qv, pres, late, absent in (await uow.session.execute(q)).all():
        out[eid] = Aggregate(eid, expert_code(eid), name, unit, status, int(n), _f(p), _f(a), _f(qv),
                             int(pres or 0), int(late or 0), int(absent or 0))
    return out


async def aggregates(uow: UnitOfWork, who: Who) -> list[Aggregate]:
    """Every rated expert's aggregate, best overall mean first (admins and supervisors)."""
    async with uow:
        await viewer_actor(uow, who, "evaluation.aggregates")
        rows = list((await _aggregate_rows(uow)).values())
    return sorted(rows, key=lambda a: (-(a.overall or 0), a.expert_id))


async def expert_aggregate(uow: UnitOfWork, who: Who, expert_id: int) -> Aggregate:
    """One expert's aggregate with their last services, commendations and open flags."""
    async with uow:
        await viewer_actor(uow, who, "evaluation.expert")
        s = uow.session
        expert = await s.get(Expert, expert_id)
        if expert is None:
            raise NotFound("expert.not_found", id=expert_id)
        agg = (await _aggregate_rows(uow, [expert_id])).get(expert_id) or Aggregate(
            expert.id, expert.code, expert.name, expert.work_unit, expert.status, 0, None, None, None, 0, 0, 0)
        rows = (await s.execute(
            select(Evaluation, Panel.title, Panel.starts_at).join(Panel, Panel.id == Evaluation.panel_id)
            .where(Evaluation.expert_id == expert_id, Evaluation.completed_at.is_not(None))
            .order_by(Panel.starts_at.desc(), Evaluation.id.desc()).limit(LAST_SERVICES))).all()
        services = tuple(ServiceLine(e.panel_id, title, starts, e.professional, e.attitude, e.quality, e.attendance)
                         for e, title, starts in rows)
        n_comm = await s.scalar(select(func.count(Commendation.id)).where(Commendation.expert_id == expert_id))
        flags = (await s.scalars(select(Flag.id).where(Flag.expert_id == expert_id,
                                                       Flag.status == FlagStatus.OPEN.value).order_by(Flag.id))).all()
        return Aggregate(**{**agg.__dict__, "status": expert.status, "commendations": int(n_comm or 0),
                            "last_services": services, "open_flags": tuple(flags)})


async def commendation_candidates(uow: UnitOfWork, who: Who) -> list[CommendationCandidate]:
    rules = uow.settings.rules
    async with uow:
        await viewer_actor(uow, who, "evaluation.candidates")
        s = uow.session
        aggs = await _aggregate_rows(uow)
        last_eval = dict((await s.execute(select(Evaluation.expert_id, func.max(Evaluation.completed_at))
                                          .where(Evaluation.completed_at.is_not(None))
                                          .group_by(Evaluation.expert_id))).all())
        last_comm = dict((await s.execute(select(Commendation.expert_id, func.max(Commendation.decided_at))
                                          .group_by(Commendation.expert_id))).all())
    out = []
    for a in aggs.values():
        means = (a.professional, a.attitude, a.quality)
        if a.status != ExpertStatus.ACTIVE.value or a.count < rules.commendation_min_evaluations:
            continue
        if any(m is None or m < rules.commendation_min_mean for m in means):
            continue
        commended = last_comm.get(a.expert_id)
        if commended is not None and last_eval.get(a.expert_id) is not None and commended >= last_eval[a.expert_id]:
            continue
        out.append(CommendationCandidate(a, commended))
    return sorted(out, key=lambda c: (-(c.aggregate.overall or 0), -c.aggregate.count, c.aggregate.expert_id))


async def review_candidates(uow: UnitOfWork, who: Who) -> list[ReviewCandidate]:
    rules = uow.settings.rules
    async with uow:
        await viewer_actor(uow, who, "evaluation.candidates")
        s = uow.session
        rows = (await s.execute(
            select(Evaluation).join(Panel, Panel.id == Evaluation.panel_id)
            .where(Evaluation.completed_at.is_not(None))
            .order_by(Evaluation.expert_id, Panel.starts_at.desc(), Evaluation.id.desc()))).scalars().all()
        per: dict[int, list[Rated]] = defaultdict(list)
        for e in rows:
            per[e.expert_id].append(Rated(e.id, e.panel_id, e.invitation_id, mean_of(e), e.attendance))
        flags = dict((await s.execute(select(Flag.expert_id, func.min(Flag.id)).where(
            Flag.kind == FlagKind.POOR_EVALUATIONS.value, Flag.status == FlagStatus.OPEN.value)
            .group_by(Flag.expert_id))).all())
        streaks = {eid: poor_streak(lst, rules.poor_streak_length, rules.poor_streak_mean) for eid, lst in per.items()}
        ids = sorted({eid for eid, st in streaks.items() if st} | set(flags))
        aggs = await _aggregate_rows(uow, ids) if ids else {}
    out = [ReviewCandidate(aggs[eid], flags.get(eid), tuple(r.mean for r in streaks.get(eid, ())))
           for eid in ids if eid in aggs]
    return sorted(out, key=lambda r: (r.aggregate.overall or 0, r.aggregate.expert_id))


async def commend(uow: UnitOfWork, who: Who, expert_id: int, note: str = "") -> int:
    """Record a commendation (通报表扬): kept, announced publicly, audited; the expert is told."""
    note = check_text(note, NOTE_MAX)
    async with uow:
        actor = await admin_actor(uow, who, "evaluation.commend")
        s = uow.session
        expert = await s.get(Expert, expert_id)
        if expert is None:
            raise NotFound("expert.not_found", id=expert_id)
        if expert.status != ExpertStatus.ACTIVE.value:
            raise Conflict("oversight.not_active", status=expert.status)
        now = uow.clock.now()
        row = Commendation(expert_id=expert_id, note=note, decided_by=actor, decided_at=now)
        s.add(row)
        day = now.astimezone(uow.settings.tz).date().isoformat()
        s.add(Announcement(kind="commendation", expert_id=expert_id, published_at=now,
                           body={"name": expert.name, "work_unit": expert.work_unit, "date": day}))
        await s.flush()
        await audit.append(uow, actor, "expert.commend", "expert", expert_id, commendation_id=row.id)
        account_id = await s.scalar(select(Account.id).where(Account.expert_id == expert_id))
        if account_id is not None:
            await enqueue(uow, account_id, "commendation", {"commendation_id": row.id, "note": note, "date": day})
        commendation_id = row.id
        await uow.commit()
    return commendation_id
