"""Directed selection (Art. 12 ¶2) on a real database: apply for a short panel, the bureau's
approval (the remaining random seats are then drawn from the same ranking) or rejection, and
the named persons, who occupy seats and are marked "directed" in the roster."""
from __future__ import annotations

import pytest

from core.bootstrap import Core
from core.db.models import AuditEntry, DirectedSelection, Invitation, Panel
from core.enums import DirectedStatus, PanelStatus
from core.errors import Conflict, DomainError, Forbidden
from core.services import panels
from tests.factories import make_admin, make_expert, make_unit_contact, outbox_kinds, panel_form, rows

YES = {"unit_consent": True, "no_conflict": True, "confidentiality": True}


async def _short_panel(core: Core) -> tuple[object, dict, int]:
    contact = await make_unit_contact(core)
    experts = {e.id: e for e in [await make_expert(core, ["eia"]) for _ in range(3)]}
    res = await panels.request_panel(core.uow(), contact, panel_form(core, size=5, fields=[("eia", 3), ("nuclear", 2)]))
    assert res.status == PanelStatus.SHORT and res.invited == 0
    return contact, experts, res.panel_id


async def test_approved_directed_seats_then_draw_the_rest_and_confirm(core: Core) -> None:
    admin = await make_admin(core)
    contact, experts, panel_id = await _short_panel(core)
    did = await panels.apply_directed(core.uow(), contact, panel_id, "核与辐射专业人员库内无人，拟邀请外单位专家", 2)  # type: ignore[arg-type]
    assert "directed_requested" in await outbox_kinds(core, admin.account_id)
    decision = await panels.decide_directed(core.uow(), admin, did, True, "同意")
    assert decision.status == DirectedStatus.APPROVED and decision.invited == 3
    assert decision.panel_status == PanelStatus.INVITING
    invs = await rows(core, Invitation, Invitation.panel_id == panel_id)
    assert len(invs) == 3 and all(i.group_index == 0 for i in invs)
    assert "directed_approved" in await outbox_kinds(core, contact.account_id)  # type: ignore[attr-defined]
    for inv in invs:
        await panels.accept(core.uow(), experts[inv.expert_id].roles, inv.id, **YES)
    assert (await rows(core, Panel))[0].status == PanelStatus.INVITING  # directed persons still missing
    await panels.add_directed_expert(core.uow(), contact, did, "李四", "中国辐射防护研究院", "研究员", "13900000000")  # type: ignore[arg-type]
    await panels.add_directed_expert(core.uow(), contact, did, "王五", "某核安全中心", "正高级工程师", "")  # type: ignore[arg-type]
    with pytest.raises(Conflict) as exc:
        await panels.add_directed_expert(core.uow(), contact, did, "赵六", "某单位")  # type: ignore[arg-type]
    assert exc.value.code in ("directed.full", "panel.not_open")
    panel = (await rows(core, Panel))[0]
    assert panel.status == PanelStatus.CONFIRMED
    view = await panels.panel_view(core.uow(), contact, panel_id)  # type: ignore[arg-type]
    assert view.roster is not None and [r["directed"] for r in view.roster] == [False] * 3 + [True] * 2
    assert [e.action for e in await rows(core, AuditEntry) if e.action.startswith("directed.")] == [
        "directed.apply", "directed.decide", "directed.expert_add", "directed.expert_add"]


async def test_rejected_directed_selection_keeps_the_panel_short(core: Core) -> None:
    admin = await make_admin(core)
    contact, _, panel_id = await _short_panel(core)
    did = await panels.apply_directed(core.uow(), contact, panel_id, "理由", 2)  # type: ignore[arg-type]
    with pytest.raises(DomainError):
        await panels.decide_directed(core.uow(), admin, did, False, "")
    decision = await panels.decide_directed(core.uow(), admin, did, False, "请放宽专业领域后重新申请")
    assert decision.status == DirectedStatus.REJECTED and decision.panel_status == PanelStatus.SHORT
    assert "directed_rejected" in await outbox_kinds(core, contact.account_id)  # type: ignore[attr-defined]
    with pytest.raises(Conflict):
        await panels.decide_directed(core.uow(), admin, did, True, "")
    with pytest.raises(Conflict) as exc:
        await panels.add_directed_expert(core.uow(), contact, did, "李四", "某单位")  # type: ignore[arg-type]
    assert exc.value.code == "directed.not_approved"
    assert await rows(core, Invitation) == []


async def test_directed_selection_rules(core: Core) -> None:
    contact, experts, panel_id = await _short_panel(core)
    other = await make_unit_contact(core)
    with pytest.raises(DomainError):
        await panels.apply_directed(core.uow(), contact, panel_id, " ", 1)  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        await panels.apply_directed(core.uow(), other, panel_id, "理由", 1)
    with pytest.raises(Conflict) as exc:
        await panels.apply_directed(core.uow(), contact, panel_id, "理由", 6)  # type: ignore[arg-type]
    assert exc.value.code == "directed.too_many_seats" and exc.value.params["max"] == 5
    did = await panels.apply_directed(core.uow(), contact, panel_id, "理由", 1)  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        await panels.decide_directed(core.uow(), contact, did, True, "")  # type: ignore[arg-type]
    assert (await rows(core, DirectedSelection))[0].status == DirectedStatus.PENDING
    # Approving 1 of 2 missing nuclear seats still leaves the panel short: nobody is invited.
    admin = await make_admin(core)
    decision = await panels.decide_directed(core.uow(), admin, did, True, "")
    assert decision.invited == 0 and decision.panel_status == PanelStatus.SHORT
    assert await rows(core, Invitation) == []
    # Naming the directed person does not sneak a partial random panel in either.
    await panels.add_directed_expert(core.uow(), contact, did, "李四", "某研究院")  # type: ignore[arg-type]
    assert await rows(core, Invitation) == []
    assert (await rows(core, Panel, Panel.id == panel_id))[0].status == PanelStatus.SHORT
    # A panel that is not short cannot apply.
    for _ in range(3):
        await make_expert(core, ["monitoring"])
    ok = await panels.request_panel(core.uow(), contact, panel_form(core, fields=[("monitoring", None)]))  # type: ignore[arg-type]
    with pytest.raises(Conflict) as exc:
        await panels.apply_directed(core.uow(), contact, ok.panel_id, "理由", 1)  # type: ignore[arg-type]
    assert exc.value.code == "directed.not_short"
