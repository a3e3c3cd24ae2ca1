"""`expertpanel roster publish --out DIR`: the public roster as a static, self-contained site."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register_roster(roster_app: typer.Typer) -> None:
    @roster_app.command("publish")
    def publish(
        out: Path = typer.Option(..., "--out", help="Directory to write index.html, fields/, announcements.html."),
        language: Optional[str] = typer.Option(None, "--lang", help="zh | en (default: the configured language)."),
    ) -> None:
        """Write the public roster site (Art. 9) with the announcements (Art. 16): public fields only."""
        from bot.cli import lang, run_with_core
        from core import site
        from core.i18n import t

        lg = language or lang()
        count, notices = run_with_core(lambda core: site.publish(core.uow(), out, lg))
        typer.echo(t("site.cli.done", lg, count=count, announcements=notices, path=str(out)))
