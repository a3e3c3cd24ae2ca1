"""Who is asking: every handler resolves the caller's roles first and refuses politely."""
from __future__ import annotations

from dataclasses import replace

from telegram import Update

from bot.context import BotContext
from core.i18n import pick_language
from core.services import accounts, audit
from core.services.accounts import Roles


async def caller(update: Update, context: BotContext) -> Roles:
    """The roles of the user behind this update (creating a bare account on first contact)."""
    user = update.effective_user
    assert user is not None
    roles = await accounts.touch_account(
        context.core.uow(), user.id, user.full_name or "", pick_language(user.language_code)
    )
    if roles.language is None:
        roles = replace(roles, language=pick_language(user.language_code))
    return roles


def lang_of(roles: Roles) -> str:
    return roles.language or "zh"


async def record_refusal(context: BotContext, roles: Roles, what: str, detail: str = "") -> None:
    """Audit a refused command or button press (CHECKLIST 22, 25): who tried what."""
    uow = context.core.uow()
    async with uow:
        await audit.append(uow, roles.actor, "security.refused", "account", roles.account_id,
                           what=what[:64], detail=detail[:64])
        await uow.commit()
