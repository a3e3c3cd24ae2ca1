"""Handlers: the using unit rates each expert after the service (Art. 14).

The scheduler sends one rating card per served expert (outbox kinds `evaluation_prompt` and
`evaluation_followup`, rendered in `bot/handlers/reminders.py`); /evaluate lists the cards still
open. Their buttons carry `ev:<invitation_id>:<action>[:<arg>]`:

    professional:1..5   业务水平        attitude:1..5   工作态度        quality:1..5   质量规范
    attendance:present|late|absent   出席情况                       comment        write a comment

Every press is one core call (`evaluation.rate`), which checks that the presser is a contact of
the requesting unit and that the evaluation is still editable; the card is redrawn in place.
A recorded absence is a no-show under Art. 16(3) (the core records it).
"""
from __future__ import annotations

from telegram import ForceReply, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot import flows, menus
from bot.auth import caller, lang_of
from bot.callbacks import parse, pattern
from bot.context import BotContext
from bot.handlers.reminders import evaluation_keyboard, evaluation_text
from bot.render import tr
from bot.replies import answer, edit, edit_message, error_text, refuse, send
from core.bootstrap import Core
from core.errors import DomainError
from core.services import evaluation
from core.services.accounts import Roles
from core.services.drafts import Draft
from core.services.evaluation import EvaluationCard

PREFIX = "ev"
FLOW = "ev_comment"
SCORES = ("professional", "attitude", "quality")
PENDING_LIST_MAX = 20


def card_view(core: Core, card: EvaluationCard, lang: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """The card as the scheduler renders it, plus its state; no buttons once it is fixed."""
    if card.fixed:
        state = tr(lang, "bot.evaluation.fixed")
    elif card.complete:
        state = tr(lang, "bot.evaluation.complete", days=core.settings.rules.evaluation_edit_days)
    else:
        state = ""
    text = evaluation_text(core, card, lang) + (f"\n\n{state}" if state else "")
    return text, None if card.fixed else evaluation_keyboard(card, lang)


def _change(action: str, arg: str | None) -> dict[str, str] | None:
    """The core call's keyword for a button, or None for anything that is not one of ours."""
    if action in SCORES and arg is not None:
        return {action: arg}
    if action == "attendance" and arg is not None:
        return {"attendance": arg}
    return None


async def on_press(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    roles = await caller(update, context)
    lang = lang_of(roles)
    data = parse(query.data)
    change = _change(data.action, data.arg) if data is not None and data.prefix == PREFIX else None
    if data is None or (change is None and data.action != "comment"):
        await refuse(update, context, roles, "ev.garbage")
        return
    core = context.core
    try:
        if change is None:
            card = await evaluation.editable_card(core.uow(), roles, data.id)
            await _ask_comment(update, context, roles, card, lang)
            await answer(query)
            return
        result = await evaluation.rate(core.uow(), roles, data.id, **change)
    except DomainError as exc:
        await answer(query, error_text(exc, lang, core.settings.tz), alert=True)
        return
    key = "bot.evaluation.saved_complete" if result.card.complete else "bot.evaluation.saved"
    await answer(query, tr(lang, key) if result.changed else tr(lang, "bot.evaluation.no_change"))
    await edit(query, *card_view(core, result.card, lang))


async def _ask_comment(update: Update, context: BotContext, roles: Roles, card: EvaluationCard, lang: str) -> None:
    msg = update.effective_message
    await flows.save(context, roles, FLOW, "text", {
        "invitation_id": card.invitation_id,
        "chat_id": msg.chat_id if msg else None, "message_id": msg.message_id if msg else None})
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_message(chat.id, tr(lang, "bot.evaluation.comment_prompt", code=card.expert_code,
                                               name=card.expert_name, max=evaluation.COMMENT_MAX),
                                   reply_markup=ForceReply(selective=True))


async def on_comment(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    """The next text after 'comment' is the comment (flow `ev_comment`)."""
    lang = lang_of(roles)
    msg = update.effective_message
    if msg is None or msg.text is None:
        await send(update, context, tr(lang, "bot.evaluation.comment_text_only"))
        return
    core = context.core
    try:
        result = await evaluation.rate(core.uow(), roles, int(draft.data["invitation_id"]), comment=msg.text)
    except DomainError as exc:
        await send(update, context, error_text(exc, lang, core.settings.tz))
        if not exc.code.startswith("text."):  # a too-long comment: keep waiting for a shorter one
            await flows.clear(context, roles, FLOW)
        return
    await flows.clear(context, roles, FLOW)
    chat_id, message_id = draft.data.get("chat_id"), draft.data.get("message_id")
    if chat_id and message_id:
        await edit_message(context, int(chat_id), int(message_id), *card_view(core, result.card, lang))
    await send(update, context, tr(lang, "bot.evaluation.comment_saved", code=result.card.expert_code))


async def cmd_evaluate(update: Update, context: BotContext) -> None:
    """/evaluate: one card per served expert of the unit's panels not yet fully rated."""
    roles = await caller(update, context)
    lang = lang_of(roles)
    if roles.contact_id is None:
        await refuse(update, context, roles, "evaluate", "bot.evaluation.contacts_only")
        return
    cards = await evaluation.pending_for_unit(context.core.uow(), roles)
    if not cards:
        await send(update, context, tr(lang, "bot.evaluation.none_pending"))
        return
    await send(update, context, tr(lang, "bot.evaluation.pending_count", count=len(cards)))
    for card in cards[:PENDING_LIST_MAX]:
        await send(update, context, *card_view(context.core, card, lang))


flows.register(FLOW, on_comment)
menus.add("contact", "evaluate")


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("evaluate", cmd_evaluate),
        CallbackQueryHandler(on_press, pattern=pattern(PREFIX)),
    ]
