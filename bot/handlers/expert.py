"""The expert's own commands: /me, /unavailable, /renew, /withdraw (confirmed), /report (Art. 10(4))."""
from __future__ import annotations

from datetime import date

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot import flows, keyboards
from bot.auth import caller, lang_of
from bot.callbacks import cb, parse, pattern
from bot.context import BotContext
from bot.render import tr
from bot.replies import answer, edit, error_text, refuse, send
from core.errors import DomainError
from core.services import availability, chat_support, enrolment, reports
from core.services.accounts import Roles
from core.services.chat_support import Profile
from core.services.drafts import Draft

PRIVATE = filters.ChatType.PRIVATE
FLOW_UNAVAILABLE, FLOW_REPORT = "unavailable", "report"
UA, WD = "ua", "wd"
MAX_DAY_BUTTONS = 30


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("me", cmd_me, PRIVATE),
        CommandHandler("unavailable", cmd_unavailable, PRIVATE),
        CommandHandler("renew", cmd_renew, PRIVATE),
        CommandHandler("withdraw", cmd_withdraw, PRIVATE),
        CommandHandler("report", cmd_report, PRIVATE),
        CallbackQueryHandler(on_unavailable_button, pattern=pattern(UA)),
        CallbackQueryHandler(on_withdraw_button, pattern=pattern(WD)),
    ]


async def expert_caller(update: Update, context: BotContext, command: str) -> Roles | None:
    """The caller's roles if they are an expert; otherwise a polite, audited refusal."""
    roles = await caller(update, context)
    if roles.expert_id is None:
        await refuse(update, context, roles, f"command.{command}", "bot.common.expert_only")
        return None
    return roles


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def profile_text(p: Profile, lang: str) -> str:
    fields = (p.fields_en if lang == "en" else p.fields_zh)
    sep = "; " if lang == "en" else "、"
    text = tr(lang, "bot.expert.profile", code=p.code, name=p.name, status=tr(lang, f"bot.expert.status.{p.status}"),
              gender=tr(lang, f"form.choice.gender.{p.gender}"), birth=p.birth_month.strftime("%Y-%m"),
              id=p.id_masked, unit=p.work_unit, position=p.position or "-", title=p.title or "-",
              nature=tr(lang, f"form.choice.unit_nature.{p.unit_nature}"), phone=p.phone or "-",
              email=p.email or "-", fields=sep.join(fields) or "-",
              term=f"{p.term_start or '-'} ~ {p.term_end or '-'}", services=p.services, pending=p.pending)
    if p.evaluations:
        text += "\n" + tr(lang, "bot.expert.evaluations", count=p.evaluations, professional=_num(p.professional),
                          attitude=_num(p.attitude), quality=_num(p.quality), attended=p.attended)
    else:
        text += "\n" + tr(lang, "bot.expert.no_evaluations")
    if p.unavailable:
        text += "\n" + tr(lang, "bot.expert.unavailable_days", days=", ".join(d.isoformat() for d in p.unavailable[:10]),
                          count=len(p.unavailable))
    return text + "\n\n" + tr(lang, "bot.expert.profile_hint")


async def cmd_me(update: Update, context: BotContext) -> None:
    roles = await expert_caller(update, context, "me")
    if roles is None:
        return
    try:
        profile = await chat_support.my_profile(context.core.uow(), roles)
    except DomainError as exc:
        await send(update, context, error_text(exc, lang_of(roles)))
        return
    await send(update, context, profile_text(profile, lang_of(roles)))


# --- /unavailable ----------------------------------------------------------------------------

def _day_id(day: date) -> int:
    return int(day.strftime("%Y%m%d"))


async def _show_days(update: Update, context: BotContext, roles: Roles, prefix: str = "") -> None:
    lang = lang_of(roles)
    days = await availability.list_days(context.core.uow(), roles)
    text = tr(lang, "bot.expert.unavailable_list", days="\n".join(d.isoformat() for d in days)) if days else \
        tr(lang, "bot.expert.unavailable_empty")
    text += "\n\n" + tr(lang, "bot.expert.unavailable_how")
    buttons = [(tr(lang, "bot.expert.unavailable_remove", day=d.isoformat()), cb(UA, _day_id(d), "del"))
               for d in days[:MAX_DAY_BUTTONS]]
    markup = keyboards.grid(buttons, per_row=2, footer=[(tr(lang, "bot.expert.unavailable_add"), cb(UA, 0, "add"))])
    await send(update, context, (prefix + "\n\n" if prefix else "") + text, markup)


async def _add_days(update: Update, context: BotContext, roles: Roles, raw: str) -> bool:
    """Parse and add; False (with the reason and an example) when the input is refused."""
    lang = lang_of(roles)
    try:
        days = availability.parse_days(raw, context.core.uow().today())
        added = await availability.add_days(context.core.uow(), roles, days)
    except DomainError as exc:
        await send(update, context, error_text(exc, lang) + "\n\n" + tr(lang, "bot.expert.unavailable_ask"))
        return False
    await _show_days(update, context, roles, tr(lang, "bot.expert.unavailable_added", count=len(added)))
    return True


async def cmd_unavailable(update: Update, context: BotContext) -> None:
    roles = await expert_caller(update, context, "unavailable")
    if roles is None:
        return
    raw = " ".join(context.args or [])
    if raw:
        await _add_days(update, context, roles, raw)
    else:
        await _show_days(update, context, roles)


async def on_unavailable_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    roles = await expert_caller(update, context, "unavailable")
    if roles is None:
        return
    lang = lang_of(roles)
    data = parse(query.data)
    if data is None or data.action not in ("add", "del"):
        await refuse(update, context, roles, "callback.unavailable", "bot.common.bad_button")
        return
    if data.action == "add":
        await flows.save(context, roles, FLOW_UNAVAILABLE, "dates", {})
        await answer(query)
        await send(update, context, tr(lang, "bot.expert.unavailable_ask"))
        return
    try:
        day = date(data.id // 10000, data.id // 100 % 100, data.id % 100)
    except ValueError:
        await refuse(update, context, roles, "callback.unavailable", "bot.common.bad_button")
        return
    removed = await availability.remove_day(context.core.uow(), roles, day)
    await answer(query, tr(lang, "bot.expert.unavailable_removed" if removed else "bot.common.stale", day=day.isoformat()))
    try:
        await query.edit_message_reply_markup(None)
    except Exception:  # noqa: BLE001 - the list is re-sent below either way
        pass
    await _show_days(update, context, roles)


async def on_unavailable_text(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    msg = update.effective_message
    assert msg is not None
    if msg.text is None:
        await send(update, context, tr(lang_of(roles), "bot.expert.unavailable_ask"))
        return
    if await _add_days(update, context, roles, msg.text):
        await flows.clear(context, roles, FLOW_UNAVAILABLE)


# --- /renew, /withdraw -------------------------------------------------------------------------

async def cmd_renew(update: Update, context: BotContext) -> None:
    roles = await expert_caller(update, context, "renew")
    if roles is None:
        return
    lang = lang_of(roles)
    try:
        app_id = await enrolment.request_renewal(context.core.uow(), roles.expert_id or 0, roles.actor)
    except DomainError as exc:
        await send(update, context, error_text(exc, lang, context.core.settings.tz))
        return
    await send(update, context, tr(lang, "bot.expert.renewal_requested", id=app_id))


async def cmd_withdraw(update: Update, context: BotContext) -> None:
    roles = await expert_caller(update, context, "withdraw")
    if roles is None:
        return
    lang = lang_of(roles)
    await send(update, context, tr(lang, "bot.expert.withdraw_confirm"), keyboards.confirm(
        lang, cb(WD, 0, "yes"), cb(WD, 0, "no"), yes_key="bot.expert.withdraw_yes", no_key="bot.expert.withdraw_no"))


async def on_withdraw_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    roles = await expert_caller(update, context, "withdraw")
    if roles is None:
        return
    lang = lang_of(roles)
    data = parse(query.data)
    if data is None or data.action not in ("yes", "no"):
        await refuse(update, context, roles, "callback.withdraw", "bot.common.bad_button")
        return
    if data.action == "no":
        await answer(query)
        await edit(query, tr(lang, "bot.expert.withdraw_kept"))
        return
    try:
        await enrolment.withdraw(context.core.uow(), roles.expert_id or 0, roles.actor)
    except DomainError as exc:
        await answer(query, error_text(exc, lang, context.core.settings.tz), alert=True)
        await edit(query, error_text(exc, lang, context.core.settings.tz))
        return
    await answer(query)
    await edit(query, tr(lang, "bot.expert.withdrawn"))


# --- /report -----------------------------------------------------------------------------------

async def _report(update: Update, context: BotContext, roles: Roles, text: str) -> bool:
    lang = lang_of(roles)
    try:
        flag_id = await reports.submit_report(context.core.uow(), roles, text)
    except DomainError as exc:
        await send(update, context, error_text(exc, lang) + "\n\n" + tr(lang, "bot.expert.report_ask"))
        return False
    await send(update, context, tr(lang, "bot.expert.report_received", id=flag_id))
    return True


async def cmd_report(update: Update, context: BotContext) -> None:
    roles = await expert_caller(update, context, "report")
    if roles is None:
        return
    msg = update.effective_message
    assert msg is not None
    raw = (msg.text or "").partition(" ")[2].strip()
    if raw:
        await _report(update, context, roles, raw)
        return
    await flows.save(context, roles, FLOW_REPORT, "text", {})
    await send(update, context, tr(lang_of(roles), "bot.expert.report_ask"))


async def on_report_text(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    msg = update.effective_message
    assert msg is not None
    if msg.text is None:
        await send(update, context, tr(lang_of(roles), "bot.expert.report_text_only"))
        return
    if await _report(update, context, roles, msg.text):
        await flows.clear(context, roles, FLOW_REPORT)


flows.register(FLOW_UNAVAILABLE, on_unavailable_text)
flows.register(FLOW_REPORT, on_report_text)
