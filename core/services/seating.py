"""A panel's seats, shared by every panel use case: the draw lock, the stored draw, invitations,
replacements from the stored ranking, and the panel status with its notices to the unit.

Seat model. The latest draw's groups hold the random seats (one group per field quota, or one
group "any of these fields"); a seat is *held* by a pending or accepted invitation of its group.
`need` = seats no invitation holds. Approved directed selections (Art. 12 ¶2) cover `directed`
of those seats. The panel is SHORT while need > directed, CONFIRMED when need == directed, no
invitation is pending and every directed seat has its named person, else INVITING.

Every freed seat is refilled by `settle`: the next ranked expert of the seat's group in the
draw's stored ranking who was never invited to this panel and is eligible *now* (the pool is
recomputed). Replacement deadlines: max(panel deadline, now + 24 h), but never later than the
meeting start minus 1 h; when that leaves less than 1 h to answer, no replacement is drawn and
the panel goes SHORT (too late to ask anyone fairly).
"""
from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import bindparam, func, insert, inspect, literal, literal_column, select, text, union_all
from sqlalchemy.orm import defer

from core import draw as drawlib
from core.conflicts import PartyKey, party_key
from core.db.models import (
    Account,
    AuditEntry,
    Category,
    Contact,
    DirectedExpert,
    DirectedSelection,
    Draw,
    Expert,
    Invitation,
    Outbox,
    Panel,
    UsingUnit,
)
from core.db.models.people import expert_code, parse_expert_code
from core.db.pg_rows import unnest_insert, unnest_params
from core.db.uow import UnitOfWork
from core.enums import (
    OPEN_PANEL_STATUSES,
    DirectedStatus,
    InvitationStatus,
    PanelStatus,
)
from core.errors import NotFound
from core.outbox import Message, admin_account_ids, enqueue_all, notify_admins, row_of
from core.services import audit
from core.services.accounts import Roles
from core.services.pool import Pool, compute_pool, pool_query

REPLACEMENT_MIN_WINDOW = timedelta(hours=24)
REPLACEMENT_CUTOFF = timedelta(hours=1)  # before the meeting starts
REPLACEMENT_MIN_NOTICE = timedelta(hours=1)

SEATED = (InvitationStatus.PENDING.value, InvitationStatus.ACCEPTED.value)
_DIRECTED, _ADDED = "~directed", "~added"  # seats_of's rows beside the invitation statuses


_gc_pauses = 0  # gc_paused blocks open now (coroutines may overlap them)
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration of a draw.

    A draw holds ~20,000 short-lived containers at once (look-up rows, exclusions, the
    record's JSON) that are all freed by reference counting when it ends. With the collector
    on, they survive its young collections and count towards a full one, which then walks
    the whole process heap mid-draw: 60-65 ms, measured at 100,000 experts, more than the
    draw itself (p99 119 ms against a p50 of 50). Paused, they never get that far. Blocks
    may be entered by several coroutines at once: the collector resumes when the last ends,
    and only if it was on before the first."""
    global _gc_pauses, _gc_was_enabled
    if _gc_pauses == 0:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
    _gc_pauses += 1
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_was_enabled:
            gc.enable()


async def lock_draws(uow: UnitOfWork) -> None:
    """Draws take the audit chain's lock (PostgreSQL): every drawing transaction appends to the
    chain anyway, which serialises on that lock until commit. Taking it *first* makes concurrent
    draws see each other's bookings, and a second key could deadlock against it (a withdrawal
    audits before it draws replacements). SQLite's BEGIN IMMEDIATE already serialises."""
    await audit.lock_chain(uow)


# --- the stored draw ---------------------------------------------------------------------------

def decode_ranking(stored: str) -> tuple[list[str], dict[str, int]]:
    """A version-1 ranking (`CODE:MASK` joined by ','): the codes in order and their masks."""
    if not stored:
        return [], {}
    ranking: list[str] = []
    masks: dict[str, int] = {}
    for item in stored.split(","):
        code, _, mask = item.partition(":")
        ranking.append(code)
        masks[code] = int(mask or 0)
    return ranking, masks


def stored_ranking(row: Draw) -> tuple[list[str], dict[str, int]]:
    """The draw's ranking (public codes in order) and each ranked expert's fields at draw time."""
    if row.record_version == 1:
        return decode_ranking(row.ranking)
    ranking = drawlib.split_text(row.ranking)
    return ranking, dict(zip(ranking, map(int, drawlib.split_text(row.masks))))


@dataclass(frozen=True)
class DrawRecord:
    row: Draw
    groups: list[drawlib.SeatGroup]

    @cached_property
    def _lists(self) -> tuple[list[str], dict[str, int]]:
        return stored_ranking(self.row)

    @property
    def ranking(self) -> list[str]:
        return self._lists[0]

    @property
    def masks(self) -> dict[str, int]:
        return self._lists[1]

    @cached_property
    def positions(self) -> dict[str, int]:
        return {c: i + 1 for i, c in enumerate(self.ranking)}


# Statements every answer runs (through `settle`) are built once: building costs more than running.
_LATEST_DRAW = (select(Draw).options(*(defer(c, raiseload=True) for c in (Draw.ranking, Draw.masks, Draw.exclusions)))
                .where(Draw.panel_id == bindparam("panel_id")).order_by(Draw.id.desc()).limit(1))
_SEATS = union_all(
    select(Invitation.status, Invitation.group_index, func.count())
    .where(Invitation.panel_id == bindparam("panel_id")).group_by(Invitation.status, Invitation.group_index),
    select(literal(_DIRECTED), literal(-1), func.coalesce(func.sum(DirectedSelection.seats), 0)).where(
        DirectedSelection.panel_id == bindparam("panel_id"), DirectedSelection.status == DirectedStatus.APPROVED.value),
    select(literal(_ADDED), literal(-1), func.count()).select_from(DirectedExpert)
    .where(DirectedExpert.panel_id == bindparam("panel_id")),
)
_CONTACT_ACCOUNT = select(Account.id).where(Account.contact_id == bindparam("contact_id"))
_UNIT_ACCOUNTS = (select(Account.id).join(Contact, Contact.id == Account.contact_id)
                  .where(Contact.unit_id == bindparam("unit_id"), Contact.active.is_(True)).order_by(Account.id))


async def latest_draw(uow: UnitOfWork, panel_id: int) -> DrawRecord | None:
    """The panel's current draw, without the record's texts: they take ~0.5 MB at 43,000
    eligible experts and only a refill reads them (`with_ranking`), while every answer
    needs the seat groups."""
    row = await uow.session.scalar(_LATEST_DRAW, {"panel_id": panel_id})
    if row is None:
        return None
    return DrawRecord(row, [drawlib.SeatGroup.from_json(g) for g in row.groups])


async def _load(uow: UnitOfWork, obj: object, names: tuple[str, ...]) -> None:
    """Load the attributes `names` of `obj` that its query left out (async forbids lazy loads)."""
    missing = [name for name in names if name in inspect(obj).unloaded]
    if missing:
        await uow.session.refresh(obj, missing)


async def with_ranking(uow: UnitOfWork, rec: DrawRecord) -> DrawRecord:
    """`rec` with its ranking and masks loaded."""
    await _load(uow, rec.row, ("ranking", "masks"))
    return rec


async def with_relations(uow: UnitOfWork, panel: Panel) -> Panel:
    """`panel` with its fields and parties: an answer loads the panel without them (most answers
    never read them; a refill's pool and invitations do)."""
    await _load(uow, panel, ("fields", "parties"))
    return panel


def groups_of(panel: Panel) -> list[drawlib.SeatGroup]:
    """Quotas → one group per field, in the order given; no quotas → one group of all fields."""
    fields = sorted(panel.fields, key=lambda f: f.position)
    if fields and all(f.quota is not None for f in fields):
        return [drawlib.SeatGroup(frozenset({f.category_id}), int(f.quota or 0)) for f in fields]
    return [drawlib.SeatGroup(frozenset(f.category_id for f in fields), panel.size)]


async def category_codes(uow: UnitOfWork) -> dict[int, str]:
    return {i: c for i, c in (await uow.session.execute(select(Category.id, Category.code))).all()}


# --- the pool of a panel -----------------------------------------------------------------------

def as_party(unit: UsingUnit | None) -> PartyKey | None:
    """The requesting unit as a party of its own matter (a pool excludes its staff)."""
    return party_key(unit.name, unit.uscc) if unit is not None else None


async def panel_pool(uow: UnitOfWork, panel: Panel, *, exclude_invited: bool) -> Pool:
    await with_relations(uow, panel)
    unit = as_party(await uow.session.get(UsingUnit, panel.unit_id))
    q = pool_query(panel, [f.category_id for f in panel.fields], unit, uow.settings.tz,
                   uow.settings.rules.conflict_lookback_years, exclude_invited=exclude_invited)
    return await compute_pool(uow, q)


# --- loading with the caller's rights checked elsewhere ---------------------------------------

async def get_panel(uow: UnitOfWork, panel_id: int, *, for_update: bool = False) -> Panel:
    panel = await uow.session.get(Panel, panel_id, with_for_update=for_update or None)
    if panel is None:
        raise NotFound("panel.not_found", id=panel_id)
    return panel


def is_open(panel: Panel) -> bool:
    return panel.status in {s.value for s in OPEN_PANEL_STATUSES}


# --- notices -----------------------------------------------------------------------------------

async def expert_account(uow: UnitOfWork, expert_id: int) -> int | None:
    return await uow.session.scalar(select(Account.id).where(Account.expert_id == expert_id))


async def unit_accounts(uow: UnitOfWork, panel: Panel, acting: Roles | None = None) -> list[int]:
    """The requesting contact's account; without one, every active contact of the unit.
    `acting`: the account at work, which needs no look-up when it is that contact's."""
    s = uow.session
    if acting is not None and panel.contact_id is not None and acting.contact_id == panel.contact_id:
        return [acting.account_id]
    if panel.contact_id is not None:
        acc = await s.scalar(_CONTACT_ACCOUNT, {"contact_id": panel.contact_id})
        if acc is not None:
            return [acc]
    rows = await s.scalars(_UNIT_ACCOUNTS, {"unit_id": panel.unit_id})
    return list(rows.all())


async def matter_params(uow: UnitOfWork, panel: Panel) -> dict[str, Any]:
    """What an invited expert needs to decide: the matter, never the other experts."""
    await with_relations(uow, panel)
    unit = await uow.session.get(UsingUnit, panel.unit_id)
    return matter_of(panel, unit.name if unit else "", [(p.name, p.uscc) for p in panel.parties])


def matter_of(panel: Panel, unit: str, parties: Sequence[tuple[str | None, str | None]]) -> dict[str, Any]:
    """`matter_params` from the requesting unit's name and the parties (name, credit code)."""
    return {
        "panel_id": panel.id, "title": panel.title, "matter_type": panel.matter_type, "location": panel.location,
        "starts_at": panel.starts_at.isoformat(), "ends_at": panel.ends_at.isoformat(),
        "unit": unit, "parties": [name or (uscc or "") for name, uscc in parties],
    }


async def notify_unit(uow: UnitOfWork, panel: Panel, kind: str, params: dict[str, Any]) -> None:
    await enqueue_all(uow, [Message(acc, kind, params) for acc in await unit_accounts(uow, panel)])


# --- seats -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Seats:
    groups: tuple[drawlib.SeatGroup, ...]
    held: tuple[int, ...]  # per group: pending + accepted
    counts: dict[str, int]  # invitations by status
    directed: int  # seats covered by approved directed selections
    directed_added: int  # named directed experts

    @property
    def need(self) -> int:
        return sum(max(0, g.count - h) for g, h in zip(self.groups, self.held))

    def need_of(self, g: int) -> int:
        return max(0, self.groups[g].count - self.held[g])

    @property
    def short(self) -> bool:
        return self.need > self.directed

    @property
    def complete(self) -> bool:
        return (self.need == self.directed and self.counts.get(InvitationStatus.PENDING.value, 0) == 0
                and self.directed_added >= self.directed)


async def seats_of(uow: UnitOfWork, panel: Panel, rec: DrawRecord | None) -> Seats:
    s = uow.session
    groups = tuple(rec.groups) if rec is not None else tuple(groups_of(panel))
    held = [0] * len(groups)
    counts: dict[str, int] = {}
    directed = added = 0
    rows = await s.execute(_SEATS, {"panel_id": panel.id})  # one round trip: every answer settles its panel
    for status, g, n in rows.all():
        if status == _DIRECTED:
            directed = int(n or 0)
        elif status == _ADDED:
            added = int(n or 0)
        else:
            counts[status] = counts.get(status, 0) + n
            if status in SEATED and 0 <= g < len(held):
                held[g] += n
    return Seats(groups, tuple(held), counts, directed, added)


def status_params(panel: Panel, seats: Seats) -> dict[str, Any]:
    """Counts only — before confirmation the unit never learns who was invited."""
    c = seats.counts
    return {
        "panel_id": panel.id, "title": panel.title, "status": panel.status, "size": panel.size,
        "accepted": c.get(InvitationStatus.ACCEPTED.value, 0) + seats.directed_added,
        "pending": c.get(InvitationStatus.PENDING.value, 0),
        "declined": c.get(InvitationStatus.DECLINED.value, 0) + c.get(InvitationStatus.CONFLICT.value, 0)
        + c.get(InvitationStatus.WITHDRAWN.value, 0),
        "expired": c.get(InvitationStatus.EXPIRED.value, 0),
        "open_seats": max(0, seats.need - seats.directed),
        "directed": seats.directed,
    }


def replacement_deadline(panel: Panel, now: datetime) -> datetime | None:
    """When a replacement must answer, or None when it is too late to ask anyone."""
    deadline = min(max(panel.response_deadline, now + REPLACEMENT_MIN_WINDOW), panel.starts_at - REPLACEMENT_CUTOFF)
    return deadline if deadline - now >= REPLACEMENT_MIN_NOTICE else None


@dataclass(frozen=True)
class Pick:
    """One seat to offer: who (public code), which group, rank in the draw, whose seat it refills."""

    code: str
    group: int
    rank: int | None
    replacement_of: int | None = None
    replacement: bool = False  # drawn after the initial selection (audited as draw.replacement)


async def invite_many(
    uow: UnitOfWork, panel: Panel, draw_id: int, picks: list[Pick], deadline: datetime, *, actor: str,
    audited: Sequence[audit.Entry] = (), also: Sequence[Message] = (), matter: dict[str, Any] | None = None,
) -> list[int]:
    """Create pending invitations in one INSERT, audit each (after the entries `audited`) and
    queue each expert's message (and the messages `also`, after them); the invitations' ids.
    `matter`: the panel's `matter_params`, if the caller has them.
    The invitations go in with the experts' accounts and the chain's head read in the same
    statement; then, on PostgreSQL, the audit entries with the messages in one more (SQLite:
    two more, one per table).

    An expert without a chat account still holds the invitation; the bureau is told to reach
    him another way (`expert_unreachable`)."""
    if not picks:
        return []
    made, accounts = await _insert_invitations(uow, panel, draw_id, picks, deadline)
    entries = list(audited)
    for (inv_id, expert_id), p in zip(made, picks):
        if p.replacement:
            entries.append(("draw.replacement", "panel", panel.id, dict(
                draw_id=draw_id, invitation_id=inv_id, expert_code=p.code, group=p.group, rank=p.rank,
                replacement_of=p.replacement_of)))
        entries.append(("invitation.create", "invitation", inv_id, dict(
            panel_id=panel.id, expert_id=expert_id, group=p.group, rank=p.rank, replacement_of=p.replacement_of)))
    if matter is None:
        matter = await matter_params(uow, panel)
    messages = [*await _invitation_messages(uow, matter, made, accounts, picks, deadline), *also]
    if uow.dialect == "postgresql":
        chain = [asdict(e) for e in await audit.chained(uow, actor, entries)]
        queued = [row_of(uow, a, k, p) for a, k, p in messages]
        await uow.session.execute(_AUDIT_AND_QUEUE_PG, {**unnest_params(_AUDIT, _AUDIT_COLUMNS, chain, "a"),
                                                        **unnest_params(_OUTBOX, _OUTBOX_COLUMNS, queued, "o")})
    else:
        await audit.append_many(uow, actor, entries)
        await enqueue_all(uow, messages)
    return [inv_id for inv_id, _ in made]


_INVITATION_COLUMNS = ("panel_id", "draw_id", "expert_id", "group_index", "rank", "replacement_of", "status",
                       "invited_at", "deadline")
# The invitations, each invited expert's account and the audit chain's head in one statement
# (PostgreSQL: then the audit entries and the messages in one more).
_INVITE_PG = text(
    f"WITH made AS ({unnest_insert(Invitation.__table__, _INVITATION_COLUMNS, 'i')} RETURNING id, expert_id) "
    f"SELECT made.id, made.expert_id, (SELECT a.id FROM accounts a WHERE a.expert_id = made.expert_id), "
    f"{audit.HEAD_SQL[0]}, {audit.HEAD_SQL[1]} FROM made")
_INSERT_INVITATIONS = insert(Invitation.__table__).returning(
    Invitation.id, Invitation.expert_id,
    literal_column("(SELECT a.id FROM accounts a WHERE a.expert_id = invitations.expert_id)"),
    *map(literal_column, audit.HEAD_SQL))
_AUDIT, _OUTBOX = AuditEntry.__table__, Outbox.__table__
_AUDIT_COLUMNS = tuple(c.name for c in _AUDIT.columns)
_OUTBOX_COLUMNS = ("account_id", "kind", "params", "status", "created_at", "next_attempt_at", "attempts", "thread")
_AUDIT_AND_QUEUE_PG = text(f"WITH audited AS ({unnest_insert(_AUDIT, _AUDIT_COLUMNS, 'a')}) "
                           f"{unnest_insert(_OUTBOX, _OUTBOX_COLUMNS, 'o')}")


async def _insert_invitations(
    uow: UnitOfWork, panel: Panel, draw_id: int, picks: list[Pick], deadline: datetime
) -> tuple[list[tuple[int, int]], dict[int, int]]:
    """(id, expert id) of each pick's new invitation, in pick order, and the chat account of each
    invited expert who has one. One multi-row INSERT … RETURNING, whose rows come back in any
    order and are matched to the picks by expert (unique within a panel); the same statement
    reads the accounts and the audit chain's head (`audit.note_head`)."""
    now = uow.clock.now()
    rows = [dict(panel_id=panel.id, draw_id=draw_id, expert_id=parse_expert_code(p.code), group_index=p.group,
                 rank=p.rank, replacement_of=p.replacement_of, status=InvitationStatus.PENDING.value,
                 invited_at=now, deadline=deadline) for p in picks]
    s = uow.session
    if uow.dialect == "postgresql":
        await audit.lock_chain(uow)  # before the statement that reads the chain's head
        out = (await s.execute(_INVITE_PG, unnest_params(Invitation.__table__, _INVITATION_COLUMNS, rows, "i"))).all()
    else:  # one multi-row INSERT … RETURNING; SQLite's one writer holds the chain's head still
        out = (await s.execute(_INSERT_INVITATIONS, rows)).all()
    audit.note_head(uow, out[0][3], out[0][4])
    ids = {expert: inv for inv, expert, *_ in out}
    accounts = {expert: acc for _, expert, acc, *_ in out if acc is not None}
    return [(ids[r["expert_id"]], r["expert_id"]) for r in rows], accounts


async def _invitation_messages(
    uow: UnitOfWork, matter: dict[str, Any], made: list[tuple[int, int]], accounts: dict[int, int],
    picks: list[Pick], deadline: datetime,
) -> list[Message]:
    """Each invited expert's message (about the matter, `matter_params`), or the bureau's
    `expert_unreachable` for one without a chat account, in pick order."""
    admins: list[int] | None = None
    out: list[Message] = []
    for (inv_id, expert_id), p in zip(made, picks):
        acc = accounts.get(expert_id)
        if acc is not None:
            out.append(Message(acc, "invitation", {**matter, "invitation_id": inv_id,
                                                   "deadline": deadline.isoformat(), "replacement": p.replacement}))
            continue
        admins = await admin_account_ids(uow) if admins is None else admins
        params = {"expert_id": expert_id, "invitation_id": inv_id, "panel_id": matter["panel_id"]}
        out += [Message(a, "expert_unreachable", params) for a in admins]
    return out


def short_detail(seats: Seats, cats: dict[int, str], reason: str, pool_size: int | None = None,
                 available: dict[int, int] | None = None) -> dict[str, Any]:
    """Which groups are short, by how much, and how many experts the pool still had."""
    groups = []
    for g, grp in enumerate(seats.groups):
        if seats.need_of(g):
            groups.append({"index": g, "fields": [cats.get(f, str(f)) for f in sorted(grp.fields)],
                           "needed": grp.count, "filled": seats.held[g],
                           "available": (available or {}).get(g, seats.held[g])})
    out: dict[str, Any] = {"reason": reason, "groups": groups, "open_seats": seats.need - seats.directed}
    if pool_size is not None:
        out["pool_size"] = pool_size
    return out


async def settle(
    uow: UnitOfWork, panel: Panel, *, actor: str, freed: dict[int, list[int]] | None = None,
    all_or_nothing: bool | None = None, notify_status: bool = True,
) -> list[int]:
    """Refill free seats from the stored ranking, then set the panel status and tell the unit.

    `freed` maps group → ids of the invitations whose seats just freed (recorded as
    `replacement_of`). With `all_or_nothing` — by default when no invitation holds a seat yet —
    nobody is invited unless every uncovered seat can be filled: no partial panel is ever made
    out of a short one."""
    if not is_open(panel):
        return []
    rec = await latest_draw(uow, panel.id)
    if rec is None:
        return []
    now = uow.clock.now()
    seats = await seats_of(uow, panel, rec)
    created: list[int] = []
    reason = "pool"
    available: dict[int, int] | None = None
    if seats.short:
        deadline = replacement_deadline(panel, now)
        if deadline is None:
            reason = "late"
        else:
            with gc_paused():  # a replacement computes a whole pool too; freed when _plan returns
                plan = await _plan(uow, panel, await with_ranking(uow, rec), seats)
            if all_or_nothing is None:
                all_or_nothing = sum(seats.held) == 0
            if all_or_nothing and len(plan) < seats.need - seats.directed:
                available = {g: seats.held[g] + sum(1 for _, pg in plan if pg == g) for g in range(len(seats.groups))}
            else:
                positions = rec.positions
                freed_q = {g: list(ids) for g, ids in (freed or {}).items()}
                picks = [Pick(code, g, positions.get(code), freed_q[g].pop(0) if freed_q.get(g) else None, True)
                         for code, g in plan]
                created = await invite_many(uow, panel, rec.row.id, picks, deadline, actor=actor)
                seats = await seats_of(uow, panel, rec)
    await _update_status(uow, panel, seats, reason=reason, actor=actor, available=available)
    if notify_status:
        await notify_unit(uow, panel, "panel_status", status_params(panel, seats))
    return created


async def _plan(uow: UnitOfWork, panel: Panel, rec: DrawRecord, seats: Seats) -> list[tuple[str, int]]:
    """Who would take the uncovered seats: (code, group), group by group in index order."""
    pool = await panel_pool(uow, panel, exclude_invited=True)
    eligible = set(pool.eligible)
    invited = {expert_code(e) for e in (await uow.session.scalars(
        select(Invitation.expert_id).where(Invitation.panel_id == panel.id))).all()}
    budget = seats.need - seats.directed
    plan: list[tuple[str, int]] = []
    for g, grp in enumerate(seats.groups):
        for _ in range(seats.need_of(g)):
            if budget <= 0:
                return plan
            code = drawlib.replacement(rec.ranking, pool.eligible, grp, invited, eligible)
            if code is None:
                break
            invited.add(code)
            plan.append((code, g))
            budget -= 1
    return plan


async def _update_status(uow: UnitOfWork, panel: Panel, seats: Seats, *, reason: str, actor: str,
                         available: dict[int, int] | None = None) -> None:
    before = panel.status
    now = uow.clock.now()
    if seats.short:
        after = PanelStatus.SHORT.value
    elif seats.complete:
        after = PanelStatus.CONFIRMED.value
    else:
        after = PanelStatus.INVITING.value
    if after == PanelStatus.SHORT.value:
        detail = short_detail(seats, await category_codes(uow), reason, available=available)
        changed = before != after or (panel.short_detail or {}).get("groups") != detail["groups"]
        panel.short_detail = detail
        if changed:
            await audit.append(uow, actor, "panel.short", "panel", panel.id, before=before,
                               open_seats=detail["open_seats"], reason=reason)
            params = {"panel_id": panel.id, "title": panel.title, **detail, "options": ["relax", "directed"]}
            await notify_unit(uow, panel, "panel_short", params)
            await notify_admins(uow, "panel_short", params)
    elif before == PanelStatus.SHORT.value:
        panel.short_detail = None
    if after == before:
        return
    panel.status = after
    panel.updated_at = now
    if after == PanelStatus.CONFIRMED.value:
        panel.confirmed_at = now
        await audit.append(uow, actor, "panel.confirm", "panel", panel.id, before=before)
        await notify_unit(uow, panel, "panel_confirmed", {"panel_id": panel.id, "title": panel.title,
                                                         "starts_at": panel.starts_at.isoformat(),
                                                         "location": panel.location,
                                                         "roster": await roster(uow, panel.id)})
    elif after != PanelStatus.SHORT.value:
        await audit.append(uow, actor, "panel.status", "panel", panel.id, before=before, after=after)


async def roster(uow: UnitOfWork, panel_id: int) -> list[dict[str, Any]]:
    """Accepted experts and named directed experts: name, unit, title, phone, directed."""
    s = uow.session
    rows = await s.execute(
        select(Expert.id, Expert.name, Expert.work_unit, Expert.title, Expert.phone)
        .join(Invitation, Invitation.expert_id == Expert.id)
        .where(Invitation.panel_id == panel_id, Invitation.status == InvitationStatus.ACCEPTED.value)
        .order_by(Invitation.id))
    out = [{"code": expert_code(i), "name": n, "unit": u, "title": t, "phone": p, "directed": False}
           for i, n, u, t, p in rows.all()]
    for d in (await s.scalars(select(DirectedExpert).where(DirectedExpert.panel_id == panel_id)
                              .order_by(DirectedExpert.id))).all():
        out.append({"code": None, "name": d.name, "unit": d.unit, "title": d.title, "phone": d.contact,
                    "directed": True})
    return out
