"""Erasing a former expert's personal data on request (PIPL Art. 47), with the audit chain intact.

The chain names people by internal ids only, so blanking their rows changes no hash. What stays is
what the roster already published (Art. 9) and what past panels, evaluations and announcements need
to stay readable: name, work unit, title, fields, term history. An active expert is still serving
and has to withdraw first (Art. 10(1)).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import delete, or_, select

from core.db.models import Account, Application, ConversationState, Expert, ExpertPhoto, Outbox
from core.db.models.people import expert_code
from core.db.uow import UnitOfWork
from core.enums import ExpertStatus
from core.errors import Conflict, NotFound
from core.services import audit

# birth_month is NOT NULL (every 附件1 form has one); an erased row keeps this placeholder.
ERASED_BIRTH_MONTH = date(1900, 1, 1)
SERVING = (ExpertStatus.ACTIVE.value, ExpertStatus.SUSPENDED.value)
# Outbox kinds whose stored params may carry an expert's phone (the confirmed roster sent to the unit).
ROSTER_KINDS = ("panel_confirmed",)


async def erase_expert(uow: UnitOfWork, expert_id: int, actor: str) -> None:
    """Blank every private field of a withdrawn, expired or removed expert, in one transaction."""
    async with uow:
        s = uow.session
        expert = await s.get(Expert, expert_id, with_for_update=True)
        if expert is None:
            raise NotFound("expert.not_found", id=expert_id)
        if expert.erased_at is not None:
            raise Conflict("expert.already_erased", expert=expert.code)
        if expert.status in SERVING:
            raise Conflict("expert.erase_serving", expert=expert.code)
        _blank(expert)
        expert.erased_at = expert.updated_at = uow.clock.now()
        await s.execute(delete(ExpertPhoto).where(ExpertPhoto.expert_id == expert_id))
        account_ids = list((await s.scalars(select(Account.id).where(Account.expert_id == expert_id))).all())
        await _blank_applications(uow, expert_id, account_ids)
        if account_ids:
            await s.execute(delete(ConversationState).where(ConversationState.account_id.in_(account_ids)))
        await _scrub_rosters(uow, expert_code(expert_id))
        await audit.append(uow, actor, "expert.erase", "expert", expert_id)
        await uow.commit()


def _blank(e: Expert) -> None:
    e.id_number = None
    e.birth_month = ERASED_BIRTH_MONTH
    e.ethnicity = e.education = e.certificate = e.graduated = ""
    e.address = e.phone = e.email = ""
    e.work_history = e.achievements = ""


async def _blank_applications(uow: UnitOfWork, expert_id: int, account_ids: list[int]) -> None:
    """The application form snapshots hold the whole 附件1 form, ID number and photo included."""
    who = [Application.expert_id == expert_id] + ([Application.account_id.in_(account_ids)] if account_ids else [])
    for app in (await uow.session.scalars(select(Application).where(or_(*who)))).all():
        app.form = {"erased": True}
        app.photo = app.photo_type = None
        app.unit_consent = ""


async def _scrub_rosters(uow: UnitOfWork, code: str) -> None:
    rows = (await uow.session.scalars(select(Outbox).where(Outbox.kind.in_(ROSTER_KINDS)))).all()
    for row in rows:
        roster: list[dict[str, Any]] = list(row.params.get("roster") or [])
        if any(r.get("code") == code and r.get("phone") for r in roster):
            row.params = {**row.params, "roster": [{**r, "phone": ""} if r.get("code") == code else r
                                                   for r in roster]}
