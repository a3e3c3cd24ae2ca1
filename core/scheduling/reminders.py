"""Invitation, meeting and evaluation reminders, and the render-time relevance check.

Every due-rule here, in terms.py and digest.py is `async (uow) -> int` (messages queued), one
transaction, re-derived from the database every tick. A rule claims what it acts on — a
`ReminderMark` (marks.py) or a conditional UPDATE — in the same transaction as the outbox rows
it writes, so a reminder fires once, never before it is due, and still fires (once) after a
restart that slept through it. When several slots of one subject fell due together (the
process was down), only the latest is sent; the stale ones are marked handled.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, select, update

from core.db.models import Evaluation, Expert, Invitation, Panel
from core.db.uow import UnitOfWork
from core.enums import OPEN_PANEL_STATUSES, ExpertStatus, InvitationStatus, PanelStatus
from core.outbox import enqueue
from core.scheduling import marks
from core.scheduling.terms import IN_TERM, renewal_pending
from core.services.seating import expert_account, matter_params, unit_accounts

BATCH = 500
GONE = (ExpertStatus.WITHDRAWN.value, ExpertStatus.REMOVED.value, ExpertStatus.EXPIRED.value)
OPEN = tuple(s.value for s in OPEN_PANEL_STATUSES)
EVALUATION_HORIZON_DAYS = 60  # prompts are not derived for panels that ended longer ago
MEETING, EVALUATION = "meeting", "evaluation"  # ReminderMark kinds


def _hours(h: float) -> str:
    return f"{h:g}h"


# --- invitations -------------------------------------------------------------------------------

async def nudge_invitations(uow: UnitOfWork) -> int:
    """A silent invitee is nudged once when `nudge_fraction` of the response time is left."""
    frac = uow.settings.reminders.nudge_fraction
    async with uow:
        s = uow.session
        now = uow.clock.now()
        rows = (await s.execute(
            select(Invitation, Panel).join(Panel, Panel.id == Invitation.panel_id)
            .join(Expert, Expert.id == Invitation.expert_id)
            .where(Invitation.status == InvitationStatus.PENDING.value, Invitation.nudged_at.is_(None),
                   Invitation.deadline > now, Panel.status.in_(OPEN), Expert.status.not_in(GONE))
            .order_by(Invitation.deadline, Invitation.id).limit(BATCH))).all()
        n = 0
        for inv, panel in rows:
            if now < inv.deadline - (inv.deadline - inv.invited_at) * frac:
                continue
            claimed = await s.execute(update(Invitation).where(
                Invitation.id == inv.id, Invitation.status == InvitationStatus.PENDING.value,
                Invitation.nudged_at.is_(None)).values(nudged_at=now))
            if not claimed.rowcount:  # type: ignore[attr-defined]
                continue
            acc = await expert_account(uow, inv.expert_id)
            if acc is not None:
                await enqueue(uow, acc, "invitation_nudge",
                              {**await matter_params(uow, panel), "invitation_id": inv.id,
                               "deadline": inv.deadline.isoformat(), "replacement": inv.replacement_of is not None},
                              dedupe_key=f"nudge:{inv.id}")
                n += 1
        await uow.commit()
    return n


# --- meetings ----------------------------------------------------------------------------------

async def meeting_reminders(uow: UnitOfWork) -> int:
    """Accepted experts are reminded `meeting_hours_before` the start, with time and place."""
    hours = sorted(set(uow.settings.reminders.meeting_hours_before), reverse=True)
    if not hours:
        return 0
    async with uow:
        s = uow.session
        now = uow.clock.now()
        rows = (await s.execute(
            select(Invitation, Panel).join(Panel, Panel.id == Invitation.panel_id)
            .join(Expert, Expert.id == Invitation.expert_id)
            .where(Invitation.status == InvitationStatus.ACCEPTED.value, Panel.status.in_(OPEN),
                   Panel.starts_at > now, Panel.starts_at <= now + timedelta(hours=hours[0]),
                   Expert.status.not_in(GONE))
            .order_by(Panel.starts_at, Invitation.id).limit(BATCH))).all()
        done = await marks.existing(uow, MEETING, [inv.id for inv, _ in rows])
        n = 0
        for inv, panel in rows:
            due = [h for h in hours if panel.starts_at - timedelta(hours=h) <= now]
            if not await marks.claim_latest(uow, MEETING, inv.id, [_hours(h) for h in due], done[inv.id]):
                continue
            point = panel.starts_at - timedelta(hours=due[-1])
            if inv.responded_at is not None and inv.responded_at > point:
                continue  # accepted after this reminder's time: they know
            acc = await expert_account(uow, inv.expert_id)
            if acc is not None:
                await enqueue(uow, acc, "meeting_reminder", {
                    "invitation_id": inv.id, "panel_id": panel.id, "title": panel.title,
                    "starts_at": panel.starts_at.isoformat(), "ends_at": panel.ends_at.isoformat(),
                    "location": panel.location, "hours": due[-1]})
                n += 1
        await uow.commit()
    return n


# --- evaluations (Art. 14) -----------------------------------------------------------------------

async def evaluation_prompts(uow: UnitOfWork) -> int:
    """After the panel's end the unit is asked to rate each expert who served (one prompt per
    expert), then reminded `evaluation_followup_days` after the end while it is not complete."""
    days = sorted(set(uow.settings.reminders.evaluation_followup_days))
    async with uow:
        s = uow.session
        now = uow.clock.now()
        rows = (await s.execute(
            select(Invitation, Panel).join(Panel, Panel.id == Invitation.panel_id)
            .join(Expert, Expert.id == Invitation.expert_id)
            .outerjoin(Evaluation, Evaluation.invitation_id == Invitation.id)
            .where(Invitation.status == InvitationStatus.ACCEPTED.value,
                   Panel.status.in_([PanelStatus.COMPLETED.value, PanelStatus.CONFIRMED.value]),
                   Panel.ends_at <= now, Panel.ends_at > now - timedelta(days=EVALUATION_HORIZON_DAYS),
                   Expert.status.not_in((ExpertStatus.WITHDRAWN.value, ExpertStatus.REMOVED.value)),
                   Evaluation.completed_at.is_(None))
            .order_by(Panel.ends_at, Invitation.id).limit(BATCH))).all()
        done = await marks.existing(uow, EVALUATION, [inv.id for inv, _ in rows])
        n = 0
        for inv, panel in rows:
            slots = [("prompt", panel.ends_at)] + [(f"d{d}", panel.ends_at + timedelta(days=d)) for d in days]
            due = [name for name, at in slots if at <= now]
            if not await marks.claim_latest(uow, EVALUATION, inv.id, due, done[inv.id]):
                continue
            kind = "evaluation_prompt" if due[-1] == "prompt" else "evaluation_followup"
            params: dict[str, Any] = {"panel_id": panel.id, "expert_id": inv.expert_id, "invitation_id": inv.id}
            if kind == "evaluation_followup":
                params["days"] = int(due[-1][1:])
            for acc in await unit_accounts(uow, panel):
                await enqueue(uow, acc, kind, params)
                n += 1
        await uow.commit()
    return n


# --- render-time checks (the notifier skips messages that became obsolete) -----------------------

async def still_relevant(uow: UnitOfWork, kind: str, params: dict[str, Any]) -> bool:
    """False when a queued reminder no longer applies (answered, cancelled, renewed, left …)."""
    async with uow:
        s = uow.session
        now = uow.clock.now()
        if kind in ("invitation_nudge", "meeting_reminder"):
            row = (await s.execute(select(Invitation.status, Invitation.deadline, Panel.status, Panel.starts_at)
                                   .join(Panel, Panel.id == Invitation.panel_id)
                                   .where(Invitation.id == int(params["invitation_id"])))).first()
            if row is None or row[2] not in OPEN or row[3] <= now:
                return False
            if kind == "invitation_nudge":
                return row[0] == InvitationStatus.PENDING.value and row[1] > now
            return row[0] == InvitationStatus.ACCEPTED.value
        if kind == "term_expiry":
            expert = await s.get(Expert, int(params["expert_id"]))
            return (expert is not None and expert.status in IN_TERM and expert.term_end is not None
                    and expert.term_end.isoformat() == params.get("term_end")
                    and not await renewal_pending(uow, expert.id))
        if kind in ("evaluation_prompt", "evaluation_followup"):
            done = await s.scalar(select(Evaluation.id).where(
                and_(Evaluation.invitation_id == int(params["invitation_id"]), Evaluation.completed_at.is_not(None))))
            return done is None
    return True
