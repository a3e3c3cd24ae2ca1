"""The pool's statements compiled once per shape (`_prepared`) bind exactly what a fresh
compile binds (`driver_sql`), for either driver, whatever the parties and the panel."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect

from core.conflicts import party_key
from core.services import pool
from core.services.pool import _bind, _lookups_text, _prepared, _scan_text, driver_sql, meeting_pool_query

DIALECTS = (aiosqlite_dialect(), asyncpg_dialect())
TZ = timezone(timedelta(hours=8))

party = st.tuples(st.sampled_from(["甲公司", "乙有限公司", "丙（集团）有限责任公司", "丁", "E co."]),
                  st.none() | st.sampled_from(["91650100MA77XXXX1Q", "91650100MA77YYYY2W"]))


@settings(max_examples=60, deadline=None)
@given(parties=st.lists(party, max_size=6), unit=st.none() | party, panel_id=st.none() | st.integers(1, 10**6),
       exclude_invited=st.booleans(), fields=st.sets(st.integers(1, 11), min_size=1, max_size=4),
       hours=st.integers(1, 60), lo=st.booleans(), hi=st.booleans(), packed=st.booleans())
def test_prepared_statements_bind_what_a_fresh_compile_binds(
    parties: list[tuple[str, str | None]], unit: tuple[str, str | None] | None, panel_id: int | None,
    exclude_invited: bool, fields: set[int], hours: int, lo: bool, hi: bool, packed: bool,
) -> None:
    start = datetime(2026, 11, 20, 1, 0, tzinfo=timezone.utc)
    q = meeting_pool_query(start, start + timedelta(hours=hours), parties, fields,
                           party_key(*unit) if unit else None, TZ, 6, panel_id=panel_id,
                           exclude_invited=exclude_invited)
    extra = {"lo": 1, "hi": 50_001, "base": q.field_mask + 1}
    for dialect in DIALECTS:
        for sql in (_lookups_text(q, dialect.name), _scan_text(dialect.name, lo, hi, packed)):
            fresh = driver_sql(dialect, _bind(q, sql, dialect.name, extra))
            assert _prepared(q, sql, dialect, extra) == fresh
            assert _prepared(q, sql, dialect, extra) == fresh  # from the cache


def test_a_shape_sqlalchemy_names_otherwise_is_compiled_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should SQLAlchemy stop naming expanded items `name_1`, `name_2`, … the cache is not used."""
    start = datetime(2026, 11, 20, 1, tzinfo=timezone.utc)
    q = meeting_pool_query(start, start + timedelta(hours=4), [("甲公司", None)], {1}, None, TZ, 6)
    dialect = aiosqlite_dialect()
    sql = _lookups_text(q, dialect.name)
    monkeypatch.setattr(pool, "_plan", lambda *a: None)
    monkeypatch.setattr(pool, "_plans", {})
    assert _prepared(q, sql, dialect) == driver_sql(dialect, _bind(q, sql, dialect.name))
    assert pool._plans == {}
