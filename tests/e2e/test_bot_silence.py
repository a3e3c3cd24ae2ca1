"""Silence, end to end: an invited expert never answers; at the deadline the scheduler's tick
expires the invitation (an unjustified refusal, Art. 16(3)), the next expert in the ranking is
invited in chat, accepts with the buttons, and the unit receives the confirmed roster."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.bootstrap import Core
from core.clock import ManualClock
from core.enums import InvitationStatus, PanelStatus
from core.scheduling import ticks
from tests.e2e.conftest import BotRunner, ChatUser, People
from tests.e2e.support import (  # noqa: F401  (fixtures)
    bot_errors,
    invitations,
    latest_panel,
    notifier,
    settings,
    template,
    until,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def _accept_in_chat(expert: ChatUser, inv_id: int) -> None:
    card = await until(lambda: [m for m in expert.messages() if f"inv:{inv_id}:acc" in str(m.get("buttons"))])
    pledges = await expert.press(card[-1], f"inv:{inv_id}:acc", expect="确认接受")
    await expert.press(pledges, f"inv:{inv_id}:acc_ok", expect="您已接受")


async def test_silence_expires_and_the_replacement_accepts_in_chat(core: Core, bot: BotRunner, people: People,
                                                                   clock: ManualClock, notifier: object) -> None:
    experts = [await people.expert(("eia",), name=f"环评专家{i}") for i in range(4)]
    by_id = {e.roles.expert_id: e for e in experts if e.roles is not None}
    unit = await people.contact()
    summary = await unit.send(template(core), expect="确认提交")
    await unit.press(summary, unit.button(summary, "确认提交"), expect="已提交专家组申请")
    panel = await latest_panel(core)
    assert panel is not None
    first = await invitations(core, panel.id)
    silent, *answering = first
    for inv in answering:
        await _accept_in_chat(by_id[inv.expert_id], inv.id)

    # Nothing happens before the deadline ...
    assert (await ticks.expire_invitations(core.uow())) == 0
    clock.set(silent.deadline + timedelta(minutes=1))
    # ... and exactly once after it.
    assert (await ticks.expire_invitations(core.uow())) == 1
    assert (await ticks.expire_invitations(core.uow())) == 0
    expired = (await invitations(core, panel.id, InvitationStatus.EXPIRED.value))
    assert [i.id for i in expired] == [silent.id] and expired[0].justified is False
    assert len(await people.audit("invitation.expire")) == 1

    pending = await invitations(core, panel.id, InvitationStatus.PENDING.value)
    assert len(pending) == 1 and pending[0].replacement_of == silent.id
    newcomer = by_id[pending[0].expert_id]
    assert newcomer not in (by_id[i.expert_id] for i in first)
    await _accept_in_chat(newcomer, pending[0].id)

    roster = await until(lambda: [m for m in unit.messages() if "已组建完成" in (m["text"] or "")])
    accepted = {i.expert_id for i in await invitations(core, panel.id, InvitationStatus.ACCEPTED.value)}
    assert len(accepted) == 3 and silent.expert_id not in accepted
    name = {e.roles.expert_id: f"环评专家{n}" for n, e in enumerate(experts) if e.roles is not None}
    assert all(name[i] in roster[0]["text"] for i in accepted)
    assert name[silent.expert_id] not in roster[0]["text"]
    final = await latest_panel(core)
    assert final is not None and final.status == PanelStatus.CONFIRMED.value
    assert await bot_errors(core) == 0
