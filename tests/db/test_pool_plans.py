"""The pool's current-unit look-up is answered from ix_experts_unit_match alone (migration 0006):
the index holds every column the look-up reads, field_mask included, so neither engine visits
the wide expert rows for the ~1,000 staff of a 50-party list.

The planners are steered off the alternatives a tiny test table would favour (PostgreSQL: no
sequential or bitmap scans), so what is checked is that an index-only plan exists, which it
does only while the index covers the query."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from core.bootstrap import Core
from core.enums import ExclusionReason
from core.services import pool as poolmod
from tests.factories import category_ids, make_expert


async def test_the_current_unit_look_up_reads_only_its_index(core: Core) -> None:
    cats = await category_ids(core)
    await make_expert(core, ["eia"])
    start = core.clock.now() + timedelta(days=30)
    q = poolmod.meeting_pool_query(start, start + timedelta(hours=2), [("某某环境工程有限公司", None)],
                                   [cats["eia"]], None, core.settings.tz, 3)
    dialect = core.engine.dialect.name
    kind = poolmod._KIND[ExclusionReason.CONFLICT_CURRENT_UNIT]
    sql = next(s for k, s in poolmod._lookups(q, dialect) if k == kind)
    assert "field_mask" in sql  # the look-up filters on scope: the index must hold the mask
    async with core.sessions() as s:
        if dialect == "postgresql":
            await s.execute(text("SET LOCAL enable_seqscan = off"))
            await s.execute(text("SET LOCAL enable_bitmapscan = off"))
            plan = "\n".join((await s.execute(poolmod._bind(q, "EXPLAIN " + sql, dialect))).scalars())
            assert "Index Only Scan using ix_experts_unit_match on experts" in plan, plan
        else:
            rows = (await s.execute(poolmod._bind(q, "EXPLAIN QUERY PLAN " + sql, dialect))).all()
            plan = "\n".join(str(r[-1]) for r in rows)
            assert "USING COVERING INDEX ix_experts_unit_match" in plan, plan
