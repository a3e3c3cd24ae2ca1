"""Art. 16(3) in the database: after each unjustified refusal, evaluate `core.refusals` over the
expert's invitations and raise a flag for the bureau. The removal decision stays human."""
from __future__ import annotations

from sqlalchemy import select

from core.db.models import Flag, Invitation, Panel
from core.db.uow import UnitOfWork
from core.enums import FlagKind, FlagStatus, InvitationStatus
from core.outbox import notify_admins
from core.refusals import Outcome, OutcomeKind, Verdict, evaluate
from core.services import audit

NO_SHOW = "no_show"  # Invitation.decline_reason of an accepted invitation the expert did not attend


def outcome_of(inv: Invitation, starts_at: object) -> Outcome | None:
    """How an invitation ended for the rule; None while it is still pending."""
    st = inv.status
    when = inv.responded_at or inv.deadline
    if st == InvitationStatus.PENDING:
        return None
    if st == InvitationStatus.ACCEPTED:
        if inv.decline_reason == NO_SHOW:
            return Outcome(inv.id, starts_at, OutcomeKind.NO_SHOW)  # type: ignore[arg-type]
        return Outcome(inv.id, when, OutcomeKind.ACCEPTED_SERVED)
    if st == InvitationStatus.DECLINED:
        kind = OutcomeKind.DECLINED_JUSTIFIED if inv.justified else OutcomeKind.DECLINED_UNJUSTIFIED
        return Outcome(inv.id, when, kind)
    if st == InvitationStatus.WITHDRAWN:
        kind = OutcomeKind.DECLINED_JUSTIFIED if inv.justified else OutcomeKind.WITHDRAWN_UNJUSTIFIED
        return Outcome(inv.id, when, kind)
    if st == InvitationStatus.EXPIRED:
        return Outcome(inv.id, inv.deadline, OutcomeKind.NO_ANSWER)
    if st == InvitationStatus.CONFLICT:
        return Outcome(inv.id, when, OutcomeKind.CONFLICT)
    return Outcome(inv.id, when, OutcomeKind.CLOSED)


async def verdict_for(uow: UnitOfWork, expert_id: int) -> Verdict:
    rows = (await uow.session.execute(
        select(Invitation, Panel.starts_at).join(Panel, Panel.id == Invitation.panel_id)
        .where(Invitation.expert_id == expert_id))).all()
    outcomes = [o for inv, starts in rows if (o := outcome_of(inv, starts)) is not None]
    rules = uow.settings.rules
    return evaluate(outcomes, limit=rules.refusal_limit, window_days=rules.refusal_window_days)


async def check(uow: UnitOfWork, expert_id: int, *, actor: str) -> int | None:
    """Raise a refusal-rule flag if the rule fires and no open one exists; returns its id."""
    verdict = await verdict_for(uow, expert_id)
    if not verdict.fired:
        return None
    s = uow.session
    open_flag = await s.scalar(select(Flag.id).where(
        Flag.expert_id == expert_id, Flag.kind == FlagKind.REFUSAL_RULE.value, Flag.status == FlagStatus.OPEN.value))
    if open_flag is not None:  # the bureau has not decided yet; that flag covers the streak
        return None
    panels = dict((await s.execute(select(Invitation.id, Invitation.panel_id).where(
        Invitation.id.in_(verdict.invitation_ids)))).all())
    rules = uow.settings.rules
    evidence = {
        "rule": "art16_3", "limit": rules.refusal_limit, "window_days": rules.refusal_window_days,
        "invitations": [{"invitation_id": o.invitation_id, "panel_id": panels.get(o.invitation_id),
                         "kind": o.kind.value, "at": o.when.isoformat()} for o in verdict.streak],
    }
    flag = Flag(expert_id=expert_id, kind=FlagKind.REFUSAL_RULE.value, status=FlagStatus.OPEN.value,
                evidence=evidence, created_at=uow.clock.now())
    s.add(flag)
    await s.flush()
    await audit.append(uow, actor, "flag.raise", "flag", flag.id, expert_id=expert_id, kind=flag.kind,
                       invitation_ids=list(verdict.invitation_ids))
    await notify_admins(uow, "flag_raised", {"flag_id": flag.id, "expert_id": expert_id, "kind": flag.kind,
                                             "count": len(verdict.streak)})
    return flag.id
