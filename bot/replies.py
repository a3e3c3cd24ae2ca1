"""Small reply helpers shared by handler modules: send (split when long), answer button presses
safely, render coded errors with translated statuses, refuse politely and audit."""
from __future__ import annotations

import html
import logging
from typing import Any

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError

from bot.auth import record_refusal
from bot.context import BotContext
from bot.render import error_message, fmt_dt, split_message, tr
from core.errors import DomainError, ValidationFailed
from core.i18n import has
from core.services.accounts import Roles

log = logging.getLogger(__name__)
ALERT_MAX = 200  # Telegram shows at most 200 characters in a callback answer

# Which status vocabulary an error code's {status} belongs to.
_STATUS_NAMESPACES = (("invitation.", "invitation.status."), ("panel.", "panel.status."),
                      ("expert.", "bot.expert.status."), ("renewal.", "bot.expert.status."))
_TIME_PARAMS = ("deadline", "starts_at", "ends_at")


async def send(update: Update, context: BotContext, text: str,
               markup: InlineKeyboardMarkup | None = None) -> Message | None:
    """Send `text` to the update's chat, split at Telegram's limit; buttons go on the last part."""
    chat = update.effective_chat
    if chat is None:
        return None
    parts = split_message(text)
    sent = None
    for i, part in enumerate(parts):
        sent = await context.bot.send_message(chat.id, part, reply_markup=markup if i == len(parts) - 1 else None)
    return sent


async def answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a button press; a late answer ("query is too old") is only logged (CHECKLIST 27)."""
    try:
        plain = html.unescape(text)[:ALERT_MAX] if text else None  # answers are plain text, not HTML
        await query.answer(plain, show_alert=alert)
    except BadRequest as exc:
        log.info("callback answer failed: %s", exc)


async def edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit the pressed message; identical content counts as success (CHECKLIST 28)."""
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc):
            raise


async def edit_message(context: BotContext, chat_id: int, message_id: int, text: str,
                       markup: InlineKeyboardMarkup | None = None) -> None:
    try:
        await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc):
            log.info("could not edit message %s in chat %s: %s", message_id, chat_id, exc)
    except TelegramError as exc:
        log.info("could not edit message %s in chat %s: %s", message_id, chat_id, exc)


def _status_params(code: str, params: dict[str, Any], lang: str, tz: Any) -> dict[str, Any]:
    out = dict(params)
    status = out.get("status")
    if isinstance(status, str):
        for prefix, ns in _STATUS_NAMESPACES:
            if code.startswith(prefix) and has(ns + status):
                out["status"] = tr(lang, ns + status)
                break
    for key in _TIME_PARAMS:
        value = out.get(key)
        if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and "T" in value:
            out[key] = fmt_dt(value, tz)
    return out


def error_text(exc: DomainError, lang: str, tz: Any = None) -> str:
    """The user-facing text of a coded error, statuses in words and times in the bureau's zone."""
    if isinstance(exc, ValidationFailed) or tz is None:
        return error_message(exc, lang)
    copy = DomainError(exc.code, **_status_params(exc.code, exc.params, lang, tz))
    return error_message(copy, lang)


async def refuse(update: Update, context: BotContext, roles: Roles, what: str,
                 key: str = "bot.common.not_allowed", **params: Any) -> None:
    """Tell the person politely that this is not for them, and audit the attempt (with the
    pressed button's data, if any)."""
    query = update.callback_query
    await record_refusal(context, roles, what, (query.data or "") if query is not None else "")
    text = tr(roles.language or "zh", key, **params)
    if update.callback_query is not None:
        await answer(update.callback_query, text, alert=True)
    else:
        await send(update, context, text)
