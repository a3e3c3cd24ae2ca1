"""The second SQLite connection a large draw scans with (core.services.pool._SideReader).

SQLite-only code, so these tests make their own database file rather than use the engine
fixture (which is PostgreSQL in CI's second phase)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from core.services import pool as poolmod

SQL = "SELECT group_concat(a, ','), 'x' FROM t WHERE a >= ?"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "side.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (a INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
    return path


async def test_one_connection_per_engine_reused_and_closed_with_it(db: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{db}")
    uri = db.absolute().as_uri() + "?mode=ro"
    reader = poolmod._side_reader(engine, uri)
    assert poolmod._side_reader(engine, uri) is reader
    assert reader.scan(SQL, [2]) == ("2,3", "x")
    conn = reader._conn
    assert conn is not None
    assert reader.scan(SQL, [1]) == ("1,2,3", "x") and reader._conn is conn
    # While another scan holds it, a scan gets a connection of its own and leaves it alone.
    with reader._lock:
        assert reader.scan(SQL, [3]) == ("3", "x")
    assert reader._conn is conn
    await engine.dispose()
    assert reader._conn is None
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")


def test_it_reads_only_and_sees_what_is_committed(db: Path) -> None:
    reader = poolmod._SideReader(db.absolute().as_uri() + "?mode=ro")
    with pytest.raises(sqlite3.OperationalError):  # read-only
        reader.scan("INSERT INTO t VALUES (9) RETURNING a, a", [])
    assert reader._conn is None  # a failed connection is dropped, not reused
    assert reader.scan(SQL, [0]) == ("1,2,3", "x")
    with sqlite3.connect(db) as writer:
        writer.execute("INSERT INTO t VALUES (4)")
    assert reader.scan(SQL, [0]) == ("1,2,3,4", "x")
    reader.close()


def test_in_memory_and_uri_databases_have_no_side_connection() -> None:
    class _Uow:
        def __init__(self, url: str) -> None:
            self.session = type("S", (), {"bind": create_async_engine(url)})()
            self.dialect = "sqlite"

    assert poolmod._sqlite_file(_Uow("sqlite+aiosqlite://")) is None  # type: ignore[arg-type]
    assert poolmod._sqlite_file(_Uow("sqlite+aiosqlite:///:memory:")) is None  # type: ignore[arg-type]
    assert poolmod._sqlite_file(_Uow("sqlite+aiosqlite:///a b#c.db")).endswith("/a%20b%23c.db?mode=ro")  # type: ignore[arg-type, union-attr]
