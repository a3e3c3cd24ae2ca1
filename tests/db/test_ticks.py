"""Every reminder with an injected clock: due exactly once, never before, nothing for cancelled
panels or withdrawn experts; and a restart that slept through due points fires each once."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select, update

from core.bootstrap import Core, build_core
from core.clock import ManualClock
from core.db.models import Account, Expert, Invitation, Outbox, Panel
from core.enums import ExpertStatus, InvitationStatus, PanelStatus
from core.scheduling import reminders, terms
from core.scheduling.scheduler import Scheduler
from core.scheduling.ticks import run_tick
from core.services import audit, enrolment, evaluation, panels
from core.services.accounts import Roles
from tests.factories import make_admin, make_expert, make_unit_contact, panel_form, rows

TZ_SHANGHAI = timezone(timedelta(hours=8))


async def sent(core: Core, kind: str) -> list[Outbox]:
    return await rows(core, Outbox, Outbox.kind == kind)


async def tick(core: Core) -> dict[str, int]:
    report = await run_tick(core)
    assert report.errors == {}
    return report.counts


async def _panel(core: Core, n_experts: int = 3, **form: object) -> tuple[int, list[Invitation], object]:
    contact = await make_unit_contact(core)
    for _ in range(n_experts):
        await make_expert(core, ["eia"])
    res = await panels.request_panel(core.uow(), contact, panel_form(core, **form))  # type: ignore[arg-type]
    return res.panel_id, await rows(core, Invitation, Invitation.panel_id == res.panel_id), contact


async def _accept_all(core: Core, invs: list[Invitation]) -> None:
    for inv in invs:
        async with core.sessions() as s:
            acc = await s.scalar(select(Account.id).where(Account.expert_id == inv.expert_id))
        roles = Roles(acc, inv.expert_id, None, None, False, False, None)  # type: ignore[arg-type]
        await panels.accept(core.uow(), roles, inv.id, unit_consent=True, no_conflict=True, confidentiality=True)


# --- invitations -------------------------------------------------------------------------------

async def test_nudge_at_half_the_response_time_once(core: Core, clock: ManualClock) -> None:
    panel_id, invs, _ = await _panel(core, deadline_in=timedelta(days=4))
    clock.advance(timedelta(days=2) - timedelta(seconds=1))
    await tick(core)
    assert await sent(core, "invitation_nudge") == []  # not before
    clock.advance(timedelta(seconds=1))
    await tick(core)
    nudges = await sent(core, "invitation_nudge")
    assert sorted(n.params["invitation_id"] for n in nudges) == sorted(i.id for i in invs)
    assert {"title", "deadline", "location", "starts_at"} <= set(nudges[0].params)
    clock.advance(timedelta(hours=1))
    await tick(core)
    assert len(await sent(core, "invitation_nudge")) == 3  # exactly once
    assert all(i.nudged_at is not None for i in await rows(core, Invitation, Invitation.panel_id == panel_id))


async def test_no_nudge_for_answered_invitations(core: Core, clock: ManualClock) -> None:
    _, invs, _ = await _panel(core, deadline_in=timedelta(days=4))
    await _accept_all(core, invs[:2])
    clock.advance(timedelta(days=2))
    await tick(core)
    assert [n.params["invitation_id"] for n in await sent(core, "invitation_nudge")] == [invs[2].id]


async def test_deadline_expires_the_invitation_and_draws_a_replacement(core: Core, clock: ManualClock) -> None:
    panel_id, invs, _ = await _panel(core, n_experts=4, deadline_in=timedelta(days=2))
    await _accept_all(core, invs[:2])
    clock.advance(timedelta(days=2) - timedelta(seconds=1))
    assert (await tick(core))["expire_invitations"] == 0
    clock.advance(timedelta(seconds=1))
    assert (await tick(core))["expire_invitations"] == 1
    assert (await tick(core))["expire_invitations"] == 0
    late = (await rows(core, Invitation, Invitation.id == invs[2].id))[0]
    assert late.status == InvitationStatus.EXPIRED and late.justified is False
    assert len(await rows(core, Invitation, Invitation.replacement_of == late.id)) == 1


# --- meetings ----------------------------------------------------------------------------------

async def test_meeting_reminders_24h_and_2h_before(core: Core, clock: ManualClock) -> None:
    panel_id, invs, _ = await _panel(core, starts_in=timedelta(days=3), deadline_in=timedelta(days=1))
    await _accept_all(core, invs)
    start = (await rows(core, Panel, Panel.id == panel_id))[0].starts_at
    clock.set(start - timedelta(hours=24, seconds=1))
    await tick(core)
    assert await sent(core, "meeting_reminder") == []
    clock.set(start - timedelta(hours=24))
    await tick(core)
    await tick(core)
    first = await sent(core, "meeting_reminder")
    assert sorted(m.params["invitation_id"] for m in first) == sorted(i.id for i in invs)
    assert first[0].params["location"] == "局三楼会议室" and first[0].params["starts_at"] == start.isoformat()
    clock.set(start - timedelta(hours=2, seconds=1))
    await tick(core)
    assert len(await sent(core, "meeting_reminder")) == 3
    clock.set(start - timedelta(hours=2))
    await tick(core)
    clock.set(start - timedelta(minutes=5))
    await tick(core)
    assert len(await sent(core, "meeting_reminder")) == 6
    clock.set(start + timedelta(minutes=5))
    await tick(core)
    assert len(await sent(core, "meeting_reminder")) == 6


async def test_accepting_after_the_24h_point_gets_only_the_2h_reminder(core: Core, clock: ManualClock) -> None:
    panel_id, invs, _ = await _panel(core, starts_in=timedelta(days=3), deadline_in=timedelta(days=2, hours=12))
    start = (await rows(core, Panel, Panel.id == panel_id))[0].starts_at
    clock.set(start - timedelta(hours=20))
    await _accept_all(core, invs)
    await tick(core)
    assert await sent(core, "meeting_reminder") == []
    clock.set(start - timedelta(hours=2))
    await tick(core)
    assert len(await sent(core, "meeting_reminder")) == 3


async def test_nothing_for_a_cancelled_panel(core: Core, clock: ManualClock) -> None:
    panel_id, invs, contact = await _panel(core, starts_in=timedelta(days=3), deadline_in=timedelta(days=2))
    await _accept_all(core, invs[:2])
    await panels.cancel_panel(core.uow(), contact, panel_id, "项目撤回")  # type: ignore[arg-type]
    # and one whose status alone says cancelled (invitations untouched): the rules check the panel
    panel2, invs2, _ = await _panel(core, starts_in=timedelta(days=3), deadline_in=timedelta(days=2))
    await _accept_all(core, invs2[:2])
    async with core.sessions() as s:
        await s.execute(update(Panel).where(Panel.id == panel2).values(status=PanelStatus.CANCELLED.value))
        await s.commit()
    for hours in (60, 47, 24, 2, -4, -24 * 4, -24 * 8):
        clock.set((await rows(core, Panel, Panel.id == panel_id))[0].starts_at - timedelta(hours=hours))
        await tick(core)
    for kind in ("invitation_nudge", "meeting_reminder", "evaluation_prompt", "evaluation_followup"):
        assert await sent(core, kind) == [], kind


async def test_nothing_for_a_withdrawn_expert(core: Core, clock: ManualClock) -> None:
    panel_id, invs, _ = await _panel(core, n_experts=3, starts_in=timedelta(days=3), deadline_in=timedelta(days=2))
    await _accept_all(core, invs[:1])
    gone = [invs[0].expert_id, invs[1].expert_id]
    for expert_id in gone:
        await enrolment.withdraw(core.uow(), expert_id, "test")
    # An expert withdrawn with a term about to end gets no term notice either.
    leaving = await make_expert(core, term_end=clock.now().date() + timedelta(days=10))
    await enrolment.withdraw(core.uow(), leaving.id, "test")
    start = (await rows(core, Panel, Panel.id == panel_id))[0].starts_at
    for at in (start - timedelta(hours=47), start - timedelta(hours=24), start - timedelta(hours=2),
               start + timedelta(days=1), start + timedelta(days=8)):
        clock.set(at)
        await tick(core)
    touched = {m.params.get("invitation_id") for k in ("invitation_nudge", "meeting_reminder") for m in await sent(core, k)}
    assert not touched & {invs[0].id, invs[1].id}
    assert await sent(core, "term_expiry") == [] and await sent(core, "term_expired") == []
    for expert_id in gone + [leaving.id]:
        assert (await rows(core, Expert, Expert.id == expert_id))[0].status == ExpertStatus.WITHDRAWN


# --- evaluations -------------------------------------------------------------------------------

async def test_evaluation_prompt_after_the_end_then_follow_ups(core: Core, clock: ManualClock) -> None:
    panel_id, invs, contact = await _panel(core, starts_in=timedelta(days=3), deadline_in=timedelta(days=1))
    await _accept_all(core, invs)
    panel = (await rows(core, Panel, Panel.id == panel_id))[0]
    assert panel.status == PanelStatus.CONFIRMED
    clock.set(panel.ends_at - timedelta(seconds=1))
    await tick(core)
    assert await sent(core, "evaluation_prompt") == []
    clock.set(panel.ends_at)
    await tick(core)
    await tick(core)
    assert (await rows(core, Panel, Panel.id == panel_id))[0].status == PanelStatus.COMPLETED
    prompts = await sent(core, "evaluation_prompt")
    assert sorted(p.params["invitation_id"] for p in prompts) == sorted(i.id for i in invs)
    assert {p.account_id for p in prompts} == {contact.account_id}  # type: ignore[attr-defined]
    assert set(prompts[0].params) == {"panel_id", "expert_id", "invitation_id"}
    # The unit rates one expert completely; the follow-ups are for the other two only.
    await evaluation.record(core.uow(), contact, invs[0].id, professional=5, attitude=4, quality=5,  # type: ignore[arg-type]
                            attendance="present")
    clock.set(panel.ends_at + timedelta(days=3) - timedelta(seconds=1))
    await tick(core)
    assert await sent(core, "evaluation_followup") == []
    clock.set(panel.ends_at + timedelta(days=3))
    await tick(core)
    f3 = await sent(core, "evaluation_followup")
    assert sorted(f.params["invitation_id"] for f in f3) == sorted(i.id for i in invs[1:])
    assert {f.params["days"] for f in f3} == {3}
    clock.set(panel.ends_at + timedelta(days=7))
    await tick(core)
    await tick(core)
    assert sorted(f.params["days"] for f in await sent(core, "evaluation_followup")) == [3, 3, 7, 7]
    clock.set(panel.ends_at + timedelta(days=30))
    await tick(core)
    assert len(await sent(core, "evaluation_followup")) == 4 and len(await sent(core, "evaluation_prompt")) == 3


# --- terms -------------------------------------------------------------------------------------

def _local_morning(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), TZ_SHANGHAI).astimezone(timezone.utc)


async def test_term_notices_60_30_7_days_then_expiry(core: Core, clock: ManualClock) -> None:
    admin = await make_admin(core)
    today = core.uow().today()
    expert = await make_expert(core, term_end=today + timedelta(days=61))
    await tick(core)
    assert await sent(core, "term_expiry") == []
    for left, count in ((60, 1), (45, 1), (30, 2), (8, 2), (7, 3), (0, 3)):
        clock.set(_local_morning(today + timedelta(days=61 - left)))
        await tick(core)
        await tick(core)
        notices = await sent(core, "term_expiry")
        assert len(notices) == count, left
    assert [n.params["days"] for n in notices] == [60, 30, 7]
    assert notices[0].params == {"expert_id": expert.id, "term_end": (today + timedelta(days=61)).isoformat(), "days": 60}
    assert (await rows(core, Expert, Expert.id == expert.id))[0].status == ExpertStatus.ACTIVE  # the last day still counts
    clock.set(_local_morning(today + timedelta(days=62)))
    await tick(core)
    await tick(core)
    assert (await rows(core, Expert, Expert.id == expert.id))[0].status == ExpertStatus.EXPIRED
    assert [m.account_id for m in await sent(core, "term_expired")] == [expert.account_id]
    told = await sent(core, "term_expired_admin")
    assert [m.account_id for m in told] == [admin.account_id] and told[0].params["code"] == expert.code
    # Expired experts can ask for a renewal; it goes to the bureau's review.
    app_id = await enrolment.request_renewal(core.uow(), expert.id, "test")
    assert app_id > 0 and len(await sent(core, "renewal_requested")) == 1


async def test_no_term_notice_while_a_renewal_is_pending(core: Core, clock: ManualClock) -> None:
    today = core.uow().today()
    expert = await make_expert(core, term_end=today + timedelta(days=40))
    await enrolment.request_renewal(core.uow(), expert.id, "test")
    await tick(core)
    assert await sent(core, "term_expiry") == []
    assert not await reminders.still_relevant(core.uow(), "term_expiry", {"expert_id": expert.id,
                                                                          "term_end": (today + timedelta(days=40)).isoformat()})


# --- the regulation and the digest -------------------------------------------------------------

async def test_regulation_warnings_90_and_30_days_before_it_lapses(core: Core, clock: ManualClock) -> None:
    admins = [await make_admin(core) for _ in range(2)]
    lapses = terms.regulation_lapses_on("2025-06-05", 5)
    assert lapses == date(2030, 6, 5)
    clock.set(_local_morning(lapses - timedelta(days=91)))
    await tick(core)
    assert await sent(core, "regulation_expiry") == []
    for days_before, count in ((90, 2), (60, 2), (30, 4), (1, 4), (-1, 4)):
        clock.set(_local_morning(lapses - timedelta(days=days_before)))
        await tick(core)
        await tick(core)
        assert len(await sent(core, "regulation_expiry")) == count, days_before
    warnings_ = await sent(core, "regulation_expiry")
    assert sorted(w.account_id for w in warnings_) == sorted([a.account_id for a in admins] * 2)
    assert sorted({w.params["days"] for w in warnings_}) == [30, 90]


async def test_daily_digest_once_a_day_from_the_digest_hour(core: Core, clock: ManualClock) -> None:
    admin = await make_admin(core)
    await _panel(core, n_experts=1)  # a short panel: 3 seats, 1 expert
    day = core.uow().today() + timedelta(days=1)
    clock.set(datetime.combine(day, time(7, 59), TZ_SHANGHAI))
    await tick(core)
    assert await sent(core, "daily_digest") == []
    clock.set(datetime.combine(day, time(8, 0), TZ_SHANGHAI))
    await tick(core)
    clock.set(datetime.combine(day, time(23, 0), TZ_SHANGHAI))
    await tick(core)
    [digest] = await sent(core, "daily_digest")
    assert digest.account_id == admin.account_id
    p = digest.params
    assert p["panels_short"] == 1 and p["pending_reviews"] == 0 and p["date"] == day.isoformat()
    seq, head = await audit.head(core.uow())
    assert p["audit_seq"] <= seq and len(p["audit_head"]) == 64
    clock.set(datetime.combine(day + timedelta(days=1), time(8, 30), TZ_SHANGHAI))
    await tick(core)
    assert len(await sent(core, "daily_digest")) == 2


# --- restart and concurrency -------------------------------------------------------------------

async def test_what_fell_due_while_down_fires_once_after_restart(core: Core, clock: ManualClock, settings) -> None:  # type: ignore[no-untyped-def]
    admin = await make_admin(core)
    today = core.uow().today()
    meeting, m_invs, _ = await _panel(core, starts_in=timedelta(days=3), deadline_in=timedelta(days=1))
    await _accept_all(core, m_invs)
    late, l_invs, _ = await _panel(core, n_experts=3, starts_in=timedelta(days=10), deadline_in=timedelta(days=2))
    expert = await make_expert(core, term_end=today + timedelta(days=32))
    start = (await rows(core, Panel, Panel.id == meeting))[0].starts_at
    # The process is down from now until 1 h before the meeting: both reminders, the nudges and the
    # deadline of the other panel, two term-notice slots and the digests fell due meanwhile.
    await core.close()
    clock.set(start - timedelta(hours=1))
    restarted = build_core(settings, clock)
    try:
        sched = Scheduler(restarted, tick_seconds=3600)
        await asyncio.gather(sched.tick(), run_tick(restarted))  # two ticks at once: still once each
        await sched.tick()
        assert sched.last_report is not None and sched.last_report.errors == {}
        reminders_ = await sent(restarted, "meeting_reminder")
        assert sorted(m.params["invitation_id"] for m in reminders_) == sorted(i.id for i in m_invs)
        assert {m.params["hours"] for m in reminders_} == {2.0}
        expired = await rows(restarted, Invitation, Invitation.panel_id == late,
                             Invitation.status == InvitationStatus.EXPIRED.value)
        assert sorted(i.id for i in expired) == sorted(i.id for i in l_invs)
        assert await sent(restarted, "invitation_nudge") == []  # the deadline passed: no stale nudge
        [notice] = await sent(restarted, "term_expiry")
        assert notice.account_id == expert.account_id and notice.params["days"] < 30
        assert len(await sent(restarted, "daily_digest")) == 1
        assert [d.account_id for d in await sent(restarted, "daily_digest")] == [admin.account_id]
    finally:
        await restarted.close()


async def test_scheduler_ticks_on_its_own_and_stops(core: Core, clock: ManualClock) -> None:
    await make_admin(core)
    sched = Scheduler(core, tick_seconds=0.05)
    sched.start()
    try:
        for _ in range(100):
            if sched.ticks >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await sched.stop()
    assert sched.ticks >= 2 and not sched.aps.running
    assert len(await sent(core, "daily_digest")) == 1  # 09:00 Beijing time: today's digest, once


# --- what the notifier will render from these rows ---------------------------------------------

async def test_rendered_reminders_have_their_buttons_and_go_stale(core: Core, clock: ManualClock) -> None:
    from bot.handlers import reminders as rh  # noqa: F401  (registers the renderers)
    from bot.outbox_render import render

    panel_id, invs, contact = await _panel(core, starts_in=timedelta(days=3), deadline_in=timedelta(days=2))
    clock.advance(timedelta(days=1))
    await tick(core)
    nudge = (await sent(core, "invitation_nudge"))[0]
    out = await render(core, "invitation_nudge", nudge.params, "zh")
    assert not out.skip and "尚未答复" in out.text and "2026-11-04 09:00" in out.text  # Beijing time
    await _accept_all(core, invs)
    assert (await render(core, "invitation_nudge", nudge.params, "zh")).skip  # answered meanwhile
    panel = (await rows(core, Panel, Panel.id == panel_id))[0]
    clock.set(panel.starts_at - timedelta(hours=2))
    await tick(core)
    meeting = (await sent(core, "meeting_reminder"))[0]
    out = await render(core, "meeting_reminder", meeting.params, "en")
    assert "局三楼会议室" in out.text and not out.skip
    clock.set(panel.ends_at)
    await tick(core)
    prompt = (await sent(core, "evaluation_prompt"))[0]
    out = await render(core, "evaluation_prompt", prompt.params, "zh")
    inv_id = prompt.params["invitation_id"]
    data = [b.callback_data for row in out.reply_markup.inline_keyboard for b in row]  # type: ignore[union-attr]
    assert data[:5] == [f"ev:{inv_id}:professional:{n}" for n in range(1, 6)]
    assert f"ev:{inv_id}:attendance:absent" in data and data[-1] == f"ev:{inv_id}:comment"
    assert all(len(d.encode()) <= 64 for d in data) and "第十四条" in out.text
    await evaluation.record(core.uow(), contact, inv_id, professional=3, attitude=4, quality=5,  # type: ignore[arg-type]
                            attendance="late")
    assert (await render(core, "evaluation_prompt", prompt.params, "zh")).skip
    expert = await make_expert(core, term_end=core.uow().today() + timedelta(days=20))
    await tick(core)
    [term] = await sent(core, "term_expiry")
    out = await render(core, "term_expiry", term.params, "zh")
    assert [b.callback_data for b in out.reply_markup.inline_keyboard[0]] == [  # type: ignore[union-attr]
        f"term:{expert.id}:renew", f"term:{expert.id}:leave"]
    await enrolment.request_renewal(core.uow(), expert.id, "test")
    assert (await render(core, "term_expiry", term.params, "zh")).skip
