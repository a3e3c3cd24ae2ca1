"""Invitation answers on a real database: accept, decline, recusal, expiry, withdrawal, each with
its replacement from the same stored ranking; forged and repeated presses; confirmation."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from core.bootstrap import Core
from core.db.models import AuditEntry, DeclaredConflict, Draw, Invitation, Outbox, Panel
from core.enums import ExclusionReason, InvitationStatus, PanelStatus
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.services import panels
from core.services.seating import stored_ranking
from tests.factories import MadeExpert, make_admin, make_expert, make_unit_contact, outbox_kinds, panel_form, rows

YES = {"unit_consent": True, "no_conflict": True, "confidentiality": True}


class Stage:
    """A requested panel with its experts by id."""

    def __init__(self, core: Core, contact: object, experts: dict[int, MadeExpert], panel_id: int) -> None:
        self.core, self.contact, self.experts, self.panel_id = core, contact, experts, panel_id

    async def invitations(self) -> list[Invitation]:
        return await rows(self.core, Invitation, Invitation.panel_id == self.panel_id)

    async def pending(self) -> list[Invitation]:
        return [i for i in await self.invitations() if i.status == InvitationStatus.PENDING]

    def who(self, inv: Invitation) -> MadeExpert:
        return self.experts[inv.expert_id]

    async def ranking(self) -> list[str]:
        draw = (await rows(self.core, Draw, Draw.panel_id == self.panel_id))[-1]
        return stored_ranking(draw)[0]

    async def panel(self) -> Panel:
        return (await rows(self.core, Panel, Panel.id == self.panel_id))[0]


async def stage(core: Core, n: int = 6, **form: object) -> Stage:
    contact = await make_unit_contact(core)
    experts = {e.id: e for e in [await make_expert(core, ["eia"]) for _ in range(n)]}
    res = await panels.request_panel(core.uow(), contact, panel_form(core, **form))  # type: ignore[arg-type]
    return Stage(core, contact, experts, res.panel_id)


async def _next_in_ranking(st: Stage) -> str:
    invited = {f"E{i.expert_id:06d}" for i in await st.invitations()}
    return next(c for c in await st.ranking() if c not in invited)


# --- accept ----------------------------------------------------------------------------------

async def test_accept_needs_every_confirmation(core: Core) -> None:
    st = await stage(core)
    inv = (await st.pending())[0]
    with pytest.raises(DomainError) as exc:
        await panels.accept(core.uow(), st.who(inv).roles, inv.id, unit_consent=True, no_conflict=False,
                            confidentiality=True)
    assert exc.value.code == "invitation.confirm_required" and exc.value.params["missing"] == ["no_conflict"]
    assert (await st.pending())[0].status == InvitationStatus.PENDING


async def test_forged_answer_is_refused_and_audited(core: Core) -> None:
    st = await stage(core)
    a, b = (await st.pending())[:2]
    for call in (
        lambda: panels.accept(core.uow(), st.who(b).roles, a.id, **YES),
        lambda: panels.decline(core.uow(), st.who(b).roles, a.id, "schedule"),
        lambda: panels.declare_conflict(core.uow(), st.who(b).roles, a.id, None, "x"),
        lambda: panels.accept(core.uow(), st.contact, a.id, **YES),  # type: ignore[arg-type]
    ):
        with pytest.raises(Forbidden) as exc:
            await call()
        assert exc.value.code == "invitation.not_yours"
    refused = await rows(core, AuditEntry, AuditEntry.action == "security.refused")
    assert len(refused) == 4 and refused[0].actor == st.who(b).roles.actor and refused[0].subject_id == str(a.id)
    assert '"attempted":"invitation.accept"' in refused[0].details
    assert (await st.invitations())[0].status == InvitationStatus.PENDING
    with pytest.raises(NotFound):
        await panels.accept(core.uow(), st.who(b).roles, 99999, **YES)
    assert len(await rows(core, AuditEntry, AuditEntry.action == "security.refused")) == 5


async def test_double_accept_changes_state_once(core: Core) -> None:
    st = await stage(core)
    inv = (await st.pending())[0]
    await panels.accept(core.uow(), st.who(inv).roles, inv.id, **YES)
    with pytest.raises(Conflict) as exc:
        await panels.accept(core.uow(), st.who(inv).roles, inv.id, **YES)
    assert exc.value.code == "invitation.already_answered" and exc.value.params["status"] == "accepted"
    assert len(await rows(core, AuditEntry, AuditEntry.action == "invitation.accept")) == 1


async def test_all_accept_confirms_and_only_then_the_unit_gets_names(core: Core) -> None:
    st = await stage(core)
    invs = await st.pending()
    for inv in invs[:2]:
        await panels.accept(core.uow(), st.who(inv).roles, inv.id, **YES)
    assert (await st.panel()).status == PanelStatus.INVITING
    msgs = await rows(core, Outbox, Outbox.account_id == st.contact.account_id)  # type: ignore[attr-defined]
    assert [m.kind for m in msgs] == ["panel_status"] * 3 and msgs[-1].params["accepted"] == 2
    assert not any("name" in str(m.params) or "专家" in str(m.params) for m in msgs)
    await panels.accept(core.uow(), st.who(invs[2]).roles, invs[2].id, **YES)
    panel = await st.panel()
    assert panel.status == PanelStatus.CONFIRMED and panel.confirmed_at is not None
    confirmed = (await rows(core, Outbox, Outbox.kind == "panel_confirmed"))[0]
    assert confirmed.account_id == st.contact.account_id  # type: ignore[attr-defined]
    assert sorted(r["code"] for r in confirmed.params["roster"]) == sorted(st.who(i).code for i in invs)
    assert all(r["name"] and r["phone"] for r in confirmed.params["roster"])
    # The experts never hear about each other.
    for inv in invs:
        for m in await rows(core, Outbox, Outbox.account_id == st.who(inv).account_id):
            assert not any(st.who(o).code in str(m.params) for o in invs)


# --- decline, recusal, withdrawal, expiry: each freed seat is refilled -----------------------

@pytest.mark.parametrize("reason, justified", [
    ("schedule", True), ("health", True), ("no_unit_consent", True), ("travel", True), ("other", False),
])
async def test_decline_each_reason_draws_the_next_ranked(core: Core, reason: str, justified: bool) -> None:
    st = await stage(core)
    inv = (await st.pending())[1]
    expected = await _next_in_ranking(st)
    res = await panels.decline(core.uow(), st.who(inv).roles, inv.id, reason, "出差在外地" if reason == "other" else "")
    assert res.status == InvitationStatus.DECLINED
    invs = await st.invitations()
    declined = next(i for i in invs if i.id == inv.id)
    assert declined.decline_reason == reason and declined.justified is justified
    new = invs[-1]
    assert f"E{new.expert_id:06d}" == expected and new.replacement_of == inv.id and new.group_index == inv.group_index
    assert new.rank == (await st.ranking()).index(expected) + 1
    assert any(e.action == "draw.replacement" for e in await rows(core, AuditEntry))
    assert "invitation" in await outbox_kinds(core, st.experts[new.expert_id].account_id)


async def test_decline_reasons_are_checked(core: Core) -> None:
    st = await stage(core)
    inv = (await st.pending())[0]
    with pytest.raises(DomainError) as exc:
        await panels.decline(core.uow(), st.who(inv).roles, inv.id, "bored")
    assert exc.value.code == "invitation.reason_unknown"
    with pytest.raises(DomainError) as exc:
        await panels.decline(core.uow(), st.who(inv).roles, inv.id, "other", "  ")
    assert exc.value.code == "invitation.reason_text_required"


async def test_declared_conflict_is_remembered_and_replaced(core: Core) -> None:
    st = await stage(core, parties=[("新疆某某化工有限责任公司", None)])
    inv = (await st.pending())[0]
    party = (await st.panel()).parties[0]
    expected = await _next_in_ranking(st)
    res = await panels.declare_conflict(core.uow(), st.who(inv).roles, inv.id, party.id, "曾为其编制报告")
    assert res.status == InvitationStatus.CONFLICT
    declared = await rows(core, DeclaredConflict)
    assert [(d.expert_id, d.party_norm) for d in declared] == [(inv.expert_id, "新疆某某化工有限公司")]
    assert f"E{(await st.invitations())[-1].expert_id:06d}" == expected
    with pytest.raises(DomainError):
        await panels.declare_conflict(core.uow(), st.who(inv).roles, inv.id, 12345, "x")
    # The next matter involving that party leaves the expert out.
    res2 = await panels.request_panel(core.uow(), st.contact, panel_form(  # type: ignore[arg-type]
        core, starts_in=timedelta(days=30), parties=[("新疆某某化工有限公司", None)]))
    draw = (await rows(core, Draw, Draw.panel_id == res2.panel_id))[0]
    assert [st.who(inv).code, ExclusionReason.CONFLICT_DECLARED, "party:0"] in json.loads(draw.exclusions)


async def test_conflict_after_acceptance_frees_the_seat(core: Core) -> None:
    st = await stage(core)
    inv = (await st.pending())[0]
    await panels.accept(core.uow(), st.who(inv).roles, inv.id, **YES)
    await panels.declare_conflict(core.uow(), st.who(inv).roles, inv.id, None, "与项目负责人为亲属")
    assert len(await st.pending()) == 3


async def test_withdraw_acceptance_draws_a_replacement(core: Core) -> None:
    st = await stage(core)
    inv = (await st.pending())[0]
    with pytest.raises(Conflict) as exc:
        await panels.withdraw_acceptance(core.uow(), st.who(inv).roles, inv.id, "health")
    assert exc.value.code == "invitation.not_accepted"
    await panels.accept(core.uow(), st.who(inv).roles, inv.id, **YES)
    expected = await _next_in_ranking(st)
    res = await panels.withdraw_acceptance(core.uow(), st.who(inv).roles, inv.id, "临时有事")
    assert res.status == InvitationStatus.WITHDRAWN
    withdrawn = next(i for i in await st.invitations() if i.id == inv.id)
    assert withdrawn.justified is False and withdrawn.withdrawn_reason == "临时有事"
    assert f"E{(await st.invitations())[-1].expert_id:06d}" == expected


async def test_expiry_counts_as_no_answer_and_replaces_with_a_fair_deadline(core: Core) -> None:
    st = await stage(core, deadline_in=timedelta(days=2))
    first = await st.pending()
    await panels.accept(core.uow(), st.who(first[0]).roles, first[0].id, **YES)
    core.clock.advance(timedelta(days=2, minutes=1))  # type: ignore[attr-defined]
    # Before the tick, an answer after the deadline is refused already.
    with pytest.raises(Conflict) as exc:
        await panels.accept(core.uow(), st.who(first[1]).roles, first[1].id, **YES)
    assert exc.value.code == "invitation.deadline_passed"
    expired = await panels.expire_overdue(core.uow())
    assert sorted(expired) == sorted(i.id for i in first[1:])
    assert await panels.expire_overdue(core.uow()) == []
    invs = await st.invitations()
    assert [i.status for i in invs[:3]] == ["accepted", "expired", "expired"]
    replacements = invs[3:]
    assert len(replacements) == 2 and {r.replacement_of for r in replacements} == {first[1].id, first[2].id}
    now = core.clock.now()
    assert all(r.deadline == now + timedelta(hours=24) for r in replacements)
    assert "invitation_closed" in await outbox_kinds(core, st.who(first[1]).account_id)
    with pytest.raises(Conflict) as exc:
        await panels.accept(core.uow(), st.who(first[1]).roles, first[1].id, **YES)
    assert exc.value.code == "invitation.expired"


async def test_replacement_deadline_never_after_start_minus_one_hour(core: Core) -> None:
    st = await stage(core, starts_in=timedelta(hours=20), deadline_in=timedelta(hours=5))
    inv = (await st.pending())[0]
    await panels.decline(core.uow(), st.who(inv).roles, inv.id, "schedule")
    new = (await st.invitations())[-1]
    panel = await st.panel()
    assert new.deadline == panel.starts_at - timedelta(hours=1)


async def test_too_late_to_replace_goes_short(core: Core) -> None:
    admin = await make_admin(core)
    st = await stage(core, starts_in=timedelta(hours=3), deadline_in=timedelta(hours=1))
    core.clock.advance(timedelta(minutes=70))  # type: ignore[attr-defined]
    await panels.expire_overdue(core.uow())
    panel = await st.panel()
    assert panel.status == PanelStatus.SHORT and panel.short_detail and panel.short_detail["reason"] == "late"
    assert len(await st.invitations()) == 3
    assert "panel_short" in await outbox_kinds(core, admin.account_id)


async def test_exhausted_ranking_makes_the_panel_short(core: Core) -> None:
    admin = await make_admin(core)
    st = await stage(core, n=3)
    inv = (await st.pending())[0]
    await panels.decline(core.uow(), st.who(inv).roles, inv.id, "health")
    panel = await st.panel()
    assert panel.status == PanelStatus.SHORT
    assert panel.short_detail and panel.short_detail["open_seats"] == 1
    assert "panel_short" in await outbox_kinds(core, st.contact.account_id)  # type: ignore[attr-defined]
    assert "panel_short" in await outbox_kinds(core, admin.account_id)


@pytest.mark.parametrize("first", ["decline", "deadline", "cancel", "removal"])
async def test_accept_after_the_invitation_closed(core: Core, first: str) -> None:
    st = await stage(core)
    inv = (await st.pending())[0]
    roles = st.who(inv).roles
    if first == "decline":
        await panels.decline(core.uow(), roles, inv.id, "schedule")
        code = "invitation.already_answered"
    elif first == "deadline":
        core.clock.advance(timedelta(days=6))  # type: ignore[attr-defined]
        await panels.expire_overdue(core.uow())
        code = "invitation.expired"
    elif first == "cancel":
        await panels.cancel_panel(core.uow(), st.contact, st.panel_id, "项目撤销")  # type: ignore[arg-type]
        code = "invitation.panel_cancelled"
    else:
        uow = core.uow()
        async with uow:
            await panels.release_expert(uow, inv.expert_id, cause="removed", actor="account:1")
            await uow.commit()
        code = "invitation.cancelled"
    with pytest.raises(Conflict) as exc:
        await panels.accept(core.uow(), roles, inv.id, **YES)
    assert exc.value.code == code


async def test_list_invitations_shows_only_mine(core: Core) -> None:
    st = await stage(core)
    inv = (await st.pending())[0]
    mine = await panels.list_invitations(core.uow(), st.who(inv).roles)
    assert [v.id for v in mine] == [inv.id] and mine[0].status == "pending"
    with pytest.raises(Forbidden):
        await panels.list_invitations(core.uow(), st.contact)  # type: ignore[arg-type]
