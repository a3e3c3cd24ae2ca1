"""Flags service: admin-only listing with evidence, closing once with a decision note, audit."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from core.bootstrap import Core
from core.db.models import AuditEntry, Flag
from core.enums import FlagKind, FlagStatus
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.services import accounts, enrolment, flags
from core.services.accounts import Roles
from tests.support.people import form_data

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _admin(core: Core, tg: int = 9001) -> Roles:
    await accounts.grant_role(core.uow(), tg, "admin", "cli")
    return await accounts.touch_account(core.uow(), tg)


async def _expert_id(core: Core, admin: Roles) -> int:
    roles = await accounts.touch_account(core.uow(), 5001, "申请人")
    sub = await enrolment.submit_application(
        core.uow(), roles, form_data(1), commitment_accepted=True, sensitive_consent=True,
        unit_consent="单位同意", photo=PNG)
    dec = await enrolment.review(core.uow(), sub.application_id, approve=True, actor=admin.actor, meeting="局务会 2026-1")
    assert dec.expert_id is not None
    return dec.expert_id


async def _flag(core: Core, expert_id: int | None, kind: str = FlagKind.REFUSAL_RULE.value) -> int:
    async with core.sessions() as s:
        f = Flag(expert_id=expert_id, kind=kind, status=FlagStatus.OPEN.value,
                 evidence={"rule": "art16_3", "invitations": [{"invitation_id": 7, "kind": "no_answer"}]},
                 created_at=core.clock.now())
        s.add(f)
        await s.flush()
        fid = f.id
        await s.commit()
        return fid


async def _refusals(core: Core) -> list[AuditEntry]:
    async with core.sessions() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == "security.refused"))).all())


async def test_admin_lists_open_flags_with_evidence_and_name(core: Core) -> None:
    admin = await _admin(core)
    eid = await _expert_id(core, admin)
    fid = await _flag(core, eid)
    other = await _flag(core, None, FlagKind.REPORT.value)
    views = await flags.list_flags(core.uow(), admin)
    assert [v.id for v in views] == [fid, other]
    assert views[0].expert_name == "测试专家1" and views[0].expert_code == f"E{eid:06d}"
    assert views[0].evidence["invitations"][0]["kind"] == "no_answer"
    assert views[1].expert_id is None and views[1].expert_code is None


async def test_close_once_with_decision_and_audit(core: Core) -> None:
    admin = await _admin(core)
    fid = await _flag(core, await _expert_id(core, admin))
    with pytest.raises(DomainError) as err:
        await flags.close_flag(core.uow(), admin, fid, "   ")
    assert err.value.code == "flag.decision_required"
    view = await flags.close_flag(core.uow(), admin, fid, "约谈提醒，已记录 <b>")
    assert view.status == FlagStatus.CLOSED and view.decision == "约谈提醒，已记录 <b>" and view.closed_by == admin.actor
    with pytest.raises(Conflict):
        await flags.close_flag(core.uow(), admin, fid, "again")
    assert await flags.list_flags(core.uow(), admin) == []
    assert [v.id for v in await flags.list_flags(core.uow(), admin, open_only=False)] == [fid]
    async with core.sessions() as s:
        entry = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "flag.close"))).one()
    assert entry.subject_id == str(fid) and "约谈" not in entry.details  # internal ids only


async def test_missing_flag(core: Core) -> None:
    admin = await _admin(core)
    with pytest.raises(NotFound):
        await flags.get_flag(core.uow(), admin, 999)
    with pytest.raises(NotFound):
        await flags.close_flag(core.uow(), admin, 999, "x")


async def test_non_admins_are_refused_and_audited(core: Core) -> None:
    admin = await _admin(core)
    fid = await _flag(core, await _expert_id(core, admin))
    nobody = await accounts.touch_account(core.uow(), 4242)
    supervisor_id = await accounts.grant_role(core.uow(), 4343, "supervisor", "cli")
    supervisor = await accounts.touch_account(core.uow(), 4343)
    assert supervisor.account_id == supervisor_id
    for roles in (nobody, supervisor):
        with pytest.raises(Forbidden):
            await flags.list_flags(core.uow(), roles)
        with pytest.raises(Forbidden):
            await flags.get_flag(core.uow(), roles, fid)
        with pytest.raises(Forbidden):
            await flags.close_flag(core.uow(), roles, fid, "closing someone else's flag")
    refused = await _refusals(core)
    assert len(refused) == 6 and {r.actor for r in refused} == {nobody.actor, supervisor.actor}
    assert (await flags.get_flag(core.uow(), admin, fid)).status == FlagStatus.OPEN
