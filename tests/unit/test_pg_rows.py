"""PostgreSQL's multi-table INSERTs (core.db.pg_rows) and the audit chain's head read on the way."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table

from core.audit import GENESIS
from core.db.models import Invitation, Outbox
from core.db.pg_rows import unnest_insert, unnest_params
from core.services import audit


def test_columns_with_a_constant_default_are_filled_in() -> None:
    cols = ("account_id", "kind", "params", "status", "created_at", "next_attempt_at", "thread")
    sql = unnest_insert(Outbox.__table__, cols, "o")
    assert sql.startswith("INSERT INTO outbox (account_id, kind, params, status, created_at, next_attempt_at, thread, ")
    assert "CAST(:o_params AS JSON[])" in sql and "CAST(:o_last_error AS TEXT[])" in sql
    now = datetime(2026, 11, 27, tzinfo=timezone.utc)
    rows = [dict(account_id=1, kind="k", params={"a": "甲"}, status="pending", created_at=now, next_attempt_at=now,
                 thread=None), dict(account_id=2, kind="k", params=None, status="pending", created_at=now,
                                    next_attempt_at=now, thread="t", attempts=3)]
    params = unnest_params(Outbox.__table__, cols, rows, "o")
    assert params["o_params"] == [json.dumps({"a": "甲"}), None]
    assert params["o_last_error"] == ["", ""] and params["o_attempts"] == [0, 3]
    assert params["o_account_id"] == [1, 2] and params["o_created_at"] == [now, now]
    assert set(params) == {f"o_{c}" for c in (*cols, "attempts", "last_error")}
    # The invitations' text defaults (decline_text and the like) come along the same way.
    assert "decline_text" in unnest_insert(Invitation.__table__, ("panel_id",), "i")


def test_a_row_with_a_column_the_statement_does_not_write_is_refused() -> None:
    with pytest.raises(ValueError, match="dedupe_key"):
        unnest_params(Outbox.__table__, ("account_id", "kind"), [{"account_id": 1, "kind": "k", "dedupe_key": "x"}], "o")
    with pytest.raises(ValueError, match="dedupe_key"):  # in any row, not only the first
        unnest_params(Outbox.__table__, ("account_id", "kind"),
                      [{"account_id": 1, "kind": "k"}, {"account_id": 2, "kind": "k", "dedupe_key": "x"}], "o")


def test_a_computed_default_is_refused() -> None:
    t = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("a", String, default=lambda: "x"),
              Column("j", JSON))
    with pytest.raises(ValueError):
        unnest_insert(t, ("j",), "t")


@pytest.mark.parametrize("head", [(None, None), (41, "ab" * 32)])
def test_the_head_read_on_the_way_continues_the_chain(head: tuple[int | None, str | None]) -> None:
    uow = SimpleNamespace(dialect="sqlite", chain_head=None, chain_locked=False,
                          clock=SimpleNamespace(now=lambda: datetime(2026, 11, 27, tzinfo=timezone.utc)))
    audit.note_head(uow, *head)  # type: ignore[arg-type]
    audit.note_head(uow, 99, "ff" * 32)  # type: ignore[arg-type]  # the first read stands
    rows = asyncio.run(audit.chained(uow, "system", [("a", "panel", 1, {}), ("b", "panel", 1, {})]))  # type: ignore[arg-type]
    seq, prev = (1, GENESIS) if head[0] is None else (head[0] + 1, head[1])
    assert [(r.seq, r.prev_hash) for r in rows] == [(seq, prev), (seq + 1, rows[0].hash)]
    assert uow.chain_head == (seq + 1, rows[1].hash)
