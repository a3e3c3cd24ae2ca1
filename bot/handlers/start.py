"""/start (binding codes, recommendation links, the overview), /help, /language, /cancel."""
from __future__ import annotations

from dataclasses import replace

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot import flows, keyboards, menus
from bot.auth import caller, lang_of
from bot.callbacks import cb, parse, pattern
from bot.context import BotContext
from bot.handlers import enrolment
from bot.render import tr
from bot.replies import answer, edit, error_text, refuse, send
from core.errors import DomainError
from core.i18n import LANGUAGES, pick_language
from core.services import accounts, chat_support
from core.services.accounts import Roles

PRIVATE = filters.ChatType.PRIVATE
RECOMMENDATION_PREFIX = "r"


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("start", cmd_start, PRIVATE),
        CommandHandler("help", cmd_help, PRIVATE),
        CommandHandler("language", cmd_language, PRIVATE),
        CommandHandler("cancel", cmd_cancel, PRIVATE),
        CallbackQueryHandler(on_language, pattern=pattern("lang")),
    ]


def overview(roles: Roles, lang: str, name: str = "") -> str:
    """What this person can do: their roles and commands, or how to apply / bind."""
    held = [r for r in menus.role_names(roles) if r != "everyone"]
    if not held:
        return tr(lang, "bot.start.welcome", name=name) + "\n\n" + tr(lang, "bot.start.unbound") + "\n\n" + \
            tr(lang, "bot.start.commands") + "\n" + menus.help_lines(roles, lang)
    roles_text = "、".join(tr(lang, f"bot.start.role.{r}") for r in held) if lang == "zh" else \
        ", ".join(tr(lang, f"bot.start.role.{r}") for r in held)
    return tr(lang, "bot.start.welcome", name=name) + "\n" + tr(lang, "bot.start.roles", roles=roles_text) + \
        "\n\n" + tr(lang, "bot.start.commands") + "\n" + menus.help_lines(roles, lang)


async def cmd_start(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    lang = lang_of(roles)
    user = update.effective_user
    assert user is not None
    code = (context.args or [""])[0].strip()
    if not code:
        text = overview(roles, lang, user.first_name or "")
        if await flows.get(context, roles, enrolment.FLOW) is not None:
            text += "\n\n" + tr(lang, "bot.start.draft_waiting")
        await send(update, context, text)
        return
    if code.startswith(RECOMMENDATION_PREFIX):
        info = await chat_support.recommendation(context.core.uow(), code)
        if info is not None:
            if info.used:
                await send(update, context, error_text(DomainError("recommendation.used"), lang))
                return
            await enrolment.start_application(update, context, roles, recommendation_code=info.code,
                                              recommended_by=info.unit_name)
            return
    try:
        role, bound = await accounts.redeem_code(context.core.uow(), user.id, code, user.full_name or "",
                                                 pick_language(user.language_code))
    except DomainError as exc:
        await send(update, context, error_text(exc, lang))
        return
    bound = replace(bound, language=bound.language or lang)
    await send(update, context, tr(lang, f"bot.start.bound.{role}") + "\n\n" + overview(bound, lang, user.first_name or ""))
    await menus.set_chat_menu(context.bot, user.id, bound, lang)


async def cmd_help(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    lang = lang_of(roles)
    await send(update, context, tr(lang, "bot.start.help") + "\n\n" + menus.help_lines(roles, lang) + "\n\n" +
               tr(lang, "bot.start.help_cancel"))


async def cmd_language(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    lang = lang_of(roles)
    wanted = (context.args or [""])[0].strip().lower()
    if wanted:
        await _set_language(update, context, roles, wanted)
        return
    buttons = [(tr(code, "bot.start.language_name"), cb("lang", 0, "set", code)) for code in LANGUAGES]
    await send(update, context, tr(lang, "bot.start.language_pick"), keyboards.rows(buttons))


async def on_language(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    roles = await caller(update, context)
    data = parse(query.data)
    if data is None or data.action != "set" or data.arg not in LANGUAGES:
        await refuse(update, context, roles, "callback.language", "bot.common.bad_button")
        return
    await answer(query)
    await edit(query, tr(data.arg, "bot.start.language_pick"))
    await _set_language(update, context, roles, data.arg)


async def _set_language(update: Update, context: BotContext, roles: Roles, wanted: str) -> None:
    try:
        await accounts.set_language(context.core.uow(), roles.account_id, wanted)
    except DomainError as exc:
        await send(update, context, error_text(exc, lang_of(roles)))
        return
    roles = replace(roles, language=wanted)
    await send(update, context, tr(wanted, "bot.start.language_set"))
    user = update.effective_user
    if user is not None:
        await menus.set_chat_menu(context.bot, user.id, roles, wanted)


async def cmd_cancel(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    lang = lang_of(roles)
    draft = await flows.active(context, roles)
    if draft is None:
        await send(update, context, tr(lang, "bot.start.nothing_to_cancel"))
        return
    if draft.flow == enrolment.FLOW:
        await enrolment.discard_prompt(update, context, roles)
        return
    await flows.clear(context, roles, draft.flow)
    await send(update, context, tr(lang, "bot.start.cancelled"))
