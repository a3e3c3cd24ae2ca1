"""End-to-end fixtures: the REAL Application (bot.commands.run.serve) long-polling the sandbox Bot
API stand-in over 127.0.0.1, on the test database. No network beyond loopback.

    async def test_x(bot: BotRunner, people: People) -> None:
        alice = await people.expert()                 # an expert with a bound chat account
        reply = await alice.send("/me", expect="我的资料")
        msg = await alice.press(reply, reply["buttons"][0][0]["callback_data"], expect="…")

`bot.restart()` builds a new Application on the same database (a process restart).
`people.deliver(bot)` sends what the outbox holds (as the notifier would); `people.audit(action)`
lists audit entries; `ChatUser.button(message, "label")` finds a button's callback data.
"""
from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import pytest
from sqlalchemy import select

from bot.commands.run import Outcome, serve
from bot.context import BotApplication
from bot.outbox_render import render
from bot.sandbox import SandboxServer
from core.bootstrap import Core
from core.config import Settings
from core.db.models import Account, AuditEntry, Outbox
from core.enums import OutboxStatus
from core.services.accounts import Roles

TOKEN = "424243:EXPERTPANEL-e2e"
Expect = str | Callable[[dict[str, Any]], bool] | None
_user_ids = itertools.count(7_000_001)


@pytest.fixture
def settings(db_url: str) -> Settings:
    """The test database, plus a token so the Application can be built."""
    return Settings(database={"url": db_url}, telegram={"token": TOKEN})  # type: ignore[arg-type]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    server = SandboxServer(token=TOKEN)
    server.limits.configure(enabled=False)  # conversations, not flood control, are tested here
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert server.internal_errors == []


class BotRunner:
    """Runs `serve()` as a task; `restart()` is a process restart (new Application, same DB)."""

    def __init__(self, core: Core, sandbox: SandboxServer) -> None:
        self.core, self.sandbox = core, sandbox
        self.app: BotApplication | None = None
        self._task: asyncio.Task[Outcome] | None = None
        self._stop = asyncio.Event()

    async def start(self, **options: Any) -> None:
        self._stop = asyncio.Event()
        ready, apps = asyncio.Event(), []  # type: ignore[var-annotated]
        opts = {"rate_limit": False, "poll_timeout": 1.0, "startup_window": 0.0, "background": False, **options}
        self._task = asyncio.create_task(serve(
            self.core, stop=self._stop, base_url=self.sandbox.base_url, base_file_url=self.sandbox.base_file_url,
            ready=ready, app_out=apps, **opts))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait([waiter, self._task], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            raise RuntimeError(f"the bot did not start: {self._task.result()}")
        self.app = apps[0]

    async def stop(self) -> Outcome:
        assert self._task is not None
        self._stop.set()
        outcome = await asyncio.wait_for(self._task, 15)
        self._task = None
        return outcome

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def bot(core: Core, sandbox: SandboxServer) -> AsyncIterator[BotRunner]:
    runner = BotRunner(core, sandbox)
    await runner.start()
    try:
        yield runner
    finally:
        if runner._task is not None:
            await runner.stop()


def _matcher(expect: Expect) -> Callable[[dict[str, Any]], bool] | None:
    if expect is None or callable(expect):
        return expect
    return lambda m: expect in (m.get("text") or "")


def callback_data(message: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for row in message.get("buttons") or [] for b in row if "callback_data" in b]


def button(message: dict[str, Any], label_part: str) -> str:
    """The callback data of the first button whose label contains `label_part`."""
    for row in message.get("buttons") or []:
        for b in row:
            if label_part in b.get("text", "") and "callback_data" in b:
                return str(b["callback_data"])
    raise AssertionError(f"no button containing {label_part!r} in {message.get('buttons')}")


@dataclass
class ChatUser:
    """A simulated Telegram user talking to the bot through the sandbox."""

    sandbox: SandboxServer
    id: int
    account_id: int | None = None
    roles: Roles | None = None

    async def send(self, text: str, expect: Expect = None, timeout: float = 8.0) -> dict[str, Any]:
        """Send text; return the first bot message or edit after it that matches `expect`."""
        cursor = self.sandbox.cursor()
        await self.sandbox.user_send_text(self.id, text)
        return await self.sandbox.wait_for_message(self.id, _matcher(expect), timeout, after=cursor)

    async def send_photo(self, data: bytes, expect: Expect = None, timeout: float = 8.0) -> dict[str, Any]:
        cursor = self.sandbox.cursor()
        await self.sandbox.user_send_photo(self.id, data)
        return await self.sandbox.wait_for_message(self.id, _matcher(expect), timeout, after=cursor)

    async def send_document(self, data: bytes, file_name: str, mime_type: str | None = None, expect: Expect = None,
                            timeout: float = 8.0) -> dict[str, Any]:
        cursor = self.sandbox.cursor()
        await self.sandbox.user_send_document(self.id, data, file_name=file_name, mime_type=mime_type)
        return await self.sandbox.wait_for_message(self.id, _matcher(expect), timeout, after=cursor)

    async def press(self, message: dict[str, Any], data: str, expect: Expect = None, *, forge: bool = False,
                    timeout: float = 8.0) -> dict[str, Any]:
        """Press a button; return the first bot message or edit after it matching `expect`."""
        cursor = self.sandbox.cursor()
        await self.sandbox.user_press(self.id, message["message_id"], data, forge=forge)
        return await self.sandbox.wait_for_message(self.id, _matcher(expect), timeout, after=cursor)

    async def press_answer(self, message: dict[str, Any], data: str, *, forge: bool = False,
                           timeout: float = 8.0) -> dict[str, Any]:
        """Press a button; return the callback answer (text, show_alert) once the bot gave it."""
        query_id = await self.sandbox.user_press(self.id, message["message_id"], data, forge=forge)
        await self.sandbox.wait_for_event(lambda e: e.get("query_id") == query_id, timeout, after=0,
                                          kinds=("callback_answer",))
        answer = self.sandbox.callback_answer(query_id)
        assert answer is not None
        return answer

    button = staticmethod(lambda message, label_part: button(message, label_part))
    buttons = staticmethod(lambda message: callback_data(message))

    def messages(self) -> list[dict[str, Any]]:
        return [m for m in self.sandbox.chat_messages(self.id) if m["from"] == "bot"]

    def message(self, message_id: int) -> dict[str, Any]:
        found = self.sandbox.message(self.id, message_id)
        assert found is not None
        return found


class People:
    """Simulated users, unbound or bound to roles in the test database."""

    def __init__(self, core: Core, sandbox: SandboxServer) -> None:
        self.core, self.sandbox = core, sandbox

    def user(self, *, language_code: str = "zh", first_name: str = "测试") -> ChatUser:
        uid = next(_user_ids)
        self.sandbox.users.create(uid, first_name, language_code=language_code)
        return ChatUser(self.sandbox, uid)

    async def _bind(self, roles: Roles, language_code: str) -> ChatUser:
        async with self.core.sessions() as s:
            telegram_id = await s.scalar(select(Account.telegram_id).where(Account.id == roles.account_id))
        assert telegram_id is not None
        if telegram_id not in self.sandbox.users:
            self.sandbox.users.create(telegram_id, "专家", language_code=language_code)
        return ChatUser(self.sandbox, telegram_id, roles.account_id, roles)

    async def expert(self, fields: tuple[str, ...] = ("eia",), *, language_code: str = "zh", **kw: Any) -> ChatUser:
        """An active expert (tests/factories.make_expert) whose chat account is this sandbox user."""
        from tests.factories import make_expert

        made = await make_expert(self.core, fields, **kw)
        return await self._bind(made.roles, language_code)

    async def contact(self, unit_name: str | None = None, *, language_code: str = "zh") -> ChatUser:
        from tests.factories import make_unit_contact

        return await self._bind(await make_unit_contact(self.core, unit_name), language_code)

    async def admin(self, *, supervisor: bool = False, language_code: str = "zh") -> ChatUser:
        from tests.factories import make_admin

        return await self._bind(await make_admin(self.core, supervisor=supervisor), language_code)


    async def deliver(self, runner: BotRunner, account_id: int | None = None) -> list[dict[str, Any]]:
        return await deliver(self.core, runner, account_id)

    async def audit(self, action: str | None = None) -> list[AuditEntry]:
        return await audit_actions(self.core, action)


@pytest.fixture
def people(core: Core, sandbox: SandboxServer) -> People:
    return People(core, sandbox)


async def deliver(core: Core, runner: BotRunner, account_id: int | None = None) -> list[dict[str, Any]]:
    """Send the pending outbox rows (of one account, or all people who have a sandbox chat) the
    way the notifier would; returns the sandbox views of the messages sent. Marks the rows sent."""
    assert runner.app is not None
    sent: list[dict[str, Any]] = []
    async with core.sessions() as s:  # read, then close: rendering opens its own transactions
        q = select(Outbox.id, Outbox.kind, Outbox.params, Account.telegram_id, Account.language).join(
            Account, Account.id == Outbox.account_id).where(Outbox.status == OutboxStatus.PENDING.value).order_by(Outbox.id)
        if account_id is not None:
            q = q.where(Outbox.account_id == account_id)
        rows = (await s.execute(q)).all()
    done: dict[int, str] = {}
    for oid, kind, params, telegram_id, language in rows:
        if telegram_id not in runner.sandbox.users:
            continue  # a person without a simulated chat (e.g. a factory-made contact)
        rendered = await render(core, kind, params, language or "zh")
        done[oid] = OutboxStatus.SKIPPED.value if rendered.skip else OutboxStatus.SENT.value
        if rendered.skip:
            continue
        msg = await runner.app.bot.send_message(telegram_id, rendered.text, reply_markup=rendered.reply_markup)
        view = runner.sandbox.message(telegram_id, msg.message_id)
        assert view is not None
        sent.append(view)
    async with core.sessions() as s:
        for oid, status in done.items():
            row = await s.get(Outbox, oid)
            assert row is not None
            row.status = status
        await s.commit()
    return sent


async def audit_actions(core: Core, action: str | None = None) -> list[AuditEntry]:
    async with core.sessions() as s:
        q = select(AuditEntry).order_by(AuditEntry.seq)
        if action is not None:
            q = q.where(AuditEntry.action == action)
        return list((await s.scalars(q)).all())
