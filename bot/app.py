"""Building the python-telegram-bot Application: one ordered handler list, typed context, errors."""
from __future__ import annotations

import logging
import time
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TimedOut
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults
from telegram.request import HTTPXRequest

from bot.context import BotApplication, BotContext, BotData
from bot.http import QueuedHTTPXRequest
from bot.handlers import (
    admin, discipline, enrolment, evaluation, expert, fallback, invitations, panels, reminders, start,
)
from core.bootstrap import Core
from core.i18n import pick_language, t

log = logging.getLogger(__name__)
ERROR_REPORT_INTERVAL = 60.0

# The whole bot in one ordered list: earlier groups win. Commands first, then buttons, then
# conversation steps (free text/photos while a flow is active), then the fallbacks.
HANDLER_MODULES = (start, enrolment, expert, invitations, panels, admin, evaluation, discipline, reminders, fallback)


def build_application(core: Core, *, base_url: str | None = None, base_file_url: str | None = None,
                      rate_limit: bool = True) -> BotApplication:
    """The Application for `core`'s settings; base URLs point at Telegram, a Bot API server or the sandbox."""
    tg = core.settings.telegram
    if tg.token is None:
        from core.errors import DomainError

        raise DomainError("telegram.no_token")
    context_types = ContextTypes(context=BotContext, bot_data=BotData)
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        Application.builder()
        .token(tg.token.get_secret_value())
        .base_url(base_url or tg.base_url)
        .base_file_url(base_file_url or tg.base_file_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=core.settings.tz))
        .context_types(context_types)
        .concurrent_updates(True)
        .request(QueuedHTTPXRequest(tg.connection_pool))
        .get_updates_request(HTTPXRequest(connection_pool_size=1, connect_timeout=10, read_timeout=40,
                                          write_timeout=15, pool_timeout=10))
    )
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    application: BotApplication = builder.build()  # type: ignore[assignment]
    application.bot_data.core = core
    for module in HANDLER_MODULES:
        application.add_handlers(module.handlers())
    application.add_error_handler(on_error)
    return application


async def on_error(update: object, context: BotContext) -> None:
    """Log, apologise to the user in their language, and tell the admins (at most once a minute per kind)."""
    err = context.error
    if isinstance(err, BadRequest) and "message is not modified" in str(err):
        return  # CHECKLIST 28: identical edit is success
    if isinstance(err, BadRequest) and "query is too old" in str(err):
        log.info("late callback answer ignored: %s", err)  # CHECKLIST 27: state change already committed
        return
    log.error("error while handling an update", exc_info=err)
    if isinstance(update, Update) and update.effective_chat and not isinstance(err, Forbidden):
        lang = pick_language(update.effective_user.language_code if update.effective_user else None)
        try:
            await context.bot.send_message(update.effective_chat.id, t("bot.error.apology", lang))
        except (Forbidden, BadRequest, NetworkError, TimedOut):
            pass
    kind = type(err).__name__
    now = time.monotonic()
    reports = context.bot_data.admin_error_reports
    if now - reports.get(kind, -ERROR_REPORT_INTERVAL) < ERROR_REPORT_INTERVAL:
        return
    reports[kind] = now
    from core.outbox import notify_admins

    uow = context.core.uow()
    async with uow:
        await notify_admins(uow, "bot_error", {"kind": kind})
        await uow.commit()
