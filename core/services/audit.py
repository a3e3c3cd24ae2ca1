"""Appending to and verifying the audit chain in the database."""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import GENESIS, EntryFields, VerifyResult, canonical_json, entry_hash, format_at, verify_chain
from core.db.models import AuditEntry
from core.db.uow import UnitOfWork

# Arbitrary constant naming the advisory lock that serialises chain appends on PostgreSQL.
_AUDIT_LOCK = 0x45_50_41_55  # "EPAU"

# Every state change appends: the statements are built once (building costs more than running).
_LOCK_CHAIN = text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_AUDIT_LOCK)
_LAST_ENTRY = select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
_INSERT_ENTRY = insert(AuditEntry.__table__)

Entry = tuple[str, str, Any, dict[str, Any]]  # action, subject type, subject id, details


async def lock_chain(uow: UnitOfWork) -> None:
    """Serialise appends to the chain until commit (PostgreSQL's advisory lock; SQLite's writers
    are serial already). Taken once per transaction: draws take it first, then audit."""
    if uow.dialect == "postgresql" and not uow.chain_locked:
        await uow.session.execute(_LOCK_CHAIN)
        uow.chain_locked = True


async def append(
    uow: UnitOfWork,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: Any = None,
    **details: Any,
) -> EntryFields:
    """Add one entry in the caller's transaction. Details must hold internal ids only, no PII."""
    (row,) = await append_many(uow, actor, [(action, subject_type, subject_id, details)])
    return row


async def append_many(uow: UnitOfWork, actor: str, entries: Sequence[Entry]) -> list[EntryFields]:
    """`append` for several entries (action, subject_type, subject_id, details) in order: the
    same chain, with one look-up of the last entry and one INSERT instead of one each (a Core
    INSERT: nothing reads the rows back through the session). The transaction's later appends
    need no look-up: the chain is theirs until it ends (`UnitOfWork.chain_head`)."""
    if not entries:
        return []
    rows = await chained(uow, actor, entries)
    await uow.session.execute(_INSERT_ENTRY, [asdict(r) for r in rows])
    return rows


async def chained(uow: UnitOfWork, actor: str, entries: Sequence[Entry]) -> list[EntryFields]:
    """The entries as the chain's next rows, for the caller to insert in this transaction
    (`append_many`, or a statement that inserts them along with other rows)."""
    await lock_chain(uow)
    last = uow.chain_head or (await uow.session.execute(_LAST_ENTRY)).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = format_at(uow.clock.now())
    rows: list[EntryFields] = []
    for action, subject_type, subject_id, details in entries:
        fields = EntryFields(
            seq=seq, at=at, actor=actor, action=action, subject_type=subject_type,
            subject_id=None if subject_id is None else str(subject_id), details=canonical_json(details),
            prev_hash=prev,
        )
        fields = replace(fields, hash=entry_hash(fields))
        rows.append(fields)
        seq, prev = seq + 1, fields.hash
    if rows:
        uow.chain_head = (rows[-1].seq, rows[-1].hash)
    return rows


# The chain's head (seq, hash; NULL, NULL before the first entry) as two expressions for a
# PostgreSQL statement that reads it on the way (`note_head`). The statement must run under the
# chain's lock, taken by an earlier statement (`lock_chain`): it reads what was committed when
# it began.
HEAD_SQL = ("(SELECT seq FROM audit_entries ORDER BY seq DESC LIMIT 1)",
            "(SELECT hash FROM audit_entries ORDER BY seq DESC LIMIT 1)")


def note_head(uow: UnitOfWork, seq: int | None, hash_: str | None) -> None:
    """Remember the chain's head as read with `HEAD_SQL`: the transaction's next append needs
    no look-up."""
    if uow.chain_head is None:
        uow.chain_head = (0, GENESIS) if seq is None else (int(seq), str(hash_))


async def _iter_entries(session: AsyncSession, batch: int = 2000) -> AsyncIterator[EntryFields]:
    after = 0
    while True:
        rows = (
            await session.execute(
                select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(batch)
            )
        ).scalars().all()
        if not rows:
            return
        for r in rows:
            yield EntryFields(r.seq, r.at, r.actor, r.action, r.subject_type, r.subject_id, r.details, r.prev_hash, r.hash)
        after = rows[-1].seq


async def verify(uow: UnitOfWork, expected_head: str | None = None) -> VerifyResult:
    """Verify the whole chain (streamed in batches) against an optional published head."""
    async with uow:
        entries = [e async for e in _iter_entries(uow.session)]
    return verify_chain(entries, expected_head)


async def head(uow: UnitOfWork) -> tuple[int, str]:
    async with uow:
        last = (
            await uow.session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1))
        ).first()
    return (last[0], last[1]) if last else (0, GENESIS)
