"""Enrolment services on a real database: submit, review, renew, withdraw, roles and codes."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from core.bootstrap import Core
from core.db.models import Account, Application, AuditEntry, Expert, Outbox, Term
from core.enums import ApplicationStatus, ExpertStatus
from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from core.services import accounts, audit, enrolment
from core.services.accounts import Roles
from tests.support.people import form_data

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _applicant(core: Core, tg: int = 5001) -> Roles:
    return await accounts.touch_account(core.uow(), tg, "申请人")


async def _admin(core: Core, tg: int = 9001) -> str:
    acc = await accounts.grant_role(core.uow(), tg, "admin", "cli")
    return f"account:{acc}"


async def _count(core: Core, model: type) -> int:
    async with core.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _submit(core: Core, roles: Roles, i: int = 1, **kw: object) -> enrolment.Submitted:
    return await enrolment.submit_application(
        core.uow(), roles, form_data(i, **kw), commitment_accepted=True, sensitive_consent=True,
        unit_consent="单位同意（盖章件已存档）", photo=PNG,
    )


async def test_submit_prescreens_and_tells_admins(core: Core) -> None:
    await _admin(core)
    res = await _submit(core, await _applicant(core))
    assert res.outcome == "meets"
    async with core.sessions() as s:
        app = await s.get(Application, res.application_id)
        assert app is not None and app.status == ApplicationStatus.SUBMITTED
        assert app.prescreen["outcome"] == "meets" and app.photo_type == "image/png"
        kinds = (await s.scalars(select(Outbox.kind))).all()
        entry = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "application.submit"))).one()
    assert kinds == ["application_submitted"]
    assert form_data(1)["id_number"] not in entry.details and form_data(1)["phone"] not in entry.details


@pytest.mark.parametrize("flags, code", [
    ({"commitment_accepted": False}, "application.commitment_required"),
    ({"sensitive_consent": False}, "application.consent_required"),
    ({"unit_consent": "  "}, "application.unit_consent_required"),
    ({"photo": b"GIF89a not really"}, "photo.not_image"),
    ({"photo": b"\xff\xd8\xff" + b"0" * (10 * 1024 * 1024)}, "photo.too_large"),
])
async def test_submit_refusals_write_nothing(core: Core, flags: dict, code: str) -> None:
    roles = await _applicant(core)
    kw = dict(commitment_accepted=True, sensitive_consent=True, unit_consent="同意", photo=PNG) | flags
    with pytest.raises(DomainError) as exc:
        await enrolment.submit_application(core.uow(), roles, form_data(1), **kw)  # type: ignore[arg-type]
    assert exc.value.code == code
    assert await _count(core, Application) == 0


async def test_invalid_form_lists_every_bad_field(core: Core) -> None:
    roles = await _applicant(core)
    entries_before = await _count(core, AuditEntry)
    bad = form_data(1, phone="12800138000", email="no-at-sign", fields=["eia", "monitoring", "climate", "rural"])
    with pytest.raises(ValidationFailed) as exc:
        await enrolment.submit_application(core.uow(), roles, bad, commitment_accepted=True,
                                           sensitive_consent=True, unit_consent="同意")
    fields = {f for f, _, _ in exc.value.errors}
    assert {"phone", "email", "fields"} <= fields
    assert await _count(core, Application) == 0 and await _count(core, AuditEntry) == entries_before


async def test_approve_creates_active_expert_with_three_year_term(core: Core) -> None:
    actor = await _admin(core)
    roles = await _applicant(core)
    sub = await _submit(core, roles)
    with pytest.raises(DomainError, match="review.meeting_required"):
        await enrolment.review(core.uow(), sub.application_id, approve=True, actor=actor, meeting=" ")
    dec = await enrolment.review(core.uow(), sub.application_id, approve=True, actor=actor, meeting="2026年第12次局务会")
    async with core.sessions() as s:
        expert = await s.get(Expert, dec.expert_id)
        app = await s.get(Application, sub.application_id)
        acc = await s.get(Account, roles.account_id)
        terms = (await s.scalars(select(Term).where(Term.expert_id == dec.expert_id))).all()
    assert expert is not None and expert.status == ExpertStatus.ACTIVE
    assert expert.term_start == date(2026, 11, 2) and expert.term_end == date(2029, 11, 1)
    assert expert.field_mask == (1 << 4) | (1 << 5)  # eia=5, monitoring=4 in DEFAULT_CATEGORIES order
    assert app is not None and app.decided_by == actor and app.decision_meeting == "2026年第12次局务会"
    assert acc is not None and acc.expert_id == expert.id
    assert len(terms) == 1
    with pytest.raises(Conflict):
        await enrolment.review(core.uow(), sub.application_id, approve=False, actor=actor, meeting="m", reason="x")
    # the same person cannot apply again while active
    with pytest.raises(Conflict, match="application.already_registered"):
        await _submit(core, await _applicant(core, 5002))


async def test_duplicate_pending_application_refused(core: Core) -> None:
    await _submit(core, await _applicant(core))
    with pytest.raises(Conflict, match="application.already_pending"):
        await _submit(core, await _applicant(core, 5002))


async def test_reject_needs_reason_and_tells_applicant(core: Core) -> None:
    actor = await _admin(core)
    sub = await _submit(core, await _applicant(core))
    with pytest.raises(DomainError, match="review.reason_required"):
        await enrolment.review(core.uow(), sub.application_id, approve=False, actor=actor, meeting="m")
    dec = await enrolment.review(core.uow(), sub.application_id, approve=False, actor=actor, meeting="第3次会议",
                                 reason="从业年限不足")
    assert not dec.approved and dec.expert_id is None
    async with core.sessions() as s:
        rows = (await s.scalars(select(Outbox).where(Outbox.kind == "application_rejected"))).all()
    assert len(rows) == 1 and rows[0].params["reason"] == "从业年限不足"


async def test_renewal_goes_to_review_and_extends_term(core: Core) -> None:
    actor = await _admin(core)
    sub = await _submit(core, await _applicant(core))
    dec = await enrolment.review(core.uow(), sub.application_id, approve=True, actor=actor, meeting="m1")
    assert dec.expert_id is not None
    app_id = await enrolment.request_renewal(core.uow(), dec.expert_id, "account:1")
    with pytest.raises(Conflict, match="renewal.already_pending"):
        await enrolment.request_renewal(core.uow(), dec.expert_id, "account:1")
    await enrolment.review(core.uow(), app_id, approve=True, actor=actor, meeting="m2")
    async with core.sessions() as s:
        expert = await s.get(Expert, dec.expert_id)
        terms = (await s.scalars(select(Term).where(Term.expert_id == dec.expert_id).order_by(Term.starts_on))).all()
    assert [t.kind for t in terms] == ["initial", "renewal"]
    assert terms[1].starts_on == terms[0].ends_on + timedelta(days=1)
    assert expert is not None and expert.term_end == date(2032, 11, 1)


async def test_withdraw(core: Core) -> None:
    actor = await _admin(core)
    sub = await _submit(core, await _applicant(core))
    dec = await enrolment.review(core.uow(), sub.application_id, approve=True, actor=actor, meeting="m")
    assert dec.expert_id is not None
    await enrolment.withdraw(core.uow(), dec.expert_id, "account:2", "退休")
    async with core.sessions() as s:
        expert = await s.get(Expert, dec.expert_id)
    assert expert is not None and expert.status == ExpertStatus.WITHDRAWN
    with pytest.raises(Conflict):
        await enrolment.withdraw(core.uow(), dec.expert_id, "account:2")
    assert (await audit.verify(core.uow())).ok


async def test_binding_codes_work_once(core: Core) -> None:
    await accounts.add_unit(core.uow(), "乌鲁木齐市某某环境科技有限公司", None, "cli")
    added = await accounts.add_contact(core.uow(), "乌鲁木齐市某某环境科技有限公司", "cli", name="王联系")
    assert added.code
    role, roles = await accounts.redeem_code(core.uow(), 7001, added.code)
    assert role == "contact" and roles.contact_id == added.contact_id and roles.unit_id is not None
    with pytest.raises(Conflict, match="code.used"):
        await accounts.redeem_code(core.uow(), 7002, added.code)
    with pytest.raises(NotFound):
        await accounts.redeem_code(core.uow(), 7002, "nonsense")


async def test_expired_code_refused(core: Core, clock) -> None:  # type: ignore[no-untyped-def]
    code = await accounts.issue_code(core.uow(), "supervisor", "cli")
    clock.advance(timedelta(days=15))
    with pytest.raises(Conflict, match="code.expired"):
        await accounts.redeem_code(core.uow(), 7003, code)


async def test_unit_uscc_validated_and_unique(core: Core) -> None:
    with pytest.raises(DomainError, match="uscc"):
        await accounts.add_unit(core.uow(), "甲单位", "91650100MA77XXXXXX", "cli")
    await accounts.add_unit(core.uow(), "甲单位", None, "cli")
    with pytest.raises(Conflict, match="unit.exists"):
        await accounts.add_unit(core.uow(), "甲单位", None, "cli")
