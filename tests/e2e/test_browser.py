"""The README's first five minutes, in headless Chromium: `expertpanel sandbox` as a real process,
the playground page driven with Playwright.

A unit contact pastes the request template and confirms; each invited expert accepts; the unit's
status reaches "confirmed" and the roster arrives; the clock moves to the day before (meeting
reminder) and past the meeting; the unit rates every expert. Screenshots go to artifacts/; with
EXPERTPANEL_REFRESH_DOCS=1 the README's picture, docs/playground.png, is refreshed too (a plain test
run leaves the working tree alone).

The draw is random and two demo experts use English (core.demo_data.ENGLISH_EXPERTS; 彭子涵 fits all
three requested fields), so the expert steps read each invited expert's language and use the bot's
catalog texts in it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.i18n import t
from tests.support.sandbox_process import ROOT, SandboxProcess

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
ARTIFACTS = ROOT / "artifacts"
README_SHOT = ROOT / "docs" / "playground.png"
CONTACT = 200002  # 陈静, 乌鲁木齐天山新区建设管理局 (core.demo_data)
WAIT = 20_000     # ms

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(.ci/run installs it; browser downloads are impossible here)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package (dev extra)")


def template(meeting: date) -> str:
    deadline = meeting - timedelta(days=3)
    return "\n".join([
        "事项名称：天山新区垃圾焚烧发电项目环境影响报告书技术评审",
        "事项类型：评审",
        f"时间：{meeting:%Y-%m-%d} 09:30-12:00",
        "地点：天山新区管理局3号会议室",
        "专业领域：环境影响评价×1、环境工程×1、环境监测与监控×1",
        "人数：3",
        "相关单位：天山新区环境能源有限公司",
        f"回复期限：{deadline:%Y-%m-%d} 18:00",
    ])


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:  # 127.0.0.1 only
        return json.loads(resp.read())["result"]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    proc = SandboxProcess(tmp_path)
    proc.start()
    try:
        yield proc
    finally:
        code = proc.stop()
        assert code == 0 and "Traceback" not in proc.output(), proc.output()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"))


def last_edit(pane: Any, message_id: str) -> int:
    return int(pane.locator(f'[data-message-id="{message_id}"]').get_attribute("data-edits") or 0)


def press_and_wait(pane: Any, button: Any, step: str) -> None:
    """Press an inline button and wait until the bot edited that message or sent another; a
    callback answer shown as an alert (e.g. "unknown button") fails the step with its text."""
    msg = button.locator("xpath=ancestor::div[contains(concat(' ', @class, ' '), ' msg ')][1]")
    message_id = msg.get_attribute("data-message-id")
    edits, count = last_edit(pane, message_id), pane.locator(".msg").count()
    button.click()
    pane.page.wait_for_function(
        """([chat, id, edits, count]) => {
            const pane = document.querySelector(`[data-chat="${chat}"]`);
            const m = pane.querySelector(`[data-message-id="${id}"]`);
            return (m && Number(m.dataset.edits) > edits) || pane.querySelectorAll('.msg').length > count
                || pane.querySelector('.alert');
        }""", arg=[pane.get_attribute("data-chat"), message_id, edits, count], timeout=WAIT)
    alert = pane.locator(".alert .alert-text")
    if alert.count():
        raise AssertionError(f"step '{step}': the bot answered the button with an alert: {alert.first.inner_text()!r}")


def open_chat(page: Any, user_id: int) -> Any:
    page.click(f'[data-persona="{user_id}"]')
    pane = page.locator(f'[data-chat="{user_id}"]')
    pane.wait_for(timeout=WAIT)
    start = pane.locator(".start-btn")
    if start.is_visible():
        start.click()
        pane.locator(".msg.in").first.wait_for(timeout=WAIT)
    return pane


def invitation_title(lang: str) -> str:
    """How an invitation begins in `lang` ("专家邀请" / "Panel invitation"): the demo has experts
    whose account language is English (core.demo_data.ENGLISH_EXPERTS), and the draw is random."""
    return _plain(t("bot.invitation.body", lang, id=0, title="", matter_type="", starts="", ends="",
                    location="", unit="", deadline="")).split("#")[0].strip(" 📨")


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def accept_invitation(pane: Any, lang: str) -> None:
    invitation = pane.locator(".msg.in", has_text=invitation_title(lang)).last
    invitation.wait_for(timeout=WAIT)
    accept = re.compile(r"^\W*" + re.escape(_plain(t("bot.invitation.accept", lang)).strip("✅ ")) + "$")
    accepted = re.split(r"[。.]", _plain(t("bot.invitation.outcome.accepted", lang)))[0].strip("✅ ")
    confirm_text = _plain(t("bot.invitation.confirm_accept", lang)).strip("✅ ")
    press_and_wait(pane, invitation.locator(".kb-btn").filter(has_text=accept), "accept")
    for _ in range(6):  # unit consent, no conflict, confidentiality (Art. 11): as many steps as the bot asks
        if accepted in invitation.inner_text():
            return
        confirm = invitation.locator(".kb-btn", has_text=confirm_text)
        if not confirm.count():
            break
        press_and_wait(pane, confirm.first, "confirm acceptance")
    assert accepted in invitation.inner_text(), invitation.inner_text()


def diagnose(page: Any, sandbox: SandboxProcess) -> str:
    """What the page and the sandbox show, for a failure message."""
    badges = page.eval_on_selector_all(".persona", "rows => rows.filter(r => r.querySelector('.badge'))"
                                       ".map(r => r.dataset.persona + ': ' + r.querySelector('.meta').textContent)")
    unit = [m["text"] for m in _json(f"{sandbox.url}/sandbox/chats/{CONTACT}/messages")][-3:]
    return f"personas with unread messages: {badges}; the unit's last messages: {unit}\n{sandbox.output()}"


@contextmanager
def step(name: str, page: Any, sandbox: SandboxProcess) -> Iterator[None]:
    """Name the walkthrough step that failed, with a screenshot and what the sandbox shows."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 — re-raised with the step's name and evidence
        shot(page, "failure")
        raise AssertionError(f"step {name!r} failed: {exc}\n{diagnose(page, sandbox)}") from None


def test_first_five_minutes(sandbox: SandboxProcess) -> None:
    clock = _json(f"{sandbox.url}/sandbox/clock")
    meeting = datetime.fromisoformat(clock["local"]).date() + timedelta(days=10)
    languages = {p["telegram_id"]: p["language"] for p in _json(f"{sandbox.url}/sandbox/personas")}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 940}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        with step("open the page", page, sandbox):
            page.goto(sandbox.url + "/")
            page.wait_for_selector("body.ready", timeout=WAIT)
            assert page.locator('[data-roles~="expert"]').count() == 60

        with step("the unit contact pastes the request template and confirms", page, sandbox):
            unit = open_chat(page, CONTACT)
            unit.locator("textarea.input").fill(template(meeting))
            unit.locator("button.send").click()
            summary = unit.locator(".msg.in", has_text="确认提交").last
            summary.wait_for(timeout=WAIT)
            shot(page, "1-request")
            press_and_wait(unit, summary.locator(".kb-btn", has_text="确认提交"), "submit the request")
            unit.locator(".msg.in", has_text="邀请中").first.wait_for(timeout=WAIT)

        with step("the invitations reach three experts", page, sandbox):
            titles = sorted({invitation_title(lang) for lang in ("zh", "en")})
            page.wait_for_function("titles => [...document.querySelectorAll('[data-roles~=expert] .meta')]"
                                   ".filter(m => titles.some(x => m.textContent.includes(x))).length >= 3",
                                   arg=titles, timeout=WAIT)
            invited = page.locator('[data-roles~="expert"]', has=page.locator(
                ".meta", has_text=re.compile("|".join(map(re.escape, titles)))))
            experts = [int(invited.nth(i).get_attribute("data-persona") or 0) for i in range(invited.count())]
            assert len(experts) == 3, experts
            print("invited experts (language):", [(e, languages[e]) for e in experts])

        with step("each invited expert accepts (in the expert's own language)", page, sandbox):
            for n, expert in enumerate(experts):
                pane = open_chat(page, expert)
                accept_invitation(pane, languages[expert])
                if n < len(experts) - 1:
                    pane.locator(".close").click()

        with step("the unit's status reaches confirmed and the roster arrives", page, sandbox):
            unit.locator(".msg.in", has_text="已组建完成").wait_for(timeout=WAIT)
            unit.locator(".msg.in", has_text="状态：已组建").last.wait_for(timeout=WAIT)
            page.locator('[data-chat="%d"] .messages' % experts[-1]).evaluate("n => n.scrollTop = 0")
            page.locator("#personas").evaluate("n => n.scrollTop = 0")
            unit.locator(".messages").evaluate("n => n.scrollTop = n.scrollHeight")
            shot(page, "2-confirmed")
            if os.environ.get("EXPERTPANEL_REFRESH_DOCS") == "1":
                shutil.copyfile(ARTIFACTS / "browser-2-confirmed.png", README_SHOT)

        with step("the clock moves to the day before: meeting reminder", page, sandbox):
            page.fill("#clock-to", f"{meeting - timedelta(days=1):%Y-%m-%d}T10:00")
            page.click("#clock-form button[type=submit]")
            reminder = t("notify.meeting_reminder", languages[experts[-1]], title="", starts_at="", ends_at="",
                         location="").split("：")[0].split(":")[0].strip("📅 ")
            page.locator(f'[data-chat="{experts[-1]}"] .msg.in', has_text=reminder).wait_for(timeout=WAIT)
            shot(page, "3-reminder")

        with step("the clock moves past the meeting: evaluation prompts", page, sandbox):
            page.fill("#clock-to", f"{meeting:%Y-%m-%d}T14:00")
            page.click("#clock-form button[type=submit]")
            page.wait_for_function(
                f"() => [...document.querySelectorAll('[data-chat=\"{CONTACT}\"] .msg.in')]"
                ".filter(m => m.textContent.includes('请评价专家')).length >= 3", timeout=WAIT)

        with step("the unit rates each expert", page, sandbox):
            prompts = unit.locator(".msg.in", has_text="请评价专家")
            for i in range(prompts.count()):
                prompt = prompts.nth(i)
                for suffix in (":professional:5", ":attitude:4", ":quality:5", ":attendance:present"):
                    press_and_wait(unit, prompt.locator(f'.kb-btn[data-callback$="{suffix}"]'), f"rate {suffix}")
                assert "未评" not in prompt.inner_text(), prompt.inner_text()
            shot(page, "4-evaluated")
        assert errors == [], errors
        browser.close()
