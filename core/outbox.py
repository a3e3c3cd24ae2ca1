"""Writing notifications to the outbox, in the caller's transaction (delivery is the notifier's)."""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select

from core.db.models import Account, Outbox
from core.db.uow import UnitOfWork
from core.enums import OutboxStatus


async def enqueue(
    uow: UnitOfWork,
    account_id: int,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    dedupe_key: str | None = None,
) -> Outbox | None:
    """Queue one message `kind` (a catalog key under `notify.`) for an account.

    With `dedupe_key`, a second enqueue of the same key is a no-op (returns None).
    """
    session = uow.session
    if dedupe_key is not None:
        exists = await session.scalar(select(Outbox.id).where(Outbox.dedupe_key == dedupe_key))
        if exists is not None:
            return None
    now = uow.clock.now()
    row = Outbox(
        account_id=account_id, kind=kind, params=params or {}, status=OutboxStatus.PENDING,
        created_at=now, next_attempt_at=now, attempts=0, dedupe_key=dedupe_key,
    )
    session.add(row)
    await session.flush()
    return row


async def admin_account_ids(uow: UnitOfWork) -> list[int]:
    return list((await uow.session.scalars(select(Account.id).where(Account.is_admin.is_(True)).order_by(Account.id))).all())


async def enqueue_many(
    uow: UnitOfWork, account_ids: Iterable[int], kind: str, params: dict[str, Any] | None = None,
    *, dedupe_prefix: str | None = None,
) -> int:
    n = 0
    for aid in account_ids:
        key = f"{dedupe_prefix}:{aid}" if dedupe_prefix else None
        if await enqueue(uow, aid, kind, params, dedupe_key=key) is not None:
            n += 1
    return n


async def notify_admins(uow: UnitOfWork, kind: str, params: dict[str, Any] | None = None, *, dedupe_prefix: str | None = None) -> int:
    """Tell the bureau: one outbox row per admin account."""
    return await enqueue_many(uow, await admin_account_ids(uow), kind, params, dedupe_prefix=dedupe_prefix)
