"""Using units: `/panels` (list, details, cancel), directed selection for a short panel (reason →
bureau approval → the outside experts), `/recommend`; `/request` lives in `unit_request`.

Every press is checked by the core against the presser (another unit's panel is refused and
audited there); the handlers here only collect answers and render results.
"""
from __future__ import annotations

import re

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot import flows, keyboards, menus
from bot.auth import caller, lang_of
from bot.callbacks import cb
from bot.context import BotContext
from bot.handlers import unit_common as uc
from bot.handlers import unit_request
from bot.render import fmt_dt, tr
from bot.replies import answer, edit, send
from bot.units_render import OPEN, category_names, counts_text, fields_text, roster_text
from core.enums import PanelStatus
from core.errors import DomainError
from core.services import enrolment, panel_messages, panels
from core.services.accounts import Roles
from core.services.drafts import Draft
from core.services.panel_views import PanelView

CANCEL_FLOW, DIRECTED_FLOW, ADD_FLOW, RECOMMEND_FLOW = "unit_cancel", "unit_directed", "unit_directed_add", "unit_recommend"
MAX_SEAT_BUTTONS = 9
_PERSON_SPLIT = re.compile(r"[；;|｜\n]")

menus.add("contact", "request", "panels", "recommend")


# --- /panels and details -----------------------------------------------------------------------

async def cmd_panels(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    if not await uc.require_contact(update, context, roles, "cmd.panels"):
        return
    lang = lang_of(roles)
    items = await panels.list_panels(context.core.uow(), roles)
    if not items:
        await send(update, context, tr(lang, "bot.units.no_panels"))
        return
    tz = context.core.settings.tz
    buttons = [(tr(lang, "bot.units.panel_button", id=p.id, title=p.title[:24], status=tr(lang, f"panel.status.{p.status}"),
                   accepted=p.accepted, size=p.size, starts=fmt_dt(p.starts_at, tz)[:10]), cb("pnl", p.id, "view"))
               for p in items]
    await send(update, context, tr(lang, "bot.units.panels_head", count=len(items)),
               keyboards.grid(buttons, per_row=1))


async def detail_text(context: BotContext, lang: str, view: PanelView) -> str:
    tz = context.core.settings.tz
    names = await category_names(context.core, lang)
    lines = [
        tr(lang, "bot.units.status_head", id=view.id, title=view.title),
        tr(lang, "bot.units.summary_type", type=tr(lang, f"matter_type.{view.matter_type}")),
        tr(lang, "bot.units.summary_time", start=fmt_dt(view.starts_at, tz), end=fmt_dt(view.ends_at, tz)),
        tr(lang, "bot.units.summary_place", place=view.location),
        tr(lang, "bot.units.summary_fields", fields=fields_text(lang, view.fields, names)),
        tr(lang, "bot.units.status_line", status=tr(lang, f"panel.status.{view.status}"),
           starts=fmt_dt(view.starts_at, tz), deadline=fmt_dt(view.response_deadline, tz)),
        counts_text(lang, view.counts),
    ]
    if view.cancel_reason:
        lines.append(tr(lang, "bot.units.cancel_reason", reason=view.cancel_reason))
    if view.roster is not None:
        lines += ["", tr(lang, "bot.units.roster_head"), roster_text(lang, view.roster) or "-"]
    else:
        lines.append(tr(lang, "bot.units.roster_hidden"))
    return "\n".join(lines)


def detail_keyboard(lang: str, view: PanelView) -> InlineKeyboardMarkup:
    row = [(tr(lang, "bot.units.btn_refresh"), cb("pnl", view.id, "view"))]
    lines = [row]
    if view.status == PanelStatus.SHORT.value:
        lines.append([(tr(lang, "bot.units.btn_directed"), cb("pnl", view.id, "dir")),
                      (tr(lang, "bot.units.btn_relax"), cb("rq", view.id, "relax"))])
    if view.status in OPEN:
        lines.append([(tr(lang, "bot.units.btn_cancel"), cb("pnl", view.id, "cancel"))])
    return keyboards.rows(*lines)


async def on_panel_button(update: Update, context: BotContext) -> None:
    press = await uc.checked_press(update, context, "pnl", ("view", "cancel", "keep", "dir", "seats", "status"),
                                   uc.require_panel_role)
    if press is None:
        return
    query, roles, data, lang = press.query, press.roles, press.data, press.lang
    try:
        view = await panels.panel_view(context.core.uow(), roles, data.id)
    except DomainError as exc:
        await uc.button_error(update, context, roles, exc, f"pnl.{data.action}", data.id)
        return
    if data.action == "view":
        await answer(query)
        await uc.show(update, context, await detail_text(context, lang, view), detail_keyboard(lang, view))
    elif data.action == "status":
        await answer(query)
        await uc.post_status_message(update, context, roles, view.id)
    elif data.action == "cancel":
        await answer(query)
        await flows.save(context, roles, CANCEL_FLOW, "reason", {"panel_id": view.id})
        await send(update, context, tr(lang, "bot.units.ask_cancel_reason", id=view.id, title=view.title),
                   keyboards.single(tr(lang, "bot.units.btn_keep"), cb("pnl", view.id, "keep")))
    elif data.action == "keep":
        await answer(query)
        await flows.clear(context, roles, CANCEL_FLOW)
        await edit(query, tr(lang, "bot.units.cancel_kept", id=view.id))
    elif data.action == "dir":
        await _directed_start(update, context, roles, view)
    else:
        await _directed_seats(update, context, roles, view, data.arg)


async def on_cancel_reason(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    lang = lang_of(roles)
    text = uc.text_of(update)
    if text is None:
        await send(update, context, tr(lang, "bot.units.text_expected"))
        return
    panel_id = int(draft.data.get("panel_id", 0))
    try:
        told = await panels.cancel_panel(context.core.uow(), roles, panel_id, text)
    except DomainError as exc:
        await uc.show_error(update, context, roles, exc)
        if exc.code != "panel.cancel_reason_required":
            await flows.clear(context, roles, CANCEL_FLOW)
        return
    await flows.clear(context, roles, CANCEL_FLOW)
    await send(update, context, tr(lang, "bot.units.cancelled", id=panel_id, count=told))
    await uc.refresh_status_message(context, roles, panel_id)



# --- directed selection (Art. 12 ¶2), the unit's side -------------------------------------------

async def _directed_start(update: Update, context: BotContext, roles: Roles, view: PanelView) -> None:
    query = update.callback_query
    assert query is not None
    lang = lang_of(roles)
    if view.status != PanelStatus.SHORT.value:
        await answer(query, tr(lang, "bot.units.directed_not_short", status=tr(lang, f"panel.status.{view.status}")),
                     alert=True)
        return
    await answer(query)
    await flows.save(context, roles, DIRECTED_FLOW, "reason", {"panel_id": view.id})
    await send(update, context, tr(lang, "bot.units.ask_directed_reason", id=view.id, title=view.title))


async def on_directed_reason(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    lang = lang_of(roles)
    text = uc.text_of(update)
    if text is None:
        await send(update, context, tr(lang, "bot.units.text_expected"))
        return
    panel_id = int(draft.data.get("panel_id", 0))
    try:
        view = await panels.panel_view(context.core.uow(), roles, panel_id)
    except DomainError as exc:
        await flows.clear(context, roles, DIRECTED_FLOW)
        await uc.show_error(update, context, roles, exc)
        return
    seats = max(1, min(int(view.counts.get("open_seats", 1)), MAX_SEAT_BUTTONS))
    await flows.save(context, roles, DIRECTED_FLOW, "seats", {"panel_id": panel_id, "reason": text})
    await send(update, context, tr(lang, "bot.units.ask_directed_seats", open=view.counts.get("open_seats", 0)),
               keyboards.grid([(str(n), cb("pnl", panel_id, "seats", n)) for n in range(1, seats + 1)], per_row=5))


async def _directed_seats(update: Update, context: BotContext, roles: Roles, view: PanelView, arg: str | None) -> None:
    query = update.callback_query
    assert query is not None
    lang = lang_of(roles)
    async with flows.lock(roles.account_id):
        draft = await flows.get(context, roles, DIRECTED_FLOW)
        if draft is None or draft.step != "seats" or int(draft.data.get("panel_id", 0)) != view.id:
            await answer(query, tr(lang, "bot.units.flow_gone"), alert=True)
            return
        if arg is None or not arg.isdigit():
            await uc.refuse_button(update, context, roles, "pnl.seats", arg or "")
            return
        try:
            directed_id = await panels.apply_directed(context.core.uow(), roles, view.id,
                                                      str(draft.data.get("reason", "")), int(arg))
        except DomainError as exc:
            await uc.button_error(update, context, roles, exc, "pnl.seats", view.id)
            return
        await flows.clear(context, roles, DIRECTED_FLOW)
    await answer(query)
    await edit(query, tr(lang, "bot.units.directed_applied", id=directed_id, panel=view.id, seats=int(arg)))


async def on_directed_add_button(update: Update, context: BotContext) -> None:
    """`dir:<id>:add` on the approval notice: start entering the outside experts."""
    press = await uc.checked_press(update, context, "dir", ("add",), uc.require_contact)
    if press is None:
        return
    query, roles, data, lang = press.query, press.roles, press.data, press.lang
    brief = await panel_messages.directed_brief(context.core.uow(), data.id)
    if brief is None:
        await uc.refuse_button(update, context, roles, "dir.add", f"not_found:{data.id}")
        return
    try:  # the core decides whether this unit may see the panel (and audits a refusal)
        await panels.panel_view(context.core.uow(), roles, brief.panel_id)
    except DomainError as exc:
        await uc.button_error(update, context, roles, exc, "dir.add", data.id)
        return
    await answer(query)
    await flows.save(context, roles, ADD_FLOW, "person", {"directed_id": brief.id, "seats": brief.seats, "added": 0})
    await send(update, context, tr(lang, "bot.units.ask_directed_person", n=1, seats=brief.seats))


async def on_directed_person(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    lang = lang_of(roles)
    text = uc.text_of(update)
    if text is None:
        await send(update, context, tr(lang, "bot.units.text_expected"))
        return
    parts = [p.strip() for p in _PERSON_SPLIT.split(text)] + ["", "", "", ""]
    directed_id, seats, added = (int(draft.data.get(k, 0)) for k in ("directed_id", "seats", "added"))
    try:
        await panels.add_directed_expert(context.core.uow(), roles, directed_id, parts[0], parts[1], parts[2], parts[3])
    except DomainError as exc:
        await uc.show_error(update, context, roles, exc)
        if exc.code in ("directed.full", "directed.not_approved", "panel.not_open", "panel.not_yours"):
            await flows.clear(context, roles, ADD_FLOW)
        else:
            await send(update, context, tr(lang, "bot.units.ask_directed_person", n=added + 1, seats=seats))
        return
    added += 1
    if added >= seats:
        await flows.clear(context, roles, ADD_FLOW)
        await send(update, context, tr(lang, "bot.units.directed_done", count=added))
        return
    await flows.save(context, roles, ADD_FLOW, "person", {**draft.data, "added": added})
    await send(update, context, tr(lang, "bot.units.ask_directed_person", n=added + 1, seats=seats))


# --- /recommend (Art. 8 ¶3) ------------------------------------------------------------------

async def cmd_recommend(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    if not await uc.require_contact(update, context, roles, "cmd.recommend"):
        return
    await flows.save(context, roles, RECOMMEND_FLOW, "name", {})
    await send(update, context, tr(lang_of(roles), "bot.units.ask_recommend"))


async def on_recommend(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    lang = lang_of(roles)
    text = uc.text_of(update)
    if text is None:
        await send(update, context, tr(lang, "bot.units.text_expected"))
        return
    name, _, note = text.partition("\n")
    try:
        code = await enrolment.recommend(context.core.uow(), roles, name.strip(), note.strip())
    except DomainError as exc:
        await uc.show_error(update, context, roles, exc)
        return
    await flows.clear(context, roles, RECOMMEND_FLOW)
    link = f"https://t.me/{context.bot.username}?start={code}"
    await send(update, context, tr(lang, "bot.units.recommended", name=name.strip(), link=link))


flows.register(CANCEL_FLOW, on_cancel_reason)
flows.register(DIRECTED_FLOW, on_directed_reason)
flows.register(ADD_FLOW, on_directed_person)
flows.register(RECOMMEND_FLOW, on_recommend)


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        *unit_request.handlers(),
        CommandHandler("panels", cmd_panels),
        CommandHandler("recommend", cmd_recommend),
        CallbackQueryHandler(on_panel_button, pattern=r"^pnl:"),
        CallbackQueryHandler(on_directed_add_button, pattern=r"^dir:\d+:add$"),
    ]
