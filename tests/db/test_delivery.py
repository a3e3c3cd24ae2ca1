"""Outbox delivery bookkeeping on a real database: claims and leases, per-chat order, backoff,
dead letters and resends, and the 403 path (unreachable → bureau told, invitation replaced)."""
from __future__ import annotations

import asyncio
import os
import subprocess
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from core.bootstrap import Core, build_core
from core.config import Settings
from core.clock import ManualClock
from core.db.models import Account, AuditEntry, Invitation, Outbox
from core.enums import InvitationStatus, OutboxStatus
from core.outbox import enqueue
from core.services import accounts, delivery, panels
from tests.factories import make_admin, make_expert, make_unit_contact, panel_form, rows
from tests.support import forked


async def _queue(core: Core, account_id: int, n: int, kind: str = "regulation_expiry") -> list[int]:
    uow = core.uow()
    async with uow:
        ids = [await enqueue(uow, account_id, kind, {"days": i, "lapses_on": "x", "effective": "y"}) for i in range(n)]
        await uow.commit()
    return ids


async def _row(core: Core, outbox_id: int) -> Outbox:
    return (await rows(core, Outbox, Outbox.id == outbox_id))[0]


async def test_claim_takes_the_head_of_each_chat_in_creation_order(core: Core, clock: ManualClock) -> None:
    a, b = await make_admin(core), await make_admin(core)
    a_ids = await _queue(core, a.account_id, 3)
    clock.advance(timedelta(seconds=1))
    b_ids = await _queue(core, b.account_id, 2)
    got = await delivery.claim(core.uow(), 10)
    assert [c.id for c in got] == [a_ids[0], b_ids[0]]  # one per chat, oldest first
    assert all(c.attempts == 1 and c.telegram_id > 0 and not c.unreachable for c in got)
    assert await delivery.claim(core.uow(), 10) == []  # heads leased; the rest wait behind them
    assert await delivery.mark_sent(core.uow(), a_ids[0], 777)
    assert not await delivery.mark_sent(core.uow(), a_ids[0], 778)  # once only
    sent = await _row(core, a_ids[0])
    assert sent.status == OutboxStatus.SENT and sent.message_id == 777 and sent.sent_at == clock.now()
    assert [c.id for c in await delivery.claim(core.uow(), 10)] == [a_ids[1]]


async def test_an_expired_lease_is_claimed_again(core: Core, clock: ManualClock) -> None:
    a = await make_admin(core)
    [i] = await _queue(core, a.account_id, 1)
    assert [c.id for c in await delivery.claim(core.uow(), 5, lease_seconds=30)] == [i]
    clock.advance(timedelta(seconds=29))
    assert await delivery.claim(core.uow(), 5) == []
    assert await delivery.renew(core.uow(), [i], lease_seconds=30) == 1
    clock.advance(timedelta(seconds=29))
    assert await delivery.claim(core.uow(), 5) == []  # renewed
    clock.advance(timedelta(seconds=2))
    again = await delivery.claim(core.uow(), 5)
    assert [c.id for c in again] == [i] and again[0].attempts == 2  # the crashed worker's row, at least once


async def test_retry_waits_and_429_does_not_count(core: Core, clock: ManualClock) -> None:
    a = await make_admin(core)
    [i] = await _queue(core, a.account_id, 1)
    await delivery.claim(core.uow(), 1)
    assert await delivery.mark_retry(core.uow(), i, 5, "429 retry_after=5", count_attempt=False) == "pending"
    row = await _row(core, i)
    assert row.attempts == 0 and row.claimed_until is None and row.next_attempt_at == clock.now() + timedelta(seconds=5)
    clock.advance(timedelta(seconds=4))
    assert await delivery.claim(core.uow(), 1) == []  # not before
    clock.advance(timedelta(seconds=1))
    [c] = await delivery.claim(core.uow(), 1)
    assert c.attempts == 1
    await delivery.mark_retry(core.uow(), i, delivery.backoff_seconds(core.uow(), c.attempts), "NetworkError: Bad Gateway")
    assert (await _row(core, i)).attempts == 1


def test_backoff_grows_and_is_capped(core: Core) -> None:
    uow = core.uow()
    ds = core.settings.delivery
    seq = [delivery.backoff_seconds(uow, n, jitter=False) for n in range(1, 12)]
    assert seq[0] == ds.backoff_base_seconds and seq[1] == 2 * ds.backoff_base_seconds
    assert max(seq) == ds.backoff_max_seconds and seq == sorted(seq)


async def test_used_up_attempts_make_a_dead_letter_that_can_be_resent(core: Core, clock: ManualClock) -> None:
    core.settings.delivery.max_attempts = 2
    admin = await make_admin(core)
    expert = await make_expert(core)
    [i] = await _queue(core, expert.roles.account_id, 1)
    for _ in range(2):
        [c] = await delivery.claim(core.uow(), 1)
        status = await delivery.mark_retry(core.uow(), c.id, 1, "TimedOut: Timed out")
        clock.advance(timedelta(seconds=2))
    assert status == "failed"
    row = await _row(core, i)
    assert row.status == OutboxStatus.FAILED and row.last_error == "TimedOut: Timed out"
    notices = await rows(core, Outbox, Outbox.kind == "delivery_failed")
    assert [n.account_id for n in notices] == [admin.account_id] and notices[0].params["outbox_id"] == i
    assert [f.id for f in await delivery.list_failed(core.uow())] == [i]
    assert await delivery.retry_failed(core.uow(), [i]) == 1
    row = await _row(core, i)
    assert row.status == OutboxStatus.PENDING and row.attempts == 0
    # a failed report is not reported again (no loops while Telegram is down)
    [n] = notices
    await delivery.claim(core.uow(), 10)
    assert await delivery.mark_failed(core.uow(), n.id, "400: Bad Request: can't parse entities")
    assert len(await rows(core, Outbox, Outbox.kind == "delivery_failed")) == 1
    assert await delivery.retry_failed(core.uow()) == 1  # --all: every failed row


async def test_skipped_rows_are_kept(core: Core) -> None:
    a = await make_admin(core)
    [i] = await _queue(core, a.account_id, 1)
    await delivery.claim(core.uow(), 1)
    assert await delivery.mark_skipped(core.uow(), i, "obsolete")
    row = await _row(core, i)
    assert row.status == OutboxStatus.SKIPPED and row.last_error == "obsolete"
    assert (await delivery.counts(core.uow()))["skipped"] == 1


async def test_403_marks_unreachable_tells_the_bureau_and_replaces_the_invitation(core: Core, clock: ManualClock) -> None:
    admin = await make_admin(core)
    contact = await make_unit_contact(core)
    experts = [await make_expert(core, ["eia"]) for _ in range(5)]
    res = await panels.request_panel(core.uow(), contact, panel_form(core))
    invs = await rows(core, Invitation, Invitation.panel_id == res.panel_id)
    target = next(e for e in experts if e.id == invs[0].expert_id)
    msg = (await rows(core, Outbox, Outbox.account_id == target.account_id, Outbox.kind == "invitation"))[0]
    await delivery.claim(core.uow(), 50)
    assert await delivery.mark_unreachable(core.uow(), target.account_id, "Forbidden: bot was blocked by the user",
                                           outbox_id=msg.id)
    acc = (await rows(core, Account, Account.id == target.account_id))[0]
    assert acc.unreachable_at == clock.now()
    row = await _row(core, msg.id)
    assert row.status == OutboxStatus.SKIPPED and "blocked" in row.last_error
    inv = (await rows(core, Invitation, Invitation.id == invs[0].id))[0]
    assert inv.status == InvitationStatus.EXPIRED and inv.justified is False  # unanswered, at once
    replacement = await rows(core, Invitation, Invitation.replacement_of == inv.id)
    assert len(replacement) == 1 and replacement[0].status == InvitationStatus.PENDING
    told = await rows(core, Outbox, Outbox.kind == "account_unreachable")
    assert [t.account_id for t in told] == [admin.account_id]
    assert told[0].params["role"] == "expert" and told[0].params["account_id"] == target.account_id
    actions = [e.action for e in await rows(core, AuditEntry, order_by=AuditEntry.seq)]
    assert "account.unreachable" in actions and "invitation.unreachable" in actions and "invitation.expire" in actions
    # A second 403 is not news; the rows for an unreachable account are skipped on claim.
    assert not await delivery.mark_unreachable(core.uow(), target.account_id, "Forbidden")
    assert len(await rows(core, Outbox, Outbox.kind == "account_unreachable")) == 1
    await _queue(core, target.account_id, 1)
    mine = [c for c in await delivery.claim(core.uow(), 50) if c.account_id == target.account_id]
    assert len(mine) == 1 and mine[0].unreachable and mine[0].kind == "invitation_closed"
    # The person writes to the bot again: reachable, audited once, their rows are claimed for sending.
    await accounts.touch_account(core.uow(), acc.telegram_id)
    await accounts.touch_account(core.uow(), acc.telegram_id)
    assert (await rows(core, Account, Account.id == target.account_id))[0].unreachable_at is None
    actions = [e.action for e in await rows(core, AuditEntry, order_by=AuditEntry.seq)]
    assert actions.count("account.reachable") == 1
    clock.advance(timedelta(hours=1))
    mine = [c for c in await delivery.claim(core.uow(), 50) if c.account_id == target.account_id]
    assert mine and not any(c.unreachable for c in mine)


async def test_concurrent_claims_never_share_a_row(core: Core, clock: ManualClock) -> None:
    admins = [await make_admin(core) for _ in range(40)]
    for a in admins:
        await _queue(core, a.account_id, 2)
    batches = await asyncio.gather(*(delivery.claim(core.uow(), 7) for _ in range(8)))
    ids = [c.id for b in batches for c in b]
    assert len(ids) == len(set(ids)) == 40  # every chat's head once, never its second row
    accounts = [c.account_id for b in batches for c in b]
    assert len(set(accounts)) == 40
    async with core.sessions() as s:
        leased = (await s.scalars(select(Outbox.id).where(Outbox.claimed_until.is_not(None)))).all()
    assert sorted(leased) == sorted(ids)


# --- the CLI: `expertpanel outbox list | retry` and `expertpanel scheduler` ----------------------

CLI = ("import bot.cli as c\n"
       "from bot.commands import outbox, scheduler\n"
       "names = {g.name for g in c.app.registered_groups} | {getattr(x, 'name', None) for x in c.app.registered_commands}\n"
       "if 'outbox' not in names: outbox.register(c.app)\n"
       "if 'scheduler' not in names: scheduler.register(c.app)\n"
       "c.main()\n")


def _cli(args: list[str], db_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPERTPANEL_")}
    env.update({"EXPERTPANEL_DATABASE__URL": db_url, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    return forked.run(args, code=CLI, env=env, cwd=tmp_path)


def test_outbox_cli_lists_and_resends_failed_messages(db_url: str, tmp_path: Path) -> None:
    async def seed() -> int:
        core = build_core(Settings(database={"url": db_url}))  # type: ignore[arg-type]
        try:
            admin = await make_admin(core)
            [i] = await _queue(core, admin.account_id, 1)
            await delivery.claim(core.uow(), 1)
            await delivery.mark_failed(core.uow(), i, "400: Bad Request: can't parse entities")
            return i
        finally:
            await core.close()

    failed_id = asyncio.run(seed())
    out = _cli(["outbox", "list"], db_url, tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"#{failed_id}" in out.stdout and "can't parse entities" in out.stdout and "失败 1" in out.stdout
    out = _cli(["outbox", "retry"], db_url, tmp_path)
    assert out.returncode != 0 and "Traceback" not in out.stderr and out.stderr.strip().count("\n") == 0
    out = _cli(["outbox", "retry", str(failed_id)], db_url, tmp_path)
    assert out.returncode == 0 and "1" in out.stdout
    out = _cli(["outbox", "list", "--status", "pending"], db_url, tmp_path)
    assert f"#{failed_id}" in out.stdout
    out = _cli(["scheduler", "--help"], db_url, tmp_path)
    assert out.returncode == 0 and "--no-ticks" in out.stdout
