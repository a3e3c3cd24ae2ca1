"""Helpers for evaluation and discipline tests: a panel that went through the real request →
draw → accept flow and has been held, so its experts can be rated."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from core.bootstrap import Core
from core.clock import ManualClock
from core.db.models import Invitation
from core.enums import InvitationStatus
from core.services import panels
from core.services.accounts import Roles
from tests.factories import MadeExpert, make_expert, make_unit_contact, panel_form


@dataclass(frozen=True)
class HeldPanel:
    panel_id: int
    unit: Roles
    invitations: dict[int, int]  # expert_id -> accepted invitation id
    experts: dict[int, MadeExpert]


async def invitations_of(core: Core, panel_id: int, *statuses: str) -> list[Invitation]:
    async with core.sessions() as s:
        q = select(Invitation).where(Invitation.panel_id == panel_id).order_by(Invitation.id)
        if statuses:
            q = q.where(Invitation.status.in_(statuses))
        return list((await s.scalars(q)).all())


async def accept_all(core: Core, panel_id: int, experts: dict[int, MadeExpert]) -> None:
    for inv in await invitations_of(core, panel_id, InvitationStatus.PENDING.value):
        await panels.accept(core.uow(), experts[inv.expert_id].roles, inv.id,
                            unit_consent=True, no_conflict=True, confidentiality=True)


async def confirmed_panel(core: Core, experts: list[MadeExpert], unit: Roles | None = None, *,
                          size: int = 3, starts_in: timedelta = timedelta(days=10)) -> HeldPanel:
    """A confirmed panel drawn from `experts` (all in field eia), every invitee having accepted."""
    unit = unit or await make_unit_contact(core)
    by_id = {e.id: e for e in experts}
    res = await panels.request_panel(core.uow(), unit, panel_form(core, size=size, starts_in=starts_in))
    await accept_all(core, res.panel_id, by_id)
    accepted = await invitations_of(core, res.panel_id, InvitationStatus.ACCEPTED.value)
    return HeldPanel(res.panel_id, unit, {i.expert_id: i.id for i in accepted}, by_id)


async def held_panel(core: Core, clock: ManualClock, experts: list[MadeExpert], unit: Roles | None = None,
                     *, size: int = 3) -> HeldPanel:
    """A panel that has been held: confirmed, then the clock moves past its end and it completes."""
    held = await confirmed_panel(core, experts, unit, size=size)
    clock.advance(timedelta(days=11))
    await panels.complete_finished(core.uow())
    return held


async def pool(core: Core, n: int = 3) -> list[MadeExpert]:
    return [await make_expert(core, ("eia",)) for _ in range(n)]
