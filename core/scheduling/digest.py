"""The daily digest to admins: what waits for the bureau, and the audit chain's head to publish."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core.db.models import Account, Application, AuditEntry, DirectedSelection, Expert, Flag, Outbox, Panel
from core.db.uow import UnitOfWork
from core.enums import ApplicationStatus, DirectedStatus, ExpertStatus, FlagStatus, OutboxStatus, PanelStatus
from core.outbox import notify_admins
from core.scheduling import marks

DIGEST = "digest"  # ReminderMark kind
IN_TERM = (ExpertStatus.ACTIVE.value, ExpertStatus.SUSPENDED.value)


async def digest_params(uow: UnitOfWork) -> dict[str, Any]:
    """What the bureau should look at today, and the audit chain's head (in the caller's transaction)."""
    s = uow.session

    async def count(q: Any) -> int:
        return int(await s.scalar(q) or 0)

    head = (await s.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1))).first()
    return {
        "date": uow.today().isoformat(),
        "pending_reviews": await count(select(func.count()).select_from(Application).where(
            Application.status == ApplicationStatus.SUBMITTED.value)),
        "pending_directed": await count(select(func.count()).select_from(DirectedSelection).where(
            DirectedSelection.status == DirectedStatus.PENDING.value)),
        "open_flags": await count(select(func.count()).select_from(Flag).where(Flag.status == FlagStatus.OPEN.value)),
        "panels_short": await count(select(func.count()).select_from(Panel).where(
            Panel.status == PanelStatus.SHORT.value)),
        "unreachable_experts": await count(select(func.count()).select_from(Account).join(
            Expert, Expert.id == Account.expert_id).where(Account.unreachable_at.is_not(None),
                                                          Expert.status.in_(IN_TERM))),
        "unbound_experts": await count(select(func.count()).select_from(Expert).outerjoin(
            Account, Account.expert_id == Expert.id).where(Expert.status.in_(IN_TERM), Account.id.is_(None))),
        "failed_deliveries": await count(select(func.count()).select_from(Outbox).where(
            Outbox.status == OutboxStatus.FAILED.value)),
        "audit_seq": head[0] if head else 0,
        "audit_head": head[1] if head else "0" * 64,
    }


async def daily_digest(uow: UnitOfWork) -> int:
    """Once a day from `digest_hour` (bureau time): the digest to every admin."""
    async with uow:
        local = uow.clock.now().astimezone(uow.settings.tz)
        if local.hour < uow.settings.reminders.digest_hour:
            return 0
        slot = local.date().isoformat()
        if not await marks.claim(uow, DIGEST, 0, slot):
            return 0
        n = await notify_admins(uow, "daily_digest", await digest_params(uow), dedupe_prefix=f"digest:{slot}")
        await uow.commit()
    return n
