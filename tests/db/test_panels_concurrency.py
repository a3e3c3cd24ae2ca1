"""Concurrency (CHECKLIST 21, 23): simultaneous draws never book one expert twice, and fifty
simultaneous presses of "accept" change the invitation once. Separate units of work race with
asyncio.gather, as separate bot updates would."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.bootstrap import Core
from core.db.models import AuditEntry, Invitation
from core.enums import InvitationStatus
from core.errors import Conflict
from core.services import panels
from tests.conftest import engine_name
from tests.factories import make_expert, make_unit_contact, panel_form, rows

YES = {"unit_consent": True, "no_conflict": True, "confidentiality": True}

pg_only = pytest.mark.skipif(engine_name() != "postgresql", reason="PostgreSQL concurrency test")


@pg_only
@pytest.mark.pg_only
async def test_concurrent_draws_for_overlapping_times_never_share_an_expert(core: Core) -> None:
    contacts = [await make_unit_contact(core) for _ in range(4)]
    for _ in range(12):
        await make_expert(core, ["eia"])
    for round_ in range(3):
        start = timedelta(days=10 + round_)
        forms = [panel_form(core, starts_in=start + timedelta(minutes=30 * i)) for i in range(4)]
        results = await asyncio.gather(*(panels.request_panel(core.uow(), c, f) for c, f in zip(contacts, forms)))
        assert all(r.invited == 3 for r in results)
        held = [i for i in await rows(core, Invitation)
                if i.panel_id in {r.panel_id for r in results} and i.status == InvitationStatus.PENDING]
        experts = [i.expert_id for i in held]
        assert len(experts) == len(set(experts)) == 12


@pg_only
@pytest.mark.pg_only
async def test_fifty_simultaneous_accepts_change_the_state_once(core: Core) -> None:
    contact = await make_unit_contact(core)
    experts = {e.id: e for e in [await make_expert(core, ["eia"]) for _ in range(3)]}
    res = await panels.request_panel(core.uow(), contact, panel_form(core))
    inv = (await rows(core, Invitation, Invitation.panel_id == res.panel_id))[0]
    roles = experts[inv.expert_id].roles
    outcomes = await asyncio.gather(*(panels.accept(core.uow(), roles, inv.id, **YES) for _ in range(50)),
                                    return_exceptions=True)
    ok = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(ok) == 1 and len(refused) == 49, [o for o in outcomes if isinstance(o, BaseException)
                                                 and not isinstance(o, Conflict)][:1]
    assert {c.code for c in refused} == {"invitation.already_answered"}
    assert {c.params["status"] for c in refused} == {"accepted"}
    assert len(await rows(core, AuditEntry, AuditEntry.action == "invitation.accept")) == 1


async def test_ten_simultaneous_presses_on_any_engine(core: Core) -> None:
    """The same guarantee on SQLite, where BEGIN IMMEDIATE serialises the writers."""
    contact = await make_unit_contact(core)
    experts = {e.id: e for e in [await make_expert(core, ["eia"]) for _ in range(4)]}
    res = await panels.request_panel(core.uow(), contact, panel_form(core))
    inv = (await rows(core, Invitation, Invitation.panel_id == res.panel_id))[0]
    roles = experts[inv.expert_id].roles
    outcomes = await asyncio.gather(
        *(panels.decline(core.uow(), roles, inv.id, "schedule") for _ in range(10)), return_exceptions=True)
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if isinstance(o, BaseException))
    assert len([i for i in await rows(core, Invitation) if i.replacement_of == inv.id]) == 1
