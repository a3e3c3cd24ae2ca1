"""The audit chain: appends in the caller's transaction; verify catches edits, deletions,
insertions, reordering and a truncated tail; PostgreSQL refuses UPDATE/DELETE outright."""
from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from core.audit import EntryFields, canonical_json, entry_hash
from core.bootstrap import Core
from core.services import audit
from tests.conftest import engine_name


async def _append_n(core: Core, n: int) -> int:
    """Append n entries; returns the sequence number just before them (setup writes a few)."""
    base, _ = await audit.head(core.uow())
    for i in range(n):
        uow = core.uow()
        async with uow:
            await audit.append(uow, "cli", "test.event", "thing", i, value=i, note="<b>&'\"")
            await uow.commit()
    return base


async def _exec(core: Core, sql: str, **params: object) -> None:
    """Out-of-band tampering, as an attacker with database access would do it."""
    async with core.engine.begin() as conn:
        if engine_name() == "postgresql":
            await conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only"))
        await conn.execute(text(sql), params)
        if engine_name() == "postgresql":
            await conn.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only"))


async def test_intact_chain_verifies(core: Core) -> None:
    base = await _append_n(core, 5)
    res = await audit.verify(core.uow())
    assert res.ok and res.count == base + 5
    seq, head = await audit.head(core.uow())
    assert seq == base + 5 and head == res.head


async def test_rolled_back_append_leaves_no_entry(core: Core) -> None:
    before = (await audit.verify(core.uow())).count
    uow = core.uow()
    async with uow:
        await audit.append(uow, "cli", "test.event", "thing", 1)
        # no commit: the unit of work rolls back
    assert (await audit.verify(core.uow())).count == before


async def test_appends_in_one_transaction_look_the_head_up_once(core: Core) -> None:
    """The second append continues from the first's last entry without reading the chain again;
    after a rollback or a commit the next transaction reads it afresh."""
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(core.engine.sync_engine, "before_cursor_execute", seen)
    try:
        uow = core.uow()
        async with uow:
            await audit.append(uow, "cli", "test.event", "thing", 1)
            await uow.rollback()
            first = await audit.append(uow, "cli", "test.event", "thing", 2)
            second = await audit.append_many(uow, "cli", [("test.event", "thing", k, {}) for k in (3, 4)])
            await uow.commit()
            third = await audit.append(uow, "cli", "test.event", "thing", 5)
            await uow.commit()
    finally:
        event.remove(core.engine.sync_engine, "before_cursor_execute", seen)
    assert [e.seq for e in (first, *second, third)] == [first.seq + k for k in range(4)]
    assert second[0].prev_hash == first.hash and third.prev_hash == second[1].hash
    assert sum("FROM audit_entries ORDER BY" in s for s in statements) == 3  # not 4: the second append reads none
    res = await audit.verify(core.uow())
    assert res.ok and res.head == third.hash


async def test_altered_row_is_named(core: Core) -> None:
    b = await _append_n(core, 5)
    await _exec(core, "UPDATE audit_entries SET details = :d WHERE seq = :s", d=canonical_json({"value": 99}), s=b + 3)
    res = await audit.verify(core.uow())
    assert not res.ok and res.bad_seq == b + 3 and res.problem == "altered" and res.count == b + 2


async def test_deleted_row_is_named(core: Core) -> None:
    b = await _append_n(core, 5)
    await _exec(core, "DELETE FROM audit_entries WHERE seq = :s", s=b + 2)
    res = await audit.verify(core.uow())
    assert not res.ok and res.bad_seq == b + 2 and res.problem == "gap"


async def test_inserted_row_is_named(core: Core) -> None:
    """An attacker renumbers the tail and inserts a well-formed entry: the next link breaks."""
    b = await _append_n(core, 4)
    async with core.engine.connect() as conn:
        prev = (await conn.execute(text("SELECT hash FROM audit_entries WHERE seq = :s"), {"s": b + 2})).scalar_one()
    forged = EntryFields(b + 3, "2026-11-02T01:00:00.000000Z", "cli", "forged", "thing", "x", "{}", prev)
    for seq in (b + 4, b + 3):
        await _exec(core, "UPDATE audit_entries SET seq = :n WHERE seq = :o", n=seq + 1, o=seq)
    await _exec(
        core,
        "INSERT INTO audit_entries (seq, at, actor, action, subject_type, subject_id, details, prev_hash, hash) "
        "VALUES (:s, :at, 'cli', 'forged', 'thing', 'x', '{}', :prev, :h)",
        s=b + 3, at=forged.at, prev=prev, h=entry_hash(forged),
    )
    res = await audit.verify(core.uow())
    assert not res.ok and res.bad_seq == b + 4 and res.problem in ("link", "altered")


async def test_reordered_rows_are_caught(core: Core) -> None:
    b = await _append_n(core, 4)
    await _exec(core, "UPDATE audit_entries SET seq = 1000 WHERE seq = :s", s=b + 2)
    await _exec(core, "UPDATE audit_entries SET seq = :n WHERE seq = :o", n=b + 2, o=b + 3)
    await _exec(core, "UPDATE audit_entries SET seq = :n WHERE seq = 1000", n=b + 3)
    res = await audit.verify(core.uow())
    assert not res.ok and res.bad_seq == b + 2


async def test_truncated_tail_is_caught_against_published_head(core: Core) -> None:
    b = await _append_n(core, 5)
    _, published = await audit.head(core.uow())
    await _exec(core, "DELETE FROM audit_entries WHERE seq >= :s", s=b + 4)
    assert (await audit.verify(core.uow())).ok  # without a head, a clean truncation looks intact
    res = await audit.verify(core.uow(), expected_head=published)
    assert not res.ok and res.problem == "truncated"


@pytest.mark.skipif(engine_name() != "postgresql", reason="the append-only trigger is PostgreSQL's")
async def test_postgresql_refuses_update_and_delete(core: Core) -> None:
    await _append_n(core, 2)
    for sql in ("UPDATE audit_entries SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_entries WHERE seq = 1"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with core.engine.begin() as conn:
                await conn.execute(text(sql))
