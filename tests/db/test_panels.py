"""Panel requests and draws on a real database: the pool, every exclusion reason, short pools,
confidential views, verification, cancellation, completion and recorded exclusions."""
from __future__ import annotations

import json
import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from core.bootstrap import Core
from core.conflicts import normalize_unit_name, party_key
from core.db.models import AuditEntry, Draw, Invitation, Outbox, Panel
from core.enums import ExclusionReason, ExpertStatus, InvitationStatus, PanelStatus
from core.errors import Conflict, DomainError, Forbidden
from core.services import enrolment, panels
from core.services.pool import bare_eligible_ids, compute_pool, pool_query
from core.services.seating import stored_ranking
from tests.factories import (
    make_admin,
    make_expert,
    make_unit_contact,
    outbox_kinds,
    panel_form,
    rows,
)

USCC_A = "91350100M000100Y43"  # a well-formed unified social credit code


async def _exclusions(core: Core, panel_id: int) -> dict[str, tuple[str, str]]:
    draw = (await rows(core, Draw, Draw.panel_id == panel_id))[-1]
    return {c: (r, d) for c, r, d in json.loads(draw.exclusions)}


async def _invited(core: Core, panel_id: int) -> list[Invitation]:
    return await rows(core, Invitation, Invitation.panel_id == panel_id)


async def test_request_draws_records_then_invites(core: Core) -> None:
    contact = await make_unit_contact(core)
    experts = [await make_expert(core, ["eia"]) for _ in range(6)]
    res = await panels.request_panel(core.uow(), contact, panel_form(core))
    assert res.status == PanelStatus.INVITING and res.invited == 3 and res.pool_size == 6 and not res.shortfall
    invs = await _invited(core, res.panel_id)
    assert [i.status for i in invs] == ["pending"] * 3
    draw = (await rows(core, Draw, Draw.panel_id == res.panel_id))[0]
    ranking, masks = stored_ranking(draw)
    assert sorted(ranking) == sorted(e.code for e in experts)
    assert [c for c, _ in draw.selection] == ranking[:3]
    assert [i.rank for i in invs] == [1, 2, 3] and all(i.draw_id == draw.id for i in invs)
    assert all(inv.deadline == panel_form(core).response_deadline for inv in invs)
    entries = await rows(core, AuditEntry, order_by=AuditEntry.seq)
    record = next(e for e in entries if e.action == "draw.record")
    creates = [e for e in entries if e.action == "invitation.create"]
    assert len(creates) == 3 and all(e.seq > record.seq for e in creates)
    assert draw.digest in record.details and draw.seed in record.details
    # The experts get an invitation each, the unit a status with counts only.
    assert sorted(await outbox_kinds(core)) == ["invitation"] * 3 + ["panel_status"]
    status = (await rows(core, Outbox, Outbox.kind == "panel_status"))[0]
    assert status.account_id == contact.account_id and status.params["pending"] == 3
    assert not any(e.code in str(status.params) or "专家" in str(status.params) for e in experts)
    invitation_msg = (await rows(core, Outbox, Outbox.kind == "invitation"))[0]
    assert set(invitation_msg.params) >= {"invitation_id", "deadline", "title", "parties", "starts_at"}
    assert not any(e.code in str(invitation_msg.params) for e in experts)


async def test_a_draw_stores_the_request_as_given(core: Core) -> None:
    """Every column the request sets, the fields and the parties (with credit codes, in the
    form's order), read back (PostgreSQL writes them in one statement of its own, SQLite in
    four Core INSERTs)."""
    from core.db.models import Category, PanelField, PanelParty

    contact = await make_unit_contact(core)
    for i in range(8):
        await make_expert(core, ["eia", "monitoring"] if i % 2 else ["eia"])
    form = panel_form(core, fields=[("eia", 2), ("monitoring", 1)], size=3,
                      parties=[("甲化工有限公司", None), ("乙（集团）有限责任公司", USCC_A)])
    form = form.model_copy(update={"description": "园区规划环评，含地下水专题"})
    res = await panels.request_panel(core.uow(), contact, form)
    assert res.status == PanelStatus.INVITING and res.invited == 3
    (panel,) = await rows(core, Panel, Panel.id == res.panel_id)
    assert (panel.unit_id, panel.contact_id, panel.title, panel.matter_type, panel.description, panel.location) == (
        contact.unit_id, contact.contact_id, form.title, form.matter_type.value, form.description, form.location)
    assert (panel.starts_at, panel.ends_at, panel.size, panel.response_deadline) == (
        form.starts_at, form.ends_at, form.size, form.response_deadline)
    assert panel.status == "inviting" and panel.short_detail is None and panel.cancel_reason == ""
    assert panel.created_at == panel.updated_at == core.clock.now() and panel.confirmed_at is None
    codes = {c.id: c.code for c in await rows(core, Category)}
    fields = await rows(core, PanelField, PanelField.panel_id == panel.id, order_by=PanelField.position)
    assert [(codes[f.category_id], f.quota, f.position) for f in fields] == [("eia", 2, 0), ("monitoring", 1, 1)]
    parties = await rows(core, PanelParty, PanelParty.panel_id == panel.id)
    assert [(p.name, p.name_norm, p.uscc) for p in parties] == [
        (p.name, normalize_unit_name(p.name), p.uscc) for p in form.parties]
    (draw,) = await rows(core, Draw, Draw.panel_id == panel.id)
    assert draw.id == res.draw_id and draw.created_at == core.clock.now() and len(draw.selection) == 3
    assert await panels.verify_draw(core.uow(), panel.id) == []


async def test_only_contacts_or_admins_request(core: Core) -> None:
    contact = await make_unit_contact(core)
    expert = await make_expert(core, ["eia"])
    for _ in range(3):
        await make_expert(core, ["eia"])
    with pytest.raises(Forbidden) as exc:
        await panels.request_panel(core.uow(), expert.roles, panel_form(core))
    assert exc.value.code == "role.contact_required"
    admin = await make_admin(core)
    with pytest.raises(DomainError) as exc2:
        await panels.request_panel(core.uow(), admin, panel_form(core))
    assert exc2.value.code == "panel.unit_required"
    res = await panels.request_panel(core.uow(), admin, panel_form(core), unit_id=contact.unit_id)
    assert res.invited == 3
    # Without a requesting contact, the unit's contacts hear about it.
    assert "panel_status" in await outbox_kinds(core, contact.account_id)


async def test_request_rechecks_time(core: Core) -> None:
    contact = await make_unit_contact(core)
    form = panel_form(core, starts_in=timedelta(days=2), deadline_in=timedelta(days=1))
    core.clock.advance(timedelta(days=3))  # type: ignore[attr-defined]
    with pytest.raises(DomainError) as exc:
        await panels.request_panel(core.uow(), contact, form)
    assert {e[1] for e in exc.value.errors} == {"panel.time_past", "panel.deadline_past"}  # type: ignore[attr-defined]
    assert await rows(core, Panel) == []


# --- one test per exclusion reason -----------------------------------------------------------

async def _request_with(core: Core, **kw: object) -> panels.RequestResult:
    contact = await make_unit_contact(core, kw.pop("unit_name", None))  # type: ignore[arg-type]
    for _ in range(4):
        await make_expert(core, ["eia"])
    return await panels.request_panel(core.uow(), contact, panel_form(core, **kw))  # type: ignore[arg-type]


async def test_exclusion_not_active(core: Core) -> None:
    x = await make_expert(core, ["eia"], status=ExpertStatus.SUSPENDED.value)
    res = await _request_with(core)
    assert (await _exclusions(core, res.panel_id))[x.code] == (ExclusionReason.NOT_ACTIVE, "")


async def test_exclusion_term_not_covering(core: Core) -> None:
    today = core.clock.now().date()
    x = await make_expert(core, ["eia"], term_end=today + timedelta(days=10))  # meeting in 14 days
    y = await make_expert(core, ["eia"], term_start=today + timedelta(days=20))
    res = await _request_with(core)
    excl = await _exclusions(core, res.panel_id)
    assert excl[x.code][0] == excl[y.code][0] == ExclusionReason.TERM


async def test_a_term_exactly_covering_the_meeting_days_is_in_term(core: Core) -> None:
    """The term's bounds are inclusive, on both engines (SQLite compares the stored ISO texts)."""
    from core.panel_request import meeting_days

    contact = await make_unit_contact(core)
    form = panel_form(core, size=3, fields=[("eia", 3)])
    days = meeting_days(form.starts_at, form.ends_at, core.settings.tz)
    first, last = days[0], days[-1]
    exact = [await make_expert(core, ["eia"], term_start=first, term_end=last) for _ in range(3)]
    ends_early = await make_expert(core, ["eia"], term_start=first - timedelta(days=400), term_end=last - timedelta(1))
    starts_late = await make_expert(core, ["eia"], term_start=first + timedelta(1), term_end=last + timedelta(400))
    res = await panels.request_panel(core.uow(), contact, form)
    assert res.invited == 3 and res.pool_size == 3
    assert {i.expert_id for i in await _invited(core, res.panel_id)} == {x.id for x in exact}
    excl = await _exclusions(core, res.panel_id)
    assert excl[ends_early.code] == excl[starts_late.code] == (ExclusionReason.TERM, "")


async def test_exclusion_unavailable_on_a_local_meeting_day(core: Core) -> None:
    # 2026-11-16 01:00 UTC is 09:00 in Urumqi's bureau zone (Asia/Shanghai): the local day counts.
    x = await make_expert(core, ["eia"], unavailable=[date(2026, 11, 16)])
    other_day = await make_expert(core, ["eia"], unavailable=[date(2026, 11, 15)])
    res = await _request_with(core)
    excl = await _exclusions(core, res.panel_id)
    assert excl[x.code] == (ExclusionReason.UNAVAILABLE, "day:2026-11-16")
    assert other_day.code not in excl


async def test_exclusion_booked_at_an_overlapping_time(core: Core) -> None:
    contact = await make_unit_contact(core)
    x = await make_expert(core, ["eia", "monitoring"])
    for _ in range(2):
        await make_expert(core, ["monitoring"])
    first = await panels.request_panel(core.uow(), contact, panel_form(core, fields=[("monitoring", None)]))
    assert x.id in {i.expert_id for i in await _invited(core, first.panel_id)}
    for _ in range(3):
        await make_expert(core, ["eia"])
    overlapping = await panels.request_panel(
        core.uow(), contact, panel_form(core, starts_in=timedelta(days=14, hours=2)))
    assert (await _exclusions(core, overlapping.panel_id))[x.code] == (ExclusionReason.BOOKED, f"panel:{first.panel_id}")
    later = await panels.request_panel(core.uow(), contact, panel_form(core, starts_in=timedelta(days=15)))
    assert x.code not in await _exclusions(core, later.panel_id)


async def test_first_invitations_and_replacements_describe_the_matter_alike(core: Core) -> None:
    """A draw's invitations name the matter from the request as given (the new panel's parties
    are never read back); a replacement's from the stored panel: the same, party by party."""
    contact = await make_unit_contact(core)
    experts = {e.id: e for e in [await make_expert(core, ["eia"]) for _ in range(5)]}
    form = panel_form(core, parties=[("某某化工有限公司", None), ("", USCC_A)])
    res = await panels.request_panel(core.uow(), contact, form)
    first = {i.expert_id: i for i in await _invited(core, res.panel_id)}
    declined = next(iter(first.values()))
    await panels.decline(core.uow(), experts[declined.expert_id].roles, declined.id, "schedule")
    invited = await rows(core, Outbox, Outbox.kind == "invitation", order_by=Outbox.id)
    assert len(invited) == 4
    matters = [{k: v for k, v in o.params.items() if k not in ("invitation_id", "deadline", "replacement")}
               for o in invited]
    assert matters[0]["parties"] == ["某某化工有限公司", USCC_A]
    assert matters[0]["unit"] and matters[0]["panel_id"] == res.panel_id
    assert all(m == matters[0] for m in matters)
    assert [o.params["replacement"] for o in invited] == [False, False, False, True]


async def test_a_declined_seat_or_a_cancelled_panel_books_nobody(core: Core) -> None:
    """Only a pending or accepted invitation to an open panel books its expert."""
    contact = await make_unit_contact(core)
    first_three = [await make_expert(core, ["eia", "monitoring"]) for _ in range(3)]
    for _ in range(4):
        await make_expert(core, ["eia"])
    first = await panels.request_panel(core.uow(), contact, panel_form(core, fields=[("monitoring", None)]))
    invited = {i.expert_id: i for i in await _invited(core, first.panel_id)}
    assert set(invited) == {e.id for e in first_three}
    x, *others = first_three
    await panels.decline(core.uow(), x.roles, invited[x.id].id, "schedule")
    overlapping = await panels.request_panel(core.uow(), contact,
                                             panel_form(core, starts_in=timedelta(days=14, hours=2)))
    excluded = await _exclusions(core, overlapping.panel_id)
    assert excluded.get(x.code, (None,))[0] != ExclusionReason.BOOKED
    assert all(excluded[e.code] == (ExclusionReason.BOOKED, f"panel:{first.panel_id}") for e in others)
    await panels.cancel_panel(core.uow(), contact, first.panel_id, "项目暂停")
    again = await panels.request_panel(core.uow(), contact, panel_form(core, starts_in=timedelta(days=14, hours=1)))
    assert f"panel:{first.panel_id}" not in {d for _, d in (await _exclusions(core, again.panel_id)).values()}


@pytest.mark.parametrize("expert_unit, party", [
    ("新疆某某化工有限责任公司", "新疆某某化工有限公司"),
    ("新疆某某化工（集团）有限公司", "新疆某某化工(集团)有限公司"),
    ("新疆 某某 化工有限公司", "新疆某某化工有限公司 "),
    ("ABC Environmental Co., Ltd.", "abc environmental co., ltd"),
])
async def test_exclusion_current_unit_by_normalised_name(core: Core, expert_unit: str, party: str) -> None:
    x = await make_expert(core, ["eia"], work_unit=expert_unit)
    res = await _request_with(core, parties=[("另一家公司", None), (party, None)])
    assert (await _exclusions(core, res.panel_id))[x.code] == (ExclusionReason.CONFLICT_CURRENT_UNIT, "party:1")


async def test_exclusion_current_unit_by_credit_code_and_requesting_unit(core: Core) -> None:
    by_code = await make_expert(core, ["eia"], work_unit="改了名字的公司", work_unit_uscc=USCC_A)
    same_name_other_code = await make_expert(core, ["eia"], work_unit="某某化工有限公司",
                                             work_unit_uscc="91110000100000000X".replace("X", "0"))
    requester = await make_expert(core, ["eia"], work_unit="乌鲁木齐市某某规划设计院")
    res = await _request_with(core, unit_name="乌鲁木齐市某某规划设计院",
                              parties=[("某某化工有限公司", USCC_A)])
    excl = await _exclusions(core, res.panel_id)
    assert excl[by_code.code] == (ExclusionReason.CONFLICT_CURRENT_UNIT, "party:0")
    assert excl[requester.code] == (ExclusionReason.CONFLICT_CURRENT_UNIT, "unit")
    # Both sides have credit codes and they differ: not the same organisation.
    assert same_name_other_code.code not in excl


async def test_organisation_matching_in_sql_is_core_conflicts_matches(core: Core) -> None:
    """Every combination of names and credit codes, on the current and the previous unit: the
    pool's SQL strikes exactly the experts `core.conflicts.matches` pairs with a party, and
    names the first such party."""
    from core.conflicts import matches

    code_b = "91110000100000000X".replace("X", "0")
    orgs = [("某某化工有限公司", None), ("某某化工有限公司", USCC_A), ("某某化工有限公司", code_b),
            ("别的公司", USCC_A), ("别的公司", None), ("别的公司", code_b), ("第三家公司", USCC_A)]
    parties = [("某某化工有限公司", None), ("别的公司", USCC_A)]
    today = core.clock.now().date()
    made = []
    for name, uscc in orgs:
        made.append((await make_expert(core, ["eia"], work_unit=name, work_unit_uscc=uscc), name, uscc, "current"))
        made.append((await make_expert(core, ["eia"], previous_units=[(name, uscc, today)]), name, uscc, "previous"))
    res = await _request_with(core, parties=parties)
    excl = await _exclusions(core, res.panel_id)
    keys = [party_key(n, u) for n, u in parties]
    for expert, name, uscc, which in made:
        first = next((i for i, k in enumerate(keys) if matches(party_key(name, uscc), k)), None)
        if first is None:
            assert expert.code not in excl, (name, uscc, which)
        else:
            reason = (ExclusionReason.CONFLICT_CURRENT_UNIT if which == "current"
                      else ExclusionReason.CONFLICT_PREVIOUS_UNIT)
            assert excl[expert.code] == (reason, f"party:{first}"), (name, uscc, which)


async def test_exclusion_previous_unit_within_lookback(core: Core) -> None:
    today = core.clock.now().date()
    recent = await make_expert(core, ["eia"], previous_units=[("某某化工有限责任公司", None, today - timedelta(days=400))])
    undated = await make_expert(core, ["eia"], previous_units=[("某某化工有限公司", None, None)])
    long_ago = await make_expert(core, ["eia"], previous_units=[("某某化工有限公司", None, date(2020, 1, 1))])
    res = await _request_with(core)
    excl = await _exclusions(core, res.panel_id)
    assert excl[recent.code] == excl[undated.code] == (ExclusionReason.CONFLICT_PREVIOUS_UNIT, "party:0")
    assert long_ago.code not in excl


async def test_exclusion_declared_conflict(core: Core) -> None:
    x = await make_expert(core, ["eia"], declared=[("某某化工有限公司", None)])
    res = await _request_with(core)
    assert (await _exclusions(core, res.panel_id))[x.code] == (ExclusionReason.CONFLICT_DECLARED, "party:0")


async def test_exclusion_recorded_by_admin(core: Core) -> None:
    x = await make_expert(core, ["eia"], recorded=[("", USCC_A)])
    res = await _request_with(core, parties=[("某某化工有限公司", USCC_A)])
    assert (await _exclusions(core, res.panel_id))[x.code] == (ExclusionReason.CONFLICT_RECORDED, "party:0")


async def test_out_of_scope_experts_are_not_listed(core: Core) -> None:
    other_field = await make_expert(core, ["nuclear"], status=ExpertStatus.REMOVED.value)
    res = await _request_with(core)
    assert other_field.code not in await _exclusions(core, res.panel_id)


async def test_pool_agrees_with_the_bare_query(core: Core) -> None:
    """Random experts with random conditions: the pool equals the bare SELECT's ids."""
    rnd = random.Random(7)
    today = core.clock.now().date()
    names = ["某某化工有限公司", "新疆某某环境科技有限公司", "某某设计院"]
    for i in range(60):
        fields = rnd.sample(["eia", "monitoring", "climate", "nuclear"], rnd.randint(1, 3))
        await make_expert(
            core, fields,
            status=rnd.choice([ExpertStatus.ACTIVE.value] * 5 + [ExpertStatus.EXPIRED.value]),
            term_end=today + timedelta(days=rnd.choice([5, 400])),
            work_unit=rnd.choice(names + [f"独立单位{i}"] * 6),
            previous_units=[(rnd.choice(names), None, today - timedelta(days=rnd.choice([100, 2000])))] if rnd.random() < .3 else [],
            unavailable=[date(2026, 11, 16)] if rnd.random() < .1 else [],
            declared=[(rnd.choice(names), None)] if rnd.random() < .1 else [],
        )
    contact = await make_unit_contact(core, "某某设计院")
    res = await panels.request_panel(core.uow(), contact, panel_form(
        core, fields=[("eia", 2), ("monitoring", 1)], parties=[(names[0], None), (names[1], None)]))
    uow = core.uow()
    async with uow:
        panel = await uow.session.get(Panel, res.panel_id)
        assert panel is not None
        q = pool_query(panel, [f.category_id for f in panel.fields], party_key("某某设计院", None),
                       core.settings.tz, 3)
        pool = await compute_pool(uow, q)
        bare = await bare_eligible_ids(uow, q)
    assert sorted(int(c[1:]) for c in pool.eligible) == bare
    draw = (await rows(core, Draw, Draw.panel_id == res.panel_id))[0]
    assert sorted(stored_ranking(draw)[0]) == sorted(pool.eligible)
    assert {c for c, _ in draw.selection} <= set(pool.eligible)
    assert {c for c, *_ in json.loads(draw.exclusions)} == {c for c, *_ in pool.exclusions}


# --- short pools -----------------------------------------------------------------------------

async def test_short_pool_invites_nobody_and_names_the_shortfall(core: Core) -> None:
    admin = await make_admin(core)
    contact = await make_unit_contact(core)
    for _ in range(3):
        await make_expert(core, ["eia"])
    await make_expert(core, ["monitoring"], status=ExpertStatus.EXPIRED.value)
    res = await panels.request_panel(core.uow(), contact, panel_form(core, fields=[("eia", 2), ("monitoring", 1)]))
    assert res.status == PanelStatus.SHORT and res.invited == 0
    assert [(s.fields, s.needed, s.available) for s in res.shortfall] == [(("monitoring",), 1, 0)]
    assert await _invited(core, res.panel_id) == []
    panel = (await rows(core, Panel))[0]
    assert panel.short_detail is not None and panel.short_detail["groups"][0]["fields"] == ["monitoring"]
    assert await outbox_kinds(core, contact.account_id) == ["panel_short"]
    assert await outbox_kinds(core, admin.account_id) == ["panel_short"]
    msg = (await rows(core, Outbox, Outbox.account_id == admin.account_id))[0]
    assert msg.params["options"] == ["relax", "directed"] and msg.params["open_seats"] == 3


# --- confidentiality of the views -------------------------------------------------------------

async def test_views_respect_confidentiality(core: Core) -> None:
    contact = await make_unit_contact(core)
    stranger = await make_unit_contact(core)
    supervisor = await make_admin(core, supervisor=True)
    experts = {e.id: e for e in [await make_expert(core, ["eia"]) for _ in range(4)]}
    res = await panels.request_panel(core.uow(), contact, panel_form(core))
    with pytest.raises(Forbidden):
        await panels.panel_view(core.uow(), stranger, res.panel_id)
    refused = await rows(core, AuditEntry, AuditEntry.action == "security.refused")
    assert refused and refused[-1].actor == stranger.actor
    with pytest.raises(Forbidden):
        await panels.draw_view(core.uow(), contact, res.panel_id)
    assert [p.id for p in await panels.list_panels(core.uow(), stranger)] == []
    assert [p.id for p in await panels.list_panels(core.uow(), contact)] == [res.panel_id]
    view = await panels.panel_view(core.uow(), contact, res.panel_id)
    assert view.roster is None and view.counts["pending"] == 3
    assert (await panels.panel_view(core.uow(), supervisor, res.panel_id)).roster == ()
    invs = await _invited(core, res.panel_id)
    iv = await panels.invitation_view(core.uow(), experts[invs[0].expert_id].roles, invs[0].id)
    assert iv.title and iv.parties and "roster" not in iv.__dataclass_fields__
    with pytest.raises(Forbidden):
        await panels.invitation_view(core.uow(), experts[invs[1].expert_id].roles, invs[0].id)
    for inv in invs:
        await panels.accept(core.uow(), experts[inv.expert_id].roles, inv.id, unit_consent=True, no_conflict=True,
                            confidentiality=True)
    view = await panels.panel_view(core.uow(), contact, res.panel_id)
    assert view.status == PanelStatus.CONFIRMED and view.roster is not None
    assert {r["code"] for r in view.roster} == {f"E{i.expert_id:06d}" for i in invs}
    assert len(view.roster) == 3 and all(r["phone"] and r["unit"] and not r["directed"] for r in view.roster)


# --- verification -----------------------------------------------------------------------------

async def test_verify_draw_passes_then_catches_an_altered_ranking(core: Core) -> None:
    contact = await make_unit_contact(core)
    supervisor = await make_admin(core, supervisor=True)
    for i in range(8):
        await make_expert(core, ["eia", "monitoring"] if i % 2 else ["eia"])
    res = await panels.request_panel(core.uow(), contact, panel_form(core, fields=[("eia", 2), ("monitoring", 1)]))
    assert await panels.verify_draw(core.uow(), res.panel_id) == []
    view = await panels.draw_view(core.uow(), supervisor, res.panel_id)
    assert view.problems == () and view.pool_size == 8 and len(view.selection) == 3
    draw = (await rows(core, Draw))[0]
    items = draw.ranking.split(",")
    items[0], items[1] = items[1], items[0]
    async with core.engine.begin() as conn:
        await conn.execute(text("UPDATE draws SET ranking = :r WHERE id = :i"), {"r": ",".join(items), "i": draw.id})
    problems = await panels.verify_draw(core.uow(), res.panel_id)
    assert any(p.startswith("ranking:") for p in problems)
    assert any(p.startswith("digest:") for p in problems)


async def test_verify_draw_catches_a_rewritten_digest(core: Core) -> None:
    contact = await make_unit_contact(core)
    for _ in range(4):
        await make_expert(core, ["eia"])
    res = await panels.request_panel(core.uow(), contact, panel_form(core))
    async with core.engine.begin() as conn:
        await conn.execute(text("UPDATE draws SET exclusions = :e, digest = :d"),
                           {"e": '[["E000099","term",""]]', "d": "0" * 64})
    problems = await panels.verify_draw(core.uow(), res.panel_id)
    assert any(p.startswith("digest:") for p in problems) and any(p.startswith("audit:") for p in problems)


# --- cancellation, completion, exclusions, withdrawal -----------------------------------------

async def test_cancel_tells_invited_experts_and_refuses_later_answers(core: Core) -> None:
    contact = await make_unit_contact(core)
    stranger = await make_unit_contact(core)
    experts = {e.id: e for e in [await make_expert(core, ["eia"]) for _ in range(3)]}
    res = await panels.request_panel(core.uow(), contact, panel_form(core))
    with pytest.raises(Forbidden):
        await panels.cancel_panel(core.uow(), stranger, res.panel_id, "不需要了")
    with pytest.raises(DomainError):
        await panels.cancel_panel(core.uow(), contact, res.panel_id, "  ")
    assert await panels.cancel_panel(core.uow(), contact, res.panel_id, "项目暂停") == 3
    for inv in await _invited(core, res.panel_id):
        assert inv.status == InvitationStatus.CANCELLED
        assert "panel_cancelled" in await outbox_kinds(core, experts[inv.expert_id].account_id)
        with pytest.raises(Conflict) as exc:
            await panels.accept(core.uow(), experts[inv.expert_id].roles, inv.id, unit_consent=True,
                                no_conflict=True, confidentiality=True)
        assert exc.value.code == "invitation.panel_cancelled"
    with pytest.raises(Conflict):
        await panels.cancel_panel(core.uow(), contact, res.panel_id, "再次取消")


async def test_complete_finished(core: Core) -> None:
    contact = await make_unit_contact(core)
    experts = {e.id: e for e in [await make_expert(core, ["eia"]) for _ in range(3)]}
    res = await panels.request_panel(core.uow(), contact, panel_form(core))
    for inv in await _invited(core, res.panel_id):
        await panels.accept(core.uow(), experts[inv.expert_id].roles, inv.id, unit_consent=True, no_conflict=True,
                            confidentiality=True)
    assert await panels.complete_finished(core.uow()) == []
    core.clock.advance(timedelta(days=15))  # type: ignore[attr-defined]
    assert await panels.complete_finished(core.uow()) == [res.panel_id]
    assert (await rows(core, Panel))[0].status == PanelStatus.COMPLETED


async def test_record_exclusion_releases_the_seat_at_once(core: Core) -> None:
    admin = await make_admin(core)
    contact = await make_unit_contact(core)
    for _ in range(5):
        await make_expert(core, ["eia"])
    res = await panels.request_panel(core.uow(), contact, panel_form(core))
    first = (await _invited(core, res.panel_id))[0]
    with pytest.raises(Forbidden):
        await panels.record_exclusion(core.uow(), contact, first.expert_id, "某某化工有限公司", None, "亲属关系")
    await panels.record_exclusion(core.uow(), admin, first.expert_id, "某某化工有限责任公司", None, "亲属在该公司任职")
    invs = await _invited(core, res.panel_id)
    assert invs[0].status == InvitationStatus.CANCELLED
    assert len([i for i in invs if i.status == InvitationStatus.PENDING]) == 3
    assert invs[-1].replacement_of == first.id
    again = await panels.request_panel(core.uow(), contact, panel_form(core, starts_in=timedelta(days=20)))
    assert (await _exclusions(core, again.panel_id))[f"E{first.expert_id:06d}"][0] == ExclusionReason.CONFLICT_RECORDED


async def test_withdrawal_from_the_roster_frees_seats(core: Core) -> None:
    contact = await make_unit_contact(core)
    experts = {e.id: e for e in [await make_expert(core, ["eia"]) for _ in range(4)]}
    res = await panels.request_panel(core.uow(), contact, panel_form(core))
    leaving = (await _invited(core, res.panel_id))[1]
    await enrolment.withdraw(core.uow(), leaving.expert_id, actor=experts[leaving.expert_id].roles.actor)
    invs = await _invited(core, res.panel_id)
    assert next(i for i in invs if i.id == leaving.id).status == InvitationStatus.CANCELLED
    assert invs[-1].replacement_of == leaving.id and invs[-1].status == InvitationStatus.PENDING
    with pytest.raises(Conflict) as exc:
        await panels.accept(core.uow(), experts[leaving.expert_id].roles, leaving.id, unit_consent=True,
                            no_conflict=True, confidentiality=True)
    assert exc.value.code == "invitation.cancelled"


async def test_stored_ranking_holds_codes_with_requested_field_bits(core: Core) -> None:
    """The stored ranking is compact text: the codes joined by ',', and beside it each ranked
    expert's field bits among the requested fields, in the same order."""
    contact = await make_unit_contact(core)
    experts = [await make_expert(core, ["eia", "climate"]) for _ in range(3)]
    res = await panels.request_panel(core.uow(), contact, panel_form(core))
    async with core.sessions() as s:
        ranking, masks = (await s.execute(select(Draw.ranking, Draw.masks).where(Draw.panel_id == res.panel_id))).one()
    assert sorted(ranking.split(",")) == sorted(e.code for e in experts)
    assert masks.split(",") == [str(1 << 5)] * 3


async def test_forgetting_a_status_message_spares_one_stored_meanwhile(core: Core) -> None:
    """The notifier forgets the message it found gone or superseded; if the handler stored a new
    one in between, that one stays (the clear is conditional on the message it forgets)."""
    from core.services import panel_messages

    contact = await make_unit_contact(core)
    for _ in range(3):
        await make_expert(core, ["eia"])
    result = await panels.request_panel(core.uow(), contact, panel_form(core))
    await panel_messages.set_status_message(core.uow(), contact, result.panel_id, 700, 11)
    await panel_messages.set_status_message(core.uow(), contact, result.panel_id, 700, 12)  # the handler's newer post
    assert not await panel_messages.clear_status_message(core.uow(), result.panel_id, 700, 11)
    assert (await panel_messages.status_message(core.uow(), result.panel_id)).message_id == 12  # type: ignore[union-attr]
    assert await panel_messages.clear_status_message(core.uow(), result.panel_id, 700, 12)
    assert await panel_messages.status_message(core.uow(), result.panel_id) is None
