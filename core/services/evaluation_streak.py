"""A poor evaluation streak: the expert's last `rules.poor_streak_length` complete evaluations all
have a mean score (of 业务水平, 工作态度, 质量规范) below `rules.poor_streak_mean`.

The system raises one `poor_evaluations` flag per streak for the bureau to decide (Art. 14
"动态调整"); it never sanctions by itself. A streak already covered by a flag (open, or closed
after a decision) raises nothing new until a newer poor evaluation extends it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import select

from core.db.models import Evaluation, Flag, Panel
from core.db.uow import UnitOfWork
from core.enums import FlagKind, FlagStatus
from core.outbox import notify_admins
from core.services import audit


@dataclass(frozen=True)
class Rated:
    evaluation_id: int
    panel_id: int
    invitation_id: int
    mean: float
    attendance: str | None


def mean_of(ev: Evaluation) -> float:
    return round(((ev.professional or 0) + (ev.attitude or 0) + (ev.quality or 0)) / 3, 2)


def poor_streak(newest_first: Sequence[Rated], length: int, threshold: float) -> tuple[Rated, ...]:
    """The streak (newest first) when the last `length` evaluations are all poor, else ()."""
    last = tuple(newest_first[:length])
    if len(last) == length and all(r.mean < threshold for r in last):
        return last
    return ()


async def rated_newest_first(uow: UnitOfWork, expert_id: int, limit: int) -> list[Rated]:
    rows = (await uow.session.execute(
        select(Evaluation).join(Panel, Panel.id == Evaluation.panel_id)
        .where(Evaluation.expert_id == expert_id, Evaluation.completed_at.is_not(None))
        .order_by(Panel.starts_at.desc(), Evaluation.id.desc()).limit(limit))).scalars().all()
    return [Rated(e.id, e.panel_id, e.invitation_id, mean_of(e), e.attendance) for e in rows]


def _covered(flags: Iterable[Flag], newest_id: int) -> bool:
    for f in flags:
        if f.status == FlagStatus.OPEN.value:
            return True
        ids = {item.get("evaluation_id") for item in (f.evidence or {}).get("evaluations", [])}
        if newest_id in ids:
            return True
    return False


async def check_streak(uow: UnitOfWork, expert_id: int, *, actor: str) -> int | None:
    """In the caller's transaction: raise a poor-evaluation flag if a new streak appeared."""
    rules = uow.settings.rules
    streak = poor_streak(await rated_newest_first(uow, expert_id, rules.poor_streak_length),
                         rules.poor_streak_length, rules.poor_streak_mean)
    if not streak:
        return None
    s = uow.session
    flags = (await s.scalars(select(Flag).where(
        Flag.expert_id == expert_id, Flag.kind == FlagKind.POOR_EVALUATIONS.value))).all()
    if _covered(flags, streak[0].evaluation_id):
        return None
    evidence = {
        "rule": "poor_streak", "length": rules.poor_streak_length, "threshold": rules.poor_streak_mean,
        "evaluations": [{"evaluation_id": r.evaluation_id, "panel_id": r.panel_id,
                         "invitation_id": r.invitation_id, "mean": r.mean, "attendance": r.attendance}
                        for r in streak],
    }
    flag = Flag(expert_id=expert_id, kind=FlagKind.POOR_EVALUATIONS.value, status=FlagStatus.OPEN.value,
                evidence=evidence, created_at=uow.clock.now())
    s.add(flag)
    await s.flush()
    await audit.append(uow, actor, "flag.raise", "flag", flag.id, expert_id=expert_id, kind=flag.kind,
                       evaluation_ids=[r.evaluation_id for r in streak])
    await notify_admins(uow, "poor_evaluations_flag", {"flag_id": flag.id, "expert_id": expert_id,
                                                       "count": len(streak),
                                                       "threshold": rules.poor_streak_mean})
    return flag.id
