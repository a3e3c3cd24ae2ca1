"""`expertpanel report --month YYYY-MM --out DIR`: the bureau's monthly report (HTML + XLSX)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        month: Optional[str] = typer.Option(None, "--month", help="The month, e.g. 2026-11 (default: this month)."),
        out: Path = typer.Option(..., "--out", help="Directory for report-YYYY-MM.html and .xlsx."),
        language: Optional[str] = typer.Option(None, "--lang", help="zh | en (default: the configured language)."),
    ) -> None:
        """The monthly report: one self-contained HTML page with charts, the same tables in XLSX."""
        from bot.cli import lang, run_with_core
        from core import actors
        from core.bootstrap import Core
        from core.i18n import t
        from core.reports import build_report, write_report
        from core.services import monthly

        lg = language or lang()
        started = time.perf_counter()

        async def go(core: Core) -> tuple[Path, Path]:
            figures = await monthly.monthly_figures(core.uow(), actors.CLI, month or monthly.default_month(core.uow()))
            return write_report(build_report(figures, lg, core.settings.tz), out)

        html_path, xlsx_path = run_with_core(go)
        typer.echo(t("report.cli.done", lg, html=str(html_path), xlsx=str(xlsx_path),
                     seconds=f"{time.perf_counter() - started:.1f}"))
