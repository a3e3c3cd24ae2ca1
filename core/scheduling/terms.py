"""Terms (Art. 9) and the regulation's own validity (Art. 21): notices ahead, expiry at the end.

Dates are the bureau's local dates (`uow.today()`); a term's `term_end` is its last day.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select, update

from core.db.models import Application, Expert
from core.db.models.people import expert_code
from core.db.uow import UnitOfWork
from core.enums import ApplicationKind, ApplicationStatus, ExpertStatus
from core.outbox import enqueue, notify_admins
from core.scheduling import marks
from core.services import audit
from core.services.seating import expert_account

BATCH = 500
IN_TERM = (ExpertStatus.ACTIVE.value, ExpertStatus.SUSPENDED.value)
TERM, REGULATION = "term", "regulation"  # ReminderMark kinds


async def term_notices(uow: UnitOfWork) -> int:
    """The expert is told `term_expiry_days_before` the term ends, with renew / leave buttons
    (not while a renewal application is already with the bureau)."""
    days = sorted(set(uow.settings.reminders.term_expiry_days_before), reverse=True)
    if not days:
        return 0
    async with uow:
        s = uow.session
        today = uow.today()
        experts = (await s.execute(
            select(Expert.id, Expert.term_end).where(
                Expert.status.in_(IN_TERM), Expert.term_end.is_not(None), Expert.term_end >= today,
                Expert.term_end <= today + timedelta(days=days[0]))
            .order_by(Expert.term_end, Expert.id).limit(BATCH))).all()
        done = await marks.existing(uow, TERM, [e.id for e in experts])
        n = 0
        for expert_id, term_end in experts:
            left = (term_end - today).days
            due = [f"{term_end.isoformat()}:{d}" for d in days if left <= d]
            if not await marks.claim_latest(uow, TERM, expert_id, due, done[expert_id]):
                continue
            if await renewal_pending(uow, expert_id):
                continue
            acc = await expert_account(uow, expert_id)
            if acc is not None:
                await enqueue(uow, acc, "term_expiry", {"expert_id": expert_id, "term_end": term_end.isoformat(),
                                                        "days": left})
                n += 1
        await uow.commit()
    return n


async def expire_terms(uow: UnitOfWork) -> int:
    """A term past its end: the expert is expired (never drawn again), seats on panels not yet
    held are freed, the expert and the bureau are told. A renewal goes through review."""
    from core.services.responses import release_expert  # local: the panels family imports a lot

    async with uow:
        s = uow.session
        today, now = uow.today(), uow.clock.now()
        experts = (await s.execute(select(Expert).where(
            Expert.status.in_(IN_TERM), Expert.term_end.is_not(None), Expert.term_end < today)
            .order_by(Expert.id).limit(BATCH))).scalars().all()
        n = 0
        for e in experts:
            res = await s.execute(update(Expert).where(Expert.id == e.id, Expert.status.in_(IN_TERM),
                                                       Expert.term_end < today)
                                  .values(status=ExpertStatus.EXPIRED.value, updated_at=now)
                                  .execution_options(synchronize_session=False))
            if not res.rowcount:  # type: ignore[attr-defined]
                continue
            before = e.status
            await audit.append(uow, "system", "expert.expire", "expert", e.id, before=before,
                               after=ExpertStatus.EXPIRED.value, term_end=e.term_end.isoformat() if e.term_end else None)
            await release_expert(uow, e.id, cause="term_expired", actor="system")
            params = {"expert_id": e.id, "term_end": e.term_end.isoformat() if e.term_end else ""}
            acc = await expert_account(uow, e.id)
            if acc is not None:
                await enqueue(uow, acc, "term_expired", params, dedupe_key=f"term_expired:{e.id}:{params['term_end']}")
                n += 1
            n += await notify_admins(uow, "term_expired_admin", {**params, "code": expert_code(e.id), "name": e.name},
                                     dedupe_prefix=f"term_expired_admin:{e.id}:{params['term_end']}")
        await uow.commit()
    return n


async def renewal_pending(uow: UnitOfWork, expert_id: int) -> bool:
    return await uow.session.scalar(select(Application.id).where(
        Application.expert_id == expert_id, Application.kind == ApplicationKind.RENEWAL.value,
        Application.status == ApplicationStatus.SUBMITTED.value).limit(1)) is not None


# --- the regulation itself (Art. 21) -------------------------------------------------------------

def regulation_lapses_on(effective: str, years: int) -> date:
    """The day the regulation stops being valid: `years` after it took effect."""
    start = date.fromisoformat(effective)
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


async def regulation_warnings(uow: UnitOfWork) -> int:
    """Admins are warned `regulation_days_before` the regulation lapses."""
    rules = uow.settings.rules
    lapses = regulation_lapses_on(rules.regulation_effective, rules.regulation_years)
    days = sorted(set(uow.settings.reminders.regulation_days_before), reverse=True)
    async with uow:
        left = (lapses - uow.today()).days
        due = [f"{lapses.isoformat()}:{d}" for d in days if 0 <= left <= d]
        if not due:
            return 0
        done = (await marks.existing(uow, REGULATION, [0]))[0]
        if not await marks.claim_latest(uow, REGULATION, 0, due, done):
            return 0
        n = await notify_admins(uow, "regulation_expiry", {
            "effective": rules.regulation_effective, "lapses_on": lapses.isoformat(), "days": left},
            dedupe_prefix=f"regulation:{due[-1]}")
        await uow.commit()
    return n



async def term_end_of(uow: UnitOfWork, expert_id: int) -> date | None:
    """The last day of the expert's current term (for the term buttons' answers)."""
    async with uow:
        return await uow.session.scalar(select(Expert.term_end).where(Expert.id == expert_id))
