"""Writing notifications to the outbox, in the caller's transaction (delivery is the notifier's).

Threads: some kinds show one live state rather than a sequence of events — a panel's status in a
using unit's chat. Their rows carry `thread` (`THREADS`: kind → the param naming the subject), so
the adapter can find the message it sent for the thread and edit it in place, and can skip a row
that a newer row of the same thread supersedes (`thread_state`).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import bindparam, insert, select

from core.db.models import Account, Outbox
from core.db.uow import UnitOfWork
from core.enums import OutboxStatus

if TYPE_CHECKING:
    from core.services.accounts import Roles

THREADS: dict[str, str] = {"panel_status": "panel_id"}

# Built once: most state changes enqueue, and building a statement costs more than running it.
_BY_DEDUPE_KEY = select(Outbox.id).where(Outbox.dedupe_key == bindparam("dedupe_key"))
_INSERT = insert(Outbox.__table__).returning(Outbox.__table__.c.id)
_INSERT_MANY = insert(Outbox.__table__)


def thread_of(kind: str, params: dict[str, Any] | None) -> str | None:
    """The live message a row of `kind` updates (e.g. `panel_status:42`), or None (an event)."""
    key = THREADS.get(kind)
    if key is None or not params or params.get(key) is None:
        return None
    return f"{kind}:{params[key]}"[:64]


async def enqueue(
    uow: UnitOfWork,
    account_id: int,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    dedupe_key: str | None = None,
) -> int | None:
    """Queue one message `kind` (a catalog key under `notify.`) for an account; its row id.

    With `dedupe_key`, a second enqueue of the same key is a no-op (returns None).
    """
    session = uow.session
    if dedupe_key is not None:
        exists = await session.scalar(_BY_DEDUPE_KEY, {"dedupe_key": dedupe_key})
        if exists is not None:
            return None
    return await session.scalar(_INSERT, {**row_of(uow, account_id, kind, params), "dedupe_key": dedupe_key})


class Message(NamedTuple):
    """One message for `enqueue_all`."""

    account_id: int
    kind: str
    params: dict[str, Any] | None = None


async def enqueue_all(uow: UnitOfWork, messages: Sequence[Message]) -> int:
    """Queue several messages in one INSERT, in the order given: a draw queues ~10 at once,
    and one statement saves a flush and a round trip per row. No dedupe keys: for events
    that are new by construction. Returns how many."""
    if messages:
        await uow.session.execute(_INSERT_MANY, [row_of(uow, a, k, p) for a, k, p in messages])
    return len(messages)


def row_of(uow: UnitOfWork, account_id: int, kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The outbox row of a new message."""
    now = uow.clock.now()
    return {"account_id": account_id, "kind": kind, "params": params or {}, "status": OutboxStatus.PENDING.value,
            "created_at": now, "next_attempt_at": now, "attempts": 0, "thread": thread_of(kind, params)}


async def admin_account_ids(uow: UnitOfWork) -> list[int]:
    return list((await uow.session.scalars(select(Account.id).where(Account.is_admin.is_(True)).order_by(Account.id))).all())


async def enqueue_many(
    uow: UnitOfWork, account_ids: Iterable[int], kind: str, params: dict[str, Any] | None = None,
    *, dedupe_prefix: str | None = None,
) -> int:
    """Queue `kind` for each account; with `dedupe_prefix`, once per account and prefix."""
    if not dedupe_prefix:
        return await enqueue_all(uow, [Message(aid, kind, params) for aid in account_ids])
    n = 0
    for aid in account_ids:
        if await enqueue(uow, aid, kind, params, dedupe_key=f"{dedupe_prefix}:{aid}") is not None:
            n += 1
    return n


async def notify_admins(uow: UnitOfWork, kind: str, params: dict[str, Any] | None = None, *, dedupe_prefix: str | None = None) -> int:
    """Tell the bureau: one outbox row per admin account."""
    return await enqueue_many(uow, await admin_account_ids(uow), kind, params, dedupe_prefix=dedupe_prefix)


@dataclass(frozen=True)
class ThreadState:
    """Where a threaded row stands: the message id of the thread's latest sent row for the same
    account (to edit), and whether a newer pending row of the thread makes this one pointless."""

    thread: str | None
    previous_message_id: int | None = None
    superseded: bool = False


async def thread_state(uow: UnitOfWork, outbox_id: int) -> ThreadState:
    """One short read for the notifier; an unthreaded (or missing) row gives `ThreadState(None)`."""
    async with uow:
        s = uow.session
        row = (await s.execute(select(Outbox.account_id, Outbox.thread).where(Outbox.id == outbox_id))).first()
        if row is None or row.thread is None:
            return ThreadState(None)
        same = (Outbox.account_id == row.account_id, Outbox.thread == row.thread)
        previous = await s.scalar(
            select(Outbox.message_id).where(*same, Outbox.id < outbox_id, Outbox.status == OutboxStatus.SENT.value,
                                            Outbox.message_id.is_not(None))
            .order_by(Outbox.id.desc()).limit(1))
        newer = await s.scalar(
            select(Outbox.id).where(*same, Outbox.id > outbox_id, Outbox.status == OutboxStatus.PENDING.value).limit(1))
    return ThreadState(row.thread, int(previous) if previous is not None else None, newer is not None)


async def recipient_roles(uow: UnitOfWork, account_id: int) -> Roles | None:
    """The roles of an outbox row's recipient as they are now (e.g. to refresh a chat's command
    menu after a role change), or None when the account is gone."""
    from core.services.accounts import roles_of  # local: the services import this module

    async with uow:
        acc = await uow.session.get(Account, account_id)
        return None if acc is None else await roles_of(uow, acc)
