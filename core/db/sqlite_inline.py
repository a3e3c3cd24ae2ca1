"""SQLite on the event loop's own thread, for SQLAlchemy's aiosqlite dialect.

aiosqlite runs every call of a connection on a worker thread and wakes the loop with the
result. A statement is four such calls (cursor, execute, fetch, close); measured here, a small
ORM SELECT costs ~720 µs through aiosqlite and ~125 µs when sqlite3 runs it directly — and
the bot's hot paths are nothing but small statements against a local file. `InlineConnection`
has the shape of `aiosqlite.Connection` that the dialect drives (`async_creator`), and calls
sqlite3 directly.

What the worker thread gave, and how it is kept:
* Waiting for the write lock of another process must not stall the loop: the connection's own
  busy timeout is 0, and a SQLITE_BUSY is retried after `asyncio.sleep`, with growing pauses,
  until the configured busy timeout has passed (SQLite allows retrying the statement).
* Long statements (a draw's scan of the whole pool: tens of milliseconds at 100,000 experts)
  now hold the loop while they run, as any CPU-bound Python step does.
"""
from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url

T = TypeVar("T")

# Plain SQLITE_BUSY and SQLITE_BUSY_RECOVERY clear when the other connection is done;
# SQLITE_BUSY_SNAPSHOT never does (the transaction must start over), so it is not retried.
_RETRYABLE = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY | (1 << 8)}
_FIRST_PAUSE, _LONGEST_PAUSE = 0.001, 0.05


class _Immediate:
    """The dialect hands `(future, function)` to aiosqlite's queue to set the isolation level;
    here the function runs at once."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # handed to the awaiting dialect, as aiosqlite does
            future.set_exception(exc)


class InlineCursor:
    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        await self._connection.run(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> InlineCursor:
        await self._connection.run(self._cursor.executemany, sql, list(seq_of_parameters))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """The subset of `aiosqlite.Connection` that SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, conn: sqlite3.Connection, busy_timeout: float) -> None:
        self._conn = conn
        self._tx = _Immediate()
        self._busy_timeout = busy_timeout

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Call `function`; while another connection holds the lock, wait without blocking."""
        pause, waited = _FIRST_PAUSE, 0.0
        while True:
            try:
                return function(*args)
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", None) not in _RETRYABLE or waited >= self._busy_timeout:
                    raise
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, _LONGEST_PAUSE)

    async def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        cursor = await self.cursor()
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        await self.run(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        """The dialect's forced close (pool invalidation)."""
        self._conn.close()


def inline_creator(url: str, busy_timeout: float) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine(url, ...)`: the URL's database and options as
    the aiosqlite dialect reads them, the busy timeout handled by `InlineConnection.run`."""
    args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    kwargs = {**kwargs, "timeout": 0, "check_same_thread": False}

    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(*args, **kwargs), busy_timeout)

    return connect
