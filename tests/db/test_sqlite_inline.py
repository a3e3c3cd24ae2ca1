"""SQLite on the event loop's thread (core.db.sqlite_inline): a writer that finds the database
locked by another connection waits without stalling the loop, and gives up after the busy
timeout with SQLite's own error."""
from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from core.db.session import create_engine
from tests.conftest import engine_name

pytestmark = pytest.mark.skipif(engine_name() != "sqlite", reason="the SQLite driver")


def _path(db_url: str) -> str:
    return db_url.split("///", 1)[1]


async def _ticks_while(awaitable: object, every: float = 0.005) -> tuple[object, int]:
    """Run `awaitable`, counting how often a ticker got the loop meanwhile."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(every)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        result = await awaitable  # type: ignore[misc]
    finally:
        done.set()
        await task
    return result, ticks


async def test_a_locked_database_is_waited_for_without_blocking_the_loop(db_url: str) -> None:
    other = sqlite3.connect(_path(db_url), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    engine = create_engine(db_url, busy_timeout_ms=5_000)
    try:
        async def write() -> int:
            async with engine.begin() as conn:  # BEGIN IMMEDIATE: waits for the lock
                return (await conn.execute(text("SELECT count(*) FROM accounts"))).scalar_one()

        asyncio.get_running_loop().call_later(0.3, other.rollback)
        began = time.monotonic()
        count, ticks = await _ticks_while(write())
        waited = time.monotonic() - began
    finally:
        await engine.dispose()
        other.close()
    assert count == 0
    assert 0.25 <= waited < 2.0
    assert ticks >= 10  # the loop ran other work while the writer waited (a blocking wait gives 0)


async def test_the_busy_timeout_ends_the_wait_with_sqlites_error(db_url: str) -> None:
    other = sqlite3.connect(_path(db_url), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    engine = create_engine(db_url, busy_timeout_ms=200)
    try:
        began = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT 1"))
        waited = time.monotonic() - began
    finally:
        await engine.dispose()
        other.rollback()
        other.close()
    assert 0.15 <= waited < 1.5


async def test_statements_errors_and_rollback_behave_as_through_aiosqlite(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "a"}, {"v": "b"}])
        with pytest.raises(Exception, match="NOT NULL"):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('c')"))
                await conn.execute(text("INSERT INTO t (v) VALUES (NULL)"))
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
            streamed = [r async for r in await conn.stream_scalars(text("SELECT v FROM t ORDER BY id"))]
    finally:
        await engine.dispose()
    assert rows == streamed == ["a", "b"]  # the failed transaction left nothing behind
