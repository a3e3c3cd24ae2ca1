"""Shared bits of the unit and bureau handlers: role gates that refuse politely and audit,
coded errors as messages or button alerts, request-validation lists, the live status message."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from telegram import CallbackQuery, InlineKeyboardMarkup, Update

from bot.auth import caller, lang_of, record_refusal
from bot.callbacks import Callback, parse
from bot.context import BotContext
from bot.render import esc, tr
from bot.replies import answer, edit, edit_message, error_text, refuse, send
from bot.units_render import status_keyboard, status_text
from core.errors import DomainError, NotFound
from core.i18n import error_text as raw_error_text
from core.services import panel_messages
from core.services.accounts import Roles

ALERT_LIMIT = 180
EDIT_LIMIT = 4000


async def require_contact(update: Update, context: BotContext, roles: Roles, what: str) -> bool:
    if roles.contact_id is not None and roles.unit_id is not None:
        return True
    await refuse(update, context, roles, what, "bot.units.contacts_only")
    return False


async def require_panel_role(update: Update, context: BotContext, roles: Roles, what: str) -> bool:
    """Panel buttons are for contacts, the bureau and supervisors; the core then decides per panel."""
    if roles.unit_id is not None or roles.is_admin or roles.is_supervisor:
        return True
    await refuse(update, context, roles, what, "bot.units.contacts_only")
    return False


async def require_admin(update: Update, context: BotContext, roles: Roles, what: str) -> bool:
    if roles.is_admin:
        return True
    await refuse(update, context, roles, what, "bot.admin.admins_only")
    return False


async def require_overseer(update: Update, context: BotContext, roles: Roles, what: str) -> bool:
    if roles.is_admin or roles.is_supervisor:
        return True
    await refuse(update, context, roles, what, "bot.supervisor.only")
    return False


async def refuse_button(update: Update, context: BotContext, roles: Roles, what: str, detail: str = "") -> None:
    """Forged, malformed or foreign button data: audit it and answer politely."""
    await record_refusal(context, roles, what, detail)
    if update.callback_query is not None:
        await answer(update.callback_query, tr(lang_of(roles), "bot.units.button_refused"), alert=True)
    else:
        await send(update, context, tr(lang_of(roles), "bot.units.button_refused"))


Gate = Callable[[Update, BotContext, Roles, str], Awaitable[bool]]


@dataclass(frozen=True)
class Press:
    """A button press that parsed and passed its role gate."""

    query: CallbackQuery
    roles: Roles
    data: Callback
    lang: str


async def checked_press(update: Update, context: BotContext, prefix: str, actions: Collection[str],
                        gate: Gate) -> Press | None:
    """Parse the press and check the presser's role; anything else is refused and audited
    (CHECKLIST 22, 25). Whether this person may act on this id is the core's decision, after."""
    query = update.callback_query
    assert query is not None
    roles = await caller(update, context)
    data = parse(query.data)
    if data is None or data.prefix != prefix or data.action not in actions:
        await refuse_button(update, context, roles, f"{prefix}.malformed", query.data or "")
        return None
    if not await gate(update, context, roles, f"{prefix}.{data.action}"):
        return None
    return Press(query, roles, data, lang_of(roles))


def text_of(update: Update) -> str | None:
    """The message's text, stripped; None for a photo, sticker or other non-text."""
    msg = update.effective_message
    return msg.text.strip() if msg is not None and msg.text else None


async def show_error(update: Update, context: BotContext, roles: Roles, exc: DomainError) -> None:
    await send(update, context, error_text(exc, lang_of(roles), context.core.settings.tz))


async def button_error(update: Update, context: BotContext, roles: Roles, exc: DomainError, what: str,
                       subject_id: int | str = "") -> None:
    """A coded error after a press: an id that does not exist is treated as forged (audited);
    Forbidden was audited by the core; the text goes in an alert, or a message when long."""
    if isinstance(exc, NotFound):
        await record_refusal(context, roles, what, f"not_found:{subject_id}")
    text = error_text(exc, lang_of(roles), context.core.settings.tz)
    query = update.callback_query
    if query is not None and len(text) <= ALERT_LIMIT:
        await answer(query, text, alert=True)
        return
    if query is not None:
        await answer(query)
    await send(update, context, text)


def request_errors(lang: str, errors: list[tuple[str, str, dict[str, Any]]]) -> str:
    """Every problem of a panel request, one line each, labelled with the template item."""
    lines = [tr(lang, "bot.units.request_invalid", count=len(errors))]
    for field, code, params in errors:
        label = tr(lang, f"bot.units.label.{field.split('.')[0]}")
        lines.append(f"• {label}：{esc(raw_error_text(code, lang, **params))}")
    return "\n".join(lines)


async def post_status_message(update: Update, context: BotContext, roles: Roles, panel_id: int) -> None:
    """Send the panel's live status message and remember it, so later changes edit it in place."""
    lang = lang_of(roles)
    brief = await panel_messages.panel_brief(context.core.uow(), panel_id)
    if brief is None:
        return
    msg = await send(update, context, status_text(lang, brief, context.core), status_keyboard(lang, panel_id, brief.status))
    if msg is not None:
        await panel_messages.set_status_message(context.core.uow(), roles, panel_id, msg.chat_id, msg.message_id)


async def refresh_status_message(context: BotContext, roles: Roles, panel_id: int) -> None:
    """Edit the panel's stored status message now (e.g. right after this person cancelled it)."""
    lang = lang_of(roles)
    brief = await panel_messages.panel_brief(context.core.uow(), panel_id)
    if brief is None or brief.status_chat_id is None or brief.status_message_id is None:
        return
    await edit_message(context, brief.status_chat_id, brief.status_message_id, status_text(lang, brief, context.core),
                       status_keyboard(lang, panel_id, brief.status))


async def show(update: Update, context: BotContext, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace the pressed message with `text`, or send it (split) when it is too long to edit."""
    query = update.callback_query
    if query is not None and len(text) <= EDIT_LIMIT:
        await edit(query, text, markup)
    else:
        await send(update, context, text, markup)
