"""One scheduler tick: every due-rule in order, each in its own transaction, errors isolated.

Order matters a little: deadlines expire before nudges are considered, finished panels are
completed before evaluation prompts are derived from them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from core.bootstrap import Core
from core.db.uow import UnitOfWork
from core.scheduling import digest, reminders, terms

log = logging.getLogger(__name__)

Rule = Callable[[UnitOfWork], Awaitable[int]]
EXPIRE_ROUNDS = 20  # expire_overdue works in batches; a long outage may leave many


async def expire_invitations(uow: UnitOfWork) -> int:
    """Pending invitations past their deadline expire and replacements are drawn (panels service)."""
    from core.services.responses import expire_overdue

    total = 0
    for _ in range(EXPIRE_ROUNDS):
        done = await expire_overdue(uow)
        total += len(done)
        if not done:
            break
    return total


async def complete_panels(uow: UnitOfWork) -> int:
    """Confirmed panels whose meeting ended become completed (panels service)."""
    from core.services.panels import complete_finished

    return len(await complete_finished(uow))


RULES: tuple[tuple[str, Rule], ...] = (
    ("expire_invitations", expire_invitations),
    ("complete_panels", complete_panels),
    ("nudge_invitations", reminders.nudge_invitations),
    ("meeting_reminders", reminders.meeting_reminders),
    ("evaluation_prompts", reminders.evaluation_prompts),
    ("term_notices", terms.term_notices),
    ("expire_terms", terms.expire_terms),
    ("regulation_warnings", terms.regulation_warnings),
    ("daily_digest", digest.daily_digest),
)


@dataclass
class TickReport:
    counts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def run_tick(core: Core, rules: tuple[tuple[str, Rule], ...] = RULES) -> TickReport:
    """Run every rule once; a failing rule is logged and the others still run."""
    report = TickReport()
    for name, rule in rules:
        try:
            report.counts[name] = await rule(core.uow())
        except Exception as exc:  # one bad row must not stop every other reminder
            log.exception("scheduler rule %s failed", name)
            report.errors[name] = f"{type(exc).__name__}: {exc}"[:300]
    if report.total:
        log.info("tick: %s", {k: v for k, v in report.counts.items() if v})
    return report
