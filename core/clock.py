"""Injected time: services and ticks ask a Clock, so tests and the sandbox can move time."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock:
    """A clock that only moves when told to (tests, the sandbox's clock control)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(timezone.utc)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class OffsetClock:
    """System time plus an offset the sandbox can push forward; keeps ticking in real time."""

    def __init__(self, offset: timedelta = timedelta()) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    def set(self, when: datetime) -> None:
        self.offset = when.astimezone(timezone.utc) - datetime.now(timezone.utc)
