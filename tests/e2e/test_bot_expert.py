"""The expert side of the bot, end to end: the real Application long-polling the sandbox Bot API
stand-in over 127.0.0.1 — /apply with bad inputs and a restart, binding codes, recommendation
links, every invitation answer, forged buttons, /language, fallbacks, the expert's commands and
`expertpanel run`'s start-up failures."""
from __future__ import annotations

import asyncio
import struct
import zlib
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from core.bootstrap import Core
from core.db.models import Application, DeclaredConflict, Expert, Flag, Invitation, Outbox, Unavailability
from core.enums import ApplicationKind, InvitationStatus
from core.services import accounts, enrolment, panels
from tests.factories import make_expert, make_unit_contact, panel_form, rows
from tests.support.people import make_id_number

if TYPE_CHECKING:
    from tests.e2e.conftest import BotRunner, ChatUser, People

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

APOLOGY = "抱歉，处理您的消息时出了问题"
BIRTH = date(1975, 3, 15)
ID_NUMBER = make_id_number(BIRTH, male=True, seq=7)


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 3 for _ in range(2))
    ihdr = struct.pack(">IIBBBBB", 3, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def q(n: int) -> str:
    return f"【{n}/24】"


def no_apology(u: ChatUser) -> None:
    assert not any(APOLOGY in (m["text"] or "") for m in u.messages())


# --- /apply -------------------------------------------------------------------------------------

async def _answer_first_part(u: ChatUser) -> dict[str, Any]:
    """/apply up to the question on the ID number, with a bad ID and a photo on the way."""
    m = await u.send("/apply", expect=q(1))
    assert "入库申请" in u.messages()[-2]["text"]
    m = await u.send("张三", expect=q(2))
    bad = "110105194902300021"  # 30 February
    m = await u.send(bad, expect=q(2))
    assert "出生日期" in m["text"] and "11010519491231002X" in m["text"]  # re-asked with the example
    m = await u.send_photo(tiny_png(), expect=q(2))
    assert "需要输入文字" in m["text"]
    return m


async def test_apply_from_start_to_submission_with_bad_inputs(bot: BotRunner, people: People, core: Core) -> None:
    u = people.user()
    await _answer_first_part(u)
    m = await u.send(ID_NUMBER, expect=q(3))
    m = await u.press(m, u.button(m, "女"), expect=lambda v: q(3) in (v["text"] or "") and "不一致" in (v["text"] or ""))
    m = await u.press(m, u.button(m, "男"), expect=q(4))
    m = await u.send("1975-04", expect=q(4))  # disagrees with the ID number: both values shown
    assert "1975-04" in m["text"] and "1975-03" in m["text"]
    m = await u.send("1975年3月", expect=q(5))
    for n, text in ((5, "汉族"), (6, "研究生/博士"), (7, "新疆环境研究院 <测试> & Co"), (8, "总工程师")):
        m = await u.send(text, expect=q(n + 1))
    m = await u.press(m, u.button(m, "是"), expect=q(10))
    m = await u.press(m, u.button(m, "科研院所"), expect=q(11))
    m = await u.send("高级工程师", expect=q(12))
    m = await u.press(m, u.button(m, "跳过"), expect=q(13))
    for n, text in ((13, "注册环保工程师 HB0001"), (14, "大气污染控制"), (15, "新疆大学 环境工程"), (16, "12年")):
        m = await u.send(text, expect=q(n + 1))
    # 4 fields typed → refused, listing the allowed ones; then buttons: the 4th press is refused
    m = await u.send("环境科学、气候变化、核与辐射、环境经济", expect=q(17))
    assert "最多只能选择 3 个" in m["text"] and "环境影响评价" in m["text"]
    for name in ("环境科学", "气候变化", "核与辐射"):
        m = await u.press(m, u.button(m, name), expect=lambda v, name=name: f"✅ {name}" in str(v["buttons"]))
    fourth = await u.press_answer(m, u.button(m, "环境经济"))
    assert "最多只能选择 3 个" in fourth["text"] and fourth["show_alert"]
    m = await u.press(m, u.button(m, "完成"), expect=q(18))
    m = await u.send("长" * 4096, expect=q(18))  # over the 2,000-character limit
    assert "内容过长" in m["text"] and "2000" in m["text"]
    m = await u.send("2005-至今 新疆环境研究院 高级工程师", expect=q(19))
    m = await u.send("主持课题三项", expect=q(20))
    m = await u.send("新疆某设计院；2023-13-01", expect=q(20))  # a bad date in a former employer's line
    assert "曾工作单位" in m["text"]
    m = await u.send("新疆某设计院；2023-05-31", expect=q(21))
    m = await u.send("乌鲁木齐市天山区测试路1号", expect=q(22))
    m = await u.send("12800138000", expect=q(22))
    m = await u.send("+86 138-0013-8000", expect=q(23))
    m = await u.send("expert@example.cn", expect=q(24))
    m = await u.send("这是照片", expect=q(24))
    assert "上传照片" in m["text"]
    m = await u.send_document(b"%PDF-1.4 not an image", "cv.pdf", "application/pdf", expect=q(24))
    assert "不是图片" in m["text"]
    m = await u.send_document(tiny_png(), "photo.png", "image/png", expect="请核对您填写的内容")
    masked = ID_NUMBER[:6] + "********" + ID_NUMBER[-4:]
    assert masked in m["text"] and ID_NUMBER not in m["text"]
    assert "&lt;测试&gt; &amp; Co" in (m["source"] or "") and "<测试> & Co" in m["text"]  # escaped, shown as typed
    # Edit from the summary: a woman's ID number no longer matches "男" → the gender is asked again
    female_id = make_id_number(BIRTH, male=False, seq=8)
    m = await u.press(m, u.button(m, "身份证号"), expect=q(2))
    m = await u.send(female_id, expect=q(3))
    assert "不一致" in m["text"]
    m = await u.press(m, u.button(m, "女"), expect="请核对您填写的内容")
    m = await u.press(m, u.button(m, "身份证号"), expect=q(2))
    m = await u.send(ID_NUMBER, expect=q(3))
    m = await u.press(m, u.button(m, "男"), expect="请核对您填写的内容")
    m = await u.press(m, u.button(m, "确认无误"), expect="个人敏感信息")
    answer = await u.press_answer(m, u.button(m, "不同意"))
    assert "无法提交" in answer["text"]
    m = await u.press(m, u.button(m, "同意"), expect="特此承诺")
    assert "不接受利益相关方及其请托人的送礼和宴请" in m["text"]
    m = await u.press(m, u.button(m, "接受全部承诺"), expect="所在单位意见")
    m = await u.send("新疆环境研究院同意，负责人：王五", expect="已提交")
    no_apology(u)
    apps = await rows(core, Application)
    assert len(apps) == 1
    app = apps[0]
    assert app.kind == ApplicationKind.SELF and app.photo == tiny_png() and app.photo_type == "image/png"
    assert app.form["id_number"] == ID_NUMBER and app.form["phone"] == "13800138000"
    assert app.form["fields"] == ["env_science", "climate", "nuclear"]
    assert app.form["work_unit"] == "新疆环境研究院 <测试> & Co"
    assert app.form["previous_units"][0]["left_on"] == "2023-05-31"
    assert app.unit_consent.startswith("新疆环境研究院同意")
    m = await u.send("随便说点什么", expect="没有在等待")  # the draft is gone


async def test_apply_resumes_after_restart(bot: BotRunner, people: People) -> None:
    u = people.user()
    await _answer_first_part(u)
    await u.send(ID_NUMBER, expect=q(3))
    await bot.restart()  # a new Application on the same database
    m = await u.send("男", expect=q(4))  # typed instead of pressed: the saved step continues
    m = await u.send("/apply", expect=q(4))
    assert "继续填写" in u.messages()[-2]["text"]
    m = await u.send("1975-03", expect=q(5))
    m = await u.send("/cancel", expect="放弃")
    m = await u.press(m, u.button(m, "放弃申请"), expect="已放弃")
    m = await u.send("/apply", expect=q(1))


async def test_recommendation_link_opens_a_recommended_application(bot: BotRunner, people: People, core: Core) -> None:
    contact = await make_unit_contact(core, "乌鲁木齐某环保公司")
    code = await enrolment.recommend(core.uow(), contact, "李四")
    u = people.user()
    await u.send(f"/start {code}", expect=q(1))
    assert any("乌鲁木齐某环保公司" in (x["text"] or "") and "推荐" in (x["text"] or "") for x in u.messages())


# --- binding and accounts ------------------------------------------------------------------------

async def test_start_code_binds_and_sets_the_menu(bot: BotRunner, people: People, core: Core, sandbox: Any) -> None:
    made = await make_expert(core, ["eia"], account=False)
    code = await accounts.issue_code(core.uow(), "expert", "cli", expert_id=made.id)
    u = people.user()
    m = await u.send("/start not-a-code", expect="绑定码无效")
    m = await u.send(f"/start {code}", expect="绑定成功")
    assert "/me" in m["text"]
    m = await u.send("/me", expect="我的资料")
    assert made.code in m["text"]
    scope = {"type": "chat", "chat_id": u.id}
    commands = [c["command"] for c in sandbox.commands(scope)]
    assert {"me", "invitations", "unavailable", "report"} <= set(commands) and "apply" in commands
    m = await u.send(f"/start {code}", expect="已经使用过")
    default = [c["command"] for c in sandbox.commands()]
    assert default == ["start", "apply", "help", "language"]


async def test_language_switch(bot: BotRunner, people: People) -> None:
    u = people.user()
    m = await u.send("/language", expect="Choose a language")
    m = await u.press(m, u.button(m, "English"), expect="Language set to English")
    m = await u.send("/start", expect="Hello")
    assert "/apply" in m["text"]
    m = await u.send("/language zh", expect="已切换为中文")


async def test_unknown_command_unbound_user_and_stray_messages(bot: BotRunner, people: People) -> None:
    u = people.user()
    m = await u.send("/frobnicate", expect="无法识别命令")
    assert "/frobnicate" in m["text"] and "/apply" in m["text"] and "/me" not in m["text"]
    m = await u.send("/me", expect="仅限专家库专家")
    refused = [e for e in await people.audit("security.refused") if "command.me" in e.details]
    assert len(refused) == 1
    m = await u.send("你好", expect="没有在等待")
    m = await u.send_photo(tiny_png(), expect="收到了图片")
    m = await u.send_document(b"x", "a.txt", "text/plain", expect="收到了文件")
    no_apology(u)


# --- invitations ----------------------------------------------------------------------------------

class Stage:
    def __init__(self, experts: list[ChatUser], panel_id: int, party_id: int, contact: Any) -> None:
        self.experts, self.panel_id, self.party_id, self.contact = experts, panel_id, party_id, contact


async def _stage(core: Core, people: People, bot: BotRunner, size: int = 5) -> tuple[Stage, dict[int, tuple[ChatUser, dict[str, Any]]]]:
    """A requested panel; each invited expert got the invitation message (by account id)."""
    experts = [await people.expert(("eia",)) for _ in range(size + 2)]
    contact = await make_unit_contact(core)
    res = await panels.request_panel(core.uow(), contact, panel_form(core, size=size))
    invs = await rows(core, Invitation, Invitation.panel_id == res.panel_id)
    sent = await people.deliver(bot)
    messages: dict[int, tuple[ChatUser, dict[str, Any]]] = {}
    for inv in invs:
        user = next(e for e in experts if e.roles and e.roles.expert_id == inv.expert_id)
        msg = next(m for m in sent if m["chat_id"] == user.id)
        messages[inv.id] = (user, msg)
    async with core.sessions() as s:
        from core.db.models import PanelParty

        party_id = await s.scalar(select(PanelParty.id).where(PanelParty.panel_id == res.panel_id))
    return Stage(experts, res.panel_id, int(party_id or 0), contact), messages


async def _status(core: Core, inv_id: int) -> str:
    return (await rows(core, Invitation, Invitation.id == inv_id))[0].status


async def test_invitation_message_and_accept_with_pledges_double_tap(bot: BotRunner, people: People, core: Core) -> None:
    st, msgs = await _stage(core, people, bot, size=3)
    inv_id, (u, msg) = next(iter(msgs.items()))
    assert "专家邀请" in msg["text"] and "某某化工有限公司" in msg["text"] and "局三楼会议室" in msg["text"]
    assert [b["text"] for b in msg["buttons"][0]] == ["✅ 接受", "❌ 谢绝", "⚠️ 申报回避"]
    m = await u.press(msg, f"inv:{inv_id}:acc", expect="确认接受")
    assert "第十一条第一项" in m["text"] and "保密" in m["text"]
    q1 = await u.sandbox.user_press(u.id, msg["message_id"], f"inv:{inv_id}:acc_ok")
    q2 = await u.sandbox.user_press(u.id, msg["message_id"], f"inv:{inv_id}:acc_ok")
    for qid in (q1, q2):
        await u.sandbox.wait_for_event(lambda e, qid=qid: e.get("query_id") == qid, 8, after=0, kinds=("callback_answer",))
    answers = sorted(str(u.sandbox.callback_answer(x)["text"]) for x in (q1, q2))  # type: ignore[index]
    assert any("已记录" in a for a in answers) and any("已经答复过" in a for a in answers)
    assert await _status(core, inv_id) == InvitationStatus.ACCEPTED
    assert len(await people.audit("invitation.accept")) == 1
    final = u.message(msg["message_id"])
    assert "您已接受" in final["text"] and not final["buttons"]
    # Accept after the answer (a forged replay of the gone button) → a clear refusal
    answer = await u.press_answer(msg, f"inv:{inv_id}:dec", forge=True)
    assert "已经答复过" in answer["text"]
    # /invitations offers withdrawing an accepted invitation, with a reason
    await u.send("/invitations", expect="您的专家组邀请")
    listed = await u.sandbox.wait_for_message(u.id, lambda v: f"inv:{inv_id}:wd" in str(v["buttons"]), 5, after=0)
    m = await u.press(listed, f"inv:{inv_id}:wd", expect="退出的理由")
    m = await u.press(m, f"inv:{inv_id}:wr:travel", expect="您已退出此专家组")
    assert await _status(core, inv_id) == InvitationStatus.WITHDRAWN
    no_apology(u)


async def test_accept_after_deadline_and_after_cancellation_is_refused(bot: BotRunner, people: People,
                                                                         core: Core) -> None:
    st, msgs = await _stage(core, people, bot, size=3)
    (inv_a, (a, msg_a)), (inv_b, (b, msg_b)) = list(msgs.items())[:2]
    m = await a.press(msg_a, f"inv:{inv_a}:acc", expect="确认接受")
    core.clock.advance(timedelta(days=6))  # type: ignore[attr-defined]  # past the 5-day deadline
    answer = await a.press_answer(m, f"inv:{inv_a}:acc_ok")
    assert "回复期限" in answer["text"] and "已过" in answer["text"]
    assert await _status(core, inv_a) == InvitationStatus.PENDING
    core.clock.advance(timedelta(days=-6))  # type: ignore[attr-defined]
    await panels.cancel_panel(core.uow(), st.contact, st.panel_id, "项目撤销")
    answer = await b.press_answer(msg_b, f"inv:{inv_b}:acc")
    assert "使用单位取消了专家组" in answer["text"]
    final = await b.sandbox.wait_for_message(
        b.id, lambda v: v["message_id"] == msg_b["message_id"] and "撤回" in (v["text"] or ""), 5, after=0)
    assert not final["buttons"]
    no_apology(a)
    no_apology(b)


async def test_each_decline_reason_and_conflict(bot: BotRunner, people: People, core: Core) -> None:
    st, msgs = await _stage(core, people, bot, size=5)
    items = list(msgs.items())
    reasons = ["schedule", "health", "no_unit_consent", "travel"]
    for (inv_id, (u, msg)), code in zip(items, reasons):
        m = await u.press(msg, f"inv:{inv_id}:dec", expect="谢绝的理由")
        m = await u.press(m, f"inv:{inv_id}:dr:{code}", expect="您已谢绝")
        assert not m["buttons"]
        assert (await rows(core, Invitation, Invitation.id == inv_id))[0].decline_reason == code
    inv_id, (u, msg) = items[4]
    m = await u.press(msg, f"inv:{inv_id}:dec", expect="谢绝的理由")
    m = await u.press(m, f"inv:{inv_id}:dr:other", expect="简要说明原因")
    await u.send("家中有事 <急>", expect="已记录")
    final = u.message(msg["message_id"])
    assert "您已谢绝" in final["text"] and not final["buttons"]
    inv = (await rows(core, Invitation, Invitation.id == inv_id))[0]
    assert inv.decline_reason == "other" and inv.decline_text == "家中有事 <急>"
    # A replacement was invited from the same ranking: it declares a conflict with the party, with a note
    extra = await people.deliver(bot)
    assert extra, "replacements are invited from the same ranking"
    rm = extra[0]
    ru = next(e for e in st.experts if e.id == rm["chat_id"])
    rinv = int(rm["buttons"][0][0]["callback_data"].split(":")[1])
    m = await ru.press(rm, f"inv:{rinv}:cf", expect="利害关系的单位")
    m = await ru.press(m, f"inv:{rinv}:cp:{st.party_id}", expect="已选择")
    await ru.send("曾为该公司编制环评报告", expect="已记录")
    final = ru.message(rm["message_id"])
    assert "申报回避" in final["text"] and not final["buttons"]
    conflicts = await rows(core, DeclaredConflict)
    assert conflicts[-1].party_name == "某某化工有限公司" and conflicts[-1].note == "曾为该公司编制环评报告"
    assert await _status(core, rinv) == InvitationStatus.CONFLICT
    for u, _ in msgs.values():
        no_apology(u)


async def test_forged_and_foreign_buttons_are_refused_and_audited(bot: BotRunner, people: People, core: Core) -> None:
    st, msgs = await _stage(core, people, bot, size=3)
    (inv_a, (a, msg_a)), (inv_b, _) = list(msgs.items())[:2]
    answer = await a.press_answer(msg_a, f"inv:{inv_b}:acc_ok", forge=True)  # another expert's invitation
    assert "不是发给您的邀请" in answer["text"] and answer["show_alert"]
    assert await _status(core, inv_b) == InvitationStatus.PENDING
    for data in ("garbage", "inv:abc:acc", "inv:1:zz", "x" * 64, f"inv:{inv_a}:dr:bogus", f"inv:{inv_a}:cp:999999"):
        answer = await a.press_answer(msg_a, data, forge=True)
        assert "无法识别这个按钮" in answer["text"], data
    refused = await people.audit("security.refused")
    assert len(refused) >= 7
    stranger = people.user()  # not an expert at all, replaying someone's button data
    hello = await stranger.send("/start", expect="专家库")
    answer = await stranger.press_answer(hello, f"inv:{inv_a}:acc_ok", forge=True)
    assert "不是发给您的邀请" in answer["text"]
    assert await _status(core, inv_a) == InvitationStatus.PENDING
    assert len(await people.audit("security.refused")) >= 8
    no_apology(a)
    no_apology(stranger)


# --- the expert's own commands ----------------------------------------------------------------------

async def test_me_unavailable_report_renew_withdraw(bot: BotRunner, people: People, core: Core) -> None:
    admin = await people.admin()
    u = await people.expert(("eia", "climate"))
    assert u.roles is not None
    async with core.sessions() as s:
        e = await s.get(Expert, u.roles.expert_id)
        assert e is not None
        e.id_number = ID_NUMBER
        await s.commit()
    m = await u.send("/apply", expect="已经是专家库专家")
    m = await u.send("/me", expect="我的资料")
    assert ID_NUMBER[:6] + "********" + ID_NUMBER[-4:] in m["text"] and ID_NUMBER not in m["text"]
    assert "环境影响评价" in m["text"] and "气候变化" in m["text"]
    # /unavailable: a past day is refused; a list and a range are added; a day removed by button
    m = await u.send("/unavailable 2026-10-01", expect="已经过去")
    m = await u.send("/unavailable 2026-11-10 2026-11-12~2026-11-13", expect="已新增 3 天")
    days = [r.day for r in await rows(core, Unavailability)]
    assert days == [date(2026, 11, 10), date(2026, 11, 12), date(2026, 11, 13)]
    m = await u.press(m, "ua:20261112:del", expect=lambda v: "2026-11-10" in (v["text"] or "") and "2026-11-12" not in (v["text"] or ""))
    m = await u.press(m, u.button(m, "添加日期"), expect="请输入不能参加的日期")
    m = await u.send("12月1日", expect="已新增 1 天")
    # /report: confidential, a flag and a notice to the admins
    m = await u.send("/report", expect="请写明要反映的问题")
    m = await u.send("某次评审中有人私下接触专家 <b>", expect="已收到您的反映")
    flags = await rows(core, Flag)
    assert flags[-1].kind == "report" and flags[-1].evidence["text"] == "某次评审中有人私下接触专家 <b>"
    kinds = [o.kind for o in await rows(core, Outbox, Outbox.account_id == admin.account_id)]
    assert "report_received" in kinds
    # /renew, then /withdraw with its confirmation
    m = await u.send("/renew", expect="续任申请")
    m = await u.send("/renew", expect="已有一份待审核的续任申请")
    m = await u.send("/withdraw", expect="确定要退出专家库")
    m = await u.press(m, u.button(m, "暂不退出"), expect="仍是专家库专家")
    m = await u.send("/withdraw", expect="确定要退出专家库")
    m = await u.press(m, u.button(m, "确认退出"), expect="您已退出专家库")
    assert (await rows(core, Expert, Expert.id == u.roles.expert_id))[0].status == "withdrawn"
    await u.send("/apply", expect=q(1))  # a former expert may apply again
    no_apology(u)


# --- expertpanel run ---------------------------------------------------------------------------------

async def test_second_poller_exits_with_a_clear_message(bot: BotRunner, core: Core, sandbox: Any) -> None:
    from bot.commands.run import EXIT_CONFLICT, serve

    outcome = await asyncio.wait_for(serve(
        core, stop=asyncio.Event(), base_url=sandbox.base_url, base_file_url=sandbox.base_file_url,
        rate_limit=False, poll_timeout=1.0, background=False), 15)
    assert outcome.code == EXIT_CONFLICT and "409" in outcome.message


async def test_missing_token_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from bot.commands import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EXPERTPANEL_TELEGRAM__TOKEN", raising=False)
    monkeypatch.delenv("EXPERTPANEL_CONFIG", raising=False)
    outcome = await run._main()
    assert outcome.code == 2 and "@BotFather" in outcome.message and "\n" not in outcome.message
    assert "EXPERTPANEL_TELEGRAM__TOKEN" in outcome.message and "./run.sh" in outcome.message


async def test_serve_starts_the_notifier_and_sets_known_accounts_menus(bot: BotRunner, people: People, core: Core,
                                                                         sandbox: Any) -> None:
    experts = [await people.expert(("eia",)) for _ in range(3)]
    await bot.stop()
    await bot.start(background=True)  # the scheduler and the notifier run alongside the bot
    scope = {"type": "chat", "chat_id": experts[0].id}
    for _ in range(100):
        if "me" in [c["command"] for c in sandbox.commands(scope)]:
            break
        await asyncio.sleep(0.02)
    assert "invitations" in [c["command"] for c in sandbox.commands(scope)]
    cursor = sandbox.cursor()
    await panels.request_panel(core.uow(), await make_unit_contact(core), panel_form(core, size=3))
    m = await sandbox.wait_for_message(experts[0].id, lambda v: "专家邀请" in (v["text"] or ""), 10, after=cursor)
    assert "✅ 接受" in str(m["buttons"])
