"""Reminders: outbox renderers for the scheduler's kinds, and the term-expiry buttons.

Buttons (callback data, checked against the presser on every press):
  term:<expert_id>:renew   续任 → enrolment.request_renewal (the bureau reviews it)
  term:<expert_id>:leave   不再续任 → nothing to do; offers "leave the database now"
  term:<expert_id>:quit    现在退出 → enrolment.withdraw
  ev:<invitation_id>:<professional|attitude|quality>:<1-5>, ev:<id>:attendance:<present|absent|late>,
  ev:<id>:comment          — rendered here on evaluation prompts; handled by the evaluation handlers.
"""
from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler

from bot.auth import caller, lang_of, record_refusal
from bot.callbacks import cb, parse, pattern
from bot.context import BotContext
from bot.keyboards import checked, rows
from bot.outbox_render import RENDERERS, Rendered, renderer
from bot.render import error_message, fmt_dt, tr
from core.bootstrap import Core
from core.enums import Attendance
from core.errors import DomainError, NotFound
from core.scheduling import reminders, terms
from core.services import enrolment, evaluation

TERM_ACTIONS = ("renew", "leave", "quit")
SCORES = ("professional", "attitude", "quality")
TIME_KEYS = ("starts_at", "ends_at", "deadline")


def _times(core: Core, params: dict[str, Any]) -> dict[str, Any]:
    return {k: fmt_dt(v, core.settings.tz) if k in TIME_KEYS and v else v for k, v in params.items()}


# --- renderers ---------------------------------------------------------------------------------

@renderer("invitation_nudge")
async def render_nudge(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    """The nudge, above the invitation card with its answer buttons when that renderer exists."""
    if not await reminders.still_relevant(core.uow(), "invitation_nudge", params):
        return Rendered("", skip=True)
    head = tr(lang, "notify.invitation_nudge", **_times(core, params))
    card = RENDERERS.get("invitation")
    if card is None:
        return Rendered(head)
    inner = await card(core, params, lang)
    if inner.skip:
        return inner
    return Rendered(f"{head}\n\n{inner.text}", inner.reply_markup)


@renderer("meeting_reminder")
async def render_meeting(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    if not await reminders.still_relevant(core.uow(), "meeting_reminder", params):
        return Rendered("", skip=True)
    return Rendered(tr(lang, "notify.meeting_reminder", **_times(core, params)))


def evaluation_text(core: Core, card: evaluation.EvaluationCard, lang: str, *, followup_days: int | None = None) -> str:
    """The rating card's text: a header (prompt or follow-up) and the current values."""
    head_params = {"expert": card.expert_name, "code": card.expert_code, "title": card.panel_title,
                   "starts_at": fmt_dt(card.starts_at, core.settings.tz)}
    if followup_days is None:
        head = tr(lang, "notify.evaluation_prompt", **head_params)
    else:
        head = tr(lang, "notify.evaluation_followup", days=followup_days, **head_params)
    unset = tr(lang, "bot.reminders.unset")
    body = tr(lang, "bot.reminders.card",
              **{k: getattr(card, k) if getattr(card, k) is not None else unset for k in SCORES},
              attendance=tr(lang, f"bot.reminders.ev.{card.attendance}") if card.attendance else unset,
              comment=card.comment or tr(lang, "bot.reminders.no_comment"),
              edit_days=core.settings.rules.evaluation_edit_days)
    return f"{head}\n{body}"


def evaluation_keyboard(card: evaluation.EvaluationCard, lang: str) -> InlineKeyboardMarkup:
    """1–5 for each score, attendance, comment; the current choices are ticked."""
    lines = []
    for score in SCORES:
        short = tr(lang, f"bot.reminders.ev.{score}")
        current = getattr(card, score)
        lines.append([(checked(f"{short} {n}" if n == 1 else str(n), current == n), cb("ev", card.invitation_id, score, n))
                      for n in range(1, 6)])
    lines.append([(checked(tr(lang, f"bot.reminders.ev.{a.value}"), card.attendance == a.value),
                   cb("ev", card.invitation_id, "attendance", a.value)) for a in Attendance])
    lines.append([(tr(lang, "bot.reminders.ev.comment"), cb("ev", card.invitation_id, "comment"))])
    return rows(*lines)


async def _render_evaluation(core: Core, params: dict[str, Any], lang: str, followup_days: int | None) -> Rendered:
    try:
        card = await evaluation.card(core.uow(), int(params["invitation_id"]))
    except NotFound:
        return Rendered("", skip=True)
    if card.complete:
        return Rendered("", skip=True)
    return Rendered(evaluation_text(core, card, lang, followup_days=followup_days), evaluation_keyboard(card, lang))


@renderer("evaluation_prompt")
async def render_evaluation_prompt(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    return await _render_evaluation(core, params, lang, None)


@renderer("evaluation_followup")
async def render_evaluation_followup(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    return await _render_evaluation(core, params, lang, int(params.get("days", 0)))


def term_keyboard(expert_id: int, lang: str, *, leave: bool = True) -> InlineKeyboardMarkup:
    line = [(tr(lang, "bot.reminders.renew"), cb("term", expert_id, "renew"))]
    if leave:
        line.append((tr(lang, "bot.reminders.leave"), cb("term", expert_id, "leave")))
    return rows(line)


@renderer("term_expiry")
async def render_term_expiry(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    if not await reminders.still_relevant(core.uow(), "term_expiry", params):
        return Rendered("", skip=True)
    return Rendered(tr(lang, "notify.term_expiry", **params), term_keyboard(int(params["expert_id"]), lang))


@renderer("term_expired")
async def render_term_expired(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    return Rendered(tr(lang, "notify.term_expired", **params),
                    term_keyboard(int(params["expert_id"]), lang, leave=False))


@renderer("account_unreachable")
async def render_unreachable(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    role = tr(lang, f"bot.reminders.role.{params.get('role', 'account')}")
    return Rendered(tr(lang, "notify.account_unreachable", **{**params, "role": role}))


# --- the term buttons ----------------------------------------------------------------------------

async def on_term(update: Update, context: BotContext) -> None:
    """续任 / 不再续任 / 现在退出, only for the expert the notice was for."""
    query = update.callback_query
    assert query is not None
    roles = await caller(update, context)
    lang = lang_of(roles)
    data = parse(query.data)
    if data is None or data.prefix != "term" or data.action not in TERM_ACTIONS or roles.expert_id != data.id:
        await record_refusal(context, roles, "term.button", (query.data or "")[:64])
        await query.answer(tr(lang, "bot.reminders.not_yours"), show_alert=True)
        return
    core = context.core
    markup: InlineKeyboardMarkup | None = None
    try:
        if data.action == "renew":
            app_id = await enrolment.request_renewal(core.uow(), data.id, roles.actor)
            text = tr(lang, "bot.reminders.renew_requested", application_id=app_id)
        elif data.action == "leave":
            term_end = await terms.term_end_of(core.uow(), data.id)
            text = tr(lang, "bot.reminders.leave_noted", term_end=term_end.isoformat() if term_end else "-")
            markup = rows([(tr(lang, "bot.reminders.quit"), cb("term", data.id, "quit"))])
        else:
            await enrolment.withdraw(core.uow(), data.id, roles.actor, "not renewing")
            text = tr(lang, "bot.reminders.quit_done")
    except DomainError as exc:
        await query.answer(error_message(exc, lang)[:200], show_alert=True)
        return
    await query.answer()
    message = query.message
    if message is None or not hasattr(message, "reply_text"):
        return
    if data.action != "leave":
        try:
            await query.edit_message_reply_markup(reply_markup=None)
        except BadRequest as exc:  # already without buttons (a double tap)
            if "not modified" not in str(exc):
                raise
    await message.reply_text(text, reply_markup=markup, parse_mode=ParseMode.HTML)


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [CallbackQueryHandler(on_term, pattern=pattern("term"))]
