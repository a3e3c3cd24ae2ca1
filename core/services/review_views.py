"""What the bureau sees when reviewing applications (Art. 7, 8): plain values, the ID number
masked one way (first 6 + last 4), the Art. 7 pre-screen with its reasons. Admin-only."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.db.models import Application
from core.db.uow import UnitOfWork
from core.enums import ApplicationStatus
from core.errors import Forbidden, NotFound
from core.identity import mask_id_number
from core.services import audit
from core.services.accounts import Roles

SHOWN_FIELDS = ("name", "gender", "birth_month", "work_unit", "position", "title", "title_obtained", "education",
                "certificate", "years_in_field", "fields", "specialty", "unit_nature", "employed")


@dataclass(frozen=True)
class ApplicationBrief:
    id: int
    kind: str
    status: str
    name: str
    outcome: str
    submitted_at: datetime


@dataclass(frozen=True)
class ApplicationDetail:
    id: int
    kind: str
    status: str
    form: dict[str, Any]  # SHOWN_FIELDS only
    id_number_masked: str
    unit_consent: str
    prescreen: dict[str, Any]  # {"outcome": ..., "reasons": [{"code", "params"}]}
    submitted_at: datetime


async def _guard(uow: UnitOfWork, roles: Roles, subject_id: int | None, attempted: str) -> None:
    if roles.is_admin:
        return
    await audit.append(uow, roles.actor, "security.refused", "application", subject_id, attempted=attempted)
    await uow.commit()
    raise Forbidden("role.admin_required")


async def pending(uow: UnitOfWork, roles: Roles, *, limit: int = 100) -> list[ApplicationBrief]:
    """Applications waiting for a decision, oldest first."""
    async with uow:
        await _guard(uow, roles, None, "application.list")
        rows = (await uow.session.scalars(select(Application).where(Application.status == ApplicationStatus.SUBMITTED)
                                          .order_by(Application.id).limit(limit))).all()
        return [ApplicationBrief(a.id, a.kind, a.status, str((a.form or {}).get("name", "")),
                                 str((a.prescreen or {}).get("outcome", "")), a.submitted_at) for a in rows]


async def detail(uow: UnitOfWork, roles: Roles, application_id: int) -> ApplicationDetail:
    async with uow:
        await _guard(uow, roles, application_id, "application.view")
        a = await uow.session.get(Application, application_id)
        if a is None:
            raise NotFound("application.not_found", id=application_id)
        form = dict(a.form or {})
        number = str(form.get("id_number") or "")
        return ApplicationDetail(
            id=a.id, kind=a.kind, status=a.status, form={k: form[k] for k in SHOWN_FIELDS if k in form},
            id_number_masked=mask_id_number(number) if number else "", unit_consent=a.unit_consent,
            prescreen=dict(a.prescreen or {}), submitted_at=a.submitted_at,
        )
