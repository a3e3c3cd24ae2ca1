"""The bureau: `/review` (applications with the Art. 7 pre-screen; approve, or reject with a
reason, always naming the decision meeting), directed-selection decisions, `/flags` (what the
system noticed, closed with a decision note), `/roster` (the public roster as XLSX + HTML).

Admin-only: everyone else is refused politely and the attempt is audited. The decisions are the
core's (`enrolment.review`, `panels.decide_directed`, `flags.close_flag`).
"""
from __future__ import annotations

from typing import Any

from telegram import InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot import flows, keyboards, menus
from bot.auth import caller, lang_of
from bot.callbacks import cb
from bot.context import BotContext
from bot.handlers import supervisor
from bot.handlers import unit_common as uc
from bot.render import fmt_dt, tr
from bot.replies import answer, edit, send
from bot.units_render import category_names
from core.db.models.people import expert_code
from core.errors import DomainError
from core.i18n import has
from core.roster_export import roster_html, roster_xlsx
from core.services import discipline, enrolment, flags, panel_messages, panels, review_views, roster
from core.services.accounts import Roles
from core.services.drafts import Draft
from core.services.flags import FlagView
from core.services.review_views import ApplicationDetail

PRIVATE = filters.ChatType.PRIVATE
REVIEW_FLOW, FLAG_FLOW, DIRECTED_FLOW = "admin_review", "admin_flag", "admin_directed"
LIST_MAX = 30

menus.add("admin", "review", "flags", "roster", "draws")


# --- /review ---------------------------------------------------------------------------------

async def cmd_review(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    if not await uc.require_admin(update, context, roles, "cmd.review"):
        return
    lang = lang_of(roles)
    apps = await review_views.pending(context.core.uow(), roles)
    if not apps:
        await send(update, context, tr(lang, "bot.admin.no_applications"))
        return
    buttons = [(tr(lang, "bot.admin.application_button", id=a.id, name=a.name[:20],
                   outcome=tr(lang, f"eligibility.outcome.{a.outcome}")), cb("rev", a.id, "view"))
               for a in apps[:LIST_MAX]]
    await send(update, context, tr(lang, "bot.admin.applications_head", count=len(apps)), keyboards.grid(buttons, per_row=1))


def application_text(lang: str, app: ApplicationDetail, names: dict[str, str]) -> str:
    f: dict[str, Any] = app.form
    sep = ", " if lang == "en" else "、"
    reasons = [tr(lang, f"eligibility.{r.get('code', '')}", **dict(r.get("params") or {}))
               for r in app.prescreen.get("reasons", [])]
    lines = [
        tr(lang, "bot.admin.application_head", id=app.id, kind=tr(lang, f"bot.admin.kind.{app.kind}")),
        tr(lang, "bot.admin.app_person", name=f.get("name", ""), gender=tr(lang, f"form.choice.gender.{f.get('gender', '')}"),
           birth=f.get("birth_month", ""), id_number=app.id_number_masked or "-"),
        tr(lang, "bot.admin.app_work", unit=f.get("work_unit", ""), position=f.get("position", "") or "-",
           title=f.get("title", "") or "-", obtained=f.get("title_obtained", "") or "-"),
        tr(lang, "bot.admin.app_qualification", education=f.get("education", "") or "-",
           certificate=f.get("certificate", "") or "-", years=f.get("years_in_field", "-")),
        tr(lang, "bot.admin.app_fields", fields=sep.join(names.get(str(x), str(x)) for x in f.get("fields", []))),
        tr(lang, "bot.admin.app_consent", consent=app.unit_consent or "-"),
        "",
        tr(lang, "bot.admin.prescreen", outcome=tr(lang, f"eligibility.outcome.{app.prescreen.get('outcome', '')}")),
        *[f"• {r}" for r in reasons],
        "",
        tr(lang, "bot.admin.decision_hint"),
    ]
    return "\n".join(lines)


async def on_review_button(update: Update, context: BotContext) -> None:
    press = await uc.checked_press(update, context, "rev", ("view", "ok", "no"), uc.require_admin)
    if press is None:
        return
    query, roles, data, lang = press.query, press.roles, press.data, press.lang
    try:
        app = await review_views.detail(context.core.uow(), roles, data.id)
    except DomainError as exc:
        await uc.button_error(update, context, roles, exc, f"rev.{data.action}", data.id)
        return
    if app.status != "submitted":
        await answer(query, tr(lang, "bot.admin.already_decided", id=app.id), alert=True)
        return
    await answer(query)
    if data.action == "view":
        await send(update, context, application_text(lang, app, await category_names(context.core, lang)),
                   keyboards.rows([(tr(lang, "bot.admin.btn_approve"), cb("rev", app.id, "ok")),
                                   (tr(lang, "bot.admin.btn_reject"), cb("rev", app.id, "no"))]))
        return
    approve = data.action == "ok"
    step = "meeting" if approve else "reason"
    await flows.save(context, roles, REVIEW_FLOW, step, {"application_id": app.id, "approve": approve})
    await send(update, context, tr(lang, f"bot.admin.ask_{step}", id=app.id))


async def on_review_text(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    lang = lang_of(roles)
    text = uc.text_of(update)
    if text is None:
        await send(update, context, tr(lang, "bot.units.text_expected"))
        return
    data = dict(draft.data)
    if draft.step == "reason":
        await flows.save(context, roles, REVIEW_FLOW, "meeting", {**data, "reason": text})
        await send(update, context, tr(lang, "bot.admin.ask_meeting", id=data.get("application_id")))
        return
    app_id = int(data.get("application_id", 0))
    try:
        done = await enrolment.review(context.core.uow(), app_id, approve=bool(data.get("approve")), actor=roles.actor,
                                      meeting=text, reason=str(data.get("reason", "")))
    except DomainError as exc:
        await uc.show_error(update, context, roles, exc)
        if exc.code not in ("review.meeting_required", "review.reason_required"):
            await flows.clear(context, roles, REVIEW_FLOW)
        return
    await flows.clear(context, roles, REVIEW_FLOW)
    if done.approved:
        await send(update, context, tr(lang, "bot.admin.approved", id=app_id, meeting=text,
                                       code=expert_code(done.expert_id) if done.expert_id else "-"))
    else:
        await send(update, context, tr(lang, "bot.admin.rejected", id=app_id, meeting=text))


# --- directed selection: the bureau's decision -------------------------------------------------

async def on_directed_button(update: Update, context: BotContext) -> None:
    press = await uc.checked_press(update, context, "dir", ("ok", "no"), uc.require_admin)
    if press is None:
        return
    query, roles, data, lang = press.query, press.roles, press.data, press.lang
    brief = await panel_messages.directed_brief(context.core.uow(), data.id)
    if brief is None:
        await uc.refuse_button(update, context, roles, f"dir.{data.action}", f"not_found:{data.id}")
        return
    if data.action == "no":
        await answer(query)
        await flows.save(context, roles, DIRECTED_FLOW, "note", {"directed_id": brief.id})
        await send(update, context, tr(lang, "bot.admin.ask_directed_note", id=brief.id))
        return
    try:
        res = await panels.decide_directed(context.core.uow(), roles, brief.id, True, "")
    except DomainError as exc:
        await uc.button_error(update, context, roles, exc, "dir.ok", brief.id)
        return
    await answer(query)
    await edit(query, tr(lang, "bot.admin.directed_approved", id=res.directed_id, panel=res.panel_id,
                         status=tr(lang, f"panel.status.{res.panel_status}"), invited=res.invited))


async def on_directed_note(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    lang = lang_of(roles)
    text = uc.text_of(update)
    if text is None:
        await send(update, context, tr(lang, "bot.units.text_expected"))
        return
    directed_id = int(draft.data.get("directed_id", 0))
    try:
        res = await panels.decide_directed(context.core.uow(), roles, directed_id, False, text)
    except DomainError as exc:
        await uc.show_error(update, context, roles, exc)
        if exc.code != "directed.note_required":
            await flows.clear(context, roles, DIRECTED_FLOW)
        return
    await flows.clear(context, roles, DIRECTED_FLOW)
    await send(update, context, tr(lang, "bot.admin.directed_rejected", id=res.directed_id, panel=res.panel_id))


# --- /flags ----------------------------------------------------------------------------------

async def cmd_flags(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    if not await uc.require_admin(update, context, roles, "cmd.flags"):
        return
    lang = lang_of(roles)
    items = await flags.list_flags(context.core.uow(), roles)
    if not items:
        await send(update, context, tr(lang, "bot.admin.no_flags"))
        return
    buttons = [(tr(lang, "bot.admin.flag_button", id=f.id, kind=tr(lang, f"bot.admin.flag_kind_short.{f.kind}"),
                   name=f.expert_name[:20] or "-"), cb("flg", f.id, "view")) for f in items[:LIST_MAX]]
    await send(update, context, tr(lang, "bot.admin.flags_head", count=len(items)), keyboards.grid(buttons, per_row=1))


def flag_text(context: BotContext, lang: str, f: FlagView) -> str:
    tz = context.core.settings.tz
    lines = [tr(lang, "bot.admin.flag_head", id=f.id, kind=tr(lang, f"bot.admin.flag_kind.{f.kind}"),
                at=fmt_dt(f.created_at, tz)),
             tr(lang, "bot.admin.flag_expert", name=f.expert_name or "-", code=f.expert_code or "-")]
    ev = f.evidence
    for item in ev.get("invitations", []) or []:
        lines.append("• " + tr(lang, "bot.admin.flag_invitation", invitation=item.get("invitation_id", ""),
                               panel=item.get("panel_id", ""), kind=tr(lang, f"bot.admin.outcome.{item.get('kind', '')}"),
                               at=fmt_dt(item.get("at"), tz) if item.get("at") else "-"))
    for item in ev.get("evaluations", []) or []:
        lines.append("• " + tr(lang, "bot.admin.flag_evaluation", evaluation=item.get("evaluation_id", ""),
                               panel=item.get("panel_id", ""), mean=item.get("mean", "-"),
                               attendance=item.get("attendance") or "-"))
    for key, value in ev.items():
        if key not in ("invitations", "evaluations"):
            label = tr(lang, f"bot.admin.evidence.{key}") if has(f"bot.admin.evidence.{key}") else key
            lines.append(tr(lang, "bot.admin.flag_evidence", key=label, value=str(value)[:1000]))
    if f.decision:
        lines.append(tr(lang, "bot.admin.flag_decision", decision=f.decision))
    lines.append(tr(lang, "bot.admin.flag_hint", code=f.expert_code or "", id=f.id))
    return "\n".join(lines)


async def on_flag_button(update: Update, context: BotContext) -> None:
    press = await uc.checked_press(update, context, "flg", ("view", "close"), uc.require_admin)
    if press is None:
        return
    query, roles, data, lang = press.query, press.roles, press.data, press.lang
    try:
        f = await flags.get_flag(context.core.uow(), roles, data.id)
    except DomainError as exc:
        await uc.button_error(update, context, roles, exc, f"flg.{data.action}", data.id)
        return
    if data.action == "view":
        await answer(query)
        markup = keyboards.single(tr(lang, "bot.admin.btn_close_flag"), cb("flg", f.id, "close")) if f.status == "open" else None
        await send(update, context, flag_text(context, lang, f), markup)
        return
    if f.status != "open":
        await answer(query, tr(lang, "bot.admin.flag_closed_already", id=f.id), alert=True)
        return
    await answer(query)
    await flows.save(context, roles, FLAG_FLOW, "decision", {"flag_id": f.id})
    await send(update, context, tr(lang, "bot.admin.ask_flag_decision", id=f.id))


async def on_flag_text(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    lang = lang_of(roles)
    text = uc.text_of(update)
    if text is None:
        await send(update, context, tr(lang, "bot.units.text_expected"))
        return
    flag_id = int(draft.data.get("flag_id", 0))
    try:
        await flags.close_flag(context.core.uow(), roles, flag_id, text)
    except DomainError as exc:
        await uc.show_error(update, context, roles, exc)
        if exc.code != "flag.decision_required":
            await flows.clear(context, roles, FLAG_FLOW)
        return
    await flows.clear(context, roles, FLAG_FLOW)
    await send(update, context, tr(lang, "bot.admin.flag_closed", id=flag_id))


# --- /roster ---------------------------------------------------------------------------------

async def cmd_roster(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    if not await uc.require_overseer(update, context, roles, "cmd.roster"):
        return
    lang = lang_of(roles)
    rows = await roster.public_roster(context.core.uow())
    notices = await discipline.published(context.core.uow())
    chat = update.effective_chat
    assert chat is not None
    day = context.core.clock.now().astimezone(context.core.settings.tz).date()
    caption = tr(lang, "bot.admin.roster_caption", count=len(rows), date=day.isoformat())
    await context.bot.send_document(chat.id, InputFile(roster_xlsx(rows, lang, notices), filename=f"roster-{day}.xlsx"),
                                    caption=caption)
    await context.bot.send_document(chat.id, InputFile(roster_html(rows, lang, day, notices), filename=f"roster-{day}.html"))



flows.register(REVIEW_FLOW, on_review_text)
flows.register(FLAG_FLOW, on_flag_text)
flows.register(DIRECTED_FLOW, on_directed_note)


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("review", cmd_review, PRIVATE),
        CommandHandler("flags", cmd_flags, PRIVATE),
        CommandHandler("roster", cmd_roster, PRIVATE),
        CallbackQueryHandler(on_review_button, pattern=r"^rev:"),
        CallbackQueryHandler(on_flag_button, pattern=r"^flg:"),
        CallbackQueryHandler(on_directed_button, pattern=r"^dir:"),
        *supervisor.handlers(),
    ]
