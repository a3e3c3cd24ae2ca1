"""/apply: the 附件1 form step by step, the PIPL consent, the 承诺书 (附件2) and the unit's consent,
then `enrolment.submit_application`. The draft is saved after every step (core.services.drafts),
so a restart loses nothing and /apply resumes where the person left off."""
from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot import flows, keyboards
from bot.apply_form import (
    BY_NAME, CHOICE, COMMITMENT, CONSENT, FIELDS, INDEX, PHOTO, SKIPPED, STEPS, SUMMARY, UNIT_CONSENT, UNITS, Step,
    check_all, check_answer, field_codes, first_bad_step, form_answers, next_step, parse_units, summary_values,
)
from bot.auth import caller, lang_of
from bot.callbacks import cb, parse, pattern
from bot.context import BotContext
from bot.render import esc, tr
from bot.replies import answer, edit, error_text, refuse, send
from core.enums import ExpertStatus
from core.errors import DomainError, ValidationFailed
from core.forms import FormContext
from core.i18n import error_text as raw_error_text
from core.identity import check_text
from core.services import chat_support, enrolment
from core.services.accounts import Roles
from core.services.drafts import Draft

FLOW, PREFIX = "apply", "ap"
SKIP_WORDS = frozenset({"无", "没有", "跳过", "skip", "none", "n/a", "-", "/"})
UNIT_CONSENT_MAX = 500


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("apply", cmd_apply, filters.ChatType.PRIVATE),
        CallbackQueryHandler(on_button, pattern=pattern(PREFIX)),
    ]


# --- questions -------------------------------------------------------------------------------

async def _form_ctx(context: BotContext, lang: str) -> tuple[FormContext, list[Any]]:
    cats = await chat_support.active_categories(context.core.uow())
    ctx = FormContext.from_categories(cats, today=context.core.uow().today(),
                                      max_fields=context.core.settings.rules.max_fields, lang=lang)
    return ctx, cats


def choice_label(lang: str, field: str, value: str) -> str:
    return tr(lang, f"form.choice.{field}.{value}")


def _header(lang: str, step: Step) -> str:
    return tr(lang, "bot.apply.header", n=INDEX[step.name] + 1, total=len(STEPS),
              label=tr(lang, f"form.label.{step.name}" if step.name != "photo" else "bot.apply.photo_label"))


async def _question(context: BotContext, lang: str, step: str, data: dict[str, Any]) -> tuple[str, InlineKeyboardMarkup | None]:
    if step == SUMMARY:
        return await _summary(context, lang, data)
    if step == CONSENT:
        return tr(lang, "bot.apply.consent"), keyboards.confirm(
            lang, cb(PREFIX, 0, "agree"), cb(PREFIX, 0, "disagree"), yes_key="bot.apply.agree",
            no_key="bot.apply.disagree")
    if step == COMMITMENT:
        return tr(lang, "bot.apply.commitment"), keyboards.confirm(
            lang, cb(PREFIX, 0, "accept"), cb(PREFIX, 0, "reject"), yes_key="bot.apply.accept_commitment",
            no_key="bot.apply.reject_commitment")
    if step == UNIT_CONSENT:
        return tr(lang, "bot.apply.ask_unit_consent", max=UNIT_CONSENT_MAX), None
    st = BY_NAME[step]
    text = _header(lang, st) + "\n" + tr(lang, f"bot.apply.ask.{st.name}", max=context.core.settings.rules.max_fields)
    buttons: list[tuple[str, str]] = []
    markup = None
    if st.kind == CHOICE:
        buttons = [(choice_label(lang, st.name, v), cb(PREFIX, 0, "ch", v)) for v in st.choices]
        markup = keyboards.grid(buttons, per_row=1 if st.name == "unit_nature" else 2)
    elif st.kind == FIELDS:
        _, cats = await _form_ctx(context, lang)
        chosen = set(data.get("fields_sel") or [])
        buttons = [(keyboards.checked(c.name_en if lang == "en" else c.name_zh, c.code in chosen),
                    cb(PREFIX, c.id, "fld")) for c in cats]
        markup = keyboards.grid(buttons, per_row=2, footer=[(tr(lang, "bot.apply.fields_done"), cb(PREFIX, 0, "done"))])
    elif st.optional:
        markup = keyboards.single(tr(lang, "bot.apply.skip"), cb(PREFIX, 0, "skip"))
    return text, markup


async def _summary(context: BotContext, lang: str, data: dict[str, Any]) -> tuple[str, InlineKeyboardMarkup | None]:
    ctx, _ = await _form_ctx(context, lang)
    form = check_all(ctx, data.get("answers") or {})  # ValidationFailed is handled by _ask
    lines = [tr(lang, "bot.apply.summary_title")]
    for name, value in summary_values(form, dict(ctx.categories), lambda f, v: choice_label(lang, f, v)):
        lines.append(tr(lang, "bot.apply.summary_line", label=tr(lang, f"form.label.{name}"), value=value))
    photo = (data.get("answers") or {}).get("photo") or {}
    lines.append(tr(lang, "bot.apply.summary_photo", kb=max(1, int(photo.get("size", 0)) // 1024)))
    if data.get("recommended_by"):
        lines.append(tr(lang, "bot.apply.summary_recommended", unit=data["recommended_by"]))
    lines.append(tr(lang, "bot.apply.summary_hint"))
    edits = [(tr(lang, f"form.label.{s.name}" if s.name != "photo" else "bot.apply.photo_label"),
              cb(PREFIX, i, "edit")) for i, s in enumerate(STEPS)]
    return "\n".join(lines), keyboards.grid(edits, per_row=3, footer=[(tr(lang, "bot.apply.summary_ok"),
                                                                      cb(PREFIX, 0, "ok"))])


async def _ask(update: Update, context: BotContext, roles: Roles, step: str, data: dict[str, Any],
               prefix: str = "") -> None:
    """Save the draft at `step` and send its question (after `prefix`, e.g. an error)."""
    lang = lang_of(roles)
    if step == SUMMARY:
        try:
            await _summary(context, lang, data)
        except ValidationFailed as exc:  # e.g. gender no longer matches an edited ID number
            bad = first_bad_step(exc) or STEPS[0].name
            data = {**data, "editing": True}
            prefix = (prefix + "\n\n" if prefix else "") + error_text(exc, lang)
            step = bad
    await flows.save(context, roles, FLOW, step, data)
    text, markup = await _question(context, lang, step, data)
    await send(update, context, (prefix + "\n\n" + text) if prefix else text, markup)


# --- /apply ----------------------------------------------------------------------------------

async def start_application(update: Update, context: BotContext, roles: Roles, *,
                            recommendation_code: str | None = None, recommended_by: str | None = None) -> None:
    """Open (or resume) the form; with a unit's recommendation it becomes a recommended application."""
    lang = lang_of(roles)
    if roles.expert_id is not None:
        status = await chat_support.expert_status(context.core.uow(), roles.expert_id)
        if status in (ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED, ExpertStatus.EXPIRED):
            key = "bot.apply.expired_expert" if status == ExpertStatus.EXPIRED else "bot.apply.already_expert"
            await send(update, context, tr(lang, key))
            return
    async with flows.lock(roles.account_id):
        draft = await flows.get(context, roles, FLOW)
        if draft is not None:
            data = dict(draft.data)
            if recommendation_code:
                data.update(recommendation_code=recommendation_code, recommended_by=recommended_by)
            done = len([k for k in (data.get("answers") or {}) if k in BY_NAME])
            await send(update, context, tr(lang, "bot.apply.resume", done=done, total=len(STEPS)),
                       keyboards.single(tr(lang, "bot.apply.restart"), cb(PREFIX, 0, "restart")))
            await _ask(update, context, roles, draft.step, data)
            return
        data = {"answers": {}, "recommendation_code": recommendation_code, "recommended_by": recommended_by}
        intro = tr(lang, "bot.apply.intro", total=len(STEPS))
        if recommended_by:
            intro = tr(lang, "bot.apply.recommended", unit=recommended_by) + "\n\n" + intro
        await send(update, context, intro)
        await _ask(update, context, roles, STEPS[0].name, data)


async def cmd_apply(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    await start_application(update, context, roles)


async def discard_prompt(update: Update, context: BotContext, roles: Roles) -> None:
    """/cancel while the form is active: confirm before throwing the draft away."""
    lang = lang_of(roles)
    await send(update, context, tr(lang, "bot.apply.discard_confirm"), keyboards.confirm(
        lang, cb(PREFIX, 0, "discard"), cb(PREFIX, 0, "keep"), yes_key="bot.apply.discard",
        no_key="bot.apply.keep"))


# --- answers ---------------------------------------------------------------------------------

async def _take(update: Update, context: BotContext, roles: Roles, data: dict[str, Any], step: Step, value: Any) -> bool:
    """Validate one answer; on success store it and ask the next question. False when re-asked."""
    lang = lang_of(roles)
    ctx, _ = await _form_ctx(context, lang)
    try:
        check_answer(ctx, data.get("answers") or {}, step.name, value)
    except ValidationFailed as exc:
        problems = "\n".join("❗ " + esc(raw_error_text(code, lang, **params)) for _, code, params in exc.errors)
        await _ask(update, context, roles, step.name, data, prefix=problems)
        return False
    if step.kind == FIELDS:
        value = field_codes(ctx, value)
    answers = {**(data.get("answers") or {}), step.name: value}
    nxt = SUMMARY if data.get("editing") else next_step(step.name)
    await _ask(update, context, roles, nxt, {**data, "answers": answers, "editing": False})
    return True


async def _take_photo(update: Update, context: BotContext, roles: Roles, data: dict[str, Any]) -> None:
    lang = lang_of(roles)
    msg = update.effective_message
    assert msg is not None
    media = msg.photo[-1] if msg.photo else msg.document
    assert media is not None
    try:
        if media.file_size and media.file_size > enrolment.PHOTO_MAX_BYTES:
            raise DomainError("photo.too_large", max_mb=enrolment.PHOTO_MAX_BYTES // (1024 * 1024))
        try:
            blob = await _download(context, media.file_id)
        except TelegramError:
            raise DomainError("photo.download_failed") from None
        kind = enrolment.check_photo(blob)
    except DomainError as exc:
        await _ask(update, context, roles, "photo", data, prefix=error_text(exc, lang))
        return
    answers = {**(data.get("answers") or {}), "photo": {"file_id": media.file_id, "type": kind, "size": len(blob)}}
    await _ask(update, context, roles, SUMMARY, {**data, "answers": answers, "editing": False})


async def _download(context: BotContext, file_id: str) -> bytes:
    f = await context.bot.get_file(file_id)
    return bytes(await f.download_as_bytearray())


async def on_message(update: Update, context: BotContext, roles: Roles, draft: Draft) -> None:
    """The next message while the form is active (called by bot.flows under the person's lock)."""
    lang = lang_of(roles)
    msg = update.effective_message
    assert msg is not None
    kind = flows.kind_of(msg)
    data = dict(draft.data)
    step = BY_NAME.get(draft.step)
    if step is not None and step.kind == PHOTO:
        if kind in ("photo", "document"):
            await _take_photo(update, context, roles, data)
        else:
            await _ask(update, context, roles, "photo", data, prefix=tr(lang, "bot.apply.photo_expected"))
        return
    if step is None and draft.step != UNIT_CONSENT:
        await _ask(update, context, roles, draft.step, data, prefix=tr(lang, "bot.apply.use_buttons"))
        return
    if kind != "text":
        label = tr(lang, f"form.label.{draft.step}" if step else "bot.apply.unit_consent_label")
        await _ask(update, context, roles, draft.step, data, prefix=tr(lang, "bot.apply.text_expected", label=label))
        return
    raw = msg.text or ""
    if step is not None:
        if step.optional and raw.strip().lower() in SKIP_WORDS:
            value: Any = SKIPPED[step.name]
        elif step.kind == UNITS:
            value = parse_units(raw)
        else:
            value = raw
        await _take(update, context, roles, data, step, value)
    else:
        await _submit(update, context, roles, data, raw)


async def _submit(update: Update, context: BotContext, roles: Roles, data: dict[str, Any], raw: str) -> None:
    lang = lang_of(roles)
    answers = data.get("answers") or {}
    try:
        consent = check_text(raw, UNIT_CONSENT_MAX)
        if not consent:
            raise DomainError("application.unit_consent_required")
    except DomainError as exc:
        await _ask(update, context, roles, UNIT_CONSENT, data, prefix=error_text(exc, lang))
        return
    try:
        photo = await _download(context, (answers.get("photo") or {})["file_id"])
    except (KeyError, TelegramError):
        await _ask(update, context, roles, "photo", {**data, "editing": True},
                   prefix=error_text(DomainError("photo.download_failed"), lang))
        return
    try:
        res = await enrolment.submit_application(
            context.core.uow(), roles, form_answers(answers), commitment_accepted=bool(data.get("commitment")),
            sensitive_consent=bool(data.get("consent")), unit_consent=consent, photo=photo,
            recommendation_code=data.get("recommendation_code") or None)
    except ValidationFailed as exc:
        await _ask(update, context, roles, first_bad_step(exc) or SUMMARY, {**data, "editing": True},
                   prefix=error_text(exc, lang))
        return
    except DomainError as exc:
        if exc.code == "recommendation.invalid":
            data = {**data, "recommendation_code": None, "recommended_by": None}
        await _ask(update, context, roles, SUMMARY, data, prefix=error_text(exc, lang, context.core.settings.tz))
        return
    await flows.clear(context, roles, FLOW)
    await send(update, context, tr(lang, "bot.apply.submitted", id=res.application_id))


flows.register(FLOW, on_message)


# --- buttons ---------------------------------------------------------------------------------

async def on_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    roles = await caller(update, context)
    lang = lang_of(roles)
    data_cb = parse(query.data)
    if data_cb is None or data_cb.prefix != PREFIX:
        await refuse(update, context, roles, "callback.apply", "bot.common.bad_button")
        return
    async with flows.lock(roles.account_id):
        draft = await flows.get(context, roles, FLOW)
        if draft is None:
            await answer(query, tr(lang, "bot.apply.no_draft"), alert=True)
            return
        note = await _press(update, context, roles, draft, data_cb.action, data_cb.id, data_cb.arg)
    await answer(query, note, alert=bool(note))


async def _remove_buttons(update: Update, suffix: str = "") -> None:
    query = update.callback_query
    if query is None or query.message is None:
        return
    try:
        if suffix and getattr(query.message, "text_html", None):
            await edit(query, query.message.text_html + "\n\n" + suffix)  # type: ignore[union-attr]
        else:
            await query.edit_message_reply_markup(None)
    except TelegramError:
        pass


async def _press(update: Update, context: BotContext, roles: Roles, draft: Draft, action: str, num: int,
                 arg: str | None) -> str | None:
    """Handle one press of the form's buttons; returns the callback answer text (None: silent)."""
    lang = lang_of(roles)
    data = dict(draft.data)
    step = BY_NAME.get(draft.step)
    stale = tr(lang, "bot.common.stale")
    if action == "restart":
        await flows.clear(context, roles, FLOW)
        await _remove_buttons(update)
        fresh = {"answers": {}, "recommendation_code": data.get("recommendation_code"),
                 "recommended_by": data.get("recommended_by")}
        await _ask(update, context, roles, STEPS[0].name, fresh)
        return None
    if action == "discard":
        await flows.clear(context, roles, FLOW)
        await _remove_buttons(update, tr(lang, "bot.apply.discarded"))
        return None
    if action == "keep":
        await _remove_buttons(update)
        await _ask(update, context, roles, draft.step, data)
        return None
    if action == "ch" and step is not None and step.kind == CHOICE and arg in step.choices:
        await _remove_buttons(update, "✔️ " + esc(choice_label(lang, step.name, arg)))
        await _take(update, context, roles, data, step, arg)
        return None
    if action == "fld" and step is not None and step.kind == FIELDS:
        return await _toggle_field(update, context, roles, data, num)
    if action == "done" and step is not None and step.kind == FIELDS:
        await _remove_buttons(update)
        await _take(update, context, roles, data, step, list(data.get("fields_sel") or []))
        return None
    if action == "skip" and step is not None and step.optional:
        await _remove_buttons(update, "✔️ " + tr(lang, "bot.apply.skipped"))
        await _take(update, context, roles, data, step, SKIPPED[step.name])
        return None
    if action == "edit" and draft.step in (SUMMARY, CONSENT, COMMITMENT, UNIT_CONSENT) and 0 <= num < len(STEPS):
        target = STEPS[num]
        fields_sel = (data.get("answers") or {}).get("fields") or []
        await _remove_buttons(update)
        await _ask(update, context, roles, target.name, {**data, "editing": True,
                                                           "fields_sel": list(fields_sel)})
        return None
    if action == "ok" and draft.step == SUMMARY:
        await _remove_buttons(update)
        await _ask(update, context, roles, CONSENT, data)
        return None
    if action in ("agree", "disagree") and draft.step == CONSENT:
        if action == "disagree":
            return tr(lang, "bot.apply.consent_needed")
        await _remove_buttons(update, "✔️ " + tr(lang, "bot.apply.agreed"))
        await _ask(update, context, roles, COMMITMENT, {**data, "consent": True})
        return None
    if action in ("accept", "reject") and draft.step == COMMITMENT:
        if action == "reject":
            return tr(lang, "bot.apply.commitment_needed")
        await _remove_buttons(update, "✔️ " + tr(lang, "bot.apply.accepted_commitment"))
        await _ask(update, context, roles, UNIT_CONSENT, {**data, "commitment": True})
        return None
    return stale


async def _toggle_field(update: Update, context: BotContext, roles: Roles, data: dict[str, Any], cat_id: int) -> str | None:
    lang = lang_of(roles)
    ctx, cats = await _form_ctx(context, lang)
    code = next((c.code for c in cats if c.id == cat_id), None)
    if code is None:
        return tr(lang, "bot.common.stale")
    chosen = list(data.get("fields_sel") or [])
    if code in chosen:
        chosen.remove(code)
    elif len(chosen) >= ctx.max_fields:
        return error_text(DomainError("fields.too_many", max=ctx.max_fields, count=len(chosen) + 1,
                                      allowed=ctx.allowed_text()), lang)[:200]
    else:
        chosen.append(code)
    data = {**data, "fields_sel": chosen}
    await flows.save(context, roles, FLOW, "fields", data)
    _, markup = await _question(context, lang, "fields", data)
    query = update.callback_query
    assert query is not None
    try:
        await query.edit_message_reply_markup(markup)
    except TelegramError:
        pass
    return None
