"""Discipline (Art. 15, 16) on a real database: reminders and warnings on their grounds, removal
with its consequences (seats freed and refilled, announcement, notices), flags closed by decisions."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.bootstrap import Core
from core.db.models import Announcement, AuditEntry, Expert, Flag, Invitation, Outbox, Sanction
from core.enums import ExpertStatus, FlagKind, FlagStatus, InvitationStatus
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.services import audit, discipline, panels
from core.services.roster import public_roster
from tests.factories import MadeExpert, make_admin, make_expert, make_unit_contact, panel_form
from tests.support.oversight import invitations_of, pool


async def _count(core: Core, model: type, *where: object) -> int:
    async with core.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


async def _flag(core: Core, expert_id: int, kind: str = FlagKind.REFUSAL_RULE.value) -> int:
    async with core.sessions() as s:
        f = Flag(expert_id=expert_id, kind=kind, status=FlagStatus.OPEN.value,
                 evidence={"rule": "art16_3", "invitations": [{"invitation_id": 1, "panel_id": 1}]},
                 created_at=core.clock.now())
        s.add(f)
        await s.commit()
        return f.id


async def _outbox(core: Core, kind: str) -> list[Outbox]:
    async with core.sessions() as s:
        return list((await s.scalars(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id))).all())


@pytest.mark.parametrize("kind, ground", [("interview_reminder", 1), ("warning", 5)])
async def test_sanction_is_kept_audited_and_told(core: Core, kind: str, ground: int) -> None:
    admin = await make_admin(core)
    x = await make_expert(core)
    sid = await discipline.record_sanction(core.uow(), admin, x.id, kind, ground, "未经单位同意参加有偿评审")
    rows = await discipline.sanctions_of(core.uow(), admin, x.id)
    assert [(r.id, r.kind, r.ground, r.decided_by) for r in rows] == [(sid, kind, ground, admin.actor)]
    note = (await _outbox(core, "sanction_recorded"))[0]
    assert note.account_id == x.account_id and note.params["kind"] == kind and note.params["ground"] == ground
    async with core.sessions() as s:
        entry = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "sanction.record"))).one()
        assert (await s.get(Expert, x.id)).status == ExpertStatus.ACTIVE.value  # type: ignore[union-attr]
    assert "有偿" not in entry.details and f'"ground":{ground}' in entry.details


@pytest.mark.parametrize("kind, ground, note, code", [
    ("warning", 0, "x", "discipline.bad_ground"),
    ("warning", 6, "x", "discipline.bad_ground"),
    ("interview_reminder", "三", "x", "discipline.bad_ground"),
    ("removal", 1, "x", "discipline.bad_kind"),
    ("scolding", 1, "x", "discipline.bad_kind"),
    ("warning", 2, "   ", "discipline.note_required"),
    ("warning", 2, "长" * 1001, "text.too_long"),
])
async def test_bad_sanctions_write_nothing(core: Core, kind: str, ground: object, note: str, code: str) -> None:
    admin = await make_admin(core)
    x = await make_expert(core)
    with pytest.raises(DomainError) as exc:
        await discipline.record_sanction(core.uow(), admin, x.id, kind, ground, note)  # type: ignore[arg-type]
    assert exc.value.code == code
    assert await _count(core, Sanction) == 0 and await _count(core, Outbox) == 0


@pytest.mark.parametrize("ground", [0, 8])
async def test_removal_ground_must_be_art16(core: Core, ground: int) -> None:
    admin = await make_admin(core)
    x = await make_expert(core)
    with pytest.raises(DomainError) as exc:
        await discipline.remove(core.uow(), admin, x.id, ground, "x")
    assert exc.value.code == "discipline.bad_ground" and exc.value.params["max"] == 7
    assert await _count(core, Sanction) == 0


async def test_only_admins_decide(core: Core) -> None:
    x = await make_expert(core)
    supervisor = await make_admin(core, supervisor=True)
    contact = await make_unit_contact(core)
    for who in (supervisor, contact, x.roles):
        with pytest.raises(Forbidden):
            await discipline.record_sanction(core.uow(), who, x.id, "warning", 1, "x")
        with pytest.raises(Forbidden):
            await discipline.remove(core.uow(), who, x.id, 7, "x")
    async with core.sessions() as s:
        refused = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "security.refused"))).all()
    assert len(refused) == 6 and await _count(core, Sanction) == 0
    assert await discipline.sanctions_of(core.uow(), supervisor, x.id) == []  # supervisors may look


async def test_sanction_answers_its_flag(core: Core) -> None:
    admin = await make_admin(core)
    x, y = await make_expert(core), await make_expert(core)
    fid = await _flag(core, x.id)
    with pytest.raises(NotFound):
        await discipline.record_sanction(core.uow(), admin, y.id, "warning", 2, "x", flag_id=fid)
    sid = await discipline.record_sanction(core.uow(), admin, x.id, "warning", 2, "未主动回避", flag_id=fid)
    flag = await discipline.get_flag(core.uow(), admin, fid)
    assert flag.status == FlagStatus.CLOSED.value and flag.decision == f"sanction:{sid}" and flag.closed_by == admin.actor
    with pytest.raises(Conflict) as exc:
        await discipline.record_sanction(core.uow(), admin, x.id, "warning", 2, "x", flag_id=fid)
    assert exc.value.code == "discipline.flag_closed"


async def _two_panels(core: Core) -> tuple[MadeExpert, list[MadeExpert], int, int]:
    """Four eia experts; panels A and B (size 3, different days) share at least two invitees.
    Returns X (invited to both: accepted on A, pending on B), the experts, A and B."""
    experts = await pool(core, 4)
    by_id = {e.id: e for e in experts}
    unit = await make_unit_contact(core)
    a = (await panels.request_panel(core.uow(), unit, panel_form(core, starts_in=timedelta(days=10)))).panel_id
    b = (await panels.request_panel(core.uow(), unit, panel_form(core, starts_in=timedelta(days=12)))).panel_id
    in_a = {i.expert_id: i for i in await invitations_of(core, a)}
    in_b = {i.expert_id for i in await invitations_of(core, b)}
    x = by_id[min(set(in_a) & in_b)]
    await panels.accept(core.uow(), x.roles, in_a[x.id].id, unit_consent=True, no_conflict=True, confidentiality=True)
    return x, experts, a, b


async def test_removal_frees_pending_and_accepted_seats_and_is_announced(core: Core) -> None:
    admin = await make_admin(core)
    x, experts, a, b = await _two_panels(core)
    before = {p: {i.expert_id for i in await invitations_of(core, p)} for p in (a, b)}
    fid = await _flag(core, x.id)
    other_fid = await _flag(core, x.id, FlagKind.POOR_EVALUATIONS.value)

    res = await discipline.remove(core.uow(), admin, x.id, 3, "一年内连续三次无故缺席", flag_id=fid)

    async with core.sessions() as s:
        expert = await s.get(Expert, x.id)
        assert expert is not None and expert.status == ExpertStatus.REMOVED.value
        mine = (await s.scalars(select(Invitation).where(Invitation.expert_id == x.id))).all()
        ann = await s.get(Announcement, res.announcement_id)
    assert {i.status for i in mine} == {InvitationStatus.CANCELLED.value} and len(mine) == 2
    assert set(res.released_invitations) == {i.id for i in mine}
    for p in (a, b):  # the expert left out of each draw is invited in X's place
        now = await invitations_of(core, p, InvitationStatus.PENDING.value, InvitationStatus.ACCEPTED.value)
        newcomers = [i for i in now if i.expert_id not in before[p]]
        assert len(now) == 3 and len(newcomers) == 1 and newcomers[0].replacement_of in res.released_invitations
    assert ann is not None and ann.kind == "removal" and ann.expert_id == x.id
    assert set(ann.body) == {"name", "work_unit", "ground", "date"} and ann.body["ground"] == 3
    assert set(res.closed_flags) == {fid, other_fid}
    assert await _count(core, Flag, Flag.status == FlagStatus.OPEN.value) == 0
    notices = [o for o in await _outbox(core, "removal_notice") if o.account_id == x.account_id]
    assert len(notices) == 1 and notices[0].params["ground"] == 3
    assert len([o for o in await _outbox(core, "invitation_closed") if o.account_id == x.account_id]) == 2
    assert x.code not in {r.code for r in await public_roster(core.uow())}
    shown = await discipline.published(core.uow())
    assert [(n.id, n.kind, n.name, n.ground) for n in shown] == [(res.announcement_id, "removal", ann.body["name"], 3)]
    actions = await _actions(core)
    assert {"expert.remove", "announcement.publish", "invitation.cancel", "flag.close"} <= set(actions)
    assert (await audit.verify(core.uow())).ok


async def _actions(core: Core) -> list[str]:
    async with core.sessions() as s:
        return list((await s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq))).all())


async def test_removed_expert_cannot_answer_or_be_removed_again(core: Core) -> None:
    admin = await make_admin(core)
    x, _, _, b = await _two_panels(core)
    pending = [i for i in await invitations_of(core, b) if i.expert_id == x.id][0]
    await discipline.remove(core.uow(), admin, x.id, 7, "其他不适宜担任专家的情形")
    with pytest.raises(Conflict):
        await panels.accept(core.uow(), x.roles, pending.id, unit_consent=True, no_conflict=True, confidentiality=True)
    with pytest.raises(Conflict) as exc:
        await discipline.remove(core.uow(), admin, x.id, 7, "again")
    assert exc.value.code == "discipline.already_removed"
    with pytest.raises(Conflict):
        await discipline.record_sanction(core.uow(), admin, x.id, "warning", 1, "x")
    assert await _count(core, Sanction) == 1 and await _count(core, Announcement) == 1


async def test_removal_without_open_seats_or_account(core: Core) -> None:
    admin = await make_admin(core)
    x = await make_expert(core, account=False)
    res = await discipline.remove(core.uow(), admin, x.id, 1, "本人申请不再担任专家")
    assert res.released_invitations == () and res.closed_flags == ()
    assert await _count(core, Outbox) == 0  # nobody to tell
    with pytest.raises(NotFound):
        await discipline.remove(core.uow(), admin, 999_999, 1, "x")


async def test_cli_actor_may_decide(core: Core) -> None:
    x = await make_expert(core)
    await discipline.record_sanction(core.uow(), "cli", x.id, "warning", 4, "收受财物")
    async with core.sessions() as s:
        row = (await s.scalars(select(Sanction))).one()
    assert row.decided_by == "cli"
