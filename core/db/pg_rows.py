"""Rows for several tables in one PostgreSQL statement: each table's rows as one array per
column, `unnest`ed into an INSERT (data-modifying WITH clauses chain the tables).

One prepared statement whatever the number of rows: a multi-row VALUES is a new statement for
every row count, which SQLAlchemy compiles afresh (~8 ms for a draw's invitations and audit
entries on a slow machine, more than the round trips it saves)."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql

_DIALECT = postgresql.dialect()


def _with_defaults(table: Table, columns: Sequence[str]) -> list[str]:
    """`columns` and those other columns with a constant default in the model (which the ORM and
    Core INSERTs fill in, and a plain one would leave NULL)."""
    out = list(columns)
    for c in table.columns:
        if c.name not in out and c.default is not None:
            if not c.default.is_scalar:
                raise ValueError(f"{table.name}.{c.name}: only constant defaults can be filled in")
            out.append(c.name)
    return out


def unnest_insert(table: Table, columns: Sequence[str], tag: str, fixed: Mapping[str, str] | None = None) -> str:
    """`INSERT INTO table (columns) SELECT … FROM unnest(…)`, one array parameter per column,
    named `tag_column` (`unnest_params`); columns with a constant default are filled in too.
    `fixed`: columns set to one SQL expression for every row (another WITH clause's id)."""
    fixed = dict(fixed or {})
    columns = _with_defaults(table, [c for c in columns if c not in fixed])
    arrays = ", ".join(f"CAST(:{tag}_{c} AS {table.c[c].type.compile(dialect=_DIALECT)}[])" for c in columns)
    return (f"INSERT INTO {table.name} ({', '.join([*fixed, *columns])}) "
            f"SELECT {''.join(f'{e}, ' for e in fixed.values())}x.* FROM unnest({arrays}) AS x")


def unnest_params(table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], tag: str,
                  fixed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The arrays of `unnest_insert`: JSON columns' values as their JSON text (what the JSON
    type would send), the others as they are; a column's default where a row lacks it. A row
    with a column the statement does not write is refused (it would be lost)."""
    written = _with_defaults(table, [c for c in columns if c not in (fixed or {})])
    named = {*written, *(fixed or {})}
    for r in rows:
        if not named.issuperset(r):
            raise ValueError(f"{table.name}: {sorted(set(r) - named)} not among the columns written")
    out: dict[str, Any] = {}
    for c in written:
        default = table.c[c].default
        values = [r[c] if default is None or c in r else default.arg for r in rows]
        if isinstance(table.c[c].type, JSON):
            values = [None if v is None else json.dumps(v) for v in values]
        out[f"{tag}_{c}"] = values
    return out
