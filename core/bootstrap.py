"""The composition root: settings + engine + session factory + clock, built once per process."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.allocator import keep_freed_memory
from core.clock import Clock, SystemClock
from core.config import Settings
from core.db.session import create_engine, create_session_factory, is_sqlite
from core.db.uow import UnitOfWork
from core.errors import DomainError


@dataclass
class Core:
    """What every adapter (bot, CLI, scheduler) needs to call the services."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock = field(default_factory=SystemClock)
    readers: async_sessionmaker[AsyncSession] | None = None  # sessions for read-only units of work
    write_lock: asyncio.Lock | None = None  # SQLite: this process's writers queue here (see UnitOfWork)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.clock, self.settings, self.readers, self.write_lock)

    async def close(self) -> None:
        await self.engine.dispose()


def build_core(settings: Settings, clock: Clock | None = None, url: str | None = None) -> Core:
    keep_freed_memory()  # the process's allocator, tuned for draws (core.allocator)
    engine = create_engine(
        url or settings.database.url,
        echo=settings.database.echo,
        busy_timeout_ms=settings.database.busy_timeout_ms,
    )
    return Core(settings=settings, engine=engine, sessions=create_session_factory(engine), clock=clock or SystemClock(),
                readers=create_session_factory(engine, read_only=True),
                write_lock=asyncio.Lock() if is_sqlite(url or settings.database.url) else None)


async def check_database(core: Core) -> None:
    """Fail with one clear coded error when the database is unreachable or not migrated."""
    try:
        async with core.engine.connect() as conn:
            await conn.execute(text("SELECT 1 FROM alembic_version"))
    except SQLAlchemyError as exc:
        msg = str(exc.__cause__ or exc).splitlines()[0][:200]
        if "alembic_version" in msg:
            raise DomainError("db.not_migrated") from None
        raise DomainError("db.unreachable", reason=msg) from None
    except OSError as exc:
        raise DomainError("db.unreachable", reason=str(exc)[:200]) from None
