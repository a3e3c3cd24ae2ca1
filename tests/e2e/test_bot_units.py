"""The using unit's and the bureau's side of the bot, end to end: the REAL Application polling the
sandbox over 127.0.0.1, the REAL notifier delivering the outbox, experts answering via the core."""
from __future__ import annotations

import contextlib

import pytest

from bot.units_render import EDIT_SUPPORTED
from core.bootstrap import Core
from core.db.models import Application, Flag
from core.enums import PanelStatus
from core.services import accounts, enrolment
from tests.e2e.conftest import BotRunner, People
from tests.e2e.support import (  # noqa: F401  (fixtures)
    accept,
    bot_errors,
    decline,
    invitations,
    latest_panel,
    local,
    notifier,
    settings,
    template,
    texts,
    until,
)
from tests.support.people import form_data

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_template_request_to_confirmed_roster(core: Core, bot: BotRunner, people: People, notifier: object) -> None:
    experts = [await people.expert(("eia",), name=f"环评专家{i}") for i in range(5)]
    unit = await people.contact("乌鲁木齐某某开发区管委会")
    summary = await unit.send(template(core), expect="确认提交")
    assert "某化工项目环境影响报告书技术评审" in summary["text"] and "环境影响评价×3" in summary["text"]
    await unit.press(summary, unit.button(summary, "确认提交"), expect="已提交专家组申请")
    panel = await latest_panel(core)
    assert panel is not None and panel.status == PanelStatus.INVITING
    status = await until(lambda: [m for m in unit.messages() if "专家组 #" in (m["text"] or "") and "已接受 0" in m["text"]])
    invs = await invitations(core, panel.id)
    assert len(invs) == 3
    await decline(core, invs[0])
    replacement = await until(lambda: _pending_new(core, panel.id, {i.id for i in invs}))
    for inv in [*invs[1:], replacement]:
        await accept(core, inv)
    roster = await until(lambda: [m for m in unit.messages() if "已组建完成" in (m["text"] or "")])
    names = {e.roles.expert_id: f"环评专家{i}" for i, e in enumerate(experts) if e.roles}
    accepted = [names[i.expert_id] for i in await invitations(core, panel.id, "accepted")]
    assert len(accepted) == 3 and all(n in roster[0]["text"] for n in accepted)
    # Before the roster, the unit saw counts only: no expert's name in any earlier message.
    before = unit.messages()[: unit.messages().index(roster[0])]
    assert not any(n in (m["text"] or "") for m in before for n in names.values())
    def status_messages() -> list[dict[str, object]]:
        return [m for m in unit.messages() if (m["text"] or "").startswith("📋 专家组 #")]

    # The notifier edits the newest copy first and deletes an older one (a copy that raced the
    # handler's own post) right after: wait for that, not just for the edit.
    await until(lambda: any("已接受 3" in str(m["text"]) for m in status_messages()))
    with contextlib.suppress(TimeoutError):
        await until(lambda: len(status_messages()) == 1, timeout=3.0)
    shown = status_messages()
    assert status and EDIT_SUPPORTED
    assert len(shown) == 1 and shown[0]["edit_date"] and "已接受 3" in str(shown[0]["text"])  # one live message
    assert await bot_errors(core) == 0


async def test_status_message_edited_in_place(core: Core, bot: BotRunner, people: People, notifier: object) -> None:
    """The unit's chat holds ONE status message, edited as seats fill: counts, never names."""
    experts = [await people.expert(("eia",), name=f"评审专家{i}") for i in range(3)]
    names = [f"评审专家{i}" for i in range(3)]
    unit = await people.contact()
    summary = await unit.send(template(core), expect="确认提交")
    await unit.press(summary, unit.button(summary, "确认提交"), expect="已提交专家组申请")
    panel = await latest_panel(core)
    assert panel is not None and len(experts) == 3

    def status_messages() -> list[dict[str, object]]:
        return [m for m in unit.messages() if (m["text"] or "").startswith("📋 专家组 #")]

    await until(lambda: any("已接受 0" in str(m["text"]) for m in status_messages()))
    seen: list[str] = []
    for k, inv in enumerate(await invitations(core, panel.id), 1):
        await accept(core, inv)
        live = await until(lambda k=k: [m for m in status_messages() if f"已接受 {k}，" in str(m["text"])])
        seen.append(str(live[0]["text"]))
        # edited, not re-sent (a copy that raced the handler's own post is deleted with this update)
        assert await until(lambda: len(status_messages()) == 1), [m["text"] for m in status_messages()]
    await until(lambda: [m for m in unit.messages() if "已组建完成" in (m["text"] or "")])
    (final,) = status_messages()
    assert final["edit_date"] and "已接受 3" in str(final["text"])
    assert [f"已接受 {k}，" in t for k, t in enumerate(seen, 1)] == [True] * 3
    assert not any(n in t for t in seen for n in names)  # counts only
    edits = bot.sandbox.events(chat_id=unit.id, kinds=("edit",))
    live_ids = {e["message_id"] for e in edits if e["message"]["text"].startswith("📋 专家组 #")}
    assert live_ids == {final["message_id"]} and len(edits) >= 3
    sent = [e for e in bot.sandbox.events(chat_id=unit.id, kinds=("bot_message",))
            if e["message"]["text"].startswith("📋 专家组 #")]
    # the status was sent once (twice only if the first notice raced the handler's post: the older is deleted)
    assert 1 <= len(sent) <= 2
    assert await bot_errors(core) == 0


async def _pending_new(core: Core, panel_id: int, known: set[int]) -> object:
    new = [i for i in await invitations(core, panel_id, "pending") if i.id not in known]
    return new[0] if new else None



async def test_guided_request_validates_each_step(core: Core, bot: BotRunner, people: People) -> None:
    for f in ("eia", "eia", "eia", "monitoring", "monitoring"):
        await people.expert((f,))
    unit = await people.contact()
    intro = await unit.send("/request", expect="分步填写")
    assert "事项名称：" in intro["text"]  # the template to copy
    q = await unit.press(intro, unit.button(intro, "分步填写"), expect="事项类型")
    q = await unit.press(q, unit.button(q, "咨询"), expect="事项名称")
    q = await unit.send("园区规划环评咨询 <草案> & 论证", expect="会议时间")
    bad = await unit.send("2026-02-30 09:30-12:00", expect="需要修改")
    assert "2026-12-03 09:30-12:00" in bad["text"]  # the accepted form, as an example
    q = await unit.send(f"{local(core, 40, 14)}-17:00", expect="会议地点")
    q = await unit.send("局三楼会议室", expect="几位专家")
    q = await unit.press(q, unit.button(q, "其他奇数"), expect="不少于 3 的奇数")
    bad = await unit.send("4", expect="需要修改")
    assert "奇数" in bad["text"] and "4" in bad["text"]
    q = await unit.send("5", expect="专业领域")
    q = await unit.press(q, unit.button(q, "环境影响评价"), expect=lambda m: "✅ 环境影响评价" in str(m["buttons"]))
    q = await unit.press(q, unit.button(q, "环境监测与监控"), expect=lambda m: "✅ 环境监测与监控" in str(m["buttons"]))
    q = await unit.press(q, unit.button(q, "选好了"), expect="人数之和")
    bad = await unit.send("2 2", expect="需要修改")
    assert "之和" in bad["text"]
    q = await unit.send("3 2", expect="相关单位")
    q = await unit.send("新疆某某化工有限公司\n某某环境科技有限公司", expect="回复期限")
    bad = await unit.send(local(core, 45, 9), expect="需要修改")
    assert "早于会议开始" in bad["text"]
    summary = await unit.send(local(core, 30, 18), expect="确认提交")
    assert "园区规划环评咨询 &lt;草案&gt; &amp; 论证" in summary["source"] or "<草案>" in summary["text"]
    assert "环境影响评价×3、环境监测与监控×2" in summary["text"]
    await unit.press(summary, unit.button(summary, "确认提交"), expect="已提交专家组申请")
    panel = await latest_panel(core)
    assert panel is not None and panel.title == "园区规划环评咨询 <草案> & 论证" and panel.size == 5
    assert [(f.quota) for f in panel.fields] == [3, 2] and panel.status == PanelStatus.INVITING
    assert [p.name for p in panel.parties] == ["新疆某某化工有限公司", "某某环境科技有限公司"]
    assert len(await invitations(core, panel.id)) == 5


@pytest.mark.parametrize("change, needles", [
    ({"size": "4"}, ["人数", "须为奇数", "4"]),
    ({"fields": "环境影响评价×1、环境监测与监控×1、生态保护×1、环境科学×1"}, ["之和（4）", "专家人数（3）"]),
    ({"time_": "2026-02-30 09:30-12:00"}, ["时间", "2026-12-03 09:30-12:00"]),
    ({"fields": "量子力学×3"}, ["量子力学", "不是本专家库的专业领域", "环境影响评价", "生态环境损害赔偿"]),
])
async def test_bad_template_is_explained_and_nothing_written(core: Core, bot: BotRunner, people: People,
                                                             change: dict[str, str], needles: list[str]) -> None:
    unit = await people.contact()
    reply = await unit.send(template(core, **change), expect="需要修改")
    assert all(n in reply["text"] for n in needles), reply["text"]
    assert "确认提交" not in str(reply["buttons"])
    assert await latest_panel(core) is None and await bot_errors(core) == 0


async def test_short_panel_directed_selection(core: Core, bot: BotRunner, people: People, notifier: object) -> None:
    lone = await people.expert(("nuclear",), name="核安全专家")
    admin = await people.admin()
    unit = await people.contact("某核技术应用单位")
    summary = await unit.send(template(core, fields="核与辐射×3", title="放射源退役评审"), expect="确认提交")
    await unit.press(summary, unit.button(summary, "确认提交"), expect="已提交专家组申请")
    panel = await latest_panel(core)
    assert panel is not None and panel.status == PanelStatus.SHORT
    assert await invitations(core, panel.id) == []  # nobody invited to a partial panel
    short = await until(lambda: [m for m in unit.messages() if "放宽条件" in (m["text"] or "") and m["buttons"]])
    q = await unit.press(short[-1], unit.button(short[-1], "申请定向选取"), expect="书面理由")
    q = await unit.send("本市核与辐射领域入库专家不足，需邀请区外专家。", expect="几位专家")
    done = await unit.press(q, unit.button(q, "2"), expect="已提交定向选取申请")
    assert "2 人" in done["text"]
    ask = await until(lambda: [m for m in admin.messages() if "请审批" in (m["text"] or "") and m["buttons"]])
    assert "区外专家" in ask[0]["text"]
    ok = await admin.press(ask[0], admin.button(ask[0], "通过"), expect="已同意定向选取")
    assert "补抽 1 人" in ok["text"]
    approved = await until(lambda: [m for m in unit.messages() if "已获同意" in (m["text"] or "")])
    q = await unit.press(approved[0], unit.button(approved[0], "录入"), expect="第 1/2 位")
    q = await unit.send("张三；新疆大学；教授；13800138000", expect="第 2/2 位")
    await unit.send("李四；中国辐射防护研究院；研究员；13900139000", expect="已录入 2 位")
    (inv,) = await invitations(core, panel.id)
    assert inv.expert_id == lone.roles.expert_id  # type: ignore[union-attr]
    await accept(core, inv)
    roster = await until(lambda: [m for m in unit.messages() if "已组建完成" in (m["text"] or "")])
    assert all(n in roster[0]["text"] for n in ("核安全专家", "张三", "李四", "定向选取"))


async def test_cancel_from_panels_list(core: Core, bot: BotRunner, people: People, notifier: object) -> None:
    experts = [await people.expert(("eia",)) for _ in range(3)]
    unit = await people.contact()
    summary = await unit.send(template(core), expect="确认提交")
    await unit.press(summary, unit.button(summary, "确认提交"), expect="已提交专家组申请")
    listing = await unit.send("/panels", expect="本单位的专家组")
    detail = await unit.press(listing, listing["buttons"][0][0]["callback_data"], expect="专家名单将在")
    assert "待答复 3" in detail["text"]
    ask = await unit.press(detail, unit.button(detail, "取消专家组"), expect="取消原因")
    done = await unit.send("项目暂缓", expect="已取消")
    assert "3 位" in done["text"]
    panel = await latest_panel(core)
    assert panel is not None and panel.status == PanelStatus.CANCELLED and panel.cancel_reason == "项目暂缓"
    for e in experts:
        await until(lambda e=e: any("已取消" in t for t in texts(e)))
    again = await unit.press(ask, unit.button(ask, "不取消"), expect="未取消")
    assert again


async def test_recommend_sends_application_link(core: Core, bot: BotRunner, people: People) -> None:
    unit = await people.contact()
    await unit.send("/recommend", expect="被推荐人")
    reply = await unit.send("王五\n长期从事大气污染防治", expect="已登记推荐")
    assert "https://t.me/sandbox_bot?start=r" in reply["text"]


# --- the bureau --------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _application(core: Core, people: People, i: int = 1) -> tuple[int, object]:
    applicant = people.user()
    roles = await accounts.touch_account(core.uow(), applicant.id, "申请人")
    sub = await enrolment.submit_application(core.uow(), roles, form_data(i), commitment_accepted=True,
                                             sensitive_consent=True, unit_consent="单位同意", photo=PNG)
    return sub.application_id, applicant


async def test_review_approve_with_meeting_reference(core: Core, bot: BotRunner, people: People, notifier: object) -> None:
    admin = await people.admin()
    app_id, applicant = await _application(core, people)
    listing = await admin.send("/review", expect="待审核的入库申请")
    detail = await admin.press(listing, listing["buttons"][0][0]["callback_data"], expect="资格初审（第七条）")
    number = form_data(1)["id_number"]
    assert "测试专家1" in detail["text"] and number not in detail["text"]
    assert f"{number[:6]}********{number[-4:]}" in detail["text"]  # masked one way (first 6 + last 4)
    assert "符合条件" in detail["text"] and "副高级及以上" in detail["text"]  # the Art. 7 reasons
    await admin.press(detail, admin.button(detail, "通过"), expect="作出决定的会议")
    done = await admin.send("2026年第12次局务会", expect="已通过")
    assert "E0000" in done["text"]
    async with core.sessions() as s:
        app = await s.get(Application, app_id)
        assert app is not None and app.status == "approved" and app.decision_meeting == "2026年第12次局务会"
        assert app.decided_by == admin.roles.actor  # type: ignore[union-attr]
    await until(lambda: any("已通过" in t for t in texts(applicant)))  # type: ignore[arg-type]
    # the new expert's chat gets the expert command menu with the approval
    menu = await until(lambda: [c["command"] for c in bot.sandbox.commands(
        {"type": "chat", "chat_id": applicant.id})])  # type: ignore[attr-defined]
    assert {"me", "invitations", "unavailable", "renew", "withdraw"} <= set(menu)
    again = await admin.press_answer(detail, admin.button(detail, "通过"))
    assert "已经处理" in again["text"]


async def test_review_reject_needs_reason_and_meeting(core: Core, bot: BotRunner, people: People,
                                                      notifier: object) -> None:
    admin = await people.admin()
    app_id, _ = await _application(core, people, 2)
    notice = await until(lambda: [m for m in admin.messages() if "收到新的入库申请" in (m["text"] or "")])
    detail = await admin.press(notice[0], admin.button(notice[0], "审核"), expect="资格初审（第七条）")
    await admin.press(detail, admin.button(detail, "不通过"), expect="不予通过的理由")
    await admin.send("从业年限证明材料不足", expect="作出决定的会议")
    await admin.send("2026年第12次局务会", expect="未予通过")
    async with core.sessions() as s:
        app = await s.get(Application, app_id)
        assert app is not None and app.status == "rejected" and app.decision_reason == "从业年限证明材料不足"


async def test_flags_show_evidence_and_close(core: Core, bot: BotRunner, people: People) -> None:
    admin = await people.admin()
    expert = await people.expert(("eia",), name="被提示专家")
    async with core.sessions() as s:
        flag = Flag(expert_id=expert.roles.expert_id, kind="refusal_rule", status="open",  # type: ignore[union-attr]
                    evidence={"rule": "art16_3", "limit": 3, "window_days": 365, "invitations": [
                        {"invitation_id": 11, "panel_id": 4, "kind": "no_answer", "at": "2026-10-01T02:00:00+00:00"}]},
                    created_at=core.clock.now())
        s.add(flag)
        await s.flush()
        flag_id = flag.id
        await s.commit()
    listing = await admin.send("/flags", expect="待处理的提示（1 个）")
    card = await admin.press(listing, admin.button(listing, "连续无故未服务"), expect="🚩")
    assert "被提示专家" in card["text"] and "逾期未答复" in card["text"] and "专家组 #4" in card["text"]
    await admin.press(card, admin.button(card, "处理意见"), expect="处理意见")
    await admin.send("已电话约谈，暂不处理 <见记录>", expect="已关闭")
    async with core.sessions() as s:
        row = await s.get(Flag, flag_id)
        assert row is not None and row.status == "closed" and row.decision == "已电话约谈，暂不处理 <见记录>"
    assert (await admin.send("/flags", expect="没有待处理")) is not None


async def test_roster_documents(core: Core, bot: BotRunner, people: People) -> None:
    admin = await people.admin()
    await people.expert(("eia",), name="名单专家", phone="13812345678")
    await admin.send("/roster", expect=lambda m: bool(m.get("document")) and (m["document"].get("file_name") or "").endswith(".html"))
    docs = [m for m in admin.messages() if m.get("document")]
    names = sorted(d["document"]["file_name"].rsplit(".", 1)[1] for d in docs)
    assert names == ["html", "xlsx"]
    html_doc = next(d for d in docs if d["document"]["file_name"].endswith(".html"))
    body = bot.sandbox.file_bytes(html_doc["document"]["file_id"]).decode()
    assert "名单专家" in body and "13812345678" not in body


async def test_supervisor_sees_and_verifies_draws(core: Core, bot: BotRunner, people: People) -> None:
    for _ in range(4):
        await people.expert(("eia",))
    await people.expert(("eia",), work_unit="新疆某某化工有限公司")  # a party: recused
    unit = await people.contact()
    summary = await unit.send(template(core), expect="确认提交")
    await unit.press(summary, unit.button(summary, "确认提交"), expect="已提交专家组申请")
    sup = await people.admin(supervisor=True)
    listing = await sup.send("/draws", expect="抽取记录")
    card = await sup.press(listing, listing["buttons"][0][0]["callback_data"], expect="随机种子")
    assert "排除 1 人" in card["text"] and "现工作单位为相关单位" in card["text"]
    verdict = await sup.press(card, sup.button(card, "复核"), expect="复核")
    assert "✅" in verdict["text"]


async def test_english_template_after_request(core: Core, bot: BotRunner, people: People) -> None:
    for _ in range(3):
        await people.expert(("monitoring",))
    unit = await people.contact(language_code="en")
    intro = await unit.send("/request", expect="Step by step")
    assert "Title:" in intro["text"]
    text = "\n".join([
        "Title: Monitoring plan review", "Type: review", f"Time: {local(core, 30, 9, 30)}-12:00",
        "Place: Room 301", "Fields: Environmental monitoring×3", "Size: 3",
        "Parties: Xinjiang XX Chemical Co., Ltd.; XX Environmental Technology Co., Ltd.",
        f"Deadline: {local(core, 20, 18)}",
    ])
    summary = await unit.send(text, expect="Submit")
    assert "Environmental monitoring×3" in summary["text"]
    await unit.press(summary, unit.button(summary, "Submit"), expect="submitted")
    panel = await latest_panel(core)
    assert panel is not None and [p.name for p in panel.parties] == [
        "Xinjiang XX Chemical Co., Ltd.", "XX Environmental Technology Co., Ltd."]
    bad = await unit.send(text.replace("Size: 3", "Size: 6"), expect="correction")
    assert "odd number" in bad["text"]


async def test_directed_rejected_with_note(core: Core, bot: BotRunner, people: People, notifier: object) -> None:
    admin = await people.admin()
    unit = await people.contact()
    assert unit.roles is not None
    from tests.factories import panel_form
    from core.services import panels as panel_service

    short = await panel_service.request_panel(core.uow(), unit.roles, panel_form(core, fields=(("climate", None),)))
    directed = await panel_service.apply_directed(core.uow(), unit.roles, short.panel_id, "无气候变化专家", 3)
    ask = await until(lambda: [m for m in admin.messages() if "请审批" in (m["text"] or "")])
    await admin.press(ask[0], admin.button(ask[0], "不通过"), expect="不同意定向选取")
    await admin.send("请先放宽专业领域后重新申请", expect="已不同意")
    told = await until(lambda: [m for m in unit.messages() if "未获同意" in (m["text"] or "")])
    assert "请先放宽专业领域" in told[0]["text"]
    async with core.sessions() as s:
        from core.db.models import DirectedSelection

        row = await s.get(DirectedSelection, directed)
        assert row is not None and row.status == "rejected"


async def test_guided_flow_can_be_abandoned(core: Core, bot: BotRunner, people: People) -> None:
    unit = await people.contact()
    intro = await unit.send("/request", expect="分步填写")
    q = await unit.press(intro, unit.button(intro, "分步填写"), expect="事项类型")
    q = await unit.press(q, unit.button(q, "评审"), expect="事项名称")
    done = await unit.press(q, unit.button(q, "取消"), expect="已取消本次申请")
    assert done
    stale = await unit.press_answer(q, unit.button(q, "取消"), forge=True)
    assert "已经结束" in stale["text"]
    assert await latest_panel(core) is None
