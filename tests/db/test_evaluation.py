"""Evaluations (Art. 14) on a real database: rating, edit window, permissions, no-shows,
aggregates, commendation and review candidates, the poor-streak flag and commendations."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.bootstrap import Core
from core.clock import ManualClock
from core.db.models import Announcement, AuditEntry, Commendation, Evaluation, Flag, Invitation, Outbox, Panel
from core.enums import FlagKind, FlagStatus, PanelStatus
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.services import evaluation, flags
from core.services.refusal_rule import NO_SHOW
from tests.factories import make_admin, make_unit_contact
from tests.support.oversight import confirmed_panel, held_panel, pool


async def _count(core: Core, model: type, *where: object) -> int:
    async with core.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


async def _actions(core: Core, action: str) -> list[AuditEntry]:
    async with core.sessions() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def _rate_all(core: Core, held, scores: tuple[int, int, int] = (5, 5, 5), attendance: str = "present") -> None:
    for inv in held.invitations.values():
        await evaluation.record(core.uow(), held.unit, inv, professional=scores[0], attitude=scores[1],
                                quality=scores[2], attendance=attendance)


async def test_unit_rates_step_by_step_and_panel_becomes_evaluated(core: Core, clock: ManualClock) -> None:
    held = await held_panel(core, clock, await pool(core))
    first, *rest = held.invitations.values()
    r = await evaluation.rate(core.uow(), held.unit, first, professional=4)
    assert r.changed and not r.card.complete and r.card.professional == 4 and r.card.editable_until is None
    r = await evaluation.rate(core.uow(), held.unit, first, attitude=5, quality=3)
    assert not r.card.complete
    r = await evaluation.rate(core.uow(), held.unit, first, attendance="late", comment="  准时提交意见 <b>&  ")
    assert r.card.complete and r.card.comment == "准时提交意见 <b>&"
    assert r.card.editable_until == clock.now() + timedelta(days=7)
    async with core.sessions() as s:
        assert (await s.get(Panel, held.panel_id)).status == PanelStatus.COMPLETED.value  # type: ignore[union-attr]
    for inv in rest:
        await evaluation.record(core.uow(), held.unit, inv, professional=5, attitude=5, quality=5, attendance="present")
    async with core.sessions() as s:
        assert (await s.get(Panel, held.panel_id)).status == PanelStatus.EVALUATED.value  # type: ignore[union-attr]
        ev = await s.scalar(select(Evaluation).where(Evaluation.invitation_id == first))
    assert ev is not None and ev.rated_by == held.unit.actor and ev.completed_at == clock.now()
    rates = await _actions(core, "evaluation.rate")
    assert len(rates) == 5 and all("准时" not in e.details for e in rates)  # free text never in the chain
    assert len(await _actions(core, "panel.status")) >= 1


async def test_same_values_twice_change_nothing(core: Core, clock: ManualClock) -> None:
    held = await held_panel(core, clock, await pool(core))
    inv = next(iter(held.invitations.values()))
    assert (await evaluation.rate(core.uow(), held.unit, inv, professional=3)).changed
    again = await evaluation.rate(core.uow(), held.unit, inv, professional=3)
    assert not again.changed and again.card.professional == 3
    assert len(await _actions(core, "evaluation.rate")) == 1


async def test_edit_within_window_then_fixed(core: Core, clock: ManualClock) -> None:
    held = await held_panel(core, clock, await pool(core))
    inv = next(iter(held.invitations.values()))
    await evaluation.record(core.uow(), held.unit, inv, professional=3, attitude=3, quality=3, attendance="present")
    clock.advance(timedelta(days=6, hours=23))
    r = await evaluation.rate(core.uow(), held.unit, inv, quality=4)
    assert r.card.quality == 4 and len(await _actions(core, "evaluation.edit")) == 1
    clock.advance(timedelta(hours=2))
    with pytest.raises(Conflict) as exc:
        await evaluation.rate(core.uow(), held.unit, inv, quality=5)
    assert exc.value.code == "evaluation.fixed" and exc.value.params == {"days": 7}
    assert (await evaluation.card(core.uow(), inv)).fixed


async def test_only_the_requesting_units_contacts_may_rate(core: Core, clock: ManualClock) -> None:
    experts = await pool(core)
    held = await held_panel(core, clock, experts)
    inv = next(iter(held.invitations.values()))
    colleague = await make_unit_contact(core, unit_name=await _unit_name(core, held.panel_id))
    other_unit = await make_unit_contact(core)
    admin = await make_admin(core)
    for intruder in (other_unit, experts[0].roles, admin):
        with pytest.raises(Forbidden):
            await evaluation.rate(core.uow(), intruder, inv, professional=1)
    with pytest.raises(NotFound):
        await evaluation.rate(core.uow(), other_unit, 999_999, professional=1)
    assert len(await _actions(core, "security.refused")) == 4
    assert await _count(core, Evaluation) == 0
    assert (await evaluation.rate(core.uow(), colleague, inv, professional=2)).changed  # same unit: allowed


async def _unit_name(core: Core, panel_id: int) -> str:
    from core.db.models import UsingUnit

    async with core.sessions() as s:
        panel = await s.get(Panel, panel_id)
        unit = await s.get(UsingUnit, panel.unit_id)  # type: ignore[union-attr]
        return unit.name  # type: ignore[union-attr]


async def test_cannot_rate_before_the_service(core: Core) -> None:
    held = await confirmed_panel(core, await pool(core))
    inv = next(iter(held.invitations.values()))
    with pytest.raises(Conflict) as exc:
        await evaluation.rate(core.uow(), held.unit, inv, professional=4)
    assert exc.value.code == "evaluation.not_served"


@pytest.mark.parametrize("changes, code", [
    ({"professional": 0}, "evaluation.bad_score"),
    ({"attitude": 6}, "evaluation.bad_score"),
    ({"quality": "x"}, "evaluation.bad_score"),
    ({"attendance": "sleeping"}, "evaluation.bad_attendance"),
    ({"comment": "长" * 1001}, "text.too_long"),
    ({"comment": "bad\x00char"}, "text.chars"),
    ({"id_number": "1"}, "evaluation.bad_field"),
])
async def test_bad_values_are_refused(core: Core, clock: ManualClock, changes: dict, code: str) -> None:
    held = await held_panel(core, clock, await pool(core))
    with pytest.raises(DomainError) as exc:
        await evaluation.rate(core.uow(), held.unit, next(iter(held.invitations.values())), **changes)
    assert exc.value.code == code
    assert await _count(core, Evaluation) == 0


async def test_absence_is_a_no_show_and_a_correction_takes_it_back(core: Core, clock: ManualClock) -> None:
    held = await held_panel(core, clock, await pool(core))
    inv = next(iter(held.invitations.values()))
    await evaluation.record(core.uow(), held.unit, inv, professional=1, attitude=1, quality=1, attendance="absent")
    async with core.sessions() as s:
        row = await s.get(Invitation, inv)
        assert row is not None and row.decline_reason == NO_SHOW and row.justified is False
    assert len(await _actions(core, "invitation.no_show")) == 1
    await evaluation.rate(core.uow(), held.unit, inv, attendance="present")
    async with core.sessions() as s:
        row = await s.get(Invitation, inv)
        assert row is not None and row.decline_reason is None
    assert len(await _actions(core, "invitation.no_show_revoked")) == 1


async def test_aggregates_and_commendation(core: Core, clock: ManualClock) -> None:
    experts = await pool(core)
    unit = await make_unit_contact(core)
    admin = await make_admin(core)
    for i in range(5):
        held = await held_panel(core, clock, experts, unit)
        for eid, inv in held.invitations.items():
            top = eid == experts[0].id
            await evaluation.record(core.uow(), unit, inv, professional=5 if top else 4, attitude=5 if top or i else 3,
                                    quality=5 if top else 4, attendance="late" if (not top and i == 0) else "present")
    star = await evaluation.expert_aggregate(core.uow(), admin, experts[0].id)
    assert (star.count, star.professional, star.attitude, star.quality, star.attendance_rate) == (5, 5.0, 5.0, 5.0, 1.0)
    assert len(star.last_services) == 5 and star.last_services[0].starts_at > star.last_services[-1].starts_at
    other = await evaluation.expert_aggregate(core.uow(), admin, experts[1].id)
    assert (other.count, other.professional, other.attitude, other.late, other.attendance_rate) == (5, 4.0, 4.6, 1, 1.0)
    everyone = await evaluation.aggregates(core.uow(), admin)
    assert [a.expert_id for a in everyone][0] == experts[0].id and len(everyone) == 3

    cands = await evaluation.commendation_candidates(core.uow(), admin)
    assert [c.aggregate.expert_id for c in cands] == [experts[0].id]  # 4.0 < 4.5 keeps the others out
    with pytest.raises(Forbidden):
        await evaluation.commend(core.uow(), unit, experts[0].id, "表现突出")
    cid = await evaluation.commend(core.uow(), admin, experts[0].id, "认真履职，表现突出")
    assert await _count(core, Commendation, Commendation.id == cid) == 1
    async with core.sessions() as s:
        ann = (await s.scalars(select(Announcement).where(Announcement.kind == "commendation"))).one()
        note = (await s.scalars(select(Outbox).where(Outbox.kind == "commendation"))).one()
    assert set(ann.body) == {"name", "work_unit", "date"}
    assert note.account_id == experts[0].roles.account_id and note.params["note"] == "认真履职，表现突出"
    assert len(await _actions(core, "expert.commend")) == 1
    assert await evaluation.commendation_candidates(core.uow(), admin) == []  # commended since last evaluation
    assert (await evaluation.expert_aggregate(core.uow(), admin, experts[0].id)).commendations == 1


async def test_poor_streak_raises_one_flag_per_streak(core: Core, clock: ManualClock) -> None:
    experts = await pool(core)
    unit = await make_unit_contact(core)
    admin = await make_admin(core)
    weak = experts[0].id

    async def round_(weak_scores: tuple[int, int, int]) -> None:
        held = await held_panel(core, clock, experts, unit)
        for eid, inv in held.invitations.items():
            s = weak_scores if eid == weak else (5, 5, 5)
            await evaluation.record(core.uow(), unit, inv, professional=s[0], attitude=s[1], quality=s[2],
                                    attendance="present")

    await round_((2, 2, 3))
    await round_((1, 2, 2))
    assert await _count(core, Flag) == 0
    await round_((2, 3, 2))  # third poor one: mean 2.33 < 2.5
    open_flags = await flags.list_flags(core.uow(), admin)
    assert len(open_flags) == 1 and open_flags[0].kind == FlagKind.POOR_EVALUATIONS.value
    ev = open_flags[0].evidence
    assert ev["rule"] == "poor_streak" and len(ev["evaluations"]) == 3 and ev["evaluations"][0]["mean"] == 2.33
    assert await _count(core, Outbox, Outbox.kind == "poor_evaluations_flag", Outbox.account_id == admin.account_id) == 1
    review = await evaluation.review_candidates(core.uow(), admin)
    assert [(r.aggregate.expert_id, r.flag_id) for r in review] == [(weak, open_flags[0].id)]

    await round_((1, 1, 1))  # streak goes on while the flag is open: no second flag
    assert await _count(core, Flag) == 1
    await flags.close_flag(core.uow(), admin, open_flags[0].id, "已约谈了解情况")
    await round_((1, 1, 2))  # a newer poor evaluation after the decision: a new flag
    assert await _count(core, Flag, Flag.status == FlagStatus.OPEN.value) == 1
    assert await _count(core, Flag) == 2
    await round_((5, 5, 5))  # the streak is broken
    review = await evaluation.review_candidates(core.uow(), admin)
    assert [r.streak_means for r in review] == [()]  # only the open flag keeps them on the list


async def test_views_need_admin_or_supervisor(core: Core, clock: ManualClock) -> None:
    experts = await pool(core)
    unit = await make_unit_contact(core)
    supervisor = await make_admin(core, supervisor=True)
    assert await evaluation.aggregates(core.uow(), supervisor) == []
    for fn in (evaluation.aggregates, evaluation.commendation_candidates, evaluation.review_candidates):
        with pytest.raises(Forbidden):
            await fn(core.uow(), unit)
    with pytest.raises(Forbidden):
        await evaluation.expert_aggregate(core.uow(), experts[0].roles, experts[0].id)
    with pytest.raises(Forbidden):
        await evaluation.commend(core.uow(), supervisor, experts[0].id, "")


async def test_pending_for_unit_lists_unrated_services(core: Core, clock: ManualClock) -> None:
    held = await held_panel(core, clock, await pool(core))
    first = next(iter(held.invitations.values()))
    assert len(await evaluation.pending_for_unit(core.uow(), held.unit)) == 3
    await evaluation.record(core.uow(), held.unit, first, professional=4, attitude=4, quality=4, attendance="present")
    cards = await evaluation.pending_for_unit(core.uow(), held.unit)
    assert len(cards) == 2 and first not in {c.invitation_id for c in cards}
    assert await evaluation.pending_for_unit(core.uow(), await make_unit_contact(core)) == []
