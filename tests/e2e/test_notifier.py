"""The notifier against the sandbox Bot API: rendering and message ids, 429 honoured while other
chats flow, 403 → unreachable and the bureau told, 5xx retried, 400 kept as a dead letter, and
a crash test that kills the delivering process with SIGKILL again and again."""
from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import func, select
from telegram import Bot

from bot.notifier import Notifier, make_bot
from bot.outbox_render import Rendered, renderer
from bot.sandbox import SandboxServer
from core.bootstrap import Core, build_core
from core.config import Settings
from core.db.models import Account, Invitation, Outbox
from core.enums import InvitationStatus, OutboxStatus
from core.outbox import enqueue
from core.services import panels, roster
from tests.factories import make_admin, make_expert, make_unit_contact, panel_form, rows
from tests.support import forked

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "5150:NOTIFIER-test-token"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    server = SandboxServer(token=TOKEN)
    await server.start()
    yield server
    await server.stop()
    assert server.internal_errors == []


def _settings(db_url: str, server: SandboxServer, **delivery: float) -> Settings:
    return Settings(  # type: ignore[arg-type]
        database={"url": db_url},
        telegram={"token": TOKEN, "base_url": server.base_url, "base_file_url": server.base_file_url},
        delivery={"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.3, **delivery},
    )


@pytest.fixture
async def live(db_url: str, sandbox: SandboxServer) -> AsyncIterator[Core]:
    """A core on the system clock, configured for the sandbox."""
    core = build_core(_settings(db_url, sandbox))
    await roster.sync_categories(core.uow(), core.settings.categories)
    yield core
    await core.close()


@pytest.fixture
async def notifier(live: Core) -> AsyncIterator[Notifier]:
    bot = make_bot(live)
    await bot.initialize()
    n = Notifier(live, bot, poll_interval=0.05)
    await n.start()
    yield n
    await n.stop()
    await bot.shutdown()


async def _account(core: Core, server: SandboxServer, telegram_id: int, *, admin: bool = False) -> int:
    server.users.create(telegram_id, f"U{telegram_id}", language_code="zh")
    async with core.sessions() as s:
        acc = Account(telegram_id=telegram_id, display_name=f"u{telegram_id}", is_admin=admin,
                      created_at=core.clock.now())
        s.add(acc)
        await s.commit()
        return acc.id


async def _queue(core: Core, items: list[tuple[int, int]]) -> None:
    """(account_id, number) pairs; each message carries 'ID-<number>' so copies can be counted."""
    uow = core.uow()
    async with uow:
        for account_id, i in items:
            await enqueue(uow, account_id, "regulation_expiry",
                          {"days": i, "lapses_on": f"ID-{i:06d}", "effective": "2025-06-05"})
        await uow.commit()


async def _until(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _status_count(core: Core, status: str) -> int:
    async with core.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == status)) or 0)


def _ids_in(server: SandboxServer, chat_id: int) -> list[int]:
    return [int(m) for msg in server.chat_messages(chat_id) for m in re.findall(r"ID-(\d+)", msg["text"] or "")]


# --- behaviour ---------------------------------------------------------------------------------

async def test_renders_sends_and_records_message_ids(live: Core, sandbox: SandboxServer, notifier: Notifier) -> None:
    expert = await make_expert(live)
    async with live.sessions() as s:
        tg = await s.scalar(select(Account.telegram_id).where(Account.id == expert.account_id))
    sandbox.users.create(tg, "专家", language_code="zh")
    uow = live.uow()
    async with uow:
        row_id = await enqueue(uow, expert.account_id, "term_expiry",  # type: ignore[arg-type]
                            {"expert_id": expert.id, "term_end": (await _term_end(live, expert.id)), "days": 30})
        await uow.commit()
    msg = await sandbox.wait_for_message(tg, timeout=5, after=0)
    assert "续任" in msg["text"]
    assert [b["callback_data"] for line in msg["buttons"] for b in line] == [f"term:{expert.id}:renew",
                                                                             f"term:{expert.id}:leave"]
    await _until(lambda: _sent_is(live, row_id), 5, "sent")  # type: ignore[arg-type]
    [out] = await rows(live, Outbox, Outbox.id == row_id)
    assert out.message_id == msg["message_id"] and out.sent_at is not None


async def _term_end(core: Core, expert_id: int) -> str:
    from core.db.models import Expert

    async with core.sessions() as s:
        return (await s.scalar(select(Expert.term_end).where(Expert.id == expert_id))).isoformat()  # type: ignore[union-attr]


async def _sent_is(core: Core, outbox_id: int) -> bool:
    [row] = await rows(core, Outbox, Outbox.id == outbox_id)
    return row.status == OutboxStatus.SENT


async def test_a_flooded_chat_waits_retry_after_while_others_flow(live: Core, sandbox: SandboxServer,
                                                                   notifier: Notifier) -> None:
    busy = 7001
    busy_acc = await _account(live, sandbox, busy)
    others = [await _account(live, sandbox, 7100 + i) for i in range(20)]
    # Something else (the bot's own replies) used up the busy chat's burst just now.
    side = Bot(TOKEN, base_url=sandbox.base_url)
    for i in range(3):
        await side.send_message(busy, f"reply {i}")
    started = time.monotonic()
    await _queue(live, [(busy_acc, 1), (busy_acc, 2)] + [(a, 100 + i) for i, a in enumerate(others)])
    await _until(lambda: _sent_all(sandbox, [7100 + i for i in range(20)]), 5, "the other chats")
    others_done = time.monotonic() - started
    await _until(lambda: _has(sandbox, busy, 2), 10, "the flooded chat")
    assert notifier.stats.flood_429 >= 1 and sandbox.stats()["flood_429"]["chat"] >= 1
    assert others_done < 3.0  # not stalled behind the flooded chat (20 messages at 29/s ≈ 0.7 s)
    assert _ids_in(sandbox, busy) == [1, 2]  # in order, once each
    await _until(lambda: _count_is(live, "sent", 22), 5, "every row marked sent")
    busy_rows = await rows(live, Outbox, Outbox.account_id == busy_acc)
    assert [r.attempts for r in busy_rows] == [1, 1]  # a 429 is not an attempt


async def _sent_all(server: SandboxServer, chats: list[int]) -> bool:
    return all(_ids_in(server, c) for c in chats)


async def _has(server: SandboxServer, chat: int, n: int) -> bool:
    return len(_ids_in(server, chat)) >= n


async def test_blocked_expert_is_unreachable_bureau_told_invitation_replaced(live: Core, sandbox: SandboxServer) -> None:
    admin = await make_admin(live)
    contact = await make_unit_contact(live)
    experts = [await make_expert(live, ["eia"]) for _ in range(4)]
    tgs = {}
    async with live.sessions() as s:
        for acc_id in [admin.account_id, contact.account_id] + [e.account_id for e in experts]:
            tgs[acc_id] = await s.scalar(select(Account.telegram_id).where(Account.id == acc_id))
    for tg in tgs.values():
        sandbox.users.create(tg, f"U{tg}", language_code="zh")
    res = await panels.request_panel(live.uow(), contact, panel_form(live, size=3))
    invs = await rows(live, Invitation, Invitation.panel_id == res.panel_id)
    blocked = next(e for e in experts if e.id == invs[0].expert_id)
    spare = next(e for e in experts if e.id not in {i.expert_id for i in invs})
    sandbox.block(tgs[blocked.account_id])  # before the invitation goes out
    bot = make_bot(live)
    notifier = Notifier(live, bot, poll_interval=0.05)
    await notifier.start()
    try:
        notice = await sandbox.wait_for_message(tgs[admin.account_id], lambda m: "屏蔽" in (m["text"] or ""), timeout=8, after=0)
        assert f"#{blocked.account_id}" in notice["text"]
        async with live.sessions() as s:
            acc = await s.get(Account, blocked.account_id)
            assert acc is not None and acc.unreachable_at is not None

        async def expired() -> bool:
            [inv] = await rows(live, Invitation, Invitation.id == invs[0].id)
            return inv.status == InvitationStatus.EXPIRED  # unanswered at once, not at the deadline

        await _until(expired, 5, "the invitation to expire")
        # the spare expert is drawn as the replacement and receives the invitation
        await sandbox.wait_for_message(tgs[spare.account_id], timeout=8, after=0)
        [replacement] = await rows(live, Invitation, Invitation.replacement_of == invs[0].id)
        assert replacement.expert_id == spare.id
        assert notifier.stats.unreachable == 1
    finally:
        await notifier.stop()


async def test_5xx_are_retried_with_backoff(live: Core, sandbox: SandboxServer, notifier: Notifier) -> None:
    chats = [await _account(live, sandbox, 7300 + i) for i in range(3)]
    sandbox.faults.fail("sendMessage", count=4, status=502)
    sandbox.faults.fail("sendMessage", count=1, status=500)
    await _queue(live, [(a, 300 + i) for i, a in enumerate(chats)])
    await _until(lambda: _sent_all(sandbox, [7300 + i for i in range(3)]), 10, "delivery after 5xx")
    await _until(lambda: _count_is(live, "sent", 3), 5, "marked sent")
    assert sandbox.stats()["errors"]["sendMessage"] == {"502": 4, "500": 1}
    assert sum(_ids_in(sandbox, 7300 + i).count(300 + i) for i in range(3)) == 3


async def _count_is(core: Core, status: str, n: int) -> bool:
    return await _status_count(core, status) == n


@renderer("test_bad_html")
async def _bad_html(core: Core, params: dict[str, object], lang: str) -> Rendered:
    return Rendered("<b>unclosed")


async def test_a_400_is_kept_as_a_dead_letter_and_the_bureau_told(live: Core, sandbox: SandboxServer,
                                                                  notifier: Notifier) -> None:
    admin_acc = await _account(live, sandbox, 7400, admin=True)
    user_acc = await _account(live, sandbox, 7401)
    uow = live.uow()
    async with uow:
        row_id = await enqueue(uow, user_acc, "test_bad_html", {})
        await uow.commit()
    note = await sandbox.wait_for_message(7400, timeout=5, after=0)
    assert "expertpanel outbox retry" in note["text"]
    [failed] = await rows(live, Outbox, Outbox.id == row_id)
    assert failed.status == OutboxStatus.FAILED and "400" in failed.last_error and failed.attempts == 1
    assert admin_acc


@renderer("test_document")
async def _document(core: Core, params: dict[str, object], lang: str) -> Rendered:
    return Rendered("月度报告 <b>10 月</b>", document=("report.csv", "专家,次数\nE000001,3\n".encode()))


@renderer("test_long")
async def _long(core: Core, params: dict[str, object], lang: str) -> Rendered:
    from bot.keyboards import rows as kb

    return Rendered("\n".join(f"第 {i} 行：" + "很长的内容" * 20 for i in range(60)), kb([("OK", "ok:1:go")]))


async def test_documents_and_long_texts(live: Core, sandbox: SandboxServer, notifier: Notifier) -> None:
    acc = await _account(live, sandbox, 7500)
    uow = live.uow()
    async with uow:
        await enqueue(uow, acc, "test_document", {})
        await enqueue(uow, acc, "test_long", {})
        await uow.commit()
    await _until(lambda: _count_is(live, "sent", 2), 10, "both sent")
    msgs = sandbox.chat_messages(7500)
    assert msgs[0]["document"]["file_name"] == "report.csv" and msgs[0]["caption"] == "月度报告 10 月"
    parts = msgs[1:]
    assert len(parts) >= 2 and all(len(m["text"]) <= 4096 for m in parts)
    assert parts[-1]["buttons"] and not any(m["buttons"] for m in parts[:-1])
    rows_ = await rows(live, Outbox, Outbox.account_id == acc)
    assert rows_[1].message_id == parts[-1]["message_id"]


async def test_term_buttons_only_for_that_expert(live: Core, sandbox: SandboxServer, notifier: Notifier) -> None:
    from telegram.ext import Application, ContextTypes

    from bot.context import BotContext, BotData
    from bot.handlers import reminders as reminder_handlers
    from core.db.models import Application as Appl, AuditEntry, Expert

    expert, other = await make_expert(live), await make_expert(live)
    sandbox.limits.configure(enabled=False)  # the handler's replies come right after each press
    async with live.sessions() as s:
        tg = await s.scalar(select(Account.telegram_id).where(Account.id == expert.account_id))
        other_tg = await s.scalar(select(Account.telegram_id).where(Account.id == other.account_id))
    sandbox.users.create(tg, "专家", language_code="zh")
    sandbox.users.create(other_tg, "别人", language_code="zh")
    uow = live.uow()
    async with uow:
        await enqueue(uow, expert.account_id, "term_expiry",  # type: ignore[arg-type]
                      {"expert_id": expert.id, "term_end": await _term_end(live, expert.id), "days": 30})
        await uow.commit()
    msg = await sandbox.wait_for_message(tg, timeout=5, after=0)
    app = (Application.builder().token(TOKEN).base_url(sandbox.base_url).base_file_url(sandbox.base_file_url)
           .context_types(ContextTypes(context=BotContext, bot_data=BotData)).updater(None).build())
    app.bot_data.core = live
    app.add_handlers(reminder_handlers.handlers())

    async def press(user: int, message_id: int, data: str, forge: bool = False) -> str:
        qid = await sandbox.user_press(user, message_id, data, forge=forge)
        for update in await app.bot.get_updates(timeout=0):
            await app.process_update(update)
            await app.bot.get_updates(offset=update.update_id + 1, timeout=0)
        return qid

    async with app:
        # someone else's press is refused and audited
        other_msg = await app.bot.send_message(other_tg, "x")
        forged = await press(other_tg, other_msg.message_id, f"term:{expert.id}:renew", forge=True)
        assert "不是您的" in (sandbox.callback_answer(forged) or {}).get("text", "")
        assert await rows(live, Appl, Appl.expert_id == expert.id) == []
        assert any(e.action == "security.refused" for e in await rows(live, AuditEntry))
        # the expert renews: an application for the bureau, the buttons go away
        qid = await press(tg, msg["message_id"], f"term:{expert.id}:renew")
        assert sandbox.callback_answer(qid) is not None
        [renewal] = await rows(live, Appl, Appl.expert_id == expert.id)
        assert renewal.kind == "renewal" and renewal.status == "submitted"
        assert sandbox.message(tg, msg["message_id"])["buttons"] in (None, [])  # type: ignore[index]
        assert any("续任申请" in (m["text"] or "") for m in sandbox.chat_messages(tg))
        # a second message's "do not renew", then "leave now"
        uow = live.uow()
        before = sandbox.world.seq  # the first message says "届满" too: wait for the new one
        async with uow:
            await enqueue(uow, expert.account_id, "term_expired", {"expert_id": expert.id, "term_end": "2026-12-01"})  # type: ignore[arg-type]
            await uow.commit()
        await sandbox.wait_for_message(tg, lambda m: "届满" in (m["text"] or ""), timeout=5, after=before)
        qid = await press(tg, msg["message_id"], f"term:{expert.id}:leave", forge=True)
        offer = sandbox.chat_messages(tg)[-1]
        assert [b["callback_data"] for line in offer["buttons"] for b in line] == [f"term:{expert.id}:quit"]
        await press(tg, offer["message_id"], f"term:{expert.id}:quit")
        [gone] = await rows(live, Expert, Expert.id == expert.id)
        assert gone.status == "withdrawn"


# --- the crash test ------------------------------------------------------------------------------

CHATS, PER_CHAT, KILLS = 60, 5, 10


@pytest.mark.slow
async def test_kill_9_at_random_moments_loses_nothing(db_url: str, sandbox: SandboxServer, live: Core) -> None:
    """300 notifications, the delivering process SIGKILLed at ≥10 random moments and restarted:
    every notification arrives at least once; duplicates are counted and reported."""
    accounts = [await _account(live, sandbox, 8000 + c) for c in range(CHATS)]
    await _queue(live, [(accounts[c], c * PER_CHAT + k) for k in range(PER_CHAT) for c in range(CHATS)])
    total = CHATS * PER_CHAT
    env = {**os.environ, "EXPERTPANEL_DATABASE__URL": db_url, "EXPERTPANEL_TELEGRAM__TOKEN": TOKEN,
           "EXPERTPANEL_TELEGRAM__BASE_URL": sandbox.base_url,
           "EXPERTPANEL_TELEGRAM__BASE_FILE_URL": sandbox.base_file_url,
           "EXPERTPANEL_DELIVERY__LEASE_SECONDS": "2", "PYTHONUNBUFFERED": "1"}
    env.pop("EXPERTPANEL_CONFIG", None)
    rnd = random.Random(int(os.environ.get("CRASH_SEED", "5")))

    def spawn() -> forked.Child:  # forked from a warm process: ~2.5 s less start-up per kill
        return forked.spawn(["--no-ticks"], module="bot.commands.scheduler", cwd=ROOT, env=env)

    def delivered() -> int:
        return sum(sandbox.stats()["delivered"].values())

    started = time.monotonic()
    kills = 0
    while kills < KILLS:
        proc = spawn()
        before = delivered()
        # wait until this process is sending, then kill it at a random moment
        t0 = time.monotonic()
        while delivered() == before and time.monotonic() - t0 < 10:  # in memory: no database polling
            await asyncio.sleep(0.02)
        await asyncio.sleep(rnd.uniform(0.0, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if not await _status_count(live, "pending"):
            break
    proc = spawn()
    try:
        await _until(lambda: _count_is(live, "pending", 0), 60, "the outbox to drain")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    seen: dict[int, int] = {}
    for c in range(CHATS):
        for i in _ids_in(sandbox, 8000 + c):
            seen[i] = seen.get(i, 0) + 1
    lost = [i for i in range(total) if i not in seen]
    twice = sum(1 for n in seen.values() if n > 1)
    elapsed = time.monotonic() - started
    print(f"\ncrash test: {total} notifications, {kills} × kill -9, {elapsed:.1f} s; "
          f"lost {len(lost)}, arrived twice {twice}, 429s {sandbox.stats()['flood_429']['total']}", file=sys.__stderr__)
    assert kills >= KILLS, "the outbox drained before ten kills; queue more"
    assert lost == []
    assert await _status_count(live, "sent") == total
    for c in range(CHATS):  # per chat, first copies arrive in order of creation
        ids = _ids_in(sandbox, 8000 + c)
        firsts = [i for n, i in enumerate(ids) if i not in ids[:n]]
        assert firsts == sorted(firsts)
    assert twice <= KILLS * 3


# --- live messages: one message per thread, edited in place -------------------------------------

FORGOTTEN: list[int] = []


@renderer("test_live")
async def _live_message(core: Core, params: dict[str, object], lang: str) -> Rendered:
    """A threaded kind for the tests (`THREADS["test_live"] = "subject"`); `edit` is an adapter's
    message (chat id, message id) as the panel status renderer gives it."""
    edit = params.get("edit")
    return Rendered(f"live {params['n']}", edit=tuple(edit) if edit else None,  # type: ignore[arg-type]
                    forget=lambda: _forget(int(params["n"])))  # type: ignore[arg-type]


async def _forget(n: int) -> None:
    FORGOTTEN.append(n)


async def _queue_live(core: Core, account_id: int, *ns: int, edit: tuple[int, int] | None = None) -> list[int]:
    uow = core.uow()
    async with uow:
        made = [await enqueue(uow, account_id, "test_live", {"subject": 1, "n": n, "edit": edit}) for n in ns]
        await uow.commit()
    return [m for m in made if m is not None]


async def _row(core: Core, outbox_id: int) -> Outbox:
    [row] = await rows(core, Outbox, Outbox.id == outbox_id)
    return row


async def _done(core: Core, outbox_id: int) -> bool:
    return (await _row(core, outbox_id)).status != OutboxStatus.PENDING


async def test_live_message_is_edited_in_place(live: Core, sandbox: SandboxServer, notifier: Notifier,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from core import outbox

    monkeypatch.setitem(outbox.THREADS, "test_live", "subject")
    FORGOTTEN.clear()
    chat = 7600
    acc = await _account(live, sandbox, chat)
    side = Bot(TOKEN, base_url=sandbox.base_url)
    adapter_old = (await side.send_message(chat, "adapter's old copy")).message_id

    def texts() -> list[str]:
        return [m["text"] for m in sandbox.chat_messages(chat)]

    # the first row sends; the next edits that message (ONE message, new text)
    [first] = await _queue_live(live, acc, 1)
    await _until(lambda: _done(live, first), 5, "the first live message")
    m1 = (await _row(live, first)).message_id
    assert m1 is not None and texts() == ["adapter's old copy", "live 1"]
    [second] = await _queue_live(live, acc, 2)
    await _until(lambda: _done(live, second), 5, "the edit")
    assert (await _row(live, second)).message_id == m1 and texts() == ["adapter's old copy", "live 2"]
    assert sandbox.message(chat, m1)["edit_date"]  # type: ignore[index]
    # unchanged content: "message is not modified" is a success
    [same] = await _queue_live(live, acc, 2)
    await _until(lambda: _done(live, same), 5, "the idempotent edit")
    assert (await _row(live, same)).status == OutboxStatus.SENT and notifier.stats.failed == 0
    # a burst of changes: the older rows are superseded, only the newest is shown
    burst = await _queue_live(live, acc, 3, 4, 5, 6)
    await _until(lambda: _done(live, burst[-1]), 5, "the burst")
    statuses = [(await _row(live, i)).status for i in burst]
    assert statuses == ["skipped"] * 3 + ["sent"] and texts() == ["adapter's old copy", "live 6"]
    # the message was deleted in the chat: the edit fails (400) and a new one is sent and remembered
    await side.delete_message(chat, m1)
    [gone] = await _queue_live(live, acc, 7)
    await _until(lambda: _done(live, gone), 5, "the fallback send")
    m2 = (await _row(live, gone)).message_id
    assert m2 is not None and m2 > m1 and texts() == ["adapter's old copy", "live 7"]
    [again] = await _queue_live(live, acc, 8)
    await _until(lambda: _done(live, again), 5, "the edit of the new message")
    assert (await _row(live, again)).message_id == m2 and texts() == ["adapter's old copy", "live 8"]
    # the adapter posted a newer copy (the handler's status message): edit it, delete ours
    adapter_new = (await side.send_message(chat, "adapter's new copy")).message_id
    [newer] = await _queue_live(live, acc, 9, edit=(chat, adapter_new))
    await _until(lambda: _done(live, newer), 5, "the adapter's message edited")
    assert (await _row(live, newer)).message_id == adapter_new
    assert texts() == ["adapter's old copy", "live 9"] and sandbox.message(chat, m2) is None
    assert FORGOTTEN == []
    # an adapter's copy older than ours is stale: deleted, and the renderer told to forget it
    [older] = await _queue_live(live, acc, 10, edit=(chat, adapter_old))
    await _until(lambda: _done(live, older), 5, "the stale adapter copy dropped")
    assert texts() == ["live 10"] and FORGOTTEN == [10]
    # the adapter's (newer) message is gone: forget it, send anew; our older copy is dropped too
    [missing] = await _queue_live(live, acc, 11, edit=(chat, adapter_new + 1000))
    await _until(lambda: _done(live, missing), 5, "the missing adapter copy")
    assert FORGOTTEN == [10, 11] and texts() == ["live 11"]
    assert (await _row(live, missing)).message_id == sandbox.chat_messages(chat)[-1]["message_id"]
    assert notifier.stats.failed == 0


async def test_approval_gives_the_new_expert_the_expert_menu(live: Core, sandbox: SandboxServer,
                                                             notifier: Notifier) -> None:
    from telegram import BotCommandScopeChat

    from core.services import accounts, enrolment
    from tests.support.people import form_data

    admin = await make_admin(live)
    chat = 7700
    sandbox.users.create(chat, "申请人", language_code="zh")
    roles = await accounts.touch_account(live.uow(), chat, "申请人")
    sub = await enrolment.submit_application(live.uow(), roles, form_data(3), commitment_accepted=True,
                                             sensitive_consent=True, unit_consent="单位同意",
                                             photo=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert sandbox.commands({"type": "chat", "chat_id": chat}) == []
    await enrolment.review(live.uow(), sub.application_id, approve=True, actor=admin.actor,
                           meeting="2026年第12次局务会")
    await sandbox.wait_for_message(chat, lambda m: "已通过" in (m["text"] or ""), timeout=5, after=0)

    async def menu_set() -> bool:
        return bool(sandbox.commands({"type": "chat", "chat_id": chat}))

    await _until(menu_set, 5, "the chat's command menu")
    commands = [c["command"] for c in sandbox.commands({"type": "chat", "chat_id": chat})]
    assert {"me", "invitations", "unavailable"} <= set(commands) and "start" in commands
    side = Bot(TOKEN, base_url=sandbox.base_url)
    assert [c.command for c in await side.get_my_commands(scope=BotCommandScopeChat(chat))] == commands
