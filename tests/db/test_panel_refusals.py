"""Art. 16(3) on a real database: three consecutive unjustified refusals within a year raise a
flag for the bureau; a served invitation or a justified decline breaks the streak; a recusal
neither counts nor breaks; refusals spread over more than a year do not fire."""
from __future__ import annotations

from datetime import timedelta

from core.bootstrap import Core
from core.db.models import AuditEntry, Flag, Invitation
from core.enums import FlagKind, FlagStatus, InvitationStatus
from core.services import panels
from tests.factories import MadeExpert, make_admin, make_expert, make_unit_contact, outbox_kinds, panel_form, rows

YES = {"unit_consent": True, "no_conflict": True, "confidentiality": True}


class Streak:
    """One target expert and two companions in a field nobody else holds: every panel in that
    field invites all three, so each new panel is one more invitation for the target."""

    def __init__(self, core: Core, target: MadeExpert, contact: object) -> None:
        self.core, self.target, self.contact = core, target, contact
        self.n = 0

    async def invite(self) -> Invitation:
        self.n += 1
        res = await panels.request_panel(self.core.uow(), self.contact, panel_form(  # type: ignore[arg-type]
            self.core, fields=[("climate", None)], starts_in=timedelta(days=10 + self.n * 2)))
        invs = await rows(self.core, Invitation, Invitation.panel_id == res.panel_id,
                          Invitation.expert_id == self.target.id)
        assert len(invs) == 1
        return invs[0]

    async def refuse(self, how: str = "other") -> Invitation:
        inv = await self.invite()
        if how == "expire":
            self.core.clock.advance(timedelta(days=6))  # type: ignore[attr-defined]
            await panels.expire_overdue(self.core.uow())
        else:
            await panels.decline(self.core.uow(), self.target.roles, inv.id, how, "不想去" if how == "other" else "")
        return inv

    async def serve(self) -> Invitation:
        inv = await self.invite()
        await panels.accept(self.core.uow(), self.target.roles, inv.id, **YES)
        return inv

    async def recuse(self) -> Invitation:
        inv = await self.invite()
        await panels.declare_conflict(self.core.uow(), self.target.roles, inv.id, None, "亲属在项目单位")
        return inv

    async def flags(self) -> list[Flag]:
        return await rows(self.core, Flag, Flag.expert_id == self.target.id)


async def streak(core: Core) -> Streak:
    target = await make_expert(core, ["climate"])
    for _ in range(2):
        await make_expert(core, ["climate"])
    return Streak(core, target, await make_unit_contact(core))


async def test_third_unjustified_refusal_raises_a_flag(core: Core) -> None:
    admin = await make_admin(core)
    s = await streak(core)
    a = await s.refuse()
    b = await s.refuse("expire")
    assert await s.flags() == []
    c = await s.refuse()
    flags = await s.flags()
    assert len(flags) == 1
    flag = flags[0]
    assert flag.kind == FlagKind.REFUSAL_RULE and flag.status == FlagStatus.OPEN
    assert [e["invitation_id"] for e in flag.evidence["invitations"]] == [a.id, b.id, c.id]
    assert [e["kind"] for e in flag.evidence["invitations"]] == ["declined_unjustified", "no_answer",
                                                                 "declined_unjustified"]
    assert "flag_raised" in await outbox_kinds(core, admin.account_id)
    assert any(e.action == "flag.raise" for e in await rows(core, AuditEntry))
    # A fourth refusal while the flag is open adds no second flag; the decision stays human.
    await s.refuse()
    assert len(await s.flags()) == 1


async def test_a_served_invitation_breaks_the_streak(core: Core) -> None:
    s = await streak(core)
    await s.refuse()
    await s.refuse()
    await s.serve()
    await s.refuse()
    await s.refuse()
    assert await s.flags() == []
    await s.refuse()
    assert len(await s.flags()) == 1


async def test_a_justified_decline_breaks_and_a_recusal_is_neutral(core: Core) -> None:
    s = await streak(core)
    await s.refuse()
    await s.refuse("schedule")  # justified: breaks
    await s.refuse()
    await s.recuse()  # neither counts nor breaks
    await s.refuse()
    assert await s.flags() == []
    await s.refuse()
    assert len(await s.flags()) == 1


async def test_refusals_spread_over_more_than_a_year_do_not_fire(core: Core) -> None:
    s = await streak(core)
    await s.refuse()
    core.clock.advance(timedelta(days=200))  # type: ignore[attr-defined]
    await s.refuse()
    core.clock.advance(timedelta(days=200))  # type: ignore[attr-defined]
    await s.refuse()
    assert await s.flags() == []


async def test_withdrawal_and_no_show_count(core: Core) -> None:
    s = await streak(core)
    inv = await s.serve()
    await panels.withdraw_acceptance(core.uow(), s.target.roles, inv.id, "临时不想去")
    served = await s.serve()
    core.clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
    uow = core.uow()
    async with uow:
        assert await panels.record_no_show(uow, served.id, "account:1") is None
        await uow.commit()
    assert (await rows(core, Invitation, Invitation.id == served.id))[0].status == InvitationStatus.ACCEPTED
    await s.refuse()
    assert len(await s.flags()) == 1
    kinds = [e["kind"] for e in (await s.flags())[0].evidence["invitations"]]
    assert kinds == ["withdrawn_unjustified", "no_show", "declined_unjustified"]
