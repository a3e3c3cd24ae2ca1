"""The eligible pool of one draw (Art. 12, 13), computed in SQL and fast at 100,000 experts.

One lean scan of `experts` (the field-mask test, status and term as a CASE, returning plain
tuples) plus small indexed look-ups for the rest: current-unit, previous-unit, declared and
recorded conflicts, unavailable days, overlapping bookings and (for replacements) earlier
invitations to the same panel. Every in-scope expert (holding ≥1 requested field) that is
left out is reported with one reason — the first that applies, in `ExclusionReason` order
below — and a detail naming *which* party (by index; "unit" for the requesting unit), day or
panel, never personal data.

Organisation matching follows `core.conflicts.matches`: equal credit codes when both sides
have one, otherwise equal normalised names. In SQL that is: an expert with a credit code
conflicts when the code is among the parties' codes or the name among the names of parties
*without* a code; an expert without one conflicts when the name is among all parties' names.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select, text
from sqlalchemy.sql.elements import ColumnElement

from core.conflicts import PartyKey, matches, party_key
from core.db.models import (
    DeclaredConflict,
    Expert,
    Invitation,
    Panel,
    PreviousUnit,
    RecordedExclusion,
    Unavailability,
)
from core.db.models.people import expert_code
from core.db.uow import UnitOfWork
from core.enums import SEAT_HOLDING, OPEN_PANEL_STATUSES, ExclusionReason, ExpertStatus
from core.panel_request import meeting_days

__all__ = ["Pool", "PoolQuery", "bare_eligible_ids_sql", "compute_pool", "lookback_start", "pool_query"]

UNIT = "unit"  # detail of a match with the requesting unit

# First applicable reason wins, in this order.
_ORDER = (
    ExclusionReason.NOT_ACTIVE, ExclusionReason.TERM, ExclusionReason.CONFLICT_CURRENT_UNIT,
    ExclusionReason.CONFLICT_PREVIOUS_UNIT, ExclusionReason.CONFLICT_DECLARED,
    ExclusionReason.CONFLICT_RECORDED, ExclusionReason.UNAVAILABLE, ExclusionReason.BOOKED,
    ExclusionReason.ALREADY_INVITED,
)
_RANK = {r: i for i, r in enumerate(_ORDER)}


@dataclass(frozen=True)
class PoolQuery:
    """Everything the pool depends on, as plain values."""

    field_mask: int
    starts_at: datetime
    ends_at: datetime
    days: tuple[date, ...]
    parties: tuple[PartyKey, ...]  # the matter's parties, by index
    unit: PartyKey | None  # the requesting unit, also a party
    lookback_from: date
    panel_id: int | None = None  # the panel itself: not a booking; earlier invitations excluded
    exclude_invited: bool = False

    @cached_property
    def keys(self) -> list[tuple[str, PartyKey]]:
        """(detail, key) for every party, the requesting unit last."""
        out = [(f"party:{i}", k) for i, k in enumerate(self.parties)]
        if self.unit is not None:
            out.append((UNIT, self.unit))
        return out

    def name_sets(self) -> tuple[list[str], list[str], list[str]]:
        """(all names, names of parties without a credit code, credit codes)."""
        keys = [k for _, k in self.keys]
        names = sorted({k.norm for k in keys if k.norm})
        bare = sorted({k.norm for k in keys if k.norm and not k.uscc})
        codes = sorted({k.uscc for k in keys if k.uscc})
        return names, bare, codes


@dataclass(frozen=True)
class Pool:
    eligible: dict[str, int]  # public code → field mask, in id order
    exclusions: list[tuple[str, str, str]] = field(default_factory=list)  # (code, reason, detail)

    @property
    def size(self) -> int:
        return len(self.eligible)


def lookback_start(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def pool_query(
    panel: Panel, field_ids: Iterable[int], unit: PartyKey | None, tz: tzinfo, lookback_years: int,
    *, exclude_invited: bool = False,
) -> PoolQuery:
    days = tuple(meeting_days(panel.starts_at, panel.ends_at, tz))
    return PoolQuery(
        field_mask=sum(1 << i for i in set(field_ids)),
        starts_at=panel.starts_at, ends_at=panel.ends_at, days=days,
        parties=tuple(party_key(p.name, p.uscc) for p in panel.parties),
        unit=unit, lookback_from=lookback_start(days[0], lookback_years),
        panel_id=panel.id, exclude_invited=exclude_invited,
    )


def _org_match(norm_col: Any, uscc_col: Any, q: PoolQuery) -> ColumnElement[bool]:
    names, bare, codes = q.name_sets()
    return or_(
        and_(uscc_col.is_not(None), or_(uscc_col.in_(codes), norm_col.in_(bare))),
        and_(uscc_col.is_(None), norm_col.in_(names)),
    )


async def _named(uow: UnitOfWork, cols: list[Any], norm_col: Any, uscc_col: Any, q: PoolQuery,
                 *where: Any) -> list[Any]:
    """Rows naming any party by name, then by credit code: one indexed IN look-up each (an OR of
    the two makes SQLite scan the table); `_which` then applies the exact rule of `matches`."""
    names, _, codes = q.name_sets()
    out: list[Any] = []
    for col, values in ((norm_col, names), (uscc_col, codes)):
        if values:
            out += (await uow.session.execute(select(*cols).where(col.in_(values), *where))).all()
    return out


def _which(q: PoolQuery, norm: str, uscc: str | None) -> str | None:
    key = PartyKey(norm, uscc or None)
    return next((detail for detail, k in q.keys if matches(key, k)), None)


def _agg(dialect: str, expr: str) -> str:
    """Concatenate `expr` over the rows into one text: one row crosses the driver, not 50,000."""
    return f"string_agg({expr}, ',')" if dialect == "postgresql" else f"group_concat({expr}, ',')"


def _code_sql(dialect: str) -> str:
    """`expert_code(id)` in SQL: 'E' and at least six digits."""
    if dialect == "postgresql":
        return "('E' || CASE WHEN id < 1000000 THEN lpad(id::text, 6, '0') ELSE id::text END)"
    return "printf('E%06d', id)"


def _split(blob: str | None) -> list[str]:
    return blob.split(",") if blob else []


async def compute_pool(uow: UnitOfWork, q: PoolQuery) -> Pool:
    """The eligible pool and every in-scope exclusion with its reason (read-only).

    One scan of the experts' narrow covering index returns its rows concatenated into three
    texts (active with a covering term → the candidates' codes and field bits; the rest of the
    in-scope experts → status/term exclusions) — one row crosses the driver, not 50,000 — then
    small indexed look-ups strike candidates out. Field bits are kept for the requested fields
    only."""
    s = uow.session
    dialect = uow.dialect
    first, last = q.days[0], q.days[-1]
    params = {"m": q.field_mask, "active": ExpertStatus.ACTIVE.value, "first": first, "last": last}
    code = _code_sql(dialect)
    covered = "(status = :active AND term_start <= :first AND term_end >= :last)"
    mask_text = "(field_mask & :m)::text" if dialect == "postgresql" else "(field_mask & :m)"
    # One scan of the (id, field_mask, status, term_start, term_end) covering index, in id
    # order (the digest's canonical JSON sorts the codes: sorted input makes that cheap).
    codes_blob, masks_blob, others = (await s.execute(text(
        f"SELECT {_agg(dialect, 'CASE WHEN ok THEN code END')}, {_agg(dialect, 'CASE WHEN ok THEN mask END')}, "
        f"{_agg(dialect, 'CASE WHEN NOT ok THEN code || why END')} FROM ("
        f"SELECT {code} AS code, {mask_text} AS mask, COALESCE({covered}, FALSE) AS ok, "
        f"CASE WHEN status <> :active THEN 'n' ELSE 't' END AS why "
        f"FROM experts WHERE (field_mask & :m) <> 0 ORDER BY id) AS scope"), params)).one()
    eligible: dict[str, int] = dict(zip(_split(codes_blob), map(int, _split(masks_blob))))
    excluded: dict[str, tuple[ExclusionReason, str]] = {
        item[:-1]: (ExclusionReason.NOT_ACTIVE if item[-1] == "n" else ExclusionReason.TERM, "")
        for item in _split(others)
    }

    struck: dict[str, tuple[ExclusionReason, str]] = {}

    def mark(eid: int, reason: ExclusionReason, detail: str) -> None:
        c = expert_code(eid)
        if c not in eligible:  # out of scope, or already left out for its status or term
            return
        old = struck.get(c)
        if old is None or _RANK[reason] < _RANK[old[0]]:
            struck[c] = (reason, detail)

    e = Expert.__table__.c
    if q.keys:
        for eid, norm, uscc in await _named(uow, [e.id, e.work_unit_norm, e.work_unit_uscc],
                                            e.work_unit_norm, e.work_unit_uscc, q):
            if (d := _which(q, norm, uscc)) is not None:
                mark(eid, ExclusionReason.CONFLICT_CURRENT_UNIT, d)
        pu = PreviousUnit.__table__.c
        for eid, norm, uscc, left_on in await _named(uow, [pu.expert_id, pu.name_norm, pu.uscc, pu.left_on],
                                                     pu.name_norm, pu.uscc, q):
            if (left_on is None or left_on >= q.lookback_from) and (d := _which(q, norm, uscc)) is not None:
                mark(eid, ExclusionReason.CONFLICT_PREVIOUS_UNIT, d)
        dc = DeclaredConflict.__table__.c
        for eid, norm, uscc in await _named(uow, [dc.expert_id, dc.party_norm, dc.uscc], dc.party_norm, dc.uscc, q):
            if (d := _which(q, norm, uscc)) is not None:
                mark(eid, ExclusionReason.CONFLICT_DECLARED, d)
        rc = RecordedExclusion.__table__.c
        for eid, norm, uscc in await _named(uow, [rc.expert_id, rc.party_norm, rc.uscc], rc.party_norm, rc.uscc, q,
                                            rc.active.is_(True)):
            if (d := _which(q, norm, uscc)) is not None:
                mark(eid, ExclusionReason.CONFLICT_RECORDED, d)

    un = Unavailability.__table__.c
    for eid, day in (await s.execute(
        select(un.expert_id, un.day).where(un.day >= first, un.day <= last).order_by(un.day)
    )).all():
        mark(eid, ExclusionReason.UNAVAILABLE, f"day:{day.isoformat()}")

    for eid, pid in (await s.execute(_booked(q))).all():
        mark(eid, ExclusionReason.BOOKED, f"panel:{pid}")

    if q.exclude_invited and q.panel_id is not None:
        inv = Invitation.__table__.c
        for (eid,) in (await s.execute(select(inv.expert_id).where(inv.panel_id == q.panel_id))).all():
            mark(eid, ExclusionReason.ALREADY_INVITED, "")

    for c in struck:
        del eligible[c]
    excluded.update(struck)
    exclusions = [(c, r.value, d) for c, (r, d) in sorted(excluded.items())]
    return Pool(eligible, exclusions)


def _booked(q: PoolQuery) -> Any:
    """(expert, panel) of seat-holding invitations on other open panels overlapping in time."""
    inv = Invitation.__table__.c
    p = Panel.__table__.c
    stmt = (
        select(inv.expert_id, inv.panel_id)
        .join_from(Invitation.__table__, Panel.__table__, p.id == inv.panel_id)
        .where(
            inv.status.in_([s.value for s in SEAT_HOLDING]),
            p.status.in_([s.value for s in OPEN_PANEL_STATUSES]),
            p.starts_at < bindparam("b_end", q.ends_at, type_=Panel.starts_at.type),
            p.ends_at > bindparam("b_start", q.starts_at, type_=Panel.ends_at.type),
        )
    )
    if q.panel_id is not None:
        stmt = stmt.where(p.id != q.panel_id)
    return stmt


def bare_eligible_ids_sql(q: PoolQuery) -> Any:
    """The single bare SELECT of the eligible expert ids (NOT EXISTS subqueries): the baseline
    the benchmark compares a whole draw against, and a cross-check of `compute_pool`."""
    e = Expert.__table__.c
    first, last = q.days[0], q.days[-1]
    conds: list[ColumnElement[bool]] = [
        e.field_mask.op("&")(q.field_mask) != 0,
        e.status == ExpertStatus.ACTIVE.value,
        e.term_start <= first, e.term_end >= last,
    ]
    un = Unavailability.__table__.c
    conds.append(~exists().where(un.expert_id == e.id, un.day >= first, un.day <= last))
    booked = _booked(q).subquery()
    conds.append(~exists().where(booked.c.expert_id == e.id))
    if q.keys:
        conds.append(~_org_match(e.work_unit_norm, e.work_unit_uscc, q))
        pu = PreviousUnit.__table__.c
        conds.append(~exists().where(pu.expert_id == e.id, or_(pu.left_on.is_(None), pu.left_on >= q.lookback_from),
                                     _org_match(pu.name_norm, pu.uscc, q)))
        dc = DeclaredConflict.__table__.c
        conds.append(~exists().where(dc.expert_id == e.id, _org_match(dc.party_norm, dc.uscc, q)))
        rc = RecordedExclusion.__table__.c
        conds.append(~exists().where(rc.expert_id == e.id, rc.active.is_(True), _org_match(rc.party_norm, rc.uscc, q)))
    if q.exclude_invited and q.panel_id is not None:
        inv = Invitation.__table__.c
        conds.append(~exists().where(inv.expert_id == e.id, inv.panel_id == q.panel_id))
    return select(e.id).where(*conds).order_by(e.id)


async def bare_eligible_ids(uow: UnitOfWork, q: PoolQuery) -> list[int]:
    return list((await uow.session.scalars(bare_eligible_ids_sql(q))).all())

