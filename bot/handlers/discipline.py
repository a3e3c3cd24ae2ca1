"""Handlers: the bureau's oversight commands (Art. 14–16) and the monthly report.

    /expert E000123        aggregates, last services, open flags, sanctions (admins, supervisors)
    /candidates            commendation and review candidates (admins, supervisors)
    /commend E000123       通报表扬: note → confirm
    /sanction E000123 [flag id]   kind (约谈提醒 / 警告) → Art. 15 ground → note → confirm
    /remove E000123 [flag id]     Art. 16 ground → note → confirm
    /monthly [YYYY-MM]     the monthly report as HTML + XLSX documents

The choices travel in the `discipline` draft; buttons carry `dc:<expert_id>:<action>[:<arg>]`
and are checked against the draft, so a stale or forged button does nothing. The core decides
who may do what (admin-only decisions, valid grounds, experts not already removed).
"""
from __future__ import annotations

import asyncio
import io
from typing import Any

from telegram import InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot import flows, keyboards, menus
from bot.auth import caller, lang_of
from bot.callbacks import cb, parse, pattern
from bot.context import BotContext
from bot.outbox_render import Rendered, renderer
from bot.render import esc, fmt_dt, tr
from bot.replies import answer, edit, error_text, send
from core.bootstrap import Core
from core.db.models.people import parse_expert_code
from core.enums import ExpertStatus, SanctionKind
from core.errors import DomainError
from core.i18n import t
from core.services import discipline, evaluation
from core.services import monthly as report_service
from core.services.accounts import Roles
from core.services.drafts import Draft

PREFIX = "dc"
FLOW = "discipline"
ACTIONS = {"k", "g", "ok", "no"}
_RENDER_LOCK = asyncio.Lock()  # matplotlib's pyplot is not thread-safe: one report at a time


def _args(context: BotContext) -> list[str]:
    return list(context.args or [])


def _ground_text(kind: str, ground: Any, lang: str) -> str:
    art = "art16" if kind == SanctionKind.REMOVAL.value else "art15"
    return t(f"ground.{art}.{ground}", lang)


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


async def _expert_arg(update: Update, context: BotContext, lang: str) -> tuple[int, int | None] | None:
    args = _args(context)
    try:
        expert_id = parse_expert_code(args[0])
        flag_id = int(args[1].lstrip("#")) if len(args) > 1 else None
    except (IndexError, ValueError):
        await send(update, context, tr(lang, "bot.discipline.usage"))
        return None
    return expert_id, flag_id


# --- views -------------------------------------------------------------------------------------

async def cmd_expert(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    lang = lang_of(roles)
    parsed = await _expert_arg(update, context, lang)
    if parsed is None:
        return
    core = context.core
    try:
        agg = await evaluation.expert_aggregate(core.uow(), roles, parsed[0])
        sanctions = await discipline.sanctions_of(core.uow(), roles, parsed[0])
    except DomainError as exc:
        await send(update, context, error_text(exc, lang, core.settings.tz))
        return
    tz = core.settings.tz
    lines = [tr(lang, "bot.discipline.expert_card", code=agg.code, name=agg.name, unit=agg.work_unit,
                status=t(f"bot.discipline.status.{agg.status}", lang), count=agg.count,
                professional=_f(agg.professional), attitude=_f(agg.attitude), quality=_f(agg.quality),
                overall=_f(agg.overall), present=agg.present, late=agg.late, absent=agg.absent,
                rate="—" if agg.attendance_rate is None else f"{agg.attendance_rate * 100:.0f}%",
                commendations=agg.commendations)]
    for s in agg.last_services:
        lines.append(tr(lang, "bot.discipline.service_line", panel_id=s.panel_id, title=s.title,
                        date=fmt_dt(s.starts_at, tz), professional=s.professional, attitude=s.attitude,
                        quality=s.quality, attendance=t(f"bot.evaluation.attendance.{s.attendance}", lang)))
    for sv in sanctions:
        lines.append(tr(lang, "bot.discipline.sanction_line", date=fmt_dt(sv.decided_at, tz),
                        kind=t(f"bot.discipline.kind.{sv.kind}", lang), ground=_ground_text(sv.kind, sv.ground, lang)))
    if agg.open_flags:
        lines.append(tr(lang, "bot.discipline.open_flags", ids=", ".join(f"#{i}" for i in agg.open_flags)))
    markup = None
    if roles.is_admin and agg.status != ExpertStatus.REMOVED.value:
        markup = keyboards.rows([(tr(lang, "bot.discipline.button.commend"), cb(PREFIX, agg.expert_id, "start", "commend")),
                                 (tr(lang, "bot.discipline.button.sanction"), cb(PREFIX, agg.expert_id, "start", "sanction")),
                                 (tr(lang, "bot.discipline.button.remove"), cb(PREFIX, agg.expert_id, "start", "remove"))])
    await send(update, context, "\n".join(lines), markup)


def _candidate_line(lang: str, a: evaluation.Aggregate) -> str:
    return tr(lang, "bot.discipline.candidate_line", code=a.code, name=a.name, unit=a.work_unit, count=a.count,
              professional=_f(a.professional), attitude=_f(a.attitude), quality=_f(a.quality))


async def cmd_candidates(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    lang = lang_of(roles)
    core = context.core
    try:
        good = await evaluation.commendation_candidates(core.uow(), roles)
        poor = await evaluation.review_candidates(core.uow(), roles)
    except DomainError as exc:
        await send(update, context, error_text(exc, lang, core.settings.tz))
        return
    rules = core.settings.rules
    lines = [tr(lang, "bot.discipline.commend_candidates", count=len(good), min=rules.commendation_min_evaluations,
                mean=rules.commendation_min_mean)]
    lines += [_candidate_line(lang, c.aggregate) for c in good[:30]]
    lines.append(tr(lang, "bot.discipline.review_candidates", count=len(poor), length=rules.poor_streak_length,
                    mean=rules.poor_streak_mean))
    for r in poor[:30]:
        line = _candidate_line(lang, r.aggregate)
        if r.flag_id is not None:
            line += tr(lang, "bot.discipline.flag_suffix", id=r.flag_id)
        lines.append(line)
    await send(update, context, "\n".join(lines))


# --- decisions ---------------------------------------------------------------------------------

async def _begin(update: Update, context: BotContext, roles: Roles, action: str, expert_id: int,
                 flag_id: int | None) -> None:
    lang = lang_of(roles)
    try:
        target = await discipline.decision_target(context.core.uow(), roles, expert_id)
    except DomainError as exc:
        await send(update, context, error_text(exc, lang, context.core.settings.tz))
        return
    data = {"action": action, "expert_id": expert_id, "flag_id": flag_id, "code": target.code, "name": target.name}
    if action == "commend":
        await flows.save(context, roles, FLOW, "note", data)
        await send(update, context, tr(lang, "bot.discipline.ask_note_commend", code=target.code, name=target.name))
    elif action == "sanction":
        await flows.save(context, roles, FLOW, "kind", data, activate=False)
        kinds = [(t(f"bot.discipline.kind.{k}", lang), cb(PREFIX, expert_id, "k", k)) for k in discipline.LIGHT_KINDS]
        await send(update, context, tr(lang, "bot.discipline.ask_kind", code=target.code, name=target.name),
                   keyboards.rows(kinds, [(tr(lang, "bot.discipline.button.cancel"), cb(PREFIX, expert_id, "no"))]))
    else:
        data["kind"] = SanctionKind.REMOVAL.value
        await flows.save(context, roles, FLOW, "ground", data, activate=False)
        await _ask_ground(update, context, lang, data)


async def _ask_ground(update: Update, context: BotContext, lang: str, data: dict[str, Any]) -> None:
    removal = data["kind"] == SanctionKind.REMOVAL.value
    grounds = discipline.ART16_GROUNDS if removal else discipline.ART15_GROUNDS
    art = "art16" if removal else "art15"
    listing = "\n".join(esc(t(f"ground.{art}.{g}", lang)) for g in grounds)
    buttons = [(tr(lang, f"bot.discipline.ground_button.{art}", n=g), cb(PREFIX, data["expert_id"], "g", g))
               for g in grounds]
    markup = keyboards.grid(buttons, 4, footer=[(tr(lang, "bot.discipline.button.cancel"),
                                                 cb(PREFIX, data["expert_id"], "no"))])
    text = tr(lang, f"bot.discipline.ask_ground.{art}", code=data["code"], name=data["name"]) + "\n" + listing
    query = update.callback_query
    if query is not None:
        await edit(query, text, markup)
    else:
        await send(update, context, text, markup)


def _cmd(action: str) -> Any:
    async def command(update: Update, context: BotContext) -> None:
        roles = await caller(update, context)
        parsed = await _expert_arg(update, context, lang_of(roles))
        if parsed is not None:
            await _begin(update, context, roles, action, *parsed)
    command.__name__ = f"cmd_{action}"
    return command


async def on_note(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    """The note of a decision (free text), then the confirmation card."""
    lang = lang_of(roles)
    msg = update.effective_message
    if msg is None or not msg.text or not msg.text.strip():
        await send(update, context, tr(lang, "bot.discipline.note_text_only"))
        return
    data = {**draft.data, "note": msg.text[:2000]}
    await flows.save(context, roles, FLOW, "confirm", data, activate=False)
    await flows.deactivate(context, roles)
    await send(update, context, _summary(lang, data), keyboards.rows(
        [(tr(lang, "bot.discipline.button.confirm"), cb(PREFIX, data["expert_id"], "ok")),
         (tr(lang, "bot.discipline.button.cancel"), cb(PREFIX, data["expert_id"], "no"))]))


def _summary(lang: str, data: dict[str, Any]) -> str:
    action = data["action"]
    ground = _ground_text(data["kind"], data["ground"], lang) if action != "commend" else ""
    kind = t(f"bot.discipline.kind.{data.get('kind', 'commendation')}", lang) if action != "commend" \
        else t("bot.discipline.commendation", lang)
    return tr(lang, "bot.discipline.confirm_card", code=data["code"], name=data["name"], kind=kind, ground=ground or "—",
              note=data.get("note", ""), flag=f"#{data['flag_id']}" if data.get("flag_id") else "—") + (
        "\n" + tr(lang, "bot.discipline.removal_warning") if action == "remove" else "")


async def on_press(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    roles = await caller(update, context)
    lang = lang_of(roles)
    data = parse(query.data)
    if data is None or data.prefix != PREFIX:
        await answer(query, tr(lang, "bot.discipline.stale"), alert=True)
        return
    if data.action == "start" and data.arg in ("commend", "sanction", "remove"):
        await answer(query)
        await _begin(update, context, roles, data.arg, data.id, None)
        return
    async with flows.lock(roles.account_id):
        draft = await flows.get(context, roles, FLOW)
        if draft is None or data.action not in ACTIONS or draft.data.get("expert_id") != data.id:
            await answer(query, tr(lang, "bot.discipline.stale"), alert=True)
            return
        await _step(update, context, roles, draft, data.action, data.arg)


async def _step(update: Update, context: BotContext, roles: Roles, draft: Draft, action: str, arg: str | None) -> None:
    query = update.callback_query
    assert query is not None
    lang = lang_of(roles)
    d = dict(draft.data)
    if action == "no":
        await flows.clear(context, roles, FLOW)
        await answer(query)
        await edit(query, tr(lang, "bot.discipline.cancelled"))
    elif action == "k" and draft.step == "kind" and arg in discipline.LIGHT_KINDS:
        d["kind"] = arg
        await flows.save(context, roles, FLOW, "ground", d, activate=False)
        await answer(query)
        await _ask_ground(update, context, lang, d)
    elif action == "g" and draft.step == "ground" and arg and arg.isdigit():
        d["ground"] = int(arg)
        await flows.save(context, roles, FLOW, "note", d)
        await answer(query)
        await edit(query, tr(lang, "bot.discipline.ask_note", ground=_ground_text(d["kind"], d["ground"], lang)))
    elif action == "ok" and draft.step == "confirm":
        await answer(query)
        await _decide(update, context, roles, d)
    else:
        await answer(query, tr(lang, "bot.discipline.stale"), alert=True)


async def _decide(update: Update, context: BotContext, roles: Roles, d: dict[str, Any]) -> None:
    query = update.callback_query
    assert query is not None
    lang, core = lang_of(roles), context.core
    try:
        if d["action"] == "commend":
            await evaluation.commend(core.uow(), roles, d["expert_id"], d["note"])
            text = tr(lang, "bot.discipline.done_commend", code=d["code"], name=d["name"])
        elif d["action"] == "sanction":
            await discipline.record_sanction(core.uow(), roles, d["expert_id"], d["kind"], d["ground"], d["note"],
                                             d.get("flag_id"))
            text = tr(lang, "bot.discipline.done_sanction", code=d["code"], name=d["name"],
                      kind=t(f"bot.discipline.kind.{d['kind']}", lang))
        else:
            res = await discipline.remove(core.uow(), roles, d["expert_id"], d["ground"], d["note"], d.get("flag_id"))
            text = tr(lang, "bot.discipline.done_remove", code=d["code"], name=d["name"],
                      released=len(res.released_invitations), announcement=res.announcement_id)
    except DomainError as exc:
        await flows.clear(context, roles, FLOW)
        await edit(query, error_text(exc, lang, core.settings.tz))
        return
    await flows.clear(context, roles, FLOW)
    await edit(query, text)


# --- the monthly report ------------------------------------------------------------------------

async def cmd_monthly(update: Update, context: BotContext) -> None:
    from core.reports import build_report, report_html, report_xlsx

    roles = await caller(update, context)
    lang = lang_of(roles)
    core = context.core
    args = _args(context)
    month = args[0] if args else report_service.default_month(core.uow())
    try:
        figures = await report_service.monthly_figures(core.uow(), roles, month)
    except DomainError as exc:
        await send(update, context, error_text(exc, lang, core.settings.tz))
        return
    await send(update, context, tr(lang, "bot.discipline.monthly_working", month=figures.month))
    async with _RENDER_LOCK:
        report = await asyncio.to_thread(build_report, figures, lang, core.settings.tz)
        html_bytes, xlsx_bytes = await asyncio.to_thread(report_html, report), await asyncio.to_thread(report_xlsx, report)
    chat = update.effective_chat
    assert chat is not None
    for name, data in ((f"report-{figures.month}.html", html_bytes), (f"report-{figures.month}.xlsx", xlsx_bytes)):
        await context.bot.send_document(chat.id, InputFile(io.BytesIO(data), filename=name),
                                        caption=tr(lang, "bot.discipline.monthly_caption", month=figures.month))


# --- notices to the expert (outbox renderers) --------------------------------------------------

@renderer("sanction_recorded")
async def render_sanction(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    kind = str(params.get("kind", ""))
    return Rendered(tr(lang, "notify.sanction_recorded", kind_text=t(f"bot.discipline.kind.{kind}", lang),
                       ground_text=_ground_text(kind, params.get("ground"), lang), note=str(params.get("note", "")),
                       date=str(params.get("date", ""))))


@renderer("removal_notice")
async def render_removal(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    return Rendered(tr(lang, "notify.removal_notice", ground_text=_ground_text("removal", params.get("ground"), lang),
                       note=str(params.get("note", "")), date=str(params.get("date", ""))))


flows.register(FLOW, on_note)
menus.add("admin", "expert", "candidates", "commend", "sanction", "remove", "monthly")
menus.add("supervisor", "expert", "candidates", "monthly")


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("expert", cmd_expert),
        CommandHandler("candidates", cmd_candidates),
        CommandHandler("commend", _cmd("commend")),
        CommandHandler("sanction", _cmd("sanction")),
        CommandHandler("remove", _cmd("remove")),
        CommandHandler("monthly", cmd_monthly),
        CallbackQueryHandler(on_press, pattern=pattern(PREFIX)),
    ]
