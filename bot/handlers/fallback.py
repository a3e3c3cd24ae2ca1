"""Last in line: plain messages go to the person's active flow (bot.flows); anything no flow
expects gets a clear hint; unknown commands list this person's commands; unknown buttons are
refused and audited."""
from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, MessageHandler, filters

from bot import flows, menus
from bot.auth import caller, lang_of
from bot.context import BotContext
from bot.handlers import enrolment
from bot.render import tr
from bot.replies import refuse, send

PRIVATE = filters.ChatType.PRIVATE


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        MessageHandler(PRIVATE & filters.COMMAND, on_unknown_command),
        MessageHandler(PRIVATE & ~filters.COMMAND & ~filters.StatusUpdate.ALL, on_message),
        CallbackQueryHandler(on_unknown_button),
    ]


async def on_unknown_command(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    lang = lang_of(roles)
    msg = update.effective_message
    command = ((msg.text or "").split() or ["/"])[0].split("@")[0] if msg else "/"
    await send(update, context, tr(lang, "bot.common.unknown_command", command=command) + "\n" +
               menus.help_lines(roles, lang))


async def on_message(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    if await flows.dispatch(update, context, roles):
        return
    lang = lang_of(roles)
    msg = update.effective_message
    kind = flows.kind_of(msg) if msg else "other"
    text = tr(lang, f"bot.common.unexpected_{kind}")
    if await flows.get(context, roles, enrolment.FLOW) is not None:
        text += "\n\n" + tr(lang, "bot.start.draft_waiting")
    else:
        text += "\n\n" + tr(lang, "bot.common.see_help")
    await send(update, context, text)


async def on_unknown_button(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    await refuse(update, context, roles, "callback.unknown", "bot.common.bad_button")
