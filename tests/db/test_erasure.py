"""Erasing a former expert's personal data (PIPL Art. 47, CHECKLIST 36): every private value is gone
from every table, the audit chain still verifies, and what past panels need stays readable."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from core.bootstrap import Core
from core.db.base import Base
from core.db.models import AuditEntry, Expert, Invitation, Outbox
from core.enums import InvitationStatus
from core.errors import Conflict, NotFound
from core.services import accounts, audit, enrolment, panels
from core.services.erasure import erase_expert
from tests.factories import make_expert, make_unit_contact, panel_form
from tests.support.people import form_data

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _everything(core: Core) -> str:
    """Every row of every table as text: what a leak scan has to search."""
    parts = []
    async with core.sessions() as s:
        for table in Base.metadata.sorted_tables:
            parts += [repr(tuple(row)) for row in (await s.execute(select(table))).all()]
    return "\n".join(parts)


async def _enrolled(core: Core) -> tuple[int, accounts.Roles]:
    roles = await accounts.touch_account(core.uow(), 5001, "申请人")
    sub = await enrolment.submit_application(core.uow(), roles, form_data(1), commitment_accepted=True,
                                             sensitive_consent=True, unit_consent="单位同意", photo=PNG)
    dec = await enrolment.review(core.uow(), sub.application_id, approve=True, actor="cli", meeting="局务会")
    assert dec.expert_id is not None
    return dec.expert_id, await accounts.touch_account(core.uow(), 5001)


async def test_erasure_removes_every_private_value_and_keeps_the_chain(core: Core) -> None:
    expert_id, roles = await _enrolled(core)
    fields = list(form_data(1)["fields"])
    others = [await make_expert(core, fields, phone=f"1390000000{i}") for i in range(2)]
    contact = await make_unit_contact(core)
    res = await panels.request_panel(core.uow(), contact, panel_form(core, fields=((fields[0], None),)))
    who = {expert_id: roles, **{o.id: o.roles for o in others}}
    async with core.sessions() as s:
        invs = (await s.scalars(select(Invitation).where(Invitation.panel_id == res.panel_id))).all()
    for inv in invs:
        await panels.accept(core.uow(), who[inv.expert_id], inv.id, unit_consent=True, no_conflict=True,
                            confidentiality=True)
    private = {v for k, v in form_data(1).items() if k in ("id_number", "phone", "email", "address")}
    assert all(private) and len(private) == 4
    before = await _everything(core)
    assert all(v in before for v in private)  # the scan can see them: in the expert row, the form, the roster

    with pytest.raises(Conflict, match="erase_serving"):  # still serving: withdraw first
        await erase_expert(core.uow(), expert_id, "cli")
    await enrolment.withdraw(core.uow(), expert_id, "cli", "退休")
    await erase_expert(core.uow(), expert_id, "cli")

    after = await _everything(core)
    assert {v for v in private if v in after} == set()
    assert PNG not in after.encode("latin-1", "replace")
    async with core.sessions() as s:
        expert = await s.get(Expert, expert_id)
        confirmed = (await s.scalars(select(Outbox).where(Outbox.kind == "panel_confirmed"))).all()
    assert expert is not None and expert.erased_at is not None and expert.id_number is None
    assert expert.name == form_data(1)["name"]  # the public part stays: past panels remain readable
    rosters = [r for row in confirmed for r in row.params["roster"]]
    assert rosters and {r["phone"] for r in rosters if r["code"] != expert.code} == {"13900000000", "13900000001"}
    verified = await audit.verify(core.uow())
    assert verified.ok
    async with core.sessions() as s:
        erased = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "expert.erase"))).all()
    assert [(e.subject_type, e.subject_id) for e in erased] == [("expert", str(expert_id))]

    with pytest.raises(Conflict, match="already_erased"):
        await erase_expert(core.uow(), expert_id, "cli")
    with pytest.raises(NotFound):
        await erase_expert(core.uow(), 999_999, "cli")
    async with core.sessions() as s:
        statuses = set((await s.scalars(select(Invitation.status).where(Invitation.expert_id == expert_id))).all())
    assert statuses == {InvitationStatus.CANCELLED.value}  # the withdrawal freed the seat first
