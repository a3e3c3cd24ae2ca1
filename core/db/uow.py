"""Unit of work: one transaction per use case; rolls back unless commit() is called."""
from __future__ import annotations

import asyncio
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
        read_factory: async_sessionmaker[AsyncSession] | None = None,
        write_lock: asyncio.Lock | None = None,
    ) -> None:
        self._factory = session_factory
        self._read_factory = read_factory
        self._write_lock = write_lock
        self._holds_lock = False
        self.clock: Clock = clock or SystemClock()
        self.settings: Settings = settings or Settings()
        self._session: AsyncSession | None = None
        self.chain_locked = False  # this transaction holds the audit chain's lock (PostgreSQL)
        # (seq, hash) of the chain's last entry once this transaction has appended: no other
        # transaction can append before it ends (the chain's lock; SQLite's one writer).
        self.chain_head: tuple[int, str] | None = None

    def read_only(self) -> "UnitOfWork":
        """A unit for lookups that write nothing: on SQLite it does not take the write lock.
        (Without a read factory it is an ordinary unit.)"""
        if self._read_factory is None:
            return UnitOfWork(self._factory, self.clock, self.settings, write_lock=self._write_lock)
        return UnitOfWork(self._read_factory, self.clock, self.settings)

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
        if self._write_lock is not None:
            # SQLite has one writer at a time. Queuing this process's writers here hands the lock
            # over at once; left to SQLite, waiters poll with sleeps of up to 100 ms each.
            await self._write_lock.acquire()
            self._holds_lock = True
        self.chain_locked = False
        self.chain_head = None
        self._session = self._factory()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        try:
            await self._session.rollback()
        finally:
            try:
                await self._session.close()
            finally:
                self._session = None
                if self._holds_lock:
                    self._holds_lock = False
                    self._write_lock.release()  # type: ignore[union-attr]

    async def commit(self) -> None:
        await self.session.commit()
        self.chain_locked = False  # released with the transaction
        self.chain_head = None

    async def rollback(self) -> None:
        await self.session.rollback()
        self.chain_locked = False
        self.chain_head = None
