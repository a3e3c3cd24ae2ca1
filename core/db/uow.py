"""Unit of work: one transaction per use case; rolls back unless commit() is called."""
from __future__ import annotations

from datetime import date
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.config import Settings


class UnitOfWork:
    """`async with uow: ...; await uow.commit()` — the session lives for the block only."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._factory = session_factory
        self.clock: Clock = clock or SystemClock()
        self.settings: Settings = settings or Settings()
        self._session: AsyncSession | None = None

    def today(self) -> date:
        """Today's date in the bureau's time zone (terms and meeting days are local dates)."""
        return self.clock.now().astimezone(self.settings.tz).date()

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside 'async with'")
        return self._session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def __aenter__(self) -> Self:
        self._session = self._factory()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        try:
            await self._session.rollback()
        finally:
            await self._session.close()
            self._session = None

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
