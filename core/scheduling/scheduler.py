"""The APScheduler 3 `AsyncIOScheduler` that owns the ticks.

Only short interval jobs live in its (memory) job store — nothing per reminder, nothing
pickled: every tick re-derives what is due from the database. Run one scheduler per database
for tidiness; a second one is harmless (claims are atomic), it only does the same work twice.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.bootstrap import Core
from core.scheduling.ticks import TickReport, run_tick

log = logging.getLogger(__name__)

TICK_JOB = "reminders"


class Scheduler:
    """`start()` inside a running event loop; `await stop()` lets a running tick finish."""

    def __init__(self, core: Core, *, tick_seconds: float | None = None,
                 tick: Callable[[Core], Awaitable[TickReport]] = run_tick) -> None:
        self.core = core
        self.tick_seconds = tick_seconds or core.settings.reminders.tick_seconds
        self._tick = tick
        self._idle = asyncio.Event()
        self._idle.set()
        self.last_report: TickReport | None = None
        self.ticks = 0
        self.aps = AsyncIOScheduler(
            timezone=core.settings.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.aps.add_job(self.tick, "interval", seconds=self.tick_seconds, id=TICK_JOB,
                         next_run_time=datetime.now(timezone.utc))  # first tick at once: catch up after a restart

    async def tick(self) -> TickReport:
        """One pass over every due-rule (also callable directly, e.g. from tests)."""
        self._idle.clear()
        try:
            report = await self._tick(self.core)
            self.last_report, self.ticks = report, self.ticks + 1
            return report
        finally:
            self._idle.set()

    def start(self) -> None:
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)  # not a line per tick
        self.aps.start()
        log.info("scheduler started: a tick every %.1f s", self.tick_seconds)

    async def stop(self, timeout: float = 10.0) -> None:
        if not self.aps.running:
            return
        self.aps.pause()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            log.warning("scheduler: a tick still running after %.0f s is cancelled (it rolls back)", timeout)
        self.aps.shutdown(wait=False)
        await asyncio.sleep(0)  # let the cancelled job observe its cancellation


def build_scheduler(core: Core, *, tick_seconds: float | None = None) -> Scheduler:
    """The scheduler with its interval tick, not started."""
    return Scheduler(core, tick_seconds=tick_seconds)
