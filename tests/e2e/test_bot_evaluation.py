"""Evaluation and discipline end to end, through the sandbox: a panel completes, the unit is
prompted and rates every expert with buttons, an admin sees the aggregates and records a
warning on its Art. 15 ground, and the expert is told."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.outbox_render import render
from core.clock import ManualClock
from core.db.models import Account, Evaluation, Outbox, Panel, Sanction
from core.enums import InvitationStatus, OutboxStatus, PanelStatus
from core.scheduling import reminders
from core.services import panels
from tests.e2e.conftest import BotRunner, ChatUser, People
from tests.factories import panel_form
from tests.support.oversight import invitations_of


async def _deliver(people: People, bot: BotRunner, account_id: int | None, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """Send this account's pending outbox rows of `kinds` as the notifier would. (Rendering reads
    the database, so the rows are read and marked in transactions of their own: on SQLite a
    session held open across rendering would lock the renderer out.)"""
    assert bot.app is not None
    core = people.core
    async with core.sessions() as s:
        rows = (await s.execute(select(Outbox.id, Outbox.kind, Outbox.params, Account.telegram_id, Account.language)
                                .join(Account, Account.id == Outbox.account_id)
                                .where(Outbox.status == OutboxStatus.PENDING.value, Outbox.account_id == account_id,
                                       Outbox.kind.in_(kinds)).order_by(Outbox.id))).all()
    sent = []
    for oid, kind, params, telegram_id, language in rows:
        rendered = await render(core, kind, params, language or "zh")
        if not rendered.skip:
            msg = await bot.app.bot.send_message(telegram_id, rendered.text, reply_markup=rendered.reply_markup)
            view = bot.sandbox.message(telegram_id, msg.message_id)
            assert view is not None
            sent.append(view)
        async with core.sessions() as s:
            row = await s.get(Outbox, oid)
            assert row is not None
            row.status = (OutboxStatus.SKIPPED if rendered.skip else OutboxStatus.SENT).value
            await s.commit()
    return sent


async def _held_panel(people: People, clock: ManualClock, experts: list[ChatUser], unit: ChatUser) -> int:
    core = people.core
    assert unit.roles is not None
    res = await panels.request_panel(core.uow(), unit.roles, panel_form(core, starts_in=timedelta(days=10)))
    by_expert = {e.roles.expert_id: e for e in experts if e.roles is not None}
    for inv in await invitations_of(core, res.panel_id, InvitationStatus.PENDING.value):
        await panels.accept(core.uow(), by_expert[inv.expert_id].roles, inv.id,  # type: ignore[union-attr]
                            unit_consent=True, no_conflict=True, confidentiality=True)
    clock.advance(timedelta(days=11))
    await panels.complete_finished(core.uow())
    return res.panel_id


async def _rate(unit: ChatUser, card: dict[str, Any], scores: tuple[int, int, int], attendance: str) -> dict[str, Any]:
    inv = card["buttons"][0][0]["callback_data"].split(":")[1]
    msg = card
    for name, value in zip(("professional", "attitude", "quality"), scores):
        msg = await unit.press(msg, f"ev:{inv}:{name}:{value}", expect=lambda m: m.get("event") == "edit"
                               and m["message_id"] == card["message_id"] and f"✅ {value}" in str(m["buttons"]))
    cursor = unit.sandbox.cursor()
    answer = await unit.press_answer(msg, f"ev:{inv}:attendance:{attendance}")
    assert "完成" in answer["text"]
    return await unit.sandbox.wait_for_message(unit.id, lambda m: m.get("event") == "edit" and m["message_id"]
                                               == card["message_id"] and "✅" in (m["text"] or ""), 8, after=cursor)


async def test_unit_rates_admin_warns_expert_is_told(bot: BotRunner, people: People, clock: ManualClock) -> None:
    experts = [await people.expert() for _ in range(3)]
    unit = await people.contact()
    admin = await people.admin()
    panel_id = await _held_panel(people, clock, experts, unit)

    # The scheduler prompts the unit: one card per expert, with score buttons.
    assert await reminders.evaluation_prompts(people.core.uow()) == 3
    cards = await _deliver(people, bot, unit.account_id, ("evaluation_prompt",))
    assert len(cards) == 3 and all("评价" in c["text"] for c in cards)

    # Another unit's contact cannot rate (refused and audited), a forged score neither.
    stranger = await people.contact()
    inv0 = cards[0]["buttons"][0][0]["callback_data"].split(":")[1]
    own = await stranger.send("/evaluate", expect="暂无")
    refused = await stranger.press_answer(own, f"ev:{inv0}:professional:1", forge=True)
    assert refused["show_alert"] and "使用单位" in refused["text"]
    bad = await unit.press_answer(cards[0], f"ev:{inv0}:professional:9", forge=True)
    assert bad["show_alert"] and "1 至 5" in bad["text"]

    finals = [await _rate(unit, card, (5, 4, 5), "present") for card in cards]
    assert all("✅" in f["text"] and "5" in f["text"] for f in finals)
    async with people.core.sessions() as s:
        rated = (await s.scalars(select(Evaluation).where(Evaluation.panel_id == panel_id))).all()
        panel = await s.get(Panel, panel_id)
    assert len(rated) == 3 and all(e.completed_at is not None and e.rated_by == unit.roles.actor for e in rated)  # type: ignore[union-attr]
    assert panel is not None and panel.status == PanelStatus.EVALUATED.value
    assert len(await people.audit("evaluation.rate")) == 12

    # A comment: the button asks, the next text is the comment, the card shows it.
    inv1 = cards[1]["buttons"][0][0]["callback_data"].split(":")[1]
    await unit.press(finals[1], f"ev:{inv1}:comment", expect="评语")
    await unit.send("意见具体，<b>很有帮助</b>", expect="已保存")
    assert "很有帮助" in unit.message(cards[1]["message_id"])["text"]

    # The admin sees the aggregates of one of them.
    target = experts[0]
    code = f"E{target.roles.expert_id:06d}"  # type: ignore[union-attr]
    card = await admin.send(f"/expert {code}", expect=code)
    assert "评价 1 次" in card["text"] and "5.00" in card["text"] and "100%" in card["text"]

    # ... and records a warning: kind → Art. 15 ground → note → confirm.
    ask = await admin.press(card, admin.button(card, "约谈/警告"), expect="处理方式")
    grounds = await admin.press(ask, admin.button(ask, "警告"), expect="第十五条")
    assert len([b for row in grounds["buttons"] for b in row]) == 6  # (1)–(5) and cancel
    note = await admin.press(grounds, admin.button(grounds, "第十五条（5）"), expect="处理说明")
    assert "第十五条（五）" in note["text"]
    confirm = await admin.send("评审会后私下收受礼品，经核实属实。", expect="请确认")
    done = await admin.press(confirm, admin.button(confirm, "确认"), expect="已记录")
    assert "警告" in done["text"]
    async with people.core.sessions() as s:
        sanction = (await s.scalars(select(Sanction))).one()
    assert (sanction.kind, sanction.ground, sanction.expert_id) == ("warning", 5, target.roles.expert_id)  # type: ignore[union-attr]
    assert len(await people.audit("sanction.record")) == 1

    # The expert is told, in words, with the ground.
    told = await _deliver(people, bot, target.account_id, ("sanction_recorded",))
    assert len(told) == 1 and "警告" in told[0]["text"] and "第十五条（五）" in told[0]["text"]

    # The same confirm pressed again does nothing more.
    again = await admin.press_answer(confirm, admin.button(confirm, "确认"), forge=True)  # replayed
    assert again["show_alert"]
    async with people.core.sessions() as s:
        assert len((await s.scalars(select(Sanction))).all()) == 1


async def test_non_admin_cannot_use_discipline_commands(bot: BotRunner, people: People) -> None:
    x = await people.expert()
    unit = await people.contact()
    code = f"E{x.roles.expert_id:06d}"  # type: ignore[union-attr]
    for who in (x, unit):
        for command in (f"/sanction {code}", f"/remove {code}", f"/commend {code}"):
            reply = await who.send(command, expect="管理员")
            assert not reply.get("buttons")
    reply = await unit.send(f"/expert {code}", expect="管理员")
    assert not reply.get("buttons")
    assert len(await people.audit("security.refused")) == 7


async def test_admin_removes_with_ground_and_gets_the_monthly_report(bot: BotRunner, people: People) -> None:
    x = await people.expert()
    admin = await people.admin()
    code = f"E{x.roles.expert_id:06d}"  # type: ignore[union-attr]
    grounds = await admin.send(f"/remove {code}", expect="第十六条")
    assert len([b for row in grounds["buttons"] for b in row]) == 8  # (1)–(7) and cancel
    await admin.press(grounds, admin.button(grounds, "第十六条（3）"), expect="处理说明")
    confirm = await admin.send("一年内三次无故缺席，经局务会研究决定。", expect="请确认")
    assert "移出" in confirm["text"] and "第十六条（三）" in confirm["text"]
    done = await admin.press(confirm, admin.button(confirm, "确认"), expect="公告")
    assert code in done["text"]
    told = await _deliver(people, bot, x.account_id, ("removal_notice",))
    assert len(told) == 1 and "第十六条（三）" in told[0]["text"]
    assert len(await people.audit("expert.remove")) == 1

    candidates = await admin.send("/candidates", expect="表扬候选")
    assert "复核候选" in candidates["text"]
    await admin.send("/monthly 2026-13", expect="2026-11")  # the bad month is named with an example
    cursor = bot.sandbox.cursor()
    await bot.sandbox.user_send_text(admin.id, "/monthly 2026-11")
    docs = []
    for _ in range(2):
        m = await bot.sandbox.wait_for_message(admin.id, lambda m: bool(m.get("document")), 30, after=cursor)
        docs.append(m)
        cursor = m["seq"]
    names = sorted(d["document"]["file_name"] for d in docs)
    assert names == ["report-2026-11.html", "report-2026-11.xlsx"]
    page = bot.sandbox.file_bytes(docs[[d["document"]["file_name"] for d in docs].index("report-2026-11.html")]
                                  ["document"]["file_id"]).decode("utf-8")
    assert "2026-11" in page and "data:image/png;base64," in page


async def test_admin_commends_from_the_candidates_and_the_expert_is_told(bot: BotRunner, people: People,
                                                                          clock: ManualClock) -> None:
    """通报表扬 (Art. 14): an expert rated well enough shows up as a candidate, the admin commends
    with a note, the expert is told, the notice is published and a second confirm does nothing."""
    core = people.core
    rules = core.settings.rules
    x, *others = [await people.expert() for _ in range(3)]  # the whole pool: every panel draws all three
    unit = await people.contact()
    admin = await people.admin()
    for _ in range(rules.commendation_min_evaluations):
        await _held_panel(people, clock, [x, *others], unit)
        assert await reminders.evaluation_prompts(core.uow()) == 3
        for card in await _deliver(people, bot, unit.account_id, ("evaluation_prompt",)):
            await _rate(unit, card, (5, 5, 5), "present")
    code = f"E{x.roles.expert_id:06d}"  # type: ignore[union-attr]
    candidates = await admin.send("/candidates", expect="表扬候选")
    assert code in candidates["text"]

    await admin.send(f"/commend {code}", expect="表扬说明")
    confirm = await admin.send("连续多次评审意见扎实，表现突出。", expect="请确认")
    assert "通报表扬" in confirm["text"]
    done = await admin.press(confirm, admin.button(confirm, "确认"), expect="通报表扬")
    assert code in done["text"]
    told = await _deliver(people, bot, x.account_id, ("commendation",))
    assert len(told) == 1 and "通报表扬" in told[0]["text"] and "表现突出" in told[0]["text"]
    assert len(await people.audit("expert.commend")) == 1
    again = await admin.press_answer(confirm, admin.button(confirm, "确认"), forge=True)  # replayed
    assert again["show_alert"]
    assert len(await people.audit("expert.commend")) == 1
    after = await admin.send("/candidates", expect="表扬候选")
    assert code not in after["text"]  # commended since their last evaluation
