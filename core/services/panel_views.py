"""Read views of panels, invitations and draws, each cut to what the viewer may see.

A unit's contact sees only the unit's own panels, and only counts until the panel is
confirmed — the roster (names, units, titles, phones) from then on. An expert sees only his
own invitations: the matter, never the other experts. Admins and supervisors see everything,
supervisors read-only (Art. 13); draws are for them alone.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core import draw as drawlib
from core.db.models import AuditEntry, Category, Draw, Invitation, Panel, UsingUnit
from core.db.models.people import expert_code
from core.db.uow import UnitOfWork
from core.enums import InvitationStatus, PanelStatus
from core.errors import Forbidden, NotFound
from core.services import audit
from core.services.accounts import Roles
from core.services.seating import decode_ranking, latest_draw, roster, seats_of, status_params

ROSTER_VISIBLE = (PanelStatus.CONFIRMED.value, PanelStatus.COMPLETED.value, PanelStatus.EVALUATED.value)
RANKING_TOP = 20


@dataclass(frozen=True)
class PanelView:
    id: int
    title: str
    matter_type: str
    description: str
    location: str
    starts_at: datetime
    ends_at: datetime
    response_deadline: datetime
    size: int
    status: str
    unit_name: str
    fields: tuple[tuple[str, int | None], ...]  # (category code, quota)
    parties: tuple[tuple[int, str, str | None], ...]  # (party id, name, credit code)
    counts: dict[str, Any]
    short_detail: dict[str, Any] | None
    roster: tuple[dict[str, Any], ...] | None  # None while confidential for this viewer
    cancel_reason: str = ""


@dataclass(frozen=True)
class PanelSummary:
    id: int
    title: str
    status: str
    starts_at: datetime
    size: int
    accepted: int


@dataclass(frozen=True)
class InvitationView:
    id: int
    panel_id: int
    status: str
    title: str
    matter_type: str
    description: str
    location: str
    starts_at: datetime
    ends_at: datetime
    deadline: datetime
    unit_name: str
    parties: tuple[tuple[int, str], ...]  # (party id, name) — for declaring a conflict
    replacement: bool


@dataclass(frozen=True)
class DrawView:
    draw_id: int
    panel_id: int
    seed: str
    algorithm: str
    created_at: datetime
    digest: str
    pool_size: int
    exclusions_by_reason: dict[str, int]
    exclusions: tuple[tuple[str, str, str], ...]
    ranking_top: tuple[str, ...]
    groups: tuple[dict[str, Any], ...]
    selection: tuple[tuple[str, int], ...]
    replacements: tuple[dict[str, Any], ...]
    problems: tuple[str, ...]


async def _refuse(uow: UnitOfWork, roles: Roles, subject: str, subject_id: int, attempted: str) -> None:
    await audit.append(uow, roles.actor, "security.refused", subject, subject_id, attempted=attempted)
    await uow.commit()


def _oversees(roles: Roles) -> bool:
    return roles.is_admin or roles.is_supervisor


async def panel_view(uow: UnitOfWork, roles: Roles, panel_id: int) -> PanelView:
    async with uow:
        s = uow.session
        panel = await s.get(Panel, panel_id)
        if panel is None:
            raise NotFound("panel.not_found", id=panel_id)
        own = roles.unit_id is not None and roles.unit_id == panel.unit_id
        if not (own or _oversees(roles)):
            await _refuse(uow, roles, "panel", panel_id, "panel.view")
            raise Forbidden("panel.not_yours")
        unit = await s.get(UsingUnit, panel.unit_id)
        cats = {i: c for i, c in (await s.execute(select(Category.id, Category.code))).all()}
        seats = await seats_of(uow, panel, await latest_draw(uow, panel.id))
        visible = _oversees(roles) or panel.status in ROSTER_VISIBLE
        return PanelView(
            id=panel.id, title=panel.title, matter_type=panel.matter_type, description=panel.description,
            location=panel.location, starts_at=panel.starts_at, ends_at=panel.ends_at,
            response_deadline=panel.response_deadline, size=panel.size, status=panel.status,
            unit_name=unit.name if unit else "",
            fields=tuple((cats.get(f.category_id, str(f.category_id)), f.quota) for f in panel.fields),
            parties=tuple((p.id, p.name, p.uscc) for p in panel.parties),
            counts=status_params(panel, seats), short_detail=panel.short_detail,
            roster=tuple(await roster(uow, panel.id)) if visible else None, cancel_reason=panel.cancel_reason,
        )


async def list_panels(uow: UnitOfWork, roles: Roles, *, limit: int = 50) -> list[PanelSummary]:
    """The unit's panels for a contact; every panel for admins and supervisors; newest first."""
    async with uow:
        s = uow.session
        q = select(Panel).order_by(Panel.starts_at.desc(), Panel.id.desc()).limit(limit)
        if not _oversees(roles):
            if roles.unit_id is None:
                raise Forbidden("role.contact_required")
            q = q.where(Panel.unit_id == roles.unit_id)
        out = []
        for p in (await s.scalars(q)).all():
            seats = await seats_of(uow, p, await latest_draw(uow, p.id))
            out.append(PanelSummary(p.id, p.title, p.status, p.starts_at, p.size,
                                    status_params(p, seats)["accepted"]))
        return out


async def invitation_view(uow: UnitOfWork, roles: Roles, invitation_id: int) -> InvitationView:
    """What the invitee needs to answer — nothing about the other experts."""
    async with uow:
        s = uow.session
        inv = await s.get(Invitation, invitation_id)
        if inv is None or roles.expert_id is None or inv.expert_id != roles.expert_id:
            await _refuse(uow, roles, "invitation", invitation_id, "invitation.view")
            if inv is None:
                raise NotFound("invitation.not_found", id=invitation_id)
            raise Forbidden("invitation.not_yours")
        panel = await s.get(Panel, inv.panel_id)
        assert panel is not None
        unit = await s.get(UsingUnit, panel.unit_id)
        return InvitationView(
            id=inv.id, panel_id=panel.id, status=inv.status, title=panel.title, matter_type=panel.matter_type,
            description=panel.description, location=panel.location, starts_at=panel.starts_at,
            ends_at=panel.ends_at, deadline=inv.deadline, unit_name=unit.name if unit else "",
            parties=tuple((p.id, p.name or (p.uscc or "")) for p in panel.parties),
            replacement=inv.replacement_of is not None,
        )


async def list_invitations(uow: UnitOfWork, roles: Roles, *, limit: int = 20) -> list[InvitationView]:
    """The expert's own invitations, pending first, then the newest."""
    if roles.expert_id is None:
        raise Forbidden("role.expert_required")
    async with uow:
        ids = (await uow.session.scalars(select(Invitation.id).where(Invitation.expert_id == roles.expert_id)
                                         .order_by(Invitation.id.desc()).limit(limit))).all()
    views = [await invitation_view(uow, roles, i) for i in ids]
    return sorted(views, key=lambda v: (v.status != InvitationStatus.PENDING, -v.id))


async def draw_view(uow: UnitOfWork, roles: Roles, panel_id: int, *, top: int = RANKING_TOP) -> DrawView:
    """Everything about a panel's draw, for the supervisor and the bureau (Art. 13)."""
    async with uow:
        s = uow.session
        if not _oversees(roles):
            await _refuse(uow, roles, "panel", panel_id, "draw.view")
            raise Forbidden("role.supervisor_required")
        row = await s.scalar(select(Draw).where(Draw.panel_id == panel_id).order_by(Draw.id.desc()).limit(1))
        if row is None:
            raise NotFound("draw.not_found", panel_id=panel_id)
        ranking, _ = decode_ranking(row.ranking)
        problems = await _verify(uow, row)
        reps = (await s.scalars(select(Invitation).where(Invitation.panel_id == panel_id,
                                                         Invitation.replacement_of.is_not(None))
                                .order_by(Invitation.id))).all()
        excl = tuple((str(c), str(r), str(d)) for c, r, d in row.exclusions)
        return DrawView(
            draw_id=row.id, panel_id=panel_id, seed=row.seed, algorithm=row.algorithm, created_at=row.created_at,
            digest=row.digest, pool_size=len(ranking), exclusions_by_reason=dict(Counter(r for _, r, _ in excl)),
            exclusions=excl, ranking_top=tuple(ranking[:top]), groups=tuple(row.groups),
            selection=tuple((str(c), int(g)) for c, g in row.selection),
            replacements=tuple({"invitation_id": i.id, "expert_code": expert_code(i.expert_id), "rank": i.rank,
                                "group": i.group_index, "replacement_of": i.replacement_of, "status": i.status}
                               for i in reps),
            problems=tuple(problems),
        )


async def _verify(uow: UnitOfWork, row: Draw) -> list[str]:
    ranking, masks = decode_ranking(row.ranking)
    groups = [drawlib.SeatGroup.from_json(g) for g in row.groups]
    problems = drawlib.verify_record(row.seed, row.algorithm, ranking, masks, groups, row.selection)
    digest = drawlib.digest_record(row.seed, row.algorithm, ranking, row.exclusions, groups, row.selection, masks)
    if digest != row.digest:
        problems.append("digest: the stored record no longer hashes to its stored digest")
    entry = await uow.session.scalar(select(AuditEntry.details).where(
        AuditEntry.action == "draw.record", AuditEntry.subject_type == "draw",
        AuditEntry.subject_id == str(row.id)).limit(1))
    if entry is None:
        problems.append("audit: no draw.record entry for this draw")
    else:
        recorded = json.loads(entry).get("digest")
        if recorded != digest:
            problems.append("audit: the digest in the audit chain differs from the stored record")
    return problems


async def verify_draw(uow: UnitOfWork, panel_id: int) -> list[str]:
    """Re-derive every draw of the panel from its stored row and check it against the digest
    written to the audit chain; [] when all agree."""
    async with uow:
        rows = (await uow.session.scalars(select(Draw).where(Draw.panel_id == panel_id).order_by(Draw.id))).all()
        if not rows:
            raise NotFound("draw.not_found", panel_id=panel_id)
        out: list[str] = []
        for row in rows:
            out += [f"draw {row.id}: {p}" if len(rows) > 1 else p for p in await _verify(uow, row)]
        return out
