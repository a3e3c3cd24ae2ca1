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

from sqlalchemy import bindparam, select

from core import draw as drawlib
from core.db.models import AuditEntry, Category, Draw, Invitation, Panel, PanelParty, UsingUnit
from core.db.models.people import expert_code
from core.db.uow import UnitOfWork
from core.enums import InvitationStatus, PanelStatus
from core.errors import Forbidden, NotFound
from core.services import audit
from core.services.accounts import Roles
from core.services.seating import latest_draw, roster, seats_of, status_params, stored_ranking

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


# Every button press of an expert reads these: columns, not entities, and built once.
_INVITATION_MATTER = (
    select(Invitation.expert_id, Invitation.status, Invitation.deadline, Invitation.replacement_of,
           Panel.id, Panel.title, Panel.matter_type, Panel.description, Panel.location, Panel.starts_at,
           Panel.ends_at, UsingUnit.name)
    .join(Panel, Panel.id == Invitation.panel_id).outerjoin(UsingUnit, UsingUnit.id == Panel.unit_id)
    .where(Invitation.id == bindparam("invitation_id"))
)
_PANEL_PARTIES = (select(PanelParty.id, PanelParty.name, PanelParty.uscc)
                  .where(PanelParty.panel_id == bindparam("panel_id")).order_by(PanelParty.id))


async def invitation_view(uow: UnitOfWork, roles: Roles, invitation_id: int) -> InvitationView:
    """What the invitee needs to answer — nothing about the other experts. A lookup (read-only
    unit); only a refusal writes, its audit entry."""
    async with uow.read_only() as reader:
        s = reader.session
        row = (await s.execute(_INVITATION_MATTER, {"invitation_id": invitation_id})).first()
        mine = row is not None and roles.expert_id is not None and row.expert_id == roles.expert_id
        if mine:
            parties = (await s.execute(_PANEL_PARTIES, {"panel_id": row.id})).all()
    if not mine:  # the refusal is written after the read is over: never hold both
        async with uow:
            await _refuse(uow, roles, "invitation", invitation_id, "invitation.view")
        if row is None:
            raise NotFound("invitation.not_found", id=invitation_id)
        raise Forbidden("invitation.not_yours")
    _, status, deadline, replacement_of, panel_id, title, matter_type, description, location, starts, ends, unit = row
    return InvitationView(
        id=invitation_id, panel_id=panel_id, status=status, title=title, matter_type=matter_type,
        description=description, location=location, starts_at=starts, ends_at=ends, deadline=deadline,
        unit_name=unit or "", parties=tuple((pid, name or (uscc or "")) for pid, name, uscc in parties),
        replacement=replacement_of is not None,
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
        ranking, _ = stored_ranking(row)
        problems = await _verify(uow, row)
        reps = (await s.scalars(select(Invitation).where(Invitation.panel_id == panel_id,
                                                         Invitation.replacement_of.is_not(None))
                                .order_by(Invitation.id))).all()
        excl = tuple((str(c), str(r), str(d)) for c, r, d in _exclusions(row))
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


def _exclusions(row: Draw) -> list[list[str]]:
    try:
        return list(json.loads(row.exclusions or "[]"))
    except ValueError:
        return []


async def _verify(uow: UnitOfWork, row: Draw) -> list[str]:
    """Everything wrong with one stored draw, most fundamental first; [] when it holds.

    Re-derives the ranking from the seed and the stored pool and the selection from the
    ranking, fields and groups; re-hashes the stored texts and the header and compares them
    with the draw.record entry of the audit chain; checks every invitation drawn from it
    (initial and replacements) against the ranking."""
    problems: list[str] = []
    ranking, masks = stored_ranking(row)
    groups = [drawlib.SeatGroup.from_json(g) for g in row.groups]
    if row.record_version != 1:
        n_masks = len(drawlib.split_text(row.masks))
        if n_masks != len(ranking):
            problems.append(f"masks: {n_masks} field masks stored for {len(ranking)} ranked codes")
    problems += drawlib.verify_record(row.seed, row.algorithm, ranking, masks, groups, row.selection)
    excluded = {str(e[0]) for e in _exclusions(row)}
    both = sorted(excluded & set(ranking))
    if both:
        problems.append(f"exclusions: {both[0]} is both ranked and excluded ({len(both)} such code(s))")

    entry = await uow.session.scalar(select(AuditEntry.details).where(
        AuditEntry.action == "draw.record", AuditEntry.subject_type == "draw",
        AuditEntry.subject_id == str(row.id)).limit(1))
    recorded: dict[str, Any] = json.loads(entry) if entry is not None else {}
    if row.record_version == 1:
        digest = drawlib.digest_record(row.seed, row.algorithm, ranking, _exclusions(row), groups, row.selection,
                                       masks)
        if digest != row.digest:
            problems.append("digest: the stored record no longer hashes to its stored digest")
    else:
        header = drawlib.record_header(
            row.seed, row.algorithm, groups, row.selection, drawlib.sha256_text(row.ranking),
            drawlib.sha256_text(row.masks), drawlib.sha256_text(row.exclusions))
        digest = drawlib.record_digest(header)
        for key, value in header.items():
            if entry is not None and recorded.get(key) != value:
                part = key.removesuffix("_sha256")
                what = "SHA-256 of the stored text" if key.endswith("_sha256") else "stored value"
                problems.append(f"{part}: the {what} differs from the audit chain's draw.record entry")
        if digest != row.digest:
            problems.append("digest: the stored record no longer hashes to its stored digest")
    if entry is None:
        problems.append("audit: no draw.record entry for this draw")
    elif recorded.get("digest") != digest:
        problems.append("audit: the digest in the audit chain differs from the stored record")
    problems += await _check_invitations(uow, row, ranking, masks, groups)
    return problems


async def _check_invitations(uow: UnitOfWork, row: Draw, ranking: list[str], masks: dict[str, int],
                             groups: list[drawlib.SeatGroup]) -> list[str]:
    """Every invitation drawn from this draw names a ranked expert at his recorded rank, in a
    group he holds a field of; when the selection filled the panel, the first invitations are
    the selection."""
    invs = (await uow.session.scalars(select(Invitation).where(Invitation.draw_id == row.id)
                                      .order_by(Invitation.id))).all()
    pos = {c: i + 1 for i, c in enumerate(ranking)}
    out: list[str] = []
    for inv in invs:
        code = expert_code(inv.expert_id)
        where = f"invitations: {code} (invitation {inv.id})"
        if code not in pos:
            out.append(f"{where} is not in the ranking")
        elif inv.rank != pos[code]:
            out.append(f"{where} has rank {inv.rank}, the ranking places him {pos[code]}")
        elif not (0 <= inv.group_index < len(groups)) or not masks.get(code, 0) & groups[inv.group_index].mask:
            out.append(f"{where} holds no field of group {inv.group_index}")
    want = [(str(c), int(g)) for c, g in row.selection]
    if invs and len(want) == sum(g.count for g in groups):  # a full panel was invited at once
        first = [(expert_code(i.expert_id), i.group_index) for i in invs[:len(want)]]
        if first != want:
            out.append("invitations: the first invitations are not the recorded selection")
    return out


async def verify_draw(uow: UnitOfWork, panel_id: int) -> list[str]:
    """Re-derive every draw of the panel from its stored row and check it against what the
    audit chain holds; [] when all agree."""
    async with uow:
        rows = (await uow.session.scalars(select(Draw).where(Draw.panel_id == panel_id).order_by(Draw.id))).all()
        if not rows:
            raise NotFound("draw.not_found", panel_id=panel_id)
        out: list[str] = []
        for row in rows:
            out += [f"draw {row.id}: {p}" if len(rows) > 1 else p for p in await _verify(uow, row)]
        return out
