"""Enrolment (Art. 8–10): applications, unit recommendations, review, terms, renewal, withdrawal."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from core.conflicts import normalize_unit_name
from core.db.models import (
    Account,
    Application,
    Category,
    Contact,
    Expert,
    ExpertCategory,
    ExpertPhoto,
    PreviousUnit,
    Recommendation,
    Term,
)
from core.db.uow import UnitOfWork
from core.eligibility import prescreen
from core.enums import ApplicationKind, ApplicationStatus, ExpertStatus, TermKind
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.forms import ApplicationForm, FormContext, parse_application
from core.identity import check_text
from core.outbox import enqueue, notify_admins
from core.services import audit
from core.services.accounts import Roles

PHOTO_MAX_BYTES = 10 * 1024 * 1024


def term_end_for(start: date, years: int) -> date:
    """A term of `years` years: 2026-11-02 → 2029-11-01 (29 Feb starts end on 28 Feb)."""
    try:
        end = start.replace(year=start.year + years)
    except ValueError:
        end = start.replace(year=start.year + years, day=28)
    return date.fromordinal(end.toordinal() - 1)


async def form_context(uow: UnitOfWork, lang: str = "zh") -> FormContext:
    cats = (await uow.session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.position))).all()
    return FormContext.from_categories(cats, today=uow.today(), max_fields=uow.settings.rules.max_fields, lang=lang)


def sniff_image(data: bytes) -> str | None:
    """Content type from magic bytes, or None when this is not a JPEG/PNG/WebP image."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_photo(data: bytes) -> str:
    if len(data) > PHOTO_MAX_BYTES:
        raise DomainError("photo.too_large", max_mb=PHOTO_MAX_BYTES // (1024 * 1024))
    kind = sniff_image(data)
    if kind is None:
        raise DomainError("photo.not_image")
    return kind


async def write_expert(uow: UnitOfWork, expert: Expert | None, form: ApplicationForm) -> Expert:
    """Create or update an expert from a validated form (fields, mask, previous units)."""
    s = uow.session
    now = uow.clock.now()
    cats = {c.code: c.id for c in (await s.scalars(select(Category))).all()}
    if expert is None:
        expert = Expert(status=ExpertStatus.ACTIVE, created_at=now, field_mask=0, categories=[])
        s.add(expert)
    expert.name = form.name
    expert.gender = form.gender
    expert.birth_month = form.birth_month
    expert.ethnicity = form.ethnicity
    expert.education = form.education
    expert.id_number = form.id_number
    expert.work_unit = form.work_unit
    expert.work_unit_norm = normalize_unit_name(form.work_unit)
    expert.position = form.position
    expert.certificate = form.certificate
    expert.employed = form.employed
    expert.unit_nature = form.unit_nature
    expert.title = form.title
    expert.title_obtained = form.title_obtained
    expert.specialty = form.specialty
    expert.graduated = form.graduated
    expert.address = form.address
    expert.phone = form.phone
    expert.email = form.email
    expert.years_in_field = form.years_in_field
    expert.work_history = form.work_history
    expert.achievements = form.achievements
    expert.updated_at = now
    ids = [cats[c] for c in form.fields]
    expert.field_mask = sum(1 << i for i in ids)
    await s.flush()
    existing = {ec.category_id: ec for ec in expert.categories}
    for cid in ids:
        if cid not in existing:
            expert.categories.append(ExpertCategory(category_id=cid))
    for cid, ec in existing.items():
        if cid not in ids:
            expert.categories.remove(ec)
    old_units = (await s.scalars(select(PreviousUnit).where(PreviousUnit.expert_id == expert.id))).all()
    for pu in old_units:
        await s.delete(pu)
    for pu in form.previous_units:
        s.add(PreviousUnit(expert_id=expert.id, name=pu.name, name_norm=normalize_unit_name(pu.name),
                           uscc=pu.uscc, left_on=pu.left_on))
    await s.flush()
    return expert


async def start_term(uow: UnitOfWork, expert: Expert, start: date, kind: TermKind, application_id: int | None = None) -> Term:
    end = term_end_for(start, uow.settings.rules.term_years)
    term = Term(expert_id=expert.id, starts_on=start, ends_on=end, kind=kind, application_id=application_id,
                created_at=uow.clock.now())
    uow.session.add(term)
    expert.term_start, expert.term_end = start, end
    expert.status = ExpertStatus.ACTIVE
    await uow.session.flush()
    return term


@dataclass(frozen=True)
class Submitted:
    application_id: int
    outcome: str  # the Art. 7 pre-screen outcome


async def submit_application(
    uow: UnitOfWork,
    roles: Roles,
    form_data: dict[str, Any],
    *,
    commitment_accepted: bool,
    sensitive_consent: bool,
    unit_consent: str,
    photo: bytes | None = None,
    recommendation_code: str | None = None,
) -> Submitted:
    """Validate the 附件1 form and the 附件2 commitment; queue the application for review."""
    if not commitment_accepted:
        raise DomainError("application.commitment_required")
    if not sensitive_consent:
        raise DomainError("application.consent_required")
    consent = check_text(unit_consent, 500)
    if not consent:
        raise DomainError("application.unit_consent_required")
    photo_type = check_photo(photo) if photo is not None else None
    async with uow:
        s = uow.session
        form = parse_application(form_data, await form_context(uow))
        await _refuse_duplicates(uow, form.id_number)
        rec = None
        if recommendation_code:
            rec = await s.scalar(select(Recommendation).where(Recommendation.code == recommendation_code))
            if rec is None:
                raise NotFound("recommendation.invalid")
            rec.used_at = uow.clock.now()
        pre = prescreen(title=form.title, certificate=form.certificate, years_in_field=form.years_in_field,
                        education=form.education, work_history=form.work_history)
        now = uow.clock.now()
        app = Application(
            kind=ApplicationKind.RECOMMENDED if rec else ApplicationKind.SELF,
            status=ApplicationStatus.SUBMITTED, account_id=roles.account_id,
            recommendation_id=rec.id if rec else None, form=form.model_dump(mode="json"),
            photo=photo, photo_type=photo_type, commitment_accepted_at=now, sensitive_consent_at=now,
            unit_consent=consent, prescreen=_prescreen_json(pre), submitted_at=now,
        )
        s.add(app)
        await s.flush()
        await audit.append(uow, roles.actor, "application.submit", "application", app.id,
                           kind=app.kind, outcome=pre.outcome, recommendation_id=app.recommendation_id)
        await notify_admins(uow, "application_submitted", {"application_id": app.id, "outcome": pre.outcome})
        await uow.commit()
    return Submitted(app.id, pre.outcome)


def _prescreen_json(pre: Any) -> dict[str, Any]:
    return {"outcome": pre.outcome, "reasons": [{"code": r.code, "params": dict(r.params)} for r in pre.reasons]}


async def _refuse_duplicates(uow: UnitOfWork, id_number: str) -> None:
    s = uow.session
    if await s.scalar(select(Expert.id).where(Expert.id_number == id_number,
                                              Expert.status.in_([ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED]))):
        raise Conflict("application.already_registered")
    pending = (await s.scalars(select(Application).where(Application.status == ApplicationStatus.SUBMITTED))).all()
    if any(a.form.get("id_number") == id_number for a in pending):
        raise Conflict("application.already_pending")


async def recommend(uow: UnitOfWork, roles: Roles, candidate_name: str, note: str = "") -> str:
    """A unit recommends a person (Art. 8 ¶3); returns the code that opens their application."""
    if roles.contact_id is None or roles.unit_id is None:
        raise Forbidden("role.contact_required")
    name = check_text(candidate_name, 50)
    if not name:
        raise DomainError("name.blank")
    async with uow:
        code = "r" + secrets.token_urlsafe(10)
        rec = Recommendation(unit_id=roles.unit_id, contact_id=roles.contact_id, candidate_name=name,
                             note=check_text(note, 1000), code=code, created_at=uow.clock.now())
        uow.session.add(rec)
        await uow.session.flush()
        await audit.append(uow, roles.actor, "recommendation.add", "recommendation", rec.id, unit_id=roles.unit_id)
        await uow.commit()
    return code


async def get_application(uow: UnitOfWork, application_id: int) -> Application:
    async with uow:
        app = await uow.session.get(Application, application_id)
    if app is None:
        raise NotFound("application.not_found", id=application_id)
    return app


@dataclass(frozen=True)
class Decided:
    application_id: int
    approved: bool
    expert_id: int | None


async def review(
    uow: UnitOfWork, application_id: int, *, approve: bool, actor: str, meeting: str, reason: str = ""
) -> Decided:
    """Decide an application (集体研究): records who decided and at which decision meeting."""
    meeting = check_text(meeting, 200)
    reason = check_text(reason, 2000)
    if not meeting:
        raise DomainError("review.meeting_required")
    if not approve and not reason:
        raise DomainError("review.reason_required")
    async with uow:
        s = uow.session
        app = await s.get(Application, application_id, with_for_update=True)
        if app is None:
            raise NotFound("application.not_found", id=application_id)
        if app.status != ApplicationStatus.SUBMITTED:
            raise Conflict("application.already_decided", status=app.status)
        now = uow.clock.now()
        app.status = ApplicationStatus.APPROVED if approve else ApplicationStatus.REJECTED
        app.decided_by, app.decided_at = actor, now
        app.decision_meeting, app.decision_reason = meeting, reason
        if actor.startswith("account:"):
            app.decided_by_account_id = int(actor.split(":", 1)[1])
        expert = None
        if approve:
            expert = await _approve(uow, app)
        await audit.append(uow, actor, "application.approve" if approve else "application.reject",
                           "application", app.id, expert_id=expert.id if expert else None)
        if app.account_id is not None:
            await enqueue(uow, app.account_id, "application_approved" if approve else "application_rejected",
                          {"application_id": app.id, "reason": reason,
                           "term_end": expert.term_end.isoformat() if expert and expert.term_end else ""})
        await uow.commit()
    return Decided(app.id, approve, expert.id if expert else None)


async def _approve(uow: UnitOfWork, app: Application) -> Expert:
    s = uow.session
    if app.kind == ApplicationKind.RENEWAL:
        expert = await s.get(Expert, app.expert_id)
        assert expert is not None
        start = uow.today()
        if expert.term_end and expert.term_end >= start:
            start = date.fromordinal(expert.term_end.toordinal() + 1)
        await start_term(uow, expert, start, TermKind.RENEWAL, app.id)
        return expert
    form = parse_application(app.form, await form_context(uow))
    expert = await s.scalar(select(Expert).where(Expert.id_number == form.id_number))
    if expert is not None and expert.status in (ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED):
        raise Conflict("application.already_registered")
    if expert is not None and expert.status == ExpertStatus.REMOVED:
        raise Conflict("application.previously_removed")
    expert = await write_expert(uow, expert, form)
    if app.photo:
        old = await s.get(ExpertPhoto, expert.id)
        if old:
            await s.delete(old)
            await s.flush()
        s.add(ExpertPhoto(expert_id=expert.id, content_type=app.photo_type or "image/jpeg", data=app.photo))
    app.expert_id = expert.id
    await start_term(uow, expert, uow.today(), TermKind.INITIAL, app.id)
    if app.account_id is not None:
        acc = await s.get(Account, app.account_id)
        if acc is not None and acc.expert_id is None:
            acc.expert_id = expert.id
    return expert


async def request_renewal(uow: UnitOfWork, expert_id: int, actor: str) -> int:
    """An expert asks for a new term (Art. 9); the bureau decides it like an application."""
    async with uow:
        s = uow.session
        expert = await s.get(Expert, expert_id)
        if expert is None:
            raise NotFound("expert.not_found", id=expert_id)
        if expert.status not in (ExpertStatus.ACTIVE, ExpertStatus.EXPIRED):
            raise Conflict("renewal.not_allowed", status=expert.status)
        if await s.scalar(select(Application.id).where(Application.expert_id == expert_id,
                                                       Application.kind == ApplicationKind.RENEWAL,
                                                       Application.status == ApplicationStatus.SUBMITTED)):
            raise Conflict("renewal.already_pending")
        account_id = await s.scalar(select(Account.id).where(Account.expert_id == expert_id))
        now = uow.clock.now()
        app = Application(kind=ApplicationKind.RENEWAL, status=ApplicationStatus.SUBMITTED, account_id=account_id,
                          expert_id=expert_id, form={}, commitment_accepted_at=now, sensitive_consent_at=now,
                          unit_consent="", prescreen={"outcome": "renewal", "reasons": []}, submitted_at=now)
        s.add(app)
        await s.flush()
        await audit.append(uow, actor, "renewal.request", "application", app.id, expert_id=expert_id)
        await notify_admins(uow, "renewal_requested", {"application_id": app.id, "expert_id": expert_id})
        await uow.commit()
    return app.id


async def withdraw(uow: UnitOfWork, expert_id: int, actor: str, reason: str = "") -> None:
    """The expert leaves the roster of their own will (Art. 10(1), 16(1)); open seats are freed."""
    from core.services import panels  # local: panels depends on enrolment's models only

    reason = check_text(reason, 1000)
    async with uow:
        s = uow.session
        expert = await s.get(Expert, expert_id, with_for_update=True)
        if expert is None:
            raise NotFound("expert.not_found", id=expert_id)
        if expert.status in (ExpertStatus.WITHDRAWN, ExpertStatus.REMOVED):
            raise Conflict("expert.already_left", status=expert.status)
        before = expert.status
        expert.status = ExpertStatus.WITHDRAWN
        expert.updated_at = uow.clock.now()
        await audit.append(uow, actor, "expert.withdraw", "expert", expert.id, before=before, after=expert.status)
        await panels.release_expert(uow, expert.id, cause="withdrawn", actor=actor)
        await notify_admins(uow, "expert_withdrew", {"expert_id": expert.id})
        await uow.commit()


async def contact_of(uow: UnitOfWork, contact_id: int) -> Contact:
    async with uow:
        c = await uow.session.get(Contact, contact_id)
    if c is None:
        raise NotFound("contact.not_found")
    return c
