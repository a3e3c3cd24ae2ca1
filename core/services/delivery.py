"""Outbox delivery bookkeeping: claims with a lease, sent / retry / dead letter, unreachable accounts.

The notifier (bot/notifier.py) does the sending; this module only moves outbox rows between
states, one short transaction per call:

    pending ──claim (lease)──▶ pending+leased ──mark_sent──▶ sent
                                   │ mark_retry (429, 5xx, timeout) → pending, next_attempt_at later
                                   │ mark_failed / attempts used up → failed (dead letter; retry_failed)
                                   └ mark_skipped / mark_unreachable → skipped

A claim takes, per account, only the oldest pending row, and only when it is due and not leased:
one message per chat in flight, chats drained in order of creation. A crash leaves the lease to
expire, so the row is sent again (at least once; a rare duplicate, never a loss).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import func, or_, select, update

from core.db.models import Account, Expert, Invitation, Outbox
from core.db.uow import UnitOfWork
from core.enums import InvitationStatus, OutboxStatus
from core.outbox import notify_admins
from core.services import audit

PENDING = OutboxStatus.PENDING.value
ERROR_MAX = 500


@dataclass(frozen=True)
class Claimed:
    """One leased outbox row with what the notifier needs to send it."""

    id: int
    account_id: int
    kind: str
    params: dict[str, Any]
    attempts: int  # including this one
    created_at: datetime
    telegram_id: int
    language: str | None
    unreachable: bool


@dataclass(frozen=True)
class OutboxItem:
    """A row as `expertpanel outbox list` shows it."""

    id: int
    account_id: int
    telegram_id: int | None
    kind: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str


def backoff_seconds(uow: UnitOfWork, attempts: int, *, jitter: bool = True) -> float:
    """Exponential backoff after the `attempts`-th failed try, capped; ±20 % jitter."""
    ds = uow.settings.delivery
    delay = min(ds.backoff_max_seconds, ds.backoff_base_seconds * (2 ** max(0, attempts - 1)))
    return delay * random.uniform(0.8, 1.2) if jitter else delay


async def claim(uow: UnitOfWork, limit: int, *, lease_seconds: float | None = None) -> list[Claimed]:
    """Lease up to `limit` due rows (the head of each account's queue, by id), oldest first.

    One conditional `UPDATE … WHERE id IN (SELECT … [FOR UPDATE SKIP LOCKED]) RETURNING`, so
    concurrent notifiers never lease the same row. `attempts` counts the lease.
    """
    if limit <= 0:
        return []
    lease = lease_seconds if lease_seconds is not None else uow.settings.delivery.lease_seconds
    async with uow:
        now = uow.clock.now()
        table = Outbox.__table__
        cand = table.alias("cand")
        # each account's oldest pending row (ids follow creation): only pending rows are scanned
        heads = (select(table.c.account_id, func.min(table.c.id).label("head_id"))
                 .where(table.c.status == PENDING).group_by(table.c.account_id).subquery("heads"))
        pick = (select(cand.c.id).join(heads, heads.c.head_id == cand.c.id)
                .where(cand.c.status == PENDING, cand.c.next_attempt_at <= now,
                       or_(cand.c.claimed_until.is_(None), cand.c.claimed_until < now))
                .order_by(cand.c.created_at, cand.c.id).limit(limit))
        if uow.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True, of=cand)
        stmt = (update(table)
                .where(table.c.id.in_(pick.scalar_subquery()), table.c.status == PENDING,
                       or_(table.c.claimed_until.is_(None), table.c.claimed_until < now))
                .values(claimed_until=now + timedelta(seconds=lease), attempts=table.c.attempts + 1)
                .returning(table.c.id, table.c.account_id, table.c.kind, table.c.params, table.c.attempts,
                           table.c.created_at))
        rows = (await uow.session.execute(stmt)).all()
        accounts: dict[int, tuple[int, str | None, bool]] = {}
        if rows:
            acc_rows = await uow.session.execute(
                select(Account.id, Account.telegram_id, Account.language, Account.unreachable_at)
                .where(Account.id.in_({r.account_id for r in rows})))
            accounts = {a.id: (a.telegram_id, a.language, a.unreachable_at is not None) for a in acc_rows}
        await uow.commit()
    out = [Claimed(r.id, r.account_id, r.kind, dict(r.params or {}), r.attempts, r.created_at,
                   *accounts[r.account_id]) for r in rows]
    return sorted(out, key=lambda c: (c.created_at, c.id))


async def renew(uow: UnitOfWork, ids: Iterable[int], *, lease_seconds: float | None = None) -> int:
    """Extend the leases of rows still being worked on (a long pacing wait must not free them)."""
    ids = list(ids)
    if not ids:
        return 0
    lease = lease_seconds if lease_seconds is not None else uow.settings.delivery.lease_seconds
    async with uow:
        res = await uow.session.execute(
            update(Outbox).where(Outbox.id.in_(ids), Outbox.status == PENDING)
            .values(claimed_until=uow.clock.now() + timedelta(seconds=lease)))
        await uow.commit()
    return res.rowcount or 0  # type: ignore[attr-defined]


async def mark_sent(uow: UnitOfWork, outbox_id: int, message_id: int | None) -> bool:
    """The message went out: record when and its Telegram message id."""
    async with uow:
        res = await uow.session.execute(
            update(Outbox).where(Outbox.id == outbox_id, Outbox.status == PENDING)
            .values(status=OutboxStatus.SENT.value, sent_at=uow.clock.now(), message_id=message_id,
                    claimed_until=None, last_error=""))
        await uow.commit()
    return bool(res.rowcount)  # type: ignore[attr-defined]


async def mark_retry(uow: UnitOfWork, outbox_id: int, delay_seconds: float, error: str, *,
                     count_attempt: bool = True) -> str:
    """Queue the row again after `delay_seconds`; returns the new status.

    `count_attempt=False` (a 429) gives the lease's attempt back. When the attempts are used
    up, the row becomes a dead letter instead (see `mark_failed`).
    """
    async with uow:
        row = await uow.session.get(Outbox, outbox_id)
        if row is None or row.status != PENDING:
            return row.status if row else "missing"
        if count_attempt and row.attempts >= uow.settings.delivery.max_attempts:
            await _dead_letter(uow, row, error)
        else:
            now = uow.clock.now()
            if not count_attempt:
                row.attempts = max(0, row.attempts - 1)
            row.next_attempt_at = now + timedelta(seconds=max(0.0, delay_seconds))
            row.claimed_until = None
            row.last_error = error[:ERROR_MAX]
        await uow.commit()
        return row.status


async def mark_failed(uow: UnitOfWork, outbox_id: int, error: str) -> bool:
    """Permanent failure (e.g. 400 Bad Request): keep the row with its error; tell the bureau."""
    async with uow:
        row = await uow.session.get(Outbox, outbox_id)
        if row is None or row.status != PENDING:
            return False
        await _dead_letter(uow, row, error)
        await uow.commit()
    return True


async def _dead_letter(uow: UnitOfWork, row: Outbox, error: str) -> None:
    row.status, row.claimed_until, row.last_error = OutboxStatus.FAILED.value, None, error[:ERROR_MAX]
    await uow.session.flush()
    if row.kind != "delivery_failed":  # never report a failed report: no loops when Telegram is down
        await notify_admins(uow, "delivery_failed",
                            {"outbox_id": row.id, "kind": row.kind, "account_id": row.account_id,
                             "error": error[:200]}, dedupe_prefix=f"delivery_failed:{row.id}")


async def mark_skipped(uow: UnitOfWork, outbox_id: int, reason: str) -> bool:
    """The message became obsolete (already answered, cancelled …): never sent, kept for the record."""
    async with uow:
        res = await uow.session.execute(
            update(Outbox).where(Outbox.id == outbox_id, Outbox.status == PENDING)
            .values(status=OutboxStatus.SKIPPED.value, claimed_until=None, last_error=reason[:ERROR_MAX]))
        await uow.commit()
    return bool(res.rowcount)  # type: ignore[attr-defined]


async def mark_unreachable(uow: UnitOfWork, account_id: int, error: str, *, outbox_id: int | None = None) -> bool:
    """The chat refused us (403, blocked): the account is marked unreachable, the row skipped,
    the bureau told (once per episode), and the expert's pending invitations are treated as
    unanswered at once (expired, replacement drawn). Returns True when newly unreachable."""
    from core.services import panels  # local: the panels family is heavy and optional here

    async with uow:
        s = uow.session
        now = uow.clock.now()
        if outbox_id is not None:
            await s.execute(update(Outbox).where(Outbox.id == outbox_id, Outbox.status == PENDING)
                            .values(status=OutboxStatus.SKIPPED.value, claimed_until=None,
                                    last_error=f"unreachable: {error}"[:ERROR_MAX]))
        res = await s.execute(update(Account).where(Account.id == account_id, Account.unreachable_at.is_(None))
                              .values(unreachable_at=now))
        newly = bool(res.rowcount)  # type: ignore[attr-defined]
        acc = await s.get(Account, account_id)
        if acc is None:
            await uow.commit()
            return False
        if newly:
            await audit.append(uow, "system", "account.unreachable", "account", acc.id)
            await notify_admins(uow, "account_unreachable", await _who(uow, acc),
                                dedupe_prefix=f"unreachable:{acc.id}:{now:%Y%m%d%H%M%S%f}")
        overdue: list[int] = []
        if acc.expert_id is not None:
            overdue = list((await s.scalars(
                update(Invitation).where(Invitation.expert_id == acc.expert_id,
                                         Invitation.status == InvitationStatus.PENDING.value,
                                         Invitation.deadline > now)
                .values(deadline=now).returning(Invitation.id))).all())
            for inv_id in overdue:
                await audit.append(uow, "system", "invitation.unreachable", "invitation", inv_id,
                                   account_id=acc.id)
        await uow.commit()
    if overdue:
        await panels.expire_overdue(uow)
    return newly


async def _who(uow: UnitOfWork, acc: Account) -> dict[str, Any]:
    name, role = acc.display_name, "account"
    if acc.expert_id is not None:
        expert = await uow.session.get(Expert, acc.expert_id)
        name, role = (expert.name if expert else name), "expert"
    elif acc.contact_id is not None:
        role = "contact"
    elif acc.is_admin:
        role = "admin"
    return {"account_id": acc.id, "name": name, "role": role, "expert_id": acc.expert_id}


async def list_items(uow: UnitOfWork, status: str = OutboxStatus.FAILED.value, *, limit: int = 50) -> list[OutboxItem]:
    """Rows in `status` (default: the dead letters), newest first."""
    async with uow:
        rows = (await uow.session.execute(
            select(Outbox, Account.telegram_id).join(Account, Account.id == Outbox.account_id, isouter=True)
            .where(Outbox.status == status).order_by(Outbox.id.desc()).limit(limit))).all()
        return [OutboxItem(o.id, o.account_id, tg, o.kind, o.status, o.attempts, o.created_at, o.next_attempt_at,
                           o.last_error) for o, tg in rows]


async def list_failed(uow: UnitOfWork, *, limit: int = 50) -> list[OutboxItem]:
    return await list_items(uow, OutboxStatus.FAILED.value, limit=limit)


async def retry_failed(uow: UnitOfWork, ids: Iterable[int] | None = None) -> int:
    """Queue dead letters again: the given ids (failed or skipped), or every failed row."""
    async with uow:
        q = update(Outbox).values(status=PENDING, attempts=0, next_attempt_at=uow.clock.now(),
                                  claimed_until=None)
        if ids is None:
            q = q.where(Outbox.status == OutboxStatus.FAILED.value)
        else:
            q = q.where(Outbox.id.in_(list(ids)),
                        Outbox.status.in_([OutboxStatus.FAILED.value, OutboxStatus.SKIPPED.value]))
        res = await uow.session.execute(q)
        n = res.rowcount or 0  # type: ignore[attr-defined]
        if n:
            await audit.append(uow, "cli", "outbox.retry", "outbox", None, count=n,
                               ids=None if ids is None else sorted(ids)[:50])
        await uow.commit()
    return n


async def counts(uow: UnitOfWork) -> dict[str, int]:
    """Rows per status (for the digest, the bench and `outbox list`)."""
    async with uow:
        rows = (await uow.session.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all()
    return {status: n for status, n in rows}
