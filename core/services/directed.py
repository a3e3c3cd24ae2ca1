"""Directed selection outside the roster (Art. 12 ¶2): a written application by the unit for a
short panel, the bureau's decision, then the named persons. Directed experts occupy seats and
are marked "directed" in every roster; their names enter no draw."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from core.db.models import DirectedExpert, DirectedSelection, Panel
from core.db.uow import UnitOfWork
from core.enums import DirectedStatus, PanelStatus
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.identity import check_text, parse_person_name
from core.outbox import notify_admins
from core.services import audit
from core.services.accounts import Roles
from core.services.seating import (
    get_panel,
    is_open,
    latest_draw,
    lock_draws,
    notify_unit,
    seats_of,
    settle,
)


@dataclass(frozen=True)
class DirectedDecision:
    directed_id: int
    status: str
    panel_id: int
    panel_status: str
    invited: int  # random seats filled from the ranking after the approval


async def _refuse(uow: UnitOfWork, roles: Roles, subject: str, subject_id: int, attempted: str) -> None:
    await audit.append(uow, roles.actor, "security.refused", subject, subject_id, attempted=attempted)
    await uow.commit()


async def apply_directed(uow: UnitOfWork, roles: Roles, panel_id: int, reason: str, seats: int) -> int:
    """The unit applies in writing to fill `seats` of a short panel outside the roster."""
    reason = check_text(reason or "", 2000)
    if not reason:
        raise DomainError("directed.reason_required")
    if isinstance(seats, bool) or not isinstance(seats, int) or seats < 1:
        raise DomainError("directed.seats_invalid")
    async with uow:
        s = uow.session
        await lock_draws(uow)
        panel = await get_panel(uow, panel_id)
        if not (roles.is_admin or (roles.unit_id is not None and roles.unit_id == panel.unit_id)):
            await _refuse(uow, roles, "panel", panel_id, "directed.apply")
            raise Forbidden("panel.not_yours")
        if panel.status != PanelStatus.SHORT:
            raise Conflict("directed.not_short", status=panel.status)
        st = await seats_of(uow, panel, await latest_draw(uow, panel.id))
        asked = await s.scalar(select(func.coalesce(func.sum(DirectedSelection.seats), 0)).where(
            DirectedSelection.panel_id == panel.id, DirectedSelection.status == DirectedStatus.PENDING.value))
        room = st.need - st.directed - int(asked or 0)
        if seats > room:
            raise Conflict("directed.too_many_seats", max=max(room, 0), seats=seats)
        row = DirectedSelection(panel_id=panel.id, contact_id=roles.contact_id, reason=reason, seats=seats,
                                status=DirectedStatus.PENDING.value, created_at=uow.clock.now())
        s.add(row)
        await s.flush()
        await audit.append(uow, roles.actor, "directed.apply", "directed", row.id, panel_id=panel.id, seats=seats)
        await notify_admins(uow, "directed_requested", {"directed_id": row.id, "panel_id": panel.id,
                                                        "title": panel.title, "seats": seats})
        await uow.commit()
    return row.id


async def decide_directed(uow: UnitOfWork, roles: Roles, directed_id: int, approve: bool, note: str = "") -> DirectedDecision:
    """The bureau approves or rejects (with a note). On approval the directed seats are covered
    and the remaining random seats are drawn from the stored ranking — all of them or none."""
    note = check_text(note or "", 1000)
    if not approve and not note:
        raise DomainError("directed.note_required")
    async with uow:
        s = uow.session
        await lock_draws(uow)
        row = await s.get(DirectedSelection, directed_id)
        if row is None:
            raise NotFound("directed.not_found", id=directed_id)
        if not roles.is_admin:
            await _refuse(uow, roles, "directed", directed_id, "directed.decide")
            raise Forbidden("role.admin_required")
        if row.status != DirectedStatus.PENDING:
            raise Conflict("directed.already_decided", status=row.status)
        panel = await get_panel(uow, row.panel_id)
        if not is_open(panel):
            raise Conflict("panel.not_open", status=panel.status)
        now = uow.clock.now()
        row.status = (DirectedStatus.APPROVED if approve else DirectedStatus.REJECTED).value
        row.decided_by, row.decided_at, row.decision_note = roles.actor, now, note
        await s.flush()
        await audit.append(uow, roles.actor, "directed.decide", "directed", row.id, panel_id=panel.id,
                           approved=approve, seats=row.seats)
        invited = 0
        if approve:  # the covered seats are off the random draw; fill the rest, all or nothing
            invited = len(await settle(uow, panel, actor=roles.actor))
        await notify_unit(uow, panel, "directed_approved" if approve else "directed_rejected",
                          {"directed_id": row.id, "panel_id": panel.id, "title": panel.title, "seats": row.seats,
                           "note": note})
        await uow.commit()
    return DirectedDecision(row.id, row.status, panel.id, panel.status, invited)


async def add_directed_expert(
    uow: UnitOfWork, roles: Roles, directed_id: int, name: str, unit: str, title: str = "", contact: str = ""
) -> int:
    """Name one person under an approved directed selection; the panel is confirmed when this
    fills its last seat."""
    name = parse_person_name(name or "")
    unit = check_text(unit or "", 100)
    if not unit:
        raise DomainError("directed.unit_required")
    title = check_text(title or "", 50)
    contact = check_text(contact or "", 100)
    async with uow:
        s = uow.session
        await lock_draws(uow)
        row = await s.get(DirectedSelection, directed_id)
        if row is None:
            raise NotFound("directed.not_found", id=directed_id)
        panel: Panel = await get_panel(uow, row.panel_id)
        if not (roles.is_admin or (roles.unit_id is not None and roles.unit_id == panel.unit_id)):
            await _refuse(uow, roles, "directed", directed_id, "directed.add")
            raise Forbidden("panel.not_yours")
        if row.status != DirectedStatus.APPROVED:
            raise Conflict("directed.not_approved", status=row.status)
        if not is_open(panel):
            raise Conflict("panel.not_open", status=panel.status)
        added = await s.scalar(select(func.count()).select_from(DirectedExpert).where(
            DirectedExpert.directed_id == row.id))
        if int(added or 0) >= row.seats:
            raise Conflict("directed.full", seats=row.seats)
        person = DirectedExpert(directed_id=row.id, panel_id=panel.id, name=name, unit=unit, title=title,
                                contact=contact, added_at=uow.clock.now())
        s.add(person)
        await s.flush()
        await audit.append(uow, roles.actor, "directed.expert_add", "directed", row.id, panel_id=panel.id,
                           directed_expert_id=person.id)
        await settle(uow, panel, actor=roles.actor)
        await uow.commit()
    return person.id
