"""Command menus per role, from one source: the same lists feed setMyCommands, /help and the
"unknown command" answer.

Handler modules add the commands their role may use at import time:

    menus.add("contact", "request", "panels")

and give each a description under `bot.menu.<command>` in the catalogs.
"""
from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from bot.render import tr
from core.i18n import LANGUAGES, has
from core.services.accounts import Roles

log = logging.getLogger(__name__)

ROLE_ORDER = ("everyone", "expert", "contact", "admin", "supervisor")
_COMMANDS: dict[str, list[str]] = {
    "everyone": ["start", "apply", "help", "language"],
    "expert": ["me", "invitations", "unavailable", "renew", "withdraw", "report"],
    "contact": [],
    "admin": [],
    "supervisor": [],
}


def add(role: str, *commands: str) -> None:
    """Make `commands` part of `role`'s menu (idempotent, keeps order)."""
    if role not in _COMMANDS:
        raise ValueError(f"unknown role {role!r}")
    for command in commands:
        if command not in _COMMANDS[role]:
            _COMMANDS[role].append(command)


def role_names(roles: Roles) -> list[str]:
    """The roles this person holds, in menu order (never empty: 'everyone')."""
    held = {"everyone": True, "expert": roles.expert_id is not None, "contact": roles.contact_id is not None,
            "admin": roles.is_admin, "supervisor": roles.is_supervisor}
    return [r for r in ROLE_ORDER if held[r]]


def commands_of(role: str) -> list[str]:
    return list(_COMMANDS.get(role, []))


def commands_for(roles: Roles) -> list[str]:
    """Every command this person may use, without duplicates."""
    out: list[str] = []
    for role in role_names(roles):
        out.extend(c for c in _COMMANDS[role] if c not in out)
    return out


def describe(command: str, lang: str) -> str:
    key = f"bot.menu.{command}"
    return tr(lang, key) if has(key, lang) or has(key) else command


def help_lines(roles: Roles, lang: str) -> str:
    """'/me — 我的资料' lines, one per command."""
    return "\n".join(f"/{c} — {describe(c, lang)}" for c in commands_for(roles))


def _bot_commands(commands: list[str], lang: str) -> list[BotCommand]:
    return [BotCommand(c, describe(c, lang)[:256]) for c in commands]


async def set_chat_menu(bot: Bot, chat_id: int, roles: Roles, lang: str) -> None:
    """This person's menu (their roles' commands, in their language); failures are only logged."""
    try:
        await bot.set_my_commands(_bot_commands(commands_for(roles), lang), scope=BotCommandScopeChat(chat_id))
    except TelegramError as exc:
        log.warning("could not set the command menu of chat %s: %s", chat_id, exc)


async def set_default_menus(bot: Bot) -> None:
    """Everyone's menu: Chinese by default, English for English-language clients."""
    base = _COMMANDS["everyone"]
    await bot.set_my_commands(_bot_commands(base, "zh"), scope=BotCommandScopeDefault())
    for lang in LANGUAGES:
        if lang != "zh":
            await bot.set_my_commands(_bot_commands(base, lang), scope=BotCommandScopeDefault(), language_code=lang)
