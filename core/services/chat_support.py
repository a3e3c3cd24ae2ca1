"""Reads the chat adapter needs that no other service offers: an expert's own profile (/me),
the invitee's view of an invitation for delivery, a recommendation behind a /start link, and
the accounts whose command menus to set at start-up."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, or_, select

from core.db.models import Account, Category, Evaluation, Expert, Invitation, Panel, Recommendation, UsingUnit
from core.db.models.people import expert_code
from core.db.uow import UnitOfWork
from core.enums import Attendance, InvitationStatus, PanelStatus
from core.errors import Forbidden, NotFound
from core.identity import mask_id_number
from core.services.accounts import Roles, roles_of
from core.services.panel_views import InvitationView, invitation_view


@dataclass(frozen=True)
class Profile:
    """What an expert sees of himself: his form fields (ID number masked), term and record."""

    expert_id: int
    code: str
    status: str
    name: str
    gender: str
    birth_month: date
    id_masked: str
    work_unit: str
    position: str
    title: str
    unit_nature: str
    phone: str
    email: str
    fields_zh: tuple[str, ...]
    fields_en: tuple[str, ...]
    term_start: date | None
    term_end: date | None
    services: int           # accepted invitations whose meeting has begun
    pending: int            # invitations waiting for his answer
    evaluations: int        # complete evaluations
    professional: float | None
    attitude: float | None
    quality: float | None
    attended: int           # present or late
    unavailable: tuple[date, ...]


def _mean(v: object) -> float | None:
    return None if v is None else round(float(v), 2)  # type: ignore[arg-type]


async def my_profile(uow: UnitOfWork, roles: Roles) -> Profile:
    if roles.expert_id is None:
        raise Forbidden("role.expert_required")
    from core.services.availability import upcoming

    async with uow:
        s = uow.session
        e = await s.get(Expert, roles.expert_id)
        if e is None:
            raise NotFound("expert.not_found", id=roles.expert_id)
        cats = (await s.execute(select(Category.name_zh, Category.name_en).where(
            Category.id.in_([c.category_id for c in e.categories])).order_by(Category.position))).all()
        now = uow.clock.now()
        services = await s.scalar(select(func.count(Invitation.id)).join(Panel, Panel.id == Invitation.panel_id).where(
            Invitation.expert_id == e.id, Invitation.status == InvitationStatus.ACCEPTED.value,
            Panel.starts_at <= now, Panel.status != PanelStatus.CANCELLED.value))
        pending = await s.scalar(select(func.count(Invitation.id)).where(
            Invitation.expert_id == e.id, Invitation.status == InvitationStatus.PENDING.value))
        ev = (await s.execute(select(
            func.count(Evaluation.id), func.avg(Evaluation.professional), func.avg(Evaluation.attitude),
            func.avg(Evaluation.quality),
            func.sum(case((Evaluation.attendance.in_([Attendance.PRESENT.value, Attendance.LATE.value]), 1), else_=0)),
        ).where(Evaluation.expert_id == e.id, Evaluation.completed_at.is_not(None)))).one()
        days = await upcoming(uow, e.id)
        return Profile(
            expert_id=e.id, code=expert_code(e.id), status=e.status, name=e.name, gender=e.gender,
            birth_month=e.birth_month, id_masked=mask_id_number(e.id_number) if e.id_number else "-",
            work_unit=e.work_unit, position=e.position, title=e.title, unit_nature=e.unit_nature, phone=e.phone,
            email=e.email, fields_zh=tuple(z for z, _ in cats), fields_en=tuple(n for _, n in cats),
            term_start=e.term_start, term_end=e.term_end, services=int(services or 0), pending=int(pending or 0),
            evaluations=int(ev[0] or 0), professional=_mean(ev[1]), attitude=_mean(ev[2]), quality=_mean(ev[3]),
            attended=int(ev[4] or 0), unavailable=tuple(days),
        )


async def invitee_view(uow: UnitOfWork, invitation_id: int) -> InvitationView | None:
    """The invitation as its invitee sees it (for delivering the invitation message), or None
    when the invitation or the invitee's chat account no longer exists."""
    async with uow:
        s = uow.session
        expert_id = await s.scalar(select(Invitation.expert_id).where(Invitation.id == invitation_id))
        acc = await s.scalar(select(Account).where(Account.expert_id == expert_id)) if expert_id else None
        if acc is None:
            return None
        roles = await roles_of(uow, acc)
    return await invitation_view(uow, roles, invitation_id)


async def expert_status(uow: UnitOfWork, expert_id: int) -> str | None:
    async with uow:
        return await uow.session.scalar(select(Expert.status).where(Expert.id == expert_id))


@dataclass(frozen=True)
class CategoryInfo:
    id: int
    code: str
    name_zh: str
    name_en: str


async def active_categories(uow: UnitOfWork) -> list[CategoryInfo]:
    """The active professional fields in form order, as plain values (safe after the session)."""
    async with uow:
        rows = (await uow.session.execute(select(Category.id, Category.code, Category.name_zh, Category.name_en)
                                          .where(Category.active.is_(True)).order_by(Category.position))).all()
    return [CategoryInfo(*r) for r in rows]


@dataclass(frozen=True)
class RecommendationInfo:
    code: str
    candidate_name: str
    unit_name: str
    used: bool
    created_at: datetime


async def recommendation(uow: UnitOfWork, code: str) -> RecommendationInfo | None:
    """The unit recommendation behind a `/start rXXXX` link, or None."""
    async with uow:
        row = (await uow.session.execute(
            select(Recommendation, UsingUnit.name).join(UsingUnit, UsingUnit.id == Recommendation.unit_id)
            .where(Recommendation.code == code.strip()))).first()
        if row is None:
            return None
        rec, unit = row
        return RecommendationInfo(rec.code, rec.candidate_name, unit, rec.used_at is not None, rec.created_at)


async def accounts_with_roles(uow: UnitOfWork, *, limit: int = 10_000) -> list[tuple[int, Roles]]:
    """(telegram id, roles) of every account holding a role, for setting command menus."""
    async with uow:
        accs = (await uow.session.scalars(select(Account).where(or_(
            Account.expert_id.is_not(None), Account.contact_id.is_not(None), Account.is_admin.is_(True),
            Account.is_supervisor.is_(True))).order_by(Account.id).limit(limit))).all()
        return [(a.telegram_id, await roles_of(uow, a)) for a in accs]
