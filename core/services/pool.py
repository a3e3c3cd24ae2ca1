"""The eligible pool of one draw (Art. 12, 13), computed in SQL and fast at 100,000 experts.

Two statements. The *look-ups* are small indexed queries, one UNION ALL, naming whoever a
rule strikes out — current unit, previous unit within the look-back, declared and recorded
conflicts, unavailable days, overlapping bookings and (for replacements) earlier invitations
to the same panel — each row with the rule and what it names (organisation, day, panel). The
*scan* reads the experts' narrow covering index (by field mask, then id) over the masks that
share a requested field (`field_masks`) and returns its rows concatenated into one text —
one row crosses the driver, not 50,000: every in-scope expert (holding ≥1 requested field)
with his class — a *candidate* (active, term covering the meeting), not active, or out of
term — and his field bits among the requested fields. The pool is
the candidates minus those the look-ups name; only those candidates get a look-up reason.
A draw of a large pool (`compute_pool(feed=…)`) has the scan run in two id-range pieces at
once, the first on a connection of its own (`_scan_beside`), and ranks each piece as it
comes.

Every in-scope expert that is left out is reported with one reason — the first that applies,
in `ExclusionReason` order below — and a detail naming *which* party (by index; "unit" for the
requesting unit), day or panel, never personal data. Among rows of the same reason the
smallest detail wins (first party, earliest day, lowest panel id).

Organisation matching follows `core.conflicts.matches`: equal credit codes when both sides
have one, otherwise equal normalised names. In SQL that is: an organisation with a credit
code conflicts when the code is among the parties' codes or the name among the names of
parties *without* a code; one without a code conflicts when the name is among all parties'
names.

`bare_eligible_ids_sql` is the same filtering as one plain SELECT of the eligible ids, one row
each (the look-ups as one `NOT IN`): the benchmark's baseline and a cross-check in the tests.
"""
from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from functools import cached_property
from itertools import repeat
from pathlib import Path
from typing import Any

from sqlalchemy import Date, Text, bindparam, event, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import TextClause

from core import draw as drawlib
from core.conflicts import PartyKey, party_key
from core.db.base import UTCDateTime
from core.db.models import Panel
from core.db.models.people import expert_code
from core.db.uow import UnitOfWork
from core.enums import OPEN_PANEL_STATUSES, SEAT_HOLDING, ExclusionReason, ExpertStatus
from core.panel_request import meeting_days

try:  # numpy comes with matplotlib (a dependency)
    import numpy as np
except ImportError:  # pragma: no cover
    np = None  # type: ignore[assignment]

__all__ = ["Pool", "PoolQuery", "PoolScan", "bare_eligible_ids", "bare_eligible_ids_sql", "compute_pool",
           "driver_sql", "lookback_start", "meeting_pool_query", "pool_query", "start_pool"]

UNIT = "unit"  # detail of a match with the requesting unit

# First applicable reason wins, in this order.
_ORDER = (
    ExclusionReason.NOT_ACTIVE, ExclusionReason.TERM, ExclusionReason.CONFLICT_CURRENT_UNIT,
    ExclusionReason.CONFLICT_PREVIOUS_UNIT, ExclusionReason.CONFLICT_DECLARED,
    ExclusionReason.CONFLICT_RECORDED, ExclusionReason.UNAVAILABLE, ExclusionReason.BOOKED,
    ExclusionReason.ALREADY_INVITED,
)
_KIND = {r: i for i, r in enumerate(_ORDER)}  # the `k` column of the look-ups
_ORG_KINDS = frozenset(_KIND[r] for r in _ORDER[2:6])


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

    @cached_property
    def _detail_maps(self) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """First key index by credit code, by name of a key without code, by any name."""
        by_code: dict[str, int] = {}
        by_bare: dict[str, int] = {}
        by_name: dict[str, int] = {}
        for i, (_, k) in enumerate(self.keys):
            if k.uscc:
                by_code.setdefault(k.uscc, i)
            if k.norm:
                by_name.setdefault(k.norm, i)
                if not k.uscc:
                    by_bare.setdefault(k.norm, i)
        return by_code, by_bare, by_name

    def which(self, norm: str | None, uscc: str | None) -> int | None:
        """Index in `keys` of the first party the organisation (norm, uscc) matches, as
        `core.conflicts.matches` decides; None when it matches none."""
        by_code, by_bare, by_name = self._detail_maps
        if uscc:
            hits = [i for i in (by_code.get(uscc), by_bare.get(norm or "")) if i is not None]
            return min(hits) if hits else None
        return by_name.get(norm) if norm else None


@dataclass(frozen=True)
class Pool:
    """The eligible experts — ids and their field bits among the requested fields, parallel
    sequences (numpy arrays when numpy is there) in the scan's order — and every in-scope
    exclusion as (code, reason, detail), sorted by code."""

    ids: Sequence[int]
    masks: Sequence[int]
    exclusions: list[tuple[str, str, str]] = field(default_factory=list)

    @cached_property
    def eligible(self) -> dict[str, int]:
        """public code → field bits, in id order."""
        return {expert_code(i): m for i, m in sorted(zip(map(int, self.ids), map(int, self.masks)))}

    @property
    def size(self) -> int:
        return len(self.ids)


def lookback_start(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def pool_query(
    panel: Panel, field_ids: Iterable[int], unit: PartyKey | None, tz: tzinfo, lookback_years: int,
    *, exclude_invited: bool = False,
) -> PoolQuery:
    return meeting_pool_query(panel.starts_at, panel.ends_at, [(p.name, p.uscc) for p in panel.parties], field_ids,
                              unit, tz, lookback_years, panel_id=panel.id, exclude_invited=exclude_invited)


def meeting_pool_query(
    starts_at: datetime, ends_at: datetime, parties: Iterable[tuple[str, str | None]], field_ids: Iterable[int],
    unit: PartyKey | None, tz: tzinfo, lookback_years: int, *, panel_id: int | None = None,
    exclude_invited: bool = False,
) -> PoolQuery:
    """The query of a meeting's pool; `parties` as (name, credit code) in the panel's order. A
    panel not inserted yet has no id: it holds no invitations, so it books nobody either."""
    days = tuple(meeting_days(starts_at, ends_at, tz))
    return PoolQuery(
        field_mask=sum(1 << i for i in set(field_ids)),
        starts_at=starts_at, ends_at=ends_at, days=days,
        parties=tuple(party_key(name, uscc) for name, uscc in parties),
        unit=unit, lookback_from=lookback_start(days[0], lookback_years),
        panel_id=panel_id, exclude_invited=exclude_invited,
    )


# --- SQL ---------------------------------------------------------------------------------------
#
# Lists (party names, credit codes, statuses) are bound as one array on PostgreSQL (`= ANY(:x)`):
# the statement text and its prepared plan stay the same whatever the party count, and its
# generic plan is as good as a custom one. SQLite gets an expanded `IN (?, ?, …)`.

_LISTS = ("names", "bare", "codes", "seat_holding", "open_panel")


def _in(col: str, param: str, dialect: str) -> str:
    return f"{col} = ANY(:{param})" if dialect == "postgresql" else f"{col} IN :{param}"


def _in_names(col: str, param: str, dialect: str) -> str:
    """`_in` for the parties' names and credit codes. On PostgreSQL the array is read in an
    InitPlan, so the planner does not see its values: with them it estimated every name of a
    50-party list against each table's statistics, and a custom plan of the look-ups took
    ~5 ms to make (~1.3 to run). A connection's first five executions of a prepared statement
    are planned that way (plan_cache_mode auto), which, a few draws a day over a pool of
    connections, is every draw. Not seeing the values, the planner makes the generic plan's
    choices (the same indexes) in ~0.6 ms."""
    if dialect != "postgresql":
        return _in(col, param, dialect)
    return f"{col} = ANY(ARRAY(SELECT unnest(CAST(:{param} AS TEXT[]))))"


def _in_term(dialect: str) -> str:
    """The term covers the meeting's days. On SQLite the date columns are read as they are
    stored (ISO texts) with a unary plus: a DATE column has NUMERIC affinity, so a bare
    `term_start <= ?` tries to make a number of the parameter's text on every row (~13 % of a
    scan piece's time at 100,000 experts). Text against text, the order is the same."""
    plus = "+" if dialect == "sqlite" else ""
    return f"{plus}term_start <= :first AND {plus}term_end >= :last"


def _candidate(dialect: str) -> str:
    return f"status = :active AND {_in_term(dialect)}"


def _org_lookups(q: PoolQuery, dialect: str, table: str, eid: str, norm: str, uscc: str, extra: str = "") -> list[str]:
    """Rows of `table` naming a party, as (eid, a=norm, b=uscc): one indexed look-up by name
    and one by credit code (an OR of the two makes SQLite scan the table)."""
    names, bare, codes = q.name_sets()
    where = f" AND {extra}" if extra else ""
    cols = f"SELECT {eid} AS eid, {norm} AS a, {uscc} AS b FROM {table}"
    out = []
    if names:
        by_name = f"({uscc} IS NULL OR {_in_names(norm, 'bare', dialect)})" if bare else f"{uscc} IS NULL"
        out.append(f"{cols} WHERE {_in_names(norm, 'names', dialect)} AND {by_name}{where}")
    if codes:
        out.append(f"{cols} WHERE {_in_names(uscc, 'codes', dialect)}{where}")
    return out


def _lookups(q: PoolQuery, dialect: str) -> list[tuple[int, str]]:
    """(kind, SELECT eid, a, b) of every look-up that strikes a candidate out of the pool."""
    out: list[tuple[int, str]] = []
    if q.keys:
        for kind, table, eid, norm, uscc, extra in (
            # Only the experts in scope (holding a requested field): at 100,000 experts a
            # party's staff are ~2.4 times as many.
            (ExclusionReason.CONFLICT_CURRENT_UNIT, "experts", "id", "work_unit_norm", "work_unit_uscc",
             "(field_mask & :m) <> 0"),
            (ExclusionReason.CONFLICT_PREVIOUS_UNIT, "previous_units", "expert_id", "name_norm", "uscc",
             "(left_on IS NULL OR left_on >= :lookback)"),
            (ExclusionReason.CONFLICT_DECLARED, "declared_conflicts", "expert_id", "party_norm", "uscc", ""),
            (ExclusionReason.CONFLICT_RECORDED, "recorded_exclusions", "expert_id", "party_norm", "uscc",
             "active = :true"),
        ):
            out += [(_KIND[kind], sql) for sql in _org_lookups(q, dialect, table, eid, norm, uscc, extra)]
    out.append((_KIND[ExclusionReason.UNAVAILABLE],
                "SELECT expert_id AS eid, CAST(day AS TEXT) AS a, CAST(NULL AS TEXT) AS b FROM unavailability "
                "WHERE day >= :first AND day <= :last"))
    other = " AND p.id <> :panel" if q.panel_id is not None else ""
    overlapping = (f"{_in('p.status', 'open_panel', dialect)} AND p.starts_at < :b_end AND p.ends_at > :b_start"
                   f"{other}")
    booked = "SELECT i.expert_id AS eid, CAST(i.panel_id AS TEXT) AS a, CAST(NULL AS TEXT) AS b FROM invitations i "
    seated = _in("i.status", "seat_holding", dialect)
    if dialect == "postgresql":
        # The overlapping panels' ids as an array (an InitPlan), each looked up in
        # ix_invitations_panel_id: as a join PostgreSQL hashed the panels against a sequential
        # scan of every invitation ever made (1.0 of 1.6 ms at 2,700; it grows with the years).
        out.append((_KIND[ExclusionReason.BOOKED],
                    f"{booked}WHERE i.panel_id = ANY(ARRAY(SELECT p.id FROM panels p WHERE {overlapping})) "
                    f"AND {seated}"))
    else:  # SQLite searches ix_panels_time, then ix_invitations_panel_id, as it is
        out.append((_KIND[ExclusionReason.BOOKED],
                    f"{booked}JOIN panels p ON p.id = i.panel_id WHERE {seated} AND {overlapping}"))
    if q.exclude_invited and q.panel_id is not None:
        out.append((_KIND[ExclusionReason.ALREADY_INVITED],
                    "SELECT expert_id AS eid, CAST(NULL AS TEXT) AS a, CAST(NULL AS TEXT) AS b FROM invitations "
                    "WHERE panel_id = :panel"))
    return out


def _agg(dialect: str, expr: str) -> str:
    """Concatenate `expr` over the rows into one text (NULLs skipped)."""
    return f"string_agg({expr}, ',')" if dialect == "postgresql" else f"group_concat({expr}, ',')"


def _agg_ints(dialect: str, expr: str) -> str:
    """Concatenate the integer `expr` over the rows into one value that `drawlib.parse_ints`
    reads: on PostgreSQL 8 bytes each (`int8send`, big-endian), which spares the server
    formatting 43,000 numbers as text (~1 ms of a ~9 ms scan piece), on SQLite a text."""
    return f"string_agg(int8send({expr}), ''::bytea)" if dialect == "postgresql" else _agg(dialect, expr)


_PARAM = re.compile(r"(?<![:\w]):(\w+)")


def _values(q: PoolQuery, sql: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The values of the parameters `sql` names."""
    names, bare, codes = q.name_sets()
    values: dict[str, Any] = {
        "m": q.field_mask, "active": ExpertStatus.ACTIVE.value, "true": True,
        "seat_holding": [s.value for s in SEAT_HOLDING], "open_panel": [s.value for s in OPEN_PANEL_STATUSES],
        "names": names, "bare": bare, "codes": codes, "panel": q.panel_id, "first": q.days[0], "last": q.days[-1],
        "lookback": q.lookback_from, "b_end": q.ends_at, "b_start": q.starts_at, **(extra or {}),
    }
    used = set(_PARAM.findall(sql))
    return {k: v for k, v in values.items() if k in used}


_TYPES: dict[str, Any] = {"first": Date(), "last": Date(), "lookback": Date(), "b_end": UTCDateTime(),
                          "b_start": UTCDateTime()}


def _bind(q: PoolQuery, sql: str, dialect: str, extra: dict[str, Any] | None = None) -> TextClause:
    return _bound(sql, _values(q, sql, extra), dialect)


def _bound(sql: str, values: dict[str, Any], dialect: str) -> TextClause:
    params = []
    for k, v in values.items():
        if k in _LISTS:
            params.append(bindparam(k, v, type_=ARRAY(Text())) if dialect == "postgresql"
                          else bindparam(k, v, expanding=True))
        else:
            params.append(bindparam(k, v, type_=_TYPES.get(k)))
    return text(sql).bindparams(*params)


DriverSQL = tuple[str, tuple[Any, ...]]


def _prepared(q: PoolQuery, sql: str, dialect: Any, extra: dict[str, Any] | None = None) -> DriverSQL:
    """`_bind(q, sql, …)` as the driver's own SQL and positional parameters (`driver_sql`),
    compiled once per statement shape — the text, the type of each value and, on SQLite, the
    length of every expanded list — and cached: compiling and binding the look-ups cost ~2 ms
    a draw, about what running them costs."""
    values = _values(q, sql, extra)
    key = (dialect, sql, tuple((k, len(v) if k in _LISTS else type(v)) for k, v in values.items()))
    plan = _plans.get(key)
    if plan is None:
        plan = _plan(sql, values, dialect)
        if plan is None:
            return driver_sql(dialect, _bound(sql, values, dialect.name))
        if len(_plans) >= 256:
            _plans.clear()
        _plans[key] = plan
    string, positions = plan
    args = []
    for name, index, proc in positions:
        v = values[name] if index < 0 else values[name][index]
        args.append(v if proc is None else proc(v))
    return string, tuple(args)


_Position = tuple[str, int, Any]  # parameter, index in its list (-1: not a list), bind processor
_plans: dict[Any, tuple[str, tuple[_Position, ...]]] = {}


def _plan(sql: str, values: dict[str, Any], dialect: Any) -> tuple[str, tuple[_Position, ...]] | None:
    """The compiled text and where each positional parameter comes from (SQLAlchemy names an
    expanded list's items `name_1`, `name_2`, …); None if it does not read back that way."""
    compiled = _bound(sql, values, dialect.name).compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    procs = compiled._bind_processors
    positions: list[_Position] = []
    for p in compiled.positiontup or ():
        name, index = p, -1
        if p not in values:
            name, _, i = p.rpartition("_")
            if name not in _LISTS or name not in values or not i.isdigit() or not 1 <= int(i) <= len(values[name]):
                return None
            index = int(i) - 1
        positions.append((name, index, procs.get(p)))
    return compiled.string, tuple(positions)


def _experts(dialect: str) -> str:
    """The experts table, read through its narrow covering index on SQLite: with the status and
    term tests its planner may otherwise pick ix_experts_status_term and fetch 50,000 wide rows."""
    return "experts INDEXED BY ix_experts_mask_scan" if dialect == "sqlite" else "experts"


def _in_scope(dialect: str) -> str:
    """The experts holding a requested field: those whose mask is one of the masks experts hold
    (field_masks) that share a bit with :m — one index range per such mask in
    ix_experts_mask_scan, instead of testing every expert's mask (~30 % less scan time at
    100,000 experts in 11 fields). On PostgreSQL the masks are an array computed once
    (an InitPlan): as a join the planner would hash it against the whole index."""
    masks = "SELECT mask FROM field_masks WHERE (mask & :m) <> 0"
    return f"field_mask = ANY(ARRAY({masks}))" if dialect == "postgresql" else f"field_mask IN ({masks})"


# The scan's class of an in-scope expert, the low two bits of its `code` (id * 4 + class).
_CANDIDATE_CLASS, _NOT_ACTIVE_CLASS, _OUT_OF_TERM_CLASS = 0, 1, 2
# While the requested fields' ids are below this, the scan packs an expert's code and field bits
# into one number, `code * (m + 1) + (field_mask & m)` (below 2**62 for ids below 2**36).
_PACK_BITS = 24


def _packing(q: PoolQuery) -> int | None:
    """The scan's packing base, m + 1, or None when it returns codes and masks apart."""
    return q.field_mask + 1 if q.field_mask < 1 << _PACK_BITS else None


def _scan_text(dialect: str, lo: bool, hi: bool, packed: bool) -> str:
    """One row of texts of numbers joined by ',', one number per in-scope expert (holding a
    requested field), in the same order: `id * 4 + class` — 0 a candidate (active, term
    covering the meeting), 1 not active, 2 active but out of term — and his field bits among
    the requested fields; `packed`, both in one number (one text, see `_packing`). Cheaper than
    one CASE-filtered aggregate per output (ids, masks, not active, out of term), each testing
    status and term again: at 100,000 experts ~28 ms instead of ~50 (SQLite) and ~35
    (PostgreSQL); packed, one aggregate less: ~7 % (SQLite) and ~11 % (PostgreSQL) less again.
    `lo`, `hi`: only the ids ≥ :lo, only those < :hi."""
    cls = (f"CASE WHEN status <> :active THEN {_NOT_ACTIVE_CLASS} WHEN {_in_term(dialect)} "
           f"THEN {_CANDIDATE_CLASS} ELSE {_OUT_OF_TERM_CLASS} END")
    code, mask = f"id * 4 + {cls}", "field_mask & :m"
    outputs = [f"({code}) * :base + ({mask})"] if packed else [code, mask]
    sql = (f"SELECT {', '.join(_agg_ints(dialect, out) for out in outputs)} FROM {_experts(dialect)} "
           f"WHERE {_in_scope(dialect)}")
    return sql + " AND id >= :lo" * lo + " AND id < :hi" * hi


def _split_scan(row: ScanRow, base: int | None) -> tuple[Sequence[int], Sequence[int], Sequence[int], Sequence[int]]:
    """The scan's values as (candidate ids, their masks, ids not active, ids out of term)."""
    if base is not None:
        packed = drawlib.parse_ints(row[0] or b"")
        if np is not None and isinstance(packed, np.ndarray):
            codes, masks = np.divmod(packed, base)
        else:
            codes, masks = [v // base for v in packed], [v % base for v in packed]
    else:
        codes, masks = drawlib.parse_ints(row[0] or b""), drawlib.parse_ints(row[1] or b"")
    if len(codes) != len(masks):  # pragma: no cover - one row set feeds both aggregates
        raise AssertionError(f"scan: {len(codes)} ids, {len(masks)} masks")
    if np is not None and isinstance(codes, np.ndarray):
        ids, cls = codes >> 2, codes & 3
        cand = cls == _CANDIDATE_CLASS
        return ids[cand], masks[cand], ids[cls == _NOT_ACTIVE_CLASS], ids[cls == _OUT_OF_TERM_CLASS]
    out: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
    for c, m in zip(codes, masks):
        i, k = c >> 2, c & 3
        if k == _CANDIDATE_CLASS:
            out[0].append(i)
            out[1].append(m)
        else:
            out[2 if k == _NOT_ACTIVE_CLASS else 3].append(i)
    return out


def _lookups_text(q: PoolQuery, dialect: str) -> str:
    """(expert id, kind, a, b) of every look-up row: who would be struck out, why, and what
    (organisation name and credit code, day, panel) named him. Small and index-driven; the
    caller keeps the rows of candidates."""
    return " UNION ALL ".join(f"SELECT eid, {kind} AS k, a, b FROM ({sql}) AS s{i}"
                              for i, (kind, sql) in enumerate(_lookups(q, dialect)))


def bare_eligible_ids_sql(q: PoolQuery, dialect: str, *, one_text: bool = False) -> TextClause:
    """The single bare SELECT of the eligible expert ids, one row each: the same filtering as
    `compute_pool` (the look-ups as one `NOT IN`), without the reasons, the ranking or any
    write. With `one_text`, the ids come back joined by ',' in one row, as the pool's scan
    returns them."""
    struck = " UNION ALL ".join(f"SELECT eid FROM ({sql}) AS s{i}" for i, (_, sql) in enumerate(_lookups(q, dialect)))
    col = _agg(dialect, "id::text" if dialect == "postgresql" else "id") if one_text else "id"
    sql = (f"SELECT {col} FROM {_experts(dialect)} WHERE {_in_scope(dialect)} AND {_candidate(dialect)} "
           f"AND id NOT IN ({struck})")
    return _bind(q, sql, dialect)


async def bare_eligible_ids(uow: UnitOfWork, q: PoolQuery) -> list[int]:
    return sorted((await uow.session.scalars(bare_eligible_ids_sql(q, uow.dialect))).all())


# --- the pool ----------------------------------------------------------------------------------

# Pools over a wider id range than PIECE_IDS are scanned in two id-range halves at once when the
# caller ranks the pool (`feed`): the first on a connection of its own (`_scan_beside`), so that
# the database works on both halves on two cores, and this process parses and hashes the first
# while the second is scanned.
# At 100,000 experts the scan is the largest part of a draw (~11 ms of database time on
# PostgreSQL). Two, not more: the machines this runs on have two cores.
PIECE_IDS = 25_000
# The share of the id range scanned on the transaction's own connection (the last piece), which
# runs the look-ups first (~2 ms against ~11 for the whole scan at 100,000 experts, PostgreSQL)
# while the other piece is parsed and hashed as soon as it arrives (about as long as scanning
# it, on two cores that share much): about half lets both be done together. 0.42, 0.5 and 0.55
# measured no different within this machine's noise.
OWN_SHARE = 0.5
FORCE_PIECES = False  # tests: pieces whatever the id range


Feed = Callable[[Sequence[int]], None]
ScanRow = tuple[str | bytes | None, ...]  # one value (packed) or two, see _agg_ints


async def compute_pool(uow: UnitOfWork, q: PoolQuery, *, feed: Feed | None = None) -> Pool:
    """The eligible pool and every in-scope exclusion with its reason (read-only).

    The candidates minus those a look-up names are the pool; each of those carries the first
    reason that applies (kinds are numbered in `_ORDER`, so the smallest wins).

    `feed(ids)`, if given, receives the pool's ids piece by piece, in the order of `Pool.ids`;
    a large pool is then scanned in two pieces at once (see PIECE_IDS)."""
    scan = await start_pool(uow, q, feed=feed)
    try:
        return await scan.finish()
    finally:
        await scan.close()


async def start_pool(uow: UnitOfWork, q: PoolQuery, *, feed: Feed | None = None) -> PoolScan:
    """`compute_pool` in two steps: this one sends the look-ups on the transaction's connection
    and starts the pieces that scan on connections of their own, so that the caller can work
    meanwhile (not with the session: a draw builds its panel); `PoolScan.finish` runs the rest.
    Call `PoolScan.close` in any case."""
    bounds = await _pieces(uow) if feed is not None else [(None, None)]
    dialect = uow.session.bind.dialect
    base = _packing(q)
    scans = [_prepared(q, _scan_text(dialect.name, lo is not None, hi is not None, base is not None), dialect,
                       {"lo": lo, "hi": hi, "base": base}) for lo, hi in bounds]
    # The pieces but the last start now, each on a connection of its own, while this one runs
    # the look-ups and then the last piece (OWN_SHARE of the ids).
    beside = [_scan_beside(uow, stmt) for stmt in scans[:-1]] if _can_scan_beside(uow) else []
    scan = PoolScan(uow, q, feed, scans, beside)
    try:
        await scan._look()
    except BaseException:
        await scan.close()
        raise
    return scan


class PoolScan:
    """A pool whose scan has started (`start_pool`): the pieces beside on connections of their
    own, the look-ups on the transaction's (the caller leaves the session alone until `finish`)."""

    def __init__(self, uow: UnitOfWork, q: PoolQuery, feed: Feed | None, scans: list[DriverSQL],
                 beside: list[asyncio.Future[ScanRow]]) -> None:
        self._uow, self._q, self._feed, self._scans, self._beside = uow, q, feed, scans, beside
        # SQLite's statements run on the loop's thread (core.db.sqlite_inline): see finish.
        self._holds_loop = uow.dialect == "sqlite"
        self._looking: asyncio.Future[Any] | None = None
        self._taking: asyncio.Future[None] | None = None
        self._owning: asyncio.Future[list[ScanRow]] | None = None

    async def _look(self) -> None:
        """Send the look-ups, and let the pieces beside send their scans."""
        s, q = self._uow.session, self._q
        await s.flush()  # the look-ups read invitations this transaction may have changed
        conn = await s.connection()
        self._looking = asyncio.ensure_future(conn.exec_driver_sql(*_prepared(
            q, _lookups_text(q, conn.dialect.name), conn.dialect)))
        await asyncio.sleep(0)  # every task sends its statement before the caller goes on

    async def close(self) -> None:
        """Let the statements and pieces still in flight end (after a failure: before the
        session or the engine goes on without them)."""
        await asyncio.gather(*self._beside, *filter(None, [self._looking, self._owning, self._taking]),
                             return_exceptions=True)

    async def finish(self) -> Pool:
        assert self._looking is not None, "start_pool sends the look-ups"
        looked = await self._looking
        conn = await self._uow.session.connection()
        stmts = self._scans[len(self._beside):]
        if not self._holds_loop:
            # PostgreSQL: this connection's piece goes out before the look-up rows (buffered by
            # the driver) are read, which takes ~1 ms at 800 rows.
            self._owning = asyncio.ensure_future(_scan_own(conn, stmts))
            await asyncio.sleep(0)
        pieces = _Pieces(self._q, looked.all(), self._feed)
        # The pieces scanned beside are taken (parsed, hashed, their exclusions worked out) as
        # they arrive, in order, while this connection scans the rest: on PostgreSQL that
        # overlaps ~4 ms of this process's work with the database's. SQLite's scan below holds
        # the loop's thread (core.db.sqlite_inline), so there a worker thread takes them: the
        # scan lets go of the GIL while SQLite steps.
        if self._holds_loop and self._beside:
            self._taking = asyncio.wrap_future(_side_pool().submit(pieces.take_waiting, self._beside))
        else:
            self._taking = asyncio.ensure_future(pieces.take_all(self._beside))
        own = await (self._owning or _scan_own(conn, stmts))
        await self._taking
        for scanned in own:
            pieces.take(scanned)
        exclusions = [e for excluded in pieces.exclusions for e in excluded]
        exclusions.sort()  # sorted runs, one per piece: a merge
        return Pool(_concat(pieces.ids), _concat(pieces.masks), exclusions)


async def _scan_own(conn: Any, stmts: Sequence[DriverSQL]) -> list[ScanRow]:
    """The pieces scanned on the transaction's connection, one after the other."""
    return [tuple((await conn.exec_driver_sql(*stmt)).one()) for stmt in stmts]


class _Pieces:
    """The scanned pieces of a pool, taken in id order: each split into its candidates, less
    those the look-ups name (the pool), and its in-scope exclusions with their reasons."""

    def __init__(self, q: PoolQuery, rows: Sequence[Any], feed: Feed | None) -> None:
        self._q, self._rows, self._base, self._feed = q, rows, _packing(q), feed
        self._named = _ids_of(rows)  # who each look-up row names
        self.ids: list[Sequence[int]] = []
        self.masks: list[Sequence[int]] = []
        self.exclusions: list[list[tuple[str, str, str]]] = []  # each piece's, sorted

    def take(self, scanned: ScanRow) -> None:
        cands, masks, inactive, out_of_term = _split_scan(scanned, self._base)
        ids, kept = _drop(cands, masks, self._named)
        self.ids.append(ids)
        self.masks.append(kept)
        if self._feed is not None:
            self._feed(ids)  # first: a draw's Ranker hashes them on a thread of its own meanwhile
        excluded = (_plain(inactive, ExclusionReason.NOT_ACTIVE) + _plain(out_of_term, ExclusionReason.TERM)
                    + _reasons(self._q, _naming(self._rows, self._named, cands)))
        excluded.sort()
        self.exclusions.append(excluded)

    async def take_all(self, scans: Sequence[asyncio.Future[ScanRow]]) -> None:
        for scan in scans:
            self.take(await scan)

    def take_waiting(self, scans: Sequence[asyncio.Future[ScanRow]]) -> None:
        """`take_all` on a worker thread, for scans that run on worker threads (`_scan_beside`
        on SQLite): it waits for each one's own future."""
        for scan in scans:
            self.take(_thread_futures[scan].result())


async def _pieces(uow: UnitOfWork) -> list[tuple[int | None, int | None]]:
    """Id ranges [lo, hi) covering every expert (None: unbounded): one unless the ids
    span more than PIECE_IDS and a second connection can scan beside this one (not an in-memory
    SQLite database); the tests' FORCE_PIECES makes two of any range, scanned one after the
    other where no second connection can be had. The split point comes from the id bounds as
    of at most BOUNDS_TTL ago: it only balances the pieces, which cover every id whatever it is."""
    if not FORCE_PIECES and not _can_scan_beside(uow):
        return [(None, None)]
    bounds = await _id_bounds(uow)
    if bounds is None or np is None or (bounds[1] - bounds[0] < PIECE_IDS and not FORCE_PIECES):
        return [(None, None)]
    lo, hi = bounds
    mid = hi + 1 - max(1, int((hi + 1 - lo) * OWN_SHARE))  # the last piece is scanned on this connection
    return [(None, mid), (mid, None)]


BOUNDS_TTL = 600.0  # seconds
_bounds: weakref.WeakKeyDictionary[Any, tuple[float, tuple[int, int]]] = weakref.WeakKeyDictionary()


async def _id_bounds(uow: UnitOfWork) -> tuple[int, int] | None:
    """The smallest and largest expert id (None: no expert), read at most once in BOUNDS_TTL
    seconds per engine: a round trip a draw need not wait for, since experts come in batches
    (enrolment, imports) and a stale split only makes one piece a little longer."""
    engine = uow.session.bind.sync_engine
    now = time.monotonic()
    cached = _bounds.get(engine)
    if cached is not None and now - cached[0] < BOUNDS_TTL:
        return cached[1]
    # Two scalar sub-queries: each is one index probe (a single SELECT of min and max makes
    # SQLite scan the table).
    lo, hi = (await uow.session.execute(text(
        "SELECT (SELECT min(id) FROM experts), (SELECT max(id) FROM experts)"))).one()
    if lo is None:  # no expert yet: ask again next time
        return None
    _bounds[engine] = (now, (int(lo), int(hi)))
    return int(lo), int(hi)


def _can_scan_beside(uow: UnitOfWork) -> bool:
    return uow.dialect == "postgresql" or _sqlite_file(uow) is not None


def _sqlite_file(uow: UnitOfWork) -> str | None:
    """The SQLite database file as a read-only URI for a second connection (None: in memory)."""
    database = uow.session.bind.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).absolute().as_uri() + "?mode=ro"


def _scan_beside(uow: UnitOfWork, stmt: DriverSQL) -> asyncio.Future[ScanRow]:
    """Run one piece of the scan on a connection of its own, started before this returns.

    It sees what this transaction sees of `experts`, which the draw has not written to: on
    PostgreSQL (READ COMMITTED) every statement reads what is committed when it starts, the
    transaction's own included; on SQLite the transaction holds the write lock from its BEGIN
    IMMEDIATE, so nothing can be committed in between and a new WAL reader sees the same
    snapshot. SQLite's piece runs on a worker thread (sqlite3 releases the GIL while it steps)
    with its own read-only connection; the in-memory database of the tests has none."""
    engine = uow.session.bind
    if uow.dialect == "postgresql":
        async def run() -> ScanRow:
            async with engine.connect() as conn:  # one statement: no BEGIN and ROLLBACK round trips
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                return tuple((await conn.exec_driver_sql(*stmt)).one())  # type: ignore[return-value]
        return asyncio.ensure_future(run())
    uri = _sqlite_file(uow)
    if uri is None:  # pragma: no cover - compute_pool asks _can_scan_beside first
        raise ValueError("an in-memory SQLite database has no second connection")
    reader = _side_reader(engine, uri)
    done = _side_pool().submit(reader.scan, *stmt)
    scan = asyncio.wrap_future(done)
    _thread_futures[scan] = done
    return scan


_side: ThreadPoolExecutor | None = None
# The worker thread's future of each SQLite scan beside, for `_Pieces.take_waiting` (the asyncio
# future `_scan_beside` returns is completed by the loop, whose thread SQLite's own scan holds).
_thread_futures: weakref.WeakKeyDictionary[asyncio.Future[Any], Future[Any]] = weakref.WeakKeyDictionary()


def _side_pool() -> ThreadPoolExecutor:
    """The worker threads of SQLite's scans beside and of their taking: a taking job waits only
    for scans submitted before it, so no number of draws at once can starve it."""
    global _side
    if _side is None:
        _side = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pool-side")
    return _side


def driver_sql(dialect: Any, stmt: TextClause) -> DriverSQL:
    """`stmt` as the driver's own SQL text and positional parameters, converted as the dialect
    converts them (dates to text on SQLite): for a connection SQLAlchemy does not drive."""
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    procs = compiled._bind_processors
    return compiled.string, tuple(procs[k](params[k]) if k in procs else params[k] for k in compiled.positiontup or ())


class _SideReader:
    """A read-only sqlite3 connection to an engine's database file, kept for the scans beside
    the draw's own: a new connection per draw parses the schema and starts with a cold page
    cache (~2.6 ms more per piece at 100,000 experts). Its cache holds the scan's index. Used
    by one worker thread at a time; a second concurrent scan gets a connection of its own."""

    CACHE_KIB = 16_384

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.uri, uri=True, check_same_thread=False, isolation_level=None)
        conn.execute(f"PRAGMA cache_size=-{self.CACHE_KIB}")
        return conn

    def scan(self, sql: str, args: Sequence[Any]) -> ScanRow:
        if not self._lock.acquire(blocking=False):
            conn = self._connect()
            try:
                return tuple(conn.execute(sql, args).fetchone())  # type: ignore[return-value]
            finally:
                conn.close()
        try:
            if self._conn is None:
                self._conn = self._connect()
            return tuple(self._conn.execute(sql, args).fetchone())  # type: ignore[return-value]
        except sqlite3.Error:
            self.close_locked()
            raise
        finally:
            self._lock.release()

    def close_locked(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self, *_: Any) -> None:
        with self._lock:
            self.close_locked()


_side_readers: weakref.WeakKeyDictionary[Any, _SideReader] = weakref.WeakKeyDictionary()


def _side_reader(engine: Any, uri: str) -> _SideReader:
    """The engine's side reader (closed with the engine: `dispose`, or when it is collected)."""
    reader = _side_readers.get(engine.sync_engine)
    if reader is None or reader.uri != uri:
        reader = _side_readers[engine.sync_engine] = _SideReader(uri)
        event.listen(engine.sync_engine, "engine_disposed", reader.close)
    return reader


def _ids_of(rows: Sequence[Any]) -> Sequence[int]:
    """The expert ids the rows name (their first column)."""
    if np is not None:
        return np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
    return [int(r[0]) for r in rows]


def _concat(parts: list[Sequence[int]]) -> Sequence[int]:
    if len(parts) == 1:
        return parts[0]
    if np is not None:
        return np.concatenate(parts)
    return [x for p in parts for x in p]


def _plain(ids: Sequence[int], reason: ExclusionReason) -> list[tuple[str, str, str]]:
    """Exclusions without a detail, of the experts `ids`, by id (for ids below 1,000,000 that is
    their codes' order: the piece's sort is then a merge of sorted runs)."""
    if not len(ids):
        return []
    codes = drawlib.join_decimal(np.sort(ids) if np is not None else sorted(ids), b"E", 6).decode("ascii").split(",")
    return list(zip(codes, repeat(reason.value), repeat("")))


def _naming(rows: Sequence[Any], named: Sequence[int], ids: Sequence[int]) -> list[Any]:
    """The look-up rows (naming the experts `named`, row by row) that name one of the
    candidates `ids` (the others name experts out of scope, excluded for their status or term,
    or in another piece)."""
    if not rows or not len(ids):
        return []
    if np is not None and isinstance(ids, np.ndarray):
        return [r for r, h in zip(rows, np.isin(named, ids).tolist()) if h]
    cands = set(ids)
    return [r for r, eid in zip(rows, named) if eid in cands]


def _reasons(q: PoolQuery, rows: Sequence[Any]) -> list[tuple[str, str, str]]:
    """(code, reason, detail) of every expert the rows name, by his first reason: the smallest
    kind (`_ORDER`), then the smallest detail. In id order, as `_plain`."""
    best: dict[int, tuple[int, Any, str]] = {}  # expert id → (kind, order key, detail)
    for eid, kind, a, b in rows:
        entry = _reason(q, int(kind), a, b)
        old = best.get(eid)
        if old is None or entry[:2] < old[:2]:
            best[eid] = entry
    return [(expert_code(eid), _ORDER[k].value, d) for eid, (k, _, d) in sorted(best.items())]


def _drop(ids: Sequence[int], masks: Sequence[int], struck: Sequence[int]) -> tuple[Sequence[int], Sequence[int]]:
    """The ids (and their masks) not in `struck`."""
    if not len(struck):
        return ids, masks
    if np is not None and isinstance(ids, np.ndarray):
        keep = ~np.isin(ids, np.asarray(struck, dtype=np.int64))
        return ids[keep], np.asarray(masks)[keep]
    out = set(struck)
    pairs = [(i, m) for i, m in zip(ids, masks) if i not in out]
    return [i for i, _ in pairs], [m for _, m in pairs]


def _reason(q: PoolQuery, kind: int, a: Any, b: Any) -> tuple[int, Any, str]:
    """(kind, order key, detail) of one look-up row."""
    if kind in _ORG_KINDS:
        i = q.which(a, b)
        if i is None:  # pragma: no cover - the SQL applies the same rule
            return kind, len(q.keys), ""
        return kind, i, q.keys[i][0]
    if kind == _KIND[ExclusionReason.UNAVAILABLE]:
        day = str(a)[:10]
        return kind, day, f"day:{day}"
    if kind == _KIND[ExclusionReason.BOOKED]:
        return kind, int(a), f"panel:{int(a)}"
    return kind, 0, ""
