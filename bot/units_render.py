"""Texts and buttons for the using unit's and the bureau's panel messages, and the outbox
renderers of the panel kinds (live status, roster, shortfall, cancellation, directed selection).

Everything shown comes from the catalogs; user text is escaped by `tr`. Before confirmation a
unit sees counts only — the roster arrives with `panel_confirmed`.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Iterable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import cb
from bot.outbox_render import RENDERERS, Rendered, renderer
from bot.render import fmt_dt, tr
from core.bootstrap import Core
from core.enums import PanelStatus
from core.services import panel_intake, panel_messages
from core.services.panel_messages import PanelBrief

# The notifier edits a message in place when `Rendered` has an `edit` target (chat id, message
# id), and edits the message it last sent for the row's thread (`panel_status:<id>`) otherwise.
EDIT_SUPPORTED = "edit" in {f.name for f in dataclasses.fields(Rendered)}
OPEN = {s.value for s in (PanelStatus.SUBMITTED, PanelStatus.INVITING, PanelStatus.SHORT, PanelStatus.CONFIRMED)}


def button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


def keyboard(rows: Iterable[Sequence[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    rows = [list(r) for r in rows if r]
    return InlineKeyboardMarkup(rows) if rows else None


async def category_names(core: Core, lang: str) -> dict[str, str]:
    """Field code → display name in `lang` (retired fields included, for old panels)."""
    return {f.code: f.name(lang) for f in await panel_intake.field_names(core.uow(), active_only=False)}


def fields_text(lang: str, fields: Iterable[tuple[str, int | None]], names: dict[str, str]) -> str:
    sep = ", " if lang == "en" else "、"
    return sep.join(names.get(code, code) + (f"×{quota}" if quota else "") for code, quota in fields)


def status_name(lang: str, status: str) -> str:
    return tr(lang, f"panel.status.{status}")


def counts_text(lang: str, counts: dict[str, Any]) -> str:
    return tr(lang, "bot.units.counts", size=counts.get("size", 0), accepted=counts.get("accepted", 0),
              pending=counts.get("pending", 0), declined=counts.get("declined", 0),
              expired=counts.get("expired", 0), open_seats=counts.get("open_seats", 0))


def status_text(lang: str, brief: PanelBrief, core: Core) -> str:
    """The unit's live status message: matter, status, counts (never names)."""
    tz = core.settings.tz
    return "\n".join([
        tr(lang, "bot.units.status_head", id=brief.id, title=brief.title),
        tr(lang, "bot.units.status_line", status=status_name(lang, brief.status),
           starts=fmt_dt(brief.starts_at, tz), deadline=fmt_dt(brief.response_deadline, tz)),
        counts_text(lang, brief.counts),
        tr(lang, "bot.units.status_updated", at=fmt_dt(core.clock.now(), tz)),
    ])


def status_keyboard(lang: str, panel_id: int, status: str) -> InlineKeyboardMarkup | None:
    row = [button(tr(lang, "bot.units.btn_details"), cb("pnl", panel_id, "view"))]
    if status in OPEN:
        row.append(button(tr(lang, "bot.units.btn_cancel"), cb("pnl", panel_id, "cancel")))
    if status == PanelStatus.SHORT.value:
        return keyboard([[button(tr(lang, "bot.units.btn_directed"), cb("pnl", panel_id, "dir")),
                          button(tr(lang, "bot.units.btn_relax"), cb("rq", panel_id, "relax"))], row])
    return keyboard([row])


def roster_text(lang: str, rows: Iterable[dict[str, Any]]) -> str:
    lines = []
    for i, r in enumerate(rows, 1):
        mark = tr(lang, "panel.directed_mark") if r.get("directed") else ""
        lines.append(f"{i}. " + tr(lang, "panel.roster_line", name=r.get("name", ""), unit=r.get("unit", ""),
                                   title=r.get("title", "") or "-", phone=r.get("phone", "") or "-", directed=mark))
    return "\n".join(lines)


def short_groups_text(lang: str, groups: Iterable[dict[str, Any]], names: dict[str, str]) -> str:
    sep = ", " if lang == "en" else "、"
    return "\n".join("• " + tr(lang, "panel.short_line", fields=sep.join(names.get(f, f) for f in g.get("fields", [])),
                                   needed=g.get("needed", 0), available=g.get("available", 0))
                     for g in groups)


def short_keyboard(lang: str, panel_id: int) -> InlineKeyboardMarkup | None:
    return keyboard([
        [button(tr(lang, "bot.units.btn_relax"), cb("rq", panel_id, "relax"))],
        [button(tr(lang, "bot.units.btn_directed"), cb("pnl", panel_id, "dir"))],
        [button(tr(lang, "bot.units.btn_cancel"), cb("pnl", panel_id, "cancel"))],
    ])


def when(value: Any, core: Core) -> str:
    return fmt_dt(value if isinstance(value, (datetime, str)) else None, core.settings.tz)


# --- outbox renderers ------------------------------------------------------------------------

@renderer("panel_status")
async def _panel_status(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    """Fresh counts at delivery time (a late or reordered row can never show stale numbers).
    When the unit has a live status message in the recipient's chat, the notifier edits it."""
    brief = await panel_messages.panel_brief(core.uow(), int(params["panel_id"]))
    if brief is None:
        return Rendered("", skip=True)
    extra: dict[str, Any] = {}
    if EDIT_SUPPORTED and brief.status_chat_id is not None and brief.status_message_id is not None:
        extra["edit"] = (brief.status_chat_id, brief.status_message_id)
        chat_id, message_id = brief.status_chat_id, brief.status_message_id
        extra["forget"] = lambda: panel_messages.clear_status_message(core.uow(), brief.id, chat_id, message_id)
    return Rendered(status_text(lang, brief, core), status_keyboard(lang, brief.id, brief.status), **extra)


@renderer("panel_confirmed")
async def _panel_confirmed(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    brief = await panel_messages.panel_brief(core.uow(), int(params["panel_id"]))
    title = brief.title if brief else ""
    location = brief.location if brief else ""
    rows = params.get("roster") or []
    text = tr(lang, "notify.panel_confirmed", panel_id=params["panel_id"], title=title,
              starts_at=when(params.get("starts_at"), core), location=location, roster="{roster}")
    return Rendered(text.replace("{roster}", roster_text(lang, rows)))


@renderer("panel_short")
async def _panel_short(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    panel_id = int(params["panel_id"])
    brief = await panel_messages.panel_brief(core.uow(), panel_id)
    if brief is not None and brief.status != PanelStatus.SHORT.value:
        return Rendered("", skip=True)  # already relieved (directed seats, cancellation)
    names = await category_names(core, lang)
    options = "；".join(tr(lang, f"panel.option_{o}") for o in params.get("options", []))
    text = tr(lang, "notify.panel_short", panel_id=panel_id, title=brief.title if brief else "",
              open_seats=params.get("open_seats", 0), groups="{groups}", options=options)
    text = text.replace("{groups}", short_groups_text(lang, params.get("groups", []), names))
    return Rendered(text, short_keyboard(lang, panel_id))


async def _panel_cancelled(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    brief = await panel_messages.panel_brief(core.uow(), int(params["panel_id"]))
    return Rendered(tr(lang, "notify.panel_cancelled", panel_id=params["panel_id"], title=brief.title if brief else "",
                       starts_at=when(brief.starts_at if brief else None, core), reason=params.get("reason", "")))


if "panel_cancelled" not in RENDERERS:  # the expert side may register a richer one
    RENDERERS["panel_cancelled"] = _panel_cancelled


@renderer("directed_requested")
async def _directed_requested(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    d = await panel_messages.directed_brief(core.uow(), int(params["directed_id"]))
    if d is None:
        return Rendered("", skip=True)
    text = "\n".join([
        tr(lang, "notify.directed_requested", panel_id=d.panel_id, title=d.title, seats=d.seats, directed_id=d.id),
        tr(lang, "bot.admin.directed_reason", reason=d.reason),
        tr(lang, "bot.admin.directed_short", groups="{groups}"),
    ])
    names = await category_names(core, lang)
    text = text.replace("{groups}", short_groups_text(lang, (d.short_detail or {}).get("groups", []), names))
    return Rendered(text, keyboard([[button(tr(lang, "bot.admin.btn_approve"), cb("dir", d.id, "ok")),
                                     button(tr(lang, "bot.admin.btn_reject"), cb("dir", d.id, "no"))]]))


@renderer("directed_approved")
async def _directed_approved(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    text = tr(lang, "notify.directed_approved", directed_id=params["directed_id"], panel_id=params["panel_id"],
              title=params.get("title", ""), seats=params.get("seats", 0), note=params.get("note", ""))
    return Rendered(text, keyboard([[button(tr(lang, "bot.units.btn_add_directed"),
                                            cb("dir", int(params["directed_id"]), "add"))]]))


@renderer("application_submitted")
async def _application_submitted(core: Core, params: dict[str, Any], lang: str) -> Rendered:
    outcome = tr(lang, f"eligibility.outcome.{params.get('outcome', '')}")
    text = tr(lang, "notify.application_submitted", application_id=params["application_id"], outcome=outcome)
    return Rendered(text, keyboard([[button(tr(lang, "bot.admin.btn_review"),
                                            cb("rev", int(params["application_id"]), "view"))]]))
