"""Every unit / bureau / supervisor command and button, tried by each wrong role and with forged
or replayed data: refused politely, audited (`security.refused`), no exception, nothing changed."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from core.bootstrap import Core
from core.db.models import Application, DirectedSelection, Flag, Panel
from core.enums import PanelStatus
from core.services import accounts, enrolment, panels
from tests.e2e.conftest import BotRunner, ChatUser, People
from tests.e2e.support import bot_errors, refusals, settings, template  # noqa: F401  (fixtures)
from tests.factories import panel_form
from tests.support.people import form_data

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Cast:
    expert: ChatUser
    contact_a: ChatUser
    contact_b: ChatUser
    unbound: ChatUser
    admin: ChatUser
    supervisor: ChatUser
    panel_id: int
    short_panel_id: int
    directed_id: int
    application_id: int
    flag_id: int

    def who(self, name: str) -> ChatUser:
        return getattr(self, name)  # type: ignore[no-any-return]


@pytest.fixture
async def cast(core: Core, bot: BotRunner, people: People) -> Cast:
    expert = await people.expert(("eia",))
    for _ in range(2):
        await people.expert(("eia",))
    a, b = await people.contact("甲单位"), await people.contact("乙单位")
    assert a.roles is not None and b.roles is not None
    panel = await panels.request_panel(core.uow(), a.roles, panel_form(core))
    short = await panels.request_panel(core.uow(), a.roles, panel_form(core, fields=(("nuclear", None),)))
    assert short.status == PanelStatus.SHORT
    directed = await panels.apply_directed(core.uow(), a.roles, short.panel_id, "库内无核与辐射专家", 1)
    applicant = people.user()
    roles = await accounts.touch_account(core.uow(), applicant.id, "申请人")
    sub = await enrolment.submit_application(core.uow(), roles, form_data(3), commitment_accepted=True,
                                             sensitive_consent=True, unit_consent="单位同意", photo=PNG)
    async with core.sessions() as s:
        flag = Flag(expert_id=expert.roles.expert_id if expert.roles else None, kind="refusal_rule", status="open",
                    evidence={"rule": "art16_3"}, created_at=core.clock.now())
        s.add(flag)
        await s.flush()
        flag_id = flag.id
        await s.commit()
    return Cast(expert, a, b, people.user(), await people.admin(), await people.admin(supervisor=True),
                panel.panel_id, short.panel_id, directed, sub.application_id, flag_id)


async def _state(core: Core, c: Cast) -> tuple[Any, ...]:
    async with core.sessions() as s:
        return (
            await s.scalar(select(Panel.status).where(Panel.id == c.panel_id)),
            await s.scalar(select(Panel.status).where(Panel.id == c.short_panel_id)),
            await s.scalar(select(func.count()).select_from(Panel)),
            await s.scalar(select(DirectedSelection.status).where(DirectedSelection.id == c.directed_id)),
            await s.scalar(select(Application.status).where(Application.id == c.application_id)),
            await s.scalar(select(Flag.status).where(Flag.id == c.flag_id)),
        )


COMMANDS = [
    ("/request", ("expert", "unbound", "admin", "supervisor"), "使用单位联系人"),
    ("/panels", ("expert", "unbound", "supervisor"), "使用单位联系人"),
    ("/recommend", ("expert", "unbound", "admin"), "使用单位联系人"),
    ("/review", ("expert", "contact_a", "unbound", "supervisor"), "仅限生态环境局管理员"),
    ("/flags", ("expert", "contact_b", "unbound", "supervisor"), "仅限生态环境局管理员"),
    ("/roster", ("expert", "contact_a", "unbound"), "仅限监督人员"),
    ("/draws", ("expert", "contact_a", "unbound"), "仅限监督人员"),
]


async def test_commands_refuse_every_wrong_role(core: Core, cast: Cast) -> None:
    before = await _state(core, cast)
    for command, wrong, needle in COMMANDS:
        for name in wrong:
            n = len(await refusals(core))
            reply = await cast.who(name).send(command, expect=needle)
            assert needle in reply["text"], (command, name)
            assert len(await refusals(core)) == n + 1, (command, name)
    assert await _state(core, cast) == before and await bot_errors(core) == 0


def _buttons(c: Cast) -> list[tuple[str, tuple[str, ...]]]:
    p, sp, d, app, f = c.panel_id, c.short_panel_id, c.directed_id, c.application_id, c.flag_id
    return [
        (f"pnl:{p}:view", ("contact_b", "expert", "unbound")),
        (f"pnl:{p}:cancel", ("contact_b", "expert", "unbound")),
        (f"pnl:{sp}:dir", ("contact_b", "expert")),
        (f"pnl:{sp}:seats:1", ("contact_b",)),
        (f"rq:{p}:relax", ("contact_b", "expert", "unbound")),
        ("rq:0:submit", ("expert", "unbound")),
        (f"rev:{app}:view", ("contact_a", "expert", "unbound", "supervisor")),
        (f"rev:{app}:ok", ("contact_a", "expert", "supervisor")),
        (f"flg:{f}:close", ("contact_a", "expert", "supervisor")),
        (f"flg:{f}:view", ("contact_b", "unbound")),
        (f"dir:{d}:ok", ("contact_a", "expert", "supervisor")),
        (f"dir:{d}:no", ("contact_a", "unbound")),
        (f"dir:{d}:add", ("contact_b", "expert")),
        (f"drw:{p}:view", ("contact_a", "expert", "unbound")),
        (f"drw:{p}:verify", ("contact_b",)),
        # forged shapes and ids, by people who hold the right role
        ("pnl:abc:view", ("contact_a",)),
        (f"pnl:{p}:delete", ("contact_a",)),
        ("pnl:" + "9" * 70, ("contact_a",)),
        ("rev:999999:ok", ("admin",)),
        ("flg:999999:close", ("admin",)),
        ("dir:999999:ok", ("admin",)),
        ("dir:999999:add", ("contact_a",)),
        (f"drw:{p}:rewrite", ("supervisor",)),
        ("rq:0:hack", ("contact_a",)),
    ]


async def test_buttons_refuse_wrong_roles_and_forged_data(core: Core, cast: Cast) -> None:
    before = await _state(core, cast)
    anchors: dict[str, dict[str, Any]] = {}
    for name in ("expert", "contact_a", "contact_b", "unbound", "admin", "supervisor"):
        anchors[name] = await cast.who(name).send("/help", expect=lambda m: True)
    for data, wrong in _buttons(cast):
        for name in wrong:
            n = len(await refusals(core))
            answer = await cast.who(name).press_answer(anchors[name], data, forge=True)
            assert answer["text"] and answer["show_alert"], (data, name)
            assert len(await refusals(core)) == n + 1, (data, name, answer)
    assert await _state(core, cast) == before and await bot_errors(core) == 0


async def test_replayed_and_double_tapped_submit_creates_one_panel(core: Core, cast: Cast) -> None:
    unit = cast.contact_a
    summary = await unit.send(template(core), expect="确认提交")
    data = unit.button(summary, "确认提交")
    async with core.sessions() as s:
        count = await s.scalar(select(func.count()).select_from(Panel))
    ids = await asyncio.gather(*(unit.sandbox.user_press(unit.id, summary["message_id"], data) for _ in range(5)))
    for qid in ids:
        await unit.sandbox.wait_for_event(lambda e, q=qid: e.get("query_id") == q, 8, after=0, kinds=("callback_answer",))
    later = await unit.press_answer(summary, data, forge=True)  # the button is gone; replay the data
    assert "已经结束" in later["text"]
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Panel)) == count + 1
    assert await bot_errors(core) == 0


async def test_unit_cannot_read_another_units_panel_by_command_flow(core: Core, cast: Cast) -> None:
    """Contact B lists its own (empty) panels; A's panel never shows up, and its id is refused."""
    listing = await cast.contact_b.send("/panels", expect="还没有专家组")
    assert f"#{cast.panel_id}" not in listing["text"]
    n = len(await refusals(core))
    answer = await cast.contact_b.press_answer(listing, f"pnl:{cast.panel_id}:view", forge=True)
    assert "不是您单位" in answer["text"]
    audited = (await refusals(core))[n:]
    assert len(audited) == 1 and audited[0].subject_id == str(cast.panel_id)
