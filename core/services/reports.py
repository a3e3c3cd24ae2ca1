"""Confidential reports to the bureau (Art. 10(4)): an expert reports misconduct in a service
activity. Stored as a flag for the bureau to decide; the admins are told at once. The audit
entry holds ids only, never the report's text."""
from __future__ import annotations

from core.db.models import Flag
from core.db.uow import UnitOfWork
from core.enums import FlagKind, FlagStatus
from core.errors import DomainError, Forbidden
from core.identity import check_text
from core.outbox import notify_admins
from core.services import audit
from core.services.accounts import Roles

REPORT_MAX = 3000
PREVIEW = 300


async def submit_report(uow: UnitOfWork, roles: Roles, text: str) -> int:
    """File a report; returns the flag id. `expert_id` on the flag is the reporting expert."""
    if roles.expert_id is None:
        raise Forbidden("role.expert_required")
    body = check_text(text or "", REPORT_MAX)
    if not body:
        raise DomainError("report.empty")
    async with uow:
        flag = Flag(expert_id=roles.expert_id, kind=FlagKind.REPORT.value, status=FlagStatus.OPEN.value,
                    evidence={"text": body, "reporter_expert_id": roles.expert_id}, created_at=uow.clock.now())
        uow.session.add(flag)
        await uow.session.flush()
        await audit.append(uow, roles.actor, "report.submit", "flag", flag.id, expert_id=roles.expert_id)
        preview = body if len(body) <= PREVIEW else body[:PREVIEW] + "…"
        await notify_admins(uow, "report_received", {"flag_id": flag.id, "expert_id": roles.expert_id,
                                                      "text": preview})
        await uow.commit()
    return flag.id
