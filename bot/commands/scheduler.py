"""`expertpanel scheduler`: the reminder ticks and the notifier, without the bot's handlers.

The bot (`expertpanel start`) runs the same two pieces in its own process through
`start_background`; deployments that separate them run this command instead (one per
database; the bot then starts with its own background pieces off).
`python -m bot.commands.scheduler` does the same from the environment's settings.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from core.bootstrap import Core

if TYPE_CHECKING:  # loaded when the command runs: the CLI's other commands need none of it
    from telegram import Bot

    from bot.notifier import Notifier
    from core.scheduling.scheduler import Scheduler

log = logging.getLogger(__name__)


@dataclass
class Background:
    """The running scheduler and notifier of one process."""

    scheduler: Scheduler | None
    notifier: Notifier | None
    bot: Bot | None

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.notifier is not None:
            await self.notifier.stop()
        if self.bot is not None:
            with contextlib.suppress(Exception):
                await self.bot.shutdown()


async def start_background(core: Core, *, ticks: bool = True, deliver: bool = True, bot: Bot | None = None,
                           base_url: str | None = None, base_file_url: str | None = None) -> Background:
    """Start the ticks and/or the notifier in the running event loop (e.g. from post_init).

    Without `bot`, the notifier gets its own `telegram.Bot` (no AIORateLimiter) built from the
    settings or the given base URLs; pass a bot only if it has no rate limiter either."""
    from bot.notifier import Notifier, make_bot
    from core.scheduling.scheduler import build_scheduler

    scheduler = notifier = None
    own_bot: Bot | None = None
    if deliver:
        if bot is None:
            bot = own_bot = make_bot(core, base_url=base_url, base_file_url=base_file_url)
            await own_bot.initialize()
        notifier = Notifier(core, bot)
        await notifier.start()
    if ticks:
        scheduler = build_scheduler(core)
        scheduler.start()
    return Background(scheduler, notifier, own_bot)


async def serve(core: Core, *, ticks: bool = True, deliver: bool = True) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly (a running tick finishes or rolls back)."""
    from core.i18n import t

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    background = await start_background(core, ticks=ticks, deliver=deliver)
    lang = core.settings.default_language
    typer.echo(t("bot.reminders.cli.scheduler_running", lang, tick=core.settings.reminders.tick_seconds), err=True)
    try:
        await stop.wait()
    finally:
        await background.stop()
        typer.echo(t("bot.reminders.cli.scheduler_stopped", lang), err=True)


def register(app: typer.Typer) -> None:
    @app.command("scheduler")
    def scheduler(
        no_ticks: bool = typer.Option(False, "--no-ticks", help="Deliver the outbox only."),
        no_delivery: bool = typer.Option(False, "--no-delivery", help="Run the reminder ticks only."),
    ) -> None:
        """Run the reminder ticks and the notifier without the bot's handlers (until Ctrl+C)."""
        from bot.cli import run_with_core

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        run_with_core(lambda core: serve(core, ticks=not no_ticks, deliver=not no_delivery))


def main() -> None:
    """`python -m bot.commands.scheduler [--no-ticks] [--no-delivery]`."""
    import sys

    from core.bootstrap import build_core
    from core.config import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def go() -> None:
        core = build_core(load_settings())
        try:
            await serve(core, ticks="--no-ticks" not in sys.argv, deliver="--no-delivery" not in sys.argv)
        finally:
            await core.close()

    asyncio.run(go())


if __name__ == "__main__":
    main()
