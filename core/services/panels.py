"""Panels (Art. 12, 13): request → draw → invitations, cancellation, completion, exclusions.

This module is also the façade of the panel family: answers (`responses`), directed selection
(`directed`) and the read views (`panel_views`) are re-exported here, so callers write
`panels.accept(...)`, `panels.release_expert(...)`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, text

from core import draw as drawlib
from core.conflicts import normalize_unit_name, party_key
from core.db.models import (
    Category,
    Draw,
    Expert,
    Invitation,
    Panel,
    PanelField,
    PanelParty,
    RecordedExclusion,
    UsingUnit,
)
from core.db.pg_rows import unnest_insert, unnest_params
from core.db.uow import UnitOfWork
from core.enums import InvitationStatus, PanelStatus
from core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from core.identity import check_text, normalize_text, parse_uscc
from core.outbox import Message, enqueue, notify_admins
from core.panel_request import PanelRequestForm, RequestContext
from core.services import audit
from core.services.accounts import Roles
from core.services.directed import add_directed_expert, apply_directed, decide_directed
from core.services.panel_views import (
    DrawView,
    InvitationView,
    PanelSummary,
    PanelView,
    draw_view,
    invitation_view,
    list_invitations,
    list_panels,
    panel_view,
    verify_draw,
)
from core.services.pool import Feed, PoolScan, meeting_pool_query, start_pool
from core.services.responses import (
    accept,
    declare_conflict,
    decline,
    expire_overdue,
    record_no_show,
    release_expert,
    release_for_party,
    withdraw_acceptance,
)
from core.services.seating import (
    Pick,
    Seats,
    as_party,
    expert_account,
    gc_paused,
    get_panel,
    groups_of,
    invite_many,
    is_open,
    lock_draws,
    matter_of,
    notify_unit,
    status_params,
    unit_accounts,
)

__all__ = [
    "DrawView", "InvitationView", "PanelSummary", "PanelView", "RequestResult", "ShortGroup",
    "accept", "add_directed_expert", "apply_directed", "cancel_panel", "complete_finished", "decide_directed",
    "decline", "declare_conflict", "draw_view", "expire_overdue", "invitation_view", "list_invitations",
    "list_panels", "panel_view", "record_exclusion", "record_no_show", "release_expert", "request_context",
    "request_panel", "verify_draw", "withdraw_acceptance",
]


@dataclass(frozen=True)
class ShortGroup:
    index: int
    fields: tuple[str, ...]
    needed: int
    available: int


@dataclass(frozen=True)
class RequestResult:
    panel_id: int
    draw_id: int
    status: str
    invited: int
    pool_size: int
    excluded: int
    shortfall: tuple[ShortGroup, ...]


# Every field, retired ones included (a draw maps its codes to ids; validation offers the active).
_CATEGORIES = select(Category.code, Category.id, Category.name_zh, Category.name_en,
                     Category.active).order_by(Category.position)


async def request_context(uow: UnitOfWork, lang: str = "zh") -> RequestContext:
    """Validation context from the database's active fields (call inside `async with uow`)."""
    return _context(uow, (await uow.session.execute(_CATEGORIES)).all(), lang)


def _context(uow: UnitOfWork, categories: Sequence[Any], lang: str) -> RequestContext:
    names = {c: (en if lang == "en" else zh) for c, _, zh, en, active in categories if active}
    return RequestContext(categories=names, now=uow.clock.now(), min_panel=uow.settings.rules.min_panel, lang=lang)


def _requesting_unit(roles: Roles, unit_id: int | None) -> int:
    if roles.contact_id is not None and roles.unit_id is not None and (unit_id is None or unit_id == roles.unit_id):
        return roles.unit_id
    if roles.is_admin and unit_id is not None:
        return unit_id
    if roles.is_admin:
        raise DomainError("panel.unit_required")
    raise Forbidden("role.contact_required")


async def request_panel(
    uow: UnitOfWork, roles: Roles, form: PanelRequestForm, *, unit_id: int | None = None
) -> RequestResult:
    """Create the panel and draw it in one transaction (Art. 12, 13).

    The draw is recorded (seed, algorithm, ranking with fields, exclusions, groups, selection,
    digest) and written to the audit chain ahead of every invitation's entry, in the transaction
    that creates the invitations and queues their messages: none can go out without it. When the
    pool cannot fill every seat nobody is invited: the panel is SHORT and the unit and the
    bureau are told which group is short and what they can do (relax, directed selection).
    """
    unit = _requesting_unit(roles, unit_id)
    # The collector stays paused until the draw's containers (look-up rows, exclusions, ranking
    # arrays: _draw_panel's locals) are freed, which happens when it returns (see gc_paused).
    with gc_paused():
        return await _draw_panel(uow, roles, form, unit)


async def _draw_panel(uow: UnitOfWork, roles: Roles, form: PanelRequestForm, unit: int) -> RequestResult:
    async with uow:
        s = uow.session
        await lock_draws(uow)
        now = uow.clock.now()
        categories = (await s.execute(_CATEGORIES)).all()
        form = _recheck(form, _context(uow, categories, "zh"))
        cats = {c: i for c, i, *_ in categories}
        # Held for the whole draw: the invitations' messages name it (the session keeps it only
        # while something refers to it).
        requester = await s.get(UsingUnit, unit)
        seed = drawlib.new_seed()
        ranker = drawlib.Ranker(seed)
        # The pool does not depend on the panel's row, which is inserted once the draw's outcome
        # (inviting or short) is known: no UPDATE of its status, and this connection starts its
        # own piece of the scan as early as it can.
        scan = await _start_pool(uow, form, requester, cats, ranker.add)
        try:
            panel = Panel(
                unit_id=unit, contact_id=roles.contact_id if roles.unit_id == unit else None, title=form.title,
                matter_type=form.matter_type.value, description=form.description, location=form.location,
                starts_at=form.starts_at, ends_at=form.ends_at, size=form.size,
                response_deadline=form.response_deadline, status=PanelStatus.SUBMITTED.value, created_at=now,
                updated_at=now,
            )
            panel.fields = [PanelField(category_id=cats[f.category], quota=f.quota, position=i)
                            for i, f in enumerate(form.fields)]
            groups = groups_of(panel)
            drawlib.validate_groups(panel.size, groups)
            pool = await scan.finish()
        finally:
            await scan.close()

        ranked = ranker.result(pool.ids, pool.masks)
        selection = drawlib.select_ranked(ranked.pairs(), groups)
        chosen = selection.chosen
        shortfall: tuple[ShortGroup, ...] = ()
        if selection.complete:
            panel.status = PanelStatus.INVITING.value
        else:
            codes = {i: c for c, i in cats.items()}
            shortfall = tuple(
                ShortGroup(sf.group, tuple(codes[f] for f in sorted(groups[sf.group].fields)), sf.needed, sf.filled)
                for sf in selection.short)
            panel.status = PanelStatus.SHORT.value
            panel.short_detail = {
                "reason": "pool", "pool_size": pool.size, "open_seats": panel.size,
                "groups": [{"index": sg.index, "fields": list(sg.fields), "needed": sg.needed, "filled": 0,
                            "available": sg.available} for sg in shortfall],
                "blocked": sorted(selection.blocked),
            }
        # The ranking's texts are written and hashed on the hashing thread (`ranked.texts`)
        # while this one writes the exclusions' text.
        excluded = drawlib.exclusions_text(pool.exclusions)
        excluded_sha = drawlib.sha256_text(excluded)
        texts = await asyncio.wrap_future(ranked.texts)
        header = drawlib.record_header(seed.hex(), drawlib.ALGORITHM, groups, chosen, texts.ranking_sha256,
                                       texts.masks_sha256, excluded_sha)
        digest = drawlib.record_digest(header)
        draw_id = await _insert_drawn(uow, panel, form, dict(
            seed=header["seed"], algorithm=drawlib.ALGORITHM, record_version=drawlib.RECORD_VERSION, created_at=now,
            ranking=texts.ranking, masks=texts.masks, exclusions=excluded, groups=header["groups"],
            selection=header["selection"], digest=digest))
        requested = ("panel.request", "panel", panel.id, dict(
            unit_id=unit, size=form.size, fields=[f.category for f in form.fields],
            quotas=[f.quota for f in form.fields], parties=len(form.parties)))
        # The record goes into the chain ahead of any invitation: seed, algorithm, groups and
        # selection as they are, the ranking, the fields and the exclusions by their SHA-256.
        # The request's entry precedes it; the invitations' follow, all in one INSERT (one
        # statement fewer than appending the record first).
        entries: list[audit.Entry] = [requested, ("draw.record", "draw", draw_id, dict(
            panel_id=panel.id, record_version=drawlib.RECORD_VERSION, digest=digest, pool_size=pool.size,
            excluded=len(pool.exclusions), **header))]

        invited = 0
        if selection.complete:
            picks = [Pick(code, g, selection.ranks[code]) for code, g in chosen]
            # A new panel: its seats are exactly the invitations made now (what seats_of would
            # count), no directed selection yet. The unit's status message goes in the same
            # INSERT as the invitations'.
            held = tuple(sum(1 for _, g in chosen if g == i) for i in range(len(groups)))
            seats = Seats(tuple(groups), held, {InvitationStatus.PENDING.value: len(picks)}, 0, 0)
            status = status_params(panel, seats)
            told = [Message(acc, "panel_status", status) for acc in await unit_accounts(uow, panel, roles)]
            matter = matter_of(panel, requester.name if requester else "", [(p.name, p.uscc) for p in form.parties])
            invited = len(await invite_many(uow, panel, draw_id, picks, panel.response_deadline, actor=roles.actor,
                                            audited=entries, also=told, matter=matter))
        else:
            entries.append(("panel.short", "panel", panel.id, dict(
                before=PanelStatus.SUBMITTED.value, open_seats=panel.size, reason="pool")))
            await audit.append_many(uow, roles.actor, entries)
            params = {"panel_id": panel.id, "title": panel.title, **panel.short_detail,
                      "options": ["relax", "directed"]}
            await notify_unit(uow, panel, "panel_short", params)
            await notify_admins(uow, "panel_short", params)
        await uow.commit()
    return RequestResult(panel.id, draw_id, panel.status, invited, pool.size, len(pool.exclusions), shortfall)


async def _start_pool(uow: UnitOfWork, form: PanelRequestForm, requester: UsingUnit | None, cats: dict[str, int],
                      feed: Feed) -> PoolScan:
    """The pool of the panel the form requests, before the panel is inserted: the same query
    `panel_pool` makes of the inserted panel (parties in the form's order, which their ids
    keep)."""
    q = meeting_pool_query(
        form.starts_at, form.ends_at, [(p.name, p.uscc) for p in form.parties], [cats[f.category] for f in form.fields],
        as_party(requester), uow.settings.tz, uow.settings.rules.conflict_lookback_years)
    return await start_pool(uow, q, feed=feed)


async def _insert_drawn(uow: UnitOfWork, panel: Panel, form: PanelRequestForm, draw: dict[str, Any]) -> int:
    """Insert the new panel (setting `panel.id`), its fields and parties (in the form's order,
    which their ids keep: exclusion details name parties by that index) and its draw (`draw`:
    the row but its panel); the draw's id. The panel stays out of the session (the draw's
    transaction only reads it, and never its parties: the invitations' messages name them from
    the form): on PostgreSQL one statement, on SQLite (no INSERT in WITH) four Core INSERTs,
    without the ORM's unit of work (~1.5 ms less of a draw's Python on SQLite)."""
    parties = [{"name": p.name, "name_norm": normalize_unit_name(p.name), "uscc": p.uscc} for p in form.parties]
    fields = [{"category_id": f.category_id, "quota": f.quota, "position": f.position} for f in panel.fields]
    row = {c: getattr(panel, c) for c in _PANEL_COLUMNS}
    s = uow.session
    if uow.dialect == "postgresql":
        panel_id, draw_id = (await s.execute(_INSERT_DRAWN_PG, {
            **unnest_params(_PANELS, _PANEL_COLUMNS, [row], "p"),
            **unnest_params(_FIELDS, _FIELD_COLUMNS, fields, "f", _OF_PANEL),
            **unnest_params(_PARTIES, _PARTY_COLUMNS, parties, "pp", _OF_PANEL),
            **unnest_params(_DRAWS, _DRAW_COLUMNS, [draw], "d", _OF_PANEL)})).one()
    else:
        panel_id = await s.scalar(insert(_PANELS).returning(_PANELS.c.id), row)
        await s.execute(insert(_FIELDS), [{"panel_id": panel_id, **f} for f in fields])
        # One prepared INSERT stepped once per row (executemany): the ids follow the rows' order.
        if parties:
            await s.execute(insert(_PARTIES), [{"panel_id": panel_id, **p} for p in parties])
        draw_id = await s.scalar(insert(_DRAWS).returning(_DRAWS.c.id), {**draw, "panel_id": panel_id})
    panel.id = panel_id
    return int(draw_id)


_PANELS, _FIELDS, _PARTIES, _DRAWS = Panel.__table__, PanelField.__table__, PanelParty.__table__, Draw.__table__
_PANEL_COLUMNS = ("unit_id", "contact_id", "title", "matter_type", "description", "location", "starts_at", "ends_at",
                  "size", "response_deadline", "status", "created_at", "updated_at", "short_detail")
_FIELD_COLUMNS = ("category_id", "quota", "position")
_PARTY_COLUMNS = ("name", "name_norm", "uscc")
_DRAW_COLUMNS = ("seed", "algorithm", "record_version", "created_at", "ranking", "masks", "exclusions", "groups",
                 "selection", "digest")
_OF_PANEL = {"panel_id": "(SELECT id FROM p)"}
# The parties in the order of the form: one multi-row INSERT numbers them in row order.
_INSERT_DRAWN_PG = text(
    f"WITH p AS ({unnest_insert(_PANELS, _PANEL_COLUMNS, 'p')} RETURNING id), "
    f"f AS ({unnest_insert(_FIELDS, _FIELD_COLUMNS, 'f', _OF_PANEL)}), "
    f"pp AS ({unnest_insert(_PARTIES, _PARTY_COLUMNS, 'pp', _OF_PANEL)}), "
    f"d AS ({unnest_insert(_DRAWS, _DRAW_COLUMNS, 'd', _OF_PANEL)} RETURNING id) "
    "SELECT (SELECT id FROM p), (SELECT id FROM d)")


def _recheck(form: PanelRequestForm, ctx: RequestContext) -> PanelRequestForm:
    """The form was validated when typed; time has passed and fields may have been retired."""
    errors: list[tuple[str, str, dict[str, Any]]] = []
    if form.starts_at <= ctx.now:
        errors.append(("starts_at", "panel.time_past", {}))
    if form.response_deadline <= ctx.now:
        errors.append(("response_deadline", "panel.deadline_past", {}))
    for i, f in enumerate(form.fields):
        if f.category not in ctx.categories:
            errors.append((f"fields.{i}.category", "panel.field_unknown",
                           {"value": f.category, "allowed": ctx.allowed_text()}))
    if form.size < ctx.min_panel:
        errors.append(("size", "panel.size_small", {"min": ctx.min_panel, "value": form.size}))
    if errors:
        raise ValidationFailed(errors)
    return form


def _may_manage(roles: Roles, panel: Panel) -> bool:
    return roles.is_admin or (roles.unit_id is not None and roles.unit_id == panel.unit_id)


async def cancel_panel(uow: UnitOfWork, roles: Roles, panel_id: int, reason: str) -> int:
    """The unit (or the bureau) calls the panel off; invited experts are told. Returns how many."""
    reason = check_text(reason, 1000)
    if not reason:
        raise DomainError("panel.cancel_reason_required")
    async with uow:
        s = uow.session
        await lock_draws(uow)
        panel = await get_panel(uow, panel_id, for_update=True)
        if not _may_manage(roles, panel):
            await audit.append(uow, roles.actor, "security.refused", "panel", panel_id, attempted="panel.cancel")
            await uow.commit()
            raise Forbidden("panel.not_yours")
        if not is_open(panel):
            raise Conflict("panel.not_open", status=panel.status)
        if panel.starts_at <= uow.clock.now():
            raise Conflict("panel.already_held")
        now = uow.clock.now()
        before = panel.status
        panel.status, panel.cancelled_at, panel.cancel_reason, panel.updated_at = (
            PanelStatus.CANCELLED.value, now, reason, now)
        invs = (await s.scalars(select(Invitation).where(
            Invitation.panel_id == panel.id,
            Invitation.status.in_([InvitationStatus.PENDING.value, InvitationStatus.ACCEPTED.value])))).all()
        for inv in invs:
            inv.status = InvitationStatus.CANCELLED.value
            acc = await expert_account(uow, inv.expert_id)
            if acc is not None:
                await enqueue(uow, acc, "panel_cancelled", {"panel_id": panel.id, "invitation_id": inv.id,
                                                            "title": panel.title,
                                                            "starts_at": panel.starts_at.isoformat(),
                                                            "reason": reason})
        await audit.append(uow, roles.actor, "panel.cancel", "panel", panel.id, before=before,
                           invitations_cancelled=[i.id for i in invs])
        if roles.is_admin and roles.unit_id != panel.unit_id:
            await notify_unit(uow, panel, "panel_cancelled", {"panel_id": panel.id, "invitation_id": None,
                                                              "title": panel.title,
                                                              "starts_at": panel.starts_at.isoformat(),
                                                              "reason": reason})
        await uow.commit()
    return len(invs)


async def complete_finished(uow: UnitOfWork) -> list[int]:
    """Scheduler tick: confirmed panels whose meeting has ended become completed."""
    async with uow:
        s = uow.session
        now = uow.clock.now()
        panels = (await s.scalars(select(Panel).where(
            Panel.status == PanelStatus.CONFIRMED.value, Panel.ends_at <= now).order_by(Panel.id).limit(500))).all()
        for p in panels:
            p.status, p.completed_at, p.updated_at = PanelStatus.COMPLETED.value, now, now
            await audit.append(uow, "system", "panel.complete", "panel", p.id)
        await uow.commit()
    return [p.id for p in panels]


async def record_exclusion(
    uow: UnitOfWork, roles: Roles, expert_id: int, party_name: str, uscc: str | None, reason: str
) -> int:
    """An admin records that `expert_id` must never sit on a matter involving the organisation.

    Open, not yet started panels where the expert holds a seat and that organisation is a
    party (or the requesting unit) release him at once, and a replacement is drawn."""
    if not roles.is_admin:
        raise Forbidden("role.admin_required")
    name = normalize_text(check_text(party_name or "", 100))
    code = parse_uscc(uscc) if uscc and uscc.strip() else None
    reason = check_text(reason, 1000)
    if not name and not code:
        raise DomainError("exclusion.party_required")
    if not reason:
        raise DomainError("exclusion.reason_required")
    async with uow:
        s = uow.session
        await lock_draws(uow)
        if await s.get(Expert, expert_id) is None:
            raise NotFound("expert.not_found", id=expert_id)
        row = RecordedExclusion(expert_id=expert_id, party_name=name, party_norm=normalize_unit_name(name), uscc=code,
                                reason=reason, created_by=roles.actor, created_at=uow.clock.now(), active=True)
        s.add(row)
        await s.flush()
        await audit.append(uow, roles.actor, "exclusion.record", "exclusion", row.id, expert_id=expert_id)
        await release_for_party(uow, expert_id, party_key(name, code), cause="excluded", actor=roles.actor)
        await uow.commit()
    return row.id

