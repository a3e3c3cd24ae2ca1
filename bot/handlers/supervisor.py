"""`/draws` for supervisors (and the bureau), read-only (Art. 13): every panel's draw with its
seed, algorithm, pool, exclusions with reasons, the ranking, replacements, and a re-derivation
that checks the stored record against the digest in the audit chain."""
from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot import keyboards, menus
from bot.auth import caller, lang_of
from bot.callbacks import cb
from bot.context import BotContext
from bot.handlers import unit_common as uc
from bot.render import esc, fmt_dt, tr
from bot.replies import answer, send
from core.errors import DomainError
from core.services import panel_intake, panels
from core.services.panel_views import DrawView

PRIVATE = filters.ChatType.PRIVATE
LIST_MAX = 30
EXCLUSIONS_SHOWN = 30

menus.add("supervisor", "draws", "roster")


async def cmd_draws(update: Update, context: BotContext) -> None:
    roles = await caller(update, context)
    if not await uc.require_overseer(update, context, roles, "cmd.draws"):
        return
    lang = lang_of(roles)
    items = await panels.list_panels(context.core.uow(), roles, limit=LIST_MAX)
    if not items:
        await send(update, context, tr(lang, "bot.supervisor.no_draws"))
        return
    tz = context.core.settings.tz
    buttons = [(tr(lang, "bot.supervisor.panel_button", id=p.id, title=p.title[:24],
                   status=tr(lang, f"panel.status.{p.status}"), starts=fmt_dt(p.starts_at, tz)[:10]),
                cb("drw", p.id, "view")) for p in items]
    await send(update, context, tr(lang, "bot.supervisor.draws_head", count=len(items)), keyboards.grid(buttons, per_row=1))


def draw_text(context: BotContext, lang: str, d: DrawView, names: dict[int, str]) -> str:
    tz = context.core.settings.tz
    by_reason = "；".join(f"{tr(lang, f'exclusion_reason.{r}')} {n}" for r, n in sorted(d.exclusions_by_reason.items())) or "-"
    lines = [
        tr(lang, "bot.supervisor.draw_head", panel=d.panel_id, draw=d.draw_id, at=fmt_dt(d.created_at, tz)),
        tr(lang, "bot.supervisor.draw_seed", seed=d.seed, algorithm=d.algorithm),
        tr(lang, "bot.supervisor.draw_digest", digest=d.digest),
        tr(lang, "bot.supervisor.draw_pool", pool=d.pool_size, excluded=len(d.exclusions), by_reason=by_reason),
        tr(lang, "bot.supervisor.draw_groups", groups="；".join(
            f"{'、'.join(esc(names.get(int(f), str(f))) for f in g.get('fields', []))}×{g.get('count', '')}"
            for g in d.groups)),
        tr(lang, "bot.supervisor.draw_ranking", codes=" ".join(d.ranking_top) or "-"),
        tr(lang, "bot.supervisor.draw_selection", codes=" ".join(c for c, _ in d.selection) or "-"),
    ]
    for r in d.replacements:
        lines.append("• " + tr(lang, "bot.supervisor.replacement", invitation=r.get("invitation_id"),
                               code=r.get("expert_code"), rank=r.get("rank"), of=r.get("replacement_of"),
                               status=tr(lang, f"invitation.status.{r.get('status')}")))
    if d.exclusions:
        lines.append(tr(lang, "bot.supervisor.exclusions_head", shown=min(len(d.exclusions), EXCLUSIONS_SHOWN),
                        total=len(d.exclusions)))
        for code, reason, detail in d.exclusions[:EXCLUSIONS_SHOWN]:
            lines.append(f"• {esc(code)} — {tr(lang, f'exclusion_reason.{reason}')}" + (f"（{esc(detail)}）" if detail else ""))
    lines.append(_verdict(lang, list(d.problems)))
    return "\n".join(lines)


def _verdict(lang: str, problems: list[str]) -> str:
    if not problems:
        return tr(lang, "bot.supervisor.verify_ok")
    return tr(lang, "bot.supervisor.verify_bad", count=len(problems)) + "\n" + "\n".join(f"• {esc(p)}" for p in problems)


async def on_draw_button(update: Update, context: BotContext) -> None:
    press = await uc.checked_press(update, context, "drw", ("view", "verify"), uc.require_overseer)
    if press is None:
        return
    query, roles, data, lang = press.query, press.roles, press.data, press.lang
    try:
        view = await panels.draw_view(context.core.uow(), roles, data.id)
        problems = await panels.verify_draw(context.core.uow(), data.id) if data.action == "verify" else None
    except DomainError as exc:
        await uc.button_error(update, context, roles, exc, f"drw.{data.action}", data.id)
        return
    await answer(query)
    if problems is not None:
        await send(update, context, tr(lang, "bot.supervisor.verify_head", panel=data.id) + "\n" + _verdict(lang, problems))
        return
    names = {f.id: f.name(lang) for f in await panel_intake.field_names(context.core.uow(), active_only=False)}
    await send(update, context, draw_text(context, lang, view, names),
               keyboards.single(tr(lang, "bot.supervisor.btn_verify"), cb("drw", data.id, "verify")))


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("draws", cmd_draws, PRIVATE),
        CallbackQueryHandler(on_draw_button, pattern=r"^drw:"),
    ]
