"""Webhook mode (`expertpanel run --webhook-url …`): the REAL Application registers its URL with the
sandbox Bot API (setWebhook with the secret token) and serves updates on 127.0.0.1; Telegram's
X-Telegram-Bot-Api-Secret-Token header is checked — a wrong or missing secret gets 403."""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest

from bot.commands.run import EXIT_CONFIG, serve
from bot.sandbox import SandboxServer
from core.bootstrap import Core, build_core
from core.config import Settings
from tests.e2e.conftest import TOKEN, BotRunner, People

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

SECRET = "s3cr3t-Token_for-the-webhook"
PUBLIC_URL = "https://bot.example.invalid/tg-hook"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PORT = _free_port()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database={"url": db_url}, telegram={  # type: ignore[arg-type]
        "token": TOKEN, "webhook_url": PUBLIC_URL, "webhook_secret": SECRET,
        "webhook_listen": "127.0.0.1", "webhook_port": PORT})


def _update(update_id: int, user_id: int, text: str) -> dict[str, object]:
    user = {"id": user_id, "is_bot": False, "first_name": "测试", "language_code": "zh"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "from": user,
        "chat": {"id": user_id, "type": "private", "first_name": "测试"}, "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}}


async def test_webhook_mode_checks_the_secret_and_handles_updates(bot: BotRunner, people: People,
                                                                  sandbox: SandboxServer) -> None:
    hook = sandbox.api.webhooks[TOKEN]  # PTB registered the public URL and the secret
    assert hook["url"] == PUBLIC_URL and hook["secret_token"] == SECRET
    assert hook["allowed_updates"] == ["message", "callback_query"]
    user = people.user()
    local = f"http://127.0.0.1:{PORT}/tg-hook"
    async with httpx.AsyncClient(timeout=5) as client:
        before = sandbox.cursor()
        wrong = await client.post(local, json=_update(1, user.id, "/help"),
                                  headers={"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"})
        missing = await client.post(local, json=_update(2, user.id, "/help"))
        assert (wrong.status_code, missing.status_code) == (403, 403)
        await asyncio.sleep(0.3)
        assert sandbox.events(before, chat_id=user.id, kinds=("bot_message",)) == []  # neither was handled
        ok = await client.post(local, json=_update(3, user.id, "/start"),
                               headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert ok.status_code == 200
    reply = await sandbox.wait_for_message(user.id, timeout=8, after=before)
    assert "/apply" in reply["text"]  # the unbound person's /start answer: how to apply
    assert len(sandbox.events(before, chat_id=user.id, kinds=("bot_message",))) == 1


async def test_webhook_mode_needs_a_secret(db_url: str, sandbox: SandboxServer) -> None:
    core = build_core(Settings(database={"url": db_url}, telegram={  # type: ignore[arg-type]
        "token": TOKEN, "webhook_url": PUBLIC_URL, "webhook_port": _free_port()}))
    try:
        outcome = await serve(core, stop=asyncio.Event(), base_url=sandbox.base_url, background=False)
    finally:
        await core.close()
    assert outcome.code == EXIT_CONFIG and "webhook_secret" in outcome.message
    assert TOKEN not in sandbox.api.webhooks


async def test_a_taken_port_is_one_clear_line(db_url: str, sandbox: SandboxServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        core = build_core(Settings(database={"url": db_url}, telegram={  # type: ignore[arg-type]
            "token": TOKEN, "webhook_url": PUBLIC_URL, "webhook_secret": SECRET, "webhook_port": port}))
        try:
            outcome = await serve(core, stop=asyncio.Event(), base_url=sandbox.base_url, background=False)
        finally:
            await core.close()
    assert outcome.code == EXIT_CONFIG and f"127.0.0.1:{port}" in outcome.message


def test_the_secret_must_be_a_valid_secret_token() -> None:
    with pytest.raises(ValueError, match="webhook_secret"):
        Settings(telegram={"webhook_secret": "has spaces and ünïcode"})  # type: ignore[arg-type]


def test_cli_options_select_webhook_mode(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`expertpanel run --webhook-url … --webhook-listen … --webhook-port …` reaches serve()."""
    from typer.testing import CliRunner

    from bot import cli
    from bot.commands import run as run_module
    from bot.commands.run import Outcome

    seen: list[Settings] = []

    async def fake_serve(core: Core, **_: object) -> Outcome:
        seen.append(core.settings)
        return Outcome()

    monkeypatch.setattr(run_module, "serve", fake_serve)
    monkeypatch.delenv("EXPERTPANEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no config.toml here: defaults < environment < options
    env = {"EXPERTPANEL_DATABASE__URL": db_url, "EXPERTPANEL_TELEGRAM__TOKEN": TOKEN,
           "EXPERTPANEL_TELEGRAM__WEBHOOK_SECRET": SECRET}
    result = CliRunner().invoke(cli.app, ["run", "--webhook-url", PUBLIC_URL, "--webhook-listen", "0.0.0.0",
                                          "--webhook-port", "9443"], env=env)
    assert result.exit_code == 0, result.output
    tg = seen[0].telegram
    assert (tg.webhook_url, tg.webhook_listen, tg.webhook_port) == (PUBLIC_URL, "0.0.0.0", 9443)
    assert tg.webhook_secret is not None and tg.webhook_secret.get_secret_value() == SECRET
