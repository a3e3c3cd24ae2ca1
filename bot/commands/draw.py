"""`expertpanel draw verify PANEL_ID`: re-derive a panel's draw from its stored record."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    draw_app = typer.Typer(help="Panel draws (Art. 12, 13): checks anyone can repeat.", no_args_is_help=True)
    app.add_typer(draw_app, name="draw")

    @draw_app.command("verify")
    def draw_verify(panel_id: int = typer.Argument(..., help="The panel's number.")) -> None:
        """Re-derive the panel's draw from its stored record; exit 1 on any mismatch.

        Re-ranks the stored pool with the stored seed, re-runs the seat selection, re-hashes the
        record against the audit chain and checks every invitation drawn from it."""
        from bot.cli import CliExit, lang, run_with_core
        from core.bootstrap import Core
        from core.db.models import Draw
        from core.i18n import t
        from core.services import panels
        from sqlalchemy import func, select

        async def go(core: Core) -> tuple[list[str], int]:
            problems = await panels.verify_draw(core.uow(), panel_id)
            async with core.sessions() as s:
                n = await s.scalar(select(func.count()).select_from(Draw).where(Draw.panel_id == panel_id))
            return problems, int(n or 0)

        problems, draws = run_with_core(go)
        lg = lang()
        if problems:
            more = t("draw.cli.more", lg, count=len(problems) - 1) if len(problems) > 1 else ""
            raise CliExit(t("draw.cli.mismatch", lg, panel=panel_id, problem=problems[0], more=more), code=1)
        typer.echo(t("draw.cli.verified", lg, panel=panel_id, draws=draws))
