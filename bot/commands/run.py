"""`expertpanel run`: the bot, polling Telegram, or receiving a webhook when [telegram] webhook_url
(or `--webhook-url`) is set.

`serve()` is the whole lifecycle and is what tests drive (against the sandbox): build the core's
Application, set the command menus, start the scheduler (and the notifier, when present), poll
until told to stop. A 409 Conflict right after start means another poller owns the token: the
newcomer stops with one clear line and a non-zero exit (CHECKLIST 33).

Webhook mode is PTB's `run_webhook` taken apart so it fits this lifecycle (one event loop, the
scheduler and notifier beside it): `Updater.start_webhook` registers the URL with Telegram
(setWebhook, with `secret_token`) and serves `listen:port/<the URL's path>`; an update without the
right X-Telegram-Bot-Api-Secret-Token header gets 403. The secret is required: without it anyone
who learns the URL could post forged updates. Several instances can share one token this way.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

import typer

from core import actors
from core.bootstrap import Core, build_core, check_database
from core.i18n import t

if TYPE_CHECKING:  # the bot's modules load when it starts: the CLI's other commands need none of them
    from telegram.error import TelegramError

    from bot.context import BotApplication

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
STARTUP_WINDOW = 30.0  # seconds: a 409 this early means we are the second poller
EXIT_OK, EXIT_CONFIG, EXIT_CONFLICT = 0, 2, 3
Stopper = Callable[[], Awaitable[None]]


@dataclass
class Outcome:
    code: int = EXIT_OK
    message: str = ""
    stoppers: list[Stopper] = field(default_factory=list)


async def sync_admins(core: Core) -> None:
    """Config admins ([telegram] admins) get the admin role (idempotent, audited once)."""
    from core.services.accounts import grant_role

    for telegram_id in core.settings.telegram.admins:
        await grant_role(core.uow(), telegram_id, "admin", actors.CLI)


async def sync_menus(app: BotApplication, core: Core) -> None:
    """Everyone's menu, then each known account's menu for their roles (failures are logged)."""
    from telegram.error import TelegramError

    from bot import menus
    from core.services.chat_support import accounts_with_roles

    try:
        await menus.set_default_menus(app.bot)
        for telegram_id, roles in await accounts_with_roles(core.uow()):
            await menus.set_chat_menu(app.bot, telegram_id, roles, roles.language or core.settings.default_language)
    except TelegramError as exc:
        log.warning("could not set command menus: %s", exc)


async def start_background(core: Core, *, base_url: str | None = None,
                           base_file_url: str | None = None) -> list[Stopper]:
    """The scheduler ticks (reminders, deadlines) and the notifier (outbox → Telegram)."""
    from bot.notifier import Notifier, make_bot
    from core.scheduling.scheduler import build_scheduler

    stoppers: list[Stopper] = []
    scheduler = build_scheduler(core)
    scheduler.start()
    stoppers.append(scheduler.stop)
    sender = make_bot(core, base_url=base_url, base_file_url=base_file_url)
    await sender.initialize()
    notifier = Notifier(core, sender)
    await notifier.start()

    async def stop_notifier() -> None:
        await notifier.stop()
        await sender.shutdown()

    stoppers.append(stop_notifier)
    return stoppers


async def serve(
    core: Core, *, stop: asyncio.Event, base_url: str | None = None, base_file_url: str | None = None,
    rate_limit: bool = True, poll_timeout: float = 30.0, startup_window: float = STARTUP_WINDOW,
    background: bool = True, ready: asyncio.Event | None = None, app_out: list[BotApplication] | None = None,
) -> Outcome:
    """Run the bot until `stop` is set; returns the exit code and, on failure, one clear line."""
    from telegram.error import Conflict, InvalidToken, NetworkError

    from bot.app import build_application

    lang = core.settings.default_language
    tg = core.settings.telegram
    if tg.webhook_url and tg.webhook_secret is None:
        return Outcome(EXIT_CONFIG, t("bot.run.webhook_no_secret", lang))
    loop = asyncio.get_running_loop()
    app = build_application(core, base_url=base_url, base_file_url=base_file_url, rate_limit=rate_limit)
    if app_out is not None:
        app_out.append(app)
    outcome = Outcome()
    began = loop.time()

    def on_poll_error(exc: TelegramError) -> None:
        if isinstance(exc, Conflict):
            if loop.time() - began <= startup_window:
                outcome.code, outcome.message = EXIT_CONFLICT, t("bot.run.conflict", lang)
                stop.set()
            else:
                log.warning("another poller uses this token (409 Conflict); retrying: %s", exc)
        else:
            log.warning("polling error (retrying): %s", exc)

    try:
        await app.initialize()
    except InvalidToken:
        return Outcome(EXIT_CONFIG, t("bot.run.bad_token", lang))
    except NetworkError as exc:
        return Outcome(EXIT_CONFIG, t("bot.run.unreachable", lang, reason=str(exc)[:200]))
    try:
        await sync_admins(core)
        if background:
            outcome.stoppers = await start_background(core, base_url=base_url, base_file_url=base_file_url)
        await app.start()
        app.create_task(sync_menus(app, core))
        if tg.webhook_url:
            failed = await _start_webhook(app, core)
            if failed is not None:
                outcome.code, outcome.message = EXIT_CONFIG, failed
                return outcome
        else:
            await app.updater.start_polling(  # type: ignore[union-attr]
                timeout=poll_timeout, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False,
                error_callback=on_poll_error)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
        for stopper in reversed(outcome.stoppers):
            with contextlib.suppress(Exception):
                await stopper()
        with contextlib.suppress(Exception):
            if app.running:
                await app.stop()
        await app.shutdown()
    return outcome


async def _start_webhook(app: BotApplication, core: Core) -> str | None:
    """Listen for Telegram's webhook calls and register the URL; None, or why it cannot start."""
    from urllib.parse import urlparse

    from telegram.error import TelegramError

    from core.i18n import error_text

    tg = core.settings.telegram
    lang = core.settings.default_language
    assert tg.webhook_url is not None and tg.webhook_secret is not None
    try:
        await app.updater.start_webhook(  # type: ignore[union-attr]
            listen=tg.webhook_listen, port=tg.webhook_port, url_path=urlparse(tg.webhook_url).path.lstrip("/"),
            webhook_url=tg.webhook_url, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False,
            secret_token=tg.webhook_secret.get_secret_value())
    except RuntimeError as exc:  # PTB without its [webhooks] extra
        return error_text("telegram.webhook_unavailable", lang, reason=str(exc)[:200])
    except (OSError, TelegramError) as exc:  # the port is taken, setWebhook refused the URL, …
        return t("bot.run.webhook_failed", lang, listen=tg.webhook_listen, port=tg.webhook_port, reason=str(exc)[:200])
    log.info("webhook: listening on %s:%s for %s", tg.webhook_listen, tg.webhook_port, tg.webhook_url)
    return None


async def _main(telegram_overrides: dict[str, object] | None = None) -> Outcome:
    from core.config import load_settings
    from core.services import roster

    settings = load_settings(**({"telegram": telegram_overrides} if telegram_overrides else {}))
    lang = settings.default_language
    if settings.telegram.token is None:
        return Outcome(EXIT_CONFIG, t("bot.run.no_token", lang))
    core = build_core(settings)
    try:
        await check_database(core)
        await roster.sync_categories(core.uow(), settings.categories)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        return await serve(core, stop=stop)
    finally:
        await core.close()


def register(app: typer.Typer) -> None:
    """Add `run` to the CLI."""

    @app.command("run")
    def run(
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every update."),
        webhook_url: str | None = typer.Option(
            None, "--webhook-url", metavar="URL",
            help="Receive updates by webhook at this public HTTPS URL instead of polling "
                 "(overrides \\[telegram] webhook_url; needs \\[telegram] webhook_secret)."),
        webhook_listen: str | None = typer.Option(
            None, "--webhook-listen", metavar="HOST", help="Address the webhook server binds (default 127.0.0.1)."),
        webhook_port: int | None = typer.Option(
            None, "--webhook-port", metavar="N", min=1, max=65535, help="Port of the webhook server (default 8443)."),
    ) -> None:
        """Run the Telegram bot (polling; a webhook with --webhook-url or \\[telegram] webhook_url)."""
        from bot.cli import CliExit

        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)
        overrides = {k: v for k, v in (("webhook_url", webhook_url), ("webhook_listen", webhook_listen),
                                       ("webhook_port", webhook_port)) if v is not None}
        outcome = asyncio.run(_main(overrides))
        if outcome.code != EXIT_OK:
            raise CliExit(outcome.message, code=outcome.code)
