"""`/request`: a using unit asks for a panel — by pasting the one-message template (right after
/request or at any time) or step by step with buttons. Both paths build the same template
text and go through the same core validation (`core.services.panel_intake`); the handler only
collects answers and shows what the core says.
"""
from __future__ import annotations

import re
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import flows, keyboards
from bot.auth import caller, lang_of
from bot.callbacks import Callback, cb, pattern
from bot.context import BotContext
from bot.handlers import unit_common as uc
from bot.render import esc, fmt_dt, tr
from bot.replies import answer, edit, send
from bot.units_render import category_names, fields_text
from core.enums import MatterType
from core.errors import DomainError, ValidationFailed
from core.panel_request import PanelRequestForm
from core.services import panel_intake, panels
from core.services.accounts import Roles
from core.services.drafts import Draft

FLOW = "request"
KEYS = ("事项名称", "事项类型", "时间", "地点", "人数", "专业领域", "相关单位", "回复期限")
# Guided steps in order: (step, template key it fills, error fields that belong to it).
STEPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("type", "事项类型", ("matter_type",)),
    ("title", "事项名称", ("title",)),
    ("time", "时间", ("starts_at", "ends_at")),
    ("place", "地点", ("location",)),
    ("size", "人数", ("size",)),
    ("fields", "专业领域", ("fields",)),
    ("parties", "相关单位", ("parties",)),
    ("deadline", "回复期限", ("response_deadline",)),
)
STEP_OF_FIELD = {f: step for step, _, fs in STEPS for f in fs}
SIZES = (3, 5, 7, 9)
ACTIONS = frozenset({"guided", "abort", "submit", "type", "size", "fld", "flddone", "anyq", "relax"})
TEMPLATE_RE = re.compile(r"(?im)^\s*(事项名称|title)\s*[:：]")
_QUOTA_SPLIT = re.compile(r"[\s,，、;；]+")


def template_text(values: dict[str, str]) -> str:
    return "\n".join(f"{k}：{values[k]}" for k in KEYS if values.get(k))


# --- entry points ---------------------------------------------------------------------------

async def cmd_request(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    if not await uc.require_contact(update, context, roles, "cmd.request"):
        return
    lang = lang_of(roles)
    await flows.save(context, roles, FLOW, "template", {})
    example = tr(lang, "bot.units.template_example")
    await send(update, context, tr(lang, "bot.units.request_intro") + "\n\n<code>" + example + "</code>",
               keyboards.rows([(tr(lang, "bot.units.btn_guided"), cb("rq", 0, "guided"))],
                              [(tr(lang, "bot.units.btn_abort"), cb("rq", 0, "abort"))]))


async def on_template(update: Update, context: BotContext) -> None:
    """A filled-in template sent at any time (or as the answer to /request)."""
    roles = await caller(update, context)
    if not await uc.require_contact(update, context, roles, "request.template"):
        return
    assert update.effective_message is not None and update.effective_message.text is not None
    async with flows.lock(roles.account_id):
        await _check_and_summarise(update, context, roles, update.effective_message.text)


async def on_flow_message(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    """The next plain message while the request flow is active (flows.dispatch holds the lock)."""
    lang = lang_of(roles)
    message = update.effective_message
    if message is None or message.text is None:
        await send(update, context, tr(lang, "bot.units.text_expected"))
        return
    text = message.text.strip()
    if draft.step == "template" or TEMPLATE_RE.search(text):
        await _check_and_summarise(update, context, roles, text)
        return
    values: dict[str, str] = dict(draft.data.get("v", {}))
    if draft.step == "quotas":
        await _on_quotas(update, context, roles, draft, text)
        return
    key = {step: k for step, k, _ in STEPS}.get(draft.step.removesuffix("_other"))
    if key is None or draft.step in ("type", "fields", "confirm"):
        await send(update, context, tr(lang, "bot.units.use_buttons"))
        return
    if draft.step == "parties":
        values[key] = "；".join(line.strip() for line in text.splitlines() if line.strip())
    else:
        values[key] = " ".join(text.split())
    await _advance(update, context, roles, draft, values, draft.step.removesuffix("_other"))


# --- guided flow ------------------------------------------------------------------------------

async def _advance(update: Update, context: BotContext, roles: Roles, draft: Draft, values: dict[str, str],
                   step: str) -> None:
    """Validate what the step filled (with the core's rules); re-ask on error, else ask the next."""
    lang = lang_of(roles)
    errors = await _errors_for(context, values, lang, step)
    if errors:
        data = {**draft.data, "v": values}
        await flows.save(context, roles, FLOW, step, data)
        await send(update, context, uc.request_errors(lang, errors) + "\n\n" + await _question(context, lang, step, data),
                   await _markup(context, lang, step, data))
        return
    order = [s for s, _, _ in STEPS]
    nxt = order[order.index(step) + 1] if order.index(step) + 1 < len(order) else "confirm"
    data = {**draft.data, "v": values}
    if nxt == "confirm":
        await _check_and_summarise(update, context, roles, template_text(values))
        return
    await flows.save(context, roles, FLOW, nxt, data)
    await _ask(update, context, lang, nxt, data)


async def _errors_for(context: BotContext, values: dict[str, str], lang: str, step: str) -> list[tuple[str, str, dict[str, Any]]]:
    try:
        await panel_intake.check_request_text(context.core.uow(), template_text(values), lang)
    except ValidationFailed as exc:
        return [e for e in exc.errors if STEP_OF_FIELD.get(e[0].split(".")[0]) == step]
    return []


async def _question(context: BotContext, lang: str, step: str, data: dict[str, Any]) -> str:
    if step == "quotas":
        names = await category_names(context.core, lang)
        return tr(lang, "bot.units.ask_quotas", fields=fields_text(lang, ((c, None) for c in data.get("picked", [])), names))
    return tr(lang, f"bot.units.ask_{step.removesuffix('_other')}")


async def _markup(context: BotContext, lang: str, step: str, data: dict[str, Any]) -> InlineKeyboardMarkup | None:
    abort = (tr(lang, "bot.units.btn_abort"), cb("rq", 0, "abort"))
    if step == "type":
        return keyboards.grid([(tr(lang, f"matter_type.{m.value}"), cb("rq", 0, "type", m.value)) for m in MatterType],
                              footer=[abort])
    if step == "size":
        return keyboards.grid([(str(n), cb("rq", 0, "size", n)) for n in SIZES], per_row=4,
                              footer=[(tr(lang, "bot.units.btn_size_other"), cb("rq", 0, "size", "other")), abort])
    if step == "fields":
        picked = set(data.get("picked", []))
        cats = await panel_intake.field_names(context.core.uow())
        return keyboards.grid(
            [(keyboards.checked(c.name(lang), c.code in picked), cb("rq", i, "fld"))
             for i, c in enumerate(cats)],
            footer=[(tr(lang, "bot.units.btn_fields_done"), cb("rq", 0, "flddone")), abort])
    if step == "quotas":
        return keyboards.rows([(tr(lang, "bot.units.btn_any_field"), cb("rq", 0, "anyq"))], [abort])
    return keyboards.rows([abort])


async def _ask(update: Update, context: BotContext, lang: str, step: str, data: dict[str, Any],
               *, replace: bool = False) -> None:
    text = await _question(context, lang, step, data)
    markup = await _markup(context, lang, step, data)
    if replace and update.callback_query is not None:
        await edit(update.callback_query, text, markup)
    else:
        await send(update, context, text, markup)


async def _on_quotas(update: Update, context: BotContext, roles: Roles, draft: Draft, text: str) -> None:
    lang = lang_of(roles)
    picked: list[str] = list(draft.data.get("picked", []))
    parts = [p for p in _QUOTA_SPLIT.split(text.strip()) if p]
    if len(parts) != len(picked) or not all(p.isdigit() for p in parts):
        await send(update, context, tr(lang, "bot.units.quotas_format", count=len(picked)) + "\n\n"
                   + await _question(context, lang, "quotas", draft.data), await _markup(context, lang, "quotas", draft.data))
        return
    values = dict(draft.data.get("v", {}))
    values["专业领域"] = "、".join(f"{c}×{int(n)}" for c, n in zip(picked, parts))
    await _advance_fields(update, context, roles, draft, values)


async def _advance_fields(update: Update, context: BotContext, roles: Roles, draft: Draft, values: dict[str, str]) -> None:
    lang = lang_of(roles)
    errors = await _errors_for(context, values, lang, "fields")
    if errors:
        step = "quotas" if len(draft.data.get("picked", [])) > 1 else "fields"
        data = {**draft.data, "v": values}
        await flows.save(context, roles, FLOW, step, data)
        await send(update, context, uc.request_errors(lang, errors) + "\n\n" + await _question(context, lang, step, data),
                   await _markup(context, lang, step, data))
        return
    await _advance(update, context, roles, draft, values, "fields")


# --- buttons ----------------------------------------------------------------------------------

async def on_button(update: Update, context: BotContext) -> None:
    press = await uc.checked_press(update, context, "rq", ACTIONS, uc.require_contact)
    if press is None:
        return
    query, roles, data, lang = press.query, press.roles, press.data, press.lang
    if data.action == "relax":
        await _relax(update, context, roles, data.id)
        return
    async with flows.lock(roles.account_id):
        draft = await flows.get(context, roles, FLOW)
        if data.action == "guided":
            await answer(query)
            draft = Draft(FLOW, "type", {"v": {}, "picked": []})
            await flows.save(context, roles, FLOW, "type", draft.data)
            await _ask(update, context, lang, "type", draft.data)
            return
        if draft is None:
            await answer(query, tr(lang, "bot.units.flow_gone"), alert=True)
            return
        await _press(update, context, roles, draft, data)


async def _press(update: Update, context: BotContext, roles: Roles, draft: Draft, data: Callback) -> None:
    query = update.callback_query
    assert query is not None
    lang = lang_of(roles)
    values: dict[str, str] = dict(draft.data.get("v", {}))
    action = data.action
    if action == "abort":
        await flows.clear(context, roles, FLOW)
        await answer(query)
        await edit(query, tr(lang, "bot.units.request_aborted"))
        return
    if action == "submit" and draft.step == "confirm":
        await answer(query)
        await _submit(update, context, roles, draft)
        return
    if action == "type" and draft.step == "type" and data.arg in {m.value for m in MatterType}:
        await answer(query)
        values["事项类型"] = data.arg or ""
        await _advance(update, context, roles, draft, values, "type")
        return
    if action == "size" and draft.step in ("size", "size_other"):
        await answer(query)
        if data.arg == "other":
            await flows.save(context, roles, FLOW, "size_other", draft.data)
            await send(update, context, tr(lang, "bot.units.ask_size_other"))
            return
        values["人数"] = data.arg or ""
        await _advance(update, context, roles, draft, values, "size")
        return
    if action == "fld" and draft.step == "fields":
        await _toggle_field(update, context, roles, draft, data.id)
        return
    if action == "flddone" and draft.step == "fields":
        picked = list(draft.data.get("picked", []))
        if not picked:
            await answer(query, tr(lang, "bot.units.pick_a_field"), alert=True)
            return
        await answer(query)
        if len(picked) > 1:
            await flows.save(context, roles, FLOW, "quotas", draft.data)
            await _ask(update, context, lang, "quotas", draft.data)
            return
        values["专业领域"] = picked[0]
        await _advance_fields(update, context, roles, draft, values)
        return
    if action == "anyq" and draft.step == "quotas":
        await answer(query)
        values["专业领域"] = "、".join(draft.data.get("picked", []))
        await _advance_fields(update, context, roles, draft, values)
        return
    await answer(query, tr(lang, "bot.units.button_stale"), alert=True)  # an old button of this flow


async def _toggle_field(update: Update, context: BotContext, roles: Roles, draft: Draft, index: int) -> None:
    query = update.callback_query
    assert query is not None
    lang = lang_of(roles)
    cats = await panel_intake.field_names(context.core.uow())
    if index >= len(cats):
        await uc.refuse_button(update, context, roles, "rq.fld", str(index))
        return
    picked = list(draft.data.get("picked", []))
    code = cats[index].code
    picked = [c for c in picked if c != code] if code in picked else picked + [code]
    data = {**draft.data, "picked": picked}
    await flows.save(context, roles, FLOW, "fields", data)
    await answer(query)
    await _ask(update, context, lang, "fields", data, replace=True)


# --- summary and submission -------------------------------------------------------------------

async def _check_and_summarise(update: Update, context: BotContext, roles: Roles, text: str) -> None:
    lang = lang_of(roles)
    try:
        form = await panel_intake.check_request_text(context.core.uow(), text, lang)
    except ValidationFailed as exc:
        await flows.save(context, roles, FLOW, "template", {"text": text})
        await send(update, context, uc.request_errors(lang, exc.errors) + "\n\n" + tr(lang, "bot.units.fix_and_resend"))
        return
    await flows.save(context, roles, FLOW, "confirm", {"text": text})
    await send(update, context, await summary(context, lang, form),
               keyboards.rows([(tr(lang, "bot.units.btn_submit"), cb("rq", 0, "submit")),
                               (tr(lang, "bot.units.btn_abort"), cb("rq", 0, "abort"))]))


async def summary(context: BotContext, lang: str, form: PanelRequestForm) -> str:
    tz = context.core.settings.tz
    names = await category_names(context.core, lang)
    parties = "；".join(p.name + (f"（{p.uscc}）" if p.uscc else "") if p.name else (p.uscc or "") for p in form.parties)
    return "\n".join([
        tr(lang, "bot.units.summary_head"),
        tr(lang, "bot.units.summary_title", title=form.title),
        tr(lang, "bot.units.summary_type", type=tr(lang, f"matter_type.{form.matter_type.value}")),
        tr(lang, "bot.units.summary_time", start=fmt_dt(form.starts_at, tz), end=fmt_dt(form.ends_at, tz)),
        tr(lang, "bot.units.summary_place", place=form.location),
        tr(lang, "bot.units.summary_fields", fields=fields_text(lang, ((f.category, f.quota) for f in form.fields), names)),
        tr(lang, "bot.units.summary_size", size=form.size),
        tr(lang, "bot.units.summary_parties", parties=parties),
        tr(lang, "bot.units.summary_deadline", deadline=fmt_dt(form.response_deadline, tz)),
        "",
        tr(lang, "bot.units.summary_confirm"),
    ])


async def _submit(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    lang = lang_of(roles)
    query = update.callback_query
    text = str(draft.data.get("text", ""))
    try:
        result = await panel_intake.submit_request_text(context.core.uow(), roles, text, lang)
    except ValidationFailed as exc:
        await flows.save(context, roles, FLOW, "template", {"text": text})
        await send(update, context, uc.request_errors(lang, exc.errors) + "\n\n" + tr(lang, "bot.units.fix_and_resend"))
        return
    except DomainError as exc:
        await uc.show_error(update, context, roles, exc)
        return
    await flows.clear(context, roles, FLOW)
    if query is not None:
        await edit(query, tr(lang, "bot.units.submitted", id=result.panel_id))
    await uc.post_status_message(update, context, roles, result.panel_id)


async def _relax(update: Update, context: BotContext, roles: Roles, panel_id: int) -> None:
    """"Relax the request": the old panel's values as a template to edit and send again."""
    query = update.callback_query
    assert query is not None
    lang = lang_of(roles)
    try:
        view = await panels.panel_view(context.core.uow(), roles, panel_id)
    except DomainError as exc:
        await uc.button_error(update, context, roles, exc, "rq.relax", panel_id)
        return
    await answer(query)
    tz = context.core.settings.tz
    names = await category_names(context.core, "zh")
    values = {
        "事项名称": view.title, "事项类型": tr("zh", f"matter_type.{view.matter_type}"),
        "时间": _time_range(fmt_dt(view.starts_at, tz), fmt_dt(view.ends_at, tz)), "地点": view.location,
        "人数": str(view.size), "专业领域": fields_text("zh", view.fields, names),
        "相关单位": "；".join(n or (u or "") for _, n, u in view.parties),
        "回复期限": fmt_dt(view.response_deadline, tz),
    }
    await flows.save(context, roles, FLOW, "template", {})
    await send(update, context, tr(lang, "bot.units.relax_intro", id=panel_id) + "\n\n<code>"
               + esc(template_text(values)) + "</code>")


def _time_range(start: str, end: str) -> str:
    """'2026-12-03 09:30-12:00', or with the end's date when the meeting spans days."""
    return f"{start}-{end[-5:]}" if start[:10] == end[:10] else f"{start}-{end}"


flows.register(FLOW, on_flow_message)


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("request", cmd_request),
        CallbackQueryHandler(on_button, pattern=pattern("rq")),
        MessageHandler(filters.TEXT & ~filters.COMMAND & filters.Regex(TEMPLATE_RE), on_template),
    ]
