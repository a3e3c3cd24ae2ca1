"""The CLI starts without the bot's and the sandbox's libraries: `expertpanel --help`, `audit
verify` or `units add` should not pay for python-telegram-bot, aiohttp, APScheduler or matplotlib
(measured here: 4.5 s to import bot.cli with them, 2.5 s without)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("telegram", "aiohttp", "apscheduler", "matplotlib", "openpyxl", "bot.app", "bot.sandbox", "core.demo")


def test_importing_the_cli_loads_none_of_the_bot_or_sandbox_modules() -> None:
    code = ("import sys, bot.cli; "
            f"print(' '.join(m for m in {HEAVY!r} if any(k == m or k.startswith(m + '.') for k in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []


def test_every_command_is_still_registered() -> None:
    from bot.cli import app

    names = {c.name for c in app.registered_commands}
    assert {"run", "sandbox", "start", "scheduler"} <= names
