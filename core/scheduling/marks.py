"""Reminder marks: 'this slot was handled', inserted with the reminder's outbox rows.

`INSERT … ON CONFLICT DO NOTHING RETURNING` on both engines: of two schedulers racing for
the same slot, exactly one gets the row back (on PostgreSQL the loser waits for the winner's
commit, then sees the conflict), so every reminder fires once.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from core.db.models import ReminderMark
from core.db.uow import UnitOfWork


async def existing(uow: UnitOfWork, kind: str, subject_ids: Iterable[int]) -> dict[int, set[str]]:
    """The slots already handled, per subject (one query for a whole batch)."""
    ids = list(set(subject_ids))
    out: dict[int, set[str]] = defaultdict(set)
    for i in range(0, len(ids), 500):
        rows = await uow.session.execute(select(ReminderMark.subject_id, ReminderMark.slot).where(
            ReminderMark.kind == kind, ReminderMark.subject_id.in_(ids[i:i + 500])))
        for subject_id, slot in rows.all():
            out[subject_id].add(slot)
    return out


async def claim(uow: UnitOfWork, kind: str, subject_id: int, slot: str) -> bool:
    """Insert the mark in the caller's transaction; True when this caller inserted it."""
    insert = postgresql.insert if uow.dialect == "postgresql" else sqlite.insert
    stmt = (insert(ReminderMark)
            .values(kind=kind, subject_id=subject_id, slot=slot, created_at=uow.clock.now())
            .on_conflict_do_nothing(index_elements=["kind", "subject_id", "slot"])
            .returning(ReminderMark.id))
    return (await uow.session.execute(stmt)).scalar_one_or_none() is not None


async def claim_latest(uow: UnitOfWork, kind: str, subject_id: int, due: Sequence[str], done: set[str]) -> bool:
    """Mark every due slot (chronological order) not yet done; True when the latest one was
    newly claimed here — the caller then sends that one reminder. Slots that fell due together
    (e.g. while the process was down) produce one message, not a burst of stale ones."""
    if not due or due[-1] in done:
        return False
    for slot in due[:-1]:
        if slot not in done:
            await claim(uow, kind, subject_id, slot)
    return await claim(uow, kind, subject_id, due[-1])
