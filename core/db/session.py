"""Engine and session factories. Nothing is created at import time."""
from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from core.db.sqlite_inline import inline_creator


READ_ONLY = "expertpanel_read_only"  # execution option of the engine behind read-only units of work


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, echo: bool = False, busy_timeout_ms: int = 10_000) -> AsyncEngine:
    """Create an engine; SQLite gets WAL, foreign keys, a busy timeout, BEGIN IMMEDIATE, and runs
    on the event loop's thread (`core.db.sqlite_inline`: its busy waits are asynchronous).

    BEGIN IMMEDIATE takes the write lock when a transaction starts, so a read that later
    writes never fails with SQLITE_BUSY (which ignores the busy timeout on lock upgrade).
    """
    kwargs: dict[str, Any] = {"echo": echo}
    if is_sqlite(url):
        kwargs["async_creator"] = inline_creator(url, busy_timeout_ms / 1000)
        if ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"):
            from sqlalchemy.pool import StaticPool

            kwargs["poolclass"] = StaticPool
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        _configure_sqlite(engine)
    else:
        _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        # Instead of pool_pre_ping, whose ping is three round trips per checkout through asyncpg
        # (BEGIN, SELECT, ROLLBACK: ~0.9 ms here, a third of a button press): a server that
        # restarts or ends a session closes the socket, which asyncpg notices at once, and such a
        # connection is replaced here for free. One that breaks silently fails its next statement
        # once, and SQLAlchemy discards it (a disconnect error invalidates the pool).
        if dbapi_conn.driver_connection.is_closed():
            raise DisconnectionError("the server closed this connection")


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=0")  # waits are InlineConnection.run's, off the loop's back
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A read-only unit (READ_ONLY option) begins deferred: under WAL it reads a snapshot
        # without taking the write lock, so lookups never queue behind writers.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine, *, read_only: bool = False) -> async_sessionmaker[AsyncSession]:
    """Sessions for units of work; with `read_only`, for lookups that write nothing: on SQLite
    they begin deferred (a WAL snapshot, no write lock), on PostgreSQL they run in autocommit
    (no BEGIN and ROLLBACK round trips; each statement sees what is committed when it runs)."""
    options: dict[str, Any] = {READ_ONLY: True}
    if read_only and engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    bind = engine.execution_options(**options) if read_only else engine
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=True)
