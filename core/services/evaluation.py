"""Evaluations (Art. 14): the using unit rates each expert who served on its panel.

One evaluation per (panel, expert), keyed by the accepted invitation. Three scores 1–5
(业务水平, 工作态度, 质量规范), attendance and an optional comment. Only the requesting unit's
contacts may rate. The unit may set the values in any order (one button press at a time); the
evaluation is *complete* when the three scores and attendance are set, and stays editable for
`rules.evaluation_edit_days` after it was first completed, then it is fixed. A recorded absence
is a no-show under Art. 16(3) (`responses.record_no_show`). A complete evaluation may raise a
poor-evaluation flag (`evaluation_streak`). Aggregates, candidates and commendations live in
`evaluation_stats` and are re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.db.models import Evaluation, Expert, Invitation, Panel
from core.db.uow import UnitOfWork
from core.enums import Attendance, InvitationStatus, PanelStatus
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.identity import check_text
from core.services import audit, refusal_rule
from core.services.accounts import Roles
from core.services.evaluation_stats import (  # noqa: F401  (re-exported: the evaluation family's API)
    Aggregate,
    CommendationCandidate,
    ReviewCandidate,
    ServiceLine,
    aggregates,
    commend,
    commendation_candidates,
    expert_aggregate,
    review_candidates,
)
from core.services.evaluation_streak import check_streak

__all__ = [
    "Aggregate", "CommendationCandidate", "EvaluationCard", "RateResult", "ReviewCandidate", "ServiceLine",
    "aggregates", "card", "commend", "commendation_candidates", "editable_card", "expert_aggregate",
    "pending_for_unit", "rate", "record", "review_candidates",
]

SCORES = ("professional", "attitude", "quality")
COMMENT_MAX = 1000
RATABLE_PANEL = (PanelStatus.COMPLETED.value, PanelStatus.EVALUATED.value)


@dataclass(frozen=True)
class EvaluationCard:
    """The current state of one evaluation, for the unit's rating card."""

    invitation_id: int
    panel_id: int
    panel_title: str
    starts_at: datetime
    expert_id: int
    expert_code: str
    expert_name: str
    professional: int | None
    attitude: int | None
    quality: int | None
    attendance: str | None
    comment: str
    complete: bool
    editable_until: datetime | None  # None until first completed
    fixed: bool


@dataclass(frozen=True)
class RateResult:
    card: EvaluationCard
    changed: bool
    flag_id: int | None = None       # a poor-evaluation flag raised by this rating
    no_show_flag_id: int | None = None  # a refusal-rule flag raised by a recorded absence


def _complete(ev: Evaluation | None) -> bool:
    return ev is not None and None not in (ev.professional, ev.attitude, ev.quality, ev.attendance)


def _until(uow: UnitOfWork, ev: Evaluation | None) -> datetime | None:
    if ev is None or ev.completed_at is None:
        return None
    return ev.completed_at + timedelta(days=uow.settings.rules.evaluation_edit_days)


def _card(uow: UnitOfWork, inv: Invitation, panel: Panel, expert: Expert, ev: Evaluation | None) -> EvaluationCard:
    until = _until(uow, ev)
    return EvaluationCard(
        invitation_id=inv.id, panel_id=panel.id, panel_title=panel.title, starts_at=panel.starts_at,
        expert_id=expert.id, expert_code=expert.code, expert_name=expert.name,
        professional=ev.professional if ev else None, attitude=ev.attitude if ev else None,
        quality=ev.quality if ev else None, attendance=ev.attendance if ev else None,
        comment=ev.comment if ev else "", complete=_complete(ev), editable_until=until,
        fixed=until is not None and uow.clock.now() >= until,
    )


async def _load(uow: UnitOfWork, invitation_id: int, *, lock: bool = False) -> tuple[Invitation, Panel, Expert, Evaluation | None] | None:
    s = uow.session
    inv = await s.get(Invitation, invitation_id, with_for_update=lock)
    if inv is None:
        return None
    panel = await s.get(Panel, inv.panel_id)
    expert = await s.get(Expert, inv.expert_id)
    assert panel is not None and expert is not None
    ev = await s.scalar(select(Evaluation).where(Evaluation.invitation_id == inv.id))
    return inv, panel, expert, ev


async def card(uow: UnitOfWork, invitation_id: int) -> EvaluationCard:
    """The rating card's state (for the prompt the scheduler sends to the unit's contact)."""
    async with uow:
        loaded = await _load(uow, invitation_id)
        if loaded is None:
            raise NotFound("evaluation.not_found", id=invitation_id)
        return _card(uow, *loaded)


def _served(uow: UnitOfWork, inv: Invitation, panel: Panel) -> bool:
    if inv.status != InvitationStatus.ACCEPTED.value:
        return False
    if panel.status in RATABLE_PANEL:
        return True
    return panel.status == PanelStatus.CONFIRMED.value and panel.ends_at <= uow.clock.now()


def _validate(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name in SCORES:
            try:
                score = int(value)
            except (TypeError, ValueError):
                raise DomainError("evaluation.bad_score", value=str(value)[:20]) from None
            if not 1 <= score <= 5:
                raise DomainError("evaluation.bad_score", value=str(score))
            out[name] = score
        elif name == "attendance":
            if value not in {a.value for a in Attendance}:
                raise DomainError("evaluation.bad_attendance", value=str(value)[:20])
            out[name] = str(value)
        elif name == "comment":
            out[name] = check_text(str(value), COMMENT_MAX)
        else:
            raise DomainError("evaluation.bad_field", value=name[:20])
    return out


async def _refuse(uow: UnitOfWork, roles: Roles, invitation_id: int, why: str) -> None:
    await audit.append(uow, roles.actor, "security.refused", "invitation", invitation_id,
                       attempted="evaluation.rate", why=why)
    await uow.commit()


async def _authorize(uow: UnitOfWork, roles: Roles, invitation_id: int, *,
                     lock: bool = False) -> tuple[Invitation, Panel, Expert, Evaluation | None]:
    """The evaluation's rows if the caller may change it now; refusals of intruders are audited."""
    loaded = await _load(uow, invitation_id, lock=lock)
    if loaded is None:
        await _refuse(uow, roles, invitation_id, "not_found")
        raise NotFound("evaluation.not_found", id=invitation_id)
    inv, panel, expert, ev = loaded
    if roles.contact_id is None or roles.unit_id != panel.unit_id:
        await _refuse(uow, roles, invitation_id, "not_requesting_unit")
        raise Forbidden("evaluation.not_yours")
    if not _served(uow, inv, panel):
        raise Conflict("evaluation.not_served", status=inv.status)
    until = _until(uow, ev)
    if until is not None and uow.clock.now() >= until:
        raise Conflict("evaluation.fixed", days=uow.settings.rules.evaluation_edit_days)
    return loaded


async def editable_card(uow: UnitOfWork, roles: Roles, invitation_id: int) -> EvaluationCard:
    """The card, if the caller may still change this evaluation (e.g. before asking for a comment)."""
    async with uow:
        return _card(uow, *await _authorize(uow, roles, invitation_id))


async def rate(uow: UnitOfWork, roles: Roles, invitation_id: int, **changes: Any) -> RateResult:
    """Set some of professional / attitude / quality (1–5), attendance (present|absent|late) and
    comment on the evaluation of one served invitation. Idempotent: setting the same values
    again changes nothing and writes no audit row."""
    values = _validate(changes)
    async with uow:
        inv, panel, expert, ev = await _authorize(uow, roles, invitation_id, lock=True)
        now = uow.clock.now()
        was_complete = _complete(ev)
        before_attendance = ev.attendance if ev else None
        if ev is None:
            ev = Evaluation(panel_id=panel.id, expert_id=expert.id, invitation_id=inv.id, comment="",
                            rated_by=roles.actor, created_at=now, updated_at=now)
            uow.session.add(ev)
        changed = {k: v for k, v in values.items() if getattr(ev, k) != v}
        if not changed:
            return RateResult(_card(uow, inv, panel, expert, ev), changed=False)
        for k, v in changed.items():
            setattr(ev, k, v)
        ev.rated_by, ev.updated_at = roles.actor, now
        if _complete(ev) and ev.completed_at is None:
            ev.completed_at = now
        await uow.session.flush()
        shown = {k: v for k, v in changed.items() if k != "comment"}
        if "comment" in changed:
            shown["comment_length"] = len(changed["comment"])
        await audit.append(uow, roles.actor, "evaluation.edit" if was_complete else "evaluation.rate",
                           "evaluation", ev.id, panel_id=panel.id, expert_id=expert.id,
                           invitation_id=inv.id, complete=_complete(ev), **shown)
        no_show_flag = await _attendance_effects(uow, roles, inv, before_attendance, ev.attendance)
        flag_id = None
        if _complete(ev):
            flag_id = await check_streak(uow, expert.id, actor=roles.actor)
            await _maybe_evaluated(uow, panel, roles.actor)
        result = RateResult(_card(uow, inv, panel, expert, ev), True, flag_id, no_show_flag)
        await uow.commit()
    return result


async def record(
    uow: UnitOfWork, roles: Roles, invitation_id: int, *, professional: int, attitude: int, quality: int,
    attendance: str, comment: str = "",
) -> RateResult:
    """The whole evaluation at once (same rules as `rate`)."""
    return await rate(uow, roles, invitation_id, professional=professional, attitude=attitude, quality=quality,
                      attendance=attendance, comment=comment)


async def _attendance_effects(uow: UnitOfWork, roles: Roles, inv: Invitation, before: str | None,
                              after: str | None) -> int | None:
    """An absence is a no-show (Art. 16(3)); correcting it within the edit window takes it back."""
    if after == before:
        return None
    if after == Attendance.ABSENT.value:
        from core.services.responses import record_no_show

        return await record_no_show(uow, inv.id, roles.actor)
    if before == Attendance.ABSENT.value and inv.decline_reason == refusal_rule.NO_SHOW:
        inv.decline_reason, inv.justified = None, None
        await uow.session.flush()
        await audit.append(uow, roles.actor, "invitation.no_show_revoked", "invitation", inv.id,
                           panel_id=inv.panel_id, expert_id=inv.expert_id)
    return None


async def _maybe_evaluated(uow: UnitOfWork, panel: Panel, actor: str) -> None:
    """A finished panel whose every served expert has a complete evaluation becomes `evaluated`."""
    if panel.status not in (PanelStatus.COMPLETED.value, PanelStatus.CONFIRMED.value):
        return
    s = uow.session
    served = set((await s.scalars(select(Invitation.id).where(
        Invitation.panel_id == panel.id, Invitation.status == InvitationStatus.ACCEPTED.value))).all())
    done = set((await s.scalars(select(Evaluation.invitation_id).where(
        Evaluation.panel_id == panel.id, Evaluation.completed_at.is_not(None)))).all())
    if served and served <= done:
        before = panel.status
        panel.status, panel.updated_at = PanelStatus.EVALUATED.value, uow.clock.now()
        if panel.completed_at is None:
            panel.completed_at = panel.ends_at
        await audit.append(uow, actor, "panel.status", "panel", panel.id, before=before, after=panel.status)


async def pending_for_unit(uow: UnitOfWork, roles: Roles) -> list[EvaluationCard]:
    """Served invitations of the caller's unit's panels not yet completely rated (for /evaluate)."""
    if roles.unit_id is None or roles.contact_id is None:
        raise Forbidden("evaluation.not_yours")
    async with uow:
        s = uow.session
        rows = (await s.execute(
            select(Invitation, Panel, Expert).join(Panel, Panel.id == Invitation.panel_id)
            .join(Expert, Expert.id == Invitation.expert_id)
            .where(Panel.unit_id == roles.unit_id, Panel.status.in_(RATABLE_PANEL),
                   Invitation.status == InvitationStatus.ACCEPTED.value)
            .order_by(Panel.starts_at, Invitation.id))).all()
        evs = {e.invitation_id: e for e in (await s.scalars(select(Evaluation).where(
            Evaluation.invitation_id.in_([i.id for i, _, _ in rows])))).all()} if rows else {}
        return [_card(uow, i, p, x, evs.get(i.id)) for i, p, x in rows if not _complete(evs.get(i.id))]
