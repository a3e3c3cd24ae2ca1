"""Chat drafts (several flows per person, one active), unavailable days, confidential reports and
the expert's own profile, on both engines."""
from __future__ import annotations

from datetime import date

import pytest

from core.bootstrap import Core
from core.db.models import Account, AuditEntry, ConversationState, Flag, Outbox, Unavailability
from core.errors import DomainError, Forbidden
from core.services import availability, chat_support, drafts, reports
from core.services.accounts import Roles
from tests.factories import make_admin, make_expert, make_unit_contact, rows


async def _account(core: Core) -> int:
    async with core.sessions() as s:
        acc = Account(telegram_id=555, created_at=core.clock.now())
        s.add(acc)
        await s.commit()
        return acc.id


# --- drafts ----------------------------------------------------------------------------------

async def test_draft_save_get_clear(core: Core) -> None:
    acc = await _account(core)
    assert await drafts.active(core.uow(), acc) is None
    await drafts.save(core.uow(), acc, "apply", "name", {"answers": {"name": "张三 <b>"}})
    d = await drafts.active(core.uow(), acc)
    assert d is not None and (d.flow, d.step, d.data) == ("apply", "name", {"answers": {"name": "张三 <b>"}})
    await drafts.save(core.uow(), acc, "apply", "gender", {"answers": {"name": "张三 <b>", "id_number": "x"}})
    d = await drafts.get(core.uow(), acc, "apply")
    assert d is not None and d.step == "gender" and d.data["answers"]["id_number"] == "x"
    await drafts.clear(core.uow(), acc, "apply")
    assert await drafts.get(core.uow(), acc, "apply") is None
    assert await rows(core, ConversationState) == []


async def test_a_short_flow_does_not_lose_the_long_one(core: Core) -> None:
    acc = await _account(core)
    await drafts.save(core.uow(), acc, "apply", "email", {"answers": {"name": "张三"}})
    await drafts.save(core.uow(), acc, "inv_reason", "text", {"invitation_id": 7})
    active = await drafts.active(core.uow(), acc)
    assert active is not None and active.flow == "inv_reason"
    await drafts.clear(core.uow(), acc, "inv_reason")
    assert await drafts.active(core.uow(), acc) is None  # nothing takes free text now …
    kept = await drafts.get(core.uow(), acc, "apply")
    assert kept is not None and kept.step == "email"  # … but the form is still there for /apply
    await drafts.save(core.uow(), acc, "apply", "email", kept.data)
    assert (await drafts.active(core.uow(), acc)).flow == "apply"  # type: ignore[union-attr]


async def test_saving_without_activating_and_deactivate(core: Core) -> None:
    acc = await _account(core)
    await drafts.save(core.uow(), acc, "apply", "name", {})
    await drafts.save(core.uow(), acc, "other", "x", {"k": 1}, activate=False)
    assert (await drafts.active(core.uow(), acc)).flow == "apply"  # type: ignore[union-attr]
    await drafts.save(core.uow(), acc, "apply", "phone", {}, activate=False)  # the active flow moves on
    assert (await drafts.active(core.uow(), acc)).step == "phone"  # type: ignore[union-attr]
    await drafts.deactivate(core.uow(), acc)
    assert await drafts.active(core.uow(), acc) is None
    assert await drafts.get(core.uow(), acc, "other") is not None
    with pytest.raises(ValueError):
        await drafts.save(core.uow(), acc, "x" * 33, "s", {})


# --- unavailable days ------------------------------------------------------------------------

def test_parse_days() -> None:
    today = date(2026, 11, 2)
    assert availability.parse_days("2026-11-10, 2026/11/12 ２０２６-11-12", today) == [date(2026, 11, 10), date(2026, 11, 12)]
    assert availability.parse_days("2026-11-10 至 2026-11-12", today) == [date(2026, 11, 10), date(2026, 11, 11),
                                                                           date(2026, 11, 12)]
    assert availability.parse_days("12月3日", today) == [date(2026, 12, 3)]
    for bad, code in (("", "unavailable.none"), ("明天", "date.format"), ("2026-02-30", "date.invalid"),
                      ("2026-11-12~2026-11-10", "unavailable.range_order"),
                      ("2026-01-01~2026-12-31", "unavailable.too_many")):
        with pytest.raises(DomainError) as exc:
            availability.parse_days(bad, today)
        assert exc.value.code == code, bad


async def test_add_list_remove_days_with_audit(core: Core) -> None:
    e = await make_expert(core)
    today = core.uow().today()
    added = await availability.add_days(core.uow(), e.roles, [date(2026, 11, 10), date(2026, 11, 11)])
    assert added == [date(2026, 11, 10), date(2026, 11, 11)]
    assert await availability.add_days(core.uow(), e.roles, [date(2026, 11, 10)]) == []  # idempotent
    assert await availability.list_days(core.uow(), e.roles) == added
    with pytest.raises(DomainError) as exc:
        await availability.add_days(core.uow(), e.roles, [today.replace(day=1), date(2026, 11, 20)])
    assert exc.value.code == "unavailable.past"
    with pytest.raises(DomainError) as exc:
        await availability.add_days(core.uow(), e.roles, [date(2029, 1, 1)])
    assert exc.value.code == "unavailable.too_far"
    assert [r.day for r in await rows(core, Unavailability)] == added  # nothing half-written
    assert await availability.remove_day(core.uow(), e.roles, date(2026, 11, 10)) is True
    assert await availability.remove_day(core.uow(), e.roles, date(2026, 11, 10)) is False
    actions = [a.action for a in await rows(core, AuditEntry)]
    assert actions.count("unavailability.add") == 1 and actions.count("unavailability.remove") == 1


async def test_only_experts_mark_days(core: Core) -> None:
    contact = await make_unit_contact(core)
    with pytest.raises(Forbidden):
        await availability.add_days(core.uow(), contact, [date(2026, 11, 10)])


# --- reports ------------------------------------------------------------------------------------

async def test_report_is_a_flag_and_admins_are_told(core: Core) -> None:
    admin = await make_admin(core)
    e = await make_expert(core)
    with pytest.raises(DomainError) as exc:
        await reports.submit_report(core.uow(), e.roles, "   ")
    assert exc.value.code == "report.empty"
    with pytest.raises(DomainError) as exc:
        await reports.submit_report(core.uow(), e.roles, "x" * (reports.REPORT_MAX + 1))
    assert exc.value.code == "text.too_long"
    flag_id = await reports.submit_report(core.uow(), e.roles, "评审会上有人私下接触专家")
    flag = (await rows(core, Flag))[0]
    assert flag.id == flag_id and flag.kind == "report" and flag.status == "open"
    assert flag.evidence["text"] == "评审会上有人私下接触专家" and flag.expert_id == e.id
    notices = await rows(core, Outbox, Outbox.account_id == admin.account_id)
    assert [o.kind for o in notices] == ["report_received"] and notices[0].params["flag_id"] == flag_id
    entry = [a for a in await rows(core, AuditEntry) if a.action == "report.submit"][0]
    assert "私下" not in entry.details  # the audit chain holds ids only
    with pytest.raises(Forbidden):
        await reports.submit_report(core.uow(), Roles(admin.account_id, None, None, None, True, False, None), "x")


# --- the expert's own view ---------------------------------------------------------------------

async def test_my_profile_masks_the_id_number(core: Core) -> None:
    e = await make_expert(core, ["eia", "climate"], unavailable=[date(2026, 11, 20)])
    async with core.sessions() as s:
        from core.db.models import Expert

        row = await s.get(Expert, e.id)
        assert row is not None
        row.id_number = "650102197503150017"
        await s.commit()
    p = await chat_support.my_profile(core.uow(), e.roles)
    assert p.id_masked == "650102********0017" and p.code == e.code
    assert p.fields_zh == ("环境影响评价", "气候变化") and p.unavailable == (date(2026, 11, 20),)
    assert (p.services, p.pending, p.evaluations) == (0, 0, 0)
    assert "650102197503150017" not in repr(p)
    with pytest.raises(Forbidden):
        await chat_support.my_profile(core.uow(), await make_unit_contact(core))


async def test_accounts_with_roles_and_categories(core: Core) -> None:
    e = await make_expert(core)
    admin = await make_admin(core)
    await _account(core)  # a bare account: no menu of its own
    found = {roles.account_id for _, roles in await chat_support.accounts_with_roles(core.uow())}
    assert found == {e.account_id, admin.account_id}
    cats = await chat_support.active_categories(core.uow())
    assert cats[0].code == "env_science" and cats[0].name_zh == "环境科学" and len(cats) == 11
