"""`expertpanel outbox list | retry`: the notification outbox's dead letters and resends."""
from __future__ import annotations

from typing import List, Optional

import typer

from core.bootstrap import Core
from core.enums import OutboxStatus


def register(app: typer.Typer) -> None:
    outbox_app = typer.Typer(help="The notification outbox: failed messages and resends.", no_args_is_help=True)
    app.add_typer(outbox_app, name="outbox")

    @outbox_app.command("list")
    def outbox_list(
        status: str = typer.Option("failed", "--status", help="failed | skipped | pending | sent"),
        limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="At most this many, newest first."),
    ) -> None:
        """List messages (default: the failed ones, with their error) and the queue's totals."""
        from bot.cli import lang, run_with_core
        from core.i18n import t
        from bot.cli import CliExit
        from core.services import delivery

        choices = [s.value for s in OutboxStatus]
        if status not in choices:
            raise CliExit(t("bot.reminders.cli.outbox_bad_status", lang(), value=status, choices=" | ".join(choices)))

        async def go(core: Core) -> tuple[list[delivery.OutboxItem], dict[str, int]]:
            return await delivery.list_items(core.uow(), status, limit=limit), await delivery.counts(core.uow())

        items, counts = run_with_core(go)
        lg = lang()
        if not items:
            typer.echo(t("bot.reminders.cli.outbox_empty", lg, status=status))
        for it in items:
            typer.echo(t("bot.reminders.cli.outbox_row", lg, id=it.id, created_at=it.created_at.isoformat(timespec="seconds"),
                         account_id=it.account_id, telegram_id=it.telegram_id, kind=it.kind, attempts=it.attempts,
                         error=it.last_error or "-"))
        typer.echo(t("bot.reminders.cli.outbox_counts", lg, **{s.value: counts.get(s.value, 0) for s in OutboxStatus}))

    @outbox_app.command("retry")
    def outbox_retry(
        ids: Optional[List[int]] = typer.Argument(None, help="Message ids (failed or skipped) to send again."),
        all_failed: bool = typer.Option(False, "--all", help="Send every failed message again."),
    ) -> None:
        """Queue failed (or skipped) messages again."""
        from bot.cli import CliExit, lang, run_with_core
        from core.i18n import t
        from core.services import delivery

        if not ids and not all_failed:
            raise CliExit(t("bot.reminders.cli.outbox_retry_what", lang()))
        n = run_with_core(lambda core: delivery.retry_failed(core.uow(), None if all_failed else ids))
        typer.echo(t("bot.reminders.cli.outbox_retried", lang(), count=n))
