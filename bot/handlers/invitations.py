"""Invitations (Art. 11): the invitation message with ✅ accept / ❌ decline / ⚠️ declare a
conflict, the three pledges before accepting, decline reasons, the party of a conflict, and
/invitations to see and act on one's invitations again.

Every press is checked by the core against the presser (another expert's invitation →
Forbidden, audited there); malformed data is refused and audited here. Answers are conditional
updates in the core, so double taps change the state once and later presses hear "already
answered". After an answer the message shows the outcome and its buttons are gone.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Awaitable, Callable

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot import flows, keyboards
from bot.auth import caller, lang_of
from bot.callbacks import cb, parse, pattern
from bot.context import BotContext
from bot.outbox_render import Rendered, renderer
from bot.render import fmt_dt, tr
from bot.replies import answer, edit, edit_message, error_text, refuse, send
from core.bootstrap import Core
from core.enums import InvitationStatus
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.i18n import has
from core.services import chat_support, panel_views, responses
from core.services.accounts import Roles
from core.services.drafts import Draft
from core.services.panel_views import InvitationView

PREFIX = "inv"
FLOW_REASON, FLOW_CONFLICT = "inv_reason", "inv_conflict"
OTHER = "other"
LIST_ACTIONABLE = 5
PENDING, ACCEPTED = InvitationStatus.PENDING.value, InvitationStatus.ACCEPTED.value


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("invitations", cmd_invitations, filters.ChatType.PRIVATE),
        CallbackQueryHandler(on_button, pattern=pattern(PREFIX)),
    ]


# --- rendering -------------------------------------------------------------------------------

def body(view: InvitationView, lang: str, tz: Any) -> str:
    """The invitation: matter, type, time, place, unit, parties, duties and deadline."""
    head = tr(lang, "bot.invitation.body", id=view.id, title=view.title,
              matter_type=tr(lang, f"matter_type.{view.matter_type}"), starts=fmt_dt(view.starts_at, tz),
              ends=fmt_dt(view.ends_at, tz), location=view.location, unit=view.unit_name,
              deadline=fmt_dt(view.deadline, tz))
    parts = [tr(lang, "bot.invitation.replacement") + "\n" + head if view.replacement else head]
    if view.description:
        parts.append(tr(lang, "bot.invitation.description", text=view.description))
    lines = [tr(lang, "bot.invitation.party_line", name=name) for _, name in view.parties]
    parts.append(tr(lang, "bot.invitation.parties_title") + "\n" + ("\n".join(lines) or tr(lang, "bot.invitation.no_parties")))
    parts.append(tr(lang, "bot.invitation.duties"))
    return "\n\n".join(parts)


def reason_label(lang: str, code: str) -> str:
    return tr(lang, f"decline_reason.{code}") if has(f"decline_reason.{code}") else code


def outcome(lang: str, status: str, detail: str = "") -> str:
    key = f"bot.invitation.outcome.{status}"
    text = tr(lang, key) if has(key) else tr(lang, "bot.invitation.outcome.other", status=status)
    return text + (tr(lang, "bot.invitation.outcome_detail", detail=detail) if detail else "")


def main_buttons(inv_id: int, lang: str) -> InlineKeyboardMarkup:
    return keyboards.rows([(tr(lang, "bot.invitation.accept"), cb(PREFIX, inv_id, "acc")),
                           (tr(lang, "bot.invitation.decline"), cb(PREFIX, inv_id, "dec")),
                           (tr(lang, "bot.invitation.conflict"), cb(PREFIX, inv_id, "cf"))])


def accepted_buttons(inv_id: int, lang: str) -> InlineKeyboardMarkup:
    return keyboards.rows([(tr(lang, "bot.invitation.conflict"), cb(PREFIX, inv_id, "cf")),
                           (tr(lang, "bot.invitation.withdraw"), cb(PREFIX, inv_id, "wd"))])


def _back(inv_id: int, lang: str) -> tuple[str, str]:
    return tr(lang, "bot.common.back"), cb(PREFIX, inv_id, "back")


def buttons_for(view: InvitationView, lang: str) -> InlineKeyboardMarkup | None:
    if view.status == PENDING:
        return main_buttons(view.id, lang)
    if view.status == ACCEPTED:
        return accepted_buttons(view.id, lang)
    return None


@renderer("invitation")
async def render_invitation(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    """The outbox's invitation message, from fresh data; obsolete once it is no longer pending."""
    try:
        view = await chat_support.invitee_view(core.uow(), int(params["invitation_id"]))
    except (DomainError, KeyError, ValueError):
        return Rendered("", skip=True)
    if view is None or view.status != PENDING:
        return Rendered("", skip=True)
    return Rendered(body(view, lang, core.settings.tz), main_buttons(view.id, lang))


@renderer("invitation_closed")
async def render_invitation_closed(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    """The seat was taken back (term ended, removal, withdrawal…): say why in the expert's words."""
    cause = str(params.get("cause", ""))
    key = f"invitation.cause.{cause}"
    why = tr(lang, key) if has(key, lang) else tr(lang, "invitation.cause.other")
    return Rendered(tr(lang, "notify.invitation_closed", **{**params, "cause": why}))


# --- /invitations ----------------------------------------------------------------------------

async def cmd_invitations(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    lang = lang_of(roles)
    if roles.expert_id is None:
        await refuse(update, context, roles, "command.invitations", "bot.common.expert_only")
        return
    views = await panel_views.list_invitations(context.core.uow(), roles)
    if not views:
        await send(update, context, tr(lang, "bot.invitation.none"))
        return
    tz, now = context.core.settings.tz, context.core.clock.now()
    lines = [tr(lang, "bot.invitation.list_title")]
    lines += [tr(lang, "bot.invitation.list_line", id=v.id, title=v.title, starts=fmt_dt(v.starts_at, tz),
                 status=tr(lang, f"invitation.status.{v.status}")) for v in views]
    await send(update, context, "\n".join(lines))
    actionable = [v for v in views if v.status in (PENDING, ACCEPTED) and v.starts_at > now][:LIST_ACTIONABLE]
    for v in actionable:
        text = body(v, lang, tz) if v.status == PENDING else body(v, lang, tz) + "\n\n" + outcome(lang, v.status)
        await send(update, context, text, buttons_for(v, lang))


# --- buttons ---------------------------------------------------------------------------------

Action = Callable[[Update, BotContext, Roles, InvitationView, "str | None"], Awaitable[None]]


async def on_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    roles = await caller(update, context)
    lang = lang_of(roles)
    data = parse(query.data)
    action = ACTIONS.get(data.action) if data is not None and data.prefix == PREFIX else None
    if data is None or action is None:
        await refuse(update, context, roles, "callback.invitation", "bot.common.bad_button")
        return
    try:
        view = await panel_views.invitation_view(context.core.uow(), roles, data.id)
    except (Forbidden, NotFound) as exc:  # audited by the core
        await answer(query, error_text(exc, lang), alert=True)
        return
    await action(update, context, roles, view, data.arg)


async def _show(update: Update, context: BotContext, roles: Roles, view: InvitationView, extra: str,
                markup: InlineKeyboardMarkup | None) -> None:
    lang = lang_of(roles)
    text = body(view, lang, context.core.settings.tz) + ("\n\n" + extra if extra else "")
    query = update.callback_query
    assert query is not None
    await edit(query, text, markup)


async def _not_answerable(update: Update, context: BotContext, roles: Roles, view: InvitationView) -> None:
    """The invitation moved on: say why, show where it stands, take the buttons away."""
    lang = lang_of(roles)
    query = update.callback_query
    assert query is not None
    if view.status in (InvitationStatus.EXPIRED.value, InvitationStatus.CANCELLED.value):
        text = tr(lang, f"bot.invitation.closed.{view.status}")
    else:
        text = error_text(Conflict("invitation.already_answered", status=view.status), lang, context.core.settings.tz)
    await answer(query, text, alert=True)
    await _show(update, context, roles, view, outcome(lang, view.status), None)


async def _after(update: Update, context: BotContext, roles: Roles, invitation_id: int, detail: str,
                 chat_message: tuple[int, int] | None = None, view: InvitationView | None = None) -> None:
    """Show the outcome on the invitation message, buttons gone. `view`: the invitation as read
    before the answer with the answer's status (the matter does not change): spares a re-read."""
    lang = lang_of(roles)
    if view is None:
        view = await panel_views.invitation_view(context.core.uow(), roles, invitation_id)
    text = body(view, lang, context.core.settings.tz) + "\n\n" + outcome(lang, view.status, detail)
    if chat_message is None:
        query = update.callback_query
        assert query is not None
        await edit(query, text, None)
        await answer(query, tr(lang, "bot.invitation.recorded"))
    else:
        await edit_message(context, chat_message[0], chat_message[1], text, None)
        await send(update, context, tr(lang, "bot.invitation.recorded"))


async def _failed(update: Update, context: BotContext, roles: Roles, invitation_id: int, exc: DomainError) -> None:
    """A refused answer: the reason, and the message brought up to date."""
    lang = lang_of(roles)
    query = update.callback_query
    assert query is not None
    await answer(query, error_text(exc, lang, context.core.settings.tz), alert=True)
    if isinstance(exc, Conflict):
        view = await panel_views.invitation_view(context.core.uow(), roles, invitation_id)
        await _show(update, context, roles, view, outcome(lang, view.status) if view.status != PENDING else "", None)


async def act_accept(update: Update, context: BotContext, roles: Roles, view: InvitationView, arg: str | None) -> None:
    lang = lang_of(roles)
    if view.status != PENDING:
        await _not_answerable(update, context, roles, view)
        return
    await _show(update, context, roles, view, tr(lang, "bot.invitation.pledges"), keyboards.rows(
        [(tr(lang, "bot.invitation.confirm_accept"), cb(PREFIX, view.id, "acc_ok"))], [_back(view.id, lang)]))
    await answer(update.callback_query)  # type: ignore[arg-type]


async def act_accept_ok(update: Update, context: BotContext, roles: Roles, view: InvitationView, arg: str | None) -> None:
    try:
        result = await responses.accept(context.core.uow(), roles, view.id, unit_consent=True, no_conflict=True,
                                        confidentiality=True)
    except DomainError as exc:
        await _failed(update, context, roles, view.id, exc)
        return
    await _after(update, context, roles, view.id, "", view=replace(view, status=result.status))


def _reason_rows(lang: str, context: BotContext, inv_id: int, action: str) -> InlineKeyboardMarkup:
    codes = [r.code for r in context.core.settings.rules.decline_reasons]
    buttons = [(reason_label(lang, c), cb(PREFIX, inv_id, action, c)) for c in codes]
    return keyboards.grid(buttons, per_row=2, footer=[_back(inv_id, lang)])


async def act_decline(update: Update, context: BotContext, roles: Roles, view: InvitationView, arg: str | None) -> None:
    lang = lang_of(roles)
    if view.status != PENDING:
        await _not_answerable(update, context, roles, view)
        return
    await _show(update, context, roles, view, tr(lang, "bot.invitation.pick_reason"),
                _reason_rows(lang, context, view.id, "dr"))
    await answer(update.callback_query)  # type: ignore[arg-type]


async def act_withdraw(update: Update, context: BotContext, roles: Roles, view: InvitationView, arg: str | None) -> None:
    lang = lang_of(roles)
    if view.status != ACCEPTED:
        await _not_answerable(update, context, roles, view)
        return
    await _show(update, context, roles, view, tr(lang, "bot.invitation.pick_withdraw_reason"),
                _reason_rows(lang, context, view.id, "wr"))
    await answer(update.callback_query)  # type: ignore[arg-type]


async def _reason(update: Update, context: BotContext, roles: Roles, view: InvitationView, code: str | None,
                  mode: str) -> None:
    lang = lang_of(roles)
    query = update.callback_query
    assert query is not None and query.message is not None
    known = {r.code for r in context.core.settings.rules.decline_reasons}
    if code not in known:
        await refuse(update, context, roles, "callback.invitation_reason", "bot.common.bad_button")
        return
    if code == OTHER:
        await flows.save(context, roles, FLOW_REASON, "text", {
            "invitation_id": view.id, "mode": mode, "chat_id": query.message.chat.id,
            "message_id": query.message.message_id})
        await _show(update, context, roles, view, tr(lang, "bot.invitation.ask_reason_text"),
                    keyboards.rows([_back(view.id, lang)]))
        await answer(query)
        return
    try:
        if mode == "decline":
            await responses.decline(context.core.uow(), roles, view.id, code)
        else:
            await responses.withdraw_acceptance(context.core.uow(), roles, view.id, code)
    except DomainError as exc:
        await _failed(update, context, roles, view.id, exc)
        return
    await _after(update, context, roles, view.id, reason_label(lang, code))


async def act_decline_reason(update: Update, context: BotContext, roles: Roles, view: InvitationView, arg: str | None) -> None:
    await _reason(update, context, roles, view, arg, "decline")


async def act_withdraw_reason(update: Update, context: BotContext, roles: Roles, view: InvitationView, arg: str | None) -> None:
    await _reason(update, context, roles, view, arg, "withdraw")


async def act_conflict(update: Update, context: BotContext, roles: Roles, view: InvitationView, arg: str | None) -> None:
    lang = lang_of(roles)
    if view.status not in (PENDING, ACCEPTED):
        await _not_answerable(update, context, roles, view)
        return
    parties = [(name[:40], cb(PREFIX, view.id, "cp", pid)) for pid, name in view.parties]
    parties.append((tr(lang, "bot.invitation.other_relation"), cb(PREFIX, view.id, "cp", 0)))
    await _show(update, context, roles, view, tr(lang, "bot.invitation.pick_party"),
                keyboards.grid(parties, per_row=1, footer=[_back(view.id, lang)]))
    await answer(update.callback_query)  # type: ignore[arg-type]


def _party(view: InvitationView, arg: str | None) -> tuple[int | None, str] | None:
    """(party id or None for "another relation", its name); None when not one of this matter's."""
    if arg == "0":
        return None, ""
    for pid, name in view.parties:
        if str(pid) == arg:
            return pid, name
    return None


async def act_conflict_party(update: Update, context: BotContext, roles: Roles, view: InvitationView, arg: str | None) -> None:
    lang = lang_of(roles)
    query = update.callback_query
    assert query is not None and query.message is not None
    party = _party(view, arg)
    if party is None:
        await refuse(update, context, roles, "callback.invitation_party", "bot.common.bad_button")
        return
    pid, name = party
    await flows.save(context, roles, FLOW_CONFLICT, "note", {
        "invitation_id": view.id, "party_id": pid, "party_name": name, "chat_id": query.message.chat.id,
        "message_id": query.message.message_id})
    rows = [[(tr(lang, "bot.invitation.skip_note"), cb(PREFIX, view.id, "cs", pid))]] if pid is not None else []
    key = "bot.invitation.ask_note" if pid is not None else "bot.invitation.ask_relation"
    await _show(update, context, roles, view, tr(lang, key, party=name), keyboards.rows(*rows, [_back(view.id, lang)]))
    await answer(query)


async def act_conflict_skip(update: Update, context: BotContext, roles: Roles, view: InvitationView, arg: str | None) -> None:
    party = _party(view, arg)
    if party is None or party[0] is None:
        await refuse(update, context, roles, "callback.invitation_party", "bot.common.bad_button")
        return
    await _declare(update, context, roles, view.id, party[0], party[1], "", None)


async def _declare(update: Update, context: BotContext, roles: Roles, invitation_id: int, party_id: int | None,
                   party_name: str, note: str, where: tuple[int, int] | None) -> None:
    lang = lang_of(roles)
    try:
        await responses.declare_conflict(context.core.uow(), roles, invitation_id, party_id, note)
    except DomainError as exc:
        if where is None:
            await _failed(update, context, roles, invitation_id, exc)
        else:
            await send(update, context, error_text(exc, lang, context.core.settings.tz))
            if isinstance(exc, Conflict):
                await flows.clear(context, roles, FLOW_CONFLICT)
        return
    await flows.clear(context, roles, FLOW_CONFLICT)
    await _after(update, context, roles, invitation_id, party_name or tr(lang, "bot.invitation.other_relation"), where)


async def act_back(update: Update, context: BotContext, roles: Roles, view: InvitationView, arg: str | None) -> None:
    lang = lang_of(roles)
    for flow in (FLOW_REASON, FLOW_CONFLICT):
        draft = await flows.get(context, roles, flow)
        if draft is not None and draft.data.get("invitation_id") == view.id:
            await flows.clear(context, roles, flow)
    extra = outcome(lang, view.status) if view.status != PENDING else ""
    await _show(update, context, roles, view, extra, buttons_for(view, lang))
    await answer(update.callback_query)  # type: ignore[arg-type]


ACTIONS: dict[str, Action] = {
    "acc": act_accept, "acc_ok": act_accept_ok, "dec": act_decline, "dr": act_decline_reason,
    "wd": act_withdraw, "wr": act_withdraw_reason, "cf": act_conflict, "cp": act_conflict_party,
    "cs": act_conflict_skip, "back": act_back,
}


# --- typed answers (the "other" reason, the conflict note) ---------------------------------------

async def on_reason_text(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    lang = lang_of(roles)
    msg = update.effective_message
    assert msg is not None
    if msg.text is None:
        await send(update, context, tr(lang, "bot.invitation.text_please"))
        return
    d = draft.data
    inv_id = int(d["invitation_id"])
    try:
        if d.get("mode") == "withdraw":
            await responses.withdraw_acceptance(context.core.uow(), roles, inv_id, OTHER, msg.text)
        else:
            await responses.decline(context.core.uow(), roles, inv_id, OTHER, msg.text)
    except DomainError as exc:
        await send(update, context, error_text(exc, lang, context.core.settings.tz))
        if isinstance(exc, (Conflict, Forbidden, NotFound)):
            await flows.clear(context, roles, FLOW_REASON)
        return
    await flows.clear(context, roles, FLOW_REASON)
    await _after(update, context, roles, inv_id, reason_label(lang, OTHER), (int(d["chat_id"]), int(d["message_id"])))


async def on_conflict_text(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    lang = lang_of(roles)
    msg = update.effective_message
    assert msg is not None
    if msg.text is None:
        await send(update, context, tr(lang, "bot.invitation.text_please"))
        return
    d = draft.data
    pid = d.get("party_id")
    await _declare(update, context, roles, int(d["invitation_id"]), int(pid) if pid is not None else None,
                   str(d.get("party_name") or ""), msg.text, (int(d["chat_id"]), int(d["message_id"])))


flows.register(FLOW_REASON, on_reason_text)
flows.register(FLOW_CONFLICT, on_conflict_text)
